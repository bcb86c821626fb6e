import datetime as dt

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.crs import METRIC, to_metric, wgs84_to_gcj02
from geo.layers import load_layers
from geo.routing import Router
from geo.settings import Settings
from tests.conftest import CODE_A, CODE_B, SIDE, X0, Y0, to_wgs

DAY = dt.date(2024, 6, 1)


def route_xy(router, x, y, **kw):
    """Route a point given in EPSG:4549 metres."""
    lon, lat = to_wgs(x, y)
    return router.route(float(lon[0]), float(lat[0]), **kw)


def test_inside_one_township(small_router):
    r = route_xy(small_router, X0 + 500, Y0 + 1500, matter="M1", at=DAY)
    assert (r.township_code, r.township_name, r.flags) == (CODE_A, "甲镇", ())
    assert r.unit_code == CODE_A + "001"
    assert r.body_code == "TC-A"
    assert any("甲镇(330599001000)" in reason for reason in r.reasons)


def test_border_point_resolves_to_lowest_code_and_lists_both(small_router):
    # a vertex of the shared edge, exactly as stored
    shared = small_router.t_geom[0].intersection(small_router.t_geom[1])
    lon, lat = shapely.get_coordinates(shared)[0]
    r = small_router.route(lon, lat)
    assert r.township_code == CODE_A
    assert r.flags == ("border",)
    assert r.candidates == (CODE_B,)
    assert CODE_A in r.reasons[0] and CODE_B in r.reasons[0]


def test_near_border_within_buffer(small_router):
    r = route_xy(small_router, X0 + SIDE - 20, Y0 + 1000)
    assert r.township_code == CODE_A
    assert r.flags == ("near_border",)
    assert r.candidates == (CODE_B,)
    far = route_xy(small_router, X0 + SIDE - 80, Y0 + 1000)
    assert far.flags == ()


def test_snapped_within_tolerance_and_outside_beyond(small_router):
    r = route_xy(small_router, X0 - 100, Y0 + 1000, matter="M1", at=DAY)
    assert (r.township_code, r.flags) == (CODE_A, ("snapped",))
    assert "100 米" in r.reasons[0]
    assert r.unit_code is None
    out = route_xy(small_router, X0 - 5000, Y0 + 1000, matter="M1", at=DAY)
    assert (out.township_code, out.flags, out.body_code) == (None, ("outside",), "CC")


def test_invalid_coordinates_are_flagged_not_guessed(small_router):
    lon, lat = to_wgs(X0 + 500, Y0 + 500)
    swapped = small_router.route(float(lat[0]), float(lon[0]))
    assert swapped.flags == ("invalid",) and swapped.township_code is None
    assert "颠倒" in swapped.reasons[0]
    assert small_router.route(float("nan"), 30.0).flags == ("invalid",)
    assert small_router.route(190.0, 30.0).flags == ("invalid",)


def test_unit_absent_where_no_unit_covers(small_router):
    r = route_xy(small_router, X0 + SIDE + 1500, Y0 + 1000)
    assert r.township_code == CODE_B and r.unit_code is None
    assert "不在任何单元内" in r.reasons


def test_site_polygon_nearest_and_credit_code(small_router):
    assert route_xy(small_router, X0 + 250, Y0 + 250).site_id == "S1"
    near = route_xy(small_router, X0 + 3000 + 60, Y0 + 1000)
    assert near.site_id == "S2" and any("距 60 米" in x for x in near.reasons)
    assert route_xy(small_router, X0 + 3000 + 150, Y0 + 1000).site_id is None
    named = route_xy(small_router, X0 + 1200, Y0 + 1200, credit_code="91330502MA2B3C4D5E")
    assert named.site_id == "S2" and any("信用代码" in x for x in named.reasons)


def test_empowerment_date_rule(small_router):
    def body(x, at):
        return route_xy(small_router, x, Y0 + 1000, matter="M1", at=at).body_code

    a, b = X0 + 500, X0 + SIDE + 500
    assert body(a, dt.date(2023, 12, 31)) == "DT-SC"   # before it took effect
    assert body(a, dt.date(2024, 1, 1)) == "TC-A"      # on the day it took effect
    assert body(b, dt.date(2024, 12, 31)) == "TC-B"
    assert body(b, dt.date(2025, 1, 1)) == "DT-SC"     # effective_to is exclusive
    assert route_xy(small_router, a, Y0 + 1000, matter="M2", at=DAY).body_code == "DT-ZH"


def test_unknown_or_missing_matter_goes_to_triage(small_router):
    unknown = route_xy(small_router, X0 + 500, Y0 + 500, matter="M404", at=DAY)
    assert unknown.body_code == "CC" and "M404" in unknown.reasons[-1]
    assert route_xy(small_router, X0 + 500, Y0 + 500).body_code == "CC"


def test_gcj02_and_projected_input(small_router):
    # 100 m above the line between unit 001 (north half) and 002 (south half) of 甲镇
    lon, lat = to_wgs(X0 + 500, Y0 + 1100)
    glon, glat = wgs84_to_gcj02(lon, lat)
    r = small_router.route(float(glon[0]), float(glat[0]), crs="gcj02")
    assert r.unit_code == CODE_A + "001"
    # the same GCJ-02 numbers read as WGS84 land hundreds of metres away (here ~460 m east
    # and ~230 m south), in the unit south of the line
    dx, dy = to_metric(glon, glat, METRIC)
    assert 400 < dx[0] - (X0 + 500) < 550 and -300 < dy[0] - (Y0 + 1100) < -150
    assert small_router.route(float(glon[0]), float(glat[0])).unit_code == CODE_A + "002"
    r2 = small_router.route(X0 + SIDE + 100, Y0 + 100, crs="EPSG:4549")
    assert r2.township_code == CODE_B


def test_route_many_matches_route_on_small_layers(small_router):
    xs = np.array([X0 + 500, X0 + SIDE - 20, X0 - 100, X0 - 5000, X0 + 3060, X0 + 250])
    ys = np.array([Y0 + 1500, Y0 + 1000, Y0 + 1000, Y0 + 1000, Y0 + 1000, Y0 + 250])
    lon, lat = to_wgs(xs, ys)
    batch = small_router.route_many(lon, lat, matter="M1", at=DAY)
    for i in range(len(xs)):
        assert batch[i] == small_router.route(lon[i], lat[i], matter="M1", at=DAY)
    frame = batch.to_frame()
    assert list(frame.columns) == ["id", "township_code", "township_name", "unit_code",
                                   "site_id", "body_code", "flags", "reasons"]
    assert frame["flags"].tolist()[:4] == ["", "near_border", "snapped", "outside"]


def test_router_without_units_sites_or_catalog(small_dirs):
    layers = load_layers(small_dirs[0])
    bare = type(layers)(townships=layers.townships)
    r = Router(bare).route(*map(float, (c[0] for c in to_wgs(X0 + 500, Y0 + 500))))
    assert r.township_code == CODE_A and r.unit_code is None and r.body_code is None


# ---------------------------------------------------------------- property tests on the demo
def _boundary_points(router, n_per_edge=3):
    """Vertices of township boundaries and points along their shared edges (WGS84)."""
    pts = []
    geoms = router.t_geom
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            shared = shapely.intersection(shapely.boundary(geoms[i]), shapely.boundary(geoms[j]))
            if shared.is_empty:
                continue
            pts.extend(shapely.get_coordinates(shared)[::7].tolist())
            for line in shapely.get_parts(shapely.line_merge(shared)):
                if line.length > 0:
                    for f in np.linspace(0.1, 0.9, n_per_edge):
                        pts.append(shapely.get_coordinates(line.interpolate(f, normalized=True))
                                   [0].tolist())
    return np.array(pts)


@pytest.fixture(scope="module")
def edge_points(demo_router):
    return _boundary_points(demo_router)


point_in_bbox = st.tuples(st.floats(119.85, 120.38), st.floats(30.60, 30.98))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(point_in_bbox, min_size=1, max_size=40),
       st.sampled_from(["M001", "M018", "M040", None, "NOPE"]))
def test_route_many_equals_route_random(demo_router, pts, matter):
    lon, lat = np.array(pts).T
    batch = demo_router.route_many(lon, lat, matter=matter, at=DAY)
    for i in range(len(lon)):
        assert batch[i] == demo_router.route(lon[i], lat[i], matter=matter, at=DAY)


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_route_many_equals_route_on_shared_edges(demo_router, edge_points, data):
    idx = data.draw(st.lists(st.integers(0, len(edge_points) - 1), min_size=1, max_size=30))
    jitter = data.draw(st.sampled_from([0.0, 1e-7, -1e-7, 3e-4]))
    lon, lat = edge_points[idx, 0] + jitter, edge_points[idx, 1] - jitter
    batch = demo_router.route_many(lon, lat, matter="M001", at=DAY)
    for i in range(len(lon)):
        assert batch[i] == demo_router.route(lon[i], lat[i], matter="M001", at=DAY)


def test_shared_edges_give_border_or_near_border(demo_router, edge_points):
    batch = demo_router.route_many(edge_points[:, 0], edge_points[:, 1], sites=False)
    flags = batch.flag_texts()
    # shared vertices are exactly on both polygons; interpolated points may round off the edge
    assert set(flags) == {"border", "near_border"}
    vertices = shapely.get_coordinates(shapely.intersection(
        shapely.boundary(demo_router.t_geom[0]), shapely.boundary(demo_router.t_geom[1])))
    if len(vertices):
        on_edge = demo_router.route_many(vertices[:, 0], vertices[:, 1], sites=False)
        assert set(on_edge.flag_texts()) == {"border"}
    assert (batch.township >= 0).all()


def test_grid_agrees_with_exact_path(demo_router, demo_router_exact):
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = shapely.total_bounds(demo_router.t_geom)
    lon = rng.uniform(x0 - 0.01, x1 + 0.01, 100_000)
    lat = rng.uniform(y0 - 0.01, y1 + 0.01, 100_000)
    fast = demo_router.route_many(lon, lat, sites=False)
    exact = demo_router_exact.route_many(lon, lat, sites=False)
    np.testing.assert_array_equal(fast.township, exact.township)
    np.testing.assert_array_equal(fast.unit, exact.unit)
    np.testing.assert_array_equal(fast.flags, exact.flags)
    for i in np.flatnonzero(fast.flags & 3):
        assert fast.decision(i).others == exact.decision(i).others
    assert set(fast.flag_texts()) >= {"", "near_border", "snapped", "outside"}


def test_grid_agrees_near_boundaries(demo_router, demo_router_exact, edge_points):
    """Points a few metres either side of boundaries, where the grid is most delicate."""
    rng = np.random.default_rng(11)
    base = edge_points[rng.integers(len(edge_points), size=50_000)]
    x, y = to_metric(base[:, 0], base[:, 1], METRIC)
    offsets = rng.uniform(-250, 250, size=(len(base), 2))
    from geo.crs import to_wgs84
    lon, lat = to_wgs84(x + offsets[:, 0], y + offsets[:, 1], "EPSG:4549")
    fast = demo_router.route_many(lon, lat, sites=False)
    exact = demo_router_exact.route_many(lon, lat, sites=False)
    np.testing.assert_array_equal(fast.township, exact.township)
    np.testing.assert_array_equal(fast.unit, exact.unit)
    np.testing.assert_array_equal(fast.flags, exact.flags)


def test_settings_distances_are_used(small_dirs):
    from geo.catalog import load_catalog
    wide = Router(load_layers(small_dirs[0]), load_catalog(small_dirs[1]),
                  Settings(border_buffer_m=100.0, snap_tolerance_m=50.0))
    assert route_xy(wide, X0 + SIDE - 80, Y0 + 1000).flags == ("near_border",)
    assert route_xy(wide, X0 - 100, Y0 + 1000).flags == ("outside",)


def test_route_many_takes_a_geodataframe(small_router):
    import geopandas as gpd

    from geo.crs import METRIC
    pts = gpd.GeoDataFrame(
        geometry=[shapely.Point(X0 + 500, Y0 + 1500), shapely.Point(X0 + 2500, Y0 + 100),
                  shapely.LineString([(X0, Y0), (X0 + 1, Y0 + 1)]), None], crs=METRIC)
    batch = small_router.route_many(pts, matter="M1", at=DAY)
    assert [batch[i].township_code for i in range(4)] == [CODE_A, CODE_B, None, None]
    assert batch[2].flags == ("invalid",) and batch[3].flags == ("invalid",)
    lon, lat = to_wgs(X0 + 500, Y0 + 1500)
    assert batch[0] == small_router.route(lon[0], lat[0], matter="M1", at=DAY)


def test_multipolygon_township_snaps_and_flags_near_border(tmp_path):
    import geopandas as gpd

    from geo.crs import METRIC
    a = shapely.MultiPolygon([shapely.box(X0, Y0, X0 + SIDE, Y0 + SIDE),
                              shapely.box(X0 + 5000, Y0, X0 + 6000, Y0 + 1000)])
    b = shapely.box(X0 + SIDE, Y0, X0 + 2 * SIDE, Y0 + SIDE)
    folder = tmp_path / "multi"
    folder.mkdir()
    gpd.GeoDataFrame({"code": [CODE_A, CODE_B], "name": ["甲", "乙"]}, geometry=[a, b],
                     crs=METRIC).to_file(folder / "townships.geojson")
    layers = load_layers(folder)
    for router in (Router(layers), Router(layers, use_grid=False)):
        assert route_xy(router, X0 - 100, Y0 + 1000).flags == ("snapped",)
        assert route_xy(router, X0 + 6100, Y0 + 500).township_code == CODE_A
        near = route_xy(router, X0 + SIDE + 20, Y0 + 1000)
        assert (near.township_code, near.flags, near.candidates) == (
            CODE_B, ("near_border",), (CODE_A,))


def test_incident_date_is_the_local_day(small_router):
    from zoneinfo import ZoneInfo
    shanghai = ZoneInfo("Asia/Shanghai")
    x = X0 + 500
    # 06:00 on 1 January in Huzhou is still 31 December in UTC
    local = dt.datetime(2024, 1, 1, 6, 0, tzinfo=shanghai)
    assert route_xy(small_router, x, Y0 + 1000, matter="M1", at=local).body_code == "TC-A"
    assert route_xy(small_router, x, Y0 + 1000, matter="M1",
                    at="2024-01-01T06:00:00+08:00").body_code == "TC-A"
    lon, lat = to_wgs(x, Y0 + 1000)
    with pytest.raises(ValueError, match=r"at\[0\]: 'soon' is not a date"):
        small_router.route_many(lon, lat, matter="M1", at=["soon"])


def test_zero_distances_switch_the_rules_off(small_dirs):
    from geo.catalog import load_catalog
    router = Router(load_layers(small_dirs[0]), load_catalog(small_dirs[1]),
                    Settings(border_buffer_m=0, snap_tolerance_m=0, site_match_m=0))
    assert route_xy(router, X0 - 100, Y0 + 1000).flags == ("outside",)
    assert route_xy(router, X0 + SIDE - 20, Y0 + 1000).flags == ()
    assert route_xy(router, X0 + 3000 + 10, Y0 + 1000).site_id is None
    with pytest.raises(ValueError, match="GEO_SNAP_TOLERANCE_M"):
        Settings(snap_tolerance_m=-1)


# ---------------------------------------------------------------- the bulk path, column-wise
def _frame_of_rows(batch, ids=None):
    """The bulk-routing frame built row by row from single `Routing` values."""
    import pandas as pd

    rows = [batch[i] for i in range(len(batch))]
    return pd.DataFrame({
        "id": list(range(1, len(rows) + 1)) if ids is None else list(ids),
        "township_code": [r.township_code for r in rows],
        "township_name": [r.township_name for r in rows],
        "unit_code": [r.unit_code for r in rows],
        "site_id": [r.site_id for r in rows],
        "body_code": [r.body_code for r in rows],
        "flags": [r.flag_text for r in rows],
        "reasons": ["；".join(r.reasons) for r in rows],
    })


def _mixed_points(router, rng, n):
    """WGS84 points of every kind: anywhere around the district, on and near township
    and unit boundaries, near and on site points, inside site polygons, and unusable."""
    from geo.crs import to_wgs84

    x0, y0, x1, y1 = shapely.total_bounds(router.t_geom)
    lon = rng.uniform(x0 - 0.03, x1 + 0.03, n)
    lat = rng.uniform(y0 - 0.03, y1 + 0.03, n)
    kind = rng.integers(0, 7, n)
    edges = shapely.get_coordinates(shapely.boundary(np.concatenate([router.t_geom,
                                                                     router.u_geom])))
    at = np.flatnonzero(kind == 1)  # on a boundary vertex, or a few metres off it
    xy = np.column_stack(to_metric(*edges[rng.integers(0, len(edges), len(at))].T, METRIC))
    xy += rng.choice([0.0, 0.01, 1.0, 30.0, 60.0, 250.0], (len(at), 1)) * rng.normal(
        size=(len(at), 2))
    lon[at], lat[at] = to_wgs84(xy[:, 0], xy[:, 1], "EPSG:4549")
    sites = router.s_geom_m[router.spt_idx]
    at = np.flatnonzero(kind == 2)  # near a site point, or on it
    xy = shapely.get_coordinates(sites[rng.integers(0, len(sites), len(at))])
    xy += rng.choice([0.0, 50.0, 100.0], (len(at), 1)) * rng.normal(size=(len(at), 2))
    lon[at], lat[at] = to_wgs84(xy[:, 0], xy[:, 1], "EPSG:4549")
    if len(router.sp_geom):
        at = np.flatnonzero(kind == 3)  # in or around a site polygon
        xy = shapely.get_coordinates(shapely.centroid(
            router.sp_geom[rng.integers(0, len(router.sp_geom), len(at))]))
        xy += rng.normal(0, 30, (len(at), 2))
        lon[at], lat[at] = to_wgs84(xy[:, 0], xy[:, 1], "EPSG:4549")
    bad = np.flatnonzero(kind == 4)
    lon[bad[0::4]] = np.nan
    lat[bad[1::4]] = 95.0
    lon[bad[2::4]], lat[bad[2::4]] = lat[bad[2::4]], lon[bad[2::4]]
    lon[bad[3::4]] = 200.0
    return lon, lat


def _mixed_alerts(router, catalog, rng, n):
    """Matters (known, unknown, missing in several spellings), incident days around every
    empowerment date and credit codes (known, unknown, missing) for ``n`` alerts."""
    codes = [*catalog.matters["code"], None, "", float("nan"), "NOPE", "M9999"]
    matter = np.array(codes, dtype=object)[rng.integers(0, len(codes), n)]
    bounds = [d for col in ("effective_from", "effective_to")
              for d in catalog.empowerment[col] if d is not None]
    bounds = np.unique(np.array(bounds, dtype="datetime64[D]"))
    near = bounds[rng.integers(0, len(bounds), n)] + rng.integers(-1, 2, n).astype(
        "timedelta64[D]")
    anywhere = np.datetime64("2019-01-01") + rng.integers(0, 3000, n).astype("timedelta64[D]")
    days = np.where(rng.random(n) < 0.6, near, anywhere)
    credits = [None, "", "NOT-A-CODE", *list(router.s_credit)[:5]]
    credit = np.array(credits, dtype=object)[rng.integers(0, len(credits), n)]
    return matter, days, credit


@pytest.mark.parametrize("seed", [1, 2])
def test_bulk_frame_equals_single_routings(demo_router, demo_catalog, seed):
    """The column-wise frame equals, row for row, the frame made from ``batch[i]``; and
    `Router.route` agrees with ``batch[i]``."""
    rng = np.random.default_rng(seed)
    n = 6000
    lon, lat = _mixed_points(demo_router, rng, n)
    matter, days, credit = _mixed_alerts(demo_router, demo_catalog, rng, n)
    batch = demo_router.route_many(lon, lat, matter=matter, at=days, credit_code=credit)
    import pandas as pd

    pd.testing.assert_frame_equal(batch.to_frame(), _frame_of_rows(batch))
    flags = set(batch.flag_texts())
    assert {"", "border", "near_border", "snapped", "outside", "invalid"} <= flags
    assert set(np.unique(batch.site_how)) == {0, 1, 2, 3}
    assert set(np.unique(batch.body_how)) == set(range(6))
    for i in rng.choice(n, 1500, replace=False):
        day = days[i].item()
        assert demo_router.route(lon[i], lat[i], matter[i], day, credit_code=credit[i]) \
            == batch[i], i


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1), st.integers(1, 60))
def test_bulk_frame_equals_single_routings_random(demo_router, demo_catalog, seed, n):
    rng = np.random.default_rng(seed)
    lon, lat = _mixed_points(demo_router, rng, n)
    matter, days, credit = _mixed_alerts(demo_router, demo_catalog, rng, n)
    batch = demo_router.route_many(lon, lat, matter=matter, at=days, credit_code=credit)
    import pandas as pd

    pd.testing.assert_frame_equal(batch.to_frame(), _frame_of_rows(batch))
    for i in range(n):
        assert demo_router.route(lon[i], lat[i], matter[i], days[i].item(),
                                 credit_code=credit[i]) == batch[i]


def test_columns_make_the_frame(small_router):
    import pandas as pd

    lon, lat = to_wgs(np.array([X0 + 500, X0 - 5000, X0 + 3060]),
                      np.array([Y0 + 1500, Y0 + 1500, Y0 + 1000]))
    batch = small_router.route_many(lon, lat, matter="M1", at=DAY)
    cols = batch.columns(ids=["a", "b", "c"])
    assert list(cols) == ["id", "township_code", "township_name", "unit_code", "site_id",
                          "body_code", "flags", "reasons"]
    frame = batch.to_frame(ids=["a", "b", "c"])
    assert frame.equals(pd.DataFrame(cols))
    assert frame.equals(_frame_of_rows(batch, ["a", "b", "c"]))
    assert "监管对象：企业二(S2)，最近点位，距 60 米" in frame["reasons"][2]
    empty = small_router.route_many([], [], matter="M1", at=DAY).to_frame()
    assert list(empty.columns) == list(cols) and len(empty) == 0
    assert empty["id"].dtype == np.int64
    assert all(dtype == np.dtype(object) for dtype in empty.dtypes.iloc[1:])


def test_bulk_without_catalog_or_sites(small_dirs):
    import pandas as pd

    layers = load_layers(small_dirs[0])
    bare = Router(type(layers)(townships=layers.townships))
    lon, lat = to_wgs(np.array([X0 + 500, X0 - 5000]), np.array([Y0 + 1500, Y0]))
    batch = bare.route_many(np.append(lon, np.nan), np.append(lat, 30.0), matter="M1")
    frame = batch.to_frame()
    pd.testing.assert_frame_equal(frame, _frame_of_rows(batch))
    assert frame["body_code"].dtype == object and frame["body_code"].isna().all()


# ---------------------------------------------------------------- input columns
def test_matter_and_day_columns_of_every_kind_agree(demo_router):
    import pandas as pd

    rng = np.random.default_rng(4)
    n = 400
    x0, y0, x1, y1 = shapely.total_bounds(demo_router.t_geom)
    lon, lat = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    codes = np.array(["M001", "M018", "M040", None, "", "NOPE"], dtype=object)
    matter = codes[rng.integers(0, len(codes), n)]
    stamps = (np.datetime64("2021-06-30T20:00") + rng.integers(0, 5 * 365 * 24, n).astype(
        "timedelta64[h]")).astype("datetime64[ns]")
    reference = demo_router.route_many(lon, lat, matter=list(matter),
                                       at=[pd.Timestamp(s) for s in stamps]).to_frame()
    matters = [matter, list(matter), pd.Series(matter), pd.Categorical(matter),
               pd.Series(matter, dtype="category"), pd.Series(matter, dtype="str")]
    days = [stamps, stamps.astype("datetime64[s]"), pd.Series(stamps),
            pd.Series(stamps).dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC"),
            list(stamps.astype("datetime64[D]").astype(object)),
            [str(s) for s in stamps.astype("datetime64[m]")]]
    for m in matters:
        for d in days:
            got = demo_router.route_many(lon, lat, matter=m, at=d).to_frame()
            pd.testing.assert_frame_equal(got, reference)


def test_missing_day_is_named(small_router):
    lon, lat = to_wgs(np.array([X0 + 500] * 3), np.array([Y0 + 1000] * 3))
    days = np.array(["2024-01-01", "NaT", "2024-01-02"], dtype="datetime64[D]")
    with pytest.raises(ValueError, match=r"at\[1\]: np.datetime64\('NaT','D'\) is not a date"):
        small_router.route_many(lon, lat, matter="M1", at=days)
    with pytest.raises(ValueError, match="expected 3 dates, got 2"):
        small_router.route_many(lon, lat, matter="M1", at=days[:2])
    with pytest.raises(ValueError, match="expected 3 values, got 2"):
        small_router.route_many(lon, lat, matter=["M1", "M1"], at=DAY)


def test_whole_metres_vectorised_as_formatted():
    from geo.routing import _metres, _metres_pieces

    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(0, 300, 20_000), np.arange(0, 300, 0.5),
                             np.nextafter(np.arange(0.5, 300, 1.0), 0),
                             np.nextafter(np.arange(0.5, 300, 1.0), 1000),
                             [0.0, -0.0, 1e17, np.inf, np.nan, -3.2]])
    texts, ids = _metres_pieces(values)
    assert [texts[i] for i in ids] == [_metres(v) for v in values]


# ---------------------------------------------------------------- body rule as tables
def _loop_body_rule(catalog, t_codes, township, matter, day):
    """The body rule as a loop over the empowerment periods (the reference)."""
    centers = catalog.township_bodies()
    district = dict(zip(catalog.matters["code"], catalog.matters["district_body"],
                        strict=True))
    if not matter:
        return catalog.command_center, 5, None
    if matter not in district:
        return catalog.command_center, 3, None
    if township < 0:
        return catalog.command_center, 4, None
    since = None
    rows = catalog.empowerment[(catalog.empowerment["township_code"] == t_codes[township])
                               & (catalog.empowerment["matter_code"] == matter)]
    for start, end in sorted(zip(rows["effective_from"], rows["effective_to"], strict=True),
                             key=lambda p: p[0]):
        if start <= day and (end is None or day < end):
            since = start
    if since is not None and centers.get(t_codes[township]):
        return centers[t_codes[township]], 1, since
    return district[matter], 2, None


def test_body_table_equals_period_loop_with_overlaps(demo_catalog):
    import pandas as pd

    from geo.bodyrule import body_rule
    from geo.catalog import Catalog

    emp = demo_catalog.empowerment
    t0, t1 = emp["township_code"].iloc[0], emp["township_code"].iloc[1]
    extra = pd.DataFrame({
        "township_code": [t0, t0, t0, t1, "339999999000", "339999999000"],
        "matter_code": ["M001", "M001", "M001", "M002", "M001", "M001"],
        "effective_from": [dt.date(2022, 3, 1), dt.date(2022, 3, 1), dt.date(2023, 1, 1),
                           dt.date(2020, 1, 1), dt.date(2022, 1, 1), dt.date(2022, 1, 1)],
        "effective_to": [None, dt.date(2024, 2, 1), dt.date(2023, 6, 1), dt.date(2021, 1, 1),
                         None, dt.date(2023, 1, 1)],
    })
    catalog = Catalog(demo_catalog.matters, demo_catalog.bodies,
                      pd.concat([emp, extra], ignore_index=True))
    codes = np.array([*sorted(set(emp["township_code"])), "330502999000"], dtype=object)
    rule = body_rule(catalog, codes)  # unknown township rows: skipped, no crash
    rng = np.random.default_rng(9)
    n = 20_000
    township = rng.integers(-1, len(codes), n)
    matters = np.array([*catalog.matters["code"][:8], "NOPE", None], dtype=object)
    matter = matters[rng.integers(0, len(matters), n)]
    days = np.datetime64("2019-06-01") + rng.integers(0, 2500, n).astype("timedelta64[D]")
    index = np.array([catalog.matters["code"].tolist().index(m) if m in set(
        catalog.matters["code"]) else (-2 if m is None else -1) for m in matter])
    body, how, since = rule.many(township, np.ones(n, dtype=bool), index, days)
    for i in range(n):
        want = _loop_body_rule(catalog, codes, township[i], matter[i], days[i].item())
        got_one = rule.one(int(township[i]), True, matter[i], days[i].item())
        got = (rule.body_codes[body[i]], int(how[i]),
               None if np.isnat(since[i]) else since[i].item())
        assert got == want == got_one, (i, got, want, got_one)


# ---------------------------------------------------------------- sites by KD-tree
def test_nearest_site_ties_go_to_the_lowest_index(tmp_path):
    import geopandas as gpd

    from geo.crs import METRIC, WGS84
    folder = write_small_layers_with(tmp_path, [
        ("T9", shapely.Point(X0 + 1000, Y0 + 1000)),   # 0: duplicate point, lower index
        ("T1", shapely.Point(X0 + 1000, Y0 + 1000)),   # 1: same place
        ("T2", shapely.Point(X0 + 1100, Y0 + 1000)),   # 2, 3: equally near (50 m) a point
        ("T3", shapely.Point(X0 + 1200, Y0 + 1000)),   #   between 2 and 3
        ("T4", shapely.box(X0 + 1500, Y0 + 1500, X0 + 1600, Y0 + 1600)),
    ], gpd, METRIC, WGS84)
    router = Router(load_layers(folder), None, Settings())
    xs = np.array([X0 + 1000, X0 + 1010, X0 + 1150, X0 + 1150.001, X0 + 1550, X0 + 1300.5])
    ys = np.array([Y0 + 1000, Y0 + 1000, Y0 + 1000, Y0 + 1000, Y0 + 1550, Y0 + 1000])
    lon, lat = to_wgs(xs, ys)
    batch = router.route_many(lon, lat)
    got = [batch[i].site_id for i in range(len(xs))]
    assert got[:2] == [router.s_ids[min(np.flatnonzero(router.s_ids == "T9")[0],
                                        np.flatnonzero(router.s_ids == "T1")[0])]] * 2
    assert got[4] == "T4" and got[5] is None
    for i in range(len(xs)):
        assert router.route(lon[i], lat[i]) == batch[i]
    x, y = to_metric(lon, lat, METRIC)
    exact, _ = router._nearest_site_points_exact(x, y)
    fast, _ = router._nearest_site_points(x, y)
    np.testing.assert_array_equal(fast, exact)


def write_small_layers_with(tmp_path, sites, gpd, metric, wgs84):
    """The small layers with other sites (id, geometry in EPSG:4549)."""
    from tests.conftest import write_small_layers

    folder = write_small_layers(tmp_path / "layers")
    frame = gpd.GeoDataFrame(
        {"site_id": [s for s, _ in sites], "name": [f"对象{s}" for s, _ in sites],
         "kind": ["shop"] * len(sites), "risk": ["low"] * len(sites)},
        geometry=[g for _, g in sites], crs=metric)
    frame.to_crs(wgs84).to_file(folder / "sites.geojson")
    return folder


def test_kdtree_sites_equal_strtree_on_the_demo(demo_router):
    rng = np.random.default_rng(12)
    pts = shapely.get_coordinates(demo_router.s_geom_m[demo_router.spt_idx])
    xy = pts[rng.integers(0, len(pts), 50_000)] + rng.normal(0, 80, (50_000, 2))
    fast, d_fast = demo_router._nearest_site_points(xy[:, 0], xy[:, 1])
    exact, d_exact = demo_router._nearest_site_points_exact(xy[:, 0], xy[:, 1])
    np.testing.assert_array_equal(fast, exact)
    np.testing.assert_array_equal(d_fast, d_exact)
    assert 0 < (fast >= 0).mean() < 1


def test_router_pickles_prepared_and_equal(demo_router, demo_catalog):
    import pickle

    twin = pickle.loads(pickle.dumps(demo_router))
    assert shapely.is_prepared(twin.t_geom).all() and shapely.is_prepared(twin.u_geom).all()
    rng = np.random.default_rng(13)
    lon, lat = _mixed_points(demo_router, rng, 3000)
    matter, days, credit = _mixed_alerts(demo_router, demo_catalog, rng, 3000)
    kw = {"matter": matter, "at": days, "credit_code": credit}
    assert twin.route_many(lon, lat, **kw).to_frame().equals(
        demo_router.route_many(lon, lat, **kw).to_frame())
