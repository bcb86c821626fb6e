"""Integrated inspection (综合查一次) and rectification (集成改一次): pure functions.

Tables (DataFrames): ``checklists`` (kind, item_code, item, department, matter_code);
``findings`` (inspection_id, site_id, day, item_code, result: pass or problem, note,
photo); ``reinspections`` (inspection_id, item_code, day, fixed: bool), possibly several
rounds per problem. Days are calendar days.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

RESULTS = ("pass", "problem")
DEFAULT_FIX_DAYS = 15


class FindingError(ValueError):
    """A finding that does not fit the site's checklist; the message names row and field."""


def check_findings(findings: pd.DataFrame, checklists: pd.DataFrame,
                   site_kinds: dict[str, str]) -> None:
    """Raise `FindingError` for an unknown result, or an item not on the site's checklist."""
    items = set(zip(checklists["kind"], checklists["item_code"], strict=True))
    for i, row in enumerate(findings.itertuples(index=False), start=1):
        if row.result not in RESULTS:
            raise FindingError(f"finding {i}, field result: {row.result!r} is not pass or "
                               "problem")
        kind = site_kinds.get(row.site_id)
        if kind is None:
            raise FindingError(f"finding {i}, field site_id: unknown site {row.site_id!r}")
        if (kind, row.item_code) not in items:
            raise FindingError(f"finding {i}, field item_code: {row.item_code!r} is not on "
                               f"the {kind} checklist")


def rectification_plan(findings: pd.DataFrame, checklists: pd.DataFrame,
                       fix_days: dict[str, float] | None = None) -> pd.DataFrame:
    """One requirement per problem: what to fix, the owning department and matter, and the
    deadline: the inspection day plus ``fix_days[matter_code]`` for the item's matter where
    given, else `DEFAULT_FIX_DAYS` (15). The catalogue has no per-matter fix days and no
    caller passes ``fix_days`` yet, so today every deadline is 15 days."""
    problems = findings[findings["result"] == "problem"].merge(
        checklists.drop_duplicates("item_code"), on="item_code", how="left")
    days = problems["matter_code"].map(fix_days or {}).fillna(DEFAULT_FIX_DAYS)
    problems["deadline"] = pd.to_datetime(problems["day"]) + pd.to_timedelta(days, unit="D")
    problems["requirement"] = "整改：" + problems["item"].fillna(problems["item_code"])
    return problems


def _first_rounds(reinspections: pd.DataFrame) -> pd.DataFrame:
    return (reinspections.sort_values("day")
            .drop_duplicates(["inspection_id", "item_code"], keep="first"))


def first_time_fixed_rate(plan: pd.DataFrame, reinspections: pd.DataFrame) -> float:
    """一次改到位率: share of problems found fixed at their first re-inspection."""
    if plan.empty:
        return float("nan")
    first = _first_rounds(reinspections)
    merged = plan.merge(first, on=["inspection_id", "item_code"], how="left",
                        suffixes=("", "_re"))
    return float(merged["fixed"].fillna(False).astype(bool).mean())


def zero_problem_rate(plan: pd.DataFrame, reinspections: pd.DataFrame) -> float:
    """Re-inspection zero-problem rate: share of re-inspected inspections whose first
    re-inspection found every problem fixed."""
    first = _first_rounds(reinspections)
    if first.empty:
        return float("nan")
    per_visit = first.groupby("inspection_id")["fixed"].all()
    return float(per_visit.mean())


def open_problems(plan: pd.DataFrame, reinspections: pd.DataFrame) -> pd.DataFrame:
    """Problems of ``plan`` not fixed at their latest re-inspection (or never re-inspected):
    the one definition of "still open", for the page and for escalation."""
    latest = (reinspections.sort_values("day", kind="stable")
              .drop_duplicates(["inspection_id", "item_code"], keep="last"))
    merged = plan.merge(latest[["inspection_id", "item_code", "fixed"]],
                        on=["inspection_id", "item_code"], how="left")
    return merged[~merged["fixed"].fillna(False).astype(bool)]


def unfixed_after_deadline(plan: pd.DataFrame, reinspections: pd.DataFrame,
                           today: dt.date) -> pd.DataFrame:
    """`open_problems` past their deadline: these become cases through the normal routing
    path (at the site, for the item's matter)."""
    still = open_problems(plan, reinspections)
    return still[still["deadline"] < pd.Timestamp(today)]


def frequent_problems(plan: pd.DataFrame, site_kinds: dict[str, str], top: int = 5
                      ) -> pd.DataFrame:
    """The most frequent problems per department and site kind (改一类事)."""
    frame = plan.assign(kind=plan["site_id"].map(site_kinds))
    counts = frame.groupby(["department", "kind", "item_code", "item"]).size().rename("count")
    counts = counts.reset_index().sort_values(["department", "kind", "count", "item_code"],
                                              ascending=[True, True, False, True])
    return counts.groupby(["department", "kind"]).head(top).reset_index(drop=True)
