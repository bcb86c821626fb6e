"""The minimal overview page runs on a demo database and shows its cases."""

import pytest
from streamlit.testing.v1 import AppTest

from geo.cli import main
from geo.settings import PROJECT_ROOT


@pytest.fixture
def demo_db(db_settings, monkeypatch, tmp_path):
    assert main(["init"], db_settings) == 0
    alerts = tmp_path / "alerts.csv"
    lines = (PROJECT_ROOT / "data" / "demo_alerts.csv").read_text(encoding="utf-8").splitlines()
    alerts.write_text("\n".join(lines[:51]) + "\n", encoding="utf-8")
    assert main(["ingest", str(alerts)], db_settings) == 0
    monkeypatch.setenv("GEO_DATABASE_URL", db_settings.database_url)
    return db_settings


def test_overview_lists_townships_and_cases(demo_db):
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "执法一张图"
    townships, cases = at.dataframe[0].value, at.dataframe[1].value
    assert len(townships) == 19 and townships["在办案件"].sum() == 50 - cases["镇街"].isna().sum()
    assert len(cases) == 50
    at.selectbox(key="lang").set_value("en").run()
    assert at.title[0].value == "Enforcement OneMap"


def test_overview_without_database_says_what_to_run(db_settings, monkeypatch):
    monkeypatch.setenv("GEO_DATABASE_URL", db_settings.database_url)
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    assert "python -m geo init" in at.warning[0].value
