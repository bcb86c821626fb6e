"""Alembic environment: migrates the connection `geo.store.upgrade` hands over, or
``sqlalchemy.url`` when run from the alembic command line."""

from alembic import context
from sqlalchemy import create_engine

from geo.store.models import Base

# PostGIS' own tables are not ours to migrate
FOREIGN_TABLES = {"spatial_ref_sys", "topology", "layer", "geometry_columns",
                  "geography_columns"}


def run(connection) -> None:
    postgis = connection.dialect.name == "postgresql"

    def include_object(obj, name, type_, reflected, compare_to) -> bool:
        if type_ == "table" and name in FOREIGN_TABLES:
            return False
        # GiST indexes exist on PostGIS only (`geo.store.geometry.gist_index`)
        return postgis or not (type_ == "index" and name.endswith("_gist"))

    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=not postgis, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    with create_engine(context.config.get_main_option("sqlalchemy.url")).connect() as conn:
        run(conn)
