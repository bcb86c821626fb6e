"""The one alert model (geo.alerts): every row is an alert within bounds or a reject that
names the row and the field; nothing thrown at it makes it fail as a whole."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.alertfiles import records_frame
from geo.alerts import EARLIEST, FUTURE_SLACK, MAX_LEN, Rules, SeenIds, check, excerpt

NOW = dt.datetime(2026, 11, 27, 2, 0)
RULES = Rules(crs="EPSG:4326", tz=ZoneInfo("Asia/Shanghai"), now=NOW, source="test",
              matters=frozenset({"M1"}))
GOOD = {"id": "A1", "lon": 120.1, "lat": 30.8, "matter": "M1",
        "reported_at": "2026-11-27T09:30:00+08:00", "severity": "high", "description": "x"}


def _one(rules=RULES, **change):
    record = {**GOOD, **change}
    return check(*records_frame([(2, record)]), rules)


@pytest.mark.parametrize(("value", "reason"), [
    ("9999-12-31T23:59:59", "in the future"),
    ("0001-01-01T00:00:00+14:00", "before 2000-01-01"),
    ("1900-01-01T08:00:00", "before 2000-01-01"),
    ("2099-01-01T00:00:00+08:00", "in the future"),
    ("2026-02-30T10:00:00", "not an ISO 8601 date-time"),
    ("yesterday", "not an ISO 8601 date-time"),
])
def test_times_out_of_bounds_are_rejected_naming_reported_at(value, reason):
    checked = _one(reported_at=value)
    assert checked.alerts.empty
    (reject,) = checked.rejects
    assert (reject.row, reject.field) == (2, "reported_at") and reason in reject.reason


def test_a_time_a_few_minutes_ahead_is_clock_drift_and_accepted():
    local = (NOW + FUTURE_SLACK - dt.timedelta(minutes=1)).replace(tzinfo=dt.UTC)
    checked = _one(reported_at=local.isoformat())
    assert len(checked.alerts) == 1 and not checked.rejects
    earlier = Rules(**{**RULES.__dict__, "earliest": dt.datetime(1990, 1, 1)})
    assert len(_one(earlier, reported_at="1995-05-01T10:00:00").alerts) == 1


@pytest.mark.parametrize(("change", "field"), [
    ({"lon": True}, "lon"), ({"lat": False}, "lat"), ({"lon": [120.1]}, "lon"),
    ({"lon": float("nan")}, "lon"), ({"lat": float("inf")}, "lat"), ({"lon": "abc"}, "lon"),
    ({"lon": 10**400}, "lon"), ({"lat": 120.1, "lon": 30.8}, "lat"),
    ({"id": "a b"}, "id"), ({"id": "\ud800"}, "id"), ({"id": {"x": 1}}, "id"),
    ({"description": "x" * 4001}, "description"), ({"description": "bell\x07"}, "description"),
    ({"description": "\udcff"}, "description"), ({"matter": "M" * 41}, "matter"),
    ({"severity": "whenever"}, "severity"), ({"credit_code": ["x"]}, "credit_code"),
])
def test_hostile_values_are_rejected_naming_the_field(change, field):
    checked = _one(**change)
    assert checked.alerts.empty and [r.field for r in checked.rejects] == [field]
    assert len(checked.rejects[0].value) < 100  # an excerpt, never the whole value


def test_the_same_rules_as_the_api_severity_in_any_case_and_text_with_line_breaks():
    checked = _one(severity="HIGH", description="第一行\n第二行\tend")
    assert checked.alerts["severity"].tolist() == ["high"]
    assert checked.alerts["description"].tolist() == ["第一行\n第二行\tend"]


def test_repeats_are_found_across_chunks_and_a_rejected_row_is_no_first():
    seen = SeenIds()
    first = check(*records_frame([(2, {**GOOD, "severity": "whenever"}), (3, GOOD)]), RULES,
                  seen)
    assert [r.row for r in first.rejects] == [2] and first.alerts["row"].tolist() == [3]
    later = check(*records_frame([(9, GOOD), (10, {**GOOD, "id": "A2"})]), RULES, seen)
    assert [(r.row, r.reason) for r in later.rejects] == [
        (9, "same source and id as row 3 of this file")]


def test_excerpt_is_short_and_always_encodable():
    text = excerpt("\ud800" + "x" * 10_000 + "\x00")
    assert text.startswith("\\ud800") and text.endswith("(10002 characters)")
    text.encode("utf-8")


def test_rejected_bytes_that_were_not_utf8_are_shown_as_the_bytes_sent():
    assert excerpt("A\udce93") == "A\\xe93"  # a byte kept by surrogateescape
    frame = pd.DataFrame({"id": ["A\udce93", "B"], "lon": ["120.1", "120.1"],
                          "lat": ["30.8", "30.8"]}, dtype=object)  # as files are read
    checked = check(frame, np.array([2, 3]), RULES, SeenIds())
    assert len(checked.alerts) == 1
    assert str(checked.rejects[0]).startswith("row 2, field id: not UTF-8 text")
    assert str(checked.rejects[0]).endswith("(value 'A\\xe93')")


_hostile = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0xDFFF),
            max_size=10),
    st.sampled_from(["9999-12-31T23:59:59", "0001-01-01T00:00:00+14:00", "1e400", "NaN",
                     "x" * 5000, "2026-11-27T09:30:00+08:00", "120.1", "30.8", "HIGH"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.fixed_dictionaries({}, optional={
    k: _hostile for k in ("id", "lon", "lat", "matter", "reported_at", "source", "severity",
                          "description", "credit_code")}), min_size=1, max_size=8))
def test_any_input_gives_alerts_within_bounds_or_rejects_naming_row_and_field(rows):
    records = [(n, {**GOOD, "id": f"G{n}", **row}) for n, row in enumerate(rows, start=2)]
    checked = check(*records_frame(records), RULES)
    assert len(checked.alerts) + len(checked.rejects) == len(rows) == checked.rows
    for r in checked.rejects:
        assert 2 <= r.row <= len(rows) + 1 and r.field and r.reason
        str(r).encode("utf-8")
    a = checked.alerts
    assert np.isfinite(a["lon"]).all() and (a["lon"].abs() <= 180).all()
    assert np.isfinite(a["lat"]).all() and (a["lat"].abs() <= 90).all()
    assert (a["reported_at"] >= pd.Timestamp(EARLIEST)).all()
    assert (a["reported_at"] <= pd.Timestamp(NOW + FUTURE_SLACK)).all()
    for name, limit in (("external_id", MAX_LEN["id"]), ("description", MAX_LEN["description"]),
                        ("matter_code", MAX_LEN["matter"])):
        for value in a[name].dropna():
            assert len(value) <= limit
            value.encode("utf-8")
    assert set(a["severity"]) <= {"low", "medium", "high"}
    # what downstream does with the times can no longer overflow
    for value in a["reported_at"]:
        (value.to_pydatetime() + dt.timedelta(days=3650)).isoformat()


def test_clock_changes_and_the_earliest_date_are_named_in_the_users_terms():
    berlin = Rules(**{**RULES.__dict__, "tz": ZoneInfo("Europe/Berlin"),
                      "now": dt.datetime(2026, 1, 1)})
    for value in ("2025-03-30T02:30:00", "2025-10-26T02:30:00"):
        (reject,) = _one(berlin, reported_at=value).rejects
        assert "no such local time in Europe/Berlin, or one that occurs twice" in reject.reason
    assert len(_one(berlin, reported_at="2025-03-30T02:30:00+01:00").alerts) == 1
    (reject,) = _one(reported_at="1999-12-31T20:00:00").rejects  # local Shanghai time
    assert reject.reason.startswith("before 2000-01-01, the earliest time accepted")


def test_many_unknown_matter_codes_are_warned_about_in_one_pass():
    import time

    n = 100_000
    frame = pd.DataFrame({"id": [f"U{i}" for i in range(n)], "lon": "120.1", "lat": "30.8",
                          "matter": [f"X{i}" for i in range(n)]}, dtype="str")
    start = time.perf_counter()
    checked = check(frame, np.arange(2, n + 2), RULES)
    assert time.perf_counter() - start < 20  # quadratic, it took minutes
    assert len(checked.alerts) == n and len(checked.warnings) == 22  # with reported_at
    assert checked.warnings[-1].startswith("rows 22, 23, 24, 25, 26 and 99975 more, field "
                                           "matter: other unknown matter codes")


def test_seen_ids_find_the_first_row_across_many_runs(monkeypatch):
    import pyarrow as pa

    monkeypatch.setattr(SeenIds, "RUN_CAP", 16)
    seen = SeenIds()
    rng = np.random.default_rng(4)
    first: dict[str, int] = {}
    row = 2
    for _ in range(60):
        ids = [f"K{v}" for v in rng.integers(0, 300, 7)]
        rows = np.arange(row, row + len(ids))
        keys = SeenIds.keys(pa.array(["s"] * len(ids)), pa.array(ids))
        got = seen.first_rows(keys, rows, np.ones(len(ids), dtype=bool))
        expected, fresh = [], {}
        for i, r in zip(ids, rows.tolist(), strict=True):
            expected.append(first.get(i, fresh.get(i, -1)))
            fresh.setdefault(i, r)
        assert got.tolist() == expected
        new = got < 0
        seen.add(keys[new], rows[new])
        first.update({i: r for i, r in fresh.items() if i not in first})
        row += len(ids)
    assert len(seen._keys) > 3 and all(len(k) <= 16 for k in seen._keys[:-1])


def test_seen_ids_past_two_to_the_31_lines():
    import pyarrow as pa

    seen = SeenIds()
    big = 2**31 + 1
    keys = SeenIds.keys(pa.array(["s", "s"]), pa.array(["A", "B"]))
    seen.add(keys[:1], np.array([3]))
    assert seen.first_rows(keys[:1], np.array([big]), np.array([True])).tolist() == [3]
    seen.add(keys[1:], np.array([big]))
    assert seen.first_rows(keys[1:], np.array([2**32 + 9]), np.array([True])).tolist() == [big]
