import pandas as pd
import pytest

from geo.access import SYSTEM
from geo.cli import main
from geo.settings import PROJECT_ROOT
from tests.conftest import X0, Y0, to_wgs


@pytest.fixture
def small_db(db_settings, small_dirs):
    layers_dir, catalog_dir = small_dirs
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                db_settings) == 0
    return db_settings


def _alerts(path, n=2, extra=""):
    lon, lat = to_wgs([X0 + 500 + 20 * i for i in range(n)], [Y0 + 500] * n)
    lines = ["id,lon,lat,matter,reported_at,source,severity,description"]
    lines += [f"A{i},{lon[i]},{lat[i]},M1,2024-06-01T10:00:00,12345,low," for i in range(n)]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def test_init_ingest_and_list(small_db, tmp_path, capsys):
    assert main(["ingest", str(_alerts(tmp_path / "a.csv"))], small_db) == 0
    out = capsys.readouterr().out
    assert "2 new alert(s) stored" in out and "routed 2 case(s)" in out
    assert main(["cases", "list", "--township", "330599001000"], small_db) == 0
    assert "2 case(s)" in capsys.readouterr().out
    assert main(["cases", "list", "--body", "DT-SC"], small_db) == 0
    assert "0 case(s)" in capsys.readouterr().out
    assert main(["cases", "list", "--since", "2030-01-01"], small_db) == 0
    assert "0 case(s)" in capsys.readouterr().out
    assert main(["cases", "list", "--since", "soon"], small_db) == 1
    assert "--since 'soon' is not an ISO date" in capsys.readouterr().err


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("", "empty file"),
    ("id,lon\n1,2\n", "missing column(s) lat"),
    ("id,lon,lat,source\n1,x,30,a\n", "every row was rejected"),
])
def test_ingest_bad_files_exit_1_with_one_clear_message(small_db, tmp_path, capsys, content,
                                                        message):
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["ingest", str(path)], small_db) == 1
    err = capsys.readouterr().err
    assert message in err and "in.csv" in err


def test_ingest_unknown_crs(small_db, tmp_path, capsys):
    assert main(["ingest", str(_alerts(tmp_path / "a.csv")), "--crs", "EPSG:0"], small_db) == 1
    assert "unknown CRS 'EPSG:0'" in capsys.readouterr().err


def test_ingest_before_init(db_settings, tmp_path, capsys):
    assert main(["ingest", str(_alerts(tmp_path / "a.csv"))], db_settings) == 1
    assert "run `python -m geo init` first" in capsys.readouterr().err


def test_init_refuses_bad_layers_and_imports_nothing(db_settings, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["init", "--layers", str(tmp_path / "empty")], db_settings) == 1
    assert "nothing was imported" in capsys.readouterr().err


def test_route_writes_the_contract_csv_and_geojson(small_db, tmp_path, capsys):
    src = _alerts(tmp_path / "a.csv", extra="BAD,30.8,120.1,M1,2024-06-01,x,low,\n")
    out = tmp_path / "out.csv"
    assert main(["route", str(src), "--out", str(out)], small_db) == 0
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["id", "township_code", "township_name", "unit_code",
                                   "site_id", "body_code", "flags", "reasons"]
    assert frame["id"].tolist() == ["A0", "A1", "BAD"]
    assert frame["flags"].tolist() == ["", "", "invalid"]
    assert frame["body_code"].tolist()[:2] == ["TC-A", "TC-A"]
    gj = tmp_path / "out.geojson"
    assert main(["route", str(src), "--out", str(gj)], small_db) == 0
    import geopandas as gpd
    back = gpd.read_file(gj)
    assert len(back) == 3 and back.geometry.isna().sum() == 1


def test_route_against_another_layer_folder(small_db, tmp_path, small_dirs):
    out = tmp_path / "o.csv"
    src = _alerts(tmp_path / "a.csv")
    assert main(["route", str(src), "--layers", str(small_dirs[0]), "--out", str(out)],
                small_db) == 0
    assert pd.read_csv(out, dtype=str)["township_code"].tolist() == ["330599001000"] * 2


def test_layers_check_exit_codes(tmp_path, capsys):
    assert main(["layers", "check", str(PROJECT_ROOT / "layers")]) == 0
    assert "0 error(s)" in capsys.readouterr().out
    assert main(["layers", "check", str(tmp_path / "missing")]) == 1
    assert "no such file or folder" in capsys.readouterr().out


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as exc:
        main(["route", "file.csv"])  # --out is required
    assert exc.value.code == 2


def test_route_reports_an_unwritable_output(small_db, tmp_path, capsys):
    src = _alerts(tmp_path / "a.csv")
    assert main(["route", str(src), "--out", str(tmp_path / "no" / "dir" / "o.csv")],
                small_db) == 1
    assert "cannot write" in capsys.readouterr().err


def test_route_with_layers_creates_no_database(tmp_path, small_dirs):
    from geo.settings import Settings
    db = tmp_path / "never" / "x.sqlite"
    settings = Settings(database_url=f"sqlite:///{db}", catalog_path=small_dirs[1])
    src = _alerts(tmp_path / "a.csv")
    assert main(["route", str(src), "--layers", str(small_dirs[0]), "--out",
                 str(tmp_path / "o.csv")], settings) == 0
    assert not db.exists() and not db.parent.exists()


def test_init_without_teams_keeps_stored_teams(small_db, small_dirs, tmp_path, capsys):
    from geo import store
    for f in small_dirs[0].glob("teams.*"):
        f.unlink()
    assert main(["init", "--layers", str(small_dirs[0]), "--catalog", str(small_dirs[1])],
                small_db) == 0
    assert "stored teams are kept" in capsys.readouterr().out
    teams = store.load_layers(store.connect(small_db.database_url), scope=SYSTEM).teams
    assert len(teams) == 2


def test_teams_position_file(small_db, tmp_path, capsys):
    from geo import store
    from geo.store.dispatching import teams_frame
    path = tmp_path / "fixes.csv"
    path.write_text("team_id,lon,lat,at\n"
                    "TA-1,120.12,30.86,2026-11-27T10:00:00+08:00\n"
                    "NOPE,120.1,30.8,\n"
                    "TA-1,abc,30.8,\n"
                    "TA-1,120.1,30.8,yesterday\n"
                    "TA-1,120.1,30.8,2099-01-01T00:00:00\n"
                    "TA-1,120.1,30.8,0001-01-01T00:00:00+14:00\n", encoding="utf-8")
    assert main(["teams", "position", str(path)], small_db) == 0
    captured = capsys.readouterr()
    assert "stored 1 position fix(es); 5 rejected" in captured.out
    assert "row 6, field at: in the future" in captured.err
    assert "row 7, field at: before 2000-01-01" in captured.err
    assert "row 3, field team_id: unknown team (value 'NOPE')" in captured.err
    assert "row 4, field lon: missing or not a number (value 'abc')" in captured.err
    assert "row 5, field at: not an ISO 8601 date-time" in captured.err
    team = teams_frame(store.connect(small_db.database_url), "EPSG:4549", scope=SYSTEM).set_index(
        "team_id").loc["TA-1"]
    assert (team["lon"], team["lat"]) == (120.12, 30.86)
    assert str(team["fix_at"]) == "2026-11-27 02:00:00"
    assert main(["teams", "position", str(tmp_path / "none.csv")], small_db) == 1


def test_evidence_sweep_removes_old_files_no_attachment_has(small_db, tmp_path, capsys):
    import dataclasses
    import os

    folder = tmp_path / "evidence"
    (folder / "ab").mkdir(parents=True)
    old, new = folder / "ab" / ("ab" + "0" * 62), folder / "ab" / ("ab" + "1" * 62)
    old.write_bytes(b"%PDF-")
    new.write_bytes(b"%PDF-")
    os.utime(old, (0, 0))
    settings = dataclasses.replace(small_db, evidence_path=folder)
    assert main(["evidence", "sweep"], settings) == 0
    assert "removed 1 evidence file(s)" in capsys.readouterr().out
    assert not old.exists() and new.exists()
    assert main(["evidence", "sweep", "--older-than-min", "0"], settings) == 0
    assert not new.exists()


def test_demo_users_go_only_into_the_demo_database_unless_asked(small_db, capsys):
    from geo import store
    from geo.store.accounts import list_users

    assert main(["demo", "users"], small_db) == 1
    err = capsys.readouterr().err
    assert "is not the bundled demo database" in err and "demo users --yes" in err
    engine = store.connect(small_db.database_url)
    assert list_users(engine, scope=SYSTEM) == []
    # asked: past the guard (the small district has not the demo's townships, which the
    # demo users need; the demo database is tested in test_app.py)
    assert main(["demo", "users", "--yes"], small_db) == 1
    assert "need the demo layers" in capsys.readouterr().err


def test_the_demo_database_is_the_bundled_sqlite_file_only():
    from geo.demo.users import is_demo_database

    demo = PROJECT_ROOT / "data" / "onemap.sqlite"
    assert is_demo_database(f"sqlite:///{demo}")
    assert is_demo_database(f"sqlite:///{PROJECT_ROOT}/data/../data/onemap.sqlite")
    assert not is_demo_database("sqlite:////tmp/other/onemap.sqlite")
    assert not is_demo_database("postgresql+psycopg://u@db/onemap")
    assert not is_demo_database("sqlite://")
    assert not is_demo_database("not a url")


def test_users_password_disable_enable_delete(small_db, capsys, monkeypatch):
    from geo import store
    from geo.store.accounts import get_user, sign_in_with_password

    engine = store.connect(small_db.database_url)
    monkeypatch.setenv("GEO_NEW_PASSWORD", "first-password")
    assert main(["users", "add", "boss", "--role", "command"], small_db) == 0
    monkeypatch.setenv("GEO_NEW_PASSWORD", "second-password")
    assert main(["users", "password", "boss"], small_db) == 0
    assert sign_in_with_password(engine, "boss", "second-password") is not None
    monkeypatch.setenv("GEO_NEW_PASSWORD", "short")
    assert main(["users", "password", "boss"], small_db) == 1
    assert "8 to 72 bytes" in capsys.readouterr().err
    assert main(["users", "disable", "boss"], small_db) == 0
    assert get_user(engine, "boss") is None
    assert main(["users", "list"], small_db) == 0
    assert "off" in capsys.readouterr().out.splitlines()[-1]
    assert main(["users", "enable", "boss"], small_db) == 0
    assert get_user(engine, "boss") is not None
    assert main(["users", "delete", "boss"], small_db) == 0
    for command in ("password", "disable", "enable", "delete"):
        assert main(["users", command, "boss"], small_db) == 1
        assert "no user 'boss'" in capsys.readouterr().err
