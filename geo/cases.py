"""Cases: states, and pure functions over a table of cases (filters and key figures).

A case table is a DataFrame as returned by `geo.store.cases_frame`: one row per case with
``id, status, severity, source, matter_code, domain, township_code, opened_at,
deadline_at`` (naive UTC) among its columns.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd

STATUSES = ("new", "routed", "verified", "dispatched", "handling", "rectification",
            "reinspection", "closed", "returned", "transferred", "merged")
CLOSED_STATUSES = frozenset({"closed", "merged"})
SOURCES = ("bigdata", "12345", "patrol", "grid", "referral")


def is_open(status: pd.Series) -> pd.Series:
    """Whether each case is still open (not closed, not merged into another)."""
    return ~status.isin(CLOSED_STATUSES)


def filter_cases(
    cases: pd.DataFrame,
    township: str | None = None,
    domain: str | None = None,
    matter: str | None = None,
    source: str | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
) -> pd.DataFrame:
    """Cases matching every filter given (``since``: opened at or after, naive UTC)."""
    keep = pd.Series(True, index=cases.index)
    for column, value in (("township_code", township), ("domain", domain),
                          ("matter_code", matter), ("source", source), ("status", status)):
        if value:
            keep &= cases[column] == value
    if since is not None:
        keep &= cases["opened_at"] >= since
    return cases[keep]


def overdue(cases: pd.DataFrame, now: dt.datetime) -> pd.Series:
    """Open cases whose deadline (naive UTC) has passed at ``now`` (naive UTC)."""
    return is_open(cases["status"]) & cases["deadline_at"].notna() & (
        cases["deadline_at"] < now)


def key_figures(cases: pd.DataFrame, now: dt.datetime, tz: ZoneInfo) -> dict:
    """Open, new today (local calendar day of ``tz``), overdue, and open cases by source."""
    open_ = is_open(cases["status"])
    local_midnight = (now.replace(tzinfo=dt.UTC).astimezone(tz)
                      .replace(hour=0, minute=0, second=0, microsecond=0))
    today_utc = local_midnight.astimezone(dt.UTC).replace(tzinfo=None)
    return {
        "open": int(open_.sum()),
        "new_today": int((cases["opened_at"] >= today_utc).sum()),
        "overdue": int(overdue(cases, now).sum()),
        "by_source": cases.loc[open_, "source"].value_counts().to_dict(),
    }


def open_by_township(cases: pd.DataFrame) -> dict[str, int]:
    """Number of open cases per township code."""
    return cases.loc[is_open(cases["status"]), "township_code"].value_counts().to_dict()
