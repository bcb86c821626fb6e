"""The joint operation of a case over HTTP, on SQLite and PostGIS: participants and seized
items scoped exactly as the store decides (outside the scope 404, a read-only or
non-participating token 403), hostile items 422 naming the item's index and field with
nothing stored, never a 5xx."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.store.models import AuditLog, SeizedItem
from tests import test_api_resources
from tests.test_api import auth, count

api = test_api_resources.api
MINERS = [{"item": "蚂蚁矿机 S19", "quantity": 100, "unit": "台", "value_yuan": 2800000},
          {"item": "蚂蚁矿机 S9", "quantity": "32", "unit": "台", "value_yuan": "700000.00"}]


def get(client, token, path):
    return client.get(f"/api/v1{path}", headers=auth(token))


def post(client, token, path, body):
    return client.post(f"/api/v1{path}", json=body, headers=auth(token))


def raw(client, token, path, text):
    return client.post(f"/api/v1{path}", content=text.encode("utf-8"),
                       headers={**auth(token), "Content-Type": "application/json"})


@pytest.fixture
def joint(api):
    """Case A (township A, led by TC-A) with DT-SC taking part and TA-1 dispatched by the
    lead: ``(client, tokens, engine, case_id)``."""
    client, tokens, engine, ids = api
    cid = ids["A"]
    r = post(client, tokens["a"], f"/cases/{cid}/participants", {"body_code": "DT-SC"})
    assert r.status_code == 201, r.text
    version = get(client, tokens["a"], f"/cases/{cid}").json()["version"]
    team = test_api_resources.team_version(engine, "TA-1")
    r = post(client, tokens["a"], f"/cases/{cid}/transitions",
             {"target": "dispatched", "version": version, "team_id": "TA-1",
              "team_version": team})
    assert r.status_code == 200, r.text
    return client, tokens, engine, cid


def test_participants_by_the_lead_seen_by_the_participant(api):
    client, tokens, _, ids = api
    cid = ids["A"]
    path = f"/cases/{cid}/participants"
    assert get(client, tokens["sc"], f"/cases/{cid}").status_code == 404
    assert post(client, tokens["sc"], path, {"body_code": "DT-SC"}).status_code == 404
    assert post(client, tokens["plan"], path, {"body_code": "DT-SC"}).status_code == 403
    r = post(client, tokens["a"], path, {"body_code": "DT-SC"})
    assert r.status_code == 201, r.text
    assert r.json()["lead"] == "TC-A"
    assert [p["body_code"] for p in r.json()["participants"]] == ["DT-SC"]
    # the participating dispatcher sees the case now, and cannot invite
    assert get(client, tokens["sc"], f"/cases/{cid}").status_code == 200
    assert get(client, tokens["sc"], path).json()["participants"][0]["name"] == "区市场监管执法队"
    assert post(client, tokens["sc"], path, {"observer": "公安"}).status_code == 404
    r = post(client, tokens["a"], path, {"observer": "  国网湖州供电公司 "})
    assert r.status_code == 201 and r.json()["observers"][0]["name"] == "国网湖州供电公司"
    for body, loc, kind in (({}, ["body"], None), ({"body_code": "DT-ZH", "observer": "x"},
                                                   ["body"], None),
                            ({"body_code": "CC"}, ["body", "body_code"],
                             "jointop_not_joining_kind"),
                            ({"body_code": "DT-SC"}, ["body", "body_code"],
                             "jointop_already_on"),
                            ({"observer": "公安\u0000"}, ["body", "observer"],
                             "jointop_bad_text"),
                            ({"body_code": 5}, ["body", "body_code"], None),
                            ({"body_code": "DT-ZH", "extra": 1}, ["body", "extra"], None)):
        r = post(client, tokens["a"], path, body)
        assert r.status_code == 422, (body, r.text)
        problem = r.json()["detail"][0]
        assert problem["loc"] == loc, (body, problem)
        assert kind is None or problem["type"] == kind
    assert get(client, tokens["b"], path).status_code == 404


def test_seized_items_and_their_totals(joint):
    client, tokens, engine, cid = joint
    path = f"/cases/{cid}/seizures"
    assert post(client, tokens["plan"], path, {"items": MINERS}).status_code == 403
    assert post(client, tokens["b"], path, {"items": MINERS}).status_code == 404
    r = post(client, tokens["sc"], path, {"items": MINERS})
    assert r.status_code == 201, r.text
    got = r.json()
    assert [(i["item"], i["value_yuan"], i["body_code"], i["recorded_by"])
            for i in got["items"]] == [("蚂蚁矿机 S19", "2800000.00", "DT-SC", "sc"),
                                       ("蚂蚁矿机 S9", "700000.00", "DT-SC", "sc")]
    assert got["totals"] == {"lines": 2, "by_unit": {"台": "132"}, "value_yuan": "3500000.00",
                             "value_fen": 350_000_000}
    listed = get(client, tokens["plan"], path).json()
    assert listed["totals"]["value_yuan"] == "3500000.00" and len(listed["items"]) == 2
    assert get(client, tokens["b"], path).status_code == 404
    assert count(engine, SeizedItem) == 2
    op = get(client, tokens["boss"], f"/cases/{cid}/participants").json()
    assert op["totals"]["value_fen"] == 350_000_000
    assert [t["team_id"] for t in op["teams"]] == ["TA-1"]


@pytest.mark.parametrize(("text", "loc", "kind"), [
    ('{"items": [ITEM, {"item": "x", "quantity": -3, "unit": "台", "value_yuan": 1}]}',
     [1, "quantity"], "jointop_not_positive"),
    ('{"items": [{"item": "x", "quantity": NaN, "unit": "台", "value_yuan": 1}]}',
     [0, "quantity"], "jointop_not_finite"),
    ('{"items": [{"item": "x", "quantity": 1, "unit": "台", "value_yuan": Infinity}]}',
     [0, "value_yuan"], "jointop_not_finite"),
    ('{"items": [{"item": "x", "quantity": 1e400, "unit": "台", "value_yuan": 1}]}',
     [0, "quantity"], "jointop_not_finite"),
    ('{"items": [{"item": "x", "quantity": "1e9", "unit": "台", "value_yuan": 1}]}',
     [0, "quantity"], "jointop_too_large"),
    ('{"items": [{"item": "x", "quantity": 1, "unit": "台", "value_yuan": 1e15}]}',
     [0, "value_yuan"], "jointop_too_large"),
    ('{"items": [{"item": "x", "quantity": 1, "unit": "台", "value_yuan": -0.5}]}',
     [0, "value_yuan"], "jointop_negative"),
    ('{"items": [{"item": "x", "quantity": 1, "unit": "台", "value_yuan": "1.005"}]}',
     [0, "value_yuan"], "jointop_too_precise"),
    ('{"items": [{"item": "\\ud800", "quantity": 1, "unit": "台", "value_yuan": 1}]}',
     [0, "item"], None),  # pydantic's string_unicode refuses it first
    ('{"items": [{"item": "x\\u0007", "quantity": 1, "unit": "台", "value_yuan": 1}]}',
     [0, "item"], "jointop_bad_text"),
    ('{"items": [{"item": "x", "quantity": 1, "unit": "BTC", "value_yuan": 1}]}',
     [0, "unit"], "jointop_bad_unit"),
    ('{"items": [{"item": "x", "quantity": true, "unit": "台", "value_yuan": 1}]}',
     [0, "quantity"], None),
    ('{"items": [{"item": 7, "quantity": 1, "unit": "台", "value_yuan": 1}]}',
     [0, "item"], None),
    ('{"items": [{"quantity": 1, "unit": "台", "value_yuan": 1}]}', [0, "item"], None),
    ('{"items": []}', [], None),
    ('{"items": [ITEM], "more": 1}', ["more"], None),
])
def test_hostile_items_are_refused_naming_index_and_field(joint, text, loc, kind):
    client, tokens, engine, cid = joint
    before = (count(engine, SeizedItem), count(engine, AuditLog))
    body = text.replace("ITEM", '{"item": "x", "quantity": 1, "unit": "台", "value_yuan": 1}')
    r = raw(client, tokens["a"], f"/cases/{cid}/seizures", body)
    assert r.status_code == 422, r.text
    problem = r.json()["detail"][0]
    assert problem["loc"][:2 + len(loc)] == ["body", "items", *loc][:2 + len(loc)] or \
        problem["loc"] == ["body", *loc], problem
    assert kind is None or problem["type"] == kind, problem
    assert (count(engine, SeizedItem), count(engine, AuditLog)) == before


def test_too_many_items_and_a_case_without_a_team(api):
    client, tokens, engine, ids = api
    one = MINERS[0]
    r = post(client, tokens["a"], f"/cases/{ids['A']}/seizures", {"items": [one] * 101})
    assert r.status_code == 422
    r = post(client, tokens["a"], f"/cases/{ids['A']}/seizures", {"items": [one]})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "jointop_not_seizable"
    assert count(engine, SeizedItem) == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(item=st.one_of(st.text(max_size=300), st.integers(), st.none()),
       quantity=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                          st.integers(min_value=-10**30, max_value=10**30)),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30)))
def test_any_item_is_stored_or_refused_never_a_5xx(joint, item, quantity, value):
    client, tokens, _, cid = joint
    body = json.dumps({"items": [{"item": item, "quantity": quantity, "unit": "台",
                                  "value_yuan": value}]})  # NaN and Infinity as Python sends
    r = raw(client, tokens["a"], f"/cases/{cid}/seizures", body)
    assert r.status_code in (201, 422), r.text
