"""Request and response bodies of the intake API (`/api/v1`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)

from geo.alerts import query_time, text_problem

MAX_BATCH = 1000


def not_bool(value: object) -> object:
    """Refuse ``true``/``false`` where a number is due (pydantic would read 1.0 and 0.0).

    Raises
    ------
    ValueError
        When ``value`` is a boolean.
    """
    if isinstance(value, bool):
        raise ValueError("not a number (true/false)")
    return value


#: a finite number, never a boolean; numbers in strings ("120.3") are read as before
Number = Annotated[float, BeforeValidator(not_bool), Field(allow_inf_nan=False)]


class AlertIn(BaseModel):
    """One alert as a source reports it; the source comes from the token."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=100, pattern=r"^[!-~]+$",
                    description="the source's own id of the alert, printable ASCII without "
                                "spaces: posting it again changes nothing (idempotency key)")
    lon: Number = Field(description="x in the source's CRS: longitude in degrees (WGS84, "
                                    "GCJ-02), or easting in metres (a projected CRS); "
                                    "checked after conversion to WGS84")
    lat: Number = Field(description="y in the source's CRS: latitude in degrees, or "
                                    "northing in metres")
    matter: str | None = Field(None, max_length=40, description="matter code (执法事项)")
    reported_at: dt.datetime | None = Field(
        None, description="ISO 8601; without an offset it is local time; default: now")
    severity: str = Field("medium", max_length=10,
                          description="low, medium or high (any case), as at every door")
    description: str = Field("", max_length=4000)
    credit_code: str | None = Field(None, max_length=18,
                                    description="unified social credit code of the site")

    @field_validator("id", "matter", "description", "credit_code", mode="before")
    @classmethod
    def _text(cls, value: object, info: ValidationInfo) -> object:
        """Refuse lone surrogates and control characters (line breaks and tabs are text)."""
        if isinstance(value, str) and (problem := text_problem(value, info.field_name)):
            raise ValueError(problem)
        return value

    @field_validator("reported_at")
    @classmethod
    def _plausible_time(cls, value: dt.datetime | None) -> dt.datetime | None:
        """Refuse times that no date arithmetic should meet (the pipeline checks the
        earliest and future bounds of an incident)."""
        if value is not None:
            query_time(value)
        return value


class AlertBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alerts: list[AlertIn] = Field(min_length=1, max_length=MAX_BATCH)


def _shape(body) -> str:
    return "batch" if isinstance(body, dict) and "alerts" in body else "alert"


#: one alert, or ``{"alerts": [...]}``; errors name the fields of the shape that was sent
AlertsIn = Annotated[Annotated[AlertIn, Tag("alert")] | Annotated[AlertBatch, Tag("batch")],
                     Discriminator(_shape)]
UNION_TAGS = frozenset({"alert", "batch"})


class AlertResult(BaseModel):
    id: str
    alert_id: int
    case_id: int | None
    created: bool = Field(description="false: this (source, id) was stored before; "
                                      "nothing changed")
    status: str | None
    township_code: str | None
    body_code: str | None
    flags: str


class AlertsOut(BaseModel):
    results: list[AlertResult]


class CaseOut(BaseModel):
    id: int
    status: str
    lon: float
    lat: float
    matter_code: str | None
    severity: str
    township_code: str | None
    township_name: str | None
    unit_code: str | None
    site_id: str | None
    body_code: str | None
    flags: str
    reasons: list[str]
    source: str
    external_id: str
    opened_at: dt.datetime
    deadline_at: dt.datetime | None


class CasePage(BaseModel):
    items: list[CaseOut]
    total: int
    page: int
    page_size: int


class Problem(BaseModel):
    detail: str


class Open311Error(BaseModel):
    code: int
    description: str


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str
    group: str


class ServiceRequestCreated(BaseModel):
    service_request_id: str
    service_notice: str
    account_id: str | None = None


class ServiceRequest(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str
    service_name: str | None
    service_code: str | None
    description: str
    agency_responsible: str | None
    requested_datetime: dt.datetime
    updated_datetime: dt.datetime | None
    expected_datetime: dt.datetime | None
    address: str
    lat: float
    long: float
