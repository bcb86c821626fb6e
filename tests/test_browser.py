"""End to end in headless Chromium (Debian's ``chromium``): the app on a free localhost port.

Skipped with the reason on a machine without Chromium or Playwright, except in CI
(``CI=true``), where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from geo.app.mapview import VIEWPORT_OFFSET_PX
from geo.cli import main
from geo.settings import PROJECT_ROOT
from tests.appserver import serve

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed (make test installs it)"
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "Debian's chromium is not installed (apt-get install chromium)"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires the browser tests to run")
        pytest.skip(reason)
    return path


@pytest.fixture
def app_url(db_settings, tmp_path):
    chromium()
    assert main(["init"], db_settings) == 0
    lines = (PROJECT_ROOT / "data" / "demo_alerts.csv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "alerts.csv").write_text("\n".join(lines[:201]) + "\n", encoding="utf-8")
    assert main(["ingest", str(tmp_path / "alerts.csv")], db_settings) == 0
    assert main(["demo", "users", "--yes"], db_settings) == 0
    yield from serve(db_settings.database_url)


def sign_in(page, username: str = "command", password: str = "command-demo") -> None:
    """Fill the sign-in form the app shows first."""
    page.get_by_label("用户名").fill(username, timeout=60_000)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def map_frame(page, timeout_s: float = 120.0):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for frame in page.frames:
            if "streamlit_folium" in frame.url:
                try:
                    if frame.evaluate("() => Boolean(window.map && window.onemapCases)"):
                        return frame
                except Exception:  # the frame is still loading
                    pass
        page.wait_for_timeout(250)
    raise AssertionError("the map did not draw")


def test_command_map_draws_offline_and_refreshes_in_place(app_url, db_settings, tmp_path):
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(app_url)
        sign_in(page)
        frame = map_frame(page)
        polygons = frame.evaluate(
            "() => Object.values(window.map._layers).filter(l => l instanceof L.Polygon).length")
        assert polygons >= 19
        assert frame.evaluate("() => window.onemapCases.count") == 200
        assert frame.evaluate("() => document.querySelectorAll('.marker-cluster').length") > 0
        assert frame.evaluate("() => document.querySelectorAll('.onemap-legend').length") == 1
        page.screenshot(path=str(tmp_path / "command.png"))

        # a pan/zoom survives the live refresh that brings new cases
        frame.evaluate("() => { window.map.setView([30.87, 120.25], 14); }")
        lines = (PROJECT_ROOT / "data" / "demo_alerts.csv").read_text(
            encoding="utf-8").splitlines()
        (tmp_path / "more.csv").write_text("\n".join([lines[0], *lines[201:211]]) + "\n",
                                           encoding="utf-8")
        assert main(["ingest", str(tmp_path / "more.csv")], db_settings) == 0
        deadline = time.time() + 30
        while frame.evaluate("() => window.onemapCases.count") != 210:
            assert time.time() < deadline, "the live refresh did not arrive"
            page.wait_for_timeout(250)
        assert frame.evaluate("() => window.map.getZoom()") == 14
        page.screenshot(path=str(tmp_path / "command-zoomed.png"))

        # clicking a case shows its details and routing reasons beside the map
        lat, lng = frame.evaluate("""() => {
            var marker = null;
            window.map.eachLayer(l => {
                if (!marker && l instanceof L.MarkerClusterGroup && l.getLayers().length > 100) {
                    marker = l.getLayers()[5];
                }
            });
            var at = marker.getLatLng();
            window.map.setView(at, 17, {animate: false});
            return [at.lat, at.lng];
        }""")
        page.wait_for_timeout(500)
        x, y = frame.evaluate(f"""() => {{
            var p = window.map.latLngToContainerPoint([{lat}, {lng}]);
            var r = document.getElementById('map_div').getBoundingClientRect();
            return [p.x + r.left, p.y + r.top];
        }}""")
        # the whole map in view first: a click on a map reaching below the window scrolls
        # the page (focus) between pressing and releasing, and misses the marker
        frame.frame_element().scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        box = frame.frame_element().bounding_box()
        page.mouse.click(box["x"] + x, box["y"] + y)
        page.wait_for_function(
            "() => document.body.innerText.includes('归属理由')", timeout=20_000)
        text = page.inner_text("body")
        assert "坐标落在" in text and "责任主体" in text
        page.screenshot(path=str(tmp_path / "command-details.png"))
        browser.close()
    assert (tmp_path / "command.png").stat().st_size > 10_000
    hosts = {urlparse(u).hostname for u in requests if u.startswith("http")}
    assert hosts <= {"127.0.0.1", "localhost"}, f"requests left the machine: {hosts}"


def map_frames(page) -> list:
    """The streamlit-folium frames that hold a drawn, visible map."""
    found = []
    for frame in page.frames:
        if "streamlit_folium" not in frame.url:
            continue
        try:
            if frame.evaluate("() => Boolean(window.map) && window.map.getSize().x > 0"):
                found.append(frame)
        except Exception:  # the frame is still loading or gone
            pass
    return found


def more_alerts(settings, tmp_path, start: int, stop: int) -> None:
    """Ingest rows ``start`` to ``stop`` (exclusive) of the demo alerts."""
    lines = (PROJECT_ROOT / "data" / "demo_alerts.csv").read_text(
        encoding="utf-8").splitlines()
    path = tmp_path / f"more-{start}.csv"
    path.write_text("\n".join([lines[0], *lines[start:stop]]) + "\n", encoding="utf-8")
    assert main(["ingest", str(path)], settings) == 0


def test_layer_choices_survive_live_refreshes(app_url, db_settings, tmp_path):
    """Unticking 执法队伍 holds through the live refreshes that redraw the live groups."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(app_url)
        sign_in(page)
        frame = map_frame(page)
        teams = "() => document.querySelectorAll('.onemap-team').length"
        assert frame.evaluate(teams) > 0
        frame.evaluate("() => { window.map.setView([30.87, 120.15], 13, {animate: false}); }")
        assert frame.locator(".leaflet-control-layers-expanded").count() == 0  # collapsed
        frame.locator(".leaflet-control-layers").hover()
        box = frame.locator(".leaflet-control-layers-overlays label", has_text="执法队伍")
        box.locator("input").uncheck()
        assert frame.evaluate(teams) == 0
        for start in (201, 206):  # two live redraws of the groups and the layer control
            more_alerts(db_settings, tmp_path, start, start + 5)
            frame.wait_for_function(f"() => window.onemapCases.count == {start + 4}",
                                    timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / "teams-unticked.png"))
        assert frame.evaluate(teams) == 0, "the teams came back after a refresh"
        assert not box.locator("input").is_checked()
        assert frame.evaluate("() => window.map.getZoom()") == 13
        # ticking them again brings them back, and that too survives a refresh
        frame.locator(".leaflet-control-layers").hover()
        box.locator("input").check()
        assert frame.evaluate(teams) > 0
        more_alerts(db_settings, tmp_path, 211, 216)
        frame.wait_for_function("() => window.onemapCases.count == 215", timeout=30_000)
        page.wait_for_timeout(500)
        assert frame.evaluate(teams) > 0
        browser.close()


def test_every_map_shows_a_plain_leaflet_attribution_and_layer_maps_fit(app_url, tmp_path):
    """The 图层 tabs and 接警 draw their maps fitted to the district with a zoom control; no
    map's attribution carries a flag icon."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(app_url)
        sign_in(page)
        frame = map_frame(page)
        attribution = frame.locator(".leaflet-control-attribution")
        assert attribution.inner_text().strip().startswith("Leaflet")
        assert attribution.locator("svg").count() == 0
        page.get_by_role("link", name="图层").click()
        for name in ["镇街", "单元", "监管对象", "执法队伍", "道路"]:
            page.get_by_role("tab", name=name).click()
            deadline = time.time() + 60
            while True:
                frames = [f for f in map_frames(page)
                          if f.frame_element().is_visible()]
                if frames and frames[0].evaluate("() => window.map.getZoom()") > 8:
                    break
                assert time.time() < deadline, (
                    f"{name}: no visible map fitted to the district, zoom "
                    f"{[f.evaluate('() => window.map.getZoom()') for f in frames]}")
                page.wait_for_timeout(250)
            shown = frames[0]
            assert shown.locator(".leaflet-control-zoom").count() == 1, name
            assert shown.locator(".leaflet-control-attribution svg").count() == 0, name
            page.screenshot(path=str(tmp_path / f"layer-{name}.png"))
        # the call-taker's map to click on is fitted to the district too
        page.get_by_role("link", name="接警").click()
        page.get_by_role("heading", name="新建报警").wait_for(timeout=60_000)
        page.wait_for_function(  # the run has finished: 图层's maps are gone
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
            timeout=60_000)

        def zooms() -> list[float]:
            out = []
            for f in map_frames(page):
                with contextlib.suppress(Exception):  # a frame going away as pages change
                    out.append(f.evaluate("() => window.map.getZoom()"))
            return out

        deadline = time.time() + 60
        while not (found := zooms()) or min(found) <= 8:
            assert time.time() < deadline, f"the call-taker's map is not fitted: {found}"
            page.wait_for_timeout(250)
        browser.close()


def test_sign_out_then_reload_shows_the_sign_in_form(app_url, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(f"{app_url}/dispatch")  # a link to a page leads there after signing in
        sign_in(page, "zhili", "zhili-demo")
        signed_in = page.get_by_text("当前用户: 织里镇执法中心 (zhili)")
        signed_in.wait_for(timeout=60_000)
        page.get_by_role("heading", name="派遣").wait_for(timeout=60_000)
        assert page.url.endswith("/dispatch")
        # the browser keeps the sign-in: a reload and a new tab are still signed in
        deadline = time.time() + 30
        while not any(c["name"] == "onemap_auth" for c in context.cookies()):
            assert time.time() < deadline, "the sign-in cookie was not set"
            page.wait_for_timeout(200)
        page.reload()
        signed_in.wait_for(timeout=60_000)
        tab = context.new_page()
        tab.goto(app_url)
        tab.get_by_text("当前用户: 织里镇执法中心 (zhili)").wait_for(timeout=60_000)
        tab.close()
        page.screenshot(path=str(tmp_path / "signed-in.png"))

        page.get_by_role("button", name="退出登录").click()
        page.get_by_label("用户名").wait_for(timeout=60_000)
        deadline = time.time() + 30
        while any(c["name"] == "onemap_auth" for c in context.cookies()):
            assert time.time() < deadline, "the sign-in cookie was not deleted"
            page.wait_for_timeout(200)
        page.reload()
        page.get_by_label("用户名").wait_for(timeout=60_000)
        page.wait_for_timeout(1500)  # time enough for a cookie sign-in to show a page
        assert page.get_by_text("当前用户").count() == 0
        assert page.get_by_role("button", name="退出登录").count() == 0
        page.screenshot(path=str(tmp_path / "after-sign-out-reload.png"))
        shots = os.environ.get("GEO_SCREENSHOTS")
        if shots:
            for name in ("signed-in.png", "after-sign-out-reload.png"):
                shutil.copy(tmp_path / name, Path(shots) / name)


def test_dispatch_queue_reloads_by_itself_keeping_the_selected_case(app_url, db_settings,
                                                                    tmp_path):
    """Another user verifies the case a dispatcher is looking at: within a few refresh
    intervals the page shows it verified, with the same case still selected."""
    import re

    from playwright.sync_api import sync_playwright

    from geo import store
    from geo.access import SYSTEM, Scope
    from geo.store.dispatching import transition_case

    engine = store.connect(db_settings.database_url)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(app_url)
        sign_in(page, "dispatcher-sc", "dispatcher-demo")
        page.get_by_role("link", name="派遣").click(timeout=60_000)
        header = page.locator("strong", has_text=re.compile(r"^#\d+ ")).first
        header.wait_for(timeout=90_000)
        case_id = int(header.inner_text().split()[0].lstrip("#"))
        frame = store.cases_frame(engine, scope=SYSTEM).set_index("id")
        assert frame.loc[case_id, "status"] == "routed"
        page.wait_for_timeout(3000)
        transition_case(engine, case_id, int(frame.loc[case_id, "version"]), "verified",
                        "command", scope=Scope("command", actor="command"))
        page.wait_for_function(
            f"() => /#{case_id} [^\\n]*· 已核查 ·/.test(document.body.innerText)",
            timeout=60_000)
        page.screenshot(path=str(tmp_path / "dispatch-refreshed.png"))
        browser.close()


def test_the_command_map_fills_the_window_with_teams_under_the_cases(app_url, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(app_url)
        sign_in(page)
        frame = map_frame(page)
        iframe = page.locator('iframe[title="streamlit_folium.st_folium"]').first
        page.wait_for_timeout(500)
        box = iframe.bounding_box()
        inner = frame.evaluate("() => window.map.getContainer().getBoundingClientRect().height")
        size = frame.evaluate("() => window.map.getSize().y")
        teams_pane = frame.evaluate("""() => {
            var pane = window.map.getPane("onemapTeams390");
            return pane ? [Number(pane.style.zIndex),
                           pane.querySelectorAll(".onemap-team").length] : null; }""")
        page.screenshot(path=os.environ.get("GEO_SHOT_DIR", str(tmp_path)) + "/command-1366.png")
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.wait_for_timeout(500)
        wide = iframe.bounding_box()["height"]
        wide_size = frame.evaluate("() => window.map.getSize().y")
        browser.close()
    # the window less Streamlit's top bar (not the 650 px the page asks streamlit-folium for)
    assert abs(box["height"] - (768 - VIEWPORT_OFFSET_PX)) <= 2
    assert abs(inner - box["height"]) <= 2 and abs(size - box["height"]) <= 2
    assert abs(wide - (1080 - VIEWPORT_OFFSET_PX)) <= 2 and abs(wide_size - wide) <= 2
    assert teams_pane is not None and teams_pane[0] < 400 and teams_pane[1] > 0


def test_view_takes_the_map_to_a_new_high_alert_and_acknowledge_clears_it(app_url,
                                                                         db_settings,
                                                                         tmp_path):
    """A new high-severity alert waits on the command page's panel: 查看 rings it and
    takes the map to it (each time, also back to the same case) without the live refresh
    undoing the user's pan and zoom afterwards; 确认 clears it with a confirmation."""
    import datetime as dt

    from playwright.sync_api import sync_playwright

    from geo import store
    from geo.access import SYSTEM
    from tests.test_app import _stored_days_ago

    _stored_days_ago(db_settings)  # the fixture's alerts came in days ago: none to confirm
    engine = store.connect(db_settings.database_url)
    where = store.cases_frame(engine, scope=SYSTEM).iloc[7]
    ring = ("() => Object.values(window.map._layers).filter(l => l instanceof L.CircleMarker"
            " && l.options.className == 'onemap-selected').length")
    at = f"[{where['lat']}, {where['lon']}]"
    centred = (f"() => !window.map._animatingZoom && window.map.getZoom() == 16 && "
               f"window.map.distance(window.map.getCenter(), {at}) < 5")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(app_url)
        sign_in(page)
        frame = map_frame(page)
        frame.evaluate("() => { window.map.setView([30.87, 120.15], 12, {animate: false}); }")
        reported = (store.utcnow() - dt.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        (tmp_path / "high.csv").write_text(
            "id,lon,lat,matter,reported_at,source,severity,description\n"
            f"HIGH-9,{where['lon']},{where['lat']},{where['matter_code']},{reported},12345,"
            "high,<b>油烟</b>\n", encoding="utf-8")
        assert main(["ingest", str(tmp_path / "high.csv")], db_settings) == 0
        page.get_by_text("待确认的高危预警 (1)").wait_for(timeout=30_000)
        view = page.get_by_role("button", name="查看", exact=True)
        view.click()
        frame.wait_for_function(centred, timeout=20_000)
        assert frame.evaluate(ring) == 1
        page.screenshot(path=str(tmp_path / "ack-view.png"))
        # the user moves away; the live refresh keeps their view; 查看 again comes back
        frame.evaluate("() => { window.map.setView([30.80, 120.10], 13, {animate: false}); "
                       "window.sameMap = true; }")
        more_alerts(db_settings, tmp_path, 201, 203)
        frame.wait_for_function("() => window.onemapCases.count == 203", timeout=30_000)
        page.wait_for_timeout(500)
        assert frame.evaluate("() => window.sameMap") is True, "the map was drawn anew"
        assert frame.evaluate("() => window.map.getZoom()") == 13
        view.click()
        frame.wait_for_function(centred, timeout=20_000)
        page.get_by_role("button", name="确认", exact=True).click()
        page.get_by_text("待确认的高危预警 (0)").wait_for(timeout=20_000)
        page.wait_for_function("() => ['已确认 #', '指挥中心值班员：已确认预警'].every("
                               "s => document.body.innerText.includes(s))", timeout=20_000)
        page.screenshot(path=str(tmp_path / "ack-done.png"))
        browser.close()


def _dt_sc_call(database_url: str) -> tuple[float, float, str, str]:
    """A point and a matter that route to DT-SC (the demo dispatcher's body), unflagged:
    (lon, lat, matter code, matter name)."""
    from geo import store
    from geo.access import SYSTEM
    from geo.routing import Router

    engine = store.connect(database_url)
    layers, catalog = store.load_layers(engine, scope=SYSTEM), store.load_catalog(
        engine, scope=SYSTEM)
    router = Router(layers, catalog)
    matters = catalog.matters[catalog.matters["district_body"] == "DT-SC"]
    for point in layers.townships.geometry.representative_point():
        for code, name in zip(matters["code"], matters["name"], strict=True):
            routing = router.route(point.x, point.y, code)
            if routing.body_code == "DT-SC" and not routing.flags:
                return point.x, point.y, code, name
    raise AssertionError("no township leaves a DT-SC matter to the district team")


def test_a_call_taken_is_dispatched_and_closed_and_a_second_assigner_is_told(app_url,
                                                                             db_settings,
                                                                             tmp_path):
    """A dispatcher opens a case from 接警, opens it in 派遣, assigns the recommended team
    while the command center assigns it too (the loser is told who got it), then takes it
    to 已办结 through the offered step buttons, with the confirmations and the Chinese
    timeline."""
    import re

    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    from geo import store
    from geo.access import SYSTEM
    from geo.store import dispatching

    lon, lat, matter, matter_name = _dt_sc_call(db_settings.database_url)
    engine = store.connect(db_settings.database_url)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(app_url)
        sign_in(page, "dispatcher-sc", "dispatcher-demo")
        page.get_by_role("link", name="接警").click(timeout=60_000)
        page.get_by_text("地图点选", exact=True).wait_for(timeout=60_000)
        deadline = time.time() + 60
        while not page.get_by_label("经度").is_visible():  # a click while the page runs
            assert time.time() < deadline, "the coordinate boxes did not open"
            page.get_by_text("输入坐标", exact=True).click()
            page.wait_for_timeout(1000)
        page.get_by_label("经度").fill(f"{lon:.6f}")
        page.get_by_label("纬度").fill(f"{lat:.6f}")
        page.get_by_label("纬度").press("Enter")
        box = page.locator("[data-testid='stSelectbox']", has_text="事项")
        # the preview names the district team once the matter is picked (the sidebar names
        # the dispatcher's body too: only the page's main part counts)
        chosen = ("() => document.querySelector('[data-testid=\"stMainBlockContainer\"]')"
                  ".innerText.includes('区市场监管执法队')")
        for _ in range(3):  # a pick made while the page reruns can be lost: pick again
            box.click()
            page.keyboard.type(matter_name)
            page.keyboard.press("Enter")
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_function(chosen, timeout=15_000)
                break
        page.wait_for_function(chosen, timeout=15_000)
        page.get_by_label("地址或地标（来电人所述）").fill("来电人说：桥头路口")
        page.get_by_label("地址或地标（来电人所述）").press("Enter")
        page.wait_for_function("() => document.body.innerText.includes('归属理由') && "
                               "document.body.innerText.includes('区市场监管执法队')",
                               timeout=60_000)
        page.screenshot(path=str(tmp_path / "calltaker-preview.png"))
        page.get_by_role("button", name="立案").click()
        page.wait_for_function("() => /已立案：案件 #\\d+/.test(document.body.innerText)",
                               timeout=60_000)
        case_id = int(re.search(r"已立案：案件 #(\d+)", page.inner_text("body"))[1])
        case = store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[case_id]
        assert (case["body_code"], case["matter_code"], case["source"]) == (
            "DT-SC", matter, "12345")
        for label in ("经度", "地址或地标（来电人所述）"):  # a new, empty form replaces it
            expect(page.get_by_label(label)).to_have_count(1, timeout=30_000)
            expect(page.get_by_label(label)).to_have_value("", timeout=30_000)
        page.screenshot(path=str(tmp_path / "calltaker-opened.png"))

        # 派遣 opens it; the command center has it open too, by its address
        page.get_by_role("link", name=f"在派遣中打开案件 #{case_id}").click()
        header = page.locator("strong", has_text=re.compile(rf"^#{case_id} "))
        try:
            header.wait_for(timeout=90_000)
        finally:
            page.screenshot(path=str(tmp_path / "dispatch-opened.png"))
        other = browser.new_page(viewport={"width": 1500, "height": 1000})
        other.goto(f"{app_url}/dispatch?case={case_id}")  # the link leads there once signed in
        sign_in(other, "command", "command-demo")
        try:
            other.locator("strong", has_text=re.compile(rf"^#{case_id} ")).wait_for(
                timeout=90_000)
        finally:
            other.screenshot(path=str(tmp_path / "dispatch-other.png"))
        mine = page.get_by_role("button", name="派遣", exact=True).first
        theirs = other.get_by_role("button", name="派遣", exact=True).first
        mine.wait_for(timeout=30_000)
        theirs.wait_for(timeout=30_000)
        mine.click()
        theirs.click()
        told = re.compile(rf"案件 #{case_id} 刚刚已由 (\S+) 办理")
        shown = {"dispatcher-sc": "市场监管派遣员", "command": "指挥中心值班员"}  # their names
        deadline = time.time() + 120  # a loaded CI machine
        while True:
            assignments = dispatching.assignments_of(engine, case_id, scope=SYSTEM)
            texts = {"dispatcher-sc": page.inner_text("body"),
                     "command": other.inner_text("body")}
            if len(assignments) == 1:
                winner = assignments[0].actor
                loser = "command" if winner == "dispatcher-sc" else "dispatcher-sc"
                found = told.search(texts[loser])
                if found:
                    break
            assert time.time() < deadline, "the second assigner was not told"
            page.wait_for_timeout(250)
        assert found[1] == shown[winner] and "派遣" in texts[loser]
        assert len(dispatching.assignments_of(engine, case_id, scope=SYSTEM)) == 1
        (page if loser == "dispatcher-sc" else other).screenshot(
            path=str(tmp_path / "dispatch-told.png"))
        other.close()

        # the dispatcher takes the case on to 已办结 through the offered step buttons
        header.wait_for(timeout=30_000)
        page.wait_for_function(
            f"() => /#{case_id} [^\\n]*· 已派遣 ·/.test(document.body.innerText)",
            timeout=60_000)
        page.get_by_role("button", name="开始处置").click()
        page.get_by_text(f"案件 #{case_id} 已转为「处置中」。").first.wait_for(timeout=60_000)
        page.wait_for_function("() => document.body.innerText.includes('已派遣 → 处置中')",
                               timeout=60_000)
        body = page.inner_text("body")
        assert "已分拨 → 已派遣，派遣 " in body and "已派遣 → 处置中" in body
        assert f"{shown[winner]}：已分拨 → 已派遣" in body
        assert "市场监管派遣员：新线索 → 已分拨" in body  # the first entry: who took the call
        page.get_by_role("button", name="办结").click()
        page.get_by_label("理由").fill("现场已处理完毕")
        page.get_by_role("button", name="确定办结").click()
        page.get_by_text(f"案件 #{case_id} 已转为「已办结」。").first.wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "dispatch-closed.png"))
        browser.close()
    frame = store.cases_frame(engine, scope=SYSTEM).set_index("id")
    assert frame.loc[case_id, "status"] == "closed"
