import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd

from geo.cases import filter_cases, key_figures, open_by_township, overdue

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 27, 3, 0)  # 11:00 in Huzhou


def frame():
    return pd.DataFrame({
        "id": [1, 2, 3, 4],
        "status": ["routed", "closed", "handling", "routed"],
        "severity": ["high", "low", "medium", "low"],
        "source": ["12345", "12345", "bigdata", "patrol"],
        "matter_code": ["M1", "M1", "M2", "M3"],
        "domain": ["市场监管", "市场监管", "生态环境", "综合执法"],
        "township_code": ["A", "A", "B", None],
        # 1: yesterday 23:30 local; 2: today 00:10 local; 3: today 10:00; 4: last week
        "opened_at": pd.to_datetime(["2026-11-26 15:30", "2026-11-26 16:10",
                                     "2026-11-27 02:00", "2026-11-20 02:00"]),
        "deadline_at": pd.to_datetime(["2026-11-27 02:59", "2026-11-27 00:00",
                                       "2026-11-28 00:00", None]),
    })


def test_key_figures_use_the_local_day_and_deadlines():
    k = key_figures(frame(), NOW, TZ)
    assert k["open"] == 3
    assert k["new_today"] == 2         # cases 2 and 3 opened after local midnight
    assert k["overdue"] == 1           # case 1 (case 2 is closed, 3 not due, 4 no deadline)
    assert k["by_source"] == {"12345": 1, "bigdata": 1, "patrol": 1}


def test_filters_combine():
    f = frame()
    assert filter_cases(f, township="A")["id"].tolist() == [1, 2]
    assert filter_cases(f, domain="市场监管", status="routed")["id"].tolist() == [1]
    assert filter_cases(f, source="bigdata")["id"].tolist() == [3]
    assert filter_cases(f, since=dt.datetime(2026, 11, 26, 16, 0))["id"].tolist() == [2, 3]
    assert filter_cases(f, matter="M9").empty
    from geo.cases import OPEN
    assert filter_cases(f, status=OPEN)["id"].tolist() == [1, 3, 4]  # not the closed one


def test_overdue_and_open_by_township():
    f = frame()
    assert overdue(f, NOW).tolist() == [True, False, False, False]
    assert open_by_township(f) == {"A": 1, "B": 1}


# ------------------------------------------------------------------ lifecycle
import itertools  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from geo.cases import (  # noqa: E402
    STATUSES,
    TEAM_TRANSITIONS,
    TRANSITIONS,
    IllegalTransitionError,
    check_team_transition,
    check_transition,
    duplicate_candidates,
    queue,
)

LEGAL = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_every_legal_transition_passes(current, target):
    check_transition(current, target, source="12345", reason="checked")


@pytest.mark.parametrize(("current", "target"),
                         sorted(set(itertools.product(STATUSES, STATUSES)) - LEGAL))
def test_every_illegal_transition_raises(current, target):
    with pytest.raises(IllegalTransitionError, match=f"a {current} case cannot become {target}"):
        check_transition(current, target, reason="x")


def test_big_data_alerts_are_verified_before_dispatch():
    with pytest.raises(IllegalTransitionError, match="must be verified"):
        check_transition("routed", "dispatched", source="bigdata")
    check_transition("routed", "verified", source="bigdata")
    check_transition("verified", "dispatched", source="bigdata")


def test_reasons_are_required_where_it_matters():
    with pytest.raises(IllegalTransitionError, match="needs a reason"):
        check_transition("routed", "returned", reason=" ")
    check_transition("routed", "returned", reason="不属本单位事项")


def test_team_transitions():
    for current, targets in TEAM_TRANSITIONS.items():
        for target in targets:
            check_team_transition(current, target)
    with pytest.raises(IllegalTransitionError, match="on_scene cannot become dispatched"):
        check_team_transition("on_scene", "dispatched")


def test_queue_sorts_by_severity_then_deadline_and_flags_overdue():
    q = queue(frame(), NOW)
    assert q["id"].tolist() == [1, 3, 4]   # high first; then medium; low last; closed gone
    assert q["overdue"].tolist() == [True, False, False]


def test_duplicates_same_matter_250_m_72_h():
    base = pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6],
        "status": ["routed", "routed", "routed", "closed", "routed", "routed"],
        "matter_code": ["M1", "M1", "M1", "M1", "M2", "M1"],
        "x": [0.0, 200.0, 260.0, 10.0, 10.0, 100.0],
        "y": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "opened_at": pd.to_datetime(["2026-11-27 00:00"] * 5 + ["2026-11-23 00:00"]),
    })
    found = duplicate_candidates(base.iloc[0], base)
    assert found["id"].tolist() == [2]      # 3 too far, 4 closed, 5 other matter, 6 too old
    assert found["distance_m"].tolist() == [200.0]
    assert np.isclose(duplicate_candidates(base.iloc[1], base)["distance_m"], [60, 200]).all()


# ------------------------------------------------------------------ issue 12
from geo.cases import (  # noqa: E402
    NEEDS_REASON,
    can_dispatch,
    case_steps,
    dispatch_refusal,
    next_states,
    step_action,
)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("source", ["12345", "bigdata"])
def test_can_dispatch_agrees_with_the_lifecycle(status, source):
    try:
        check_transition(status, "dispatched", source)
        legal = True
    except IllegalTransitionError:
        legal = False
    assert can_dispatch(status, source) == (legal or status == "dispatched")
    refusal = dispatch_refusal(status, source)
    assert (refusal is None) == can_dispatch(status, source)


def test_why_a_case_cannot_be_dispatched_is_said_as_data():
    assert dispatch_refusal("routed", "bigdata").code == "verify_first"
    assert dispatch_refusal("routed", "bigdata").params == {"source": "bigdata"}
    refusal = dispatch_refusal("handling", "12345")
    assert refusal.code == "not_allowed" and refusal.params["current"] == "handling"
    assert refusal.params["allowed"] == ("rectification", "closed", "returned")
    assert dispatch_refusal("verified", "bigdata") is None


def test_refusals_carry_a_code_and_keep_their_english_message():
    with pytest.raises(IllegalTransitionError) as err:
        check_transition("routed", "returned", reason=" ")
    assert err.value.code == "needs_reason" and err.value.params == {"target": "returned"}
    assert str(err.value) == "moving a case to returned needs a reason"
    with pytest.raises(IllegalTransitionError) as err:
        check_transition("closed", "routed")
    assert err.value.code == "not_allowed" and err.value.params["allowed"] == ()
    assert "none (final state)" in str(err.value)
    with pytest.raises(IllegalTransitionError) as err:
        check_transition("nonsense", "routed")
    assert err.value.code == "unknown_state"
    with pytest.raises(IllegalTransitionError) as err:
        check_team_transition("available", "on_scene")
    assert err.value.code == "team_not_allowed" and err.value.params["target"] == "on_scene"


@pytest.mark.parametrize("status", STATUSES)
def test_case_steps_are_the_lifecycle_less_what_is_done_otherwise(status):
    steps = case_steps(status)
    assert set(steps) <= TRANSITIONS[status] - {"dispatched", "merged"}
    assert list(steps) == [s for s in next_states(status) if s in steps]  # lifecycle order
    if status == "dispatched":
        assert "routed" not in steps  # a team is recalled by its status
    assert set(TRANSITIONS[status]) - set(steps) <= {"dispatched", "merged", "routed"}


def test_step_action_needs_reroute_only_to_send_a_case_to_a_body():
    assert step_action("routed") == "reroute"
    assert {step_action(s) for s in STATUSES if s != "routed"} == {"change"}
    assert "returned" in NEEDS_REASON and "verified" not in NEEDS_REASON


def test_open_alerts_of_the_catalogues_highest_severity_need_acknowledgement():
    from geo.cases import (
        ACKNOWLEDGED_SEVERITIES,
        acknowledgement_since,
        needs_acknowledgement,
    )
    from geo.catalog import SEVERITIES

    assert ACKNOWLEDGED_SEVERITIES == {"high"} <= set(SEVERITIES)
    cases = pd.DataFrame({"status": ["routed", "closed", "merged", "handling", "routed",
                                     "dispatched", "returned"],
                          "severity": ["high", "high", "high", "medium", "low", "high",
                                       "high"]},
                         index=[10, 11, 12, 13, 14, 15, 16])
    # a team on its way or at work: someone has acted already
    assert needs_acknowledgement(cases).to_dict() == {10: True, 11: False, 12: False,
                                                      13: False, 14: False, 15: False,
                                                      16: True}
    assert needs_acknowledgement(frame()).tolist() == [True, False, False, False]
    assert acknowledgement_since(NOW) == dt.datetime(2026, 11, 26, 3, 0)  # a day back


def test_team_next_steps_follow_the_team_lifecycle():
    from geo.cases import TEAM_NEXT_STEP, TEAM_TRANSITIONS, team_next_step
    for before, after in TEAM_NEXT_STEP.items():
        assert after in TEAM_TRANSITIONS[before]
    assert [team_next_step(s) for s in ("dispatched", "en_route", "on_scene")] == [
        "en_route", "on_scene", "available"]
    assert team_next_step("available") is None and team_next_step("off_duty") is None


def test_rectification_deadline_defaults_to_the_days_of_integrated_rectification():
    import datetime as dt

    from geo.cases import RECTIFICATION_DAYS, rectification_deadline
    from geo.inspections import DEFAULT_FIX_DAYS
    at = dt.datetime(2026, 11, 1, 8, 30)
    assert RECTIFICATION_DAYS == DEFAULT_FIX_DAYS
    assert rectification_deadline(at) == at + dt.timedelta(days=DEFAULT_FIX_DAYS)
    assert rectification_deadline(at, 7) == dt.datetime(2026, 11, 8, 8, 30)
