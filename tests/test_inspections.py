import datetime as dt

import pandas as pd
import pytest

from geo.inspections import (
    FindingError,
    check_findings,
    first_time_fixed_rate,
    frequent_problems,
    rectification_plan,
    unfixed_after_deadline,
    zero_problem_rate,
)

CHECK = pd.DataFrame({
    "kind": ["shop", "shop", "shop", "workshop"],
    "item_code": ["SHO-01", "SHO-02", "SHO-03", "WOR-01"],
    "item": ["占道经营", "灭火器过期", "食品留样缺失", "三合一住人"],
    "department": ["综合执法", "应急管理", "市场监管", "应急管理"],
    "matter_code": ["M001", "M024", "M019", "M026"],
})
KINDS = {"S1": "shop", "S2": "shop", "W1": "workshop"}


def findings():
    return pd.DataFrame({
        "inspection_id": [1, 1, 1, 2, 2, 3],
        "site_id": ["S1", "S1", "S1", "S2", "S2", "W1"],
        "day": pd.to_datetime(["2026-10-01"] * 3 + ["2026-10-05"] * 2 + ["2026-11-20"]),
        "item_code": ["SHO-01", "SHO-02", "SHO-03", "SHO-02", "SHO-03", "WOR-01"],
        "result": ["problem", "problem", "pass", "problem", "pass", "problem"],
    })


REIN = pd.DataFrame({
    "inspection_id": [1, 1, 1, 2],
    "item_code": ["SHO-01", "SHO-02", "SHO-02", "SHO-02"],
    "day": pd.to_datetime(["2026-10-15", "2026-10-15", "2026-10-30", "2026-10-20"]),
    "fixed": [True, False, True, True],
})


def test_plan_gives_each_problem_a_deadline():
    plan = rectification_plan(findings(), CHECK, {"M024": 7})
    assert len(plan) == 4
    first = plan[(plan["inspection_id"] == 1) & (plan["item_code"] == "SHO-02")].iloc[0]
    assert first["deadline"] == pd.Timestamp("2026-10-08")
    assert first["department"] == "应急管理" and first["requirement"] == "整改：灭火器过期"
    other = plan[plan["item_code"] == "SHO-01"].iloc[0]
    assert other["deadline"] == pd.Timestamp("2026-10-16")      # default 15 days


def test_rates_on_a_known_history():
    plan = rectification_plan(findings(), CHECK)
    # problems: (1,SHO-01) fixed first time, (1,SHO-02) not, (2,SHO-02) fixed, (3,WOR-01) none
    assert first_time_fixed_rate(plan, REIN) == pytest.approx(2 / 4)
    # first re-inspections: visit 1 had SHO-02 unfixed, visit 2 all fixed
    assert zero_problem_rate(plan, REIN) == pytest.approx(1 / 2)


def test_unfixed_after_deadline_becomes_a_case():
    plan = rectification_plan(findings(), CHECK)
    late = unfixed_after_deadline(plan, REIN, dt.date(2026, 12, 31))
    # (1,SHO-02) fixed at the second round; (3,WOR-01) never re-inspected and past due
    assert late[["inspection_id", "item_code"]].values.tolist() == [[3, "WOR-01"]]
    assert late.iloc[0]["matter_code"] == "M026"
    assert unfixed_after_deadline(plan, REIN, dt.date(2026, 12, 1)).empty


def test_frequent_problems_per_department_and_kind():
    top = frequent_problems(rectification_plan(findings(), CHECK), KINDS)
    row = top[(top["department"] == "应急管理") & (top["kind"] == "shop")].iloc[0]
    assert (row["item_code"], row["count"]) == ("SHO-02", 2)


def test_findings_are_checked_against_the_site_checklist():
    bad = findings()
    bad.loc[5, "item_code"] = "SHO-01"
    with pytest.raises(FindingError, match="finding 6, field item_code: 'SHO-01' is not on "
                                           "the workshop checklist"):
        check_findings(bad, CHECK, KINDS)
    bad = findings()
    bad.loc[0, "result"] = "maybe"
    with pytest.raises(FindingError, match="finding 1, field result"):
        check_findings(bad, CHECK, KINDS)
    check_findings(findings(), CHECK, KINDS)


def test_a_problem_is_open_when_its_latest_reinspection_found_it_unfixed():
    """One definition of "still open" for the page and for escalation: the latest
    re-inspection decides, whatever an earlier one said."""
    from geo.inspections import open_problems, unfixed_after_deadline

    plan = pd.DataFrame({"inspection_id": [1, 1, 2], "item_code": ["A", "B", "A"],
                         "deadline": pd.to_datetime(["2026-10-01"] * 3)})
    re = pd.DataFrame({"inspection_id": [1, 1, 1], "item_code": ["A", "A", "B"],
                       "day": pd.to_datetime(["2026-10-05", "2026-10-20", "2026-10-05"]),
                       "fixed": [True, False, True]})
    still = open_problems(plan, re)
    expected = [(1, "A"), (2, "A")]
    assert sorted(zip(still["inspection_id"], still["item_code"], strict=True)) == expected
    late = unfixed_after_deadline(plan, re, dt.date(2026, 11, 1))
    assert sorted(zip(late["inspection_id"], late["item_code"], strict=True)) == expected
