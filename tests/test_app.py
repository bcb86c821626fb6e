"""AppTest runs of each page on a small demo database."""

import pytest
from streamlit.testing.v1 import AppTest

from geo import store
from geo.cases import key_figures
from geo.cli import main
from geo.settings import PROJECT_ROOT

APP = str(PROJECT_ROOT / "streamlit_app.py")


@pytest.fixture
def demo_db(db_settings, monkeypatch, tmp_path):
    assert main(["init"], db_settings) == 0
    alerts = tmp_path / "alerts.csv"
    lines = (PROJECT_ROOT / "data" / "demo_alerts.csv").read_text(encoding="utf-8").splitlines()
    alerts.write_text("\n".join(lines[:81]) + "\n", encoding="utf-8")
    assert main(["ingest", str(alerts)], db_settings) == 0
    monkeypatch.setenv("GEO_DATABASE_URL", db_settings.database_url)
    return db_settings


def metric(at, label):
    return next(m for m in at.metric if m.label == label).value


def test_command_page_kpis_follow_filters(demo_db):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "指挥中心"
    frame = store.cases_frame(store.connect(demo_db.database_url))
    assert int(metric(at, "在办")) == len(frame) == 80
    at.sidebar.selectbox(key="f_source").set_value("bigdata").run()
    assert not at.exception
    expected = (frame["source"] == "bigdata").sum()
    assert 0 < expected < 80
    assert int(metric(at, "在办")) == expected
    at.sidebar.selectbox(key="f_township").set_value("330502100000").run()
    both = ((frame["source"] == "bigdata") & (frame["township_code"] == "330502100000")).sum()
    assert int(metric(at, "在办")) == both


def test_command_page_overdue_matches_the_database(demo_db):
    from zoneinfo import ZoneInfo
    at = AppTest.from_file(APP, default_timeout=60).run()
    frame = store.cases_frame(store.connect(demo_db.database_url))
    figures = key_figures(frame, store.utcnow(), ZoneInfo("Asia/Shanghai"))
    assert int(metric(at, "超期")) == figures["overdue"]


def test_english_switch(demo_db):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.sidebar.selectbox(key="lang").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Command center"
    assert int(metric(at, "Open")) == 80


def test_layers_page(demo_db):
    at = AppTest.from_function(_layers_page, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "图层"
    counts = at.dataframe[0].value
    assert counts["要素数"].tolist() == [19, 220, 4662, 62, 843]
    assert at.success[0].value == "未发现问题。"


def _layers_page():
    from geo.app import layers_page
    layers_page.render()


def test_pages_without_database_say_what_to_run(db_settings, monkeypatch):
    monkeypatch.setenv("GEO_DATABASE_URL", db_settings.database_url)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "python -m geo init" in at.warning[0].value


def _dispatch_page():
    from geo.app import dispatch_page
    dispatch_page.render()


def test_dispatch_page_assigns_a_team_and_follows_it(demo_db):
    from geo.store.dispatching import teams_frame
    engine = store.connect(demo_db.database_url)
    frame = store.cases_frame(engine)
    pick = frame[(frame["source"] == "12345") & frame["township_code"].notna()].iloc[0]
    at = AppTest.from_function(_dispatch_page, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "派遣"
    at.selectbox(key="d_case").set_value(int(pick["id"])).run()
    assign = [b for b in at.button if b.key.startswith(f"assign_{pick['id']}_")]
    assert assign, "no team recommended"
    team_id = assign[0].key.split("_", 2)[2]
    assign[0].click().run()
    assert not at.exception and not at.error
    after = store.cases_frame(engine)
    assert after.loc[after["id"] == pick["id"], "status"].item() == "dispatched"
    teams = teams_frame(engine, "EPSG:4549").set_index("team_id")
    assert teams.loc[team_id, "status"] == "dispatched"
    # the team moves on from the page: dispatched -> en route
    at.button(key=next(b.key for b in at.button if b.key.startswith("team_"))).click().run()
    teams = teams_frame(engine, "EPSG:4549").set_index("team_id")
    assert teams.loc[team_id, "status"] == "en_route"
    timeline = " ".join(m.value for m in at.markdown)
    assert "routed → dispatched" in timeline


def test_dispatch_page_returns_and_reroutes_a_case(demo_db):
    engine = store.connect(demo_db.database_url)
    frame = store.cases_frame(engine)
    pick = int(frame[frame["township_code"].notna()].iloc[0]["id"])
    at = AppTest.from_function(_dispatch_page, default_timeout=60).run()
    at.selectbox(key="d_case").set_value(pick).run()
    at.selectbox(key=f"d_target_{pick}").set_value("returned").run()
    at.text_input(key=f"d_reason_{pick}").input("不属本中心事项").run()
    at.button(key=f"d_go_{pick}").click().run()
    assert not at.error
    after = store.cases_frame(engine).set_index("id")
    assert (after.loc[pick, "status"], after.loc[pick, "body_code"]) == ("returned",
                                                                          "CC-330502")
    at.selectbox(key="d_case").set_value(pick).run()
    at.selectbox(key=f"d_target_{pick}").set_value("routed").run()
    at.selectbox(key=f"d_body_{pick}").set_value("DT-SC").run()
    at.button(key=f"d_go_{pick}").click().run()
    after = store.cases_frame(engine).set_index("id")
    assert (after.loc[pick, "status"], after.loc[pick, "body_code"]) == ("routed", "DT-SC")


def _coverage_page():
    from geo.app import coverage_page
    coverage_page.render()


def _inspections_page():
    from geo.app import inspections_page
    inspections_page.render()


@pytest.fixture
def history_db(demo_db):
    assert main(["demo", "history", "--inspections", "300"], demo_db) == 0
    return demo_db


def test_coverage_page_shows_coverage_and_the_evaluation(history_db):
    at = AppTest.from_function(_coverage_page, default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "覆盖"
    table = at.dataframe[0].value
    assert len(table) > 100 and table["按期率"].between(0, 1).all()   # units
    evaluation = at.dataframe[-1].value
    assert {"handled", "returned", "never_used", "often_returned"} <= set(evaluation.columns)
    assert len(evaluation) > 0
    at.sidebar.radio(key="c_level").set_value("township").run()
    assert len(at.dataframe[0].value) == 19


def test_inspections_page_records_an_inspection(history_db):
    from geo.store.inspecting import inspection_tables
    engine = store.connect(history_db.database_url)
    before, _ = inspection_tables(engine)
    at = AppTest.from_function(_inspections_page, default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "集成改一次"
    assert at.metric[0].label == "一次改到位率"
    boxes = [c for c in at.checkbox if c.key.startswith("i_") and c.key != "i_fixed"]
    boxes[0].check().run()
    at.button(key="i_save").click().run()
    after, _ = inspection_tables(engine)
    new = after[~after["finding_id"].isin(before["finding_id"])]
    assert len(new) == len(boxes) and (new["result"] == "problem").sum() == 1
