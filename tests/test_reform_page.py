"""改革成效 in the app (AppTest): the figures year on year and the decision paper on the
demo history, for the roles that read them, in the user's language and scope."""

from __future__ import annotations

import pytest

from tests.test_app import demo_db, history_db, signed_in  # noqa: F401  (fixtures)


@pytest.fixture
def reform_db(history_db):  # noqa: F811
    """The demo database with its history, the reform's years included."""
    return history_db


def _page():
    from geo.app import reform_page
    reform_page.render()


def test_planners_see_the_districts_figures_and_the_decision_paper(reform_db):
    at = signed_in(_page, user="planner", timeout=180).run()
    assert not at.exception
    assert at.title[0].value == "改革成效"
    at.sidebar.selectbox(key="rf_year").set_value(2022).run()
    assert not at.exception
    yearly = at.dataframe[0].value.set_index("年度")
    assert list(yearly.index) == ["2020", "2021", "2022"]
    assert yearly.loc["2022", "新增案件"] > yearly.loc["2020", "新增案件"]
    assert yearly.loc["2022", "激活睡眠条款"] > 0
    assert 0.8 < yearly.loc["2022", "镇街人员占比"] < 0.9          # most staff moved down
    assert yearly.loc["2022", "下沉人员（改革以来）"] > 250
    towns = at.dataframe[2].value
    assert "织里镇" in set(towns["镇街"]) and towns["镇街"].iloc[-1] == "全区"
    # 织里's case sources rose after its full powers (2021-07-01)
    at.sidebar.selectbox(key="rf_area").set_value("330502100000").run()
    zhili = at.dataframe[0].value.set_index("年度")
    assert zhili.loc["2022", "新增案件"] > 2 * zhili.loc["2020", "新增案件"]
    assert zhili.loc["2022", "巡查发现"] > 2.5 * zhili.loc["2020", "巡查发现"]
    at.radio(key="rf_section").set_value("evaluation").run()
    assert not at.exception
    paper = at.dataframe[0].value
    assert set(paper["镇街"]) == {"织里镇"}
    assert {"收回", "推广至其他镇街"} <= set(paper["建议"])
    assert paper["理由"].str.len().gt(0).all()
    assert not {c for c in paper.columns if c.isascii() and "_" in c}  # words, not codes
    assert not paper["事项"].str.fullmatch(r"M\d{3}").any()
    at.multiselect(key="rf_actions").set_value(["take_back"]).run()
    assert set(at.dataframe[0].value["建议"]) == {"收回"}
    assert len(at.get("download_button")) >= 2


def test_township_staff_see_their_own_township_only(reform_db):
    at = signed_in(_page, user="zhili", timeout=180).run()
    assert not at.exception
    assert at.sidebar.selectbox(key="rf_area").options == ["织里镇"]
    frames = [d.value for d in at.dataframe]
    assert all("全区" not in set(f.get("镇街", [])) for f in frames)
    at.radio(key="rf_section").set_value("evaluation").run()
    assert set(at.dataframe[0].value["镇街"]) == {"织里镇"}


def test_a_dispatcher_is_told_the_page_is_not_theirs(reform_db):
    at = signed_in(_page, user="dispatcher-sc", timeout=120).run()
    assert not at.exception
    assert not at.dataframe
    assert at.info[-1].value.startswith("改革成效面向")


def test_the_page_in_english(reform_db):
    at = signed_in(_page, user="command", timeout=180)
    at.session_state["lang"] = "en"
    at.run()
    assert not at.exception
    assert at.title[0].value == "Reform results"
    assert "New cases" in at.dataframe[0].value.columns
