"""Acknowledgements of new high-severity alerts: who on duty has seen a case that needs
one (`geo.cases.needs_acknowledgement`), recorded as the case's audit entry.

An acknowledgement is an entry ``acknowledged`` in the audit log of the case, by the
acknowledging user: no table of its own. It changes nothing else about the case (not its
state, not its version), so it never makes another user's change of the case a conflict.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, String, and_, cast, exists, select, update

from geo.access import Scope
from geo.cases import ACKNOWLEDGED_SEVERITIES, AWAITING_ACTION
from geo.store import in_scope, sessions
from geo.store.models import Alert, AuditLog, Case, Matter

#: the audit action of an acknowledgement
ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True)
class Acknowledgement:
    """The acknowledgement of a case: the first one, whoever asks.

    Parameters
    ----------
    case_id : int
        The case.
    actor : str
        Who acknowledged it first.
    at : datetime.datetime
        When (naive UTC).
    new : bool
        Whether this call recorded it (False: someone had already acknowledged the case).
    """

    case_id: int
    actor: str
    at: dt.datetime
    new: bool


def _first(s, case_id: int) -> AuditLog | None:
    return s.scalars(select(AuditLog).where(
        AuditLog.entity == "case", AuditLog.entity_id == str(case_id),
        AuditLog.action == ACKNOWLEDGED).order_by(AuditLog.id).limit(1)).first()


def acknowledge(engine: Engine, case_id: int, *, scope: Scope) -> Acknowledgement:
    """Record that ``scope.actor`` has seen the case (an audit entry ``acknowledged``).

    Idempotent: once a case is acknowledged, acknowledging it again, by anyone, records
    nothing and returns the first acknowledgement. Two users acknowledging at the same
    moment take turns on the case's row, so one of them is first and the other is told.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    case_id : int
        The case.
    scope : geo.access.Scope
        The caller's scope: they must be allowed to change the case (`geo.access`).

    Returns
    -------
    Acknowledgement
        Who acknowledged the case first, when, and whether it was this call.

    Raises
    ------
    LookupError
        The case does not exist or is outside ``scope``.
    geo.access.AccessDeniedError
        The caller's role may not change cases (a planner).
    """
    with sessions(engine).begin() as s:
        # first a write on the case's row (that changes nothing): a second acknowledgement
        # of the same case at the same moment waits here for this one to commit
        locked = s.execute(update(Case).where(Case.id == case_id)
                           .values(version=Case.version)).rowcount
        case = s.get(Case, case_id) if locked else None
        if case is None:
            raise LookupError(f"no case {case_id}")
        scope.check_change({"id": case_id, "township_code": case.township_code,
                            "body_code": case.body_code})
        first = _first(s, case_id)
        if first is not None:
            return Acknowledgement(case_id, first.actor, first.at, new=False)
        entry = AuditLog(actor=scope.actor, entity="case", entity_id=str(case_id),
                         action=ACKNOWLEDGED,
                         detail=json.dumps({"severity": case.severity}))
        s.add(entry)
        s.flush()
        return Acknowledgement(case_id, entry.actor, entry.at, new=True)


def unacknowledged_high(engine: Engine, *, scope: Scope,
                        since: dt.datetime | None) -> pd.DataFrame:
    """The cases in ``scope`` nobody has acted on yet (`geo.cases.AWAITING_ACTION`) of a
    severity someone must acknowledge (`geo.cases.ACKNOWLEDGED_SEVERITIES`), stored at or
    after ``since`` (naive UTC; None: any time), that nobody has acknowledged yet, oldest
    first.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    scope : geo.access.Scope
        The caller's scope (the cases it may read).
    since : datetime.datetime or None
        The earliest time stored (`geo.cases.acknowledgement_since`).

    Returns
    -------
    pandas.DataFrame
        ``id, version, status, severity, lon, lat`` (WGS84 degrees), ``matter_code,
        matter_name, township_code, township_name, description, opened_at`` (naive UTC).
    """
    acknowledged = exists().where(and_(
        AuditLog.entity == "case", AuditLog.action == ACKNOWLEDGED,
        AuditLog.entity_id == cast(Case.id, String)))
    q = (select(Case.id, Case.version, Case.status, Case.severity, Case.lon, Case.lat,
                Case.matter_code, Matter.name.label("matter_name"), Case.township_code,
                Case.township_name, Alert.description, Case.opened_at)
         .join(Alert, Alert.id == Case.alert_id)
         .outerjoin(Matter, Matter.code == Case.matter_code)
         .where(in_scope(scope), Case.severity.in_(sorted(ACKNOWLEDGED_SEVERITIES)),
                Case.status.in_(sorted(AWAITING_ACTION)), ~acknowledged))
    if since is not None:
        q = q.where(Case.routed_at >= since)
    with engine.connect() as conn:
        frame = pd.read_sql(q.order_by(Case.opened_at, Case.id), conn)
    frame["opened_at"] = pd.to_datetime(frame["opened_at"])
    return frame
