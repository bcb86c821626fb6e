"""Roles and scopes: the pure rule, and the store enforcing it on both backends."""

import pytest
from sqlalchemy import select

from geo import store
from geo.access import SYSTEM, AccessDeniedError, Scope
from geo.cli import main
from geo.store import dispatching
from geo.store.models import Case
from tests.conftest import CODE_A, CODE_B, SIDE, X0, Y0, to_wgs


def test_scope_rule():
    town = Scope("township", township=CODE_A, actor="a")
    assert town.covers({"township_code": CODE_A, "body_code": "DT-SC"})
    assert not town.covers({"township_code": CODE_B, "body_code": "TC-A"})
    sc = Scope("dispatcher", body="DT-SC")
    assert sc.covers({"township_code": CODE_B, "body_code": "DT-SC"})
    assert not sc.covers({"township_code": CODE_A, "body_code": "TC-A"})
    assert Scope("planner").covers({"township_code": CODE_B}) and not Scope(
        "planner").may_change
    with pytest.raises(AccessDeniedError):
        Scope("planner").check_change({"id": 1, "township_code": CODE_A})
    with pytest.raises(LookupError, match="no case 7"):
        town.check_change({"id": 7, "township_code": CODE_B})
    with pytest.raises(ValueError, match="township code"):
        Scope("township")
    with pytest.raises(ValueError, match="unknown role"):
        Scope("mayor")


@pytest.fixture
def db(store_settings, small_dirs, tmp_path):
    layers_dir, catalog_dir = small_dirs
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                store_settings) == 0
    lon, lat = to_wgs([X0 + 500, X0 + SIDE + 500], [Y0 + 500] * 2)
    (tmp_path / "a.csv").write_text(
        "id,lon,lat,matter,reported_at,source,severity\n"
        f"A,{lon[0]},{lat[0]},M1,2026-11-27T10:00:00,12345,high\n"
        f"B,{lon[1]},{lat[1]},M1,2026-11-27T10:00:00,12345,high\n", encoding="utf-8")
    assert main(["ingest", str(tmp_path / "a.csv")], store_settings) == 0
    engine = store.connect(store_settings.database_url)
    with store.sessions(engine)() as s:
        ids = dict(s.execute(select(Case.township_code, Case.id)).all())
    return engine, ids[CODE_A], ids[CODE_B]


def test_township_staff_cannot_read_another_townships_case(db):
    engine, a, b = db
    town_a = Scope("township", township=CODE_A, actor="a")
    assert store.cases_frame(engine, scope=town_a)["id"].tolist() == [a]
    assert set(store.cases_frame(engine, scope=SYSTEM)["id"]) == {a, b}
    with store.sessions(engine)() as s:
        assert [c.id for c in store.query_cases(s, scope=town_a)] == [a]
        assert store.query_cases(s, township=CODE_B, scope=town_a) == []
    assert store.case_timeline(engine, a, scope=town_a)
    with pytest.raises(LookupError):
        store.case_timeline(engine, b, scope=town_a)
    assert set(store.case_events(engine, scope=town_a)["case_id"]) == {a}


def test_township_staff_cannot_change_another_townships_case(db):
    engine, a, b = db
    town_a = Scope("township", township=CODE_A, actor="a")
    before = store.cases_frame(engine, scope=SYSTEM).set_index("id")
    for attempt in (
        lambda: dispatching.transition_case(engine, b, 1, "closed", "a", "done", scope=town_a),
        lambda: dispatching.return_case(engine, b, 1, "a", "not ours", scope=town_a),
        lambda: dispatching.reroute_case(engine, b, 1, "DT-SC", "a", scope=town_a),
        lambda: dispatching.transfer_case(engine, b, 1, CODE_A, "甲镇", "a", "mine", scope=town_a),
        lambda: dispatching.assign(engine, b, 1, "DT-SC-1", 1, "a", scope=town_a),
        lambda: dispatching.merge_case(engine, a, 1, b, "a", scope=town_a),
    ):
        with pytest.raises(LookupError):
            attempt()
    after = store.cases_frame(engine, scope=SYSTEM).set_index("id")
    assert after[["status", "version", "body_code"]].equals(
        before[["status", "version", "body_code"]])
    # their own case they may work on
    dispatching.return_case(engine, a, 1, "a", "not our matter", scope=town_a)
    assert store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[a, "status"] == "returned"


def test_planners_read_everything_and_change_nothing(db):
    engine, a, b = db
    planner = Scope("planner", actor="p")
    assert set(store.cases_frame(engine, scope=planner)["id"]) == {a, b}
    with pytest.raises(AccessDeniedError):
        dispatching.return_case(engine, a, 1, "p", "no", scope=planner)
    assert store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[a, "version"] == 1
    dispatching.transition_case(engine, a, 1, "verified", "x", "checked", scope=SYSTEM)
    assert store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[a, "status"] == "verified"


def test_no_store_function_defaults_its_scope():
    """Permissions fail closed: a store function that takes a scope never assumes one."""
    import inspect

    from geo.store import accounts, acknowledging, inspecting, spatial

    modules = (store, dispatching, spatial, inspecting, accounts, acknowledging)
    with_scope = [f for m in modules for _, f in inspect.getmembers(m, inspect.isfunction)
                  if f.__module__ == m.__name__ and "scope" in inspect.signature(f).parameters]
    assert len(with_scope) >= 12
    for f in with_scope:
        assert inspect.signature(f).parameters["scope"].default is inspect.Parameter.empty, \
            f"{f.__module__}.{f.__name__} gives scope a default"
