"""Call taking (接警): a phone report as an alert, where it routes, and what a search asks.

Pure rules, no database: the report a call-taker fills in (`PhoneReport`), the checks it must
pass before anything is stored (the same bounds as every other door: `geo.alerts`), the
record it becomes for the one intake pipeline (`geo.ingest.take_call`), the points of the
places a call-taker may pick by name (`places`), and the terms of a case search
(`search_terms`). Refusals are `CallError` with a code and parameters, for the page to word
in the user's language.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from geo.alerts import EARLIEST, FUTURE_SLACK, MAX_LEN, text_problem
from geo.catalog import SEVERITIES
from geo.crs import GCJ02, WGS84, coordinate_problems
from geo.layers import LayerSet
from geo.routing import Router, Routing

#: the source of the alerts of calls taken on the page (the 12345 hotline's, `geo.cases.SOURCES`)
SOURCE = "12345"
#: the coordinate systems a call-taker may give: WGS84, or GCJ-02 as phone map apps show
CALL_CRS = (WGS84, GCJ02)
#: characters of an address as the caller gives it, at most
MAX_ADDRESS = 200
#: characters of a search text, at most
MAX_SEARCH = 100
#: the kinds of places picked by name, in the order they are offered
PLACE_KINDS = ("township", "unit", "site")
#: characters that reorder how text around them is shown (bidirectional embeddings,
#: overrides and isolates: U+202A–U+202E, U+2066–U+2069); in a caller's words they only
#: serve to make text read differently from what is stored
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


class CallError(ValueError):
    """A phone report or a search the rules refuse.

    ``str(exc)`` says why in English; ``code`` and ``params`` say the same as data:
    ``no_point``; ``not_a_number`` (``field``: lon or lat, ``value``); ``coordinates``
    (``problem``: a key of `geo.crs.COORDINATE_PROBLEMS`); ``crs`` (``crs``);
    ``unknown_matter`` (``matter``); ``severity`` (``severity``); ``time_future``;
    ``time_early`` (``earliest``: a date); ``no_time``; ``too_long`` (``field``,
    ``limit``); ``bad_text`` (``field``); ``bidi`` (``field``: text holding a
    direction control character, ``_BIDI``); ``rejected`` (``field``, ``reason``: the
    intake's refusal, in English).
    """

    def __init__(self, message: str, code: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def new_call_id() -> str:
    """A fresh external id for a call's alert (``call-`` and 24 hex digits): a form keeps
    one until its report is stored, so a second click stores nothing twice."""
    return f"call-{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class PhoneReport:
    """What a call-taker took down.

    Parameters
    ----------
    lon, lat : float
        Where, in degrees of ``crs``.
    matter_code : str or None
        The catalogue's matter; None: unknown (the command center triages it).
    severity : str
        One of `geo.catalog.SEVERITIES`.
    reported_at : datetime
        When it happened, time-zone aware.
    crs : str, default WGS84
        `geo.crs.WGS84` or `geo.crs.GCJ02` (phone map apps), see `CALL_CRS`.
    description, address : str
        What the caller said, and the address or landmark in their words.
    call_id : str
        The external id of the alert (`new_call_id`).
    """

    lon: float
    lat: float
    matter_code: str | None
    severity: str
    reported_at: dt.datetime
    crs: str = WGS84
    description: str = ""
    address: str = ""
    call_id: str = field(default_factory=new_call_id)


def parse_point(lon: str, lat: str) -> tuple[float, float]:
    """Coordinates typed in (decimal degrees) as numbers; `CallError` for text that is not
    a number or a point that is missing, out of range or swapped (nothing is guessed)."""
    values = []
    for name, raw in (("lon", lon), ("lat", lat)):
        raw = (raw or "").strip()
        if not raw:
            raise CallError("no point given", "no_point")
        try:
            values.append(float(raw))
        except ValueError:
            raise CallError(f"{name} is not a number", "not_a_number", field=name,
                            value=raw[:40]) from None
    check_point(*values)
    return values[0], values[1]


def check_point(lon: float, lat: float) -> None:
    """`CallError` (``coordinates``) for a point that is missing, out of range or swapped."""
    problem = coordinate_problems([lon], [lat])[0]
    if problem is not None:
        raise CallError(f"unusable coordinates: {problem}", "coordinates", problem=problem)


def _check_text(value: str, name: str, limit: int) -> None:
    if len(value) > limit:
        raise CallError(f"{name} longer than {limit} characters", "too_long", field=name,
                        limit=limit)
    if text_problem(value, name) is not None:
        raise CallError(f"{name}: {text_problem(value, name)}", "bad_text", field=name)
    if _BIDI.search(value):
        raise CallError(f"{name} holds a text direction control character", "bidi",
                        field=name)


def description_of(report: PhoneReport) -> str:
    """The alert's description: the address as the caller gave it, then what they said."""
    address, said = report.address.strip(), report.description.strip()
    return f"地址：{address}\n{said}".strip() if address else said


def check_report(report: PhoneReport, matters: Collection[str], now: dt.datetime) -> None:
    """Refuse (`CallError`) a report that no door would accept: unusable coordinates or
    coordinate system, a matter not in the catalogue, an unknown severity, a time after
    ``now`` (naive UTC) plus `geo.alerts.FUTURE_SLACK` or before `geo.alerts.EARLIEST`, or
    text too long or not plain text."""
    if report.crs not in CALL_CRS:
        raise CallError(f"coordinates in {report.crs} are not taken here", "crs",
                        crs=report.crs)
    check_point(report.lon, report.lat)
    if report.matter_code is not None and report.matter_code not in matters:
        raise CallError(f"unknown matter {report.matter_code}", "unknown_matter",
                        matter=report.matter_code)
    if report.severity not in SEVERITIES:
        raise CallError(f"unknown severity {report.severity}", "severity",
                        severity=report.severity)
    if report.reported_at is None or report.reported_at.tzinfo is None:
        raise CallError("the time of the report is missing", "no_time")
    at = report.reported_at.astimezone(dt.UTC).replace(tzinfo=None)
    if at > now + FUTURE_SLACK:
        raise CallError("the reported time lies in the future", "time_future")
    if at < EARLIEST:
        raise CallError(f"the reported time lies before {EARLIEST:%Y-%m-%d}", "time_early",
                        earliest=EARLIEST.date())
    _check_text(report.address, "address", MAX_ADDRESS)
    _check_text(description_of(report), "description", MAX_LEN["description"])


def record_of(report: PhoneReport) -> dict:
    """The report as a raw alert record for the intake (`geo.ingest.intake`)."""
    return {"id": report.call_id, "lon": report.lon, "lat": report.lat,
            "matter": report.matter_code or "", "severity": report.severity,
            "reported_at": report.reported_at.isoformat(),
            "description": description_of(report)}


def preview(router: Router, report: PhoneReport) -> Routing:
    """Where the report routes and why, as its case will be routed: township, unit, site,
    body, flags and reasons (`geo.routing.Router.route`); `CallError` for unusable
    coordinates."""
    if report.crs not in CALL_CRS:
        raise CallError(f"coordinates in {report.crs} are not taken here", "crs",
                        crs=report.crs)
    check_point(report.lon, report.lat)
    return router.route(report.lon, report.lat, report.matter_code, at=report.reported_at,
                        crs=None if report.crs == WGS84 else report.crs)


def places(layers: LayerSet) -> pd.DataFrame:
    """The places a call-taker may pick by name, each with a point inside it (WGS84).

    Returns
    -------
    DataFrame
        ``kind`` (`PLACE_KINDS`), ``key`` (code or site id), ``name``, ``township_code``,
        ``lon``, ``lat``: townships, then units, then sites, each by name. A polygon's
        point is its representative point (always inside it), so the point routes to the
        place: a site picked by name is the site of its case.
    """
    parts = []
    for kind, frame, key in (("township", layers.townships, "code"),
                             ("unit", layers.units, "code"), ("site", layers.sites, "site_id")):
        if frame is None or frame.empty:
            continue
        geoms = frame.geometry.to_numpy()
        points = np.where(shapely.get_type_id(geoms) == 0, geoms,
                          shapely.point_on_surface(geoms))
        parts.append(pd.DataFrame({
            "kind": kind, "key": frame[key].astype(str).to_numpy(),
            "name": frame["name"].astype(str).to_numpy(),
            "township_code": (frame["code"] if kind == "township"
                              else frame.get("township_code",
                                             pd.Series(None, index=frame.index)))
            .to_numpy(dtype=object),
            "lon": shapely.get_x(points), "lat": shapely.get_y(points)})
            .sort_values(["name", "key"], kind="stable"))
    if not parts:
        return pd.DataFrame(columns=["kind", "key", "name", "township_code", "lon", "lat"])
    return pd.concat(parts, ignore_index=True)


def search_terms(text: str) -> tuple[int | None, str]:
    """What a case search looks for: (a case number where the text is one, e.g. ``123`` or
    ``#123``, the text itself stripped); `CallError` for text too long or not plain text.
    Empty text searches nothing (``(None, "")``)."""
    text = (text or "").strip()
    _check_text(text, "search", MAX_SEARCH)
    digits = text.removeprefix("#").strip()
    number = int(digits) if digits.isascii() and digits.isdigit() and len(digits) < 10 else None
    return number, text
