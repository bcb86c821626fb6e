import geopandas as gpd
import pytest
import shapely

from geo.crs import METRIC, WGS84
from geo.layers import LayerError, check_layers, load_layers
from geo.settings import PROJECT_ROOT
from tests.conftest import CODE_A, CODE_B, SIDE, X0, Y0, square, write_small_layers


def _messages(report, level="error"):
    return [str(p) for p in report.problems if p.level == level]


def _rewrite(folder, kind, gdf):
    for old in folder.glob(f"{kind}.*"):
        old.unlink()
    gdf.to_file(folder / f"{kind}.geojson")


def test_small_layer_set_loads_sorted_in_wgs84(small_dirs):
    layers = load_layers(small_dirs[0])
    assert layers.townships.crs.equals(WGS84)
    assert list(layers.townships["code"]) == [CODE_A, CODE_B]
    assert layers.counts() == {"townships": 2, "units": 3, "sites": 3, "teams": 2}


def test_geopackage_layer_set(tmp_path, small_dirs):
    gpkg = tmp_path / "set.gpkg"
    for kind in ("townships", "units", "sites"):
        gpd.read_file(small_dirs[0] / f"{kind}.geojson").to_file(gpkg, layer=kind)
    layers = load_layers(gpkg)
    assert layers.counts() == {"townships": 2, "units": 3, "sites": 3}


def test_projected_layers_are_reprojected(tmp_path):
    folder = tmp_path / "l"
    folder.mkdir()
    gpd.GeoDataFrame({"code": [CODE_A], "name": ["甲"]}, geometry=[square(X0, Y0, SIDE, SIDE)],
                     crs=METRIC).to_file(folder / "townships.gpkg")
    layers = load_layers(folder)
    x0, y0, x1, y1 = layers.townships.total_bounds
    assert 120.0 < x0 < x1 < 120.2 and 30.8 < y0 < y1 < 30.9


def test_missing_crs_is_an_error_unless_assumed(tmp_path):
    folder = tmp_path / "l"
    folder.mkdir()
    gpd.GeoDataFrame({"code": [CODE_A], "name": ["甲"]},
                     geometry=[shapely.box(120.0, 30.8, 120.1, 30.9)]).to_file(
        folder / "townships.shp")
    _, report = check_layers(folder)
    assert any("declares no CRS" in m and "--assume-crs" in m for m in _messages(report))
    layers, report = check_layers(folder, assume_crs="EPSG:4326")
    assert report.ok and layers is not None


def test_missing_field_empty_geometry_duplicates_and_bad_code(small_dirs):
    folder = small_dirs[0]
    t = gpd.read_file(folder / "townships.geojson")
    extra = t.iloc[[0]].copy()
    extra["geometry"] = [shapely.Polygon()]
    bad = gpd.GeoDataFrame(
        {"code": [CODE_A, CODE_A, "12345"], "name": ["甲", "甲2", "丙"]},
        geometry=[t.geometry[0], t.geometry[1], shapely.Polygon()], crs=WGS84)
    _rewrite(folder, "townships", bad)
    layers, report = check_layers(folder)
    msgs = _messages(report)
    assert layers is None
    assert any("feature 2" in m and "duplicate code" in m for m in msgs)
    assert any("feature 3" in m and "geometry is empty" in m for m in msgs)
    assert any("feature 3" in m and "not a 12-digit division code" in m for m in msgs)
    with pytest.raises(LayerError, match="duplicate code"):
        load_layers(folder)

    _rewrite(folder, "townships", t.drop(columns="name"))
    _, report = check_layers(folder)
    assert any("field name: required field is missing" in m for m in _messages(report))


def test_invalid_geometry_is_repaired_and_listed(small_dirs):
    folder = small_dirs[0]
    t = gpd.read_file(folder / "townships.geojson")
    x0, y0, x1, y1 = t.geometry[0].bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    t.loc[0, "geometry"] = bowtie
    _rewrite(folder, "townships", t)
    layers, report = check_layers(folder)
    repaired = _messages(report, "repaired")
    assert len(repaired) == 1 and "feature 1" in repaired[0] and "make_valid" in repaired[0]
    assert layers.townships.geometry[0].is_valid


def test_unknown_parent_township_is_an_error(small_dirs):
    folder = small_dirs[0]
    u = gpd.read_file(folder / "units.geojson")
    u.loc[2, "township_code"] = "330599009000"
    _rewrite(folder, "units", u)
    _, report = check_layers(folder)
    assert any("feature 3" in m and "unknown parent township 330599009000" in m
               for m in _messages(report))


def test_a_site_without_township_code_in_a_geojson_file_takes_its_township(tmp_path):
    """GeoJSON reads a null township_code as NaN: the site is placed by location, not
    refused as "unknown parent township nan"."""
    from tests.district import TOWNSHIPS, write_district

    folder = write_district(tmp_path / "d")
    sites = gpd.read_file(folder / "sites.geojson")
    sites.loc[0, "township_code"] = None
    _rewrite(folder, "sites", sites)
    assert gpd.read_file(folder / "sites.geojson")["township_code"].isna()[0]
    layers, report = check_layers(folder)
    assert report.errors == [] and "nan" not in " ".join(_messages(report))
    first = layers.sites.set_index("site_id").loc["HX1"]
    assert first["township_code"] == TOWNSHIPS[0][0]


def test_overlap_gap_and_unit_outside_are_listed(tmp_path):
    folder = tmp_path / "l"
    write_small_layers(folder)
    # B overlaps A by 10 m x 2 km, and a 100 m x 100 m hole sits inside A
    a = square(X0, Y0, SIDE, SIDE).difference(square(X0 + 500, Y0 + 500, 100, 100))
    b = square(X0 + SIDE - 10, Y0, SIDE + 10, SIDE)
    t = gpd.GeoDataFrame({"code": [CODE_A, CODE_B], "name": ["甲", "乙"]}, geometry=[a, b],
                         crs=METRIC).to_crs(WGS84)
    _rewrite(folder, "townships", t)
    u = gpd.read_file(folder / "units.geojson").to_crs(METRIC)
    u.loc[2, "geometry"] = square(X0 + SIDE - 500, Y0, 1000, SIDE)  # half in A
    _rewrite(folder, "units", u.to_crs(WGS84))
    layers, report = check_layers(folder)
    warnings = _messages(report, "warning")
    overlap = [m for m in warnings if "overlap" in m]
    assert len(overlap) == 1 and CODE_A in overlap[0] and CODE_B in overlap[0]
    assert "20,0" in overlap[0]  # about 20,000 m2
    gap = [m for m in warnings if "gap" in m]
    assert len(gap) == 1 and "10,0" in gap[0] and CODE_A in gap[0]  # about 10,000 m2
    outside = [m for m in warnings if "outside its township" in m]
    assert len(outside) == 1 and "feature 3" in outside[0]
    assert layers is not None  # warnings do not block


def test_site_risk_must_be_known(small_dirs):
    folder = small_dirs[0]
    s = gpd.read_file(folder / "sites.geojson")
    s.loc[1, "risk"] = "extreme"
    _rewrite(folder, "sites", s)
    _, report = check_layers(folder)
    assert any("feature 2" in m and "site_id=S2" in m and "field risk" in m
               for m in _messages(report))


def test_no_townships_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    layers, report = check_layers(tmp_path / "empty")
    assert layers is None and "no townships layer" in _messages(report)[0]


def test_demo_layers_are_clean():
    _, report = check_layers(PROJECT_ROOT / "layers")
    assert report.ok
    assert not [p for p in report.problems if p.level != "repaired"]
