"""派遣: a dispatcher's queue, the selected case with its recommended teams on a map,
one-click assignment, state buttons through the lifecycle, and the case timeline."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import folium
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo import store
from geo.access import Scope
from geo.app import mapview, state
from geo.app.assets import local_assets
from geo.app.labels import t, text
from geo.app.safe import html_text, md
from geo.cases import TRANSITIONS, duplicate_candidates, queue
from geo.crs import to_metric
from geo.dispatch import neighbour_bodies, recommend, township_adjacency
from geo.store import dispatching
from geo.store.dispatching import ConflictError


@st.cache_resource(max_entries=2)
def _context(url: str, version: str) -> dict:
    """Per layer version: metric CRS, road graph, township adjacency and lookups."""
    layers, catalog = state.layers(url, version, state.REFERENCE), state.catalog(url, version)
    return {
        "metric": state.metric(url, version),
        "roads": state.roads(url, version),
        "adjacency": township_adjacency(layers.townships),
        "centers": catalog.township_bodies(),
        "domains": dict(zip(catalog.matters["code"], catalog.matters["domain"], strict=True)),
        "district": dict(zip(catalog.matters["code"], catalog.matters["district_body"],
                             strict=True)),
        "kinds": dict(zip(catalog.bodies["code"], catalog.bodies["kind"], strict=True)),
        "names": catalog.body_names(),
        "townships": layers.townships,
        "township_names": dict(zip(layers.townships["code"], layers.townships["name"],
                                   strict=True)),
    }


def _run(action, lang: str) -> bool:
    """Run a write; show conflicts and refused moves as messages, not tracebacks."""
    try:
        action()
    except ConflictError as exc:
        st.error(f"{t('conflict', lang)} {md(exc)}")
        return False
    except (ValueError, LookupError, PermissionError) as exc:
        st.error(f"{t('not_allowed', lang)} {md(exc)}")
        return False
    return True


def _map(case, recs, teams: pd.DataFrame, townships=None, lang: str = "zh") -> folium.Map:
    local_assets()
    m = mapview.new_map(location=[case["lat"], case["lon"]], zoom_start=13, tiles=None,
                        maxZoom=19, prefer_canvas=True)
    if townships is not None:
        mapview.township_outlines(townships, lang).add_to(m)
    folium.CircleMarker([case["lat"], case["lon"]], radius=10, color="#e31a1c", fill=True,
                        fill_opacity=0.9, tooltip=f"#{case['id']}").add_to(m)
    points = [[case["lat"], case["lon"]]]
    for r in recs:
        row = teams[teams["team_id"] == r.team_id].iloc[0]
        at = [row["lat"], row["lon"]]
        points.append(at)
        color = "#ff7f00" if r.cross_support else "#1b9e77"
        folium.PolyLine([at, [case["lat"], case["lon"]]], color=color, weight=2,
                        dash_array="6 4").add_to(m)
        folium.CircleMarker(at, radius=7, color=color, fill=True, fill_opacity=0.9,
                            tooltip=html_text(f"{r.name} · {r.eta_min:.0f} min")).add_to(m)
    if len(points) > 1:
        m.fit_bounds(points, padding=(30, 30))
    return m


def render() -> None:
    page = state.open_page("dispatch")
    if page is None:
        return
    lang, settings, url, engine, version = (page.lang, page.settings, page.url, page.engine,
                                            page.version)
    ctx = _context(url, version)
    tz = ZoneInfo(settings.timezone)
    names = ctx["names"]
    scope = page.scope
    actor = scope.actor
    now = store.utcnow()
    cases = store.cases_frame(engine, scope=scope)
    mine_bodies = sorted(set(cases["body_code"].dropna()))  # the bodies of cases in scope
    body = st.sidebar.selectbox(t("my_body", lang), ["", *mine_bodies], key="d_body",
                                format_func=lambda b: names.get(b, b) if b
                                else t("all_bodies", lang))
    mine = cases if not body else cases[cases["body_code"] == body]
    todo = queue(mine, now)

    st.subheader(t("queue", lang))
    if todo.empty:
        st.info(t("empty_queue", lang))
        return
    view = pd.DataFrame({
        t("case_id", lang): todo["id"],
        t("severity", lang): todo["severity"].map(lambda s: t("severity_" + s, lang)),
        t("status", lang): todo["status"].map(lambda s: t("status_" + s, lang)),
        t("matter", lang): todo["matter_name"].fillna(todo["matter_code"]),
        t("township", lang): todo["township_name"],
        t("body", lang): todo["body_code"],
        t("deadline", lang): todo["deadline_at"].dt.tz_localize("UTC").dt.tz_convert(tz)
        .dt.strftime("%m-%d %H:%M"),
        t("overdue_flag", lang): todo["overdue"].map({True: "⚠", False: ""}),
    })
    st.dataframe(view, hide_index=True, height=240)
    overdue = todo[todo["overdue"]]
    if not body and len(overdue):
        with st.expander(f"{t('escalation', lang)} ({len(overdue)})"):
            st.dataframe(view[todo["overdue"].to_numpy()], hide_index=True)

    ids = todo["id"].tolist()
    labels = dict(zip(todo["id"], todo["matter_name"].fillna("-"), strict=True))
    case_id = st.selectbox(t("pick_case", lang), ids, key="d_case",
                           format_func=lambda i: f"#{i} {labels.get(i, '')}")
    case = todo[todo["id"] == case_id].iloc[0]
    x, y = to_metric(case["lon"], case["lat"], ctx["metric"])
    teams = dispatching.teams_frame(engine, ctx["metric"], scope=scope)
    may_assign = scope.allows("cases", "change") and scope.allows("teams", "change")
    responsible = case["body_code"]
    recs = recommend(
        float(x), float(y), responsible, ctx["domains"].get(case["matter_code"]), teams, now,
        neighbours=neighbour_bodies(case["township_code"], ctx["adjacency"], ctx["centers"],
                                    ctx["district"].get(case["matter_code"]), responsible),
        body_kinds=ctx["kinds"], roads=ctx["roads"])

    left, right = st.columns([3, 2])
    with left:
        st_folium(_map(case, recs, teams, ctx["townships"], lang), key=f"d_map_{case_id}",
                  height=420, returned_objects=[], use_container_width=True)
    with right:
        st.markdown(f"**#{case['id']} {md(case['matter_name'], text(case['matter_code']))}** · "
                    f"{t('status_' + case['status'], lang)} · "
                    f"{t('severity_' + case['severity'], lang)}  \n"
                    f"{md(case['township_name'])} · {md(names.get(responsible, responsible))}")
        st.markdown("\n".join(f"- {md(r)}" for r in case["reasons"]))

    st.subheader(t("recommended", lang))
    if not recs:
        st.info(t("no_team", lang))
    for r in recs:
        cols = st.columns([3, 2, 2, 2, 2, 1])
        cols[0].markdown(f"**{md(r.name)}** ({md(r.team_id)})"
                         + (f" · :orange[{t('cross_support', lang)}]" if r.cross_support else ""))
        cols[1].markdown(f"{t('distance', lang)} {r.distance_m / 1000:.1f} km")
        cols[2].markdown(f"{t('eta', lang)} {r.eta_min:.0f} {t('minutes', lang)} "
                         f"({t('by_road' if r.by_road else 'straight', lang)})")
        cols[3].markdown(f"{t('open_jobs', lang)} {r.open_assignments}")
        age = (t("no_fix", lang) if r.fix_age_min is None
               else f"{r.fix_age_min:.0f} {t('minutes', lang)}")
        cols[4].markdown(f"{t('fix_age', lang)} {age}"
                         + (f" · :red[{t('stale', lang)}]" if r.stale else ""))
        team_version = int(teams.loc[teams["team_id"] == r.team_id, "version"].iloc[0])
        clicked = may_assign and cols[5].button(t("assign", lang),
                                                key=f"assign_{case_id}_{r.team_id}")
        if clicked and _run(lambda r=r, v=team_version: dispatching.assign(
                engine, int(case["id"]), int(case["version"]), r.team_id, v, actor,
                scope=scope), lang):
            st.rerun()

    targets = sorted(TRANSITIONS[case["status"]] - {"dispatched", "merged"}
                     if scope.may_change else ())
    if not scope.allows("cases", "reroute"):
        targets = [x for x in targets if x != "routed"]
    if targets:
        st.subheader(t("case_actions", lang))
        c1, c2, c3, c4 = st.columns([2, 2, 3, 1])
        target = c1.selectbox(t("to_state", lang), targets, key=f"d_target_{case_id}",
                              format_func=lambda s: t("status_" + s, lang))
        extra = None
        if target == "routed":
            extra = c2.selectbox(t("body", lang), sorted(names), key=f"d_body_{case_id}",
                                 format_func=lambda b: names.get(b, b))
        elif target == "transferred":
            near = ctx["adjacency"].get(case["township_code"] or "", [])
            township_names = ctx["township_names"]
            extra = c2.selectbox(t("township", lang), near, key=f"d_town_{case_id}",
                                 format_func=lambda c: township_names.get(c, c))
        elif target == "rectification":
            extra = c2.number_input(t("fix_days", lang), min_value=1, max_value=365, value=15,
                                    key=f"d_days_{case_id}")
        reason = c3.text_input(t("reason", lang), key=f"d_reason_{case_id}")
        if c4.button("OK", key=f"d_go_{case_id}") and _run(lambda: _move(
                engine, case, target, scope, reason, extra, ctx), lang):
            st.rerun()

    metric_cases = cases.assign(**dict(zip(("x", "y"), to_metric(
        cases["lon"].to_numpy(float), cases["lat"].to_numpy(float), ctx["metric"]),
        strict=True)))
    dups = duplicate_candidates(metric_cases[metric_cases["id"] == case_id].iloc[0],
                                metric_cases)
    if len(dups):
        st.markdown(f"**{t('duplicates', lang)}**")
        for d in dups.itertuples(index=False):
            c1, c2 = st.columns([4, 1])
            c1.markdown(f"#{d.id} · {d.distance_m:.0f} m · {t('status_' + d.status, lang)}")
            if scope.may_change and c2.button(f"{t('merge_into', lang)} #{d.id}",
                                              key=f"merge_{case_id}_{d.id}") \
                    and _run(lambda d=d: dispatching.merge_case(
                        engine, int(case["id"]), int(case["version"]), int(d.id), actor,
                        scope=scope),
                        lang):
                st.rerun()

    assigned = [a for a in dispatching.assignments_of(engine, int(case_id), scope=scope)
                if a.status in dispatching.ACTIVE and a.team_id in set(teams["team_id"])]
    if assigned:
        st.subheader(t("team_actions", lang))
    for a in assigned:
        row = teams[teams["team_id"] == a.team_id].iloc[0]
        nexts = {"dispatched": "en_route", "en_route": "on_scene", "on_scene": "available"}
        target = nexts.get(row["status"]) if scope.allows("teams", "change") else None
        c1, c2 = st.columns([4, 1])
        c1.markdown(f"{md(row['name'])} · {t('team_' + row['status'], lang)}")
        if target and c2.button(t("team_" + target, lang), key=f"team_{a.id}_{target}") \
                and _run(lambda row=row, target=target: dispatching.set_team_status(
                    engine, row["team_id"], int(row["version"]), target, actor, scope=scope),
                    lang):
            st.rerun()

    st.subheader(t("timeline", lang))
    state.show_timeline(page, int(case_id))


def _move(engine, case, target: str, scope: Scope, reason: str, extra, ctx: dict) -> None:
    """Carry out a case action chosen on the page (the rules live in geo.cases; the store
    checks the user's scope)."""
    cid, version, actor = int(case["id"]), int(case["version"]), scope.actor
    if target == "returned":
        dispatching.return_case(engine, cid, version, actor, reason, scope=scope)
    elif target == "routed":
        dispatching.reroute_case(engine, cid, version, extra, actor, scope=scope)
    elif target == "transferred":
        if not extra:
            raise ValueError("no neighbouring township to transfer to")
        dispatching.transfer_case(engine, cid, version, extra,
                                  ctx["township_names"].get(extra, extra), actor, reason,
                                  scope=scope)
    elif target == "rectification":
        deadline = store.utcnow() + dt.timedelta(days=int(extra))
        dispatching.transition_case(engine, cid, version, target, actor,
                                    reason or f"限期 {int(extra)} 天整改", scope=scope,
                                    deadline_at=deadline)
    else:
        dispatching.transition_case(engine, cid, version, target, actor, reason,
                                    scope=scope)
