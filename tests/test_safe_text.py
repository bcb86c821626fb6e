"""Text from outside is shown as text: the escaping helpers, and every page and map fed
hostile alert descriptions, place, site, team, body, checklist and user names."""

from __future__ import annotations

import csv
import html
import re

import folium
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from sqlalchemy import text as sql

from geo import store
from geo.access import SYSTEM, Scope
from geo.app import mapview
from geo.app.labels import t
from geo.app.safe import WORD_JOINER, html_text, md, script_json
from geo.cli import main
from geo.settings import PROJECT_ROOT
from tests.test_app import APP, _dispatch_page, _inspections_page, signed_in

HOSTILE = ("![x](http://example.invalid/p.png) <img src=x onerror=alert(1)> **bold** "
           "[link](javascript:alert(1)) :red[x] $x$ `${alert(2)}` :streamlit:")
MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# what Streamlit turns into links, icons or symbols after parsing, whatever the escapes
REWRITTEN = re.compile(r":[\w/+-]|@\w|www\.|--|->|<-|<=|>=|~=", re.IGNORECASE)


def rendered(markdown: str) -> str:
    """The HTML CommonMark makes of ``markdown``."""
    return MARKDOWN.render(markdown)


def visible(markdown: str) -> str:
    """The characters a reader sees, one line per line break (word joiners dropped)."""
    out = re.sub(r"<[^>]*>", "", rendered(markdown).replace("<br />\n", "\n"))
    return html.unescape(out).strip("\n").replace(WORD_JOINER, "")


def lines(value: str) -> str:
    return "\n".join(line.strip() for line in value.splitlines() if line.strip())


# ------------------------------------------------------------------ the helpers
TEXT = st.text(st.sampled_from([*(chr(c) for c in range(32, 127)), "\t", "\n", "\r",
                                "中", "镇", "：", "（", "）", "é", "🚨"]), max_size=60)


@given(TEXT)
def test_escaped_text_renders_back_to_the_same_characters(value):
    out = md(value, "")
    html_out = rendered(out)
    assert re.sub(r"<p>|</p>|<br />", "", html_out).count("<") == 0  # no element but text
    assert visible(out) == lines(value)
    assert not REWRITTEN.search(html.unescape(re.sub(r"<[^>]*>", "", html_out)))


@pytest.mark.parametrize("value", [
    HOSTILE, "# heading", "1. item", "- item", "> quote", "    code", "| a | b |\n|---|---|",
    "~~s~~ _i_ `c` ***", "&amp; &#58;", "x\\y", "<https://example.invalid>",
    "www.example.invalid a@example.invalid", "a -- b <- c -> d >= e", "[^1]\n\n[^1]: x"])
def test_no_markdown_construct_survives(value):
    out = md(value)
    assert visible(out) == lines(value)
    assert not re.search(r"<(?!/?p>|br />)", rendered(out))


def test_missing_values_and_lines():
    assert md(None) == md(float("nan")) == md("") == "\\-"
    assert md(None, "") == ""
    assert md("甲\n\n  乙 ") == "甲  \n乙"


@given(TEXT)
def test_html_text_is_text_in_html_and_in_a_script_template(value):
    out = html_text(value, "")
    assert html.unescape(out) == value
    assert not set(out) & set("<>\"'`$\\")


@given(st.recursive(st.none() | st.booleans() | st.integers() | TEXT,
                    lambda inner: st.lists(inner, max_size=4)))
def test_script_json_is_json_without_markup(value):
    import json

    out = script_json(value)
    assert json.loads(out) == value
    assert not set(out) & set("<>&\u2028\u2029")


# ------------------------------------------------------------------ maps
def map_html(*groups) -> str:
    m = folium.Map(tiles=None)
    for g in groups:
        g.add_to(m)
    return m.get_root().render()


def test_map_tooltips_hold_outside_names_as_text():
    import geopandas as gpd
    import shapely

    poly = shapely.box(120.0, 30.0, 120.1, 30.1)
    places = gpd.GeoDataFrame({"code": ["330502100000"], "name": [HOSTILE]},
                              geometry=[poly], crs=4326)
    sites = gpd.GeoDataFrame({"site_id": ["S1"], "name": [HOSTILE], "kind": ["shop"],
                              "risk": ["high"]}, geometry=[shapely.Point(120.05, 30.05)],
                             crs=4326)
    teams = pd.DataFrame({"name": [HOSTILE], "body_code": ["B</script>"],
                          "status": ["available"], "lon": [120.05], "lat": [30.05]})
    matter = HOSTILE + "</script><script>alert(3)</script>"
    cases = pd.DataFrame({"id": [1], "lat": [30.05], "lon": [120.05], "status": ["new"],
                          "severity": ["high"], "matter_code": ["M1"], "matter_name": [matter]})
    shading = mapview.township_shading(places, {"330502100000": 1})
    units = mapview.unit_layer(places)
    site_group, team_group = mapview.site_layer(sites), mapview.team_layer(teams)
    clustered, plain = mapview.case_layer(cases), mapview.case_layer(cases, cluster=False)

    def children(group, kind):
        return [c for c in group._children.values() if isinstance(c, kind)]

    assert children(shading, folium.Polygon)[0]._children  # a tooltip
    tip = next(iter(children(shading, folium.Polygon)[0]._children.values())).text
    assert tip.startswith(html_text(HOSTILE))
    geojson = children(units, folium.GeoJson)[0].data["features"][0]["properties"]
    assert geojson["name"] == html_text(HOSTILE)
    assert children(site_group, folium.plugins.FastMarkerCluster)[0].data[0][3] == \
        html_text(f"{HOSTILE} (shop)")
    assert children(team_group, mapview.TeamCluster)[0].rows[0][3].startswith(
        html_text(f"{HOSTILE} · B</script>"))
    callback = children(clustered, folium.plugins.FastMarkerCluster)[0].callback
    assert script_json([html_text(matter)]) in callback
    marker = children(plain, folium.CircleMarker)[0]
    assert next(iter(marker._children.values())).text == html_text(f"#1 {matter}")
    page = map_html(shading, units, site_group, team_group, clustered, plain)
    for raw in ("<img", "onerror=alert(1)>", "${alert(2)}", "</script><script>", "B</script>"):
        assert raw not in page


# ------------------------------------------------------------------ pages
@pytest.fixture
def hostile_db(db_settings, monkeypatch, tmp_path):
    """The demo with hostile text in every name, some alert descriptions and a user name."""
    assert main(["init"], db_settings) == 0
    engine = store.connect(db_settings.database_url)
    with engine.begin() as c:
        for table in ("townships", "units", "sites", "teams", "bodies", "matters"):
            c.execute(sql(f"UPDATE {table} SET name = :h || name"), {"h": HOSTILE + " "})
        c.execute(sql("UPDATE checklist_items SET item = :h || item"), {"h": HOSTILE + " "})
    with (PROJECT_ROOT / "data" / "demo_alerts.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:40]
    for row in rows[:20]:
        row["description"] = HOSTILE
    with (tmp_path / "alerts.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["ingest", str(tmp_path / "alerts.csv")], db_settings) == 0
    assert main(["demo", "users", "--yes"], db_settings) == 0
    with engine.begin() as c:
        c.execute(sql("UPDATE users SET name = :h WHERE username = 'command'"), {"h": HOSTILE})
    monkeypatch.setenv("GEO_DATABASE_URL", db_settings.database_url)
    return engine


def shown_markdown(at) -> list[str]:
    """Every text of the page that Streamlit renders as Markdown (but our own warning of
    public demo passwords, whose commands are code on purpose)."""
    values = [e.value for kind in ("markdown", "caption", "info", "warning", "error",
                                   "success", "toast") for e in at.get(kind)
              if not e.value.startswith(t("demo_passwords").split("：")[0])]
    values += [e.label for kind in ("checkbox", "button", "expander", "toggle", "radio")
               for e in at.get(kind)]
    values += [str(o) for e in at.get("radio") for o in e.options]
    return values


def assert_literal(at, expected: int = 1) -> None:
    """No Markdown text of the page makes an element of outside text, and the hostile text
    shows literally at least ``expected`` times."""
    values = shown_markdown(at)
    assert values
    for value in values:
        assert HOSTILE not in value
        out = rendered(value)
        assert "<img" not in out and "<a " not in out and "<code>" not in out, value
        assert "<em>" not in out, value
    assert sum(HOSTILE in visible(v) for v in values) >= expected


def hostile_case(engine) -> pd.Series:
    frame = store.cases_frame(engine, scope=SYSTEM)
    picked = frame[(frame["description"] == HOSTILE) & frame["township_code"].notna()]
    assert len(picked), "no routed case with a hostile description"
    case = picked.iloc[0]
    assert case["township_name"].startswith(HOSTILE)
    return case


def test_command_page_shows_outside_text_literally(hostile_db):
    case = hostile_case(hostile_db)
    at = signed_in(APP)
    at.session_state["case_id"] = int(case["id"])
    at.run()
    assert not at.exception
    # the details (description, township name), the routing reasons, the user's name
    assert_literal(at, expected=3)
    details = next(v for v in shown_markdown(at) if md(case["external_id"]) in v)
    assert f"{md(HOSTILE)}" in details
    assert any(md(HOSTILE) in c.value for c in at.sidebar.caption)


def test_dispatch_page_shows_outside_text_literally(hostile_db):
    case = hostile_case(hostile_db)
    cid = int(case["id"])
    at = signed_in(_dispatch_page).run()
    at.selectbox(key="d_case").set_value(cid).run()
    assert not at.exception
    at.text_input(key=f"d_reason_{cid}_returned").input(HOSTILE)
    at.button(key=f"d_step_{cid}_returned").click().run()
    assert not at.exception and not at.error
    at.selectbox(key="d_case").set_value(cid).run()
    # township and body names, reasons, recommended team names, the reason in the timeline
    assert_literal(at, expected=4)
    timeline = [m.value for m in at.markdown if m.value.startswith("- ") and "→" in m.value]
    assert any(visible(v).endswith(HOSTILE) for v in timeline)
    assert at.selectbox(key="d_case").options  # select boxes show plain text as it is


def test_inspections_page_shows_outside_text_literally(hostile_db):
    from geo.store.inspecting import checklists, record_inspection

    items = checklists(hostile_db, scope=SYSTEM)
    site = hostile_db.connect().execute(sql(
        "SELECT site_id FROM sites WHERE kind = :k ORDER BY site_id LIMIT 1"),
        {"k": items["kind"].iloc[0]}).scalar_one()
    todo = items[items["kind"] == items["kind"].iloc[0]]
    record_inspection(hostile_db, site, pd.Timestamp("2026-10-01").date(), ["x"],
                      [{"item_code": code, "result": "problem", "note": HOSTILE,
                        "photo": HOSTILE} for code in todo["item_code"]],
                      scope=Scope("admin", actor=HOSTILE))
    at = signed_in(_inspections_page).run()
    assert not at.exception
    assert_literal(at, expected=1)  # the checklist items beside their boxes


def test_browser_shows_outside_text_as_text_and_fetches_nothing_outside(hostile_db, tmp_path):
    """In Chromium: the command page with a hostile case open (and its map tooltip) and the
    dispatch page show the text literally; no request leaves the machine, no script runs."""
    import os

    from tests.test_browser import CHROMIUM_ARGS, chromium, map_frame, serve, sign_in

    browser_path = chromium()
    from playwright.sync_api import sync_playwright

    case = hostile_case(hostile_db)
    requests: list[str] = []
    dialogs: list[str] = []
    server = serve(os.environ["GEO_DATABASE_URL"])
    url = next(server)
    outside = ("() => document.querySelectorAll('img[src*=\"example.invalid\"], "
               "a[href*=\"example.invalid\"], a[href^=\"javascript\"], img[src=\"x\"]').length")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("request", lambda r: requests.append(r.url))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(url)
            sign_in(page)
            frame = map_frame(page)
            frame.evaluate(f"() => {{ window.map.setView([{case['lat']}, {case['lon']}], 18, "
                           "{animate: false}); }")
            page.wait_for_timeout(800)
            x, y = frame.evaluate(f"""() => {{
                var p = window.map.latLngToContainerPoint([{case['lat']}, {case['lon']}]);
                var r = document.getElementById('map_div').getBoundingClientRect();
                return [p.x + r.left, p.y + r.top];
            }}""")
            # the whole map in view first (the demo-password warning pushes it down): a
            # click below the window would scroll the page instead of hitting the case
            frame.frame_element().scroll_into_view_if_needed()
            box = frame.frame_element().bounding_box()
            page.mouse.click(box["x"] + x, box["y"] + y)
            page.wait_for_function(
                "() => document.body.innerText.includes('归属理由')", timeout=60_000)
            page.mouse.move(box["x"] + x + 1, box["y"] + y + 1)
            page.wait_for_timeout(500)
            shown = page.inner_text("body").replace(WORD_JOINER, "")
            assert shown.count(HOSTILE) >= 3  # description, township, user name
            assert case["external_id"] in shown
            tips = frame.evaluate("() => [...document.querySelectorAll('.leaflet-tooltip')]"
                                  ".map(t => [t.textContent, t.querySelectorAll('*').length])")
            assert tips and all(HOSTILE in text and n <= 1 for text, n in tips)  # no element
            assert page.evaluate(outside) == 0 and frame.evaluate(outside) == 0
            page.screenshot(path=str(tmp_path / "command.png"), full_page=True)

            page.get_by_role("link", name="派遣").click()
            page.wait_for_function(
                "() => document.body.innerText.includes('推荐队伍')", timeout=60_000)
            page.wait_for_timeout(1000)
            shown = page.inner_text("body").replace(WORD_JOINER, "")
            assert shown.count(HOSTILE) >= 2  # township and team names
            assert page.evaluate(outside) == 0
            page.screenshot(path=str(tmp_path / "dispatch.png"), full_page=True)
            browser.close()
    finally:
        server.close()
    assert not dialogs
    from urllib.parse import urlparse

    hosts = {urlparse(u).hostname for u in requests if u.startswith("http")}
    assert hosts <= {"127.0.0.1", "localhost"}, f"requests left the machine: {hosts}"
    assert not [u for u in requests if "example.invalid" in u or u.endswith("/x")]


def test_calltaker_page_shows_outside_text_literally(hostile_db):
    from tests.test_calltaker import _calltaker_page, _inside, _type_point

    at = signed_in(_calltaker_page).run()
    _type_point(at, *_inside(hostile_db, "330502100000"))
    assert not at.exception and not at.error
    assert_literal(at, expected=2)  # the preview's names, the routing reasons
    at.button(key="ct_submit").click().run()
    assert not at.exception and not at.error
    assert_literal(at, expected=1)  # the confirmation names the body
    at.text_input(key="ct_search").input("1").run()
    assert not at.exception and at.dataframe  # data frames show plain text as it is
