"""集成改一次: record a joint inspection against the site's checklist, record the
re-inspection of open problems, and see the rates and the most frequent problems."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from geo.app import case_files, state
from geo.app.coverage_page import downloads
from geo.app.labels import cells, site_kind, t
from geo.app.safe import md
from geo.app.wording import error_text
from geo.inspections import (
    first_time_fixed_rate,
    frequent_problems,
    open_problems,
    rectification_plan,
    zero_problem_rate,
)
from geo.store.inspecting import (
    checklists,
    inspection_tables,
    record_inspection,
    record_reinspection,
)


def render() -> None:
    page = state.open_page("inspections")
    if page is None:
        return
    lang, url, engine, version = page.lang, page.url, page.engine, page.version
    scope = page.scope
    layers = state.layers(url, version, scope)
    items = checklists(engine, scope=scope)
    sites = layers.sites
    if sites is None or items.empty:
        st.info(t("no_data", lang))
        return
    findings, re = inspection_tables(engine, scope=scope)
    plan = rectification_plan(findings, items)
    kinds = dict(zip(sites["site_id"], sites["kind"], strict=True))
    c1, c2 = st.columns(2)
    c1.metric(t("first_time_fixed", lang), f"{first_time_fixed_rate(plan, re):.0%}"
              if len(plan) else "-")
    c2.metric(t("zero_problem", lang), f"{zero_problem_rate(plan, re):.0%}" if len(re) else "-")

    st.subheader(t("frequent", lang))
    top = frequent_problems(plan, kinds) if len(plan) else pd.DataFrame()
    if len(top):
        top = pd.DataFrame({
            t("department", lang): top["department"],
            t("site_kind", lang): top["kind"].map(lambda k: site_kind(k, lang)),
            t("item", lang): top["item"] + "（" + top["item_code"] + "）",
            t("problems_n", lang): top["count"],
        })
    st.dataframe(cells(top), hide_index=True)
    if len(top):
        downloads(top, "frequent_problems", lang)

    if not scope.allows("inspections", "change"):
        return
    notice = st.session_state.pop(NOTICE, None)
    st.subheader(t("new_inspection", lang))
    state.show_notice(notice, "inspection")
    names = dict(zip(sites["site_id"], sites["name"], strict=True))
    site = st.selectbox(t("pick_site", lang), list(names), key="i_site",
                        format_func=lambda s: f"{s} {names[s]}")
    st.date_input(t("inspection_day", lang), dt.datetime.now(page.tz).date(), key="i_day")
    todo = items[items["kind"] == kinds[site]]
    boxes = {}
    for row in todo.itertuples(index=False):
        boxes[row.item_code] = f"i_{site}_{row.item_code}"
        st.checkbox(f"{md(row.item)}（{md(row.department)}）", key=boxes[row.item_code])
    st.text_input(t("note", lang), key="i_note")
    st.text_input(t("photo", lang), key="i_photo")
    st.button(t("save", lang), key="i_save", on_click=_save_inspection, kwargs={
        "page": page, "site": site, "site_name": names[site], "boxes": boxes,
        "departments": sorted(set(todo["department"]))})

    st.subheader(t("reinspect", lang))
    state.show_notice(notice, "reinspection")
    open_ = open_problems(plan, re)
    st.caption(f"{t('problems_open', lang)}: {len(open_)}")
    if len(open_):
        problems = {int(r.finding_id): r for r in open_.itertuples(index=False)}
        labels = {k: f"{r.site_id} {r.item} · {r.deadline:%Y-%m-%d}"
                  for k, r in problems.items()}
        finding = st.selectbox(t("pick_problem", lang), list(labels), key="i_problem",
                               format_func=labels.get)
        st.checkbox(t("fixed", lang), key="i_fixed")
        st.button(t("reinspect", lang), key="i_reinspect", on_click=_save_reinspection,
                  kwargs={"page": page, "finding": finding,
                          "site": f"{problems[finding].site_id} "
                                  f"{names.get(problems[finding].site_id, '')}",
                          "item": str(problems[finding].item)})
        st.markdown(f"**{t('ev_of_problem', lang)}**")
        case_files.evidence(page, key=f"i_ev_{finding}", may_attach=True, finding_id=finding)


NOTICE = "i_notice"


def _save_inspection(page: state.Page, site: str, site_name: str, boxes: dict[str, str],
                     departments: list[str]) -> None:
    """Record the inspection filled in on the page, then clear the form and keep what was
    saved for the next run to confirm (a callback: it runs before the page)."""
    got, lang = st.session_state, page.lang
    bad = {code: bool(got.get(key)) for code, key in boxes.items()}
    note, photo = got.get("i_note") or "", got.get("i_photo") or None
    try:
        inspection_id = record_inspection(
            page.engine, site, got.get("i_day") or dt.datetime.now(page.tz).date(),
            departments,
            [{"item_code": code, "result": "problem" if problem else "pass",
              "note": note if problem else "", "photo": photo if problem else None}
             for code, problem in bad.items()], scope=page.scope)
    except (ValueError, LookupError, PermissionError) as exc:
        got[NOTICE] = ("inspection", "error", error_text(exc, lang))
        return
    for key in boxes.values():
        got[key] = False
    got["i_note"], got["i_photo"] = "", ""
    got[NOTICE] = ("inspection", "success", t("saved_inspection", lang).format(
        id=inspection_id, site=f"{md(site)} {md(site_name)}", n=len(bad),
        problems=sum(bad.values())))


def _save_reinspection(page: state.Page, finding: int, site: str, item: str) -> None:
    """Record the re-inspection chosen on the page, then untick 已整改 and keep what was
    saved for the next run to confirm (a callback)."""
    got, lang = st.session_state, page.lang
    fixed = bool(got.get("i_fixed"))
    try:
        re_id = record_reinspection(page.engine, finding, dt.datetime.now(page.tz).date(),
                                    fixed, scope=page.scope)
    except (ValueError, LookupError, PermissionError) as exc:
        got[NOTICE] = ("reinspection", "error", error_text(exc, lang))
        return
    got["i_fixed"] = False
    got[NOTICE] = ("reinspection", "success", t("saved_reinspection", lang).format(
        id=re_id, site=md(site), item=md(item),
        result=t("result_fixed" if fixed else "result_not_fixed", lang)))
