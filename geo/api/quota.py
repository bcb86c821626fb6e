"""Per-source rate limits of the intake API: token buckets counting alerts.

A source registered with ``--rate-limit 20/second`` may post 20 alerts a second on average,
and at once as many as its bucket holds: the limit's amount, but never less than the
largest batch the API accepts (`geo.api.schemas.MAX_BATCH`), so that an advertised batch
is never refused for its size alone. The `limits` library offers fixed and moving windows
only, where a batch larger than the window's amount can never pass.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from limits import RateLimitItem
from limits import parse as parse_rate_limit


@functools.lru_cache(maxsize=256)
def rate_limit(text: str) -> RateLimitItem:
    """A rate limit such as ``20/second`` or ``1000 per minute`` (`limits` syntax)."""
    return parse_rate_limit(text)


@dataclass
class TokenBuckets:
    """One token bucket per (key, limit): ``amount / period`` tokens a second flow in, up
    to a capacity of ``max(amount, burst)``; a request takes one token per alert.

    Parameters
    ----------
    burst
        The least capacity of a bucket (the largest batch that must be able to pass).
    clock
        Seconds, monotonic; tests pass their own.
    """

    burst: int = 1
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def capacity(self, limit: str) -> float:
        """How many alerts a full bucket of ``limit`` holds."""
        return float(max(rate_limit(limit).amount, self.burst))

    def take(self, key: str, limit: str, cost: int) -> float:
        """Take ``cost`` tokens from the bucket of ``key`` under ``limit``.

        Returns
        -------
        float
            0.0 when they were taken; otherwise nothing is taken, and this is how many
            seconds until the bucket holds them (infinite if it never can).
        """
        item = rate_limit(limit)
        rate = item.amount / item.get_expiry()
        capacity = self.capacity(limit)
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get((key, limit), (capacity, now))
            tokens = min(capacity, tokens + max(0.0, now - then) * rate)
            if cost <= tokens:
                self._buckets[(key, limit)] = (tokens - cost, now)
                return 0.0
            self._buckets[(key, limit)] = (tokens, now)
        return float("inf") if cost > capacity else (cost - tokens) / rate
