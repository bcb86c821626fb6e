"""两单融合 and the hand-off, pure: the powers catalogue row by row, the joined view per
township and day, approval events, task and referral states, acknowledgement deadlines."""

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from geo.catalog import CatalogError, load_catalog
from geo.handoff import (
    DEFAULT_SUPERVISION_DAYS,
    POWER_COLUMNS,
    ack_due,
    check_approvals,
    escalated_inspection,
    may_acknowledge,
    read_powers,
    referral_states,
    task_states,
    template_powers,
    twin_list,
    validate_powers,
)
from tests.conftest import CODE_A, CODE_B, write_small_catalog

TZ = ZoneInfo("Asia/Shanghai")
POWERS = ("matter_code,permit,legal_basis,approving_department,penalty_min_yuan,"
          "penalty_max_yuan,supervising_department,supervision_days\n"
          "M1,营业执照,《无证无照经营查处办法》第十三条,区市场监管局,0,10000,市场监管,20\n"
          "M2,建设工程规划许可证,《城乡规划法》第六十四条,区自然资源和规划分局,,,,\n")


def powers_frame(text: str = POWERS) -> pd.DataFrame:
    rows = [line.split(",") for line in text.strip().splitlines()]
    return pd.DataFrame(rows[1:], columns=rows[0])


def test_powers_are_typed_with_defaults():
    got = validate_powers(powers_frame(), {"M1", "M2"})
    assert list(got.columns) == list(POWER_COLUMNS)
    m1, m2 = got.iloc[0], got.iloc[1]
    assert (m1["penalty_min_yuan"], m1["penalty_max_yuan"], m1["supervision_days"]) == (0, 10000,
                                                                                         20)
    assert pd.isna(m2["penalty_min_yuan"]) and m2["supervision_days"] == DEFAULT_SUPERVISION_DAYS
    # no supervising department: the approving one supervises (谁审批谁监管)
    assert m2["supervising_department"] == "区自然资源和规划分局"


@pytest.mark.parametrize(("row", "field", "reason"), [
    ("M9,,,,,,,", "matter_code", "unknown matter 'M9'"),
    (",,,,,,,", "matter_code", "empty"),
    ("M1,,,,,,,", "matter_code", "already on row 2"),
    ("M3,,,,abc,,,", "penalty_min_yuan", "not a number"),
    ("M3,,,,-5,,,", "penalty_min_yuan", "0 yuan or more"),
    ("M3,,,,nan,,,", "penalty_min_yuan", "0 yuan or more"),
    ("M3,,,,500,100,,", "penalty_max_yuan", "less than penalty_min_yuan"),
    ("M3,,,,,,,0", "supervision_days", "whole number"),
    ("M3,,,,,,,2.5", "supervision_days", "whole number"),
    ("M3,,,,,,,99999", "supervision_days", "whole number"),
    ("M3,,a\x01b,,,,,", "legal_basis", "control characters"),
])
def test_a_bad_powers_row_is_named_by_row_and_field(row, field, reason):
    frame = powers_frame(POWERS + row + "\n")
    with pytest.raises(CatalogError, match=rf"powers.csv, row 4, field {field}: .*{reason}"):
        validate_powers(frame, {"M1", "M2", "M3"})


def test_missing_columns_and_long_text_are_refused():
    with pytest.raises(CatalogError, match=r"missing column.*supervision_days"):
        validate_powers(powers_frame().drop(columns="supervision_days"), {"M1", "M2"})
    frame = powers_frame()
    frame.loc[0, "permit"] = "许" * 201
    with pytest.raises(CatalogError, match="row 2, field permit: longer than 200"):
        validate_powers(frame, {"M1", "M2"})


def test_template_loads_back_as_written(tmp_path):
    catalog = load_catalog(write_small_catalog(tmp_path))
    blank = template_powers(catalog.matters)
    assert blank["matter_code"].tolist() == ["M1", "M2"]
    assert set(blank["supervision_days"]) == {str(DEFAULT_SUPERVISION_DAYS)}
    blank.to_csv(tmp_path / "powers.csv", index=False)
    assert len(read_powers(tmp_path, catalog.matters["code"])) == 2
    filled = template_powers(catalog.matters, validate_powers(powers_frame(), {"M1", "M2"}))
    filled.to_csv(tmp_path / "powers.csv", index=False)
    again = read_powers(tmp_path, catalog.matters["code"])
    assert again.iloc[0]["penalty_max_yuan"] == 10000 and again.iloc[0]["supervision_days"] == 20
    assert read_powers(tmp_path / "none", ["M1"]) is None


def test_twin_list_says_who_enforces_in_the_township_on_the_day(tmp_path):
    catalog = load_catalog(write_small_catalog(tmp_path))
    powers = validate_powers(powers_frame(), {"M1", "M2"})
    a = twin_list(catalog, powers, CODE_A, dt.date(2026, 1, 1)).set_index("matter_code")
    assert a.loc["M1", "body_code"] == "TC-A" and a.loc["M1", "since"] == dt.date(2024, 1, 1)
    assert a.loc["M1", "township_enforces"] and a.loc["M1", "legal_basis"].startswith("《无证")
    assert a.loc["M2", "body_code"] == "DT-ZH" and a.loc["M2", "since"] is None
    # township B held M1 in 2024 only: before, during and after
    for day, body in ((dt.date(2023, 12, 31), "DT-SC"), (dt.date(2024, 6, 1), "TC-B"),
                      (dt.date(2025, 1, 1), "DT-SC")):
        b = twin_list(catalog, powers, CODE_B, day).set_index("matter_code")
        assert b.loc["M1", "body_code"] == body, day
    bare = twin_list(catalog, None, CODE_A, dt.date(2026, 1, 1))
    assert (bare["supervision_days"] == DEFAULT_SUPERVISION_DAYS).all()
    assert (bare["legal_basis"] == "").all() and len(bare) == 2


SITES = pd.DataFrame({"site_id": ["S1", "S2", "S3"],
                      "credit_code": [None, "91330502MA2B3C4D5E", None],
                      "township_code": [CODE_A, CODE_B, CODE_B]})
TODAY = dt.date(2026, 11, 30)


def check(records, powers=POWERS):
    frame = None if powers is None else validate_powers(powers_frame(powers), {"M1", "M2"})
    return check_approvals(records, list(range(2, len(records) + 2)), frame, {"M1", "M2"},
                           SITES, TODAY, dt.date(2000, 1, 1))


def test_an_approval_opens_a_task_for_the_supervising_department():
    good, bad = check([{"id": "P1", "site_id": "S1", "matter": "M1", "granted_on": "2026-11-01"},
                       {"id": "P2", "credit_code": "91330502MA2B3C4D5E", "matter": "M2",
                        "granted_on": dt.date(2026, 11, 2), "department": "规划科"}])
    assert bad == []
    p1, p2 = good
    assert (p1["township_code"], p1["supervising_department"], p1["due_on"]) == (
        CODE_A, "市场监管", dt.date(2026, 11, 21))
    assert p1["approving_department"] == "区市场监管局" and p1["permit"] == "营业执照"
    assert p2["site_id"] == "S2" and p2["approving_department"] == "规划科"
    assert p2["due_on"] == dt.date(2026, 12, 2)


@pytest.mark.parametrize(("record", "field", "reason"), [
    ({"id": "has space", "site_id": "S1"}, "id", "printable ASCII"),
    ({"id": "", "site_id": "S1"}, "id", "printable ASCII"),
    ({"id": "X"}, "site_id", "give site_id or credit_code"),
    ({"id": "X", "site_id": "S9"}, "site_id", "unknown site"),
    ({"id": "X", "site_id": "S1", "credit_code": "91330502MA2B3C4D5E"}, "credit_code",
     "not the credit code of site S1"),
    ({"id": "X", "credit_code": "000"}, "credit_code", "no site has"),
    ({"id": "X", "site_id": "S1", "matter": ""}, "matter", "required"),
    ({"id": "X", "site_id": "S1", "matter": "M7"}, "matter", "unknown matter"),
    ({"id": "X", "site_id": "S1", "matter": "M1", "granted_on": "2026-13-01"}, "granted_on",
     "not an ISO date"),
    ({"id": "X", "site_id": "S1", "matter": "M1"}, "granted_on", "required"),
    ({"id": "X", "site_id": "S1", "matter": "M1", "granted_on": "2026-12-01"}, "granted_on",
     "after today"),
    ({"id": "X", "site_id": "S1", "matter": "M1", "granted_on": "1999-01-01"}, "granted_on",
     "before 2000-01-01"),
    ({"id": "X", "site_id": "S1", "matter": "M1", "permit": "a\x00b",
      "granted_on": "2026-11-01"}, "permit", "control characters"),
    ({"id": "X", "site_id": "S1", "matter": "M1", "permit": "p" * 201,
      "granted_on": "2026-11-01"}, "permit", "longer than 200"),
])
def test_a_bad_approval_is_refused_naming_row_and_field(record, field, reason):
    good, bad = check([{"id": "OK", "site_id": "S3", "matter": "M1",
                        "granted_on": "2026-11-01"}, record])
    assert len(good) == 1 and len(bad) == 1
    assert (bad[0].row, bad[0].field) == (3, field) and reason in bad[0].reason, bad[0]
    assert str(bad[0]).startswith(f"row 3, field {field}: ")


def test_a_repeated_id_and_a_matter_without_any_department_are_refused():
    rec = {"id": "R", "site_id": "S1", "matter": "M1", "granted_on": "2026-11-01"}
    good, bad = check([rec, dict(rec)])
    assert len(good) == 1 and (bad[0].field, bad[0].reason) == ("id", "repeats row 2")
    good, bad = check([rec], powers=None)
    assert good == [] and bad[0].field == "department"
    good, _ = check([{**rec, "department": "区市场监管局"}], powers=None)
    assert good[0]["supervising_department"] == "区市场监管局"
    assert good[0]["due_on"] == dt.date(2026, 12, 1)


def test_task_states():
    tasks = pd.DataFrame({"inspection_id": [None, None, 1, 2, 3, 4, 5],
                          "due_on": [dt.date(2026, 12, 5), dt.date(2026, 11, 1)] + [
                              dt.date(2026, 11, 1)] * 5})
    findings = pd.DataFrame({"inspection_id": [1, 2, 3, 4, 5, 5],
                             "item_code": ["A", "A", "A", "A", "A", "B"],
                             "result": ["pass", "problem", "problem", "problem", "problem",
                                        "problem"]})
    re = pd.DataFrame({"inspection_id": [3, 3], "item_code": ["A", "A"],
                       "day": pd.to_datetime(["2026-11-02", "2026-11-09"]),
                       "fixed": [False, True]})
    cases = pd.DataFrame({"inspection_id": [4, 5, 5], "item_code": ["A", "A", "B"],
                          "status": ["handling", "closed", "merged"]})
    got = task_states(tasks, findings, re, cases, TODAY).tolist()
    assert got == ["open", "overdue", "passed", "rectifying", "fixed", "escalated", "closed"]


def test_escalated_inspection_reads_the_escalation_id():
    assert escalated_inspection("INSP-7-CON-01") == (7, "CON-01")
    assert escalated_inspection("INSP-x-1") is None and escalated_inspection("") is None


def test_ack_due_counts_working_days_in_local_time():
    # Friday 2026-11-27 10:00 local: three working days -> end of Wednesday 12-02 local
    assert ack_due(dt.datetime(2026, 11, 27, 2), TZ) == dt.datetime(2026, 12, 2, 16)
    # Saturday 07:00 local (Friday 23:00 UTC): counts from Monday -> end of Thursday
    assert ack_due(dt.datetime(2026, 11, 27, 23), TZ) == dt.datetime(2026, 12, 3, 16)
    # a holiday on Monday 11-30 pushes it a day
    assert ack_due(dt.datetime(2026, 11, 27, 2), TZ, holidays=[dt.date(2026, 11, 30)]) == \
        dt.datetime(2026, 12, 3, 16)
    assert ack_due(dt.datetime(2026, 11, 27, 2), TZ, 1) == dt.datetime(2026, 11, 30, 16)
    with pytest.raises(ValueError, match="1 or more"):
        ack_due(dt.datetime(2026, 11, 27, 2), TZ, 0)


def test_referral_states():
    nat = pd.NaT
    frame = pd.DataFrame({
        "to_body": ["X"] * 5, "case_body": ["X", "X", "X", "X", "Y"],
        "case_status": ["transferred"] * 5,
        "due_at": pd.to_datetime(["2026-12-02", "2026-11-20", "2026-11-20", "2026-11-20",
                                  "2026-11-20"]),
        "acknowledged_at": [nat, nat, nat, pd.Timestamp("2026-11-19"), nat],
        "escalated_at": [nat, nat, pd.Timestamp("2026-11-21"), nat, nat]})
    got = referral_states(frame, dt.datetime(2026, 11, 30)).tolist()
    assert got == ["pending", "overdue", "escalated", "acknowledged", "superseded"]
    closed = frame.assign(case_status="closed")
    assert referral_states(closed, dt.datetime(2026, 11, 30)).tolist()[0] == "superseded"


def test_only_the_receiving_body_acknowledges():
    assert may_acknowledge("dispatcher", {"DT-SC"}, "DT-SC")
    assert not may_acknowledge("dispatcher", {"DT-ZH"}, "DT-SC")
    assert may_acknowledge("township", {"TC-A"}, "TC-A")
    assert not may_acknowledge("township", {"TC-A"}, "DT-SC")
    assert may_acknowledge("command", set(), "DT-SC") and not may_acknowledge("planner", set(),
                                                                               "DT-SC")
