from geo import store
from geo.access import SYSTEM
from geo.cases import SOURCES
from geo.cli import main


def test_simulate_feeds_routed_alerts_through_ingest(db_settings, capsys):
    assert main(["init"], db_settings) == 0
    assert main(["simulate", "--count", "4", "--rate", "6000", "--seed", "3"], db_settings) == 0
    frame = store.cases_frame(store.connect(db_settings.database_url), scope=SYSTEM)
    assert len(frame) == 4
    assert set(frame["source"]) <= set(SOURCES)
    assert frame["township_code"].notna().all()
    assert frame["external_id"].str.startswith("LIVE-").all()
    assert "routed 1" in capsys.readouterr().out


def test_simulate_needs_a_database(db_settings, capsys):
    assert main(["simulate", "--count", "1"], db_settings) == 1
    assert "python -m geo init" in capsys.readouterr().err


def test_simulator_moves_dispatched_teams_to_the_scene(db_settings, small_dirs, tmp_path):
    from geo.demo.feed import move_dispatched_teams
    from geo.store.dispatching import assign, teams_frame
    from tests.conftest import X0, Y0, to_wgs
    layers_dir, catalog_dir = small_dirs
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                db_settings) == 0
    lon, lat = to_wgs(X0 + 1000, Y0 + 1500)   # 500 m north of team TA-1's base
    (tmp_path / "a.csv").write_text(
        f"id,lon,lat,matter,source\nA,{lon[0]},{lat[0]},M1,12345\n", encoding="utf-8")
    assert main(["ingest", str(tmp_path / "a.csv")], db_settings) == 0
    engine = store.connect(db_settings.database_url)
    case = store.cases_frame(engine, scope=SYSTEM).iloc[0]
    team = teams_frame(engine, "EPSG:4549", scope=SYSTEM).set_index("team_id").loc["TA-1"]
    assign(engine, int(case["id"]), int(case["version"]), "TA-1", int(team["version"]), "d",
        scope=SYSTEM)
    assert move_dispatched_teams(engine, 30.0, "EPSG:4549") == 1   # 250 m in 30 s
    team = teams_frame(engine, "EPSG:4549", scope=SYSTEM).set_index("team_id").loc["TA-1"]
    assert team["status"] == "en_route"
    assert abs(team["y"] - (Y0 + 1250)) < 1.0
    move_dispatched_teams(engine, 60.0, "EPSG:4549")
    team = teams_frame(engine, "EPSG:4549", scope=SYSTEM).set_index("team_id").loc["TA-1"]
    assert team["status"] == "on_scene" and abs(team["y"] - (Y0 + 1500)) < 1.0
