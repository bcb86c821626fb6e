import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.crs import (
    GCJ02,
    WGS84,
    CRSInputError,
    coordinate_problems,
    gcj02_to_wgs84,
    parse_crs,
    to_metric,
    to_wgs84,
    wgs84_to_gcj02,
)


@given(st.floats(73.7, 134.9), st.floats(18.2, 53.5))
def test_gcj02_round_trip_under_one_metre(lon, lat):
    glon, glat = wgs84_to_gcj02(lon, lat)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    # compare in metres with a local scale (1 degree of latitude is about 111 km)
    dx = (wlon - lon) * 111_320 * np.cos(np.radians(lat))
    dy = (wlat - lat) * 110_574
    assert np.hypot(dx, dy) < 1.0


def test_gcj02_offset_near_huzhou_is_a_few_hundred_metres():
    glon, glat = wgs84_to_gcj02(120.1, 30.87)
    dx = (glon - 120.1) * 111_320 * np.cos(np.radians(30.87))
    dy = (glat - 30.87) * 110_574
    assert 200 < np.hypot(dx, dy) < 800


def test_gcj02_leaves_points_outside_china_unchanged():
    lon, lat = wgs84_to_gcj02(np.array([2.35, -70.0]), np.array([48.85, -33.4]))
    assert lon.tolist() == [2.35, -70.0]
    assert lat.tolist() == [48.85, -33.4]


def test_parse_crs_accepts_names_and_codes():
    assert parse_crs(None) == WGS84
    assert parse_crs("CGCS2000") == WGS84
    assert parse_crs("EPSG:4490") == WGS84
    assert parse_crs("gcj-02") == GCJ02
    assert parse_crs("4549") == "EPSG:4549"


def test_parse_crs_rejects_unknown_with_clear_message():
    with pytest.raises(CRSInputError, match="unknown CRS 'EPSG:999999'"):
        parse_crs("EPSG:999999")


def test_to_wgs84_from_projected():
    x, y = to_metric(120.1, 30.87, "EPSG:4549")
    lon, lat = to_wgs84([x], [y], "EPSG:4549")
    assert lon[0] == pytest.approx(120.1, abs=1e-9)
    assert lat[0] == pytest.approx(30.87, abs=1e-9)


def test_coordinate_problems_are_named_not_guessed():
    problems = coordinate_problems([120.1, 30.87, np.nan, 200.0, 120.0],
                                   [30.87, 120.1, 30.0, 30.0, -95.0])
    assert problems.tolist() == [None, "swapped", "missing", "out_of_range", "out_of_range"]


def test_transformers_are_quick_to_set_up_in_a_new_thread():
    """Each Streamlit page run is a new thread: the transformer must not search the PROJ
    database again there (a pipeline), and give the same coordinates as from_crs."""
    import threading
    import time

    import pyproj

    from geo.crs import _transformer

    _transformer.cache_clear()
    fast = _transformer("EPSG:4326", "EPSG:4549")
    slow = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
    took = {}

    def run(name, tr):
        t0 = time.perf_counter()
        took[name] = (tr.transform(120.1, 30.8), time.perf_counter() - t0)

    for name, tr in (("fast", fast), ("slow", slow)):
        thread = threading.Thread(target=run, args=(name, tr))
        thread.start()
        thread.join()
    assert took["fast"][0] == took["slow"][0]
    assert took["fast"][1] < took["slow"][1] / 3
    # several operations to choose from point by point: left to PROJ
    assert _transformer("EPSG:4214", "EPSG:4326").definition.startswith("unavailable")
