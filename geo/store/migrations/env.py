"""Alembic environment: migrates the connection `geo.store.upgrade` hands over, or
``sqlalchemy.url`` when run from the alembic command line."""

from alembic import context
from sqlalchemy import create_engine

from geo.store import schema_filter
from geo.store.models import Base


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name != "postgresql",
                      include_object=schema_filter(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    with create_engine(context.config.get_main_option("sqlalchemy.url")).connect() as conn:
        run(conn)
