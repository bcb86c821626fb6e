"""The intake API's doors under hostile input, on SQLite and PostGIS: non-finite numbers,
huge and broken text, wrong types, extreme dates, a poisoned request in a group commit,
rate-limit bursts, unexpected errors, tokens in answers, and docs served from the machine.

Every answer here is a 4xx naming the field, never a 500, and small whatever was sent.
"""

import json
import re
import threading
import time

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from geo import store
from geo.access import SYSTEM
from geo.api import create_app
from geo.store.accounts import add_source
from geo.store.models import Alert, Case
from tests.conftest import CODE_A, X0, Y0
from tests.test_api import A_LAT, A_LON, alert, api_client, auth, count


@pytest.fixture
def api(store_settings, small_dirs):
    with api_client(store_settings, small_dirs) as found:
        yield found


BIG = "@BIG@"  # stands for the number 1e400 (inf once parsed), which json.dumps cannot write


def raw(body) -> str:
    """``body`` as JSON text that may hold NaN, Infinity, 1e400 and lone surrogates."""
    return json.dumps(body, allow_nan=True).replace(f'"{BIG}"', "1e400")


def post_raw(client, token, text: str):
    return client.post("/api/v1/alerts", content=text.encode(),
                       headers={**auth(token), "Content-Type": "application/json"})


def locs(r) -> list[list]:
    return [e["loc"] for e in r.json()["detail"]]


# ------------------------------------------------------------------ non-finite numbers
@pytest.mark.parametrize(("change", "loc"), [
    ({"lon": float("nan")}, ["body", "lon"]),
    ({"lat": float("inf")}, ["body", "lat"]),
    ({"lon": float("-inf")}, ["body", "lon"]),
    ({"lon": BIG}, ["body", "lon"]),
    ({"lat": "NaN"}, ["body", "lat"]),
    ({"lon": "Infinity"}, ["body", "lon"]),
    ({"id": float("nan")}, ["body", "id"]),
    ({"matter": float("inf")}, ["body", "matter"]),
    ({"description": float("nan")}, ["body", "description"]),
    ({"credit_code": BIG}, ["body", "credit_code"]),
    ({"severity": float("nan")}, ["body", "severity"]),
    ({"reported_at": float("-inf")}, ["body", "reported_at"]),
    ({"extra": float("nan")}, ["body", "extra"]),
])
def test_non_finite_numbers_are_refused_naming_the_field(api, change, loc):
    client, tokens, engine = api
    r = post_raw(client, tokens["src"], raw({**alert("N1"), **change}))
    assert r.status_code == 422, r.text
    assert loc in locs(r)
    r = post_raw(client, tokens["src"], raw({"alerts": [alert("N2"), {**alert("N3"), **change}]}))
    assert r.status_code == 422, r.text
    assert [*loc[:1], "alerts", 1, *loc[1:]] in locs(r)
    assert count(engine, Alert) == 0


@pytest.mark.parametrize("text", ["NaN", "Infinity", "[NaN]", '{"alerts": [NaN]}', "1e400"])
def test_a_non_finite_body_is_refused(api, text):
    client, tokens, engine = api
    r = post_raw(client, tokens["src"], text)
    assert r.status_code == 422, r.text
    assert count(engine, Alert) == 0


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", "1e400"])
def test_open311_refuses_non_finite_coordinates(api, value):
    client, tokens, engine = api
    r = client.post("/open311/v2/requests.json", data={
        "api_key": tokens["src"], "service_code": "M1", "lat": value, "long": A_LON})
    assert r.status_code == 400 and r.json()[0]["description"].startswith("lat:")
    assert count(engine, Alert) == 0


# ------------------------------------------------------------------ text: size, Unicode
def test_a_huge_value_is_echoed_only_as_an_excerpt(api):
    client, tokens, engine = api
    r = post_raw(client, tokens["src"], raw({**alert("H1"), "description": "x" * 5_000_000}))
    assert r.status_code == 422
    assert len(r.content) < 1000, len(r.content)
    (err,) = r.json()["detail"]
    assert err["loc"] == ["body", "description"] and "5000000 characters" in err["input"]
    r = post_raw(client, tokens["src"], raw({**alert("H2"), "k" * 1_000_000: 1}))
    assert r.status_code == 422 and len(r.content) < 1000, len(r.content)
    assert count(engine, Alert) == 0


def test_a_body_beyond_the_limit_is_refused_before_it_is_read(api, monkeypatch):
    from geo.api import core
    from geo.api.limits import MAX_BODY_BYTES

    client, tokens, engine = api
    looked_up = []
    monkeypatch.setattr(core.accounts, "token_holder",
                        lambda *a: looked_up.append(a) or None)
    big = raw({**alert("B1"), "description": "x" * (MAX_BODY_BYTES + 10)})
    for token in (tokens["src"], "not-a-token"):
        r = post_raw(client, token, big)
        assert r.status_code == 413 and "at most 1000 alerts" in r.json()["detail"]
    assert looked_up == []  # refused before the token was looked up
    # a body sent without its length is counted as it arrives, and never held beyond it
    data = big.encode()
    r = client.post("/api/v1/alerts", content=iter([data[:len(data) // 2],
                                                    data[len(data) // 2:]]),
                    headers={"Authorization": "Bearer x", "Content-Type": "application/json"})
    assert r.status_code == 413 and count(engine, Alert) == 0
    # a valid alert, then blanks past the limit: refused, and nothing of it is stored
    head = json.dumps(alert("B2")).encode()
    parts = [head, b" " * (MAX_BODY_BYTES // 2), b" " * (MAX_BODY_BYTES // 2 + 100)]
    r = client.post("/api/v1/alerts", content=iter(parts),
                    headers={**auth(tokens["src"]), "Content-Type": "application/json"})
    assert r.status_code == 413 and count(engine, Alert) == 0


@pytest.mark.parametrize(("field", "value"), [
    ("id", "\ud800"), ("matter", "\ud800"), ("description", "text \udfff here"),
    ("credit_code", "\ud800"), ("matter", "M\x001"), ("description", "a\x00b"),
    ("description", "bell\x07"), ("credit_code", "\x1b[31m"), ("id", "a\x00"),
])
def test_broken_text_is_refused_naming_the_field(api, field, value):
    client, tokens, engine = api
    r = post_raw(client, tokens["src"], raw({**alert("U1"), field: value}))
    assert r.status_code == 422, r.text
    assert ["body", field] in locs(r)
    assert count(engine, Alert) == 0


def test_a_broken_key_is_refused_and_rendered(api):
    client, tokens, engine = api
    r = post_raw(client, tokens["src"], raw({**alert("U2"), "\ud800": 1}))
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["type"] == "string_unicode" and err["input"] == "\\ud800"
    assert count(engine, Alert) == 0


def test_line_breaks_and_tabs_in_a_description_are_kept(api):
    client, tokens, engine = api
    r = client.post("/api/v1/alerts", json=alert("U3", description="第一行\n\t第二行"),
                    headers=auth(tokens["src"]))
    assert r.status_code == 201, r.text
    with store.sessions(engine)() as s:
        assert s.scalar(select(Alert.description)) == "第一行\n\t第二行"


# ------------------------------------------------------------------ numbers and coordinates
@pytest.mark.parametrize(("change", "field"), [({"lon": True}, "lon"), ({"lat": False}, "lat")])
def test_booleans_are_not_numbers(api, change, field):
    client, tokens, engine = api
    r = client.post("/api/v1/alerts", json={**alert("B1"), **change},
                    headers=auth(tokens["src"]))
    assert r.status_code == 422, r.text
    assert ["body", field] in locs(r) and "number" in r.text
    assert count(engine, Alert) == 0


def test_numbers_in_strings_are_still_read(api):
    client, tokens, _ = api
    r = client.post("/api/v1/alerts", json=alert("B2", lon=str(A_LON), lat=str(A_LAT)),
                    headers=auth(tokens["src"]))
    assert r.status_code == 201, r.text


def test_a_source_in_projected_metres_posts_its_own_coordinates(api):
    client, tokens, engine = api
    token = add_source(engine, "survey", "测绘", crs="EPSG:4549", scope=SYSTEM)
    r = client.post("/api/v1/alerts", json=alert("M1", lon=X0 + 500, lat=Y0 + 500),
                    headers=auth(token))
    assert r.status_code == 201, r.text
    (res,) = r.json()["results"]
    assert res["case_id"] and res["township_code"] == CODE_A
    assert res["body_code"] == "TC-A" and "outside" not in res["flags"]
    with store.sessions(engine)() as s:
        case = s.scalar(select(Case))
    assert abs(case.lon - A_LON) < 1e-6 and abs(case.lat - A_LAT) < 1e-6
    # metres from a WGS84 source are out of range after conversion, named by the pipeline
    r = client.post("/api/v1/alerts", json=alert("M2", lon=X0 + 500, lat=Y0 + 500),
                    headers=auth(tokens["src"]))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] in ("lon", "lat")


# ------------------------------------------------------------------ extreme dates
EXTREME_DATES = ["9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59-14:00",
                 "0001-01-01T00:00:00-14:00", "0001-01-01T00:00:00+14:00",
                 "1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z"]


@pytest.mark.parametrize("when", EXTREME_DATES)
def test_extreme_query_dates_are_refused_naming_the_parameter(api, when):
    client, tokens, _ = api
    r = client.get("/api/v1/cases", params={"since": when}, headers=auth(tokens["boss"]))
    assert r.status_code == 422, r.text
    assert locs(r) == [["query", "since"]]
    for name in ("start_date", "end_date"):
        r = client.get("/open311/v2/requests.json", params={name: when,
                                                           "api_key": tokens["boss"]})
        assert r.status_code == 400, r.text
        assert r.json()[0]["description"].startswith(f"{name}:")


@pytest.mark.parametrize("when", EXTREME_DATES)
def test_extreme_report_times_are_refused_naming_the_field(api, when):
    client, tokens, engine = api
    r = client.post("/api/v1/alerts", json=alert("D1", reported_at=when),
                    headers=auth(tokens["src"]))
    assert r.status_code == 422, r.text
    assert locs(r) == [["body", "reported_at"]]
    r = client.post("/open311/v2/requests.json", data={
        "api_key": tokens["src"], "service_code": "M1", "lat": A_LAT, "long": A_LON,
        "requested_datetime": when})
    assert r.status_code == 400, r.text
    assert r.json()[0]["description"].startswith("requested_datetime:")
    assert count(engine, Alert) == 0


def test_ordinary_query_dates_still_filter(api):
    client, tokens, _ = api
    assert client.post("/api/v1/alerts", json=alert("D2"), headers=auth(tokens["src"])
                       ).status_code == 201
    for when, n in (("2000-01-01T00:00:00+08:00", 1), ("2199-12-31T00:00:00", 0)):
        r = client.get("/api/v1/cases", params={"since": when}, headers=auth(tokens["boss"]))
        assert r.status_code == 200 and r.json()["total"] == n
        r = client.get("/open311/v2/requests.json",
                       params={"start_date": when, "api_key": tokens["boss"]})
        assert r.status_code == 200 and len(r.json()) == n


# ------------------------------------------------------------------ text in queries and forms
@pytest.mark.parametrize(("path", "params", "field"), [
    ("/api/v1/cases", {"status": "routed\x00"}, "status"),
    ("/api/v1/cases", {"township": "\x00"}, "township"),
    ("/open311/v2/requests.json", {"service_code": "M\x001"}, "service_code"),
])
def test_control_characters_in_queries_are_refused(api, path, params, field):
    client, tokens, _ = api
    r = client.get(path, params=params, headers=auth(tokens["boss"]))
    assert 400 <= r.status_code < 500, r.text
    assert field in r.text


@pytest.mark.parametrize(("field", "value"), [
    ("service_code", "M\x001"), ("description", "a\x00b"), ("address_string", "\x1b")])
def test_control_characters_in_open311_reports_are_refused(api, field, value):
    client, tokens, engine = api
    form = {"api_key": tokens["src"], "service_code": "M1", "lat": A_LAT, "long": A_LON,
            field: value}
    r = client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 400, r.text
    assert r.json()[0]["description"].startswith(f"{field}:")
    assert count(engine, Alert) == 0


# ------------------------------------------------------------------ group commit isolation
def test_one_poisoned_request_does_not_fail_the_others_of_its_group(api, monkeypatch, caplog):
    import geo.ingest

    client, tokens, engine = api
    bad = add_source(engine, "poison", "坏", rate_limit="1000/second", scope=SYSTEM)
    real = geo.ingest.intake_group
    entered, gate, groups = threading.Event(), threading.Event(), []

    def intake_group(engine, calls, *args, **kwargs):
        groups.append(sorted({source for _, source, _ in calls}))
        if len(groups) == 1:  # hold the writer until the others are queued behind it
            entered.set()
            assert gate.wait(30)
        if any(source == "poison" for _, source, _ in calls):
            raise RuntimeError("poisoned record")
        return real(engine, calls, *args, **kwargs)

    monkeypatch.setattr(geo.ingest, "intake_group", intake_group)
    service = client.app.state.service
    answers = {}
    quiet = TestClient(client.app, raise_server_exceptions=False)

    def post(name, token):
        answers[name] = quiet.post("/api/v1/alerts", json=alert(name), headers=auth(token))

    first = threading.Thread(target=post, args=("G0", tokens["src"]))
    first.start()
    assert entered.wait(30)
    others = [threading.Thread(target=post, args=(name, token)) for name, token in
              (("G1", tokens["src"]), ("P1", bad), ("G2", tokens["src"]), ("P2", bad))]
    for t in others:
        t.start()
    deadline = time.monotonic() + 30
    while len(service._pending) < len(others) and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()
    for t in [first, *others]:
        t.join(60)
    assert ["12345", "poison"] in groups  # the poisoned request was grouped with good ones
    for name in ("G0", "G1", "G2"):
        assert answers[name].status_code == 201, answers[name].text
        assert answers[name].json()["results"][0]["case_id"]
    for name in ("P1", "P2"):
        assert answers[name].status_code == 500
        assert answers[name].json() == {"detail": "internal error; logged"}
    assert count(engine, Alert) == 3 and count(engine, Case) == 3
    logged = [rec for rec in caplog.records if rec.exc_info]
    assert logged and all("poisoned record" in str(rec.exc_info[1]) for rec in logged)


def test_an_unexpected_error_is_a_json_500_without_internals(api, monkeypatch, caplog):
    import geo.api.app
    import geo.api.core

    client, tokens, _ = api

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals: postgresql://user:pw@db/onemap")

    monkeypatch.setattr(geo.api.app, "case_query", boom)
    monkeypatch.setattr(geo.api.core, "case_query", boom)
    quiet = TestClient(client.app, raise_server_exceptions=False)
    r = quiet.get("/api/v1/cases", headers=auth(tokens["boss"]))
    assert r.status_code == 500 and r.json() == {"detail": "internal error; logged"}
    r = quiet.get("/open311/v2/requests.json", params={"api_key": tokens["boss"]})
    assert r.status_code == 500
    assert r.json() == [{"code": 500, "description": "internal error; logged"}]
    assert "secret" not in r.text
    assert any(rec.exc_info and "secret internals" in str(rec.exc_info[1])
               for rec in caplog.records)


# ------------------------------------------------------------------ rate limits
def test_a_full_batch_passes_the_rate_limit_and_the_bucket_refills(api):
    from geo.api.schemas import MAX_BATCH

    client, _, engine = api
    token = add_source(engine, "burst", "突发", rate_limit="20/second", scope=SYSTEM)
    now = [1000.0]
    client.app.state.service.limiter.clock = lambda: now[0]

    def batch(tag):
        return {"alerts": [alert(f"{tag}{i}") for i in range(MAX_BATCH)]}

    assert client.post("/api/v1/alerts", json=batch("F"), headers=auth(token)
                       ).status_code == 201
    r = client.post("/api/v1/alerts", json=alert("F-next"), headers=auth(token))
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    now[0] += 49.0  # 980 alerts' worth back: not yet a full batch
    r = client.post("/api/v1/alerts", json=batch("S"), headers=auth(token))
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    now[0] += 1.0
    assert client.post("/api/v1/alerts", json=batch("S"), headers=auth(token)
                       ).status_code == 201
    assert count(engine, Alert) == 2 * MAX_BATCH


# ------------------------------------------------------------------ tokens in answers
def test_no_error_answer_holds_the_token(api):
    client, tokens, _ = api
    tok = tokens["src"]
    answers = [
        client.get("/api/v1/cases", params={"api_key": tok, "page": "x"}),
        client.get("/api/v1/cases", params={"api_key": tok, "since": "soon"}),
        client.get("/api/v1/cases", params={"api_key": tok, "bbox": "121,31,120,30"}),
        client.get("/api/v1/cases/999", params={"api_key": tok}),
        client.get("/api/v1/cases", params={"api_key": tok + "x"}),
        client.post("/api/v1/alerts", json={**alert("K1"), "api_key": tok}, headers=auth(tok)),
        client.post("/api/v1/alerts", json={**alert("K2"), "token": tok}, headers=auth(tok)),
        client.post("/api/v1/alerts", json={**alert("K3"), tok: 1}, headers=auth(tok)),
        client.post("/api/v1/alerts", params={"api_key": tok}, json={"id": "K4"}),
        client.post("/api/v1/alerts", json=alert("K5"), headers=auth(tokens["a"])),
        client.post("/open311/v2/requests.json", data={"api_key": tok, "service_code": "M1",
                                                       "lat": "north", "long": A_LON}),
        client.post("/open311/v2/requests.json", data={"api_key": tok, "service_code": "NO",
                                                       "lat": A_LAT, "long": A_LON}),
        client.get("/open311/v2/requests.json", params={"api_key": tok, "start_date": "x"}),
        client.get("/open311/v2/requests/999.json", params={"api_key": tok}),
        client.get("/open311/v2/requests.json", params={"api_key": tok + "x"}),
    ]
    for r in answers:
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text)
        assert tok not in r.text and tok not in str(r.headers), (r.request.url, r.text)


# ------------------------------------------------------------------ docs from the machine
def test_docs_load_from_the_machine(db_settings):
    with TestClient(create_app(db_settings)) as client:
        for page in ("/docs", "/redoc"):
            r = client.get(page)
            assert r.status_code == 200
            assert not re.findall(r"(?:https?:)?//[\w.-]+", r.text), page
            assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
            assert len(assets) >= 2, r.text
            for url in assets:
                got = client.get(url)
                assert got.status_code == 200 and got.content, url
        assert client.get("/openapi.json").status_code == 200


# ------------------------------------------------------------------ anything at all
_BROKEN = st.text(alphabet=st.characters(categories=["Cs", "Cc", "Lo", "Nd"]), max_size=8)
_ODD = st.sampled_from([BIG, "x" * 100_000, "\ud800", "NaN", "1e400", "120.3", "",
                        "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", 10**400,
                        -(2**63), "2026-11-27T09:00:00+08:00", "M1", "high"])
_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10)
    | _BROKEN | _ODD,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=6)
_KEYS = st.sampled_from(["id", "lon", "lat", "matter", "reported_at", "severity",
                         "description", "credit_code"]) | _BROKEN
_ALERTS = st.builds(lambda n, changes: {**alert(f"HX{n}"), **changes},
                    st.integers(0, 50), st.dictionaries(_KEYS, _VALUES, max_size=6))
_BODIES = (_ALERTS | st.builds(lambda xs: {"alerts": xs}, st.lists(_ALERTS, max_size=4))
           | st.dictionaries(_KEYS | st.just("alerts"), _VALUES, max_size=4) | _VALUES)


def test_no_body_makes_a_server_error_or_a_large_answer(api):
    client, _, engine = api
    token = add_source(engine, "fuzz", "fuzz", rate_limit="1000000/second", scope=SYSTEM)

    @given(body=_BODIES)
    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    def check(body):
        r = post_raw(client, token, raw(body))
        assert r.status_code < 500, r.text[:500]
        assert len(r.content) < 10_000, len(r.content)

    check()


def test_a_repeated_id_in_a_batch_is_checked_too(api):
    client, tokens, engine = api
    r = client.post("/api/v1/alerts", headers=auth(tokens["src"]),
                    json={"alerts": [alert("D1"), {**alert("D1"), "lat": 999}]})
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["loc"][:3] == ["body", "alerts", 1] and count(engine, Alert) == 0
    r = client.post("/api/v1/alerts", headers=auth(tokens["src"]),
                    json={"alerts": [alert("D1"), alert("D1")]})
    assert r.status_code == 201 and [x["created"] for x in r.json()["results"]] == [True, False]
    assert count(engine, Alert) == 1
