"""Starting the Streamlit server contacts no outside address (DESIGN: nothing leaves the
machine unless the user configured it)."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from geo.settings import PROJECT_ROOT

# Streamlit's start-up banner, with the project's .streamlit/config.toml, in a fresh process:
# every network look-up of streamlit.net_util is replaced by a recorder.
BANNER = """
import streamlit.net_util as net_util
from streamlit import config
from streamlit.web import bootstrap

calls = []
net_util.get_external_ip = lambda: calls.append("external ip") or "203.0.113.9"
net_util.get_internal_ip = lambda: calls.append("internal ip") or "10.0.0.9"
net_util._make_blocking_http_get = lambda *a, **k: calls.append("http get")
config.get_config_options(force_reparse=True,
                          options_from_flags={"server.headless": True})
bootstrap._print_url(False)
print("LOOKUPS", calls)
"""


def test_config_names_the_server_address_and_keeps_statistics_off():
    with open(PROJECT_ROOT / ".streamlit" / "config.toml", "rb") as f:
        config = tomllib.load(f)
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["headless"] is True
    # without it, a headless start asks checkip.amazonaws.com for the external IP
    assert config["browser"]["serverAddress"]


def test_config_shows_operators_no_traceback():
    from streamlit.config import ShowErrorDetailsConfigOptions

    with open(PROJECT_ROOT / ".streamlit" / "config.toml", "rb") as f:
        config = tomllib.load(f)
    shown = config["client"]["showErrorDetails"]
    assert ShowErrorDetailsConfigOptions(shown) is ShowErrorDetailsConfigOptions.NONE


def test_headless_start_looks_up_no_address():
    out = subprocess.run([sys.executable, "-c", BANNER], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert "LOOKUPS []" in out, out
    assert "External URL" not in out and "Network URL" not in out, out
