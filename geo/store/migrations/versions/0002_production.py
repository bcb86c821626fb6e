"""Production: users with roles and scopes, API sources with hashed tokens, and a point
geometry on every case (GiST-indexed on PostGIS) for spatial queries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import shapely
import sqlalchemy as sa
from alembic import op

import geo.store.geometry

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _backfill_case_points() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("UPDATE cases SET geom = ST_SetSRID(ST_MakePoint(lon, lat), 4326)")
        return
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("lon", sa.Float),
                     sa.column("lat", sa.Float),
                     sa.column("geom", geo.store.geometry.WKBGeometry("POINT")))
    rows = bind.execute(sa.select(cases.c.id, cases.c.lon, cases.c.lat)).all()
    if rows:
        ids, lon, lat = zip(*rows, strict=True)
        wkb = shapely.to_wkb(shapely.points(lon, lat))
        bind.execute(cases.update().where(cases.c.id == sa.bindparam("case_id")),
                     [{"case_id": i, "geom": w} for i, w in zip(ids, wkb, strict=True)])


def upgrade() -> None:
    op.create_table('users',
    sa.Column('username', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('township_code', sa.String(length=12), nullable=True),
    sa.Column('body_code', sa.String(length=40), nullable=True),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('password_hash', sa.String(length=100), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('username'),
    sa.UniqueConstraint('email'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('sources',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('rate_limit', sa.String(length=40), nullable=False),
    sa.Column('crs', sa.String(length=40), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code'),
    sa.UniqueConstraint('token_hash')
    )
    op.add_column("cases", sa.Column("geom", geo.store.geometry.WKBGeometry("POINT"),
                                     nullable=True))
    _backfill_case_points()
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_cases_geom_gist", "cases", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_cases_geom_gist", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("geom")
    op.drop_table("sources")
    op.drop_table("users")
