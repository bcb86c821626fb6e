"""Command-map benchmark in a real browser (Debian's headless Chromium).

Builds a database with the demo layers and N open cases (default 10,000), starts the app on
a free localhost port, and measures (1) the time from navigation until the map shows every
case, on a cold server and on a warm one, and (2) the time from committing 50 new alerts to
the map showing them, over several rounds, with a 1 s refresh interval: both from the first
refresh tick after the commit (seen as the page's "updated at" caption changing, which a
refresh writes first) and from the commit itself (which adds the wait for the tick).
Usage: ``python bench/map_bench.py [--cases N] [--rounds R]``.

``--pages`` instead builds the demo database (the demo alerts, their history and a year of
inspections, as ``make run`` does) and times, for the pages 覆盖 and 图层, the navigation
until the page's script has finished, no spinner shows and each of its maps has drawn:
the first visit after the server starts, then warm visits.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.cli import main as cli  # noqa: E402
from geo.demo.feed import feed_alert  # noqa: E402
from geo.layers import load_layers  # noqa: E402
from geo.settings import Settings  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def write_alerts(path: Path, n: int, seed: int, start: int) -> None:
    rng = np.random.default_rng(seed)
    sites = load_layers(ROOT / "layers").sites
    now = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    rows = [feed_alert(rng, sites, now - dt.timedelta(minutes=int(rng.integers(0, 20000))),
                       start + i) for i in range(n)]
    for i, r in enumerate(rows):
        r["id"] = f"BENCH-{start + i:06d}"
    cols = list(rows[0])
    with path.open("w", encoding="utf-8") as f:
        f.write(",".join(cols) + "\n")
        for r in rows:
            f.write(",".join(str(r[c]).replace(",", " ") for c in cols) + "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(database_url: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """The app on a free localhost port (no map tiles), once it answers: process and URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port",
         str(port), "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env={**os.environ, "GEO_DATABASE_URL": database_url, "GEO_TILES": "none",
                       **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return server, url
        except OSError:
            time.sleep(0.2)


def wait_count(page, count: int, timeout_s: float = 120.0) -> dict:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for frame in page.frames:
            if "streamlit_folium" in frame.url:
                try:
                    state = frame.evaluate("() => window.onemapCases || null")
                except Exception:  # the frame is still loading
                    state = None
                if state and state["count"] == count:
                    return state
        page.wait_for_timeout(20)
    raise TimeoutError(f"the map did not show {count} cases")


def updated_text(page) -> str:
    """The page's "updated at" caption, which a refresh writes first."""
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('[data-testid=stCaptionContainer]'))"
        ".map(e => e.innerText).find(t => t.startsWith('数据更新于')) || ''")


#: page url path -> (title, number of maps it draws)
PAGES = {"coverage": ("覆盖", 1), "layers": ("图层", 5)}

DONE_JS = """([title, maps]) => {
    const h1 = document.querySelector('h1');
    if (!h1 || !h1.innerText.includes(title)) return false;
    if (document.querySelector('[data-testid=stSpinner]')) return false;
    const status = document.querySelector('[data-testid=stStatusWidget]');
    if (status && status.innerText.includes('Running')) return false;
    const frames = Array.from(document.querySelectorAll('iframe'))
        .filter(f => (f.src || '').includes('streamlit_folium'));
    if (frames.length < maps) return false;
    return frames.every(f => {
        try {
            const d = f.contentDocument;
            return d && d.querySelector('.leaflet-container')
                && d.querySelector('.leaflet-overlay-pane canvas, .leaflet-overlay-pane svg');
        } catch (e) { return false; }
    });
}"""


def wait_page(page, title: str, maps: int, timeout_s: float = 120.0) -> None:
    """Until the page's script has finished, no spinner shows and its maps have drawn
    (checked twice 100 ms apart, so that a rerun starting in between is seen)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if page.evaluate(DONE_JS, [title, maps]):
            page.wait_for_timeout(100)
            if page.evaluate(DONE_JS, [title, maps]):
                return
        page.wait_for_timeout(20)
    raise TimeoutError(f"the page {title} did not finish")


def demo_pages(chromium: str, visits: int) -> None:
    """Time the pages 覆盖 and 图层 on the demo database."""
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="map_bench_pages_"))
    settings = Settings(database_url=f"sqlite:///{tmp / 'demo.sqlite'}")
    for argv in (["init"], ["ingest", str(ROOT / "data" / "demo_alerts.csv")],
                 ["demo", "history"], ["demo", "users", "--yes"]):
        cli(argv, settings)
    server, url = start_app(settings.database_url, {})
    times: dict[str, list[float]] = {name: [] for name in PAGES}
    in_app: dict[str, list[float]] = {name: [] for name in PAGES}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=ARGS)
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            page = context.new_page()
            page.goto(url)
            page.get_by_label("用户名").fill("planner", timeout=60_000)
            page.get_by_label("密码").fill("planner-demo")
            page.get_by_role("button", name="登录").click()
            page.get_by_role("link", name="图层").wait_for(timeout=60_000)
            page.close()
            for _ in range(visits):
                for name, (title, maps) in PAGES.items():
                    page = context.new_page()
                    t0 = time.time()
                    page.goto(f"{url}/{name}")
                    wait_page(page, title, maps)
                    times[name].append(time.time() - t0)
                    page.close()
            # what an operator does all day: from page to page by the sidebar, in one tab
            page = context.new_page()
            page.goto(url)
            page.get_by_role("link", name="图层").wait_for(timeout=60_000)
            for _ in range(visits):
                for name, (title, maps) in PAGES.items():
                    t0 = time.time()
                    page.get_by_role("link", name=title).click()
                    wait_page(page, title, maps)
                    in_app[name].append(time.time() - t0)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)
    for name, (title, _) in PAGES.items():
        first, *warm = times[name]
        print(f"{title} ({name}) on the demo database: first visit after server start "
              f"{first:.2f} s; warm " + ", ".join(f"{s:.2f}" for s in warm) + " s (a new tab); "
              "from another page by the sidebar " + ", ".join(f"{s:.2f}" for s in in_app[name])
              + " s")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "map_bench_pages.json").write_text(json.dumps({"new_tab": times,
                                                           "sidebar": in_app}, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pages", action="store_true",
                    help="time the pages 覆盖 and 图层 on the demo database instead")
    ap.add_argument("--visits", type=int, default=4, help="visits per page with --pages")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    if args.pages:
        chromium = shutil.which("chromium")
        if not chromium:
            sys.exit("Debian's chromium is needed (apt-get install chromium)")
        demo_pages(chromium, args.visits)
        return

    chromium = shutil.which("chromium")
    if not chromium:
        sys.exit("Debian's chromium is needed (apt-get install chromium)")
    tmp = Path(tempfile.mkdtemp(prefix="map_bench_"))
    settings = Settings(database_url=f"sqlite:///{tmp / 'bench.sqlite'}")
    cli(["init"], settings)
    write_alerts(tmp / "alerts.csv", args.cases, 1, 0)
    t0 = time.perf_counter()
    cli(["ingest", str(tmp / "alerts.csv")], settings)
    cli(["demo", "users", "--yes"], settings)
    print(f"ingested {args.cases:,} alerts in {time.perf_counter() - t0:.1f} s", flush=True)

    server, url = start_app(settings.database_url, {"GEO_REFRESH_S": "1"})
    result: dict = {"cases": args.cases}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=ARGS)
            # one browser profile: after the first sign-in the cookie signs the pages in
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            loads = []
            for label in ("cold (from sign-in)", "warm (cookie)", "warm (cookie)"):
                page = context.new_page()
                t0 = time.time()
                page.goto(url)
                if label.startswith("cold"):
                    page.get_by_label("用户名").fill("command", timeout=60_000)
                    page.get_by_label("密码").fill("command-demo")
                    t0 = time.time()
                    page.get_by_role("button", name="登录").click()
                state = wait_count(page, args.cases)
                loads.append((label, state["drawn"] / 1000 - t0))
                page.close()
            result["load_s"] = loads
            page = context.new_page()
            page.goto(url)
            wait_count(page, args.cases)
            refresh = []
            total = args.cases
            for k in range(args.rounds):
                path = tmp / f"more{k}.csv"
                write_alerts(path, 50, 100 + k, 100_000 + 50 * k)
                cli(["ingest", str(path)], settings)
                committed = time.time()
                before = updated_text(page)
                while updated_text(page) == before:  # the first tick after the commit
                    page.wait_for_timeout(10)
                tick = time.time()
                total += 50
                state = wait_count(page, total, 30)
                refresh.append((state["drawn"] / 1000 - committed, state["drawn"] / 1000 - tick))
                page.wait_for_timeout(700)
            result["refresh_s"] = refresh
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)
    for label, s in result["load_s"]:
        print(f"page load to {args.cases:,} cases drawn ({label} server): {s:.2f} s")
    commit = [a for a, _ in result["refresh_s"]]
    tick = [b for _, b in result["refresh_s"]]
    print(f"refresh adding 50 cases, from the refresh tick to drawn: median "
          f"{statistics.median(tick):.2f} s, max {max(tick):.2f} s over {len(tick)} rounds")
    print(f"from the commit of the 50 alerts to drawn (adds the wait for the next 1 s tick): "
          f"median {statistics.median(commit):.2f} s, max {max(commit):.2f} s")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "map_bench.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
