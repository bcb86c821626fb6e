"""API tokens over a real database (SQLite and PostGIS): a disabled, deleted or renewed
token is refused on the very next request, in every process; the Bearer header is the only
way in on /api/v1, while Open311 keeps its ``api_key``."""

import pytest
from fastapi.testclient import TestClient

from geo.api import create_app
from geo.cli import main
from geo.store.models import Alert
from tests.test_api import alert, api_client, auth, count


@pytest.fixture
def api(store_settings, small_dirs):
    with api_client(store_settings, small_dirs) as found:
        yield found


def test_a_user_disabled_with_the_command_gets_401_on_the_next_request(api, store_settings,
                                                                       capsys):
    client, tokens, _ = api
    boss = auth(tokens["boss"])
    # a second server process on the same database, which has just seen the token too
    with TestClient(create_app(store_settings)) as other:
        for c in (client, other):
            assert c.get("/api/v1/cases", headers=boss).status_code == 200
        assert main(["users", "disable", "boss"], store_settings) == 0
        assert "boss disabled" in capsys.readouterr().out
        for c in (client, other):
            r = c.get("/api/v1/cases", headers=boss)
            assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
            assert c.get("/open311/v2/requests.json",
                         params={"api_key": tokens["boss"]}).status_code == 401
        assert main(["users", "enable", "boss"], store_settings) == 0
        assert other.get("/api/v1/cases", headers=boss).status_code == 200
        # a renewed token: the old one is refused at once, the new one is taken
        assert main(["users", "token", "boss"], store_settings) == 0
        renewed = capsys.readouterr().out.strip().splitlines()[-1]
        assert other.get("/api/v1/cases", headers=boss).status_code == 401
        assert other.get("/api/v1/cases", headers=auth(renewed)).status_code == 200
        assert main(["users", "delete", "boss"], store_settings) == 0
        assert client.get("/api/v1/cases", headers=auth(renewed)).status_code == 401
    assert main(["users", "delete", "boss"], store_settings) == 1
    assert "no user 'boss'" in capsys.readouterr().err


def test_a_disabled_or_deleted_source_posts_nothing_more(api, store_settings, capsys):
    client, tokens, engine = api
    src = auth(tokens["src"])
    assert client.post("/api/v1/alerts", json=alert("S1"), headers=src).status_code == 201
    assert main(["sources", "disable", "12345"], store_settings) == 0
    r = client.post("/api/v1/alerts", json=alert("S2"), headers=src)
    assert r.status_code == 401 and "unknown or disabled token" in r.text
    form = {"api_key": tokens["src"], "service_code": "M1", "lat": alert("x")["lat"],
            "long": alert("x")["lon"]}
    assert client.post("/open311/v2/requests.json", data=form).status_code == 401
    assert main(["sources", "list"], store_settings) == 0
    assert "12345" in capsys.readouterr().out
    # `sources add` renews the token and enables the source again
    assert main(["sources", "add", "12345"], store_settings) == 0
    renewed = capsys.readouterr().out.strip()
    assert client.post("/api/v1/alerts", json=alert("S3"), headers=src).status_code == 401
    assert client.post("/api/v1/alerts", json=alert("S3"),
                       headers=auth(renewed)).status_code == 201
    assert main(["sources", "delete", "12345"], store_settings) == 0
    assert client.post("/api/v1/alerts", json=alert("S4"),
                       headers=auth(renewed)).status_code == 401
    assert count(engine, Alert) == 2  # the alerts it posted stay
    assert main(["sources", "disable", "12345"], store_settings) == 1
    assert "no source '12345'" in capsys.readouterr().err


def test_a_token_in_the_query_string_is_refused_on_api_v1(api):
    client, tokens, engine = api
    for token in (tokens["boss"], "not-a-token-at-all"):
        for headers in ({}, auth(tokens["boss"])):
            r = client.get("/api/v1/cases", params={"api_key": token}, headers=headers)
            assert r.status_code == 400, r.text
            assert "Authorization: Bearer" in r.json()["detail"] and token not in r.text
    r = client.post("/api/v1/alerts", params={"api_key": tokens["src"]}, json=alert("Q1"),
                    headers=auth(tokens["src"]))
    assert r.status_code == 400 and count(engine, Alert) == 0
    r = client.get("/api/v1/cases/1", params={"api_key": tokens["boss"]})
    assert r.status_code == 400
    # a token without the header is no token at all
    r = client.get("/api/v1/cases")
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    # Open311 keeps api_key (its specification's), in the query and in the form
    assert client.get("/open311/v2/requests.json",
                      params={"api_key": tokens["boss"]}).status_code == 200
    assert client.get("/open311/v2/requests.json",
                      headers=auth(tokens["boss"])).status_code == 200
