"""The app on a free localhost port, for the browser tests and `scripts/screenshots.py`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

from geo.settings import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(database_url: str, refresh_s: float = 2) -> Iterator[str]:
    """Run the app on ``database_url`` at a free localhost port, without basemap tiles
    (nothing leaves the machine) and refreshing every ``refresh_s`` seconds; yields its
    address, and stops it when closed."""
    port = free_port()
    env = {**os.environ, "GEO_DATABASE_URL": database_url, "GEO_REFRESH_S": str(refresh_s),
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
