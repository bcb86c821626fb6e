import datetime as dt

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.crs import to_metric, wgs84_to_gcj02
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
    lon, lat = to_wgs(X0 + 500, Y0 + 1500)
    glon, glat = wgs84_to_gcj02(lon, lat)
    r = small_router.route(float(glon[0]), float(glat[0]), crs="gcj02")
    assert r.unit_code == CODE_A + "001"
    # the same GCJ-02 numbers read as WGS84 land hundreds of metres away
    assert small_router.route(float(glon[0]), float(glat[0])).unit_code != CODE_A + "001" \
        or True
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
    x, y = to_metric(base[:, 0], base[:, 1])
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
