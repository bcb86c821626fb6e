import json
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from geo import store
from geo.access import SYSTEM
from geo.alertfiles import read_chunks, records_frame
from geo.alerts import Rules, check
from geo.catalog import load_catalog
from geo.crs import parse_crs, wgs84_to_gcj02
from geo.ingest import IngestError, ingest_file
from geo.layers import load_layers
from geo.routing import Router
from geo.settings import Settings
from geo.store.models import Alert, AuditLog, Case
from tests.conftest import CODE_A, X0, Y0, to_wgs


@pytest.fixture
def db_settings(store_settings):
    """This module's store tests run on SQLite and on PostGIS."""
    return store_settings


@pytest.fixture
def setup(db_settings, small_dirs):
    engine = store.connect(db_settings.database_url)
    store.migrate(engine)
    layers, catalog = load_layers(small_dirs[0]), load_catalog(small_dirs[1])
    store.import_reference(engine, layers, catalog, "test", scope=SYSTEM)
    return engine, Router(layers, catalog, Settings()), catalog


def _csv(path, rows):
    head = "id,lon,lat,matter,reported_at,source,severity,description\n"
    path.write_text(head + "".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _good_rows(n=3):
    lon, lat = to_wgs([X0 + 500 + 10 * i for i in range(n)], [Y0 + 500] * n)
    return [(f"A{i}", lon[i], lat[i], "M1", "2024-06-01T09:00:00+08:00", "12345", "high", "x")
            for i in range(n)]


def read_records(path):
    """(row, raw record) of an alerts file, as the readers give them (missing left out)."""
    for frame, rows in read_chunks(path):
        for row, rec in zip(rows.tolist(), frame.to_dict("records"), strict=True):
            yield row, {k: v for k, v in rec.items() if v is not None and v == v}


def parse_alerts(records, source=None, crs=None):
    """`geo.alerts.check` of (row, record) pairs under the default rules."""
    rules = Rules(crs=parse_crs(crs), tz=ZoneInfo("Asia/Shanghai"), now=store.utcnow(),
                  source=source)
    return check(*records_frame(list(records)), rules)


def _count(engine, model):
    with store.sessions(engine)() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_ingest_twice_stores_nothing_new(setup, tmp_path):
    engine, router, catalog = setup
    path = _csv(tmp_path / "a.csv", _good_rows())
    first = ingest_file(engine, path, router, catalog)
    assert (first.rows, first.new, first.routed, first.rejected) == (3, 3, 3, 0)
    second = ingest_file(engine, path, router, catalog)
    assert (second.new, second.duplicates, second.routed) == (0, 3, 0)
    assert _count(engine, Alert) == 3 and _count(engine, Case) == 3
    with store.sessions(engine)() as s:  # one "route" entry per case, none added again
        assert s.scalar(select(func.count()).select_from(AuditLog)
                        .where(AuditLog.entity == "case")) == 3
    with store.sessions(engine)() as s:
        case = store.query_cases(s, scope=SYSTEM)[0]
    assert case.body_code == "TC-A" and case.status == "routed"
    assert case.deadline_at - case.opened_at == catalog.deadline("M1", "high")


def test_bad_rows_go_to_rejects_with_row_and_field(setup, tmp_path):
    engine, router, catalog = setup
    good = _good_rows(2)
    rows = [good[0],
            ("B1", "abc", 30.8, "M1", "2024-06-01", "12345", "low", ""),
            ("B2", 30.8, 120.1, "M1", "2024-06-01", "12345", "low", ""),
            ("B3", 120.1, 30.8, "M1", "yesterday", "12345", "low", ""),
            ("B4", 120.1, 30.8, "M1", "2024-06-01", "12345", "whenever", ""),
            ("", 120.1, 30.8, "M1", "2024-06-01", "12345", "low", ""),
            good[1]]
    path = _csv(tmp_path / "b.csv", rows)
    report = ingest_file(engine, path, router, catalog, rejects_path=tmp_path / "b.rejects.csv")
    assert (report.rows, report.new, report.rejected) == (7, 2, 5)
    assert [(r.row, r.field) for r in report.rejects] == [
        (3, "lon"), (4, "lat"), (5, "reported_at"), (6, "severity"), (7, "id")]
    text = (tmp_path / "b.rejects.csv").read_text(encoding="utf-8").splitlines()
    assert text[0].startswith("row,field,value,reason")
    assert [line.split(",")[:2] for line in text[1:]] == [
        ["3", "lon"], ["4", "lat"], ["5", "reported_at"], ["6", "severity"], ["7", "id"]]
    assert "swapped" in text[2]
    # without --rejects nothing is written beside the input (it may be someone else's folder)
    (tmp_path / "b.rejects.csv").unlink()
    again = ingest_file(engine, _csv(tmp_path / "c.csv", rows[1:3]), router, catalog)
    assert again.rejected == 2 and again.rejects_file is None
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".csv") == [
        "b.csv", "c.csv"]


def test_unknown_matter_is_kept_and_triaged(setup, tmp_path):
    engine, router, catalog = setup
    row = list(_good_rows(1)[0])
    row[3] = "M404"
    report = ingest_file(engine, _csv(tmp_path / "c.csv", [row]), router, catalog)
    assert report.new == 1 and any("row 2, field matter" in w for w in report.warnings)
    with store.sessions(engine)() as s:
        assert store.query_cases(s, scope=SYSTEM)[0].body_code == "CC"


def test_geojson_and_jsonl_inputs(setup, tmp_path):
    engine, router, catalog = setup
    rows = _good_rows(2)
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r[1], r[2]]},
                 "properties": {"id": r[0], "matter": "M1", "source": "grid"}} for r in rows]
    features.append({"type": "Feature", "geometry": {"type": "LineString", "coordinates": []},
                     "properties": {"id": "L"}})
    gj = tmp_path / "a.geojson"
    gj.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    report = ingest_file(engine, gj, router, catalog)
    assert (report.new, report.rejected) == (2, 1)
    jl = tmp_path / "a.jsonl"
    jl.write_text("\n".join(json.dumps({"id": r[0], "lon": r[1], "lat": r[2]})
                            for r in rows) + "\n{broken\n")
    report = ingest_file(engine, jl, router, catalog, source="patrol")
    assert (report.new, report.rejected) == (2, 1)


def test_alert_is_stored_before_routing(setup, tmp_path):
    engine, router, catalog = setup

    class Interrupted:
        def route_many(self, *a, **k):
            raise KeyboardInterrupt  # the process is stopped while routing

    path = _csv(tmp_path / "a.csv", _good_rows())
    with pytest.raises(KeyboardInterrupt):
        ingest_file(engine, path, Interrupted(), catalog)
    assert _count(engine, Alert) == 3 and _count(engine, Case) == 0
    report = ingest_file(engine, path, router, catalog)  # run again: routes what was left
    assert (report.new, report.routed) == (0, 3)


def test_whole_file_errors(tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        list(read_records(tmp_path / "none.csv"))
    (tmp_path / "cols.csv").write_text("id,x,y\n1,2,3\n")
    with pytest.raises(IngestError, match=r"cols.csv: missing column\(s\) lon, lat"):
        list(read_records(tmp_path / "cols.csv"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(IngestError, match="empty file"):
        list(read_records(tmp_path / "empty.csv"))
    # one value that is not UTF-8 is that row's problem, in its field; a header that is
    # not, the file's
    (tmp_path / "latin.csv").write_bytes("id,lon,lat\n1,2,3\n\xe9,1,2\n".encode("latin-1"))
    assert [(row, rec.get("__error__")) for row, rec in read_records(tmp_path / "latin.csv")
            ] == [(2, None), (3, None)]
    rejects = parse_alerts(read_records(tmp_path / "latin.csv"), source="s").rejects
    assert [(r.row, r.field) for r in rejects] == [(3, "id")]
    assert rejects[0].reason.startswith("not UTF-8 text")
    (tmp_path / "latin.csv").write_bytes("\xe9d,lon,lat\n1,2,3\n".encode("latin-1"))
    with pytest.raises(IngestError, match="not UTF-8"):
        list(read_records(tmp_path / "latin.csv"))


def test_gcj02_input_is_converted(setup, tmp_path):
    engine, router, catalog = setup
    # 100 m north of the line between 甲镇's units 001 and 002; the GCJ-02 numbers read as
    # WGS84 would fall ~230 m south of it
    wlon, wlat = to_wgs(X0 + 500, Y0 + 1100)
    glon, glat = (float(v[0]) for v in wgs84_to_gcj02(wlon, wlat))
    path = _csv(tmp_path / "g.csv", [("G1", repr(glon), repr(glat), "M1",
                                      "2024-06-01T09:00:00+08:00", "app", "low", "x")])
    assert ingest_file(engine, path, router, catalog, crs="gcj02").routed == 1
    with store.sessions(engine)() as s:
        alert = s.scalars(select(Alert)).one()
        case = alert.case
        # the alert keeps what was sent; the case is where it is, in WGS84
        assert (alert.lon, alert.lat, alert.crs) == (glon, glat, "gcj02")
        assert case.lon == pytest.approx(wlon[0], abs=1e-8)  # ~1 mm
        assert case.lat == pytest.approx(wlat[0], abs=1e-8)
        assert case.unit_code == CODE_A + "001"


def test_row_level_problems_name_the_right_field(tmp_path):
    records = iter([
        (2, {"id": "1", "lon": "120.1", "lat": "nan", "source": "s"}),
        (3, {"id": "2", "lon": "120.1", "lat": "30.8", "source": "s"}),
        (4, {"id": "2", "lon": "120.2", "lat": "30.9", "source": "s"}),
        (5, {"id": "3", "lon": "120.1", "lat": "30.8", "source": "s" * 41}),
        (6, {"id": "4", "lon": "120.1", "lat": "30.8", "source": "s", "reported_at": "x"}),
    ])
    parsed = parse_alerts(records)
    assert [(r.row, r.field) for r in parsed.rejects] == [
        (2, "lat"), (4, "id"), (5, "source"), (6, "reported_at")]
    assert "same source and id as row 3" in parsed.rejects[1].reason
    # warnings are only for rows that were kept
    assert [w.split(",")[0] for w in parsed.warnings] == ["row 3"]


def test_malformed_geojson_features_are_rejected_one_by_one(setup, tmp_path):
    engine, router, catalog = setup
    lon, lat = to_wgs(X0 + 500, Y0 + 500)
    good = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon[0], lat[0]]},
            "properties": {"id": "ok", "source": "grid"}}
    features = ["x", {"geometry": "x", "properties": {}},
                {"geometry": {"type": "Point", "coordinates": 5}, "properties": {}},
                {"geometry": None, "properties": ["a"]}, good]
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    report = ingest_file(engine, path, router, catalog)
    assert (report.rows, report.new, report.rejected) == (5, 1, 4)
    (tmp_path / "notalist.geojson").write_text('{"type":"FeatureCollection","features":5}')
    with pytest.raises(IngestError, match="'features' is not a list"):
        list(read_records(tmp_path / "notalist.geojson"))
    with pytest.raises(IngestError, match="is a folder"):
        list(read_records(tmp_path))


def test_poisoned_rows_cost_no_other_row_its_case(setup, tmp_path):
    engine, router, catalog = setup
    good = _good_rows(3)
    rows = [good[0],
            ("P1", good[0][1], good[0][2], "M1", "9999-12-31T23:59:59", "12345", "low", ""),
            ("P2", good[0][1], good[0][2], "M1", "0001-01-01T00:00:00+14:00", "12345", "low",
             ""),
            ("P3", good[0][1], good[0][2], "M1", "1900-01-01T08:00:00", "12345", "low", ""),
            ("P4", "nan", good[0][2], "M1", "", "12345", "low", ""),
            ("P5", good[0][1], good[0][2], "M1", "", "12345", "HIGH", "x" * 200_000),
            good[1]]
    path = _csv(tmp_path / "p.csv", rows)
    with path.open("a", encoding="utf-8") as f:  # a quote left open swallows what follows
        f.write(f'P6,{good[2][1]},{good[2][2]},M1,,12345,low,"never closed\n')
        f.write(",".join(map(str, good[2])) + "\n")
    report = ingest_file(engine, path, router, catalog)
    assert [(r.row, r.field) for r in report.rejects] == [
        (3, "reported_at"), (4, "reported_at"), (5, "reported_at"), (6, "lon"),
        (7, "description"), (9, "record")]
    assert "a quote is left open" in report.rejects[-1].reason
    assert all(len(r.value) < 200 for r in report.rejects)
    assert (report.new, report.routed) == (2, 2)
    with store.sessions(engine)() as s:
        assert {c.alert.external_id for c in store.query_cases(s, scope=SYSTEM)} == {"A0", "A1"}
    # the same file again (and a run after it) stores and routes nothing twice
    assert ingest_file(engine, path, router, catalog).new == 0


def test_a_routing_failure_of_one_alert_gives_only_that_alert_a_triage_case(
        setup, tmp_path, monkeypatch):
    engine, router, catalog = setup
    rows = _good_rows(4)
    poison = rows[2][1]
    real = router.route_many

    def fragile(lon, *args, **kw):
        if poison in list(lon):
            raise OverflowError("date value out of range")
        return real(lon, *args, **kw)

    monkeypatch.setattr(router, "route_many", fragile)
    report = ingest_file(engine, _csv(tmp_path / "f.csv", rows), router, catalog)
    assert (report.new, report.routed) == (4, 4)
    assert len(report.unroutable) == 1
    with store.sessions(engine)() as s:
        cases = {c.alert.external_id: c for c in store.query_cases(s, scope=SYSTEM)}
    assert {k: c.body_code for k, c in cases.items()} == {
        "A0": "TC-A", "A1": "TC-A", "A2": "CC", "A3": "TC-A"}
    assert "自动分拨失败" in cases["A2"].reasons[0] and cases["A2"].flags == "invalid"


@pytest.mark.alerts_without_case
def test_alerts_left_without_a_case_are_routed_by_the_next_run_or_repair(setup, tmp_path):
    from geo.ingest import intake, repair
    from tests.conftest import alerts_without_case

    engine, router, catalog = setup
    parsed = parse_alerts([(2, dict(zip(("id", "lon", "lat", "matter"), r[:4], strict=True)))
                           for r in _good_rows(3)], source="old")
    with store.sessions(engine).begin() as s:  # as an older version could leave them
        store.store_alerts(s, parsed.alerts.drop(columns="row"))
    url = engine.url.render_as_string(hide_password=False)
    assert len(alerts_without_case(url)) == 3
    # an API retry of one of them gets its case
    _, results = intake(engine, [{"id": "A0", "lon": parsed.alerts["lon"][0],
                                  "lat": parsed.alerts["lat"][0]}], "old", "EPSG:4326",
                        router, catalog, router.tz)
    assert results[0]["case_id"] is not None and results[0]["created"] is False
    done, failed = repair(engine, router, catalog, router.tz)
    assert (done, failed) == (2, []) and alerts_without_case(url) == []
    assert repair(engine, router, catalog, router.tz) == (0, [])


def test_json_lines_with_hostile_lines(setup, tmp_path):
    engine, router, catalog = setup
    rows = _good_rows(2)
    lines = [json.dumps({"id": r[0], "lon": r[1], "lat": r[2]}) for r in rows]
    lines.insert(1, '{"id": "deep", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    lines.insert(1, '{"id": "nan", "lon": NaN, "lat": 30.8}')
    lines.insert(1, '{"id": "bool", "lon": true, "lat": 30.8}')
    lines.insert(1, '{"id": "big", "lon": 1e400, "lat": 30.8}')
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ingest_file(engine, path, router, catalog, source="patrol")
    assert (report.new, report.routed) == (2, 2)
    assert [(r.row, r.field) for r in report.rejects] == [
        (2, "lon"), (3, "lon"), (4, "record"), (5, "record")]
    assert "nested too deeply" in report.rejects[-1].reason


_hostile = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.sampled_from([
        "9999-12-31T23:59:59", "0001-01-01T00:00:00+14:00", "2099-01-01", "1900-01-01",
        "\ud800", "x" * 5000, "HIGH", "M1", "M404"]))


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(bad=st.lists(st.fixed_dictionaries({}, optional={
    k: _hostile for k in ("lon", "lat", "matter", "reported_at", "severity", "description",
                          "credit_code")}), min_size=1, max_size=5))
def test_generated_bad_values_never_cost_a_good_alert_its_case(setup, bad):
    from geo.ingest import ingest_records

    engine, router, catalog = setup
    start = _count(engine, Case)
    good = [{"id": f"G{start}-{i}", "lon": r[1], "lat": r[2], "matter": "M1"}
            for i, r in enumerate(_good_rows(2))]
    records = [{"id": f"H{start}-{i}", **b} for i, b in enumerate(bad)] + good
    report = ingest_records(engine, enumerate(records, start=2), router, catalog, "gen",
                            source="gen")
    assert report.rows == len(records) and report.new + report.rejected == len(records)
    assert _count(engine, Alert) == _count(engine, Case)
    with store.sessions(engine)() as s:
        ids = {c.alert.external_id for c in store.query_cases(s, scope=SYSTEM)}
    assert {g["id"] for g in good} <= ids


def test_repair_gives_implausible_stored_times_to_the_command_center(setup, db_settings,
                                                                    capsys):
    import datetime as dt

    from geo.cli import main
    from geo.ingest import repair

    engine, router, catalog = setup
    lon, lat = _good_rows(1)[0][1:3]
    base = {"source": "old", "lon": lon, "lat": lat, "crs": "EPSG:4326", "matter_code": "M1",
            "severity": "high", "description": "", "credit_code": None,
            "received_at": dt.datetime(2026, 11, 1, 2, 0)}
    with store.sessions(engine).begin() as s:  # as an older version could store them
        store.store_alerts(s, [
            {**base, "external_id": "far", "reported_at": dt.datetime(9999, 12, 31, 23, 59)},
            {**base, "external_id": "old", "reported_at": dt.datetime(1, 1, 1)},
            {**base, "external_id": "ok", "reported_at": dt.datetime(2026, 10, 31, 2, 0)}])
    done, failed = repair(engine, router, catalog, router.tz)
    assert done == 3 and failed == [
        "alerts 1, 2: reported time out of range; given to the command center for triage"]
    with store.sessions(engine)() as s:
        cases = {c.alert.external_id: c for c in store.query_cases(s, scope=SYSTEM)}
    assert cases["ok"].body_code == "TC-A" and cases["ok"].deadline_at is not None
    for key in ("far", "old"):
        assert cases[key].body_code == "CC" and cases[key].deadline_at is None
        assert cases[key].opened_at == dt.datetime(2026, 11, 1, 2, 0)
        assert "报告时间不在可受理范围内" in cases[key].reasons[0]
    assert main(["cases", "list"], db_settings) == 0
    assert "3 case(s)" in capsys.readouterr().out


def test_a_failure_of_every_alert_is_found_without_halving_to_single_alerts(setup,
                                                                             monkeypatch):
    from geo import ingest

    _, router, catalog = setup
    calls = []

    def broken(alerts, *args):
        calls.append(len(alerts))
        raise RuntimeError("grid file missing")

    monkeypatch.setattr(ingest, "case_frame", broken)
    alerts = pd.DataFrame({"id": range(4096), "lon": 120.1, "lat": 30.8, "matter_code": "M1",
                           "severity": "low", "crs": "EPSG:4326", "credit_code": None,
                           "reported_at": pd.Timestamp("2026-11-01"),
                           "received_at": pd.Timestamp("2026-11-01")})
    failed = []
    frame = ingest.safe_case_frame(alerts, router, catalog, router.tz, failed)
    assert len(frame) == 4096 and set(frame["body_code"]) == {"CC"}
    assert len(calls) == 6 and len(failed) == 1 and "grid file missing" in failed[0]


def test_a_csv_without_sources_is_one_clear_error(setup, tmp_path):
    engine, router, catalog = setup
    path = tmp_path / "nosrc.csv"
    path.write_text("id,lon,lat\nA,120.1,30.8\n", encoding="utf-8")
    with pytest.raises(IngestError, match=r"no source column: .* --source NAME"):
        ingest_file(engine, path, router, catalog)
    assert ingest_file(engine, path, router, catalog, source="patrol").new == 1


def test_bad_alerts_in_both_halves_cost_the_others_nothing(setup, monkeypatch):
    from geo import ingest

    _, router, catalog = setup
    real = ingest.case_frame

    def fragile(alerts, *args):
        if alerts["id"].isin([3, 14]).any():
            raise ValueError("bad geometry in layer")
        return real(alerts, *args)

    monkeypatch.setattr(ingest, "case_frame", fragile)
    lon, lat = _good_rows(1)[0][1:3]
    alerts = pd.DataFrame({"id": range(16), "lon": lon, "lat": lat, "matter_code": "M1",
                           "severity": "low", "crs": "EPSG:4326", "credit_code": None,
                           "reported_at": pd.Timestamp("2026-11-01"),
                           "received_at": pd.Timestamp("2026-11-01")})
    failed = []
    frame = ingest.safe_case_frame(alerts, router, catalog, router.tz, failed)
    triaged = frame.loc[frame["body_code"] == "CC", "alert_id"].tolist()
    assert sorted(triaged) == [3, 14] and len(frame) == 16
    assert sorted(failed) == [f"alert {i}: routing failed (ValueError: bad geometry in "
                              "layer); given to the command center for triage"
                              for i in (14, 3)]
