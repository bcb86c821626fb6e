"""The reform's figures and the evaluation's decision paper (pure, geo.figures)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from geo.figures import (
    ALL_SOURCES,
    DISTRICT,
    EvaluationRules,
    StaffError,
    decision_paper,
    delegation_figures,
    dormant_clauses,
    figure_years,
    reform_figures,
    source_figures,
    staff_figures,
    suggest,
    validate_staff,
)

TZ = ZoneInfo("Asia/Shanghai")
BODIES = pd.DataFrame({"code": ["CC", "DT", "TC-A", "TC-B"],
                       "kind": ["command_center", "district_team", "township_center",
                                "township_center"],
                       "township_code": ["", "", "A", "B"]})


def cases_of(rows):
    """rows: (township, matter, source, local day 'YYYY-MM-DD')"""
    frame = pd.DataFrame(rows, columns=["township_code", "matter_code", "source", "day"])
    # local noon -> naive UTC 04:00
    frame["opened_at"] = pd.to_datetime(frame.pop("day")) + pd.Timedelta(hours=4)
    frame.insert(0, "id", range(1, len(frame) + 1))
    return frame


def test_sources_by_year_with_the_change_on_the_year_before():
    rows = ([("A", "M1", "patrol", "2020-03-01")] * 5 + [("A", "M1", "patrol", "2022-03-01")] * 13
            + [("A", "M1", "12345", "2022-05-01")] * 2 + [("B", "M1", "12345", "2021-06-01")])
    out = source_figures(cases_of(rows), [2021, 2022], TZ, townships=["A", "B", "C"])
    got = out.set_index(["township_code", "source", "year"])
    assert got.loc[("A", "patrol", 2022), "cases"] == 13
    assert got.loc[("A", "patrol", 2021), "previous"] == 5   # 2020's
    assert got.loc[("A", "patrol", 2021), "change"] == pytest.approx(-1.0)
    assert np.isnan(got.loc[("A", "patrol", 2022), "change"])  # nothing in 2021
    assert got.loc[("A", ALL_SOURCES, 2022), "cases"] == 15
    assert got.loc[(DISTRICT, ALL_SOURCES, 2022), "cases"] == 15
    assert got.loc[(DISTRICT, ALL_SOURCES, 2022), "previous"] == 1
    assert got.loc[(DISTRICT, ALL_SOURCES, 2022), "change"] == pytest.approx(14.0)
    assert got.loc[("C", ALL_SOURCES, 2022), "cases"] == 0  # listed without a case
    # +158 %: 2.58 times the year before
    rows = [("A", "M1", "grid", "2020-01-05")] * 100 + [("A", "M1", "grid", "2021-01-05")] * 258
    again = source_figures(cases_of(rows), [2021], TZ).set_index(["township_code", "source"])
    assert again.loc[("A", "grid"), "change"] == pytest.approx(1.58)


def test_a_case_counts_in_its_local_year():
    frame = pd.DataFrame({"township_code": ["A"], "source": ["grid"],
                          "opened_at": pd.to_datetime(["2021-12-31 17:00"])})  # 01:00 +08
    out = source_figures(frame, [2021, 2022], TZ).set_index(["township_code", "source",
                                                              "year"])
    assert out.loc[("A", "grid", 2022), "cases"] == 1


EMP = pd.DataFrame({
    "township_code": ["A", "A", "A", "B"], "matter_code": ["M1", "M2", "M3", "M2"],
    "effective_from": [dt.date(2021, 7, 1), dt.date(2021, 7, 1), dt.date(2022, 1, 1),
                       dt.date(2020, 6, 1)],
    "effective_to": [None, None, None, None]})


def test_dormant_clauses_need_a_quiet_year_before_and_a_case_after():
    rows = [("A", "M1", "grid", "2021-02-01"), ("A", "M1", "grid", "2021-08-01"),  # not dormant
            ("A", "M2", "grid", "2021-09-01"), ("A", "M2", "grid", "2022-02-01"),  # activated
            ("A", "M3", "grid", "2020-06-01"),                                     # dormant
            ("B", "M2", "grid", "2020-02-01")]
    clauses = dormant_clauses(cases_of(rows), EMP, TZ, data_from=dt.date(2020, 1, 1))
    got = clauses.set_index(["township_code", "matter_code"])
    assert not got.loc[("A", "M1"), "dormant"] and not got.loc[("A", "M1"), "activated"]
    assert got.loc[("A", "M2"), "activated"] and got.loc[("A", "M2"), "activated_year"] == 2021
    assert got.loc[("A", "M3"), "dormant"] and not got.loc[("A", "M3"), "activated"]
    assert pd.isna(got.loc[("B", "M2"), "dormant"])  # its year before is not in the data
    fig = delegation_figures(cases_of(rows), EMP, [2021, 2022], TZ,
                             domains={"M2": "市场监管"}).set_index(["township_code", "year"])
    assert fig.loc[("A", 2021), "newly_delegated"] == 2
    assert fig.loc[("A", 2021), "new_matter_cases"] == 2   # M1 in Aug, M2 in Sep
    assert fig.loc[("A", 2021), "dormant_activated"] == 1
    assert fig.loc[("A", 2022), "dormant_cases"] == 1      # M2 again in 2022
    assert fig.loc[(DISTRICT, 2021), "dormant_domains"] == 1
    assert fig.loc[("A", 2022), "newly_delegated"] == 1


def test_the_staff_roster_is_checked_row_by_row():
    good = pd.DataFrame({"body_code": ["DT", "TC-A", "TC-A"], "count": ["10", "", "3"],
                         "effective_from": ["2020-01-01", "2021-07-01", "2021-07-01"],
                         "effective_to": ["2021-07-01", "", ""]})
    roster = validate_staff(good, BODIES)
    assert roster["count"].tolist() == [10, 1, 3]
    for change, field in (({"body_code": "XX"}, "body_code"), ({"count": "-1"}, "count"),
                          ({"count": "2.5"}, "count"), ({"effective_from": ""},
                                                        "effective_from"),
                          ({"effective_from": "2021/01/01"}, "effective_from"),
                          ({"effective_to": "2019-01-01"}, "effective_to")):
        bad = good.copy()
        for k, v in change.items():
            bad.loc[1, k] = v
        with pytest.raises(StaffError, match=f"staff.csv, row 3, field {field}"):
            validate_staff(bad, BODIES)
    with pytest.raises(StaffError, match="missing column body_code"):
        validate_staff(good.drop(columns="body_code"), BODIES)
    # person rows: no count column at all
    people = validate_staff(good.drop(columns=["count", "effective_to"]), BODIES)
    assert people["count"].tolist() == [1, 1, 1]


def test_staff_moved_to_the_townships_and_their_share():
    roster = validate_staff(pd.DataFrame({
        "body_code": ["DT", "DT", "TC-A", "TC-B"], "count": ["40", "10", "25", "5"],
        "effective_from": ["2020-01-01", "2021-07-01", "2021-07-01", "2020-01-01"],
        "effective_to": ["2021-07-01", "", "", ""]}), BODIES)
    out = staff_figures(roster, BODIES, [2021], reform_start=dt.date(2021, 7, 1)
                        ).set_index("township_code")
    assert out.loc[DISTRICT, "staff"] == 40
    assert out.loc[DISTRICT, "staff_change"] == 40 - 45
    assert out.loc[DISTRICT, "township_staff"] == 30
    assert out.loc[DISTRICT, "staff_share"] == pytest.approx(0.75)
    assert out.loc[DISTRICT, "staff_moved"] == 25
    assert out.loc["A", "staff_moved"] == 25 and out.loc["B", "staff_moved"] == 0


def test_reform_figures_one_row_per_area_and_year():
    rows = [("A", "M1", "grid", "2021-02-01"), ("A", "M2", "patrol", "2021-09-01")]
    roster = validate_staff(pd.DataFrame({"body_code": ["TC-A"], "count": ["3"],
                                          "effective_from": ["2021-07-01"]}), BODIES)
    fig = reform_figures(cases_of(rows), EMP, roster, BODIES, [2021, 2022], TZ,
                         townships=["A", "B"])
    assert list(zip(fig.yearly["township_code"], fig.yearly["year"], strict=True)) == [
        ("A", 2021), ("A", 2022), ("B", 2021), ("B", 2022), (DISTRICT, 2021),
        (DISTRICT, 2022)]
    a = fig.yearly.set_index(["township_code", "year"]).loc[("A", 2021)]
    assert (a["cases"], a["cases_grid"], a["cases_patrol"], a["staff"]) == (2, 1, 1, 3)
    assert figure_years(cases_of(rows), TZ, dt.date(2023, 5, 1)) == [2021, 2022, 2023]
    assert figure_years(cases_of([])[:0], TZ, dt.date(2023, 5, 1)) == [2023]


def test_the_suggested_action_follows_its_rules_in_order():
    rules = EvaluationRules()
    act, why = suggest(
        handled=np.array([0, 2, 0, 6, 6, 10, 3, 10]),
        returned=np.array([0, 3, 0, 4, 0, 0, 0, 0]),
        median_days=np.array([np.nan, 2, np.nan, 2, 9, 2, 2, 2]),
        district_median=np.array([np.nan, 2, np.nan, 2, 3, 2, 2, 2]),
        delegated_days=np.array([90, 400, 400, 400, 400, 400, 400, 400]),
        demand=np.array([False, False, False, False, False, True, True, False]), rules=rules)
    assert list(why) == ["too_recent", "returned_most", "never_used", "returned_often", "slow",
                         "used_well", "used", "used"]
    assert list(act) == ["keep", "take_back", "take_back", "train", "train", "extend", "keep",
                         "keep"]
    # idle this year but used the year before: keep; a slow median needs enough cases and
    # enough days more than the district team's
    act, why = suggest(handled=np.array([0, 0, 2, 6]), returned=np.array([0, 0, 0, 0]),
                       median_days=np.array([np.nan, np.nan, 9, 2.5]),
                       district_median=np.array([np.nan, np.nan, 3, 1.0]),
                       delegated_days=np.array([400] * 4), demand=np.array([False] * 4),
                       rules=rules, idle_window_cases=np.array([0, 4, 2, 6]))
    assert list(why) == ["never_used", "idle", "used", "used"]
    assert list(act) == ["take_back", "keep", "keep", "keep"]
    with pytest.raises(ValueError, match="slow_ratio"):
        EvaluationRules(slow_ratio=float("nan"))
    with pytest.raises(ValueError, match="idle_years"):
        EvaluationRules(idle_years=0)
    with pytest.raises(ValueError, match="often_returned"):
        EvaluationRules(often_returned=0.6)


def test_decision_paper_on_a_known_year():
    emp = pd.DataFrame({"township_code": ["A", "A", "A"], "matter_code": ["M1", "M2", "M3"],
                        "effective_from": [dt.date(2020, 1, 1)] * 2 + [dt.date(2022, 10, 1)],
                        "effective_to": [None, None, None]})
    rows = ([("A", "M1", "grid", "2022-03-01")] * 6 + [("B", "M1", "grid", "2022-04-01")] * 4
            + [("A", "M2", "grid", "2022-05-01")] * 4)
    cases = cases_of(rows)
    cases["body_code"] = ["TC-A"] * 6 + ["DT"] * 4 + ["DT"] * 3 + ["TC-A"]
    ids = cases["id"]
    events = pd.DataFrame({
        "case_id": [*ids[:6], *ids[6:10], *ids[10:13], ids.iloc[13]],
        "to_state": ["closed"] * 10 + ["returned"] * 3 + ["closed"],
        "at": list(cases["opened_at"][:10] + pd.Timedelta(days=2))
        + list(cases["opened_at"][10:] + pd.Timedelta(hours=5))})
    paper = decision_paper(cases, events, emp, {"A": "TC-A", "B": "TC-B"},
                           {"M1": "DT", "M2": "DT", "M3": "DT"}, 2022, TZ)
    got = paper.set_index("matter_code")
    assert got.loc["M1", "action"] == "extend" and got.loc["M1", "extend_to"] == "B"
    assert got.loc["M1", "demand"] == "4"
    assert got.loc["M1", "district_median_days"] == pytest.approx(2.0)
    assert (got.loc["M2", "action"], got.loc["M2", "reason"]) == ("take_back", "returned_most")
    assert got.loc["M2", "returned_share"] == pytest.approx(0.75)
    assert (got.loc["M3", "action"], got.loc["M3", "reason"]) == ("keep", "too_recent")
    assert got.loc["M3", "never_used"]
