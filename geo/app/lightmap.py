"""Light map layers for the planners' pages: one element per layer, not one per feature.

folium writes one element (and one Jinja template render) per marker or polygon; a few
thousand of them cost seconds per page run. Here a layer of many areas is one `GeoJson`
with simplified outlines (about 10 m), and many points are one array drawn by one script.
"""

from __future__ import annotations

import json

import branca
import folium
import geopandas as gpd
import numpy as np
import shapely

#: outline simplification for display, in degrees (about 10 m), topology kept
DISPLAY_TOLERANCE_DEG = 1e-4
#: decimals of the degrees sent to the browser (about 1 m)
DISPLAY_DECIMALS = 5


def simplified(gdf: gpd.GeoDataFrame, tolerance_deg: float = DISPLAY_TOLERANCE_DEG
               ) -> gpd.GeoDataFrame:
    """A display copy of a WGS84 layer with lighter outlines, coordinates rounded to
    `DISPLAY_DECIMALS` (points only rounded)."""
    out = gdf.copy()
    geoms = shapely.simplify(gdf.geometry.to_numpy(), tolerance_deg, preserve_topology=True)
    out["geometry"] = shapely.transform(geoms, lambda c: np.round(c, DISPLAY_DECIMALS))
    return out


def shaded_areas(areas: gpd.GeoDataFrame, colors: list[str], tips: list[str],
                 name: str = "areas") -> folium.GeoJson:
    """Areas (WGS84, already `simplified`) filled with one colour each and a hover text
    each (``tips``: HTML, escape text from outside first)."""
    data = gpd.GeoDataFrame({"fill": colors, "tip": tips}, geometry=areas.geometry.to_numpy(),
                            crs=areas.crs)
    return folium.GeoJson(
        data, name=name,
        style_function=lambda f: {"color": "#636363", "weight": 0.6, "fillOpacity": 0.6,
                                  "fillColor": f["properties"]["fill"]},
        tooltip=folium.GeoJsonTooltip(["tip"], labels=False))


class Dots(branca.element.MacroElement):
    """Many small circle markers (WGS84 ``[lat, lon]`` rows) drawn by one script into the
    parent map or feature group (on the canvas where the map prefers it)."""

    _template = branca.element.Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var rows = {{ this.rows }};
            var style = {{ this.style }};
            for (var i = 0; i < rows.length; i++) {
                L.circleMarker(rows[i], style).addTo({{ this._parent.get_name() }});
            }
        })();
        {% endmacro %}""")

    def __init__(self, rows: list[list[float]], color: str, radius: float = 3,
                 weight: float = 0, fill_opacity: float = 0.8):
        super().__init__()
        self._name = "Dots"
        self.rows = json.dumps([[round(float(a), 6), round(float(b), 6)] for a, b in rows])
        self.style = json.dumps({"radius": radius, "color": color, "weight": weight,
                                 "fill": True, "fillColor": color,
                                 "fillOpacity": fill_opacity})


def dots_at(points, color: str, **style) -> Dots:
    """`Dots` at shapely points (WGS84)."""
    return Dots([[p.y, p.x] for p in points], color, **style)
