"""What the team status board (`geo.teamboard`) needs beyond the teams themselves: each
team's latest status change and the case it is on, for the teams in the caller's scope."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, func, select

from geo.access import Scope
from geo.store import in_scope, sessions
from geo.store.dispatching import ACTIVE
from geo.store.models import Assignment, AuditLog, Case, Matter, Team
from geo.store.scoping import visible


def team_activity(engine: Engine, *, scope: Scope) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The latest status change and the active assignments of the teams in ``scope``.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    scope : geo.access.Scope
        The caller's scope: only its teams are read (`AccessDeniedError` for a role that
        may not read teams), and only the cases it may read are named.

    Returns
    -------
    history : pandas.DataFrame
        One row per team whose status changed since it was loaded: ``team_id``,
        ``to_state``, ``at`` (naive UTC), from the audit log.
    assignments : pandas.DataFrame
        The active assignments (dispatched, en route, on scene) on cases in ``scope``:
        ``team_id``, ``case_id``, ``dispatched_at`` (naive UTC), ``matter_code``,
        ``matter_name``.
    """
    teams = select(Team.team_id).where(visible(scope, "teams"))
    latest = (select(func.max(AuditLog.id)).where(
        AuditLog.entity == "team", AuditLog.to_state.is_not(None),
        AuditLog.entity_id.in_(teams)).group_by(AuditLog.entity_id))
    with sessions(engine)() as s:
        history = s.execute(select(AuditLog.entity_id, AuditLog.to_state, AuditLog.at)
                            .where(AuditLog.id.in_(latest))).all()
        active = s.execute(
            select(Assignment.team_id, Assignment.case_id, Assignment.dispatched_at,
                   Case.matter_code, Matter.name)
            .join(Case, Case.id == Assignment.case_id)
            .outerjoin(Matter, Matter.code == Case.matter_code)
            .where(Assignment.status.in_(ACTIVE), Assignment.team_id.in_(teams),
                   in_scope(scope))).all()
    return (pd.DataFrame(history, columns=["team_id", "to_state", "at"]),
            pd.DataFrame(active, columns=["team_id", "case_id", "dispatched_at",
                                          "matter_code", "matter_name"]))
