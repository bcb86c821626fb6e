"""覆盖: inspection coverage by unit and township, overdue high-risk sites, team-reach gaps,
case hot spots and the annual empowerment evaluation, every table downloadable."""

from __future__ import annotations

import datetime as dt
import io

import folium
import h3
import numpy as np
import pandas as pd
import shapely
import streamlit as st
from streamlit_folium import st_folium

from geo import store
from geo.access import Scope
from geo.app import coverage_tables as tables
from geo.app import mapview, state
from geo.app.assets import local_assets
from geo.app.labels import cells, t
from geo.app.lightmap import dots_at, shaded_areas, simplified
from geo.app.safe import html_text
from geo.coverage import (
    coverage_by,
    district_cell_count,
    empowerment_evaluation,
    evaluation_by_township,
    hot_spots,
    reach_gaps,
    repeat_sites,
    site_status,
    visits,
)
from geo.routing import site_units
from geo.store.dispatching import teams_frame
from geo.store.inspecting import inspection_tables

#: the page's sections, one shown at a time
SECTIONS = ["coverage_by", "overdue_sites", "reach", "hot_spots", "evaluation"]
SHADES = ["#d73027", "#fc8d59", "#fee08b", "#d9ef8b", "#91cf60", "#1a9850"]


def downloads(frame: pd.DataFrame, name: str, lang: str, percent: tuple[str, ...] = ()) -> None:
    """CSV and Excel download buttons for a table as the screen shows it (`exported`; the
    files are made when clicked).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as shown: headers in the user's language, names next to codes, 是/否.
    name : str
        The file name, without extension.
    lang : str
        The user's language.
    percent : tuple of str
        Label keys of the share columns (0 to 1), written as percentages.
    """
    frame = exported(frame, lang, percent)
    c1, c2 = st.columns(2)
    c1.download_button(t("download_csv", lang),
                       lambda: frame.to_csv(index=False).encode("utf-8-sig"),
                       f"{name}.csv", "text/csv", key=f"csv_{name}")
    c2.download_button(t("download_xlsx", lang), lambda: _xlsx(frame), f"{name}.xlsx",
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       key=f"xlsx_{name}")


def exported(frame: pd.DataFrame, lang: str, percent: tuple[str, ...] = ()) -> pd.DataFrame:
    """A shown table as a download holds it: the share columns labelled ``percent`` as
    percentages (``85.3%``) and missing cells as ``-`` (`geo.app.labels.cells`)."""
    out = frame.copy()
    for key in percent:
        column = t(key, lang)
        out[column] = out[column].map(lambda v: "-" if pd.isna(v) else f"{v:.1%}")
    return cells(out)


def _xlsx(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_excel(buf, index=False)
    return buf.getvalue()


def _map(layers, areas, share: dict, overdue, gaps, spots, lang: str = "zh") -> folium.Map:
    """Areas (`_areas`) shaded by their share, overdue high-risk sites, reach gaps and hot
    spots: one element per layer."""
    local_assets()
    x0, y0, x1, y1 = layers.townships.total_bounds
    m = mapview.new_map(tiles=None, maxZoom=19, prefer_canvas=True)
    m.fit_bounds([[y0, x0], [y1, x1]])
    values = [share.get(code) for code in areas["code"]]
    colors = ["#bdbdbd" if v is None else SHADES[min(5, int(v * 6))] for v in values]
    tips = [html_text(f"{name}: {'-' if v is None else f'{v:.0%}'}")
            for name, v in zip(areas["name"], values, strict=True)]
    shaded_areas(areas, colors, tips, name="coverage").add_to(m)
    if len(overdue):
        dots_at(overdue, "#67000d", radius=4, fill_opacity=0.9).add_to(m)
    mapview.township_outlines(layers.townships, lang, interactive=False).add_to(m)
    if len(gaps):
        folium.GeoJson(simplified(gaps[["geometry"]]), style_function=lambda _: {
            "color": "#4a1486", "weight": 1, "fillOpacity": 0.25}).add_to(m)
    if len(spots):
        folium.GeoJson({"type": "MultiPolygon", "coordinates": [
            [[[lon, lat] for lat, lon in h3.cell_to_boundary(cell)]] for cell in spots]},
            style_function=lambda _: {"color": "#e31a1c", "weight": 2, "fill": False}
        ).add_to(m)
    return m


def render() -> None:
    page = state.open_page("coverage")
    if page is None:
        return
    lang, url, engine, version = page.lang, page.url, page.engine, page.version
    scope = page.scope
    layers, catalog = state.layers(url, version, scope), state.catalog(url, version)
    today = dt.datetime.now(page.tz).date()
    level = st.sidebar.radio(t("level", lang), ["unit", "township"], key="c_level",
                             format_func=lambda v: t(v, lang))
    minutes = st.sidebar.slider(t("reach_minutes", lang), 5, 30, 10, key="c_minutes")

    if layers.sites is None or layers.sites.empty:
        st.info(t("no_data", lang))
        return
    sites, points = _sites(url, version, scope)
    units = layers.units
    findings, _ = inspection_tables(engine, scope=scope)
    status = site_status(sites, visits(findings), today, catalog.inspection_intervals)
    area_col = "unit" if level == "unit" and units is not None else "township"
    table = coverage_by(status.dropna(subset=[area_col]), area_col)
    share = dict(zip(table[area_col], table["share_on_time"], strict=True))

    metric = state.metric(url, version)
    own = scope.match("readouts").get("township_code")  # township staff: their township
    bases = teams_frame(engine, metric, scope=scope)[["x", "y"]].to_numpy()
    gaps = _gaps(url, version, scope, own, minutes, np.round(bases, -1).tobytes()) \
        if len(bases) else pd.DataFrame()
    cases = store.cases_frame(engine, scope=scope)
    spots = hot_spots(cases["lon"].to_numpy(), cases["lat"].to_numpy(),
                      _cells(url, version)) if len(cases) else pd.DataFrame(columns=["hot"])
    high = status["overdue"] & (status["risk"] == "high")

    # every generation's townships: cases keep the township they were routed to
    township_names = state.names(url, version, scope).townships
    # one section at a time: the page draws (and the browser loads) only what is looked at
    section = st.radio(t("section", lang), SECTIONS, key="c_section", horizontal=True,
                       label_visibility="collapsed", format_func=lambda v: t(f"sec_{v}", lang))
    if section == "coverage_by":
        st.subheader(t("coverage_by", lang))
        mapview.fill_viewport()
        st_folium(_map(layers, _areas(url, version, area_col), share, points[high.to_numpy()],
                       gaps, spots.loc[spots["hot"], "cell"] if len(spots) else [], lang),
                  key=f"cov_map_{area_col}_{minutes}", height=520, returned_objects=[],
                  use_container_width=True)
        area_names = township_names if area_col == "township" else dict(
            zip(units["code"], units["name"], strict=True))
        shown = tables.coverage(table, area_col, area_names, lang)
        tables.show(shown, lang, percent=("share_on_time",))
        downloads(shown, f"coverage_{area_col}", lang, percent=("share_on_time",))
    elif section == "overdue_sites":
        st.subheader(t("overdue_sites", lang))
        overdue = status.loc[high, ["site_id", "name", "kind", "township_code",
                                    "last_inspected", "due"]]
        shown = tables.overdue_sites(overdue, township_names, lang)
        tables.show(shown, lang)
        downloads(shown, "overdue_high_risk_sites", lang)
    elif section == "reach":
        st.subheader(t("reach", lang))
        if len(gaps):
            gap_table = pd.DataFrame({t("gap_area", lang): (gaps["area_m2"] / 1e6).round(2),
                                      t("sites_n", lang): gaps["site_ids"].map(len)})
            st.dataframe(cells(gap_table), hide_index=True)
            site_names = dict(zip(sites["site_id"], sites["name"], strict=True))
            downloads(gap_table.assign(**{t("site", lang): gaps["site_ids"].map(
                lambda ids: "、".join(f"{site_names.get(i, i)}（{i}）" for i in ids))}),
                "reach_gaps", lang)
        else:
            st.success(t("no_gaps", lang))
    elif section == "hot_spots":
        st.subheader(t("hot_spots", lang))
        hot = spots[spots["hot"]] if len(spots) else spots
        shown = tables.hot_spots(hot, lang)
        tables.show(shown, lang)
        if len(hot):
            downloads(shown, "hot_spots", lang)
        st.markdown(f"**{t('repeat_sites', lang)}**")
        tables.show(tables.repeat_sites(repeat_sites(cases["site_id"]), dict(
            zip(sites["site_id"], sites["name"], strict=True)), lang), lang)
    else:
        _evaluation(page, layers, catalog, cases, township_names, today)


def _evaluation(page: state.Page, layers, catalog, cases: pd.DataFrame,
                township_names: dict[str, str], today: dt.date) -> None:
    """The annual empowerment evaluation: per township and delegated matter, and the share
    of delegated matters used per township on a map."""
    lang, url, version, scope = page.lang, page.url, page.version, page.scope
    st.subheader(t("evaluation", lang))
    c1, c2 = st.columns(2)
    start = c1.date_input(t("period_start", lang), dt.date(today.year - 1, today.month, 1),
                          key="c_start")
    end = c2.date_input(t("period_end", lang), today + dt.timedelta(days=1), key="c_end")
    evaluation = scope.rows(empowerment_evaluation(
        cases, store.case_events(page.engine, scope=scope), catalog.empowerment,
        catalog.township_bodies(), start, end), "readouts")
    shown = tables.evaluation(evaluation, township_names, dict(
        zip(catalog.matters["code"], catalog.matters["name"], strict=True)), lang)
    tables.show(shown, lang)
    downloads(shown, "empowerment_evaluation", lang)
    per_town = evaluation_by_township(evaluation)
    used = dict(zip(per_town["township_code"], per_town["share_used"], strict=True))
    st_folium(_map(layers, _areas(url, version, "township"), used, [], pd.DataFrame(), [], lang),
              key="eval_map", height=380, returned_objects=[], use_container_width=True)
    st.caption(t("share_used", lang))


@st.cache_resource(max_entries=32, show_spinner=False)
def _sites(url: str, version: str, scope: Scope):
    """Sites in ``scope`` with their unit (the Router's rule, `geo.routing.site_units`) and
    township, and their representative points (per layer import; shared, never
    modified)."""
    layers = state.layers(url, version, scope)
    sites = layers.sites.copy()
    sites["unit"] = site_units(sites, layers.units)
    sites["township"] = sites["township_code"]
    return sites, shapely.point_on_surface(sites.geometry.to_numpy())


@st.cache_resource(max_entries=8, show_spinner=False)
def _areas(url: str, version: str, level: str):
    """Units or townships (``level``), simplified for display (per layer import)."""
    layers = state.layers(url, version, state.REFERENCE)
    areas = layers.units if level == "unit" else layers.townships
    return simplified(areas[["code", "name", "geometry"]])


@st.cache_resource(max_entries=32, show_spinner=False)
def _gaps(url: str, version: str, scope: Scope, own: str | None, minutes: int,
          bases: bytes):
    """Reach gaps (WGS84) of the district, or of township ``own``, for the team positions
    ``bases`` (metric x, y rounded to 10 m, as bytes: teams that did not move reuse the
    answer), with the sites in ``scope`` inside each."""
    layers = state.layers(url, version, state.REFERENCE)
    metric = state.metric(url, version)
    mine = layers.townships[layers.townships["code"] == own] if own else layers.townships
    district = shapely.union_all(mine.to_crs(metric).geometry.to_numpy())
    sites, _ = _sites(url, version, scope)
    gaps = reach_gaps(district, np.frombuffer(bases).reshape(-1, 2), minutes,
                      roads=state.roads(url, version),
                      sites=sites[["site_id", "geometry"]].to_crs(metric))
    return gaps.set_crs(metric).to_crs(4326) if len(gaps) else gaps


@st.cache_resource(max_entries=2, show_spinner=False)
def _cells(url: str, version: str) -> int:
    townships = state.layers(url, version, state.REFERENCE).townships
    return district_cell_count(shapely.union_all(townships.geometry.to_numpy()))
