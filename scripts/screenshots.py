"""Screenshots of every page, as the role that uses it, at 1366x768 and 1920x1080.

Usage (the demo database made by ``make run`` or ``make data/onemap.sqlite``)::

    python scripts/screenshots.py [--out docs/screenshots] [--url URL]

Without ``--url`` the app is started on a free localhost port on the demo database, with
no basemap tiles (so nothing leaves the machine) and without the live feed. Needs Debian's
``chromium`` and the ``playwright`` package (``make .venv/.test browser-deps``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = [(1366, 768), (1920, 1080)]
# page url path, the demo user who works there, that user's demo password
PAGES = [
    ("", "command", "command-demo"),  # the default page is the root
    ("dispatch", "dispatcher-sc", "dispatcher-demo"),
    ("calltaker", "dispatcher-sc", "dispatcher-demo"),
    ("teams", "command", "command-demo"),
    ("coverage", "planner", "planner-demo"),
    ("inspections", "zhili", "zhili-demo"),
    ("layers", "planner", "planner-demo"),
]
#: the pages that draw a map at first sight: their screenshot waits for it (a live
#: refresh of the command page can come between a finished run and the map)
MAPS = {"", "calltaker", "teams", "coverage", "dispatch"}
DRAWN = """() => Array.from(document.querySelectorAll(
    'iframe[title="streamlit_folium.st_folium"]')).some(function (f) {
        return f.contentDocument && f.contentDocument.querySelector('.leaflet-container');
    })"""
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def serve() -> Iterator[str]:
    """The app on the demo database at a free localhost port (`tests.appserver.serve`)."""
    sys.path.insert(0, str(ROOT))
    from tests.appserver import serve as app

    running = app(f"sqlite:///{ROOT / 'data' / 'onemap.sqlite'}", refresh_s=10)
    try:
        yield next(running)
    finally:
        running.close()


#: true while Streamlit runs the page, the page shows a spinner or a placeholder (a cold
#: start loads the layers under one), or a map frame has not drawn its map yet
BUSY = """() => {
    if (document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSpinner"], '
                               + '[data-testid="stSkeleton"], form[data-testid="stForm"]')) {
        return true;
    }
    var maps = document.querySelectorAll('iframe[title="streamlit_folium.st_folium"]');
    return Array.from(maps).some(function (f) {
        var doc = f.contentDocument;
        return !doc || !doc.querySelector('.leaflet-container');
    });
}"""


def settle(page, timeout_ms: int = 180_000) -> None:
    """Wait until the sign-in form has gone, Streamlit has finished running the page, no
    spinner is left and its maps have drawn."""
    page.wait_for_timeout(1500)
    page.wait_for_function(f"() => !({BUSY})()", timeout=timeout_ms)
    page.wait_for_timeout(1500)
    page.wait_for_function(f"() => !({BUSY})()", timeout=timeout_ms)
    page.wait_for_timeout(2500)


def shoot(url: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Debian's chromium is needed: apt-get install chromium")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        for path, user, password in PAGES:
            for width, height in SIZES:
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(f"{url}/{path}")
                page.get_by_label("用户名").fill(user, timeout=60_000)
                page.get_by_label("密码").fill(password)
                page.get_by_role("button", name="登录").click()
                settle(page)
                if path in MAPS:
                    page.wait_for_function(DRAWN, timeout=180_000)
                    settle(page)
                target = out / f"{path or 'command'}-{width}x{height}.png"
                page.screenshot(path=str(target))
                written.append(target)
                print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}"
                      f" ({user})", flush=True)
                page.close()
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--url", help="an app already running (else one is started)")
    args = parser.parse_args(argv)
    if args.url:
        shoot(args.url.rstrip("/"), args.out)
    else:
        with serve() as url:
            shoot(url, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
