"""`geo.access` in SQL: the condition that keeps the rows a scope may read, per object.

Every store read of cases, teams, sites and inspections goes through `visible`, which
fails closed: a role that may not read an object kind gets `AccessDeniedError`, and a
role's match on a field this module does not know is refused rather than ignored.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select, true

from geo.access import AccessDeniedError, Scope
from geo.store.models import (
    Alert,
    Body,
    Case,
    CheckupRequest,
    Inspection,
    JointParticipant,
    JointVisit,
    Site,
    Team,
)


def _joined_by(bodies):
    """Cases on whose joint operation one of ``bodies`` (a select of body codes) takes part
    (issue 14: a participating body sees the case)."""
    return Case.id.in_(select(JointParticipant.case_id).where(
        JointParticipant.body_code.in_(bodies)))


#: object -> field of `Scope.match` -> a function of the value giving the SQL condition
_CONDITIONS = {
    "cases": {
        "township_code": lambda v: or_(Case.township_code == v, _joined_by(
            select(Body.code).where(Body.township_code == v))),
        "body_code": lambda v: or_(Case.body_code == v, _joined_by([v])),
        "source": lambda v: Case.alert_id.in_(select(Alert.id).where(Alert.source == v)),
    },
    "teams": {
        "body_code": lambda v: Team.body_code == v,
        "township_code": lambda v: Team.body_code.in_(
            select(Body.code).where(Body.township_code == v)),
    },
    "sites": {"township_code": lambda v: Site.township_code == v},
    "inspections": {"township_code": lambda v: Inspection.site_id.in_(
        select(Site.site_id).where(Site.township_code == v))},
    # issue 14: check-ups by appointment (预约体检) and joint visits
    "checkups": {"township_code": lambda v: CheckupRequest.township_code == v,
                 "source": lambda v: CheckupRequest.source == v},
    "visits": {"township_code": lambda v: JointVisit.township_code == v},
}


def visible(scope: Scope, obj: str):
    """The SQL condition on the table of ``obj`` (``cases``, ``teams``, ``sites``,
    ``inspections``) that keeps the rows ``scope`` may read; `AccessDeniedError` where the
    role may not read them at all."""
    scope.require(obj, "read")
    conditions = []
    for field, value in scope.match(obj).items():
        make = _CONDITIONS[obj].get(field)
        if make is None:  # a rule the store cannot apply: refuse, never show everything
            raise AccessDeniedError(f"no way to limit {obj} to {field} = {value}")
        conditions.append(make(value))
    return and_(true(), *conditions)
