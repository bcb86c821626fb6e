"""派遣, the joint operation of a case (issue 14, practice 4): its lead and participating
bodies and observers, the participating bodies' teams, the items seized with their totals;
forms for the lead to invite bodies and observers, for a participating body to send its own
teams, and for either to record seized items.

The rules are `geo.jointops`, the scope checks `geo.store.jointops`: this section offers
only what the store says the user may do (`geo.store.jointops.operation`) and shows the
store's refusals in the user's language. Outside text goes through `geo.app.safe.md`.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from geo.app import state
from geo.app.labels import t
from geo.app.safe import md
from geo.app.wording import Names, error_text
from geo.cases import team_next_step
from geo.jointops import JOINING_KINDS, UNITS, quantity_text, yuan_text
from geo.store import dispatching, jointops
from geo.store.dispatching import ConflictError

NOTICE = "jo_notice"


def _run(action, done: str, lang: str, names: Names) -> bool:
    """Run a write chosen in the section (a callback) and keep what happened for the next
    run to show."""
    try:
        action()
    except ConflictError:
        st.session_state[NOTICE] = ("warning", t("err_conflict", lang))
        return False
    except (ValueError, LookupError, PermissionError) as exc:
        st.session_state[NOTICE] = ("error", error_text(exc, lang, names))
        return False
    st.session_state[NOTICE] = ("success", done)
    return True


def mine(page: state.Page, cases: pd.DataFrame, names: Names) -> None:
    """The open joint operations led by another body that the user's body takes part in,
    each linking to the case on this page (where the user sends teams and records items)."""
    lang = page.lang
    ids = set(jointops.joined_cases(page.engine, scope=page.scope))
    if not ids:
        return
    joined = cases[cases["id"].isin(ids) & ~cases["status"].isin(["closed", "merged"])]
    if joined.empty:
        return
    st.subheader(t("jo_mine", lang))
    view = pd.DataFrame({
        t("case_id", lang): joined["id"],
        t("status", lang): joined["status"].map(lambda s: t("status_" + s, lang)),
        t("matter", lang): joined["matter_name"].fillna(joined["matter_code"]),
        t("township", lang): joined["township_name"],
        t("jo_lead", lang): joined["body_code"].map(lambda b: names.bodies.get(b, b)),
        t("jo_open", lang): [f"dispatch?case={i}" for i in joined["id"]],
    })
    st.dataframe(view, hide_index=True, key="jo_mine_table", column_config={
        t("jo_open", lang): st.column_config.LinkColumn(display_text=t("jo_open", lang))})


def section(page: state.Page, case: pd.Series, names: Names, *, team_steps: bool) -> None:
    """The joint operation of ``case`` and what the user may do on it.

    Parameters
    ----------
    page : state.Page
        The page, with the user's scope.
    case : pandas.Series
        The case (a row of `geo.store.cases_frame`).
    names : Names
        Names of bodies and teams.
    team_steps : bool
        Offer the next step of the user's own teams on the case here (where the page does
        not already: the case shown read-only to a participating body).
    """
    lang, cid, engine, scope = page.lang, int(case["id"]), page.engine, page.scope
    try:
        op = jointops.operation(engine, cid, scope=scope)
    except (LookupError, PermissionError):
        return
    busy = op["participants"] or op["observers"] or op["items"]
    if not busy and not op["may_invite"]:
        return
    st.subheader(t("jo_title", lang))
    notice = st.session_state.pop(NOTICE, None)
    if notice is not None:
        {"success": st.success, "warning": st.warning}.get(notice[0], st.error)(notice[1])
    st.caption(t("jo_intro", lang))
    none = t("jo_none", lang)
    st.markdown(
        f"**{t('jo_lead', lang)}**：{names.body(op['lead'])}  \n"
        f"**{t('jo_participants', lang)}**："
        f"{'、'.join(names.body(p['body_code']) for p in op['participants']) or none}  \n"
        f"**{t('jo_observers', lang)}**："
        f"{'、'.join(md(o['name']) for o in op['observers']) or none}")
    if op["participants"] and not op["may_invite"] and op["status"] not in ("closed", "merged"):
        st.caption(t("jo_lead_only", lang))
    _teams(page, op, names, team_steps)
    if op["may_invite"]:
        _invite(page, op, names)
    _items(page, op, names)


def _teams(page: state.Page, op: dict, names: Names, team_steps: bool) -> None:
    """The participating bodies' teams on the case, a step button for the user's own
    (``team_steps``), and the form sending one more."""
    lang, cid = page.lang, op["case_id"]
    st.markdown(f"**{t('jo_teams', lang)}**")
    theirs = [a for a in op["teams"] if a["body_code"] != op["lead"]]
    if not theirs:
        st.caption(t("jo_no_teams", lang))
    mine = dispatching.teams_frame(page.engine, None, scope=page.scope).set_index("team_id")
    for a in theirs:
        done = a["status"] not in dispatching.ACTIVE
        shown = t(f"jo_a_{a['status']}" if done else f"team_{a['status']}", lang)
        now = (mine.loc[a["team_id"], "status"] if a["team_id"] in mine.index and not done
               else None)
        c1, c2 = st.columns([4, 1])
        c1.markdown(t("jo_team_row", lang).format(team=names.team(a["team_id"]),
                                                  body=names.body(a["body_code"]),
                                                  status=shown))
        target = team_next_step(now) if now and team_steps else None
        if target and page.scope.allows("teams", "change"):
            row = mine.loc[a["team_id"]]
            c2.button(t("team_" + target, lang), key=f"jo_team_{cid}_{a['team_id']}_{target}",
                      on_click=_run, kwargs={
                          "action": partial(dispatching.set_team_status, page.engine,
                                            a["team_id"], int(row["version"]), target,
                                            page.scope.actor, scope=page.scope),
                          "done": t("done_team", lang).format(
                              team=names.team(a["team_id"]), state=t("team_" + target, lang)),
                          "lang": lang, "names": names})
    if not op["team_bodies"]:
        return
    free = mine[(mine["status"] == "available") & mine["body_code"].isin(op["team_bodies"])]
    if free.empty:
        st.caption(t("jo_no_free_team", lang))
        return
    c1, c2 = st.columns([4, 1])
    team = c1.selectbox(t("jo_send", lang), list(free.index), key=f"jo_send_{cid}",
                        format_func=names.team)
    c2.button(t("jo_send_do", lang), key=f"jo_send_do_{cid}", on_click=_run, kwargs={
        "action": partial(jointops.assign_team, page.engine, cid, team,
                          int(free.loc[team, "version"]), scope=page.scope),
        "done": t("jo_done_send", lang).format(team=names.team(team)),
        "lang": lang, "names": names})


def _invite(page: state.Page, op: dict, names: Names) -> None:
    """The lead's forms: invite a body, add an observer by name."""
    lang, cid = page.lang, op["case_id"]
    bodies = state.catalog(page.url, page.version).bodies
    on = {p["body_code"] for p in op["participants"]} | {op["lead"]}
    choices = [b for b, k in zip(bodies["code"], bodies["kind"], strict=True)
               if k in JOINING_KINDS and b not in on]
    c1, c2 = st.columns([4, 1])
    body = c1.selectbox(t("jo_invite", lang), choices, index=None, key=f"jo_body_{cid}",
                        placeholder=t("choose", lang),
                        format_func=lambda b: names.bodies.get(b, b))
    c2.button(t("jo_invite_do", lang), key=f"jo_invite_do_{cid}", disabled=body is None,
              on_click=_run, kwargs={
                  "action": partial(jointops.add_participant, page.engine, cid, body,
                                    scope=page.scope),
                  "done": t("jo_done_join", lang).format(body=names.body(body), case=cid),
                  "lang": lang, "names": names})
    c1, c2 = st.columns([4, 1])
    c1.text_input(t("jo_observer_add", lang), key=f"jo_obs_{cid}", max_chars=60)
    c2.button(t("jo_observer_do", lang), key=f"jo_obs_do_{cid}", on_click=_observer,
              kwargs={"page": page, "cid": cid, "names": names})


def _observer(page: state.Page, cid: int, names: Names) -> None:
    name = st.session_state.get(f"jo_obs_{cid}", "")
    if _run(partial(jointops.add_observer, page.engine, cid, name, scope=page.scope),
            t("jo_done_observer", page.lang).format(name=md(" ".join(str(name).split()))),
            page.lang, names):
        st.session_state[f"jo_obs_{cid}"] = ""


def _items(page: state.Page, op: dict, names: Names) -> None:
    """The items seized on the case with their totals, and the form recording one more."""
    lang, cid = page.lang, op["case_id"]
    st.markdown(f"**{t('jo_seized', lang)}**")
    items = op["items"]
    if not items:
        st.caption(t("jo_no_items", lang))
    else:
        frame = pd.DataFrame(items)
        st.dataframe(pd.DataFrame({
            t("jo_item", lang): frame["item"],
            t("jo_quantity", lang): [f"{quantity_text(q)} {u}" for q, u in zip(
                frame["quantity"], frame["unit"], strict=True)],
            t("jo_value_yuan", lang): [yuan_text(v, lang) for v in frame["value_fen"]],
            t("jo_note", lang): frame["note"],
            t("jo_by", lang): frame["body_code"].map(lambda b: names.bodies.get(b, b)),
        }), hide_index=True, key=f"jo_items_{cid}")
        total = op["totals"]
        quantities = "、".join(f"{quantity_text(q)} {u}" for u, q in total.by_unit.items())
        st.markdown("**" + md(t("jo_total", lang).format(
            lines=total.lines, quantities=quantities,
            value=yuan_text(total.value_fen, lang))) + "**")
    if not op["may_seize"]:
        return
    with st.form(f"jo_item_form_{cid}", clear_on_submit=True):
        st.markdown(t("jo_add_item", lang))
        c1, c2, c3, c4 = st.columns([3, 1, 1, 2])
        c1.text_input(t("jo_item", lang), key=f"jo_it_{cid}", max_chars=100)
        c2.number_input(t("jo_quantity", lang), min_value=0.0, value=1.0, step=1.0,
                        key=f"jo_qty_{cid}")
        c3.selectbox(t("jo_unit", lang), UNITS, key=f"jo_unit_{cid}")
        c4.number_input(t("jo_value_yuan", lang), min_value=0.0, value=0.0, step=1000.0,
                        format="%.2f", key=f"jo_val_{cid}")
        st.text_input(t("jo_note", lang), key=f"jo_note_{cid}", max_chars=200)
        st.form_submit_button(t("jo_save_item", lang), key=f"jo_item_save_{cid}",
                              on_click=_seize,
                              kwargs={"page": page, "cid": cid, "names": names})


def _seize(page: state.Page, cid: int, names: Names) -> None:
    got = st.session_state
    raw = {"item": got.get(f"jo_it_{cid}", ""), "quantity": got.get(f"jo_qty_{cid}"),
           "unit": got.get(f"jo_unit_{cid}"),
           "value_yuan": round(float(got.get(f"jo_val_{cid}") or 0), 2),
           "note": got.get(f"jo_note_{cid}", "")}
    _run(partial(jointops.add_seizures, page.engine, cid, [raw], scope=page.scope),
         t("jo_done_item", page.lang).format(item=md(" ".join(str(raw["item"]).split()))),
         page.lang, names)
