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


def test_overdue_and_open_by_township():
    f = frame()
    assert overdue(f, NOW).tolist() == [True, False, False, False]
    assert open_by_township(f) == {"A": 1, "B": 1}
