"""Bulk inserts that skip rows clashing with a unique key, column by column.

SQLAlchemy's executemany turns every row into a dict of bound parameters and runs every
value through its type's processor; for hundreds of thousands of alerts and cases that is
most of the time of an ingest. Here the values are made ready for the database a column
at a time, loaded into a temporary table (SQLite: the driver's ``executemany`` of tuples;
PostgreSQL: ``COPY``), and moved into the target with one ``INSERT … SELECT … ON CONFLICT
DO NOTHING RETURNING`` statement, which tells which rows were new.

Values are stored exactly as the ORM would store them: times naive UTC (SQLite: the text
SQLAlchemy writes), JSON as text, geometries as WKB (PostGIS: EWKB with SRID 4326).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import JSON, Connection, DateTime, Table

from geo.store.geometry import SRID, WKBGeometry


def _datetimes(column: pd.Series, dialect: str) -> list:
    stamps = pd.to_datetime(column)
    if getattr(stamps.dtype, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    values = stamps.to_numpy(dtype="datetime64[us]")
    missing = np.isnat(values)
    if dialect == "sqlite":  # as SQLAlchemy's SQLite DATETIME writes it
        text = np.char.replace(np.datetime_as_string(values, unit="us"), "T", " ")
        out = text.astype(object)
    else:
        out = values.astype("datetime64[us]").astype(object)
    out[missing] = None
    return out.tolist()


def _geometries(column: pd.Series, dialect: str) -> list:
    wkb = column.to_numpy(dtype=object)
    if dialect != "postgresql":
        return wkb.tolist()
    present = np.not_equal(wkb, None)
    out = np.full(len(wkb), None, dtype=object)
    if present.any():
        geoms = shapely.set_srid(shapely.from_wkb(wkb[present]), SRID)
        out[present] = shapely.to_wkb(geoms, hex=True, include_srid=True)
    return out.tolist()


def _json(column: pd.Series) -> list:
    """JSON text of each value (None is JSON ``null``, as SQLAlchemy's JSON type writes it)."""
    return [json.dumps(list(v) if isinstance(v, tuple) else v) for v in column.tolist()]


def db_values(frame: pd.DataFrame, table: Table, dialect: str) -> list[list]:
    """The columns of ``frame`` as lists of values ready for the driver."""
    out = []
    for name in frame.columns:
        column, kind = frame[name], table.c[name].type
        if isinstance(kind, DateTime):
            out.append(_datetimes(column, dialect))
        elif isinstance(kind, WKBGeometry):
            out.append(_geometries(column, dialect))
        elif isinstance(kind, JSON):
            out.append(_json(column))
        elif column.dtype.kind in "fiub":
            out.append(column.tolist())
        else:
            out.append(column.astype(object).where(column.notna(), None).tolist())
    return out


def insert_new(conn: Connection, table: Table, frame: pd.DataFrame,
               returning: Sequence[str]) -> list[tuple]:
    """Insert the rows of ``frame`` (columns named as ``table``'s) that clash with no unique
    key of ``table``; returns ``returning`` of each inserted row.

    Runs in the caller's transaction; safe against concurrent writers (a clash with a row
    stored meanwhile skips that row).
    """
    if frame.empty:
        return []
    if len(frame) <= SMALL:
        return _insert_small(conn, table, frame, returning)
    dialect = conn.dialect.name
    names = list(frame.columns)
    columns = db_values(frame, table, dialect)
    rows = list(zip(*columns, strict=True))
    temp = f"bulk_{uuid.uuid4().hex[:12]}"
    cols = ", ".join(names)
    back = ", ".join(returning)
    raw = conn.connection.driver_connection
    if dialect == "postgresql":
        select_cols = ", ".join(_pg_select(table, n) for n in names)
        conn.exec_driver_sql(  # dropped with the transaction, even one that fails
            f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {cols} FROM {table.name} "
            "WITH NO DATA")
        for n in names:  # geometries and JSON arrive as text, and are cast in the SELECT
            if isinstance(table.c[n].type, WKBGeometry | JSON):
                conn.exec_driver_sql(f"ALTER TABLE {temp} ALTER COLUMN {n} TYPE text")
        with raw.cursor() as cur, cur.copy(f"COPY {temp} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        sql = (f"INSERT INTO {table.name} ({cols}) SELECT {select_cols} FROM {temp} "
               f"ON CONFLICT DO NOTHING RETURNING {back}")
    else:
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {temp} AS SELECT {cols} FROM {table.name} WHERE 0")
        marks = ", ".join("?" * len(names))
        raw.executemany(f"INSERT INTO temp.{temp} ({cols}) VALUES ({marks})", rows)
        # ON CONFLICT skips unique clashes only: any other violation is an error
        sql = (f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM temp.{temp} WHERE true "
               f"ORDER BY rowid ON CONFLICT DO NOTHING RETURNING {back}")
    done = [tuple(r) for r in conn.exec_driver_sql(sql).all()]
    if dialect != "postgresql":
        conn.exec_driver_sql(f"DROP TABLE temp.{temp}")
    return done


#: up to this many rows, one multi-row INSERT through SQLAlchemy beats a temporary table
SMALL = 200


def python_values(column: pd.Series) -> list:
    """A column as Python values for SQLAlchemy's own type processing: None where missing,
    times as naive UTC `datetime.datetime` (as the temporary-table path writes them)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        if getattr(column.dtype, "tz", None) is not None:
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        return [None if v is pd.NaT else v for v in column.dt.to_pydatetime().tolist()]
    if column.dtype.kind in "fiub":
        return column.tolist()
    return column.astype(object).where(column.notna(), None).tolist()


def row_dicts(frame: pd.DataFrame) -> list[dict]:
    """Rows of a frame as dicts of `python_values`, column by column (much quicker than
    ``DataFrame.to_dict`` on text columns)."""
    names = list(frame.columns)
    columns = [python_values(frame[name]) for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _insert_small(conn: Connection, table: Table, frame: pd.DataFrame,
                  returning: Sequence[str]) -> list[tuple]:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    rows = row_dicts(frame)
    for row in rows:
        for name in frame.columns:
            if isinstance(row[name], tuple):
                row[name] = list(row[name])
    stmt = insert(table).on_conflict_do_nothing().returning(*(table.c[r] for r in returning))
    return [tuple(r) for r in conn.execute(stmt, rows).all()]


def _pg_select(table: Table, name: str) -> str:
    kind = table.c[name].type
    if isinstance(kind, WKBGeometry):
        return f"{name}::geometry"
    if isinstance(kind, JSON):
        return f"{name}::json"
    return name


def insert_all(conn: Connection, table: Table, frame: pd.DataFrame) -> None:
    """Insert every row of ``frame`` (a table without unique clashes, e.g. the audit log)."""
    if frame.empty:
        return
    dialect = conn.dialect.name
    names = list(frame.columns)
    rows = list(zip(*db_values(frame, table, dialect), strict=True))
    cols = ", ".join(names)
    raw = conn.connection.driver_connection
    if dialect == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        raw.executemany(f"INSERT INTO {table.name} ({cols}) VALUES "
                        f"({', '.join('?' * len(names))})", rows)
