"""A made-up district the code has never seen: 河西区 (code 340199), west of the demo.

Three townships of 3 km squares in a row, two units each (north and south halves), a site
per township and a few points with the township and unit each must route to (the oracle).
No teams and no catalogue.

By default the district lies in Anhui, laid out in its own projected CRS (CGCS2000 /
3-degree Gauss-Kruger CM 117E, EPSG:4548), and is written as WGS84 GeoJSON or as a
GeoPackage in EPSG:4548. A `Place` puts it anywhere else (`place_at` a lon/lat: laid out
in true metres there), and ``crs`` writes its files in any CRS, GCJ-02 included.
``overlap_m`` makes the third township reach that far west into the second, an overlap
of ``overlap_m * SIDE`` square metres that layer validation must measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import GCJ02, WGS84, wgs84_to_gcj02

#: the district's own projected CRS (metres)
DISTRICT_CRS = "EPSG:4548"
X0, Y0, SIDE = 480_000.0, 3_540_000.0, 3_000.0
TOWNSHIPS = [("340199101000", "河东镇"), ("340199102000", "柳林乡"), ("340199103000", "石桥街道")]


@dataclass(frozen=True)
class Place:
    """Where the district lies: ``crs`` is a projected CRS in true metres near the district
    and ``x0, y0`` (metres of ``crs``) the south-west corner of its first township."""

    crs: str
    x0: float
    y0: float


#: the default place: Anhui, laid out in EPSG:4548
HOME = Place(DISTRICT_CRS, X0, Y0)


def place_at(lon: float, lat: float) -> Place:
    """The district with its middle at WGS84 ``lon``, ``lat`` (degrees), laid out in an
    azimuthal equidistant projection centred there: within the district (5 km of the
    centre) its metres are true to about 1e-7, whatever the zone, so the areas laid out
    are the true areas."""
    crs = f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs +type=crs"
    return Place(crs, -1.5 * SIDE, -0.5 * SIDE)


def _township_geoms(place: Place = HOME, overlap_m: float = 0.0) -> list:
    geoms = [shapely.box(place.x0 + i * SIDE, place.y0, place.x0 + (i + 1) * SIDE,
                         place.y0 + SIDE) for i in range(len(TOWNSHIPS))]
    if overlap_m:
        x0, y0, x1, y1 = geoms[-1].bounds
        geoms[-1] = shapely.box(x0 - overlap_m, y0, x1, y1)
    return geoms


def district_frames(place: Place = HOME, overlap_m: float = 0.0) -> dict[str, gpd.GeoDataFrame]:
    """Townships, units and sites of the district, in ``place.crs``."""
    geoms = _township_geoms(place, overlap_m)
    townships = gpd.GeoDataFrame({"code": [c for c, _ in TOWNSHIPS],
                                  "name": [n for _, n in TOWNSHIPS]},
                                 geometry=geoms, crs=place.crs)
    codes, names, parents, parts = [], [], [], []
    for i, (code, name) in enumerate(TOWNSHIPS):
        x0, y0 = place.x0 + i * SIDE, place.y0
        x1, y1 = x0 + SIDE, y0 + SIDE
        for k, (label, box) in enumerate((
                ("北", shapely.box(x0, (y0 + y1) / 2, x1, y1)),
                ("南", shapely.box(x0, y0, x1, (y0 + y1) / 2))), start=1):
            codes.append(f"{code}{k:03d}")
            names.append(f"{name}{label}网格")
            parents.append(code)
            parts.append(box)
    units = gpd.GeoDataFrame({"code": codes, "name": names, "township_code": parents},
                             geometry=parts, crs=place.crs)
    corners = [(place.x0 + i * SIDE + 500, place.y0 + 500) for i in range(len(TOWNSHIPS))]
    sites = gpd.GeoDataFrame(
        {"site_id": [f"HX{i + 1}" for i in range(len(TOWNSHIPS))],
         "name": [f"{n}工地" for _, n in TOWNSHIPS],
         "kind": ["construction"] * len(TOWNSHIPS), "risk": ["high", "medium", "low"],
         "township_code": [c for c, _ in TOWNSHIPS]},
        geometry=[shapely.box(x, y, x + 100, y + 100) for x, y in corners], crs=place.crs)
    return {"townships": townships, "units": units, "sites": sites}


def _in_gcj02(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame's WGS84 lon/lat shifted to GCJ-02, declared WGS84 (as such files are)."""
    wgs = gdf.to_crs(WGS84)

    def shift(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))

    return wgs.set_geometry(gpd.GeoSeries(shapely.transform(wgs.geometry.to_numpy(), shift),
                                          index=wgs.index, crs=WGS84))


def write_district(folder: Path, fmt: str = "geojson", place: Place = HOME,
                   crs: str | None = None, overlap_m: float = 0.0) -> Path:
    """Write the district's layers: ``geojson`` (a folder) or ``gpkg`` (one GeoPackage).

    The files are in ``crs``: an EPSG code, or ``"gcj02"`` (lon/lat shifted to GCJ-02,
    declared WGS84, to be loaded with ``gcj02=True``); by default WGS84 for GeoJSON and
    ``place.crs`` for a GeoPackage. Returns the folder or the GeoPackage's path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    frames = district_frames(place, overlap_m)
    crs = crs or (WGS84 if fmt == "geojson" else place.crs)
    if crs == GCJ02:
        frames = {kind: _in_gcj02(gdf) for kind, gdf in frames.items()}
    else:
        frames = {kind: gdf.to_crs(crs) for kind, gdf in frames.items()}
    if fmt == "gpkg":
        path = folder / "district.gpkg"
        for kind, gdf in frames.items():
            gdf.to_file(path, layer=kind, driver="GPKG")
        return path
    for kind, gdf in frames.items():
        gdf.to_file(folder / f"{kind}.geojson")
    return folder


def district_points(place: Place = HOME) -> pd.DataFrame:
    """Test points (WGS84) with the township and unit each must route to ("" outside)."""
    rows = []
    for i, (code, _) in enumerate(TOWNSHIPS):
        for k, dy in ((1, 0.75), (2, 0.25)):
            rows.append((place.x0 + (i + 0.5) * SIDE, place.y0 + dy * SIDE, code,
                         f"{code}{k:03d}"))
    rows.append((place.x0 - 2_000.0, place.y0 + SIDE / 2, "", ""))  # west of the district
    x, y, township, unit = map(np.array, zip(*rows, strict=True))
    pts = gpd.GeoSeries(shapely.points(x, y), crs=place.crs).to_crs(WGS84)
    return pd.DataFrame({"id": [f"P{i + 1}" for i in range(len(rows))],
                         "lon": pts.x.round(7), "lat": pts.y.round(7),
                         "township": township, "unit": unit})


def border_points(place: Place, distances_m) -> pd.DataFrame:
    """Points (WGS84) in the first township at true ``distances_m`` west of its border with
    the second, in the middle of the south unit (id, lon, lat, township, unit, distance_m)."""
    d = np.asarray(distances_m, dtype=float)
    x = place.x0 + SIDE - d
    y = np.full(len(d), place.y0 + 0.25 * SIDE)
    pts = gpd.GeoSeries(shapely.points(x, y), crs=place.crs).to_crs(WGS84)
    code = TOWNSHIPS[0][0]
    return pd.DataFrame({"id": [f"B{i + 1}" for i in range(len(d))],
                         "lon": pts.x.round(8), "lat": pts.y.round(8),
                         "township": code, "unit": f"{code}002", "distance_m": d})
