"""Alembic migrations: the head schema is the models' schema on both backends, and a
database made before migrations existed is upgraded with its data."""

import datetime as dt

import shapely
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text

from geo import store
from geo.access import SYSTEM
from geo.cli import main
from geo.store.models import Base, Case


def test_head_matches_the_models(store_settings):
    engine = store.connect(store_settings.database_url)
    store.migrate(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "include_object": store.schema_filter(engine.dialect.name)})
        assert compare_metadata(ctx, Base.metadata) == []
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == "0009"
    if engine.dialect.name == "postgresql":
        indexes = {i["name"] for i in inspect(engine).get_indexes("cases")}
        assert "ix_cases_geom_gist" in indexes
        with engine.connect() as conn:
            kind = conn.execute(text(
                "SELECT type, srid FROM geometry_columns WHERE f_table_name = 'cases'")).one()
        assert tuple(kind) == ("POINT", 4326)


def test_a_database_from_before_migrations_is_upgraded_with_its_data(store_settings,
                                                                      small_dirs, tmp_path):
    engine = store.connect(store_settings.database_url)
    store.migrate(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))  # as `create_all` left it
    layers_dir, catalog_dir = small_dirs
    from geo.layers import load_layers
    from geo.store.models import Meta, Township, Unit
    old = load_layers(layers_dir)
    with engine.begin() as conn:  # the layers as that release stored them
        conn.execute(insert(Township), store._rows(old.townships, ("code", "name")))
        conn.execute(insert(Unit), store._rows(old.units, ("code", "name", "township_code")))
        conn.execute(insert(Meta), [{"key": "layers_source", "value": "old"},
                                    {"key": "imported_at", "value": "2026-01-01T08:00:00"}])
        conn.execute(text(
            "INSERT INTO alerts (id, source, external_id, lon, lat, crs, severity, "
            "reported_at, description, received_at) VALUES (1, 's', 'x', 120.1, 30.8, "
            "'EPSG:4326', 'low', '2026-01-01 00:00:00', '', '2026-01-01 00:00:00')"))
        conn.execute(text(
            "INSERT INTO cases (id, alert_id, status, lon, lat, severity, flags, reasons, "
            "candidates, opened_at, routed_at, version) VALUES (1, 1, 'routed', 120.1, "
            "30.8, 'low', '', '[]', '[]', '2026-01-01 00:00:00', '2026-01-01 00:00:00', 1)"))
    # `geo init` brings it to head
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                store_settings) == 0
    with store.sessions(engine)() as s:
        geom = s.scalar(select(Case.geom).where(Case.id == 1))
    assert shapely.from_wkb(geom).equals(shapely.Point(120.1, 30.8))
    assert "users" in inspect(engine).get_table_names()
    # the layers loaded before are generation 1, ended by the import of `init`
    from geo.store.generations import generation_layers, list_generations
    gens = list_generations(engine, scope=SYSTEM)
    assert gens["source"].tolist() == ["old", str(layers_dir)]
    assert gens["effective_from"].iloc[0] == dt.date(2026, 1, 1)
    assert gens["effective_to"].iloc[0] == gens["effective_from"].iloc[1]
    assert gens["effective_to"].iloc[1] is None
    assert gens["townships"].tolist() == [2, 2] and gens["units"].tolist() == [3, 3]
    first = generation_layers(engine, 1, scope=SYSTEM)
    assert first.townships["code"].tolist() == sorted(old.townships["code"])
    assert first.townships.geometry.geom_equals_exact(
        old.townships.sort_values("code").geometry.reset_index(drop=True), 1e-9).all()
