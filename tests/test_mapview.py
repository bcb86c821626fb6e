import json
import re

import folium
import pandas as pd
import pytest

from geo.app import mapview
from geo.app.assets import local_assets
from geo.layers import load_layers
from geo.settings import Settings


@pytest.fixture
def layers(small_dirs):
    return load_layers(small_dirs[0])


def cases(n_by_status: dict[str, int]) -> pd.DataFrame:
    rows = []
    for status, n in n_by_status.items():
        for _ in range(n):
            rows.append({"id": len(rows) + 1, "lat": 30.86 + 0.001 * len(rows), "lon": 120.1,
                         "status": status, "severity": "high" if len(rows) % 2 else "low",
                         "matter_code": "M1", "matter_name": "占道经营"})
    return pd.DataFrame(rows)


def test_case_layer_one_marker_per_case_coloured_by_status():
    frame = cases({"routed": 3, "closed": 2})
    group = mapview.case_layer(frame, highlight={2}, cluster=False)
    markers = [c for c in group._children.values() if isinstance(c, folium.CircleMarker)]
    assert len(markers) == 5
    colours = [m.options["color"] for m in markers]
    assert colours == [mapview.STATUS_COLORS["routed"]] * 3 + [mapview.STATUS_COLORS["closed"]] * 2
    radii = [m.options["radius"] for m in markers]
    assert radii[:2] == [mapview.SEVERITY_RADIUS["low"], mapview.SEVERITY_RADIUS["high"]]


def test_clustered_case_layer_carries_every_case_and_highlight():
    frame = cases({"new": 4})
    group = mapview.case_layer(frame, highlight={3},
                               overdue=pd.Series([True, False, False, False]))
    cluster = next(c for c in group._children.values()
                   if isinstance(c, folium.plugins.FastMarkerCluster))
    assert len(cluster.data) == 4
    assert [row[6] for row in cluster.data] == [0, 0, 1, 0]
    assert [row[4] for row in cluster.data] == [1, 2, 3, 4]
    assert [row[7] for row in cluster.data] == [1, 0, 0, 0]
    stamp = next(c for c in group._children.values() if isinstance(c, mapview._Stamp))
    assert stamp.count == 4


def test_township_shading_darker_with_more_open_cases(layers):
    group = mapview.township_shading(layers.townships, {"330599001000": 5})
    polys = [c for c in group._children.values() if isinstance(c, folium.Polygon)]
    assert len(polys) == 2
    fills = {p.options["fillColor"] for p in polys}
    assert fills == {mapview.SHADES[0], mapview.SHADES[-1]}


def test_base_map_layers_and_no_external_assets(layers):
    local_assets()
    m = mapview.base_map(layers, mapview.Tiles(None))
    groups = [c for c in m._children.values() if isinstance(c, folium.FeatureGroup)]
    assert [g.layer_name for g in groups] == ["单元", "监管对象"]
    frame = pd.DataFrame({"name": ["甲一", "乙一"], "body_code": ["TC-A", "TC-B"],
                          "status": ["available", "on_scene"], "lon": [120.1, 120.2],
                          "lat": [30.8, 30.9]})
    teams = next(c for c in mapview.team_layer(frame)._children.values()
                 if isinstance(c, mapview.TeamCluster))
    assert [r[2] for r in teams.rows] == [mapview.TEAM_STATUS_COLORS["available"],
                                          mapview.TEAM_STATUS_COLORS["on_scene"]]
    html = m.get_root().render()
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    assert external == []
    assert "/app/static/vendor/leaflet/leaflet.js" in html


def test_tiles_setting():
    assert mapview.tiles_for(Settings(tiles="none")).url is None
    assert "openstreetmap" in mapview.tiles_for(Settings(tiles="osm")).url
    tdt = mapview.tiles_for(Settings(tiles="tianditu", tianditu_key="abc"))
    assert tdt.url.endswith("tk=abc") and tdt.overlay_url
    with pytest.raises(ValueError, match="GEO_TIANDITU_KEY"):
        mapview.tiles_for(Settings(tiles="tianditu"))
    own = mapview.tiles_for(Settings(tiles="https://gis.local/{z}/{x}/{y}.png"))
    assert own.url == "https://gis.local/{z}/{x}/{y}.png"
    with pytest.raises(ValueError, match="URL template"):
        mapview.tiles_for(Settings(tiles="satellite"))


def test_vendored_assets_exist():
    from geo.settings import PROJECT_ROOT
    for _, url in [*local_assets()["js"], *local_assets()["css"]]:
        path = PROJECT_ROOT / url.removeprefix("/app/")
        assert path.is_file(), path


def test_every_map_has_a_plain_leaflet_attribution():
    """Leaflet 1.9's attribution prefix carries a flag icon; every map of the app is made by
    `mapview.new_map`, which sets a plain link instead."""
    from geo.settings import PROJECT_ROOT
    html = mapview.new_map(tiles=None).get_root().render()
    at = html.index(".attributionControl.setPrefix(")
    prefix = json.loads(html[html.index("(", at) + 1:html.index(");", at)])
    assert prefix == '<a href="https://leafletjs.com">Leaflet</a>'
    direct = [p.name for p in (PROJECT_ROOT / "geo" / "app").glob("*.py")
              if "folium.Map(" in p.read_text(encoding="utf-8") and p.name != "mapview.py"]
    assert direct == [], f"maps made without mapview.new_map: {direct}"


def test_layer_control_remembers_unticked_overlays(layers):
    m = mapview.base_map(layers, mapview.Tiles(None))
    mapview.KeptLayerControl(collapsed=True).add_to(m)
    html = m.get_root().render()
    assert "window.onemapHiddenLayers" in html and "_onInputClick" in html
    assert '"collapsed": true' in html


def test_dispatch_map_outlines_the_townships_and_rings_the_case(layers):
    from geo.app import dispatch_page
    case = {"id": 7, "lat": 30.87, "lon": 120.1}
    teams = pd.DataFrame({"team_id": [], "lat": [], "lon": []})
    m = dispatch_page._map(case, [], teams, layers.townships)
    groups = [c for c in m._children.values() if isinstance(c, folium.FeatureGroup)]
    assert [g.layer_name for g in groups] == ["镇街", "selected"]
    ring = [c for c in groups[1]._children.values()
            if c.options.get("className") == "onemap-selected"]
    assert ring and ring[0].location == [30.87, 120.1]
    outlines = next(c for c in groups[0]._children.values() if isinstance(c, folium.GeoJson))
    assert len(outlines.data["features"]) == len(layers.townships)


def _teams() -> pd.DataFrame:
    return pd.DataFrame({"name": ["甲一", "乙一", "丙一"], "body_code": ["TC-A", "TC-B", "DT-SC"],
                         "status": ["available", "on_scene", "off_duty"],
                         "lon": [120.1, 120.2, 120.3], "lat": [30.8, 30.9, 30.7]})


def _rendered(*groups, **kwargs) -> str:
    local_assets()
    m = mapview.new_map(location=[30.8, 120.2], zoom_start=11, **kwargs)
    for g in groups:
        g.add_to(m)
    return m.get_root().render()


def test_teams_are_small_status_coloured_icons_in_a_cluster_below_the_cases():
    group = mapview.team_layer(_teams(), body_names={"TC-A": "甲镇执法中心"})
    (cluster,) = [c for c in group._children.values() if isinstance(c, mapview.TeamCluster)]
    assert [r[2] for r in cluster.rows] == [mapview.TEAM_STATUS_COLORS[s] for s in
                                            ("available", "on_scene", "off_duty")]
    assert len(set(mapview.TEAM_STATUS_COLORS.values())) == len(mapview.TEAM_STATUS_COLORS)
    assert cluster.rows[0][3].startswith("甲一 · 甲镇执法中心 · 待命")  # names, not codes
    assert mapview.TEAM_ICON_PX <= 14  # small: not the 25x41 pins
    # below the overlay pane (case dots, shading: 400) and the case clusters (600)
    assert cluster.z_index == mapview.TEAMS_BELOW_CASES < 400
    html = _rendered(group)
    assert "L.markerClusterGroup({clusterPane: pane" in html
    assert "L.divIcon(" in html and "AwesomeMarkers" not in html.split("TeamCluster")[-1]
    assert f'createPane(pane).style.zIndex = {mapview.TEAMS_BELOW_CASES}' in html
    on_top = mapview.team_layer(_teams(), z_index=mapview.TEAMS_ON_TOP)
    assert next(iter(on_top._children.values())).z_index > 600


def test_a_team_without_a_fresh_fix_is_a_hollow_ring_that_says_so():
    teams = _teams().assign(fix_state=["fresh", "stale", "none"])
    (cluster,) = [c for c in mapview.team_layer(teams)._children.values()
                  if isinstance(c, mapview.TeamCluster)]
    assert [r[3].rsplit(" · ", 1)[1] for r in cluster.rows] == ["定位正常", "定位过期", "无定位"]
    assert [r[4] for r in cluster.rows] == [False, True, True]
    english = next(iter(mapview.team_layer(teams, "en")._children.values()))
    assert english.rows[1][3].endswith("Stale fix")
    html = _rendered(mapview.team_layer(teams))
    assert "onemap-team-nofix" in html and "background:#fff;border:3px solid" in html
    for legend in (mapview.legend("zh"), mapview.team_legend("zh")):
        assert "onemap-legend-nofix" in legend.legend_html
        assert "空心：无定位或定位过期" in legend.legend_html


def test_the_legend_has_the_team_statuses():
    html = mapview.legend("zh").legend_html
    for colour in mapview.TEAM_STATUS_COLORS.values():
        assert colour in html
    assert "执法队伍" in html and "在途" in html and "休息" in html
    assert mapview.TEAM_STATUS_COLORS["on_scene"] in mapview.team_legend("en").legend_html


def test_township_outlines_are_drawn_with_or_without_tooltips(layers):
    shown = mapview.township_outlines(layers.townships)
    quiet = mapview.township_outlines(layers.townships, interactive=False)
    (geo,) = [c for c in shown._children.values() if isinstance(c, folium.GeoJson)]
    (geo_quiet,) = [c for c in quiet._children.values() if isinstance(c, folium.GeoJson)]
    assert len(geo.data["features"]) == len(layers.townships) == 2
    def tips(g):
        return [c for c in g._children.values() if isinstance(c, folium.GeoJsonTooltip)]

    assert len(tips(geo)) == 1 and tips(geo_quiet) == []
    assert geo_quiet.options["interactive"] is False
    assert "onemap-townships" in _rendered(quiet)


def test_the_selected_case_is_ringed():
    group = mapview.selected_case(30.86, 120.1, "#7")
    rings = [c for c in group._children.values() if isinstance(c, folium.CircleMarker)]
    classes = [c.options.get("className") for c in rings]
    assert "onemap-selected" in classes
    ring = rings[classes.index("onemap-selected")]
    assert ring.options["radius"] >= 15 and ring.options["fill"] is False
    assert ring.location == [30.86, 120.1]
    assert "onemap-selected" in _rendered(group)


def test_every_map_fills_its_frame_and_the_page_css_sizes_the_frame():
    html = _rendered()
    assert 'box.style.setProperty("height", "100vh", "important")' in html
    css = mapview.viewport_css(120, 400)
    assert 'iframe[title="streamlit_folium.st_folium"]' in css
    assert "max(400px, calc(100vh - 120px)) !important" in css


def test_scale_bars_are_metric_only(layers):
    """Operators measure in km: no miles next to them, on every map with a scale."""
    from geo.settings import PROJECT_ROOT
    html = mapview.base_map(layers, mapview.Tiles(None)).get_root().render()
    assert "L.control.scale({metric: true, imperial: false})" in html
    assert "L.control.scale()" not in html
    assert "L.control.scale(" not in mapview.new_map(tiles=None).get_root().render()
    for path in (PROJECT_ROOT / "geo" / "app").glob("*.py"):  # every map goes through new_map
        assert "folium.Map(" not in path.read_text(encoding="utf-8") or path.name == "mapview.py"


def test_the_legend_folds_under_its_title_and_opens_folded_on_low_screens():
    html = _rendered(mapview.legend("zh"))
    assert mapview.legend("zh").title == "图例"
    assert "onemap-legend-toggle" in html and "onemap-legend-body" in html
    assert f"window.innerHeight >= {mapview.LEGEND_FOLDED_BELOW_PX}" in html
    assert mapview.team_legend("en").title == "Legend"
