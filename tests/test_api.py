"""The intake API over a real database (SQLite and PostGIS): tokens, idempotency, rate
limits, field-level rejections, scoped reads and the Open311 face."""

import contextlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from geo import store
from geo.access import SYSTEM
from geo.api import create_app
from geo.cli import main
from geo.store.accounts import add_source, add_user, issue_user_token
from geo.store.models import Alert, Case
from tests.conftest import CODE_A, CODE_B, SIDE, X0, Y0, to_wgs

# a point in township A (empowered for M1: its center) and one in B
(A_LON, B_LON), (A_LAT, B_LAT) = to_wgs([X0 + 500, X0 + SIDE + 500], [Y0 + 500] * 2)


@pytest.fixture
def api(store_settings, small_dirs):
    with api_client(store_settings, small_dirs) as found:
        yield found


@contextlib.contextmanager
def api_client(store_settings, small_dirs):
    """An API client on the small district's database, with tokens of two sources and four
    users: ``(client, tokens, engine)``."""
    layers_dir, catalog_dir = small_dirs
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                store_settings) == 0
    engine = store.connect(store_settings.database_url)
    tokens = {"src": add_source(engine, "12345", "热线", rate_limit="50/minute", scope=SYSTEM),
              "gcj": add_source(engine, "app", "手机", crs="gcj02", scope=SYSTEM)}
    for username, role, township, body in (("a", "township", CODE_A, None),
                                           ("b", "township", CODE_B, None),
                                           ("sc", "dispatcher", None, "DT-SC"),
                                           ("boss", "command", None, None)):
        add_user(engine, username, username, role, township=township, body=body, scope=SYSTEM)
        tokens[username] = issue_user_token(engine, username, scope=SYSTEM)
    with TestClient(create_app(store_settings)) as client:
        yield client, tokens, engine


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def alert(ext, lon=A_LON, lat=A_LAT, **kw):
    return {"id": ext, "lon": lon, "lat": lat, "matter": "M1", "severity": "high", **kw}


def count(engine, model):
    with store.sessions(engine)() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_post_one_alert_routes_it_and_a_repeat_changes_nothing(api):
    client, tokens, engine = api
    r = client.post("/api/v1/alerts", json=alert("X1"), headers=auth(tokens["src"]))
    assert r.status_code == 201, r.text
    (res,) = r.json()["results"]
    assert res["created"] and res["township_code"] == CODE_A and res["body_code"] == "TC-A"
    again = client.post("/api/v1/alerts", json=alert("X1"), headers=auth(tokens["src"]))
    assert again.status_code == 200 and not again.json()["results"][0]["created"]
    assert again.json()["results"][0]["case_id"] == res["case_id"]
    assert count(engine, Alert) == 1 and count(engine, Case) == 1
    with store.sessions(engine)() as s:
        assert s.scalar(select(Alert.source)) == "12345"  # from the token, not the body


def test_a_batch_is_all_or_nothing_and_names_the_alert_and_field(api):
    client, tokens, engine = api
    bad = [alert("B1"), alert("B2", reported_at="2026-11-27T09:00:00+08:00"),
           alert("B3", lon=A_LAT, lat=A_LON)]  # swapped
    r = client.post("/api/v1/alerts", json={"alerts": bad}, headers=auth(tokens["src"]))
    assert r.status_code == 422
    assert len(r.json()["detail"]) == 1, r.json()
    (err,) = r.json()["detail"]
    assert err["loc"] == ["body", "alerts", 2, "lat"] and "swap" in err["msg"]
    assert count(engine, Alert) == 0
    r = client.post("/api/v1/alerts", json={"alerts": bad[:2]}, headers=auth(tokens["src"]))
    assert r.status_code == 201 and count(engine, Case) == 2


@pytest.mark.parametrize(("body", "field"), [
    ({"id": "Z", "lon": 200, "lat": 30}, "lon"),
    ({"id": "Z", "lon": 120, "lat": 30, "severity": "whenever"}, "severity"),
    ({"id": "Z", "lat": 30}, "lon"),
    ({"id": "Z", "lon": 120, "lat": 30, "source": "other"}, "source"),
    ({"id": "Z", "lon": 120, "lat": 30, "reported_at": "yesterday"}, "reported_at"),
])
def test_rejections_name_the_field(api, body, field):
    client, tokens, engine = api
    r = client.post("/api/v1/alerts", json=body, headers=auth(tokens["src"]))
    assert r.status_code == 422
    assert any(field in map(str, e["loc"]) for e in r.json()["detail"]), r.json()
    assert count(engine, Alert) == 0


def test_tokens_are_required_and_checked(api):
    client, tokens, _ = api
    assert client.post("/api/v1/alerts", json=alert("T")).status_code == 401
    assert client.post("/api/v1/alerts", json=alert("T"),
                       headers=auth("nope")).status_code == 401
    assert client.post("/api/v1/alerts", json=alert("T"),
                       headers=auth(tokens["a"])).status_code == 403  # users read only
    with store.sessions(api[2])() as s:
        from geo.store.models import Source
        stored = s.scalar(select(Source.token_hash).where(Source.code == "12345"))
    assert stored != tokens["src"] and len(stored) == 64  # only a hash is kept


def test_rate_limit_per_source(api):
    from geo.api.schemas import MAX_BATCH

    client, tokens, engine = api
    client.app.state.service.limiter.clock = lambda: 0.0  # no refill during the test
    batch = {"alerts": [alert(f"R{i}") for i in range(MAX_BATCH)]}  # a full bucket's worth
    assert client.post("/api/v1/alerts", json=batch, headers=auth(tokens["src"])
                       ).status_code == 201
    r = client.post("/api/v1/alerts", json=alert("R-next"), headers=auth(tokens["src"]))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) == 2  # 50/minute: 1.2 s
    # another source has its own budget
    assert client.post("/api/v1/alerts", json=alert("G1"), headers=auth(tokens["gcj"])
                       ).status_code == 201
    assert count(engine, Alert) == MAX_BATCH + 1


def test_gcj02_source_is_converted(api):
    from geo.crs import wgs84_to_gcj02

    client, tokens, engine = api
    glon, glat = wgs84_to_gcj02([A_LON], [A_LAT])
    r = client.post("/api/v1/alerts", json=alert("P1", lon=float(glon[0]),
                                                  lat=float(glat[0])),
                    headers=auth(tokens["gcj"]))
    assert r.status_code == 201
    with store.sessions(engine)() as s:
        case = s.scalar(select(Case))
    assert abs(case.lon - A_LON) < 1e-5 and abs(case.lat - A_LAT) < 1e-5
    assert abs(float(glon[0]) - A_LON) > 1e-3  # the offset was real


def _seed(client, tokens):
    r = client.post("/api/v1/alerts", json={"alerts": [
        alert("A1"), alert("A2"), alert("B1", lon=B_LON, lat=B_LAT),
        alert("B2", lon=B_LON, lat=B_LAT, matter="M2")]}, headers=auth(tokens["src"]))
    assert r.status_code == 201
    return {x["id"]: x["case_id"] for x in r.json()["results"]}


def test_cases_are_read_in_the_callers_scope(api):
    client, tokens, _ = api
    ids = _seed(client, tokens)

    def seen(who, **params):
        r = client.get("/api/v1/cases", params=params, headers=auth(tokens[who]))
        assert r.status_code == 200, r.text
        return {c["external_id"] for c in r.json()["items"]}

    assert seen("a") == {"A1", "A2"}
    assert seen("b") == {"B1", "B2"}
    assert seen("b", township=CODE_A) == set()  # a filter cannot widen the scope
    assert seen("sc") == {"B1"}  # M1 in B (no longer empowered) goes to the district team
    assert seen("boss") == {"A1", "A2", "B1", "B2"}
    assert seen("src") == {"A1", "A2", "B1", "B2"}  # a source reads its own alerts' cases
    assert client.get(f"/api/v1/cases/{ids['B1']}", headers=auth(tokens["a"])
                      ).status_code == 404
    assert client.get(f"/api/v1/cases/{ids['A1']}", headers=auth(tokens["a"])
                      ).json()["township_code"] == CODE_A
    assert client.get("/open311/v2/requests.json", params={"api_key": tokens["a"]}
                      ).json().__len__() == 2
    assert client.get(f"/open311/v2/requests/{ids['B1']}.json",
                      params={"api_key": tokens["a"]}).status_code == 404


def test_two_sources_see_only_their_own_alerts_cases(api):
    client, tokens, engine = api
    ids = _seed(client, tokens)  # 12345: A1, A2, B1, B2
    # the app sends its own "A1" (an id is a source's own) and one more, in GCJ-02 as
    # the app's source is declared; neither is the hotline's
    r = client.post("/api/v1/alerts", json={"alerts": [alert("A1", lon=B_LON, lat=B_LAT),
                                                       alert("P9")]},
                    headers=auth(tokens["gcj"]))
    assert r.status_code == 201, r.text
    assert all(x["created"] for x in r.json()["results"])
    app_ids = {x["id"]: x["case_id"] for x in r.json()["results"]}
    assert count(engine, Alert) == count(engine, Case) == 6

    def seen(who):
        r = client.get("/api/v1/cases", headers=auth(tokens[who]))
        assert r.status_code == 200, r.text
        return sorted(c["id"] for c in r.json()["items"])

    assert seen("src") == sorted(ids.values())
    assert seen("gcj") == sorted(app_ids.values())
    assert seen("boss") == sorted([*ids.values(), *app_ids.values()])
    for who, other in (("src", app_ids["A1"]), ("gcj", ids["A1"])):
        assert client.get(f"/api/v1/cases/{other}", headers=auth(tokens[who])
                          ).status_code == 404
        assert client.get(f"/open311/v2/requests/{other}.json",
                          params={"api_key": tokens[who]}).status_code == 404


def test_case_filters_bbox_and_paging(api):
    client, tokens, _ = api
    _seed(client, tokens)
    box = f"{A_LON - 0.001},{A_LAT - 0.001},{A_LON + 0.001},{A_LAT + 0.001}"
    r = client.get("/api/v1/cases", params={"bbox": box}, headers=auth(tokens["boss"]))
    assert {c["external_id"] for c in r.json()["items"]} == {"A1", "A2"}
    pages = [client.get("/api/v1/cases", params={"page": p, "page_size": 3},
                        headers=auth(tokens["boss"])).json() for p in (1, 2)]
    assert [len(p["items"]) for p in pages] == [3, 1] and pages[0]["total"] == 4
    assert not {c["id"] for c in pages[0]["items"]} & {c["id"] for c in pages[1]["items"]}
    r = client.get("/api/v1/cases", params={"bbox": "121,31,120,30"},
                   headers=auth(tokens["boss"]))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "bbox"]


def test_open311_services_and_requests(api):
    client, tokens, engine = api
    services = client.get("/open311/v2/services.json").json()
    assert {s["service_code"] for s in services} == {"M1", "M2"}
    form = {"api_key": tokens["src"], "service_code": "M1", "lat": A_LAT, "long": A_LON,
            "description": "无照经营", "request_id": "r-1"}
    r = client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 201, r.text
    case_id = r.json()[0]["service_request_id"]
    assert client.post("/open311/v2/requests.json", data=form).json()[0][
        "service_request_id"] == case_id  # same request id: nothing new
    got = client.get("/open311/v2/requests.json",  # an id that exists nowhere is no error
                     params={"api_key": tokens["src"],
                             "service_request_id": f"0,{case_id}"}).json()
    assert got[0]["status"] == "open" and got[0]["agency_responsible"] == "甲镇执法中心"
    bad = client.post("/open311/v2/requests.json", data={**form, "service_code": "NOPE"})
    assert bad.status_code == 400 and "service_code" in bad.json()[0]["description"]
    bad = client.post("/open311/v2/requests.json", data={**form, "lat": "north"})
    assert bad.status_code == 400 and "lat" in bad.json()[0]["description"]
    assert client.post("/open311/v2/requests.json",
                       data={**form, "api_key": "x"}).status_code == 401
    assert count(engine, Alert) == 1
