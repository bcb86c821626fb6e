"""Acknowledging new high-severity alerts, against a real database (SQLite and PostGIS)."""

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from geo import store
from geo.access import SYSTEM, AccessDeniedError, Scope
from geo.cli import main
from geo.store.acknowledging import ACKNOWLEDGED, acknowledge, unacknowledged_high
from geo.store.dispatching import transition_case
from geo.store.models import AuditLog
from tests.conftest import CODE_A, CODE_B, X0, Y0, to_wgs

STAFF_A = Scope("township", township=CODE_A, actor="staff-a")
STAFF_B = Scope("township", township=CODE_B, actor="staff-b")
COMMAND = Scope("command", actor="command-1")
PLANNER = Scope("planner", actor="planner-1")


@pytest.fixture
def db_settings(store_settings):
    """This module's store tests run on SQLite and on PostGIS."""
    return store_settings


@pytest.fixture
def db(db_settings, small_dirs, tmp_path):
    """Three high-severity cases in township A (A2 the oldest), one in B, one medium in A."""
    layers_dir, catalog_dir = small_dirs
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                db_settings) == 0
    lon, lat = to_wgs([X0 + 500, X0 + 600, X0 + 700, X0 + 2500, X0 + 800], [Y0 + 500] * 5)
    rows = ["id,lon,lat,matter,reported_at,source,severity,description"]
    rows += [f"A0,{lon[0]},{lat[0]},M1,2026-11-27T10:00:00,12345,high,噪声",
             f"A1,{lon[1]},{lat[1]},M1,2026-11-27T11:00:00,12345,high,",
             f"A2,{lon[2]},{lat[2]},M1,2026-11-27T09:00:00,bigdata,high,",
             f"B0,{lon[3]},{lat[3]},M1,2026-11-27T10:00:00,12345,high,",
             f"M0,{lon[4]},{lat[4]},M1,2026-11-27T08:00:00,12345,medium,"]
    (tmp_path / "a.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["ingest", str(tmp_path / "a.csv")], db_settings) == 0
    return store.connect(db_settings.database_url)


def ids(engine, scope=SYSTEM, since=None) -> list[str]:
    """External ids of the cases waiting for an acknowledgement, in the order returned."""
    frame = store.cases_frame(engine, scope=SYSTEM).set_index("id")
    pending = unacknowledged_high(engine, scope=scope, since=since)
    return [frame.loc[i, "external_id"] for i in pending["id"]]


def case_id(engine, external_id: str) -> int:
    frame = store.cases_frame(engine, scope=SYSTEM)
    return int(frame.loc[frame["external_id"] == external_id, "id"].iloc[0])


def acknowledgements(engine, cid: int) -> list[AuditLog]:
    with store.sessions(engine)() as s:
        return list(s.scalars(select(AuditLog).where(
            AuditLog.entity == "case", AuditLog.entity_id == str(cid),
            AuditLog.action == ACKNOWLEDGED)))


def test_open_high_cases_wait_oldest_first_until_acknowledged(db):
    assert ids(db) == ["A2", "A0", "B0", "A1"]  # the medium one needs none
    cid = case_id(db, "A0")
    before = store.cases_frame(db, scope=SYSTEM).set_index("id").loc[cid]
    done = acknowledge(db, cid, scope=STAFF_A)
    assert done.new and done.actor == "staff-a" and done.case_id == cid
    assert ids(db) == ["A2", "B0", "A1"]
    (entry,) = acknowledgements(db, cid)
    assert entry.actor == "staff-a" and entry.at == done.at
    after = store.cases_frame(db, scope=SYSTEM).set_index("id").loc[cid]
    assert (after["status"], after["version"]) == (before["status"], before["version"])
    (described,) = [e for e in store.case_timeline(db, cid, scope=STAFF_A)
                    if e.action == ACKNOWLEDGED]
    assert described.actor == "staff-a"


def test_a_second_acknowledgement_is_a_no_op_that_says_who_was_first(db):
    cid = case_id(db, "A1")
    first = acknowledge(db, cid, scope=STAFF_A)
    again = acknowledge(db, cid, scope=COMMAND)
    assert not again.new and (again.actor, again.at) == ("staff-a", first.at)
    assert not acknowledge(db, cid, scope=STAFF_A).new
    assert len(acknowledgements(db, cid)) == 1


def test_two_users_acknowledging_at_once_record_one(db):
    cid = case_id(db, "A2")
    barrier, results = threading.Barrier(2), []

    def user(scope):
        barrier.wait()
        results.append(acknowledge(db, cid, scope=scope))

    threads = [threading.Thread(target=user, args=(s,)) for s in (STAFF_A, COMMAND)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(r.new for r in results) == [False, True]
    assert len({(r.actor, r.at) for r in results}) == 1
    assert len(acknowledgements(db, cid)) == 1


def test_township_staff_see_and_acknowledge_only_their_township(db):
    assert ids(db, STAFF_B) == ["B0"]
    assert ids(db, STAFF_A) == ["A2", "A0", "A1"]
    with pytest.raises(LookupError):
        acknowledge(db, case_id(db, "A0"), scope=STAFF_B)
    assert acknowledgements(db, case_id(db, "A0")) == []
    assert acknowledge(db, case_id(db, "B0"), scope=STAFF_B).new


def test_planners_read_the_list_but_may_not_acknowledge(db):
    assert ids(db, PLANNER) == ["A2", "A0", "B0", "A1"]
    with pytest.raises(AccessDeniedError):
        acknowledge(db, case_id(db, "A0"), scope=PLANNER)
    assert acknowledgements(db, case_id(db, "A0")) == []
    with pytest.raises(LookupError):
        acknowledge(db, 99_999, scope=COMMAND)


def test_closed_and_older_cases_are_not_waiting(db):
    cid = case_id(db, "A0")
    version = int(store.cases_frame(db, scope=SYSTEM).set_index("id").loc[cid, "version"])
    transition_case(db, cid, version, "verified", "d", scope=SYSTEM)
    transition_case(db, cid, version + 1, "closed", "d", reason="已处理", scope=SYSTEM)
    assert "A0" not in ids(db)
    # "since" is when a case was stored, not its incident's time: these reports of days ago
    # came in just now, and wait for an acknowledgement
    now = store.utcnow()
    assert ids(db, since=now - dt.timedelta(hours=24)) == ["A2", "B0", "A1"]
    assert ids(db, since=now + dt.timedelta(minutes=5)) == []
