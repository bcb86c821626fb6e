"""Writes and reads of the 审批—监管—执法 hand-off and of referrals (移送), in the caller's
scope (`geo.handoff` decides; this module records):

- the powers catalogue (``powers.csv``), replaced at ``init``;
- approvals (审批) and the supervision task each opens, idempotent on (source, id);
- the supervision visit of a task, recorded as an inspection (`geo.store.inspecting`), whose
  unfixed problems become cases through the one escalation path (`geo.escalation`);
- the notice (抄告) to the approving department when such a case is closed
  (`record_copy_notice`, called by `geo.store.dispatching.transition_case` in the closing
  transaction);
- referrals of a case from one body to another, their acknowledgement (签收) by the
  receiving body and the escalation of those left unacknowledged past their deadline.

Scope: supervision tasks and notices follow the site's township (township staff see their
own; every other staff role sees all); a referral is seen by whoever sees its case, and by
the body that referred it. Every change is in the audit log.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine, delete, insert, or_, select, update

from geo.access import AccessDeniedError, Scope
from geo.cases import CLOSED_STATUSES, check_transition
from geo.handoff import (
    DEFAULT_ACK_WORKING_DAYS,
    ApprovalReject,
    ack_due,
    check_approvals,
    escalated_inspection,
    may_acknowledge,
    referral_states,
    task_states,
)
from geo.store import audit, in_scope, sessions
from geo.store.models import (
    Alert,
    Approval,
    AuditLog,
    Body,
    Case,
    CopyNotice,
    Matter,
    Power,
    Referral,
    Site,
    SupervisionTask,
    utcnow,
)

#: the audit actions of the hand-off on a case (worded by `geo.app.wording.describe`)
REFER, ACKNOWLEDGE, ESCALATE, NOTICE = ("refer", "referral_acknowledged",
                                        "referral_escalated", "copy_notice")


# --------------------------------------------------------------------------- powers
def replace_powers(engine: Engine, frame: pd.DataFrame | None, *, scope: Scope) -> int:
    """Replace the powers catalogue with ``frame`` (`geo.handoff.validate_powers`; None:
    none), audited; returns the rows stored."""
    scope.require("catalogues", "change")
    rows = [] if frame is None else [
        {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")]
    with sessions(engine).begin() as s:
        s.execute(delete(Power))
        if rows:
            s.execute(insert(Power), rows)
        audit(s, scope.actor, "catalogue", "powers", "import", detail=f"{len(rows)} matters")
    return len(rows)


def powers_frame(engine: Engine, *, scope: Scope) -> pd.DataFrame:
    """The stored powers (`geo.handoff.POWER_COLUMNS`; penalties NaN where not stated)."""
    scope.require("catalogues", "read")
    with engine.connect() as conn:
        frame = pd.read_sql(select(Power).order_by(Power.matter_code), conn)
    for col in ("penalty_min_yuan", "penalty_max_yuan"):
        frame[col] = pd.to_numeric(frame[col])
    return frame


# ------------------------------------------------------------------------ approvals
def ingest_approvals(engine: Engine, records: list[dict], rows: list[int], source: str,
                     today: dt.date, earliest: dt.date, *, scope: Scope,
                     all_or_none: bool = False) -> tuple[list[dict], list[ApprovalReject]]:
    """Check approval events (`geo.handoff.check_approvals`) and store the good ones, each
    with the supervision task it opens, in one transaction; an event of ``source`` already
    stored (same id) is left as it is.

    Parameters
    ----------
    records, rows
        The events (keys of `geo.handoff.APPROVAL_FIELDS`) and their row numbers.
    source : str
        Who sent them (the API source's code, or the CLI's ``--source``).
    today, earliest : datetime.date
        Bounds of ``granted_on`` (the district's calendar).

    all_or_none : bool
        Store nothing where any event is refused (the API's batches).

    Returns
    -------
    tuple
        Per good event ``{"row", "id", "approval_id", "task_id", "created"}``, and the
        rejects.
    """
    scope.require("approvals", "post")
    with sessions(engine)() as s:
        # the registry is read to resolve the site an approval names, whoever posts it
        sites = pd.DataFrame(s.execute(select(Site.site_id, Site.credit_code,
                                              Site.township_code)).all(),
                             columns=["site_id", "credit_code", "township_code"])
        matters = list(s.scalars(select(Matter.code)))
        powers = pd.DataFrame(s.execute(select(
            Power.matter_code, Power.permit, Power.approving_department,
            Power.supervising_department, Power.supervision_days)).all(),
            columns=["matter_code", "permit", "approving_department",
                     "supervising_department", "supervision_days"])
    good, rejects = check_approvals(records, rows, powers, matters, sites, today, earliest)
    if rejects and all_or_none:
        return [], rejects
    row_of = {r.get("id", ""): n for r, n in zip(records, rows, strict=True)}
    results = []
    with sessions(engine).begin() as s:
        known = {ext: aid for ext, aid in s.execute(
            select(Approval.external_id, Approval.id).where(
                Approval.source == source,
                Approval.external_id.in_([g["external_id"] for g in good])))} if good else {}
        for g in good:
            ext = g["external_id"]
            if ext in known:
                task = s.scalar(select(SupervisionTask.id).where(
                    SupervisionTask.approval_id == known[ext]))
                results.append({"row": row_of.get(ext), "id": ext, "approval_id": known[ext],
                                "task_id": task, "created": False})
                continue
            aid = s.execute(insert(Approval).values(
                source=source, external_id=ext, site_id=g["site_id"],
                township_code=g["township_code"], matter_code=g["matter_code"],
                permit=g["permit"], approving_department=g["approving_department"],
                granted_on=g["granted_on"], received_at=utcnow()).returning(Approval.id)
            ).scalar_one()
            tid = s.execute(insert(SupervisionTask).values(
                approval_id=aid, site_id=g["site_id"], township_code=g["township_code"],
                matter_code=g["matter_code"], department=g["supervising_department"],
                opened_on=g["granted_on"], due_on=g["due_on"]).returning(SupervisionTask.id)
            ).scalar_one()
            known[ext] = aid
            audit(s, scope.actor, "approval", str(aid), "approve", detail=json.dumps(
                {"source": source, "id": ext, "site": g["site_id"], "matter": g["matter_code"],
                 "department": g["approving_department"]}, ensure_ascii=False))
            audit(s, scope.actor, "supervision", str(tid), "open", to_state="open",
                  detail=json.dumps({"approval": aid, "department": g["supervising_department"],
                                     "due_on": g["due_on"].isoformat()}, ensure_ascii=False))
            results.append({"row": row_of.get(ext), "id": ext, "approval_id": aid,
                            "task_id": tid, "created": True})
    return results, rejects


# --------------------------------------------------------------------- supervision
def _tasks_visible(scope: Scope):
    scope.require("supervision", "read")
    township = scope.match("supervision").get("township_code")
    return SupervisionTask.township_code == township if township else SupervisionTask.id > 0


def tasks_frame(engine: Engine, today: dt.date, *, scope: Scope) -> pd.DataFrame:
    """The supervision tasks in ``scope`` with their approval and state
    (`geo.handoff.task_states`), newest first.

    Columns: ``id, approval_id, site_id, site_name, township_code, matter_code, department,
    opened_on, due_on, inspection_id, permit, approving_department, granted_on, source,
    external_id, state, case_ids`` (the cases escalated from the visit, a list).
    """
    from geo.store.inspecting import inspection_tables

    q = (select(SupervisionTask.id, SupervisionTask.approval_id, SupervisionTask.site_id,
                Site.name.label("site_name"), SupervisionTask.township_code,
                SupervisionTask.matter_code, SupervisionTask.department,
                SupervisionTask.opened_on, SupervisionTask.due_on,
                SupervisionTask.inspection_id, Approval.permit,
                Approval.approving_department, Approval.granted_on, Approval.source,
                Approval.external_id)
         .join(Approval, Approval.id == SupervisionTask.approval_id)
         .outerjoin(Site, Site.site_id == SupervisionTask.site_id)
         .where(_tasks_visible(scope))
         .order_by(SupervisionTask.opened_on.desc(), SupervisionTask.id.desc()))
    with engine.connect() as conn:
        tasks = pd.read_sql(q, conn)
        escalated = pd.DataFrame(conn.execute(
            select(Alert.external_id, Case.id, Case.status).join(Case, Case.alert_id == Alert.id)
            .where(Alert.source == "inspection", Alert.external_id.like("INSP-%"))).all(),
            columns=["external_id", "case_id", "status"])
    tasks["inspection_id"] = tasks["inspection_id"].astype(object).where(
        tasks["inspection_id"].notna(), None)
    keys = [escalated_inspection(e) for e in escalated["external_id"]]
    cases = pd.DataFrame({"inspection_id": [k[0] if k else -1 for k in keys],
                          "item_code": [k[1] if k else "" for k in keys],
                          "status": escalated["status"], "case_id": escalated["case_id"]})
    visited = {int(i) for i in tasks["inspection_id"].dropna()}
    cases = cases[cases["inspection_id"].isin(visited)]
    if visited:
        findings, re = inspection_tables(engine, scope=scope)
        findings = findings[findings["inspection_id"].isin(visited)]
        re = re[re["inspection_id"].isin(visited)]
    else:
        findings = pd.DataFrame(columns=["inspection_id", "item_code", "result"])
        re = pd.DataFrame(columns=["inspection_id", "item_code", "day", "fixed"])
    tasks["state"] = task_states(tasks, findings, re, cases, today) if len(tasks) else []
    by_visit = cases.groupby("inspection_id")["case_id"].apply(
        lambda c: sorted(int(x) for x in c)).to_dict()
    tasks["case_ids"] = [by_visit.get(int(i), []) if i is not None else []
                         for i in tasks["inspection_id"]]
    return tasks


def record_supervision(engine: Engine, task_id: int, day: dt.date, findings: list[dict], *,
                       scope: Scope) -> int:
    """Record the supervision visit of a task in ``scope``: an inspection of its site by its
    department (`geo.store.inspecting.record_inspection`, with the findings' rectification
    deadlines), linked to the task. Returns the inspection's id.

    Raises
    ------
    LookupError
        No such task in ``scope``.
    AccessDeniedError
        The role may not record supervision or inspections.
    ValueError
        The task's visit is recorded already, or a finding does not fit the checklist.
    """
    from geo.store.inspecting import record_inspection

    with sessions(engine)() as s:
        task = s.scalar(select(SupervisionTask).where(SupervisionTask.id == task_id,
                                                      _tasks_visible(scope)))
    if task is None:
        raise LookupError(f"no supervision task {task_id}")
    scope.require("supervision", "change")
    if task.inspection_id is not None:
        raise ValueError(f"supervision task {task_id} was visited already (inspection "
                         f"{task.inspection_id})")
    if day < task.opened_on:
        raise ValueError(f"the visit ({day:%Y-%m-%d}) is before the approval "
                         f"({task.opened_on:%Y-%m-%d})")
    inspection_id = record_inspection(engine, task.site_id, day, [task.department], findings,
                                      scope=scope)
    with sessions(engine).begin() as s:
        done = s.execute(update(SupervisionTask).where(
            SupervisionTask.id == task_id, SupervisionTask.inspection_id.is_(None))
            .values(inspection_id=inspection_id))
        if done.rowcount != 1:  # another visit was linked meanwhile; this one stays on record
            raise ValueError(f"supervision task {task_id} was visited already")
        problems = sum(f.get("result") == "problem" for f in findings)
        audit(s, scope.actor, "supervision", str(task_id), "visit", "open",
              "rectifying" if problems else "passed",
              json.dumps({"inspection": inspection_id, "problems": problems}))
    return inspection_id


def record_copy_notice(s, case_id: int, *, scope: Scope) -> int | None:
    """In the session closing case ``case_id``: where it was escalated from the visit of a
    supervision task, record the notice (抄告) to the approval's department, audited on the
    case, by ``scope.actor``. Returns the notice's id (None: not such a case, or noticed
    already)."""
    scope.require("cases", "change")
    row = s.execute(select(Alert.source, Alert.external_id, Case.township_code)
                    .join(Case, Case.alert_id == Alert.id).where(Case.id == case_id)).first()
    key = escalated_inspection(row.external_id) if row and row.source == "inspection" else None
    if key is None:
        return None
    found = s.execute(select(SupervisionTask.id, Approval.approving_department)
                      .join(Approval, Approval.id == SupervisionTask.approval_id)
                      .where(SupervisionTask.inspection_id == key[0])).first()
    if found is None or s.scalar(select(CopyNotice.id).where(CopyNotice.case_id == case_id)):
        return None
    notice = s.execute(insert(CopyNotice).values(
        case_id=case_id, task_id=found.id, department=found.approving_department,
        township_code=row.township_code, at=utcnow(), actor=scope.actor)
        .returning(CopyNotice.id)).scalar_one()
    audit(s, scope.actor, "case", str(case_id), NOTICE, detail=json.dumps(
        {"department": found.approving_department, "task": found.id}, ensure_ascii=False))
    return notice


def copy_notices_frame(engine: Engine, *, scope: Scope) -> pd.DataFrame:
    """The notices (抄告) in ``scope``, newest first: ``id, case_id, task_id, department,
    township_code, at`` (naive UTC), ``actor``, and the task's ``site_id, matter_code`` and
    approval's ``permit``."""
    township = scope.match("supervision").get("township_code")
    scope.require("supervision", "read")
    q = (select(CopyNotice.id, CopyNotice.case_id, CopyNotice.task_id, CopyNotice.department,
                CopyNotice.township_code, CopyNotice.at, CopyNotice.actor,
                SupervisionTask.site_id, SupervisionTask.matter_code, Approval.permit)
         .join(SupervisionTask, SupervisionTask.id == CopyNotice.task_id)
         .join(Approval, Approval.id == SupervisionTask.approval_id)
         .order_by(CopyNotice.at.desc(), CopyNotice.id.desc()))
    if township:
        q = q.where(CopyNotice.township_code == township)
    with engine.connect() as conn:
        frame = pd.read_sql(q, conn)
    frame["at"] = pd.to_datetime(frame["at"])
    return frame


# ------------------------------------------------------------------------ referrals
def own_bodies(engine: Engine, *, scope: Scope) -> set[str] | None:
    """The bodies a caller acts for: a dispatcher's body, the center of township staff's
    township; None for the roles that see every body."""
    with sessions(engine)() as s:
        return _own_bodies(s, scope)


def _own_bodies(s, scope: Scope) -> set[str] | None:
    if scope.role == "dispatcher":
        return {scope.body}
    if scope.role == "township":
        return set(s.scalars(select(Body.code).where(Body.kind == "township_center",
                                                     Body.township_code == scope.township)))
    if scope.role == "source":
        return set()
    return None


def refer_case(engine: Engine, case_id: int, version: int, to_body: str, reason: str, *,
               scope: Scope, tz: ZoneInfo, working_days: int = DEFAULT_ACK_WORKING_DAYS,
               at: dt.datetime | None = None) -> int:
    """Refer (移送) a case in ``scope`` to another body, with a reason: the case moves to
    ``to_body`` (transferred, `geo.cases`), and the referral waits for the receiving body's
    acknowledgement until `geo.handoff.ack_due` (``working_days`` working days, local
    calendar of ``tz``). ``at`` (naive UTC, default now) is for back-dated demo data.

    Returns the referral's id. Raises `LookupError` (case out of scope, unknown body),
    `geo.store.dispatching.ConflictError` (the case moved on since ``version``),
    `geo.cases.IllegalTransitionError` (a case in this state cannot be transferred, or no
    reason) and `ValueError` (the body is the case's own or the command center, or an
    earlier referral to the case's body is not yet acknowledged).
    """
    from geo.store.dispatching import _bump_case, _case, _release_teams

    at = at or utcnow()
    with sessions(engine).begin() as s:
        case, source = _case(s, case_id, scope, version)
        body = s.get(Body, to_body)
        if body is None:
            raise LookupError(f"unknown body {to_body!r}")
        if body.kind == "command_center":
            raise ValueError("a case goes back to the command center by returning it, not by "
                             "a referral")
        if to_body == case.body_code:
            raise ValueError(f"case {case_id} is with {to_body} already")
        waiting = s.scalar(select(Referral.id).where(
            Referral.case_id == case_id, Referral.to_body == case.body_code,
            Referral.acknowledged_at.is_(None)))
        if waiting is not None:
            raise ValueError(f"referral {waiting} of case {case_id} to {case.body_code} is "
                             "not acknowledged yet: acknowledge it (签收) before referring "
                             "the case on")
        before, from_body = case.status, case.body_code
        check_transition(before, "transferred", source, reason)
        _bump_case(s, case_id, version, status="transferred", body_code=to_body)
        rid = s.execute(insert(Referral).values(
            case_id=case_id, from_body=from_body or "", to_body=to_body, reason=reason.strip(),
            referred_by=scope.actor, referred_at=at,
            due_at=ack_due(at, tz, working_days)).returning(Referral.id)).scalar_one()
        s.add(AuditLog(at=at, actor=scope.actor, entity="case", entity_id=str(case_id),
                       action=REFER, from_state=before, to_state="transferred",
                       detail=json.dumps({"body": to_body, "reason": reason.strip(),
                                          "referral": rid}, ensure_ascii=False)))
        _release_teams(s, case_id, scope.actor, "case referred")
        return rid


def acknowledge_referral(engine: Engine, referral_id: int, *, scope: Scope,
                         at: dt.datetime | None = None) -> None:
    """The receiving body acknowledges (签收) a referral of a case in ``scope``
    (`geo.handoff.may_acknowledge`: its own dispatcher or township staff, or the command
    center); audited on the case. ``at``: naive UTC, default now.

    Raises `LookupError` (not in scope), `AccessDeniedError` (not the receiving body's),
    `geo.store.dispatching.ConflictError` (acknowledged by someone else just now) and
    `ValueError` (acknowledged already, or the case has left the body since).
    """
    from geo.store.dispatching import ConflictError

    at = at or utcnow()
    with sessions(engine).begin() as s:
        ref = s.get(Referral, referral_id)
        case = None if ref is None else s.get(Case, ref.case_id)
        if case is None or not scope.allows("cases", "read") or not scope.covers(
                {"township_code": case.township_code, "body_code": case.body_code}):
            raise LookupError(f"no referral {referral_id}")
        scope.require("cases", "change")
        if not may_acknowledge(scope.role, _own_bodies(s, scope) or (), ref.to_body):
            raise AccessDeniedError(f"{scope.actor} ({scope.role}) is not of {ref.to_body}, "
                                    "the body the case was referred to")
        if ref.acknowledged_at is not None:
            raise ValueError(f"referral {referral_id} was acknowledged by "
                             f"{ref.acknowledged_by} already")
        if case.body_code != ref.to_body or case.status in CLOSED_STATUSES:
            raise ValueError(f"case {case.id} is no longer with {ref.to_body}")
        done = s.execute(update(Referral).where(Referral.id == referral_id,
                                                Referral.acknowledged_at.is_(None))
                         .values(acknowledged_at=at, acknowledged_by=scope.actor))
        if done.rowcount != 1:
            raise ConflictError(f"referral {referral_id} was acknowledged by someone else "
                                "just now", "case", case.id)
        s.add(AuditLog(at=at, actor=scope.actor, entity="case", entity_id=str(case.id),
                       action=ACKNOWLEDGE, detail=json.dumps(
                           {"body": ref.to_body, "referral": referral_id})))


def _referrals_visible(s, scope: Scope):
    scope.require("referrals", "read")
    mine = _own_bodies(s, scope)
    if mine is None:
        return Referral.id > 0
    return or_(Referral.case_id.in_(select(Case.id).where(in_scope(scope))),
               Referral.from_body.in_(mine))


def referrals_frame(engine: Engine, now: dt.datetime, *, scope: Scope) -> pd.DataFrame:
    """The referrals in ``scope`` with their state at ``now`` (naive UTC;
    `geo.handoff.referral_states`), escalated and overdue ones first, then newest first.

    Columns: ``id, case_id, from_body, to_body, reason, referred_by, referred_at, due_at,
    acknowledged_at, acknowledged_by, escalated_at`` (instants naive UTC), ``case_body,
    case_status, matter_code, township_code, state``.
    """
    with sessions(engine)() as s:
        where = _referrals_visible(s, scope)
    q = (select(Referral.id, Referral.case_id, Referral.from_body, Referral.to_body,
                Referral.reason, Referral.referred_by, Referral.referred_at, Referral.due_at,
                Referral.acknowledged_at, Referral.acknowledged_by, Referral.escalated_at,
                Case.body_code.label("case_body"), Case.status.label("case_status"),
                Case.matter_code, Case.township_code)
         .join(Case, Case.id == Referral.case_id).where(where))
    with engine.connect() as conn:
        frame = pd.read_sql(q, conn)
    for col in ("referred_at", "due_at", "acknowledged_at", "escalated_at"):
        frame[col] = pd.to_datetime(frame[col])
    frame["state"] = referral_states(frame, now) if len(frame) else []
    rank = frame["state"].map({"escalated": 0, "overdue": 1, "pending": 2}).fillna(3)
    return (frame.assign(_rank=rank).sort_values(["_rank", "referred_at", "id"],
                                                  ascending=[True, False, False])
            .drop(columns="_rank").reset_index(drop=True))


def escalate_referrals(engine: Engine, now: dt.datetime, *, scope: Scope) -> list[int]:
    """Flag the referrals still unacknowledged at ``now`` (naive UTC) past their deadline,
    whose case is still with the receiving body, as escalated to the command center (once
    each), audited on the case. Returns their ids."""
    scope.require("referrals", "escalate")
    with sessions(engine).begin() as s:
        late = s.execute(select(Referral.id, Referral.case_id, Referral.to_body)
                         .join(Case, Case.id == Referral.case_id)
                         .where(Referral.acknowledged_at.is_(None),
                                Referral.escalated_at.is_(None), Referral.due_at < now,
                                Case.body_code == Referral.to_body,
                                Case.status.not_in(CLOSED_STATUSES))
                         .order_by(Referral.id)).all()
        for rid, case_id, body in late:
            s.execute(update(Referral).where(Referral.id == rid).values(escalated_at=now))
            audit(s, scope.actor, "case", str(case_id), ESCALATE,
                  detail=json.dumps({"body": body, "referral": rid}))
    return [r.id for r in late]
