"""No log line of the API server holds a token: the access log writes each request line,
query string included, and Open311 clients send their token as ``api_key``."""

import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from geo.access import SYSTEM
from geo.api.logsafe import RedactSecrets, redact, server_log_config
from geo.cli import main
from geo.settings import PROJECT_ROOT
from geo.store import connect
from geo.store.accounts import add_source, add_user, issue_user_token
from tests.appserver import free_port


def test_redact_blots_out_token_values_only():
    line = ('GET /open311/v2/requests.json?status=open&api_key=s3cr3t-Tok_en&x=1 HTTP/1.1 '
            'Authorization: Bearer abc.DEF-123 /a?API_KEY=zz /b?access_token=q#f')
    clean = redact(line)
    assert clean == ('GET /open311/v2/requests.json?status=open&api_key=***&x=1 HTTP/1.1 '
                     'Authorization: Bearer *** /a?API_KEY=*** /b?access_token=***#f')
    assert redact("page=2&status=open") == "page=2&status=open"
    token = "O8e4KVl4luqkC9jBJJjeCRhEQGD74IeR5bEbBtahze8"  # a token's shape, anywhere
    assert redact(f"GET /api/v1/cases/{token} 422") == "GET /api/v1/cases/*** 422"
    assert redact("sha256 " + "a" * 64) == "sha256 " + "a" * 64


def test_the_filter_cleans_a_uvicorn_access_record_before_it_is_formatted():
    from uvicorn.logging import AccessFormatter

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/open311/v2/requests.json?api_key=SECRET123", "1.1", 200),
        None)
    assert RedactSecrets().filter(record)
    out = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s',
                          use_colors=False).format(record)
    assert "SECRET123" not in out and "api_key=***" in out
    config = server_log_config()
    assert all("redact_secrets" in h["filters"] for h in config["handlers"].values())


def test_the_servers_logs_hold_no_token(db_settings, small_dirs, tmp_path):
    layers_dir, catalog_dir = small_dirs
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                db_settings) == 0
    engine = connect(db_settings.database_url)
    source = add_source(engine, "12345", "热线", scope=SYSTEM)
    add_user(engine, "boss", "Boss", "command", scope=SYSTEM)
    user = issue_user_token(engine, "boss", scope=SYSTEM)
    port = free_port()
    log_path = tmp_path / "api.log"
    env = {**os.environ, "GEO_DATABASE_URL": db_settings.database_url,
           "GEO_CACHE": str(tmp_path / "cache")}
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "geo", "api", "--port", str(port)],
                                cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{url}/openapi.json", timeout=2)
                    break
                except OSError:
                    assert time.time() < deadline and proc.poll() is None, \
                        log_path.read_text()
                    time.sleep(0.2)
            statuses = []
            for path, headers in (
                    (f"/open311/v2/requests.json?api_key={user}", {}),
                    (f"/open311/v2/requests.json?status=open&api_key={source}", {}),
                    (f"/open311/v2/requests.json?api_key={user}x", {}),
                    (f"/api/v1/cases?api_key={user}", {}),
                    ("/api/v1/cases", {"Authorization": f"Bearer {user}"}),
                    (f"/api/v1/cases/{user}", {"Authorization": f"Bearer {user}"})):
                request = urllib.request.Request(url + path, headers=headers)
                try:
                    statuses.append(urllib.request.urlopen(request, timeout=10).status)
                except urllib.error.HTTPError as exc:
                    statuses.append(exc.code)
            assert statuses == [200, 200, 401, 400, 200, 422]
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    text = log_path.read_text(encoding="utf-8")
    assert "Uvicorn running" in text or "Application startup complete" in text
    assert text.count("GET /open311/v2/requests.json?") == 3, text
    assert "api_key=***" in text and "status=open&api_key=***" in text
    for token in (user, source):
        assert token not in text, text
