"""What a walk-through of the app as each role found: no English spinners, no ``None`` in
tables, names instead of codes and login names, a metric scale, no deprecated Streamlit
calls, a compact sidebar and legend, exports as the screen shows them."""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd

from geo.app.labels import cells, text
from geo.settings import PROJECT_ROOT
from tests import test_app
from tests.test_app import _coverage_page, signed_in

# the demo databases of the page tests, as fixtures of this module too
demo_db, history_db = test_app.demo_db, test_app.history_db

APP_DIR = PROJECT_ROOT / "geo" / "app"


def _cache_decorators():
    """(file name, function name, whether it passes show_spinner=False) of every
    ``st.cache_resource`` / ``st.cache_data`` in geo/app and streamlit_app.py."""
    files = [*sorted(APP_DIR.glob("*.py")), PROJECT_ROOT / "streamlit_app.py"]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for deco in node.decorator_list:
                call = deco if isinstance(deco, ast.Call) else None
                target = call.func if call else deco
                if not (isinstance(target, ast.Attribute)
                        and target.attr in ("cache_resource", "cache_data")):
                    continue
                quiet = call is not None and any(
                    k.arg == "show_spinner" and isinstance(k.value, ast.Constant)
                    and k.value.value is False for k in call.keywords)
                yield path.name, node.name, quiet


def test_no_cache_shows_streamlits_english_spinner():
    """Streamlit's own spinner says "Running `_gaps(...)`." in English: every cached
    function of the app hides it (the pages show their own, in the user's language)."""
    found = list(_cache_decorators())
    assert len(found) > 10  # the walk sees the decorators
    loud = {(f, n) for f, n, quiet in found if not quiet}
    assert loud == set(), f"cache decorators without show_spinner=False: {loud}"


def test_missing_cells_show_a_dash_and_the_other_columns_keep_their_type():
    frame = pd.DataFrame({"n": [1, 2], "days": [1.5, np.nan], "name": ["甲", None],
                          "at": pd.to_datetime(["2024-01-01", None]),
                          "na": pd.array([1, pd.NA], dtype="Int64")})
    shown = cells(frame)
    assert shown["n"].dtype == frame["n"].dtype  # nothing missing: untouched
    assert list(shown["days"]) == ["1.5", "-"]
    assert list(shown["name"]) == ["甲", "-"]
    assert shown["at"].iloc[1] == "-" and shown["na"].iloc[1] == "-"
    assert cells(frame[["n"]]) is not None and text(pd.NA) == text(pd.NaT) == "-"


def _no_missing(frame: pd.DataFrame) -> None:
    assert not frame.isna().any().any(), frame[frame.isna().any(axis=1)]
    for column in frame.columns:
        shown = frame[column].astype(str)
        assert not shown.isin(["None", "nan", "NaN", "NaT", "<NA>"]).any(), column


def test_the_evaluation_shows_a_dash_where_no_case_was_closed(history_db):
    """办结天数中位数 of a delegated matter never used: ``-``, not ``None``."""
    at = signed_in(_coverage_page, timeout=120).run()
    for section in ["coverage_by", "overdue_sites", "hot_spots", "evaluation"]:
        at.radio(key="c_section").set_value(section).run()
        assert not at.exception
        for table in at.dataframe:
            _no_missing(table.value)
    evaluation = at.dataframe[-1].value
    assert (evaluation["办结天数中位数"] == "-").any()


def test_the_sidebar_names_the_users_township_and_body(demo_db):
    """Township staff read their township's name, a dispatcher their body's: no code."""
    from tests.test_app import APP

    at = signed_in(APP, "yuehe").run()
    said = " ".join(c.value for c in at.sidebar.caption)
    assert "镇街执法中心 月河街道" in said and "330502001000" not in said, said
    at = signed_in(APP, "dispatcher-sc").run()
    said = " ".join(c.value for c in at.sidebar.caption)
    assert "区市场监管执法队" in said and "DT\\-SC" not in said, said


def test_the_app_calls_no_deprecated_streamlit_api():
    """``st.components.v1`` and ``use_container_width`` (Streamlit's: streamlit-folium's
    own parameter of that name is not deprecated) flooded the server log."""
    for path in [*APP_DIR.glob("*.py"), PROJECT_ROOT / "streamlit_app.py"]:
        source = path.read_text(encoding="utf-8")
        assert "components.v1" not in source, path.name
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and any(k.arg == "use_container_width"
                                                  for k in node.keywords):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                assert name == "st_folium", f"{path.name}:{node.lineno} {name}"


def _teams_page():
    from geo.app import teams_page
    teams_page.render()


def test_pages_log_no_deprecation_warning(demo_db):
    """Signed in through the form (the cookie's script) and on the pages with buttons,
    popovers and tables: not one deprecation warning in the log."""
    import logging

    from tests.test_app import APP, AppTest, _dispatch_page, _sign_in_form

    said: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            said.append(record.getMessage())

    log = logging.getLogger("streamlit.deprecation_util")
    keep = Keep(logging.WARNING)
    log.addHandler(keep)
    try:
        at = _sign_in_form(AppTest.from_file(APP, default_timeout=120).run(), "command",
                           "command-demo")
        assert at.session_state["onemap_cookie_job"][0] == "set"
        at.run()
        assert not at.exception
        for render in (_dispatch_page, _teams_page):  # step buttons, popovers, tables
            at = signed_in(render, "command").run()
            assert not at.exception
    finally:
        log.removeHandler(keep)
    assert not [s for s in said if "deprecat" in s.lower()], said


def test_exports_hold_the_tables_as_shown(history_db, monkeypatch):
    """The CSV and Excel files of 覆盖 have the screen's headers (in the user's language),
    names next to codes, 是/否 and percentages: not raw columns, codes and True/False."""
    from geo.app import coverage_page

    made: list[pd.DataFrame] = []
    exported = coverage_page.exported

    def keep(frame, lang, percent=()):
        out = exported(frame, lang, percent)
        made.append(out)
        return out

    monkeypatch.setattr(coverage_page, "exported", keep)
    at = signed_in(_coverage_page, timeout=120).run()
    for section in ["coverage_by", "overdue_sites", "reach", "hot_spots", "evaluation"]:
        at.radio(key="c_section").set_value(section).run()
        assert not at.exception
    assert len(made) >= 4
    for frame in made:
        assert not {c for c in frame.columns if c.isascii()}, frame.columns  # Chinese headers
        _no_missing(frame)
        for column in frame.columns:
            assert not frame[column].astype(str).isin(["True", "False"]).any(), column
    coverage = next(f for f in made if "按期率" in f.columns)
    assert coverage["按期率"].str.fullmatch(r"\d+(\.\d)?%").all()
    evaluation = next(f for f in made if "从未使用" in f.columns)
    assert set(evaluation["从未使用"]) <= {"是", "否"} and "织里镇" in set(evaluation["镇街"])
    assert not evaluation["镇街"].str.fullmatch(r"\d{12}").any()
    # in English, English headers
    made.clear()
    at.session_state["lang"] = "en"
    at.run()
    evaluation = next(f for f in made if "Never used" in f.columns)
    assert set(evaluation["Never used"]) <= {"yes", "no"}
