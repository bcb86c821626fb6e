"""The joint operation of a case over the API (issue 14, practice 4): its participating
bodies and observers (`/api/v1/cases/{case_id}/participants`) and the items seized on it
with their totals (`/api/v1/cases/{case_id}/seizures`).

The store decides (`geo.store.jointops`): whoever reads the case reads its operation
(outside the caller's scope the case is 404); the lead body invites; the lead or a
participating body records seized items (a body on neither side: 403; a role that only
reads: 403). A refused value is 422 naming the field (and the item's index), with the
refusal's code as ``type`` (``jointop_<code>``, `geo.jointops.JointOpError`); nothing is
stored then. Amounts in yuan are decimal strings (exact to the fen) besides ``value_fen``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from geo.api.core import API_PREFIX, MAX_ID, aware_utc
from geo.api.resources import Svc, Who, _answers, _describe, store_errors
from geo.jointops import UNITS, JointOpError, Totals, check_items
from geo.store import jointops

router = APIRouter(prefix=API_PREFIX)
CaseId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: a number as sent: JSON number or decimal text, never a boolean taken for 1
Number = StrictInt | StrictFloat | StrictStr
#: items one request records at most
MAX_ITEMS = 100


class SeizureIn(BaseModel):
    """One line of seized items: the estimated value is of the whole line. Numbers are
    taken as sent (no true for 1), checked by `geo.jointops.check_item`."""

    model_config = ConfigDict(extra="forbid")
    item: str = Field(max_length=1000, description="what was seized (at most 100 characters)")
    quantity: Number = Field(description="above zero, at most 1,000,000, three decimals "
                                         "at most; a number or a decimal string")
    unit: str = Field(max_length=100, description=f"one of {'、'.join(UNITS)}")
    value_yuan: Number = Field(description="estimated value of the line in yuan, at least "
                                           "0, to the fen; a number or a decimal string")
    note: str = Field("", max_length=1000, description="at most 200 characters")


class SeizuresIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[SeizureIn] = Field(min_length=1, max_length=MAX_ITEMS)


class SeizureOut(BaseModel):
    id: int
    item: str
    quantity: float
    unit: str
    value_yuan: str = Field(description="yuan, two decimals (exact)")
    value_fen: int
    note: str
    body_code: str | None = Field(description="the body that recorded it")
    recorded_by: str
    recorded_at: dt.datetime


class TotalsOut(BaseModel):
    lines: int
    by_unit: dict[str, str] = Field(description="quantity per unit (decimal strings)")
    value_yuan: str
    value_fen: int


class SeizureList(BaseModel):
    items: list[SeizureOut]
    totals: TotalsOut


class ParticipantIn(BaseModel):
    """A body to take part (``body_code``) or an observer by name (``observer``): one."""

    model_config = ConfigDict(extra="forbid")
    body_code: str | None = Field(None, max_length=100)
    observer: str | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _one(self) -> ParticipantIn:
        if (self.body_code is None) == (self.observer is None):
            raise ValueError("give exactly one of body_code and observer")
        return self


class ParticipantOut(BaseModel):
    body_code: str | None
    name: str
    added_by: str
    added_at: dt.datetime


class TeamOnCase(BaseModel):
    team_id: str
    body_code: str
    status: str
    dispatched_at: dt.datetime | None
    cleared_at: dt.datetime | None


class OperationOut(BaseModel):
    case_id: int
    status: str
    lead: str | None = Field(description="the lead body: the case's responsible body")
    participants: list[ParticipantOut]
    observers: list[ParticipantOut]
    teams: list[TeamOnCase]
    totals: TotalsOut


def _refused(exc: JointOpError, loc: tuple) -> RequestValidationError:
    where = (*loc, *((exc.row - 1,) if exc.row is not None else ()),
             *((exc.field,) if exc.field else ()))
    return RequestValidationError([{"loc": where, "msg": str(exc), "type": f"jointop_{exc.code}",
                                    "input": ""}])


def _totals(total: Totals) -> TotalsOut:
    return TotalsOut(lines=total.lines, by_unit={u: f"{q:f}" for u, q in total.by_unit.items()},
                     value_yuan=f"{total.value_yuan:.2f}", value_fen=total.value_fen)


def _item(row: dict) -> SeizureOut:
    return SeizureOut(**{**row, "value_yuan": f"{Decimal(row['value_fen']).scaleb(-2):.2f}",
                         "recorded_at": aware_utc(row["recorded_at"])})


def _participant(row: dict) -> ParticipantOut:
    return ParticipantOut(**{**row, "added_at": aware_utc(row["added_at"])})


@router.get("/cases/{case_id}/seizures", response_model=SeizureList,
            responses=_answers(403, 404), tags=["cases"],
            description=_describe("The items seized on a case, oldest first, with their totals "
                                  "(quantity per unit, estimated value).",
                                  ("jointops", "read")))
def list_seizures(case_id: CaseId, who: Who, service: Svc) -> SeizureList:
    """List the items seized on a case."""
    with store_errors():
        items, total = jointops.list_seizures(service.engine, case_id, scope=who.scope)
    return SeizureList(items=[_item(i) for i in items], totals=_totals(total))


@router.post("/cases/{case_id}/seizures", response_model=SeizureList, status_code=201,
             responses=_answers(403, 404), tags=["cases"],
             description=_describe(
                 "Record items seized on a case (all or none), each audited on the case's "
                 "timeline: by its lead body or a body taking part in its joint operation, "
                 "while a team is on the case or it is being handled or rectified. Answers "
                 "the items recorded and the case's totals.", ("jointops", "change")))
def add_seizures(case_id: CaseId, body: SeizuresIn, who: Who, service: Svc) -> SeizureList:
    """Record seized items."""
    rows = [i.model_dump() for i in body.items]
    try:
        check_items(rows)  # first, so that each refusal names its item's index
    except JointOpError as exc:
        raise _refused(exc, ("body", "items")) from None
    with store_errors(("body",)):
        try:
            made = jointops.add_seizures(service.engine, case_id, rows, scope=who.scope)
        except JointOpError as exc:  # the case's state
            raise _refused(exc, ("body",)) from None
        _, total = jointops.list_seizures(service.engine, case_id, scope=who.scope)
    return SeizureList(items=[_item(i) for i in made], totals=_totals(total))


@router.get("/cases/{case_id}/participants", response_model=OperationOut,
            responses=_answers(403, 404), tags=["cases"],
            description=_describe("The joint operation of a case: its lead body, the bodies "
                                  "taking part, the observers, the teams sent and the totals "
                                  "of the items seized.", ("jointops", "read")))
def get_operation(case_id: CaseId, who: Who, service: Svc) -> OperationOut:
    """The joint operation of a case."""
    with store_errors():
        op = jointops.operation(service.engine, case_id, scope=who.scope)
    return _operation(op)


def _operation(op: dict) -> OperationOut:
    return OperationOut(
        case_id=op["case_id"], status=op["status"], lead=op["lead"],
        participants=[_participant(p) for p in op["participants"]],
        observers=[_participant(o) for o in op["observers"]],
        teams=[TeamOnCase(**{**a, "dispatched_at": aware_utc(a["dispatched_at"]),
                             "cleared_at": aware_utc(a["cleared_at"])}) for a in op["teams"]],
        totals=_totals(op["totals"]))


@router.post("/cases/{case_id}/participants", response_model=OperationOut, status_code=201,
             responses=_answers(403, 404), tags=["cases"],
             description=_describe(
                 "A body joins the joint operation of a case (``body_code``: a district team "
                 "or a township center of the catalogue, not the lead), or an organisation "
                 "that is not an enforcement body is recorded as an observer (``observer``: "
                 "its name). Only the lead body (or a role acting on every case) invites; a "
                 "big-data alert is verified first. Answers the operation.",
                 ("jointops", "change"), ("cases", "change")))
def add_participant(case_id: CaseId, body: ParticipantIn, who: Who, service: Svc
                    ) -> OperationOut:
    """Add a body or an observer to the joint operation of a case."""
    with store_errors(("body",)):
        try:
            if body.body_code is not None:
                jointops.add_participant(service.engine, case_id, body.body_code,
                                         scope=who.scope)
            else:
                jointops.add_observer(service.engine, case_id, body.observer, scope=who.scope)
        except JointOpError as exc:
            if exc.field == "name":
                exc.field = "observer"
            raise _refused(exc, ("body",)) from None
        op = jointops.operation(service.engine, case_id, scope=who.scope)
    return _operation(op)
