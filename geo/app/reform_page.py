"""改革成效: the reform's figures year on year (new case sources, newly delegated matters,
dormant clauses activated, staff moved to the townships) and the annual empowerment
evaluation as a decision paper, each downloadable as Excel and as a print-ready report.

For the command center, planners and administrators (the district and every township) and
township staff (their own township); the figures are computed from the cases the user may
read (`geo.store.figures.figure_inputs`).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from geo import store
from geo.app import reform_report as report
from geo.app import state
from geo.app.labels import t
from geo.days import local_today
from geo.figures import (
    DISTRICT,
    EvaluationRules,
    ReformFigures,
    decision_paper,
    figure_years,
    reform_figures,
)
from geo.store.figures import figure_inputs

SECTIONS = ["figures", "evaluation"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@st.cache_data(max_entries=16, show_spinner=False)
def _inputs(url: str, _scope, scope_key: tuple, cases_version: tuple):
    """The figures' inputs for one scope, until a case changes."""
    return figure_inputs(state.engine(url), scope=_scope)


def _percent_columns(frame: pd.DataFrame, lang: str) -> dict:
    keys = ("rf_change", "rf_staff_share", "rf_returned_share")
    return {t(k, lang): st.column_config.NumberColumn(format="percent") for k in keys
            if t(k, lang) in frame.columns}


def _show(frame: pd.DataFrame, lang: str) -> None:
    st.dataframe(frame, hide_index=True, column_config=_percent_columns(frame, lang))


def render() -> None:
    page = state.open_page("reform")
    if page is None:
        return
    lang, scope, tz = page.lang, page.scope, page.tz
    if not scope.allows("figures", "read"):
        st.info(t("rf_not_for_role", lang))
        return
    catalog = state.catalog(page.url, page.version)
    names = state.names(page.url, page.version, scope).townships
    inputs = _inputs(page.url, scope, (scope.role, scope.township, scope.body, scope.actor),
                     store.cases_version(page.engine, scope=scope))
    today = local_today(tz)
    years = figure_years(inputs.cases, tz, today)
    own = scope.match("figures").get("township_code")
    towns = sorted(catalog.township_bodies())
    areas = [own] if own else [DISTRICT, *towns]
    year = st.sidebar.selectbox(t("rf_year", lang), list(reversed(years)), key="rf_year")
    area = st.sidebar.selectbox(t("rf_area", lang), areas, key="rf_area",
                                format_func=lambda c: report.area_name(c, names, lang))
    matters = dict(zip(catalog.matters["code"], catalog.matters["name"], strict=True))
    section = st.radio(t("section", lang), SECTIONS, key="rf_section", horizontal=True,
                       label_visibility="collapsed",
                       format_func=lambda v: t("rf_figures" if v == "figures"
                                               else "rf_evaluation", lang))
    label = report.area_name(area, names, lang)
    if section == "figures":
        figures = reform_figures(
            inputs.cases, catalog.empowerment, inputs.roster, catalog.bodies,
            [y for y in years if y <= year], tz, townships=towns,
            domains=dict(zip(catalog.matters["code"], catalog.matters["domain"], strict=True)),
            as_of=today)
        yearly = scope.rows(figures.yearly, "figures")
        figures = ReformFigures(yearly, scope.rows(figures.sources, "figures"),
                                       scope.rows(figures.clauses, "figures"))
        _figures(figures, year, area, label, names, matters, inputs.roster.empty, page)
    else:
        _evaluation(inputs, catalog, year, area, label, names, matters, page)


def _figures(figures, year: int, area: str, label: str, names: dict, matters: dict,
             no_roster: bool, page: state.Page) -> None:
    lang = page.lang
    row = figures.yearly[(figures.yearly["township_code"] == area)
                         & (figures.yearly["year"] == year)]
    if row.empty:
        st.info(t("no_data", lang))
        return
    row = row.iloc[0]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(t("rf_cases", lang), int(row["cases"]), report.percent(row["change"]))
    c2.metric(t("rf_dormant_activated", lang), int(row["dormant_activated"]),
              f"{int(row['dormant_cases'])} {t('cases', lang)}", delta_color="off")
    c3.metric(t("rf_township_staff", lang), int(row["township_staff"]),
              report.share_text(row["staff_share"]), delta_color="off")
    moved = row["staff_moved"]
    c4.metric(t("rf_staff_moved", lang), "-" if pd.isna(moved) else int(moved))
    if no_roster:
        st.caption(t("rf_no_roster", lang))
    sheets = report.reform_report(figures, year, area, names, matters, lang)
    for heading, frame in sheets.items():
        st.subheader(heading)
        _show(frame, lang)
    st.caption(t("rf_note", lang))
    name = f"reform_{area}_{year}"
    d1, d2 = st.columns(2)
    d1.download_button(t("rf_download_xlsx", lang), lambda: report.workbook(sheets),
                       f"{name}.xlsx", XLSX, key="rf_xlsx")
    d2.download_button(t("rf_download_html", lang), lambda: report.reform_html(
        sheets, year, label, lang, store.utcnow(), page.tz).encode("utf-8"),
        f"{name}.html", "text/html", key="rf_html")


def _evaluation(inputs, catalog, year: int, area: str, label: str, names: dict,
                matters: dict, page: state.Page) -> None:
    lang, scope = page.lang, page.scope
    rules = EvaluationRules()
    paper = scope.rows(decision_paper(
        inputs.cases, inputs.events, catalog.empowerment, catalog.township_bodies(),
        dict(zip(catalog.matters["code"], catalog.matters["district_body"], strict=True)),
        year, page.tz, rules), "figures")
    if area != DISTRICT:
        paper = paper[paper["township_code"] == area]
    counts = paper["action"].value_counts()
    cols = st.columns(4)
    for col, action in zip(cols, ("keep", "train", "take_back", "extend"), strict=True):
        col.metric(t(f"rf_action_{action}", lang), int(counts.get(action, 0)))
    chosen = st.multiselect(t("rf_action", lang), ["keep", "train", "take_back", "extend"],
                            default=[], key="rf_actions",
                            format_func=lambda a: t(f"rf_action_{a}", lang))
    shown = paper[paper["action"].isin(chosen)] if chosen else paper
    table = report.paper_table(shown, rules, names, matters, lang)
    _show(table, lang)
    with st.expander(t("rf_rules", lang)):
        st.text(report.rules_text(rules, lang))
    name = f"evaluation_{area}_{year}"
    full = report.paper_table(paper, rules, names, matters, lang)
    d1, d2 = st.columns(2)
    d1.download_button(t("rf_download_xlsx", lang),
                       lambda: report.workbook({str(year): full}), f"{name}.xlsx", XLSX,
                       key="rf_eval_xlsx")
    d2.download_button(t("rf_download_html", lang), lambda: report.evaluation_html(
        full, rules, year, label, lang, store.utcnow(), page.tz).encode("utf-8"),
        f"{name}.html", "text/html", key="rf_eval_html")

