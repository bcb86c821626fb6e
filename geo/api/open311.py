"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2): services are the matters
of the catalogue; a service request is an alert, and its id the case id.

Clients pass their token as ``api_key`` (or a Bearer header). Errors follow the
specification: a list of ``{"code", "description"}``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import select

from geo import store
from geo.alerts import query_time, text_problem
from geo.api import core as api
from geo.api.schemas import Open311Error, Service, ServiceRequest, ServiceRequestCreated
from geo.cases import CLOSED_STATUSES
from geo.store.models import Body, Case, Matter

PREFIX = "/open311/v2"
ERRORS = {"model": list[Open311Error]}
router = APIRouter(prefix=PREFIX, tags=["open311"])


def error(code: int, description: str) -> JSONResponse:
    return JSONResponse(status_code=code, content=[{"code": code,
                                                    "description": description}])


def describe(errors, secrets: tuple[str, ...] = ()) -> str:
    """Validation errors as one sentence naming each field: short whatever was sent
    (`geo.api.core.jsonable_errors`), and never holding any of ``secrets`` (the request's
    token)."""
    parts = []
    for e in api.jsonable_errors(errors, secrets):
        where = ".".join(str(x) for x in e["loc"] if x not in ("body", "query"))
        parts.append(f"{where or 'request'}: {e['msg']}")
    return "; ".join(parts)


def _refused(form: dict[str, str | dt.datetime | None]) -> str | None:
    """Why a report's text or time is refused, naming the field, or None."""
    for name, value in form.items():
        if isinstance(value, str) and (problem := text_problem(value, name)):
            return f"{name}: {problem}"
        if isinstance(value, dt.datetime):
            try:
                query_time(value)
            except ValueError as exc:
                return f"{name}: {exc}"
    return None


@router.get("/services.json", response_model=list[Service])
def services(request: Request) -> list[Service]:
    """Every matter of the catalogue, grouped by domain."""
    service = request.app.state.service
    with store.sessions(service.engine)() as s:
        matters = s.execute(select(Matter.code, Matter.name, Matter.domain)
                            .order_by(Matter.code)).all()
    return [Service(service_code=code, service_name=name, description=name, metadata=False,
                    type="realtime", keywords=domain, group=domain)
            for code, name, domain in matters]


@router.post("/requests.json", status_code=201, response_model=list[ServiceRequestCreated],
             responses={400: ERRORS, 401: ERRORS, 403: ERRORS, 429: ERRORS, 503: ERRORS})
def create_request(
    request: Request,
    service_code: Annotated[str, Form(min_length=1, max_length=40)],
    lat: Annotated[float, Form(ge=-90, le=90, allow_inf_nan=False)],
    long: Annotated[float, Form(ge=-180, le=180, allow_inf_nan=False)],
    api_key: Annotated[str | None, Form()] = None,
    description: Annotated[str, Form(max_length=4000)] = "",
    address_string: Annotated[str, Form(max_length=400)] = "",
    requested_datetime: Annotated[dt.datetime | None, Form()] = None,
    request_id: Annotated[str | None, Form(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="the client's id of the request; posting it again changes nothing")]
    = None,
):
    """Report a problem at a point; answers the case id (``service_request_id``)."""
    service = request.app.state.service
    problem = _refused({"service_code": service_code, "description": description,
                        "address_string": address_string,
                        "requested_datetime": requested_datetime})
    try:
        who = api.source_caller(api.caller_of(service, api_key or _bearer(request)))
        if problem:
            return error(400, problem)
        with store.sessions(service.engine)() as s:
            if s.get(Matter, service_code) is None:
                return error(400, f"service_code: unknown service {service_code!r}; see "
                                  "services.json")
        record = {"id": f"open311:{request_id or uuid.uuid4().hex}", "lon": long, "lat": lat,
                  "matter": service_code, "severity": "medium",
                  "reported_at": requested_datetime.isoformat() if requested_datetime
                  else "", "description": " ".join(
                      x for x in (description, address_string) if x)}
        results = api.post_alerts(service, who, [record])
    except HTTPException as exc:
        return JSONResponse(status_code=exc.status_code, headers=exc.headers,
                            content=[{"code": exc.status_code, "description": exc.detail}])
    except RequestValidationError as exc:
        # api_key (a form field here) was a valid token, as the request got this far
        return error(400, describe(exc.errors(), (*api.request_secrets(request),
                                                  api_key or "")))
    r = results[0]
    notice = (f"routed to {r['body_code']}" if r["created"] else "already received; "
              f"currently with {r['body_code']}")
    return JSONResponse(status_code=201 if r["created"] else 200, content=[
        {"service_request_id": str(r["case_id"]), "service_notice": notice,
         "account_id": None}])


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _requests(who, service, ids=None, service_code=None, start=None, end=None,
              status=None) -> list[ServiceRequest]:
    q = (api.case_query(who).add_columns(Matter.name, Body.name, Case.routed_at)
         .outerjoin(Matter, Matter.code == Case.matter_code)
         .outerjoin(Body, Body.code == Case.body_code))
    if ids is not None:
        q = q.where(Case.id.in_(ids))
    if service_code:
        q = q.where(Case.matter_code == service_code)
    if start is not None:
        q = q.where(Case.opened_at >= start)
    if end is not None:
        q = q.where(Case.opened_at <= end)
    if status == "closed":
        q = q.where(Case.status.in_(CLOSED_STATUSES))
    elif status == "open":
        q = q.where(Case.status.not_in(CLOSED_STATUSES))
    with store.sessions(service.engine)() as s:
        rows = s.execute(q.order_by(Case.opened_at.desc(), Case.id.desc()).limit(1000)).all()
    return [ServiceRequest(
        service_request_id=str(c.id),
        status="closed" if c.status in CLOSED_STATUSES else "open", status_notes=c.status,
        service_name=matter_name, service_code=c.matter_code, description=text or "",
        agency_responsible=body_name, requested_datetime=api.aware_utc(c.opened_at),
        updated_datetime=api.aware_utc(routed_at),
        expected_datetime=api.aware_utc(c.deadline_at),
        address=c.township_name or "", lat=c.lat, long=c.lon)
        for c, _src, _ext, text, matter_name, body_name, routed_at in rows]


@router.get("/requests.json", response_model=list[ServiceRequest],
            responses={400: ERRORS, 401: ERRORS})
def list_requests(
    request: Request,
    api_key: str | None = None,
    service_request_id: Annotated[str | None, Query(
        description="comma-separated case ids", pattern=r"^[0-9]{1,9}(,[0-9]{1,9})*$")]
    = None,
    service_code: Annotated[str | None, Query(max_length=40, pattern=r"^[^\x00-\x1f\x7f]*$")]
    = None,
    start_date: Annotated[dt.datetime | None, Query(
        description="opened at or after (ISO 8601; naive = UTC; 1970 to 2200)")] = None,
    end_date: Annotated[dt.datetime | None, Query(
        description="opened at or before (ISO 8601; naive = UTC; 1970 to 2200)")] = None,
    status: Literal["open", "closed"] | None = None,
):
    """The service requests the token may read (at most 1000, newest first)."""
    service = request.app.state.service
    try:
        who = api.caller_of(service, api_key or _bearer(request))
    except HTTPException as exc:
        return error(exc.status_code, str(exc.detail))
    times = {}
    for name, value in (("start_date", start_date), ("end_date", end_date)):
        try:
            times[name] = None if value is None else query_time(value)
        except ValueError as exc:
            return error(400, f"{name}: {exc}")
    ids = None
    if service_request_id:
        try:
            # at most 9 digits each (the schema's pattern): within the 32-bit id range
            ids = [int(x) for x in service_request_id.split(",") if x.strip()]
        except ValueError:
            return error(400, "service_request_id: comma-separated case ids (numbers)")
    return _requests(who, service, ids, service_code, times["start_date"], times["end_date"],
                     status)


@router.get("/requests/{service_request_id}.json", response_model=list[ServiceRequest],
            responses={401: ERRORS, 404: ERRORS})
def get_request(request: Request,
                service_request_id: Annotated[int, Path(ge=1, le=api.MAX_ID)],
                api_key: str | None = None):
    """One service request, if the token may read it."""
    service = request.app.state.service
    try:
        who = api.caller_of(service, api_key or _bearer(request))
    except HTTPException as exc:
        return error(exc.status_code, str(exc.detail))
    found = _requests(who, service, [service_request_id])
    return found if found else error(404, f"no service request {service_request_id}")

