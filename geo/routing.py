"""The routing rule: which township, unit, site and enforcement body an alert belongs to.

`Router.route` routes one live alert; `Router.route_many` routes arrays of points with the
same answers, vectorised. Coordinates are WGS84 lon/lat degrees unless ``crs`` says
otherwise; distances are metres in EPSG:4549. The rule (DESIGN.md):

1. coordinates are normalised; missing, out-of-range or swapped ones are flagged ``invalid``;
2. township: the polygon that covers the point; two or more -> lowest code, flag ``border``;
   another township within ``border_buffer_m`` -> flag ``near_border``; none, but one within
   ``snap_tolerance_m`` -> the nearest, flag ``snapped``; else flag ``outside`` (a referral);
3. unit: the lowest-coded unit of that township covering the point, if any;
4. site: the site polygon covering the point, else the nearest site point within
   ``site_match_m``, else the site with the alert's credit code, else none;
5. body: the township's center if the matter is empowered there on the incident's date,
   else the matter's district team; unknown or missing matter, or outside -> command center.

Speed comes from a lookup grid over the district: cells that no township or unit boundary
(nor any buffer distance) reaches hold their answer; only points in the remaining cells get
the exact, vectorised shapely tests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely

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
from geo.layers import LayerSet
from geo.settings import Settings

BORDER, NEAR_BORDER, SNAPPED, OUTSIDE, INVALID = 1, 2, 4, 8, 16
FLAG_NAMES = {BORDER: "border", NEAR_BORDER: "near_border", SNAPPED: "snapped",
              OUTSIDE: "outside", INVALID: "invalid"}

# how a site was matched
SITE_NONE, SITE_POLYGON, SITE_NEAREST, SITE_CREDIT = 0, 1, 2, 3
# why a body was chosen
BODY_NONE, BODY_TOWNSHIP, BODY_DISTRICT, BODY_TRIAGE, BODY_REFERRAL, BODY_NO_MATTER = range(6)

_MIXED = -2
_EMPTY = -1
_SNAP_ONLY = -3


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


@dataclass
class _Grid:
    """Row-major lookup grid over the district in WGS84 degrees.

    ``code`` (flat) holds per cell 3 + one of `_MIXED` (exact test needed), `_EMPTY`
    (outside, beyond the snap tolerance), `_SNAP_ONLY` (outside every township, snap test
    needed), or 3 + a combo: (``tab_township``, ``tab_flags``, ``tab_others``) valid for every
    point of the cell. ``unit`` (flat) holds a unit index, `_EMPTY` (no unit) or `_MIXED`;
    ``tab_parent[unit + 2]`` is the unit's township.
    """

    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int
    code: np.ndarray | None = None
    unit: np.ndarray | None = None
    tab_township: np.ndarray | None = None
    tab_flags: np.ndarray | None = None
    tab_others: list[tuple[int, ...]] = field(default_factory=list)
    tab_parent: np.ndarray | None = None

    def cells(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat cell index per point and whether the point lies on the grid."""
        fx = (lon - self.x0) / self.dx
        fy = (lat - self.y0) / self.dy
        inside = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        flat = np.where(inside, fy.astype(np.int64) * self.nx + fx.astype(np.int64), 0)
        return flat, inside

    def centres(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (self.x0 + (flat % self.nx + 0.5) * self.dx,
                self.y0 + (flat // self.nx + 0.5) * self.dy)


def _dilate(mask: np.ndarray, k: int) -> np.ndarray:
    """Square dilation of a boolean raster by ``k`` cells (separable running maximum)."""
    if k <= 0:
        return mask
    out = mask
    for axis in (0, 1):
        c = np.cumsum(out, axis=axis, dtype=np.int32)
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
        n = out.shape[axis]
        hi = np.minimum(np.arange(n) + k + 1, n)
        lo = np.maximum(np.arange(n) - k, 0)
        out = (np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)) > 0
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


class Router:
    """Routes points to township, unit, site and responsible body.

    Parameters
    ----------
    layers
        Validated layer set (WGS84). Units, sites and teams are optional.
    catalog
        Matters, bodies and empowerment lists; without it no body is chosen.
    settings
        Distances in metres (``border_buffer_m``, ``snap_tolerance_m``, ``site_match_m``)
        and the lookup-grid cell size ``grid_cell_m``.
    use_grid
        Build the lookup grid (the exact path alone gives the same answers, slower).
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
        shapely.prepare(self.t_geom)
        self.t_tree = shapely.STRtree(self.t_geom)
        self.t_geom_m = t.to_crs(self.metric).geometry.to_numpy()
        self.seg, self.seg_owner = _segments(self.t_geom, self.metric)
        self.seg_tree = shapely.STRtree(self.seg)
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
        shapely.prepare(self.u_geom)
        self.u_tree = shapely.STRtree(self.u_geom)

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
        shapely.prepare(self.sp_geom)
        self.sp_tree = shapely.STRtree(self.sp_geom)
        self.spt_idx = point_idx
        self.spt_tree = shapely.STRtree(s_geom_m[point_idx])

        self._bodies = self._body_tables(catalog)
        self.grid = self._build_grid(s.grid_cell_m) if use_grid else None

    # ------------------------------------------------------------------ catalogue
    def _body_tables(self, catalog: Catalog | None) -> dict | None:
        if catalog is None:
            return None
        centers = catalog.township_bodies()
        t_index = {c: i for i, c in enumerate(self.t_codes)}
        periods: dict[tuple[int, str], list[tuple[dt.date, dt.date | None]]] = {}
        for row in catalog.empowerment.itertuples(index=False):
            key = (t_index.get(row.township_code, -1), row.matter_code)
            periods.setdefault(key, []).append((row.effective_from, row.effective_to))
        return {
            "center": [centers.get(c) for c in self.t_codes],
            "district": dict(zip(catalog.matters["code"], catalog.matters["district_body"],
                                 strict=True)),
            "matter_names": dict(zip(catalog.matters["code"], catalog.matters["name"],
                                     strict=True)),
            "names": catalog.body_names(),
            "command": catalog.command_center,
            "periods": {k: sorted(v) for k, v in periods.items()},
        }

    # ------------------------------------------------------------------ grid
    def _build_grid(self, cell_m: float) -> _Grid:
        """Lookup grid: a cheap conservative band around every boundary, then each band cell
        decided from exact metric distances at its centre where the cell allows it."""
        x0, y0, x1, y1 = shapely.total_bounds(self.t_geom)
        lat_far = np.radians(max(abs(y0), abs(y1)))
        lat_near = np.radians(min(abs(y0), abs(y1)))
        dy = cell_m / 110_574.0
        dx = cell_m / (111_320.0 * np.cos(lat_far))
        min_cell_m = 0.98 * cell_m
        # half the cell diagonal, an upper bound in EPSG:4549 metres, with margin
        half_diag = 0.5 * 1.02 * np.hypot(dx * 111_320.0 * np.cos(lat_near) * 1.01,
                                          dy * 111_000.0) + 0.05
        margin_m = self.snap_tolerance_m + 4 * cell_m
        mx = margin_m / (111_320.0 * np.cos(lat_far)) * 1.05
        my = margin_m / 110_574.0 * 1.05
        x0, y0 = x0 - mx, y0 - my
        nx = int(np.ceil((x1 + mx - x0) / dx))
        ny = int(np.ceil((y1 + my - y0) / dy))
        grid = _Grid(x0, y0, dx, dy, nx, ny)

        def band(lines, distance_m: float) -> np.ndarray:
            mask = np.zeros((ny, nx), dtype=bool)
            dense = shapely.segmentize(lines, min(dx, dy) / 2.0)
            xy = shapely.get_coordinates(dense)
            flat, inside = grid.cells(xy[:, 0], xy[:, 1])
            mask.ravel()[flat[inside]] = True
            return _dilate(mask, int(np.ceil(distance_m / min_cell_m)) + 3)

        district = shapely.union_all(self.t_geom)
        t_band = band(shapely.boundary(self.t_geom), self.border_buffer_m) | band(
            np.array([shapely.boundary(district)]), self.snap_tolerance_m)
        township, combos = self._label_runs(t_band, grid, self.t_tree, self.t_geom)
        self._refine_townships(grid, township, combos, half_diag)
        township = township.reshape(ny, nx)
        township[[0, -1], :] = _EMPTY  # the margin puts the edge beyond the snap tolerance
        township[:, [0, -1]] = _EMPTY
        grid.code = (township.ravel().astype(np.int32) + 3).astype(np.uint16)
        grid.tab_township = np.array([-1, -1, -1, *(c[0] for c in combos)], dtype=np.int32)
        grid.tab_flags = np.array([0, 0, OUTSIDE, *(c[1] for c in combos)], dtype=np.uint8)
        grid.tab_others = [(), (), (), *(c[2] for c in combos)]
        if len(self.u_geom):
            u_band = band(shapely.boundary(self.u_geom), 0.0)
            unit, _ = self._label_runs(u_band, grid, self.u_tree, self.u_geom, combos=False)
            self._refine_units(grid, unit, half_diag)
            grid.unit = unit.astype(np.int32)
        else:
            grid.unit = np.full(ny * nx, _EMPTY, dtype=np.int32)
        grid.tab_parent = np.array([-3, -1, *self.u_township], dtype=np.int32)
        return grid

    @staticmethod
    def _label_runs(band: np.ndarray, grid: _Grid, tree, geoms, combos: bool = True):
        """Label each row run of non-band cells by testing the centre of its first cell.

        No boundary crosses a run (it would have put its cells in the band), so one
        covering test holds for the whole run. Returns the flat labels and, for townships,
        the combos table (index i is (i, no flags, no others)).
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
        label = np.where(counts == 0, _EMPTY, np.where(counts == 1, low, _MIXED))
        out = np.full(ny * nx, _MIXED, dtype=np.int32)
        out[free_flat] = label[run_id[free_flat]]
        table = [(i, 0, ()) for i in range(len(geoms))] if combos else []
        return out, table

    def _refine_townships(self, grid: _Grid, township: np.ndarray, combos: list,
                          half_diag: float) -> None:
        """Decide band cells whose every point shares one answer (in place).

        From exact metric distances d at a cell's centre, every point of the cell lies
        within d +- ``half_diag``: a cell no boundary reaches lies in one township (or none);
        a township is certainly within ``border_buffer_m`` when d + half_diag <= buffer, and
        certainly the nearest for snapping when it beats the runner-up by 2 * half_diag.
        """
        cells = np.flatnonzero(township == _MIXED)
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
        township[cells[outside]] = _SNAP_ONLY
        township[cells[outside & (d_any - half_diag > self.snap_tolerance_m)]] = _EMPTY
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
                keys[combo] = len(combos)
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
        township[cells[plain]] = own[plain]
        near_cells: dict[int, tuple[int, ...]] = {}
        for p, o in zip(p_arr[certain], o_arr[certain], strict=True):
            if inside[p] and not unsure[p]:
                near_cells[int(p)] = (*near_cells.get(int(p), ()), int(o))
        for p, o in near_cells.items():
            township[cells[p]] = combo_id((int(own[p]), NEAR_BORDER, tuple(sorted(o))))

    def _refine_units(self, grid: _Grid, unit: np.ndarray, half_diag: float) -> None:
        """Decide unit band cells that no unit boundary reaches (in place)."""
        cells = np.flatnonzero(unit == _MIXED)
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
        unit[cells[free]] = np.where(counts == 0, _EMPTY, np.where(counts == 1, low, _MIXED))

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
        n = len(lon)
        if not len(self.u_geom):
            return np.full(n, -1, dtype=np.int32)
        pi, ui = _covering(self.u_tree, self.u_geom, shapely.points(lon, lat))
        keep = self.u_township[ui] == township[pi]
        return _first_per_point(n, pi[keep], ui[keep])

    def locate(self, lon: np.ndarray, lat: np.ndarray):
        """Township and unit for valid WGS84 points.

        Returns (township, unit, flags, combo, others): indices (-1: none), flag bits, the
        grid combo per point (0 where decided exactly) and {point: other townships} for the
        points decided exactly.
        """
        n = len(lon)
        if self.grid is None:
            township, flags, others = self._exact_townships(lon, lat)
            unit = self._exact_units(lon, lat, township)
            return township, unit, flags, np.zeros(n, dtype=np.uint16), others
        g = self.grid
        ix = np.clip((lon - g.x0) / g.dx, 0, g.nx - 1).astype(np.int32)
        iy = np.clip((lat - g.y0) / g.dy, 0, g.ny - 1).astype(np.int32)
        flat = iy * np.int32(g.nx) + ix
        combo = g.code[flat]
        township = g.tab_township[combo]
        flags = g.tab_flags[combo]
        others: dict[int, tuple[int, ...]] = {}
        snap = np.flatnonzero(combo == _SNAP_ONLY + 3)
        if len(snap):
            township[snap], flags[snap] = self._exact_outside(lon[snap], lat[snap])
        exact = np.flatnonzero(combo == _MIXED + 3)
        if len(exact):
            t_ex, f_ex, o_ex = self._exact_townships(lon[exact], lat[exact])
            township[exact], flags[exact] = t_ex, f_ex
            others = {int(exact[k]): v for k, v in o_ex.items()}
        unit = g.unit[flat]
        parent = g.tab_parent[unit + 2]
        redo = np.flatnonzero((township >= 0) & ((unit == _MIXED) | (parent != township)))
        unit[(unit < 0) | (township < 0)] = -1
        if len(redo):
            unit[redo] = self._exact_units(lon[redo], lat[redo], township[redo])
        combo[snap] = 0
        combo[exact] = 0
        return township, unit, flags, combo, others

    # ------------------------------------------------------------------ sites and bodies
    def _match_sites(self, x, y, credit_codes):
        """Vectorised site rule for metric points: (site index, how matched, distance m)."""
        n = len(x)
        site = np.full(n, -1, dtype=np.int32)
        how = np.zeros(n, dtype=np.int8)
        dist = np.full(n, np.nan)
        if len(self.s_ids) and n:
            pts_m = shapely.points(x, y)
            pi, gi = _covering(self.sp_tree, self.sp_geom, pts_m)
            poly = _first_per_point(n, pi, self.sp_idx[gi])
            hit = poly >= 0
            site[hit], how[hit] = poly[hit], SITE_POLYGON
            rest = np.flatnonzero(~hit)
            if len(rest) and len(self.spt_idx) and self.site_match_m > 0:
                qi, qg = self.spt_tree.query_nearest(pts_m[rest], max_distance=self.site_match_m,
                                                     all_matches=True)
                near = _first_per_point(len(rest), qi, self.spt_idx[qg])
                ok = near >= 0
                site[rest[ok]], how[rest[ok]] = near[ok], SITE_NEAREST
                dist[rest[ok]] = shapely.distance(self.s_geom_m[near[ok]], pts_m[rest[ok]])
        for i in np.flatnonzero(site < 0):
            j = self.s_credit.get(credit_codes[i]) if credit_codes[i] else None
            if j is not None:
                site[i], how[i] = j, SITE_CREDIT
        return site, how, dist

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

    @property
    def command_center(self) -> str | None:
        return None if self._bodies is None else self._bodies["command"]

    def _body_for(self, township: int, flags: int, matter: str | None, day: dt.date):
        """The body rule for one alert: (body code, why, empowered since)."""
        b = self._bodies
        if b is None or flags & INVALID:
            return None, BODY_NONE, None
        if not matter:
            return b["command"], BODY_NO_MATTER, None
        if matter not in b["district"]:
            return b["command"], BODY_TRIAGE, None
        if township < 0:
            return b["command"], BODY_REFERRAL, None
        since = None
        for start, end in b["periods"].get((township, matter), ()):
            if start <= day and (end is None or day < end):
                since = start
        if since is not None and b["center"][township] is not None:
            return b["center"][township], BODY_TOWNSHIP, since
        return b["district"][matter], BODY_DISTRICT, None

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
            EPSG code accepted). Or pass a GeoDataFrame/GeoSeries of points as ``lon`` (and
            no ``lat``): its declared CRS is used unless ``crs`` is given; features that are
            not points are flagged ``invalid``.
        matter
            Matter code per point, or one for all (``None``: no matter named).
        at
            Incident date(s) for the empowerment rule (default: today).
        credit_code
            Unified social credit code per point naming the site, where known.
        sites
            Match sites (needs a metric projection of every point).
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
        if problems:
            vi = np.setdiff1d(np.arange(n), np.fromiter(problems, dtype=np.int64))
            township = np.full(n, -1, dtype=np.int32)
            unit = np.full(n, -1, dtype=np.int32)
            flags = np.full(n, INVALID, dtype=np.uint8)
            combo = np.zeros(n, dtype=np.uint16)
            t, u, f, c, o = self.locate(lon[vi], lat[vi])
            township[vi], unit[vi], flags[vi], combo[vi] = t, u, f, c
            others = {int(vi[k]): v for k, v in o.items()}
        else:
            vi = slice(None)
            township, unit, flags, combo, others = self.locate(lon, lat)

        matters = _broadcast(matter, n)
        site = np.full(n, -1, dtype=np.int32)
        site_how = np.zeros(n, dtype=np.int8)
        site_dist = np.full(n, np.nan)
        if sites and n:
            credits = _broadcast(credit_code, n)
            x, y = to_metric(lon[vi], lat[vi], self.metric)
            site[vi], site_how[vi], site_dist[vi] = self._match_sites(x, y, credits[vi])
        body = np.full(n, None, dtype=object)
        body_how = np.zeros(n, dtype=np.int8)
        since: dict[int, dt.date] = {}
        if self._bodies is not None:
            valid = (flags & INVALID) == 0
            named = np.not_equal(matters, None)
            body[valid & ~named], body_how[valid & ~named] = self.command_center, BODY_NO_MATTER
            todo = np.flatnonzero(valid & named)
            days = _days(at, n, self.tz)[todo].astype(object)
            for i, day in zip(todo, days, strict=True):
                body[i], body_how[i], start = self._body_for(
                    int(township[i]), int(flags[i]), matters[i], day)
                if start is not None:
                    since[int(i)] = start
        return RoutingBatch(self, lon, lat, township, unit, flags, combo, others, problems,
                            site, site_how, site_dist, matters, body, body_how, since)

    def route(self, lon: float, lat: float, matter: str | None = None,
              at: dt.date | dt.datetime | None = None, crs: str | None = None,
              credit_code: str | None = None) -> Routing:
        """Route one live alert (see `route_many` for the parameters).

        Points in a grid cell with a settled answer take a scalar fast path; all others go
        through `route_many`, so both always agree.
        """
        g = self.grid
        if g is None or crs is not None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return self.route_many([lon], [lat], [matter], at, crs, [credit_code])[0]
        fx, fy = (lon - g.x0) / g.dx, (lat - g.y0) / g.dy
        if not (0 <= fx < g.nx and 0 <= fy < g.ny):
            return self.route_many([lon], [lat], [matter], at, crs, [credit_code])[0]
        flat = int(fy) * g.nx + int(fx)
        cell = int(g.code[flat])
        unit = int(g.unit[flat])
        township = int(g.tab_township[cell])
        if cell < 2 or unit == _MIXED or (unit >= 0 and g.tab_parent[unit + 2] != township):
            return self.route_many([lon], [lat], [matter], at, crs, [credit_code])[0]
        flags = int(g.tab_flags[cell])
        x, y = to_metric(lon, lat, self.metric)
        site, site_how, site_dist = self._site_at(x, y, credit_code)
        day = _days(at, 1, self.tz)[0].astype(object)
        body, body_how, since = self._body_for(township, flags, matter, day)
        return self._routing(_Decision(
            lon, lat, township, unit, flags, g.tab_others[cell], None, site, site_how,
            site_dist, matter or None, body, body_how, since))

    def distance_to(self, lon: float, lat: float, township: int) -> float:
        """Distance in metres (EPSG:4549) from a WGS84 point to a township polygon."""
        x, y = to_metric(lon, lat, self.metric)
        return float(shapely.distance(self.t_geom_m[township], shapely.Point(x, y)))

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


def _broadcast(value, n: int) -> np.ndarray:
    if value is None or isinstance(value, str):
        return np.full(n, value or None, dtype=object)
    arr = list(value)
    if len(arr) != n:
        raise ValueError(f"expected {n} values, got {len(arr)}")
    return np.array([None if (v is None or pd.isna(v) or v == "") else str(v) for v in arr],
                    dtype=object)


def _local_day(value, tz: ZoneInfo) -> np.datetime64:
    """The local calendar day (in ``tz``) of a date, naive local or aware date-time, or text."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return np.datetime64(value, "D")
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(tz)
    return np.datetime64(stamp.date(), "D")


def _days(at, n: int, tz: ZoneInfo) -> np.ndarray:
    """Incident dates as local days (datetime64[D]); default today in ``tz``.

    Raises ValueError naming the position of a value that is not a date.
    """
    if at is None:
        return np.full(n, np.datetime64(dt.datetime.now(tz).date(), "D"))
    if isinstance(at, dt.date | str | np.datetime64 | pd.Timestamp):
        values = [at] * n
    else:
        values = list(at)
        if len(values) != n:
            raise ValueError(f"expected {n} dates, got {len(values)}")
    out = np.empty(n, dtype="datetime64[D]")
    for i, value in enumerate(values):
        try:
            out[i] = _local_day(value, tz)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"at[{i}]: {value!r} is not a date or date-time") from exc
    return out


@dataclass
class RoutingBatch:
    """Columnar routing results; index it for a `Routing`, or call `to_frame`."""

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
    matter: np.ndarray
    body: np.ndarray
    body_how: np.ndarray
    empowered_since: dict[int, dt.date]

    def __len__(self) -> int:
        return len(self.township)

    def decision(self, i: int) -> _Decision:
        return _Decision(
            float(self.lon[i]), float(self.lat[i]), int(self.township[i]), int(self.unit[i]),
            int(self.flags[i]), self._others(i), self.problems.get(i),
            int(self.site[i]), int(self.site_how[i]), float(self.site_distance_m[i]),
            self.matter[i], self.body[i], int(self.body_how[i]), self.empowered_since.get(i))

    def _others(self, i: int) -> tuple[int, ...]:
        if i in self.others:
            return self.others[i]
        grid = self.router.grid
        return grid.tab_others[self.combo[i]] if grid is not None else ()

    def __getitem__(self, i: int) -> Routing:
        return self.router._routing(self.decision(i))

    def flag_texts(self) -> np.ndarray:
        names = np.array([";".join(flag_names(m)) for m in range(32)], dtype=object)
        return names[self.flags]

    def to_frame(self, ids=None) -> pd.DataFrame:
        """The bulk-routing contract: id, township_code, township_name, unit_code, site_id,
        body_code, flags (``;``-separated), reasons (``；``-separated)."""
        r = self.router

        def pick(values, idx):
            return np.append(values, None)[idx]

        return pd.DataFrame({
            "id": np.arange(1, len(self) + 1) if ids is None else list(ids),
            "township_code": pick(r.t_codes, self.township),
            "township_name": pick(r.t_names, self.township),
            "unit_code": pick(r.u_codes, self.unit),
            "site_id": pick(r.s_ids, self.site),
            "body_code": self.body,
            "flags": self.flag_texts(),
            "reasons": ["；".join(explain(r, self.decision(i))) for i in range(len(self))],
        })


def _label(name, code) -> str:
    return f"{name}({code})"


def explain(r: Router, d: _Decision) -> tuple[str, ...]:
    """Human-readable reasons (Chinese, with codes) for one routing decision."""
    if d.flags & INVALID:
        return (f"坐标无效：{COORDINATE_PROBLEMS[d.problem][1]}，未作归属",)
    reasons: list[str] = []
    t = d.township
    others = "、".join(_label(r.t_names[k], r.t_codes[k]) for k in d.others)
    here = _label(r.t_names[t], r.t_codes[t]) if t >= 0 else None
    if d.flags & BORDER:
        reasons.append(f"位于 {here} 与 {others} 交界，按编码最小归属 {here}")
    elif d.flags & SNAPPED:
        reasons.append(f"不在任何镇街范围内，距 {here} {r.distance_to(d.lon, d.lat, t):.0f} 米"
                       f"（容差 {r.snap_tolerance_m:.0f} 米），就近归属")
    elif d.flags & OUTSIDE:
        reasons.append(f"不在本区任何镇街范围内（超出就近容差 {r.snap_tolerance_m:.0f} 米），"
                       "作为移送线索保留")
    else:
        reasons.append(f"坐标落在 {here} 范围内")
    if d.flags & NEAR_BORDER:
        reasons.append(f"距 {others} 不足 {r.border_buffer_m:.0f} 米，请派遣员确认")
    if t >= 0:
        reasons.append(f"单元：{_label(r.u_names[d.unit], r.u_codes[d.unit])}" if d.unit >= 0
                       else "不在任何单元内")
    if d.site >= 0:
        site = _label(r.s_names[d.site], r.s_ids[d.site])
        reasons.append({
            SITE_POLYGON: f"监管对象：{site}，坐标在其范围内",
            SITE_NEAREST: f"监管对象：{site}，最近点位，距 {d.site_distance_m:.0f} 米",
            SITE_CREDIT: f"监管对象：{site}，按统一社会信用代码匹配",
        }[d.site_how])
    b = r._bodies
    if b is None or d.body_how == BODY_NONE:
        return tuple(reasons)
    body = _label(b["names"].get(d.body, d.body), d.body)
    matter = _label(b["matter_names"].get(d.matter, d.matter), d.matter)
    reasons.append({
        BODY_TOWNSHIP: f"事项 {matter} 自 {d.empowered_since} 起赋权 {here}，由 {body} 负责",
        BODY_DISTRICT: f"事项 {matter} 在事发日未赋权 {here}，由区级 {body} 负责",
        BODY_REFERRAL: f"区外线索，交 {body} 移送",
        BODY_TRIAGE: f"事项代码 {d.matter} 不在执法事项目录中，交 {body} 分拨",
        BODY_NO_MATTER: f"未指明执法事项，交 {body} 分拨",
    }[d.body_how])
    return tuple(reasons)
