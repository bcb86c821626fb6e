"""The routing rule: which township, unit, site and enforcement body an alert belongs to.

`Router.route` routes one live alert; `Router.route_many` routes arrays of points with the
same answers, vectorised, and `RoutingBatch.columns` / `RoutingBatch.to_frame` give the
bulk-routing columns (reasons included) column-wise. Coordinates are WGS84 lon/lat degrees
unless ``crs`` says otherwise; distances are metres in the district's own metric CRS,
``Router.metric`` (`geo.crs.metric_crs_of` the townships: its CGCS2000 Gauss-Kruger zone in
China, e.g. EPSG:4549 for Huzhou; its UTM zone elsewhere). The rule (DESIGN.md):

1. coordinates are normalised; missing, out-of-range or swapped ones are flagged ``invalid``;
2. township: the polygon that covers the point; two or more -> lowest code, flag ``border``;
   another township within ``border_buffer_m`` -> flag ``near_border``; none, but one within
   ``snap_tolerance_m`` -> the nearest, flag ``snapped``; else flag ``outside`` (a referral);
3. unit: the lowest-coded unit of that township covering the point, if any;
4. site: the site polygon covering the point, else the nearest site point within
   ``site_match_m`` (the lowest site index among equally near ones), else the site with the
   alert's credit code, else none;
5. body: the township's center if the matter is empowered there on the incident's date,
   else the matter's district team; unknown or missing matter, or outside -> command center
   (`geo.bodyrule`).

Speed comes from a lookup grid over the district (`geo.grid`): cells that no township or
unit boundary (nor any buffer distance) reaches hold their answer; only points in the
remaining cells get the exact, vectorised shapely tests. Site points are found with a
KD-tree, site polygons behind a coarse raster of their envelopes, bodies by table lookups,
and reasons are written once per distinct decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from scipy.spatial import cKDTree

if TYPE_CHECKING:
    import geopandas as gpd

from geo.bodyrule import (
    BODY_DISTRICT,
    BODY_NO_CATALOG,
    BODY_NO_MATTER,
    BODY_NONE,
    BODY_REFERRAL,
    BODY_TOWNSHIP,
    BODY_TRIAGE,
    NO_MATTER,
    body_rule,
)
from geo.catalog import Catalog
from geo.crs import (
    COORDINATE_PROBLEMS,
    WGS84,
    coordinate_problems,
    metric_crs_of,
    parse_crs,
    to_metric,
    to_wgs84,
)
from geo.days import local_day, local_days, local_today
from geo.grid import Cell, Grid, Raster, answer, dilate
from geo.layers import LayerSet
from geo.settings import Settings

# Bump when the routing rule, the reasons or the pickled layout of a Router change: cached
# routers (geo.routercache) of another version are rebuilt.
ROUTER_VERSION = 3

BORDER, NEAR_BORDER, SNAPPED, OUTSIDE, INVALID = 1, 2, 4, 8, 16
FLAG_NAMES = {BORDER: "border", NEAR_BORDER: "near_border", SNAPPED: "snapped",
              OUTSIDE: "outside", INVALID: "invalid"}

# how a site was matched
SITE_NONE, SITE_POLYGON, SITE_NEAREST, SITE_CREDIT = 0, 1, 2, 3

# two site points whose KD-tree distances to a point differ by less than this (metres) may
# be equally near by the exact (GEOS) distance: such points take the exact STRtree path
_TIE_M = 1e-6


@dataclass(frozen=True)
class Routing:
    """The routing decision for one alert, with human-readable reasons (Chinese, with codes)."""

    township_code: str | None
    township_name: str | None
    unit_code: str | None
    site_id: str | None
    body_code: str | None
    flags: tuple[str, ...]
    reasons: tuple[str, ...]
    candidates: tuple[str, ...] = ()

    @property
    def flag_text(self) -> str:
        return ";".join(self.flags)


def flag_names(mask: int) -> tuple[str, ...]:
    """Names of the flags set in a bitmask, in a fixed order."""
    return tuple(name for bit, name in FLAG_NAMES.items() if mask & bit)


def _first_per_point(n: int, point_idx: np.ndarray, value_idx: np.ndarray) -> np.ndarray:
    """Lowest ``value_idx`` per point (``-1`` where a point has none)."""
    out = np.full(n, np.iinfo(np.int32).max, dtype=np.int64)
    np.minimum.at(out, point_idx, value_idx)
    out[out == np.iinfo(np.int32).max] = -1
    return out.astype(np.int32)


def _covering(tree: shapely.STRtree, geoms: np.ndarray, pts: np.ndarray):
    """(point, geometry) index pairs where the geometry covers the point."""
    pi, gi = tree.query(pts)
    if len(pi):
        keep = shapely.covers(geoms[gi], pts[pi])
        pi, gi = pi[keep], gi[keep]
    return pi, gi


def units_covering(tree: shapely.STRtree, units: np.ndarray, unit_township: np.ndarray,
                   points: np.ndarray, township: np.ndarray) -> np.ndarray:
    """Step 3 of the routing rule: for each point, the first unit (in layer order, which is
    code order) of the point's township that covers it; -1 where none does.

    ``units`` are the unit geometries (indexed by ``tree``), ``unit_township`` and
    ``township`` township numbers of the units and of the points (any numbering shared by
    both; a point whose township is unknown gets a number no unit has). Same CRS for all.
    """
    n = len(points)
    if not len(units):
        return np.full(n, -1, dtype=np.int32)
    pi, ui = _covering(tree, units, points)
    keep = unit_township[ui] == township[pi]
    return _first_per_point(n, pi[keep], ui[keep])


def site_units(sites: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None) -> np.ndarray:
    """The unit code of each site by the Router's unit rule (`units_covering`): the unit of
    the site's township (``township_code``, see `geo.layers.with_townships`) covering the
    site's representative point, as for an alert there; None where none does (no units, no
    township, or a point outside every unit of its township). Both layers in WGS84."""
    out = np.full(len(sites), None, dtype=object)
    if units is None or units.empty or sites.empty:
        return out
    codes = pd.factorize(pd.concat([units["township_code"], sites["township_code"]],
                                   ignore_index=True))[0]
    u_town, s_town = codes[:len(units)], codes[len(units):]
    s_town = np.where(s_town < 0, -2, s_town)  # no township: no unit
    geoms = units.geometry.to_numpy()
    found = units_covering(shapely.STRtree(geoms), geoms, u_town,
                           shapely.point_on_surface(sites.geometry.to_numpy()), s_town)
    hit = found >= 0
    out[hit] = units["code"].to_numpy(dtype=object)[found[hit]]
    return out


def _segments(geoms: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Boundary segments of WGS84 (multi)polygons, in metres, and the polygon owning each.

    Edges are straight in degrees, which is what ``covers`` tests against; they are first
    cut into pieces of at most 0.005 degrees (about 500 m), so that the projected pieces
    stay within a few millimetres of those edges (the deviation grows with the square of
    the length: 3 m for a 17 km edge).
    """
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    owners = part_owner[ring_part]
    dense = shapely.segmentize(rings, 0.005)
    coords, ring_idx = shapely.get_coordinates(dense, return_index=True)
    x, y = to_metric(coords[:, 0], coords[:, 1], metric)
    coords = np.column_stack([x, y])
    same = ring_idx[1:] == ring_idx[:-1]
    starts, ends = coords[:-1][same], coords[1:][same]
    segs = shapely.linestrings(np.stack([starts, ends], axis=1))
    return segs, owners[ring_idx[:-1][same]].astype(np.int32)


@dataclass
class _CellMask(Raster):
    """A raster over WGS84 lon/lat flagging the cells that some box reaches: a cheap,
    conservative filter (a point in an unflagged cell lies in no box)."""

    mask: np.ndarray | None = None

    @classmethod
    def of_boxes(cls, boxes: np.ndarray, cell_m: float = 50.0, max_cells: int = 2048
                 ) -> _CellMask:
        """Mask of lon/lat ``boxes`` (k, 4: lon0, lat0, lon1, lat1 degrees), in cells of
        about ``cell_m`` metres (coarser where the boxes spread far)."""
        boxes = boxes[np.isfinite(boxes).all(axis=1)]
        if not len(boxes):
            return cls(0.0, 0.0, 1.0, 1.0, 0, 0, np.zeros(0, dtype=bool))
        x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
        x1, y1 = boxes[:, 2].max(), boxes[:, 3].max()
        dy = max(cell_m / 110_574.0, (y1 - y0) / max_cells)
        dx = max(dy, (x1 - x0) / max_cells)
        nx, ny = int((x1 - x0) / dx) + 3, int((y1 - y0) / dy) + 3
        lo = np.floor((boxes[:, :2] - [x0, y0]) / [dx, dy]).astype(np.int64)
        hi = np.floor((boxes[:, 2:] - [x0, y0]) / [dx, dy]).astype(np.int64) + 2
        lo = np.clip(lo - 1, 0, [nx, ny])
        hi = np.clip(hi, 0, [nx, ny])
        # each box adds 1 inside it: corners of a 2-D difference array, then running sums
        diff = np.zeros((ny + 1, nx + 1), dtype=np.int32)
        for (cx, cy), sign in (((lo[:, 0], lo[:, 1]), 1), ((hi[:, 0], lo[:, 1]), -1),
                               ((lo[:, 0], hi[:, 1]), -1), ((hi[:, 0], hi[:, 1]), 1)):
            np.add.at(diff, (cy, cx), sign)
        mask = diff.cumsum(axis=0).cumsum(axis=1)[:ny, :nx] > 0
        return cls(float(x0), float(y0), float(dx), float(dy), nx, ny, mask.ravel())

    def maybe(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Whether each WGS84 point may lie in one of the boxes (bool)."""
        flat, inside = self.cells(lon, lat)
        if not self.nx:
            return inside
        return inside & self.mask[flat]


def _site_masks(sites, site_match_m: float) -> tuple[_CellMask, _CellMask]:
    """Cells (WGS84) where a point may lie in a site polygon, and where it may lie within
    ``site_match_m`` metres of a site point (with margins: these only filter)."""
    geoms = sites.geometry.to_numpy() if sites is not None else np.array([], dtype=object)
    bounds = shapely.bounds(geoms).reshape(-1, 4)
    is_point = shapely.get_type_id(geoms) == 0
    lat_far = np.radians(np.nanmax(np.abs(bounds[:, [1, 3]]), initial=0.0))
    reach_m = np.array([10.0, 1.05 * site_match_m + 10.0])  # polygons, points
    ry = reach_m / 110_000.0  # fewer metres a degree than anywhere on the ellipsoid
    rx = reach_m / (111_000.0 * max(np.cos(lat_far), 0.01))

    def boxes(keep: np.ndarray, k: int) -> np.ndarray:
        return bounds[keep] + [-rx[k], -ry[k], rx[k], ry[k]]

    return (_CellMask.of_boxes(boxes(~is_point, 0)),
            _CellMask.of_boxes(boxes(is_point, 1) if site_match_m > 0
                               else np.zeros((0, 4))))


def _unique_points(geoms: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct coordinates of point ``geoms`` (empty ones left out) and, for each, the
    lowest of ``index`` (ascending) among the points there: (xy (n, 2), index)."""
    xy = np.column_stack([shapely.get_x(geoms), shapely.get_y(geoms)]).reshape(-1, 2)
    ok = np.isfinite(xy).all(axis=1)
    xy, index = xy[ok], index[ok]
    unique, first = np.unique(xy, axis=0, return_index=True)
    return unique, index[first]


# geometry arrays of a Router, pickled as WKB (`Router.__getstate__`)
_GEOMETRY_FIELDS = ("t_geom", "t_geom_m", "seg", "u_geom", "u_geom_m", "s_geom_m", "sp_geom")


class Router:
    """Routes points to township, unit, site and responsible body.

    Parameters
    ----------
    layers
        Validated layer set (WGS84). Units, sites and teams are optional.
    catalog
        Matters, bodies and empowerment lists; without it no body is chosen.
    settings
        Distances in metres of the router's metric CRS ``metric`` (``border_buffer_m``,
        ``snap_tolerance_m``, ``site_match_m``), the lookup-grid cell size ``grid_cell_m``
        and the district's ``timezone``.
    use_grid
        Build the lookup grid (the exact path alone gives the same answers, slower).

    A Router pickles cheaply (geometries as WKB; spatial indexes rebuilt on load), for
    `geo.routercache` and for Dask workers.
    """

    def __init__(
        self,
        layers: LayerSet,
        catalog: Catalog | None = None,
        settings: Settings | None = None,
        use_grid: bool = True,
    ):
        s = settings or Settings()
        self.border_buffer_m = s.border_buffer_m
        self.snap_tolerance_m = s.snap_tolerance_m
        self.site_match_m = s.site_match_m
        self.catalog = catalog

        t = layers.townships
        self.metric = metric_crs_of(t)
        self.tz = ZoneInfo(s.timezone)
        self.t_codes = t["code"].to_numpy(dtype=object)
        self.t_names = t["name"].to_numpy(dtype=object)
        self.t_geom = t.geometry.to_numpy()
        self.t_geom_m = t.to_crs(self.metric).geometry.to_numpy()
        self.seg, self.seg_owner = _segments(self.t_geom, self.metric)
        t_index = {c: i for i, c in enumerate(self.t_codes)}

        u = layers.units
        if u is None or u.empty:
            u = t.iloc[0:0].assign(township_code=pd.Series(dtype=object))
        self.u_codes = u["code"].to_numpy(dtype=object)
        self.u_names = u["name"].to_numpy(dtype=object)
        self.u_township = np.array([t_index.get(c, -1) for c in u["township_code"]],
                                   dtype=np.int32)
        self.u_geom = u.geometry.to_numpy()
        self.u_geom_m = u.to_crs(self.metric).geometry.to_numpy() if len(u) else self.u_geom

        sites = layers.sites
        self.s_ids = np.array([], dtype=object)
        self.s_names = np.array([], dtype=object)
        self.s_credit: dict[str, int] = {}
        poly_idx = point_idx = np.array([], dtype=np.int64)
        s_geom_m = np.array([], dtype=object)
        if sites is not None and not sites.empty:
            self.s_ids = sites["site_id"].to_numpy(dtype=object)
            self.s_names = sites["name"].to_numpy(dtype=object)
            if "credit_code" in sites.columns:
                self.s_credit = {c: i for i, c in enumerate(sites["credit_code"]) if c}
            s_geom_m = sites.to_crs(self.metric).geometry.to_numpy()
            is_point = shapely.get_type_id(s_geom_m) == 0
            point_idx = np.flatnonzero(is_point)
            poly_idx = np.flatnonzero(~is_point)
        self.s_geom_m = s_geom_m
        self.sp_idx, self.sp_geom = poly_idx, s_geom_m[poly_idx]
        self.spt_idx = point_idx
        self.sp_mask, self.spt_mask = _site_masks(sites, self.site_match_m)
        self._index()

        self._bodies = body_rule(catalog, self.t_codes) if catalog is not None else None
        self.grid = self._build_grid(s.grid_cell_m) if use_grid else None

    def _index(self) -> None:
        """Prepare the geometries tested many times and build the spatial indexes."""
        shapely.prepare(self.t_geom)
        shapely.prepare(self.u_geom)
        shapely.prepare(self.sp_geom)
        self.t_tree = shapely.STRtree(self.t_geom)
        self.seg_tree = shapely.STRtree(self.seg)
        self.u_tree = shapely.STRtree(self.u_geom)
        self.sp_tree = shapely.STRtree(self.sp_geom)
        self.spt_tree = shapely.STRtree(self.s_geom_m[self.spt_idx])
        xy, self.kd_site = _unique_points(self.s_geom_m[self.spt_idx], self.spt_idx)
        self.kd = cKDTree(xy) if len(xy) else None

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("t_tree", "seg_tree", "u_tree", "sp_tree", "spt_tree",
                              "kd_site", "kd")}
        for name in _GEOMETRY_FIELDS:
            state[name] = shapely.to_wkb(state[name], include_srid=False)
        return state

    def __setstate__(self, state: dict) -> None:
        for name in _GEOMETRY_FIELDS:
            state[name] = shapely.from_wkb(state[name])
        self.__dict__.update(state)
        self._index()

    # ------------------------------------------------------------------ grid
    def _build_grid(self, cell_m: float) -> Grid:
        """Lookup grid: a cheap conservative band around every boundary, then each band cell
        decided from exact metric distances at its centre where the cell allows it."""
        x0, y0, x1, y1 = shapely.total_bounds(self.t_geom)
        lat_far = np.radians(max(abs(y0), abs(y1)))
        lat_near = np.radians(min(abs(y0), abs(y1)))
        dy = cell_m / 110_574.0
        dx = cell_m / (111_320.0 * np.cos(lat_far))
        min_cell_m = 0.98 * cell_m
        # half the cell diagonal, an upper bound in metres of the router's metric CRS (a
        # Gauss-Kruger zone near the district: scale within 0.1 %), with margin
        half_diag = 0.5 * 1.02 * np.hypot(dx * 111_320.0 * np.cos(lat_near) * 1.01,
                                          dy * 111_000.0) + 0.05
        margin_m = self.snap_tolerance_m + 4 * cell_m
        mx = margin_m / (111_320.0 * np.cos(lat_far)) * 1.05
        my = margin_m / 110_574.0 * 1.05
        x0, y0 = x0 - mx, y0 - my
        nx = int(np.ceil((x1 + mx - x0) / dx))
        ny = int(np.ceil((y1 + my - y0) / dy))
        grid = Grid(x0, y0, dx, dy, nx, ny)

        def band(lines, distance_m: float) -> np.ndarray:
            mask = np.zeros((ny, nx), dtype=bool)
            dense = shapely.segmentize(lines, min(dx, dy) / 2.0)
            xy = shapely.get_coordinates(dense)
            flat, inside = grid.cells(xy[:, 0], xy[:, 1])
            mask.ravel()[flat[inside]] = True
            return dilate(mask, int(np.ceil(distance_m / min_cell_m)) + 3)

        district = shapely.union_all(self.t_geom)
        t_band = band(shapely.boundary(self.t_geom), self.border_buffer_m) | band(
            np.array([shapely.boundary(district)]), self.snap_tolerance_m)
        township, combos = self._label_runs(t_band, grid, self.t_tree, self.t_geom)
        self._refine_townships(grid, township, combos, half_diag)
        township = township.reshape(ny, nx)
        township[[0, -1], :] = Cell.NONE  # the margin puts the edge beyond the snap tolerance
        township[:, [0, -1]] = Cell.NONE
        grid.set_townships(township.ravel(), combos, OUTSIDE)
        unit = None
        if len(self.u_geom):
            u_band = band(shapely.boundary(self.u_geom), 0.0)
            unit, _ = self._label_runs(u_band, grid, self.u_tree, self.u_geom, combos=False)
            self._refine_units(grid, unit, half_diag)
        grid.set_units(unit, self.u_township)
        return grid

    @staticmethod
    def _label_runs(band: np.ndarray, grid: Grid, tree, geoms, combos: bool = True):
        """Label each row run of non-band cells by testing the centre of its first cell.

        No boundary crosses a run (it would have put its cells in the band), so one
        covering test holds for the whole run. Returns the flat cell values (`geo.grid`:
        `Cell.EXACT` in the band, `Cell.NONE` where nothing covers, else ``answer(i)`` for
        geometry i) and, for townships, the answers (answer i is (i, no flags, no others)).
        """
        ny, nx = band.shape
        free = ~band
        prev = np.zeros_like(free)
        prev[:, 1:] = free[:, :-1]
        first = (free & ~prev).ravel()
        starts = np.flatnonzero(first)
        free_flat = free.ravel()
        run_id = np.cumsum(first) - 1
        pts = shapely.points(*grid.centres(starts))
        pi, gi = _covering(tree, geoms, pts)
        counts = np.bincount(pi, minlength=len(starts))
        low = _first_per_point(len(starts), pi, gi)
        label = np.where(counts == 0, Cell.NONE, np.where(counts == 1, answer(low), Cell.EXACT))
        out = np.full(ny * nx, Cell.EXACT, dtype=np.int32)
        out[free_flat] = label[run_id[free_flat]]
        table = [(i, 0, ()) for i in range(len(geoms))] if combos else []
        return out, table

    def _refine_townships(self, grid: Grid, township: np.ndarray, combos: list,
                          half_diag: float) -> None:
        """Decide band cells whose every point shares one answer (in place).

        From exact metric distances d at a cell's centre, every point of the cell lies
        within d +- ``half_diag``: a cell no boundary reaches lies in one township (or none);
        a township is certainly within ``border_buffer_m`` when d + half_diag <= buffer, and
        certainly the nearest for snapping when it beats the runner-up by 2 * half_diag.
        """
        cells = np.flatnonzero(township == Cell.EXACT)
        lon, lat = grid.centres(cells)
        x, y = to_metric(lon, lat, self.metric)
        pts_m = shapely.points(x, y)
        reach = max(self.snap_tolerance_m, self.border_buffer_m) + half_diag
        qp, qs = self.seg_tree.query(pts_m, predicate="dwithin", distance=reach)
        near = pd.DataFrame({"p": qp, "o": self.seg_owner[qs],
                             "d": shapely.distance(self.seg[qs], pts_m[qp])})
        near = near.groupby(["p", "o"], as_index=False)["d"].min().sort_values(
            ["p", "d", "o"], kind="stable")
        p_arr, o_arr, d_arr = (near[c].to_numpy() for c in ("p", "o", "d"))
        d_any = np.full(len(cells), np.inf)
        np.minimum.at(d_any, p_arr, d_arr)
        clear = d_any > half_diag
        pi, gi = _covering(self.t_tree, self.t_geom, shapely.points(lon, lat))
        counts = np.bincount(pi, minlength=len(cells))
        own = _first_per_point(len(cells), pi, gi)

        outside = clear & (counts == 0)
        township[cells[outside]] = Cell.SNAP
        township[cells[outside & (d_any - half_diag > self.snap_tolerance_m)]] = Cell.NONE
        first = np.r_[True, p_arr[1:] != p_arr[:-1]]
        second = np.r_[False, ~first[1:]] & np.r_[True, first[:-1]]
        d2 = np.full(len(cells), np.inf)
        d2[p_arr[second]] = d_arr[second]
        o1 = np.full(len(cells), -1)
        o1[p_arr[first]] = o_arr[first]
        settled = outside & (d_any + half_diag <= self.snap_tolerance_m) & (
            d_any + half_diag < d2 - half_diag)
        keys: dict[tuple, int] = {}

        def combo_id(combo: tuple) -> int:
            if combo not in keys:
                keys[combo] = answer(len(combos))
                combos.append(combo)
            return keys[combo]

        for t in np.unique(o1[settled]):
            township[cells[settled & (o1 == t)]] = combo_id((int(t), SNAPPED, ()))

        inside = clear & (counts == 1)
        other = own[p_arr] != o_arr
        certain = other & (d_arr + half_diag <= self.border_buffer_m)
        unsure_rows = other & ~certain & (d_arr - half_diag <= self.border_buffer_m)
        unsure = np.zeros(len(cells), dtype=bool)
        unsure[p_arr[unsure_rows]] = True
        has_near = np.zeros(len(cells), dtype=bool)
        has_near[p_arr[certain]] = True
        plain = inside & ~unsure & ~has_near
        township[cells[plain]] = answer(own[plain])
        near_cells: dict[int, tuple[int, ...]] = {}
        for p, o in zip(p_arr[certain], o_arr[certain], strict=True):
            if inside[p] and not unsure[p]:
                near_cells[int(p)] = (*near_cells.get(int(p), ()), int(o))
        for p, o in near_cells.items():
            township[cells[p]] = combo_id((int(own[p]), NEAR_BORDER, tuple(sorted(o))))

    def _refine_units(self, grid: Grid, unit: np.ndarray, half_diag: float) -> None:
        """Decide unit band cells that no unit boundary reaches (in place)."""
        cells = np.flatnonzero(unit == Cell.EXACT)
        lon, lat = grid.centres(cells)
        pts = shapely.points(lon, lat)
        x, y = to_metric(lon, lat, self.metric)
        pts_m = shapely.points(x, y)
        bnd_m = shapely.boundary(self.u_geom_m)
        tree = shapely.STRtree(bnd_m)
        qi, _qg = tree.query(pts_m, predicate="dwithin", distance=half_diag)
        touched = np.zeros(len(cells), dtype=bool)
        touched[qi] = True
        free = np.flatnonzero(~touched)
        pi, gi = _covering(self.u_tree, self.u_geom, pts[free])
        counts = np.bincount(pi, minlength=len(free))
        low = _first_per_point(len(free), pi, gi)
        unit[cells[free]] = np.where(counts == 0, Cell.NONE,
                                     np.where(counts == 1, answer(low), Cell.EXACT))

    # ------------------------------------------------------------------ exact path
    def _near_others(self, pts_m, own):
        """Other townships within ``border_buffer_m`` of each point: {point: (idx, ...)}."""
        if self.border_buffer_m <= 0:
            return {}
        qi, qs = self.seg_tree.query(pts_m, predicate="dwithin", distance=self.border_buffer_m)
        owner = self.seg_owner[qs]
        keep = owner != own[qi]
        pairs = np.unique(np.stack([qi[keep], owner[keep]], axis=1), axis=0)
        others: dict[int, tuple[int, ...]] = {}
        for p, o in pairs:
            others[int(p)] = (*others.get(int(p), ()), int(o))
        return others

    def _snap(self, pts_m):
        """Nearest township within ``snap_tolerance_m`` of each metric point (-1: none)."""
        if self.snap_tolerance_m <= 0:
            return np.full(len(pts_m), -1, dtype=np.int32)
        qi, qs = self.seg_tree.query_nearest(
            pts_m, max_distance=self.snap_tolerance_m, all_matches=True)
        return _first_per_point(len(pts_m), qi, self.seg_owner[qs])

    def _exact_townships(self, lon, lat):
        """Township index, flag bits and other townships, by exact tests."""
        n = len(lon)
        flags = np.zeros(n, dtype=np.uint8)
        others: dict[int, tuple[int, ...]] = {}
        pi, gi = _covering(self.t_tree, self.t_geom, shapely.points(lon, lat))
        counts = np.bincount(pi, minlength=n)
        township = _first_per_point(n, pi, gi)
        multi = np.flatnonzero(counts >= 2)
        if len(multi):
            flags[multi] |= BORDER
            order = np.lexsort((gi, pi))
            for p, g in zip(pi[order], gi[order], strict=True):
                if counts[p] >= 2 and g != township[p]:
                    others[int(p)] = (*others.get(int(p), ()), int(g))
        single = np.flatnonzero(counts == 1)
        if len(single):
            x, y = to_metric(lon[single], lat[single], self.metric)
            near = self._near_others(shapely.points(x, y), township[single])
            for k, o in near.items():
                flags[single[k]] |= NEAR_BORDER
                others[int(single[k])] = o
        none = np.flatnonzero(counts == 0)
        if len(none):
            township[none], flags[none] = self._exact_outside(lon[none], lat[none])
        return township, flags, others

    def _exact_outside(self, lon, lat):
        """Snap points known to be outside every township: township and flags."""
        x, y = to_metric(lon, lat, self.metric)
        nearest = self._snap(shapely.points(x, y))
        return nearest, np.where(nearest >= 0, SNAPPED, OUTSIDE).astype(np.uint8)

    def _exact_units(self, lon, lat, township):
        """Lowest-coded unit of the given township covering each point (-1: none)."""
        return units_covering(self.u_tree, self.u_geom, self.u_township,
                              shapely.points(lon, lat), township)

    def locate(self, lon: np.ndarray, lat: np.ndarray):
        """Township and unit for valid WGS84 points.

        Returns (township, unit, flags, combo, others): indices (-1: none), flag bits, the
        township cell value of the lookup grid per point (`Cell.NONE` where decided
        exactly) and {point: other townships} for the points decided exactly.
        """
        n = len(lon)
        if self.grid is None:
            township, flags, others = self._exact_townships(lon, lat)
            unit = self._exact_units(lon, lat, township)
            return township, unit, flags, np.zeros(n, dtype=np.uint16), others
        g = self.grid
        combo, township, flags, u_value, unit = g.lookup(lon, lat)
        others: dict[int, tuple[int, ...]] = {}
        snap = np.flatnonzero(combo == Cell.SNAP)
        if len(snap):
            township[snap], flags[snap] = self._exact_outside(lon[snap], lat[snap])
        exact = np.flatnonzero(combo == Cell.EXACT)
        if len(exact):
            t_ex, f_ex, o_ex = self._exact_townships(lon[exact], lat[exact])
            township[exact], flags[exact] = t_ex, f_ex
            others = {int(exact[k]): v for k, v in o_ex.items()}
        # a unit answer holds where the point's township is the unit's (an exact unit cell
        # has no township, so it never is); a cell no unit covers needs no test
        redo = np.flatnonzero((township >= 0) & (u_value != Cell.NONE)
                              & (g.parent_of[u_value] != township))
        unit[township < 0] = -1
        if len(redo):
            unit[redo] = self._exact_units(lon[redo], lat[redo], township[redo])
        combo[snap] = Cell.NONE
        combo[exact] = Cell.NONE
        return township, unit, flags, combo, others

    def _locate_one(self, lon: float, lat: float, x: float, y: float, flat: int
                    ) -> tuple[int, int, int, tuple[int, ...]]:
        """`locate` for one valid WGS84 point in grid cell ``flat`` (metric x, y), by scalar
        tests where the cell is not settled: (township, unit, flags, other townships)."""
        g = self.grid
        combo = int(g.township[flat])
        township = int(g.township_of[combo])
        flags, others = int(g.flags_of[combo]), g.others_of[combo]
        pt = None
        if combo == Cell.EXACT:
            pt = shapely.Point(lon, lat)
            township, flags, others = self._exact_township_one(pt, x, y)
        elif combo == Cell.SNAP:
            township, others = self._snap_one(x, y), ()
            flags = SNAPPED if township >= 0 else OUTSIDE
        u_value = int(g.unit[flat])
        if township < 0 or u_value == Cell.NONE:
            unit = -1
        elif g.parent_of[u_value] != township:  # an exact cell, or another township's unit
            unit = self._exact_unit_one(pt or shapely.Point(lon, lat), township)
        else:
            unit = int(g.unit_of[u_value])
        return township, unit, flags, others

    def _exact_township_one(self, pt: shapely.Point, x: float, y: float
                            ) -> tuple[int, int, tuple[int, ...]]:
        """`_exact_townships` for one WGS84 point (metric x, y)."""
        cands = self.t_tree.query(pt)
        cover = np.sort(cands[shapely.covers(self.t_geom[cands], pt)])
        if len(cover) >= 2:
            return int(cover[0]), BORDER, tuple(int(c) for c in cover[1:])
        if len(cover) == 1:
            township = int(cover[0])
            near = self._near_one(x, y, township)
            return township, NEAR_BORDER if near else 0, near
        township = self._snap_one(x, y)
        return township, SNAPPED if township >= 0 else OUTSIDE, ()

    def _near_one(self, x: float, y: float, own: int) -> tuple[int, ...]:
        """`_near_others` for one metric point."""
        if self.border_buffer_m <= 0:
            return ()
        qs = self.seg_tree.query(shapely.Point(x, y), predicate="dwithin",
                                 distance=self.border_buffer_m)
        return tuple(sorted({int(o) for o in self.seg_owner[qs]} - {own}))

    def _snap_one(self, x: float, y: float) -> int:
        """`_snap` for one metric point."""
        if self.snap_tolerance_m <= 0:
            return -1
        qs = self.seg_tree.query_nearest(shapely.Point(x, y),
                                         max_distance=self.snap_tolerance_m, all_matches=True)
        return int(self.seg_owner[qs].min()) if len(qs) else -1

    def _exact_unit_one(self, pt: shapely.Point, township: int) -> int:
        """`_exact_units` for one WGS84 point."""
        if not len(self.u_geom):
            return -1
        cands = self.u_tree.query(pt)
        cands = cands[self.u_township[cands] == township]
        cover = cands[shapely.covers(self.u_geom[cands], pt)]
        return int(cover.min()) if len(cover) else -1

    def _locate_valid(self, lon: np.ndarray, lat: np.ndarray, problems: dict[int, str]):
        """`locate` for the points without coordinate problems; the others get flag
        ``invalid``. Returns (index of the valid points, locate's five arrays)."""
        if not problems:
            return slice(None), self.locate(lon, lat)
        n = len(lon)
        vi = np.setdiff1d(np.arange(n), np.fromiter(problems, dtype=np.int64))
        township = np.full(n, -1, dtype=np.int32)
        unit = np.full(n, -1, dtype=np.int32)
        flags = np.full(n, INVALID, dtype=np.uint8)
        combo = np.zeros(n, dtype=np.uint16)
        t, u, f, c, o = self.locate(lon[vi], lat[vi])
        township[vi], unit[vi], flags[vi], combo[vi] = t, u, f, c
        others = {int(vi[k]): v for k, v in o.items()}
        return vi, (township, unit, flags, combo, others)

    # ------------------------------------------------------------------ sites
    def _match_sites(self, lon: np.ndarray, lat: np.ndarray, credit_site: np.ndarray):
        """Vectorised site rule for valid WGS84 points.

        ``credit_site`` is the site named by each point's credit code (-1: none). Returns
        (site index, how matched, distance in metres to the matched nearest site point).
        Only points that the site masks cannot rule out are projected and tested.
        """
        n = len(lon)
        site = np.full(n, -1, dtype=np.int32)
        how = np.zeros(n, dtype=np.int8)
        dist = np.full(n, np.nan)
        if len(self.s_ids) and n:
            in_poly = self.sp_mask.maybe(lon, lat)
            near_pt = self.spt_mask.maybe(lon, lat)
            cand = np.flatnonzero(in_poly | near_pt)
            x, y = to_metric(lon[cand], lat[cand], self.metric)
            poly = np.full(len(cand), -1, dtype=np.int32)
            test = np.flatnonzero(in_poly[cand])
            poly[test] = self._site_polygons(x[test], y[test])
            hit = poly >= 0
            site[cand[hit]], how[cand[hit]] = poly[hit], SITE_POLYGON
            rest = np.flatnonzero(~hit & near_pt[cand])
            near, d = self._nearest_site_points(x[rest], y[rest])
            ok = near >= 0
            got = cand[rest[ok]]
            site[got], how[got], dist[got] = near[ok], SITE_NEAREST, d[ok]
        named = (site < 0) & (credit_site >= 0)
        site[named], how[named] = credit_site[named], SITE_CREDIT
        return site, how, dist

    def _site_polygons(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Lowest index of a site polygon covering each metric point (-1: none)."""
        out = np.full(len(x), -1, dtype=np.int32)
        if len(self.sp_idx) and len(x):
            pi, gi = _covering(self.sp_tree, self.sp_geom, shapely.points(x, y))
            out[:] = _first_per_point(len(x), pi, self.sp_idx[gi])
        return out

    def _nearest_site_points(self, x: np.ndarray, y: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest site point within ``site_match_m`` of each metric point, the lowest site
        index among equally near ones: (site index, -1: none; distance in metres).

        A KD-tree over the distinct site coordinates gives the two nearest; the exact
        (GEOS) distance decides. Where the two are within `_TIE_M` of each other (equally
        near, up to rounding) the exact STRtree query decides instead.
        """
        n = len(x)
        site = np.full(n, -1, dtype=np.int32)
        dist = np.full(n, np.nan)
        if self.kd is None or self.site_match_m <= 0 or not n:
            return site, dist
        bound = self.site_match_m * (1 + 1e-9) + _TIE_M
        d, j = self.kd.query(np.column_stack([x, y]), k=2, distance_upper_bound=bound)
        found = j[:, 0] < self.kd.n
        tie = found & (d[:, 1] <= d[:, 0] + _TIE_M)
        one = np.flatnonzero(found & ~tie)
        cand = self.kd_site[j[one, 0]]
        exact = shapely.distance(self.s_geom_m[cand], shapely.points(x[one], y[one]))
        ok = exact <= self.site_match_m
        site[one[ok]], dist[one[ok]] = cand[ok], exact[ok]
        tied = np.flatnonzero(tie)
        if len(tied):
            site[tied], dist[tied] = self._nearest_site_points_exact(x[tied], y[tied])
        return site, dist

    def _nearest_site_points_exact(self, x: np.ndarray, y: np.ndarray
                                   ) -> tuple[np.ndarray, np.ndarray]:
        """`_nearest_site_points` by the STRtree of site points alone."""
        pts = shapely.points(x, y)
        qi, qg = self.spt_tree.query_nearest(pts, max_distance=self.site_match_m,
                                             all_matches=True)
        near = _first_per_point(len(pts), qi, self.spt_idx[qg])
        ok = near >= 0
        dist = np.full(len(pts), np.nan)
        dist[ok] = shapely.distance(self.s_geom_m[near[ok]], pts[ok])
        return near, dist

    def _site_at(self, x: float, y: float, credit: str | None) -> tuple[int, int, float]:
        """The site rule for one metric point (same answers as `_match_sites`)."""
        pt = shapely.Point(x, y)
        if len(self.sp_geom):
            cands = [int(self.sp_idx[c]) for c in self.sp_tree.query(pt)
                     if self.sp_geom[c].covers(pt)]
            if cands:
                return min(cands), SITE_POLYGON, np.nan
        if len(self.spt_idx) and self.site_match_m > 0:
            near = self.spt_tree.query_nearest(pt, max_distance=self.site_match_m,
                                               all_matches=True)
            if len(near):
                j = int(self.spt_idx[near].min())
                return j, SITE_NEAREST, float(shapely.distance(self.s_geom_m[j], pt))
        j = self.s_credit.get(credit) if credit else None
        return (j, SITE_CREDIT, np.nan) if j is not None else (-1, SITE_NONE, np.nan)

    def _credit_sites(self, credit_code, n: int) -> np.ndarray:
        """Site index named by each credit code (-1: none or unknown)."""
        codes, values = _factorize_text(credit_code, n)
        table = np.array([self.s_credit.get(v, -1) for v in values] + [-1], dtype=np.int32)
        return table[codes]

    # ------------------------------------------------------------------ bodies
    @property
    def command_center(self) -> str | None:
        return None if self._bodies is None else self._bodies.command_center

    @property
    def body_codes(self) -> np.ndarray:
        """Every body code a routing can name (object array): ``RoutingBatch.body_index``
        points into it."""
        return self._bodies.body_codes if self._bodies is not None else np.array([], object)

    def _body_for(self, township: int, flags: int, matter: str | None, day: dt.date):
        """The body rule for one alert: (body code, why, empowered since)."""
        if self._bodies is None:
            return None, BODY_NONE, None
        return self._bodies.one(township, not flags & INVALID, matter, day)

    def _bodies_for(self, township: np.ndarray, flags: np.ndarray, matter_code: np.ndarray,
                    matter_values: np.ndarray, at, n: int):
        """The body rule for arrays: (body index, why, empowered since)."""
        if self._bodies is None:
            return (np.full(n, -1, dtype=np.int16), np.zeros(n, dtype=np.int8),
                    np.full(n, np.datetime64("NaT", "D")))
        days = _days(at, n, self.tz)
        matter = np.append(self._bodies.matter_index_of(matter_values), NO_MATTER)[matter_code]
        return self._bodies.many(township, (flags & INVALID) == 0, matter, days)

    # ------------------------------------------------------------------ public API
    def route_many(
        self,
        lon,
        lat=None,
        matter=None,
        at=None,
        crs: str | None = None,
        credit_code=None,
        sites: bool = True,
    ) -> RoutingBatch:
        """Route arrays of points; ``batch[i]`` equals ``route`` for point ``i``.

        Parameters
        ----------
        lon, lat
            Coordinates in ``crs`` (WGS84 lon/lat degrees by default; ``"gcj02"`` or any
            EPSG code accepted): float64 arrays, or anything numpy turns into them. Or pass
            a GeoDataFrame/GeoSeries of points as ``lon`` (and no ``lat``): its declared CRS
            is used unless ``crs`` is given; features that are not points are flagged
            ``invalid``.
        matter
            Matter code per point: an object array or list (``None``, NaN or ``""``: no
            matter named), a pandas Categorical or Series, or one code (or ``None``) for
            all.
        at
            Incident day per point for the empowerment rule: a datetime64 array of any
            unit (naive: local time; ``datetime64[D]``: local days), a pandas datetime
            Series (naive or tz-aware), a list of dates, date-times or ISO text, or one
            value for all (default: today in the district's time zone).
        credit_code
            Unified social credit code per point naming the site, where known (as
            ``matter``).
        sites
            Match sites (needs a metric projection of every point).

        Raises ValueError when a column has the wrong length or an incident date is not a
        date (the message names its position).
        """
        if lat is None and hasattr(lon, "geometry"):
            lon, lat, crs = _frame_points(lon, crs)
        lon = np.atleast_1d(np.asarray(lon, dtype="float64"))
        lat = np.atleast_1d(np.asarray(lat, dtype="float64"))
        n = len(lon)
        crs = parse_crs(crs)
        problems = _problems(lon, lat) if crs == WGS84 else {}
        lon, lat = to_wgs84(lon, lat, crs)
        if crs != WGS84:
            problems = _problems(lon, lat)
        vi, (township, unit, flags, combo, others) = self._locate_valid(lon, lat, problems)

        matter_code, matter_values = _factorize_text(matter, n)
        site = np.full(n, -1, dtype=np.int32)
        site_how = np.zeros(n, dtype=np.int8)
        site_dist = np.full(n, np.nan)
        if sites and n:
            credit = self._credit_sites(credit_code, n)
            site[vi], site_how[vi], site_dist[vi] = self._match_sites(lon[vi], lat[vi],
                                                                      credit[vi])
        body, body_how, since = self._bodies_for(township, flags, matter_code, matter_values,
                                                 at, n)
        return RoutingBatch(self, lon, lat, township, unit, flags, combo, others, problems,
                            site, site_how, site_dist, matter_code, matter_values, body,
                            body_how, since)

    def route(self, lon: float, lat: float, matter: str | None = None,
              at: dt.date | dt.datetime | None = None, crs: str | None = None,
              credit_code: str | None = None) -> Routing:
        """Route one live alert (see `route_many` for the parameters).

        Points on the lookup grid take scalar lookups, with the exact tests of `locate`
        done for the one point where its cell is not settled; points off the grid, in
        another CRS or with unusable coordinates go through `route_many`. All paths give the
        same answers.
        """
        g = self.grid
        if g is None or crs is not None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return self.route_many([lon], [lat], [matter], at, crs, [credit_code])[0]
        fx, fy = (lon - g.x0) / g.dx, (lat - g.y0) / g.dy
        if not (0 <= fx < g.nx and 0 <= fy < g.ny):
            return self.route_many([lon], [lat], [matter], at, crs, [credit_code])[0]
        x, y = to_metric(lon, lat, self.metric)
        township, unit, flags, others = self._locate_one(lon, lat, x, y,
                                                         int(fy) * g.nx + int(fx))
        matter = _clean_text(matter)
        site, site_how, site_dist = self._site_at(x, y, credit_code)
        body, body_how, since = self._body_for(township, flags, matter, _day(at, self.tz))
        return self._routing(_Decision(
            lon, lat, township, unit, flags, others, None, site, site_how,
            site_dist, matter, body, body_how, since))

    def distance_to(self, lon: float, lat: float, township: int) -> float:
        """Distance in metres (the router's metric CRS) from a WGS84 point to a township."""
        return float(self._distances_to(np.array([lon]), np.array([lat]),
                                        np.array([township]))[0])

    def _distances_to(self, lon: np.ndarray, lat: np.ndarray, township: np.ndarray
                      ) -> np.ndarray:
        """Distances in metres (the router's metric CRS) from WGS84 points to townships."""
        x, y = to_metric(lon, lat, self.metric)
        return shapely.distance(self.t_geom_m[township], shapely.points(x, y))

    def _routing(self, d: _Decision) -> Routing:
        return Routing(
            township_code=self.t_codes[d.township] if d.township >= 0 else None,
            township_name=self.t_names[d.township] if d.township >= 0 else None,
            unit_code=self.u_codes[d.unit] if d.unit >= 0 else None,
            site_id=self.s_ids[d.site] if d.site >= 0 else None,
            body_code=d.body,
            flags=flag_names(d.flags),
            reasons=explain(self, d),
            candidates=tuple(self.t_codes[k] for k in d.others),
        )


class _Decision(NamedTuple):
    """Everything decided for one point (WGS84), as indices into the router's tables."""

    lon: float
    lat: float
    township: int
    unit: int
    flags: int
    others: tuple[int, ...]
    problem: str | None
    site: int
    site_how: int
    site_distance_m: float
    matter: str | None
    body: str | None
    body_how: int
    empowered_since: dt.date | None


def _frame_points(frame, crs):
    """x, y and CRS of a GeoDataFrame or GeoSeries of points (NaN where not a point)."""
    geoms = frame.geometry.to_numpy() if hasattr(frame, "columns") else frame.to_numpy()
    is_point = shapely.get_type_id(geoms) == 0
    x = np.where(is_point, shapely.get_x(np.where(is_point, geoms, None)), np.nan)
    y = np.where(is_point, shapely.get_y(np.where(is_point, geoms, None)), np.nan)
    if crs is None and frame.crs is not None:
        crs = frame.crs.to_string()
    return x, y, crs


def _problems(lon: np.ndarray, lat: np.ndarray) -> dict[int, str]:
    """{point index: problem key} for unusable coordinates (see `coordinate_problems`)."""
    ok = (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)
    if ok.all():
        return {}
    bad = np.flatnonzero(~ok)
    return dict(zip(bad.tolist(), coordinate_problems(lon[bad], lat[bad]), strict=True))


# ---------------------------------------------------------------------- input columns
def _clean_text(value) -> str | None:
    """A code as routing reads it: ``None`` for missing, NaN or empty, else its text."""
    if value is None or isinstance(value, str):
        return value or None
    return None if pd.isna(value) or value == "" else str(value)


def _factorize_text(value, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A text column (or one value for all rows) as codes into its distinct texts.

    Returns (codes, values): int64 codes (-1: missing, see `_clean_text`) and an object
    array of distinct texts. Raises ValueError when a column's length is not ``n``.
    """
    if value is None or isinstance(value, str):
        text = _clean_text(value)
        codes = np.full(n, -1 if text is None else 0, dtype=np.int64)
        return codes, np.array([] if text is None else [text], dtype=object)
    if isinstance(value, pd.Series) and isinstance(value.dtype, pd.CategoricalDtype):
        value = value.array
    if isinstance(value, pd.Categorical):
        codes, uniques = value.codes.astype(np.int64), value.categories
    else:
        if not isinstance(value, pd.Series | pd.Index | np.ndarray
                          | pd.api.extensions.ExtensionArray):
            value = np.array(list(value), dtype=object)
        codes, uniques = pd.factorize(value)
    if len(codes) != n:
        raise ValueError(f"expected {n} values, got {len(codes)}")
    uniques = list(uniques)
    if not all(isinstance(u, str) for u in uniques):
        # hashing merges 1, 1.0 and True, which read as different texts: clean row by row
        texts = [_clean_text(v) for v in np.asarray(value, dtype=object)]
        codes, uniques = pd.factorize(np.array(texts, dtype=object))
        return codes.astype(np.int64), np.array(list(uniques), dtype=object)
    texts = [str(u) or None for u in uniques]
    distinct = list(dict.fromkeys(t for t in texts if t is not None))
    where = {t: i for i, t in enumerate(distinct)}
    remap = np.array([where.get(t, -1) for t in texts] + [-1], dtype=np.int64)
    return remap[codes], np.array(distinct, dtype=object)


def _local_day(value, tz: ZoneInfo) -> np.datetime64:
    """The local calendar day (in ``tz``) of a date, naive local or aware date-time, or text."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return np.datetime64(value, "D")
    stamp = pd.Timestamp(value)
    return np.datetime64(stamp.date() if stamp.tzinfo is None else local_day(stamp, tz), "D")


def _day(at, tz: ZoneInfo) -> dt.date:
    """The local incident day of one alert (see `_days`)."""
    if at is None:
        return local_today(tz)
    if isinstance(at, dt.date) and not isinstance(at, dt.datetime):
        return at
    return _days(at, 1, tz)[0].item()


def _datetime_days(at, tz: ZoneInfo) -> np.ndarray | None:
    """Local days (datetime64[D]) of a datetime64 array or pandas datetime column, or of a
    list of plain dates, without a loop in Python; None for anything else."""
    if isinstance(at, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
        if isinstance(at.dtype, pd.DatetimeTZDtype):
            return local_days(at, tz)
        if at.dtype.kind == "M":
            return np.asarray(at).astype("datetime64[D]")
        return None
    if isinstance(at, np.ndarray):
        return at.astype("datetime64[D]") if at.dtype.kind == "M" else None
    if isinstance(at, list | tuple) and set(map(type, at)) == {dt.date}:
        return np.array(at, dtype="datetime64[D]")
    return None


def _days(at, n: int, tz: ZoneInfo) -> np.ndarray:
    """Incident dates as local days (datetime64[D]); default today in ``tz``.

    Raises ValueError naming the position of a value that is not a date.
    """
    if at is None:
        return np.full(n, np.datetime64(local_today(tz), "D"))
    if isinstance(at, dt.date | str | np.datetime64 | pd.Timestamp):
        return np.full(n, _checked_day(at, 0, tz))
    days = _datetime_days(at, tz)
    if days is not None:
        if len(days) != n:
            raise ValueError(f"expected {n} dates, got {len(days)}")
        bad = np.flatnonzero(np.isnat(days))
        if len(bad):
            i = int(bad[0])
            value = at.iloc[i] if isinstance(at, pd.Series) else at[i]
            raise ValueError(f"at[{i}]: {value!r} is not a date or date-time")
        return days
    values = list(at)
    if len(values) != n:
        raise ValueError(f"expected {n} dates, got {len(values)}")
    out = np.empty(n, dtype="datetime64[D]")
    for i, value in enumerate(values):
        out[i] = _checked_day(value, i, tz)
    return out


def _checked_day(value, i: int, tz: ZoneInfo) -> np.datetime64:
    """`_local_day`, raising ValueError naming position ``i`` for a value that is not a date."""
    try:
        day = _local_day(value, tz)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"at[{i}]: {value!r} is not a date or date-time") from exc
    if np.isnat(day):
        raise ValueError(f"at[{i}]: {value!r} is not a date or date-time")
    return day


# ---------------------------------------------------------------------- results
_FLAG_TEXTS = np.array([";".join(flag_names(m)) for m in range(32)], dtype=object)
# the dtype pandas gives a column of text (pandas 3: "str", backed by pyarrow)
_TEXT_DTYPE = pd.Series(np.array(["x"], dtype=object)).dtype
_ARROW_TEXT = isinstance(_TEXT_DTYPE, pd.StringDtype) and _TEXT_DTYPE.storage == "pyarrow"


@dataclass
class RoutingBatch:
    """Columnar routing results; index it for a `Routing`, or call `columns` / `to_frame`.

    Township, unit and site are indices into the router's tables (-1: none); ``matter_code``
    indexes ``matter_values`` (-1: no matter named), ``body_index`` the router's
    `Router.body_codes` (-1: none); ``empowered_since`` is NaT unless the township's center
    was chosen.
    """

    router: Router
    lon: np.ndarray
    lat: np.ndarray
    township: np.ndarray
    unit: np.ndarray
    flags: np.ndarray
    combo: np.ndarray
    others: dict[int, tuple[int, ...]]
    problems: dict[int, str]
    site: np.ndarray
    site_how: np.ndarray
    site_distance_m: np.ndarray
    matter_code: np.ndarray
    matter_values: np.ndarray
    body_index: np.ndarray
    body_how: np.ndarray
    empowered_since: np.ndarray

    def __len__(self) -> int:
        return len(self.township)

    @property
    def matter(self) -> np.ndarray:
        """Matter code per point (object array, None: none named)."""
        return np.append(self.matter_values, None)[self.matter_code]

    @property
    def body(self) -> np.ndarray:
        """Body code per point (object array, None: none)."""
        return np.append(self.router.body_codes, None)[self.body_index]

    def decision(self, i: int) -> _Decision:
        code, body, since = self.matter_code[i], self.body_index[i], self.empowered_since[i]
        return _Decision(
            float(self.lon[i]), float(self.lat[i]), int(self.township[i]), int(self.unit[i]),
            int(self.flags[i]), self._others(i), self.problems.get(i),
            int(self.site[i]), int(self.site_how[i]), float(self.site_distance_m[i]),
            self.matter_values[code] if code >= 0 else None,
            self.router.body_codes[body] if body >= 0 else None, int(self.body_how[i]),
            None if np.isnat(since) else since.item())

    def _others(self, i: int) -> tuple[int, ...]:
        if i in self.others:
            return self.others[i]
        grid = self.router.grid
        return grid.others_of[self.combo[i]] if grid is not None else ()

    def __getitem__(self, i: int) -> Routing:
        return self.router._routing(self.decision(i))

    def flag_texts(self) -> np.ndarray:
        return _FLAG_TEXTS[self.flags]

    def columns(self, ids=None) -> dict[str, np.ndarray | pd.api.extensions.ExtensionArray]:
        """The bulk-routing columns, computed column-wise.

        ``id`` (``ids`` as given, else 1..n), ``township_code``, ``township_name``,
        ``unit_code``, ``site_id``, ``body_code``, ``flags`` (``;``-separated) and
        ``reasons`` (``；``-separated): text columns as pandas' text arrays (missing: NaN),
        or object arrays of None where no row has a value, exactly as `pd.DataFrame` would
        make them from object arrays. ``pd.DataFrame(batch.columns())`` is `to_frame`.
        """
        r = self.router
        return {
            "id": _id_column(ids, len(self)),
            "township_code": _text_column(r.t_codes, self.township),
            "township_name": _text_column(r.t_names, self.township),
            "unit_code": _text_column(r.u_codes, self.unit),
            "site_id": _text_column(r.s_ids, self.site),
            "body_code": _text_column(r.body_codes, self.body_index),
            "flags": _text_column(_FLAG_TEXTS, self.flags),
            "reasons": _to_pandas_text(_reason_column(self)),
        }

    def to_frame(self, ids=None) -> pd.DataFrame:
        """The bulk-routing contract: id, township_code, township_name, unit_code, site_id,
        body_code, flags (``;``-separated), reasons (``；``-separated); see `columns`."""
        return pd.DataFrame(self.columns(ids))

    def others_ids(self) -> tuple[np.ndarray, list[tuple[int, ...]]]:
        """Other townships per point as ids into a table of distinct tuples."""
        grid = self.router.grid
        table = list(grid.others_of) if grid is not None else [()]
        ids = self.combo.astype(np.int64) if grid is not None else np.zeros(len(self), np.int64)
        where: dict[tuple[int, ...], int] = {}
        for i, o in self.others.items():
            if o not in where:
                where[o] = len(table)
                table.append(o)
            ids[i] = where[o]
        return ids, table


def _id_column(ids, n: int):
    """The ``id`` column: 1..n, or ``ids`` as pandas reads a list of them (text as pandas'
    text array, numbers and numpy arrays as they are; a Series loses its index)."""
    if ids is None:
        return np.arange(1, n + 1)
    if isinstance(ids, pd.Series | pd.Index):
        ids = ids.array if ids.dtype == _TEXT_DTYPE else ids.to_numpy()
    if isinstance(ids, np.ndarray) and ids.dtype == object:
        if _ARROW_TEXT and pd.api.types.infer_dtype(ids, skipna=True) == "string":
            ids = pd.array(ids, dtype=_TEXT_DTYPE)
        else:
            ids = list(ids)
    elif not isinstance(ids, np.ndarray) and not (
            isinstance(ids, pd.api.extensions.ExtensionArray) and ids.dtype == _TEXT_DTYPE):
        ids = list(ids)
    if len(ids) != n:
        raise ValueError(f"expected {n} ids, got {len(ids)}")
    return ids


def _to_pandas_text(values: pa.Array | pa.ChunkedArray):
    """An arrow text array as the column pandas makes of the same values in an object
    array: its text dtype, or object where every value is missing."""
    if values.null_count == len(values):
        return np.full(len(values), None, dtype=object)
    if _ARROW_TEXT:
        return pd.array(values, dtype=_TEXT_DTYPE)
    return np.array(values.to_pylist(), dtype=object)


def _text_column(table: np.ndarray, index: np.ndarray):
    """``table[index]`` (-1: missing) as a text column (see `_to_pandas_text`)."""
    if not all(isinstance(v, str) for v in table):
        return np.append(table, None)[index]  # not all text: as pandas reads objects
    values = pa.array([*table, None], type=pa.large_string())
    return _to_pandas_text(values.take(np.where(index < 0, len(table), index)))


# ---------------------------------------------------------------------- reasons
def _label(name, code) -> str:
    return f"{name}({code})"


def _metres(value: float) -> str:
    """A distance in whole metres, as reasons print it."""
    return f"{value:.0f}"


def _metres_pieces(values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """`_metres` of each value, vectorised: (distinct texts, index of each value's text).

    For a finite, non-negative value, ``f"{x:.0f}"`` is the text of ``np.rint(x)`` (both
    round half to even on the exact binary value); any other value is formatted alone.
    """
    rounded = np.rint(values)
    plain = np.isfinite(rounded) & (np.abs(rounded) < 2.0**53) & ~np.signbit(rounded)
    distinct, inverse = np.unique(rounded[plain].astype(np.int64), return_inverse=True)
    texts = [str(v) for v in distinct.tolist()]
    ids = np.empty(len(values), dtype=np.int64)
    ids[plain] = inverse
    odd = np.flatnonzero(~plain)
    ids[odd] = len(texts) + np.arange(len(odd))
    texts += [_metres(v) for v in values[odd].tolist()]
    return texts, ids


# A reason is a sentence (text, None), or one with a distance in it: (text before the
# number, text after it). One function per reason, shared by `explain` (one routing) and
# `_reason_column` (a batch, each distinct sentence written once).
Sentence = tuple[str, str | None]


def _township_reason(r: Router, d: _Decision) -> Sentence:
    """Where the point lies; the distance of a snapped point goes between the two texts."""
    if d.flags & INVALID:
        return f"坐标无效：{COORDINATE_PROBLEMS[d.problem][1]}，未作归属", None
    t = d.township
    here = _label(r.t_names[t], r.t_codes[t]) if t >= 0 else None
    if d.flags & BORDER:
        others = "、".join(_label(r.t_names[k], r.t_codes[k]) for k in d.others)
        return f"位于 {here} 与 {others} 交界，按编码最小归属 {here}", None
    if d.flags & SNAPPED:
        return (f"不在任何镇街范围内，距 {here} ",
                f" 米（容差 {r.snap_tolerance_m:.0f} 米），就近归属")
    if d.flags & OUTSIDE:
        return (f"不在本区任何镇街范围内（超出就近容差 {r.snap_tolerance_m:.0f} 米），"
                "作为移送线索保留", None)
    return f"坐标落在 {here} 范围内", None


def _near_reason(r: Router, d: _Decision) -> Sentence | None:
    if d.flags & INVALID or not d.flags & NEAR_BORDER:
        return None
    others = "、".join(_label(r.t_names[k], r.t_codes[k]) for k in d.others)
    return f"距 {others} 不足 {r.border_buffer_m:.0f} 米，请派遣员确认", None


def _unit_reason(r: Router, d: _Decision) -> Sentence | None:
    if d.flags & INVALID or d.township < 0:
        return None
    if d.unit < 0:
        return "不在任何单元内", None
    return f"单元：{_label(r.u_names[d.unit], r.u_codes[d.unit])}", None


def _site_reason(r: Router, d: _Decision) -> Sentence | None:
    """The matched site; the distance to a nearest site point goes between the texts."""
    if d.flags & INVALID or d.site < 0:
        return None
    site = _label(r.s_names[d.site], r.s_ids[d.site])
    if d.site_how == SITE_NEAREST:
        return f"监管对象：{site}，最近点位，距 ", " 米"
    return {
        SITE_POLYGON: f"监管对象：{site}，坐标在其范围内",
        SITE_CREDIT: f"监管对象：{site}，按统一社会信用代码匹配",
    }[d.site_how], None


def _body_reason(r: Router, d: _Decision) -> Sentence | None:
    b = r._bodies
    if b is None or d.flags & INVALID or d.body_how == BODY_NONE:
        return None
    t = d.township
    here = _label(r.t_names[t], r.t_codes[t]) if t >= 0 else None
    body = _label(b.body_names.get(d.body, d.body), d.body)
    matter = _label(b.matter_names.get(d.matter, d.matter), d.matter)
    return {
        BODY_TOWNSHIP: f"事项 {matter} 自 {d.empowered_since} 起赋权 {here}，由 {body} 负责",
        BODY_DISTRICT: f"事项 {matter} 在事发日未赋权 {here}，由区级 {body} 负责",
        BODY_REFERRAL: f"区外线索，交 {body} 移送",
        BODY_TRIAGE: f"事项代码 {d.matter} 不在执法事项目录中，交 {body} 分拨",
        BODY_NO_MATTER: f"未指明执法事项，交 {body} 分拨",
        BODY_NO_CATALOG: f"尚未载入执法事项目录（no catalogue loaded），交 {body} 分拨",
    }[d.body_how], None


def explain(r: Router, d: _Decision) -> tuple[str, ...]:
    """Human-readable reasons (Chinese, with codes) for one routing decision."""
    reasons = []
    for reason in (_township_reason, _near_reason, _unit_reason, _site_reason, _body_reason):
        sentence = reason(r, d)
        if sentence is None:
            continue
        text, after = sentence
        if after is not None:
            metres = (r.distance_to(d.lon, d.lat, d.township) if reason is _township_reason
                      else d.site_distance_m)
            text = text + _metres(metres) + after
        reasons.append(text)
    return tuple(reasons)


def _dense(key: np.ndarray, card: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids (0..k-1) of non-negative integer keys below ``card``, and for each id
    the position of one row holding it."""
    n = len(key)
    if card <= max(4 * n, 1 << 16):
        seen = np.zeros(card, dtype=bool)
        seen[key] = True
        ids = (np.cumsum(seen) - 1)[key]
        rows = np.empty(int(seen.sum()), dtype=np.int64)
        rows[ids] = np.arange(n)
        return ids, rows
    _, rows, ids = np.unique(key, return_index=True, return_inverse=True)
    return ids.reshape(-1), rows


def _dense_key(columns: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
    """`_dense` of the tuples of several non-negative integer columns, each given with
    an upper bound (exclusive) of its values."""
    key = np.zeros(len(columns[0][0]), dtype=np.int64)
    card = 1
    for column, bound in columns:
        if card * bound >= 2**62:
            key, rows = _dense(key, card)
            card = len(rows)
        key = key * bound + column
        card *= bound
    return _dense(key, card)


def _reason_keys(batch: RoutingBatch) -> Iterator[list[tuple[np.ndarray, int]]]:
    """Per reason (as in `explain`), in turn, integer columns that together fix its text,
    each with an upper bound (exclusive) of its values."""
    r = batch.router
    n = len(batch)
    f = batch.flags
    t = batch.township.astype(np.int64) + 1
    others, table = batch.others_ids()
    invalid = (f & INVALID) > 0
    kind = np.select([invalid, (f & BORDER) > 0, (f & SNAPPED) > 0, (f & OUTSIDE) > 0],
                     [4, 1, 2, 3], 0)
    problems = list(COORDINATE_PROBLEMS)
    problem = np.zeros(n, dtype=np.int64)
    for i, p in batch.problems.items():
        problem[i] = problems.index(p) + 1
    yield [(kind, 5), (np.where(kind == 1, others, 0), len(table)), (t, len(r.t_codes) + 1),
           (problem, len(problems) + 1)]
    yield [(np.where(((f & NEAR_BORDER) > 0) & ~invalid, others + 1, 0), len(table) + 1)]
    yield [(np.where(t > 0, batch.unit.astype(np.int64) + 2, 0), len(r.u_codes) + 2)]
    yield [(np.where(batch.site >= 0, (batch.site.astype(np.int64) + 1) * 4 + batch.site_how,
                     0), (len(r.s_ids) + 1) * 4)]
    if r._bodies is None:
        yield [(np.zeros(n, dtype=np.int64), 1)]
        return
    breaks = r._bodies.breaks
    yield [(batch.body_how.astype(np.int64), BODY_NO_CATALOG + 1),
           (batch.matter_code + 1, len(batch.matter_values) + 1),
           (np.searchsorted(breaks, batch.empowered_since), len(breaks) + 1),
           (t, len(r.t_codes) + 1)]


# Where each reason's texts go among the pieces of a row's reasons text: (text before the
# number or the whole sentence, the number, text after it); None: a reason without one.
_SLOTS = ((0, 1, 2), (3, None, None), (4, None, None), (5, 6, 7), (8, None, None))
_REASONS = (_township_reason, _near_reason, _unit_reason, _site_reason, _body_reason)


def _reason_column(batch: RoutingBatch) -> pa.ChunkedArray:
    """``"；".join(explain(...))`` for every point of a batch, column-wise (large_string).

    Each reason is written once per distinct key (`_reason_keys`), from one point holding
    it. A row's text is nine pieces (`_SLOTS`): the reasons, with the distance of a
    snapped point and of a nearest site point between their two texts, laid out by
    `_concatenated`.
    """
    n = len(batch)
    if not n:
        return pa.chunked_array([], type=pa.large_string())
    r = batch.router
    pieces = [""]
    index = np.zeros((n, 9), dtype=np.int32)
    for k, (reason, key) in enumerate(zip(_REASONS, _reason_keys(batch), strict=True)):
        ids, rows = _dense_key(key)
        sentences = [reason(r, batch.decision(int(i))) for i in rows]
        before, number, after = _SLOTS[k]
        index[:, before] = len(pieces) + ids
        pieces += [("；" if k else "") + s[0] if s else "" for s in sentences]
        split = np.array([s is not None and s[1] is not None for s in sentences])[ids]
        if number is None:
            assert not split.any(), reason
            continue
        index[:, after] = len(pieces) + ids
        pieces += [s[1] or "" if s else "" for s in sentences]
        at = np.flatnonzero(split)
        metres = (r._distances_to(batch.lon[at], batch.lat[at], batch.township[at])
                  if reason is _township_reason else batch.site_distance_m[at])
        texts, text_ids = _metres_pieces(metres)
        index[at, number] = len(pieces) + text_ids
        pieces += texts
    return _concatenated(pieces, index)


def _concatenated(pieces: list[str], index: np.ndarray, chunk: int = 1 << 16
                  ) -> pa.ChunkedArray:
    """Row ``i``: the concatenation of ``pieces[index[i, j]]`` over ``j`` (large_string),
    in chunks of ``chunk`` rows (decoding grows its output as it goes: small chunks keep
    the peak memory near the size of the result)."""
    table = pa.array(pieces, pa.large_string())
    chunks = [_concatenated_chunk(table, index[i:i + chunk])
              for i in range(0, len(index), chunk)]
    return pa.chunked_array(chunks, type=pa.large_string())


def _concatenated_chunk(table: pa.Array, index: np.ndarray) -> pa.Array:
    """`_concatenated` of one chunk: decoding ``table`` at ``index`` as a dictionary array
    (much faster than ``take`` here) lays every row's pieces out in order, and every
    ``index.shape[1]``-th offset delimits the rows."""
    flat = pa.DictionaryArray.from_arrays(index.ravel(), table).cast(pa.large_string())
    _, offsets, data = flat.buffers()
    ends = np.frombuffer(offsets, dtype=np.int64, count=len(flat) + 1,
                         offset=flat.offset * 8)[::index.shape[1]]
    return pa.LargeStringArray.from_buffers(len(index), pa.py_buffer(ends.copy()), data)
