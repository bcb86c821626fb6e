"""Folium map builders: plain functions from layers and case tables to map objects.

The base map (townships outline, units, sites, teams, legend) changes only with the layers;
the live part (township shading by open cases, the cases, the heat map) is returned as
feature groups that streamlit-folium swaps in without resetting pan and zoom.
All coordinates are WGS84 lon/lat degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import branca
import folium
import folium.template
import geopandas as gpd
import pandas as pd
import shapely
from folium import plugins

from geo.app.labels import t
from geo.app.lightmap import simplified
from geo.app.safe import html_text, script_json
from geo.cases import is_open
from geo.settings import Settings

STATUS_COLORS = {
    "new": "#e31a1c", "routed": "#fd8d3c", "verified": "#feb24c", "dispatched": "#6a51a3",
    "handling": "#3182bd", "rectification": "#31a354", "reinspection": "#74c476",
    "closed": "#969696", "returned": "#e7298a", "transferred": "#1b9e77", "merged": "#bdbdbd",
}
SEVERITY_RADIUS = {"low": 5, "medium": 7, "high": 10}
RISK_COLORS = {"low": "#74add1", "medium": "#fdae61", "high": "#d73027"}
TEAM_STATUS_COLORS = {  # a team's small round icon, by its status
    "available": "#1a9850", "dispatched": "#fdae61", "en_route": "#f46d43",
    "on_scene": "#a50026", "off_duty": "#878787",
}
TEAM_ICON_PX = 12
#: the map pane of the team icons and their clusters: under the overlay pane (400: township
#: shading and the case dots) and the marker pane (600: case clusters), so cases stay visible
#: over teams; maps without cases draw them on top (`TEAMS_ON_TOP`)
TEAMS_BELOW_CASES, TEAMS_ON_TOP = 390, 650
SHADES = ["#fff5eb", "#fee6ce", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603"]


@dataclass(frozen=True)
class Tiles:
    """A tile source for folium: ``url`` None draws layers on a plain background."""

    url: str | None
    attribution: str = ""
    subdomains: str = "abc"
    overlay_url: str | None = None


def tiles_for(settings: Settings) -> Tiles:
    """The configured background: none, osm, tianditu (with its key) or a URL template."""
    kind = settings.tiles.strip()
    if kind in ("", "none"):
        return Tiles(None)
    if kind == "osm":
        return Tiles("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                     "&copy; OpenStreetMap contributors")
    if kind == "tianditu":
        if not settings.tianditu_key:
            raise ValueError("GEO_TILES=tianditu needs GEO_TIANDITU_KEY")
        base = ("https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                "&VERSION=1.0.0&LAYER=%s&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=" + settings.tianditu_key)
        return Tiles(base % ("vec", "vec"), "&copy; 天地图", "01234567",
                     base % ("cva", "cva"))
    if "{z}" in kind and "{x}" in kind and "{y}" in kind:
        return Tiles(kind, settings.tiles_attribution or "tiles")
    raise ValueError(f"GEO_TILES={kind!r}: use none, osm, tianditu or a URL template with "
                     "{z}, {x} and {y}")


LEAFLET_PREFIX = '<a href="https://leafletjs.com">Leaflet</a>'


class _PlainAttribution(branca.element.MacroElement):
    """Sets the attribution prefix to a plain "Leaflet" link (Leaflet 1.9's default prefix
    carries a flag icon)."""

    _template = branca.element.Template("""
        {% macro script(this, kwargs) %}
        if ({{ this._parent.get_name() }}.attributionControl) {
            {{ this._parent.get_name() }}.attributionControl.setPrefix(
                {{ this.prefix|tojson }});
        }
        {% endmacro %}""")

    def __init__(self, prefix: str = LEAFLET_PREFIX):
        super().__init__()
        self._name = "PlainAttribution"
        self.prefix = prefix


class FillFrame(branca.element.MacroElement):
    """Makes the map fill the frame streamlit-folium draws it in (which sizes the map to
    the pixel height it was given): with `fill_viewport` the frame follows the browser
    window, and the map follows the frame."""

    _template = branca.element.Template("""
        {% macro script(this, kwargs) %}
        (function (map) {
            var box = map.getContainer();
            if (box.id !== "map_div") { return; }  // not in a streamlit-folium frame
            box.style.setProperty("height", "100vh", "important");
            document.body.style.overflow = "hidden";
            map.invalidateSize(false);
        })({{ this._parent.get_name() }});
        {% endmacro %}""")

    def __init__(self):
        super().__init__()
        self._name = "FillFrame"


class MetricScale(branca.element.MacroElement):
    """Leaflet's scale bar in metres and kilometres only (folium's ``control_scale`` adds
    miles and feet too)."""

    _template = branca.element.Template("""
        {% macro script(this, kwargs) %}
        L.control.scale({metric: true, imperial: false}).addTo({{ this._parent.get_name() }});
        {% endmacro %}""")

    def __init__(self):
        super().__init__()
        self._name = "MetricScale"


def new_map(control_scale: bool = False, **kwargs) -> folium.Map:
    """A ``folium.Map(**kwargs)`` with the project's map defaults: every map of the app is
    made here.

    Parameters
    ----------
    control_scale : bool, default False
        Show a scale bar, metric only (`MetricScale`).
    **kwargs
        Passed to `folium.Map`.

    Returns
    -------
    folium.Map
        The map, its attribution prefix a plain "Leaflet" link, filling its frame
        (`FillFrame`).
    """
    m = folium.Map(**kwargs)
    if control_scale:
        MetricScale().add_to(m)
    _PlainAttribution().add_to(m)
    FillFrame().add_to(m)
    return m


#: what the map frame leaves of the window's height by default: Streamlit's top bar and a
#: margin, in CSS pixels
VIEWPORT_OFFSET_PX = 96
MIN_MAP_PX = 380


def viewport_css(offset_px: int = VIEWPORT_OFFSET_PX, min_px: int = MIN_MAP_PX) -> str:
    """The style that makes every map frame of the page as tall as the browser window less
    ``offset_px`` (but at least ``min_px``).

    Parameters
    ----------
    offset_px, min_px : int
        CSS pixels.

    Returns
    -------
    str
        A ``<style>`` element.

    Examples
    --------
    >>> "calc(100vh - 96px)" in viewport_css()
    True
    """
    return ('<style>iframe[title="streamlit_folium.st_folium"] {'
            f"height: max({int(min_px)}px, calc(100vh - {int(offset_px)}px)) !important;"
            "}</style>")


def fill_viewport(offset_px: int = VIEWPORT_OFFSET_PX, min_px: int = MIN_MAP_PX) -> None:
    """Make the maps of the page fill the browser window's height (`viewport_css`); call
    it on every page with a map."""
    import streamlit as st

    st.html(viewport_css(offset_px, min_px))


class FitWhenShown(branca.element.MacroElement):
    """Fits the map to ``bounds`` once its container gets a size, for maps drawn while
    hidden (an inactive tab): Leaflet fits a zero-size map at zoom 0 and keeps that zoom
    when the map is shown.

    Parameters
    ----------
    bounds : list of list of float
        ``[[south, west], [north, east]]`` in degrees.
    """

    _template = branca.element.Template("""
        {% macro script(this, kwargs) %}
        (function (map, bounds) {
            var size = map.getSize();
            if ((size.x > 0 && size.y > 0) || !window.ResizeObserver) { return; }
            var watch = new ResizeObserver(function () {
                var box = map.getContainer();
                if (box.clientWidth > 0 && box.clientHeight > 0) {
                    watch.disconnect();
                    map.invalidateSize(false);
                    map.fitBounds(bounds);
                }
            });
            watch.observe(map.getContainer());
        })({{ this._parent.get_name() }}, {{ this.bounds|tojson }});
        {% endmacro %}""")

    def __init__(self, bounds: list[list[float]]):
        super().__init__()
        self._name = "FitWhenShown"
        self.bounds = bounds


class KeptLayerControl(folium.LayerControl):
    """A layer control that remembers the overlays the user unticked, by name, in the map's
    window, and hides them again when streamlit-folium redraws the live feature groups and
    this control (each live refresh re-adds every group, ticked).

    Parameters
    ----------
    **kwargs
        Passed to `folium.LayerControl`.
    """

    _template = folium.template.Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }}_layers = {
                base_layers : {
                    {%- for key, val in this.base_layers.items() %}
                    {{ key|tojson }} : {{val}},
                    {%- endfor %}
                },
                overlays :  {
                    {%- for key, val in this.overlays.items() %}
                    {{ key|tojson }} : {{val}},
                    {%- endfor %}
                },
            };
            let {{ this.get_name() }} = L.control.layers(
                {{ this.get_name() }}_layers.base_layers,
                {{ this.get_name() }}_layers.overlays,
                {{ this.options|tojavascript }}
            );
            (function (control, map) {
                var hidden = window.onemapHiddenLayers = window.onemapHiddenLayers || {};
                var click = control._onInputClick;
                control._onInputClick = function () {  // the user ticked or unticked
                    click.apply(this, arguments);
                    this._layers.forEach(function (item) {
                        if (!item.overlay) { return; }
                        if (map.hasLayer(item.layer)) { delete hidden[item.name]; }
                        else { hidden[item.name] = true; }
                    });
                };
                control.addTo(map);
                control._layers.forEach(function (item) {
                    if (item.overlay && hidden[item.name] && map.hasLayer(item.layer)) {
                        map.removeLayer(item.layer);
                    }
                });
            })({{ this.get_name() }}, {{ this._parent.get_name() }});
        {% endmacro %}
        """)


def base_map(layers, tiles: Tiles, lang: str = "zh", height: int = 650) -> folium.Map:
    """The static part of the command map, fitted to the townships."""
    x0, y0, x1, y1 = layers.townships.total_bounds
    m = new_map(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=11, tiles=None,
                prefer_canvas=True, control_scale=True, height=height, maxZoom=19)
    if tiles.url:
        folium.TileLayer(tiles.url, attr=tiles.attribution, subdomains=tiles.subdomains,
                         name=t("layer_tiles", lang), control=False).add_to(m)
        if tiles.overlay_url:
            folium.TileLayer(tiles.overlay_url, attr=tiles.attribution,
                             subdomains=tiles.subdomains, overlay=True, control=False,
                             name="labels").add_to(m)
    m.fit_bounds([[y0, x0], [y1, x1]])
    if layers.units is not None:
        unit_layer(layers.units, lang).add_to(m)
    if layers.sites is not None:
        site_layer(layers.sites, lang).add_to(m)
    legend(lang).add_to(m)
    return m


def unit_layer(units: gpd.GeoDataFrame, lang: str = "zh") -> folium.FeatureGroup:
    """Unit outlines with their names on hover."""
    group = folium.FeatureGroup(name=t("layer_units", lang), show=True)
    shown = units[["code", "name", "geometry"]].assign(  # the tooltip shows them as HTML
        code=units["code"].map(html_text), name=units["name"].map(html_text))
    folium.GeoJson(
        simplified(shown),
        style_function=lambda _: {"color": "#636363", "weight": 0.8, "fill": False,
                                  "dashArray": "3 3"},
        tooltip=folium.GeoJsonTooltip(["name", "code"], aliases=[t("unit", lang),
                                                                 t("code", lang)]),
    ).add_to(group)
    return group


SITE_CALLBACK = """
function (row) {
    var colors = %s;
    var marker = L.circleMarker(new L.LatLng(row[0], row[1]),
        {radius: 4, color: colors[row[2]], weight: 1, fillOpacity: 0.8});
    marker.bindTooltip(row[3]);
    return marker;
}"""


def site_layer(sites: gpd.GeoDataFrame, lang: str = "zh") -> folium.FeatureGroup:
    """Sites as a fast client-side cluster, coloured by risk (polygons at their centre)."""
    group = folium.FeatureGroup(name=t("layer_sites", lang), show=False)
    at = shapely.point_on_surface(sites.geometry.to_numpy())
    risks = list(RISK_COLORS)
    data = [[round(p.y, 6), round(p.x, 6), risks.index(r), html_text(f"{n} ({k})")]
            for p, r, n, k in zip(at, sites["risk"], sites["name"], sites["kind"], strict=True)]
    plugins.FastMarkerCluster(data, callback=SITE_CALLBACK % script_json(
        [RISK_COLORS[r] for r in risks]), name=t("layer_sites", lang)).add_to(group)
    return group


class TeamCluster(branca.element.MacroElement):
    """Teams as small status-coloured round icons in a marker cluster (small round cluster
    icons too), drawn by one script from a data array in their own map pane (z-index
    ``z_index``; created on the map the first time the cluster is added to it).

    Parameters
    ----------
    rows : list
        ``[lat, lon, colour, tooltip HTML, hollow]`` per team (WGS84 degrees; ``hollow``: a
        ring of the colour, for a team whose position is not a fresh fix).
    z_index : int
        The pane's z-index: `TEAMS_BELOW_CASES` or `TEAMS_ON_TOP`.
    """

    _template = branca.element.Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var rows = {{ this.rows|tojson }}, pane = {{ this.pane|tojson }}, px = {{ this.px }};
            var dot = function (color, size, text, hollow) {
                var fill = hollow ? 'background:#fff;border:3px solid ' + color
                                  : 'background:' + color + ';border:2px solid #fff';
                return L.divIcon({className: hollow ? "onemap-team onemap-team-nofix"
                                                    : "onemap-team", iconSize: [size, size],
                    html: '<div style="width:' + size + 'px;height:' + size + 'px;' +
                        'border-radius:50%;' + fill + ';' +
                        'box-shadow:0 0 2px rgba(0,0,0,.6);box-sizing:border-box;' +
                        'font:bold 10px/' + (size - 4) + 'px sans-serif;color:#fff;' +
                        'text-align:center">' + (text || "") + '</div>'});
            };
            var cluster = L.markerClusterGroup({clusterPane: pane, maxClusterRadius: 30,
                showCoverageOnHover: false, disableClusteringAtZoom: 15,
                iconCreateFunction: function (c) {
                    return dot("#4d4d4d", 20, c.getChildCount());
                }});
            var add = cluster.onAdd;
            cluster.onAdd = function (map) {
                if (!map.getPane(pane)) {
                    map.createPane(pane).style.zIndex = {{ this.z_index }};
                }
                return add.call(this, map);
            };
            for (var i = 0; i < rows.length; i++) {
                var r = rows[i];
                cluster.addLayer(L.marker([r[0], r[1]], {icon: dot(r[2], px, "", r[4]),
                                                          pane: pane})
                                 .bindTooltip(r[3]));
            }
            cluster.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}""")

    def __init__(self, rows: list, z_index: int = TEAMS_BELOW_CASES):
        super().__init__()
        self._name = "TeamCluster"
        self.rows = rows
        self.z_index = int(z_index)
        self.pane = f"onemapTeams{self.z_index}"
        self.px = TEAM_ICON_PX


def team_layer(teams: pd.DataFrame, lang: str = "zh", body_names: dict | None = None,
               z_index: int = TEAMS_BELOW_CASES) -> folium.FeatureGroup:
    """Teams at their current position as small round icons coloured by status
    (`TEAM_STATUS_COLORS`), clustered, under the cases (a live layer); a team without a
    fresh fix (`geo.dispatch.fix_state`: none, at its base, or stale) is a hollow ring of
    its colour, and its tooltip says so.

    Parameters
    ----------
    teams : pandas.DataFrame
        ``name``, ``body_code``, ``status``, ``lon``, ``lat`` (WGS84 degrees: last fix,
        else base), and ``fix_state`` (``none``, ``stale``, ``fresh``; without the column
        the position is not judged).
    lang : str
        UI language of the tooltips.
    body_names : dict, optional
        Body code -> name, shown in the tooltip instead of the code.
    z_index : int
        Their map pane's z-index: `TEAMS_BELOW_CASES` (default) or `TEAMS_ON_TOP`.

    Returns
    -------
    folium.FeatureGroup
        The group, holding one `TeamCluster`.
    """
    group = folium.FeatureGroup(name=t("layer_teams", lang), show=True)
    names = body_names or {}
    rows = []
    fixes = teams["fix_state"] if "fix_state" in teams else [None] * len(teams)
    for name, body, status, lon, lat, fix in zip(teams["name"], teams["body_code"],
                                                 teams["status"], teams["lon"], teams["lat"],
                                                 fixes, strict=True):
        said = f" · {t('fix_' + fix, lang)}" if fix else ""
        rows.append([round(float(lat), 6), round(float(lon), 6),
                     TEAM_STATUS_COLORS.get(status, "#2171b5"),
                     html_text(f"{name} · {names.get(body, body)} · "
                               f"{t('team_' + status, lang)}{said}"),
                     fix in ("none", "stale")])
    group.add_child(TeamCluster(rows, z_index))
    return group


def selected_case(lat: float, lon: float, label: str) -> folium.FeatureGroup:
    """The selected case made to stand out: a wide dark ring with a white halo around it
    (above the other layers, not clickable), and a tooltip ``label`` (HTML, escaped by
    the caller).

    Parameters
    ----------
    lat, lon : float
        WGS84 degrees.
    label : str
        The tooltip.

    Returns
    -------
    folium.FeatureGroup
        Not listed in the layer control.
    """
    group = folium.FeatureGroup(name="selected", control=False)
    folium.CircleMarker([lat, lon], radius=18, color="#ffffff", weight=7, fill=False,
                        interactive=False, class_name="onemap-selected-halo").add_to(group)
    folium.CircleMarker([lat, lon], radius=18, color="#000000", weight=3, fill=False,
                        dash_array="6 4", interactive=False,
                        class_name="onemap-selected").add_to(group)
    folium.CircleMarker([lat, lon], radius=9, color="#000000", weight=2, fill=True,
                        fill_color="#e31a1c", fill_opacity=0.95, tooltip=label).add_to(group)
    return group


def township_outlines(townships: gpd.GeoDataFrame, lang: str = "zh",
                      interactive: bool = True) -> folium.FeatureGroup:
    """Township outlines, unfilled, with their names on hover (every map shows them).

    Parameters
    ----------
    townships : geopandas.GeoDataFrame
        The township layer (``code``, ``name``, geometry; WGS84).
    lang : str
        UI language of the group's name and the tooltip.
    interactive : bool
        False: no tooltip, and the outlines take no clicks (for maps whose own areas have
        tooltips).

    Returns
    -------
    folium.FeatureGroup
        The outlines (class ``onemap-townships``).
    """
    group = folium.FeatureGroup(name=t("townships", lang), show=True)
    shown = townships[["code", "name", "geometry"]].assign(  # the tooltip shows them as HTML
        code=townships["code"].map(html_text), name=townships["name"].map(html_text))
    tooltip = folium.GeoJsonTooltip(["name", "code"], aliases=[
        t("township", lang), t("code", lang)]) if interactive else None
    folium.GeoJson(
        simplified(shown),
        style_function=lambda _: {"color": "#252525", "weight": 1.5, "fill": False,
                                  "className": "onemap-townships"},
        tooltip=tooltip, interactive=interactive,
    ).add_to(group)
    return group


def township_shading(townships: gpd.GeoDataFrame, open_counts: dict[str, int],
                     lang: str = "zh") -> folium.FeatureGroup:
    """Township polygons shaded by their number of open cases."""
    frame = simplified(townships[["code", "name", "geometry"]])
    frame["open"] = frame["code"].map(open_counts).fillna(0).astype(int)
    top = max(1, int(frame["open"].max()))

    def shade(n: int) -> str:
        return SHADES[min(len(SHADES) - 1, int(n / top * (len(SHADES) - 1) + 0.999))]

    group = folium.FeatureGroup(name=t("layer_townships", lang), show=True)
    # plain polygons, not GeoJson: they survive streamlit-folium's dynamic feature groups
    for code, name, n, geom in zip(frame["code"], frame["name"], frame["open"],
                                   frame.geometry, strict=True):
        tip = html_text(f"{name} ({code}) · {t('open_cases', lang)} {n}")
        for part in shapely.get_parts(geom):
            rings = [part.exterior, *part.interiors]
            folium.Polygon([[(y, x) for x, y in ring.coords] for ring in rings],
                           color="#252525", weight=1.5, fill=True, fill_color=shade(n),
                           fill_opacity=0.45, tooltip=tip).add_to(group)
    return group


CASE_CALLBACK = """
function (row) {
    var colors = %s, radius = %s, labels = %s, matters = %s, overdueLabel = %s;
    var marker = L.circleMarker(new L.LatLng(row[0], row[1]), {
        radius: radius[row[3]] + (row[6] ? 4 : 0),
        color: row[6] ? '#000' : (row[7] ? '#67000d' : colors[row[2]]),
        weight: row[6] || row[7] ? 3 : 1, dashArray: row[7] && !row[6] ? '3 2' : null,
        fillColor: colors[row[2]], fillOpacity: 0.85});
    marker.bindTooltip('#' + row[4] + ' ' + matters[row[5]] + ' · ' + labels[row[2]] +
                       (row[7] ? ' · ' + overdueLabel : ''));
    return marker;
}"""


class _Stamp(branca.element.MacroElement):
    """Sets ``window.onemapCases`` when the case layer is (re)drawn (used by tests and
    benchmarks to see that a refresh arrived)."""

    _template = branca.element.Template("""
        {% macro script(this, kwargs) %}
        window.onemapCases = {count: {{ this.count }}, stamp: {{ this.stamp|tojson }},
                              drawn: Date.now()};
        {% endmacro %}""")

    def __init__(self, count: int, stamp: str):
        super().__init__()
        self._name = "Stamp"
        self.count = count
        self.stamp = stamp


def case_layer(cases: pd.DataFrame, highlight: set[int] = frozenset(), lang: str = "zh",
               cluster: bool = True, overdue: pd.Series | None = None) -> folium.FeatureGroup:
    """Cases: colour by status, radius by severity, a black ring on highlighted cases and a
    dark dashed ring on overdue ones (``overdue``: a boolean per case)."""
    statuses, severities = list(STATUS_COLORS), list(SEVERITY_RADIUS)
    names = cases["matter_name"].fillna(cases["matter_code"]).fillna("-")
    matter_codes, matter_index = pd.factorize(names)
    # compact rows: lat, lon, status, severity, id, matter, highlighted
    data = pd.DataFrame({
        "lat": cases["lat"].round(6), "lon": cases["lon"].round(6),
        "status": cases["status"].map({s: i for i, s in enumerate(statuses)}),
        "severity": cases["severity"].map({s: i for i, s in enumerate(severities)}),
        "id": cases["id"], "matter": matter_codes,
        "hi": cases["id"].isin(highlight).astype(int),
        "late": (overdue if overdue is not None else pd.Series(False, index=cases.index))
        .astype(int),
    }).to_numpy().tolist()
    data = [[r[0], r[1], *map(int, r[2:])] for r in data]
    group = folium.FeatureGroup(name=t("layer_cases", lang), show=True)
    callback = CASE_CALLBACK % (  # the callback joins the labels into tooltip HTML
        script_json([STATUS_COLORS[s] for s in statuses]),
        script_json([SEVERITY_RADIUS[s] for s in severities]),
        script_json([html_text(t("status_" + s, lang)) for s in statuses]),
        script_json([html_text(m) for m in matter_index]),
        script_json(html_text(t("overdue_flag", lang))))
    if cluster:
        plugins.FastMarkerCluster(data, callback=callback,
                                  options={"disableClusteringAtZoom": 15}).add_to(group)
    else:
        for row in data:
            tip = html_text(f"#{row[4]} {matter_index[row[5]]}")
            folium.CircleMarker(row[:2], radius=SEVERITY_RADIUS[severities[row[3]]],
                                color=STATUS_COLORS[statuses[row[2]]], fill=True,
                                fill_opacity=0.85, tooltip=tip).add_to(group)
    stamp = f"{len(data)}:{int(cases['id'].max()) if len(cases) else 0}"
    group.add_child(_Stamp(len(data), stamp))
    return group


def heat_layer(cases: pd.DataFrame, lang: str = "zh") -> folium.FeatureGroup:
    """Heat map of open cases."""
    group = folium.FeatureGroup(name=t("layer_heat", lang), show=True)
    open_ = cases[is_open(cases["status"])]
    plugins.HeatMap(open_[["lat", "lon"]].to_numpy().tolist(), radius=14).add_to(group)
    return group


def dot(color: str, size: int = 10) -> str:
    """A round swatch of ``color`` for a legend (HTML)."""
    return (f'<span style="display:inline-block;width:{size}px;height:{size}px;'
            f'border-radius:50%;background:{color};margin-right:4px"></span>')


def _team_rows(lang: str) -> list[str]:
    """The legend's team part: the status colours, two to a line, and the hollow ring of a
    team without a fresh fix."""
    swatches = [f"{dot(c)}{t('team_' + s, lang)}" for s, c in TEAM_STATUS_COLORS.items()]
    ring = ('<span class="onemap-legend-nofix" style="display:inline-block;width:10px;'
            'height:10px;border-radius:50%;border:3px solid #4d4d4d;background:#fff;'
            'box-sizing:border-box;margin-right:4px"></span>')
    return [f"<b>{t('legend_teams', lang)}</b>",
            *("&nbsp;&nbsp;".join(swatches[k:k + 2]) for k in range(0, len(swatches), 2)),
            f"{ring}{t('legend_team_fix', lang)}"]


def legend(lang: str = "zh") -> Legend:
    """A fixed legend of case status and severity, site risk and team status."""
    rows = [f"<b>{t('legend_cases', lang)}</b>"]
    rows += [f"{dot(c)}{t('status_' + s, lang)}" for s, c in STATUS_COLORS.items()
             if s not in ("merged",)]
    rows += [f"<b>{t('legend_severity', lang)}</b>"]
    rows += [f"{dot('#999', 2 * r)}{t('severity_' + s, lang)}"
             for s, r in SEVERITY_RADIUS.items()]
    rows += [f"<b>{t('legend_sites', lang)}</b>"]
    rows += [f"{dot(c)}{t('risk_' + r, lang)}" for r, c in RISK_COLORS.items()]
    return Legend("<br>".join(rows + _team_rows(lang)), t("legend_title", lang))


def team_legend(lang: str = "zh") -> Legend:
    """A legend of the team status colours alone (for maps of teams)."""
    return Legend("<br>".join(_team_rows(lang)), t("legend_title", lang))


#: a map frame lower than this (CSS pixels) opens with its legend folded: on a 768-px
#: screen the open legend covered a quarter of the map
LEGEND_FOLDED_BELOW_PX = 800


class Legend(branca.element.MacroElement):
    """A Leaflet control holding ``html`` at the bottom left under a ``title`` that folds
    and unfolds it (a script, which streamlit-folium keeps, unlike extra page HTML). It
    opens folded in a frame lower than `LEGEND_FOLDED_BELOW_PX`.

    Parameters
    ----------
    html : str
        The legend's rows (HTML).
    title : str
        The toggle's text (plain text).
    """

    _template = branca.element.Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var legend = L.control({position: "bottomleft"});
            legend.onAdd = function () {
                var div = L.DomUtil.create("div", "onemap-legend");
                div.style.cssText = "background:rgba(255,255,255,.92);padding:4px 8px;" +
                    "font-size:12px;border-radius:4px;box-shadow:0 0 4px rgba(0,0,0,.3);" +
                    "line-height:1.5";
                var head = L.DomUtil.create("a", "onemap-legend-toggle", div);
                head.href = "#";
                head.setAttribute("role", "button");
                head.style.cssText = "display:block;font-weight:bold;color:#333;" +
                    "text-decoration:none;cursor:pointer";
                var body = L.DomUtil.create("div", "onemap-legend-body", div);
                body.innerHTML = {{ this.legend_html|tojson }};
                var open = window.innerHeight >= {{ this.folded_below }};
                var show = function () {
                    body.style.display = open ? "" : "none";
                    head.textContent = {{ this.title|tojson }} + (open ? " \u25BE" : " \u25B8");
                    head.setAttribute("aria-expanded", open ? "true" : "false");
                };
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                L.DomEvent.on(head, "click", function (e) {
                    L.DomEvent.preventDefault(e);
                    open = !open;
                    show();
                });
                show();
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}""")

    def __init__(self, html: str, title: str = "图例"):
        super().__init__()
        self._name = "Legend"
        self.legend_html = html
        self.title = title
        self.folded_below = LEGEND_FOLDED_BELOW_PX
