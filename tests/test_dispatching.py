"""The dispatch workflow against a real database, including concurrent dispatchers."""

import threading

import pytest
from sqlalchemy import select

from geo import store
from geo.access import SYSTEM
from geo.cases import IllegalTransitionError
from geo.cli import main
from geo.store.dispatching import (
    ConflictError,
    add_positions,
    assign,
    assignments_of,
    merge_case,
    reroute_case,
    return_case,
    set_team_status,
    teams_frame,
    transfer_case,
    transition_case,
)
from geo.store.models import AuditLog
from tests.conftest import X0, Y0, to_wgs


@pytest.fixture
def db_settings(store_settings):
    """This module's store tests run on SQLite and on PostGIS."""
    return store_settings


@pytest.fixture
def db(db_settings, small_dirs, tmp_path):
    layers_dir, catalog_dir = small_dirs
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                db_settings) == 0
    lon, lat = to_wgs([X0 + 500, X0 + 600, X0 + 700], [Y0 + 500] * 3)
    rows = ["id,lon,lat,matter,reported_at,source,severity"]
    rows += [f"A{i},{lon[i]},{lat[i]},M1,2026-11-27T10:00:00,12345,high" for i in range(2)]
    rows.append(f"B0,{lon[2]},{lat[2]},M1,2026-11-27T10:00:00,bigdata,high")
    (tmp_path / "a.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["ingest", str(tmp_path / "a.csv")], db_settings) == 0
    return store.connect(db_settings.database_url)


def case(engine, external_id):
    frame = store.cases_frame(engine, scope=SYSTEM)
    return frame[frame["external_id"] == external_id].iloc[0]


def team(engine, team_id):
    frame = teams_frame(engine, "EPSG:4549", scope=SYSTEM)
    return frame[frame["team_id"] == team_id].iloc[0]


def test_assign_and_follow_the_team_to_closure(db):
    c, t = case(db, "A0"), team(db, "TA-1")
    assign(db, int(c["id"]), int(c["version"]), "TA-1", int(t["version"]), "dispatcher-1",
        scope=SYSTEM)
    assert case(db, "A0")["status"] == "dispatched"
    assert team(db, "TA-1")["status"] == "dispatched"
    assert team(db, "TA-1")["open_assignments"] == 1
    for status in ("en_route", "on_scene", "available"):
        set_team_status(db, "TA-1", int(team(db, "TA-1")["version"]), status, "team", scope=SYSTEM)
    (a,) = assignments_of(db, int(c["id"]), scope=SYSTEM)
    assert a.status == "cleared"
    assert a.dispatched_at <= a.en_route_at <= a.on_scene_at <= a.cleared_at
    for status in ("handling", "closed"):
        transition_case(db, int(c["id"]), int(case(db, "A0")["version"]), status, "team",
                        reason="处置完毕", scope=SYSTEM)
    with store.sessions(db)() as s:
        log = s.scalars(select(AuditLog).where(AuditLog.entity == "case",
                                               AuditLog.entity_id == str(c["id"]))
                        .order_by(AuditLog.id)).all()
    assert [(e.from_state, e.to_state) for e in log] == [
        ("new", "routed"), ("routed", "dispatched"), ("dispatched", "handling"),
        ("handling", "closed")]
    assert log[1].actor == "dispatcher-1" and "TA-1" in log[1].detail


def test_illegal_moves_are_refused_and_change_nothing(db):
    c = case(db, "B0")  # big-data alert: verify first
    t = team(db, "TA-1")
    with pytest.raises(IllegalTransitionError, match="must be verified"):
        assign(db, int(c["id"]), int(c["version"]), "TA-1", int(t["version"]), "d", scope=SYSTEM)
    assert team(db, "TA-1")["status"] == "available"
    with pytest.raises(IllegalTransitionError, match="cannot become closed"):
        transition_case(db, int(c["id"]), int(c["version"]), "closed", "d", reason="x",
            scope=SYSTEM)
    with pytest.raises(IllegalTransitionError, match="available cannot become on_scene"):
        set_team_status(db, "TA-1", int(t["version"]), "on_scene", "d", scope=SYSTEM)


def test_two_dispatchers_same_team_exactly_one_wins(db):
    cases = [case(db, "A0"), case(db, "A1")]
    t = team(db, "TA-1")
    barrier = threading.Barrier(2)
    results: list[str] = []

    def dispatcher(c):
        barrier.wait()
        try:
            assign(db, int(c["id"]), int(c["version"]), "TA-1", int(t["version"]), "d",
                scope=SYSTEM)
            results.append("ok")
        except ConflictError as exc:
            results.append(f"conflict: {exc}")

    threads = [threading.Thread(target=dispatcher, args=(c,)) for c in cases]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(r.split(":")[0] for r in results) == ["conflict", "ok"]
    assert "TA-1 is no longer available" in next(r for r in results if r != "ok")
    statuses = sorted(case(db, x)["status"] for x in ("A0", "A1"))
    assert statuses == ["dispatched", "routed"]   # the loser's case is untouched


def test_two_dispatchers_same_case_exactly_one_wins(db):
    c = case(db, "A0")
    versions = {tid: int(team(db, tid)["version"]) for tid in ("TA-1", "DT-SC-1")}
    barrier = threading.Barrier(2)
    results: list[str] = []

    def dispatcher(team_id):
        barrier.wait()
        try:
            assign(db, int(c["id"]), int(c["version"]), team_id, versions[team_id], "d",
                scope=SYSTEM)
            results.append("ok")
        except ConflictError:
            results.append("conflict")

    threads = [threading.Thread(target=dispatcher, args=(tid,)) for tid in versions]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == ["conflict", "ok"]
    assert len(assignments_of(db, int(c["id"]), scope=SYSTEM)) == 1
    busy = [tid for tid in versions if team(db, tid)["status"] == "dispatched"]
    assert len(busy) == 1                         # the losing team stays available


def test_return_reroute_transfer_and_merge(db):
    c = case(db, "A0")
    return_case(db, int(c["id"]), int(c["version"]), "d", "不属本中心事项", scope=SYSTEM)
    back = case(db, "A0")
    assert (back["status"], back["body_code"]) == ("returned", "CC")
    reroute_case(db, int(c["id"]), int(back["version"]), "DT-SC", "command", scope=SYSTEM)
    assert (case(db, "A0")["status"], case(db, "A0")["body_code"]) == ("routed", "DT-SC")
    c1 = case(db, "A1")
    transfer_case(db, int(c1["id"]), int(c1["version"]), "330599002000", "乙街道", "d",
                  "界线附近，确认属乙街道", scope=SYSTEM)
    moved = case(db, "A1")
    assert (moved["status"], moved["township_code"], moved["body_code"]) == (
        "transferred", "330599002000", "TC-B")
    merge_case(db, int(c1["id"]), int(moved["version"]), int(c["id"]), "d", scope=SYSTEM)
    assert case(db, "A1")["status"] == "merged"
    stale = int(back["version"])  # read before the re-route
    with pytest.raises(ConflictError, match="changed by someone else"):
        transition_case(db, int(c["id"]), stale, "verified", "d", scope=SYSTEM)


def test_positions_update_the_team_location(db):
    import datetime as dt
    now = store.utcnow()
    add_positions(db, [{"team_id": "TA-1", "lon": 120.2, "lat": 30.8,
                        "at": now - dt.timedelta(minutes=1)}], scope=SYSTEM)
    t = team(db, "TA-1")
    assert (t["lon"], t["lat"]) == (120.2, 30.8) and t["fix_at"] == now - dt.timedelta(
        minutes=1)
    with pytest.raises(LookupError, match="unknown team"):
        add_positions(db, [{"team_id": "NOPE", "lon": 1, "lat": 1, "at": now}], scope=SYSTEM)


def test_adding_a_second_team_to_a_dispatched_case_is_versioned(db):
    c = case(db, "A0")
    assign(db, int(c["id"]), int(c["version"]), "TA-1", int(team(db, "TA-1")["version"]), "d",
        scope=SYSTEM)
    stale = case(db, "A0")
    assign(db, int(c["id"]), int(stale["version"]), "DT-SC-1",
           int(team(db, "DT-SC-1")["version"]), "d", scope=SYSTEM)
    with pytest.raises(ConflictError, match="changed by someone else"):
        transition_case(db, int(c["id"]), int(stale["version"]), "handling", "d", scope=SYSTEM)


def test_big_data_alert_needs_verification_even_after_transfer(db):
    c = case(db, "B0")
    transfer_case(db, int(c["id"]), int(c["version"]), "330599002000", "乙街道", "d", "界线",
        scope=SYSTEM)
    c = case(db, "B0")
    with pytest.raises(IllegalTransitionError, match="must be verified"):
        assign(db, int(c["id"]), int(c["version"]), "TA-1", int(team(db, "TA-1")["version"]),
               "d", scope=SYSTEM)
    transition_case(db, int(c["id"]), int(c["version"]), "verified", "d", scope=SYSTEM)
    c = case(db, "B0")
    assign(db, int(c["id"]), int(c["version"]), "TA-1", int(team(db, "TA-1")["version"]), "d",
        scope=SYSTEM)


def test_returning_a_case_releases_its_team(db):
    c = case(db, "A0")
    assign(db, int(c["id"]), int(c["version"]), "TA-1", int(team(db, "TA-1")["version"]), "d",
        scope=SYSTEM)
    return_case(db, int(c["id"]), int(case(db, "A0")["version"]), "d", "不属本中心", scope=SYSTEM)
    assert team(db, "TA-1")["status"] == "available"
    (a,) = assignments_of(db, int(c["id"]), scope=SYSTEM)
    assert a.status == "cancelled" and a.cleared_at is not None


def test_bad_targets_are_refused(db):
    c = case(db, "A0")
    return_case(db, int(c["id"]), int(c["version"]), "d", "不属本中心", scope=SYSTEM)
    with pytest.raises(LookupError, match="unknown body"):
        reroute_case(db, int(c["id"]), int(case(db, "A0")["version"]), "please check", "d",
            scope=SYSTEM)
    c1 = case(db, "A1")
    for into in (int(c1["id"]), 999_999):
        with pytest.raises(LookupError, match="not another open case"):
            merge_case(db, int(c1["id"]), int(c1["version"]), into, "d", scope=SYSTEM)
    with pytest.raises(IllegalTransitionError, match="by assigning it"):
        set_team_status(db, "TA-1", int(team(db, "TA-1")["version"]), "dispatched", "d",
                        scope=SYSTEM)


def test_team_must_have_the_skill(db, small_dirs):
    # TA-1 holds 综合执法 and 市场监管; M2 (违法建设) needs 住房城乡建设
    from geo.store.models import Case
    c = case(db, "A1")
    with store.sessions(db).begin() as s:
        s.get(Case, int(c["id"])).matter_code = "M2"
    with pytest.raises(IllegalTransitionError, match="lacks the skill 住房城乡建设"):
        assign(db, int(c["id"]), int(c["version"]), "TA-1", int(team(db, "TA-1")["version"]),
               "d", scope=SYSTEM)


def test_future_position_fixes_are_refused(db):
    import datetime as dt
    with pytest.raises(ValueError, match="in the future for TA-1"):
        add_positions(db, [{"team_id": "TA-1", "lon": 120.1, "lat": 30.8,
                            "at": store.utcnow() + dt.timedelta(hours=8)}], scope=SYSTEM)


def test_recalling_the_only_team_puts_the_case_back_in_the_queue(db):
    c = case(db, "A0")
    assign(db, int(c["id"]), int(c["version"]), "TA-1", int(team(db, "TA-1")["version"]), "d",
        scope=SYSTEM)
    set_team_status(db, "TA-1", int(team(db, "TA-1")["version"]), "en_route", "team", scope=SYSTEM)
    set_team_status(db, "TA-1", int(team(db, "TA-1")["version"]), "available", "d", scope=SYSTEM)
    assert case(db, "A0")["status"] == "routed"
    (a,) = assignments_of(db, int(c["id"]), scope=SYSTEM)
    assert a.status == "cancelled"
    # a team that finished on scene does not send the case back
    c = case(db, "A0")
    assign(db, int(c["id"]), int(c["version"]), "TA-1", int(team(db, "TA-1")["version"]), "d",
        scope=SYSTEM)
    for status in ("en_route", "on_scene", "available"):
        set_team_status(db, "TA-1", int(team(db, "TA-1")["version"]), status, "team", scope=SYSTEM)
    assert case(db, "A0")["status"] == "dispatched"


def test_audit_details_say_what_a_move_refers_to_as_data(db):
    """Re-routing, returning, transferring, merging and recalling write what they refer to
    (body, township, case, team) as JSON, for the timeline to word in any language."""
    import json

    from geo.store.dispatching import ConflictError
    c = case(db, "A0")
    cid = int(c["id"])
    return_case(db, cid, int(c["version"]), "d", "不属本中心", scope=SYSTEM)
    reroute_case(db, cid, int(case(db, "A0")["version"]), "TC-A", "d", scope=SYSTEM)
    with pytest.raises(ConflictError) as err:
        reroute_case(db, cid, int(c["version"]), "TC-A", "d", scope=SYSTEM)
    assert (err.value.entity, err.value.entity_id) == ("case", cid)
    t = team(db, "TA-1")
    assign(db, cid, int(case(db, "A0")["version"]), "TA-1", int(t["version"]), "d",
           scope=SYSTEM)
    set_team_status(db, "TA-1", int(team(db, "TA-1")["version"]), "available", "d",
                    scope=SYSTEM)
    with store.sessions(db)() as s:
        log = s.scalars(select(AuditLog).where(AuditLog.entity == "case",
                                               AuditLog.entity_id == str(cid))
                        .order_by(AuditLog.id)).all()
    details = [(e.action, json.loads(e.detail)) for e in log[1:]]
    assert details == [("transition", {"reason": "不属本中心", "body": "CC"}),
                       ("transition", {"body": "TC-A"}),
                       ("assign", {"team": "TA-1"}),
                       ("recall", {"team": "TA-1"})], details
