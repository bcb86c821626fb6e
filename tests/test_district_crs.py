"""Every district's own metric CRS (issue 13, item 4): the helper, and made-up districts in
the far west and the north-east of China and abroad, with layer files in CGCS2000 lon/lat,
in a Gauss-Kruger zone, in UTM and in GCJ-02, imported with ``init`` alone and routed."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from geo.cli import main
from geo.crs import WGS84, metric_crs_for, metric_crs_of, to_metric
from geo.layers import LayerReport, validate_layer
from geo.settings import Settings
from tests.district import (
    SIDE,
    border_points,
    district_frames,
    district_points,
    place_at,
    write_district,
)

GEOD = pyproj.Geod(ellps="WGS84")
KASHGAR = (76.0, 39.5)
JIAMUSI = (130.3, 46.8)
BERLIN = (13.4, 52.5)
SYDNEY = (151.2, -33.9)
#: the third township reaches this far (true metres) into the second
OVERLAP_M = 150.0
BUFFER_M = Settings().border_buffer_m


# ------------------------------------------------------------------ the helper
@pytest.mark.parametrize(("lon", "lat", "crs"), [
    (120.1, 30.87, "EPSG:4549"),   # Huzhou: CM 120E
    (76.0, 39.5, "EPSG:4534"),     # Kashgar: CM 75E, the westernmost zone
    (87.6, 43.8, "EPSG:4538"),     # Urumqi: CM 87E
    (116.4, 39.9, "EPSG:4548"),    # Beijing: CM 117E
    (113.3, 23.1, "EPSG:4547"),    # Guangzhou: CM 114E
    (126.6, 45.75, "EPSG:4551"),   # Harbin: CM 126E
    (130.3, 46.8, "EPSG:4552"),    # Jiamusi: CM 129E
    (130.6, 46.8, "EPSG:4553"),    # east of 130.5E: CM 132E
    (134.3, 47.7, "EPSG:4554"),    # Fuyuan: CM 135E, the easternmost zone
])
def test_a_district_in_china_gets_its_gauss_kruger_zone(lon, lat, crs):
    assert metric_crs_for(lon, lat) == crs


@pytest.mark.parametrize(("lon", "lat", "crs"), [
    (13.4, 52.5, "EPSG:32633"),     # Berlin
    (2.35, 48.85, "EPSG:32631"),    # Paris
    (-74.0, 40.7, "EPSG:32618"),    # New York
    (126.98, 37.57, "EPSG:32652"),  # Seoul: east of China's zones, but not in China
    (106.9, 47.9, "EPSG:32648"),    # Ulaanbaatar: in CM 108E's longitudes, north of China
    (151.2, -33.9, "EPSG:32756"),   # Sydney: southern hemisphere
    (18.4, -33.9, "EPSG:32734"),    # Cape Town
    (-58.4, -34.6, "EPSG:32721"),   # Buenos Aires
    (0.0, 88.0, "EPSG:32661"),      # beyond UTM: polar stereographic
    (0.0, -85.0, "EPSG:32761"),
])
def test_a_district_abroad_gets_its_utm_zone(lon, lat, crs):
    assert metric_crs_for(lon, lat) == crs


@pytest.mark.parametrize("bad", [(np.nan, 30.0), (200.0, 30.0), (120.0, 95.0)])
def test_no_metric_crs_for_what_is_not_a_lon_lat(bad):
    with pytest.raises(ValueError, match="not a WGS84 lon/lat"):
        metric_crs_for(*bad)


def test_distances_are_true_in_the_crs_picked_anywhere():
    """1 km east and 1 km north of points all over the globe measure 1 km within 0.1 %."""
    for lon in range(-177, 180, 11):
        for lat in range(-79, 84, 9):
            crs = metric_crs_for(lon, lat)
            ex, ey, _ = GEOD.fwd([lon, lon], [lat, lat], [90.0, 0.0], [1000.0, 1000.0])
            x, y = to_metric(np.array([lon, *ex]), np.array([lat, *ey]), crs)
            for k in (1, 2):
                measured = np.hypot(x[k] - x[0], y[k] - y[0])
                assert measured == pytest.approx(1000.0, rel=1e-3), (lon, lat, crs)


@pytest.mark.parametrize(("where", "file_crs", "crs"), [
    (KASHGAR, "EPSG:4534", "EPSG:4534"), (KASHGAR, WGS84, "EPSG:4534"),
    (JIAMUSI, "EPSG:4553", "EPSG:4552"), (BERLIN, "EPSG:32633", "EPSG:32633"),
    (SYDNEY, "EPSG:4490", "EPSG:32756")])
def test_metric_crs_of_a_layer_in_any_crs(where, file_crs, crs):
    townships = district_frames(place_at(*where))["townships"].to_crs(file_crs)
    assert metric_crs_of(townships) == crs


# ------------------------------------------------------------------ layer validation
@pytest.mark.parametrize("where", [KASHGAR, JIAMUSI, BERLIN, SYDNEY])
def test_layer_validation_measures_true_areas(where, tmp_path):
    """The overlap is reported in true square metres (a wrong CRS is off by more than
    0.2 %: EPSG:4549 at Jiamusi by 1.4 %, elsewhere by far more)."""
    from geo.layers import check_layers

    folder = write_district(tmp_path / "d", place=place_at(*where), overlap_m=OVERLAP_M)
    layers, report = check_layers(folder)
    assert layers is not None
    assert _overlap_m2(report.render()) == pytest.approx(OVERLAP_M * SIDE, rel=2e-3)


def test_sites_take_the_nearest_township_within_true_metres(tmp_path):
    """A site 450 m (true) outside the district takes the nearest township; one 550 m
    outside takes none (`SITE_TOWNSHIP_MAX_M` is 500 m)."""
    from geo.layers import with_townships

    place = place_at(*KASHGAR)
    frames = district_frames(place)
    townships = frames["townships"].to_crs(WGS84)
    west = place.x0
    sites = gpd.GeoDataFrame({"site_id": ["N", "F"]}, geometry=[
        shapely.Point(west - 450, place.y0 + 1000), shapely.Point(west - 550, place.y0 + 1000)],
        crs=place.crs).to_crs(WGS84)
    report = LayerReport()
    found = with_townships(sites, townships, report)
    assert list(found["township_code"].fillna("")) == [townships["code"].iloc[0], ""]
    assert len(report.problems) == 1 and report.problems[0].feature == 2


def test_zero_area_polygon_is_named_as_such():
    townships = gpd.GeoDataFrame(
        {"code": ["340199101000", "340199102000"], "name": ["甲", "乙"]},
        geometry=[shapely.box(76.0, 39.5, 76.01, 39.51),
                  shapely.Polygon([(76.0, 39.5), (76.01, 39.5), (76.02, 39.5)])], crs=WGS84)
    report = LayerReport()
    validate_layer(townships, "townships", report)
    assert [(p.level, p.feature) for p in report.problems] == [("error", 2)]
    message = report.problems[0].message
    assert message.startswith("zero-area polygon") and "wrong CRS" not in message


# ------------------------------------------------------------------ init, then route
CASES = {
    "far-west, CGCS2000 lon/lat": (KASHGAR, "geojson", "EPSG:4490"),
    "far-west, its Gauss-Kruger zone": (KASHGAR, "gpkg", "EPSG:4534"),
    "far-west, GCJ-02": (KASHGAR, "geojson", "gcj02"),
    "north-east, GCJ-02": (JIAMUSI, "geojson", "gcj02"),
    "north-east, the next Gauss-Kruger zone": (JIAMUSI, "gpkg", "EPSG:4553"),
    "abroad, UTM": (BERLIN, "gpkg", "EPSG:32633"),
    "southern hemisphere, WGS84": (SYDNEY, "geojson", "EPSG:4326"),
}


def _overlap_m2(text: str) -> float:
    found = re.findall(r"townships 340199102000 and 340199103000 overlap by ([\d,.]+) m2", text)
    assert len(found) == 1, text
    return float(found[0].replace(",", ""))


def _oracle(place) -> pd.DataFrame:
    """The district's points and two near its first border: 0.8 and 1.25 times the
    border buffer (true metres) from the second township."""
    pts = district_points(place).assign(near=False)
    near = border_points(place, [0.8 * BUFFER_M, 1.25 * BUFFER_M])
    near["near"] = [True, False]
    return pd.concat([pts, near.drop(columns="distance_m")], ignore_index=True)


@pytest.mark.parametrize("case", list(CASES))
def test_init_with_layers_alone_then_route_anywhere(case, tmp_path, capsys):
    where, fmt, file_crs = CASES[case]
    place = place_at(*where)
    layers = write_district(tmp_path / "d", fmt, place, file_crs, overlap_m=OVERLAP_M)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'd.sqlite'}",
                        cache_path=tmp_path / "cache")
    gcj = ["--layers-gcj02"] if file_crs == "gcj02" else []
    assert main(["init", "--layers", str(layers), *gcj], settings) == 0
    out = capsys.readouterr().out
    assert "0 error(s), 1 warning(s), 0 repaired" in out  # the overlap, nothing else
    assert _overlap_m2(out) == pytest.approx(OVERLAP_M * SIDE, rel=2e-3)
    assert main(["layers", "check", str(layers), *gcj], settings) == 0
    assert _overlap_m2(capsys.readouterr().out) == pytest.approx(OVERLAP_M * SIDE, rel=2e-3)

    pts = _oracle(place)
    pts[["id", "lon", "lat"]].to_csv(tmp_path / "p.csv", index=False)
    for extra in ([], ["--layers", str(layers), *gcj]):  # the loaded set, then the files
        assert main(["route", str(tmp_path / "p.csv"), "--out", str(tmp_path / "r.csv"),
                     *extra], settings) == 0
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.splitlines()) <= 3, err  # no per-row flood
        routed = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False)
        assert list(routed["id"]) == list(pts["id"])
        assert list(routed["township_code"]) == list(pts["township"])
        assert list(routed["unit_code"]) == list(pts["unit"])
        near = routed["flags"].str.split(";").map(lambda f: "near_border" in f)
        assert list(near) == list(pts["near"])
        assert (routed["flags"] == "outside").sum() == 1


def test_gcj02_layers_must_be_declared(tmp_path, capsys):
    """The same GCJ-02 files read as WGS84 lie a few hundred metres off: the border
    points are then flagged wrongly; and a projected file cannot be GCJ-02."""
    place = place_at(*JIAMUSI)
    layers = write_district(tmp_path / "d", "geojson", place, "gcj02")
    pts = _oracle(place)
    pts[["id", "lon", "lat"]].to_csv(tmp_path / "p.csv", index=False)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'd.sqlite'}",
                        cache_path=tmp_path / "cache")
    assert main(["route", str(tmp_path / "p.csv"), "--out", str(tmp_path / "r.csv"),
                 "--layers", str(layers)], settings) == 0
    routed = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False)
    near = routed["flags"].str.split(";").map(lambda f: "near_border" in f)
    assert list(near) != list(pts["near"])
    gpkg = write_district(tmp_path / "g", "gpkg", place, "EPSG:4552")
    capsys.readouterr()
    assert main(["layers", "check", str(gpkg), "--layers-gcj02"], settings) == 1
    assert "declares EPSG:4552, not lon/lat" in capsys.readouterr().out
    # flags about layer files mean nothing without --layers: refused, not ignored
    for flag in (["--layers-gcj02"], ["--assume-crs", "EPSG:4552"]):
        assert main(["route", str(tmp_path / "p.csv"), "--out", str(tmp_path / "x.csv"),
                     *flag], settings) == 2
        assert f"{flag[0]} applies to the files of --layers" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
