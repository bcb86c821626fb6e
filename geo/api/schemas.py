"""Request and response bodies of the intake API (`/api/v1`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)

from geo.crs import COORDINATE_PROBLEMS

MAX_BATCH = 1000


class AlertIn(BaseModel):
    """One alert as a source reports it; the source comes from the token."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=100, pattern=r"^[!-~]+$",
                    description="the source's own id of the alert, printable ASCII without "
                                "spaces: posting it again changes nothing (idempotency key)")
    lon: float = Field(ge=-180, le=180, description="longitude, degrees, source's CRS")
    lat: float = Field(ge=-90, le=90, description="latitude, degrees, source's CRS")
    matter: str | None = Field(None, max_length=40, description="matter code (执法事项)")
    reported_at: dt.datetime | None = Field(
        None, description="ISO 8601; without an offset it is local time; default: now")
    severity: Literal["low", "medium", "high"] = "medium"
    description: str = Field("", max_length=4000)
    credit_code: str | None = Field(None, max_length=18,
                                    description="unified social credit code of the site")

    @field_validator("lat", mode="before")
    @classmethod
    def _not_swapped(cls, lat, info: ValidationInfo):
        """Say so when lon and lat look swapped, rather than only 'out of range'."""
        lon = info.data.get("lon")
        if (isinstance(lat, int | float) and isinstance(lon, int | float)
                and abs(lat) > 90 and abs(lat) <= 180 and abs(lon) <= 90):
            raise ValueError(COORDINATE_PROBLEMS["swapped"][0])
        return lat


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
