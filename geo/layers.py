"""Layer sets: load and validate township, unit, site, team and road layers.

A layer set is a folder holding ``townships.*``, ``units.*``, ``sites.*``, ``teams.*`` and
optionally ``roads.*`` in any format pyogrio reads, or one GeoPackage holding layers of those
names. Only townships are required. Layers are reprojected to WGS84 (EPSG:4326) for storage;
areas and distances are measured in metres of the district's own metric CRS
(`geo.crs.metric_crs_of` the townships). Layers traced on a Chinese phone map app are in
GCJ-02, which no file can declare: ``gcj02=True`` (``--layers-gcj02``) says so and they are
converted to WGS84.

Validation returns a `LayerReport` and never half-imports: `load_layers` raises
`LayerError` unless every layer is free of errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.crs import CGCS2000, GCJ02, WGS84, CRSInputError, gcj02_to_wgs84, metric_crs_of, parse_crs

KINDS = ("townships", "units", "sites", "teams", "roads")
RISKS = ("low", "medium", "high")
TEAM_STATUSES = ("available", "dispatched", "en_route", "on_scene", "off_duty")
OVERLAP_MIN_M2 = 1.0
#: metres from the district within which a site outside every township takes the nearest
SITE_TOWNSHIP_MAX_M = 500.0
UNIT_OUTSIDE_MAX_SHARE = 0.01


@dataclass(frozen=True)
class Schema:
    """Contract of one layer kind: key field, required and optional fields, geometry types."""

    key: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    geom_types: tuple[str, ...]


SCHEMAS: dict[str, Schema] = {
    "townships": Schema("code", ("code", "name"), (), ("Polygon", "MultiPolygon")),
    "units": Schema(
        "code", ("code", "name", "township_code"), (), ("Polygon", "MultiPolygon")
    ),
    "sites": Schema(
        "site_id",
        ("site_id", "name", "kind", "risk"),
        ("credit_code", "township_code"),
        ("Point", "Polygon", "MultiPolygon"),
    ),
    "teams": Schema("team_id", ("team_id", "name", "body_code", "skills"), ("status",), ("Point",)),
    "roads": Schema("", ("road_class",), ("speed_kmh",), ("LineString", "MultiLineString")),
}


#: features named in a repeated problem before the rest are counted
SHOWN_FEATURES = 5


@dataclass(frozen=True)
class Problem:
    """One finding of validation. ``level`` is ``error``, ``warning`` or ``repaired``."""

    level: str
    kind: str
    message: str
    feature: int | None = None
    key: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.kind
        if self.feature is not None:
            where += f" feature {self.feature}"
        if self.key:
            where += f" ({self.key})"
        if self.field:
            where += f", field {self.field}"
        return f"{self.level.upper():8} {where}: {self.message}"


@dataclass
class LayerReport:
    """Everything validation found, plus where each layer came from and its feature count."""

    problems: list[Problem] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, level: str, kind: str, message: str, **where) -> None:
        self.problems.append(Problem(level, kind, message, **where))

    def render(self) -> str:
        """Human-readable report: one line per layer, then per problem; a problem repeated
        on many features (same level, layer, field and message) is one line with its
        count and the first `SHOWN_FEATURES` features."""
        lines = [f"{kind:10} {self.counts.get(kind, 0):7d} features  {src}"
                 for kind, src in self.sources.items()]
        groups: dict[tuple, list[Problem]] = {}
        for p in self.problems:
            groups.setdefault((p.level, p.kind, p.field, p.message), []).append(p)
        for (level, kind, fld, message), found in groups.items():
            if len(found) == 1:
                lines.append(str(found[0]))
                continue
            shown = ", ".join(str(p.feature) + (f" ({p.key})" if p.key else "")
                              for p in found[:SHOWN_FEATURES])
            more = (f" and {len(found) - SHOWN_FEATURES} more"
                    if len(found) > SHOWN_FEATURES else "")
            where = kind + (f", field {fld}" if fld else "")
            lines.append(f"{level.upper():8} {where}: {message} ({len(found)} features: "
                         f"{shown}{more})")
        n_err = len(self.errors)
        n_warn = sum(p.level == "warning" for p in self.problems)
        n_fix = sum(p.level == "repaired" for p in self.problems)
        lines.append(f"{n_err} error(s), {n_warn} warning(s), {n_fix} repaired geometr(ies)")
        return "\n".join(lines)


class LayerError(ValueError):
    """A layer set failed validation; ``report`` says why."""

    def __init__(self, report: LayerReport):
        super().__init__("layer set has errors:\n" + report.render())
        self.report = report


@dataclass(frozen=True)
class LayerSet:
    """Validated layers in WGS84, each indexed 0..n-1 and sorted by its key.

    ``units``, ``sites``, ``teams`` and ``roads`` are ``None`` when the set does not have them.
    """

    townships: gpd.GeoDataFrame
    units: gpd.GeoDataFrame | None = None
    sites: gpd.GeoDataFrame | None = None
    teams: gpd.GeoDataFrame | None = None
    roads: gpd.GeoDataFrame | None = None

    def get(self, kind: str) -> gpd.GeoDataFrame | None:
        return getattr(self, kind)

    def counts(self) -> dict[str, int]:
        return {k: len(g) for k in KINDS if (g := self.get(k)) is not None}


def find_sources(path: Path) -> dict[str, tuple[Path, str | None]]:
    """Locate each kind's file (folder) or layer (GeoPackage) under ``path``.

    Raises FileNotFoundError naming the path when it does not exist or holds no townships.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    found: dict[str, tuple[Path, str | None]] = {}
    if path.is_file():
        try:
            names = {row[0] for row in pyogrio.list_layers(path)}
        except Exception as exc:
            raise FileNotFoundError(f"{path}: cannot read layers ({exc})") from exc
        for kind in KINDS:
            if kind in names:
                found[kind] = (path, kind)
    else:
        for kind in KINDS:
            candidates = sorted(
                p for p in path.glob(f"{kind}.*")
                if p.suffix.lower() not in {".md", ".txt", ".prj", ".dbf", ".shx", ".cpg",
                                            ".qmd", ".xml", ".sbn", ".sbx"}
            )
            if candidates:
                found[kind] = (candidates[0], None)
    if "townships" not in found:
        raise FileNotFoundError(
            f"{path}: no townships layer (expected townships.* or a GeoPackage layer "
            "named 'townships')"
        )
    return found


def _feature_key(gdf: pd.DataFrame, schema: Schema, i: int) -> str | None:
    if schema.key and schema.key in gdf.columns:
        value = gdf[schema.key].iloc[i]
        return None if pd.isna(value) else f"{schema.key}={value}"
    return None


def _as_text(series: pd.Series) -> pd.Series:
    """Codes read as numbers (shapefiles, CSV) become text without a trailing ``.0``."""
    def convert(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()
    # not Series.map: it turns the None of a missing value back into NaN
    return pd.Series([convert(v) for v in series], index=series.index, dtype=object)


def _polygonal(geom):
    """Keep the polygonal part of a repaired geometry."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _check_townships(gdf: gpd.GeoDataFrame, report: LayerReport) -> gpd.GeoDataFrame:
    """Township codes are 12-digit statistical division codes."""
    for i, code in enumerate(gdf["code"]):
        if code is not None and not (len(code) == 12 and code.isdigit()):
            report.add("error", "townships", f"code {code!r} is not a 12-digit division code",
                       feature=i + 1, key=f"code={code}", field="code")
    return gdf


def _check_sites(gdf: gpd.GeoDataFrame, report: LayerReport) -> gpd.GeoDataFrame:
    """A site's risk is one of `RISKS`."""
    for i, risk in enumerate(gdf["risk"]):
        if risk is not None and risk not in RISKS:
            report.add("error", "sites", f"risk {risk!r} is not one of {', '.join(RISKS)}",
                       feature=i + 1, key=_feature_key(gdf, SCHEMAS["sites"], i), field="risk")
    return gdf


def _check_teams(gdf: gpd.GeoDataFrame, report: LayerReport) -> gpd.GeoDataFrame:
    """A team's status is one of `TEAM_STATUSES`, ``available`` where the file gives none."""
    if "status" not in gdf.columns:
        gdf["status"] = "available"
    gdf["status"] = gdf["status"].fillna("available")
    for i, status in enumerate(gdf["status"]):
        if status not in TEAM_STATUSES:
            report.add("error", "teams", f"status {status!r} is not one of "
                       f"{', '.join(TEAM_STATUSES)}", feature=i + 1,
                       key=_feature_key(gdf, SCHEMAS["teams"], i), field="status")
    return gdf


def _check_roads(gdf: gpd.GeoDataFrame, report: LayerReport) -> gpd.GeoDataFrame:
    """A road's ``speed_kmh`` is a number (km/h) or missing (the class's default speed)."""
    if "speed_kmh" in gdf.columns:
        gdf["speed_kmh"] = pd.to_numeric(gdf["speed_kmh"], errors="coerce")
    return gdf


#: the checks of each kind's own fields, run after the checks every kind shares
KIND_CHECKS: dict[str, Callable[[gpd.GeoDataFrame, LayerReport], gpd.GeoDataFrame]] = {
    "townships": _check_townships,
    "units": lambda gdf, report: gdf,
    "sites": _check_sites,
    "teams": _check_teams,
    "roads": _check_roads,
}
#: fields kept as numbers, not made text
NUMERIC_FIELDS = ("speed_kmh",)


def _to_wgs84(gdf: gpd.GeoDataFrame, kind: str, report: LayerReport,
              assume_crs: str | None, gcj02: bool) -> gpd.GeoDataFrame | None:
    """The layer in WGS84, or None with an error in ``report`` when its CRS is unknown.

    A file that declares no CRS is taken to be in ``assume_crs`` (``gcj02`` allowed);
    with ``gcj02`` a file that declares none or a lon/lat CRS (WGS84, CGCS2000: what a
    GCJ-02 file claims) is shifted from GCJ-02 to WGS84.
    """
    crs = None
    if gdf.crs is None:
        if gcj02:
            crs = GCJ02
        elif assume_crs is None:
            report.add("error", kind, "file declares no CRS; pass --assume-crs (e.g. EPSG:4326)")
            return None
        else:
            try:
                crs = parse_crs(assume_crs)
            except CRSInputError as exc:
                report.add("error", kind, str(exc))
                return None
    elif gcj02:
        if not (gdf.crs.equals(WGS84) or gdf.crs.equals(CGCS2000)):
            report.add("error", kind, f"file declares {gdf.crs.to_string()}, not lon/lat: "
                       "GCJ-02 layers are lon/lat (declared EPSG:4326 or none)")
            return None
        crs = GCJ02
    if crs == GCJ02:
        def shift(xy: np.ndarray) -> np.ndarray:
            return np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1]))

        return gdf.set_geometry(gpd.GeoSeries(shapely.transform(gdf.geometry.to_numpy(), shift),
                                              index=gdf.index), crs=WGS84)
    if crs is not None:
        gdf = gdf.set_crs(crs)
    if gdf.crs.equals(CGCS2000):
        return gdf.set_crs(WGS84, allow_override=True)
    return gdf if gdf.crs.equals(WGS84) else gdf.to_crs(WGS84)


def validate_layer(
    gdf: gpd.GeoDataFrame, kind: str, report: LayerReport, assume_crs: str | None = None,
    gcj02: bool = False,
) -> gpd.GeoDataFrame:
    """Check one layer against its `Schema` and `KIND_CHECKS`; return it cleaned, in WGS84,
    sorted by key.

    ``assume_crs`` is the CRS of a file that declares none; ``gcj02``: the file's lon/lat
    are GCJ-02 (see `_to_wgs84`). Problems are added to ``report``; the returned frame is
    only meaningful when the report has no errors for ``kind``.
    """
    schema = SCHEMAS[kind]
    gdf = gdf.copy()
    missing = [f for f in schema.required if f not in gdf.columns]
    for f in missing:
        report.add("error", kind, "required field is missing", field=f)
    if missing:
        return gdf
    wgs84 = _to_wgs84(gdf, kind, report, assume_crs, gcj02)
    if wgs84 is None:
        return gdf
    gdf = wgs84

    for f in list(schema.required) + [f for f in schema.optional if f in gdf.columns]:
        if f not in NUMERIC_FIELDS:
            gdf[f] = _as_text(gdf[f])
    for f in schema.required:
        for i in np.flatnonzero(gdf[f].isna().to_numpy() | (gdf[f] == "").to_numpy()):
            report.add("error", kind, "value is empty", feature=int(i) + 1,
                       key=_feature_key(gdf, schema, int(i)), field=f)

    # a repaired areal geometry keeps only its areas (a point stays a point where allowed)
    areal = "Polygon" in schema.geom_types
    geoms = gdf.geometry.to_numpy()
    for i, g in enumerate(geoms):
        where = {"feature": i + 1, "key": _feature_key(gdf, schema, i)}
        if g is None or g.is_empty:
            report.add("error", kind, "geometry is empty", field="geometry", **where)
            continue
        if not shapely.is_valid(g):
            why = shapely.is_valid_reason(g)
            g = shapely.make_valid(g)
            if areal and ("Point" not in schema.geom_types or g.geom_type != "Point"):
                g = _polygonal(g)
            geoms[i] = g
            if g.is_empty:
                report.add("error", kind, f"zero-area polygon: no area left once repaired "
                           f"({why})", field="geometry", **where)
                continue
            report.add("repaired", kind, f"invalid geometry repaired with make_valid ({why})",
                       field="geometry", **where)
        if g.geom_type not in schema.geom_types:
            report.add("error", kind,
                       f"geometry type {g.geom_type}; expected {' or '.join(schema.geom_types)}",
                       field="geometry", **where)
            continue
        x0, y0, x1, y1 = g.bounds
        if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
            report.add("error", kind, "coordinates outside lon -180..180 / lat -90..90 "
                       "after reprojection to WGS84 (wrong CRS declared?)",
                       field="geometry", **where)
    gdf = gdf.set_geometry(gpd.GeoSeries(geoms, crs=WGS84, index=gdf.index))

    if schema.key:
        keys = gdf[schema.key]
        first_seen: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k is None:
                continue
            if k in first_seen:
                report.add("error", kind, f"duplicate {schema.key} {k} (also feature "
                           f"{first_seen[k]})", feature=i + 1, key=f"{schema.key}={k}",
                           field=schema.key)
            else:
                first_seen[k] = i + 1
    gdf = KIND_CHECKS[kind](gdf, report)
    keep = [c for c in (*schema.required, *schema.optional) if c in gdf.columns]
    gdf = gdf[[*keep, "geometry"]]
    if schema.key:
        gdf = gdf.sort_values(schema.key, kind="stable")
    return gdf.reset_index(drop=True)


def check_townships(townships: gpd.GeoDataFrame, report: LayerReport) -> None:
    """List township overlaps larger than 1 m2 and gaps inside the district (areas in m2
    of the district's metric CRS, `geo.crs.metric_crs_of` the townships)."""
    metric = townships.to_crs(metric_crs_of(townships))
    geoms = metric.geometry.to_numpy()
    codes = metric["code"].to_numpy()
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    for a, b in zip(left, right, strict=True):
        if a >= b:
            continue
        area = shapely.area(shapely.intersection(geoms[a], geoms[b]))
        if area > OVERLAP_MIN_M2:
            report.add("warning", "townships",
                       f"townships {codes[a]} and {codes[b]} overlap by {area:,.1f} m2")
    district = shapely.union_all(geoms)
    for poly in shapely.get_parts(district):
        for ring in poly.interiors:
            hole = shapely.Polygon(ring)
            area = hole.area
            if area > OVERLAP_MIN_M2:
                near = codes[tree.query(hole, predicate="intersects")]
                report.add("warning", "townships",
                           f"gap of {area:,.1f} m2 inside the district, between "
                           f"{', '.join(sorted(near))}")


def check_parents(layers: dict[str, gpd.GeoDataFrame], report: LayerReport) -> None:
    """Check parent township codes of units and sites, and units lying outside their parent
    (areas in m2 of the district's metric CRS)."""
    townships = layers["townships"]
    known = set(townships["code"])
    for kind in ("units", "sites"):
        gdf = layers.get(kind)
        if gdf is None or "township_code" not in gdf.columns:
            continue
        schema = SCHEMAS[kind]
        for i, parent in enumerate(gdf["township_code"]):
            if not pd.isna(parent) and parent not in known:
                report.add("error", kind, f"unknown parent township {parent}",
                           feature=i + 1, key=_feature_key(gdf, schema, i),
                           field="township_code")
    units = layers.get("units")
    if units is None:
        return
    metric = metric_crs_of(townships)
    by_code = dict(zip(townships["code"], townships.to_crs(metric).geometry, strict=True))
    for i, (code, parent, geom) in enumerate(
        zip(units["code"], units["township_code"], units.to_crs(metric).geometry, strict=True)
    ):
        parent_geom = by_code.get(parent)
        if parent_geom is None or geom is None or geom.is_empty:
            continue
        area = geom.area
        outside = area - shapely.intersection(geom, parent_geom).area
        if area > 0 and outside / area > UNIT_OUTSIDE_MAX_SHARE:
            report.add("warning", "units",
                       f"{outside / area:.1%} of the unit ({outside:,.0f} m2) lies outside "
                       f"its township {parent}", feature=i + 1, key=f"code={code}")


def with_townships(sites: gpd.GeoDataFrame, townships: gpd.GeoDataFrame,
                   report: LayerReport) -> gpd.GeoDataFrame:
    """Sites with a ``township_code`` for every site: where the file gives none, the
    township covering the site's representative point (the lowest code where two do),
    else the nearest one within `SITE_TOWNSHIP_MAX_M` metres (the district's metric CRS,
    `geo.crs.metric_crs_of` the townships). A site with
    neither keeps none, which only the district's own roles then see (warning)."""
    sites = sites.copy()
    if "township_code" not in sites.columns:
        sites["township_code"] = None
    missing = np.flatnonzero(sites["township_code"].isna().to_numpy())
    if not len(missing):
        return sites
    order = np.argsort(townships["code"].to_numpy(), kind="stable")
    metric = metric_crs_of(townships)
    t_geom = townships.to_crs(metric).geometry.to_numpy()[order]
    t_code = townships["code"].to_numpy()[order]
    points = shapely.point_on_surface(sites.to_crs(metric).geometry.to_numpy()[missing])
    tree = shapely.STRtree(t_geom)
    site_i, town_i = tree.query(points, predicate="covered_by")
    found = np.full(len(points), len(t_code))
    np.minimum.at(found, site_i, town_i)  # the lowest code where two cover it
    found[found == len(t_code)] = -1
    rest = np.flatnonzero(found < 0)
    if len(rest):
        near_i, town_j = tree.query_nearest(points[rest], max_distance=SITE_TOWNSHIP_MAX_M,
                                            all_matches=False)
        found[rest[near_i]] = town_j
    codes = sites["township_code"].to_numpy(dtype=object, copy=True)
    codes[missing[found >= 0]] = t_code[found[found >= 0]]
    sites["township_code"] = codes
    for i in missing[found < 0]:
        report.add("warning", "sites", "in no township: only district-wide roles see it",
                   feature=int(i) + 1, key=_feature_key(sites, SCHEMAS["sites"], int(i)),
                   field="township_code")
    return sites


def read_layer_file(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    """Read one layer with pyogrio; raise ValueError naming the file when unreadable."""
    try:
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:
        what = f" layer {layer}" if layer else ""
        raise ValueError(f"{path}: cannot read{what} ({exc})") from exc


def check_layers(
    path: Path, assume_crs: str | None = None, kinds: Iterable[str] = KINDS,
    gcj02: bool = False,
) -> tuple[LayerSet | None, LayerReport]:
    """Load and validate the layer set at ``path``.

    ``assume_crs``: the CRS of files that declare none; ``gcj02``: the files' lon/lat are
    GCJ-02 (see `validate_layer`). Returns the `LayerSet` (``None`` when there are errors)
    and the `LayerReport`.
    """
    report = LayerReport()
    try:
        sources = find_sources(Path(path))
    except FileNotFoundError as exc:
        report.add("error", "townships", str(exc))
        return None, report
    layers: dict[str, gpd.GeoDataFrame] = {}
    for kind, (file, layer) in sources.items():
        if kind not in kinds:
            continue
        report.sources[kind] = f"{file}" + (f" (layer {layer})" if layer else "")
        try:
            raw = read_layer_file(file, layer)
        except ValueError as exc:
            report.add("error", kind, str(exc))
            continue
        report.counts[kind] = len(raw)
        if raw.empty:
            report.add("error" if kind == "townships" else "warning", kind, "layer is empty")
            continue
        layers[kind] = validate_layer(raw, kind, report, assume_crs, gcj02)
    if report.ok and "townships" in layers:
        check_townships(layers["townships"], report)
        check_parents(layers, report)
        if layers.get("sites") is not None:
            layers["sites"] = with_townships(layers["sites"], layers["townships"], report)
    if not report.ok:
        return None, report
    return LayerSet(**layers), report


def load_layers(path: Path, assume_crs: str | None = None, gcj02: bool = False) -> LayerSet:
    """Load a validated layer set (see `check_layers`) or raise `LayerError` with the report."""
    layer_set, report = check_layers(path, assume_crs, gcj02=gcj02)
    if layer_set is None:
        raise LayerError(report)
    return layer_set
