"""审批监管: 两单融合 (one record per matter joining the power and responsibility lists, for a
township on a day), the supervision tasks opened by approvals (and recording their visit),
referrals between bodies (移送: refer a case, acknowledge one, see the overdue ones) and the
notices (抄告) sent to approving departments when an escalated case is closed."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from geo.app import state
from geo.app.coverage_page import downloads
from geo.app.labels import t, text
from geo.app.safe import md
from geo.app.wording import error_text, local_time
from geo.handoff import twin_list
from geo.store import cases_frame, utcnow
from geo.store.handoff import (
    acknowledge_referral,
    copy_notices_frame,
    own_bodies,
    powers_frame,
    record_supervision,
    refer_case,
    referrals_frame,
    tasks_frame,
)
from geo.store.inspecting import checklists

NOTICE = "ho_notice"
#: case states a referral may start from (those that may become transferred)
REFERABLE = ("routed", "verified")


def render() -> None:
    page = state.open_page("handoff")
    if page is None:
        return
    lang, scope = page.lang, page.scope
    names = state.names(page.url, page.version, scope)
    catalog = state.catalog(page.url, page.version)
    now = utcnow()
    referrals = referrals_frame(page.engine, now, scope=scope)
    late = int((referrals["state"] == "escalated").sum())
    if late and scope.allows("referrals", "escalate"):
        st.error(t("ho_escalated_banner", lang).format(n=late))
    notice = st.session_state.pop(NOTICE, None)
    twin, tasks, refs, notices = st.tabs([t("ho_twin", lang), t("ho_tasks", lang),
                                          t("ho_referrals", lang), t("ho_notices", lang)])
    matter_names = dict(zip(catalog.matters["code"], catalog.matters["name"], strict=True))
    with twin:
        _twin(page, catalog, names)
    with tasks:
        _tasks(page, names, matter_names, notice)
    with refs:
        _referrals(page, referrals, names, matter_names, notice)
    with notices:
        _notices(page, names, matter_names)


# ----------------------------------------------------------------------------- 两单
def _twin(page: state.Page, catalog, names) -> None:
    lang = page.lang
    st.caption(t("ho_twin_help", lang))
    towns = sorted(names.townships)
    if page.scope.township in towns:  # township staff: their own first
        towns.remove(page.scope.township)
        towns.insert(0, page.scope.township)
    c1, c2 = st.columns(2)
    town = c1.selectbox(t("township", lang), towns, key="ho_town",
                        format_func=lambda c: names.townships.get(c, c))
    day = c2.date_input(t("ho_day", lang), dt.datetime.now(page.tz).date(), key="ho_day")
    powers = powers_frame(page.engine, scope=page.scope)
    if powers.empty:
        st.info(t("ho_no_powers", lang))
    joined = twin_list(catalog, powers, town, day)

    def penalty(low, high) -> str:
        if pd.isna(low) and pd.isna(high):
            return "-"
        return f"{0 if pd.isna(low) else low:,.0f} – {'' if pd.isna(high) else f'{high:,.0f}'}"

    view = pd.DataFrame({
        t("matter", lang): joined["matter_name"] + "（" + joined["matter_code"] + "）",
        t("domain", lang): joined["domain"],
        t("ho_permit", lang): joined["permit"].map(text),
        t("ho_basis", lang): joined["legal_basis"].map(text),
        t("ho_approving", lang): joined["approving_department"].map(text),
        t("ho_penalty", lang): [penalty(lo, hi) for lo, hi in zip(
            joined["penalty_min_yuan"], joined["penalty_max_yuan"], strict=True)],
        t("ho_supervising", lang): joined["supervising_department"].map(text),
        t("ho_sup_days", lang): joined["supervision_days"],
        t("ho_enforcing", lang): [names.bodies.get(b, b) for b in joined["body_code"]],
        t("ho_since", lang): [s.isoformat() if s else t("ho_district", lang)
                              for s in joined["since"]],
    })
    st.dataframe(view, hide_index=True)
    downloads(view, f"twin_list_{town}_{day:%Y%m%d}", lang)


# ---------------------------------------------------------------- supervision tasks
def _tasks(page: state.Page, names, matter_names: dict, notice) -> None:
    lang, scope = page.lang, page.scope
    today = dt.datetime.now(page.tz).date()
    tasks = tasks_frame(page.engine, today, scope=scope)
    if tasks.empty:
        st.info(t("ho_no_tasks", lang))
        return
    view = pd.DataFrame({
        "#": tasks["id"],
        t("site", lang): [names.sites.get(s) or text(n) for s, n in zip(
            tasks["site_id"], tasks["site_name"], strict=True)],
        t("township", lang): [names.townships.get(c, text(c)) for c in tasks["township_code"]],
        t("ho_permit", lang): tasks["permit"].map(text),
        t("matter", lang): tasks["matter_code"].map(lambda c: matter_names.get(c, c)),
        t("ho_approving", lang): tasks["approving_department"],
        t("ho_supervising", lang): tasks["department"],
        t("ho_granted", lang): tasks["granted_on"].astype(str),
        t("ho_due", lang): tasks["due_on"].astype(str),
        t("ho_state", lang): tasks["state"].map(lambda s: t(f"ho_task_{s}", lang)),
        t("ho_cases", lang): tasks["case_ids"].map(
            lambda ids: "、".join(f"#{i}" for i in ids) or "-"),
    })
    st.dataframe(view, hide_index=True)
    downloads(view, "supervision_tasks", lang)
    if not scope.allows("supervision", "change") or not scope.allows("inspections", "change"):
        return
    todo = tasks[tasks["inspection_id"].isna()]
    st.subheader(t("ho_visit", lang))
    state.show_notice(notice, "visit")
    if todo.empty:
        return
    labels = {int(r.id): f"#{r.id} {names.sites.get(r.site_id) or text(r.site_name)} · "
                         f"{r.department} · {t('ho_due', lang)} {r.due_on}"
              for r in todo.itertuples(index=False)}
    task_id = st.selectbox(t("ho_pick_task", lang), list(labels), key="ho_task",
                           format_func=labels.get)
    task = todo.set_index("id").loc[task_id]
    layers = state.layers(page.url, page.version, scope)
    kinds = {} if layers.sites is None else dict(zip(layers.sites["site_id"],
                                                     layers.sites["kind"], strict=True))
    items = checklists(page.engine, scope=scope)
    mine = items[items["kind"] == kinds.get(task["site_id"])]
    if (mine["department"] == task["department"]).any():
        mine = mine[mine["department"] == task["department"]]
    if mine.empty:
        st.info(t("ho_no_items", lang))
        return
    boxes = {}
    for row in mine.itertuples(index=False):
        boxes[row.item_code] = f"ho_{task_id}_{row.item_code}"
        st.checkbox(f"{md(row.item)}（{md(row.department)}）", key=boxes[row.item_code])
    st.date_input(t("inspection_day", lang), today, key="ho_visit_day")
    st.button(t("save", lang), key="ho_save_visit", on_click=_save_visit,
              kwargs={"page": page, "task_id": task_id, "boxes": boxes})


def _save_visit(page: state.Page, task_id: int, boxes: dict[str, str]) -> None:
    got, lang = st.session_state, page.lang
    findings = [{"item_code": code, "result": "problem" if got.get(key) else "pass"}
                for code, key in boxes.items()]
    try:
        iid = record_supervision(page.engine, task_id,
                                 got.get("ho_visit_day") or dt.datetime.now(page.tz).date(),
                                 findings, scope=page.scope)
    except (ValueError, LookupError, PermissionError) as exc:
        got[NOTICE] = ("visit", "error", error_text(exc, lang))
        return
    for key in boxes.values():
        got[key] = False
    got[NOTICE] = ("visit", "success", t("ho_visit_saved", lang).format(
        task=task_id, id=iid, problems=sum(f["result"] == "problem" for f in findings)))


# --------------------------------------------------------------------------- referrals
def _referrals(page: state.Page, referrals: pd.DataFrame, names, matter_names: dict,
               notice) -> None:
    lang, scope = page.lang, page.scope
    if referrals.empty:
        st.info(t("ho_no_referrals", lang))
    else:
        view = pd.DataFrame({
            "#": referrals["id"],
            t("ho_case", lang): referrals["case_id"].map(lambda i: f"#{i}"),
            t("matter", lang): referrals["matter_code"].map(lambda c: matter_names.get(c, c)),
            t("ho_from", lang): referrals["from_body"].map(lambda b: names.bodies.get(b, b)),
            t("ho_to", lang): referrals["to_body"].map(lambda b: names.bodies.get(b, b)),
            t("ho_reason", lang): referrals["reason"],
            t("ho_referred_at", lang): referrals["referred_at"].map(
                lambda v: local_time(v, page.tz)),
            t("ho_ack_due", lang): referrals["due_at"].map(lambda v: local_time(v, page.tz)),
            t("ho_acked", lang): [f"{local_time(a, page.tz)} {text(b, '')}".strip()
                                  if not pd.isna(a) else "-" for a, b in zip(
                                      referrals["acknowledged_at"],
                                      referrals["acknowledged_by"], strict=True)],
            t("ho_state", lang): referrals["state"].map(lambda s: t(f"ho_ref_{s}", lang)),
        })
        st.dataframe(view, hide_index=True)
    if not scope.may_change:
        return
    mine = own_bodies(page.engine, scope=scope)
    waiting = referrals[referrals["state"].isin(["pending", "overdue", "escalated"])]
    if mine is not None:
        waiting = waiting[waiting["to_body"].isin(mine)]
    st.subheader(t("ho_acknowledge", lang))
    state.show_notice(notice, "ack")
    if len(waiting):
        labels = {int(r.id): f"#{r.id} · {t('ho_case', lang)} #{r.case_id} · "
                             f"{names.bodies.get(r.to_body, r.to_body)} · "
                             f"{t(f'ho_ref_{r.state}', lang)}"
                  for r in waiting.itertuples(index=False)}
        rid = st.selectbox(t("ho_ack_pick", lang), list(labels), key="ho_ack",
                           format_func=labels.get)
        case_id = int(waiting.set_index("id").loc[rid, "case_id"])
        st.button(t("ho_acknowledge", lang), key="ho_ack_btn", on_click=_acknowledge,
                  kwargs={"page": page, "referral": rid, "case_id": case_id})
    st.subheader(t("ho_refer", lang))
    state.show_notice(notice, "refer")
    cases = cases_frame(page.engine, scope=scope)
    cases = cases[cases["status"].isin(REFERABLE)].sort_values("id", ascending=False)
    if cases.empty:
        st.info(t("ho_no_referable", lang))
        return
    labels = {int(r.id): f"#{r.id} {matter_names.get(r.matter_code, text(r.matter_code))} · "
                         f"{names.bodies.get(r.body_code, text(r.body_code))}"
              for r in cases.head(500).itertuples(index=False)}
    case_id = st.selectbox(t("ho_refer_case", lang), list(labels), key="ho_ref_case",
                           format_func=labels.get)
    case = cases.set_index("id").loc[case_id]
    table = state.catalog(page.url, page.version).bodies
    bodies = [b for b, k in zip(table["code"], table["kind"], strict=True)
              if k != "command_center" and b != case["body_code"]]
    st.selectbox(t("ho_refer_to", lang), bodies, key="ho_ref_to",
                 format_func=lambda b: names.bodies.get(b, b))
    st.text_input(t("ho_reason", lang), key="ho_ref_reason")
    st.button(t("ho_refer", lang), key="ho_ref_btn", on_click=_refer,
              kwargs={"page": page, "case_id": case_id, "version": int(case["version"]),
                      "names": names})


def _acknowledge(page: state.Page, referral: int, case_id: int) -> None:
    got, lang = st.session_state, page.lang
    try:
        acknowledge_referral(page.engine, referral, scope=page.scope)
    except (ValueError, LookupError, PermissionError, RuntimeError) as exc:
        got[NOTICE] = ("ack", "error", error_text(exc, lang))
        return
    got[NOTICE] = ("ack", "success", t("ho_ack_saved", lang).format(id=referral,
                                                                      case=case_id))


def _refer(page: state.Page, case_id: int, version: int, names) -> None:
    got, lang = st.session_state, page.lang
    body = got.get("ho_ref_to")
    try:
        rid = refer_case(page.engine, case_id, version, body, got.get("ho_ref_reason") or "",
                         scope=page.scope, tz=page.tz,
                         working_days=page.settings.referral_ack_days)
    except (ValueError, LookupError, PermissionError, RuntimeError) as exc:
        got[NOTICE] = ("refer", "error", error_text(exc, lang, names))
        return
    got["ho_ref_reason"] = ""
    due = referrals_frame(page.engine, utcnow(), scope=page.scope).set_index("id")
    when = local_time(due.loc[rid, "due_at"], page.tz) if rid in due.index else "-"
    got[NOTICE] = ("refer", "success", t("ho_refer_saved", lang).format(
        case=case_id, body=names.bodies.get(body, body), due=when))


# ----------------------------------------------------------------------------- 抄告
def _notices(page: state.Page, names, matter_names: dict) -> None:
    lang = page.lang
    frame = copy_notices_frame(page.engine, scope=page.scope)
    if frame.empty:
        st.info(t("ho_no_notices", lang))
        return
    view = pd.DataFrame({
        t("ho_notice_at", lang): frame["at"].map(lambda v: local_time(v, page.tz)),
        t("ho_notice_to", lang): frame["department"],
        t("ho_case", lang): frame["case_id"].map(lambda i: f"#{i}"),
        t("ho_task", lang): frame["task_id"].map(lambda i: f"#{i}"),
        t("site", lang): frame["site_id"].map(lambda s: names.sites.get(s, s)),
        t("ho_permit", lang): frame["permit"].map(text),
        t("matter", lang): frame["matter_code"].map(lambda c: matter_names.get(c, c)),
        t("township", lang): frame["township_code"].map(
            lambda c: names.townships.get(c, text(c))),
    })
    st.dataframe(view, hide_index=True)
    downloads(view, "copy_notices", lang)
