"""The district's calendar day of an instant (`geo.days`)."""

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo.days import local_day, local_days, local_today

SHANGHAI, BERLIN = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")


def test_one_instant_naive_is_utc_aware_is_its_own_offset():
    # 15:59 UTC is 23:59 in Shanghai; 16:00 UTC is already the next day there
    assert local_day(dt.datetime(2026, 11, 30, 15, 59), SHANGHAI) == dt.date(2026, 11, 30)
    assert local_day(dt.datetime(2026, 11, 30, 16, 0), SHANGHAI) == dt.date(2026, 12, 1)
    aware = dt.datetime(2026, 12, 1, 0, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # 23:30 Shanghai
    assert local_day(aware, SHANGHAI) == dt.date(2026, 11, 30)
    assert local_day(pd.Timestamp("2026-11-30 16:00"), SHANGHAI) == dt.date(2026, 12, 1)
    # summer time: 22:30 UTC is 00:30 in Berlin in July, 23:30 in January
    assert local_day(dt.datetime(2026, 7, 1, 22, 30), BERLIN) == dt.date(2026, 7, 2)
    assert local_day(dt.datetime(2026, 1, 1, 22, 30), BERLIN) == dt.date(2026, 1, 1)


def test_a_column_gives_the_same_days_and_keeps_missing_ones():
    naive = pd.Series(pd.to_datetime(["2026-11-30 15:59", "2026-11-30 16:00", None]))
    days = local_days(naive, SHANGHAI)
    assert days.dtype == np.dtype("datetime64[D]")
    assert days[:2].tolist() == [dt.date(2026, 11, 30), dt.date(2026, 12, 1)]
    assert np.isnat(days[2])
    aware = naive.dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo")
    np.testing.assert_array_equal(local_days(aware, SHANGHAI), days)
    np.testing.assert_array_equal(local_days(naive.to_numpy(), SHANGHAI), days)
    assert [local_day(t, SHANGHAI) for t in naive[:2]] == days[:2].tolist()


def test_today_is_the_local_day_of_now():
    before = dt.datetime.now(SHANGHAI).date()
    got = local_today(SHANGHAI)
    assert got in {before, dt.datetime.now(SHANGHAI).date()}
