"""指挥中心: the live map of cases on the layers, with filters, key figures and details."""

from __future__ import annotations

import copy
import datetime as dt
from zoneinfo import ZoneInfo

import folium
import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo import store
from geo.access import AccessDeniedError, Scope
from geo.app import auth, mapview, state, wording
from geo.app.assets import local_assets
from geo.app.labels import source_name, t, text
from geo.app.safe import html_text, md
from geo.cases import (
    OPEN,
    SOURCES,
    STATUSES,
    acknowledgement_since,
    filter_cases,
    key_figures,
    needs_acknowledgement,
    open_by_township,
    overdue,
)
from geo.dispatch import fix_states
from geo.store import acknowledging, dispatching

WINDOWS = {"window_1d": 1, "window_7d": 7, "window_30d": 30, "window_90d": 90,
           "window_all": None}
HIGHLIGHT_FOR = dt.timedelta(minutes=10)
ACK_ROWS = 8  # alerts listed at once on the panel, the oldest first
ACK_NOTICE = "ack_notice"
ACK_NOTICE_FOR = dt.timedelta(seconds=30)  # how long the panel says what 确认 did
FOCUS_ZOOM = 16  # where 查看 takes the map: street level, the cases out of their clusters


@st.cache_resource(max_entries=16, show_spinner=False)
def _cached_base_map(url: str, version: str, tiles: mapview.Tiles, lang: str,
                     scope: Scope) -> folium.Map:
    local_assets()
    return mapview.base_map(state.layers(url, version, scope), tiles, lang)


def _base_map(url: str, version: str, tiles: mapview.Tiles, lang: str,
              scope: Scope) -> folium.Map:
    """A private copy of the cached base map (with the sites and teams ``scope`` may see):
    streamlit-folium adds the live groups to the map it is given."""
    return copy.deepcopy(_cached_base_map(url, version, tiles, lang, scope))


@st.cache_resource(max_entries=32, show_spinner=False)
def _all_cases(url: str, version: tuple, scope: Scope):
    """The cases in ``scope``, read again only when `store.cases_version` changes (shared by
    the sessions of one scope, not copied: callers never modify it)."""
    return store.cases_frame(state.engine(url), scope=scope)


def _filters(lang: str, layers, catalog, scope: Scope) -> dict:
    sb = st.sidebar
    sb.subheader(t("filters", lang))
    names = dict(zip(layers.townships["code"], layers.townships["name"], strict=True))
    own = scope.match("cases").get("township_code")
    if own:  # township staff: their township is all there is to pick
        names = {own: names.get(own, own)}
    township = sb.selectbox(t("township", lang), ["", *names], key="f_township",
                            format_func=lambda c: names.get(c, t("all", lang)))
    domains = sorted(catalog.matters["domain"].unique())
    domain = sb.selectbox(t("domain", lang), ["", *domains], key="f_domain",
                          format_func=lambda d: d or t("all", lang))
    matters = catalog.matters if not domain else catalog.matters[
        catalog.matters["domain"] == domain]
    matter_names = dict(zip(matters["code"], matters["name"], strict=True))
    matter = sb.selectbox(t("matter", lang), ["", *matter_names], key="f_matter",
                          format_func=lambda m: matter_names.get(m, t("all", lang)))
    source = sb.selectbox(t("source", lang), ["", *SOURCES], key="f_source",
                          format_func=lambda s: source_name(s, lang) if s else t("all", lang))
    # live cases first: closed ones are there to look back on, not to watch
    status = sb.selectbox(t("status", lang), [OPEN, "", *STATUSES], key="f_status",
                          format_func=lambda s: t("status_" + s, lang) if s else t("all", lang))
    window = sb.selectbox(t("window", lang), list(WINDOWS), index=4, key="f_window",
                          format_func=lambda w: t(w, lang))
    heat = sb.toggle(t("heat", lang), key="f_heat")
    return {"township": township, "domain": domain, "matter": matter, "source": source,
            "status": status, "days": WINDOWS[window], "heat": heat}


def _kpis(figures: dict, lang: str) -> None:
    cols = st.columns(4)
    cols[0].metric(t("kpi_open", lang), figures["open"])
    cols[1].metric(t("kpi_new_today", lang), figures["new_today"])
    cols[2].metric(t("kpi_overdue", lang), figures["overdue"])
    by_source = " · ".join(f"{t('source_' + s, lang)} {n}"
                           for s, n in sorted(figures["by_source"].items(), key=lambda x: -x[1]))
    cols[3].markdown(f"**{t('kpi_by_source', lang)}**  \n{by_source or '-'}")


def _new_high(cases, lang: str, may_change: bool) -> set[int]:
    """Toast new cases that need an acknowledgement since the last refresh, saying where
    to act on them; ids to highlight."""
    seen = st.session_state.get("max_case_id")
    top = int(cases["id"].max()) if len(cases) else 0
    now = dt.datetime.now()
    marks: dict[int, dt.datetime] = st.session_state.setdefault("highlight", {})
    if seen is not None and top > seen:
        fresh = cases[(cases["id"] > seen) & needs_acknowledgement(cases)]
        how = t("ack_how" if may_change else "ack_how_read_only", lang)
        for row in fresh.itertuples(index=False):
            marks[int(row.id)] = now
            st.toast(f"{t('new_high_alert', lang)}: #{row.id} {md(row.matter_name)} · "
                     f"{md(row.township_name)}  \n{how}", icon="🚨")
    st.session_state["max_case_id"] = max(top, seen or 0)
    for cid in [c for c, at in marks.items() if now - at > HIGHLIGHT_FOR]:
        del marks[cid]
    return set(marks)


def _view(case_id: int, lat: float, lon: float) -> None:
    """查看: select the case and take the map to it."""
    st.session_state["case_id"] = case_id
    turn = st.session_state.get("map_focus_turn", 0) + 1
    st.session_state["map_focus_turn"] = turn
    # st_folium moves the map only when center or zoom differ from the ones it was last
    # given: a nudge far below a pixel (Leaflet rounds the zoom) makes every 查看 move it
    nudge = (turn % 2) * 1e-9
    st.session_state["map_focus"] = ((lat + nudge, lon), FOCUS_ZOOM + nudge)


def _acknowledge(engine, case_id: int, scope: Scope, lang: str, tz: ZoneInfo,
                 people: wording.Names) -> None:
    """确认: acknowledge the case and select it (its timeline shows who did); the outcome
    is shown by the panel's next run."""
    until = dt.datetime.now() + ACK_NOTICE_FOR
    try:
        done = acknowledging.acknowledge(engine, case_id, scope=scope)
    except (LookupError, AccessDeniedError) as exc:
        st.session_state[ACK_NOTICE] = ("error", wording.error_text(exc, lang), until)
        return
    st.session_state["case_id"] = case_id
    if done.new:
        said = ("success", t("ack_done", lang).format(id=case_id))
    else:
        said = ("info", t("ack_already", lang).format(id=case_id,
                                                      actor=people.user(done.actor, lang),
                                                      at=wording.local_time(done.at, tz)))
    st.session_state[ACK_NOTICE] = (*said, until)


def _alerts_panel(page: state.Page, now: dt.datetime, tz: ZoneInfo) -> None:
    """待确认的高危预警: the cases in scope waiting for an acknowledgement, oldest first,
    each with 查看 and (for who may change cases) 确认."""
    lang = page.lang
    pending = acknowledging.unacknowledged_high(page.engine, scope=page.scope,
                                                since=acknowledgement_since(now))
    notice = st.session_state.get(ACK_NOTICE)
    if notice is not None and dt.datetime.now() > notice[2]:
        del st.session_state[ACK_NOTICE]
        notice = None
    title = t("ack_panel", lang).format(n=len(pending))
    with st.expander(title, expanded=bool(len(pending)) or notice is not None,
                     icon=":material/notification_important:"):
        if notice is not None:
            getattr(st, notice[0])(notice[1])
        may_change = page.scope.may_change
        for row in pending.head(ACK_ROWS).itertuples(index=False):
            cid = int(row.id)
            cols = st.columns([10, 1, 1] if may_change else [11, 1],
                              vertical_alignment="center")
            cols[0].markdown(
                f"{wording.local_time(row.opened_at, tz, '%m-%d %H:%M')} · "
                f"**#{cid} {md(row.matter_name, text(row.matter_code))}** · "
                f"{md(row.township_name)}"
                + (f" · {md(row.description)}" if text(row.description, "") else ""))
            cols[1].button(t("ack_view", lang), key=f"ack_view_{cid}", on_click=_view,
                           args=(cid, float(row.lat), float(row.lon)))
            if may_change:
                cols[2].button(t("ack_confirm", lang), key=f"ack_do_{cid}", type="primary",
                               on_click=_acknowledge,
                               args=(page.engine, cid, page.scope, lang, tz,
                                     state.people(page.url, page.version, page.scope)))
        if len(pending) > ACK_ROWS:
            st.caption(t("ack_more", lang).format(n=len(pending) - ACK_ROWS))


def _ring(case, lang: str):
    """The selected case's ring on the map (`mapview.selected_case`)."""
    label = html_text(f"{t('ack_selected', lang)} #{case.id} "
                      f"{text(case.matter_name, text(case.matter_code))}")
    return mapview.selected_case(float(case.lat), float(case.lon), label)


def _clicked_case(cases, clicked) -> int | None:
    """The case drawn where the map was clicked (markers sit exactly on the case)."""
    if not clicked or not len(cases):
        return None
    d = np.hypot(cases["lat"].to_numpy() - clicked["lat"], cases["lon"].to_numpy() - clicked["lng"])
    k = int(d.argmin())
    return int(cases["id"].iloc[k]) if d[k] < 1e-5 else None


def _details(page: state.Page, cases, case_id: int | None, lang: str, tz: ZoneInfo,
             names: wording.Names) -> None:
    st.subheader(t("case_details", lang))
    rows = cases[cases["id"] == case_id] if case_id is not None else cases.iloc[0:0]
    if rows.empty:
        st.caption(t("click_case", lang))
        return
    c = rows.iloc[0]
    v = c.to_dict()
    lines = [
        f"**#{v['id']} {md(v['matter_name'], text(v['matter_code']))}**",
        f"{t('status', lang)}: {t('status_' + v['status'], lang)} · "
        f"{t('severity', lang)}: {t('severity_' + v['severity'], lang)}",
        f"{t('source', lang)}: {source_name(v['source'], lang)} ({md(v['external_id'])})",
        f"{t('reported_at', lang)}: {wording.local_time(v['opened_at'], tz)}",
        f"{t('deadline', lang)}: {wording.local_time(v['deadline_at'], tz)}",
        f"{t('township', lang)}: {md(v['township_name'])}",
        f"{t('unit', lang)}: {names.unit(v['unit_code'])}",
        f"{t('site', lang)}: {names.site(v['site_id'])}",
        f"{t('body', lang)}: {names.body(v['body_code'])}",
    ]
    if v["flags"]:
        lines.append(f"{t('flags', lang)}: {md(v['flags'])}")
    if v["description"]:
        lines.append(f"{t('description', lang)}: {md(v['description'])}")
    st.markdown("  \n".join(lines))
    st.markdown(f"**{t('reasons', lang)}**")
    st.markdown("\n".join(f"- {md(r)}" for r in c["reasons"]))
    st.markdown(f"**{t('timeline', lang)}**")
    state.show_timeline(page, int(c["id"]))


def render() -> None:
    page = state.open_page("command")
    if page is None:
        return
    lang, settings, url, engine, version = (page.lang, page.settings, page.url, page.engine,
                                            page.version)
    with state.working("command"):
        layers, catalog = state.layers(url, version, page.scope), state.catalog(url, version)
        try:
            tiles = mapview.tiles_for(settings)
        except ValueError as exc:
            st.error(f"{t('tiles_error', lang)} {md(exc)}")
            tiles = mapview.Tiles(None)
        filters = _filters(lang, layers, catalog, page.scope)
        names = state.names(url, version, page.scope)
    mapview.fill_viewport()
    tz = ZoneInfo(settings.timezone)

    @st.fragment(run_every=settings.refresh_s)
    def live() -> None:
        if auth.current_scope(engine) != page.scope:  # signed out, disabled, role changed
            st.rerun()  # the whole app: the sign-in form, or the new scope
        now = store.utcnow()
        st.caption(f"{t('updated', lang)} "
                   f"{now.replace(tzinfo=dt.UTC).astimezone(tz):%Y-%m-%d %H:%M:%S}")
        _alerts_panel(page, now, tz)
        since = now - dt.timedelta(days=filters["days"]) if filters["days"] else None
        version_now = store.cases_version(engine, scope=page.scope)
        every = _all_cases(url, version_now, page.scope)
        cases = filter_cases(every, township=filters["township"],
                             domain=filters["domain"], matter=filters["matter"],
                             source=filters["source"], status=filters["status"], since=since)
        _kpis(key_figures(cases, now, tz), lang)
        highlight = _new_high(cases, lang, page.scope.may_change)
        selected = st.session_state.get("case_id")
        drawn = cases if selected is None or (cases["id"] == selected).any() else pd.concat(
            [cases, every[every["id"] == selected]])  # the selected case, filtered or not
        groups = [mapview.township_shading(layers.townships, open_by_township(cases), lang),
                  mapview.case_layer(drawn, highlight, lang, overdue=overdue(drawn, now))]
        teams = dispatching.teams_frame(engine, state.metric(url, version), scope=page.scope)
        teams["fix_state"] = fix_states(teams["fix_at"], now)
        groups.append(mapview.team_layer(teams, lang,
                                         state.catalog(url, version).body_names()))
        if filters["heat"]:
            groups.append(mapview.heat_layer(cases, lang))
        groups += [_ring(c, lang) for c in drawn[drawn["id"] == selected].itertuples()]
        center, zoom = st.session_state.get("map_focus", (None, None))
        left, right = st.columns([3, 1])
        with left:
            out = st_folium(_base_map(url, version, tiles, lang, page.scope),
                            key="command_map",
                            feature_group_to_add=groups, height=650,
                            layer_control=mapview.KeptLayerControl(collapsed=True),
                            returned_objects=["last_object_clicked"],
                            center=center, zoom=zoom,
                            use_container_width=True)
        # the map returns its last click on every run: only a new click selects a case
        clicked = (out or {}).get("last_object_clicked")
        if clicked != st.session_state.get("map_click"):
            st.session_state["map_click"] = clicked
            picked = _clicked_case(drawn, clicked)
            if picked is not None:
                st.session_state["case_id"] = picked
        with right:
            _details(page, every, st.session_state.get("case_id"), lang, tz, names)

    live()
