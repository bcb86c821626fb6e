"""Inspections in the store: findings, requirements, re-inspections, escalation to cases."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from geo import store
from geo.access import SYSTEM
from geo.cli import main
from geo.escalation import escalate_unfixed
from geo.inspections import FindingError, first_time_fixed_rate, rectification_plan
from geo.store.inspecting import (
    checklists,
    inspection_tables,
    record_inspection,
    record_reinspection,
)

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def db_settings(store_settings):
    """This module's store tests run on SQLite and on PostGIS."""
    return store_settings


@pytest.fixture
def db(db_settings):
    assert main(["init"], db_settings) == 0
    return db_settings


def shop(engine):
    sites = store.load_layers(engine, scope=SYSTEM).sites
    return sites[sites["kind"] == "shop"].iloc[0]["site_id"]


def test_record_inspection_and_reinspection(db):
    engine = store.connect(db.database_url)
    site = shop(engine)
    items = checklists(engine, scope=SYSTEM)
    codes = items[items["kind"] == "shop"]["item_code"].tolist()
    iid = record_inspection(engine, site, dt.date(2026, 10, 1), ["综合执法", "市场监管"],
                            [{"item_code": codes[0], "result": "problem", "note": "占道"},
                             {"item_code": codes[1], "result": "pass"}], scope=SYSTEM)
    findings, re = inspection_tables(engine, scope=SYSTEM)
    problem = findings[(findings["inspection_id"] == iid) & (findings["result"] == "problem")]
    assert len(problem) == 1 and problem.iloc[0]["deadline"] == dt.date(2026, 10, 16)
    record_reinspection(engine, int(problem.iloc[0]["finding_id"]), dt.date(2026, 10, 14), True,
                        scope=SYSTEM)
    findings, re = inspection_tables(engine, scope=SYSTEM)
    plan = rectification_plan(findings, checklists(engine, scope=SYSTEM))
    assert first_time_fixed_rate(plan, re) == 1.0
    with pytest.raises(FindingError, match="is not on the shop checklist"):
        record_inspection(engine, site, dt.date(2026, 10, 1), [],
                          [{"item_code": "WOR-01", "result": "problem"}], scope=SYSTEM)
    with pytest.raises(LookupError, match="unknown site"):
        record_inspection(engine, "NOPE", dt.date(2026, 10, 1), [], [], scope=SYSTEM)


def test_unfixed_problem_becomes_a_routed_case_once(db):
    settings = db
    engine = store.connect(settings.database_url)
    site = shop(engine)
    items = checklists(engine, scope=SYSTEM)
    code = items[items["kind"] == "shop"]["item_code"].iloc[0]
    record_inspection(engine, site, dt.date(2026, 9, 1), ["综合执法"],
                      [{"item_code": code, "result": "problem"}], scope=SYSTEM)
    from geo.cli import _router
    router, catalog, _ = _router(settings)
    report = escalate_unfixed(engine, router, catalog, dt.date(2026, 11, 27), TZ, scope=SYSTEM)
    assert (report.new, report.routed) == (1, 1)
    cases = store.cases_frame(engine, scope=SYSTEM)
    case = cases[cases["source"] == "inspection"].iloc[0]
    assert case["site_id"] == site and case["matter_code"] == items.set_index(
        "item_code").loc[code, "matter_code"]
    again = escalate_unfixed(engine, router, catalog, dt.date(2026, 11, 28), TZ, scope=SYSTEM)
    assert (again.new, again.duplicates) == (0, 1)


def test_demo_history_and_escalate_command(db, capsys):
    assert main(["demo", "history", "--inspections", "200"], db) == 0
    assert "added 200 demo inspection(s)" in capsys.readouterr().out
    assert main(["demo", "history"], db) == 0
    assert "nothing added" in capsys.readouterr().out
    engine = store.connect(db.database_url)
    findings, re = inspection_tables(engine, scope=SYSTEM)
    today = dt.datetime.now(TZ).date()
    # counted here by hand: problems past their deadline whose latest re-inspection (if
    # any) did not find them fixed
    latest = re.sort_values("day", kind="stable").groupby(["inspection_id", "item_code"])[
        "fixed"].last()
    problems = findings[findings["result"] == "problem"]
    late = [(i, c) for i, c, d in zip(problems["inspection_id"], problems["item_code"],
                                      problems["deadline"], strict=True)
            if d < today and not latest.get((i, c), False)]
    assert len(late) > 0
    before = (problems["deadline"].min() - dt.timedelta(days=1)).isoformat()
    assert main(["inspections", "escalate", "--today", before], db) == 0
    assert capsys.readouterr().out.strip() == "no problem is past its deadline unfixed"
    # the demo hand-off (issue 14) escalated its supervision visit's problem already
    done = store.cases_frame(engine, scope=SYSTEM)
    done = int((done["source"] == "inspection").sum())
    assert done == 1
    assert main(["inspections", "escalate", "--today", today.isoformat()], db) == 0
    assert (f"{len(late)} row(s) read, {len(late) - done} new alert(s) stored, {done} already"
            in capsys.readouterr().out)
    cases = store.cases_frame(engine, scope=SYSTEM)
    assert sorted(cases.loc[cases["source"] == "inspection", "external_id"]) == sorted(
        f"INSP-{i}-{c}" for i, c in late)
    assert main(["inspections", "escalate", "--today", today.isoformat()], db) == 0
    assert f"0 new alert(s) stored, {len(late)} already stored" in capsys.readouterr().out
