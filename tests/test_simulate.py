from geo import store
from geo.cases import SOURCES
from geo.cli import main


def test_simulate_feeds_routed_alerts_through_ingest(db_settings, capsys):
    assert main(["init"], db_settings) == 0
    assert main(["simulate", "--count", "4", "--rate", "6000", "--seed", "3"], db_settings) == 0
    frame = store.cases_frame(store.connect(db_settings.database_url))
    assert len(frame) == 4
    assert set(frame["source"]) <= set(SOURCES)
    assert frame["township_code"].notna().all()
    assert frame["external_id"].str.startswith("LIVE-").all()
    assert "routed 1" in capsys.readouterr().out


def test_simulate_needs_a_database(db_settings, capsys):
    assert main(["simulate", "--count", "1"], db_settings) == 1
    assert "python -m geo init" in capsys.readouterr().err
