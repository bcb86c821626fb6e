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


def test_sign_ins_sent_together_get_no_more_tries_than_one_by_one(monkeypatch):
    """Many sessions sending the form at once must not each pass the lock check before any
    of them has failed: the password is checked at most ``free`` times."""
    import threading
    import time

    from geo.app import auth
    from geo.store import accounts

    monkeypatch.setattr(auth, "THROTTLE", SignInThrottle(free=3, lock_s=30))
    checked = []

    def slow_wrong(engine, username, password):
        checked.append(password)
        time.sleep(0.2)  # bcrypt takes a while; meanwhile other sessions send theirs
        return None

    monkeypatch.setattr(accounts, "sign_in_with_password", slow_wrong)
    threads = [threading.Thread(target=auth.check_sign_in, args=(None, "zhili", f"guess{i}"))
               for i in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(checked) <= 3
    assert auth.check_sign_in(None, " Zhili", "guess")[1] > 0  # and it is locked now


def test_attempt_counts_until_success_forgets(clock):
    t = SignInThrottle(free=2, lock_s=10, clock=lambda: clock[0])
    assert t.attempt("a") == 0.0 and t.attempt("a") == 0.0
    assert t.attempt("a") == 10.0  # two attempts in flight or failed: locked
    t.succeeded("a")
    assert t.attempt("a") == 0.0
