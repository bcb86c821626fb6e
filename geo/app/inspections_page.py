"""集成改一次: record a joint inspection against the site's checklist, record the
re-inspection of open problems, and see the rates and the most frequent problems."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from geo.app import state
from geo.app.coverage_page import downloads
from geo.app.labels import t
from geo.app.safe import md
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
    st.dataframe(top, hide_index=True)
    if len(top):
        downloads(top, "frequent_problems", lang)

    if not scope.allows("inspections", "change"):
        return
    st.subheader(t("new_inspection", lang))
    names = dict(zip(sites["site_id"], sites["name"], strict=True))
    site = st.selectbox(t("pick_site", lang), list(names), key="i_site",
                        format_func=lambda s: f"{s} {names[s]}")
    day = st.date_input(t("inspection_day", lang), dt.datetime.now(page.tz).date(),
                        key="i_day")
    todo = items[items["kind"] == kinds[site]]
    results = {}
    for row in todo.itertuples(index=False):
        results[row.item_code] = st.checkbox(f"{md(row.item)}（{md(row.department)}）",
                                             key=f"i_{site}_{row.item_code}")
    note = st.text_input(t("note", lang), key="i_note")
    photo = st.text_input(t("photo", lang), key="i_photo")
    if st.button(t("save", lang), key="i_save"):
        record_inspection(engine, site, day, sorted(set(todo["department"])),
                          [{"item_code": code, "result": "problem" if bad else "pass",
                            "note": note if bad else "", "photo": (photo or None) if bad
                            else None} for code, bad in results.items()], scope=scope)
        st.success(t("saved", lang))
        st.rerun()

    st.subheader(t("reinspect", lang))
    open_ = open_problems(plan, re)
    st.caption(f"{t('problems_open', lang)}: {len(open_)}")
    if len(open_):
        labels = {int(r.finding_id): f"{r.site_id} {r.item} · {r.deadline:%Y-%m-%d}"
                  for r in open_.itertuples(index=False)}
        finding = st.selectbox(t("pick_problem", lang), list(labels), key="i_problem",
                               format_func=labels.get)
        fixed = st.checkbox(t("fixed", lang), key="i_fixed")
        if st.button(t("reinspect", lang), key="i_reinspect"):
            record_reinspection(engine, finding, dt.datetime.now(page.tz).date(), fixed,
                                scope=scope)
            st.success(t("saved", lang))
            st.rerun()
