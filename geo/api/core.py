"""What the API's endpoints share: who is calling, rate limits, posting alerts, reading
cases in the caller's scope."""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import parse as parse_rate_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Engine, select

from geo import store
from geo.access import SYSTEM, Scope
from geo.api.schemas import AlertIn, CaseOut, Problem
from geo.settings import Settings
from geo.store import accounts
from geo.store.models import Alert, Case, Meta

API_PREFIX = "/api/v1"
MAX_ID = 2**31 - 1  # ids are 32-bit integers on every backend
UNAUTHORIZED = {"description": "missing or unknown token", "model": Problem}
LIMITED = {"description": "rate limit of the source exceeded; see Retry-After",
           "model": Problem}
NOT_READY = {"description": "no layers loaded yet (`python -m geo init`)", "model": Problem}


@dataclass(frozen=True)
class Caller:
    """Who is calling: a user (their scope) or a source (its own alerts' cases)."""

    scope: Scope
    source: str | None = None
    crs: str = "EPSG:4326"
    rate_limit: str = ""


@dataclass
class Service:
    """What the endpoints share: the store, the router (rebuilt when layers are re-imported)
    and the per-source rate limiter."""

    settings: Settings
    engine: Engine
    limiter: MovingWindowRateLimiter = field(
        default_factory=lambda: MovingWindowRateLimiter(MemoryStorage()))
    _routing: tuple | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def routing(self):
        """(router, catalog) for the loaded layer set, built once per import."""
        from geo.routing import Router

        with store.sessions(self.engine)() as s:
            stamp = s.scalar(select(Meta.value).where(Meta.key == "imported_at"))
        if stamp is None:
            raise HTTPException(503, "no layers loaded yet: run `python -m geo init`")
        with self._lock:
            if self._routing is None or self._routing[0] != stamp:
                catalog = store.load_catalog(self.engine)
                router = Router(store.load_layers(self.engine), catalog, self.settings)
                self._routing = (stamp, router, catalog)
            return self._routing[1], self._routing[2]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)


def _service(request: Request) -> Service:
    return request.app.state.service


def _token(credentials: HTTPAuthorizationCredentials | None, api_key: str | None) -> str:
    token = credentials.credentials if credentials is not None else api_key
    if not token:
        raise HTTPException(401, "a token is required: Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    return token


bearer = HTTPBearer(auto_error=False, description="a source's or a user's API token")


def caller(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
           service: Annotated[Service, Depends(_service)],
           api_key: Annotated[str | None, Query(description="Open311 clients: the token")]
           = None) -> Caller:
    """The caller of a token: a user, else a source; 401 for neither."""
    token = _token(credentials, api_key)
    user = accounts.user_by_token(service.engine, token)
    if user is not None:
        return Caller(accounts.scope_of(user))
    source = accounts.source_by_token(service.engine, token)
    if source is not None:
        return Caller(SYSTEM, source.code, source.crs, source.rate_limit)
    raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})


def source_caller(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """Only sources post alerts."""
    if who.source is None:
        raise HTTPException(403, "only a source's token may post alerts")
    return who


def take_quota(service: Service, who: Caller, alerts: int) -> None:
    """Count ``alerts`` against the source's rate limit; 429 with Retry-After beyond it."""
    limit = parse_rate_limit(who.rate_limit)
    if not service.limiter.hit(limit, who.source, cost=alerts):
        reset, _ = service.limiter.get_window_stats(limit, who.source)
        wait = max(1, math.ceil(reset - time.time()))
        raise HTTPException(429, f"rate limit {who.rate_limit} of source {who.source} "
                                 f"exceeded; retry in {wait} s",
                            headers={"Retry-After": str(wait)})


def post_alerts(service: Service, who: Caller, records: list[dict],
                loc: tuple[str, ...] = ("body",), batch: bool = False) -> list[dict]:
    """Store and route ``records`` for a source, all or none; 422 naming each bad record
    (its index in a batch) and field."""
    from geo.ingest import intake

    take_quota(service, who, len(records))
    router, catalog = service.routing()
    rejects, results = intake(service.engine, records, who.source, who.crs, router, catalog,
                              service.tz)
    if rejects:
        raise RequestValidationError([
            {"loc": (*loc, *((r.row - 1,) if batch else ()), r.field),
             "msg": r.reason, "type": "value_error", "input": r.value} for r in rejects])
    return results


def record_of(alert: AlertIn) -> dict:
    """An API alert as a row for `geo.ingest.parse_alerts`."""
    rec = alert.model_dump()
    rec["reported_at"] = alert.reported_at.isoformat() if alert.reported_at else ""
    return rec


def case_query(who: Caller):
    """Cases the caller may read, with their alert's source and id."""
    q = (select(Case, Alert.source, Alert.external_id, Alert.description)
         .join(Alert, Alert.id == Case.alert_id).where(store.in_scope(who.scope)))
    return q.where(Alert.source == who.source) if who.source else q


def case_out(case: Case, source: str, external_id: str) -> CaseOut:
    return CaseOut(id=case.id, status=case.status, lon=case.lon, lat=case.lat,
                   matter_code=case.matter_code, severity=case.severity,
                   township_code=case.township_code, township_name=case.township_name,
                   unit_code=case.unit_code, site_id=case.site_id, body_code=case.body_code,
                   flags=case.flags or "", reasons=list(case.reasons or []), source=source,
                   external_id=external_id, opened_at=aware_utc(case.opened_at),
                   deadline_at=aware_utc(case.deadline_at))


def aware_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored (naive UTC) time with its offset, as RFC 3339 wants."""
    return None if value is None else value.replace(tzinfo=dt.UTC)


def naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def jsonable_errors(errors) -> list[dict]:
    from fastapi.encoders import jsonable_encoder

    from geo.api.schemas import UNION_TAGS

    return jsonable_encoder([
        {**{k: v for k, v in e.items() if k != "ctx"},
         "loc": [x for x in e.get("loc", ()) if x not in UNION_TAGS]} for e in errors])
