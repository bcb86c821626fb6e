"""Joint operations in the store, on SQLite and PostGIS: a big-data alert verified, a
joint operation under the lead body, a participating body's dispatcher who sees the case
and sends its own team, seized items with totals and an audit entry each, only the lead
closes."""

import pytest
from sqlalchemy import select

from geo import store
from geo.access import SYSTEM, AccessDeniedError, Scope
from geo.cli import main
from geo.jointops import JointOpError
from geo.store import jointops
from geo.store.dispatching import (
    ConflictError,
    assign,
    assignments_of,
    teams_frame,
    transition_case,
)
from geo.store.models import AuditLog, SeizedItem
from geo.store.search import search_cases
from tests.conftest import X0, Y0, to_wgs

LEAD = Scope("township", township="330599001000", actor="zhili")
SC = Scope("dispatcher", body="DT-SC", actor="sc")
ZH = Scope("dispatcher", body="DT-ZH", actor="zh")
TOWN_B = Scope("township", township="330599002000", actor="b")
COMMAND = Scope("command", actor="boss")
PLANNER = Scope("planner", actor="plan")
MINERS = [{"item": "蚂蚁矿机 S19", "quantity": 100, "unit": "台", "value_yuan": 2_800_000},
          {"item": "蚂蚁矿机 S9", "quantity": "32", "unit": "台", "value_yuan": "700000.00"}]


@pytest.fixture
def db(store_settings, small_dirs, tmp_path):
    layers_dir, catalog_dir = small_dirs
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                store_settings) == 0
    lon, lat = to_wgs([X0 + 500], [Y0 + 500])
    (tmp_path / "a.csv").write_text(
        "id,lon,lat,matter,reported_at,source,severity,description\n"
        f"B0,{lon[0]},{lat[0]},M1,2026-11-27T10:00:00,bigdata,high,用电量异常：某村某号\n",
        encoding="utf-8")
    assert main(["ingest", str(tmp_path / "a.csv")], store_settings) == 0
    return store.connect(store_settings.database_url)


def the_case(engine, scope=SYSTEM):
    return store.cases_frame(engine, scope=scope).iloc[0]


def version(engine, team_id):
    frame = teams_frame(engine, None, scope=SYSTEM)
    return int(frame.loc[frame["team_id"] == team_id, "version"].iloc[0])


def step(engine, target, scope=LEAD, reason=""):
    c = the_case(engine)
    transition_case(engine, int(c["id"]), int(c["version"]), target, scope.actor, reason,
                    scope=scope)


def test_the_whole_operation(db):
    c = the_case(db)
    cid = int(c["id"])
    assert c["body_code"] == "TC-A"
    # not verified yet: no joint operation
    with pytest.raises(JointOpError) as info:
        jointops.add_participant(db, cid, "DT-SC", scope=LEAD)
    assert info.value.code == "verify_first"
    assert store.cases_frame(db, scope=SC).empty  # not the market team's case (yet)
    step(db, "verified")
    jointops.add_participant(db, cid, "DT-SC", scope=LEAD)
    assert jointops.add_observer(db, cid, "  国网湖州供电公司 ", scope=LEAD) == "国网湖州供电公司"
    # the participating body's dispatcher sees the case now, and finds it
    assert list(store.cases_frame(db, scope=SC)["id"]) == [cid]
    assert list(search_cases(db, "用电量异常", scope=SC)["id"]) == [cid]
    assert jointops.joined_cases(db, scope=SC) == [cid]
    assert jointops.joined_cases(db, scope=LEAD) == []
    assert store.cases_frame(db, scope=ZH).empty and store.cases_frame(db, scope=TOWN_B).empty
    op = jointops.operation(db, cid, scope=SC)
    assert op["lead"] == "TC-A" and [p["body_code"] for p in op["participants"]] == ["DT-SC"]
    assert [o["name"] for o in op["observers"]] == ["国网湖州供电公司"]
    assert not op["may_invite"] and op["team_bodies"] == [] and not op["may_seize"]
    assert jointops.operation(db, cid, scope=LEAD)["may_invite"]
    # the participant's team waits for the lead to dispatch
    with pytest.raises(JointOpError) as info:
        jointops.assign_team(db, cid, "DT-SC-1", version(db, "DT-SC-1"), scope=SC)
    assert info.value.code == "lead_first"
    c = the_case(db)
    assign(db, cid, int(c["version"]), "TA-1", version(db, "TA-1"), "zhili", scope=LEAD)
    assert jointops.operation(db, cid, scope=SC)["team_bodies"] == ["DT-SC"]
    with pytest.raises(LookupError):  # the lead's team is not the market team's to send
        jointops.assign_team(db, cid, "TA-1", version(db, "TA-1"), scope=SC)
    with pytest.raises(ConflictError):
        jointops.assign_team(db, cid, "DT-SC-1", version(db, "DT-SC-1") - 1, scope=SC)
    jointops.assign_team(db, cid, "DT-SC-1", version(db, "DT-SC-1"), scope=SC)
    assert {a.team_id for a in assignments_of(db, cid, scope=SYSTEM)} == {"TA-1", "DT-SC-1"}
    assert the_case(db)["status"] == "dispatched"
    # seized items: by the participant and the lead; totals exact
    made = jointops.add_seizures(db, cid, MINERS, scope=SC)
    assert [(m["item"], m["value_fen"], m["body_code"]) for m in made] == [
        ("蚂蚁矿机 S19", 280_000_000, "DT-SC"), ("蚂蚁矿机 S9", 70_000_000, "DT-SC")]
    items, total = jointops.list_seizures(db, cid, scope=PLANNER)
    assert len(items) == 2 and total.by_unit == {"台": 132} and total.value_fen == 350_000_000
    assert jointops.seized_totals(db, scope=SC) == {cid: 350_000_000}
    # only the lead moves and closes the case
    with pytest.raises(LookupError):
        step(db, "handling", scope=SC)
    step(db, "handling")
    with pytest.raises(LookupError):
        step(db, "closed", scope=SC, reason="查扣完毕")
    step(db, "closed", reason="查扣矿机 132 台，移送处罚")
    assert the_case(db)["status"] == "closed"
    assert {a.status for a in assignments_of(db, cid, scope=SYSTEM)} == {"cancelled"}
    assert set(teams_frame(db, None, scope=SYSTEM)["status"]) == {"available"}
    with pytest.raises(JointOpError) as info:
        jointops.add_seizures(db, cid, MINERS[:1], scope=LEAD)
    assert info.value.code == "not_seizable"
    with pytest.raises(JointOpError):
        jointops.add_participant(db, cid, "DT-ZH", scope=COMMAND)
    # every step on the case's timeline
    actions = [(e.actor, e.action) for e in store.case_timeline(db, cid, scope=SC)]
    for entry in (("zhili", "join"), ("zhili", "observer"), ("sc", "assign"),
                  ("sc", "seize"), ("zhili", "transition")):
        assert entry in actions
    assert sum(a == "seize" for _, a in actions) == 2


def test_who_may_invite_and_record(db):
    cid = int(the_case(db)["id"])
    step(db, "verified")
    for scope, error in ((SC, LookupError), (PLANNER, AccessDeniedError),
                         (TOWN_B, LookupError)):
        with pytest.raises(error):
            jointops.add_participant(db, cid, "DT-ZH", scope=scope)
    for body, code in (("TC-A", "is_lead"), ("CC", "not_joining_kind"), ("NOPE", "not_a_body"),
                       ("", "not_a_body")):
        with pytest.raises(JointOpError) as info:
            jointops.add_participant(db, cid, body, scope=COMMAND)
        assert info.value.code == code
    jointops.add_participant(db, cid, "DT-ZH", scope=COMMAND)
    with pytest.raises(JointOpError) as info:
        jointops.add_participant(db, cid, "DT-ZH", scope=LEAD)
    assert info.value.code == "already_on"
    c = the_case(db)
    assign(db, cid, int(c["version"]), "TA-1", version(db, "TA-1"), "zhili", scope=LEAD)
    # a body that does not take part records nothing; a role that reads only, neither
    with pytest.raises(LookupError):
        jointops.add_seizures(db, cid, MINERS, scope=SC)
    with pytest.raises(AccessDeniedError):
        jointops.add_seizures(db, cid, MINERS, scope=PLANNER)
    jointops.add_seizures(db, cid, MINERS[:1], scope=ZH)  # a participant without teams here
    # hostile items: nothing stored, the row and field named
    for rows, match in (([{**MINERS[0], "quantity": float("nan")}], "^field quantity"),
                        ([MINERS[0], {**MINERS[1], "value_yuan": -1}], "^row 2, field value"),
                        ([{**MINERS[0], "item": "矿\x00机"}], "^field item"),
                        ([], "no item")):
        with pytest.raises(JointOpError, match=match):
            jointops.add_seizures(db, cid, rows, scope=LEAD)
    with store.sessions(db)() as s:
        assert len(s.scalars(select(SeizedItem)).all()) == 1
        seized = s.scalars(select(AuditLog).where(AuditLog.action == "seize")).all()
    assert len(seized) == 1 and '"by": "DT-ZH"' in seized[0].detail
