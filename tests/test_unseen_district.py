"""A district the code has never seen (issue 13, item 6), end to end: `init` with its own
layers and catalogue, `route`, `ingest`, the intake API, dispatch to closure and every
page, each checked against an oracle computed here by hand (`tests.unseen_district`).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo import store
from geo.access import SYSTEM, Scope
from geo.api import create_app
from geo.cli import main
from geo.crs import metric_crs_of
from geo.dispatch import recommend
from geo.settings import Settings
from geo.store.accounts import add_source, add_user, issue_user_token
from geo.store.dispatching import assign, set_team_status, teams_frame, transition_case
from tests.unseen_district import (
    ACCEPTED_WORDS,
    ALERTS,
    CENTERS,
    COMMAND,
    ECO,
    ECO_TEAM,
    INTERVALS,
    MARKET,
    MARKET_TEAM,
    MATTERS,
    RAW_COLUMNS,
    T1,
    T1_NAME,
    T2,
    T3,
    TEAMS,
    TOWNSHIPS,
    alerts_frame,
    utm_metres,
    write_catalog,
    write_layers,
)

#: the demo's names, which must appear nowhere on this district's pages
DEMO_WORDS = ("吴兴", "织里", "湖州", "Wuxing", "月河", "CC-330502", "330502")
DISTRICT_NAMES = [name for _, name in TOWNSHIPS]


def _settings(tmp_path, catalog) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'unseen.sqlite'}",
                    cache_path=tmp_path / "cache", catalog_path=catalog,
                    evidence_path=tmp_path / "evidence")


@pytest.fixture
def district(tmp_path):
    """(settings, layers path, catalogue folder) of the district, nothing imported yet; its
    catalogue is also the settings' catalogue folder (as ``GEO_CATALOG`` would make it)."""
    layers = write_layers(tmp_path / "layers")
    catalog = write_catalog(tmp_path / "catalog")
    return _settings(tmp_path, catalog), layers, catalog


@pytest.fixture
def loaded(district, tmp_path):
    """The district imported and its alerts ingested by the CLI: (settings, engine)."""
    settings, layers, catalog = district
    assert main(["init", "--layers", str(layers), "--catalog", str(catalog)], settings) == 0
    alerts_frame()[RAW_COLUMNS].to_csv(tmp_path / "alerts.csv", index=False)
    assert main(["ingest", str(tmp_path / "alerts.csv")], settings) == 0
    return settings, store.connect(settings.database_url)


def _routed_as_oracle(frame: pd.DataFrame, oracle: pd.DataFrame, key: str) -> None:
    got = frame.set_index(key).loc[oracle["id"]]
    assert list(got["township_code"].fillna("")) == list(oracle["township"])
    assert list(got["unit_code"].fillna("")) == list(oracle["unit"])
    assert list(got["body_code"]) == list(oracle["body"]), (
        pd.DataFrame({"id": oracle["id"], "got": list(got["body_code"]),
                      "want": list(oracle["body"])}))


# ------------------------------------------------------------------ init and route
@pytest.mark.parametrize("fmt", ["geojson", "gpkg"])
def test_init_then_route_as_the_oracle_says(tmp_path, capsys, fmt):
    layers = write_layers(tmp_path / "layers", fmt)
    catalog = write_catalog(tmp_path / "catalog")
    settings = _settings(tmp_path, catalog)
    assert main(["init", "--layers", str(layers), "--catalog", str(catalog)], settings) == 0
    out = capsys.readouterr().out
    assert "3 townships, 6 units, 3 sites, 11 teams" in out
    assert "3 matters, 6 bodies, 3 empowerment entries" in out
    oracle = alerts_frame()
    oracle[RAW_COLUMNS].to_csv(tmp_path / "a.csv", index=False)
    assert main(["route", str(tmp_path / "a.csv"), "--out", str(tmp_path / "r.csv")],
                settings) == 0
    assert "rejected" not in capsys.readouterr().err
    routed = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False)
    routed["body_code"] = routed["body_code"].replace("", None)
    _routed_as_oracle(routed, oracle, "id")
    by_id = routed.set_index("id")
    assert by_id.loc["HX-A11", "flags"] == "outside"
    assert by_id.loc["HX-A12", "site_id"] == "HX1"  # inside the site's polygon
    assert "HX-NOPE" in by_id.loc["HX-A9", "reasons"]
    # the catalogue in the database: its severities, intervals and checklists
    engine = store.connect(settings.database_url)
    catalog = store.load_catalog(engine, scope=SYSTEM)
    assert catalog.severity_words == ACCEPTED_WORDS
    assert catalog.inspection_intervals == INTERVALS
    from geo.store.inspecting import checklists
    assert set(checklists(engine, scope=SYSTEM)["item_code"]) == {"HXJC-01", "HXJC-02",
                                                                   "HXJC-03"}


def test_ingest_opens_each_case_as_the_oracle_says(loaded):
    _, engine = loaded
    oracle = alerts_frame()
    cases = store.cases_frame(engine, scope=SYSTEM)
    assert len(cases) == len(oracle)
    _routed_as_oracle(cases, oracle, "external_id")
    got = cases.set_index("external_id").loc[oracle["id"]]
    assert list(got["severity"]) == list(oracle["severity_is"])  # the catalogue's words
    days = {"low": 9, "medium": 5, "high": 2}
    for (_, case), (_, want) in zip(got.iterrows(), oracle.iterrows(), strict=True):
        opened = pd.Timestamp(want["reported_at"]).tz_convert("UTC").tz_localize(None)
        assert case["opened_at"] == opened
        if want["matter"] in MATTERS:
            assert case["deadline_at"] - opened == pd.Timedelta(days=days[want["severity_is"]])
        else:
            assert pd.isna(case["deadline_at"])


# ------------------------------------------------------------------ the intake API
def test_api_intake_routes_as_the_oracle_says_and_scopes_reads(loaded):
    settings, engine = loaded
    token = add_source(engine, "hx-app", "河西随手拍", scope=SYSTEM)
    add_user(engine, "ll", "柳林乡执法所", "township", township=T2, scope=SYSTEM)
    ll = issue_user_token(engine, "ll", scope=SYSTEM)
    oracle = alerts_frame()
    body = [{"id": f"API-{r['id']}", "lon": r["lon"], "lat": r["lat"],
             **({"matter": r["matter"]} if r["matter"] else {}),
             "reported_at": r["reported_at"],
             **({"severity": r["severity"]} if r["severity"] else {})}
            for _, r in oracle.iterrows()]
    with TestClient(create_app(settings)) as client:
        answer = client.post("/api/v1/alerts", json={"alerts": body},
                             headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 201, answer.text
        results = answer.json()["results"]
        assert [r["township_code"] or "" for r in results] == list(oracle["township"])
        assert [r["body_code"] for r in results] == list(oracle["body"])
        # township staff read their own township's cases only (CLI and API alike)
        mine = client.get("/api/v1/cases", params={"page_size": 500},
                          headers={"Authorization": f"Bearer {ll}"}).json()
    assert mine["total"] == 2 * (oracle["township"] == T2).sum()
    assert {c["township_code"] for c in mine["items"]} == {T2}


# ------------------------------------------------------------------ dispatch
def _case(engine, external_id: str) -> pd.Series:
    frame = store.cases_frame(engine, scope=SYSTEM)
    return frame[frame["external_id"] == external_id].iloc[0]


def _nearest_able(case: pd.Series, body: str, domain: str) -> tuple[list[str], dict]:
    """Able teams of ``body`` nearest first, and their distances to the case in metres,
    computed here in UTM 50N (a metric CRS the code does not use) from the teams layer."""
    from tests.unseen_district import teams_frame as layer

    teams = layer().to_crs("EPSG:4326").set_index("team_id")
    able = [tid for tid, t in TEAMS.items()
            if t[1] == body and t[3] == "available" and domain in t[2].split(",")]
    tx, ty = utm_metres(teams.loc[able].geometry.x, teams.loc[able].geometry.y)
    cx, cy = utm_metres([case["lon"]], [case["lat"]])
    dist = dict(zip(able, np.hypot(tx - cx, ty - cy).tolist(), strict=True))
    return sorted(dist, key=dist.get), dist


@pytest.mark.parametrize(("external_id", "body", "matter"), [
    ("HX-A1", CENTERS[T1], MARKET),   # the township center; its nearest team lacks the skill
    ("HX-A7", ECO_TEAM, ECO),          # the district team; its nearest team is off duty
])
def test_dispatch_recommends_the_nearest_able_team_and_follows_it_to_closure(
        loaded, external_id, body, matter):
    _, engine = loaded
    case = _case(engine, external_id)
    assert case["body_code"] == body
    dispatcher = Scope("dispatcher", body=body, actor="hx-dispatcher")
    layers = store.load_layers(engine, scope=SYSTEM)
    metric = metric_crs_of(layers.townships)
    teams = teams_frame(engine, metric, scope=dispatcher)
    assert set(teams["body_code"]) == {body}  # a dispatcher sees their body's teams
    catalog = store.load_catalog(engine, scope=SYSTEM)
    domain = MATTERS[matter][1]
    from geo.crs import to_metric
    x, y = to_metric(case["lon"], case["lat"], metric)
    recs = recommend(float(x), float(y), body, domain, teams, store.utcnow(),
                     body_kinds=dict(zip(catalog.bodies["code"], catalog.bodies["kind"],
                                         strict=True)))
    order, dist = _nearest_able(case, body, domain)
    assert [r.team_id for r in recs] == order
    for r in recs:  # the code's metres are the oracle's, to a few parts in ten thousand
        assert r.distance_m == pytest.approx(dist[r.team_id], rel=2e-3)
    best = recs[0].team_id
    # a real choice: the body's nearest team of all is unable (no skill, or off duty)
    every = teams.assign(d=np.hypot(teams["x"] - float(x), teams["y"] - float(y)))
    assert every.sort_values("d")["team_id"].iloc[0] not in order
    # another body's dispatcher may not send this body's team
    other = Scope("dispatcher", body=MARKET_TEAM if body != MARKET_TEAM else ECO_TEAM,
                  actor="x")
    team = teams.set_index("team_id").loc[best]
    with pytest.raises(LookupError, match=f"no case {case['id']}"):
        assign(engine, int(case["id"]), int(case["version"]), best, int(team["version"]),
               "x", scope=other)
    assign(engine, int(case["id"]), int(case["version"]), best, int(team["version"]),
           "hx-dispatcher", scope=dispatcher)
    assert _case(engine, external_id)["status"] == "dispatched"
    for status in ("en_route", "on_scene", "available"):
        version = int(teams_frame(engine, metric, scope=dispatcher)
                      .set_index("team_id").loc[best, "version"])
        set_team_status(engine, best, version, status, "hx-dispatcher", scope=dispatcher)
    for status in ("handling", "closed"):
        transition_case(engine, int(case["id"]), int(_case(engine, external_id)["version"]),
                        status, "hx-dispatcher", reason="已处置", scope=dispatcher)
    done = _case(engine, external_id)
    assert done["status"] == "closed" and done["body_code"] == body
    assert teams_frame(engine, metric, scope=SYSTEM).set_index("team_id").loc[
        best, "status"] == "available"


def test_the_command_center_gets_triage_and_referrals(loaded):
    _, engine = loaded
    cases = store.cases_frame(engine, scope=SYSTEM).set_index("external_id")
    assert cases.loc["HX-A9", "body_code"] == COMMAND   # unknown matter
    assert cases.loc["HX-A10", "body_code"] == COMMAND  # no matter
    assert cases.loc["HX-A11", "body_code"] == COMMAND  # outside: a referral
    assert cases.loc["HX-A4", "body_code"] == MARKET_TEAM  # 石桥街道 holds nothing
    assert cases.loc["HX-A4", "township_code"] == T3


def test_empowerment_follows_the_local_day(loaded):
    _, engine = loaded
    cases = store.cases_frame(engine, scope=SYSTEM).set_index("external_id")
    # 柳林乡 holds the market matter from 2026-01-01, local time
    assert cases.loc["HX-A2", "body_code"] == MARKET_TEAM
    assert cases.loc["HX-A3", "opened_at"] < pd.Timestamp("2026-01-01")  # UTC: still 2025
    assert cases.loc["HX-A3", "body_code"] == CENTERS[T2]
    # and held the city matter until 2025-06-01
    assert cases.loc["HX-A5", "body_code"] == CENTERS[T2]
    assert cases.loc["HX-A6", "body_code"] == MARKET_TEAM



# ------------------------------------------------------------------ the pages
PAGES = {"command": "command", "dispatch": "dispatch_page", "calltaker": "calltaker_page",
         "teams": "teams_page", "coverage": "coverage_page", "layers": "layers_page",
         "inspections": "inspections_page"}
#: users of the district: username -> (role, township, body)
USERS = {"hx-command": ("command", None, None), "hx-hd": ("township", T1, None),
         "hx-st": ("dispatcher", None, ECO_TEAM), "hx-planner": ("planner", None, None)}


@pytest.fixture
def app_db(loaded, monkeypatch):
    """The loaded district with its users, as the app's environment."""
    settings, engine = loaded
    for username, (role, township, body) in USERS.items():
        add_user(engine, username, username, role, township=township, body=body,
                 scope=SYSTEM)
    for key, value in (("GEO_DATABASE_URL", settings.database_url),
                       ("GEO_CATALOG", str(settings.catalog_path)),
                       ("GEO_CACHE", str(settings.cache_path)),
                       ("GEO_EVIDENCE_DIR", str(settings.evidence_path))):
        monkeypatch.setenv(key, value)
    return settings, engine


def _shown(at) -> str:
    """Every text of the page AppTest can read: titles, text, tables, choices, examples."""
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                 "success", "error", "metric", "text", "code"):
        for el in getattr(at, kind, []):
            parts += [str(getattr(el, "value", "")), str(getattr(el, "label", ""))]
    for el in (*at.selectbox, *at.multiselect, *at.radio):
        parts.append(str(el.label))
        parts += [str(o) for o in el.options]  # as shown (AppTest formats them)
    for el in at.text_input:
        parts += [str(el.label), str(el.placeholder or "")]
    parts += [frame.value.to_string() for frame in at.dataframe]
    return "\n".join(parts)


def _run(page: str, user: str, **state):
    """A page run as ``user`` after signing in, with ``state`` in its session."""
    import os

    from streamlit.testing.v1 import AppTest

    from geo.store.accounts import get_user, scope_of

    at = AppTest.from_string(
        f"from geo.app import {PAGES[page]} as page\npage.render()\n", default_timeout=120)
    engine = store.connect(os.environ["GEO_DATABASE_URL"])
    at.session_state["onemap_scope"] = scope_of(get_user(engine, user))
    at.session_state["onemap_user"] = user
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def _clean(at, page: str) -> str:
    assert not at.exception, [e.stack_trace for e in at.exception]
    shown = _shown(at)
    leaked = [w for w in DEMO_WORDS if w in shown]
    assert not leaked, f"{page} shows the demo's {leaked}"
    return shown


@pytest.mark.parametrize("page", [p for p in PAGES if p != "layers"])
def test_every_page_shows_this_districts_places(app_db, page):
    start = {"ct_how": "ct_by_name"} if page == "calltaker" else {}  # places by name
    shown = _clean(_run(page, "hx-command", **start), page)
    assert any(name in shown for name in DISTRICT_NAMES), shown[:2000]


def test_the_command_page_offers_the_districts_townships(app_db):
    at = _run("command", "hx-command")
    _clean(at, "command")
    offered = at.sidebar.selectbox(key="f_township").options
    assert all(any(name in o for o in offered) for name in DISTRICT_NAMES), offered
    assert int(next(m for m in at.metric if m.label == "在办").value) == len(alerts_frame())


def test_the_layers_page_and_its_maps_are_the_districts(app_db):
    at = _run("layers", "hx-command")
    _clean(at, "layers")
    assert at.dataframe[0].value["要素数"].tolist() == [3, 6, 3, 11]
    from geo.app.layers_page import _small_map

    layers = store.load_layers(app_db[1], scope=SYSTEM)
    html = _small_map(layers.units, "units", layers.townships).get_root().render()
    assert not [w for w in DEMO_WORDS if w in html]
    x0, y0, _, _ = layers.units.total_bounds  # fitted to the district
    assert f"[[{y0}, {x0}]," in html.replace("\n", "").replace("  ", "") or f"{y0:.5f}"[:7] in html


def test_the_calltaker_previews_a_report_in_this_district(app_db):
    at = _run("calltaker", "hx-command", ct_how="ct_by_coords")
    _clean(at, "calltaker")
    lon_box, lat_box = at.text_input(key="ct_lon_0"), at.text_input(key="ct_lat_0")
    layers = store.load_layers(app_db[1], scope=SYSTEM)
    x0, y0, x1, y1 = layers.townships.total_bounds  # the example lies in the district
    assert x0 < float(lon_box.placeholder) < x1 and y0 < float(lat_box.placeholder) < y1
    a1 = alerts_frame().set_index("id").loc["HX-A1"]
    lon_box.input(str(a1["lon"]))
    lat_box.input(str(a1["lat"]))
    at.selectbox(key="ct_matter_0").set_value(MARKET)
    shown = _clean(at.run(), "calltaker")
    assert f"镇街: {T1_NAME}" in shown.replace("\\", "")
    assert f"{T1_NAME}执法所" in shown  # its center, by name


def test_the_inspections_page_offers_the_districts_sites_and_checklist(app_db):
    at = _run("inspections", "hx-command")
    _clean(at, "inspections")
    offered = at.selectbox(key="i_site").options
    assert len(offered) == 3 and all(o.split()[0] in {"HX1", "HX2", "HX3"} for o in offered)
    items = " ".join(c.label for c in at.checkbox)
    assert "扬尘未覆盖" in items and "占用绿地堆料" in items


def test_a_township_user_sees_their_own_township_only(app_db):
    at = _run("dispatch", "hx-hd")
    _clean(at, "dispatch")
    queue = at.dataframe[0].value
    assert set(queue["镇街"]) == {T1_NAME}


def test_coverage_of_a_district_with_no_inspection_yet():
    from geo.coverage import site_status
    from tests.unseen_district import sites

    status = site_status(sites(), pd.DataFrame(columns=["site_id", "day"]),
                         dt.date(2026, 3, 1), INTERVALS)
    assert status["overdue"].all() and status["last_inspected"].isna().all()


# ------------------------------------------------------------------ hostile rows (item 3)
#: hostile values of a CSV cell (bytes; none holds a comma, quote or line break)
HOSTILE = [b"", b"nan", b"NaN", b"inf", b"-inf", b"1e400", b"true", b"[1 2]", b"{}",
           b"\xff\xfe", b"\xc3(", b"\xe9t\xe9", b"\x01\x02", b"x" * 5000,
           b"1900-01-01T00:00:00", b"2999-01-01T00:00:00+08:00", b"yesterday",
           b"2026-03-29T02:30:00", b"-999", b"0", "严重".encode("gbk")]
USED = ("id", "lon", "lat", "matter", "reported_at", "severity", "description",
        "credit_code")
COLUMNS = [*USED, "source", "address"]  # ``address``: a column no command uses


def _cell(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _write(path, rows: list[dict]) -> None:
    lines = [",".join(COLUMNS).encode()]
    lines += [b",".join(_cell(r.get(c, "")) for c in COLUMNS) for r in rows]
    path.write_bytes(b"\n".join(lines) + b"\n")


def _good(prefix: str) -> list[dict]:
    return [{"id": f"{prefix}{r['id']}", "lon": r["lon"], "lat": r["lat"],
             "matter": r["matter"], "reported_at": r["reported_at"], "source": r["source"],
             "severity": r["severity"], "address": "河西区某路1号"}
            for _, r in alerts_frame().iterrows()]


hostile_rows = st.lists(st.fixed_dictionaries(
    {}, optional={c: st.sampled_from(HOSTILE) for c in (*USED, "address")}),
    min_size=1, max_size=6)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(bad=hostile_rows, data=st.data())
def test_hostile_rows_never_cost_another_alert_its_case(loaded, tmp_path_factory, bad,
                                                        data):
    """The ingest CLI on good alerts mixed with hostile rows: each good one gets the case
    the oracle says, each hostile one is stored with its case or rejected naming its row
    and a field it uses; a column no command uses rejects nothing."""
    settings_, engine = loaded
    folder = tmp_path_factory.mktemp("hostile")
    prefix = f"H{folder.name[-6:]}-"
    good = _good(prefix)
    rows = []
    for i, b in enumerate(bad):  # a hostile row: a good alert with some fields spoiled
        base = dict(good[i % len(good)], id=f"{prefix}BAD{i}")
        rows.append({**base, **b})
    order = data.draw(st.permutations(good + rows))
    _write(folder / "a.csv", order)
    assert main(["ingest", str(folder / "a.csv"), "--rejects", str(folder / "r.csv")],
                settings_) == 0
    rejected = (pd.read_csv(folder / "r.csv", dtype=str, keep_default_na=False,
                            encoding="utf-8") if (folder / "r.csv").exists()
                else pd.DataFrame(columns=["row", "field", "reason"]))
    assert set(rejected["field"]) <= {*USED, "source"}, rejected  # never address, never
    assert rejected["reason"].str.len().gt(0).all()                  # the record as such
    cases = store.cases_frame(engine, scope=SYSTEM).set_index("external_id")
    oracle = alerts_frame()
    got = cases.loc[[f"{prefix}{i}" for i in oracle["id"]]]
    assert list(got["body_code"]) == list(oracle["body"])  # every good alert, as it must
    # a row is rejected or stored with its case, never lost: line numbers from 2
    line_of = {r["id"] if isinstance(r["id"], str) else None: k + 2
               for k, r in enumerate(order)}
    for i, b in enumerate(bad):
        ext = f"{prefix}BAD{i}"
        if "id" in b:
            continue  # its id is hostile: it is found by its line below
        stored = ext in cases.index
        refused = str(line_of[ext]) in set(rejected["row"])
        assert stored != refused, (b, rejected)
        if set(b) <= {"address"}:
            assert stored  # only the unused column was hostile
    stored_rows = len(order) - len(rejected)
    assert len(store.cases_frame(engine, scope=SYSTEM)) >= stored_rows


def test_route_ignores_fields_it_does_not_use_and_ingest_names_them(loaded, tmp_path,
                                                                     capsys):
    settings_, _ = loaded
    good = _good("R-")
    rows = [dict(good[0], id="R-desc", description=b"\xff\xfe"),
            dict(good[1], id="R-sev", severity=b"\xc3("),
            dict(good[2], id="R-addr", address=b"\xe9t\xe9\x01"),
            dict(good[3], id="R-lon", lon=b"\xff")]
    _write(tmp_path / "a.csv", rows)
    assert main(["route", str(tmp_path / "a.csv"), "--out", str(tmp_path / "o.csv"),
                 "--rejects", str(tmp_path / "rr.csv")], settings_) == 0
    routed = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False)
    assert list(routed["id"]) == ["R-desc", "R-sev", "R-addr", "R-lon"]
    assert list(routed["flags"]) == ["", "", "", "invalid"]  # route keeps every row
    assert list(routed["body_code"][:3]) == list(alerts_frame()["body"][:3])
    err = capsys.readouterr().err
    assert "field description: not UTF-8 text" in err and "ignored" in err
    assert "field severity: not UTF-8 text" in err
    assert not (tmp_path / "rr.csv").exists()
    assert main(["ingest", str(tmp_path / "a.csv"), "--rejects", str(tmp_path / "ir.csv")],
                settings_) == 0
    ingest_rejects = pd.read_csv(tmp_path / "ir.csv", dtype=str)
    assert list(zip(ingest_rejects["row"], ingest_rejects["field"], strict=True)) == [
        ("2", "description"), ("3", "severity"), ("5", "lon")]
    assert ingest_rejects["reason"].str.startswith("not").all()


ALERT_IDS = [a[0] for a in ALERTS]
hostile_json = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["\ud800", "\x00", "1900-01-01T00:00:00Z", "2999-01-01T00:00:00Z",
                     "9999-12-31T23:59:59+14:00", "0001-01-01", "P1", "x" * 5000]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                         st.integers(), max_size=2))


@pytest.fixture
def api_client(loaded):
    settings_, engine = loaded
    token = add_source(engine, "hx-feed", "河西数据平台", rate_limit="100000/minute",
                       scope=SYSTEM)
    with TestClient(create_app(settings_), raise_server_exceptions=False) as client:
        yield client, {"Authorization": f"Bearer {token}",
                       "Content-Type": "application/json"}, engine


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spoil=st.dictionaries(st.sampled_from([*USED, "address"]), hostile_json,
                             min_size=1, max_size=4),
       k=st.integers(min_value=0, max_value=len(ALERT_IDS) - 1), n=st.integers(0, 10**9))
def test_the_api_answers_hostile_alerts_with_a_field_never_a_500(api_client, spoil, k, n):
    client, headers, _ = api_client
    good = _good(f"J{n}-")[k]
    body = {key: value for key, value in good.items() if key not in ("source", "address")
            and value != ""}
    hostile = {**body, "id": f"J{n}-BAD", **spoil}
    text = json.dumps(hostile, allow_nan=True)
    r = client.post("/api/v1/alerts", content=text.encode(), headers=headers)
    assert r.status_code in (200, 201, 422), r.text
    if r.status_code == 422:
        for e in r.json()["detail"]:
            assert e["loc"][0] == "body" and (len(e["loc"]) == 1 or e["loc"][1] in
                                              {*USED, "address"}), e
    # the next post is not hurt: its alert gets the case the oracle says
    ok = client.post("/api/v1/alerts", content=json.dumps({"alerts": [body]}).encode(),
                     headers=headers)
    assert ok.status_code in (200, 201), ok.text
    assert ok.json()["results"][0]["body_code"] == alerts_frame()["body"].iloc[k]
