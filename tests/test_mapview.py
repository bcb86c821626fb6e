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
                 if isinstance(c, mapview._Markers))
    assert [r[3] for r in teams.rows] == [mapview.TEAM_STATUS_ICONS["available"][0],
                                          mapview.TEAM_STATUS_ICONS["on_scene"][0]]
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


def test_dispatch_map_outlines_the_townships(layers):
    from geo.app import dispatch_page
    case = {"id": 7, "lat": 30.87, "lon": 120.1}
    teams = pd.DataFrame({"team_id": [], "lat": [], "lon": []})
    m = dispatch_page._map(case, [], teams, layers.townships)
    groups = [c for c in m._children.values() if isinstance(c, folium.FeatureGroup)]
    assert [g.layer_name for g in groups] == ["镇街"]
    outlines = next(c for c in groups[0]._children.values() if isinstance(c, folium.GeoJson))
    assert len(outlines.data["features"]) == len(layers.townships)
