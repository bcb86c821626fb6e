"""End to end in headless Chromium (Debian's ``chromium``): the app on a free localhost port.

Skipped with the reason on a machine without Chromium or Playwright, except in CI
(``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from geo.app.mapview import VIEWPORT_OFFSET_PX
from geo.cli import main
from geo.settings import PROJECT_ROOT

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(db_settings, tmp_path):
    chromium()
    assert main(["init"], db_settings) == 0
    lines = (PROJECT_ROOT / "data" / "demo_alerts.csv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "alerts.csv").write_text("\n".join(lines[:201]) + "\n", encoding="utf-8")
    assert main(["ingest", str(tmp_path / "alerts.csv")], db_settings) == 0
    assert main(["demo", "users", "--yes"], db_settings) == 0
    yield from serve(db_settings.database_url)


def serve(database_url: str):
    """Run the app on ``database_url`` at a free localhost port; yields its address."""
    port = free_port()
    env = {**os.environ, "GEO_DATABASE_URL": database_url, "GEO_REFRESH_S": "2",
           "GEO_TILES": "none"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port",
         str(port), "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("the app did not start") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def sign_in(page, username: str = "command", password: str = "command-demo") -> None:
    """Fill the sign-in form the app shows first."""
    page.get_by_label("用户名").fill(username, timeout=60_000)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def map_frame(page, timeout_s: float = 60.0):
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
    """The 图层 tabs draw each layer fitted to the district with a zoom control; no map's
    attribution carries a flag icon."""
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
        page.wait_for_function("() => ['已确认 #', 'command：已确认预警'].every("
                               "s => document.body.innerText.includes(s))", timeout=20_000)
        page.screenshot(path=str(tmp_path / "ack-done.png"))
        browser.close()
