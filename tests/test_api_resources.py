"""The API for the rest of the system over HTTP, on SQLite and PostGIS: teams, positions,
sites, inspections, re-inspections and case transitions, allowed or refused per role and
scope exactly as the store decides (out of scope 404, read-only 403, stale version 409, bad
input 422 naming the field with nothing stored), never a 5xx whatever the body; and the
Wuxing demo: 织里镇's token sees only 织里镇, and the planner's token writes nothing.
"""

import contextlib
import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from geo import store
from geo.access import SYSTEM, who_may
from geo.store import dispatching, inspecting
from geo.store.accounts import add_user, issue_user_token
from geo.store.models import (
    AuditLog,
    Case,
    Finding,
    Inspection,
    Reinspection,
    Site,
    Team,
    TeamPosition,
)
from tests.conftest import CODE_A, CODE_B, SIDE, X0, Y0, to_wgs
from tests.test_api import alert, api_client, auth

CHECKLISTS = ("kind,item_code,item,department,matter_code\n"
              "construction,CON-01,围挡缺失,住房城乡建设,M2\n"
              "construction,CON-02,扬尘未覆盖,住房城乡建设,M2\n"
              "enterprise,ENT-01,证照未公示,市场监管,M1\n")
ROLES = ("a", "b", "sc", "boss", "plan", "root", "src")
(A_LON, S9_LON), (A_LAT, S9_LAT) = to_wgs([X0 + 500, X0 + 150], [Y0 + 500, Y0 + 1700])


@pytest.fixture
def api(store_settings, small_dirs):
    """The small district through HTTP: users a (township A), b (township B), sc
    (dispatcher DT-SC), boss (command), plan (planner), root (admin) and the source src;
    cases A (township A, TC-A) and B (township B, DT-SC) posted by src; an inspection with
    a problem at S1 (township A) and one at S2 (B): ``(client, tokens, engine, ids)``."""
    (small_dirs[1] / "checklists.csv").write_text(CHECKLISTS, encoding="utf-8")
    with api_client(store_settings, small_dirs) as (client, tokens, engine):
        for username, role in (("plan", "planner"), ("root", "admin")):
            add_user(engine, username, username, role, scope=SYSTEM)
            tokens[username] = issue_user_token(engine, username, scope=SYSTEM)
        (b_lon,), (b_lat,) = to_wgs([X0 + SIDE + 500], [Y0 + 500])
        r = client.post("/api/v1/alerts", json={"alerts": [
            alert("A"), alert("B", lon=float(b_lon), lat=float(b_lat))]},
            headers=auth(tokens["src"]))
        assert r.status_code == 201, r.text
        ids = {x["id"]: x["case_id"] for x in r.json()["results"]}
        for site, code in (("S1", "CON-01"), ("S2", "ENT-01")):
            ids[site] = inspecting.record_inspection(
                engine, site, dt.date(2026, 1, 10), ["综合执法"],
                [{"item_code": code, "result": "problem"}], scope=SYSTEM)
        yield client, tokens, engine, ids


def get(client, token, path, **params):
    return client.get(f"/api/v1{path}", params=params, headers=auth(token))


def post(client, token, path, body):
    return client.post(f"/api/v1{path}", json=body, headers=auth(token))


def counts(engine) -> dict:
    """What a refused request must leave as it was."""
    with store.sessions(engine)() as s:
        out = {m.__name__: s.scalar(select(func.count()).select_from(m))
               for m in (TeamPosition, Inspection, Finding, Reinspection, Site, AuditLog)}
        out["cases"] = sorted(s.execute(select(Case.id, Case.status, Case.version,
                                               Case.body_code)).all())
        out["teams"] = sorted(s.execute(select(Team.team_id, Team.status, Team.version)).all())
        out["sites"] = sorted(s.execute(select(Site.site_id, Site.name, Site.risk)).all())
    return out


def team_version(engine, team_id):
    frame = dispatching.teams_frame(engine, "EPSG:4549", scope=SYSTEM)
    return int(frame.set_index("team_id").loc[team_id, "version"])


def case_version(client, tokens, case_id):
    return get(client, tokens["boss"], f"/cases/{case_id}").json()["version"]


def now_iso(minutes=0):
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()


# ------------------------------------------------------------------------------ reads
READS = {  # role: (teams, sites, sites of inspections) or the status of every read
    "a": ({"TA-1"}, {"S1"}, {"S1"}),
    "b": (set(), {"S2", "S3"}, {"S2"}),
    "sc": ({"DT-SC-1"}, {"S1", "S2", "S3"}, {"S1", "S2"}),
    "boss": ({"TA-1", "DT-SC-1"}, {"S1", "S2", "S3"}, {"S1", "S2"}),
    "plan": ({"TA-1", "DT-SC-1"}, {"S1", "S2", "S3"}, {"S1", "S2"}),
    "root": ({"TA-1", "DT-SC-1"}, {"S1", "S2", "S3"}, {"S1", "S2"}),
    "src": 403,
}


@pytest.mark.parametrize("role", ROLES)
def test_lists_are_the_callers_scope(api, role):
    client, tokens, _, _ = api
    token = tokens[role]
    answers = [get(client, token, p) for p in ("/teams", "/sites", "/inspections")]
    if READS[role] == 403:  # a source reads nothing but its cases
        assert [r.status_code for r in answers] == [403, 403, 403]
        return
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    teams, sites, inspections = (r.json() for r in answers)
    assert {t["team_id"] for t in teams["items"]} == READS[role][0]
    assert {s["site_id"] for s in sites["items"]} == READS[role][1]
    assert {i["site_id"] for i in inspections["items"]} == READS[role][2]
    assert teams["total"] == len(READS[role][0])


def test_lists_carry_wgs84_versions_and_page(api):
    client, tokens, _, ids = api
    teams = get(client, tokens["boss"], "/teams").json()["items"]
    ta = next(t for t in teams if t["team_id"] == "TA-1")
    assert ta["version"] == 1 and ta["status"] == "available" and ta["fix_at"] is None
    assert 119 < ta["lon"] < 121 and 30 < ta["lat"] < 32
    site = get(client, tokens["boss"], "/sites", township=CODE_A).json()["items"][0]
    assert site["site_id"] == "S1" and site["geometry"]["type"] == "Polygon"
    assert 119 < site["geometry"]["coordinates"][0][0][0] < 121
    pages = [get(client, tokens["boss"], "/sites", page=p, page_size=2).json()
             for p in (1, 2)]
    assert [len(p["items"]) for p in pages] == [2, 1] and pages[1]["total"] == 3
    assert [s["site_id"] for s in get(client, tokens["boss"], "/sites",
                                      kind="shop").json()["items"]] == ["S3"]
    box = f"{A_LON - 0.01},{A_LAT - 0.01},{A_LON + 0.01},{A_LAT + 0.01}"
    assert {s["site_id"] for s in get(client, tokens["boss"], "/sites", bbox=box)
            .json()["items"]} == {"S1"}
    r = get(client, tokens["boss"], "/sites", bbox="121,31,120,30")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "bbox"]
    # a filter never widens the scope
    assert get(client, tokens["a"], "/sites", township=CODE_B).json()["items"] == []
    found = get(client, tokens["a"], "/inspections").json()["items"]
    assert found[0]["id"] == ids["S1"] and found[0]["findings"][0]["result"] == "problem"
    assert found[0]["findings"][0]["deadline"] == "2026-01-25"
    assert get(client, tokens["boss"], "/inspections", site="S2").json()["total"] == 1
    assert get(client, tokens["boss"], "/inspections", since="2026-02-01").json()[
        "total"] == 0
    case = get(client, tokens["a"], f"/cases/{ids['A']}").json()
    assert case["version"] == 1  # the version a transition sends back


# ------------------------------------------------------------------------------ writes
OK = "ok"
# action -> role -> expected status (OK: the action's success code)
WRITES = {
    "status of TA-1": {"a": OK, "b": 404, "sc": 404, "boss": OK, "plan": 403, "root": OK,
                       "src": 403},
    "status of DT-SC-1": {"a": 404, "b": 404, "sc": OK, "boss": OK, "plan": 403, "root": OK,
                          "src": 403},
    "positions of TA-1": {"a": OK, "b": 404, "sc": 404, "boss": OK, "plan": 403, "root": OK,
                          "src": 403},
    "put site S1": {"a": 403, "b": 403, "sc": 403, "boss": 403, "plan": 403, "root": OK,
                    "src": 403},
    "inspect S1": {"a": OK, "b": 404, "sc": OK, "boss": OK, "plan": 403, "root": OK,
                   "src": 403},
    "inspect S2": {"a": 404, "b": OK, "sc": OK, "boss": OK, "plan": 403, "root": OK,
                   "src": 403},
    "reinspect at S1": {"a": OK, "b": 404, "sc": OK, "boss": OK, "plan": 403, "root": OK,
                        "src": 403},
    # a source reads the cases of its alerts, but the store answers a change to one as if
    # it did not exist (tests/test_permissions.py: "return case A", source MISSING)
    "verify case A": {"a": OK, "b": 404, "sc": 404, "boss": OK, "plan": 403, "root": OK,
                      "src": 404},
    "verify case B": {"a": 404, "b": OK, "sc": OK, "boss": OK, "plan": 403, "root": OK,
                      "src": 404},
    "return case B": {"a": 404, "b": OK, "sc": OK, "boss": OK, "plan": 403, "root": OK,
                      "src": 404},
}
SUCCESS = {"status": 200, "positions": 201, "put": 200, "inspect": 201, "reinspect": 201,
           "verify": 200, "return": 200}


def request(client, tokens, engine, ids, action: str, role: str):
    """The HTTP request of one action of `WRITES` as ``role``."""
    token = tokens[role]
    if action.startswith("status of"):
        team = action.split()[-1]
        return post(client, token, f"/teams/{team}/status",
                    {"status": "off_duty", "version": team_version(engine, team)})
    if action == "positions of TA-1":
        return post(client, token, "/teams/TA-1/positions", {"fixes": [
            {"lon": A_LON, "lat": A_LAT, "at": now_iso(-5)},
            {"lon": A_LON + 0.001, "lat": A_LAT, "at": now_iso()}]})
    if action == "put site S1":
        return client.put("/api/v1/sites/S1", headers=auth(token), json={
            "name": "工地一（更名）", "kind": "construction", "risk": "high",
            "geometry": {"type": "Point", "coordinates": [A_LON, A_LAT]}})
    if action.startswith("inspect"):
        site = action.split()[-1]
        code = {"S1": "CON-02", "S2": "ENT-01"}[site]
        return post(client, token, "/inspections", {
            "site_id": site, "day": "2026-02-01", "departments": ["综合执法", "市场监管"],
            "findings": [{"item_code": code, "result": "problem", "note": "见照片",
                          "photo": "p/1.jpg"}]})
    if action == "reinspect at S1":
        return post(client, token, f"/inspections/{ids['S1']}/reinspections",
                    {"item_code": "CON-01", "day": "2026-02-01", "fixed": True})
    if action.startswith("verify case") or action.startswith("return case"):
        case_id = ids[action.split()[-1]]
        target = "verified" if action.startswith("verify") else "returned"
        return post(client, token, f"/cases/{case_id}/transitions",
                    {"target": target, "version": case_version(client, tokens, case_id),
                     "reason": "不属本单位"})
    raise AssertionError(action)


def reset(client, tokens, engine, ids, action: str) -> None:
    """Undo an allowed write, so that the next role meets the same state."""
    for team in ("TA-1", "DT-SC-1"):
        frame = dispatching.teams_frame(engine, "EPSG:4549", scope=SYSTEM).set_index(
            "team_id")
        if frame.loc[team, "status"] == "off_duty":
            dispatching.set_team_status(engine, team, int(frame.loc[team, "version"]),
                                        "available", "test", scope=SYSTEM)
    for name, body in (("A", "TC-A"), ("B", "DT-SC")):
        case_id = ids[name]
        case = get(client, tokens["boss"], f"/cases/{case_id}").json()
        if case["status"] == "returned":
            dispatching.reroute_case(engine, case_id, case["version"], body, "test",
                                     scope=SYSTEM)
        elif case["status"] == "verified":
            with store.sessions(engine).begin() as s:  # no way back in the lifecycle
                s.get(Case, case_id).status = "routed"


@pytest.mark.parametrize("action", list(WRITES))
def test_writes_are_allowed_or_refused_as_the_store_decides(api, action):
    client, tokens, engine, ids = api
    for role, expected in WRITES[action].items():
        before = counts(engine)
        r = request(client, tokens, engine, ids, action, role)
        want = SUCCESS[action.split()[0]] if expected == OK else expected
        assert r.status_code == want, f"{action} as {role}: {r.status_code} {r.text}"
        if expected != OK:
            assert counts(engine) == before, f"{action} as {role} changed the store"
            assert set(r.json()) == {"detail"}
        else:
            with store.sessions(engine)() as s:
                last = s.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
            assert last.actor == role or role == "src", f"{action}: audited {last.actor}"
        reset(client, tokens, engine, ids, action)


def test_the_planner_gets_403_on_every_write_and_a_source_on_all_but_cases(api):
    client, tokens, engine, ids = api
    for role in ("plan", "src"):
        before = counts(engine)
        for action in WRITES:
            r = request(client, tokens, engine, ids, action, role)
            want = 404 if role == "src" and "case" in action else 403
            assert r.status_code == want, f"{action} as {role}: {r.text}"
        r = post(client, tokens[role], f"/cases/{ids['B']}/transitions",
                 {"target": "dispatched", "version": 1, "team_id": "DT-SC-1",
                  "team_version": 1})
        assert r.status_code == (403 if role == "plan" else 404)
        assert counts(engine) == before


def test_answers_of_writes(api):
    client, tokens, engine, ids = api
    r = post(client, tokens["a"], "/teams/TA-1/status", {"status": "off_duty", "version": 1})
    assert r.status_code == 200 and r.json()["status"] == "off_duty" and r.json()[
        "version"] == 2
    r = request(client, tokens, engine, ids, "positions of TA-1", "a")
    assert r.json() == {"team_id": "TA-1", "stored": 2}
    team = next(t for t in get(client, tokens["a"], "/teams").json()["items"])
    assert team["fix_at"] is not None and abs(team["lon"] - (A_LON + 0.001)) < 1e-9
    r = request(client, tokens, engine, ids, "inspect S1", "a")
    found = r.json()
    assert found["inspector"] == "a" and found["departments"] == ["综合执法", "市场监管"]
    assert found["findings"][0]["requirement"] == "整改：扬尘未覆盖"
    assert found["findings"][0]["deadline"] == "2026-02-16"
    r = post(client, tokens["a"], f"/inspections/{ids['S1']}/reinspections",
             {"item_code": "CON-01", "day": "2026-02-01", "fixed": False})
    assert r.status_code == 201 and r.json()["fixed"] is False
    rounds = get(client, tokens["a"], "/inspections", site="S1", until="2026-01-31").json()[
        "items"][0]["findings"][0]["reinspections"]
    assert [x["fixed"] for x in rounds] == [False]


def test_site_put_creates_then_replaces_and_gets_its_township(api):
    client, tokens, _, _ = api
    body = {"name": "新店", "kind": "shop", "risk": "low",
            "geometry": {"type": "Point", "coordinates": [S9_LON, S9_LAT]}}
    r = client.put("/api/v1/sites/S9", json=body, headers=auth(tokens["root"]))
    assert r.status_code == 201, r.text
    assert r.json()["township_code"] == CODE_A and r.json()["geometry"]["type"] == "Point"
    r = client.put("/api/v1/sites/S9", json={**body, "risk": "high"},
                   headers=auth(tokens["root"]))
    assert r.status_code == 200 and r.json()["risk"] == "high"
    assert {s["site_id"] for s in get(client, tokens["a"], "/sites").json()["items"]} == {
        "S1", "S9"}
    ring = [[S9_LON, S9_LAT], [S9_LON + 0.001, S9_LAT], [S9_LON + 0.001, S9_LAT + 0.001],
            [S9_LON, S9_LAT]]
    r = client.put("/api/v1/sites/S10", json={**body, "geometry": {
        "type": "Polygon", "coordinates": [ring]}, "township_code": CODE_B},
        headers=auth(tokens["root"]))
    assert r.status_code == 201 and r.json()["township_code"] == CODE_B  # as given


# ------------------------------------------------------------------- scope and versions
def test_reinspection_of_a_finding_of_another_inspection_is_404(api):
    client, tokens, engine, ids = api
    table = inspecting.inspection_tables(engine, scope=SYSTEM)[0].set_index("site_id")
    s2_finding = int(table.loc["S2", "finding_id"])
    before = counts(engine)
    r = post(client, tokens["boss"], f"/inspections/{ids['S1']}/reinspections",
             {"finding_id": s2_finding, "day": "2026-02-01", "fixed": True})
    assert r.status_code == 404
    r = post(client, tokens["boss"], f"/inspections/{ids['S1']}/reinspections",
             {"item_code": "ENT-01", "day": "2026-02-01", "fixed": True})
    assert r.status_code == 404
    r = post(client, tokens["boss"], "/inspections/999999/reinspections",
             {"item_code": "CON-01", "day": "2026-02-01", "fixed": True})
    assert r.status_code == 404
    assert counts(engine) == before
    r = post(client, tokens["boss"], f"/inspections/{ids['S2']}/reinspections",
             {"finding_id": s2_finding, "day": "2026-02-01", "fixed": True})
    assert r.status_code == 201 and r.json()["finding_id"] == s2_finding


def test_a_stale_version_is_409_and_changes_nothing(api):
    client, tokens, engine, ids = api
    assert post(client, tokens["a"], "/teams/TA-1/status",
                {"status": "off_duty", "version": 1}).status_code == 200
    before = counts(engine)
    r = post(client, tokens["boss"], "/teams/TA-1/status", {"status": "available",
                                                            "version": 1})
    assert r.status_code == 409 and "changed by someone else" in r.json()["detail"]
    assert counts(engine) == before
    case_id = ids["A"]
    assert post(client, tokens["a"], f"/cases/{case_id}/transitions",
                {"target": "verified", "version": 1}).status_code == 200
    before = counts(engine)
    r = post(client, tokens["boss"], f"/cases/{case_id}/transitions",
             {"target": "returned", "version": 1, "reason": "不属本单位"})
    assert r.status_code == 409, r.text
    assert counts(engine) == before


def test_case_transitions_dispatch_reroute_transfer_merge(api):
    client, tokens, _, ids = api
    a, b = ids["A"], ids["B"]
    # dispatch = assign an available team with the matter's skill
    r = post(client, tokens["sc"], f"/cases/{b}/transitions",
             {"target": "dispatched", "version": 1, "team_id": "DT-SC-1", "team_version": 1})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dispatched" and r.json()["assignment_id"] > 0
    assert r.json()["version"] == 2
    team = next(t for t in get(client, tokens["sc"], "/teams").json()["items"])
    assert team["status"] == "dispatched" and team["open_assignments"] == 1
    # another body's team is not the dispatcher's to send
    r = post(client, tokens["sc"], f"/cases/{b}/transitions",
             {"target": "dispatched", "version": 2, "team_id": "TA-1", "team_version": 1})
    assert r.status_code == 404
    # a township returns its case, only the command center re-routes it
    r = post(client, tokens["a"], f"/cases/{a}/transitions",
             {"target": "returned", "version": 1, "reason": "不属本镇"})
    assert r.status_code == 200 and r.json()["version"] == 2  # still in township A
    r = post(client, tokens["boss"], f"/cases/{a}/transitions",
             {"target": "routed", "version": 2, "body_code": "TC-A"})
    assert r.status_code == 200 and r.json()["status"] == "routed"
    # a township transfers its case to the neighbour
    r = post(client, tokens["a"], f"/cases/{a}/transitions",
             {"target": "transferred", "version": 3, "township_code": CODE_B,
              "reason": "在乙街道"})
    assert r.status_code == 200 and r.json()["version"] is None
    case = get(client, tokens["b"], f"/cases/{a}").json()
    assert case["township_code"] == CODE_B and case["township_name"] == "乙街道"
    # merged into an open case in scope
    (lon,), (lat,) = to_wgs([X0 + 520], [Y0 + 520])
    r = client.post("/api/v1/alerts", json=alert("A-dup", lon=float(lon), lat=float(lat)),
                    headers=auth(tokens["src"]))
    dup = r.json()["results"][0]["case_id"]
    r = post(client, tokens["boss"], f"/cases/{dup}/transitions",
             {"target": "merged", "version": 1, "into": b, "reason": "重复"})
    assert r.status_code == 200 and r.json()["status"] == "merged"
    r = post(client, tokens["boss"], f"/cases/{b}/transitions",
             {"target": "merged", "version": 2, "into": b})
    assert r.status_code == 404  # not another case


@pytest.mark.parametrize(("body", "loc"), [
    ({"target": "flying", "version": 1}, ["body", "target"]),
    ({"target": "returned", "version": 1}, ["body", "reason"]),
    ({"target": "dispatched", "version": 1}, ["body", "team_id"]),
    ({"target": "dispatched", "version": 1, "team_id": "DT-SC-1"}, ["body", "team_version"]),
    ({"target": "routed", "version": 1}, ["body", "body_code"]),
    ({"target": "transferred", "version": 1, "reason": "x"}, ["body", "township_code"]),
    ({"target": "merged", "version": 1}, ["body", "into"]),
    ({"target": "verified", "version": "1"}, ["body", "version"]),
    ({"target": "verified", "version": True}, ["body", "version"]),
    ({"target": "verified", "version": 2**40}, ["body", "version"]),
    ({"target": "verified", "version": 1, "reason": "\ud800"}, ["body", "reason"]),
    ({"target": "verified", "version": 1, "reason": "x" * 5000}, ["body", "reason"]),
    ({"target": "rectification", "version": 1, "fix_days": 10**9}, ["body", "fix_days"]),
    ({"target": "verified", "version": 1, "extra": 1}, ["body", "extra"]),
])
def test_bad_transitions_are_422_naming_the_field(api, body, loc):
    client, tokens, engine, ids = api
    before = counts(engine)
    r = client.post(f"/api/v1/cases/{ids['B']}/transitions", headers={
        **auth(tokens["boss"]), "Content-Type": "application/json"},
        content=json.dumps(body).encode())
    assert r.status_code == 422, r.text
    assert loc in [e["loc"] for e in r.json()["detail"]], r.json()
    assert len(r.text) < 2000
    assert counts(engine) == before


@pytest.mark.parametrize(("change", "loc"), [
    ({"at": "2099-01-01T00:00:00+08:00"}, ["body", "fixes", 1, "at"]),
    ({"at": "1999-12-31T00:00:00+08:00"}, ["body", "fixes", 1, "at"]),
    ({"at": "0001-01-01T00:00:00+00:00"}, ["body", "fixes", 1, "at"]),
    ({"at": "9999-12-31T23:59:59+00:00"}, ["body", "fixes", 1, "at"]),
    ({"at": "2026-01-01T09:00:00"}, ["body", "fixes", 1, "at"]),  # no offset
    ({"at": "yesterday"}, ["body", "fixes", 1, "at"]),
    ({"lon": 200.0}, ["body", "fixes", 1, "lon"]),
    ({"lon": 30.5, "lat": 120.1}, ["body", "fixes", 1, "lat"]),  # swapped
    ({"lat": "NaN"}, ["body", "fixes", 1, "lat"]),
    ({"lon": True}, ["body", "fixes", 1, "lon"]),
    ({"lon": [1]}, ["body", "fixes", 1, "lon"]),
    ({"extra": "x"}, ["body", "fixes", 1, "extra"]),
])
def test_bad_fixes_are_refused_all_or_nothing_naming_index_and_field(api, change, loc):
    client, tokens, engine, _ = api
    before = counts(engine)
    good = {"lon": A_LON, "lat": A_LAT, "at": now_iso(-1)}
    r = post(client, tokens["a"], "/teams/TA-1/positions",
             {"fixes": [good, {**good, **change}]})
    assert r.status_code == 422, r.text
    assert loc in [e["loc"] for e in r.json()["detail"]], r.json()
    assert counts(engine) == before


def test_fixes_in_gcj02_are_converted_and_an_unknown_crs_refused(api):
    from geo.crs import wgs84_to_gcj02

    client, tokens, engine, _ = api
    glon, glat = wgs84_to_gcj02([A_LON], [A_LAT])
    r = post(client, tokens["a"], "/teams/TA-1/positions", {"crs": "gcj02", "fixes": [
        {"lon": float(glon[0]), "lat": float(glat[0]), "at": now_iso()}]})
    assert r.status_code == 201
    with store.sessions(engine)() as s:
        fix = s.scalar(select(TeamPosition))
    assert abs(fix.lon - A_LON) < 1e-5 and abs(fix.lat - A_LAT) < 1e-5
    r = post(client, tokens["a"], "/teams/TA-1/positions", {"crs": "EPSG:999999", "fixes": [
        {"lon": A_LON, "lat": A_LAT, "at": now_iso()}]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "crs"]


@pytest.mark.parametrize(("change", "loc"), [
    ({"day": "2099-01-01"}, ["body", "day"]),
    ({"day": "1990-01-01"}, ["body", "day"]),
    ({"day": "9999-12-31"}, ["body", "day"]),
    ({"day": "not a day"}, ["body", "day"]),
    ({"findings": [{"item_code": "ENT-01", "result": "pass"}]},
     ["body", "findings", 0, "item_code"]),  # not on the construction checklist
    ({"findings": [{"item_code": "CON-01", "result": "bad"}]},
     ["body", "findings", 0, "result"]),
    ({"findings": [{"item_code": "CON-01", "result": "pass"}] * 2}, ["body", "findings"]),
    ({"findings": []}, ["body", "findings"]),
    ({"departments": ["a,b"]}, ["body", "departments", 0]),
    ({"departments": []}, ["body", "departments"]),
    ({"findings": [{"item_code": "CON-01", "result": "problem", "note": "\ud83d"}]},
     ["body", "findings", 0, "note"]),
    ({"findings": [{"item_code": "CON-01", "result": "problem", "photo": "x" * 301}]},
     ["body", "findings", 0, "photo"]),
    ({"site_id": "S1\x00"}, ["body", "site_id"]),
])
def test_bad_inspections_are_422_naming_the_field(api, change, loc):
    client, tokens, engine, _ = api
    before = counts(engine)
    body = {"site_id": "S1", "day": "2026-02-01", "departments": ["综合执法"],
            "findings": [{"item_code": "CON-01", "result": "pass"}], **change}
    r = client.post("/api/v1/inspections", content=json.dumps(body).encode(), headers={
        **auth(tokens["a"]), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert loc in [e["loc"] for e in r.json()["detail"]], r.json()
    assert counts(engine) == before


@pytest.mark.parametrize(("change", "loc"), [
    ({"risk": "extreme"}, ["body", "risk"]),
    ({"name": ""}, ["body", "name"]),
    ({"township_code": "330599999000"}, ["body", "township_code"]),
    ({"credit_code": "X" * 19}, ["body", "credit_code"]),
    ({"geometry": {"type": "Point", "coordinates": [200, 30]}}, ["body", "geometry"]),
    ({"geometry": {"type": "Point", "coordinates": [30.5, 120.1]}}, ["body", "geometry"]),
    ({"geometry": {"type": "LineString", "coordinates": [[120, 30], [121, 30]]}},
     ["body", "geometry"]),
    ({"geometry": {"type": "Polygon", "coordinates": [[[120, 30], [121, 30]]]}},
     ["body", "geometry", "Polygon", "coordinates", 0]),
    ({"site_id": "S1"}, ["body", "site_id"]),  # the id is the path's
])
def test_bad_sites_are_422_naming_the_field(api, change, loc):
    client, tokens, engine, _ = api
    before = counts(engine)
    body = {"name": "新店", "kind": "shop", "risk": "low",
            "geometry": {"type": "Point", "coordinates": [S9_LON, S9_LAT]}, **change}
    r = client.put("/api/v1/sites/S9", json=body, headers=auth(tokens["root"]))
    assert r.status_code == 422, r.text
    assert loc in [e["loc"] for e in r.json()["detail"]], r.json()
    assert counts(engine) == before


def test_a_site_id_too_long_for_the_registry_is_refused(api):
    client, tokens, _, _ = api
    body = {"name": "新店", "kind": "shop", "risk": "low",
            "geometry": {"type": "Point", "coordinates": [S9_LON, S9_LAT]}}
    r = client.put(f"/api/v1/sites/{'S' * 41}", json=body, headers=auth(tokens["root"]))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "site_id"]


# ------------------------------------------------------------------ hostile bodies
BIG = "@BIG@"
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.just(BIG)
           | st.text(max_size=30) | st.text(alphabet=st.characters(
               categories=["Cs", "Cc"]), max_size=5)
           | st.sampled_from(["", "NaN", "Infinity", "9999-12-31", "0001-01-01",
                              "2026-02-01", "2026-02-01T00:00:00+08:00", "x" * 5000,
                              "TA-1", "S1", "CON-01", "problem", "returned", "dispatched"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                      max_leaves=8)


def _bodies():
    now = dt.datetime.now(dt.UTC).isoformat()
    good = {
        "positions": ("post", "/api/v1/teams/TA-1/positions",
                      {"fixes": [{"lon": A_LON, "lat": A_LAT, "at": now}]}),
        "status": ("post", "/api/v1/teams/TA-1/status", {"status": "off_duty",
                                                         "version": 1}),
        "site": ("put", "/api/v1/sites/S9", {
            "name": "新店", "kind": "shop", "risk": "low",
            "geometry": {"type": "Point", "coordinates": [S9_LON, S9_LAT]}}),
        "inspection": ("post", "/api/v1/inspections", {
            "site_id": "S1", "day": "2026-02-01", "departments": ["综合执法"],
            "findings": [{"item_code": "CON-01", "result": "problem"}]}),
        "reinspection": ("post", "/api/v1/inspections/1/reinspections",
                         {"item_code": "CON-01", "day": "2026-02-01", "fixed": True}),
        "transition": ("post", "/api/v1/cases/1/transitions",
                       {"target": "verified", "version": 1}),
    }
    return good


def _mutate(body, path: list, value):
    """``body`` with the value at ``path`` (keys and indexes, as far as they lead)
    replaced by ``value``."""
    if not path or not isinstance(body, dict | list):
        return value
    key, rest = path[0], path[1:]
    if isinstance(body, dict):
        key = key if isinstance(key, str) else sorted(body)[key % len(body)] if body else "x"
        return {**body, key: _mutate(body.get(key), rest, value)}
    if not body:
        return [value]
    i = key % len(body) if isinstance(key, int) else 0
    return [*body[:i], _mutate(body[i], rest, value), *body[i + 1:]]


def _raw(body) -> bytes:
    return json.dumps(body, allow_nan=True).replace(f'"{BIG}"', "1e400").encode()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(endpoint=st.sampled_from(sorted(_bodies())),
       path=st.lists(st.integers(0, 5) | st.sampled_from(
           ["fixes", "at", "lon", "lat", "geometry", "coordinates", "findings", "day",
            "version", "status", "target", "item_code", "result", "note", "crs", "into",
            "team_id", "team_version", "reason", "risk", "type"]), max_size=4),
       value=VALUES, whole=st.booleans(), role=st.sampled_from(["boss", "root", "a"]))
def test_hostile_bodies_never_5xx_and_a_refusal_stores_nothing(api, endpoint, path, value,
                                                               whole, role):
    client, tokens, engine, _ = api
    method, url, good = _bodies()[endpoint]
    body = value if whole else _mutate(good, path, value)
    before = counts(engine)
    r = client.request(method, url, content=_raw(body), headers={
        **auth(tokens[role]), "Content-Type": "application/json"})
    assert r.status_code < 500, (endpoint, body, r.text)
    assert len(r.content) < 20_000
    if r.status_code >= 400:
        assert counts(engine) == before, (endpoint, body, r.status_code)
    reset_hostile(engine)


def reset_hostile(engine) -> None:
    """Teams back to available, cases back to routed (a valid mutation may have moved
    them)."""
    with store.sessions(engine).begin() as s:
        for team in s.scalars(select(Team)):
            team.status = "available"
        for case in s.scalars(select(Case)):
            case.status = "routed"


# ------------------------------------------------------------------------ documents
def test_openapi_documents_each_endpoints_roles_from_the_permission_table(api):
    client = api[0]
    paths = client.get("/openapi.json").json()["paths"]
    expected = {("get", "/api/v1/teams"): ("teams", "read"),
                ("post", "/api/v1/teams/{team_id}/status"): ("teams", "change"),
                ("post", "/api/v1/teams/{team_id}/positions"): ("teams", "change"),
                ("get", "/api/v1/sites"): ("sites", "read"),
                ("put", "/api/v1/sites/{site_id}"): ("sites", "change"),
                ("get", "/api/v1/inspections"): ("inspections", "read"),
                ("post", "/api/v1/inspections"): ("inspections", "change"),
                ("post", "/api/v1/inspections/{inspection_id}/reinspections"):
                    ("inspections", "change"),
                ("post", "/api/v1/cases/{case_id}/transitions"): ("cases", "change")}
    for (method, path), (obj, action) in expected.items():
        doc = paths[path][method]
        assert who_may(obj, action) in doc["description"], path
        assert "401" in doc["responses"]
    assert paths["/api/v1/sites/{site_id}"]["put"]["description"].endswith(
        "**sites: change** — admin")
    assert {"403", "404", "409"} <= set(paths["/api/v1/cases/{case_id}/transitions"][
        "post"]["responses"])


# ------------------------------------------------------------------------ the demo
ZHILI, YUEHE = "330502100000", "330502001000"


def db_settings_path(db_settings):
    from pathlib import Path

    return Path(db_settings.database_url.removeprefix("sqlite:///"))


@contextlib.contextmanager
def demo_api(db_settings):
    from fastapi.testclient import TestClient

    from geo.api import create_app
    from geo.cli import main
    from geo.settings import PROJECT_ROOT

    assert main(["init"], db_settings) == 0
    alerts = db_settings_path(db_settings).parent / "alerts.csv"
    lines = (PROJECT_ROOT / "data" / "demo_alerts.csv").read_text(encoding="utf-8").splitlines()
    alerts.write_text("\n".join(lines[:41]) + "\n", encoding="utf-8")
    assert main(["ingest", str(alerts)], db_settings) == 0
    assert main(["demo", "users", "--yes"], db_settings) == 0
    assert main(["demo", "history", "--inspections", "200"], db_settings) == 0
    engine = store.connect(db_settings.database_url)
    tokens = {u: issue_user_token(engine, u, scope=SYSTEM) for u in ("zhili", "planner", "command")}
    with TestClient(create_app(db_settings)) as client:
        yield client, tokens, engine


def every_page(client, token, path, **params) -> dict:
    """All the items of a listing, page by page, and its total."""
    items, page = [], 1
    while True:
        got = get(client, token, path, page=page, page_size=500, **params).json()
        items += got["items"]
        if len(items) >= got["total"] or not got["items"]:
            return {"items": items, "total": got["total"]}
        page += 1


def test_demo_zhili_sees_only_zhili_and_the_planner_writes_nothing(db_settings):
    with demo_api(db_settings) as (client, tokens, engine):
        everything = {p: every_page(client, tokens["command"], p)
                      for p in ("/teams", "/sites", "/inspections")}
        mine = {p: every_page(client, tokens["zhili"], p)
                for p in ("/teams", "/sites", "/inspections")}
        with store.sessions(engine)() as s:
            zhili_bodies = set(s.scalars(select(store.Body.code).where(
                store.Body.township_code == ZHILI)))
        assert mine["/teams"]["items"], "织里镇 has teams in the demo"
        assert {t["body_code"] for t in mine["/teams"]["items"]} <= zhili_bodies
        assert len(mine["/teams"]["items"]) < len(everything["/teams"]["items"])
        zhili_sites = {s["site_id"] for s in mine["/sites"]["items"]}
        assert zhili_sites and {s["township_code"] for s in mine["/sites"]["items"]} == {
            ZHILI}
        assert mine["/sites"]["total"] < everything["/sites"]["total"]
        assert mine["/inspections"]["total"] > 0
        assert {i["site_id"] for i in mine["/inspections"]["items"]} <= zhili_sites
        assert mine["/inspections"]["total"] < everything["/inspections"]["total"]

        # an inspection at a 月河街道 site: as if the site did not exist
        yuehe = every_page(client, tokens["command"], "/sites", township=YUEHE)["items"]
        kinds = {i["kind"] for i in inspecting.checklists(engine, scope=SYSTEM)
                 .to_dict("records")}
        site = next(s for s in yuehe if s["kind"] in kinds)
        code = inspecting.checklists(engine, scope=SYSTEM).query(
            "kind == @site['kind']")["item_code"].iloc[0]
        body = {"site_id": site["site_id"], "day": dt.date.today().isoformat(),
                "departments": ["综合执法"],
                "findings": [{"item_code": code, "result": "pass"}]}
        before = counts(engine)
        assert post(client, tokens["zhili"], "/inspections", body).status_code == 404
        assert counts(engine) == before

        # the planner's token: 403 on every write
        team = everything["/teams"]["items"][0]
        inspection = everything["/inspections"]["items"][0]
        problem = next((f for i in everything["/inspections"]["items"]
                        for f in i["findings"] if f["result"] == "problem"), None)
        case = get(client, tokens["command"], "/cases").json()["items"]
        writes = [
            ("post", f"/teams/{team['team_id']}/status",
             {"status": "off_duty", "version": team["version"]}),
            ("post", f"/teams/{team['team_id']}/positions",
             {"fixes": [{"lon": team["lon"], "lat": team["lat"], "at": now_iso()}]}),
            ("put", f"/sites/{site['site_id']}",
             {k: site[k] for k in ("name", "kind", "risk", "geometry")}),
            ("post", "/inspections", body),
        ]
        if problem is not None:
            owner = next(i for i in everything["/inspections"]["items"]
                         if problem in i["findings"])
            writes.append(("post", f"/inspections/{owner['id']}/reinspections",
                           {"finding_id": problem["id"], "day": inspection["day"],
                            "fixed": True}))
        if case:
            writes.append(("post", f"/cases/{case[0]['id']}/transitions",
                           {"target": "returned", "version": case[0]["version"],
                            "reason": "x"}))
        for method, path, payload in writes:
            r = client.request(method, f"/api/v1{path}", json=payload,
                               headers=auth(tokens["planner"]))
            assert r.status_code == 403, (path, r.text)
        assert counts(engine) == before


def test_who_may_says_the_permission_table_in_words():
    assert who_may("sites", "change") == "admin"
    assert who_may("teams", "change") == ("command, dispatcher (own body), township (own "
                                          "township), admin")
    assert who_may("inspections", "read") == ("command, dispatcher, township (own "
                                              "township), planner, admin")
    assert who_may("cases", "read").endswith("source (own)")
    with pytest.raises(ValueError, match="no permission rule"):
        who_may("teams", "reroute")
