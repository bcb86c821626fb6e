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

import numpy as np
import pandas as pd
import shapely

from geo.catalog import Catalog
from geo.crs import METRIC, WGS84, coordinate_problems, parse_crs, to_metric, to_wgs84
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
    """Row-major lookup grid in WGS84 degrees; cells hold an index, `_EMPTY` or `_MIXED`."""

    x0: float
    y0: float
    dx: float
    dy: float
    township: np.ndarray
    unit: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.township.shape

    def cells(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat cell index per point and whether the point lies on the grid."""
        ny, nx = self.shape
        fx = (lon - self.x0) / self.dx
        fy = (lat - self.y0) / self.dy
        inside = (fx >= 0) & (fx < nx) & (fy >= 0) & (fy < ny)
        flat = np.where(inside, fy.astype(np.int64) * nx + fx.astype(np.int64), 0)
        return flat, inside


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
        self.t_codes = t["code"].to_numpy(dtype=object)
        self.t_names = t["name"].to_numpy(dtype=object)
        self.t_geom = t.geometry.to_numpy()
        self.t_geom_m = t.to_crs(METRIC).geometry.to_numpy()
        shapely.prepare(self.t_geom)
        shapely.prepare(self.t_geom_m)
        self.t_tree = shapely.STRtree(self.t_geom)
        self.t_tree_m = shapely.STRtree(self.t_geom_m)
        t_index = {c: i for i, c in enumerate(self.t_codes)}

        u = layers.units
        if u is None or u.empty:
            u = t.iloc[0:0].assign(township_code=pd.Series(dtype=object))
        self.u_codes = u["code"].to_numpy(dtype=object)
        self.u_names = u["name"].to_numpy(dtype=object)
        self.u_township = np.array([t_index.get(c, -1) for c in u["township_code"]],
                                   dtype=np.int32)
        self.u_geom = u.geometry.to_numpy()
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
            s_geom_m = sites.to_crs(METRIC).geometry.to_numpy()
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
        emp = catalog.empowerment
        emp_frame = pd.DataFrame({
            "t": [t_index.get(c, -1) for c in emp["township_code"]],
            "m": emp["matter_code"].to_numpy(dtype=object),
            "start": pd.to_datetime(emp["effective_from"]).to_numpy("datetime64[D]"),
            "end": pd.to_datetime(emp["effective_to"]).to_numpy("datetime64[D]"),
        })
        return {
            "center": np.array([centers.get(c) for c in self.t_codes], dtype=object),
            "district": dict(zip(catalog.matters["code"], catalog.matters["district_body"],
                                 strict=True)),
            "matter_names": dict(zip(catalog.matters["code"], catalog.matters["name"],
                                     strict=True)),
            "names": catalog.body_names(),
            "command": catalog.command_center,
            "emp": emp_frame[emp_frame["t"] >= 0].reset_index(drop=True),
        }

    # ------------------------------------------------------------------ grid
    def _build_grid(self, cell_m: float) -> _Grid:
        x0, y0, x1, y1 = shapely.total_bounds(self.t_geom)
        lat_max = np.radians(max(abs(y0), abs(y1)))
        dy = cell_m / 110_574.0
        dx = cell_m / (111_320.0 * np.cos(lat_max))
        min_cell_m = 0.98 * cell_m
        margin_m = self.snap_tolerance_m + 4 * cell_m
        mx = margin_m / (111_320.0 * np.cos(lat_max)) * 1.05
        my = margin_m / 110_574.0 * 1.05
        x0, y0 = x0 - mx, y0 - my
        nx = int(np.ceil((x1 + mx - x0) / dx))
        ny = int(np.ceil((y1 + my - y0) / dy))
        grid = _Grid(x0, y0, dx, dy, np.empty(0), np.empty(0))

        def band(lines, distance_m: float) -> np.ndarray:
            mask = np.zeros((ny, nx), dtype=bool)
            dense = shapely.segmentize(lines, min(dx, dy) / 2.0)
            xy = shapely.get_coordinates(dense)
            flat, inside = grid.cells(xy[:, 0], xy[:, 1])
            mask.ravel()[flat[inside]] = True
            return _dilate(mask, int(np.ceil(distance_m / min_cell_m)) + 3)

        boundaries = shapely.boundary(self.t_geom)
        district_edge = shapely.boundary(shapely.union_all(self.t_geom))
        t_band = band(boundaries, self.border_buffer_m) | band(
            np.array([district_edge]), self.snap_tolerance_m)
        grid.township = self._label_runs(t_band, grid, self.t_tree, self.t_geom)
        if len(self.u_geom):
            u_band = band(shapely.boundary(self.u_geom), 0.0)
            grid.unit = self._label_runs(u_band, grid, self.u_tree, self.u_geom)
        else:
            grid.unit = np.full((ny, nx), _EMPTY, dtype=np.int16)
        return grid

    @staticmethod
    def _label_runs(band: np.ndarray, grid: _Grid, tree, geoms) -> np.ndarray:
        """Label each row run of non-band cells by testing the centre of its first cell.

        No boundary crosses a run (it would have put its cells in the band), so one
        covering test holds for the whole run.
        """
        ny, nx = band.shape
        free = ~band
        prev = np.zeros_like(free)
        prev[:, 1:] = free[:, :-1]
        starts = np.flatnonzero(free & ~prev)
        free_flat = free.ravel()
        run_id = np.cumsum((free & ~prev).ravel()) - 1
        cx = grid.x0 + (starts % nx + 0.5) * grid.dx
        cy = grid.y0 + (starts // nx + 0.5) * grid.dy
        pts = shapely.points(cx, cy)
        pi, gi = _covering(tree, geoms, pts)
        counts = np.bincount(pi, minlength=len(starts))
        first = _first_per_point(len(starts), pi, gi)
        label = np.where(counts == 0, _EMPTY, np.where(counts == 1, first, _MIXED))
        out = np.full(ny * nx, _MIXED, dtype=np.int16)
        out[free_flat] = label[run_id[free_flat]]
        return out.reshape(ny, nx)

    # ------------------------------------------------------------------ exact path
    def _exact_townships(self, lon, lat, pts):
        """Township index, flag bits, other townships and snap distance, by exact tests."""
        n = len(lon)
        flags = np.zeros(n, dtype=np.uint8)
        others: dict[int, tuple[int, ...]] = {}
        dist = np.full(n, np.nan)
        pi, gi = _covering(self.t_tree, self.t_geom, pts)
        counts = np.bincount(pi, minlength=n)
        township = _first_per_point(n, pi, gi)
        multi = np.flatnonzero(counts >= 2)
        if len(multi):
            flags[multi] |= BORDER
            order = np.lexsort((gi, pi))
            for p, g in zip(pi[order], gi[order], strict=True):
                if counts[p] >= 2 and g != township[p]:
                    others[int(p)] = (*others.get(int(p), ()), int(g))
        need_m = np.flatnonzero(counts <= 1)
        if len(need_m):
            x, y = to_metric(lon[need_m], lat[need_m])
            pts_m = shapely.points(x, y)
            single = counts[need_m] == 1
            sel = need_m[single]
            if len(sel) and len(self.t_geom) > 1:
                qi, qg = self.t_tree_m.query(pts_m[single], predicate="dwithin",
                                             distance=self.border_buffer_m)
                keep = qg != township[sel[qi]]
                qi, qg = qi[keep], qg[keep]
                if len(qi):
                    order = np.lexsort((qg, qi))
                    for q, g in zip(qi[order], qg[order], strict=True):
                        p = int(sel[q])
                        flags[p] |= NEAR_BORDER
                        others[p] = (*others.get(p, ()), int(g))
            none = ~single
            sel = need_m[none]
            if len(sel):
                qi, qg = self.t_tree_m.query_nearest(
                    pts_m[none], max_distance=self.snap_tolerance_m, return_distance=False,
                    all_matches=True)
                nearest = _first_per_point(len(sel), qi, qg)
                hit = nearest >= 0
                township[sel[hit]] = nearest[hit]
                flags[sel[hit]] |= SNAPPED
                flags[sel[~hit]] |= OUTSIDE
                if hit.any():
                    dist[sel[hit]] = shapely.distance(self.t_geom_m[nearest[hit]],
                                                      pts_m[none][hit])
        return township, flags, others, dist

    def _exact_units(self, pts, township):
        """Lowest-coded unit of the given township covering each point (-1: none)."""
        n = len(pts)
        if not len(self.u_geom):
            return np.full(n, -1, dtype=np.int32)
        pi, ui = _covering(self.u_tree, self.u_geom, pts)
        keep = self.u_township[ui] == township[pi]
        return _first_per_point(n, pi[keep], ui[keep])

    def locate(self, lon: np.ndarray, lat: np.ndarray):
        """Township and unit for valid WGS84 points: (township, unit, flags, others, dist)."""
        n = len(lon)
        if self.grid is None:
            exact = np.arange(n)
            township = np.full(n, -1, dtype=np.int32)
            unit = np.full(n, -1, dtype=np.int32)
            flags = np.zeros(n, dtype=np.uint8)
            unit_exact = np.array([], dtype=np.int64)
        else:
            flat, on_grid = self.grid.cells(lon, lat)
            township = np.where(on_grid, self.grid.township.ravel()[flat], _EMPTY).astype(
                np.int32)
            unit = np.where(on_grid, self.grid.unit.ravel()[flat], _EMPTY).astype(np.int32)
            flags = np.where(township == _EMPTY, OUTSIDE, 0).astype(np.uint8)
            exact = np.flatnonzero(township == _MIXED)
            unit[township < 0] = -1
            wrong_parent = (unit >= 0) & (township >= 0)
            wrong_parent[wrong_parent] = (self.u_township[unit[wrong_parent]]
                                          != township[wrong_parent])
            unit_exact = np.flatnonzero((township >= 0) & ((unit == _MIXED) | wrong_parent))
        others: dict[int, tuple[int, ...]] = {}
        dist = np.full(n, np.nan)
        if len(exact):
            pts = shapely.points(lon[exact], lat[exact])
            t_ex, f_ex, o_ex, d_ex = self._exact_townships(lon[exact], lat[exact], pts)
            township[exact] = t_ex
            flags[exact] = f_ex
            dist[exact] = d_ex
            others = {int(exact[k]): v for k, v in o_ex.items()}
            unit[exact] = self._exact_units(pts, t_ex)
        if len(unit_exact):
            pts = shapely.points(lon[unit_exact], lat[unit_exact])
            unit[unit_exact] = self._exact_units(pts, township[unit_exact])
        return township, unit, flags, others, dist

    # ------------------------------------------------------------------ sites and bodies
    def _match_sites(self, lon, lat, credit_codes):
        n = len(lon)
        site = np.full(n, -1, dtype=np.int32)
        how = np.zeros(n, dtype=np.int8)
        dist = np.full(n, np.nan)
        if len(self.s_ids) and n:
            x, y = to_metric(lon, lat)
            pts_m = shapely.points(x, y)
            pi, gi = _covering(self.sp_tree, self.sp_geom, pts_m)
            poly = _first_per_point(n, pi, self.sp_idx[gi]) if len(pi) else site.copy()
            hit = poly >= 0
            site[hit], how[hit] = poly[hit], SITE_POLYGON
            rest = np.flatnonzero(~hit)
            if len(rest) and len(self.spt_idx):
                qi, qg = self.spt_tree.query_nearest(pts_m[rest], max_distance=self.site_match_m,
                                                     all_matches=True)
                near = _first_per_point(len(rest), qi, self.spt_idx[qg])
                ok = near >= 0
                site[rest[ok]], how[rest[ok]] = near[ok], SITE_NEAREST
                if ok.any():
                    dist[rest[ok]] = shapely.distance(self.s_geom_m[near[ok]], pts_m[rest[ok]])
        if credit_codes is not None and self.s_credit:
            for i in np.flatnonzero(site < 0):
                j = self.s_credit.get(credit_codes[i])
                if j is not None:
                    site[i], how[i] = j, SITE_CREDIT
        return site, how, dist

    def _choose_bodies(self, township, flags, matter, day):
        n = len(township)
        body = np.full(n, None, dtype=object)
        how = np.zeros(n, dtype=np.int8)
        since = np.full(n, None, dtype=object)
        b = self._bodies
        if b is None:
            return body, how, since
        valid = (flags & INVALID) == 0
        has_matter = np.array([m is not None and m != "" for m in matter], dtype=bool)
        known = np.array([m in b["district"] for m in matter], dtype=bool)
        outside = (township < 0) & valid
        body[valid] = b["command"]
        how[valid & ~has_matter] = BODY_NO_MATTER
        how[valid & has_matter & ~known] = BODY_TRIAGE
        how[outside & known] = BODY_REFERRAL
        routed = np.flatnonzero(valid & known & ~outside)
        if len(routed):
            body[routed] = [b["district"][m] for m in matter[routed]]
            how[routed] = BODY_DISTRICT
            query = pd.DataFrame({"i": routed, "t": township[routed], "m": matter[routed],
                                  "d": day[routed]})
            merged = query.merge(b["emp"], on=["t", "m"], how="inner")
            in_force = (merged["start"] <= merged["d"]) & (
                merged["end"].isna() | (merged["d"] < merged["end"]))
            merged = merged[in_force].sort_values(["i", "start"]).drop_duplicates("i", keep="last")
            if len(merged):
                idx = merged["i"].to_numpy()
                body[idx] = b["center"][township[idx]]
                how[idx] = BODY_TOWNSHIP
                since[idx] = [pd.Timestamp(s).date() for s in merged["start"]]
        return body, how, since

    # ------------------------------------------------------------------ public API
    def route_many(
        self,
        lon,
        lat,
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
            EPSG code accepted).
        matter
            Matter code per point, or one for all (``None``: no body decision).
        at
            Incident date(s) for the empowerment rule (default: today).
        credit_code
            Unified social credit code per point naming the site, where known.
        sites
            Match sites (needs a metric projection of every point).
        """
        lon = np.atleast_1d(np.asarray(lon, dtype="float64"))
        lat = np.atleast_1d(np.asarray(lat, dtype="float64"))
        n = len(lon)
        problem = coordinate_problems(lon, lat) if crs in (None, WGS84) else None
        lon, lat = to_wgs84(lon, lat, parse_crs(crs))
        if problem is None:
            problem = coordinate_problems(lon, lat)
        valid = np.equal(problem, None)
        vi = np.flatnonzero(valid)
        township = np.full(n, -1, dtype=np.int32)
        unit = np.full(n, -1, dtype=np.int32)
        flags = np.full(n, INVALID, dtype=np.uint8)
        dist = np.full(n, np.nan)
        others: dict[int, tuple[int, ...]] = {}
        t, u, f, o, d = self.locate(lon[vi], lat[vi])
        township[vi], unit[vi], flags[vi], dist[vi] = t, u, f, d
        others = {int(vi[k]): v for k, v in o.items()}

        matters = _broadcast(matter, n)
        credits = _broadcast(credit_code, n)
        site = np.full(n, -1, dtype=np.int32)
        site_how = np.zeros(n, dtype=np.int8)
        site_dist = np.full(n, np.nan)
        if sites:
            s, h, sd = self._match_sites(lon[vi], lat[vi], credits[vi])
            site[vi], site_how[vi], site_dist[vi] = s, h, sd
        day = _days(at, n)
        body, body_how, since = self._choose_bodies(township, flags, matters, day)
        return RoutingBatch(self, township, unit, flags, others, dist, problem, site,
                            site_how, site_dist, matters, body, body_how, since)

    def route(self, lon: float, lat: float, matter: str | None = None,
              at: dt.date | dt.datetime | None = None, crs: str | None = None,
              credit_code: str | None = None) -> Routing:
        """Route one live alert (see `route_many` for the parameters)."""
        return self.route_many([lon], [lat], matter=[matter], at=at, crs=crs,
                               credit_code=[credit_code])[0]


def _broadcast(value, n: int) -> np.ndarray:
    if value is None or isinstance(value, str):
        return np.full(n, value, dtype=object)
    arr = np.asarray(list(value), dtype=object)
    if len(arr) != n:
        raise ValueError(f"expected {n} values, got {len(arr)}")
    return np.array([None if (v is None or v != v or v == "") else str(v) for v in arr],
                    dtype=object)


def _days(at, n: int) -> np.ndarray:
    if at is None:
        return np.full(n, np.datetime64(dt.date.today(), "D"))
    if isinstance(at, dt.datetime | dt.date | str | np.datetime64 | pd.Timestamp):
        return np.full(n, pd.Timestamp(at).to_datetime64().astype("datetime64[D]"))
    values = pd.to_datetime(pd.Series(list(at)), errors="coerce", utc=False, format="mixed")
    out = values.to_numpy("datetime64[D]")
    if len(out) != n:
        raise ValueError(f"expected {n} dates, got {len(out)}")
    return np.where(np.isnat(out), np.datetime64(dt.date.today(), "D"), out)


@dataclass
class RoutingBatch:
    """Columnar routing results; index it for a `Routing`, or call `to_frame`."""

    router: Router
    township: np.ndarray
    unit: np.ndarray
    flags: np.ndarray
    others: dict[int, tuple[int, ...]]
    snap_distance_m: np.ndarray
    problem: np.ndarray
    site: np.ndarray
    site_how: np.ndarray
    site_distance_m: np.ndarray
    matter: np.ndarray
    body: np.ndarray
    body_how: np.ndarray
    empowered_since: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.township)

    def __getitem__(self, i: int) -> Routing:
        r = self.router
        t, u, s = int(self.township[i]), int(self.unit[i]), int(self.site[i])
        return Routing(
            township_code=r.t_codes[t] if t >= 0 else None,
            township_name=r.t_names[t] if t >= 0 else None,
            unit_code=r.u_codes[u] if u >= 0 else None,
            site_id=r.s_ids[s] if s >= 0 else None,
            body_code=self.body[i],
            flags=flag_names(int(self.flags[i])),
            reasons=explain(self, i),
            candidates=tuple(r.t_codes[k] for k in self.others.get(i, ())),
        )

    def township_codes(self) -> np.ndarray:
        codes = np.append(self.router.t_codes, None)
        return codes[self.township]

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
            "reasons": ["；".join(explain(self, i)) for i in range(len(self))],
        })


def _label(name, code) -> str:
    return f"{name}({code})"


def explain(batch: RoutingBatch, i: int) -> tuple[str, ...]:
    """Human-readable reasons (Chinese, with codes) for routing decision ``i``."""
    from geo.crs import COORDINATE_PROBLEMS

    r = batch.router
    mask = int(batch.flags[i])
    if mask & INVALID:
        return (f"坐标无效：{COORDINATE_PROBLEMS[batch.problem[i]][1]}，未作归属",)
    reasons: list[str] = []
    t = int(batch.township[i])
    others = [_label(r.t_names[k], r.t_codes[k]) for k in batch.others.get(i, ())]
    here = _label(r.t_names[t], r.t_codes[t]) if t >= 0 else None
    if mask & BORDER:
        reasons.append(f"位于 {here} 与 {'、'.join(others)} 交界，按编码最小归属 {here}")
    elif mask & SNAPPED:
        reasons.append(f"不在任何镇街范围内，距 {here} {batch.snap_distance_m[i]:.0f} 米"
                       f"（容差 {r.snap_tolerance_m:.0f} 米），就近归属")
    elif mask & OUTSIDE:
        reasons.append(f"不在本区任何镇街范围内（超出就近容差 {r.snap_tolerance_m:.0f} 米），"
                       "作为移送线索保留")
    else:
        reasons.append(f"坐标落在 {here} 范围内")
    if mask & NEAR_BORDER:
        reasons.append(f"距 {'、'.join(others)} 不足 {r.border_buffer_m:.0f} 米，请派遣员确认")
    u = int(batch.unit[i])
    if t >= 0:
        reasons.append(f"单元：{_label(r.u_names[u], r.u_codes[u])}" if u >= 0
                       else "不在任何单元内")
    s = int(batch.site[i])
    how = int(batch.site_how[i])
    if how == SITE_POLYGON:
        reasons.append(f"监管对象：{_label(r.s_names[s], r.s_ids[s])}，坐标在其范围内")
    elif how == SITE_NEAREST:
        reasons.append(f"监管对象：{_label(r.s_names[s], r.s_ids[s])}，最近点位，"
                       f"距 {batch.site_distance_m[i]:.0f} 米")
    elif how == SITE_CREDIT:
        reasons.append(f"监管对象：{_label(r.s_names[s], r.s_ids[s])}，按统一社会信用代码匹配")
    b = r._bodies
    body_how = int(batch.body_how[i])
    if b is None or body_how == BODY_NONE:
        return tuple(reasons)
    m = batch.matter[i]
    body = _label(b["names"].get(batch.body[i], batch.body[i]), batch.body[i])
    matter = _label(b["matter_names"].get(m, m), m) if m else None
    if body_how == BODY_TOWNSHIP:
        reasons.append(f"事项 {matter} 自 {batch.empowered_since[i]} 起赋权 {here}，由 {body} 负责")
    elif body_how == BODY_DISTRICT:
        reasons.append(f"事项 {matter} 在该日未赋权 {here}，由区级 {body} 负责")
    elif body_how == BODY_REFERRAL:
        reasons.append(f"区外线索，交 {body} 移送")
    elif body_how == BODY_TRIAGE:
        reasons.append(f"事项代码 {m} 不在执法事项目录中，交 {body} 分拨")
    elif body_how == BODY_NO_MATTER:
        reasons.append(f"未指明执法事项，交 {body} 分拨")
    return tuple(reasons)


__all__ = ["FLAG_NAMES", "WGS84", "Router", "Routing", "RoutingBatch", "flag_names"]
