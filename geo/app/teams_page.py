"""队伍: the team status board (status and for how long, position age, current case) and
the teams on a map, for the teams in the user's scope; refreshed every `refresh_s`."""

from __future__ import annotations

import copy

import folium
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo import store
from geo.app import mapview, state
from geo.app.assets import local_assets
from geo.app.labels import t
from geo.app.wording import duration
from geo.store import dispatching
from geo.store.teamboard import team_activity
from geo.teamboard import team_board


@st.cache_resource(max_entries=4, show_spinner=False)
def _base_map(url: str, version: str, lang: str) -> folium.Map:
    """The teams map without the teams: township outlines and the team legend (shared:
    give streamlit-folium a copy, it adds the teams to the map it gets)."""
    local_assets()
    townships = state.layers(url, version, state.REFERENCE).townships
    x0, y0, x1, y1 = townships.total_bounds
    m = mapview.new_map(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=11, tiles=None,
                        maxZoom=19, control_scale=True)
    m.fit_bounds([[y0, x0], [y1, x1]])
    mapview.township_outlines(townships, lang).add_to(m)
    mapview.team_legend(lang).add_to(m)
    return m


def board_view(board: pd.DataFrame, body_names: dict[str, str], lang: str) -> pd.DataFrame:
    """The board as the table shows it: names, not codes, under headers in ``lang``;
    durations as text (``-`` where unknown: Streamlit prints an empty number as None)."""
    return pd.DataFrame({
        t("team_name", lang): board["name"],
        t("team_body", lang): board["body_code"].map(lambda b: body_names.get(b, b)),
        t("status", lang): board["status"].map(lambda s: t("team_" + s, lang)),
        t("in_status_min", lang): board["in_status_min"].map(lambda m: duration(m, lang)),
        t("fix_state", lang): board["fix_state"].map(lambda s: t("fix_" + s, lang)),
        t("fix_age_min", lang): board["fix_age_min"].map(lambda m: duration(m, lang)),
        t("current_case", lang): board["case_id"].map(
            lambda c: "" if pd.isna(c) else f"#{int(c)}"),
        t("current_matter", lang): board["matter_name"].astype(object)
        .fillna(board["matter_code"]).fillna(""),
    })


def _filters(bodies: set[str], body_names: dict[str, str], lang: str) -> dict:
    """The bodies and statuses picked in the sidebar (empty: all)."""
    sb = st.sidebar
    sb.subheader(t("filters", lang))
    bodies = sorted(bodies, key=lambda b: body_names.get(b, b))
    picked_bodies = sb.multiselect(t("team_body", lang), bodies, key="tb_body",
                                   placeholder=t("all", lang),
                                   format_func=lambda b: body_names.get(b, b))
    statuses = list(mapview.TEAM_STATUS_COLORS)
    picked_status = sb.multiselect(t("status", lang), statuses, key="tb_status",
                                   placeholder=t("all", lang),
                                   format_func=lambda s: t("team_" + s, lang))
    return {"bodies": picked_bodies, "statuses": picked_status}


def _picked(board: pd.DataFrame, bodies: list[str], statuses: list[str]) -> pd.DataFrame:
    keep = pd.Series(True, index=board.index)
    if bodies:
        keep &= board["body_code"].isin(bodies)
    if statuses:
        keep &= board["status"].isin(statuses)
    return board[keep]


def render() -> None:
    page = state.open_page("teams_page")
    if page is None:
        return
    lang, url, engine, version = page.lang, page.url, page.engine, page.version
    with state.working("teams"):
        body_names = state.catalog(url, version).body_names()
        metric = state.metric(url, version)
        picked = _filters(set(dispatching.teams_frame(engine, metric, scope=page.scope)
                              ["body_code"]), body_names, lang)
    mapview.fill_viewport()

    @st.fragment(run_every=page.settings.refresh_s)
    def live() -> None:
        teams = dispatching.teams_frame(engine, metric, scope=page.scope)
        history, jobs = team_activity(engine, scope=page.scope)
        board = team_board(teams, history, jobs, store.utcnow())
        shown = _picked(board, **picked)
        st.subheader(t("team_board", lang))
        if board.empty:
            st.info(t("no_teams", lang))
            return
        st.caption(t("teams_shown", lang).format(n=len(shown), total=len(board)))
        st.dataframe(board_view(shown, body_names, lang), hide_index=True, width="stretch")
        st_folium(copy.deepcopy(_base_map(url, version, lang)), key="teams_map", height=560,
                  feature_group_to_add=[mapview.team_layer(
                      shown, lang, body_names, z_index=mapview.TEAMS_ON_TOP)],
                  returned_objects=[], use_container_width=True)

    live()
