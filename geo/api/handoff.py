"""The hand-off's API (`/api/v1`): approvals (审批) from the approving system, each opening
its supervision task, and the acknowledgement (签收) of a referral by the receiving body.

As everywhere in the API, the endpoints pass the caller's scope to the store
(`geo.store.handoff`) and turn its refusals into answers: 404 out of scope, 403 for a role
that may not, 409 for a change someone else made first, 422 naming the field.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from geo.api.core import API_PREFIX, MAX_ID, take_quota
from geo.api.resources import Svc, Who, _answers, _describe, store_errors
from geo.days import local_today
from geo.store import handoff

router = APIRouter(prefix=API_PREFIX)
#: approvals in one request at most
MAX_APPROVALS = 1000
#: one line of text without control characters
LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"


class ApprovalIn(BaseModel):
    """A permit granted to a site: the site by ``site_id`` or ``credit_code``."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=100, pattern=r"^[!-~]+$",
                    description="the approving system's id of the approval (idempotent)")
    site_id: str | None = Field(None, min_length=1, max_length=40, pattern=LINE)
    credit_code: str | None = Field(None, min_length=1, max_length=18, pattern=LINE)
    matter: str = Field(min_length=1, max_length=40, pattern=LINE,
                        description="the matter code whose supervision the permit starts")
    permit: str = Field("", max_length=200, pattern=LINE)
    department: str = Field("", max_length=100, pattern=LINE,
                            description="the approving department (default: powers.csv's)")
    granted_on: dt.date


class ApprovalsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approvals: list[ApprovalIn] = Field(min_length=1, max_length=MAX_APPROVALS)


class ApprovalResult(BaseModel):
    id: str
    approval_id: int
    task_id: int
    created: bool


class ApprovalsOut(BaseModel):
    results: list[ApprovalResult]


class ReferralAcknowledged(BaseModel):
    id: int
    acknowledged: bool = True


@router.post("/approvals", response_model=ApprovalsOut, status_code=201,
             responses={200: {"description": "every approval was stored before; nothing "
                                             "changed", "model": ApprovalsOut},
                        **_answers(403)}, tags=["hand-off"],
             description=_describe(
                 "Post approvals (permits granted to sites), up to 1000: each opens a "
                 "supervision task for the department that supervises the matter, due the "
                 "days powers.csv gives after the approval. All are stored, or none when any "
                 "is refused (422 naming the approval's index and field). An approval of the "
                 "same source and id is stored once.", ("approvals", "post")))
def post_approvals(body: ApprovalsIn, who: Who, service: Svc) -> JSONResponse:
    """Store approvals and open their supervision tasks."""
    if who.source is not None:
        take_quota(service, who, len(body.approvals))
    records = [a.model_dump() for a in body.approvals]
    source = who.source or who.scope.actor
    with store_errors():
        results, rejects = handoff.ingest_approvals(
            service.engine, records, list(range(1, len(records) + 1)), source[:40],
            local_today(service.tz), service.settings.earliest_alert, scope=who.scope,
            all_or_none=True)
    if rejects:
        raise RequestValidationError([
            {"loc": ("body", "approvals", r.row - 1, r.field), "msg": r.reason,
             "type": "value_error", "input": r.value} for r in rejects[:20]])
    out = ApprovalsOut(results=[ApprovalResult(id=r["id"], approval_id=r["approval_id"],
                                               task_id=r["task_id"], created=r["created"])
                                for r in results])
    status = 201 if any(r["created"] for r in results) else 200
    return JSONResponse(status_code=status, content=out.model_dump(mode="json"))


@router.post("/referrals/{referral_id}/acknowledgement", response_model=ReferralAcknowledged,
             responses=_answers(403, 404, 409), tags=["hand-off"],
             description=_describe(
                 "The receiving body acknowledges (签收) a case referred to it (its "
                 "dispatcher or township staff, or the command center on its behalf); 422 "
                 "where it is acknowledged already or the case has left the body.",
                 ("cases", "change")))
def acknowledge(referral_id: Annotated[int, Path(ge=1, le=MAX_ID)], who: Who,
                service: Svc) -> ReferralAcknowledged:
    """Acknowledge a referral."""
    with store_errors(("path",), "referral_id"):
        handoff.acknowledge_referral(service.engine, referral_id, scope=who.scope)
    return ReferralAcknowledged(id=referral_id)



