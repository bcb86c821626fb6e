"""What the API's endpoints share: who is calling, rate limits, posting alerts, reading
cases in the caller's scope."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool

from geo import store
from geo.access import Scope
from geo.alerts import excerpt
from geo.api.quota import TokenBuckets
from geo.api.schemas import MAX_BATCH, UNION_TAGS, AlertIn, CaseOut, Problem
from geo.catalog import Catalog
from geo.settings import Settings
from geo.store import accounts
from geo.store.models import Alert, Case, Meta

if TYPE_CHECKING:
    from geo.generations import Timeline
    from geo.ingest import Reject

API_PREFIX = "/api/v1"
MAX_ID = 2**31 - 1  # ids are 32-bit integers on every backend
UNAUTHORIZED = {"description": "missing or unknown token", "model": Problem}
LIMITED = {"description": "rate limit of the source exceeded; see Retry-After",
           "model": Problem}
NOT_READY = {"description": "no layers loaded yet (`python -m geo init`)", "model": Problem}
#: problems listed in one 422 answer at most (the rest are counted), so that its size stays
#: small whatever was sent
MAX_ERRORS = 20
#: characters of an error message shown at most
MAX_MESSAGE = 300

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """Who is calling: a user (their scope) or a source (its own alerts' cases)."""

    scope: Scope
    source: str | None = None
    crs: str = "EPSG:4326"
    rate_limit: str = ""


#: seconds between checks that the layers were not re-imported (new router and catalogue)
LAYERS_CHECK_S = 1.0
#: most alerts stored and routed together for concurrent requests (one request may be more)
GROUP_ALERTS = 2000
#: seconds the writer thread of `Service.intake` waits for work before it ends
WRITER_IDLE_S = 60.0


@dataclass(eq=False)
class _Call:
    """One request's alerts waiting for their turn in `Service.intake`, then its outcome."""

    records: list[dict]
    source: str
    crs: str
    router: Timeline
    catalog: Catalog
    outcome: tuple | None = None
    error: BaseException | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    future: asyncio.Future | None = None  # an async waiter's, resolved in its event loop


@dataclass
class Service:
    """What the endpoints share: the store, the router (rebuilt when layers are re-imported)
    and the per-source rate limits (alerts, in token buckets that hold a full batch)."""

    settings: Settings
    engine: Engine
    limiter: TokenBuckets = field(default_factory=lambda: TokenBuckets(burst=MAX_BATCH))
    _routing: tuple | None = None
    _checked: float = float("-inf")
    _checking: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: deque[_Call] = field(default_factory=deque)
    _wake: threading.Condition = field(default_factory=threading.Condition)
    _writing: bool = False

    def fresh_routing(self) -> tuple[Timeline, Catalog] | None:
        """`routing` while it needs no look at the store, or while another request looks;
        None: the caller is to run `routing` (which looks), in a worker thread."""
        cached = self._routing
        if cached is None:
            return None
        if time.monotonic() - self._checked >= LAYERS_CHECK_S and not self._checking:
            self._checking = True  # this caller looks; the others meanwhile need not
            return None
        return cached[1], cached[2]

    def routing(self) -> tuple[Timeline, Catalog]:
        """(router, catalog) for the loaded layer set, built once per import.

        Whether the layers were re-imported is read from the store at most every
        `LAYERS_CHECK_S` seconds, not for every alert.
        """
        from geo.ingest import stored_routing

        cached = self._routing
        if cached is not None and time.monotonic() - self._checked < LAYERS_CHECK_S:
            return cached[1], cached[2]
        try:
            with store.sessions(self.engine)() as s:
                stamp = s.scalar(select(Meta.value).where(Meta.key == "imported_at"))
            if stamp is None:
                raise HTTPException(503, "no layers loaded yet: run `python -m geo init`")
            with self._lock:
                if self._routing is None or self._routing[0] != stamp:
                    router, catalog = stored_routing(self.engine, self.settings)
                    self._routing = (stamp, router, catalog, frozenset(catalog.matters["code"]))
                self._checked = time.monotonic()
                return self._routing[1], self._routing[2]
        finally:
            self._checking = False

    def intake(self, records: list[dict], source: str, crs: str, router: Timeline,
               catalog: Catalog) -> tuple[list[Reject], list[dict]]:
        """`geo.ingest.intake` of one request, run together with the requests that arrive
        meanwhile (group commit).

        One writer thread takes every request waiting (alerts of up to `GROUP_ALERTS` of
        them) into one `geo.ingest.intake_group`: one transaction storing their alerts, one
        routing pass, one transaction storing their cases. Each request is still checked
        on its own and stored all or nothing, and gets the answer `intake` would give it
        alone; a concurrent repeat of an id is ``created`` for exactly one request. Under
        load this spreads commits, routing and statement overheads over many alerts; a
        lone request is taken at once. The one thread also keeps what routing caches per
        thread (pyproj's transformers) warm, where the server's worker threads come and go.
        """
        call = self._submit(_Call(records, source, crs, router, catalog))
        call.ready.wait()
        if call.error is not None:
            raise call.error
        return call.outcome

    async def intake_async(self, records: list[dict], source: str, crs: str, router: Timeline,
                           catalog: Catalog) -> tuple[list[Reject], list[dict]]:
        """`intake` awaited in the event loop (no worker thread waits for the writer)."""
        call = _Call(records, source, crs, router, catalog,
                     future=asyncio.get_running_loop().create_future())
        self._submit(call)
        await asyncio.shield(call.future)
        if call.error is not None:
            raise call.error
        return call.outcome

    def _submit(self, call: _Call) -> _Call:
        with self._wake:
            self._pending.append(call)
            if not self._writing:
                self._writing = True
                threading.Thread(target=self._write, name="intake-writer", daemon=True).start()
            self._wake.notify()
        return call

    def _write(self) -> None:
        """The writer thread: groups of waiting requests, until idle for `WRITER_IDLE_S`."""
        while True:
            with self._wake:
                if not self._pending:
                    self._wake.wait(WRITER_IDLE_S)
                if not self._pending:
                    self._writing = False
                    return
                group, size = [], 0
                while self._pending and (not group or size + len(self._pending[0].records)
                                         <= GROUP_ALERTS):
                    size += len(self._pending[0].records)
                    group.append(self._pending.popleft())
            self._run(group)

    def _run(self, group: list[_Call]) -> None:
        start = 0
        while start < len(group):  # a layer import may fall between two requests
            end = start + 1
            while end < len(group) and group[end].router is group[start].router:
                end += 1
            part = group[start:end]
            try:
                self._intake(part)
            except Exception:
                if len(part) == 1:
                    log.exception("intake of %d alerts from source %s failed",
                                  len(part[0].records), part[0].source)
                else:  # one bad request must not decide the others' answers: each alone
                    log.exception("intake of %d requests together failed; retrying each "
                                  "alone", len(part))
                    self._run_alone(part)
            except BaseException:  # no request's fault (SystemExit …): all fail with it
                log.exception("intake of %d requests failed", len(part))
            finally:
                _wake_up(part)
            start = end

    def _run_alone(self, part: list[_Call]) -> None:
        """`_intake` of each request of ``part`` on its own; only a request whose own
        intake fails gets its error."""
        for c in part:
            try:
                self._intake([c])
            except Exception:
                log.exception("intake of %d alerts from source %s failed", len(c.records),
                              c.source)

    def _intake(self, part: list[_Call]) -> None:
        """`geo.ingest.intake_group` of requests that share a router; each request gets its
        outcome, or all of them the error (which is raised)."""
        from geo.ingest import intake_group

        codes = (self._routing[3] if self._routing and self._routing[2] is part[0].catalog
                 else None)
        try:
            outcomes = intake_group(self.engine, [(c.records, c.source, c.crs) for c in part],
                                    part[0].router, part[0].catalog, self.tz, matters=codes)
        except BaseException as exc:
            for c in part:
                c.error = exc
            raise
        for c, outcome in zip(part, outcomes, strict=True):
            c.outcome, c.error = outcome, None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)


async def _service(request: Request) -> Service:
    # async: FastAPI runs a plain function dependency in a worker thread, a hop per request
    return request.app.state.service


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise HTTPException(401, "a token is required: Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    return credentials.credentials


def _no_token_in_url(request: Request) -> None:
    """Refuse a token in the query string: URLs are written to access logs and proxies'
    logs. Only Open311 takes ``api_key``, as its specification says."""
    if "api_key" in request.query_params:
        raise HTTPException(400, "api_key in the query string is refused on /api/v1, as "
                                 "URLs end up in logs: send Authorization: Bearer <token> "
                                 "(and renew a token that was sent in a URL)")


bearer = HTTPBearer(auto_error=False, description="a source's or a user's API token")


def caller_of(service: Service, token: str | None) -> Caller:
    """The caller holding ``token``: an active user, else an active source; 401 otherwise.

    The token is looked up in the store every time (`geo.store.accounts.token_holder`): a
    disabled, deleted or renewed token is refused on the very next request, in every
    process serving the API.
    """
    if not token:
        raise HTTPException(401, "a token is required: Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    holder = accounts.token_holder(service.engine, token)
    if holder is None:
        raise HTTPException(401, "unknown or disabled token",
                            headers={"WWW-Authenticate": "Bearer"})
    if holder.source is None:
        return Caller(holder.scope)
    return Caller(Scope("source", source=holder.source, actor=f"source {holder.source}"),
                  holder.source, holder.crs, holder.rate_limit)


def caller(request: Request,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
           service: Annotated[Service, Depends(_service)]) -> Caller:
    """The caller of an `/api/v1` request's Bearer token: a user, else a source; 401 for
    neither, 400 for a token in the query string."""
    _no_token_in_url(request)
    return caller_of(service, _bearer_token(credentials))


def source_caller(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """Only sources post alerts."""
    if who.source is None:
        raise HTTPException(403, "only a source's token may post alerts")
    return who


async def posting_source(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        service: Annotated[Service, Depends(_service)]) -> Caller:
    """`source_caller` of `caller` as one async dependency: the token's look-up in the
    store goes to a worker thread."""
    _no_token_in_url(request)
    token = _bearer_token(credentials)
    return source_caller(await run_in_threadpool(caller_of, service, token))


def take_quota(service: Service, who: Caller, alerts: int) -> None:
    """Count ``alerts`` against the source's rate limit (`geo.api.quota`); 429 with
    Retry-After (whole seconds until they would pass) beyond it."""
    wait = service.limiter.take(who.source, who.rate_limit, alerts)
    if wait > 0:
        seconds = max(1, math.ceil(min(wait, 86_400.0)))
        raise HTTPException(429, f"rate limit {who.rate_limit} of source {who.source} "
                                 f"exceeded; {alerts} alerts can pass in {seconds} s",
                            headers={"Retry-After": str(seconds)})


def post_alerts(service: Service, who: Caller, records: list[dict],
                loc: tuple[str, ...] = ("body",), batch: bool = False) -> list[dict]:
    """Store and route ``records`` for a source, all or none; 422 naming each bad record
    (its index in a batch) and field."""
    take_quota(service, who, len(records))
    router, catalog = service.routing()
    return _accepted(service.intake(records, who.source, who.crs, router, catalog), loc, batch)


async def post_alerts_async(service: Service, who: Caller, records: list[dict],
                            loc: tuple[str, ...] = ("body",), batch: bool = False) -> list[dict]:
    """`post_alerts` in the event loop: only a look at the store for re-imported layers
    (once a second at most) goes to a worker thread, and the alerts to the writer."""
    take_quota(service, who, len(records))
    routing = service.fresh_routing() or await run_in_threadpool(service.routing)
    return _accepted(await service.intake_async(records, who.source, who.crs, *routing),
                     loc, batch)


def _accepted(outcome: tuple[list[Reject], list[dict]], loc: tuple[str, ...],
              batch: bool) -> list[dict]:
    rejects, results = outcome
    if rejects:
        raise RequestValidationError([
            {"loc": (*loc, *((r.row - 1,) if batch else ()), r.field),
             "msg": r.reason, "type": "value_error", "input": r.value} for r in rejects])
    return results


def _wake_up(part: list[_Call]) -> None:
    """Tell the requests of ``part`` that their outcome is there."""
    waiting: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
    for c in part:
        c.ready.set()
        if c.future is not None:
            waiting.setdefault(c.future.get_loop(), []).append(c.future)
    for loop, futures in waiting.items():  # one wake-up per loop, not per call
        with contextlib.suppress(RuntimeError):  # that loop has closed
            loop.call_soon_threadsafe(_resolve, futures)


def _resolve(futures: list[asyncio.Future]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def record_of(alert: AlertIn) -> dict:
    """An API alert as a raw record for `geo.alerts.check`."""
    rec = alert.model_dump()
    rec["reported_at"] = alert.reported_at.isoformat() if alert.reported_at else ""
    return rec


def case_query(who: Caller):
    """Cases the caller may read, with their alert's source and id."""
    return (select(Case, Alert.source, Alert.external_id, Alert.description)
            .join(Alert, Alert.id == Case.alert_id).where(store.in_scope(who.scope)))


def case_out(case: Case, source: str, external_id: str) -> CaseOut:
    return CaseOut(id=case.id, status=case.status, lon=case.lon, lat=case.lat,
                   matter_code=case.matter_code, severity=case.severity,
                   township_code=case.township_code, township_name=case.township_name,
                   unit_code=case.unit_code, site_id=case.site_id, body_code=case.body_code,
                   flags=case.flags or "", reasons=list(case.reasons or []), source=source,
                   external_id=external_id, opened_at=aware_utc(case.opened_at),
                   deadline_at=aware_utc(case.deadline_at), version=case.version)


def aware_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored (naive UTC) time with its offset, as RFC 3339 wants."""
    return None if value is None else value.replace(tzinfo=dt.UTC)


def jsonable_errors(errors, secrets: tuple[str, ...] = ()) -> list[dict]:
    """Validation errors as small, always-renderable JSON: ``type``, ``loc``, ``msg`` and an
    excerpt of the ``input`` (`geo.alerts.excerpt`).

    Parameters
    ----------
    errors
        pydantic's (or our own) error dicts.
    secrets
        Text never to show (the request's token), replaced wherever it appears.

    Returns
    -------
    list of dict
        At most `MAX_ERRORS` problems, then one counting the rest. The value of an
        unexpected field is not echoed (its name in ``loc`` says enough), nor are the union
        tags of a posted body (``alert``, ``batch``) part of ``loc``.
    """
    errors = list(errors)
    out = [_jsonable_error(e, secrets) for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        out.append({"type": "too_many_errors", "loc": [],
                    "msg": f"{len(errors) - MAX_ERRORS} more problems not listed"})
    return out


def _jsonable_error(error: dict, secrets: tuple[str, ...]) -> dict:
    loc = list(error.get("loc", ()))
    if len(loc) > 1 and loc[0] == "body" and loc[1] in UNION_TAGS:
        del loc[1]
    out = {"type": _shown(error.get("type", "value_error"), secrets),
           "loc": [x if isinstance(x, int) else _shown(x, secrets) for x in loc],
           "msg": _shown(error.get("msg", "invalid"), secrets, MAX_MESSAGE)}
    if "input" in error and error.get("type") != "extra_forbidden":
        out["input"] = _shown(error["input"], secrets)
    return out


def _shown(value: object, secrets: tuple[str, ...] = (), limit: int | None = None) -> str:
    """`geo.alerts.excerpt` of a value, with any of ``secrets`` blotted out."""
    try:
        text = excerpt(value) if limit is None else excerpt(value, limit)
    except Exception:  # a value whose repr fails (too deep, too many digits …)
        text = f"<{type(value).__name__}>"
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def request_secrets(request) -> tuple[str, ...]:
    """The tokens a request carries (Bearer header, ``api_key`` query parameter), which no
    answer may echo."""
    found = [request.query_params.get("api_key", "")]
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        found.append(header[7:].strip())
    return tuple(x for x in found if len(x) >= 8)
