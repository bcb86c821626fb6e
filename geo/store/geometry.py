"""The geometry column type: WKB bytes in Python, a PostGIS geometry where there is one.

Every geometry is WGS84 (EPSG:4326). On PostgreSQL the column is a GeoAlchemy2
``geometry(<type>, 4326)`` with a GiST index, so spatial filters run in the database; on
SQLite it is a BLOB holding the same WKB.
"""

from __future__ import annotations

import shapely
from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Index, LargeBinary
from sqlalchemy.types import TypeDecorator

SRID = 4326


class WKBGeometry(TypeDecorator):
    """A WGS84 geometry read and written as plain WKB ``bytes`` on every backend.

    Parameters
    ----------
    geometry_type : str
        PostGIS geometry type (``GEOMETRY``, ``POINT``, ...); ignored where there is no PostGIS.
    """

    impl = LargeBinary
    cache_ok = True
    # read by GeoAlchemy2's DDL events: indexes are declared explicitly (`gist_index`)
    spatial_index = False

    def __init__(self, geometry_type: str = "GEOMETRY") -> None:
        super().__init__()
        self.geometry_type = geometry_type

    def __repr__(self) -> str:  # as Alembic writes it into migrations
        return f"WKBGeometry({self.geometry_type!r})"

    def _postgis(self) -> Geometry:
        return Geometry(self.geometry_type, srid=SRID, spatial_index=False)

    def load_dialect_impl(self, dialect):
        if dialect is None:  # GeoAlchemy2 asks without a dialect
            return self._postgis()
        if dialect.name == "postgresql":
            return dialect.type_descriptor(self._postgis())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: bytes | None, dialect) -> bytes | WKBElement | None:
        if value is None or dialect.name != "postgresql":
            return value
        geom = shapely.set_srid(shapely.from_wkb(value), SRID)
        return WKBElement(shapely.to_wkb(geom, include_srid=True), srid=SRID, extended=True)

    def process_result_value(self, value, dialect) -> bytes | None:
        if value is None or dialect.name != "postgresql":
            return value
        return shapely.to_wkb(shapely.from_wkb(bytes(value.data)))


def gist_index(table: str, column: str = "geom") -> Index:
    """A GiST index on ``table.column``, created on PostgreSQL only."""
    return Index(f"ix_{table}_{column}_gist", column, postgresql_using="gist").ddl_if(
        dialect="postgresql")
