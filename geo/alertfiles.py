"""Alert files read in chunks of columns: CSV, JSON lines and GeoJSON.

`read_chunks` yields (raw table, row numbers) pairs for `geo.alerts.check`, a chunk of
about ``chunk_rows`` rows at a time, so that a CSV or JSON-lines file of any size is read
in flat memory. A GeoJSON file is one JSON document and is parsed whole (about 2 GB of
memory for a million features): bulk files belong in CSV or JSON lines.
Row numbers are file line numbers for CSV (header = line 1) and JSON lines, and feature
numbers (from 1) for GeoJSON. A record that cannot be read at all (broken JSON, a CSV
row with the wrong number of fields, text that is not UTF-8) comes as a row whose
``__error__`` column says why; the file as a whole fails (`IngestError`) only when it
cannot be opened, has no header or lacks a required column.

CSV is read by pyarrow's streaming reader (every value as text) while every record fits
on one line; at the first record that does not (a quoted value spanning lines, a ragged
row, bytes that are not UTF-8) the rest of the file is read with Python's csv module,
record by record, from that line on.
"""

from __future__ import annotations

import csv
import io
import json
import re
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
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)
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
    names = csv_header(path, required)
    done = 0  # data rows yielded by the fast reader: lines 2 .. done + 1
    try:
        for frame in _fast_csv(path, names, chunk_rows):
            rows = np.arange(done + 2, done + 2 + len(frame), dtype=np.int64)
            done += len(frame)
            blank = (frame == "").all(axis=1).to_numpy(dtype=bool)  # blank lines
            if blank.any():
                frame, rows = frame[~blank].reset_index(drop=True), rows[~blank]
            if len(frame):
                yield frame, rows
        return
    except _IrregularError:
        pass
    yield from _chunked(_slow_csv(path, names, skip=done), chunk_rows)


def _fast_csv(path: Path, names: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Blocks of single-line records as text columns; `_IrregularError` at the first other."""
    ragged = []

    def irregular(row) -> str:  # raising here is not passed on by pyarrow: note and skip
        ragged.append(row)
        return "skip"

    # skip the header ourselves: its names were read (and a BOM dropped) by csv_header
    block = 1 << 22
    reader = None
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=_unique(names), skip_rows=1,
                                           block_size=block),
            # a blank line is a record of one field: irregular, so that row numbers stay
            # line numbers (pyarrow would skip it without a word)
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False,
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
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:  # not UTF-8, or a field too big
        raise _IrregularError from exc
    finally:
        if reader is not None:  # its reading threads end before the process does
            reader.close()


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


def _slow_csv(path: Path, names: list[str], skip: int) -> Iterator[tuple[int, dict]]:
    """Records of a CSV file from data row ``skip`` on, one at a time, by the csv module.

    A record with more or fewer fields than the header, a quote left open (it swallows
    the lines after it), bytes that are not UTF-8 or a field beyond memory sense are each
    reported as that record's error; the reading goes on with the next record.
    """
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with path.open("rb") as raw:
        raw.readline()  # the header
        line = 2
        for _ in range(skip):
            raw.readline()
            line += 1
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.reader(text, strict=True)
        base = 1 + skip  # lines before the reader's first
        while True:
            start = base + reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if "unexpected end of data" in str(exc):
                    lines = base + reader.line_num - start
                    yield start, {_ERROR: f"a quote is left open: the value runs to the end "
                                          f"of the file, over {lines} more line(s)"}
                else:
                    yield start, {_ERROR: f"not a valid CSV record ({exc})"}
                continue
            if not any(values):  # a blank line (or only commas), as the fast reader skips
                continue
            problem = _record_problem(values, names)
            if problem:
                yield start, {_ERROR: problem}
            else:
                yield start, dict(zip(names, values, strict=True))


def _record_problem(values: list[str], names: list[str]) -> str | None:
    """Why a CSV record read by the csv module is not taken, or None."""
    if len(values) != len(names):
        return f"{len(values)} field(s) where the header has {len(names)}"
    if any(_UNDECODED.search(v) for v in values):
        return "not UTF-8 text"
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
            try:
                record = _loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield line_no, {_ERROR: "not UTF-8 text"}
                continue
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
        doc = _loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
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


def _chunked(records: Iterator[tuple[int, dict]], chunk_rows: int) -> Iterator[Chunk]:
    pending: list[tuple[int, dict]] = []
    for item in records:
        pending.append(item)
        if len(pending) >= chunk_rows:
            yield records_frame(pending)
            pending = []
    if pending:
        yield records_frame(pending)


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
