"""The hand-off in the store, on SQLite and PostGIS: powers at init, approvals opening
supervision tasks (CLI and store), the visit escalated through `geo.escalation`, the notice
(抄告) on closing, referrals acknowledged by the receiving body only and escalated when
not; reads follow the caller's scope."""

import datetime as dt
import inspect
from zoneinfo import ZoneInfo

import pytest

from geo import store
from geo.access import SYSTEM, AccessDeniedError, Scope
from geo.cases import IllegalTransitionError
from geo.cli import _router, main
from geo.escalation import escalate_unfixed
from geo.store import dispatching, handoff
from geo.store.dispatching import ConflictError
from geo.store.inspecting import inspection_finding, record_reinspection
from tests.conftest import CODE_A, CODE_B, SIDE, X0, Y0, to_wgs
from tests.test_handoff import POWERS

TZ = ZoneInfo("Asia/Shanghai")
TODAY = dt.date(2026, 11, 30)
CHECKLISTS = ("kind,item_code,item,department,matter_code\n"
              "construction,CON-01,围挡缺失,住房城乡建设,M2\n"
              "enterprise,ENT-01,证照未公示,市场监管,M1\n"
              "enterprise,ENT-02,台账缺失,市场监管,M1\n")
TOWNSHIP_A = Scope("township", township=CODE_A, actor="a")
TOWNSHIP_B = Scope("township", township=CODE_B, actor="b")
SC = Scope("dispatcher", body="DT-SC", actor="sc")
ZH = Scope("dispatcher", body="DT-ZH", actor="zh")
BOSS = Scope("command", actor="boss")


@pytest.fixture
def db(store_settings, small_dirs, tmp_path):
    layers_dir, catalog_dir = small_dirs
    (catalog_dir / "checklists.csv").write_text(CHECKLISTS, encoding="utf-8")
    (catalog_dir / "powers.csv").write_text(POWERS, encoding="utf-8")
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                store_settings) == 0
    return store_settings, store.connect(store_settings.database_url), tmp_path


def approvals(engine, *records, source="approvals", scope=SYSTEM, today=TODAY):
    return handoff.ingest_approvals(engine, list(records), list(range(2, len(records) + 2)),
                                    source, today, dt.date(2000, 1, 1), scope=scope)


def test_powers_are_stored_at_init_and_a_bad_file_imports_nothing(db, small_dirs, capsys):
    settings, engine, _ = db
    powers = handoff.powers_frame(engine, scope=TOWNSHIP_A)
    assert powers["matter_code"].tolist() == ["M1", "M2"]
    assert powers.iloc[0]["supervision_days"] == 20
    (small_dirs[1] / "powers.csv").write_text(POWERS + "M1,,,,,,,\n", encoding="utf-8")
    assert main(["init", "--layers", str(small_dirs[0]), "--catalog", str(small_dirs[1])],
                settings) == 1
    err = capsys.readouterr().err
    assert "powers.csv, row 4, field matter_code: matter M1 is already on row 2" in err
    assert "nothing was imported" in err
    assert len(handoff.powers_frame(engine, scope=SYSTEM)) == 2
    (small_dirs[1] / "powers.csv").unlink()  # the catalogue has none now
    assert main(["init", "--layers", str(small_dirs[0]), "--catalog", str(small_dirs[1])],
                settings) == 0
    assert handoff.powers_frame(engine, scope=SYSTEM).empty


def test_catalog_template_writes_powers_that_load_back(db, tmp_path):
    settings, _, _ = db
    out = tmp_path / "template"
    assert main(["catalog", "template", "--out", str(out)], settings) == 0
    text = (out / "powers.csv").read_text(encoding="utf-8")
    assert text.splitlines()[1].startswith("M1,营业执照,")
    from geo.handoff import read_powers
    assert len(read_powers(out, ["M1", "M2"])) == 2


def test_an_approval_opens_a_task_once_and_reads_follow_the_township(db):
    _, engine, _ = db
    results, rejects = approvals(
        engine, {"id": "P1", "site_id": "S1", "matter": "M2", "granted_on": "2026-11-01"},
        {"id": "P2", "site_id": "S2", "matter": "M1", "granted_on": "2026-11-20"},
        {"id": "P3", "site_id": "S404", "matter": "M1", "granted_on": "2026-11-20"})
    assert [r["created"] for r in results] == [True, True]
    assert [(r.row, r.field) for r in rejects] == [(4, "site_id")]
    again, _ = approvals(engine, {"id": "P1", "site_id": "S1", "matter": "M2",
                                  "granted_on": "2026-11-01"})
    assert not again[0]["created"] and again[0]["task_id"] == results[0]["task_id"]
    other, _ = approvals(engine, {"id": "P1", "site_id": "S1", "matter": "M2",
                                  "granted_on": "2026-11-01"}, source="other")
    assert other[0]["created"]  # idempotent per source
    tasks = handoff.tasks_frame(engine, TODAY, scope=SYSTEM)
    assert len(tasks) == 3
    p1 = tasks[tasks["external_id"] == "P1"].iloc[0]
    assert (p1["department"], p1["due_on"], p1["state"]) == ("区自然资源和规划分局",
                                                           dt.date(2026, 12, 1), "open")
    assert handoff.tasks_frame(engine, dt.date(2026, 12, 2), scope=SYSTEM).set_index(
        "external_id").loc["P2", "state"] == "open"
    assert set(handoff.tasks_frame(engine, TODAY, scope=TOWNSHIP_A)["site_id"]) == {"S1"}
    assert set(handoff.tasks_frame(engine, TODAY, scope=TOWNSHIP_B)["site_id"]) == {"S2"}
    assert len(handoff.tasks_frame(engine, TODAY, scope=SC)) == 3
    with pytest.raises(AccessDeniedError):
        approvals(engine, {"id": "P9", "site_id": "S1", "matter": "M2",
                           "granted_on": "2026-11-01"}, scope=BOSS)
    src = Scope("source", source="appr", actor="source appr")
    assert approvals(engine, {"id": "P9", "site_id": "S1", "matter": "M2",
                              "granted_on": "2026-11-01"}, source="appr", scope=src)[0]
    with pytest.raises(AccessDeniedError):
        handoff.tasks_frame(engine, TODAY, scope=src)


def test_unfixed_supervision_problem_becomes_a_case_and_closing_it_notifies(db):
    settings, engine, _ = db
    (p1,), _ = approvals(engine, {"id": "P1", "site_id": "S2", "matter": "M1",
                                  "granted_on": "2026-10-01"})
    task = p1["task_id"]
    with pytest.raises(LookupError):  # S2 is in township B
        handoff.record_supervision(engine, task, dt.date(2026, 10, 10), [], scope=TOWNSHIP_A)
    with pytest.raises(AccessDeniedError):
        handoff.record_supervision(engine, task, dt.date(2026, 10, 10), [],
                                   scope=Scope("planner", actor="p"))
    with pytest.raises(ValueError, match="before the approval"):
        handoff.record_supervision(engine, task, dt.date(2026, 9, 1), [], scope=TOWNSHIP_B)
    iid = handoff.record_supervision(engine, task, dt.date(2026, 10, 10), [
        {"item_code": "ENT-01", "result": "problem"}, {"item_code": "ENT-02", "result": "pass"}],
        scope=TOWNSHIP_B)
    with pytest.raises(ValueError, match="visited already"):
        handoff.record_supervision(engine, task, dt.date(2026, 10, 11), [], scope=TOWNSHIP_B)
    assert handoff.tasks_frame(engine, TODAY, scope=SYSTEM).iloc[0]["state"] == "rectifying"
    finding = inspection_finding(engine, iid, item_code="ENT-01", scope=SYSTEM)
    record_reinspection(engine, finding, dt.date(2026, 10, 25), False, scope=SYSTEM)
    router, catalog, _ = _router(settings)
    report = escalate_unfixed(engine, router, catalog, TODAY, TZ, scope=SYSTEM, only=[iid])
    assert (report.new, report.routed) == (1, 1)
    assert escalate_unfixed(engine, router, catalog, TODAY, TZ, scope=SYSTEM,
                            only=[iid + 1]) is None
    tasks = handoff.tasks_frame(engine, TODAY, scope=SYSTEM)
    (case_id,) = tasks.iloc[0]["case_ids"]
    assert tasks.iloc[0]["state"] == "escalated"
    case = store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[case_id]
    assert case["site_id"] == "S2" and case["matter_code"] == "M1"
    assert handoff.copy_notices_frame(engine, scope=SYSTEM).empty
    version = int(case["version"])
    dispatching.transition_case(engine, case_id, version, "verified", "sc", scope=SC)
    dispatching.transition_case(engine, case_id, version + 1, "closed", "sc", "已处罚",
                                scope=SC)
    notices = handoff.copy_notices_frame(engine, scope=SYSTEM)
    assert notices[["case_id", "task_id", "department", "actor"]].values.tolist() == [
        [case_id, task, "区市场监管局", "sc"]]
    assert handoff.copy_notices_frame(engine, scope=TOWNSHIP_A).empty
    assert len(handoff.copy_notices_frame(engine, scope=TOWNSHIP_B)) == 1
    timeline = store.case_timeline(engine, case_id, scope=SYSTEM)
    assert timeline[-1].action == handoff.NOTICE and "区市场监管局" in timeline[-1].detail
    assert handoff.tasks_frame(engine, TODAY, scope=SYSTEM).iloc[0]["state"] == "closed"


def _case(db, tmp_path, matter="M2", where="A"):
    """One routed case in township A (TC-A for M1, DT-ZH for M2); its id."""
    settings, engine, _ = db
    lon, lat = to_wgs([X0 + 500 if where == "A" else X0 + SIDE + 500], [Y0 + 500])
    path = tmp_path / f"{matter}{where}.csv"
    path.write_text("id,lon,lat,matter,reported_at,source,severity\n"
                    f"{matter}{where},{lon[0]},{lat[0]},{matter},2026-11-27T10:00:00,12345,"
                    "medium\n", encoding="utf-8")
    assert main(["ingest", str(path)], settings) == 0
    cases = store.cases_frame(engine, scope=SYSTEM)
    return int(cases[cases["external_id"] == f"{matter}{where}"].iloc[0]["id"])


def version(engine, case_id):
    return int(store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[case_id, "version"])


def test_a_referral_is_acknowledged_by_the_receiving_body_only(db, tmp_path):
    _, engine, _ = db
    case_id = _case(db, tmp_path, "M1")  # TC-A's
    at = dt.datetime(2026, 11, 27, 2)  # Friday 10:00 local
    with pytest.raises(LookupError):  # not TC-A's to refer... DT-SC cannot see it
        handoff.refer_case(engine, case_id, version(engine, case_id), "DT-SC", "x", scope=SC,
                           tz=TZ, at=at)
    with pytest.raises(IllegalTransitionError, match="needs a reason"):
        handoff.refer_case(engine, case_id, version(engine, case_id), "DT-SC", " ",
                           scope=TOWNSHIP_A, tz=TZ, at=at)
    for body, error in (("TC-A", ValueError), ("CC", ValueError), ("NOPE", LookupError)):
        with pytest.raises(error):
            handoff.refer_case(engine, case_id, version(engine, case_id), body, "x",
                               scope=TOWNSHIP_A, tz=TZ, at=at)
    with pytest.raises(ConflictError):
        handoff.refer_case(engine, case_id, version(engine, case_id) - 1, "DT-SC", "x",
                           scope=TOWNSHIP_A, tz=TZ, at=at)
    rid = handoff.refer_case(engine, case_id, version(engine, case_id), "DT-SC", "案情复杂",
                             scope=TOWNSHIP_A, tz=TZ, at=at)
    case = store.cases_frame(engine, scope=SYSTEM).set_index("id").loc[case_id]
    assert (case["status"], case["body_code"]) == ("transferred", "DT-SC")
    refs = handoff.referrals_frame(engine, dt.datetime(2026, 11, 28), scope=SC)
    assert refs[["id", "from_body", "to_body", "state"]].values.tolist() == [
        [rid, "TC-A", "DT-SC", "pending"]]
    assert refs.iloc[0]["due_at"] == dt.datetime(2026, 12, 2, 16)
    # the referring township still sees it; another body's dispatcher does not
    assert len(handoff.referrals_frame(engine, dt.datetime(2026, 11, 28), scope=TOWNSHIP_A)) == 1
    assert handoff.referrals_frame(engine, dt.datetime(2026, 11, 28), scope=ZH).empty
    with pytest.raises(ValueError, match="not acknowledged yet"):  # no referral on, unsigned
        handoff.refer_case(engine, case_id, version(engine, case_id), "DT-ZH", "x",
                           scope=SC, tz=TZ, at=at)
    with pytest.raises(AccessDeniedError, match="not of DT-SC"):  # township A sees the case
        handoff.acknowledge_referral(engine, rid, scope=TOWNSHIP_A)
    with pytest.raises(LookupError):
        handoff.acknowledge_referral(engine, rid, scope=ZH)
    with pytest.raises(AccessDeniedError):
        handoff.acknowledge_referral(engine, rid, scope=Scope("planner", actor="p"))
    handoff.acknowledge_referral(engine, rid, scope=SC, at=dt.datetime(2026, 11, 30, 1))
    with pytest.raises(ValueError, match="acknowledged by sc already"):
        handoff.acknowledge_referral(engine, rid, scope=SC)
    refs = handoff.referrals_frame(engine, dt.datetime(2026, 12, 5), scope=SYSTEM)
    assert refs.iloc[0]["state"] == "acknowledged" and refs.iloc[0]["acknowledged_by"] == "sc"
    assert handoff.escalate_referrals(engine, dt.datetime(2026, 12, 5), scope=SYSTEM) == []
    actions = [e.action for e in store.case_timeline(engine, case_id, scope=SYSTEM)]
    assert {handoff.REFER, handoff.ACKNOWLEDGE} <= set(actions)


def test_an_unacknowledged_referral_is_escalated_once_past_its_deadline(db, tmp_path, capsys):
    settings, engine, _ = db
    case_id = _case(db, tmp_path, "M2")  # DT-ZH's
    rid = handoff.refer_case(engine, case_id, version(engine, case_id), "TC-A", "属镇街事项",
                             scope=ZH, tz=TZ, at=dt.datetime(2026, 11, 27, 2))
    assert handoff.escalate_referrals(engine, dt.datetime(2026, 12, 2, 15), scope=SYSTEM) == []
    with pytest.raises(AccessDeniedError):
        handoff.escalate_referrals(engine, dt.datetime(2026, 12, 3), scope=SC)
    assert main(["referrals", "escalate", "--now", "2026-12-03T09:00"], settings) == 0
    assert f"escalated 1 referral(s) left unacknowledged past their deadline: {rid}" in \
        capsys.readouterr().out
    assert main(["referrals", "escalate", "--now", "2026-12-04T09:00+08:00"], settings) == 0
    assert "escalated 0 referral(s)" in capsys.readouterr().out
    refs = handoff.referrals_frame(engine, dt.datetime(2026, 12, 4), scope=BOSS)
    assert refs.iloc[0]["state"] == "escalated"
    assert main(["referrals", "escalate", "--now", "tomorrow"], settings) == 1
    # township A acknowledges late: still recorded, no longer escalated in the list
    handoff.acknowledge_referral(engine, rid, scope=TOWNSHIP_A)
    assert handoff.referrals_frame(engine, dt.datetime(2026, 12, 4), scope=BOSS).iloc[0][
        "state"] == "acknowledged"


def test_a_referral_is_moot_once_the_case_leaves_the_receiving_body(db, tmp_path):
    _, engine, _ = db
    case_id = _case(db, tmp_path, "M2")
    handoff.refer_case(engine, case_id, version(engine, case_id), "TC-A", "属镇街事项",
                       scope=ZH, tz=TZ, at=dt.datetime(2026, 11, 27, 2))
    dispatching.return_case(engine, case_id, version(engine, case_id), "a", "不属本中心",
                            scope=TOWNSHIP_A)
    assert handoff.escalate_referrals(engine, dt.datetime(2026, 12, 9), scope=SYSTEM) == []
    refs = handoff.referrals_frame(engine, dt.datetime(2026, 12, 9), scope=SYSTEM)
    assert refs.iloc[0]["state"] == "superseded"


def test_approvals_ingest_cli_keeps_good_rows_and_names_bad_ones(db, capsys):
    settings, _, tmp_path = db
    path = tmp_path / "approvals.csv"
    path.write_text("id,site_id,credit_code,matter,permit,department,granted_on\n"
                    "A1,S1,,M2,规划许可,,2026-11-01\n"
                    "A2,,91330502MA2B3C4D5E,M1,,,2026-11-02\n"
                    "A3,S1,,M1,,,2026-02-30\n"
                    "A1,S1,,M2,,,2026-11-01\n", encoding="utf-8")
    assert main(["approvals", "ingest", str(path)], settings) == 0
    out = capsys.readouterr()
    assert "2 approval(s) stored" in out.out and "2 rejected" in out.out
    assert "row 4, field granted_on: not an ISO date" in out.err
    assert "row 5, field id: repeats row 2" in out.err
    assert main(["approvals", "ingest", str(path)], settings) == 0
    assert "0 approval(s) stored, each with its supervision task; 2 already stored" in \
        capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,site_id\n\xff\xfe,S1\n")
    assert main(["approvals", "ingest", str(bad)], settings) == 1
    assert "not a readable UTF-8 CSV" in capsys.readouterr().err
    bad.write_text("id,site_id,matter,granted_on\nX,S404,M1,2026-11-01\n", encoding="utf-8")
    assert main(["approvals", "ingest", str(bad)], settings) == 1
    assert "every row was rejected" in capsys.readouterr().err
    assert main(["approvals", "ingest", str(tmp_path / "none.csv")], settings) == 1


def test_every_hand_off_store_function_requires_a_scope():
    checked = 0
    for name, f in inspect.getmembers(handoff, inspect.isfunction):
        if f.__module__ != handoff.__name__ or name.startswith("_"):
            continue
        params = inspect.signature(f).parameters
        assert "scope" in params, name
        assert params["scope"].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert params["scope"].default is inspect.Parameter.empty, name
        checked += 1
    assert checked >= 10
