"""Coordinate reference systems: constants, input-CRS parsing, GCJ-02 and metric projection.

Points are stored in WGS84 (EPSG:4326, lon/lat in degrees). CGCS2000 (EPSG:4490) differs
from WGS84 by centimetres and is taken as WGS84. Metric work (distances, buffers, areas)
happens in the district's own projected CRS, `metric_crs_of` its townships: the CGCS2000
3-degree Gauss-Kruger zone of a district in China (EPSG:4549 for Huzhou), the WGS 84 UTM
zone of a district elsewhere.

GCJ-02 is the obfuscated datum of Chinese phone map apps. No well-kept library converts it
vectorised, so the published forward formula is implemented here with numpy and inverted
by fixed-point iteration (round trip well under 1 m).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyproj
from pyproj.database import query_crs_info, query_utm_crs_info
from pyproj.enums import PJType
from pyproj.exceptions import CRSError

WGS84 = "EPSG:4326"
CGCS2000 = "EPSG:4490"
#: CGCS2000 / 3-degree Gauss-Kruger CM 120E (metres): the bundled Huzhou demo's metric CRS,
#: for the demo builders and tests only; code measuring a district uses `metric_crs_of`
METRIC = "EPSG:4549"
GCJ02 = "gcj02"

_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


class CRSInputError(ValueError):
    """A coordinate reference system named by the user could not be understood."""


def parse_crs(text: str | int | None) -> str:
    """Normalise a user-given CRS to ``"gcj02"`` or an ``"EPSG:n"``/WKT string pyproj reads.

    ``None``, ``wgs84`` and ``cgcs2000`` give WGS84. Raises `CRSInputError` naming the input
    when pyproj does not know it.
    """
    if text is None or str(text).strip() == "":
        return WGS84
    value = str(text).strip()
    key = value.lower().replace("-", "").replace("_", "")
    if key in {"gcj02", "gcj"}:
        return GCJ02
    if key in {"wgs84", "epsg:4326", "4326", "cgcs2000", "epsg:4490", "4490"}:
        return WGS84
    if value.isdigit():
        value = f"EPSG:{value}"
    try:
        crs = pyproj.CRS.from_user_input(value)
    except CRSError as exc:
        raise CRSInputError(
            f"unknown CRS {text!r}: give an EPSG code (e.g. EPSG:4549), 'wgs84' or 'gcj02'"
        ) from exc
    if crs.equals(pyproj.CRS(CGCS2000)):
        return WGS84
    return crs.to_string()


@cache
def _transformer(src: str, dst: str) -> pyproj.Transformer:
    """The transformer from ``src`` to ``dst`` (lon/lat, x/y order), made from its PROJ
    pipeline: pyproj sets a transformer up again in every thread that uses it (each run of
    a Streamlit page is a new thread), which for one made by ``from_crs`` means searching
    the PROJ database again (about 0.1 s), for a pipeline about 1 ms. Where PROJ chooses
    among several operations point by point (e.g. Beijing 1954 to WGS84), the transformer
    stays as ``from_crs`` made it."""
    found = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    if found.definition.startswith(("proj=pipeline", "proj=noop")):
        return pyproj.Transformer.from_pipeline(found.definition)
    return found


def to_metric(lon, lat, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS84 lon/lat (degrees) to x/y metres in ``crs`` (the district's metric CRS,
    `metric_crs_of` its townships)."""
    return _transformer(WGS84, crs).transform(lon, lat)


#: name of the CGCS2000 3-degree Gauss-Kruger zones in the EPSG database (EPSG:4534..4554)
_GK_ZONES = "CGCS2000 / 3-degree Gauss-Kruger CM "

_Zone = tuple[str, tuple[float, float, float, float]]


@cache
def _zones() -> tuple[tuple[_Zone, ...], tuple[_Zone, ...]]:
    """(code, area of use west, south, east, north in degrees) of each CGCS2000 3-degree
    Gauss-Kruger zone and of each WGS 84 UTM zone, from the PROJ database (read once)."""
    gk = tuple(sorted(
        (f"EPSG:{i.code}", i.area_of_use.bounds)
        for i in query_crs_info(auth_name="EPSG", pj_types=PJType.PROJECTED_CRS)
        if i.name.startswith(_GK_ZONES) and not i.deprecated and i.area_of_use))
    utm = tuple(sorted((f"{i.auth_name}:{i.code}", i.area_of_use.bounds)
                       for i in query_utm_crs_info(datum_name="WGS 84")
                       if not i.deprecated and i.area_of_use))
    return gk, utm


@cache
def _central_meridian(code: str) -> float:
    """Longitude of natural origin (degrees) of a transverse Mercator CRS."""
    for param in pyproj.CRS(code).coordinate_operation.params:
        if param.name == "Longitude of natural origin":
            return float(param.value)
    raise ValueError(f"{code} has no central meridian")


@cache
def metric_crs_for(lon: float, lat: float) -> str:
    """The metric CRS (``"EPSG:n"``, metres) of a district centred at WGS84 ``lon``, ``lat``
    (degrees).

    In China (the area of use of a CGCS2000 3-degree Gauss-Kruger zone, EPSG:4534 CM 75E ..
    EPSG:4554 CM 135E, per the PROJ database) the zone whose central meridian is nearest:
    EPSG:4549 for Huzhou. Elsewhere the WGS 84 UTM zone there (as `pyproj.database.
    query_utm_crs_info` lists them: northern or southern hemisphere, the nearest central
    meridian on a zone edge), or the Universal Polar Stereographic beyond 84N / 80S.
    Distances are true to about 0.1 % within a zone. Raises ValueError for a point that
    is not a lon/lat.
    """
    lon, lat = float(lon), float(lat)
    if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"no metric CRS for lon {lon}, lat {lat}: not a WGS84 lon/lat")
    for zones in _zones():
        found = [(abs(lon - _central_meridian(code)), code) for code, (w, s, e, n) in zones
                 if w <= lon <= e and s <= lat <= n]
        if found:
            return min(found)[1]
    return "EPSG:32661" if lat > 0 else "EPSG:32761"  # WGS 84 / UPS North (N,E), South


def metric_crs_of(gdf) -> str:
    """The district's own metric CRS: `metric_crs_for` the centre of the bounds of a layer
    (its townships; any CRS, WGS84 where it declares none)."""
    if gdf.crs is not None and not gdf.crs.equals(WGS84) and not gdf.crs.equals(CGCS2000):
        gdf = gdf.to_crs(WGS84)
    x0, y0, x1, y1 = gdf.total_bounds
    return metric_crs_for(round((x0 + x1) / 2, 6), round((y0 + y1) / 2, 6))


def to_wgs84(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinates in ``crs`` (as returned by `parse_crs`) to WGS84 lon/lat degrees."""
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    if crs == WGS84:
        return x, y
    if crs == GCJ02:
        return gcj02_to_wgs84(x, y)
    return _transformer(crs, WGS84).transform(x, y)


def _outside_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    )
    radlat = lat / 180.0 * pi
    magic = 1.0 - _GCJ_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrtmagic) * pi)
    dlon = dlon * 180.0 / (_GCJ_A / sqrtmagic * np.cos(radlat) * pi)
    outside = _outside_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 lon/lat (degrees) to GCJ-02; points outside China are unchanged."""
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat, iterations: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Invert `wgs84_to_gcj02` by fixed-point iteration (error below 1 mm after 6 steps)."""
    glon = np.asarray(lon, dtype="float64")
    glat = np.asarray(lat, dtype="float64")
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(iterations):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        wlon = wlon - (flon - glon)
        wlat = wlat - (flat - glat)
    return wlon, wlat


# Problems with raw coordinates, by code. English for operators, Chinese for routing reasons.
COORDINATE_PROBLEMS = {
    "missing": ("coordinate is missing or not a number", "坐标缺失或不是数字"),
    "out_of_range": (
        "coordinate out of range (lon -180..180, lat -90..90)",
        "坐标超出范围（经度 -180..180，纬度 -90..90）",
    ),
    "swapped": (
        "lon and lat look swapped (lat outside -90..90 while lon would fit)",
        "经纬度疑似颠倒（纬度超出 -90..90 而经度可作纬度）",
    ),
}


def coordinate_problems(lon, lat) -> np.ndarray:
    """Classify raw WGS84-like lon/lat values.

    Returns an object array with ``None`` for a usable point, else a key of
    `COORDINATE_PROBLEMS`. Nothing is guessed: swapped points are reported, not fixed.
    """
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    out = np.full(lon.shape, None, dtype=object)
    missing = ~np.isfinite(lon) | ~np.isfinite(lat)
    bad_lat = ~missing & (np.abs(lat) > 90.0)
    bad_lon = ~missing & (np.abs(lon) > 180.0)
    swapped = bad_lat & ~bad_lon & (np.abs(lon) <= 90.0) & (np.abs(lat) <= 180.0)
    out[bad_lat | bad_lon] = "out_of_range"
    out[swapped] = "swapped"
    out[missing] = "missing"
    return out
