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
    assert counts["要素数"].tolist() == [19, 220, 4662, 62]
    assert at.success[0].value == "未发现问题。"


def _layers_page():
    from geo.app import layers_page
    layers_page.render()


def test_pages_without_database_say_what_to_run(db_settings, monkeypatch):
    monkeypatch.setenv("GEO_DATABASE_URL", db_settings.database_url)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "python -m geo init" in at.warning[0].value
