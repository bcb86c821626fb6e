"""派遣: a dispatcher's queue, the selected case with its recommended teams on a map,
one-click assignment, state buttons through the lifecycle, and the case timeline."""

from __future__ import annotations

import datetime as dt
from functools import partial
from zoneinfo import ZoneInfo

import folium
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo import store
from geo.access import Scope
from geo.app import auth, case_files, jointops_section, mapview, state
from geo.app.assets import local_assets
from geo.app.labels import cells, t, text
from geo.app.safe import html_text, md
from geo.app.wording import Names, describe, error_text
from geo.cases import (
    NEEDS_REASON,
    RECTIFICATION_DAYS,
    case_steps,
    dispatch_refusal,
    duplicate_candidates,
    queue,
    rectification_deadline,
    step_action,
    team_next_step,
)
from geo.crs import to_metric
from geo.dispatch import neighbour_bodies, recommend, township_adjacency, transfer_choices
from geo.store import dispatching
from geo.store.dispatching import ConflictError


@st.cache_resource(max_entries=2, show_spinner=False)
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


NOTICE = "d_notice"


def _notify(kind: str, message: str, case_id: int | None = None) -> None:
    """Keep a message for the next run of the page (actions run as callbacks, before it)."""
    st.session_state[NOTICE] = (kind, message, case_id)


def _show_notice(lang: str, queued: list[int]) -> None:
    """Show the message of the last action once: in place and as a toast."""
    notice = st.session_state.pop(NOTICE, None)
    if notice is None:
        return
    kind, message, case_id = notice
    if kind == "success" and case_id is not None and case_id not in queued:
        message = f"{message}{'' if lang == 'zh' else ' '}{t('left_queue', lang)}"
    {"success": st.success, "warning": st.warning}.get(kind, st.error)(message)
    st.toast(message, icon={"success": ":material/check_circle:",
                            "warning": ":material/warning:"}.get(kind, ":material/error:"))


def _conflict(engine, case_id: int, seen_at: dt.datetime, exc: ConflictError, scope: Scope,
              lang: str, names: Names) -> str:
    """What happened to the case (or the team) while the user looked at it: who did what,
    from the case's latest audit entry."""
    try:
        entries = store.case_timeline(engine, case_id, scope=scope)
    except LookupError:  # it left the user's scope
        return t("taken_gone", lang).format(case=case_id)
    latest = entries[-1] if entries else None
    if latest is not None and pd.Timestamp(latest.at) >= pd.Timestamp(seen_at):
        return t("taken", lang).format(case=case_id, actor=names.user(latest.actor, lang),
                                       what=describe(latest, lang, names, actor=False))
    if exc.entity == "team":
        return t("team_taken", lang).format(team=names.team(exc.entity_id))
    return t("err_conflict", lang)


def _act(action, done: str, case_id: int, seen_at: dt.datetime, engine, scope: Scope,
         lang: str, names: Names) -> bool:
    """Run a write chosen on the page (a callback); keep its confirmation, or why it was
    refused, in the user's language, for the page to show."""
    try:
        action()
    except ConflictError as exc:
        _notify("warning", _conflict(engine, case_id, seen_at, exc, scope, lang, names),
                case_id)
        return False
    except (ValueError, LookupError, PermissionError) as exc:
        _notify("error", error_text(exc, lang, names), case_id)
        return False
    _notify("success", done, case_id)
    return True


def _map(case, recs, teams: pd.DataFrame, townships=None, lang: str = "zh") -> folium.Map:
    local_assets()
    m = mapview.new_map(location=[case["lat"], case["lon"]], zoom_start=13, tiles=None,
                        maxZoom=19, prefer_canvas=True)
    if townships is not None:
        mapview.township_outlines(townships, lang).add_to(m)
    mapview.selected_case(case["lat"], case["lon"], f"#{case['id']}").add_to(m)
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
    with state.working("dispatch"):
        ctx = _context(url, version)
    tz = ZoneInfo(settings.timezone)
    scope = page.scope
    now = store.utcnow()
    seen = store.cases_version(engine, scope=scope)  # before reading: a change after is seen
    _watch(engine, scope, seen, settings.refresh_s)
    cases = store.cases_frame(engine, scope=scope)
    teams = dispatching.teams_frame(engine, ctx["metric"], scope=scope)
    names = state.people(url, version, scope)
    mine_bodies = sorted(set(cases["body_code"].dropna()))  # the bodies of cases in scope
    # a dispatcher's queue is their body's: no choice to offer; others may narrow it
    body = scope.body or st.sidebar.selectbox(
        t("my_body", lang), ["", *mine_bodies], key="d_body",
        format_func=lambda b: names.bodies.get(b, b) if b else t("all_bodies", lang))
    mine = cases if not body else cases[cases["body_code"] == body]
    todo = queue(mine, now)

    shown = _case_from_url([int(i) for i in todo["id"]], [int(i) for i in cases["id"]], lang)
    if shown is not None:
        _read_only(page, cases[cases["id"] == shown].iloc[0], names)
    jointops_section.mine(page, cases, names)  # issue 14: joint operations led by others
    st.subheader(t("queue", lang))
    if todo.empty:
        _show_notice(lang, [])
        st.info(t("empty_queue", lang))
        return
    view = pd.DataFrame({
        t("case_id", lang): todo["id"],
        t("severity", lang): todo["severity"].map(lambda s: t("severity_" + s, lang)),
        t("status", lang): todo["status"].map(lambda s: t("status_" + s, lang)),
        t("matter", lang): todo["matter_name"].fillna(todo["matter_code"]),
        t("township", lang): todo["township_name"],
        t("body", lang): todo["body_code"].map(lambda b: names.bodies.get(b, b)),
        t("deadline", lang): todo["deadline_at"].dt.tz_localize("UTC").dt.tz_convert(tz)
        .dt.strftime("%m-%d %H:%M"),
        t("overdue_flag", lang): todo["overdue"].map({True: "⚠", False: ""}),
    })
    view = cells(view)  # an outside case has no township: "-", not None
    st.dataframe(view, hide_index=True, height=240)
    overdue = todo[todo["overdue"]]
    if len(overdue):
        with st.expander(f"{t('escalation', lang)} ({len(overdue)})"):
            st.dataframe(view[todo["overdue"].to_numpy()], hide_index=True)

    ids = [int(i) for i in todo["id"]]
    labels = dict(zip(ids, todo["matter_name"].fillna("-"), strict=True))
    case_id = st.selectbox(t("pick_case", lang), ids, key="d_case",
                           format_func=lambda i: f"#{i} {labels.get(i, '')}")
    _show_notice(lang, ids)
    case = todo[todo["id"] == case_id].iloc[0]
    x, y = to_metric(case["lon"], case["lat"], ctx["metric"])
    may_assign = scope.allows("cases", "change") and scope.allows("teams", "change")
    responsible = case["body_code"]
    recs = recommend(
        float(x), float(y), responsible, ctx["domains"].get(case["matter_code"]), teams, now,
        neighbours=neighbour_bodies(case["township_code"], ctx["adjacency"], ctx["centers"],
                                    ctx["district"].get(case["matter_code"]), responsible),
        body_kinds=ctx["kinds"], roads=ctx["roads"])
    # what every action of this run was chosen on: the case as read now
    act = {"case_id": case_id, "seen_at": now, "engine": engine, "scope": scope,
           "lang": lang, "names": names}

    left, right = st.columns([3, 2])
    mapview.fill_viewport()
    with left:
        st_folium(_map(case, recs, teams, ctx["townships"], lang), key=f"d_map_{case_id}",
                  height=420, returned_objects=[], use_container_width=True)
    with right:
        _summary(case, names, lang)

    st.subheader(t("recommended", lang))
    refusal = dispatch_refusal(case["status"], case["source"])
    if not recs:
        st.info(t("no_team", lang))
    elif refusal is not None and may_assign:
        st.info(f"{t('cannot_dispatch', lang)} {error_text(refusal, lang, names)}")
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
        if may_assign and refusal is None:
            team_version = int(teams.loc[teams["team_id"] == r.team_id, "version"].iloc[0])
            cols[5].button(t("assign", lang), key=f"assign_{case_id}_{r.team_id}",
                           on_click=_act, kwargs={
                               **act, "action": partial(
                                   dispatching.assign, engine, case_id, int(case["version"]),
                                   r.team_id, team_version, scope.actor, scope=scope),
                               "done": t("done_assign", lang).format(
                                   case=case_id, team=names.team(r.team_id))})

    steps = [s for s in case_steps(case["status"]) if scope.allows("cases", step_action(s))]
    if steps:
        st.subheader(t("case_actions", lang))
        for col, target in zip(st.columns(len(steps)), steps, strict=True):
            _step(col, case, target, act, ctx, lang)

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
            if scope.may_change:
                c2.button(f"{t('merge_into', lang)} #{d.id}", key=f"merge_{case_id}_{d.id}",
                          on_click=_act, kwargs={
                              **act, "action": partial(
                                  dispatching.merge_case, engine, case_id,
                                  int(case["version"]), int(d.id), scope.actor, scope=scope),
                              "done": t("done_merge", lang).format(case=case_id, into=d.id)})

    assigned = [a for a in dispatching.assignments_of(engine, case_id, scope=scope)
                if a.status in dispatching.ACTIVE and a.team_id in set(teams["team_id"])]
    if assigned:
        st.subheader(t("team_actions", lang))
    for a in assigned:
        row = teams[teams["team_id"] == a.team_id].iloc[0]
        target = team_next_step(row["status"]) if scope.allows("teams", "change") else None
        c1, c2 = st.columns([4, 1])
        c1.markdown(f"{md(row['name'])} · {t('team_' + row['status'], lang)}")
        if target:
            c2.button(t("team_" + target, lang), key=f"team_{a.id}_{target}", on_click=_act,
                      kwargs={**act, "action": partial(
                          dispatching.set_team_status, engine, row["team_id"],
                          int(row["version"]), target, scope.actor, scope=scope),
                          "done": t("done_team", lang).format(
                              team=names.team(row["team_id"]),
                              state=t("team_" + target, lang))})

    jointops_section.section(page, case, names, team_steps=False)  # issue 14

    st.subheader(t("evidence", lang))
    records = case_files.evidence(page, key=f"d_ev_{case_id}", may_attach=scope.may_change,
                                  case_id=case_id)
    case_files.sheet(page, case, records, names)

    st.subheader(t("timeline", lang))
    state.show_timeline(page, case_id)


def _case_from_url(queued: list[int], in_scope: list[int], lang: str) -> int | None:
    """Select the case the page's address names (``?case=ID``, from 接警 or a search), once.
    A case in the caller's scope (``in_scope``) but not in the queue shown (``queued``) is
    returned, to be shown read-only (`_read_only`); its address is kept until it is closed.
    Any other case is said not to be in the queue, whether or not it exists."""
    wanted = st.query_params.get("case")
    if wanted is None:
        return None
    case_id = int(wanted) if wanted.isascii() and wanted.isdigit() else None
    if case_id not in queued and case_id in in_scope:
        return case_id
    del st.query_params["case"]
    if case_id is None:
        st.warning(t("url_case_bad", lang).format(value=md(wanted[:40])))
    elif case_id in queued:
        st.session_state["d_case"] = case_id
    else:
        st.warning(t("url_case_missing", lang).format(case=case_id))
    return None


def _summary(case: pd.Series, names: Names, lang: str) -> None:
    """The case in short (number, matter, status, severity, township, responsible body by
    name) and the reasons it was routed so."""
    st.markdown(f"**#{case['id']} {md(case['matter_name'], text(case['matter_code']))}** · "
                f"{t('status_' + case['status'], lang)} · "
                f"{t('severity_' + case['severity'], lang)}  \n"
                f"{md(case['township_name'])} · {names.body(case['body_code'])}")
    st.markdown("\n".join(f"- {md(r)}" for r in case["reasons"]))


def _read_only(page: state.Page, case: pd.Series, names: Names) -> None:
    """A case of the caller's scope that is not in the queue shown (closed, merged, or
    another body's), opened from its address: why it is read-only, its summary and routing
    reasons, its evidence and its timeline, with no action on it; a button closes it."""
    lang, cid = page.lang, int(case["id"])
    with st.container(border=True):
        st.subheader(t("ro_title", lang).format(case=cid))
        why = {"closed": "ro_closed", "merged": "ro_merged"}.get(case["status"],
                                                                 "ro_elsewhere")
        st.info(t(why, lang).format(body=names.body(case["body_code"])))
        _summary(case, names, lang)
        jointops_section.section(page, case, names, team_steps=True)  # issue 14
        st.markdown(f"**{t('evidence', lang)}**")
        case_files.evidence(page, key=f"d_ro_ev_{cid}", may_attach=False, case_id=cid)
        st.markdown(f"**{t('timeline', lang)}**")
        state.show_timeline(page, cid)
        st.button(t("ro_close", lang), key=f"d_ro_close_{cid}",
                  on_click=lambda: st.query_params.pop("case", None))


def _watch(engine, scope: Scope, seen: tuple, every: float) -> None:
    """Reload the page when it is out of date (`_out_of_date`, checked every ``every``
    seconds); the selected case stays selected."""

    @st.fragment(run_every=every)
    def watch() -> None:
        if _out_of_date(engine, scope, seen):
            st.rerun()  # the whole app: the new queue, or the sign-in form

    watch()


def _out_of_date(engine, scope: Scope, seen: tuple) -> bool:
    """Whether the page shown with ``scope`` and cases at version ``seen`` needs a full
    run: the user was signed out, disabled or given another scope
    (`geo.app.auth.current_scope`), or a case in scope was added or changed
    (`geo.store.cases_version`)."""
    return (auth.current_scope(engine) != scope
            or store.cases_version(engine, scope=scope) != seen)


def _step(col, case: pd.Series, target: str, act: dict, ctx: dict, lang: str) -> None:
    """One button for moving the case to ``target``; where the step needs more (a reason:
    `geo.cases.NEEDS_REASON`, a body, a township, days to fix), the button opens a panel
    asking for it, with the button that confirms."""
    cid = int(case["id"])
    label = t("do_" + target, lang)
    kwargs = {"case": case, "target": target, "ctx": ctx, **act}
    if target not in NEEDS_REASON and target not in ("routed", "rectification"):
        col.button(label, key=f"d_step_{cid}_{target}", on_click=_move, kwargs=kwargs,
                   width="stretch")
        return
    with col.popover(label, width="stretch"):
        if target == "routed":
            bodies = ctx["names"]
            st.selectbox(t("reroute_to", lang), sorted(bodies), index=None,
                         placeholder=t("choose", lang), key=f"d_body_{cid}",
                         format_func=lambda b: bodies.get(b, b))
        elif target == "transferred":
            towns = ctx["township_names"]
            choices = dict(transfer_choices(case["township_code"], ctx["adjacency"],
                                            [c for c in towns if c in ctx["centers"]]))
            st.selectbox(t("transfer_to", lang), list(choices), index=None,
                         placeholder=t("choose", lang), key=f"d_town_{cid}",
                         format_func=lambda c: towns.get(c, c)
                         + (t("adjacent", lang) if choices[c] else ""))
        elif target == "rectification":
            st.number_input(t("fix_days", lang), min_value=1, max_value=365,
                            value=RECTIFICATION_DAYS, key=f"d_days_{cid}")
        if target in NEEDS_REASON:
            st.text_input(t("reason", lang), key=f"d_reason_{cid}_{target}")
        st.button(t("confirm_step", lang).format(step=label), key=f"d_step_{cid}_{target}",
                  type="primary", on_click=_move, kwargs=kwargs)


def _move(case: pd.Series, target: str, ctx: dict, case_id: int, seen_at: dt.datetime,
          engine, scope: Scope, lang: str, names: Names) -> None:
    """Carry out a case step chosen on the page, with what its panel asked for (the rules
    live in geo.cases; the store checks the user's scope); a callback."""
    cid, version, actor = int(case["id"]), int(case["version"]), scope.actor
    got = st.session_state
    reason = (got.get(f"d_reason_{cid}_{target}") or "").strip()
    done = t("done_step", lang).format(case=cid, state=t("status_" + target, lang))
    if target == "returned":
        command = next((c for c, k in ctx["kinds"].items() if k == "command_center"), None)
        done = t("done_returned", lang).format(case=cid, body=names.body(command))
        action = partial(dispatching.return_case, engine, cid, version, actor, reason,
                         scope=scope)
    elif target == "routed":
        body = got.get(f"d_body_{cid}")
        if not body:
            _notify("error", t("choose_body", lang), cid)
            return
        done = t("done_routed", lang).format(case=cid, body=names.body(body))
        action = partial(dispatching.reroute_case, engine, cid, version, body, actor,
                         scope=scope)
    elif target == "transferred":
        town = got.get(f"d_town_{cid}")
        if not town:
            _notify("error", t("choose_township", lang), cid)
            return
        done = t("done_transferred", lang).format(case=cid, township=names.township(town))
        action = partial(dispatching.transfer_case, engine, cid, version, town,
                         ctx["township_names"].get(town, town), actor, reason, scope=scope)
    elif target == "rectification":
        days = int(got.get(f"d_days_{cid}") or RECTIFICATION_DAYS)
        action = partial(dispatching.transition_case, engine, cid, version, target, actor,
                         reason, scope=scope, detail={"days": days},
                         deadline_at=rectification_deadline(store.utcnow(), days))
    else:
        action = partial(dispatching.transition_case, engine, cid, version, target, actor,
                         reason, scope=scope)
    if _act(action, done, case_id, seen_at, engine, scope, lang, names):
        for key in (f"d_reason_{cid}_{target}", f"d_body_{cid}", f"d_town_{cid}"):
            got.pop(key, None)
