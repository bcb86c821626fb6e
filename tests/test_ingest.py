import json

import pytest
from sqlalchemy import func, select

from geo import store
from geo.catalog import load_catalog
from geo.ingest import IngestError, ingest_file, parse_alerts, read_records
from geo.layers import load_layers
from geo.routing import Router
from geo.settings import Settings
from geo.store.models import Alert, AuditLog, Case
from tests.conftest import X0, Y0, to_wgs


@pytest.fixture
def db_settings(store_settings):
    """This module's store tests run on SQLite and on PostGIS."""
    return store_settings


@pytest.fixture
def setup(db_settings, small_dirs):
    engine = store.connect(db_settings.database_url)
    store.migrate(engine)
    layers, catalog = load_layers(small_dirs[0]), load_catalog(small_dirs[1])
    store.import_reference(engine, layers, catalog, "test")
    return engine, Router(layers, catalog, Settings()), catalog


def _csv(path, rows):
    head = "id,lon,lat,matter,reported_at,source,severity,description\n"
    path.write_text(head + "".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _good_rows(n=3):
    lon, lat = to_wgs([X0 + 500 + 10 * i for i in range(n)], [Y0 + 500] * n)
    return [(f"A{i}", lon[i], lat[i], "M1", "2024-06-01T09:00:00+08:00", "12345", "high", "x")
            for i in range(n)]


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
    assert _count(engine, AuditLog) == 3
    with store.sessions(engine)() as s:
        case = store.query_cases(s)[0]
    assert case.body_code == "TC-A" and case.status == "routed"
    assert case.deadline_at - case.opened_at == catalog.deadline("M1", "high")


def test_bad_rows_go_to_rejects_with_row_and_field(setup, tmp_path):
    engine, router, catalog = setup
    good = _good_rows(2)
    rows = [good[0],
            ("B1", "abc", 30.8, "M1", "2024-06-01", "12345", "low", ""),
            ("B2", 30.8, 120.1, "M1", "2024-06-01", "12345", "low", ""),
            ("B3", 120.1, 30.8, "M1", "yesterday", "12345", "low", ""),
            ("B4", 120.1, 30.8, "M1", "2024-06-01", "12345", "urgent", ""),
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


def test_unknown_matter_is_kept_and_triaged(setup, tmp_path):
    engine, router, catalog = setup
    row = list(_good_rows(1)[0])
    row[3] = "M404"
    report = ingest_file(engine, _csv(tmp_path / "c.csv", [row]), router, catalog)
    assert report.new == 1 and any("row 2, field matter" in w for w in report.warnings)
    with store.sessions(engine)() as s:
        assert store.query_cases(s)[0].body_code == "CC"


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
    # one row that is not UTF-8 is that row's problem; a header that is not, the file's
    (tmp_path / "latin.csv").write_bytes("id,lon,lat\n1,2,3\n\xe9,1,2\n".encode("latin-1"))
    assert [(row, rec.get("__error__")) for row, rec in read_records(tmp_path / "latin.csv")
            ] == [(2, None), (3, "not UTF-8 text")]
    (tmp_path / "latin.csv").write_bytes("\xe9d,lon,lat\n1,2,3\n".encode("latin-1"))
    with pytest.raises(IngestError, match="not UTF-8"):
        list(read_records(tmp_path / "latin.csv"))


def test_gcj02_input_is_converted(tmp_path):
    from geo.crs import wgs84_to_gcj02
    lon, lat = wgs84_to_gcj02(120.1, 30.87)
    parsed = parse_alerts(iter([(2, {"id": "1", "lon": str(lon), "lat": str(lat)})]),
                          source="app", crs="gcj02")
    assert parsed.alerts[0]["crs"] == "gcj02"


def test_row_level_problems_name_the_right_field(tmp_path):
    from geo.ingest import parse_alerts
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
