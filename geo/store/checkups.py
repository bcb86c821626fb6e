"""Writes and reads of check-ups by appointment (预约体检) and joint visits (综合查一次).

A site's request is booked by staff or by a source (a business portal posting through the
API); the office schedules a joint visit (answering a request, or of its own accord, e.g.
from `geo.checkups.propose_joint_visits`); once done, the visit's findings are recorded as
an inspection in the same transaction (`geo.store.inspecting.insert_inspection`), so that
rectification and re-inspection follow as for any inspection. The rules are in
`geo.checkups`; permissions in `geo.access` (objects ``checkups`` and ``visits``).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, func, insert, select, update

from geo.access import Scope
from geo.checkups import (
    CheckupError,
    check_request,
    check_visit,
    check_visit_findings,
    visit_checklist,
)
from geo.store import audit, sessions
from geo.store.inspecting import checklists, insert_inspection
from geo.store.models import (
    Body,
    CheckupRequest,
    Inspection,
    JointVisit,
    Site,
    VisitObserver,
)
from geo.store.scoping import visible


def _site(s, site_id: str, scope: Scope, anywhere: bool = False) -> tuple[str, str | None]:
    """(kind, township code) of a site ``scope`` may read (any site where ``anywhere``: a
    source books for a site it cannot read); `LookupError` otherwise."""
    q = select(Site.kind, Site.township_code).where(Site.site_id == site_id)
    if not anywhere:
        q = q.where(visible(scope, "sites"))
    row = s.execute(q).first()
    if row is None:
        raise LookupError(f"unknown site {site_id!r}")
    return row[0], row[1]


# ------------------------------------------------------------------------ requests
def book_checkup(engine: Engine, site_id: str, contact: str, reason: str = "",
                 wanted_from: dt.date | None = None, wanted_until: dt.date | None = None, *,
                 today: dt.date, scope: Scope) -> int:
    """Store a site's request for a check-up, booked by ``scope`` (staff taking it for the
    site, or a source: then the request is that source's); returns its id.

    ``today`` is the district's calendar day (wished-for days are from today on).
    `LookupError` for an unknown site (one outside a staff scope), `AccessDeniedError` for
    a role that may not book (`OutsideScopeError` outside the caller's township),
    `geo.checkups.CheckupError` naming the field at fault.
    """
    clean = check_request(contact, reason, wanted_from, wanted_until, today)
    with sessions(engine).begin() as s:
        scope.require("checkups", "open")
        _, township = _site(s, site_id, scope, anywhere=scope.role == "source")
        scope.check_new("checkups", {"township_code": township, "source": scope.source})
        rid = s.execute(insert(CheckupRequest).values(
            site_id=site_id, township_code=township, requested_by=scope.actor,
            source=scope.source, status="open", **clean).returning(CheckupRequest.id)
        ).scalar_one()
        audit(s, scope.actor, "checkup", str(rid), "book", to_state="open",
              detail=f"site {site_id}")
        return rid


def list_requests(engine: Engine, *, scope: Scope, request_id: int | None = None,
                  site_id: str | None = None, status: str | None = None,
                  limit: int = 100, offset: int = 0) -> tuple[int, list[dict]]:
    """One page of the check-up requests in ``scope`` (a source: those it booked), newest
    first, each with its visit's day and status once scheduled.

    Returns
    -------
    tuple of int and list of dict
        How many match in all, and the page: dicts with ``id, site_id, township_code,
        contact, reason, wanted_from, wanted_until, requested_at`` (naive UTC),
        ``requested_by, source, status, visit_id, visit_day, visit_status``.
    """
    q = (select(CheckupRequest, JointVisit.day, JointVisit.status)
         .outerjoin(JointVisit, JointVisit.id == CheckupRequest.visit_id)
         .where(visible(scope, "checkups")))
    if request_id is not None:
        q = q.where(CheckupRequest.id == request_id)
    if site_id is not None:
        q = q.where(CheckupRequest.site_id == site_id)
    if status is not None:
        q = q.where(CheckupRequest.status == status)
    with sessions(engine)() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery()))
        rows = s.execute(q.order_by(CheckupRequest.requested_at.desc(),
                                    CheckupRequest.id.desc()).limit(limit).offset(offset)).all()
    return total, [{"id": r.id, "site_id": r.site_id, "township_code": r.township_code,
                    "contact": r.contact, "reason": r.reason, "wanted_from": r.wanted_from,
                    "wanted_until": r.wanted_until, "requested_at": r.requested_at,
                    "requested_by": r.requested_by, "source": r.source, "status": r.status,
                    "visit_id": r.visit_id, "visit_day": day, "visit_status": vstatus}
                   for r, day, vstatus in rows]


# -------------------------------------------------------------------------- visits
def schedule_visit(engine: Engine, site_id: str, day: dt.date, lead_body: str,
                   inspectors: list[str], *, bodies: list[str] | None = None,
                   departments: list[str] | None = None,
                   observers: list[dict] | None = None, note: str = "",
                   request_id: int | None = None, today: dt.date, scope: Scope) -> int:
    """Schedule one joint visit of a site in ``scope``; returns its id.

    The visit carries the checklist items of ``departments`` (default: every department
    concerned by the site's kind); ``observers`` are dicts with ``name`` and ``site_id``
    (their own site, one ``scope`` may read). With ``request_id`` the visit answers that
    open request of the same site, which becomes ``scheduled``. Checked by
    `geo.checkups.check_visit` (`CheckupError` naming the field); `LookupError` for a site
    or request outside the scope, `AccessDeniedError` for a role that may not schedule.
    """
    with sessions(engine).begin() as s:
        scope.require("visits", "read")
        kind, township = _site(s, site_id, scope)
        scope.require("visits", "change")
        wanted = [o.get("site_id") for o in (observers or []) if isinstance(o, dict)]
        known_sites = set(s.scalars(select(Site.site_id).where(
            Site.site_id.in_([w for w in wanted if isinstance(w, str)]),
            visible(scope, "sites")))) if wanted else set()
        clean = check_visit(
            site_id=site_id, kind=kind, day=day, lead_body=lead_body, bodies=bodies,
            departments=departments, inspectors=inspectors, observers=observers, note=note,
            known_bodies=set(s.scalars(select(Body.code))),
            checklists=checklists(engine, scope=scope), known_sites=known_sites,
            today=today)
        request = None
        if request_id is not None:
            request = s.scalar(select(CheckupRequest).where(
                CheckupRequest.id == request_id, visible(scope, "checkups")))
            if request is None:
                raise LookupError(f"no check-up request {request_id}")
            scope.require("checkups", "change")
            if request.site_id != site_id:
                raise CheckupError("request_id", f"request {request_id} is for site "
                                   f"{request.site_id}, not {site_id}")
            if request.status != "open":
                raise CheckupError("request_id", f"request {request_id} is {request.status}, "
                                   "not open")
        watching = clean.pop("observers")
        vid = s.execute(insert(JointVisit).values(
            site_id=site_id, township_code=township, status="scheduled",
            scheduled_by=scope.actor, **clean).returning(JointVisit.id)).scalar_one()
        if watching:
            s.execute(insert(VisitObserver), [{"visit_id": vid, **o} for o in watching])
        if request is not None:
            request.status, request.visit_id = "scheduled", vid
            audit(s, scope.actor, "checkup", str(request_id), "schedule",
                  from_state="open", to_state="scheduled", detail=f"visit {vid}")
        audit(s, scope.actor, "visit", str(vid), "schedule", to_state="scheduled",
              detail=f"site {site_id}, {clean['day']:%Y-%m-%d}, "
                     f"{len(clean['departments'])} departments, {len(watching)} observers")
        return vid


def _visit(s, visit_id: int, scope: Scope) -> JointVisit:
    visit = s.scalar(select(JointVisit).where(JointVisit.id == visit_id,
                                              visible(scope, "visits")))
    if visit is None:
        raise LookupError(f"no visit {visit_id}")
    scope.require("visits", "change")
    if visit.status != "scheduled":
        raise CheckupError("status", f"visit {visit_id} is {visit.status}, not scheduled")
    return visit


def cancel_visit(engine: Engine, visit_id: int, reason: str, *, scope: Scope) -> None:
    """Cancel a scheduled visit in ``scope``; the request it answered is open again."""
    with sessions(engine).begin() as s:
        visit = _visit(s, visit_id, scope)
        visit.status = "cancelled"
        s.execute(update(CheckupRequest).where(CheckupRequest.visit_id == visit_id)
                  .values(status="open", visit_id=None))
        audit(s, scope.actor, "visit", str(visit_id), "cancel", from_state="scheduled",
              to_state="cancelled", detail=reason)


def visit_items(engine: Engine, visit_id: int, *, scope: Scope) -> pd.DataFrame:
    """The checklist items a visit in ``scope`` carries (`geo.checkups.visit_checklist`)."""
    with sessions(engine)() as s:
        visit = s.scalar(select(JointVisit).where(JointVisit.id == visit_id,
                                                  visible(scope, "visits")))
        if visit is None:
            raise LookupError(f"no visit {visit_id}")
        kind = s.scalar(select(Site.kind).where(Site.site_id == visit.site_id))
    return visit_checklist(checklists(engine, scope=scope), kind, visit.departments)


def complete_visit(engine: Engine, visit_id: int, findings: list[dict],
                   fix_days: dict[str, float] | None = None, *, today: dt.date,
                   scope: Scope) -> int:
    """Record the findings of a scheduled visit in ``scope`` (one per item it carries:
    ``item_code, result, note, photo``) as an inspection of its site on its day with its
    departments, and mark the visit done, in one transaction; returns the inspection's id.

    Problems get their rectification requirement and deadline as in
    `geo.store.inspecting.record_inspection`. `CheckupError` for a visit after ``today`` or
    not scheduled, or findings that do not match its checklist (naming the finding).
    """
    with sessions(engine).begin() as s:
        visit = _visit(s, visit_id, scope)
        if visit.day > today:
            raise CheckupError("day", f"visit {visit_id} is on {visit.day:%Y-%m-%d}, after "
                               "today")
        kind = s.scalar(select(Site.kind).where(Site.site_id == visit.site_id))
        items = visit_checklist(checklists(engine, scope=scope), kind, visit.departments)
        check_visit_findings(findings, items)
        inspection_id = insert_inspection(s, engine, visit.site_id, visit.day,
                                          list(visit.departments), findings, fix_days,
                                          scope=scope)
        visit.status, visit.inspection_id = "done", inspection_id
        audit(s, scope.actor, "visit", str(visit_id), "done", from_state="scheduled",
              to_state="done", detail=f"inspection {inspection_id}")
        return inspection_id


def list_visits(engine: Engine, *, scope: Scope, visit_id: int | None = None,
                site_id: str | None = None, township: str | None = None,
                since: dt.date | None = None, until: dt.date | None = None,
                status: str | None = None) -> pd.DataFrame:
    """The joint visits in ``scope`` (filtered where given), by day then id.

    Returns
    -------
    pandas.DataFrame
        id, site_id, township_code, day (`datetime.date`), lead_body, bodies, departments,
        inspectors (lists), note, status, inspection_id, scheduled_by, request_id (None:
        scheduled by the office), observers (list of dicts with name and site_id).
    """
    q = (select(JointVisit, CheckupRequest.id.label("request_id"))
         .outerjoin(CheckupRequest, CheckupRequest.visit_id == JointVisit.id)
         .where(visible(scope, "visits")))
    for column, value in ((JointVisit.id, visit_id), (JointVisit.site_id, site_id),
                          (JointVisit.township_code, township), (JointVisit.status, status)):
        if value is not None:
            q = q.where(column == value)
    if since is not None:
        q = q.where(JointVisit.day >= since)
    if until is not None:
        q = q.where(JointVisit.day <= until)
    with sessions(engine)() as s:
        rows = s.execute(q.order_by(JointVisit.day, JointVisit.id)).all()
        ids = [v.id for v, _ in rows]
        people = s.execute(select(VisitObserver).where(VisitObserver.visit_id.in_(ids))
                           .order_by(VisitObserver.id)).scalars().all() if ids else []
    watching: dict[int, list[dict]] = {}
    for o in people:
        watching.setdefault(o.visit_id, []).append({"name": o.name, "site_id": o.site_id})
    columns = ["id", "site_id", "township_code", "day", "lead_body", "bodies", "departments",
               "inspectors", "note", "status", "inspection_id", "scheduled_by", "request_id",
               "observers"]
    return pd.DataFrame([
        {"id": v.id, "site_id": v.site_id, "township_code": v.township_code, "day": v.day,
         "lead_body": v.lead_body, "bodies": list(v.bodies), "departments": list(v.departments),
         "inspectors": list(v.inspectors), "note": v.note, "status": v.status,
         "inspection_id": v.inspection_id, "scheduled_by": v.scheduled_by,
         "request_id": rid, "observers": watching.get(v.id, [])} for v, rid in rows],
        columns=columns, dtype=object)


def requests_frame(engine: Engine, *, scope: Scope) -> pd.DataFrame:
    """Every check-up request in ``scope`` as a table (`list_requests`' fields)."""
    _, rows = list_requests(engine, scope=scope, limit=1_000_000)
    return pd.DataFrame(rows, columns=[
        "id", "site_id", "township_code", "contact", "reason", "wanted_from", "wanted_until",
        "requested_at", "requested_by", "source", "status", "visit_id", "visit_day",
        "visit_status"])


def inspection_departments(engine: Engine, *, scope: Scope) -> pd.DataFrame:
    """The inspections in ``scope`` with their site, day (Timestamp) and departments (list):
    what `geo.checkups.department_status` and `geo.checkups.yearly_counts` count."""
    with engine.connect() as conn:
        frame = pd.read_sql(select(Inspection.site_id, Inspection.day, Inspection.departments)
                            .where(visible(scope, "inspections")), conn)
    frame["day"] = pd.to_datetime(frame["day"])
    frame["departments"] = frame["departments"].map(
        lambda v: [d for d in (v or "").split(",") if d])
    return frame
