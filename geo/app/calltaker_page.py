"""接警: a call-taker places a phone report (a click on the map, coordinates, or a place by
name), sees where it routes and why, and opens its case through the one intake of every
door (`geo.ingest.take_call`); and anyone signed in finds cases in their scope by number,
site or words, each opening in 派遣."""

from __future__ import annotations

import datetime as dt
from functools import partial

import folium
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo import ingest
from geo.access import OutsideScopeError
from geo.alerts import MAX_LEN
from geo.app import mapview, state
from geo.app.assets import local_assets
from geo.app.labels import cells, t
from geo.app.safe import md
from geo.app.wording import Names, error_text
from geo.calls import (
    CALL_CRS,
    MAX_ADDRESS,
    MAX_SEARCH,
    CallError,
    PhoneReport,
    new_call_id,
    parse_point,
    places,
    preview,
)
from geo.catalog import SEVERITIES
from geo.crs import WGS84
from geo.store.search import SEARCH_LIMIT, search_cases

HOW = ("ct_by_map", "ct_by_coords", "ct_by_name")
NOTICE = "ct_notice"
OPENED = "ct_opened"
FORM = "ct_form"  # the number of the report on the form
DONE = "ct_done"  # the confirmation of the last report stored, for a second click to repeat


def _key(name: str, form: int | None = None) -> str:
    """The session key of the form's widget ``name`` (``lon``, ``lat``, ``place``, ``matter``,
    ``severity``, ``date``, ``time``, ``address``, ``desc``) or of its ``call_id``, on form
    number ``form`` (default: the form shown now): new for each report, so that the form is
    empty again after a submit (in the browser too)."""
    return f"ct_{name}_{st.session_state.get(FORM, 0) if form is None else form}"


def _dispatch_link(case_id: int, lang: str, label: str | None = None) -> None:
    """A link opening ``case_id`` on the 派遣 page (`geo.app.dispatch_page`, ``?case=``)."""
    target = st.Page(_dispatch, title=t("dispatch", lang), url_path="dispatch")
    st.page_link(target, label=label or t("ct_open_case", lang).format(case=case_id),
                 icon=":material/open_in_new:", query_params={"case": str(case_id)})


def _dispatch() -> None:  # the page `_dispatch_link` names (its address is what counts)
    from geo.app import dispatch_page

    dispatch_page.render()


@st.cache_resource(max_entries=64, show_spinner=False)
def _places(url: str, version: str, scope) -> pd.DataFrame:
    """The places of the layer set ``scope`` reads, to pick by name (`geo.calls.places`)."""
    return places(state.layers(url, version, scope))


def _place_label(row: pd.Series, lang: str) -> str:
    where = f"（{row['key']}）" if row["kind"] == "site" else ""
    return f"{t(row['kind'], lang)} · {row['name']}{where}"


def _pick_map(townships, point: tuple[float, float] | None, tiles: mapview.Tiles,
              lang: str) -> tuple[folium.Map, list]:
    """The map to click on: township outlines on the configured tiles, fitted to the
    district; the chosen point as a live group (the map is not rebuilt when it moves)."""
    local_assets()
    x0, y0, x1, y1 = townships.total_bounds
    m = mapview.new_map(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=11, tiles=None,
                        maxZoom=19, control_scale=True)
    if tiles.url:
        folium.TileLayer(tiles.url, attr=tiles.attribution, subdomains=tiles.subdomains,
                         control=False).add_to(m)
    bounds = [[y0, x0], [y1, x1]]
    m.fit_bounds(bounds)
    mapview.FitWhenShown(bounds).add_to(m)  # drawn before its frame had a size
    mapview.township_outlines(townships, lang).add_to(m)
    chosen = folium.FeatureGroup(name=t("ct_preview", lang))
    if point is not None:
        folium.CircleMarker([point[1], point[0]], radius=9, color="#e31a1c", fill=True,
                            fill_opacity=0.9).add_to(chosen)
    return m, [chosen]


def _point(how: str, page: state.Page, places_frame: pd.DataFrame, tiles: mapview.Tiles,
           reference) -> tuple[float, float, str] | None:
    """Where the report is, as the call-taker gave it: (lon, lat, CRS), or None; a problem
    with typed coordinates is shown."""
    lang, got = page.lang, st.session_state
    if how == "ct_by_map":
        clicked = got.get("ct_clicked")
        st.caption(t("ct_click_hint", lang))
        m, groups = _pick_map(reference.townships, clicked, tiles, lang)
        out = st_folium(m, key="ct_map", height=460, use_container_width=True,
                        feature_group_to_add=groups, returned_objects=["last_clicked"])
        click = (out or {}).get("last_clicked")
        if click and click != got.get("ct_last_click"):
            got["ct_last_click"] = click
            got["ct_clicked"] = (float(click["lng"]), float(click["lat"]))
            st.rerun()
        return (*clicked, WGS84) if clicked else None
    if how == "ct_by_coords":
        c1, c2, c3 = st.columns([2, 2, 3])
        # the example is a point of the district's own (the middle of its townships)
        x0, y0, x1, y1 = reference.townships.total_bounds
        lon = c1.text_input(t("ct_lon", lang), key=_key("lon"),
                            placeholder=f"{(x0 + x1) / 2:.4f}")
        lat = c2.text_input(t("ct_lat", lang), key=_key("lat"),
                            placeholder=f"{(y0 + y1) / 2:.4f}")
        crs = c3.radio(t("ct_crs", lang), CALL_CRS, key="ct_crs", horizontal=True,
                       format_func=lambda c: t(f"ct_crs_{c}", lang))
        if not (lon or "").strip() and not (lat or "").strip():
            return None
        try:
            x, y = parse_point(lon, lat)
        except CallError as exc:
            st.error(error_text(exc, lang))
            return None
        return x, y, crs
    rows = places_frame
    pick = st.selectbox(t("ct_place", lang), range(len(rows)), index=None, key=_key("place"),
                        placeholder=t("choose", lang),
                        format_func=lambda i: _place_label(rows.iloc[i], lang))
    if pick is None:
        return None
    row = rows.iloc[pick]
    return float(row["lon"]), float(row["lat"]), WGS84


def _report(point, tz, form: int) -> PhoneReport:
    """The report form number ``form`` holds, with the call id that form keeps until the
    end of the session (the same report sent twice is one call: `new_call_id`)."""
    got = st.session_state
    key = partial(_key, form=form)
    day = got.get(key("date")) or dt.datetime.now(tz).date()
    clock = got.get(key("time")) or dt.datetime.now(tz).time().replace(second=0,
                                                                       microsecond=0)
    lon, lat, crs = point
    return PhoneReport(lon=lon, lat=lat, crs=crs, matter_code=got.get(key("matter")) or None,
                       severity=got.get(key("severity")) or "medium",
                       reported_at=dt.datetime.combine(day, clock, tzinfo=tz),
                       description=got.get(key("desc")) or "",
                       address=got.get(key("address")) or "",
                       call_id=got.setdefault(key("call_id"), new_call_id()))


def _show_routing(page: state.Page, routing, names: Names) -> None:
    """Where the report routes and why (`geo.routing.Routing`), as the case will show it;
    a warning where the caller may not open it there."""
    lang = page.lang
    st.markdown(f"**{t('ct_preview', lang)}**")
    lines = [
        f"{t('township', lang)}: {md(routing.township_name)}",
        f"{t('unit', lang)}: {names.unit(routing.unit_code)}",
        f"{t('site', lang)}: {names.site(routing.site_id)}",
        f"{t('body', lang)}: {names.body(routing.body_code) if routing.body_code else '-'}",
    ]
    if routing.flags:
        lines.append(f"{t('flags', lang)}: "
                     + "、".join(t(f"flag_{f}", lang) for f in routing.flags))
    st.markdown("  \n".join(lines))
    st.markdown(f"**{t('reasons', lang)}**")
    st.markdown("\n".join(f"- {md(r)}" for r in routing.reasons))
    try:
        page.scope.check_new("cases", {"township_code": routing.township_code,
                                       "body_code": routing.body_code})
    except OutsideScopeError as exc:
        st.warning(error_text(exc, lang, names))


def _submit(page: state.Page, point, names: Names, form: int) -> None:
    """Open the case of the report on form number ``form`` (a callback): confirmation, a
    new, empty form (with a call id of its own); or why not, the form kept. A click on a
    form already submitted (a second click landing before the page was shown again) stores
    nothing and repeats the confirmation. The way into 派遣 is offered only for a case the
    caller may read there: one handed to a body outside their scope is said to be."""
    lang, got = page.lang, st.session_state
    if form != got.get(FORM, 0):
        if DONE in got:
            got[NOTICE] = got[DONE]
        return
    router, catalog = state.routing(page.url, page.version)
    try:
        taken = ingest.take_call(page.engine, _report(point, page.tz, form), router,
                                 catalog, page.tz, scope=page.scope)
    except (ValueError, LookupError, PermissionError) as exc:
        got[NOTICE] = ("error", error_text(exc, lang, names))
        return
    mine = page.scope.covers({"township_code": taken.township_code,
                              "body_code": taken.body_code})
    key = "ct_handed" if not mine else "ct_opened" if taken.created else "ct_again"
    got[NOTICE] = got[DONE] = ("success", t(key, lang).format(
        case=taken.case_id, body=names.body(taken.body_code)))
    got[OPENED] = taken.case_id if mine else None
    got[FORM] = form + 1  # a new, empty form
    got.pop("ct_clicked", None)


def _form(page: state.Page, names: Names) -> None:
    """The report form, its routing preview and the button that opens its case."""
    lang = page.lang
    router, catalog = state.routing(page.url, page.version)
    reference = state.layers(page.url, page.version, state.REFERENCE)
    try:
        tiles = mapview.tiles_for(page.settings)
    except ValueError as exc:
        st.error(f"{t('tiles_error', lang)} {md(exc)}")
        tiles = mapview.Tiles(None)
    st.subheader(t("ct_new", lang))
    how = st.radio(t("ct_how", lang), HOW, key="ct_how", horizontal=True,
                   format_func=lambda h: t(h, lang))
    point = _point(how, page, _places(page.url, page.version, page.scope), tiles, reference)
    matters = dict(zip(catalog.matters["code"], catalog.matters["name"], strict=True))
    c1, c2, c3, c4 = st.columns([4, 2, 2, 2])
    c1.selectbox(t("matter", lang), ["", *sorted(matters, key=matters.get)], key=_key("matter"),
                 format_func=lambda m: f"{matters[m]}（{m}）" if m
                 else t("ct_matter_unknown", lang))
    c2.selectbox(t("severity", lang), SEVERITIES, index=SEVERITIES.index("medium"),
                 key=_key("severity"), format_func=lambda s: t(f"severity_{s}", lang))
    now = dt.datetime.now(page.tz)
    c3.date_input(t("ct_date", lang), value=now.date(), key=_key("date"))
    c4.time_input(t("ct_time", lang), value=now.time().replace(second=0, microsecond=0),
                  key=_key("time"))
    st.text_input(t("ct_address", lang), key=_key("address"), max_chars=MAX_ADDRESS)
    st.text_area(t("description", lang), key=_key("desc"), max_chars=MAX_LEN["description"],
                 height=90)
    if point is None:
        st.info(t("ct_no_point", lang))
        return
    st.caption(t("ct_point", lang).format(lon=f"{point[0]:.6f}", lat=f"{point[1]:.6f}")
               if point[2] == WGS84 else f"{point[0]:.6f}, {point[1]:.6f} (GCJ-02)")
    try:
        routing = preview(router, _report(point, page.tz, st.session_state.get(FORM, 0)))
    except CallError as exc:
        st.error(error_text(exc, lang, names))
        return
    _show_routing(page, routing, names)
    st.button(t("ct_submit", lang), key="ct_submit", type="primary", on_click=_submit,
              kwargs={"page": page, "point": point, "names": names,
                      "form": st.session_state.get(FORM, 0)})


def _search(page: state.Page, names: Names) -> None:
    """A search box; the cases in scope it finds, each linking to 派遣."""
    lang = page.lang
    st.subheader(t("search", lang))
    text = st.text_input(t("search_box", lang), key="ct_search", max_chars=MAX_SEARCH)
    if not (text or "").strip():
        return
    try:
        found = search_cases(page.engine, text, scope=page.scope)
    except (ValueError, LookupError, PermissionError) as exc:
        st.error(error_text(exc, lang, names))
        return
    if found.empty:
        st.info(t("search_none", lang))
        return
    opened = found["opened_at"].dt.tz_localize("UTC").dt.tz_convert(page.tz)
    view = pd.DataFrame({
        t("case_id", lang): found["id"],
        t("status", lang): found["status"].map(lambda s: t("status_" + s, lang)),
        t("severity", lang): found["severity"].map(lambda s: t("severity_" + s, lang)),
        t("matter", lang): found["matter_name"].fillna(found["matter_code"]).fillna("-"),
        t("township", lang): found["township_name"].fillna("-"),
        t("site", lang): found["site_name"].fillna(found["site_id"]).fillna("-"),
        t("description", lang): found["description"].fillna("").str.slice(0, 60),
        t("reported_at", lang): opened.dt.strftime("%Y-%m-%d %H:%M"),
        t("search_link", lang): [f"dispatch?case={i}" for i in found["id"]],
    })
    st.dataframe(cells(view), hide_index=True, key="ct_found_table", column_config={
        t("search_link", lang): st.column_config.LinkColumn(
            display_text=t("search_link", lang))})
    if len(found) >= SEARCH_LIMIT:
        st.caption(t("search_more", lang).format(n=SEARCH_LIMIT))
    ids = [int(i) for i in found["id"]]
    pick = st.selectbox(t("pick_case", lang), ids, key="ct_found",
                        format_func=lambda i: f"#{i}")
    _dispatch_link(pick, lang)


def render() -> None:
    page = state.open_page("calltaker")
    if page is None:
        return
    lang = page.lang
    names = state.names(page.url, page.version, page.scope)
    notice = st.session_state.pop(NOTICE, None)
    if notice is not None:
        kind, message = notice
        (st.success if kind == "success" else st.error)(message)
    if st.session_state.get(OPENED) is not None:
        _dispatch_link(int(st.session_state[OPENED]), lang)
    if page.scope.allows("cases", "open"):
        _form(page, names)
    else:
        st.info(t("ct_no_form", lang))
    _search(page, names)
