"""A made-up district the code has never seen: 河西区 (code 340199), west of the demo.

Three townships of 3 km squares in a row, two units each (north and south halves), a site
per township and a few points with the township and unit each must route to (the oracle).
Written as WGS84 GeoJSON or as a GeoPackage in the district's own projected CRS
(CGCS2000 / 3-degree Gauss-Kruger CM 117E, EPSG:4548); no teams and no catalogue.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84

#: the district's own projected CRS (metres)
DISTRICT_CRS = "EPSG:4548"
X0, Y0, SIDE = 480_000.0, 3_540_000.0, 3_000.0
TOWNSHIPS = [("340199101000", "河东镇"), ("340199102000", "柳林乡"), ("340199103000", "石桥街道")]


def _township_geoms() -> list:
    return [shapely.box(X0 + i * SIDE, Y0, X0 + (i + 1) * SIDE, Y0 + SIDE)
            for i in range(len(TOWNSHIPS))]


def district_frames() -> dict[str, gpd.GeoDataFrame]:
    """Townships, units and sites of the district, in `DISTRICT_CRS`."""
    geoms = _township_geoms()
    townships = gpd.GeoDataFrame({"code": [c for c, _ in TOWNSHIPS],
                                  "name": [n for _, n in TOWNSHIPS]},
                                 geometry=geoms, crs=DISTRICT_CRS)
    codes, names, parents, parts = [], [], [], []
    for (code, name), g in zip(TOWNSHIPS, geoms, strict=True):
        x0, y0, x1, y1 = g.bounds
        for k, (label, box) in enumerate((
                ("北", shapely.box(x0, (y0 + y1) / 2, x1, y1)),
                ("南", shapely.box(x0, y0, x1, (y0 + y1) / 2))), start=1):
            codes.append(f"{code}{k:03d}")
            names.append(f"{name}{label}网格")
            parents.append(code)
            parts.append(box)
    units = gpd.GeoDataFrame({"code": codes, "name": names, "township_code": parents},
                             geometry=parts, crs=DISTRICT_CRS)
    sites = gpd.GeoDataFrame(
        {"site_id": [f"HX{i + 1}" for i in range(len(TOWNSHIPS))],
         "name": [f"{n}工地" for _, n in TOWNSHIPS],
         "kind": ["construction"] * len(TOWNSHIPS), "risk": ["high", "medium", "low"],
         "township_code": [c for c, _ in TOWNSHIPS]},
        geometry=[shapely.box(g.bounds[0] + 500, g.bounds[1] + 500, g.bounds[0] + 600,
                              g.bounds[1] + 600) for g in geoms], crs=DISTRICT_CRS)
    return {"townships": townships, "units": units, "sites": sites}


def write_district(folder: Path, fmt: str = "geojson") -> Path:
    """Write the district's layers: ``geojson`` (a folder, WGS84) or ``gpkg`` (one
    GeoPackage in `DISTRICT_CRS`). Returns the folder or the GeoPackage's path."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = district_frames()
    if fmt == "gpkg":
        path = folder / "district.gpkg"
        for kind, gdf in frames.items():
            gdf.to_file(path, layer=kind, driver="GPKG")
        return path
    for kind, gdf in frames.items():
        gdf.to_crs(WGS84).to_file(folder / f"{kind}.geojson")
    return folder


def district_points() -> pd.DataFrame:
    """Test points (WGS84) with the township and unit each must route to ("" outside)."""
    rows = []
    for i, (code, _) in enumerate(TOWNSHIPS):
        for k, dy in ((1, 0.75), (2, 0.25)):
            rows.append((X0 + (i + 0.5) * SIDE, Y0 + dy * SIDE, code, f"{code}{k:03d}"))
    rows.append((X0 - 2_000.0, Y0 + SIDE / 2, "", ""))  # west of the district
    x, y, township, unit = map(np.array, zip(*rows, strict=True))
    pts = gpd.GeoSeries(shapely.points(x, y), crs=DISTRICT_CRS).to_crs(WGS84)
    return pd.DataFrame({"id": [f"P{i + 1}" for i in range(len(rows))],
                         "lon": pts.x.round(7), "lat": pts.y.round(7),
                         "township": township, "unit": unit})
