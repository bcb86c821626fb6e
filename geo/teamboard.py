"""The team status board: per team its status and for how long, how old its position is,
and the case it is on.

Pure functions over plain tables (no database, no UI). Times are naive UTC; ages and
durations are minutes. Whether a position is usable is decided by `geo.dispatch.fix_state`,
the one rule the dispatch recommendation uses too.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from geo.dispatch import STALE_AFTER, fix_state

BOARD_COLUMNS = ("team_id", "name", "body_code", "status", "in_status_min", "fix_age_min",
                 "fix_state", "case_id", "matter_code", "matter_name", "lon", "lat")


def status_since(teams: pd.DataFrame, history: pd.DataFrame) -> pd.Series:
    """When each team entered its current status: the latest change in ``history`` to the
    status it has now (NaT where the history does not show one, e.g. a status set at
    import).

    Parameters
    ----------
    teams : pandas.DataFrame
        ``team_id``, ``status``.
    history : pandas.DataFrame
        Status changes: ``team_id``, ``to_state``, ``at`` (naive UTC).

    Returns
    -------
    pandas.Series
        Naive UTC timestamps, indexed like ``teams``.
    """
    if history.empty:
        return pd.Series(pd.NaT, index=teams.index, dtype="datetime64[ns]")
    latest = (history.dropna(subset=["to_state"])
              .assign(at=lambda h: pd.to_datetime(h["at"]))
              .sort_values("at").groupby("team_id").last())
    since = teams["team_id"].map(latest["at"])
    same = teams["status"].to_numpy() == teams["team_id"].map(latest["to_state"]).to_numpy()
    return pd.to_datetime(since.where(same))


def current_case(teams: pd.DataFrame, assignments: pd.DataFrame) -> pd.DataFrame:
    """The case each team is on now: its latest active assignment.

    Parameters
    ----------
    teams : pandas.DataFrame
        ``team_id``.
    assignments : pandas.DataFrame
        Active assignments: ``team_id``, ``case_id``, ``dispatched_at`` and optionally
        ``matter_code``, ``matter_name``.

    Returns
    -------
    pandas.DataFrame
        ``case_id`` (nullable integer), ``matter_code``, ``matter_name``, indexed like
        ``teams`` (missing where a team is on no case).
    """
    cols = ["case_id", "matter_code", "matter_name"]
    latest = (assignments.reindex(columns=["team_id", "dispatched_at", *cols])
              .sort_values(["dispatched_at", "case_id"]).groupby("team_id").last())
    out = pd.DataFrame({c: teams["team_id"].map(latest[c]) for c in cols}, index=teams.index)
    out["case_id"] = out["case_id"].astype("Int64")
    return out


def team_board(teams: pd.DataFrame, history: pd.DataFrame, assignments: pd.DataFrame,
               now: dt.datetime, stale_after: dt.timedelta = STALE_AFTER) -> pd.DataFrame:
    """One row per team: status, minutes in that status, position age and state, and the
    current case.

    Parameters
    ----------
    teams : pandas.DataFrame
        As `geo.store.dispatching.teams_frame` returns it: ``team_id``, ``name``,
        ``body_code``, ``status``, ``fix_at`` (naive UTC of the last position fix, NaT
        where none), ``lon``, ``lat`` (WGS84 degrees: last fix, else base).
    history : pandas.DataFrame
        The teams' status changes: ``team_id``, ``to_state``, ``at`` (see `status_since`).
    assignments : pandas.DataFrame
        Their active assignments (see `current_case`).
    now : datetime.datetime
        Naive UTC.
    stale_after : datetime.timedelta
        How old a fix may be and still count (`geo.dispatch.fix_state`).

    Returns
    -------
    pandas.DataFrame
        `BOARD_COLUMNS`: ``in_status_min`` and ``fix_age_min`` are NaN where unknown;
        ``fix_state`` is ``none`` (never had a fix), ``stale`` or ``fresh``.
    """
    stamp = pd.Timestamp(now)
    since = status_since(teams, history)
    fix_at = pd.to_datetime(teams["fix_at"] if "fix_at" in teams
                            else pd.Series(pd.NaT, index=teams.index))
    fix_age = (stamp - fix_at).dt.total_seconds() / 60
    board = teams.reindex(columns=["team_id", "name", "body_code", "status", "lon", "lat"])
    board["in_status_min"] = ((stamp - since).dt.total_seconds() / 60).clip(lower=0)
    board["fix_age_min"] = fix_age.clip(lower=0)
    board["fix_state"] = [fix_state(a, stale_after) for a in fix_age]
    board = pd.concat([board, current_case(teams, assignments)], axis=1)
    return board[list(BOARD_COLUMNS)].reset_index(drop=True)
