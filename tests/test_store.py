import dataclasses

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from geo import store
from geo.access import SYSTEM
from geo.catalog import load_catalog
from geo.layers import load_layers
from geo.store.models import Meta, Site, Township


@pytest.fixture
def engine(store_settings):
    engine = store.connect(store_settings.database_url)
    store.migrate(engine)
    return engine


def test_reference_round_trip(engine, small_dirs):
    layers, catalog = load_layers(small_dirs[0]), load_catalog(small_dirs[1])
    store.import_reference(engine, layers, catalog, "test", scope=SYSTEM)
    back = store.load_layers(engine, scope=SYSTEM)
    for kind in ("townships", "units", "sites", "teams"):
        a, b = layers.get(kind), back.get(kind)
        assert list(a.iloc[:, 0]) == list(b.iloc[:, 0])
        assert a.geometry.geom_equals_exact(b.geometry, tolerance=0).all()
    cat = store.load_catalog(engine, scope=SYSTEM)
    pd.testing.assert_frame_equal(cat.matters.reset_index(drop=True),
                                  catalog.matters.sort_values("code").reset_index(drop=True),
                                  check_dtype=False)
    assert cat.empowerment["effective_to"].tolist() == catalog.empowerment[
        "effective_to"].tolist()
    assert store.get_meta(engine)["layers_source"] == "test"
    assert cat.inspection_intervals == catalog.inspection_intervals
    custom = dataclasses.replace(catalog, inspection_intervals={"high": 7, "medium": 60,
                                                                "low": 400},
                                 severity_words={"high": "high", "紧急": "high", "normal":
                                                 "medium", "low": "low", "medium": "medium"})
    store.import_reference(engine, layers, custom, "test", scope=SYSTEM)
    back = store.load_catalog(engine, scope=SYSTEM)
    assert back.inspection_intervals == {"high": 7, "medium": 60, "low": 400}
    assert back.severity_words == custom.severity_words  # the district's own words kept
    # an older release let a catalogue map low/medium/high to another severity: such a
    # database still loads, with the words meaning themselves
    with store.sessions(engine).begin() as s:
        s.merge(Meta(key="severity_words", value='{"high": "medium", "p1": "high"}'))
    assert store.load_catalog(engine, scope=SYSTEM).severity_words == {
        "low": "low", "medium": "medium", "high": "high", "p1": "high"}


def test_import_is_all_or_nothing(engine, small_dirs):
    layers, catalog = load_layers(small_dirs[0]), load_catalog(small_dirs[1])
    store.import_reference(engine, layers, catalog, "first", scope=SYSTEM)
    teams = layers.teams.copy()
    teams.loc[0, "body_code"] = "NO-SUCH-BODY"  # violates the foreign key mid-import
    broken = dataclasses.replace(layers, teams=teams, sites=layers.sites.iloc[:1])
    # SQLite: "FOREIGN KEY constraint failed"; PostgreSQL: "violates foreign key constraint"
    with pytest.raises(IntegrityError, match=r"(?i)foreign key constraint"):
        store.import_reference(engine, broken, catalog, "second", scope=SYSTEM)
    with store.sessions(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Site)) == 3
        assert s.scalar(select(func.count()).select_from(Township)) == 2
    assert store.get_meta(engine)["layers_source"] == "first"


def test_load_layers_before_init_says_what_to_do(engine):
    with pytest.raises(LookupError, match="python -m geo init"):
        store.load_layers(engine, scope=SYSTEM)


@pytest.mark.alerts_without_case  # the store alone: routing is not its part
def test_add_alerts_is_idempotent(engine, small_dirs):
    store.import_reference(engine, load_layers(small_dirs[0]), load_catalog(small_dirs[1]), "t",
                           scope=SYSTEM)
    row = {"source": "12345", "external_id": "X1", "lon": 120.1, "lat": 30.8,
           "crs": "EPSG:4326", "matter_code": "M1", "severity": "low",
           "reported_at": store.utcnow(), "description": "", "credit_code": None}
    with store.sessions(engine).begin() as s:
        assert store.add_alerts(s, [row, row, {**row, "source": "patrol"}]) == (2, 1)
    with store.sessions(engine).begin() as s:
        assert store.add_alerts(s, [row]) == (0, 1)
        assert len(store.unrouted_alerts(s, scope=SYSTEM)) == 2


def test_bulk_and_small_inserts_store_the_same_values(engine, monkeypatch):
    import datetime as dt

    from geo.store import bulkinsert
    from geo.store.models import Alert

    text = "tab\there, back\\slash, 换行\nend, \\N, emoji 🚧, quote \"'"
    when = dt.datetime(2026, 11, 27, 1, 30, 0, 123456)
    stored = {}
    for path, small in (("bulk", 0), ("small", 10**6)):
        monkeypatch.setattr(bulkinsert, "SMALL", small)
        frame = pd.DataFrame({
            "source": path, "external_id": ["A", "B"], "lon": [120.1, 120.2],
            "lat": [30.8, 30.9], "crs": "EPSG:4326", "matter_code": ["M1", None],
            "severity": "high", "reported_at": [when, when], "description": [text, ""],
            "credit_code": [None, "91330502MA2B3C4D5E"], "received_at": [when, when]})
        with store.sessions(engine).begin() as s:
            ids = store.store_alerts(s, frame)
            assert store.store_alerts(s, frame) == {}  # a repeat stores nothing
            store.add_cases(s, pd.DataFrame({
                "alert_id": [ids[(path, "A")], ids[(path, "B")]], "status": "routed",
                "lon": [120.1, 120.2], "lat": [30.8, 30.9], "matter_code": ["M1", None],
                "severity": "high", "township_code": ["330599001000", None],
                "township_name": ["甲镇", None], "unit_code": None, "site_id": None,
                "body_code": "CC", "flags": ["", "outside"], "reasons": [[text], []],
                "candidates": [(), ("330599002000",)], "opened_at": [when, when],
                "deadline_at": [when + dt.timedelta(days=3), pd.NaT], "routed_at": when}),
                scope=dataclasses.replace(SYSTEM, actor=f"source:{path}"))
        with store.sessions(engine)() as s:
            alerts = s.scalars(select(Alert).where(Alert.source == path)
                               .order_by(Alert.external_id)).all()
            cases = [a.case for a in alerts]
            stored[path] = [
                ({k: getattr(a, k) for k in ("external_id", "lon", "lat", "matter_code",
                                             "reported_at", "description", "credit_code")},
                 {k: getattr(c, k) for k in ("township_name", "flags", "reasons", "candidates",
                                             "opened_at", "deadline_at", "version", "geom")})
                for a, c in zip(alerts, cases, strict=True)]
    assert stored["bulk"] == stored["small"]
    (a, c), (_, c2) = stored["bulk"]
    assert a["description"] == text and a["reported_at"] == when
    assert c["reasons"] == [text] and c2["candidates"] == ["330599002000"]
    assert c2["deadline_at"] is None and c["version"] == 1 and c["geom"]
