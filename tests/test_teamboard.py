"""The team status board: position state, time in status and the current case."""

import datetime as dt

import pandas as pd
import pytest

from geo.dispatch import STALE_AFTER, fix_state
from geo.teamboard import BOARD_COLUMNS, team_board

NOW = dt.datetime(2026, 11, 27, 10, 0)


def minutes_ago(m: float) -> dt.datetime:
    return NOW - dt.timedelta(minutes=m)


def teams() -> pd.DataFrame:
    return pd.DataFrame({
        "team_id": ["A1", "A2", "A3"], "name": ["甲一", "甲二", "甲三"],
        "body_code": ["TC-A", "TC-A", "DT-SC"],
        "status": ["available", "on_scene", "en_route"],
        "fix_at": [pd.NaT, minutes_ago(45), minutes_ago(3)],
        "lon": [120.1, 120.2, 120.3], "lat": [30.8, 30.9, 30.7],
    })


def history() -> pd.DataFrame:
    return pd.DataFrame({
        "team_id": ["A1", "A2", "A2", "A3"],
        "to_state": ["dispatched", "en_route", "on_scene", "en_route"],
        "at": [minutes_ago(90), minutes_ago(50), minutes_ago(20), minutes_ago(7)],
    })


def assignments() -> pd.DataFrame:
    return pd.DataFrame({
        "team_id": ["A2", "A3", "A3"], "case_id": [11, 5, 12],
        "dispatched_at": [minutes_ago(60), minutes_ago(300), minutes_ago(8)],
        "matter_code": ["M1", "M2", "M1"],
        "matter_name": ["无证无照经营", "违法建设", "无证无照经营"],
    })


@pytest.fixture
def board() -> pd.DataFrame:
    return team_board(teams(), history(), assignments(), NOW).set_index("team_id")


def test_no_fix_stale_fix_and_fresh_fix_are_three_states(board):
    assert board["fix_state"].to_dict() == {"A1": "none", "A2": "stale", "A3": "fresh"}
    assert pd.isna(board.loc["A1", "fix_age_min"])
    assert board.loc["A2", "fix_age_min"] == pytest.approx(45.0)
    assert board.loc["A3", "fix_age_min"] == pytest.approx(3.0)


def test_the_stale_rule_is_one_threshold_shared_with_dispatch():
    limit = STALE_AFTER.total_seconds() / 60
    assert fix_state(limit) == "fresh" and fix_state(limit + 0.1) == "stale"
    assert fix_state(float("nan")) == "none"
    custom = team_board(teams(), history(), assignments(), NOW,
                        stale_after=dt.timedelta(hours=1))
    assert custom["fix_state"].tolist() == ["none", "fresh", "fresh"]


def test_time_in_status_counts_from_the_change_to_the_current_status(board):
    assert board.loc["A2", "in_status_min"] == pytest.approx(20.0)  # on scene 20 min
    assert board.loc["A3", "in_status_min"] == pytest.approx(7.0)
    # A1's last change was to dispatched but it is available now: unknown, not 90 min
    assert pd.isna(board.loc["A1", "in_status_min"])


def test_current_case_is_the_latest_active_assignment(board):
    assert board.loc["A2", "case_id"] == 11
    assert board.loc["A3", "case_id"] == 12
    assert board.loc["A3", "matter_name"] == "无证无照经营"
    assert pd.isna(board.loc["A1", "case_id"]) and pd.isna(board.loc["A1", "matter_name"])


def test_empty_history_and_assignments():
    empty_history = pd.DataFrame(columns=["team_id", "to_state", "at"])
    empty_jobs = pd.DataFrame(columns=["team_id", "case_id", "dispatched_at", "matter_code",
                                       "matter_name"])
    board = team_board(teams(), empty_history, empty_jobs, NOW)
    assert list(board.columns) == list(BOARD_COLUMNS)
    assert board["in_status_min"].isna().all() and board["case_id"].isna().all()
    assert board["fix_state"].tolist() == ["none", "stale", "fresh"]
