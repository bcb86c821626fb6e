"""Throttling of failed sign-ins, per username: pure, in memory, thread-safe.

After `SignInThrottle.free` failures of one username with no more than ``forget_s`` seconds
between them, each further failure locks that username for ``lock_s`` seconds, doubled with
every failure beyond (at most ``max_lock_s``). A username is compared as typed, folded to
lower case and stripped, so that ``Admin`` and ``admin `` share their count. A successful
sign-in forgets the failures. Unknown usernames are counted as well, so that the answer
tells nothing of which usernames exist.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class SignInThrottle:
    """Failed sign-ins per username, and how long each is locked.

    Parameters
    ----------
    free
        Failures allowed before the first lock.
    lock_s
        Seconds of the first lock; each further failure doubles it.
    max_lock_s
        The longest lock.
    forget_s
        Seconds after the last failure when a username's failures are forgotten.
    clock
        Seconds, monotonic (tests pass their own).
    max_names
        Usernames remembered at most (a flood of made-up names forgets the oldest first).
    """

    free: int = 5
    lock_s: float = 30.0
    max_lock_s: float = 900.0
    forget_s: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    max_names: int = 10_000
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _key(username: str) -> str:
        return username.strip().lower()

    def locked_for(self, username: str) -> float:
        """Seconds until ``username`` may try again (0: now)."""
        with self._lock:
            count, last = self._failures.get(self._key(username), (0, -math.inf))
            now = self.clock()
        if count < self.free or now - last >= self.forget_s:
            return 0.0
        lock = min(self.lock_s * 2 ** (count - self.free), self.max_lock_s)
        return max(0.0, last + lock - now)

    def failed(self, username: str) -> float:
        """Count a failed sign-in of ``username``; returns the seconds it is now locked."""
        key = self._key(username)
        with self._lock:
            now = self.clock()
            count, last = self._failures.pop(key, (0, -math.inf))
            if now - last >= self.forget_s:
                count = 0
            if len(self._failures) >= self.max_names:
                del self._failures[next(iter(self._failures))]
            self._failures[key] = (count + 1, now)
        return self.locked_for(username)

    def attempt(self, username: str) -> float:
        """Begin a sign-in of ``username``: the seconds it is locked (0: go ahead), checked
        and counted at once. An attempt let through counts as a failure until `succeeded`
        forgets it, so that sign-ins sent together (from many sessions) get no more tries
        than sign-ins sent one after the other."""
        key = self._key(username)
        with self._lock:
            now = self.clock()
            count, last = self._failures.get(key, (0, -math.inf))
            if now - last >= self.forget_s:
                count = 0
            if count >= self.free:
                lock = min(self.lock_s * 2 ** (count - self.free), self.max_lock_s)
                if now < last + lock:
                    return last + lock - now
            self._failures.pop(key, None)
            if len(self._failures) >= self.max_names:
                del self._failures[next(iter(self._failures))]
            self._failures[key] = (count + 1, now)
        return 0.0

    def succeeded(self, username: str) -> None:
        """Forget the failures of ``username``."""
        with self._lock:
            self._failures.pop(self._key(username), None)
