"""Shared fixtures: a small hand-made district in EPSG:4549 and the bundled Wuxing demo."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.catalog import load_catalog
from geo.crs import METRIC, WGS84
from geo.layers import load_layers
from geo.routing import Router
from geo.settings import PROJECT_ROOT, Settings

# Two 2 km squares side by side, 10 km east of the central meridian near Huzhou.
X0, Y0, SIDE = 510_000.0, 3_415_000.0, 2_000.0
CODE_A, CODE_B = "330599001000", "330599002000"


def to_wgs(x, y):
    """EPSG:4549 metres -> WGS84 lon/lat arrays."""
    pts = gpd.GeoSeries(shapely.points(np.atleast_1d(x), np.atleast_1d(y)), crs=METRIC)
    xy = pts.to_crs(WGS84).get_coordinates().to_numpy()
    return xy[:, 0], xy[:, 1]


def square(x, y, w, h):
    return shapely.box(x, y, x + w, y + h)


def write_small_layers(folder: Path, driver_ext: str = "geojson") -> Path:
    """Townships A | B, units (A: two halves; B: west half only), sites, teams."""
    folder.mkdir(parents=True, exist_ok=True)
    a = square(X0, Y0, SIDE, SIDE)
    b = square(X0 + SIDE, Y0, SIDE, SIDE)
    townships = gpd.GeoDataFrame(
        {"code": [CODE_A, CODE_B], "name": ["甲镇", "乙街道"]}, geometry=[a, b], crs=METRIC)
    units = gpd.GeoDataFrame(
        {"code": [CODE_A + "001", CODE_A + "002", CODE_B + "001"],
         "name": ["北单元", "南单元", "西单元"],
         "township_code": [CODE_A, CODE_A, CODE_B]},
        geometry=[square(X0, Y0 + SIDE / 2, SIDE, SIDE / 2), square(X0, Y0, SIDE, SIDE / 2),
                  square(X0 + SIDE, Y0, SIDE / 2, SIDE)], crs=METRIC)
    sites = gpd.GeoDataFrame(
        {"site_id": ["S1", "S2", "S3"], "name": ["工地一", "企业二", "商店三"],
         "kind": ["construction", "enterprise", "shop"], "risk": ["high", "medium", "low"],
         "credit_code": [None, "91330502MA2B3C4D5E", None],
         "township_code": [CODE_A, CODE_B, CODE_B]},
        geometry=[square(X0 + 200, Y0 + 200, 100, 100),
                  shapely.Point(X0 + 3000, Y0 + 1000), shapely.Point(X0 + 3500, Y0 + 1500)],
        crs=METRIC)
    teams = gpd.GeoDataFrame(
        {"team_id": ["TA-1", "DT-SC-1"], "name": ["甲镇一队", "市场监管一队"],
         "body_code": ["TC-A", "DT-SC"], "skills": ["综合执法,市场监管", "市场监管"],
         "status": ["available", "available"]},
        geometry=[shapely.Point(X0 + 1000, Y0 + 1000), shapely.Point(X0 + 3000, Y0 + 500)],
        crs=METRIC)
    for kind, gdf in (("townships", townships), ("units", units), ("sites", sites),
                      ("teams", teams)):
        gdf.to_crs(WGS84).to_file(folder / f"{kind}.{driver_ext}")
    return folder


def write_small_catalog(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "matters.csv").write_text(
        "code,name,domain,district_body,deadline_days_low,deadline_days_medium,"
        "deadline_days_high\n"
        "M1,无证无照经营,市场监管,DT-SC,15,7,3\n"
        "M2,违法建设,住房城乡建设,DT-ZH,30,15,7\n", encoding="utf-8")
    (folder / "bodies.csv").write_text(
        "code,name,kind,township_code\n"
        "CC,指挥中心,command_center,\n"
        "DT-SC,区市场监管执法队,district_team,\n"
        "DT-ZH,区综合行政执法队,district_team,\n"
        f"TC-A,甲镇执法中心,township_center,{CODE_A}\n"
        f"TC-B,乙街道执法中心,township_center,{CODE_B}\n", encoding="utf-8")
    (folder / "empowerment.csv").write_text(
        "township_code,matter_code,effective_from,effective_to\n"
        f"{CODE_A},M1,2024-01-01,\n"
        f"{CODE_B},M1,2024-01-01,2025-01-01\n", encoding="utf-8")
    return folder


@pytest.fixture
def small_dirs(tmp_path) -> tuple[Path, Path]:
    return write_small_layers(tmp_path / "layers"), write_small_catalog(tmp_path / "catalog")


@pytest.fixture
def small_router(small_dirs) -> Router:
    layers_dir, catalog_dir = small_dirs
    return Router(load_layers(layers_dir), load_catalog(catalog_dir), Settings())


@pytest.fixture(scope="session")
def demo_layers():
    return load_layers(PROJECT_ROOT / "layers")


@pytest.fixture(scope="session")
def demo_catalog():
    return load_catalog(PROJECT_ROOT / "data")


@pytest.fixture(scope="session")
def demo_router(demo_layers, demo_catalog) -> Router:
    return Router(demo_layers, demo_catalog, Settings())


@pytest.fixture(scope="session")
def demo_router_exact(demo_layers, demo_catalog) -> Router:
    return Router(demo_layers, demo_catalog, Settings(), use_grid=False)


@pytest.fixture
def db_settings(tmp_path) -> Settings:
    """Settings pointing at a fresh SQLite file in the test's temporary folder."""
    return Settings(database_url=f"sqlite:///{tmp_path / 'test.sqlite'}")


def copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of the SQLite database ``src`` (with what its WAL holds) at
    ``dst``."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(dst)) as b:
        a.backup(b)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """The small demo database (the demo layers and catalogue, the first 80 demo alerts,
    the demo users), built once per test session; `tests.test_app.demo_db` copies it."""
    from geo.cli import main

    path = tmp_path_factory.mktemp("demo_template") / "demo.sqlite"
    settings = Settings(database_url=f"sqlite:///{path}")
    assert main(["init"], settings) == 0
    alerts = path.parent / "alerts.csv"
    lines = (PROJECT_ROOT / "data" / "demo_alerts.csv").read_text(encoding="utf-8").splitlines()
    alerts.write_text("\n".join(lines[:81]) + "\n", encoding="utf-8")
    assert main(["ingest", str(alerts)], settings) == 0
    assert main(["demo", "users", "--yes"], settings) == 0
    return path


@pytest.fixture(scope="session")
def history_template(demo_template, tmp_path_factory) -> Path:
    """`demo_template` with the demo history (300 inspections, the case lifecycles, the
    reform's years, check-ups, hand-off and joint operation), built once per session."""
    from geo.cli import main

    path = tmp_path_factory.mktemp("history_template") / "history.sqlite"
    copy_sqlite(demo_template, path)
    settings = Settings(database_url=f"sqlite:///{path}")
    assert main(["demo", "history", "--inspections", "300"], settings) == 0
    return path


# ------------------------------------------------------------------ store backends
POSTGIS_ENV = "GEO_TEST_POSTGIS_URL"


def _admin_engine(url: str):
    from sqlalchemy import create_engine

    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgis_template():
    """A PostGIS-enabled template database, made once per run, or a skip (a failure in CI)
    when ``GEO_TEST_POSTGIS_URL`` is not set."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    base = os.environ.get(POSTGIS_ENV)
    if not base:
        reason = (f"PostGIS store tests need {POSTGIS_ENV}, e.g. "
                  "postgresql+psycopg://postgres@127.0.0.1/onemap_test (`make test` sets it "
                  "when PostgreSQL with PostGIS is on this machine)")
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; in CI the PostGIS run is required")
        pytest.skip(reason)
    admin = _admin_engine(base)
    name = f"onemap_tpl_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    tpl = _admin_engine(make_url(base).set(database=name))
    with tpl.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    tpl.dispose()
    yield admin, make_url(base), name
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def alerts_without_case(url: str) -> list[int]:
    """Ids of stored alerts that have no case (the store must hold none)."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        if "alerts" not in inspect(engine).get_table_names():
            return []
        with engine.connect() as conn:
            return list(conn.scalars(text(
                "SELECT a.id FROM alerts a LEFT JOIN cases c ON c.alert_id = a.id "
                "WHERE c.id IS NULL ORDER BY a.id LIMIT 20")))
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def every_alert_has_its_case(request, monkeypatch):
    """The invariant of the store, after every test: an alert and its case are one unit.

    Every database the test opened through `geo.store.connect` is checked when the test
    ends (a PostGIS database of `store_url` just before it is dropped). A test that leaves
    alerts without a case on purpose says so with ``@pytest.mark.alerts_without_case``.
    """
    from geo import store

    connect = store.connect
    seen: list[str] = []

    def recording(url: str):
        seen.append(str(url))
        return connect(url)

    monkeypatch.setattr(store, "connect", recording)
    yield
    if request.node.get_closest_marker("alerts_without_case"):
        return
    for url in dict.fromkeys(seen):
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            continue
        if url.startswith("postgresql"):
            continue  # checked by `store_url` before the database is dropped
        orphans = alerts_without_case(url)
        assert not orphans, f"alerts without a case left in {url}: {orphans}"


@pytest.fixture(params=["sqlite", "postgis"])
def store_url(request, tmp_path) -> str:
    """A fresh, empty database on each backend: a SQLite file, and a PostGIS database."""
    from sqlalchemy import text

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
        return
    admin, base, template = request.getfixturevalue("postgis_template")
    name = f"onemap_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
    url = base.set(database=name).render_as_string(hide_password=False)
    yield url
    if not request.node.get_closest_marker("alerts_without_case"):
        orphans = alerts_without_case(url)
        assert not orphans, f"alerts without a case left on PostGIS: {orphans}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def store_settings(store_url) -> Settings:
    """Settings on a fresh database, once per backend."""
    return Settings(database_url=store_url)
