"""Spatial queries on cases, run by PostGIS (GiST-indexed geometry) where there is one and
by shapely/pyproj over plain columns elsewhere; both give the same answers.

Coordinates are WGS84 degrees; distances are geodesic metres on the WGS84 ellipsoid.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import shapely
from pyproj import Geod
from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from geo.access import Scope
from geo.store import in_scope
from geo.store.geometry import SRID
from geo.store.models import Case, Township, Unit

GEOD = Geod(ellps="WGS84")
METRES_PER_DEGREE = 111_320.0
BBox = tuple[float, float, float, float]


def _postgis(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def check_bbox(bbox: BBox) -> BBox:
    """``(min_lon, min_lat, max_lon, max_lat)`` as floats; ValueError naming what is wrong."""
    try:
        w, so, e, n = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise ValueError("bbox must be four numbers: min_lon,min_lat,max_lon,max_lat") from None
    if not (-180 <= w <= e <= 180 and -90 <= so <= n <= 90):
        raise ValueError(f"bbox {w},{so},{e},{n} is not min_lon,min_lat,max_lon,max_lat "
                         "within -180..180, -90..90")
    return w, so, e, n


def within_bbox(q: Select, s: Session, bbox: BBox) -> Select:
    """``q`` (a select of cases) kept to cases inside ``bbox``, edges included."""
    w, so, e, n = check_bbox(bbox)
    if _postgis(s):
        return q.where(func.ST_Intersects(Case.geom, func.ST_MakeEnvelope(w, so, e, n, SRID)))
    return q.where(Case.lon.between(w, e), Case.lat.between(so, n))


def _degree_box(lon: float, lat: float, metres: float) -> BBox:
    """A lon/lat box surely holding every point within ``metres`` of (lon, lat)."""
    dlat = 1.01 * metres / METRES_PER_DEGREE + 1e-9
    dlon = dlat / max(math.cos(math.radians(min(abs(lat) + dlat, 89.9))), 1e-6)
    return (max(lon - dlon, -180), max(lat - dlat, -90), min(lon + dlon, 180),
            min(lat + dlat, 90))


def cases_near(s: Session, lon: float, lat: float, metres: float, *,
               scope: Scope) -> pd.DataFrame:
    """Cases in ``scope`` within ``metres`` (geodesic) of a WGS84 point, nearest first:
    columns ``id, status, township_code, body_code, distance_m``."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90) or not metres >= 0:
        raise ValueError(f"point ({lon}, {lat}) or distance {metres} m is out of range")
    cols = (Case.id, Case.status, Case.township_code, Case.body_code)
    q = within_bbox(select(*cols, Case.lon, Case.lat).where(in_scope(scope)), s,
                    _degree_box(lon, lat, metres))
    if _postgis(s):
        here = func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID)
        q = q.where(func.ST_DWithin(func.Geography(Case.geom), func.Geography(here), metres))
    frame = pd.DataFrame(s.execute(q).all(),
                         columns=["id", "status", "township_code", "body_code", "lon", "lat"])
    _, _, dist = GEOD.inv(np.full(len(frame), lon), np.full(len(frame), lat),
                          frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    frame["distance_m"] = np.asarray(dist, dtype=float)
    frame = frame[frame["distance_m"] <= metres]
    return frame.drop(columns=["lon", "lat"]).sort_values(["distance_m", "id"]).reset_index(
        drop=True)


def counts_per_polygon(s: Session, layer: str = "townships", *, scope: Scope,
                       statuses: tuple[str, ...] | None = None) -> pd.Series:
    """Cases in ``scope`` (with one of ``statuses``, if given) whose point lies in each
    polygon of a stored layer (``townships`` or ``units``), by the polygon's code; a point
    on a shared edge counts for both polygons."""
    model = {"townships": Township, "units": Unit}.get(layer)
    if model is None:
        raise ValueError(f"layer must be townships or units, not {layer!r}")
    keep = [in_scope(scope)] + ([Case.status.in_(statuses)] if statuses else [])
    if _postgis(s):
        rows = s.execute(select(model.code, func.count(Case.id))
                         .select_from(model)
                         .outerjoin(Case, and_(func.ST_Covers(model.geom, Case.geom), *keep))
                         .group_by(model.code)).all()
    else:
        polys = s.execute(select(model.code, model.geom)).all()
        xy = np.array(s.execute(select(Case.lon, Case.lat).where(*keep)).all(),
                      dtype=float).reshape(-1, 2)
        tree = shapely.STRtree(shapely.from_wkb([g for _, g in polys]))
        hit = tree.query(shapely.points(xy), predicate="covered_by")[1]
        counts = np.bincount(hit, minlength=len(polys))
        rows = [(code, int(n)) for (code, _), n in zip(polys, counts, strict=True)]
    return pd.Series(dict(rows), name="cases", dtype=int).sort_index()
