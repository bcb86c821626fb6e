"""The district's calendar day of an instant: the one place UTC becomes a local day.

The store keeps times as naive UTC; deadlines, "new today", the empowerment rule's incident
date and every "today" are calendar days in the district's time zone (``Settings.timezone``).
Naive values given here are UTC; aware ones are converted from their own offset.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd


def local_day(when: dt.datetime, tz: ZoneInfo) -> dt.date:
    """The calendar day in ``tz`` of one instant (naive: UTC)."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    return aware.astimezone(tz).date()


def local_days(when, tz: ZoneInfo) -> np.ndarray:
    """The calendar days in ``tz`` (datetime64[D], NaT kept) of a column of instants: naive
    UTC, or tz-aware (a pandas Series, Index or datetime64 array)."""
    stamps = pd.Series(pd.to_datetime(when))
    if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_localize("UTC")
    return stamps.dt.tz_convert(tz).dt.tz_localize(None).to_numpy().astype("datetime64[D]")


def local_today(tz: ZoneInfo) -> dt.date:
    """Today in ``tz``."""
    return local_day(dt.datetime.now(dt.UTC), tz)
