"""Alert files read in chunks of columns: CSV, JSON lines and GeoJSON.

`read_chunks` yields (raw table, row numbers) pairs for `geo.alerts.check`, a chunk of
about ``chunk_rows`` rows at a time, so that a CSV or JSON-lines file of any size is read
in flat memory. A GeoJSON file is one JSON document and is parsed whole (about 2 GB of
memory for a million features): bulk files belong in CSV or JSON lines.
Row numbers are file line numbers for CSV (header = line 1) and JSON lines, and feature
numbers (from 1) for GeoJSON. A record that cannot be read at all (broken JSON, a CSV
row with the wrong number of fields) comes as a row whose ``__error__`` column says why;
the file as a whole fails (`IngestError`) only when it cannot be opened, has no header or
lacks a required column. Bytes that are not UTF-8 are kept in their value (as lone
surrogates, ``surrogateescape``): `geo.alerts.check` refuses them in a field the command
uses, naming the field, and a column it does not use costs the row nothing.

CSV is read by pyarrow's streaming reader (every value as text) while every record fits
on one line; from the first record that does not (a quoted value spanning lines, a ragged
row, bytes that are not UTF-8) Python's csv module reads record by record, until a
thousand single-line records in a row let pyarrow take over again from there.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from geo.alerts import FIELDS, REQUIRED_COLUMNS, Reject, excerpt

CHUNK_ROWS = 250_000
#: file name endings read as JSON (lines, or a GeoJSON document); anything else is CSV
JSON_SUFFIXES = (".jsonl", ".ndjson", ".geojson", ".json")
_ERROR = "__error__"
Chunk = tuple[pd.DataFrame, np.ndarray]


class IngestError(ValueError):
    """The file as a whole cannot be read (unreadable, empty, wrong columns)."""


class _IrregularError(Exception):
    """A CSV record the fast reader does not take; the slow reader takes over."""


def read_chunks(path: Path, chunk_rows: int = CHUNK_ROWS,
                required: tuple[str, ...] = REQUIRED_COLUMNS) -> Iterator[Chunk]:
    """Yield (raw table, row numbers) chunks of an alerts file; see the module notes.

    Raises `IngestError` naming the file when it cannot be read at all, or when a CSV
    header lacks a ``required`` column.
    """
    path = Path(path)
    if path.is_dir():
        raise IngestError(f"{path}: is a folder, not a file")
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in JSON_SUFFIXES:
        yield from _read_csv(path, chunk_rows, required)
    elif suffix in (".jsonl", ".ndjson"):
        yield from _chunked(_jsonl_records(path), chunk_rows)
    else:
        yield from _chunked(_geojson_records(path), chunk_rows)


# ---------------------------------------------------------------------------- CSV
def csv_header(path: Path, required: tuple[str, ...] = REQUIRED_COLUMNS) -> list[str]:
    """The lower-cased column names of a CSV file; `IngestError` without the required ones."""
    with path.open("rb") as f:
        first = f.readline(1 << 20)
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    names = next(csv.reader([text]), [])
    names = [n.strip().lower() for n in names]
    if not names or names == [""]:
        raise IngestError(f"{path}: empty file (no header row)")
    missing = [c for c in required if c not in names]
    if missing:
        expected = FIELDS if required == REQUIRED_COLUMNS else required
        raise IngestError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                          f"{', '.join(expected)}")
    return names


def _read_csv(path: Path, chunk_rows: int, required: tuple[str, ...]) -> Iterator[Chunk]:
    """The fast reader while records are single lines; the csv module from the first
    other record until `RESUME_AFTER` single-line records in a row, then the fast reader
    again from there (by byte offset), and so on to the end of the file."""
    names = csv_header(path, required)
    with path.open("rb") as f:
        f.readline()
        offset, line = f.tell(), 2  # where the data rows start, and their first line
    while True:
        done = 0  # rows (lines) the fast reader took from ``offset``
        try:
            for frame in _fast_csv(path, names, chunk_rows, offset):
                rows = np.arange(line + done, line + done + len(frame), dtype=np.int64)
                done += len(frame)
                blank = (frame == "").all(axis=1).to_numpy(dtype=bool)  # blank lines
                if blank.any():
                    frame, rows = frame[~blank].reset_index(drop=True), rows[~blank]
                if len(frame):
                    yield frame, rows
            return
        except _IrregularError:
            pass
        offset, line = _skip_lines(path, offset, done), line + done
        resume = yield from _chunked(_slow_csv(path, names, offset, line), chunk_rows)
        if resume is None:
            return
        offset, line = resume


def _skip_lines(path: Path, offset: int, n: int) -> int:
    """The byte offset ``n`` lines after ``offset``."""
    with path.open("rb") as f:
        f.seek(offset)
        while n:
            block = f.read(1 << 20)
            if not block:
                break
            count = block.count(b"\n")
            if count < n:
                n -= count
                offset += len(block)
                continue
            at = -1
            for _ in range(n):
                at = block.index(b"\n", at + 1)
            return offset + at + 1
    return offset


def _fast_csv(path: Path, names: list[str], chunk_rows: int, offset: int
              ) -> Iterator[pd.DataFrame]:
    """Blocks of single-line records from byte ``offset`` on, as text columns;
    `_IrregularError` at the first block holding another."""
    ragged = []

    def irregular(row) -> str:  # raising here is not passed on by pyarrow: note and skip
        ragged.append(row)
        return "skip"

    block = 1 << 20  # about 15,000 rows: a hand-over re-reads at most one block
    reader = None
    with path.open("rb") as source:
        source.seek(offset)
        try:
            reader = pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(column_names=_unique(names), block_size=block),
                # a blank line is a record of one field: irregular, so that row numbers
                # stay line numbers (pyarrow would skip it without a word)
                parse_options=pacsv.ParseOptions(newlines_in_values=False,
                                                 ignore_empty_lines=False,
                                                 invalid_row_handler=irregular),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in _unique(names)},
                    strings_can_be_null=False, quoted_strings_can_be_null=False))
            pending: list[pa.RecordBatch] = []
            size = 0
            for batch in reader:
                if not batch.num_rows:
                    continue
                if ragged or _spans_lines(batch):
                    # hand over no earlier than needed: the rows before the batch, and
                    # before the first value spanning lines in it, are taken here
                    clean = 0 if ragged else _first_spanning(batch)
                    pending.append(batch.slice(0, clean))
                    if sum(b.num_rows for b in pending):
                        yield pa.Table.from_batches(pending).to_pandas()
                    raise _IrregularError
                pending.append(batch)
                size += batch.num_rows
                while size >= chunk_rows:
                    table = pa.Table.from_batches(pending)
                    yield table.slice(0, chunk_rows).to_pandas()
                    rest = table.slice(chunk_rows)
                    pending, size = rest.to_batches(), rest.num_rows
            if ragged:
                raise _IrregularError
            if size:
                yield pa.Table.from_batches(pending).to_pandas()
        except _IrregularError:
            raise
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:  # not UTF-8, a field too big
            raise _IrregularError from exc
        finally:
            if reader is not None:  # its reading threads end before the file is closed
                reader.close()


def _first_spanning(batch: pa.RecordBatch) -> int:
    """The index of the first row of ``batch`` with a value holding a line break."""
    import pyarrow.compute as pc

    hit = np.zeros(batch.num_rows, dtype=bool)
    for column in batch.columns:
        hit |= np.asarray(pc.match_substring(column, "\n").to_numpy(zero_copy_only=False),
                          dtype=bool)
    return int(np.argmax(hit)) if hit.any() else batch.num_rows


def _spans_lines(batch: pa.RecordBatch) -> bool:
    """Whether a value holds a line break (a quoted value spanning lines, or a quote left
    open): then row numbers are no longer line numbers, and the csv module takes over."""
    import pyarrow.compute as pc

    return any(pc.any(pc.match_substring(column, "\n")).as_py() for column in batch.columns)


def _unique(names: list[str]) -> list[str]:
    """Column names made unique (a repeated name gets a suffix; the last one is used)."""
    out, seen = [], {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}\x00{seen[name]}")
    # the last of repeated names takes the plain name, as the csv module's DictReader does
    for name, count in seen.items():
        if count > 1:
            first, last = out.index(name), len(out) - 1 - out[::-1].index(
                f"{name}\x00{count}")
            out[first], out[last] = out[last], name
    return out


#: single-line records in a row after which the csv module hands back to the fast reader
RESUME_AFTER = 1000


def _slow_csv(path: Path, names: list[str], offset: int, line: int):
    """Records of a CSV file from byte ``offset`` (line ``line``) on, one at a time, by the
    csv module: yields (row, record); returns where the fast reader can take over (byte
    offset, line) once, after a record the fast reader does not take, `RESUME_AFTER`
    regular single-line records follow in a row; or None at the end of the file.

    A record with more or fewer fields than the header, a quote left open (it swallows
    the lines after it) or a field beyond memory sense are each reported as that record's
    error; the reading goes on with the next record. Bytes that are not UTF-8 stay in
    their field (surrogate-escaped), for the alert check to judge field by field.
    """
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with path.open("rb") as raw:
        raw.seek(offset)
        at = offset  # the byte after the last line given to the csv module

        def lines() -> Iterator[str]:
            nonlocal at
            for chunk in iter(raw.readline, b""):
                at += len(chunk)
                yield chunk.decode("utf-8", errors="surrogateescape")

        reader = csv.reader(lines(), strict=True)
        base = line - 1  # lines before the reader's first
        clean = -1  # single-line records in a row since the last other (-1: none met yet)
        while True:
            start = base + reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                clean = 0
                if "unexpected end of data" in str(exc):
                    lines_over = base + reader.line_num - start
                    yield start, {_ERROR: f"a quote is left open: the value runs to the end "
                                          f"of the file, over {lines_over} more line(s)"}
                else:
                    yield start, {_ERROR: f"not a valid CSV record ({exc})"}
                continue
            problem = _record_problem(values, names) if any(values) else None
            if base + reader.line_num != start or problem:
                clean = 0  # what the fast reader stopped at (or another such record)
            elif clean >= 0:
                clean += 1
            if any(values):  # a blank line (or only commas) is skipped, as the fast reader does
                yield start, ({_ERROR: problem} if problem
                              else dict(zip(names, values, strict=True)))
            if clean >= RESUME_AFTER:
                return at, base + reader.line_num + 1


def _record_problem(values: list[str], names: list[str]) -> str | None:
    """Why a CSV record read by the csv module is not taken, or None."""
    if len(values) != len(names):
        return f"{len(values)} field(s) where the header has {len(names)}"
    swallowed = _swallowed(values, len(names))
    if swallowed:
        return (f"field {names[swallowed[0]]}: a quote is left open (the value runs over "
                f"{swallowed[1]} line(s) that look like records of their own)")
    return None


def _swallowed(values: list[str], width: int) -> tuple[int, int] | None:
    """(field index, lines) of a value that spans lines looking like whole CSV records."""
    if width < 2:
        return None
    for k, value in enumerate(values):
        if "\n" in value:
            lines = value.split("\n")[1:]
            rows = sum(1 for ln in lines if ln.count(",") >= width - 1)
            if rows:
                return k, rows
    return None


# ---------------------------------------------------------------------------- JSON
def _loads(text: str):
    def constant(name: str):
        raise ValueError(f"{name} is not a JSON number")

    return json.loads(text, parse_constant=constant)


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:  # bytes that are not UTF-8 stay in their value, for the check to judge
                record = _loads(raw.decode("utf-8", errors="surrogateescape"))
            except RecursionError:
                yield line_no, {_ERROR: "not valid JSON (nested too deeply)"}
                continue
            except ValueError as exc:
                yield line_no, {_ERROR: f"not valid JSON ({getattr(exc, 'msg', exc)})"}
                continue
            if not isinstance(record, dict):
                yield line_no, {_ERROR: "not a JSON object"}
                continue
            yield line_no, record


def _geojson_records(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        # bytes that are not UTF-8 stay in their value, for the check to judge
        doc = _loads(path.read_bytes().decode("utf-8-sig", errors="surrogateescape"))
    except RecursionError as exc:
        raise IngestError(f"{path}: not valid JSON (nested too deeply)") from exc
    except json.JSONDecodeError as exc:
        raise IngestError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    except ValueError as exc:
        raise IngestError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise IngestError(f"{path}: expected a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list):
        raise IngestError(f"{path}: 'features' is not a list")
    for n, feature in enumerate(features, start=1):
        yield n, feature_record(feature)


def feature_record(feature) -> dict:
    """The raw alert of a GeoJSON feature: its properties, ``lon``/``lat`` from a Point."""
    if not isinstance(feature, dict):
        return {_ERROR: "feature is not a JSON object"}
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        return {_ERROR: "properties is not a JSON object"}
    props = dict(props)
    geom = feature.get("geometry")
    coords = geom.get("coordinates") if isinstance(geom, dict) else None
    if not isinstance(geom, dict) or geom.get("type") != "Point":
        kind = geom.get("type") if isinstance(geom, dict) else type(geom).__name__
        props[_ERROR] = f"geometry is {str(kind)[:40]}, expected Point"
    elif not isinstance(coords, list) or len(coords) < 2:
        props[_ERROR] = "Point coordinates are not a [lon, lat] list"
    else:
        props["lon"], props["lat"] = coords[0], coords[1]
    return props


def records_frame(records: list[tuple[int, dict]]) -> Chunk:
    """A chunk of (row, record) pairs: Python values in object columns (keys lower-cased,
    the last of repeated names kept)."""
    rows = np.fromiter((r for r, _ in records), dtype=np.int64, count=len(records))
    dicts = [{str(k).strip().lower(): v for k, v in rec.items()} for _, rec in records]
    names = list(dict.fromkeys(k for d in dicts for k in d))
    # object columns, as given: text is not made into pyarrow strings here, which would
    # fail on a lone surrogate before the alert model could reject that one row
    frame = pd.DataFrame({k: pd.Series([d.get(k) for d in dicts], dtype=object)
                          for k in names}, index=pd.RangeIndex(len(dicts)))
    return frame, rows


def _chunked(records: Iterator[tuple[int, dict]], chunk_rows: int):
    """Chunks of ``records``; returns what the records' generator returns."""
    pending: list[tuple[int, dict]] = []
    while True:
        try:
            item = next(records)
        except StopIteration as stop:
            if pending:
                yield records_frame(pending)
            return stop.value
        pending.append(item)
        if len(pending) >= chunk_rows:
            yield records_frame(pending)
            pending = []


# ---------------------------------------------------------------------------- rejects
class RejectsFile:
    """Rejected rows written as they come (row, field, value, reason, the alert fields)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._file = None
        self._writer = None

    def write(self, rejects: list[Reject]) -> None:
        if self.path is None or not rejects:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", newline="", encoding="utf-8",
                                        errors="backslashreplace")
            self._writer = csv.writer(self._file, lineterminator="\n")
            self._writer.writerow(["row", "field", "value", "reason", *FIELDS])
        self._writer.writerows(
            [r.row, r.field, r.value, r.reason, *(_cell(r.record.get(k)) for k in FIELDS)]
            for r in rejects)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return excerpt(value, 10_000)
