"""Check-ups and joint visits in the store, on SQLite and PostGIS: booking by a source and
by staff, scheduling with observers, the visit done as an inspection (rectification and
re-inspection follow), scopes, and the counts from what is stored."""

import datetime as dt
import inspect

import pytest
from sqlalchemy import func, select

from geo import store
from geo.access import SYSTEM, AccessDeniedError, Scope
from geo.checkups import CheckupError, yearly_counts
from geo.cli import main
from geo.inspections import FindingError
from geo.store import checkups
from geo.store.checkups import (
    book_checkup,
    cancel_visit,
    complete_visit,
    inspection_departments,
    list_requests,
    list_visits,
    requests_frame,
    schedule_visit,
    visit_items,
)
from geo.store.inspecting import inspection_tables, list_inspections, record_reinspection
from geo.store.models import AuditLog, Inspection
from tests.conftest import CODE_A, CODE_B

TODAY = dt.date(2026, 6, 1)
PORTAL = Scope("source", source="zlb", actor="source zlb")
OTHER_SOURCE = Scope("source", source="12345", actor="source 12345")
TOWN_A = Scope("township", township=CODE_A, actor="a")
TOWN_B = Scope("township", township=CODE_B, actor="b")
PLANNER = Scope("planner", actor="plan")
OFFICE = Scope("command", actor="office")


@pytest.fixture
def engine(store_settings, small_dirs):
    layers_dir, catalog_dir = small_dirs
    (catalog_dir / "checklists.csv").write_text(
        "kind,item_code,item,department,matter_code\n"
        "construction,CON-01,围挡缺失,住房城乡建设,M2\n"
        "enterprise,ENT-01,证照未公示,市场监管,M1\n"
        "enterprise,ENT-02,违法搭建,住房城乡建设,M2\n"
        "shop,SHP-01,无照经营,市场监管,M1\n", encoding="utf-8")
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                store_settings) == 0
    return store.connect(store_settings.database_url)


def test_a_source_books_and_lists_only_its_own(engine):
    rid = book_checkup(engine, "S2", "沈经理", "投产前体检", TODAY + dt.timedelta(days=3),
                       None, today=TODAY, scope=PORTAL)
    book_checkup(engine, "S1", "钱女士", "", today=TODAY, scope=TOWN_A)
    total, mine = list_requests(engine, scope=PORTAL)
    assert total == 1 and mine[0]["id"] == rid and mine[0]["source"] == "zlb"
    assert mine[0]["township_code"] == CODE_B and mine[0]["status"] == "open"
    assert list_requests(engine, scope=OTHER_SOURCE) == (0, [])
    assert [r["site_id"] for r in list_requests(engine, scope=TOWN_A)[1]] == ["S1"]
    assert list_requests(engine, scope=TOWN_B)[0] == 1
    assert list_requests(engine, scope=PLANNER)[0] == 2
    with store.sessions(engine)() as s:
        who = s.execute(select(AuditLog.actor).where(AuditLog.entity == "checkup",
                                                     AuditLog.entity_id == str(rid))).scalar()
    assert who == "source zlb"


def test_booking_is_refused_outside_the_scope_or_the_role(engine):
    with pytest.raises(LookupError, match="unknown site 'NOPE'"):
        book_checkup(engine, "NOPE", "沈", today=TODAY, scope=PORTAL)
    with pytest.raises(LookupError, match="unknown site 'S2'"):  # township B's site
        book_checkup(engine, "S2", "沈", today=TODAY, scope=TOWN_A)
    with pytest.raises(AccessDeniedError):
        book_checkup(engine, "S2", "沈", today=TODAY, scope=PLANNER)
    with pytest.raises(CheckupError, match=r"^field contact: empty"):
        book_checkup(engine, "S2", " ", today=TODAY, scope=PORTAL)
    assert list_requests(engine, scope=SYSTEM)[0] == 0


def schedule(engine, scope=OFFICE, **change):
    args = {"bodies": ["DT-SC"], "observers": [{"name": "王建国", "site_id": "S3"}],
            "today": TODAY, "scope": scope}
    return schedule_visit(engine, "S2", change.pop("day", TODAY - dt.timedelta(days=1)),
                          "TC-B", ["陈明", "刘洋"], **{**args, **change})


def test_a_visit_answers_a_request_and_is_done_as_an_inspection(engine):
    rid = book_checkup(engine, "S2", "沈经理", "体检", today=TODAY, scope=PORTAL)
    vid = schedule(engine, request_id=rid)
    visits = list_visits(engine, scope=SYSTEM)
    v = visits.iloc[0]
    assert v["id"] == vid and v["request_id"] == rid and v["status"] == "scheduled"
    assert v["departments"] == ["住房城乡建设", "市场监管"]  # every department concerned
    assert v["bodies"] == ["TC-B", "DT-SC"] and v["inspectors"] == ["陈明", "刘洋"]
    assert v["observers"] == [{"name": "王建国", "site_id": "S3"}]
    assert v["township_code"] == CODE_B
    request = list_requests(engine, scope=PORTAL)[1][0]
    assert request["status"] == "scheduled" and request["visit_day"] == TODAY - dt.timedelta(1)
    items = visit_items(engine, vid, scope=TOWN_B)
    assert items["item_code"].tolist() == ["ENT-01", "ENT-02"]
    with pytest.raises(CheckupError, match=r"^findings 1: item 'CON-01' is not on"):
        complete_visit(engine, vid, [{"item_code": "CON-01", "result": "pass"}],
                       today=TODAY, scope=TOWN_B)
    iid = complete_visit(engine, vid, [{"item_code": "ENT-01", "result": "problem",
                                        "note": "未公示"},
                                       {"item_code": "ENT-02", "result": "pass"}],
                         today=TODAY, scope=TOWN_B)
    _, [done] = list_inspections(engine, scope=SYSTEM, inspection_id=iid)
    assert done["site_id"] == "S2" and done["day"] == TODAY - dt.timedelta(days=1)
    assert done["departments"] == ["住房城乡建设", "市场监管"] and done["inspector"] == "b"
    problem = next(f for f in done["findings"] if f["result"] == "problem")
    assert problem["deadline"] == TODAY + dt.timedelta(days=14)  # the usual 15 days
    # the existing rectification path goes on from there
    record_reinspection(engine, problem["id"], TODAY + dt.timedelta(days=5), True,
                        scope=TOWN_B)
    assert len(inspection_tables(engine, scope=SYSTEM)[1]) == 1
    v = list_visits(engine, scope=SYSTEM).iloc[0]
    assert v["status"] == "done" and v["inspection_id"] == iid
    with pytest.raises(CheckupError, match=r"^field status: visit .* is done"):
        complete_visit(engine, vid, [], today=TODAY, scope=TOWN_B)
    with pytest.raises(CheckupError, match=r"^field request_id: request .* is scheduled"):
        schedule(engine, request_id=rid)


def test_a_visit_in_the_future_or_with_a_bad_finding_records_nothing(engine):
    vid = schedule(engine, day=TODAY + dt.timedelta(days=3))
    findings = [{"item_code": "ENT-01", "result": "pass"},
                {"item_code": "ENT-02", "result": "maybe"}]
    with pytest.raises(CheckupError, match=r"^field day: .* after today"):
        complete_visit(engine, vid, findings, today=TODAY, scope=OFFICE)
    with pytest.raises(FindingError, match="field result"):
        complete_visit(engine, vid, findings, today=TODAY + dt.timedelta(days=3),
                       scope=OFFICE)
    with store.sessions(engine)() as s:  # one transaction: no inspection, still scheduled
        assert s.scalar(select(func.count()).select_from(Inspection)) == 0
    assert list_visits(engine, scope=SYSTEM).iloc[0]["status"] == "scheduled"


def test_visits_follow_the_township_scope(engine):
    vid = schedule(engine)
    assert list_visits(engine, scope=TOWN_A).empty
    assert list_visits(engine, scope=TOWN_B)["id"].tolist() == [vid]
    assert list_visits(engine, scope=PLANNER)["id"].tolist() == [vid]
    with pytest.raises(LookupError, match="unknown site 'S2'"):
        schedule(engine, scope=TOWN_A)
    with pytest.raises(AccessDeniedError):
        schedule(engine, scope=PLANNER)
    with pytest.raises(AccessDeniedError):
        list_visits(engine, scope=PORTAL)  # a source reads its requests, not the visits
    with pytest.raises(LookupError, match=f"no visit {vid}"):
        complete_visit(engine, vid, [], today=TODAY, scope=TOWN_A)
    with pytest.raises(LookupError, match=f"no visit {vid}"):
        cancel_visit(engine, vid, "x", scope=TOWN_A)
    # township A's staff invite no observer from a site they cannot read
    with pytest.raises(CheckupError, match=r"^observers 1: unknown site 'S2'"):
        schedule_visit(engine, "S1", TODAY, "TC-A", ["陈明"],
                       observers=[{"name": "王", "site_id": "S2"}], today=TODAY, scope=TOWN_A)


def test_a_request_of_another_site_or_out_of_scope_is_refused(engine):
    rid = book_checkup(engine, "S3", "杨老板", today=TODAY, scope=PORTAL)
    with pytest.raises(CheckupError, match=r"^field request_id: request .* is for site S3"):
        schedule(engine, request_id=rid)
    with pytest.raises(LookupError, match="no check-up request 999"):
        schedule(engine, request_id=999)
    with pytest.raises(CheckupError, match=r"^field lead_body: unknown body"):
        schedule_visit(engine, "S3", TODAY, "NOPE", ["陈明"], today=TODAY, scope=OFFICE)


def test_cancelling_a_visit_opens_its_request_again(engine):
    rid = book_checkup(engine, "S2", "沈经理", today=TODAY, scope=PORTAL)
    vid = schedule(engine, request_id=rid)
    cancel_visit(engine, vid, "企业停产", scope=TOWN_B)
    assert list_visits(engine, scope=SYSTEM).iloc[0]["status"] == "cancelled"
    again = list_requests(engine, scope=PORTAL)[1][0]
    assert again["status"] == "open" and again["visit_id"] is None
    assert schedule(engine, request_id=rid) > vid


def test_counts_from_the_store(engine):
    rid = book_checkup(engine, "S2", "沈经理", today=TODAY, scope=PORTAL)
    done = schedule(engine, request_id=rid)
    schedule_visit(engine, "S1", TODAY + dt.timedelta(days=2), "TC-A", ["陈明"],
                   today=TODAY, scope=OFFICE)
    complete_visit(engine, done, [{"item_code": "ENT-01", "result": "pass"},
                                  {"item_code": "ENT-02", "result": "pass"}],
                   today=TODAY, scope=OFFICE)
    counts = yearly_counts(inspection_departments(engine, scope=SYSTEM),
                           list_visits(engine, scope=SYSTEM),
                           requests_frame(engine, scope=SYSTEM)).set_index("year")
    assert counts.loc[2026, "visits_saved"] == 1  # two departments in one visit
    assert counts.loc[2026, "booked_by_business"] == 1
    assert counts.loc[2026, "scheduled_by_office"] == 1
    assert counts.loc[2026, "observers"] == 1 and counts.loc[2026, "requests"] == 1
    # township A reads only its own: one visit scheduled by the office, nothing done
    own = yearly_counts(inspection_departments(engine, scope=TOWN_A),
                        list_visits(engine, scope=TOWN_A),
                        requests_frame(engine, scope=TOWN_A)).set_index("year")
    assert own.loc[2026].to_dict()["scheduled_by_office"] == 1
    assert own.loc[2026].to_dict()["joint_inspections"] == 0


def test_every_store_function_takes_the_callers_scope():
    for name, f in inspect.getmembers(checkups, inspect.isfunction):
        if f.__module__ != checkups.__name__ or name.startswith("_"):
            continue
        scope = inspect.signature(f).parameters.get("scope")
        assert scope is not None and scope.kind is inspect.Parameter.KEYWORD_ONLY, name
        assert scope.default is inspect.Parameter.empty, name
