"""The demo build is reproducible and has the shape the issue asks for."""

import filecmp

import numpy as np
import shapely
from stdnum.cn import uscc

from geo.crs import METRIC
from geo.demo.layers import SOURCES, build_demo
from geo.settings import PROJECT_ROOT

KINDS = ("townships", "units", "sites", "teams", "roads")
FILES = [("layers", f"{k}.geojson") for k in KINDS] + [
    ("data", f"{k}.csv") for k in ("matters", "bodies", "empowerment", "demo_alerts",
                                   "checklists", "inspection_intervals")]


def test_rebuild_is_byte_identical(tmp_path):
    build_demo(tmp_path / "layers", tmp_path / "data")
    for folder, name in FILES:
        assert filecmp.cmp(tmp_path / folder / name, PROJECT_ROOT / folder / name,
                           shallow=False), f"{folder}/{name} differs from a fresh build"


def test_townships_tile_the_district(demo_layers):
    import geopandas as gpd
    outline = gpd.read_file(SOURCES / "wuxing_district_wgs84.geojson").to_crs(METRIC)
    t = demo_layers.townships.to_crs(METRIC)
    assert len(t) == 19 and t["code"].str.fullmatch(r"330502\d{6}").all()
    union = shapely.union_all(t.geometry.to_numpy())
    assert abs(union.area - outline.area.iloc[0]) < 100.0  # coordinates rounded to 1e-7 deg
    assert abs(t.area.sum() - union.area) < 1.0  # no overlap


def test_units_sites_and_teams(demo_layers, demo_catalog):
    u, s, tm = demo_layers.units, demo_layers.sites, demo_layers.teams
    assert len(u) >= 150
    assert (u["code"].str.slice(0, 12) == u["township_code"]).all()
    assert "姚家田单元" in set(u.loc[u["township_code"] == "330502100000", "name"])
    assert len(s) >= 3000 and s["kind"].nunique() >= 6
    assert set(s["risk"]) == {"low", "medium", "high"}
    ent = s[s["kind"] == "enterprise"]
    assert ent["credit_code"].map(uscc.is_valid).all()
    assert (s.loc[s["kind"] == "construction"].geom_type == "Polygon").mean() > 0.9
    per_km2 = s.groupby("township_code").size() / demo_layers.townships.set_index(
        "code").to_crs(METRIC).area * 1e6
    assert per_km2["330502100000"] > 3 * per_km2["330502102000"]  # 织里 vs 妙西 (hills)
    centers = tm[tm["body_code"].str.startswith("TC-")].groupby("body_code").size()
    assert len(centers) == 19 and centers.between(2, 6).all()
    district = tm[tm["body_code"].str.startswith("DT-")]["body_code"].nunique()
    assert district == 7
    assert np.isin(tm["body_code"], demo_catalog.bodies["code"]).all()
