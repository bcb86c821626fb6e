"""The demo case history: a realistic mix of states, every step a legal one."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from geo import store
from geo.access import SYSTEM
from geo.cases import check_team_transition, check_transition, is_open
from geo.cli import main
from geo.demo.cases import add_case_history
from geo.settings import PROJECT_ROOT
from geo.store.models import AuditLog, Team

NOW = dt.datetime(2026, 12, 1, 2, 0)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    from geo.settings import Settings

    url = f"sqlite:///{tmp_path_factory.mktemp('history') / 'h.sqlite'}"
    settings = Settings(database_url=url)
    assert main(["init"], settings) == 0
    assert main(["ingest", str(PROJECT_ROOT / "data" / "demo_alerts.csv")], settings) == 0
    engine = store.connect(url)
    mix = add_case_history(engine, np.random.default_rng(7), NOW)
    return engine, mix


def test_most_cases_are_closed_and_a_minority_of_open_ones_overdue(history):
    engine, mix = history
    cases = store.cases_frame(engine, scope=SYSTEM)
    open_ = is_open(cases["status"])
    overdue = open_ & (cases["deadline_at"] < NOW)
    assert 0.7 <= (~open_).mean() <= 0.95
    assert 0.05 <= overdue.sum() / open_.sum() <= 0.15
    assert mix["closed"] == pytest.approx((~open_).mean())
    in_progress = set(cases.loc[open_, "status"])
    assert {"handling", "rectification"} <= in_progress
    assert len(in_progress) >= 3
    # the history ends at NOW: nothing happened later, the newest case was opened just before
    assert cases["opened_at"].max() <= NOW
    assert NOW - cases["opened_at"].max() <= dt.timedelta(hours=1)


def test_every_step_is_legal_and_ends_in_the_case_state(history):
    engine, _ = history
    cases = store.cases_frame(engine, scope=SYSTEM).set_index("id")
    with store.sessions(engine)() as s:
        log = pd.DataFrame([(e.entity, e.entity_id, e.action, e.from_state, e.to_state,
                             e.detail, e.at) for e in s.scalars(
            select(AuditLog).where(AuditLog.entity.in_(("case", "team")))
            .order_by(AuditLog.at, AuditLog.id))],
            columns=["entity", "entity_id", "action", "from_state", "to_state", "detail",
                     "at"])
        teams = dict(s.execute(select(Team.team_id, Team.status)).all())
    assert log["at"].max() <= NOW
    moves = log[log["entity"] == "case"]
    for case_id, steps in moves.groupby("entity_id"):
        case = cases.loc[int(case_id)]
        state = "new"
        for step in steps.itertuples():
            assert step.from_state == state, (case_id, step)
            reason = json.loads(step.detail or "{}").get("reason", "") if step.detail.startswith(
                "{") else ""
            if step.action != "route":
                check_transition(state, step.to_state, case["source"], reason)
            state = step.to_state
        assert state == case["status"], case_id
    kinds = set(moves["to_state"])
    assert {"verified", "dispatched", "handling", "rectification", "reinspection", "closed",
            "returned", "transferred"} <= kinds
    for team_id, steps in log[log["entity"] == "team"].groupby("entity_id"):
        state = "available"
        for step in steps.itertuples():
            assert step.from_state == state, (team_id, step)
            if step.action != "assign":
                check_team_transition(state, step.to_state)
            state = step.to_state
        assert teams[team_id] == state


def test_durations_follow_the_deadlines(history):
    engine, _ = history
    cases = store.cases_frame(engine, scope=SYSTEM)
    events = store.case_events(engine, scope=SYSTEM)
    closed = events[events["to_state"] == "closed"].merge(
        cases[["id", "opened_at", "deadline_at"]], left_on="case_id", right_on="id")
    in_time = pd.to_datetime(closed["at"]) <= closed["deadline_at"]
    assert 0.85 <= in_time.mean() < 1.0  # most in time, a few late


def test_the_history_is_written_once(history):
    engine, _ = history
    assert add_case_history(engine, np.random.default_rng(7), NOW) == {}
