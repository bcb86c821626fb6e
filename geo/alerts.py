"""The one definition of a valid alert: bounds shared by every door.

Every door that alerts come through (``geo ingest``, ``geo route``, the intake API, Open311,
the demo feed) and ``teams position`` check their values against the bounds here, so that a
value accepted at one door is accepted at every other, and no accepted value can make date
arithmetic or encoding fail further down. Times are naive UTC once accepted.
"""

from __future__ import annotations

import datetime as dt
import re

#: longest text per field, in characters, at every door
MAX_LEN = {"id": 100, "source": 40, "matter": 40, "severity": 10, "description": 4000,
           "credit_code": 18, "team_id": 100}
#: the earliest incident time accepted by default (``GEO_EARLIEST_ALERT``)
EARLIEST = dt.datetime(2000, 1, 1)
#: how far past the time of receipt a reported time may lie (clocks drift)
FUTURE_SLACK = dt.timedelta(minutes=10)
#: time filters in queries (``since``, ``start_date`` …) must fall in this range (UTC)
QUERY_MIN, QUERY_MAX = dt.datetime(1970, 1, 1), dt.datetime(2200, 1, 1)
#: characters of a rejected value echoed back in a message
EXCERPT = 60

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def excerpt(value: object, limit: int = EXCERPT) -> str:
    """A short, printable, always-encodable excerpt of a rejected value for messages.

    Lone surrogates and control characters are shown escaped; text beyond ``limit``
    characters is cut with an ellipsis and the full length.
    """
    text = value if isinstance(value, str) else repr(value)
    size = len(text)
    text = text[:limit]
    text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text if size <= limit else f"{text}… ({size} characters)"


def text_problem(value: str, field: str) -> str | None:
    """Why a text value is refused (lone surrogates, control characters, too long), or None."""
    if _SURROGATE.search(value):
        return "not valid Unicode text (lone surrogate)"
    limit = MAX_LEN.get(field)
    if limit is not None and len(value) > limit:
        return f"longer than {limit} characters"
    if _CONTROL.search(value):
        return "contains control characters"
    return None


def query_time(value: dt.datetime) -> dt.datetime:
    """A time filter of a query as naive UTC; ValueError outside `QUERY_MIN`..`QUERY_MAX`.

    A naive value is taken as UTC.
    """
    try:
        utc = value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:
        utc = None
    if utc is None or not QUERY_MIN <= utc < QUERY_MAX:
        raise ValueError(f"must lie between {QUERY_MIN:%Y-%m-%d} and {QUERY_MAX:%Y-%m-%d} (UTC)")
    return utc
