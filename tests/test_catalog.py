import datetime as dt

import pytest

from geo.catalog import CatalogError, load_catalog
from tests.conftest import write_small_catalog


def test_small_catalog(tmp_path):
    cat = load_catalog(write_small_catalog(tmp_path))
    assert cat.command_center == "CC"
    assert cat.township_bodies() == {"330599001000": "TC-A", "330599002000": "TC-B"}
    assert cat.deadline("M1", "high") == dt.timedelta(days=3)
    assert cat.deadline("M1", "extreme") is None
    assert cat.empowerment["effective_from"].iloc[0] == dt.date(2024, 1, 1)


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    ("empowerment.csv", "2024-01-01,\n", "2024-13-01,\n",
     r"empowerment.csv, row 2, field effective_from: '2024-13-01' is not an ISO date"),
    ("empowerment.csv", "330599001000,M1", "330599001000,M9",
     r"empowerment.csv, row 2, field matter_code: unknown matter 'M9'"),
    ("matters.csv", "M2,违法建设,住房城乡建设,DT-ZH", "M2,违法建设,住房城乡建设,DT-XX",
     r"matters.csv, row 3, field district_body: 'DT-XX' is not a district team"),
    ("matters.csv", "DT-SC,15,7,3", "DT-SC,15,seven,3",
     r"matters.csv, row 2, field deadline_days_medium: 'seven' is not a positive number"),
    ("bodies.csv", "CC,指挥中心,command_center", "CC,指挥中心,headquarters",
     r"bodies.csv, row 2, field kind: 'headquarters' is not one of"),
    ("empowerment.csv", "2024-01-01,2025-01-01", "2024-01-01,2023-01-01",
     r"empowerment.csv, row 3, field effective_to: must be after effective_from"),
])
def test_errors_name_file_row_and_field(tmp_path, file, old, new, message):
    folder = write_small_catalog(tmp_path)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CatalogError, match=message):
        load_catalog(folder)


def test_missing_file_and_column(tmp_path):
    folder = write_small_catalog(tmp_path)
    (folder / "bodies.csv").write_text("code,name\nCC,x\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="missing column"):
        load_catalog(folder)
    (folder / "bodies.csv").unlink()
    with pytest.raises(CatalogError, match=r"bodies\.csv: file not found"):
        load_catalog(folder)


def test_inspection_intervals_are_read_over_the_defaults(tmp_path):
    folder = write_small_catalog(tmp_path)
    assert load_catalog(folder).inspection_intervals == {"high": 30, "medium": 90, "low": 365}
    (folder / "inspection_intervals.csv").write_text("risk,days\nhigh,7\nlow,180\n",
                                                     encoding="utf-8")
    assert load_catalog(folder).inspection_intervals == {"high": 7, "medium": 90, "low": 180}
    for text, message in (("risk,days\nhigh,0\n", r"row 2, field days: '0' is not a positive"),
                          ("risk,days\nlow,1\nextreme,1\n", r"row 3, field risk: 'extreme'"),
                          ("risk,days\nlow,1\nlow,2\n", r"row 3, field risk: duplicate"),
                          ("risk\nlow\n", r"inspection_intervals.csv: missing column\(s\) days")):
        (folder / "inspection_intervals.csv").write_text(text, encoding="utf-8")
        with pytest.raises(CatalogError, match=message):
            load_catalog(folder)


def test_demo_catalog_shape(demo_catalog):
    m, b, e = demo_catalog.matters, demo_catalog.bodies, demo_catalog.empowerment
    assert len(m) >= 40 and m["domain"].nunique() >= 12
    assert (b["kind"] == "township_center").sum() == 19
    assert set(b.loc[b["kind"] == "district_team", "name"].str.slice(1, 5)) >= {
        "综合行政", "市场监管", "生态环境", "交通运输", "农业农村", "文化市场", "应急管理"}
    held = e.groupby("township_code")["matter_code"].nunique()
    assert held["330502100000"] == len(m)  # 织里镇: 区镇同权
    streets = [c for c in held.index if c[6] == "0"]
    towns = [c for c in held.index if c[6] != "0" and c != "330502100000"]
    assert held[streets].mean() < held[towns].mean()
    # the demo's data/inspection_intervals.csv gives the usual intervals
    assert demo_catalog.inspection_intervals == {"high": 30, "medium": 90, "low": 365}
