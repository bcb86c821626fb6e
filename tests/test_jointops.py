"""Joint operations and seized items: the pure rules (`geo.jointops`)."""

from decimal import Decimal

import pytest

from geo.jointops import (
    MAX_OBSERVERS,
    MAX_PARTICIPANTS,
    JointOpError,
    SeizedItem,
    check_item,
    check_items,
    check_joinable,
    check_observer,
    check_participant,
    check_seizable,
    check_team_joins,
    totals,
    yuan_text,
)

GOOD = {"item": "蚂蚁矿机 S19", "quantity": 100, "unit": "台", "value_yuan": 2_800_000}


def refused(raw, row=None) -> JointOpError:
    with pytest.raises(JointOpError) as info:
        check_item(raw, row)
    return info.value


def test_an_item_is_kept_exactly_in_fen():
    it = check_item({**GOOD, "value_yuan": "2,800,000.10", "note": "  机房 A \n 区 "})
    assert (it.item, it.quantity, it.unit, it.value_fen, it.note) == (
        "蚂蚁矿机 S19", Decimal(100), "台", 280_000_010, "机房 A 区")
    assert it.value_yuan == Decimal("2800000.10")
    assert check_item({**GOOD, "quantity": "2.5", "unit": "吨", "value_yuan": 0}).value_fen == 0
    assert check_item({**GOOD, "quantity": 0.1}).quantity == Decimal("0.1")  # not 0.1000000001


@pytest.mark.parametrize(("field", "value", "code"), [
    ("quantity", -1, "not_positive"), ("quantity", 0, "not_positive"),
    ("quantity", float("nan"), "not_finite"), ("quantity", "NaN", "not_finite"),
    ("quantity", float("inf"), "not_finite"), ("quantity", "-Infinity", "not_finite"),
    ("quantity", 1e300, "too_large"), ("quantity", "1e7", "too_large"),
    ("quantity", 10**400, "too_large"), ("quantity", "0.0001", "too_precise"),
    ("quantity", True, "not_number"), ("quantity", "十台", "not_number"),
    ("quantity", [1], "not_number"), ("quantity", None, "missing"), ("quantity", "", "missing"),
    ("value_yuan", -0.01, "negative"), ("value_yuan", float("nan"), "not_finite"),
    ("value_yuan", "1e11", "too_large"), ("value_yuan", 1.234, "too_precise"),
    ("value_yuan", {"a": 1}, "not_number"),
    ("item", "", "missing"), ("item", "   ", "missing"), ("item", 123, "not_text"),
    ("item", "矿机\x00", "bad_text"), ("item", "矿\ud800机", "bad_text"),
    ("item", "矿机\u202e", "bad_text"), ("item", "机" * 101, "too_long"),
    ("unit", "bitcoins", "bad_unit"), ("unit", None, "missing"),
    ("note", "x" * 201, "too_long"), ("note", "\x07", "bad_text"),
])
def test_hostile_items_are_refused_naming_the_field(field, value, code):
    exc = refused({**GOOD, field: value})
    assert (exc.code, exc.field) == (code, field)
    assert f"field {field}" in str(exc)


def test_the_row_is_named_where_several_items_are_sent():
    with pytest.raises(JointOpError, match=r"^row 2, field quantity: must be above zero"):
        check_items([GOOD, {**GOOD, "quantity": -5}])
    assert refused("蚂蚁矿机", 3).row == 3  # not an object at all


def test_totals_per_unit_and_in_yuan_exactly():
    items = check_items([GOOD, {**GOOD, "item": "蚂蚁矿机 S9", "quantity": 32,
                                "value_yuan": 700_000},
                         {"item": "电缆", "quantity": "12.5", "unit": "千克",
                          "value_yuan": "0.10"}])
    total = totals(items)
    assert total.lines == 3
    assert total.by_unit == {"台": Decimal(132), "千克": Decimal("12.5")}
    assert total.value_fen == 350_000_010 and total.value_yuan == Decimal("3500000.10")
    stored = [{"quantity": 0.1, "unit": "吨", "value_fen": 1}] * 3  # floats as stored
    assert totals(stored).by_unit == {"吨": Decimal("0.3")}
    assert totals([]).value_fen == 0


def test_yuan_for_people():
    assert yuan_text(350_000_000) == "350万元（3,500,000.00 元）"
    assert yuan_text(999_99) == "999.99 元"
    assert yuan_text(350_000_000, "en") == "CNY 3,500,000.00"
    assert totals([SeizedItem("x", Decimal(1), "台", 1)]).value_yuan == Decimal("0.01")


def test_a_big_data_alert_is_verified_before_a_joint_operation():
    with pytest.raises(JointOpError) as info:
        check_joinable("routed", "bigdata")
    assert info.value.code == "verify_first"
    check_joinable("verified", "bigdata")
    check_joinable("dispatched", "bigdata")
    check_joinable("handling", "bigdata")
    check_joinable("routed", "12345")
    for status, code in (("closed", "case_closed"), ("merged", "case_closed"),
                         ("rectification", "not_joinable"), ("returned", "not_joinable")):
        with pytest.raises(JointOpError) as info:
            check_joinable(status, "bigdata")
        assert info.value.code == code


def test_who_may_join():
    check_participant("DT-SC", "district_team", "TC-1", [])
    check_participant("TC-2", "township_center", "TC-1", ["DT-SC"])
    for args, code in ((("XX", None, "TC-1", []), "not_a_body"),
                       (("CC", "command_center", "TC-1", []), "not_joining_kind"),
                       (("TC-1", "township_center", "TC-1", []), "is_lead"),
                       (("DT-SC", "district_team", "TC-1", ["DT-SC"]), "already_on"),
                       (("DT-X", "district_team", "TC-1",
                         [f"B{i}" for i in range(MAX_PARTICIPANTS)]), "too_many")):
        with pytest.raises(JointOpError) as info:
            check_participant(*args)
        assert (info.value.code, info.value.field) == (code, "body_code")


def test_observers_by_clean_name():
    assert check_observer(" 国网湖州供电公司 ", []) == "国网湖州供电公司"
    for name, on, code in (("", [], "missing"), ("公安\x00", [], "bad_text"),
                           ("公安", ["公安"], "already_on"),
                           ("公安", [f"o{i}" for i in range(MAX_OBSERVERS)], "too_many")):
        with pytest.raises(JointOpError) as info:
            check_observer(name, on)
        assert info.value.code == code


def test_participating_teams_follow_the_lead_and_items_need_a_team_on_the_case():
    check_team_joins("dispatched", "DT-SC", "TC-1", ["DT-SC"])
    check_team_joins("handling", "DT-SC", "TC-1", ["DT-SC"])
    for args, code in ((("verified", "DT-SC", "TC-1", ["DT-SC"]), "lead_first"),
                       (("dispatched", "DT-ST", "TC-1", ["DT-SC"]), "not_on"),
                       (("dispatched", "TC-1", "TC-1", ["DT-SC"]), "is_lead")):
        with pytest.raises(JointOpError) as info:
            check_team_joins(*args)
        assert info.value.code == code
    check_seizable("handling")
    for status in ("routed", "verified", "closed"):
        with pytest.raises(JointOpError, match="seized"):
            check_seizable(status)
