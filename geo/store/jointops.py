"""Joint operations and seized items of a case in the store (issue 14, practice 4).

The rules are `geo.jointops`; this module applies them with the caller's scope and writes
every change to the audit log of the case (and of a team sent):

- reading: whoever reads the case (`geo.store.in_scope`; a participating body's dispatcher
  and township staff read the cases their body takes part in, `geo.store.scoping`) reads its
  operation and seized items;
- inviting bodies and observers: whoever may change the case (its lead body, the command
  center, an administrator);
- sending a team: a participating body sends its own teams (those its scope may change);
- recording seized items: the lead or a participating body.

Only the lead body moves the case (closing it included): a participant's scope does not
cover the case for changes (`geo.access.Scope.check_change`). Times are naive UTC.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from geo.access import Scope
from geo.jointops import (
    SEIZABLE,
    TEAM_JOINS,
    JointOpError,
    Totals,
    check_item,
    check_items,
    check_joinable,
    check_observer,
    check_participant,
    check_seizable,
    check_team_joins,
    totals,
)
from geo.store import audit, in_scope, sessions
from geo.store.models import (
    Alert,
    Assignment,
    Body,
    Case,
    JointParticipant,
    SeizedItem,
    Team,
    utcnow,
)
from geo.store.scoping import visible


def _case(s, case_id: int, scope: Scope) -> tuple[Case, str]:
    """The case in ``scope`` and its alert's source; `LookupError` outside the scope."""
    scope.require("jointops", "read")
    row = s.execute(select(Case, Alert.source).join(Alert, Alert.id == Case.alert_id)
                    .where(Case.id == case_id, in_scope(scope))).first()
    if row is None:
        raise LookupError(f"no case {case_id}")
    return row[0], row[1]


def _leads(scope: Scope, case: Case) -> bool:
    """Whether ``scope`` may change ``case`` itself: its lead body's or a role acting on
    every case."""
    return scope.may_change and scope.covers({"township_code": case.township_code,
                                              "body_code": case.body_code})


def _own_bodies(s, scope: Scope) -> set[str] | None:
    """The bodies a scope acts for: a dispatcher's body, the township staff's township
    center(s); None for a role acting for every body."""
    if scope.role == "dispatcher":
        return {scope.body}
    if scope.role == "township":
        return set(s.scalars(select(Body.code).where(Body.township_code == scope.township)))
    return None


def _participants(s, case_id: int) -> list[JointParticipant]:
    return list(s.scalars(select(JointParticipant).where(JointParticipant.case_id == case_id)
                          .order_by(JointParticipant.id)))


def _acting_body(s, scope: Scope, case: Case, bodies: list[str]) -> str | None:
    """The body of the operation on whose behalf ``scope`` records: the lead where the
    scope may change the case, else its participating body; None where it is neither."""
    if _leads(scope, case):
        return case.body_code
    own = _own_bodies(s, scope) or set()
    mine = sorted(own & set(bodies))
    return mine[0] if mine else None


def operation(engine: Engine, case_id: int, *, scope: Scope) -> dict:
    """The joint operation of a case in ``scope``: lead, participating bodies, observers,
    the teams sent (each with its body), seized items with their totals, and what the caller
    may do on it.

    Returns
    -------
    dict
        ``case_id, status, lead`` (body code), ``participants`` and ``observers`` (lists of
        dicts: ``body_code, name, added_by, added_at``), ``teams`` (assignments: ``team_id,
        body_code, status, dispatched_at, cleared_at``), ``items`` (`list_seizures`),
        ``totals`` (`geo.jointops.Totals`), ``may_invite`` (bool), ``team_bodies`` (the
        bodies whose available teams the caller may send), ``may_seize`` (bool).

    Raises
    ------
    LookupError
        The case is not in the scope.
    """
    with sessions(engine)() as s:
        case, source = _case(s, case_id, scope)
        rows = _participants(s, case_id)
        bodies = [p.body_code for p in rows if p.body_code]
        teams = s.execute(select(Assignment.team_id, Team.body_code, Assignment.status,
                                 Assignment.dispatched_at, Assignment.cleared_at)
                          .join(Team, Team.team_id == Assignment.team_id)
                          .where(Assignment.case_id == case_id).order_by(Assignment.id)).all()
        acting = scope.allows("jointops", "change")
        try:
            check_joinable(case.status, source)
            joinable = True
        except JointOpError:
            joinable = False
        own = _own_bodies(s, scope)
        team_bodies = ({b for b in bodies if own is None or b in own}
                       if acting and case.status in TEAM_JOINS else set())
        may_seize = (acting and case.status in SEIZABLE
                     and _acting_body(s, scope, case, bodies) is not None)
        items = _items(s, case_id)
        return {
            "case_id": case_id, "status": case.status, "lead": case.body_code,
            "participants": [_record(p) for p in rows if p.role == "participant"],
            "observers": [_record(p) for p in rows if p.role == "observer"],
            "teams": [dict(zip(("team_id", "body_code", "status", "dispatched_at",
                                "cleared_at"), t, strict=True)) for t in teams],
            "items": items, "totals": totals(items),
            "may_invite": acting and joinable and _leads(scope, case),
            "team_bodies": sorted(team_bodies), "may_seize": may_seize,
        }


def _record(p: JointParticipant) -> dict:
    return {"body_code": p.body_code, "name": p.name, "added_by": p.added_by,
            "added_at": p.added_at}


def add_participant(engine: Engine, case_id: int, body_code: str, *, scope: Scope) -> None:
    """A body joins the operation on a case in ``scope`` (only the lead, or a role acting on
    every case, invites), audited on the case as ``join``.

    Raises
    ------
    LookupError
        The case is not in the scope.
    AccessDeniedError
        The role may not change joint operations, or the scope does not lead the case.
    JointOpError
        `geo.jointops.check_joinable`, `geo.jointops.check_participant`.
    """
    scope.require("jointops", "change")
    with sessions(engine).begin() as s:
        case, source = _case(s, case_id, scope)
        scope.check_change({"id": case_id, "township_code": case.township_code,
                            "body_code": case.body_code})
        check_joinable(case.status, source)
        body = s.get(Body, body_code) if isinstance(body_code, str) else None
        on = [p.body_code for p in _participants(s, case_id) if p.body_code]
        check_participant(str(body_code), body.kind if body else None, case.body_code, on)
        s.add(JointParticipant(case_id=case_id, body_code=body.code, name=body.name,
                               role="participant", added_by=scope.actor, added_at=utcnow()))
        audit(s, scope.actor, "case", str(case_id), "join", detail=json.dumps(
            {"joined": body.code}, ensure_ascii=False))
        _flush(s, "body_code", body.code)


def add_observer(engine: Engine, case_id: int, name: str, *, scope: Scope) -> str:
    """An organisation that is not an enforcement body (the power company, public security
    …) is recorded by name on the operation of a case in ``scope`` (by its lead), audited as
    ``observer``; returns the name as kept (cleaned).

    Raises
    ------
    LookupError, AccessDeniedError, JointOpError
        As `add_participant` (`geo.jointops.check_observer` for the name).
    """
    scope.require("jointops", "change")
    with sessions(engine).begin() as s:
        case, source = _case(s, case_id, scope)
        scope.check_change({"id": case_id, "township_code": case.township_code,
                            "body_code": case.body_code})
        check_joinable(case.status, source)
        rows = _participants(s, case_id)
        name = check_observer(name, [p.name for p in rows if p.role == "observer"])
        if any(p.name == name for p in rows):
            raise JointOpError(f"{name} is on the operation already", "already_on", "name",
                               name=name)
        s.add(JointParticipant(case_id=case_id, body_code=None, name=name, role="observer",
                               added_by=scope.actor, added_at=utcnow()))
        audit(s, scope.actor, "case", str(case_id), "observer", detail=json.dumps(
            {"observer": name}, ensure_ascii=False))
        _flush(s, "name", name)
        return name


def _flush(s, field: str, value: str) -> None:
    """Write now, so that a participant or observer added meanwhile by someone else is
    refused as on the operation already (the unique constraints), not as a crash."""
    try:
        s.flush()
    except IntegrityError:
        raise JointOpError(f"{value} is on the operation already", "already_on",
                           field) from None


def assign_team(engine: Engine, case_id: int, team_id: str, team_version: int, *,
                scope: Scope) -> int:
    """A participating body sends one of its available teams to the joint operation of a
    case in ``scope``; returns the assignment id. The case keeps its state (the lead
    dispatched already, `geo.jointops.check_team_joins`); the team becomes dispatched and
    follows its steps as any team. Audited on the case (``assign``) and on the team.

    Raises
    ------
    LookupError
        The case, or the team, is not in the scope.
    AccessDeniedError
        The role may not change joint operations or teams.
    JointOpError
        `geo.jointops.check_team_joins`.
    geo.store.dispatching.ConflictError
        The team is no longer available at ``team_version``.
    """
    from geo.store.dispatching import ConflictError

    scope.require("jointops", "change")
    with sessions(engine).begin() as s:
        case, _ = _case(s, case_id, scope)
        team = s.scalar(select(Team).where(Team.team_id == team_id, visible(scope, "teams")))
        if team is None:
            raise LookupError(f"no team {team_id}")
        scope.require("teams", "change")
        on = [p.body_code for p in _participants(s, case_id) if p.body_code]
        check_team_joins(case.status, team.body_code, case.body_code, on)
        res = s.execute(update(Team).where(Team.team_id == team_id,
                                           Team.version == team_version,
                                           Team.status == "available")
                        .values(status="dispatched", version=team_version + 1))
        if res.rowcount != 1:
            raise ConflictError(f"team {team_id} is no longer available (assigned or changed "
                                "by someone else just now)", "team", team_id)
        assignment = s.execute(insert(Assignment).values(
            case_id=case_id, team_id=team_id, actor=scope.actor, status="dispatched",
            dispatched_at=utcnow()).returning(Assignment.id)).scalar_one()
        audit(s, scope.actor, "case", str(case_id), "assign", detail=json.dumps(
            {"team": team_id, "joint": team.body_code}, ensure_ascii=False))
        audit(s, scope.actor, "team", team_id, "assign", "available", "dispatched",
              json.dumps({"case": case_id}))
        return assignment


def add_seizures(engine: Engine, case_id: int, rows: Iterable[Mapping], *,
                 scope: Scope) -> list[dict]:
    """Record items seized on a case in ``scope``, all or none, each audited on the case
    (``seize``); returns them as stored (`list_seizures` rows).

    Parameters
    ----------
    engine : Engine
        The store.
    case_id : int
        The case.
    rows : iterable of Mapping
        The items as sent: ``item, quantity, unit, value_yuan`` (estimated value of the
        line, yuan), optional ``note`` (`geo.jointops.check_item`).
    scope : Scope
        The caller's: the lead body, or a body taking part in the operation.

    Raises
    ------
    LookupError
        The case is not in the scope.
    AccessDeniedError
        The role may not change joint operations, or the caller's body is neither the lead
        nor a participant.
    JointOpError
        A row or field refused (`geo.jointops.check_item`, naming row and field), or the
        case's state (`geo.jointops.check_seizable`).
    """
    from geo.access import AccessDeniedError

    scope.require("jointops", "change")
    rows = list(rows)
    if not rows:
        raise JointOpError("no item sent", "missing", "items")
    # one item's refusal names its field; several items' name the row too
    items = check_items(rows) if len(rows) > 1 else [check_item(rows[0])]
    with sessions(engine).begin() as s:
        case, _ = _case(s, case_id, scope)
        bodies = [p.body_code for p in _participants(s, case_id) if p.body_code]
        body = _acting_body(s, scope, case, bodies)
        if body is None:
            raise AccessDeniedError(f"{scope.actor} ({scope.role}) neither leads nor takes "
                                    f"part in the operation on case {case_id}")
        check_seizable(case.status)
        ids = []
        for it in items:
            ids.append(s.execute(insert(SeizedItem).values(
                case_id=case_id, item=it.item, quantity=float(it.quantity), unit=it.unit,
                value_fen=it.value_fen, note=it.note, body_code=body,
                recorded_by=scope.actor, recorded_at=utcnow())
                .returning(SeizedItem.id)).scalar_one())
            audit(s, scope.actor, "case", str(case_id), "seize", detail=json.dumps(
                {"item": it.item, "quantity": f"{it.quantity:f}", "unit": it.unit,
                 "value_yuan": f"{it.value_yuan:.2f}", "by": body}, ensure_ascii=False))
        s.flush()
        return [r for r in _items(s, case_id) if r["id"] in set(ids)]


def _items(s, case_id: int) -> list[dict]:
    out = []
    for it in s.scalars(select(SeizedItem).where(SeizedItem.case_id == case_id)
                        .order_by(SeizedItem.id)):
        out.append({"id": it.id, "item": it.item, "quantity": it.quantity, "unit": it.unit,
                    "value_fen": int(it.value_fen), "note": it.note or "",
                    "body_code": it.body_code, "recorded_by": it.recorded_by,
                    "recorded_at": it.recorded_at})
    return out


def list_seizures(engine: Engine, case_id: int, *, scope: Scope) -> tuple[list[dict], Totals]:
    """The items seized on a case in ``scope``, oldest first (``id, item, quantity, unit,
    value_fen, note, body_code, recorded_by, recorded_at``), and their totals.

    Raises
    ------
    LookupError
        The case is not in the scope.
    """
    with sessions(engine)() as s:
        _case(s, case_id, scope)
        items = _items(s, case_id)
    return items, totals(items)


def joined_cases(engine: Engine, *, scope: Scope) -> list[int]:
    """The cases in ``scope`` on whose joint operation the caller's own body takes part (not
    as lead), newest first; none for a role acting for every body."""
    scope.require("jointops", "read")
    with sessions(engine)() as s:
        own = _own_bodies(s, scope)
        if not own:
            return []
        return list(s.scalars(
            select(Case.id).where(in_scope(scope), Case.body_code.not_in(own),
                                  Case.id.in_(select(JointParticipant.case_id).where(
                                      JointParticipant.body_code.in_(own))))
            .order_by(Case.id.desc())))


def seized_totals(engine: Engine, *, scope: Scope) -> dict[int, int]:
    """Estimated value seized per case in ``scope`` (fen), for the cases with seizures."""
    with sessions(engine)() as s:
        scope.require("jointops", "read")
        return {int(c): int(v) for c, v in s.execute(
            select(SeizedItem.case_id, func.sum(SeizedItem.value_fen))
            .join(Case, Case.id == SeizedItem.case_id).where(in_scope(scope))
            .group_by(SeizedItem.case_id))}
