"""预约体检 and 综合查一次, the pure rules: what is due per department, joint visits proposed
within a window, the checklist a visit carries, validation naming the field, the yearly
counts and the calendar."""

import datetime as dt

import pandas as pd
import pytest

from geo.checkups import (
    CheckupError,
    bodies_for,
    calendar,
    check_request,
    check_visit,
    check_visit_findings,
    department_status,
    departments_of,
    propose_joint_visits,
    visit_checklist,
    yearly_counts,
)

TODAY = dt.date(2026, 6, 1)
CHECKLISTS = pd.DataFrame({
    "kind": ["shop", "shop", "shop", "farm", "farm"],
    "item_code": ["S1", "S2", "S3", "F1", "F2"],
    "item": ["占道", "证照", "消防", "粪污", "用水"],
    "department": ["综合执法", "市场监管", "应急管理", "农业农村", "水利"],
    "matter_code": ["M1", "M2", "M3", "M4", "M5"],
})
MATTERS = pd.DataFrame({"code": ["M1", "M2", "M3", "M4", "M5"],
                        "district_body": ["DT-ZH", "DT-SC", "DT-YJ", "DT-NY", "DT-NY"]})
SITES = pd.DataFrame({"site_id": ["A", "B"], "kind": ["shop", "farm"],
                      "risk": ["high", "low"], "township_code": ["T1", "T2"]})
INTERVALS = {"high": 30, "medium": 90, "low": 365}


def inspections(*rows):
    return pd.DataFrame(rows, columns=["site_id", "day", "departments"]).assign(
        day=lambda f: pd.to_datetime(f["day"]))


def test_each_department_is_due_an_interval_after_its_own_last_inspection():
    done = inspections(("A", "2026-05-01", ["综合执法", "市场监管"]),
                       ("A", "2026-05-25", "应急管理"),  # a stored comma text
                       ("A", "2026-04-01", ["综合执法"]),
                       ("B", "2026-01-10", ["水利", "某未涉及部门"]))
    status = department_status(SITES, done, CHECKLISTS, TODAY, INTERVALS).set_index(
        ["site_id", "department"])
    assert len(status) == 5  # 3 departments of a shop, 2 of a farm
    assert status.loc[("A", "综合执法"), "due"] == pd.Timestamp("2026-05-31")
    assert status.loc[("A", "应急管理"), "due"] == pd.Timestamp("2026-06-24")
    assert bool(status.loc[("A", "综合执法"), "overdue"])
    assert not bool(status.loc[("A", "应急管理"), "overdue"])
    # never inspected by the department: overdue, no due day
    assert bool(status.loc[("B", "农业农村"), "overdue"])
    assert pd.isna(status.loc[("B", "农业农村"), "due"])
    assert status.loc[("B", "水利"), "due"] == pd.Timestamp("2027-01-10")
    assert status.loc[("A", "综合执法"), "township_code"] == "T1"


def test_no_inspection_at_all_means_every_department_is_overdue():
    status = department_status(SITES, inspections(), CHECKLISTS, TODAY, INTERVALS)
    assert len(status) == 5 and status["overdue"].all()


def test_departments_due_within_the_window_are_proposed_for_one_visit():
    done = inspections(("A", "2026-05-01", ["综合执法"]),   # due 05-31: overdue -> today
                       ("A", "2026-05-10", ["市场监管"]),   # due 06-09
                       ("A", "2026-05-30", ["应急管理"]),   # due 06-29
                       ("B", "2026-01-10", ["水利"]))      # due 2027, out of the horizon
    status = department_status(SITES, done, CHECKLISTS, TODAY, INTERVALS)
    out = propose_joint_visits(status, TODAY, window_days=10, horizon_days=60)
    assert len(out) == 1
    first = out.iloc[0]
    assert first["site_id"] == "A" and first["township_code"] == "T1"
    assert first["departments"] == ["综合执法", "市场监管"]
    assert first["day"] == TODAY and first["last_due"] == dt.date(2026, 6, 9)
    assert first["separate_visits"] == 2 and first["saved"] == 1
    # a wider window joins the third department too; a zero one joins nothing
    wide = propose_joint_visits(status, TODAY, window_days=28, horizon_days=60)
    assert wide.iloc[0]["departments"] == ["综合执法", "市场监管", "应急管理"]
    assert wide.iloc[0]["saved"] == 2
    assert propose_joint_visits(status, TODAY, 0, 60).empty
    # a short horizon leaves out what is due later
    assert propose_joint_visits(status, TODAY, 28, 5).empty


def test_departments_already_on_a_scheduled_visit_are_not_proposed_again():
    status = department_status(SITES, inspections(), CHECKLISTS, TODAY, INTERVALS)
    both = propose_joint_visits(status, TODAY, 7, 30)
    assert set(both["site_id"]) == {"A", "B"}
    booked = pd.DataFrame({"site_id": ["A", "B", "B"], "day": [TODAY + dt.timedelta(days=3),
                                                               TODAY - dt.timedelta(days=3),
                                                               TODAY],
                           "departments": [["综合执法", "市场监管"], ["水利"], ["农业农村"]],
                           "status": ["scheduled", "scheduled", "cancelled"]})
    out = propose_joint_visits(status, TODAY, 7, 30, booked)
    # A keeps one department left (no joint visit); B's past and cancelled visits count not
    assert out["site_id"].tolist() == ["B"]
    assert out.iloc[0]["departments"] == ["农业农村", "水利"]


def test_a_negative_window_is_refused():
    status = department_status(SITES, inspections(), CHECKLISTS, TODAY, INTERVALS)
    with pytest.raises(ValueError, match="window_days"):
        propose_joint_visits(status, TODAY, -1, 30)


def test_a_visit_carries_the_items_of_the_departments_concerned():
    assert departments_of(CHECKLISTS, "shop") == ["市场监管", "应急管理", "综合执法"]
    items = visit_checklist(CHECKLISTS, "shop", ["综合执法", "应急管理"])
    assert items["item_code"].tolist() == ["S1", "S3"]
    assert bodies_for(items, MATTERS) == ["DT-YJ", "DT-ZH"]
    check_visit_findings([{"item_code": "S3"}, {"item_code": "S1"}], items)
    with pytest.raises(CheckupError, match=r"^findings 2: item 'S2' is not on this visit"):
        check_visit_findings([{"item_code": "S1"}, {"item_code": "S2"}], items)
    with pytest.raises(CheckupError, match=r"^findings 2: item 'S1' is given twice"):
        check_visit_findings([{"item_code": "S1"}, {"item_code": "S1"}], items)
    with pytest.raises(CheckupError, match=r"no finding for item.* S3"):
        check_visit_findings([{"item_code": "S1"}], items)


def visit(**change):
    args = {"site_id": "A", "kind": "shop", "day": TODAY, "lead_body": "TC-1",
            "bodies": ["DT-SC"], "departments": None, "inspectors": ["陈明"],
            "observers": [{"name": "王建国", "site_id": "B"}], "note": "",
            "known_bodies": {"TC-1", "DT-SC"}, "checklists": CHECKLISTS,
            "known_sites": {"A", "B"}, "today": TODAY}
    return check_visit(**{**args, **change})


def test_a_visit_is_cleaned_and_defaults_to_every_department_concerned():
    clean = visit()
    assert clean["departments"] == ["市场监管", "应急管理", "综合执法"]
    assert clean["bodies"] == ["TC-1", "DT-SC"]  # the lead joins
    assert clean["observers"] == [{"name": "王建国", "site_id": "B"}]
    assert visit(departments=["应急管理"])["departments"] == ["应急管理"]


@pytest.mark.parametrize(("change", "message"), [
    ({"day": "2026-06-01"}, "^field day: '2026-06-01' is not a day"),
    ({"day": TODAY + dt.timedelta(days=400)}, "^field day: more than 366 days"),
    ({"lead_body": "NOPE"}, "^field lead_body: unknown body 'NOPE'"),
    ({"lead_body": ""}, "^field lead_body: empty"),
    ({"bodies": ["DT-SC", "X"]}, "^bodies 2: unknown body 'X'"),
    ({"bodies": "DT-SC"}, "^field bodies: not a list"),
    ({"departments": ["水利"]}, "^departments 1: '水利' has no item on the shop checklist"),
    ({"departments": ["综合执法", "综合执法"]}, "^departments 2: '综合执法' is given twice"),
    ({"inspectors": []}, "^field inspectors: empty"),
    ({"inspectors": ["陈明", "  "]}, "^inspectors 2: empty"),
    ({"inspectors": ["x" * 101]}, "^inspectors 1: longer than 100"),
    ({"inspectors": ["陈\x00明"]}, "^inspectors 1: holds a control character"),
    ({"inspectors": [3]}, "^inspectors 1: int is not text"),
    ({"observers": [{"name": "王", "site_id": "A"}]}, "^observers 1: an observer comes from "
                                                      "another site"),
    ({"observers": [{"name": "王", "site_id": "Z"}]}, "^observers 1: unknown site 'Z'"),
    ({"observers": [{"name": "", "site_id": "B"}]}, "^observers 1: empty"),
    ({"observers": ["王"]}, "^observers 1: not an object"),
    ({"observers": [{"name": "王", "site_id": "B"}] * 2}, "^observers 2: '王' of B is given"),
    ({"kind": "bank"}, "^field site_id: site 'A' is of kind 'bank', which has no checklist"),
    ({"note": "x" * 2001}, "^field note: longer than 2000"),
])
def test_a_bad_visit_is_refused_naming_the_field(change, message):
    with pytest.raises(CheckupError, match=message) as err:
        visit(**change)
    assert err.value.field in message


def test_a_request_is_checked_naming_the_field():
    clean = check_request(" 沈经理 ", "投产前体检", TODAY, TODAY + dt.timedelta(days=5), TODAY)
    assert clean["contact"] == "沈经理" and clean["wanted_until"] == dt.date(2026, 6, 6)
    assert check_request("沈经理", None, None, None, TODAY)["reason"] == ""
    for args, message in [
        (("", "", None, None), "^field contact: empty"),
        (("沈", "", TODAY - dt.timedelta(days=1), None), "^field wanted_from: .* in the past"),
        (("沈", "", None, TODAY + dt.timedelta(days=367)), "^field wanted_until: more than"),
        (("沈", "", TODAY + dt.timedelta(days=3), TODAY), "^field wanted_until: before"),
        (("沈", "", dt.datetime(2026, 6, 2), None), "^field wanted_from: .* is not a day"),
        (("沈", "\x07", None, None), "^field reason: holds a control character"),
    ]:
        with pytest.raises(CheckupError, match=message):
            check_request(*args, TODAY)


def test_yearly_counts_visits_saved_and_who_booked():
    done = inspections(("A", "2025-12-30", ["综合执法", "市场监管", "应急管理"]),
                       ("A", "2026-03-01", ["综合执法", "市场监管"]),
                       ("B", "2026-04-01", ["水利"]))
    visits = pd.DataFrame({
        "day": [dt.date(2026, 3, 1), dt.date(2026, 6, 3), dt.date(2026, 7, 1),
                dt.date(2026, 8, 1)],
        "status": ["done", "scheduled", "scheduled", "cancelled"],
        "request_id": [7, None, 8, 9],
        "observers": [[{"name": "王", "site_id": "B"}], [], [{"name": "李", "site_id": "B"},
                                                              {"name": "赵", "site_id": "B"}],
                      [{"name": "钱", "site_id": "B"}]]})
    requests = pd.DataFrame({"requested_at": pd.to_datetime(
        ["2025-12-20 08:00", "2026-02-01 09:00", "2026-05-01 10:00", "2026-07-01 11:00"])})
    out = yearly_counts(done, visits, requests).set_index("year")
    assert out.loc[2025].to_dict() == {
        "joint_inspections": 1, "department_visits": 3, "visits_saved": 2,
        "booked_by_business": 0, "scheduled_by_office": 0, "observers": 0, "requests": 1}
    assert out.loc[2026].to_dict() == {
        "joint_inspections": 2, "department_visits": 3, "visits_saved": 1,
        "booked_by_business": 2, "scheduled_by_office": 1, "observers": 3, "requests": 3}
    empty = yearly_counts(inspections(), visits.iloc[0:0], requests.iloc[0:0])
    assert empty.empty and "visits_saved" in empty.columns


def test_the_calendar_lists_each_townships_visits_per_day_or_week():
    visits = pd.DataFrame({
        "township_code": ["T1", "T1", "T2", "T1", "T2"],
        "day": [dt.date(2026, 6, 2), dt.date(2026, 6, 2), dt.date(2026, 6, 4),
                dt.date(2026, 6, 10), dt.date(2026, 6, 3)],
        "label": ["甲店", "乙店", "丙场", "丁店", "戊场"],
        "status": ["scheduled", "done", "scheduled", "scheduled", "cancelled"]})
    week = calendar(visits, dt.date(2026, 6, 1), 7).set_index("township_code")
    assert list(week.columns) == [dt.date(2026, 6, d) for d in range(1, 8)]
    assert week.loc["T1", dt.date(2026, 6, 2)] == "乙店\n甲店"
    assert week.loc["T2", dt.date(2026, 6, 4)] == "丙场"
    assert week.loc["T2", dt.date(2026, 6, 3)] == ""  # cancelled: not on the calendar
    month = calendar(visits, dt.date(2026, 6, 1), 30, by="week").set_index("township_code")
    assert list(month.columns)[:2] == [dt.date(2026, 6, 1), dt.date(2026, 6, 8)]
    assert month.loc["T1", dt.date(2026, 6, 8)] == "丁店"
    assert calendar(visits.iloc[0:0], dt.date(2026, 6, 1), 7).empty
    with pytest.raises(ValueError, match="by must be day or week"):
        calendar(visits, dt.date(2026, 6, 1), 7, by="year")
