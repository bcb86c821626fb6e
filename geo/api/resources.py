"""The API for the rest of the system: teams and their positions, the site registry,
inspections and case transitions (`/api/v1`).

The endpoints hold no permission rule of their own: each passes the caller's scope to the
store (`geo.access`, `geo.store.scoping`) and turns what the store raises into an answer:
an object outside the scope is as if it did not exist (404), an action the role may not take
is 403, a version that moved on is 409 (reload and try again), and a value the store refuses
is 422 naming the field. Input is checked by the bounds every door shares (`geo.alerts`):
times, coordinates and text; no answer echoes more than an excerpt of what was sent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from typing import Annotated

import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Response
from fastapi.exceptions import RequestValidationError

from geo import store
from geo.access import AccessDeniedError, who_may
from geo.alerts import Rules, check_fixes, excerpt
from geo.api.core import (
    API_PREFIX,
    MAX_ID,
    MAX_MESSAGE,
    UNAUTHORIZED,
    Caller,
    Service,
    _service,
    aware_utc,
    caller,
    case_query,
)
from geo.api.schemas import (
    CaseChanged,
    InspectionIn,
    InspectionOut,
    InspectionPage,
    PositionsIn,
    PositionsOut,
    Problem,
    ReinspectionIn,
    ReinspectionOut,
    SiteIn,
    SiteOut,
    SitePage,
    TeamOut,
    TeamPage,
    TeamStatusIn,
    TransitionIn,
)
from geo.cases import IllegalTransitionError
from geo.crs import CRSInputError, parse_crs
from geo.days import local_today
from geo.inspections import FindingError
from geo.store import dispatching, inspecting, sites
from geo.store.dispatching import ConflictError
from geo.store.models import Case
from geo.store.sites import SiteError

router = APIRouter(prefix=API_PREFIX)

#: one line of text without control characters (path parameters and query filters)
LINE = r"^[^\x00-\x1f\x7f-\x9f]+$"
TeamId = Annotated[str, Path(min_length=1, max_length=40, pattern=LINE)]
SiteId = Annotated[str, Path(min_length=1, max_length=40, pattern=LINE)]
Page = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=500)]
Who = Annotated[Caller, Depends(caller)]
Svc = Annotated[Service, Depends(_service)]
#: days of rectification of a case moved to ``rectification`` without ``fix_days``
DEFAULT_FIX_DAYS = 15


def _answers(*codes: int) -> dict:
    """OpenAPI answers of an endpoint besides its success: 401 and ``codes``."""
    why = {403: "the role may not do this (`geo.access.PERMISSIONS`)",
           404: "no such object in the caller's scope (outside it, it does not exist)",
           409: "the object was changed since its version was read: reload and try again"}
    return {401: UNAUTHORIZED, **{c: {"description": why[c], "model": Problem}
                                  for c in codes}}


def _roles(*rules: tuple[str, str]) -> str:
    """The roles of an endpoint in words, from `geo.access.PERMISSIONS` (cannot drift)."""
    return "\n\n".join(f"**{obj}: {action}** — {who_may(obj, action)}"
                       for obj, action in rules)


def _describe(text: str, *rules: tuple[str, str]) -> str:
    return (f"{text}\n\nRoles (from the permission table; outside the scope of a role an "
            f"object is answered 404):\n\n{_roles(*rules)}")


def _invalid(loc: tuple, msg: str, value: object = "") -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": msg, "type": "value_error",
                                    "input": value}])


#: "finding 2, field item_code: …" (`geo.inspections.FindingError`)
_FINDING = re.compile(r"^finding (\d+), field (\w+): ")


# The field of a transition body that each `IllegalTransitionError` code is about.
_TRANSITION_FIELDS = {"needs_reason": "reason", "lacks_skill": "team_id",
                      "team_not_allowed": "team_id", "dispatch_by_assigning": "team_id"}


@contextlib.contextmanager
def store_errors(loc: tuple = ("body",), field: str = "") -> Iterator[None]:
    """Turn the store's errors into answers: `LookupError` 404, `AccessDeniedError` 403,
    `ConflictError` 409, a refused value 422 naming its field (``field`` under ``loc``
    where the error does not say which)."""
    try:
        yield
    except (KeyError, IndexError):  # a bug, not a missing object: a logged 500
        raise
    except AccessDeniedError as exc:
        raise HTTPException(403, excerpt(str(exc), MAX_MESSAGE)) from None
    except LookupError as exc:
        raise HTTPException(404, excerpt(str(exc), MAX_MESSAGE)) from None
    except ConflictError as exc:
        raise HTTPException(409, excerpt(str(exc), MAX_MESSAGE)) from None
    except FindingError as exc:
        found = _FINDING.match(str(exc))
        where = ((*loc, "findings", int(found[1]) - 1, found[2]) if found
                 else (*loc, "findings"))
        if found and found[2] == "site_id":
            where = (*loc, "site_id")
        raise _invalid(where, str(exc)) from None
    except SiteError as exc:
        raise RequestValidationError([
            {"loc": ("path", "site_id") if f == "site_id" else (*loc, *((f,) if f else ())),
             "msg": m, "type": "value_error", "input": ""} for f, m in exc.problems]
        ) from None
    except IllegalTransitionError as exc:
        where = field or _TRANSITION_FIELDS.get(exc.code, "target")
        raise _invalid((*loc, where), str(exc)) from None
    except ValueError as exc:
        raise _invalid((*loc, *((field,) if field else ())), str(exc)) from None


def _today(service: Service) -> dt.date:
    return local_today(service.tz)


def _check_day(day: dt.date, service: Service, loc: tuple) -> None:
    """A day of an inspection: from the earliest day accepted (``GEO_EARLIEST_ALERT``) to
    today (local), as incident times are bounded at every door; 422 naming ``loc``."""
    earliest = service.settings.earliest_alert
    if day < earliest:
        raise _invalid(loc, f"before {earliest:%Y-%m-%d}, the earliest day accepted "
                            "(GEO_EARLIEST_ALERT)", day.isoformat())
    if day > _today(service):
        raise _invalid(loc, "in the future", day.isoformat())


def _page(frame: pd.DataFrame, page: int, page_size: int) -> pd.DataFrame:
    return frame.iloc[(page - 1) * page_size: page * page_size]


# ------------------------------------------------------------------------------ teams
def _team_out(row) -> TeamOut:
    fix = row["fix_at"]
    return TeamOut(team_id=row["team_id"], name=row["name"], body_code=row["body_code"],
                   skills=[x.strip() for x in str(row["skills"]).split(",") if x.strip()],
                   status=row["status"], version=int(row["version"]),
                   lon=float(row["lon"]), lat=float(row["lat"]),
                   fix_at=None if pd.isna(fix) else aware_utc(fix.to_pydatetime()),
                   open_assignments=int(row["open_assignments"]))


@router.get("/teams", response_model=TeamPage, responses=_answers(403), tags=["teams"],
            description=_describe("Teams the token may read, by team id, with their latest "
                                  "position (WGS84; else their base) and version.",
                                  ("teams", "read")))
def list_teams(who: Who, service: Svc,
               status: Annotated[str | None, Query(max_length=20, pattern=LINE)] = None,
               body: Annotated[str | None, Query(max_length=40, pattern=LINE,
                                                 description="body code")] = None,
               page: Page = 1, page_size: PageSize = 100) -> TeamPage:
    """List the teams in the caller's scope."""
    with store_errors():
        frame = dispatching.teams_frame(service.engine, None, scope=who.scope)
    if status:
        frame = frame[frame["status"] == status]
    if body:
        frame = frame[frame["body_code"] == body]
    items = [_team_out(r) for _, r in _page(frame, page, page_size).iterrows()]
    return TeamPage(items=items, total=len(frame), page=page, page_size=page_size)


def _one_team(service: Service, who: Caller, team_id: str) -> TeamOut:
    frame = dispatching.teams_frame(service.engine, None, scope=who.scope)
    found = frame[frame["team_id"] == team_id]
    if found.empty:
        raise HTTPException(404, f"no team {excerpt(team_id)}")
    return _team_out(found.iloc[0])


@router.post("/teams/{team_id}/status", response_model=TeamOut,
             responses=_answers(403, 404, 409), tags=["teams"],
             description=_describe(
                 "Move a team through available → (dispatched by assignment) → en_route → "
                 "on_scene → available, or off duty, with the version it was read at. "
                 "Answers the team as it is now.", ("teams", "change")))
def set_team_status(team_id: TeamId, body: TeamStatusIn, who: Who, service: Svc) -> TeamOut:
    """Change a team's status."""
    with store_errors(field="status"):
        dispatching.set_team_status(service.engine, team_id, body.version, body.status,
                                    who.scope.actor, scope=who.scope)
    return _one_team(service, who, team_id)


@router.post("/teams/{team_id}/positions", response_model=PositionsOut, status_code=201,
             responses=_answers(403, 404), tags=["teams"],
             description=_describe(
                 "Store a batch of position fixes of one team (up to 1000), all or none: "
                 "each is checked like an alert's place and time (coordinates in range "
                 "and not swapped, times from GEO_EARLIEST_ALERT to 10 minutes after "
                 "receipt); 422 names the fix's index and field.", ("teams", "change")))
def add_positions(team_id: TeamId, body: PositionsIn, who: Who, service: Svc
                  ) -> PositionsOut:
    """Store position fixes of a team."""
    try:
        crs = parse_crs(body.crs)
    except CRSInputError as exc:
        raise _invalid(("body", "crs"), str(exc), body.crs) from None
    n = len(body.fixes)
    frame = pd.DataFrame({"team_id": [team_id] * n,
                          "lon": [f.lon for f in body.fixes],
                          "lat": [f.lat for f in body.fixes],
                          "at": [f.at.isoformat() for f in body.fixes]})
    rules = Rules(crs=crs, tz=service.tz, now=store.utcnow(),
                  earliest=service.settings.earliest)
    fixes, rejects = check_fixes(frame, np.arange(1, n + 1), rules, {team_id})
    if rejects:
        raise RequestValidationError([
            {"loc": ("path", "team_id") if r.field == "team_id"
             else ("body", "fixes", r.row - 1, r.field),
             "msg": r.reason, "type": "value_error", "input": r.value} for r in rejects])
    with store_errors(("body",), "fixes"):
        stored = dispatching.add_positions(service.engine, [
            {"team_id": team_id, "lon": float(f.lon), "lat": float(f.lat),
             "at": f.at.to_pydatetime()} for f in fixes.itertuples(index=False)],
            scope=who.scope)
    return PositionsOut(team_id=team_id, stored=stored)


# ------------------------------------------------------------------------------ sites
def _site_out(row, geometry) -> SiteOut:
    def text(v):
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)

    return SiteOut(site_id=row["site_id"], name=row["name"], kind=row["kind"],
                   risk=row["risk"], credit_code=text(row["credit_code"]),
                   township_code=text(row["township_code"]),
                   geometry=shapely.geometry.mapping(geometry))


@router.get("/sites", response_model=SitePage, responses=_answers(403), tags=["sites"],
            description=_describe("Sites of the registry the token may read, by site id; "
                                  "geometry as GeoJSON (WGS84).", ("sites", "read")))
def list_sites(who: Who, service: Svc,
               bbox: Annotated[str | None, Query(
                   description="min_lon,min_lat,max_lon,max_lat (WGS84)",
                   pattern=r"^-?[0-9]+(\.[0-9]+)?(,-?[0-9]+(\.[0-9]+)?){3}$")] = None,
               township: Annotated[str | None, Query(max_length=12, pattern=LINE)] = None,
               kind: Annotated[str | None, Query(max_length=40, pattern=LINE)] = None,
               page: Page = 1, page_size: PageSize = 100) -> SitePage:
    """List the sites in the caller's scope."""
    box = tuple(bbox.split(",")) if bbox else None
    with store_errors(("query",), "bbox"):
        frame = sites.sites_frame(service.engine, scope=who.scope, bbox=box,
                                  township=township, kind=kind)
    part = _page(frame, page, page_size)
    items = [_site_out(r, g) for (_, r), g in zip(part.iterrows(), part.geometry,
                                                   strict=True)]
    return SitePage(items=items, total=len(frame), page=page, page_size=page_size)


@router.put("/sites/{site_id}", response_model=SiteOut, status_code=200,
            responses={201: {"description": "a new site", "model": SiteOut},
                       **_answers(403)}, tags=["sites"],
            description=_describe(
                "Add (201) or replace (200) one site of the registry, checked like a sites "
                "layer; without a township code it gets the township it lies in. Routers "
                "and maps built from the old registry are rebuilt.", ("sites", "change")))
def put_site(site_id: SiteId, body: SiteIn, who: Who, service: Svc, response: Response
             ) -> SiteOut:
    """Add or replace a site (the approval system keeps the registry current)."""
    record = {"site_id": site_id, **body.model_dump(exclude={"geometry"})}
    geometry = shapely.geometry.shape(body.geometry.model_dump())
    with store_errors():
        created = sites.put_site(service.engine, record, geometry, scope=who.scope)
        frame = sites.sites_frame(service.engine, scope=who.scope, site_id=site_id)
    response.status_code = 201 if created else 200
    return _site_out(frame.iloc[0], frame.geometry.iloc[0])


# ------------------------------------------------------------------------ inspections
def _inspection_out(row: dict) -> InspectionOut:
    return InspectionOut.model_validate(row)


@router.get("/inspections", response_model=InspectionPage, responses=_answers(403),
            tags=["inspections"],
            description=_describe("Inspections the token may read (by their site), newest "
                                  "first, with their findings and re-inspections.",
                                  ("inspections", "read")))
def list_inspections(who: Who, service: Svc,
                     site: Annotated[str | None, Query(max_length=40, pattern=LINE,
                                                       description="site id")] = None,
                     township: Annotated[str | None, Query(max_length=12,
                                                           pattern=LINE)] = None,
                     since: Annotated[dt.date | None, Query(
                         description="on or after this day")] = None,
                     until: Annotated[dt.date | None, Query(
                         description="on or before this day")] = None,
                     page: Page = 1, page_size: PageSize = 100) -> InspectionPage:
    """List the inspections in the caller's scope."""
    with store_errors():
        total, rows = inspecting.list_inspections(
            service.engine, scope=who.scope, site_id=site, township=township, since=since,
            until=until, limit=page_size, offset=(page - 1) * page_size)
    return InspectionPage(items=[_inspection_out(r) for r in rows], total=total, page=page,
                          page_size=page_size)


@router.post("/inspections", response_model=InspectionOut, status_code=201,
             responses=_answers(403, 404), tags=["inspections"],
             description=_describe(
                 "Record one joint inspection (综合查一次) of a site with a finding per "
                 "checklist item; problems get their rectification requirement and "
                 "deadline. The inspector is the token's user.",
                 ("inspections", "change")))
def create_inspection(body: InspectionIn, who: Who, service: Svc) -> InspectionOut:
    """Record an inspection."""
    _check_day(body.day, service, ("body", "day"))
    findings = [f.model_dump() for f in body.findings]
    with store_errors():
        inspection_id = inspecting.record_inspection(
            service.engine, body.site_id, body.day, body.departments, findings,
            scope=who.scope)
        _, rows = inspecting.list_inspections(service.engine, scope=who.scope,
                                              inspection_id=inspection_id)
    return _inspection_out(rows[0])


@router.post("/inspections/{inspection_id}/reinspections", response_model=ReinspectionOut,
             status_code=201, responses=_answers(403, 404), tags=["inspections"],
             description=_describe(
                 "Record the re-inspection (复检) of a problem found at this inspection, "
                 "named by its finding id or its checklist item: fixed or not.",
                 ("inspections", "change")))
def create_reinspection(inspection_id: Annotated[int, Path(ge=1, le=MAX_ID)],
                        body: ReinspectionIn, who: Who, service: Svc) -> ReinspectionOut:
    """Record a re-inspection."""
    _check_day(body.day, service, ("body", "day"))
    with store_errors():
        finding_id = inspecting.inspection_finding(
            service.engine, inspection_id, scope=who.scope, finding_id=body.finding_id,
            item_code=body.item_code)
        rid = inspecting.record_reinspection(service.engine, finding_id, body.day,
                                             body.fixed, scope=who.scope)
    return ReinspectionOut(id=rid, inspection_id=inspection_id, finding_id=finding_id,
                           day=body.day, fixed=body.fixed)


# ------------------------------------------------------------------------------ cases
#: transition target -> the field of the body it needs
_NEEDS = {"dispatched": ("team_id", "team_version"), "routed": ("body_code",),
          "transferred": ("township_code",), "merged": ("into",)}


@router.post("/cases/{case_id}/transitions", response_model=CaseChanged,
             responses=_answers(403, 404, 409), tags=["cases"],
             description=_describe(
                 "Move a case to another state, with the version it was read at (from "
                 "`GET /api/v1/cases`): dispatch a team (``dispatched``: the team must be "
                 "available and have the matter's skill), re-route (``routed``), transfer to "
                 "a neighbouring township, merge into the case it repeats, return to the "
                 "command center, or any other step the case lifecycle allows.",
                 ("cases", "change"), ("cases", "reroute"), ("teams", "change")))
def transition(case_id: Annotated[int, Path(ge=1, le=MAX_ID)],
               body: Annotated[TransitionIn, Body()], who: Who, service: Svc) -> CaseChanged:
    """Change a case's state."""
    for name in _NEEDS.get(body.target, ()):
        if getattr(body, name) is None:
            raise _invalid(("body", name), f"required to move a case to {body.target}")
    engine, scope, actor = service.engine, who.scope, who.scope.actor
    assignment = None
    with store_errors():
        if body.target == "dispatched":
            assignment = dispatching.assign(engine, case_id, body.version, body.team_id,
                                            body.team_version, actor, scope=scope)
        elif body.target == "returned":
            dispatching.return_case(engine, case_id, body.version, actor, body.reason,
                                    scope=scope)
        elif body.target == "routed":
            dispatching.reroute_case(engine, case_id, body.version, body.body_code, actor,
                                     scope=scope)
        elif body.target == "transferred":
            dispatching.transfer_case(engine, case_id, body.version, body.township_code,
                                      None, actor, body.reason, scope=scope)
        elif body.target == "merged":
            dispatching.merge_case(engine, case_id, body.version, body.into, actor,
                                   scope=scope)
        elif body.target == "rectification":
            days = body.fix_days or DEFAULT_FIX_DAYS
            dispatching.transition_case(engine, case_id, body.version, body.target, actor,
                                        body.reason or f"限期 {days} 天整改", scope=scope,
                                        deadline_at=store.utcnow() + dt.timedelta(days=days))
        else:
            dispatching.transition_case(engine, case_id, body.version, body.target, actor,
                                        body.reason, scope=scope)
    with store.sessions(engine)() as s:
        row = s.execute(case_query(who).where(Case.id == case_id)).first()
    if row is None:  # no longer the caller's (transferred, returned to the command center)
        return CaseChanged(id=case_id, status=body.target, version=None,
                           assignment_id=assignment)
    return CaseChanged(id=case_id, status=row[0].status, version=row[0].version,
                       assignment_id=assignment)
