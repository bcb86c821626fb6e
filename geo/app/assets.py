"""Serve Leaflet and the folium plugins from static/vendor/ instead of CDNs.

Government intranets have no internet: every script and stylesheet the map needs is vendored
(see static/vendor/README.md) and served by Streamlit's static file serving.
"""

from __future__ import annotations

import folium
from folium import plugins

VENDOR = "/app/static/vendor"


def local_assets(prefix: str = VENDOR) -> dict[str, list[tuple[str, str]]]:
    """Point folium's Map and plugin classes at the vendored copies; return the lists."""
    js = [
        ("leaflet", f"{prefix}/leaflet/leaflet.js"),
        ("awesome_markers", f"{prefix}/awesome-markers/leaflet.awesome-markers.js"),
        ("markercluster", f"{prefix}/markercluster/leaflet.markercluster.js"),
        ("leaflet_heat", f"{prefix}/heat/leaflet-heat.js"),
    ]
    css = [
        ("leaflet_css", f"{prefix}/leaflet/leaflet.css"),
        ("awesome_markers_font_css", f"{prefix}/fontawesome/css/all.min.css"),
        ("awesome_markers_css", f"{prefix}/awesome-markers/leaflet.awesome-markers.css"),
        ("markerclustercss", f"{prefix}/markercluster/MarkerCluster.css"),
        ("markerclusterdefaultcss", f"{prefix}/markercluster/MarkerCluster.Default.css"),
    ]
    folium.Map.default_js = js
    folium.Map.default_css = css
    plugins.MarkerCluster.default_js = [js[2]]
    plugins.MarkerCluster.default_css = css[3:]
    plugins.HeatMap.default_js = [js[3]]
    return {"js": js, "css": css}
