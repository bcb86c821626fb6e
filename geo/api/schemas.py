"""Request and response bodies of the intake API (`/api/v1`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from geo.alerts import query_time, text_problem
from geo.crs import COORDINATE_PROBLEMS, coordinate_problems

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
    version: int | None = Field(None, description="send it back with a transition "
                                                  "(optimistic concurrency)")


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


# ------------------------------------------------------- teams, sites, inspections, cases
#: ids and versions are 32-bit integers on every backend
MAX_INT = 2**31 - 1
#: a version or id in a body: a JSON integer (not a string, float or boolean)
Version = Annotated[int, Field(strict=True, ge=1, le=MAX_INT)]
#: a code or id of one line (no control characters; lone surrogates refused by `_Texts`)
CODE = r"^[^\x00-\x1f\x7f-\x9f]+$"


class _Texts(BaseModel):
    """A request body whose text fields are refused with lone surrogates or control
    characters (`geo.alerts.text_problem`: the check of every door)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: object, info: ValidationInfo) -> object:
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if isinstance(text, str) and (problem := text_problem(text, info.field_name)):
                raise ValueError(problem)
        return value


class TeamOut(BaseModel):
    team_id: str
    name: str
    body_code: str
    skills: list[str]
    status: str
    version: int = Field(description="send it back with a status change")
    lon: float = Field(description="WGS84: the latest position fix, else the team's base")
    lat: float
    fix_at: dt.datetime | None = Field(description="time of the latest fix (none: the base)")
    open_assignments: int


class TeamPage(BaseModel):
    items: list[TeamOut]
    total: int
    page: int
    page_size: int


class FixIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lon: Number = Field(description="longitude in degrees (or x in the body's ``crs``)")
    lat: Number = Field(description="latitude in degrees (or y in the body's ``crs``)")
    at: AwareDatetime = Field(description="ISO 8601 with its offset "
                                          "(e.g. 2026-11-27T09:30:00+08:00)")

    @field_validator("at")
    @classmethod
    def _plausible_time(cls, value: dt.datetime) -> dt.datetime:
        query_time(value)  # no date arithmetic should meet it; the pipeline checks the rest
        return value


class PositionsIn(_Texts):
    fixes: list[FixIn] = Field(min_length=1, max_length=MAX_BATCH,
                               description="all are stored, or none when any is invalid")
    crs: str | None = Field(None, max_length=40, pattern=r"^[A-Za-z0-9:_. -]+$",
                            description="CRS of the fixes: WGS84 by default; ``gcj02`` for "
                                        "phone map apps, or an EPSG code")


class PositionsOut(BaseModel):
    team_id: str
    stored: int


class TeamStatusIn(_Texts):
    status: str = Field(max_length=20, description="available, en_route, on_scene or "
                                                   "off_duty (dispatched: assign to a case)")
    version: Version = Field(description="the team's version as read")


class PointGeometry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["Point"]
    coordinates: tuple[Number, Number] = Field(description="[lon, lat] WGS84")


class PolygonGeometry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["Polygon"]
    coordinates: list[Annotated[list[tuple[Number, Number]],
                                Field(min_length=4, max_length=10_000)]] = Field(
        min_length=1, max_length=100, description="rings of [lon, lat] WGS84, the first "
                                                  "the outline, closed")


def _geometry_problem(geometry: PointGeometry | PolygonGeometry) -> None:
    """Refuse coordinates that are out of range or look swapped (`geo.crs`), as for alerts."""
    import numpy as np

    rings = ([[[geometry.coordinates]]] if isinstance(geometry, PointGeometry)
             else [geometry.coordinates])
    xy = np.array([p for part in rings for ring in part for p in ring], dtype=float)
    problems = coordinate_problems(xy[:, 0], xy[:, 1])
    bad = [p for p in problems if p is not None]
    if bad:
        raise ValueError(COORDINATE_PROBLEMS[bad[0]][0])


Geometry = Annotated[PointGeometry | PolygonGeometry, Field(discriminator="type")]


class SiteIn(_Texts):
    """A site of the registry as the approval system keeps it; its id is in the path."""

    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=40, pattern=CODE,
                      description="enterprise, construction, shop …: the checklist's kind")
    risk: str = Field(max_length=10, description="low, medium or high")
    credit_code: str | None = Field(None, max_length=18, pattern=r"^[0-9A-Za-z]+$",
                                    description="unified social credit code")
    township_code: str | None = Field(None, max_length=12, pattern=r"^[0-9]+$",
                                      description="default: the township it lies in")
    geometry: Geometry = Field(description="GeoJSON Point or Polygon, WGS84")

    @field_validator("geometry")
    @classmethod
    def _coordinates(cls, value):
        _geometry_problem(value)
        return value


class SiteOut(BaseModel):
    site_id: str
    name: str
    kind: str
    risk: str
    credit_code: str | None
    township_code: str | None
    geometry: dict = Field(description="GeoJSON, WGS84")


class SitePage(BaseModel):
    items: list[SiteOut]
    total: int
    page: int
    page_size: int


class FindingIn(_Texts):
    item_code: str = Field(min_length=1, max_length=40, pattern=CODE,
                           description="an item of the site kind's checklist")
    result: Literal["pass", "problem"]
    note: str = Field("", max_length=2000)
    photo: str | None = Field(None, max_length=300, description="a reference to a photo")


class InspectionIn(_Texts):
    site_id: str = Field(min_length=1, max_length=40, pattern=CODE)
    day: dt.date = Field(description="the local day of the inspection, not in the future")
    departments: list[Annotated[str, Field(min_length=1, max_length=40,
                                           pattern=r"^[^,\x00-\x1f\x7f-\x9f]+$")]] = Field(
        min_length=1, max_length=20, description="the departments that took part")
    findings: list[FindingIn] = Field(min_length=1, max_length=500,
                                      description="one per checklist item, each item once")

    @field_validator("findings")
    @classmethod
    def _each_item_once(cls, value: list[FindingIn]) -> list[FindingIn]:
        seen: set[str] = set()
        for i, f in enumerate(value):
            if f.item_code in seen:
                raise ValueError(f"finding {i}: item {f.item_code} is listed twice")
            seen.add(f.item_code)
        return value


class ReinspectionRound(BaseModel):
    id: int
    day: dt.date
    fixed: bool


class FindingOut(BaseModel):
    id: int
    item_code: str
    result: str
    note: str
    photo: str | None
    requirement: str | None
    deadline: dt.date | None
    reinspections: list[ReinspectionRound]


class InspectionOut(BaseModel):
    id: int
    site_id: str
    day: dt.date
    departments: list[str]
    inspector: str
    findings: list[FindingOut]


class InspectionPage(BaseModel):
    items: list[InspectionOut]
    total: int
    page: int
    page_size: int


class ReinspectionIn(_Texts):
    finding_id: Version | None = Field(None, description="the problem re-inspected …")
    item_code: str | None = Field(None, min_length=1, max_length=40, pattern=CODE,
                                  description="… or its checklist item")
    day: dt.date = Field(description="the local day of the re-inspection, not in the future")
    fixed: bool = Field(strict=True)

    @model_validator(mode="after")
    def _one_finding(self) -> ReinspectionIn:
        if (self.finding_id is None) == (self.item_code is None):
            raise ValueError("give finding_id or item_code (one of them)")
        return self


class ReinspectionOut(BaseModel):
    id: int
    inspection_id: int
    finding_id: int
    day: dt.date
    fixed: bool


class TransitionIn(_Texts):
    target: str = Field(max_length=20, pattern=CODE, description=(
        "the case's new state: dispatched (give team_id, team_version), routed (re-route: "
        "body_code), transferred (township_code), merged (into), returned, rectification "
        "(fix_days), verified, handling, reinspection, closed"))
    version: Version = Field(description="the case's version as read")
    reason: str = Field("", max_length=2000, description="needed to return, transfer, "
                                                         "merge or close")
    body_code: str | None = Field(None, max_length=40, pattern=CODE)
    township_code: str | None = Field(None, max_length=12, pattern=r"^[0-9]+$")
    into: Version | None = Field(None, description="the case a duplicate is merged into")
    team_id: str | None = Field(None, max_length=40, pattern=CODE)
    team_version: Version | None = None
    fix_days: int | None = Field(None, strict=True, ge=1, le=365,
                                 description="days to rectify (default 15)")


class CaseChanged(BaseModel):
    id: int
    status: str
    version: int | None = Field(description="none: the case has left the caller's scope "
                                            "(transferred, returned)")
    assignment_id: int | None = None


class EvidenceOut(BaseModel):
    """A photo or document attached to a case (`geo.store.evidence`)."""

    id: int
    case_id: int
    name: str = Field(description="the name it came with, cleaned (never a path)")
    content_type: str = Field(description="told by the content: image/jpeg, image/png, "
                                          "image/webp or application/pdf")
    size: int = Field(description="bytes")
    sha256: str = Field(description="SHA-256 of the content (64 hex digits)")
    uploaded_by: str
    uploaded_at: dt.datetime


class EvidenceList(BaseModel):
    items: list[EvidenceOut]
