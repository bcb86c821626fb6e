"""Call taking: a phone report's checks, its routing preview, its case through the one
intake (`geo.ingest.take_call`) and the case search (`geo.store.search.search_cases`), on
SQLite and PostGIS."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from geo import store
from geo.access import SYSTEM, AccessDeniedError, OutsideScopeError, Scope
from geo.calls import (
    MAX_SEARCH,
    CallError,
    PhoneReport,
    check_report,
    parse_point,
    places,
    preview,
    search_terms,
)
from geo.catalog import load_catalog
from geo.cli import main
from geo.crs import GCJ02, wgs84_to_gcj02
from geo.ingest import take_call
from geo.layers import load_layers
from geo.routing import Router
from geo.store.models import Alert, AuditLog, Case
from geo.store.search import search_cases
from tests.conftest import CODE_A, CODE_B, SIDE, X0, Y0, to_wgs

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
COMMAND = Scope("command", actor="boss")
TOWNSHIP_A = Scope("township", township=CODE_A, actor="a-staff")


def _at(x, y):
    lon, lat = to_wgs([x], [y])
    return float(lon[0]), float(lat[0])


IN_A = _at(X0 + 500, Y0 + 500)
IN_B = _at(X0 + SIDE + 500, Y0 + 500)


def report(where=IN_A, **changes) -> PhoneReport:
    values = {"lon": where[0], "lat": where[1], "matter_code": "M1", "severity": "high",
              "reported_at": NOW, "description": "门口无照摊贩", "address": "甲镇人民路1号"}
    return PhoneReport(**{**values, **changes})


# ---------------------------------------------------------------------- the rules
@pytest.mark.parametrize(("lon", "lat", "code"), [
    ("nan", "30", "coordinates"), ("inf", "30", "coordinates"), ("120", "", "no_point"),
    ("", "", "no_point"), ("abc", "30", "not_a_number"), ("120", "30,5", "not_a_number"),
    ("200", "30", "coordinates"), ("30", "120", "coordinates"), ("1e400", "30", "coordinates"),
])
def test_typed_coordinates_are_refused_with_a_code_never_guessed(lon, lat, code):
    with pytest.raises(CallError) as err:
        parse_point(lon, lat)
    assert err.value.code == code


def test_typed_coordinates_that_are_numbers_are_taken():
    assert parse_point(" 120.1 ", "30.8") == (120.1, 30.8)


@pytest.mark.parametrize(("changes", "code"), [
    ({"lon": float("nan")}, "coordinates"),
    ({"lat": 95.0}, "coordinates"),
    ({"crs": "EPSG:3857"}, "crs"),
    ({"matter_code": "M999"}, "unknown_matter"),
    ({"severity": "urgent"}, "severity"),
    ({"reported_at": NOW + dt.timedelta(hours=1)}, "time_future"),
    ({"reported_at": dt.datetime(1999, 1, 1, tzinfo=TZ)}, "time_early"),
    ({"reported_at": dt.datetime(2026, 11, 27, 10)}, "no_time"),
    ({"description": "很长" * 3000}, "too_long"),
    ({"address": "路" * 201}, "too_long"),
    ({"description": "bad\x00text"}, "bad_text"),
    ({"description": "付款\u202e123\u202c元"}, "bidi"),
    ({"address": "中华路\u20661号\u2069"}, "bidi"),
])
def test_a_report_no_door_would_accept_is_refused_with_a_code(changes, code):
    now = NOW.astimezone(dt.UTC).replace(tzinfo=None)
    with pytest.raises(CallError) as err:
        check_report(report(**changes), {"M1", "M2"}, now)
    assert err.value.code == code


def test_an_unknown_matter_left_open_is_taken():
    check_report(report(matter_code=None), {"M1"}, NOW.astimezone(dt.UTC).replace(tzinfo=None))


def test_the_preview_of_gcj02_coordinates_is_the_routing_of_the_wgs84_point(small_router):
    wgs = preview(small_router, report())
    lon, lat = wgs84_to_gcj02(*IN_A)
    gcj = preview(small_router, report((float(lon), float(lat)), crs=GCJ02))
    assert gcj.township_code == wgs.township_code == CODE_A
    assert gcj.body_code == wgs.body_code == "TC-A"  # M1 is empowered in A
    assert any("TC-A" in r for r in gcj.reasons)


def test_places_each_lie_inside_what_they_name(small_dirs, small_router):
    found = places(load_layers(small_dirs[0]))
    assert list(found["kind"].unique()) == ["township", "unit", "site"]
    assert len(found) == 2 + 3 + 3
    for row in found.itertuples():
        routed = small_router.route(row.lon, row.lat)
        if row.kind == "township":
            assert routed.township_code == row.key
        elif row.kind == "unit":
            assert routed.unit_code == row.key
        else:
            assert routed.site_id == row.key


@pytest.mark.parametrize(("text", "expected"), [
    ("123", (123, "123")), (" #45 ", (45, "#45")), ("工地", (None, "工地")),
    ("", (None, "")), ("１２", (None, "１２")), ("9" * 30, (None, "9" * 30)),
])
def test_search_terms(text, expected):
    assert search_terms(text) == expected


@pytest.mark.parametrize("text", ["x" * (MAX_SEARCH + 1), "a\x07b"])
def test_search_terms_refuse_huge_or_control_text(text):
    with pytest.raises(CallError):
        search_terms(text)


# ---------------------------------------------------------------------- the store
@pytest.fixture
def db(store_settings, small_dirs):
    layers_dir, catalog_dir = small_dirs
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                store_settings) == 0
    engine = store.connect(store_settings.database_url)
    router = Router(load_layers(layers_dir), load_catalog(catalog_dir))
    return engine, router, load_catalog(catalog_dir)


def _counts(engine) -> tuple[int, int]:
    with store.sessions(engine)() as s:
        return (s.scalar(select(func.count(Alert.id))), s.scalar(select(func.count(Case.id))))


def test_a_call_becomes_one_case_routed_and_audited_as_the_user(db):
    engine, router, catalog = db
    taken = take_call(engine, report(), router, catalog, TZ, scope=COMMAND)
    assert taken.created and taken.body_code == "TC-A" and taken.township_code == CODE_A
    frame = store.cases_frame(engine, scope=SYSTEM).set_index("id")
    case = frame.loc[taken.case_id]
    assert (case["source"], case["status"], case["severity"]) == ("12345", "routed", "high")
    assert case["description"] == "地址：甲镇人民路1号\n门口无照摊贩"
    assert list(case["reasons"]) == list(taken.routing.reasons)
    entries = store.case_timeline(engine, taken.case_id, scope=SYSTEM)
    assert [(e.actor, e.action, e.to_state) for e in entries] == [("boss", "route", "routed")]


def test_the_same_report_submitted_twice_is_one_case(db):
    engine, router, catalog = db
    once = report()
    first = take_call(engine, once, router, catalog, TZ, scope=COMMAND)
    again = take_call(engine, once, router, catalog, TZ, scope=COMMAND)
    assert again.case_id == first.case_id and not again.created
    assert _counts(engine) == (1, 1)


def test_gcj02_coordinates_are_stored_as_given_and_the_case_in_wgs84(db):
    engine, router, catalog = db
    lon, lat = wgs84_to_gcj02(*IN_A)
    taken = take_call(engine, report((float(lon), float(lat)), crs=GCJ02), router, catalog,
                      TZ, scope=COMMAND)
    with store.sessions(engine)() as s:
        case = s.get(Case, taken.case_id)
        assert case.alert.crs == GCJ02
        assert abs(case.lon - IN_A[0]) < 1e-5 and abs(case.lat - IN_A[1]) < 1e-5


def test_township_staff_open_cases_in_their_own_township_only(db):
    engine, router, catalog = db
    taken = take_call(engine, report(), router, catalog, TZ, scope=TOWNSHIP_A)
    assert taken.township_code == CODE_A
    before = _counts(engine)
    with pytest.raises(OutsideScopeError) as err:
        take_call(engine, report(IN_B), router, catalog, TZ, scope=TOWNSHIP_A)
    assert err.value.params == {"obj": "cases", "field": "township_code", "own": CODE_A,
                                "got": CODE_B}
    assert _counts(engine) == before  # nothing stored


def test_a_dispatcher_takes_a_call_wherever_it_routes(db):
    engine, router, catalog = db
    taken = take_call(engine, report(IN_B), router, catalog, TZ,
                      scope=Scope("dispatcher", body="DT-ZH", actor="zh"))
    assert taken.body_code == "DT-SC"  # M1 is no longer empowered in B: the district team


@pytest.mark.parametrize("scope", [Scope("planner", actor="p"),
                                   Scope("source", source="12345", actor="s")])
def test_roles_that_may_not_open_cases_store_nothing(db, scope):
    engine, router, catalog = db
    with pytest.raises(AccessDeniedError):
        take_call(engine, report(), router, catalog, TZ, scope=scope)
    assert _counts(engine) == (0, 0)


@pytest.mark.parametrize("changes", [{"lon": float("nan")}, {"lat": -91.0},
                                     {"description": "x" * 100_000}, {"matter_code": "M9"}])
def test_hostile_reports_are_refused_before_anything_is_stored(db, changes):
    engine, router, catalog = db
    with pytest.raises(CallError):
        take_call(engine, report(**changes), router, catalog, TZ, scope=COMMAND)
    assert _counts(engine) == (0, 0)


@pytest.fixture
def cases(db):
    """Case a (township A, at site S1), case b (township B, by site S2),
    case c (township B, the words 100% 真_品 in its description)."""
    engine, router, catalog = db
    site_1 = _at(X0 + 250, Y0 + 250)
    a = take_call(engine, report(site_1, description="围挡缺失"), router, catalog, TZ,
                  scope=COMMAND).case_id
    b = take_call(engine, report(_at(X0 + 3010, Y0 + 1000), address=""),
                  router, catalog, TZ, scope=COMMAND).case_id
    c = take_call(engine, report(_at(X0 + SIDE + 1500, Y0 + 300), address="",
                                 description="100% 真_品"), router, catalog, TZ,
                  scope=COMMAND).case_id
    return engine, {"a": a, "b": b, "c": c}


def _found(engine, text, scope=COMMAND):
    ids = search_cases(engine, text, scope=scope)["id"].tolist()
    return ids


def test_search_finds_by_number_site_and_words(cases):
    engine, ids = cases
    names = {v: k for k, v in ids.items()}
    assert [names[i] for i in _found(engine, str(ids["b"]))][:1] == ["b"]
    assert [names[i] for i in _found(engine, f"#{ids['c']}")][:1] == ["c"]
    assert [names[i] for i in _found(engine, "S1")] == ["a"]
    assert [names[i] for i in _found(engine, "企业二")] == ["b"]  # S2's name
    assert [names[i] for i in _found(engine, "人民路")] == ["a"]  # the address
    assert [names[i] for i in _found(engine, "围挡")] == ["a"]
    assert [names[i] for i in _found(engine, "100%")] == ["c"]
    assert _found(engine, "%") == [ids["c"]]  # taken literally, not as a wildcard
    assert _found(engine, "真%品") == [] and _found(engine, "_") == [ids["c"]]
    assert _found(engine, "没有这种字") == [] and _found(engine, "  ") == []


def test_search_finds_only_cases_in_scope(cases):
    engine, ids = cases
    assert _found(engine, "S1", TOWNSHIP_A) == [ids["a"]]
    assert _found(engine, str(ids["b"]), TOWNSHIP_A) == []
    assert _found(engine, "企业二", TOWNSHIP_A) == []
    assert set(_found(engine, "门口", Scope("dispatcher", body="DT-SC", actor="sc"))) == {
        ids["b"]}
    with pytest.raises(CallError) as err:
        search_cases(engine, "x" * 1000, scope=COMMAND)
    assert err.value.code == "too_long"


def test_search_results_carry_what_the_page_shows(cases):
    engine, ids = cases
    found = search_cases(engine, "S1", scope=COMMAND)
    row = found.iloc[0]
    assert (row["id"], row["site_id"], row["site_name"], row["matter_name"]) == (
        ids["a"], "S1", "工地一", "无证无照经营")
    assert row["township_name"] == "甲镇" and row["status"] == "routed"
    with store.sessions(engine)() as s:
        assert s.scalar(select(func.count(AuditLog.id))) >= 3
