"""The FastAPI application: `/api/v1` for alerts and cases (and, from `geo.api.resources`,
teams, sites, inspections and case transitions), `/open311/v2` for Open311."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import func, select

from geo import store
from geo.alerts import query_time
from geo.api import checkups, evidence, handoff, jointops, open311, resources
from geo.api.core import (
    API_PREFIX,
    LIMITED,
    MAX_ID,
    NOT_READY,
    UNAUTHORIZED,
    Caller,
    Service,
    _service,
    caller,
    case_out,
    case_query,
    jsonable_errors,
    post_alerts_async,
    posting_source,
    record_of,
    request_secrets,
)
from geo.api.limits import BodyLimit
from geo.api.schemas import AlertBatch, AlertsIn, AlertsOut, CaseOut, CasePage, Problem
from geo.settings import PROJECT_ROOT, Settings
from geo.store.models import Case

#: the answer to an unexpected error: a visible bug, but nothing of the internals
INTERNAL_ERROR = "internal error; logged"
#: one line of text without control characters (query filters)
LINE = r"^[^\x00-\x1f\x7f]*$"
#: Swagger UI and ReDoc, vendored (scripts/vendor_assets.sh): the docs need no internet
VENDOR = PROJECT_ROOT / "static" / "vendor"
DOCS_ASSETS = {"/static/vendor/swagger-ui": VENDOR / "swagger-ui",
               "/static/vendor/redoc": VENDOR / "redoc"}

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API on the database of ``settings`` (brought to the latest schema)."""
    settings = settings or Settings.from_env()
    engine = store.connect(settings.database_url)
    store.migrate(engine)
    app = FastAPI(title="Enforcement OneMap intake API", version="1",
                  description=__doc__, docs_url=None, redoc_url=None)
    app.state.service = Service(settings, engine)
    app.add_middleware(BodyLimit, larger=[
        (evidence.UPLOAD_PATH, settings.evidence_max_bytes + evidence.MULTIPART_SLACK)])
    _add_error_handlers(app)
    _add_docs(app)

    @app.post(f"{API_PREFIX}/alerts", status_code=201, response_model=AlertsOut,
              responses={200: {"description": "every alert was stored before; nothing "
                                              "changed", "model": AlertsOut},
                         401: UNAUTHORIZED, 403: {"model": Problem}, 429: LIMITED,
                         503: NOT_READY}, tags=["alerts"])
    async def create_alerts(body: AlertsIn,
                            who: Annotated[Caller, Depends(posting_source)],
                            service: Annotated[Service, Depends(_service)]):
        """Post one alert, or a batch ``{"alerts": [...]}`` of up to 1000: all are stored and
        routed, or none when any is invalid (422 naming the alert and field)."""
        # async: the store and routing work happens in the intake writer thread
        if isinstance(body, AlertBatch):
            results = await post_alerts_async(service, who, [record_of(a) for a in body.alerts],
                                              ("body", "alerts"), batch=True)
        else:
            results = await post_alerts_async(service, who, [record_of(body)])
        status = 201 if any(r["created"] for r in results) else 200
        return JSONResponse(status_code=status,
                            content=AlertsOut(results=results).model_dump(mode="json"))

    @app.get(f"{API_PREFIX}/cases", response_model=CasePage,
             responses={401: UNAUTHORIZED}, tags=["cases"])
    def list_cases(
        who: Annotated[Caller, Depends(caller)],
        service: Annotated[Service, Depends(_service)],
        bbox: Annotated[str | None, Query(
            description="min_lon,min_lat,max_lon,max_lat (WGS84)",
            pattern=r"^-?[0-9]+(\.[0-9]+)?(,-?[0-9]+(\.[0-9]+)?){3}$")] = None,
        status: Annotated[str | None, Query(max_length=20, pattern=LINE)] = None,
        township: Annotated[str | None, Query(max_length=12, pattern=LINE)] = None,
        since: Annotated[dt.datetime | None, Query(
            description="opened at or after (ISO 8601; naive = UTC; 1970 to 2200)")] = None,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> CasePage:
        """Cases the token may read, newest first, one page at a time."""
        from geo.store.spatial import within_bbox

        since = None if since is None else _query_time(since, "since")
        q = case_query(who)
        with store.sessions(service.engine)() as s:
            if bbox:
                try:
                    q = within_bbox(q, s, tuple(bbox.split(",")))
                except ValueError as exc:
                    raise RequestValidationError([{"loc": ("query", "bbox"), "msg": str(exc),
                                                   "type": "value_error",
                                                   "input": bbox}]) from None
            if status:
                q = q.where(Case.status == status)
            if township:
                q = q.where(Case.township_code == township)
            if since is not None:
                q = q.where(Case.opened_at >= since)
            total = s.scalar(select(func.count()).select_from(q.subquery()))
            rows = s.execute(q.order_by(Case.opened_at.desc(), Case.id.desc())
                             .limit(page_size).offset((page - 1) * page_size)).all()
            items = [case_out(c, src, ext) for c, src, ext, _ in rows]
        return CasePage(items=items, total=total, page=page, page_size=page_size)

    @app.get(f"{API_PREFIX}/cases/{{case_id}}", response_model=CaseOut,
             responses={401: UNAUTHORIZED, 404: {"model": Problem}}, tags=["cases"])
    def get_case(case_id: Annotated[int, Path(ge=1, le=MAX_ID)],
                 who: Annotated[Caller, Depends(caller)],
                 service: Annotated[Service, Depends(_service)]) -> CaseOut:
        """One case, if the token may read it (404 otherwise, as if it did not exist)."""
        with store.sessions(service.engine)() as s:
            row = s.execute(case_query(who).where(Case.id == case_id)).first()
            if row is None:
                raise HTTPException(404, f"no case {case_id}")
            return case_out(row[0], row[1], row[2])

    app.include_router(resources.router)
    app.include_router(evidence.router)
    app.include_router(jointops.router)  # issue 14: joint operation
    app.include_router(open311.router)
    app.include_router(handoff.router)  # issue 14: approvals, referral acknowledgement
    app.include_router(checkups.router)  # issue 14: check-ups by appointment
    return app


def _query_time(value: dt.datetime, name: str) -> dt.datetime:
    """`geo.alerts.query_time`, refused as a 422 naming the query parameter."""
    try:
        return query_time(value)
    except ValueError as exc:
        raise RequestValidationError([{"loc": ("query", name), "msg": str(exc),
                                       "type": "value_error",
                                       "input": value.isoformat()}]) from None


def _add_error_handlers(app: FastAPI) -> None:
    """422 (Open311: 400) answers that are small and never echo a token; a JSON 500 that
    tells nothing of the internals, the error being logged with its traceback."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        secrets = request_secrets(request)
        if request.url.path.startswith(open311.PREFIX):
            return open311.error(400, open311.describe(exc.errors(), secrets))
        return JSONResponse(status_code=422,
                            content={"detail": jsonable_errors(exc.errors(), secrets)})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        if request.url.path.startswith(open311.PREFIX):
            return open311.error(500, INTERNAL_ERROR)
        return JSONResponse(status_code=500, content={"detail": INTERNAL_ERROR})


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc from vendored files, not a CDN."""
    for url, folder in DOCS_ASSETS.items():
        app.mount(url, StaticFiles(directory=folder, check_dir=False), name=url)
    swagger, redoc = DOCS_ASSETS

    @app.get("/docs", include_in_schema=False)
    async def _swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")  # behind a proxy's prefix
        return get_swagger_ui_html(
            openapi_url=root + app.openapi_url, title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{swagger}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{swagger}/swagger-ui.css",
            swagger_favicon_url=f"{root}{swagger}/favicon-32x32.png",
            oauth2_redirect_url=None, swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    async def _redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(openapi_url=root + app.openapi_url,
                              title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{root}{redoc}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{swagger}/favicon-32x32.png",
                              with_google_fonts=False)
