"""The printable assignment sheet (交办单): the case's fields in the user's language, every
outside text escaped, no script, A4 print styles; and no Streamlit in its module."""

import datetime as dt
import html
import re
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.app.sheet import SheetNames, assignment_sheet

TZ = ZoneInfo("Asia/Shanghai")
CASE = {"id": 42, "external_id": "HL-2026-0042", "source": "12345",
        "opened_at": dt.datetime(2026, 11, 30, 23, 5), "deadline_at": dt.datetime(2026, 12, 3, 2),
        "severity": "high", "status": "dispatched", "matter_code": "M1",
        "matter_name": "无证无照经营", "township_code": "330502100000", "township_name": "织里镇",
        "unit_code": "330502100000014", "site_id": "S002132", "lon": 120.2612345,
        "lat": 30.8456789, "reasons": ["点位在织里镇内", "事项已赋权织里镇"],
        "body_code": "TC-330502100000",
        "description": "门口<script>alert('x')</script>占道经营\n第二行 & 更多"}
EVIDENCE = [{"name": "现场<img src=x onerror=alert(1)>.jpg", "content_type": "image/jpeg",
             "size": 2_500_000, "sha256": "ab" * 32, "uploaded_by": "dispatcher-zl",
             "uploaded_at": dt.datetime(2026, 12, 1, 1, 0)}]
NAMES = SheetNames(body="织里镇综合行政执法中心", unit="姚家田单元", site="某童装厂",
                   teams=["织里镇执法中队1（TC-1）"])
PRINTED = dt.datetime(2026, 12, 1, 2, 30)


def sheet(case=CASE, evidence=EVIDENCE, names=NAMES, lang="zh"):
    return assignment_sheet(case, evidence, names, tz=TZ, lang=lang, printed_at=PRINTED)


def test_the_sheet_holds_the_cases_fields_in_local_time():
    page = sheet()
    for expected in ("案件交办单", "#42", "12345热线 · HL-2026-0042", "2026-12-01 07:05",
                     "无证无照经营（M1）", "织里镇（330502100000）",
                     "姚家田单元（330502100000014）",
                     "某童装厂（S002132）", "120.261235, 30.845679", "<li>点位在织里镇内</li>",
                     "织里镇综合行政执法中心（TC-330502100000）", "织里镇执法中队1（TC-1）",
                     "2026-12-03 10:00", "严重", "已派遣", "JB-20261201-42",
                     "打印时间：2026-12-01 10:30", "2.4 MB", "dispatcher-zl",
                     "SHA-256 " + "ab" * 32, "交办人（签字）", "签收人（签字）"):
        assert expected in page, expected
    assert "@page { size: A4" in page and "@media print" in page


def test_outside_text_is_escaped_and_the_page_runs_nothing():
    page = sheet()
    assert "<script" not in page and "<img" not in page
    assert "现场&lt;img src=x onerror=alert(1)&gt;.jpg" in page
    assert ("门口&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;占道经营\n第二行 &amp; 更多"
            in page)
    assert "default-src 'none'" in page  # and would load nothing if it tried


TAGS = {"main", "h1", "h2", "div", "span", "table", "tr", "th", "td", "ol", "li", "p", "br",
        "body", "html", "colgroup", "col"}


@given(st.text(max_size=200), st.text(max_size=60), st.lists(st.text(max_size=30), max_size=3))
def test_no_description_name_or_reason_makes_markup(description, name, reasons):
    page = sheet({**CASE, "description": description, "reasons": reasons},
                 [{**EVIDENCE[0], "name": name}], SheetNames(teams=[name]))
    body = page.split("<main>", 1)[1]
    assert set(re.findall(r"</?([a-zA-Z][a-zA-Z0-9]*)", body)) <= TAGS
    assert description in html.unescape(body)


def test_without_team_evidence_or_place_it_says_so_in_english():
    bare = {**CASE, "unit_code": None, "site_id": None, "deadline_at": None, "reasons": []}
    page = sheet(bare, [], SheetNames(), lang="en")
    assert "Case assignment sheet" in page and "Not dispatched yet" in page
    assert "No evidence yet." in page and "Deadline</th><td>-</td>" in page


def test_the_sheet_module_does_not_import_streamlit():
    code = "import sys, geo.app.sheet; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_label_of_the_sheet_is_in_the_catalogue(lang):
    page = sheet(lang=lang)
    assert not re.findall(r"\b(?:sheet|ev|source|severity|status)_[a-z_]+", page)


def test_a_source_without_a_label_is_shown_by_its_code():
    page = sheet({**CASE, "source": "hotline_x"})
    assert "hotline_x · HL-2026-0042" in page and "source_hotline_x" not in page
    assert "12345 hotline · HL-2026-0042" in sheet(lang="en")
