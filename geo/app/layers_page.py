"""图层: the loaded layer set: counts, sources, the findings of its import, the layer
generations with what changed from one to the next, a small map per layer."""

from __future__ import annotations

import datetime as dt
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
from geo.app.wording import local_time
from geo.generations import differences, shown_codes
from geo.layers import KINDS, LayerReport, Problem, check_layers
from geo.settings import PROJECT_ROOT
from geo.store.generations import generation_layers, generation_problems, list_generations


@st.cache_data(max_entries=4, show_spinner=False)
def _report(source: str, version: str) -> tuple[list[Problem], str | None]:
    """The problems of the source layer set checked again (for layers imported before
    their findings were kept), or the reason it is unreadable."""
    path = Path(source)
    if not path.exists():
        return [], f"{source}: no such file or folder"
    _, report = check_layers(path)
    return list(report.problems), None


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


@st.cache_resource(max_entries=16, show_spinner=False)
def _shown(url: str, version: str, scope, kind: str):
    """The layer as drawn (outlines simplified, degrees rounded), per layer import."""
    return simplified(state.layers(url, version, scope).get(kind)[["geometry"]])


@st.cache_resource(max_entries=2, show_spinner=False)
def _generations(url: str, version: str) -> tuple[pd.DataFrame, dict, list, dict]:
    """The layer generations (`geo.store.generations.list_generations`), the findings of
    each import by generation id (`LayerReport`, None where not kept), what changed from
    each generation to the next (`geo.generations.differences`) and the name of every
    township and unit code of any generation (the latest name), per layer import.

    The same for every role that may read layers (the caller's scope is checked by
    `render` before): computed once per import, not once per user."""
    engine, scope = state.engine(url), state.REFERENCE
    gens = list_generations(engine, scope=scope)
    findings = {g: generation_problems(engine, g, scope=scope) for g in gens["id"]}
    metric = state.metric(url, version)
    changes, names, before = [], {}, None
    for g in gens["id"]:
        now = generation_layers(engine, int(g), scope=scope)
        for gdf in (now.townships, now.units):
            if gdf is not None:
                names.update(zip(gdf["code"], gdf["name"], strict=True))
        if before is not None:
            changes.append((int(g), differences(
                {"townships": before.townships, "units": before.units},
                {"townships": now.townships, "units": now.units}, metric)))
        before = now
    return gens, findings, changes, names


def finding_lines(report: LayerReport) -> tuple[list[str], str]:
    """An import's findings as `LayerReport.render` summarises them (one line per problem,
    repeated ones counted), and its closing count line."""
    lines = report.render().splitlines()
    return lines[:-1], lines[-1]


def _findings(report: LayerReport | None, source: str, version: str, admin: bool,
              lang: str) -> None:
    """The findings an import was kept with; where none were kept, the source checked
    again (if it can still be read; its path as `shown_source` shows it)."""
    if report is None:
        st.caption(t("gen_not_recorded", lang))
        problems, unreadable = _report(source, version)
        if unreadable:
            st.info(f"{t('source_unavailable', lang)} {md(shown_source(source, admin))}")
            return
        report = LayerReport(problems=list(problems))
    lines, total = finding_lines(report)
    if not lines:
        st.success(t("no_problems", lang))
        return
    st.dataframe(pd.DataFrame({t("problem_message", lang): lines}), hide_index=True)
    st.caption(total)


def _generation_table(gens: pd.DataFrame, findings: dict, admin: bool, tz,
                      lang: str) -> pd.DataFrame:
    """One row per generation; its last day in force is the day before the next one's
    first (``effective_to`` is that first day)."""
    return pd.DataFrame({
        t("gen_id", lang): gens["id"],
        t("gen_from", lang): gens["effective_from"].map(str),
        t("gen_to", lang): gens["effective_to"].map(
            lambda d: t("gen_in_force", lang) if d is None
            else str(d - dt.timedelta(days=1))),
        t("gen_source", lang): gens["source"].map(lambda s: shown_source(s, admin)),
        t("imported_at", lang): gens["imported_at"].map(lambda d: local_time(d, tz)),
        t("gen_townships_n", lang): gens["townships"],
        t("gen_units_n", lang): gens["units"],
        t("gen_findings_n", lang): [
            "-" if findings[g] is None else len(findings[g].problems) for g in gens["id"]],
    })


def _change_table(changes: list, names: dict, lang: str) -> pd.DataFrame:
    """One row per generation and layer kind that changed: counts with the first names
    (and codes); where a township or unit went, the one that took most of its area."""
    def merged(pairs) -> str:
        return "; ".join(f"{names.get(a, a)} → {names.get(b, b)}" for a, b in pairs) or "-"

    return pd.DataFrame([{
        t("gen_id", lang): g, t("kind", lang): t("kind_" + c.kind, lang),
        t("gen_added", lang): shown_codes(c.added, names=names),
        t("gen_removed", lang): shown_codes(c.removed, names=names),
        t("gen_merged", lang): merged(c.merged),
        t("gen_renamed", lang): shown_codes(c.renamed, names=names),
        t("gen_redrawn", lang): shown_codes(c.redrawn, names=names),
        t("gen_moved", lang): shown_codes(c.moved, names=names),
    } for g, kinds in changes for c in kinds if c.any])


def render() -> None:
    page = state.open_page("layers_page")
    if page is None:
        return
    lang, url, engine, version = page.lang, page.url, page.engine, page.version
    admin = page.scope.role == "admin"
    layers = state.layers(url, version, page.scope)
    meta = store.get_meta(engine)
    source = meta.get("layers_source", "-")
    tz = page.tz
    gens, findings, changes, names = _generations(url, version)
    current = f" · {t('gen_id', lang)} {gens['id'].iloc[-1]}" if len(gens) else ""
    st.subheader(t("layer_counts", lang) + current)
    st.dataframe(pd.DataFrame(
        [{t("kind", lang): t("kind_" + k, lang), t("features", lang): n}
         for k, n in layers.counts().items()]), hide_index=True)
    st.caption(f"{t('file', lang)}: {md(shown_source(source, admin))}"
               f" · {t('imported_at', lang)}: "
               f"{md(local_time(meta.get('imported_at'), tz))}")
    st.subheader(t("validation", lang))
    if len(gens):
        _findings(findings[gens["id"].iloc[-1]], source, version, admin, lang)
    st.subheader(t("generations", lang))
    st.dataframe(_generation_table(gens, findings, admin, tz, lang), hide_index=True)
    if len(gens) > 1:
        st.markdown(f"**{t('gen_changes', lang)}**")
        table = _change_table(changes, names, lang)
        if table.empty:
            st.info(t("gen_no_changes", lang))
        else:
            st.dataframe(table, hide_index=True)
        for g, src in zip(gens["id"].iloc[:-1], gens["source"].iloc[:-1], strict=True):
            with st.expander(t("gen_findings", lang).format(id=g)):
                _findings(findings[g], src, version, admin, lang)
    local_assets()
    mapview.fill_viewport()
    kinds = [k for k in KINDS if layers.get(k) is not None]
    for tab, kind in zip(st.tabs([t("kind_" + k, lang) for k in kinds]), kinds, strict=True):
        with tab:
            st_folium(_small_map(_shown(url, version, page.scope, kind), kind,
                                 layers.townships, lang),
                      key=f"layer_map_{kind}", height=320, returned_objects=[],
                      use_container_width=True)
