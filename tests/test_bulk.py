"""Bulk routing on Dask (geo.bulk): the same output as the single-machine path, row for row.

The cluster is a real LocalCluster of two worker processes, so the router really travels
to other processes by pickle.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import pickle
import re
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from geo import bulk
from geo.alertfiles import read_chunks
from geo.alerts import Notes, Rules, SeenIds, check
from geo.cli import main
from geo.crs import wgs84_to_gcj02
from geo.settings import PROJECT_ROOT, Settings

DEMO_LAYERS = PROJECT_ROOT / "layers"
HEADER = ["id", "lon", "lat", "matter", "reported_at", "source", "severity", "description",
          "credit_code"]
CREDIT = "913305020922362717"  # a demo site's unified social credit code


@pytest.fixture(scope="module", autouse=True)
def bare_main():
    """Worker processes are spawned and re-run the parent's ``__main__`` file, if it has one.
    Streamlit's AppTest, run earlier in the same session, leaves ``__main__`` naming a
    deleted temporary page script; workers start from a bare ``__main__`` instead."""
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    yield
    sys.modules["__main__"] = saved


@pytest.fixture(scope="module")
def client():
    with bulk.dask_client(workers=2) as c:
        yield c


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Route against the bundled layers and catalogue; no database is created."""
    return Settings(database_url=f"sqlite:///{tmp_path / 'none' / 'x.sqlite'}",
                    catalog_path=PROJECT_ROOT / "data")


def _shared_vertices(router) -> np.ndarray:
    """Vertices that two demo townships share: exactly on both boundaries."""
    geoms = router.t_geom
    pts = []
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            shared = shapely.intersection(shapely.boundary(geoms[i]),
                                          shapely.boundary(geoms[j]))
            pts.extend(shapely.get_coordinates(shared)[::5].tolist())
    return np.array(pts)


def mixed_rows(router, n_random: int = 500, seed: int = 5) -> list[list[str]]:
    """Alert rows of every kind: inside, on shared borders, near borders, snapped and
    outside points, invalid coordinates, rejected rows, repeated ids near and far apart."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = shapely.total_bounds(router.t_geom)
    lon = rng.uniform(x0 - 0.03, x1 + 0.03, n_random)
    lat = rng.uniform(y0 - 0.03, y1 + 0.03, n_random)
    edge = _shared_vertices(router)[:60]
    lon = np.concatenate([lon, edge[:, 0], edge[:, 0] + 2e-4])
    lat = np.concatenate([lat, edge[:, 1], edge[:, 1] - 2e-4])
    order = rng.permutation(len(lon))
    lon, lat = lon[order], lat[order]
    matters = ["M001", "M003", "M018", "M040", "", "NOPE"]
    times = ["2024-06-01T10:00:00+08:00", "2021-03-01T10:00:00", "2026-01-05T23:30:00Z",
             "2025-12-31T16:30:00Z", ""]
    rows = []
    for i in range(len(lon)):
        rows.append([f"A{i:05d}", repr(float(lon[i])), repr(float(lat[i])),
                     matters[i % len(matters)], times[i % len(times)],
                     ["12345", "grid", ""][i % 3], ["low", "medium", "high", ""][i % 4],
                     "描述, with a comma" if i % 7 == 0 else "",
                     CREDIT if i % 11 == 0 else ("123" if i % 13 == 0 else "")])
    def put(at: int, row: list[str]) -> None:
        rows.insert(at, row)

    # invalid coordinates: kept and flagged
    put(3, ["BAD-TEXT", "abc", "30.8", "M001", "", "grid", "low", "", ""])
    put(40, ["BAD-RANGE", "200", "30.8", "M001", "", "grid", "low", "", ""])
    put(77, ["BAD-SWAP", "30.85", "120.1", "M001", "", "grid", "low", "", ""])
    put(150, ["BAD-EMPTY", "", "", "M001", "", "grid", "low", "", ""])
    put(222, ["BAD-NAN", "nan", "30.8", "M001", "", "grid", "low", "", ""])
    # rejected rows
    put(5, ["", "120.1", "30.8", "M001", "", "grid", "low", "", ""])
    put(60, ["SEV", "120.1", "30.8", "M001", "soon", "grid", "low", "", ""])
    put(90, ["WHEN", "120.1", "30.8", "M001", "yesterday", "grid", "low", "", ""])
    put(120, ["X" * 101, "120.1", "30.8", "M001", "", "grid", "low", "", ""])
    # repeated ids: next to each other, far apart (other partitions), three times, after a
    # first occurrence that is itself rejected, and the same id from another source
    put(10, ["A00002", "120.2", "30.8", "M001", "", "", "low", "", ""])
    put(400, ["A00004", "120.2", "30.8", "M001", "", "grid", "low", "", ""])
    put(410, ["A00004", "120.3", "30.8", "M001", "", "grid", "low", "", ""])
    put(300, ["LATE", "120.2", "30.8", "M001", "soon", "grid", "low", "", ""])
    put(500, ["LATE", "120.2", "30.8", "M003", "", "grid", "low", "", ""])
    put(560, ["LATE", "120.2", "30.8", "M003", "", "grid", "low", "", ""])
    put(590, ["A00008", "120.2", "30.8", "M001", "", "other", "low", "", ""])
    return rows


def write_csv(path: Path, rows: list[list[str]], header=HEADER, ragged: bool = True) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        if ragged:  # a row with an extra field, and one that stops after lon
            f.write("RAGGED-LONG,120.2,30.8,M001,,grid,low,,,extra\n")
            f.write("RAGGED-SHORT,120.2\n")
    return path


@pytest.fixture(scope="module")
def mixed(demo_router) -> list[list[str]]:
    return mixed_rows(demo_router)


@pytest.fixture
def built(monkeypatch, demo_router):
    """The command uses the already built demo router (same layers, catalogue, settings)
    instead of building one per call, to keep these tests quick."""
    from geo import cli

    monkeypatch.setattr(cli, "_router", lambda *args, **kw: (demo_router, demo_router.catalog,
                                                              None))


def route_local(settings, src: Path, out: Path, capsys, *extra: str) -> tuple[int, str, str]:
    code = main(["route", str(src), "--layers", str(DEMO_LAYERS), "--out", str(out), *extra],
                settings)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_router_pickles_and_routes_the_same(demo_router):
    twin = pickle.loads(pickle.dumps(demo_router))
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = shapely.total_bounds(demo_router.t_geom)
    edge = _shared_vertices(demo_router)
    lon = np.concatenate([rng.uniform(x0 - 0.03, x1 + 0.03, 20_000), edge[:, 0]])
    lat = np.concatenate([rng.uniform(y0 - 0.03, y1 + 0.03, 20_000), edge[:, 1]])
    kw = {"matter": "M003", "at": "2024-06-01", "credit_code": [CREDIT] * len(lon)}
    a, b = demo_router.route_many(lon, lat, **kw), twin.route_many(lon, lat, **kw)
    assert a.to_frame().equals(b.to_frame())
    assert {"border", "near_border", "snapped", "outside"} <= set(a.flag_texts())
    assert twin.route(lon[0], lat[0], "M001") == demo_router.route(lon[0], lat[0], "M001")


def _rules(router, matters=None) -> Rules:
    return bulk.bulk_rules(Rules(crs="EPSG:4326", tz=router.tz,
                                 now=dt.datetime(2026, 11, 27, 8, 0), matters=matters))


def _check_in_chunks(src: Path, rules: Rules, chunk_rows: int):
    seen, alerts, rejects, notes, rows = SeenIds(), [], [], Notes(), 0
    for frame, numbers in read_chunks(src, chunk_rows):
        part = check(frame, numbers, rules, seen)
        alerts.append(part.alerts)
        rejects += [str(r) for r in part.rejects]
        notes.update(part.notes)
        rows += part.rows
    return pd.concat(alerts, ignore_index=True), rejects, notes.lines(), rows


def test_chunks_give_every_row_its_one_pass_outcome(demo_router, mixed, tmp_path):
    src = write_csv(tmp_path / "in.csv", mixed)
    rules = _rules(demo_router, frozenset({"M001", "M003"}))
    whole = _check_in_chunks(src, rules, 10**6)
    assert any("same source and id as row" in r for r in whole[1])
    assert any("field(s) where the header has 9" in r for r in whole[1])  # ragged rows
    for chunk_rows in (1, 7, 40, 333):
        alerts, rejects, notes, rows = _check_in_chunks(src, rules, chunk_rows)
        pd.testing.assert_frame_equal(alerts, whole[0])
        assert (rejects, notes, rows) == whole[1:]


def test_a_worker_chunk_with_the_earlier_repeats_is_checked_as_in_one_pass(demo_router, mixed,
                                                                            tmp_path):
    src = write_csv(tmp_path / "in.csv", mixed, ragged=False)
    rules = _rules(demo_router)
    whole = _check_in_chunks(src, rules, 10**6)
    chunks = list(read_chunks(src, 50))
    keys = np.concatenate([bulk.pair_hashes(f, rules.source) for f, _ in chunks])
    values, counts = np.unique(keys, return_counts=True)
    repeated = values[counts > 1]
    held, rejects = [], []
    for frame, rows in chunks:
        k = bulk.pair_hashes(frame, rules.source)
        mine = np.isin(k, repeated)
        earlier, earlier_rows = bulk._earlier(held, k[mine])
        held.append((frame[mine], rows[mine], k[mine]))
        _, tally = bulk.route_part(frame, rows, earlier, earlier_rows, demo_router, rules,
                                   False)
        rejects += tally.rejects
    assert rejects == whole[1]
    # without the earlier rows, chunks would let repeats from other chunks through
    alone = [r for frame, rows in chunks
             for r in bulk.route_part(frame, rows, None, None, demo_router, rules, False)[1]
             .rejects]
    assert len(alone) < len(rejects)


def test_dask_output_equals_the_local_output(demo_router, mixed, client, settings, tmp_path,
                                              capsys):
    src = write_csv(tmp_path / "in.csv", mixed)
    code, out, err = route_local(settings, src, tmp_path / "local.csv", capsys)
    assert code == 0
    assert len(list(read_chunks(src, 40))) >= 10
    rules = Rules(crs="EPSG:4326", matters=frozenset(demo_router.catalog.matters["code"]),
                  tz=demo_router.tz, now=bulk_now())
    tally = bulk.route_file_dask(src, tmp_path / "dask.csv", demo_router, rules,
                                 client=client, partition_rows=40)
    local = (tmp_path / "local.csv").read_bytes()
    assert (tmp_path / "dask.csv").read_bytes() == local
    assert tally.messages(str(src)) == err.splitlines()
    assert tally.summary(str(tmp_path / "local.csv")) == out.strip()
    # the input really had every kind of row, and repeats across partitions
    text = local.decode()
    table = list(csv.DictReader(text.splitlines()))
    flags = {f for row in table for f in row["flags"].split(";")}
    assert {"border", "near_border", "snapped", "outside", "invalid"} <= flags
    assert "RAGGED" not in text and err.count("field(s) where the header has 9") == 2
    repeats = [re.search(r"row (\d+), field id: same source and id as row (\d+)", m)
               for m in err.splitlines()]
    gaps = [int(m[1]) - int(m[2]) for m in repeats if m]
    assert len(gaps) == 4 and max(gaps) > 300  # some far beyond a partition of 40 rows
    assert [row["id"] for row in table].count("LATE") == 1
    assert len(list(tmp_path.glob(".dask.csv.parts-*"))) == 0


def bulk_now():
    from geo.store import utcnow
    return utcnow()


def test_cli_dask_on_a_scheduler_with_gcj02_input(demo_router, mixed, client, settings,
                                                  tmp_path, capsys):
    rows = [list(r) for r in mixed]
    for r in rows:
        try:
            lon, lat = float(r[1]), float(r[2])
        except ValueError:
            continue
        if np.isfinite(lon) and abs(lon) <= 180 and abs(lat) <= 90:
            glon, glat = wgs84_to_gcj02(lon, lat)
            r[1], r[2] = repr(float(glon)), repr(float(glat))
    src = write_csv(tmp_path / "gcj.csv", rows)
    code, out, err = route_local(settings, src, tmp_path / "local.csv", capsys, "--crs",
                                 "gcj02")
    assert code == 0
    code, dout, derr = route_local(settings, src, tmp_path / "dask.csv", capsys, "--crs",
                                   "gcj02", "--engine", "dask", "--scheduler",
                                   client.scheduler.address, "--partition-rows", "60")
    assert code == 0
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert derr.splitlines() == err.splitlines()
    assert dout.replace("dask.csv", "local.csv") == out
    assert "border" in (tmp_path / "dask.csv").read_text(encoding="utf-8")


def test_cli_dask_with_its_own_local_cluster(demo_router, mixed, settings, tmp_path, capsys):
    src = write_csv(tmp_path / "in.csv", mixed[:300])
    code, out, err = route_local(settings, src, tmp_path / "local.csv", capsys)
    assert code == 0 and out.startswith("routed 295 of 302 row(s) to ")
    code, dout, derr = route_local(settings, src, tmp_path / "dask.csv", capsys, "--engine",
                                   "dask", "--workers", "2", "--partition-rows", "50")
    assert code == 0 and dout.replace("dask.csv", "local.csv") == out
    assert derr.splitlines() == err.splitlines()
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()


@pytest.mark.parametrize("kind", ["jsonl", "geojson"])
def test_json_inputs_match(built, demo_router, mixed, client, settings, tmp_path, capsys, kind):
    records = [dict(zip(HEADER, r, strict=True)) for r in mixed[:250]]
    for rec in records[::3]:  # numbers as JSON numbers, where they are numbers
        with contextlib.suppress(ValueError):
            rec["lon"], rec["lat"] = float(rec["lon"]), float(rec["lat"])
    if kind == "jsonl":
        src = tmp_path / "in.jsonl"
        lines = [json.dumps(r, ensure_ascii=False) for r in records]
        lines.insert(20, "{not json")
        src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        src = tmp_path / "in.geojson"
        features = [{"type": "Feature", "properties": {k: v for k, v in r.items()
                                                        if k not in ("lon", "lat")},
                     "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]}}
                    for r in records]
        features.insert(7, {"type": "Feature", "properties": {"id": "LINE"},
                            "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}})
        src.write_text(json.dumps({"type": "FeatureCollection", "features": features}),
                       encoding="utf-8")
    code, out, err = route_local(settings, src, tmp_path / "local.csv", capsys)
    assert code == 0 and "rejected" in err
    assert len(list(read_chunks(src, 30))) == 9
    code, dout, derr = route_local(settings, src, tmp_path / "dask.csv", capsys, "--engine",
                                   "dask", "--scheduler", client.scheduler.address,
                                   "--partition-rows", "30")
    assert code == 0
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert derr.splitlines() == err.splitlines()
    assert dout.replace("dask.csv", "local.csv") == out


def test_every_row_rejected_and_empty_files(built, client, settings, tmp_path, capsys):
    src = write_csv(tmp_path / "bad.csv", [["", "1", "2", "", "", "", "", "", ""],
                                           ["X", "1", "2", "", "soon", "", "low", "", ""]],
                    ragged=False)
    for engine, out in (("local", "local.csv"), ("dask", "dask.csv")):
        args = ["--engine", engine] + (["--scheduler", client.scheduler.address]
                                       if engine == "dask" else [])
        code, stdout, err = route_local(settings, src, tmp_path / out, capsys, *args)
        assert code == 1 and "routed 0 of 2 row(s)" in stdout and "2 rejected" in stdout
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert (tmp_path / "dask.csv").read_text().startswith("id,township_code,")

    empty = write_csv(tmp_path / "empty.csv", [], ragged=False)
    code, _, err = route_local(settings, empty, tmp_path / "o.csv", capsys, "--engine", "dask",
                               "--scheduler", "tcp://127.0.0.1:9")  # never contacted
    assert code == 1 and "empty.csv: empty file (no rows)" in err
    code, _, err = route_local(settings, tmp_path / "missing.csv", tmp_path / "o.csv", capsys,
                               "--engine", "dask")
    assert code == 1 and "missing.csv: no such file" in err
    (tmp_path / "cols.csv").write_text("id,lon\n1,2\n", encoding="utf-8")
    code, _, err = route_local(settings, tmp_path / "cols.csv", tmp_path / "o.csv", capsys,
                               "--engine", "dask")
    assert code == 1 and "missing column(s) lat" in err
    assert not (tmp_path / "o.csv").exists()


def test_unwritable_output_and_unreachable_scheduler(built, mixed, client, settings, tmp_path,
                                                     capsys):
    import dask

    src = write_csv(tmp_path / "in.csv", mixed[:20])
    code, _, err = route_local(settings, src, tmp_path / "no" / "o.csv", capsys, "--engine",
                               "dask", "--scheduler", client.scheduler.address)
    assert code == 1 and "cannot write" in err
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code, _, err = route_local(settings, src, tmp_path / "o.csv", capsys, "--engine",
                                   "dask", "--scheduler", "tcp://127.0.0.1:9")
    assert code == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err


@pytest.mark.parametrize(("extra", "message"), [
    (["--engine", "dask", "--out-geojson"], "writes CSV only"),
    (["--workers", "2"], "need --engine dask"),
    (["--partition-rows", "10"], "need --engine dask"),
    (["--engine", "dask", "--workers", "0"], "--workers must be at least 1"),
    (["--engine", "dask", "--partition-rows", "0"], "--partition-rows must be at least 1"),
    (["--engine", "dask", "--workers", "2", "--scheduler", "tcp://x:1"], "cannot be combined"),
])
def test_usage_errors_exit_2(settings, tmp_path, capsys, extra, message):
    out = tmp_path / ("o.geojson" if "--out-geojson" in extra else "o.csv")
    extra = [e for e in extra if e != "--out-geojson"]
    assert main(["route", "in.csv", "--out", str(out), *extra], settings) == 2
    assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["route", "in.csv", "--out", str(out), "--engine", "spark"], settings)


class _Done:
    """A finished future holding a chunk's CSV bytes and tally."""

    def __init__(self, key, result):
        self.key = key
        self._result = result

    def result(self):
        return self._result

    def release(self):
        pass


def test_chunks_are_written_in_input_order_whatever_order_they_finish():
    from io import BytesIO

    from tqdm import tqdm

    done = []
    for i in range(5):
        notes = Notes()
        notes.add(f"w{i}", [i + 2])
        done.append(_Done(f"k{i}", ((("id\n" if i == 0 else "") + f"{i}\n").encode(),
                                    bulk.Tally(rows=1, routed=1, notes=notes))))
    sink, tally, following, ready = BytesIO(), bulk.Tally(), 0, {}
    index = {d.key: i for i, d in enumerate(done)}
    with tqdm(disable=True) as bar:
        for d in (done[3], done[1], done[4], done[0], done[2]):
            following = bulk._drain(d, index, ready, following, sink, tally, bar)
    assert sink.getvalue() == b"id\n0\n1\n2\n3\n4\n"
    assert tally.rows == 5 and [w.split(", ")[1] for w in tally.warnings] == [
        "w0", "w1", "w2", "w3", "w4"]



def test_rejects_are_capped_on_the_terminal_and_all_written_with_rejects(
        built, client, settings, tmp_path, capsys):
    rows = [[f"S{i}", "120.1", "30.8", "M001", "soon", "grid", "low", "", ""] for i in range(30)]
    rows.append(["OK", "120.1", "30.8", "M001", "", "grid", "low", "", ""])
    src = write_csv(tmp_path / "many.csv", rows, ragged=False)
    code, out, err = route_local(settings, src, tmp_path / "o.csv", capsys)
    assert code == 0 and "30 rejected" in out
    lines = err.splitlines()
    assert sum(line.startswith("rejected: ") for line in lines) == 20
    assert "... and 10 more rejected row(s); --rejects FILE writes them all" in lines
    for engine in ("local", "dask"):
        extra = ["--engine", "dask", "--scheduler", client.scheduler.address,
                 "--partition-rows", "7"] if engine == "dask" else []
        bad = tmp_path / f"{engine}.rejects.csv"
        code, _, err = route_local(settings, src, tmp_path / f"{engine}.csv", capsys,
                                   "--rejects", str(bad), *extra)
        written = list(csv.DictReader(bad.open(encoding="utf-8")))
        assert code == 0 and [r["row"] for r in written] == [str(i) for i in range(2, 32)]
        assert {r["field"] for r in written} == {"reported_at"} and written[0]["id"] == "S0"
        assert f"rejected rows written to {bad}" in err


def test_a_failure_mid_file_leaves_no_partial_output(demo_router, tmp_path, monkeypatch):
    from geo.alertfiles import IngestError

    src = write_csv(tmp_path / "in.csv", mixed_rows(demo_router, n_random=60), ragged=False)
    real = bulk.read_chunks

    def breaking(path, chunk_rows):
        for k, chunk in enumerate(real(path, chunk_rows)):
            if k == 3:
                raise IngestError(f"{path}: the disk went away")
            yield chunk

    monkeypatch.setattr(bulk, "read_chunks", breaking)
    out = tmp_path / "o.csv"
    with pytest.raises(IngestError, match="the disk went away"):
        bulk.route_file(src, out, demo_router, _rules(demo_router), chunk_rows=10)
    assert not out.exists()
