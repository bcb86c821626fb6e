"""Writes of the dispatch workflow: assignments, case and team state changes, positions.

The writes a dispatcher asks for check the version of the row they were shown (optimistic
concurrency): `assign` (the case's and the team's), `transition_case` and the moves built
on it (the case's) and `set_team_status` (the team's). When two dispatchers act on the same
team or case at once, exactly one succeeds and the other gets `ConflictError`. The knock-on
changes of a checked write bump the other rows' versions without checking them (teams
released when their case closes, a case back in the queue when its last team is recalled),
so a dispatcher still looking at those rows gets `ConflictError` on their next move.
`add_positions` appends position fixes and checks no version. State rules come from
`geo.cases`; every change is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pandas as pd
from sqlalchemy import Engine, func, insert, select, update

from geo.access import Scope
from geo.cases import (
    RELEASES_TEAMS,
    IllegalTransitionError,
    check_team_transition,
    check_transition,
)
from geo.crs import to_metric
from geo.store import audit, sessions
from geo.store.models import (
    Alert,
    Assignment,
    Body,
    Case,
    Matter,
    Team,
    TeamPosition,
    Township,
    utcnow,
)
from geo.store.scoping import visible

ACTIVE = ("dispatched", "en_route", "on_scene")
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
TEAM_TIMESTAMP = {"en_route": "en_route_at", "on_scene": "on_scene_at",
                  "available": "cleared_at"}


class ConflictError(RuntimeError):
    """Someone else changed the team or case first; reload and try again.

    Parameters
    ----------
    message : str
        The English explanation (for logs and the API).
    entity : str, default "case"
        What changed meanwhile: ``case`` or ``team``.
    entity_id : object, optional
        Its id.
    """

    def __init__(self, message: str, entity: str = "case", entity_id: object = None) -> None:
        super().__init__(message)
        self.entity = entity
        self.entity_id = entity_id


def _bump_case(s, case_id: int, version: int, **values) -> None:
    res = s.execute(update(Case).where(Case.id == case_id, Case.version == version)
                    .values(version=version + 1, **values))
    if res.rowcount != 1:
        raise ConflictError(f"case {case_id} was changed by someone else just now; reload it",
                            "case", case_id)


def _team(s, team_id: str, scope: Scope) -> Team:
    """The team, if ``scope`` may change it (as if it did not exist outside the scope)."""
    team = s.scalar(select(Team).where(Team.team_id == team_id, visible(scope, "teams")))
    if team is None:
        raise LookupError(f"no team {team_id}")
    scope.require("teams", "change")
    return team


def _case(s, case_id: int, scope: Scope, version: int | None = None) -> tuple[Case, str]:
    """The case and its alert's source, if ``scope`` may change it (`Scope.check_change`);
    `ConflictError` where it is no longer at ``version`` (someone acted first: that, not
    whether the move would still be allowed, is what the caller needs to hear)."""
    row = s.execute(select(Case, Alert.source).join(Alert).where(Case.id == case_id)).first()
    if row is None:
        raise LookupError(f"no case {case_id}")
    case = row[0]
    scope.check_change({"id": case_id, "township_code": case.township_code,
                        "body_code": case.body_code})
    if version is not None and case.version != version:
        raise ConflictError(f"case {case_id} was changed by someone else just now; reload it",
                            "case", case_id)
    return case, row[1]


def assign(engine: Engine, case_id: int, case_version: int, team_id: str, team_version: int,
           actor: str, *, scope: Scope) -> int:
    """Send an available team to a case (the case becomes dispatched); returns the
    assignment id. Raises `ConflictError` if either changed since it was read."""
    with sessions(engine).begin() as s:
        case, source = _case(s, case_id, scope, case_version)
        before = case.status
        if before != "dispatched":
            check_transition(before, "dispatched", source)
        team = _team(s, team_id, scope)
        domain = s.scalar(select(Matter.domain).where(Matter.code == case.matter_code))
        skills = {x.strip() for x in team.skills.split(",")}
        if domain is not None and domain not in skills:
            raise IllegalTransitionError(f"team {team_id} lacks the skill {domain} that "
                                         f"matter {case.matter_code} needs", "lacks_skill",
                                         team=team_id, domain=domain,
                                         matter=case.matter_code)
        res = s.execute(update(Team).where(Team.team_id == team_id,
                                           Team.version == team_version,
                                           Team.status == "available")
                        .values(status="dispatched", version=team_version + 1))
        if res.rowcount != 1:
            raise ConflictError(f"team {team_id} is no longer available (assigned or changed "
                                "by someone else just now)", "team", team_id)
        # the case row is always versioned, also when it already has a team
        _bump_case(s, case_id, case_version, status="dispatched")
        assignment = s.execute(insert(Assignment).values(
            case_id=case_id, team_id=team_id, actor=actor, status="dispatched",
            dispatched_at=utcnow()).returning(Assignment.id)).scalar_one()
        audit(s, actor, "case", str(case_id), "assign", before, "dispatched",
              json.dumps({"team": team_id}, ensure_ascii=False))
        audit(s, actor, "team", team_id, "assign", "available", "dispatched",
              json.dumps({"case": case_id}))
        return assignment


def transition_case(engine: Engine, case_id: int, version: int, target: str, actor: str,
                    reason: str = "", *, scope: Scope, detail: dict | None = None,
                    **values) -> None:
    """Move a case in ``scope`` to ``target`` (checked by `geo.cases.check_transition`).

    The audit entry's detail is a JSON object: the ``reason`` (where one was given) and
    ``detail`` (what the move refers to: ``body``, ``township``, ``into``, ``days``), so
    that it can be told in words in any language.
    """
    with sessions(engine).begin() as s:
        case, source = _case(s, case_id, scope, version)
        before = case.status
        check_transition(before, target, source, reason)
        _bump_case(s, case_id, version, status=target, **values)
        said = {"reason": reason.strip()} if (reason or "").strip() else {}
        audit(s, actor, "case", str(case_id), "transition", before, target,
              json.dumps({**said, **(detail or {})}, ensure_ascii=False))
        if target in RELEASES_TEAMS:
            _release_teams(s, case_id, actor, f"case {target}")
        if target == "closed":  # issue 14: 抄告 to the approving department, where due
            from geo.store.handoff import record_copy_notice

            record_copy_notice(s, case_id, scope=scope)


def _release_teams(s, case_id: int, actor: str, why: str) -> None:
    """End the case's active assignments and make their teams available again."""
    for a in s.scalars(select(Assignment).where(Assignment.case_id == case_id,
                                                Assignment.status.in_(ACTIVE))):
        team = s.get(Team, a.team_id)
        a.status, a.cleared_at = "cancelled", utcnow()
        if team.status in ACTIVE:
            audit(s, actor, "team", team.team_id, "release", team.status, "available", why)
            team.status, team.version = "available", team.version + 1


def return_case(engine: Engine, case_id: int, version: int, actor: str, reason: str, *,
                scope: Scope) -> None:
    """Not this body's matter: back to the command center for re-routing, with a reason."""
    with sessions(engine)() as s:
        command = s.scalar(select(Body.code).where(Body.kind == "command_center"))
    transition_case(engine, case_id, version, "returned", actor, reason, scope=scope,
                    body_code=command, detail={"body": command})


def reroute_case(engine: Engine, case_id: int, version: int, body_code: str,
                 actor: str, *, scope: Scope) -> None:
    """The command center sends a returned case to another body (only roles that may
    ``reroute`` cases: `geo.access`)."""
    with sessions(engine)() as s:
        _case(s, case_id, scope)
        scope.require("cases", "reroute")
        if s.get(Body, body_code) is None:
            raise LookupError(f"unknown body {body_code!r}")
    transition_case(engine, case_id, version, "routed", actor, scope=scope,
                    body_code=body_code, detail={"body": body_code})


def transfer_case(engine: Engine, case_id: int, version: int, township_code: str,
                  township_name: str | None, actor: str, reason: str, *,
                  scope: Scope) -> None:
    """A dispatcher confirms a (near-border) case for the neighbouring township (its name
    as the townships layer has it where ``township_name`` is None)."""
    with sessions(engine)() as s:
        center = s.scalar(select(Body.code).where(Body.kind == "township_center",
                                                  Body.township_code == township_code))
        if township_name is None:
            township_name = s.scalar(select(Township.name).where(
                Township.code == township_code)) or township_code
    if center is None:
        raise LookupError(f"township {township_code} has no enforcement center")
    transition_case(engine, case_id, version, "transferred", actor, reason, scope=scope,
                    township_code=township_code, township_name=township_name,
                    body_code=center, detail={"township": township_code, "body": center})


def merge_case(engine: Engine, case_id: int, version: int, into: int, actor: str, *,
               scope: Scope) -> None:
    """Close a duplicate into the case it repeats (an open case in scope other than itself)."""
    with sessions(engine)() as s:
        target = s.get(Case, into)
    if (into == case_id or target is None or target.status in ("closed", "merged")
            or not scope.covers({"township_code": target.township_code,
                                 "body_code": target.body_code})):
        raise LookupError(f"case {into} is not another open case to merge into")
    transition_case(engine, case_id, version, "merged", actor, f"duplicate of case {into}",
                    scope=scope, detail={"into": into})


def set_team_status(engine: Engine, team_id: str, version: int, target: str,
                    actor: str, *, scope: Scope) -> None:
    """Move a team in ``scope`` through available -> dispatched -> en route -> on scene ->
    available, stamping its open assignment."""
    with sessions(engine).begin() as s:
        team = _team(s, team_id, scope)
        before = team.status
        check_team_transition(before, target)
        if target == "dispatched":
            raise IllegalTransitionError("a team is dispatched by assigning it to a case",
                                         "dispatch_by_assigning", team=team_id)
        res = s.execute(update(Team).where(Team.team_id == team_id, Team.version == version)
                        .values(status=target, version=version + 1))
        if res.rowcount != 1:
            raise ConflictError(f"team {team_id} was changed by someone else just now", "team",
                                team_id)
        active = s.scalars(select(Assignment).where(Assignment.team_id == team_id,
                                                    Assignment.status.in_(ACTIVE))).first()
        recalled = active is not None and target == "available" and before in (
            "dispatched", "en_route")
        if recalled:
            active.status, active.cleared_at = "cancelled", utcnow()
            _back_to_queue(s, active.case_id, actor, team_id)
        elif active is not None and target in TEAM_TIMESTAMP:
            setattr(active, TEAM_TIMESTAMP[target], utcnow())
            active.status = "cleared" if target == "available" else target
        elif active is not None and target == "off_duty":
            active.status, active.cleared_at = "cancelled", utcnow()
        audit(s, actor, "team", team_id, "status", before, target,
              json.dumps({"case": active.case_id} if active else {}))


def _back_to_queue(s, case_id: int, actor: str, team_id: str) -> None:
    """A dispatched case whose last team (``team_id``) was recalled goes back to the queue
    (routed)."""
    s.flush()
    case = s.get(Case, case_id)
    others = s.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.case_id == case_id, Assignment.status.in_(ACTIVE)))
    if case is not None and case.status == "dispatched" and not others:
        check_transition("dispatched", "routed")
        case.status, case.version = "routed", case.version + 1
        audit(s, actor, "case", str(case_id), "recall", "dispatched", "routed",
              json.dumps({"team": team_id}))


def add_positions(engine: Engine, fixes: list[dict], *, scope: Scope) -> int:
    """Store position fixes (team_id, lon, lat WGS84, at naive UTC) of teams in ``scope``;
    returns how many. All or none: an unknown team, or one out of scope, is a
    `LookupError` naming it."""
    scope.require("teams", "change")
    if not fixes:
        return 0
    latest = utcnow() + FUTURE_TOLERANCE
    future = sorted({f["team_id"] for f in fixes if f["at"] > latest})
    if future:
        raise ValueError(f"position fix(es) in the future for {', '.join(future)}: check the "
                         "clock or the time zone")
    with sessions(engine).begin() as s:
        known = set(s.scalars(select(Team.team_id).where(visible(scope, "teams"))))
        unknown = sorted({f["team_id"] for f in fixes} - known)
        if unknown:
            raise LookupError(f"unknown team(s): {', '.join(unknown)}")
        s.execute(insert(TeamPosition), fixes)
        for team_id, n in sorted(Counter(f["team_id"] for f in fixes).items()):
            audit(s, scope.actor, "team", team_id, "position", detail=json.dumps({"fixes": n}))
    return len(fixes)


def teams_frame(engine: Engine, metric: str | None, *, scope: Scope) -> pd.DataFrame:
    """Teams in ``scope`` with their latest position (else their base; ``lon, lat`` WGS84
    degrees), the fix time, open assignments and version; ``x, y`` in metres of ``metric``
    (the district's metric CRS, `geo.crs.metric_crs_of` its townships), no ``x, y`` where
    ``metric`` is None (a caller that needs only lon/lat)."""
    import shapely

    keep = visible(scope, "teams")
    with sessions(engine)() as s:
        teams = s.execute(select(Team.team_id, Team.name, Team.body_code, Team.skills,
                                 Team.status, Team.version, Team.geom).where(keep)
                          .order_by(Team.team_id)).all()
        last = (select(TeamPosition.team_id, func.max(TeamPosition.at).label("at"))
                .group_by(TeamPosition.team_id).subquery())
        fixes = s.execute(select(TeamPosition.team_id, TeamPosition.lon, TeamPosition.lat,
                                 TeamPosition.at).join(
            last, (last.c.team_id == TeamPosition.team_id) & (last.c.at == TeamPosition.at))
        ).all()
        load = dict(s.execute(select(Assignment.team_id, func.count()).where(
            Assignment.status.in_(ACTIVE)).group_by(Assignment.team_id)).all())
    frame = pd.DataFrame([t[:-1] for t in teams], columns=["team_id", "name", "body_code",
                                                           "skills", "status", "version"])
    base = shapely.from_wkb([t[-1] for t in teams])
    frame["lon"] = shapely.get_x(base) if len(base) else []
    frame["lat"] = shapely.get_y(base) if len(base) else []
    frame["fix_at"] = pd.NaT
    for team_id, lon, lat, at in fixes:
        k = frame.index[frame["team_id"] == team_id]
        frame.loc[k, ["lon", "lat", "fix_at"]] = [lon, lat, at]
    frame["fix_at"] = pd.to_datetime(frame["fix_at"])
    frame["open_assignments"] = frame["team_id"].map(load).fillna(0).astype(int)
    if metric is not None:
        x, y = to_metric(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float), metric)
        frame["x"], frame["y"] = x, y
    return frame


def assignments_of(engine: Engine, case_id: int, *, scope: Scope) -> list[Assignment]:
    """The assignments of a case in ``scope``, oldest first (`LookupError` outside it)."""
    from geo.store import in_scope

    with sessions(engine)() as s:
        if s.scalar(select(Case.id).where(Case.id == case_id, in_scope(scope))) is None:
            raise LookupError(f"no case {case_id}")
        return list(s.scalars(select(Assignment).where(Assignment.case_id == case_id)
                              .order_by(Assignment.id)))
