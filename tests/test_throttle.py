"""Failed sign-ins per username: free tries, then locks that double, forgotten in time."""

import pytest

from geo.throttle import SignInThrottle


@pytest.fixture
def clock():
    now = [1000.0]
    return now


def test_locks_after_the_free_failures_and_doubles(clock):
    t = SignInThrottle(free=3, lock_s=10, max_lock_s=35, forget_s=600, clock=lambda: clock[0])
    assert [t.failed("zhili") for _ in range(2)] == [0.0, 0.0]
    assert t.locked_for("zhili") == 0.0
    assert t.failed("zhili") == 10.0  # the third failure locks for 10 s
    assert t.locked_for(" ZHILI ") == 10.0  # as typed: case and blanks do not matter
    assert t.locked_for("yuehe") == 0.0  # other usernames are not affected
    clock[0] += 4
    assert t.locked_for("zhili") == 6.0
    clock[0] += 6
    assert t.locked_for("zhili") == 0.0
    assert t.failed("zhili") == 20.0  # each further failure doubles the lock
    clock[0] += 20
    assert t.failed("zhili") == 35.0  # up to the most
    t.succeeded("zhili")  # a success forgets
    assert t.locked_for("zhili") == 0.0 and t.failed("zhili") == 0.0


def test_failures_are_forgotten_after_a_quiet_while_and_names_are_bounded(clock):
    t = SignInThrottle(free=2, lock_s=10, forget_s=60, clock=lambda: clock[0], max_names=3)
    t.failed("a")
    clock[0] += 61
    assert t.failed("a") == 0.0  # the first failure was forgotten
    assert t.failed("a") == 10.0
    clock[0] += 61
    assert t.locked_for("a") == 0.0
    for name in ("b", "c", "d", "e"):
        t.failed(name)
    assert len(t._failures) == 3
