"""The reform's figures through the store and the command line: the staff roster loaded by
init, the figures' inputs as each role may read them, and the two reports (both backends)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from geo import store
from geo.access import SYSTEM, AccessDeniedError, Scope
from geo.app.reform_report import html_table, report_html
from geo.cli import main
from geo.store.figures import figure_inputs, replace_staff, staff_roster
from tests.conftest import CODE_A, CODE_B, SIDE, X0, Y0, to_wgs

STAFF = ("body_code,count,effective_from,effective_to,name\n"
         "DT-SC,20,2023-01-01,2024-01-01,\n"
         "DT-SC,12,2024-01-01,,\n"
         "TC-A,,2024-01-01,,张三\n"
         "TC-A,7,2024-01-01,,\n")


@pytest.fixture
def db(store_settings, small_dirs, tmp_path):
    """The small district with a staff roster and cases of 2024 and 2025 in both
    townships (12345 in A, patrol in B)."""
    layers_dir, catalog_dir = small_dirs
    (catalog_dir / "staff.csv").write_text(STAFF, encoding="utf-8")
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                store_settings) == 0
    lon, lat = to_wgs([X0 + 500, X0 + SIDE + 500], [Y0 + 500] * 2)
    rows = ["id,lon,lat,matter,reported_at,source,severity"]
    for k, (year, n) in enumerate(((2024, 2), (2025, 5))):
        for i in range(n):
            rows.append(f"A{k}{i},{lon[0]},{lat[0]},M1,{year}-03-0{i + 1}T10:00:00,12345,low")
            rows.append(f"B{k}{i},{lon[1]},{lat[1]},M1,{year}-04-0{i + 1}T10:00:00,patrol,low")
    (tmp_path / "a.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["ingest", str(tmp_path / "a.csv")], store_settings) == 0
    return store.connect(store_settings.database_url), store_settings


def test_init_loads_the_staff_roster_and_the_store_gives_it_back(db):
    engine, _ = db
    roster = staff_roster(engine, scope=Scope("planner"))
    assert roster["count"].tolist() == [20, 12, 1, 7]     # a person row counts one
    assert roster["effective_to"].iloc[0] == dt.date(2024, 1, 1)
    assert roster["effective_to"].iloc[1] is None
    assert "name" not in roster.columns                   # people's names are not kept
    with pytest.raises(AccessDeniedError):
        replace_staff(engine, roster, scope=Scope("planner"))
    replace_staff(engine, roster.iloc[:1], scope=SYSTEM)
    assert len(staff_roster(engine, scope=SYSTEM)) == 1


def test_a_wrong_staff_roster_is_refused_naming_row_and_field(store_settings, small_dirs,
                                                              capsys):
    layers_dir, catalog_dir = small_dirs
    (catalog_dir / "staff.csv").write_text(STAFF.replace("TC-A,7", "TC-X,7"),
                                           encoding="utf-8")
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                store_settings) == 1
    err = capsys.readouterr().err
    assert "staff.csv, row 5, field body_code: 'TC-X' is not a body" in err
    assert "the staff roster was not" in err


def test_the_figures_inputs_follow_the_callers_scope(db):
    engine, _ = db
    every = figure_inputs(engine, scope=Scope("planner"))
    assert set(every.cases["township_code"]) == {CODE_A, CODE_B} and len(every.cases) == 14
    mine = figure_inputs(engine, scope=Scope("township", township=CODE_A))
    assert set(mine.cases["township_code"]) == {CODE_A}
    assert set(mine.events["case_id"]) <= set(mine.cases["id"])
    with pytest.raises(AccessDeniedError):
        figure_inputs(engine, scope=Scope("dispatcher", body="DT-SC"))
    with pytest.raises(AccessDeniedError):
        figure_inputs(engine, scope=Scope("source", source="12345"))


def test_the_reports_from_the_command_line(db, tmp_path, capsys):
    _, settings = db
    out = tmp_path / "reform.xlsx"
    assert main(["report", "reform", "--year", "2025", "--out", str(out)], settings) == 0
    assert "Whole district 2025: 10 new cases" in capsys.readouterr().out
    sheets = pd.read_excel(out, sheet_name=None)
    figures = sheets["逐年成效-全区"].set_index("年度")
    assert figures.loc[2025, "新增案件"] == 10 and figures.loc[2024, "新增案件"] == 4
    assert figures.loc[2025, "同比"] == pytest.approx(1.5)
    assert figures.loc[2025, "执法人员（年末）"] == 20      # 12 + 1 + 7
    assert figures.loc[2025, "镇街人员占比"] == pytest.approx(0.4)
    sources = sheets["案件来源（按来源、年度）"].set_index("来源")
    assert sources.loc["12345热线", "2025"] == 5
    html = tmp_path / "a.html"
    assert main(["report", "reform", "--year", "2025", "--township", CODE_A, "--out",
                 str(html), "--lang", "en"], settings) == 0
    text = html.read_text(encoding="utf-8")
    assert "<script" not in text and "Enforcement reform results" in text and "甲镇" in text
    paper = tmp_path / "eval.html"
    assert main(["report", "evaluation", "--year", "2025", "--out", str(paper)], settings) == 0
    assert "delegated matter(s) in 2025" in capsys.readouterr().out
    assert "赋权事项年度评估报告" in paper.read_text(encoding="utf-8")
    xlsx = tmp_path / "eval.xlsx"
    assert main(["report", "evaluation", "--year", "2025", "--out", str(xlsx),
                 "--township", CODE_A], settings) == 0
    table = pd.read_excel(xlsx)
    assert set(table["镇街"]) == {"甲镇"} and table["建议"].notna().all()


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["report", "reform", "--year", "2025", "--out", "x.pdf"], 2, "give a .xlsx or .html"),
    (["report", "reform", "--year", "25", "--out", "x.xlsx"], 2, "--year 25: not a year"),
    (["report", "reform", "--year", "2025", "--out", "x.xlsx", "--township", "999"], 1,
     "--township 999: no such township"),
    (["report", "evaluation", "--year", "2025", "--out", "x.xlsx", "--take-back", "0.1"],
     2, "often_returned must not exceed"),
    (["report", "evaluation", "--year", "2025", "--out", "x.xlsx", "--slow-ratio", "-1"], 2,
     "slow_ratio"),
])
def test_report_usage_errors_say_what_is_wrong(db, tmp_path, monkeypatch, capsys, argv, code,
                                               message):
    _, settings = db
    monkeypatch.chdir(tmp_path)
    assert main(argv, settings) == code
    assert message in capsys.readouterr().err


def test_the_print_report_escapes_what_came_from_outside():
    frame = pd.DataFrame({"镇街": ["<img src=x onerror=alert(1)>"], "同比": [1.58],
                          "n": [3]})
    html = report_html("<b>t</b>", [("<i>h</i>", html_table(frame, changes=("同比",)))],
                       lang="zh", subtitle="&", printed_at=dt.datetime(2026, 1, 1),
                       tz=ZoneInfo("Asia/Shanghai"))
    assert "<img" not in html and "&lt;img" in html and "<b>t" not in html
    assert "+158 %" in html and "default-src 'none'" in html and "<script" not in html
