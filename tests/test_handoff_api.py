"""The hand-off's API over HTTP, on SQLite and PostGIS: a source posts approvals (all or
none, 422 naming index and field, never a 5xx), users may not (403, except an
administrator); a referral is acknowledged by the receiving body (404 out of scope, 403
another body, 422 twice)."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from geo import store
from geo.access import SYSTEM
from geo.store import handoff
from geo.store.models import Approval, SupervisionTask
from tests.test_api import api_client, auth
from tests.test_handoff import POWERS
from tests.test_handoff_store import CHECKLISTS, ZH, _case, version

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def api(store_settings, small_dirs):
    (small_dirs[1] / "checklists.csv").write_text(CHECKLISTS, encoding="utf-8")
    (small_dirs[1] / "powers.csv").write_text(POWERS, encoding="utf-8")
    with api_client(store_settings, small_dirs) as (client, tokens, engine):
        yield client, tokens, engine, store_settings


def approval(ext="P1", **kw):
    return {"id": ext, "site_id": "S2", "matter": "M1", "granted_on": "2026-11-01", **kw}


def rows(engine) -> tuple[int, int]:
    with store.sessions(engine)() as s:
        return (s.scalar(select(func.count()).select_from(Approval)),
                s.scalar(select(func.count()).select_from(SupervisionTask)))


def post(client, token, *items):
    return client.post("/api/v1/approvals", json={"approvals": list(items)},
                       headers=auth(token))


def test_a_source_posts_approvals_once_each(api):
    client, tokens, engine, _ = api
    r = post(client, tokens["src"], approval("P1"), approval("P2", site_id=None,
                                                            credit_code="91330502MA2B3C4D5E"))
    assert r.status_code == 201, r.text
    results = r.json()["results"]
    assert [x["created"] for x in results] == [True, True] and rows(engine) == (2, 2)
    again = post(client, tokens["src"], approval("P1"))
    assert again.status_code == 200 and not again.json()["results"][0]["created"]
    assert again.json()["results"][0]["task_id"] == results[0]["task_id"]
    task = handoff.tasks_frame(engine, dt.date(2026, 11, 30), scope=SYSTEM)
    assert set(task["source"]) == {"12345"} and set(task["department"]) == {"市场监管"}


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"site_id": "S404"}, "site_id", "unknown site"),
    ({"matter": "M404"}, "matter", "unknown matter"),
    ({"granted_on": "2026-02-30"}, "granted_on", ""),
    ({"granted_on": "2999-01-01"}, "granted_on", "after today"),
    ({"id": "with space"}, "id", ""),
    ({"id": "x" * 101}, "id", ""),
    ({"permit": "a\nb"}, "permit", ""),
    ({"department": "d" * 101}, "department", ""),
    ({"site_id": None}, "site_id", "give site_id or credit_code"),
    ({"extra": 1}, "extra", ""),
    ({"granted_on": True}, "granted_on", ""),
])
def test_a_bad_approval_is_422_naming_index_and_field_and_nothing_is_stored(api, change,
                                                                            field, message):
    client, tokens, engine, _ = api
    r = post(client, tokens["src"], approval("OK"), {**approval("BAD"), **change})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail[0]["loc"][:4] == ["body", "approvals", 1, field], detail
    assert message in detail[0]["msg"]
    assert rows(engine) == (0, 0)


@pytest.mark.parametrize("body", [
    {}, {"approvals": []}, {"approvals": "x"}, {"approvals": [1]}, [approval()],
    {"approvals": [approval()] * 1001}, {"approvals": [{"id": "\x00"}]},
])
def test_hostile_bodies_are_4xx_never_5xx(api, body):
    client, tokens, engine, _ = api
    r = client.post("/api/v1/approvals", json=body, headers=auth(tokens["src"]))
    assert 400 <= r.status_code < 500, r.text
    assert rows(engine) == (0, 0)


def test_users_may_not_post_approvals_but_an_administrator_may(api):
    client, tokens, engine, _ = api
    for who in ("a", "sc", "boss"):
        assert post(client, tokens[who], approval()).status_code == 403
    assert client.post("/api/v1/approvals", json={"approvals": [approval()]}).status_code == 401
    from geo.store.accounts import add_user, issue_user_token
    add_user(engine, "root", "root", "admin", scope=SYSTEM)
    r = post(client, issue_user_token(engine, "root", scope=SYSTEM), approval())
    assert r.status_code == 201 and rows(engine) == (1, 1)


def test_a_referral_is_acknowledged_by_the_receiving_body(api, tmp_path):
    client, tokens, engine, settings = api
    case_id = _case((settings, engine, tmp_path), tmp_path, "M2")  # DT-ZH's, township A
    rid = handoff.refer_case(engine, case_id, version(engine, case_id), "DT-SC", "x",
                             scope=ZH, tz=TZ)
    url = f"/api/v1/referrals/{rid}/acknowledgement"
    assert client.post(url, headers=auth(tokens["b"])).status_code == 404  # township B
    assert client.post(url, headers=auth(tokens["a"])).status_code == 403  # sees, not DT-SC
    assert client.post("/api/v1/referrals/999/acknowledgement",
                       headers=auth(tokens["sc"])).status_code == 404
    assert client.post("/api/v1/referrals/0/acknowledgement",
                       headers=auth(tokens["sc"])).status_code == 422
    r = client.post(url, headers=auth(tokens["sc"]))
    assert r.status_code == 200 and r.json() == {"id": rid, "acknowledged": True}
    again = client.post(url, headers=auth(tokens["sc"]))
    assert again.status_code == 422 and again.json()["detail"][0]["loc"] == ["path",
                                                                             "referral_id"]
