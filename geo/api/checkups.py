"""Check-ups by appointment (预约体检) and joint visits (综合查一次) over the API (`/api/v1`).

A business portal (a source's token) or staff book a site's check-up and list their own
requests; the office schedules joint visits (answering a request or not) and records the
findings of a visit done, which become an inspection like any other (rectification and
re-inspection follow under ``/inspections``). Rules in `geo.checkups`, permissions in
`geo.access`; the answers as in `geo.api.resources`: 404 outside the scope, 403 for the
role, 409 for a visit no longer scheduled, 422 naming the field.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from geo.alerts import excerpt
from geo.api.core import API_PREFIX, MAX_ID, MAX_MESSAGE, aware_utc
from geo.api.resources import (
    LINE,
    Page,
    PageSize,
    Svc,
    Who,
    _answers,
    _describe,
    _invalid,
    _today,
    store_errors,
)
from geo.api.schemas import CODE, FindingIn, InspectionOut, Version, _Texts
from geo.checkups import MAX_NAME, MAX_PEOPLE, MAX_TEXT, REQUEST_STATES, VISIT_STATES, CheckupError
from geo.store import checkups, inspecting

router = APIRouter(prefix=API_PREFIX)
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Code = Annotated[str, Field(min_length=1, max_length=40, pattern=CODE)]


class CheckupIn(_Texts):
    """A site's request for a check-up: who asks, why, the days it would like."""

    site_id: Code = Field(description="the site to check (its id in the registry)")
    contact: Name = Field(description="who asks, at the site (name, role)")
    reason: str = Field("", max_length=MAX_TEXT, description="why")
    wanted_from: dt.date | None = Field(None, description="first day wished for (from today)")
    wanted_until: dt.date | None = Field(None, description="last day wished for")


class CheckupOut(BaseModel):
    id: int
    site_id: str
    township_code: str | None
    contact: str
    reason: str
    wanted_from: dt.date | None
    wanted_until: dt.date | None
    requested_at: AwareDatetime
    requested_by: str
    status: str = Field(description=f"one of {', '.join(REQUEST_STATES)}")
    visit_id: int | None
    visit_day: dt.date | None
    visit_status: str | None


class CheckupPage(BaseModel):
    items: list[CheckupOut]
    total: int
    page: int
    page_size: int


class Observer(_Texts):
    """A member of the visit's 观摩团: a manager of another site, invited to watch."""

    name: Name
    site_id: Code = Field(description="their own site")


class VisitIn(_Texts):
    """One joint visit of a site scheduled by the office."""

    site_id: Code
    day: dt.date = Field(description="the local day of the visit")
    lead_body: Code = Field(description="body code of the lead (the guidance office or a "
                                        "body)")
    bodies: list[Code] = Field([], max_length=MAX_PEOPLE,
                               description="body codes joining (the lead joins anyway)")
    departments: list[Name] = Field(
        [], max_length=MAX_PEOPLE, description="departments whose checklist items the visit "
                                               "carries; empty: every department concerned")
    inspectors: list[Name] = Field(min_length=1, max_length=MAX_PEOPLE)
    observers: list[Observer] = Field([], max_length=MAX_PEOPLE)
    note: str = Field("", max_length=MAX_TEXT)
    request_id: Version | None = Field(None, description="the open request it answers")


class VisitOut(BaseModel):
    id: int
    site_id: str
    township_code: str | None
    day: dt.date
    lead_body: str
    bodies: list[str]
    departments: list[str]
    inspectors: list[str]
    observers: list[dict]
    note: str
    status: str = Field(description=f"one of {', '.join(VISIT_STATES)}")
    inspection_id: int | None
    request_id: int | None


class VisitPage(BaseModel):
    items: list[VisitOut]
    total: int
    page: int
    page_size: int


class VisitFindingsIn(_Texts):
    findings: list[FindingIn] = Field(min_length=1, max_length=500, description=(
        "one per item the visit carries (its departments' items of the site's checklist)"))


@contextlib.contextmanager
def checkup_errors(loc: tuple = ("body",)) -> Iterator[None]:
    """`geo.api.resources.store_errors`, and `geo.checkups.CheckupError` as a 422 naming
    its field (a visit no longer scheduled, or not yet due: 409)."""
    with store_errors(loc):
        try:
            yield
        except CheckupError as exc:
            if exc.field in ("status", "day") and str(exc).startswith(
                    f"field {exc.field}: visit "):
                raise HTTPException(409, excerpt(str(exc), MAX_MESSAGE)) from None
            where = (*loc, exc.field, *(() if exc.row is None else (exc.row,)))
            raise _invalid(where, str(exc)) from None


def _checkup_out(row: dict) -> CheckupOut:
    return CheckupOut(**{**row, "requested_at": aware_utc(row["requested_at"])})


def _visit_out(row) -> VisitOut:
    def maybe(v):
        return None if v is None or v != v else int(v)

    return VisitOut(**{**{k: row[k] for k in VisitOut.model_fields if k in row},
                       "inspection_id": maybe(row["inspection_id"]),
                       "request_id": maybe(row["request_id"]), "id": int(row["id"])})


@router.post("/checkups", response_model=CheckupOut, status_code=201,
             responses=_answers(403, 404), tags=["checkups"],
             description=_describe(
                 "Book a check-up (预约体检) for a site: a business portal's token books for "
                 "the business's site; staff book for a site in their scope.",
                 ("checkups", "open")))
def book(body: CheckupIn, who: Who, service: Svc) -> CheckupOut:
    """Book a site's check-up."""
    with checkup_errors():
        rid = checkups.book_checkup(service.engine, body.site_id, body.contact, body.reason,
                                    body.wanted_from, body.wanted_until,
                                    today=_today(service), scope=who.scope)
        _, rows = checkups.list_requests(service.engine, request_id=rid, scope=who.scope)
    return _checkup_out(rows[0])


@router.get("/checkups", response_model=CheckupPage, responses=_answers(403),
            tags=["checkups"],
            description=_describe("Check-up requests the token may read (a source: those "
                                  "it booked), newest first, with their visit once "
                                  "scheduled.", ("checkups", "read")))
def list_checkups(who: Who, service: Svc,
                  status: Annotated[str | None, Query(max_length=12, pattern=LINE)] = None,
                  site: Annotated[str | None, Query(max_length=40, pattern=LINE)] = None,
                  page: Page = 1, page_size: PageSize = 100) -> CheckupPage:
    """List check-up requests."""
    with checkup_errors(("query",)):
        total, rows = checkups.list_requests(service.engine, scope=who.scope, status=status,
                                             site_id=site, limit=page_size,
                                             offset=(page - 1) * page_size)
    return CheckupPage(items=[_checkup_out(r) for r in rows], total=total, page=page,
                       page_size=page_size)


@router.post("/visits", response_model=VisitOut, status_code=201,
             responses=_answers(403, 404), tags=["checkups"],
             description=_describe(
                 "Schedule one joint visit (综合查一次) of a site: the day, the lead, the "
                 "bodies and departments joining (default: every department concerned by "
                 "the site's checklist), inspectors and observers (观摩团); with request_id "
                 "it answers that open request.", ("visits", "change"),
                 ("checkups", "change")))
def schedule(body: VisitIn, who: Who, service: Svc) -> VisitOut:
    """Schedule a joint visit."""
    with checkup_errors():
        vid = checkups.schedule_visit(
            service.engine, body.site_id, body.day, body.lead_body, body.inspectors,
            bodies=body.bodies, departments=body.departments,
            observers=[o.model_dump() for o in body.observers], note=body.note,
            request_id=body.request_id, today=_today(service), scope=who.scope)
        frame = checkups.list_visits(service.engine, visit_id=vid, scope=who.scope)
    return _visit_out(frame.iloc[0])


@router.get("/visits", response_model=VisitPage, responses=_answers(403),
            tags=["checkups"],
            description=_describe("Joint visits the token may read, by day: the calendar.",
                                  ("visits", "read")))
def list_visits(who: Who, service: Svc,
                since: Annotated[dt.date | None, Query(description="on or after")] = None,
                until: Annotated[dt.date | None, Query(description="on or before")] = None,
                township: Annotated[str | None, Query(max_length=12, pattern=LINE)] = None,
                status: Annotated[str | None, Query(max_length=12, pattern=LINE)] = None,
                page: Page = 1, page_size: PageSize = 100) -> VisitPage:
    """List joint visits."""
    if since and until and until < since:
        raise _invalid(("query", "until"), "before since", until.isoformat())
    with checkup_errors(("query",)):
        frame = checkups.list_visits(service.engine, scope=who.scope, since=since,
                                     until=until, township=township, status=status)
    part = frame.iloc[(page - 1) * page_size: page * page_size]
    return VisitPage(items=[_visit_out(r) for _, r in part.iterrows()], total=len(frame),
                     page=page, page_size=page_size)


@router.post("/visits/{visit_id}/findings", response_model=InspectionOut, status_code=201,
             responses=_answers(403, 404, 409), tags=["checkups"],
             description=_describe(
                 "Record the findings of a visit done (one per item it carries): they "
                 "become an inspection of the site on the visit's day, with rectification "
                 "requirements and deadlines; the visit is done.", ("visits", "change"),
                 ("inspections", "change")))
def record_findings(visit_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: VisitFindingsIn,
                    who: Who, service: Svc) -> InspectionOut:
    """Record a visit's findings."""
    with checkup_errors():
        iid = checkups.complete_visit(service.engine, visit_id,
                                      [f.model_dump() for f in body.findings],
                                      today=_today(service), scope=who.scope)
        _, rows = inspecting.list_inspections(service.engine, scope=who.scope,
                                              inspection_id=iid)
    return InspectionOut.model_validate(rows[0])
