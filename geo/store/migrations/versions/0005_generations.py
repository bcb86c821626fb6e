"""Layer generations: every import of a layer set is kept with its effective dates, its
township and unit boundaries and the validation findings it was imported with. A database
with layers becomes generation 1 (in force from the day of its import, UTC), its boundaries
copied from the tables of the layers in force (its import findings were not kept).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

import geo.store.geometry

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _gist_index(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(f"ix_{table}_geom_gist", table, ["geom"], postgresql_using="gist")


def upgrade() -> None:
    op.create_table(
        "generations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "generation_townships",
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("geom", geo.store.geometry.WKBGeometry(), nullable=False),
        sa.ForeignKeyConstraint(["generation_id"], ["generations.id"]),
        sa.PrimaryKeyConstraint("generation_id", "code"),
    )
    _gist_index("generation_townships")
    op.create_table(
        "generation_units",
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("township_code", sa.String(length=12), nullable=False),
        sa.Column("geom", geo.store.geometry.WKBGeometry(), nullable=False),
        sa.ForeignKeyConstraint(["generation_id"], ["generations.id"]),
        sa.PrimaryKeyConstraint("generation_id", "code"),
    )
    _gist_index("generation_units")
    _first_generation()


def _first_generation() -> None:
    """The layers already loaded, as generation 1 (nothing where none are)."""
    conn = op.get_bind()
    if not conn.execute(sa.text("SELECT count(*) FROM townships")).scalar():
        return
    meta = dict(conn.execute(sa.text(
        "SELECT key, value FROM meta WHERE key IN ('layers_source', 'imported_at')")).all())
    try:
        imported = dt.datetime.fromisoformat(meta["imported_at"])
    except (KeyError, ValueError):
        imported = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    generations = sa.table(
        "generations", sa.column("id", sa.Integer()), sa.column("effective_from", sa.Date()),
        sa.column("effective_to", sa.Date()), sa.column("source", sa.Text()),
        sa.column("imported_at", sa.DateTime()), sa.column("problems", sa.JSON()))
    conn.execute(generations.insert().values(
        id=1, effective_from=imported.date(), effective_to=None,
        source=meta.get("layers_source", ""), imported_at=imported, problems=None))
    conn.execute(sa.text(
        "INSERT INTO generation_townships (generation_id, code, name, geom) "
        "SELECT 1, code, name, geom FROM townships"))
    conn.execute(sa.text(
        "INSERT INTO generation_units (generation_id, code, name, township_code, geom) "
        "SELECT 1, code, name, township_code, geom FROM units"))
    if conn.dialect.name == "postgresql":  # the next id after the one given here
        conn.execute(sa.text(
            "SELECT setval(pg_get_serial_sequence('generations', 'id'), 1)"))


def downgrade() -> None:
    for table in ("generation_units", "generation_townships"):
        if op.get_bind().dialect.name == "postgresql":
            op.drop_index(f"ix_{table}_geom_gist", table_name=table)
        op.drop_table(table)
    op.drop_table("generations")
