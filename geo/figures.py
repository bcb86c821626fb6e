"""The reform's own figures and the annual empowerment evaluation as a decision paper.

Pure functions over tables (no database, no Streamlit), columns not rows:

- `source_figures`: new cases per township (and for the district) by source and year, with
  the change on the year before (the article's "+158 % in 织里 after full powers");
- `dormant_clauses` and `delegation_figures`: cases under the matters delegated in a year,
  and "dormant clauses" (睡眠条款) activated: a delegated matter with no case in the
  township in the `DORMANT_WINDOW_DAYS` before its delegation and at least one after;
- `staff_figures`: enforcement staff per township center and for the district at each
  year's end, from a staff roster per body with dates (``staff.csv``, `validate_staff`),
  the staff moved to the townships since the reform began and their share;
- `reform_figures`: all of the above, one row per area and year;
- `decision_paper`: per township and delegated matter, the evaluation of
  `geo.coverage.empowerment_evaluation` with a suggested action (keep, train, take back,
  extend to other townships) and the reason, by `EvaluationRules` (thresholds as
  parameters).

Times of cases are naive UTC; years and days are the district's calendar (``tz``). The
district's own row has the township code `DISTRICT`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo.coverage import empowerment_evaluation
from geo.days import local_days

#: township code of the district's own rows (all townships together)
DISTRICT = "district"
#: source code of the rows counting every source together
ALL_SOURCES = "all"
#: days before a delegation in which a matter must have had no case in the township for
#: its delegation to be a dormant clause (睡眠条款), and days after in which its first case
#: activates it
DORMANT_WINDOW_DAYS = 365
#: the columns of a staff roster (``staff.csv``); ``count`` may be left out or empty (one
#: row per person), ``effective_to`` empty while the staff are there
STAFF_COLUMNS = ("body_code", "count", "effective_from", "effective_to")
#: the suggested actions of the decision paper
ACTIONS = ("keep", "train", "take_back", "extend")


class StaffError(ValueError):
    """A staff roster row is wrong; the message names file, row (CSV line) and field."""


# ------------------------------------------------------------------------------ roster
def validate_staff(frame: pd.DataFrame, bodies: pd.DataFrame, label: str = "staff.csv"
                   ) -> pd.DataFrame:
    """Check a staff roster (text columns, as read from ``staff.csv``) against the bodies.

    Parameters
    ----------
    frame : DataFrame
        ``body_code, effective_from`` and optionally ``count`` (whole number >= 0; missing
        or empty: 1, a row per person) and ``effective_to`` (ISO dates; the staff are at
        the body from ``effective_from`` until the day before ``effective_to``, as for
        empowerment; empty: still there). Other columns (a person's name) are ignored,
        never stored.
    bodies : DataFrame
        The catalogue's bodies (``code``).
    label : str
        The file's name in messages.

    Returns
    -------
    DataFrame
        ``body_code, count`` (int), ``effective_from, effective_to`` (`datetime.date`,
        None while open), one row per input row.

    Raises
    ------
    StaffError
        The first wrong row, naming the row (CSV line) and field.
    """
    for col in ("body_code", "effective_from"):
        if col not in frame.columns:
            raise StaffError(f"{label}: missing column {col}")
    known = set(bodies["code"])
    out = {"body_code": [], "count": [], "effective_from": [], "effective_to": []}

    def fail(i: int, field: str, message: str):
        raise StaffError(f"{label}, row {i + 2}, field {field}: {message}")

    def day(i: int, field: str, value) -> dt.date | None:
        text = "" if value is None or (isinstance(value, float) and np.isnan(value)) \
            else str(value).strip()
        if not text:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            fail(i, field, f"{text!r} is not an ISO date (YYYY-MM-DD)")

    counts = frame["count"] if "count" in frame.columns else pd.Series([""] * len(frame))
    ends = frame["effective_to"] if "effective_to" in frame.columns else pd.Series(
        [""] * len(frame))
    for i, (body, count, start, end) in enumerate(zip(
            frame["body_code"], counts, frame["effective_from"], ends, strict=True)):
        body = "" if body is None or (isinstance(body, float) and np.isnan(body)) \
            else str(body).strip()
        if body not in known:
            fail(i, "body_code", f"{body!r} is not a body of bodies.csv" if body else "empty")
        text = "" if count is None or (isinstance(count, float) and np.isnan(count)) \
            else str(count).strip()
        if text and not text.isdigit():
            fail(i, "count", f"{text!r} is not a whole number of staff (0 or more)")
        first = day(i, "effective_from", start)
        if first is None:
            fail(i, "effective_from", "empty")
        last = day(i, "effective_to", end)
        if last is not None and last <= first:
            fail(i, "effective_to", "must be after effective_from")
        out["body_code"].append(body)
        out["count"].append(int(text) if text else 1)
        out["effective_from"].append(first)
        out["effective_to"].append(last)
    return pd.DataFrame({"body_code": pd.Series(out["body_code"], dtype=object),
                         "count": pd.Series(out["count"], dtype="int64"),
                         "effective_from": pd.Series(out["effective_from"], dtype=object),
                         "effective_to": pd.Series(out["effective_to"], dtype=object)})


def staff_on(roster: pd.DataFrame, day: dt.date) -> pd.Series:
    """Staff per body on ``day`` (a body with none is left out)."""
    if roster.empty:
        return pd.Series(dtype="int64")
    start = pd.to_datetime(roster["effective_from"]).to_numpy()
    end = pd.to_datetime(roster["effective_to"]).to_numpy()
    at = np.datetime64(day, "ns")
    there = (start <= at) & (np.isnat(end) | (end > at))
    return roster.loc[there].groupby("body_code")["count"].sum()


# ------------------------------------------------------------------------------ helpers
def _years(cases: pd.DataFrame, tz: ZoneInfo) -> np.ndarray:
    """The local calendar year of each case (int)."""
    days = local_days(cases["opened_at"], tz)
    return days.astype("datetime64[Y]").astype(int) + 1970


def _year_end(year: int, as_of: dt.date | None) -> dt.date:
    """The last day of ``year``, or ``as_of`` where the year is not over by then."""
    end = dt.date(year, 12, 31)
    return min(end, as_of) if as_of is not None else end


def _areas(townships: Sequence[str], *codes: pd.Series) -> list[str]:
    found = set(townships)
    for c in codes:
        found |= {x for x in c.dropna().unique() if x != DISTRICT}
    return sorted(found)


def _change(now: pd.Series, before: pd.Series) -> pd.Series:
    """``now / before - 1``; NaN where there is nothing before to compare with."""
    return (now / before.where(before > 0)) - 1.0


# ------------------------------------------------------------------------------ sources
def source_figures(cases: pd.DataFrame, years: Sequence[int], tz: ZoneInfo,
                   townships: Sequence[str] = (), sources: Sequence[str] = ()
                   ) -> pd.DataFrame:
    """New cases per township and for the district, by source and year, with the change on
    the year before.

    Parameters
    ----------
    cases : DataFrame
        ``township_code, source, opened_at`` (naive UTC).
    years : sequence of int
        The calendar years wanted (the year before the first is read for its change).
    tz : ZoneInfo
        The district's time zone (a case's year is its local day's).
    townships, sources : sequence of str
        Townships and sources to list even without a case (besides those of ``cases``).

    Returns
    -------
    DataFrame
        ``township_code`` (`DISTRICT` for the district), ``source`` (`ALL_SOURCES` for
        every source), ``year, cases, previous`` (cases the year before), ``change``
        (fraction, e.g. 1.58 for +158 %; NaN without cases the year before), sorted.
    """
    years = sorted(int(y) for y in years)
    wanted = [years[0] - 1, *years] if years else []
    year = _years(cases, tz) if len(cases) else np.array([], dtype=int)
    keep = np.isin(year, wanted)
    frame = pd.DataFrame({"township_code": cases["township_code"].to_numpy()[keep],
                          "source": cases["source"].to_numpy()[keep], "year": year[keep]})
    towns = _areas(townships, frame["township_code"])
    srcs = sorted(set(sources) | set(frame["source"].dropna()))
    parts = []
    for area, sub in ((None, frame), (DISTRICT, frame)):
        for src_key in ("source", ALL_SOURCES):
            keys = ["year"] + (["township_code"] if area is None else []) + (
                ["source"] if src_key == "source" else [])
            counts = sub.dropna(subset=[k for k in keys if k != "year"]).groupby(keys).size()
            counts = counts.rename("cases").reset_index()
            if area is not None:
                counts["township_code"] = area
            if src_key != "source":
                counts["source"] = ALL_SOURCES
            parts.append(counts)
    counted = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["year", "township_code", "source", "cases"])
    full = pd.MultiIndex.from_product([[*towns, DISTRICT], [*srcs, ALL_SOURCES], wanted],
                                      names=["township_code", "source", "year"])
    table = counted.set_index(["township_code", "source", "year"])["cases"].reindex(
        full, fill_value=0).astype("int64")
    out = table.rename("cases").reset_index()
    prev = table.copy()
    prev.index = prev.index.set_levels(prev.index.levels[2] + 1, level=2)
    out["previous"] = prev.reindex(full).to_numpy()
    out = out[out["year"].isin(years)].reset_index(drop=True)
    out["previous"] = out["previous"].fillna(0).astype("int64")
    out["change"] = _change(out["cases"].astype(float), out["previous"].astype(float))
    return out


# ------------------------------------------------------------------------------ delegation
def dormant_clauses(cases: pd.DataFrame, empowerment: pd.DataFrame, tz: ZoneInfo,
                    window_days: int = DORMANT_WINDOW_DAYS,
                    data_from: dt.date | None = None) -> pd.DataFrame:
    """Every delegation (a township's empowerment period of a matter), whether it was a
    dormant clause (睡眠条款) and when it was activated.

    Parameters
    ----------
    cases : DataFrame
        ``township_code, matter_code, opened_at`` (naive UTC): cases where they happened,
        whoever handled them.
    empowerment : DataFrame
        ``township_code, matter_code, effective_from`` (dates).
    tz : ZoneInfo
        The district's time zone.
    window_days : int
        Days before the delegation that must be without a case of the matter in the
        township (`DORMANT_WINDOW_DAYS`).
    data_from : date, optional
        The first day the case history covers (default: the first case's day). A
        delegation whose window starts earlier cannot be judged: ``dormant`` is NA.

    Returns
    -------
    DataFrame
        ``township_code, matter_code, effective_from, cases_before`` (in the window),
        ``dormant`` (bool or NA), ``first_case`` (the first case's local day on or after the
        delegation, NaT if none), ``activated`` (a dormant clause with a case within
        ``window_days`` after), ``activated_year`` (its first case's year, or NA).
    """
    emp = empowerment[["township_code", "matter_code", "effective_from"]].copy()
    emp["effective_from"] = pd.to_datetime(emp["effective_from"])
    day = pd.Series(local_days(cases["opened_at"], tz) if len(cases) else
                    np.array([], dtype="datetime64[D]")).astype("datetime64[ns]")
    if data_from is None:
        data_from = day.min() if len(day) else None
    start = pd.Timestamp(data_from) if data_from is not None else None
    seen = pd.DataFrame({"township_code": cases["township_code"].to_numpy(),
                         "matter_code": cases["matter_code"].to_numpy(),
                         "day": day.to_numpy()})
    both = emp.reset_index().merge(seen, on=["township_code", "matter_code"], how="left")
    window = pd.Timedelta(days=window_days)
    before = (both["day"] >= both["effective_from"] - window) & (
        both["day"] < both["effective_from"])
    after = both["day"] >= both["effective_from"]
    counts = both.assign(before=before).groupby("index")["before"].sum()
    first = both["day"].where(after).groupby(both["index"]).min()
    out = emp.copy()
    out["cases_before"] = counts.reindex(out.index, fill_value=0).astype("int64")
    out["first_case"] = first.reindex(out.index)
    judged = (out["effective_from"] - window >= start) if start is not None else pd.Series(
        False, index=out.index)
    out["dormant"] = (out["cases_before"] == 0).astype("boolean").where(judged, pd.NA)
    soon = out["first_case"].notna() & (out["first_case"] < out["effective_from"] + window)
    out["activated"] = (out["dormant"].fillna(False) & soon).astype(bool)
    out["activated_year"] = out["first_case"].dt.year.where(out["activated"]).astype("Int64")
    out["effective_from"] = out["effective_from"].dt.date
    return out.reset_index(drop=True)


def delegation_figures(cases: pd.DataFrame, empowerment: pd.DataFrame,
                       years: Sequence[int], tz: ZoneInfo, townships: Sequence[str] = (),
                       domains: Mapping[str, str] | None = None,
                       window_days: int = DORMANT_WINDOW_DAYS,
                       data_from: dt.date | None = None) -> pd.DataFrame:
    """Per township (and `DISTRICT`) and year: matters newly delegated and their cases;
    dormant clauses activated and the cases under the activated ones.

    Parameters
    ----------
    cases : DataFrame
        ``township_code, matter_code, opened_at`` (naive UTC).
    empowerment : DataFrame
        ``township_code, matter_code, effective_from`` (dates).
    years : sequence of int
        The calendar years wanted.
    tz : ZoneInfo
        The district's time zone.
    townships : sequence of str
        Townships to list even without delegation.
    domains : mapping, optional
        Matter code -> domain, to count the domains of the activated clauses.
    window_days, data_from
        As in `dormant_clauses`.

    Returns
    -------
    DataFrame
        ``township_code, year, newly_delegated`` (matters whose delegation took effect in
        the year), ``new_matter_cases`` (cases in the year under them, on or after their
        delegation), ``dormant_activated`` (dormant clauses whose first case came in the
        year), ``dormant_cases`` (cases in the year under clauses activated in it or
        before), ``dormant_matters`` and ``dormant_domains`` (distinct matters and domains
        of the clauses activated in the year; for a township, matters = clauses).
    """
    years = sorted(int(y) for y in years)
    clauses = dormant_clauses(cases, empowerment, tz, window_days, data_from)
    clauses["year"] = pd.to_datetime(clauses["effective_from"]).dt.year
    case_year = _years(cases, tz) if len(cases) else np.array([], dtype=int)
    case_day = pd.Series(local_days(cases["opened_at"], tz) if len(cases) else
                         np.array([], dtype="datetime64[D]")).astype("datetime64[ns]")
    seen = pd.DataFrame({"township_code": cases["township_code"].to_numpy(),
                         "matter_code": cases["matter_code"].to_numpy(),
                         "day": case_day.to_numpy(), "case_year": case_year})
    key = ["township_code", "matter_code"]
    # cases under the matters delegated in their own year, on or after the delegation
    new = clauses[["township_code", "matter_code", "effective_from", "year"]].merge(
        seen, on=key)
    new = new[(new["case_year"] == new["year"])
              & (new["day"] >= pd.to_datetime(new["effective_from"]))]
    new = new.drop_duplicates(subset=[*key, "day", "case_year"]).groupby(
        ["township_code", "year"]).size() if len(new) else pd.Series(dtype="int64")
    activated = clauses[clauses["activated"]]
    under = activated[[*key, "activated_year"]].drop_duplicates(key).merge(seen, on=key)
    under = under[under["case_year"] >= under["activated_year"].astype(int)]
    dormant_cases = under.groupby(["township_code", "case_year"]).size()
    dormant_cases.index = dormant_cases.index.set_names(["township_code", "year"])
    towns = _areas(townships, clauses["township_code"])
    rows = []
    domain_of = dict(domains or {})
    for area in [*towns, DISTRICT]:
        mine = clauses if area == DISTRICT else clauses[clauses["township_code"] == area]
        act = mine[mine["activated"]]
        for year in years:
            delegated = mine[mine["year"] == year]
            this = act[act["activated_year"] == year]
            if area == DISTRICT:
                new_cases = int(new.xs(year, level="year").sum()) if len(new) and year in \
                    new.index.get_level_values("year") else 0
                dormant = int(dormant_cases.xs(year, level="year").sum()) if len(
                    dormant_cases) and year in dormant_cases.index.get_level_values("year") \
                    else 0
                newly = len(delegated[key].drop_duplicates())
            else:
                new_cases = int(new.get((area, year), 0))
                dormant = int(dormant_cases.get((area, year), 0))
                newly = delegated["matter_code"].nunique()
            rows.append({
                "township_code": area, "year": year, "newly_delegated": int(newly),
                "new_matter_cases": new_cases, "dormant_activated": len(this),
                "dormant_cases": dormant,
                "dormant_matters": this["matter_code"].nunique(),
                "dormant_domains": len({domain_of[m] for m in this["matter_code"]
                                        if m in domain_of}),
            })
    return pd.DataFrame(rows, columns=["township_code", "year", "newly_delegated",
                                       "new_matter_cases", "dormant_activated",
                                       "dormant_cases", "dormant_matters", "dormant_domains"])


# ------------------------------------------------------------------------------ staff
def staff_figures(roster: pd.DataFrame, bodies: pd.DataFrame, years: Sequence[int],
                  townships: Sequence[str] = (), reform_start: dt.date | None = None,
                  as_of: dt.date | None = None) -> pd.DataFrame:
    """Enforcement staff per township center and for the district at each year's end.

    Parameters
    ----------
    roster : DataFrame
        `validate_staff`'s: ``body_code, count, effective_from, effective_to``.
    bodies : DataFrame
        ``code, kind, township_code`` (the catalogue's).
    years : sequence of int
        The calendar years wanted.
    townships : sequence of str
        Townships to list even without staff.
    reform_start : date, optional
        The reform's first day (e.g. the earliest empowerment); staff moved to the
        townships are counted from the day before it. None: not counted.
    as_of : date, optional
        Today: a year not over yet is counted on this day instead of its last.

    Returns
    -------
    DataFrame
        ``township_code, year, staff`` (at the year's end: a township's center's staff;
        the district's: every body's), ``staff_change`` (on the year before),
        ``township_staff`` (staff of township centers: the township's own, or all for the
        district), ``staff_share`` (township centers' staff over every body's: for a
        township its own center's share), ``staff_moved`` (township centers' staff now
        less on the day before ``reform_start``; NA without it).
    """
    years = sorted(int(y) for y in years)
    centers = bodies[bodies["kind"] == "township_center"]
    town_of = dict(zip(centers["code"], centers["township_code"], strict=True))
    towns = _areas(townships, centers["township_code"])

    def counts(day: dt.date) -> tuple[dict[str, int], int]:
        on = staff_on(roster, day)
        per_town: dict[str, int] = {}
        for body, n in on.items():
            if body in town_of:
                per_town[town_of[body]] = per_town.get(town_of[body], 0) + int(n)
        return per_town, int(on.sum())

    base = counts(reform_start - dt.timedelta(days=1)) if reform_start else None
    rows = []
    for year in years:
        now, total = counts(_year_end(year, as_of))
        before, total_before = counts(dt.date(year - 1, 12, 31))
        in_towns = sum(now.values())
        for area in [*towns, DISTRICT]:
            if area == DISTRICT:
                staff, prev, own = total, total_before, in_towns
                moved = None if base is None else in_towns - sum(base[0].values())
            else:
                staff, prev, own = now.get(area, 0), before.get(area, 0), now.get(area, 0)
                moved = None if base is None else own - base[0].get(area, 0)
            rows.append({"township_code": area, "year": year, "staff": staff,
                         "staff_change": staff - prev, "township_staff": own,
                         "staff_share": own / total if total else np.nan,
                         "staff_moved": moved})
    out = pd.DataFrame(rows, columns=["township_code", "year", "staff", "staff_change",
                                      "township_staff", "staff_share", "staff_moved"])
    out["staff_moved"] = out["staff_moved"].astype("Int64")
    return out


# ------------------------------------------------------------------------------ together
@dataclass(frozen=True)
class ReformFigures:
    """The reform's figures for some years.

    ``yearly``: one row per township (and `DISTRICT`) and year: ``cases, previous,
    change`` (every source), ``cases_<source>`` per source, then the columns of
    `delegation_figures` and `staff_figures`. ``sources``: `source_figures` (long).
    ``clauses``: `dormant_clauses` (every delegation judged).
    """

    yearly: pd.DataFrame
    sources: pd.DataFrame
    clauses: pd.DataFrame


def reform_figures(cases: pd.DataFrame, empowerment: pd.DataFrame, roster: pd.DataFrame,
                   bodies: pd.DataFrame, years: Sequence[int], tz: ZoneInfo,
                   townships: Sequence[str] = (), domains: Mapping[str, str] | None = None,
                   as_of: dt.date | None = None,
                   window_days: int = DORMANT_WINDOW_DAYS) -> ReformFigures:
    """`source_figures`, `delegation_figures` and `staff_figures` for ``years``, one row
    per township (and `DISTRICT`) and year (`ReformFigures`).

    ``cases``: ``township_code, matter_code, source, opened_at`` (naive UTC);
    ``empowerment``: the catalogue's (dates); ``roster``: `validate_staff`'s (may be
    empty); ``bodies``: the catalogue's; ``as_of``: today (for the staff of a year not
    over). The reform's start is the earliest empowerment.
    """
    years = sorted(int(y) for y in years)
    towns = sorted(set(townships))
    sources = source_figures(cases, years, tz, towns)
    totals = sources[sources["source"] == ALL_SOURCES].drop(columns="source")
    wide = sources[sources["source"] != ALL_SOURCES].pivot_table(
        index=["township_code", "year"], columns="source", values="cases", fill_value=0)
    wide.columns = [f"cases_{c}" for c in wide.columns]
    delegation = delegation_figures(cases, empowerment, years, tz, towns, domains,
                                    window_days)
    starts = pd.to_datetime(empowerment["effective_from"])
    start = starts.min().date() if len(starts) else None
    staff = staff_figures(roster, bodies, years, towns, start, as_of)
    key = ["township_code", "year"]
    yearly = (totals.merge(wide.reset_index(), on=key, how="left")
              .merge(delegation, on=key, how="outer").merge(staff, on=key, how="outer"))
    counts = [c for c in yearly.columns if c.startswith("cases_") or c in (
        "cases", "previous", "newly_delegated", "new_matter_cases", "dormant_activated",
        "dormant_cases", "dormant_matters", "dormant_domains", "staff", "staff_change",
        "township_staff")]
    yearly[counts] = yearly[counts].fillna(0).astype("int64")
    order = {c: i for i, c in enumerate([*towns, DISTRICT])}
    yearly = yearly.sort_values(key, key=lambda s: s.map(order) if s.name ==
                                "township_code" else s).reset_index(drop=True)
    clauses = dormant_clauses(cases, empowerment, tz, window_days)
    return ReformFigures(yearly, sources, clauses)


def figure_years(cases: pd.DataFrame, tz: ZoneInfo, today: dt.date) -> list[int]:
    """The calendar years with cases, up to ``today``'s (oldest first; today's alone when
    there is no case)."""
    if not len(cases):
        return [today.year]
    first = int(_years(cases, tz).min())
    return list(range(min(first, today.year), today.year + 1))


# ------------------------------------------------------------------------------ evaluation
@dataclass(frozen=True)
class EvaluationRules:
    """The thresholds of the decision paper's suggested action (`suggest`).

    Parameters
    ----------
    grace_days : int
        A matter delegated fewer days than this before the year's end is too recent to
        judge: keep.
    take_back_returned : float
        Share of a matter's cases the township returned to the district above which the
        matter is proposed to be taken back (接不住).
    often_returned : float
        Share returned above which the township's staff are to be trained (and the
        evaluation's ``often_returned`` flag, `geo.coverage.empowerment_evaluation`).
    slow_ratio : float
        The township's median days to close over the district teams' median for the
        same matter in the year, above which: train (when also at least `slow_min_days`
        more, over at least `slow_min_cases` cases handled).
    slow_min_days : float
        Days by which the township's median must exceed the district team's to be slow.
    slow_min_cases : int
        Cases handled, at least, for the median days to be judged.
    extend_min_cases : int
        Cases a township handled in the year, at least, for the matter to be proposed to
        other townships.
    extend_max_returned : float
        Share returned, at most, for the same.
    extend_demand : int
        Cases of the matter in the year in a township without it, at least, for that
        township to be named.
    idle_years : int
        A matter is taken back for want of use only when no case was handled or returned
        in this many years up to the evaluated one (1: that year alone); idle in the year
        but used before: keep.
    """

    grace_days: int = 180
    take_back_returned: float = 0.5
    often_returned: float = 0.3
    slow_ratio: float = 1.5
    slow_min_days: float = 2.0
    slow_min_cases: int = 3
    extend_min_cases: int = 5
    extend_max_returned: float = 0.1
    extend_demand: int = 3
    idle_years: int = 2

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"EvaluationRules.{name}: {value!r} must be a number >= 0")
        if self.idle_years < 1:
            raise ValueError("EvaluationRules.idle_years must be 1 or more")
        if self.often_returned > self.take_back_returned:
            raise ValueError("EvaluationRules.often_returned must not exceed "
                             "take_back_returned")


def _local(frame: pd.DataFrame, col: str, tz: ZoneInfo) -> pd.Series:
    """Naive UTC times as naive local times (for calendar comparisons)."""
    stamps = pd.to_datetime(frame[col])
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        return stamps.dt.tz_convert(tz).dt.tz_localize(None)
    return stamps.dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)


def decision_paper(cases: pd.DataFrame, events: pd.DataFrame, empowerment: pd.DataFrame,
                   centers: Mapping[str, str], district_bodies: Mapping[str, str],
                   year: int, tz: ZoneInfo, rules: EvaluationRules | None = None
                   ) -> pd.DataFrame:
    """The annual empowerment evaluation of ``year`` as a decision paper.

    Parameters
    ----------
    cases : DataFrame
        ``id, township_code, matter_code, body_code, opened_at`` (naive UTC).
    events : DataFrame
        The cases' state changes: ``case_id, to_state, at`` (naive UTC).
    empowerment : DataFrame
        ``township_code, matter_code, effective_from, effective_to`` (dates).
    centers : mapping
        Township code -> its center's body code.
    district_bodies : mapping
        Matter code -> its district team (the benchmark for days to close).
    year : int
        The calendar year evaluated (local days).
    tz : ZoneInfo
        The district's time zone.
    rules : EvaluationRules, optional
        The thresholds (defaults: `EvaluationRules()`).

    Returns
    -------
    DataFrame
        Per township and matter delegated in the year: the columns of
        `geo.coverage.empowerment_evaluation` (``handled, returned,
        median_days_to_close, never_used, often_returned``), ``effective_from`` (the
        latest delegation in force), ``returned_share``, ``district_median_days`` (the
        district team's median for the matter), ``extend_to`` (townships without the
        matter with at least ``extend_demand`` cases of it, most first, comma-separated),
        ``demand`` (their cases, comma-separated), ``idle_window_cases`` (cases handled or
        returned in the ``idle_years`` up to ``year``), ``action`` (one of `ACTIONS`) and
        ``reason`` (``too_recent``, ``returned_most``, ``never_used``, ``idle``,
        ``returned_often``, ``slow``, ``used_well``, ``used``; `suggest`).
    """
    rules = rules or EvaluationRules()
    start, end = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    local_cases = cases.assign(opened_at=_local(cases, "opened_at", tz))
    local_events = events.assign(at=_local(events, "at", tz)) if len(events) else events
    paper = empowerment_evaluation(local_cases, local_events, empowerment, dict(centers),
                                   start, end, often_returned=rules.often_returned)
    emp = empowerment.copy()
    emp["effective_from"] = pd.to_datetime(emp["effective_from"])
    emp["effective_to"] = pd.to_datetime(emp["effective_to"])
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    live = emp[(emp["effective_from"] < e) & (emp["effective_to"].isna()
                                              | (emp["effective_to"] > s))]
    since = live.groupby(["township_code", "matter_code"])["effective_from"].max()
    paper = paper.join(since.rename("effective_from"), on=["township_code", "matter_code"])
    total = paper["handled"] + paper["returned"]
    earlier = empowerment_evaluation(
        local_cases, local_events, empowerment, dict(centers),
        dt.date(year - rules.idle_years + 1, 1, 1), end).set_index(
        ["township_code", "matter_code"])
    used = earlier["handled"] + earlier["returned"]
    paper["idle_window_cases"] = [int(used.get(k, 0)) for k in zip(
        paper["township_code"], paper["matter_code"], strict=True)]
    paper["returned_share"] = paper["returned"] / total.where(total > 0)
    # the district teams' median days to close per matter in the year: the benchmark
    period = local_cases[(local_cases["opened_at"] >= s) & (local_cases["opened_at"] < e)]
    by_team = period[period["body_code"] == period["matter_code"].map(dict(district_bodies))]
    closed = local_events[local_events["to_state"] == "closed"].merge(
        by_team[["id", "opened_at", "matter_code"]], left_on="case_id", right_on="id") \
        if len(local_events) else pd.DataFrame(columns=["at", "opened_at", "matter_code"])
    days = (pd.to_datetime(closed["at"]) - pd.to_datetime(closed["opened_at"])
            ).dt.total_seconds() / 86400
    bench = days.groupby(closed["matter_code"]).median()
    paper["district_median_days"] = paper["matter_code"].map(bench).astype(float)
    # demand elsewhere: townships not holding the matter at the year's end, with its cases
    holding = live[(live["effective_to"].isna()) | (live["effective_to"] >= e)]
    held = set(zip(holding["township_code"], holding["matter_code"], strict=True))
    demand = period.dropna(subset=["township_code", "matter_code"]).groupby(
        ["matter_code", "township_code"]).size()
    elsewhere: dict[str, list[tuple[str, int]]] = {}
    for (matter, town), n in demand.items():
        if (town, matter) not in held and town in centers and n >= rules.extend_demand:
            elsewhere.setdefault(matter, []).append((town, int(n)))
    for matter in elsewhere:
        elsewhere[matter].sort(key=lambda p: (-p[1], p[0]))
    paper["extend_to"] = paper["matter_code"].map(
        lambda m: ",".join(t for t, _ in elsewhere.get(m, [])))
    paper["demand"] = paper["matter_code"].map(
        lambda m: ",".join(str(n) for _, n in elsewhere.get(m, [])))
    delegated_days = (pd.Timestamp(end) - paper["effective_from"]).dt.days
    action, reason = suggest(paper["handled"].to_numpy(), paper["returned"].to_numpy(),
                             paper["median_days_to_close"].to_numpy(dtype=float),
                             paper["district_median_days"].to_numpy(dtype=float),
                             delegated_days.to_numpy(), paper["extend_to"].to_numpy() != "",
                             rules, paper["idle_window_cases"].to_numpy())
    paper["action"], paper["reason"] = action, reason
    paper["effective_from"] = paper["effective_from"].dt.date
    return paper


def suggest(handled: np.ndarray, returned: np.ndarray, median_days: np.ndarray,
            district_median: np.ndarray, delegated_days: np.ndarray, demand: np.ndarray,
            rules: EvaluationRules, idle_window_cases: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """The suggested action and its reason for each delegated matter, first rule that
    applies:

    1. delegated fewer than ``grace_days`` before the year's end -> keep (``too_recent``);
    2. more than ``take_back_returned`` of its cases returned -> take back
       (``returned_most``);
    3. no case handled or returned in the year, nor in the ``idle_years`` up to it
       (``idle_window_cases``; None: the year's alone) -> take back (``never_used``);
    3b. none in the year, but some in the years before -> keep (``idle``);
    4. more than ``often_returned`` returned -> train (``returned_often``);
    5. median days to close above ``slow_ratio`` x the district team's, and by at least
       ``slow_min_days``, over at least ``slow_min_cases`` handled -> train (``slow``);
    6. at least ``extend_min_cases`` handled, at most ``extend_max_returned`` returned, and
       townships without it have its cases (``demand``) -> extend (``used_well``);
    7. otherwise keep (``used``).

    Arrays, one entry per township and matter; returns (actions, reasons) as object arrays.
    """
    handled = np.asarray(handled, dtype=float)
    total = handled + np.asarray(returned, dtype=float)
    share = np.divide(np.asarray(returned, dtype=float), total, out=np.zeros_like(total),
                      where=total > 0)
    own = np.nan_to_num(np.asarray(median_days, dtype=float), nan=0.0)
    bench = np.nan_to_num(np.asarray(district_median, dtype=float), nan=np.inf)
    with np.errstate(invalid="ignore"):
        slow = ((own > rules.slow_ratio * bench) & (own - bench >= rules.slow_min_days)
                & (handled >= rules.slow_min_cases))
    window = total if idle_window_cases is None else np.asarray(idle_window_cases, dtype=float)
    conditions = [
        np.asarray(delegated_days, dtype=float) < rules.grace_days,
        share > rules.take_back_returned,
        (total == 0) & (window == 0),
        total == 0,
        share > rules.often_returned,
        slow,
        (handled >= rules.extend_min_cases) & (share <= rules.extend_max_returned)
        & np.asarray(demand, dtype=bool),
    ]
    actions = np.select(conditions, ["keep", "take_back", "take_back", "keep", "train",
                                     "train", "extend"], "keep").astype(object)
    reasons = np.select(conditions, ["too_recent", "returned_most", "never_used", "idle",
                                     "returned_often", "slow", "used_well"],
                        "used").astype(object)
    return actions, reasons
