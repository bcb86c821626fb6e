"""预约体检: check-ups by appointment and joint visits (综合查一次) — this year's counts,
the calendar of booked visits per township, the sites' requests, the joint visits proposed
(sites due for several departments' inspections within the same weeks), scheduling a visit
and recording the findings of a visit done (they become an inspection: rectification and
re-inspection follow on 集成改一次). Township staff see their township only (the store
keeps to the caller's scope)."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import streamlit as st

from geo.app import state
from geo.app.coverage_page import downloads
from geo.app.labels import source_name, t
from geo.app.safe import md
from geo.app.wording import error_text
from geo.checkups import (
    bodies_for,
    calendar,
    department_status,
    departments_of,
    propose_joint_visits,
    visit_checklist,
    yearly_counts,
)
from geo.days import local_today
from geo.store.checkups import (
    complete_visit,
    inspection_departments,
    list_visits,
    requests_frame,
    schedule_visit,
)
from geo.store.inspecting import checklists

NOTICE = "k_notice"
WEEKDAYS = {"zh": "一二三四五六日", "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}


def render() -> None:
    page = state.open_page("checkups")
    if page is None:
        return
    lang, url, engine, version, scope = page.lang, page.url, page.engine, page.version, \
        page.scope
    layers = state.layers(url, version, scope)
    items = checklists(engine, scope=scope)
    sites = layers.sites
    if sites is None or items.empty:
        st.info(t("no_data", lang))
        return
    today = local_today(page.tz)
    known = state.names(url, version, scope)
    catalog = state.catalog(url, version)
    visits = list_visits(engine, scope=scope)
    requests = requests_frame(engine, scope=scope)
    done = inspection_departments(engine, scope=scope)

    def site_name(site_id) -> str:
        return known.sites.get(str(site_id), str(site_id))

    def town(code) -> str:
        return known.townships.get(str(code), str(code) if code else "-")

    _counts(done, visits, requests, today, lang)
    _calendar(visits, today, lang, site_name, town)
    _requests(requests, lang, site_name, town)
    proposals = _proposals(sites, done, items, visits, catalog, today, lang, site_name, town)
    if not scope.allows("visits", "change"):
        return
    notice = st.session_state.pop(NOTICE, None)
    _schedule_form(page, sites, items, requests, proposals, catalog, today, notice,
                   site_name)
    _record_form(page, visits, sites, items, today, notice, site_name)


def _counts(done, visits, requests, today: dt.date, lang: str) -> None:
    counts = yearly_counts(done, visits, requests)
    now = counts[counts["year"] == today.year]
    row = now.iloc[0] if len(now) else pd.Series(0, index=counts.columns)
    st.caption(t("ck_this_year", lang).format(year=today.year))
    c = st.columns(4)
    c[0].metric(t("ck_saved", lang), int(row["visits_saved"]))
    c[1].metric(t("ck_booked", lang), int(row["booked_by_business"]))
    c[2].metric(t("ck_office", lang), int(row["scheduled_by_office"]))
    c[3].metric(t("ck_observers", lang), int(row["observers"]))
    with st.expander(t("ck_counts", lang)):
        table = pd.DataFrame({
            t("ck_year", lang): counts["year"].astype(str),
            t("ck_joint", lang): counts["joint_inspections"],
            t("ck_dept_visits", lang): counts["department_visits"],
            t("ck_saved", lang): counts["visits_saved"],
            t("ck_booked", lang): counts["booked_by_business"],
            t("ck_office", lang): counts["scheduled_by_office"],
            t("ck_observers", lang): counts["observers"],
            t("ck_requests_n", lang): counts["requests"]})
        st.dataframe(table, hide_index=True)


def _day_label(day: dt.date, lang: str) -> str:
    return f"{day:%m-%d} {WEEKDAYS.get(lang, WEEKDAYS['en'])[day.weekday()]}"


def _calendar(visits, today: dt.date, lang: str, site_name, town) -> None:
    st.subheader(t("ck_calendar", lang))
    c1, c2 = st.columns(2)
    span = c1.radio(t("ck_span", lang), ["week", "month"], key="k_span", horizontal=True,
                    format_func=lambda v: t(f"ck_span_{v}", lang))
    default = (today - dt.timedelta(days=today.weekday()) if span == "week"
               else today.replace(day=1))
    start = c2.date_input(t("ck_start", lang), default, key=f"k_start_{span}")
    days = 7 if span == "week" else 31
    shown = visits.assign(label=[
        site_name(v.site_id) + (f"（{t('ck_observing', lang).format(n=len(v.observers))}）"
                                if len(v.observers) else "")
        + ("" if v.status == "scheduled" else f" · {t('ck_visit_' + v.status, lang)}")
        for v in visits.itertuples(index=False)]) if len(visits) else visits.assign(label=[])
    table = calendar(shown, start, days, by="day" if span == "week" else "week")
    if table.empty:
        st.info(t("ck_no_visits", lang))
        return
    table.insert(0, t("ck_township", lang), table.pop("township_code").map(town))
    table.columns = [c if isinstance(c, str) else (
        _day_label(c, lang) if span == "week"
        else t("ck_week_of", lang).format(day=f"{c:%m-%d}")) for c in table.columns]
    st.dataframe(table, hide_index=True)


def _requests(requests, lang: str, site_name, town) -> None:
    st.subheader(t("ck_requests", lang))
    if requests.empty:
        st.info(t("ck_no_requests", lang))
        return

    def wanted(r) -> str:
        parts = [f"{d:%m-%d}" for d in (r.wanted_from, r.wanted_until) if pd.notna(d)]
        return " ~ ".join(parts) or "-"

    table = pd.DataFrame({
        t("ck_site", lang): requests["site_id"].map(site_name),
        t("ck_township", lang): requests["township_code"].map(town),
        t("ck_contact", lang): requests["contact"],
        t("ck_reason", lang): requests["reason"],
        t("ck_wanted", lang): [wanted(r) for r in requests.itertuples(index=False)],
        t("ck_booked_by", lang): [source_name(r.source, lang) if r.source else r.requested_by
                                  for r in requests.itertuples(index=False)],
        t("ck_status", lang): requests["status"].map(lambda s: t(f"ck_req_{s}", lang)),
        t("ck_visit_day", lang): requests["visit_day"].map(
            lambda d: f"{d:%Y-%m-%d}" if pd.notna(d) else "-")})
    st.dataframe(table, hide_index=True)


def _proposals(sites, done, items, visits, catalog, today, lang, site_name, town):
    st.subheader(t("ck_proposals", lang))
    st.caption(t("ck_proposals_help", lang))
    c1, c2 = st.columns(2)
    window = c1.slider(t("ck_window", lang), 0, 60, 21, key="k_window")
    horizon = c2.slider(t("ck_horizon", lang), 0, 180, 60, key="k_horizon")
    status = department_status(pd.DataFrame(sites.drop(columns="geometry")), done, items,
                               today, catalog.inspection_intervals)
    out = propose_joint_visits(status, today, window, horizon, visits)
    st.caption(t("ck_proposals_n", lang).format(n=len(out), saved=int(out["saved"].sum())))
    if len(out):
        table = pd.DataFrame({
            t("ck_site", lang): out["site_id"].map(site_name),
            t("ck_township", lang): out["township_code"].map(town),
            t("ck_day", lang): out["day"].map(lambda d: f"{d:%Y-%m-%d}"),
            t("ck_departments", lang): out["departments"].map("、".join),
            t("ck_saves", lang): out["saved"]})
        st.dataframe(table.head(200), hide_index=True)
        downloads(table, "joint_visit_proposals", lang)
    return out


def _schedule_form(page, sites, items, requests, proposals, catalog, today, notice,
                   site_name) -> None:
    lang = page.lang
    st.subheader(t("ck_schedule", lang))
    state.show_notice(notice, "schedule")
    open_ = requests[requests["status"] == "open"]
    # sites that asked come first, then those proposed, then the rest
    order = list(dict.fromkeys([*open_["site_id"], *proposals["site_id"],
                                *sites["site_id"]]))
    site = st.selectbox(t("ck_site", lang), order, key="k_site",
                        format_func=lambda s: f"{site_name(s)}（{s}）")
    row = sites.set_index("site_id").loc[site]
    asked = open_[open_["site_id"] == site]
    options = [None, *asked["id"].tolist()]
    who = dict(zip(asked["id"], asked["contact"], strict=True))
    st.selectbox(t("ck_request", lang), options, key=f"k_request_{site}",
                 index=1 if len(options) > 1 else 0,
                 format_func=lambda r: t("ck_no_request", lang) if r is None
                 else f"#{r} {md(who[r])}")
    st.date_input(t("ck_visit_date", lang), today + dt.timedelta(days=1), key="k_day")
    bodies = catalog.body_names()
    centers = catalog.township_bodies()
    lead = centers.get(row["township_code"], catalog.command_center)
    codes = list(bodies)
    st.selectbox(t("ck_lead", lang), codes, index=codes.index(lead) if lead in codes else 0,
                 key=f"k_lead_{site}", format_func=bodies.get)
    concerned = departments_of(items, row["kind"])
    st.multiselect(t("ck_departments", lang), concerned, default=concerned,
                   key=f"k_departments_{site}")
    carried = visit_checklist(items, row["kind"], concerned)
    st.multiselect(t("ck_bodies", lang), codes,
                   default=[b for b in bodies_for(carried, catalog.matters) if b in codes],
                   key=f"k_bodies_{site}", format_func=bodies.get)
    st.text_input(t("ck_inspectors", lang), key="k_inspectors")
    same = sites[(sites["township_code"] == row["township_code"])
                 & (sites["site_id"] != site)]["site_id"].tolist()
    watching = st.multiselect(t("ck_observer_sites", lang), same, key=f"k_observers_{site}",
                              format_func=site_name)
    for other in watching:
        st.text_input(t("ck_observer_name", lang).format(site=site_name(other)),
                      key=f"k_obs_{site}_{other}")
    st.text_input(t("ck_note", lang), key="k_note")
    st.button(t("ck_save_visit", lang), key="k_schedule", on_click=_save_visit,
              kwargs={"page": page, "site": site, "observers": watching,
                      "label": site_name(site), "today": today})


def _record_form(page, visits, sites, items, today, notice, site_name) -> None:
    lang = page.lang
    st.subheader(t("ck_record", lang))
    state.show_notice(notice, "record")
    due = visits[(visits["status"] == "scheduled")
                 & (visits["day"].map(lambda d: d <= today))] if len(visits) else visits
    if due.empty:
        st.caption(t("ck_no_due_visit", lang))
        return
    labels = {int(v.id): f"#{v.id} {v.day:%Y-%m-%d} {site_name(v.site_id)}"
              for v in due.itertuples(index=False)}
    vid = st.selectbox(t("ck_pick_visit", lang), list(labels), key="k_visit",
                       format_func=labels.get)
    visit = due.set_index(due["id"].astype(int)).loc[vid]
    kind = sites.set_index("site_id")["kind"].get(visit["site_id"])
    carried = visit_checklist(items, kind, visit["departments"])
    st.caption(t("ck_items", lang))
    boxes = {}
    for item in carried.itertuples(index=False):
        boxes[item.item_code] = f"k_item_{vid}_{item.item_code}"
        st.checkbox(f"{md(item.item)}（{md(item.department)}）", key=boxes[item.item_code])
    st.text_input(t("note", lang), key="k_finding_note")
    st.button(t("ck_save_findings", lang), key="k_done", on_click=_save_findings,
              kwargs={"page": page, "visit": vid, "boxes": boxes, "today": today})


def _save_visit(page, site: str, observers: list[str], label: str, today: dt.date) -> None:
    """Schedule the visit filled in on the page (a callback: it runs before the page)."""
    got, lang = st.session_state, page.lang
    inspectors = [p for p in re.split(r"[、,，;；\s]+", got.get("k_inspectors") or "") if p]
    try:
        vid = schedule_visit(
            page.engine, site, got.get("k_day") or today, got.get(f"k_lead_{site}"),
            inspectors, bodies=got.get(f"k_bodies_{site}") or [],
            departments=got.get(f"k_departments_{site}") or [],
            observers=[{"name": got.get(f"k_obs_{site}_{o}") or "", "site_id": o}
                       for o in observers],
            note=got.get("k_note") or "", request_id=got.get(f"k_request_{site}"),
            today=today, scope=page.scope)
    except (ValueError, LookupError, PermissionError) as exc:
        got[NOTICE] = ("schedule", "error", error_text(exc, lang))
        return
    got["k_inspectors"], got["k_note"] = "", ""
    got[NOTICE] = ("schedule", "success", t("ck_saved_visit", lang).format(
        id=vid, site=md(label), day=f"{got.get('k_day') or today:%Y-%m-%d}"))


def _save_findings(page, visit: int, boxes: dict[str, str], today: dt.date) -> None:
    """Record the findings ticked on the page for a visit done (a callback)."""
    got, lang = st.session_state, page.lang
    bad = {code: bool(got.get(key)) for code, key in boxes.items()}
    note = got.get("k_finding_note") or ""
    try:
        iid = complete_visit(page.engine, visit, [
            {"item_code": code, "result": "problem" if problem else "pass",
             "note": note if problem else ""} for code, problem in bad.items()],
            today=today, scope=page.scope)
    except (ValueError, LookupError, PermissionError) as exc:
        got[NOTICE] = ("record", "error", error_text(exc, lang))
        return
    for key in boxes.values():
        got[key] = False
    got["k_finding_note"] = ""
    got[NOTICE] = ("record", "success", t("ck_saved_findings", lang).format(
        visit=visit, id=iid, n=len(bad), problems=sum(bad.values())))
