"""The store read behind the team status board, on SQLite and PostGIS: scoped to the
caller's teams and cases."""

import pytest

from geo.access import SYSTEM, AccessDeniedError, Scope
from geo.store.dispatching import assign, set_team_status
from geo.store.teamboard import team_activity
from tests.conftest import CODE_A
from tests.test_dispatching import case, db, db_settings, team  # noqa: F401 (fixtures)


@pytest.fixture
def busy(db):  # noqa: F811
    c = case(db, "A0")
    assign(db, int(c["id"]), int(c["version"]), "DT-SC-1", int(team(db, "DT-SC-1")["version"]),
           "d", scope=SYSTEM)
    set_team_status(db, "DT-SC-1", int(team(db, "DT-SC-1")["version"]), "en_route", "d",
                    scope=SYSTEM)
    set_team_status(db, "TA-1", int(team(db, "TA-1")["version"]), "off_duty", "d",
                    scope=SYSTEM)
    return db, int(c["id"])


def test_activity_is_the_latest_change_and_the_active_case(busy):
    engine, case_id = busy
    history, jobs = team_activity(engine, scope=SYSTEM)
    latest = history.set_index("team_id")["to_state"].to_dict()
    assert latest == {"DT-SC-1": "en_route", "TA-1": "off_duty"}
    assert jobs[["team_id", "case_id", "matter_name"]].values.tolist() == [
        ["DT-SC-1", case_id, "无证无照经营"]]


def test_activity_keeps_to_the_callers_teams(busy):
    engine, _ = busy
    history, jobs = team_activity(engine, scope=Scope("township", township=CODE_A))
    assert history["team_id"].tolist() == ["TA-1"] and jobs.empty
    history, jobs = team_activity(engine, scope=Scope("dispatcher", body="TC-A"))
    assert history["team_id"].tolist() == ["TA-1"] and jobs.empty


def test_activity_names_no_case_the_caller_may_not_read(busy):
    engine, _ = busy
    # DT-SC-1 lends a hand on TC-A's case: DT-SC's dispatcher sees the team, not the case
    history, jobs = team_activity(engine, scope=Scope("dispatcher", body="DT-SC"))
    assert history["team_id"].tolist() == ["DT-SC-1"] and jobs.empty


def test_a_source_may_not_read_teams(db):  # noqa: F811
    with pytest.raises(AccessDeniedError):
        team_activity(db, scope=Scope("source", source="S"))
