"""图层: the loaded layer set: counts, sources, the validation report, a small map per layer."""

from __future__ import annotations

from pathlib import Path

import folium
import pandas as pd
import shapely
import streamlit as st
from streamlit_folium import st_folium

from geo import store
from geo.app import mapview, state
from geo.app.assets import local_assets
from geo.app.labels import t
from geo.app.lightmap import dots_at, simplified
from geo.app.safe import md
from geo.layers import KINDS, check_layers
from geo.settings import PROJECT_ROOT


@st.cache_data(max_entries=4, show_spinner=False)
def _report(source: str, version: str) -> tuple[list[tuple[str, str]], str | None]:
    """(level, message) per problem of the source layer set, or the reason it is unreadable."""
    path = Path(source)
    if not path.exists():
        return [], f"{source}: no such file or folder"
    _, report = check_layers(path)
    return [(p.level, str(p)) for p in report.problems], None


def shown_source(source: str, admin: bool) -> str:
    """Where the layers came from, as shown: relative to the project where they lie in it
    (the bundled demo layers); elsewhere the full path for an administrator, the file or
    folder name for everyone else (the server's folders are none of their business)."""
    path = Path(source)
    if path.is_absolute() and path.is_relative_to(PROJECT_ROOT):
        return str(path.relative_to(PROJECT_ROOT))
    return source if admin else path.name


def _small_map(gdf, kind: str, townships=None, lang: str = "zh") -> folium.Map:
    """The layer on a small map fitted to it: points as one array of dots, lines and areas
    as one GeoJSON layer (already `_shown`)."""
    x0, y0, x1, y1 = gdf.total_bounds
    bounds = [[y0, x0], [y1, x1]]
    m = mapview.new_map(tiles=None, prefer_canvas=True, height=320, maxZoom=19)
    m.fit_bounds(bounds)
    mapview.FitWhenShown(bounds).add_to(m)  # the maps of the tabs not shown first
    if townships is not None and kind != "townships":
        mapview.township_outlines(townships, lang, interactive=False).add_to(m)
    if kind in ("sites", "teams"):
        dots_at(shapely.point_on_surface(gdf.geometry.to_numpy()), "#3186cc", radius=2,
                fill_opacity=0.7).add_to(m)
    else:
        folium.GeoJson(gdf[["geometry"]], style_function=lambda _: {
            "color": "#3182bd", "weight": 1, "fillOpacity": 0.15}).add_to(m)
    return m


@st.cache_resource(max_entries=16)
def _shown(url: str, version: str, scope, kind: str):
    """The layer as drawn (outlines simplified, degrees rounded), per layer import."""
    return simplified(state.layers(url, version, scope).get(kind)[["geometry"]])


def render() -> None:
    page = state.open_page("layers_page")
    if page is None:
        return
    lang, url, engine, version = page.lang, page.url, page.engine, page.version
    layers = state.layers(url, version, page.scope)
    meta = store.get_meta(engine)
    source = meta.get("layers_source", "-")
    st.subheader(t("layer_counts", lang))
    st.dataframe(pd.DataFrame(
        [{t("kind", lang): t("kind_" + k, lang), t("features", lang): n}
         for k, n in layers.counts().items()]), hide_index=True)
    st.caption(f"{t('file', lang)}: {md(shown_source(source, page.scope.role == 'admin'))}"
               f" · {t('imported_at', lang)}: "
               f"{md(meta.get('imported_at'))} (UTC)")
    st.subheader(t("validation", lang))
    problems, unreadable = _report(source, version)
    if unreadable:
        st.info(f"{t('source_unavailable', lang)} {md(unreadable)}")
    elif not problems:
        st.success(t("no_problems", lang))
    else:
        st.dataframe(pd.DataFrame(problems, columns=[t("problem_level", lang),
                                                     t("problem_message", lang)]),
                     hide_index=True)
    local_assets()
    mapview.fill_viewport()
    kinds = [k for k in KINDS if layers.get(k) is not None]
    for tab, kind in zip(st.tabs([t("kind_" + k, lang) for k in kinds]), kinds, strict=True):
        with tab:
            st_folium(_small_map(_shown(url, version, page.scope, kind), kind,
                                 layers.townships, lang),
                      key=f"layer_map_{kind}", height=320, returned_objects=[],
                      use_container_width=True)
