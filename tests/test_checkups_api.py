"""Check-ups and joint visits over HTTP, on SQLite and PostGIS: a source books and lists
its own, the office schedules and records a visit done (an inspection), 404 outside the
scope, 403 for the role, 409 for a visit no longer scheduled, 422 naming the field, and
never a 5xx whatever the body."""

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from geo import store
from geo.access import SYSTEM, who_may
from geo.days import local_today
from geo.store.accounts import add_user, issue_user_token
from geo.store.models import AuditLog, CheckupRequest, Finding, Inspection, JointVisit
from tests.conftest import CODE_A, CODE_B
from tests.test_api import api_client, auth
from tests.test_api_resources import BIG, VALUES, _mutate

CHECKLISTS = ("kind,item_code,item,department,matter_code\n"
              "construction,CON-01,围挡缺失,住房城乡建设,M2\n"
              "enterprise,ENT-01,证照未公示,市场监管,M1\n"
              "enterprise,ENT-02,违法搭建,住房城乡建设,M2\n")


@pytest.fixture
def api(store_settings, small_dirs):
    """The small district over HTTP: users a (township A), b (township B), boss (command),
    plan (planner); sources src (12345) and gcj (app): ``(client, tokens, engine)``."""
    (small_dirs[1] / "checklists.csv").write_text(CHECKLISTS, encoding="utf-8")
    with api_client(store_settings, small_dirs) as (client, tokens, engine):
        add_user(engine, "plan", "plan", "planner", scope=SYSTEM)
        tokens["plan"] = issue_user_token(engine, "plan", scope=SYSTEM)
        yield client, tokens, engine


def today() -> dt.date:
    from zoneinfo import ZoneInfo

    return local_today(ZoneInfo("Asia/Shanghai"))


def post(client, token, path, body):
    return client.post(f"/api/v1{path}", json=body, headers=auth(token))


def get(client, token, path, **params):
    return client.get(f"/api/v1{path}", params=params, headers=auth(token))


def visit_body(**change):
    return {"site_id": "S2", "day": today().isoformat(), "lead_body": "TC-B",
            "bodies": ["DT-SC"], "inspectors": ["陈明"],
            "observers": [{"name": "王建国", "site_id": "S3"}], **change}


def counts(engine) -> dict:
    with store.sessions(engine)() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m))
                for m in (CheckupRequest, JointVisit, Inspection, Finding, AuditLog)}


def test_a_source_books_a_check_up_the_office_schedules_and_records_it(api):
    client, tokens, _ = api
    wish = (today() + dt.timedelta(days=3)).isoformat()
    r = post(client, tokens["src"], "/checkups", {"site_id": "S2", "contact": "沈经理",
                                                  "reason": "投产前体检",
                                                  "wanted_from": wish})
    assert r.status_code == 201, r.text
    booked = r.json()
    assert booked["status"] == "open" and booked["township_code"] == CODE_B
    assert booked["requested_by"] == "source 12345" and booked["requested_at"].endswith(
        ("Z", "+00:00"))
    # each source lists its own; township A's staff see none of township B's
    assert [x["id"] for x in get(client, tokens["src"], "/checkups").json()["items"]] == [
        booked["id"]]
    assert get(client, tokens["gcj"], "/checkups").json()["total"] == 0
    assert get(client, tokens["a"], "/checkups").json()["total"] == 0
    assert get(client, tokens["b"], "/checkups").json()["total"] == 1
    r = post(client, tokens["b"], "/visits", visit_body(request_id=booked["id"]))
    assert r.status_code == 201, r.text
    visit = r.json()
    assert visit["request_id"] == booked["id"] and visit["status"] == "scheduled"
    assert visit["departments"] == ["住房城乡建设", "市场监管"]
    assert visit["bodies"] == ["TC-B", "DT-SC"]
    assert visit["observers"] == [{"name": "王建国", "site_id": "S3"}]
    mine = get(client, tokens["src"], "/checkups").json()["items"][0]
    assert mine["status"] == "scheduled" and mine["visit_day"] == visit["day"]
    assert get(client, tokens["a"], "/visits").json()["total"] == 0
    assert get(client, tokens["boss"], "/visits", since=visit["day"]).json()["total"] == 1
    r = post(client, tokens["b"], f"/visits/{visit['id']}/findings", {"findings": [
        {"item_code": "ENT-01", "result": "problem", "note": "未公示"},
        {"item_code": "ENT-02", "result": "pass"}]})
    assert r.status_code == 201, r.text
    inspection = r.json()
    assert inspection["site_id"] == "S2" and inspection["departments"] == visit["departments"]
    assert [f["deadline"] is not None for f in inspection["findings"]] == [True, False]
    # rectification goes on through the inspections API
    r = post(client, tokens["b"], f"/inspections/{inspection['id']}/reinspections",
             {"item_code": "ENT-01", "day": today().isoformat(), "fixed": True})
    assert r.status_code == 201, r.text
    again = post(client, tokens["b"], f"/visits/{visit['id']}/findings", {"findings": [
        {"item_code": "ENT-01", "result": "pass"}]})
    assert again.status_code == 409 and "is done" in again.json()["detail"]


def test_scope_and_role(api):
    client, tokens, engine = api
    vid = post(client, tokens["boss"], "/visits", visit_body()).json()["id"]
    before = counts(engine)
    assert post(client, tokens["a"], "/visits", visit_body()).status_code == 404
    assert post(client, tokens["a"], "/checkups", {"site_id": "S2",
                                                   "contact": "x"}).status_code == 404
    assert post(client, tokens["a"], f"/visits/{vid}/findings", {"findings": [
        {"item_code": "ENT-01", "result": "pass"}]}).status_code == 404
    assert post(client, tokens["plan"], "/visits", visit_body()).status_code == 403
    assert post(client, tokens["plan"], "/checkups", {"site_id": "S2",
                                                      "contact": "x"}).status_code == 403
    assert post(client, tokens["src"], "/visits", visit_body()).status_code == 403
    assert get(client, tokens["src"], "/visits").status_code == 403
    assert post(client, tokens["src"], "/checkups", {"site_id": "NOPE",
                                                     "contact": "x"}).status_code == 404
    assert counts(engine) == before
    assert get(client, tokens["plan"], "/visits").json()["total"] == 1


@pytest.mark.parametrize(("path", "change", "loc"), [
    ("/visits", {"lead_body": "NOPE"}, ["body", "lead_body"]),
    ("/visits", {"bodies": ["DT-SC", "X"]}, ["body", "bodies", 1]),
    ("/visits", {"departments": ["水利"]}, ["body", "departments", 0]),
    ("/visits", {"inspectors": []}, ["body", "inspectors"]),
    ("/visits", {"observers": [{"name": "王", "site_id": "S2"}]}, ["body", "observers", 0]),
    ("/visits", {"observers": [{"name": "王", "site_id": "Z9"}]}, ["body", "observers", 0]),
    ("/visits", {"day": "2030-01-01"}, ["body", "day"]),
    ("/visits", {"request_id": 0}, ["body", "request_id"]),
    ("/visits", {"site_id": "S1", "departments": ["市场监管"]}, ["body", "departments", 0]),
    ("/checkups", {"contact": "  "}, ["body", "contact"]),
    ("/checkups", {"wanted_from": "2020-01-01"}, ["body", "wanted_from"]),
    ("/checkups", {"wanted_until": "2020-01-01"}, ["body", "wanted_until"]),
    ("/checkups", {"extra": 1}, ["body", "extra"]),
])
def test_bad_input_is_422_naming_the_field_and_stores_nothing(api, path, change, loc):
    client, tokens, engine = api
    body = visit_body(**change) if path == "/visits" else {
        "site_id": "S2", "contact": "沈经理", **change}
    before = counts(engine)
    r = post(client, tokens["boss"], path, body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc, r.json()
    assert counts(engine) == before


def test_findings_that_do_not_fit_the_visit_are_422_naming_the_finding(api):
    client, tokens, _ = api
    vid = post(client, tokens["boss"], "/visits", visit_body()).json()["id"]
    for findings, loc in [
            ([{"item_code": "CON-01", "result": "pass"}], ["body", "findings", 0]),
            ([{"item_code": "ENT-01", "result": "pass"}], ["body", "findings"]),
            ([{"item_code": "ENT-01", "result": "maybe"}], ["body", "findings", 0, "result"])]:
        r = post(client, tokens["boss"], f"/visits/{vid}/findings", {"findings": findings})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == loc, r.text
    ahead = post(client, tokens["boss"], "/visits", visit_body(
        day=(today() + dt.timedelta(days=2)).isoformat())).json()["id"]
    r = post(client, tokens["boss"], f"/visits/{ahead}/findings", {"findings": [
        {"item_code": "ENT-01", "result": "pass"}, {"item_code": "ENT-02", "result": "pass"}]})
    assert r.status_code == 409 and "after today" in r.json()["detail"]
    assert post(client, tokens["boss"], "/visits/999/findings", {"findings": [
        {"item_code": "ENT-01", "result": "pass"}]}).status_code == 404


def test_openapi_names_the_roles(api):
    paths = api[0].get("/openapi.json").json()["paths"]
    assert who_may("checkups", "open") in paths["/api/v1/checkups"]["post"]["description"]
    assert who_may("visits", "change") in paths["/api/v1/visits"]["post"]["description"]
    assert "source (own)" in who_may("checkups", "read")
    assert "township (own township)" in who_may("visits", "read")


def _raw(body) -> bytes:
    return json.dumps(body, allow_nan=True).replace(f'"{BIG}"', "1e400").encode()


def _good():
    day = today().isoformat()
    return {"checkup": ("/api/v1/checkups", {"site_id": "S2", "contact": "沈经理",
                                             "reason": "体检", "wanted_from": day}),
            "visit": ("/api/v1/visits", visit_body()),
            "findings": ("/api/v1/visits/1/findings", {"findings": [
                {"item_code": "ENT-01", "result": "pass"},
                {"item_code": "ENT-02", "result": "problem"}]})}


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(endpoint=st.sampled_from(sorted(_good())),
       path=st.lists(st.integers(0, 5) | st.sampled_from(
           ["site_id", "contact", "reason", "wanted_from", "wanted_until", "day", "lead_body",
            "bodies", "departments", "inspectors", "observers", "name", "request_id",
            "findings", "item_code", "result"]), max_size=4),
       value=VALUES, whole=st.booleans(), role=st.sampled_from(["boss", "b", "src"]))
def test_hostile_bodies_never_5xx_and_a_refusal_stores_nothing(api, endpoint, path, value,
                                                               whole, role):
    client, tokens, engine = api
    if not counts(engine)["JointVisit"]:  # visit 1, scheduled, for the findings endpoint
        assert post(client, tokens["boss"], "/visits", visit_body()).status_code == 201
    url, good = _good()[endpoint]
    body = value if whole else _mutate(good, path, value)
    before = counts(engine)
    r = client.post(url, content=_raw(body), headers={**auth(tokens[role]),
                                                      "Content-Type": "application/json"})
    assert r.status_code < 500, (endpoint, body, r.text)
    assert len(r.content) < 20_000
    if r.status_code >= 400:
        assert counts(engine) == before, (endpoint, body, r.status_code)
    with store.sessions(engine).begin() as s:  # visit 1 scheduled again for the next one
        s.execute(JointVisit.__table__.update().where(JointVisit.id == 1).values(
            status="scheduled"))


def test_the_calendar_filter_refuses_an_inverted_range(api):
    client, tokens, _ = api
    r = get(client, tokens["boss"], "/visits", since="2026-02-01", until="2026-01-01")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "until"]
    assert get(client, tokens["a"], "/visits", township=CODE_A).json()["total"] == 0
