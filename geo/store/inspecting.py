"""Writes and reads of integrated inspections: checklists, inspections with their findings
and rectification requirements, re-inspections. (Problems still unfixed after their
deadline become cases in `geo.escalation`, above the store.)"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, delete, func, insert, select

from geo.access import Scope
from geo.inspections import check_findings, rectification_plan
from geo.store import audit, sessions
from geo.store.models import ChecklistItem, Finding, Inspection, Reinspection, Site
from geo.store.scoping import visible

CHECKLIST_COLUMNS = ("kind", "item_code", "item", "department", "matter_code")


def validate_checklists(frame: pd.DataFrame, matters: set[str], label: str) -> pd.DataFrame:
    """Check a checklist table; raise ValueError naming the row and field."""
    missing = [c for c in CHECKLIST_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{label}: missing column(s) {', '.join(missing)}")
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        if row.matter_code not in matters:
            raise ValueError(f"{label}, row {i}, field matter_code: unknown matter "
                             f"{row.matter_code!r}")
    dup = frame["item_code"].duplicated()
    if dup.any():
        raise ValueError(f"{label}, row {int(dup.to_numpy().argmax()) + 2}, field item_code: "
                         "duplicate")
    return frame[list(CHECKLIST_COLUMNS)]


def replace_checklists(engine: Engine, frame: pd.DataFrame, *, scope: Scope) -> None:
    """Replace the checklists (a catalogue: the administrator's, audited)."""
    scope.require("catalogues", "change")
    with sessions(engine).begin() as s:
        s.execute(delete(ChecklistItem))
        if len(frame):
            s.execute(insert(ChecklistItem), frame.to_dict("records"))
        audit(s, scope.actor, "catalogue", "checklists", "import",
              detail=f"{len(frame)} items")


def checklists(engine: Engine, *, scope: Scope) -> pd.DataFrame:
    """The checklist items (kind, item_code, item, department, matter_code)."""
    scope.require("catalogues", "read")
    with engine.connect() as conn:
        return pd.read_sql(select(ChecklistItem), conn)


def record_inspection(engine: Engine, site_id: str, day: dt.date, departments: list[str],
                      findings: list[dict], fix_days: dict[str, float] | None = None, *,
                      scope: Scope) -> int:
    """Store one joint inspection of a site in ``scope`` with its findings (item_code,
    result, note, photo), by ``scope.actor``; problems get their rectification requirement
    and deadline (`geo.inspections.rectification_plan`: ``fix_days`` per matter code, else
    15 days). Returns its id. `LookupError` for a site out of scope,
    `AccessDeniedError` for a role that may not record inspections."""
    with sessions(engine).begin() as s:
        return insert_inspection(s, engine, site_id, day, departments, findings, fix_days,
                                 scope=scope)


def insert_inspection(s, engine: Engine, site_id: str, day: dt.date, departments: list[str],
                      findings: list[dict], fix_days: dict[str, float] | None = None, *,
                      scope: Scope) -> int:
    """`record_inspection` in the open session ``s`` (the caller commits), for a write that
    records an inspection together with something else (a joint visit done)."""
    kind = _site_kind(s, site_id, scope)
    items = checklists(engine, scope=scope)
    frame = pd.DataFrame(findings).assign(site_id=site_id, day=pd.Timestamp(day),
                                          inspection_id=0)
    check_findings(frame, items, {site_id: kind})
    plan = rectification_plan(frame, items, fix_days).set_index("item_code")
    inspection_id = s.execute(insert(Inspection).values(
        site_id=site_id, day=day, departments=",".join(departments),
        inspector=scope.actor).returning(Inspection.id)).scalar_one()
    rows = []
    for f in findings:
        p = plan.loc[f["item_code"]] if f["item_code"] in plan.index else None
        rows.append({"inspection_id": inspection_id, "item_code": f["item_code"],
                     "result": f["result"], "note": f.get("note", ""),
                     "photo": f.get("photo"),
                     "requirement": None if p is None else p["requirement"],
                     "deadline": None if p is None else p["deadline"].date()})
    s.execute(insert(Finding), rows)
    audit(s, scope.actor, "inspection", str(inspection_id), "record",
          detail=f"site {site_id}, {len(rows)} findings")
    return inspection_id


def _site_kind(s, site_id: str, scope: Scope) -> str:
    """The kind of a site ``scope`` may record an inspection at."""
    scope.require("inspections", "read")
    kind = s.scalar(select(Site.kind).where(Site.site_id == site_id,
                                            visible(scope, "sites")))
    if kind is None:
        raise LookupError(f"unknown site {site_id!r}")
    scope.require("inspections", "change")
    return kind


def record_reinspection(engine: Engine, finding_id: int, day: dt.date, fixed: bool, *,
                        scope: Scope) -> int:
    """Store the re-inspection of a problem found at a site in ``scope``; returns its id."""
    with sessions(engine).begin() as s:
        finding = s.scalar(select(Finding).join(Inspection).where(
            Finding.id == finding_id, visible(scope, "inspections")))
        if finding is None or finding.result != "problem":
            raise LookupError(f"finding {finding_id} is not a problem to re-inspect")
        scope.require("inspections", "change")
        re = Reinspection(finding_id=finding_id, day=day, fixed=fixed)
        s.add(re)
        s.flush()
        audit(s, scope.actor, "finding", str(finding_id), "reinspect",
              detail="fixed" if fixed else "not fixed")
        return re.id


def inspection_finding(engine: Engine, inspection_id: int, *, scope: Scope,
                       finding_id: int | None = None, item_code: str | None = None) -> int:
    """The id of the finding of inspection ``inspection_id`` (one in ``scope``) that has
    ``finding_id`` or is of checklist item ``item_code``; `LookupError` where there is no
    such finding (or the inspection is outside the scope)."""
    if finding_id is None and item_code is None:
        raise ValueError("name the finding: finding_id or item_code")
    q = select(Finding.id).join(Inspection, Inspection.id == Finding.inspection_id).where(
        Finding.inspection_id == inspection_id, visible(scope, "inspections"))
    if finding_id is not None:
        q = q.where(Finding.id == finding_id)
    if item_code is not None:
        q = q.where(Finding.item_code == item_code)
    with sessions(engine)() as s:
        found = list(s.scalars(q.order_by(Finding.id).limit(2)))
    if len(found) != 1:
        what = f"finding {finding_id}" if finding_id is not None else f"item {item_code!r}"
        raise LookupError(f"inspection {inspection_id} has no {what}")
    return found[0]


def list_inspections(engine: Engine, *, scope: Scope, inspection_id: int | None = None,
                     site_id: str | None = None, township: str | None = None,
                     since: dt.date | None = None, until: dt.date | None = None,
                     limit: int = 100, offset: int = 0) -> tuple[int, list[dict]]:
    """One page of the inspections in ``scope`` (the one ``inspection_id``, of a site, of a
    township's sites, on days from ``since`` to ``until`` where given), newest first, with
    their findings and each finding's re-inspections.

    Returns
    -------
    tuple of int and list of dict
        How many inspections match in all, and the page: dicts with ``id, site_id, day,
        departments`` (list), ``inspector``, ``findings`` (dicts with ``id, item_code,
        result, note, photo, requirement, deadline, reinspections`` (dicts with ``id, day,
        fixed``)).
    """
    q = select(Inspection).where(visible(scope, "inspections"))
    if inspection_id is not None:
        q = q.where(Inspection.id == inspection_id)
    if site_id is not None:
        q = q.where(Inspection.site_id == site_id)
    if township is not None:
        q = q.where(Inspection.site_id.in_(select(Site.site_id).where(
            Site.township_code == township)))
    if since is not None:
        q = q.where(Inspection.day >= since)
    if until is not None:
        q = q.where(Inspection.day <= until)
    with sessions(engine)() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery()))
        page = list(s.scalars(q.order_by(Inspection.day.desc(), Inspection.id.desc())
                              .limit(limit).offset(offset)))
        ids = [i.id for i in page]
        findings = list(s.scalars(select(Finding).where(Finding.inspection_id.in_(ids))
                                  .order_by(Finding.id))) if ids else []
        rounds = s.execute(select(Reinspection).join(
            Finding, Finding.id == Reinspection.finding_id).where(
            Finding.inspection_id.in_(ids)).order_by(Reinspection.day, Reinspection.id)
        ).scalars().all() if ids else []
    by_finding: dict[int, list[dict]] = {}
    for r in rounds:
        by_finding.setdefault(r.finding_id, []).append(
            {"id": r.id, "day": r.day, "fixed": bool(r.fixed)})
    by_inspection: dict[int, list[dict]] = {}
    for f in findings:
        by_inspection.setdefault(f.inspection_id, []).append(
            {"id": f.id, "item_code": f.item_code, "result": f.result, "note": f.note or "",
             "photo": f.photo, "requirement": f.requirement, "deadline": f.deadline,
             "reinspections": by_finding.get(f.id, [])})
    return total, [{"id": i.id, "site_id": i.site_id, "day": i.day,
                    "departments": [d for d in i.departments.split(",") if d],
                    "inspector": i.inspector, "findings": by_inspection.get(i.id, [])}
                   for i in page]


def inspection_tables(engine: Engine, *, scope: Scope) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(findings with inspection_id, site_id, day, item_code, result, finding_id, deadline;
    re-inspections with inspection_id, item_code, day, fixed) for `geo.inspections`, of
    the inspections in ``scope``."""
    keep = visible(scope, "inspections")
    with engine.connect() as conn:
        findings = pd.read_sql(
            select(Finding.id.label("finding_id"), Finding.inspection_id, Inspection.site_id,
                   Inspection.day, Finding.item_code, Finding.result, Finding.deadline)
            .join(Inspection, Inspection.id == Finding.inspection_id).where(keep), conn)
        re = pd.read_sql(
            select(Finding.inspection_id, Finding.item_code, Reinspection.day,
                   Reinspection.fixed).join(Finding, Finding.id == Reinspection.finding_id)
            .join(Inspection, Inspection.id == Finding.inspection_id).where(keep),
            conn)
    findings["day"] = pd.to_datetime(findings["day"])
    re["day"] = pd.to_datetime(re["day"])
    re["fixed"] = re["fixed"].astype(bool)
    return findings, re

