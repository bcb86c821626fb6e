"""预约体检 and 综合查一次: check-ups by appointment and joint visits, pure functions.

A site (a business) asks for a check-up (a *request*: who asks, when, why, the days it would
like); the office schedules one *joint visit* of the site (a day, a lead body, the bodies
and departments joining, the inspectors, and observers 观摩团 — managers of other sites
invited to watch) that carries the checklist items of every department concerned
("进一次门，查多项事"). When the visit is done its findings are recorded as an inspection
(`geo.inspections`), so rectification and re-inspection follow as for any inspection.

Tables (DataFrames):

- ``checklists``: kind, item_code, item, department, matter_code (the catalogue's);
- ``sites``: site_id, kind, risk and optionally township_code;
- ``inspections``: site_id, day, departments (a list of department names per inspection);
- ``visits``: id, site_id, township_code, day, status (`VISIT_STATES`), departments (list),
  request_id (None: scheduled by the office), observers (list of dicts);
- ``requests``: id, site_id, requested_at, status (`REQUEST_STATES`).

Days are calendar days in the district's time zone (`datetime.date` or datetime64[D]).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from geo.coverage import DEFAULT_INTERVALS, site_status

REQUEST_STATES = ("open", "scheduled")
VISIT_STATES = ("scheduled", "done", "cancelled")
#: longest text of a request's contact and a person's name (characters)
MAX_NAME = 100
#: longest reason of a request and note of a visit (characters)
MAX_TEXT = 2000
#: most people on one visit (inspectors, observers) and bodies or departments joining it
MAX_PEOPLE = 50
#: how far ahead a check-up may be wished for or a visit scheduled (days)
MAX_AHEAD_DAYS = 366
#: default window (days) within which departments' due inspections are proposed as one visit
DEFAULT_WINDOW_DAYS = 21
#: default horizon (days from today) of the due inspections proposals look at
DEFAULT_HORIZON_DAYS = 60


class CheckupError(ValueError):
    """A request or visit that cannot be stored as given: ``field`` names the field (and
    ``row`` the position in a list field, from 0), the message says why."""

    def __init__(self, field: str, message: str, row: int | None = None) -> None:
        where = f"field {field}" if row is None else f"{field} {row + 1}"
        super().__init__(f"{where}: {message}")
        self.field = field
        self.row = row


# ------------------------------------------------------------------------ checklists
def departments_of(checklists: pd.DataFrame, kind: str) -> list[str]:
    """The departments concerned by a site of ``kind``: those owning an item of its
    checklist, sorted."""
    return sorted(set(checklists.loc[checklists["kind"] == kind, "department"]))


def visit_checklist(checklists: pd.DataFrame, kind: str, departments: Iterable[str]
                    ) -> pd.DataFrame:
    """The items a joint visit of a site of ``kind`` carries: those of the kind's checklist
    owned by one of ``departments``, in checklist order."""
    wanted = set(departments)
    rows = checklists[(checklists["kind"] == kind) & checklists["department"].isin(wanted)]
    return rows.reset_index(drop=True)


def bodies_for(items: pd.DataFrame, matters: pd.DataFrame) -> list[str]:
    """The district teams enforcing the matters of checklist ``items`` (the catalogue's
    ``matters``: code, district_body): the bodies a visit carrying them would join, sorted."""
    teams = items["matter_code"].map(dict(zip(matters["code"], matters["district_body"],
                                                 strict=True)))
    return sorted(set(teams.dropna()))


def check_visit_findings(findings: list[Mapping], items: pd.DataFrame) -> None:
    """Raise `CheckupError` unless every finding is of an item the visit carries (``items``:
    `visit_checklist`), each item once, and every item has its finding."""
    carried = list(items["item_code"])
    seen: set[str] = set()
    for i, f in enumerate(findings):
        code = f.get("item_code")
        if code not in carried:
            raise CheckupError("findings", f"item {code!r} is not on this visit's checklist "
                               f"({', '.join(carried)})", row=i)
        if code in seen:
            raise CheckupError("findings", f"item {code!r} is given twice", row=i)
        seen.add(code)
    missing = [c for c in carried if c not in seen]
    if missing:
        raise CheckupError("findings", f"no finding for item(s) {', '.join(missing)} of "
                           "this visit's checklist")


# --------------------------------------------------------------------- validation
def _text(value, field: str, longest: int, required: bool = True, row: int | None = None
          ) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise CheckupError(field, f"{type(value).__name__} is not text", row)
    value = value.strip()
    if required and not value:
        raise CheckupError(field, "empty", row)
    if len(value) > longest:
        raise CheckupError(field, f"longer than {longest} characters", row)
    if any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f for c in value if c not in "\n\t"):
        raise CheckupError(field, "holds a control character", row)
    return value


def _day(value, field: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise CheckupError(field, f"{value!r} is not a day (YYYY-MM-DD)")
    return value


def check_request(contact, reason, wanted_from, wanted_until, today: dt.date) -> dict:
    """A check-up request's fields, cleaned: ``contact`` (who asks, at the site), ``reason``
    (why), the days wished for (``wanted_from`` to ``wanted_until``, either may be None;
    from today to `MAX_AHEAD_DAYS` ahead). Raises `CheckupError` naming the field."""
    out = {"contact": _text(contact, "contact", MAX_NAME),
           "reason": _text(reason, "reason", MAX_TEXT, required=False)}
    last = today + dt.timedelta(days=MAX_AHEAD_DAYS)
    for name, value in (("wanted_from", wanted_from), ("wanted_until", wanted_until)):
        if value is not None:
            value = _day(value, name)
            if value < today:
                raise CheckupError(name, f"{value:%Y-%m-%d} is in the past")
            if value > last:
                raise CheckupError(name, f"more than {MAX_AHEAD_DAYS} days ahead")
        out[name] = value
    if wanted_from and wanted_until and wanted_until < wanted_from:
        raise CheckupError("wanted_until", "before wanted_from")
    return out


def _names(values, field: str, required: bool) -> list[str]:
    if values is None:
        values = []
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise CheckupError(field, "not a list")
    if len(values) > MAX_PEOPLE:
        raise CheckupError(field, f"more than {MAX_PEOPLE}")
    out = [_text(v, field, MAX_NAME, row=i) for i, v in enumerate(values)]
    for i, v in enumerate(out):
        if v in out[:i]:
            raise CheckupError(field, f"{v!r} is given twice", row=i)
    if required and not out:
        raise CheckupError(field, "empty: name at least one")
    return out


def check_visit(*, site_id: str, kind: str, day, lead_body, bodies, departments,
                inspectors, observers, note, known_bodies: Iterable[str],
                checklists: pd.DataFrame, known_sites: Iterable[str],
                today: dt.date) -> dict:
    """A joint visit's fields, cleaned and checked against the catalogue.

    ``departments`` empty or None means every department concerned by the site's kind
    (`departments_of`); each given must own an item of that checklist. ``lead_body`` and
    ``bodies`` are body codes of ``known_bodies`` (the lead is one of the bodies joining,
    added where left out); ``inspectors`` names (at least one); ``observers`` dicts with
    ``name`` and ``site_id`` (their own site: a known site other than the one visited).
    ``day`` from `MAX_AHEAD_DAYS` before ``today`` (a visit recorded afterwards) to as many
    after. Raises `CheckupError` naming the field (and the position in a list).
    """
    day = _day(day, "day")
    if abs((day - today).days) > MAX_AHEAD_DAYS:
        raise CheckupError("day", f"more than {MAX_AHEAD_DAYS} days from today")
    known_bodies = set(known_bodies)
    lead = _text(lead_body, "lead_body", 40)
    if lead not in known_bodies:
        raise CheckupError("lead_body", f"unknown body {lead!r}")
    joined = _names(bodies, "bodies", required=False)
    for i, b in enumerate(joined):
        if b not in known_bodies:
            raise CheckupError("bodies", f"unknown body {b!r}", row=i)
    if lead not in joined:
        joined.insert(0, lead)
    concerned = departments_of(checklists, kind)
    if not concerned:
        raise CheckupError("site_id", f"site {site_id!r} is of kind {kind!r}, which has no "
                           "checklist")
    wanted = _names(departments, "departments", required=False) or concerned
    for i, d in enumerate(wanted):
        if d not in concerned:
            raise CheckupError("departments", f"{d!r} has no item on the {kind} checklist "
                               f"(departments concerned: {', '.join(concerned)})", row=i)
    people = _names(inspectors, "inspectors", required=True)
    if observers is None:
        observers = []
    if not isinstance(observers, (list, tuple)):
        raise CheckupError("observers", "not a list")
    if len(observers) > MAX_PEOPLE:
        raise CheckupError("observers", f"more than {MAX_PEOPLE}")
    sites = set(known_sites)
    watching = []
    for i, o in enumerate(observers):
        if not isinstance(o, Mapping):
            raise CheckupError("observers", "not an object with name and site_id", row=i)
        name = _text(o.get("name"), "observers", MAX_NAME, row=i)
        own = _text(o.get("site_id"), "observers", 40, row=i)
        if own not in sites:
            raise CheckupError("observers", f"unknown site {own!r}", row=i)
        if own == site_id:
            raise CheckupError("observers", "an observer comes from another site than the "
                               "one visited", row=i)
        if (name, own) in {(w["name"], w["site_id"]) for w in watching}:
            raise CheckupError("observers", f"{name!r} of {own} is given twice", row=i)
        watching.append({"name": name, "site_id": own})
    return {"day": day, "lead_body": lead, "bodies": joined,
            "departments": sorted(wanted, key=concerned.index), "inspectors": people,
            "observers": watching, "note": _text(note, "note", MAX_TEXT, required=False)}


# -------------------------------------------------------------------- what is due
def _department_lists(values: pd.Series) -> pd.Series:
    """Departments per inspection as lists (a comma-separated text is split)."""
    return values.map(lambda v: [d for d in v.split(",") if d] if isinstance(v, str)
                      else list(v))


def department_status(sites: pd.DataFrame, inspections: pd.DataFrame,
                      checklists: pd.DataFrame, today: dt.date,
                      intervals: dict[str, int] = DEFAULT_INTERVALS) -> pd.DataFrame:
    """`geo.coverage.site_status` per site and department concerned: a department's
    inspection of a site is due its risk level's interval after the last inspection the
    department took part in (never inspected by it: overdue).

    Returns
    -------
    pandas.DataFrame
        One row per (site, department): the columns of ``sites`` plus ``department``,
        ``last_inspected``, ``days_since``, ``due`` (Timestamp, NaT when never inspected)
        and ``overdue``.
    """
    per_kind = checklists[["kind", "department"]].drop_duplicates()
    pairs = sites.merge(per_kind, on="kind", how="inner").reset_index(drop=True)
    pairs["_key"] = range(len(pairs))
    done = inspections[["site_id", "day"]].assign(
        department=_department_lists(inspections["departments"])
        if len(inspections) else []).explode("department")
    done = done.merge(pairs[["site_id", "department", "_key"]],
                      on=["site_id", "department"], how="inner")
    status = site_status(
        pairs.rename(columns={"site_id": "_site", "_key": "site_id"}),
        done[["_key", "day"]].rename(columns={"_key": "site_id"}), today, intervals)
    return status.rename(columns={"site_id": "_key", "_site": "site_id"}).drop(
        columns="_key").reset_index(drop=True)


def propose_joint_visits(status: pd.DataFrame, today: dt.date,
                         window_days: int = DEFAULT_WINDOW_DAYS,
                         horizon_days: int = DEFAULT_HORIZON_DAYS,
                         booked: pd.DataFrame | None = None) -> pd.DataFrame:
    """Joint visits to propose: a site due for the inspections of several departments
    within ``window_days`` of each other is proposed for one visit that joins them.

    Parameters
    ----------
    status : pandas.DataFrame
        `department_status` (site_id, department, due, overdue, and any site columns such
        as township_code, kind, risk).
    today : datetime.date
        The day proposals start from: an overdue inspection is due today.
    window_days : int
        Days between the first and the last due day of the departments joined in one visit.
    horizon_days : int
        Only inspections due within this many days of ``today`` are proposed.
    booked : pandas.DataFrame, optional
        Visits already scheduled (site_id, day, departments, status): a department on a
        scheduled visit of the site from today on is left out.

    Returns
    -------
    pandas.DataFrame
        One row per proposal, by day then site: site_id, the site columns of ``status``,
        ``day`` (the first due day, not before today), ``last_due`` (the last),
        ``departments`` (list), ``separate_visits`` (one per department) and ``saved``
        (separate visits minus the one joint visit).
    """
    if window_days < 0 or horizon_days < 0:
        raise ValueError("window_days and horizon_days must not be negative")
    start = pd.Timestamp(today)
    due = status.assign(when=status["due"].where(~status["overdue"], start).fillna(start))
    due = due[due["when"] <= start + pd.Timedelta(days=horizon_days)]
    if booked is not None and len(booked):
        ahead = booked[(booked["status"] == "scheduled")
                       & (pd.to_datetime(booked["day"]) >= start)]
        taken = ahead[["site_id"]].assign(
            department=_department_lists(ahead["departments"])).explode("department")
        taken["_taken"] = True
        due = due.merge(taken.drop_duplicates(), on=["site_id", "department"], how="left")
        due = due[due["_taken"].isna()].drop(columns="_taken")
    extra = [c for c in ("township_code", "name", "kind", "risk") if c in due.columns]
    columns = ["site_id", *extra, "day", "last_due", "departments", "separate_visits",
               "saved"]
    due = due.sort_values(["site_id", "when", "department"]).reset_index(drop=True)
    # greedy per site, a round at a time over every site at once: each round's visit starts
    # at the site's first due day left and joins what is due within the window after it
    group = np.full(len(due), -1)
    left = np.ones(len(due), dtype=bool)
    rounds = 0
    while left.any():
        rest = due[left]
        first = rest.groupby("site_id")["when"].transform("min")
        joined = rest.index[((rest["when"] - first).dt.days <= window_days).to_numpy()]
        group[joined] = rounds
        left[joined] = False
        rounds += 1
    # the rows are by site then due day, so each visit's rows are consecutive
    sites = due["site_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, (sites[1:] != sites[:-1]) | (group[1:] != group[:-1])]
                            ) if len(due) else np.array([], dtype=int)
    sizes = np.diff(np.r_[starts, len(due)])
    when = due["when"].to_numpy()
    out = due.iloc[starts][["site_id", *extra]].reset_index(drop=True)
    out["day"] = pd.to_datetime(when[starts]).date
    out["last_due"] = pd.to_datetime(when[starts + sizes - 1]).date
    out["departments"] = [list(d) for d in np.split(due["department"].to_numpy(),
                                                     starts[1:])] if len(due) else []
    out["separate_visits"] = sizes
    out = out[out["separate_visits"] >= 2].copy()
    if out.empty:
        return pd.DataFrame(columns=columns)
    out["saved"] = out["separate_visits"] - 1
    return out[columns].sort_values(["day", "site_id"]).reset_index(drop=True)


# ------------------------------------------------------------------------- counts
def yearly_counts(inspections: pd.DataFrame, visits: pd.DataFrame,
                  requests: pd.DataFrame) -> pd.DataFrame:
    """Per calendar year: joint inspections done, the departments' separate visits they
    stand for, visits saved by joining (separate visits minus joint ones), check-ups booked
    by businesses themselves (visits of a request), visits scheduled by the office (no
    request), observers invited, and requests received.

    ``inspections``: site_id, day, departments; ``visits``: day, status, request_id,
    observers (cancelled visits are not counted); ``requests``: requested_at.
    """
    def year(values) -> pd.Series:
        return pd.to_datetime(pd.Series(values)).dt.year

    ins = pd.DataFrame({"year": year(inspections["day"]),
                        "n": _department_lists(inspections["departments"]).map(len)
                        if len(inspections) else pd.Series(dtype=int)})
    a = ins.groupby("year").agg(joint_inspections=("n", "size"),
                                department_visits=("n", "sum"))
    live = visits[visits["status"] != "cancelled"] if len(visits) else visits
    v = pd.DataFrame({"year": year(live["day"]) if len(live) else pd.Series(dtype=int),
                      "booked": live["request_id"].notna().to_numpy() if len(live) else [],
                      "observers": live["observers"].map(len).to_numpy() if len(live)
                      else []})
    b = v.groupby("year").agg(booked_by_business=("booked", "sum"),
                              scheduled_by_office=("booked", lambda s: int((~s).sum())),
                              observers=("observers", "sum"))
    r = pd.DataFrame({"year": year(requests["requested_at"]) if len(requests)
                      else pd.Series(dtype=int)}).groupby("year").size().rename("requests")
    out = a.join(b, how="outer").join(r, how="outer").fillna(0).astype(int)
    out["visits_saved"] = out["department_visits"] - out["joint_inspections"]
    cols = ["joint_inspections", "department_visits", "visits_saved", "booked_by_business",
            "scheduled_by_office", "observers", "requests"]
    return out[cols].sort_index().rename_axis("year").reset_index()


# ----------------------------------------------------------------------- calendar
def calendar(visits: pd.DataFrame, start: dt.date, days: int, by: str = "day"
             ) -> pd.DataFrame:
    """The visits booked per township from ``start`` for ``days`` days, as a table:
    one row per township (``township_code``), one column per day (``by="day"``) or per
    week starting on Monday (``by="week"``), each cell the ``label`` of the visits that
    day or week joined by new lines ("" where none). ``visits``: township_code, day, label,
    status; cancelled ones are left out. Columns are `datetime.date`."""
    if by not in ("day", "week"):
        raise ValueError(f"by must be day or week, not {by!r}")
    if days < 1:
        raise ValueError("days must be at least 1")
    end = start + dt.timedelta(days=days)
    every = [start + dt.timedelta(days=k) for k in range(days)]
    if by == "week":
        every = sorted({d - dt.timedelta(days=d.weekday()) for d in every})
    frame = visits[visits["status"] != "cancelled"] if len(visits) else visits
    frame = frame.assign(day=pd.to_datetime(frame["day"]).dt.date) if len(frame) else frame
    frame = frame[(frame["day"] >= start) & (frame["day"] < end)] if len(frame) else frame
    if not len(frame):
        return pd.DataFrame(columns=["township_code", *every])
    bucket = frame["day"] if by == "day" else frame["day"].map(
        lambda d: d - dt.timedelta(days=d.weekday()))
    frame = frame.assign(bucket=bucket, township_code=frame["township_code"].fillna(""))
    cells = frame.sort_values(["day", "label"]).pivot_table(
        index="township_code", columns="bucket", values="label", aggfunc="\n".join)
    cells = cells.reindex(columns=every).astype(object).fillna("")
    cells.columns = list(cells.columns)
    return cells.reset_index()
