"""A site's unit follows the Router's unit rule (step 3 of routing)."""

import geopandas as gpd
import numpy as np
import shapely

from geo.crs import METRIC, WGS84
from geo.routing import site_units


def _units():
    # township A: two units sharing the edge x = 1000; township B's unit overlaps A's east
    return gpd.GeoDataFrame(
        {"code": ["A001", "A002", "B001"], "township_code": ["A", "A", "B"]},
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000),
                  shapely.box(1500, 0, 2500, 1000)], crs=METRIC).to_crs(WGS84)


def test_a_site_on_a_unit_edge_gets_the_first_unit_and_only_its_township_counts():
    sites = gpd.GeoDataFrame(
        {"site_id": ["on_edge", "in_b", "a_in_overlap", "no_town", "outside"],
         "township_code": ["A", "B", "A", None, "A"]},
        geometry=[shapely.Point(1000, 500), shapely.Point(1800, 500),
                  shapely.Point(1800, 500), shapely.Point(500, 500),
                  shapely.Point(5000, 500)], crs=METRIC).to_crs(WGS84)
    units = _units()
    # the exact edge point of the metric layer, as WGS84 sees it
    sites.loc[0, "geometry"] = shapely.Point(
        shapely.get_coordinates(units.geometry.iloc[0])[1])
    got = site_units(sites, units)
    assert list(got) == ["A001", "B001", "A002", None, None]


def test_site_units_agree_with_the_router(demo_layers, demo_router):
    sites = demo_layers.sites
    got = site_units(sites, demo_layers.units)
    at = shapely.point_on_surface(sites.geometry.to_numpy())
    routed = demo_router.route_many(shapely.get_x(at), shapely.get_y(at)).columns()
    same_town = np.asarray(routed["township_code"], dtype=object) == sites[
        "township_code"].to_numpy(dtype=object)
    assert same_town.mean() > 0.99
    expected = np.asarray(routed["unit_code"], dtype=object)[same_town]
    assert list(got[same_town]) == [None if e is None or e != e else e for e in expected]
    assert (got != None).mean() > 0.95  # noqa: E711
