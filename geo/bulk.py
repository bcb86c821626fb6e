"""Bulk routing: the single-machine path and the Dask path, with the same answers.

``python -m geo route FILE --out OUT.csv`` parses the whole file with `parse_alerts`, routes
every alert with one `Router.route_many` call and writes `RoutingBatch.to_frame`.
``--engine dask`` does the same work partition by partition on a Dask cluster, for batches
of tens of millions of alerts, and writes exactly the same CSV, row for row:

1. The input is read by Dask: CSV with ``dask.dataframe.read_csv`` in byte blocks of about
   ``partition_rows`` rows (every value as text, as the csv module reads it: short rows are
   padded with empty values, extra fields are dropped); GeoJSON and JSON lines with the
   existing reader, then ``dask.dataframe.from_pandas`` (those files are read whole).
2. A first pass counts the rows of each partition (for the row numbers in messages) and
   finds the alert ids that occur more than once in the file (``value_counts`` of 64-bit
   hashes of the ids). Only those can make a row's outcome depend on another partition:
   `parse_alerts` rejects a repeated (source, id) naming the first row. The rows carrying
   such ids (normally none) are collected and shipped to every worker, and each partition
   is parsed after the earlier rows with its repeated ids (`parse_partition`), so it sees
   what the single pass would have seen.
3. The router is pickled once and broadcast to every worker (``Client.scatter``); each
   partition is parsed with `parse_alerts`, routed with `route_alerts` (the function the
   single-machine path uses) and written as CSV into a temporary folder beside the output;
   the client appends the parts to the output in input order as they finish. Workers hold
   a partition or two each; the client holds the small per-partition tallies (counts,
   warnings and the text of rejected rows), never the routed rows.

Workers must see the input file and the output folder under the same paths (one machine,
or a shared file system). As with any byte-block CSV reader, quoted values holding line
breaks are not supported by the Dask engine. Row numbers in messages count data rows from
line 2 of a CSV file, which is the file line number unless the file has blank lines or
values spanning lines.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo.ingest import IngestError, Parsed, parse_alerts, read_records

if TYPE_CHECKING:
    from distributed import Client

    from geo.routing import Router, RoutingBatch

PARTITION_ROWS = 100_000
MAX_WARNINGS = 20
_ROW, _RECORD = "__row__", "__record__"
_DASK_CONFIG = {"dataframe.convert-string": False, "dataframe.shuffle.method": "tasks"}


class EngineError(RuntimeError):
    """The Dask cluster could not be reached or started."""


@dataclass(frozen=True)
class ParseOptions:
    """The arguments of `parse_alerts` shared by every row of one bulk run.

    Parameters
    ----------
    crs
        Normalised CRS key of the coordinates (`geo.crs.parse_crs`).
    matters
        Known matter codes (unknown ones are warned about), or None.
    tz
        The district's time zone, for times without an offset and for incident dates.
    now
        The time of receipt (naive UTC) given to rows without ``reported_at``; one value
        for the whole run, so that every partition agrees.
    source
        Source of rows without a source column.
    """

    crs: str
    matters: frozenset[str] | None
    tz: ZoneInfo
    now: dt.datetime
    source: str | None = "route"

    def parse(self, records: Iterable[tuple[int, dict]]) -> Parsed:
        """`parse_alerts` over ``records``, keeping bad coordinates (flagged ``invalid``)."""
        return parse_alerts(iter(records), source=self.source, crs=self.crs,
                            matters=set(self.matters) if self.matters is not None else None,
                            tz=self.tz, now=self.now, keep_bad_coordinates=True)


@dataclass
class Tally:
    """What a bulk run (or one partition of it) did: rows, routed, flags, rejects, warnings.

    ``warnings`` keeps the first `MAX_WARNINGS`, which is what the command prints.
    """

    rows: int = 0
    routed: int = 0
    flags: Counter = field(default_factory=Counter)
    rejects: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, parsed: Parsed, frame: pd.DataFrame) -> Tally:
        """The tally of one parse and the frame routed from it."""
        flagged = frame["flags"].str.split(";").explode()
        return cls(rows=parsed.rows, routed=len(frame),
                   flags=Counter(flagged[flagged != ""].value_counts().to_dict()),
                   rejects=[str(r) for r in parsed.rejects],
                   warnings=parsed.warnings[:MAX_WARNINGS])

    def add(self, other: Tally) -> None:
        """Add the tally of the next rows of the same file."""
        self.rows += other.rows
        self.routed += other.routed
        self.flags.update(other.flags)
        self.rejects.extend(other.rejects)
        self.warnings.extend(other.warnings[:max(0, MAX_WARNINGS - len(self.warnings))])

    def messages(self, file: str) -> list[str]:
        """Lines for standard error: the first warnings, then every rejected row."""
        return ([f"warning: {w}" for w in self.warnings[:MAX_WARNINGS]]
                + [f"rejected: {file}, {r}" for r in self.rejects])

    def summary(self, out: str) -> str:
        """The one-line summary for standard output."""
        flags = ", ".join(f"{k} {v}" for k, v in sorted(self.flags.items()))
        return (f"routed {self.routed} of {self.rows} row(s) to {out}"
                + (f"; flagged {flags}" if flags else "")
                + (f"; {len(self.rejects)} rejected" if self.rejects else ""))


def route_alerts(router: Router, alerts: list[dict], options: ParseOptions
                 ) -> tuple[RoutingBatch, pd.DataFrame]:
    """Route parsed alerts; the batch and the output frame (the bulk-routing columns).

    Both engines route through here: one `Router.route_many` call, incident dates as local
    days of ``reported_at``, then `RoutingBatch.to_frame` with the alerts' ids.
    """
    tz = options.tz
    batch = router.route_many(
        np.array([a["lon"] for a in alerts], dtype="float64"),
        np.array([a["lat"] for a in alerts], dtype="float64"),
        matter=[a["matter_code"] for a in alerts],
        at=[a["reported_at"].replace(tzinfo=dt.UTC).astimezone(tz).date() for a in alerts],
        crs=options.crs, credit_code=[a["credit_code"] for a in alerts])
    return batch, batch.to_frame(ids=[a["external_id"] for a in alerts])


def usage_problem(engine: str, out: Path, scheduler: str | None, workers: int | None,
                  partition_rows: int | None) -> str | None:
    """Why this combination of ``route`` options is not allowed, or None."""
    if engine != "dask" and (scheduler or workers is not None or partition_rows is not None):
        return "--scheduler, --workers and --partition-rows need --engine dask"
    if engine == "dask" and out.suffix.lower() in (".geojson", ".json"):
        return "--engine dask writes CSV only: give --out FILE.csv"
    if scheduler and workers is not None:
        return "--workers starts a local cluster; it cannot be combined with --scheduler"
    for name, value in (("--workers", workers), ("--partition-rows", partition_rows)):
        if value is not None and value < 1:
            return f"{name} must be at least 1"
    return None


# ---------------------------------------------------------------------------- partitions
def id_key(record: dict) -> str:
    """The alert id of a raw record as `parse_alerts` reads it (column names are matched
    case-insensitively; surrounding spaces are dropped)."""
    value = None
    for k, v in record.items():
        if str(k).strip().lower() == "id":
            value = v
    return "" if value is None else str(value).strip()


def _records(part: pd.DataFrame, first_row: int) -> list[tuple[int, dict]]:
    """(row number, raw record) of a partition: a CSV block numbered from ``first_row``,
    or a frame of rows and records read by `read_records`."""
    if _RECORD in part.columns:
        return list(zip(part[_ROW].tolist(), part[_RECORD].tolist(), strict=True))
    names = list(part.columns)
    rows = zip(*(part[c].tolist() for c in names), strict=True)  # 4x DataFrame.to_dict
    return [(row, dict(zip(names, values, strict=True)))
            for row, values in enumerate(rows, start=first_row)]


def _id_hashes(part: pd.DataFrame) -> pd.Series:
    """A 64-bit hash of the alert id of every row of a partition (see `id_key`).

    Repeated ids are found among hashes, which are cheaper to count than text; a hash
    collision only marks a few more rows as possibly repeated, which changes nothing.
    """
    if _RECORD in part.columns:
        ids = np.array([id_key(r) for r in part[_RECORD]], dtype=object)
    else:
        columns = [c for c in part.columns if str(c).strip().lower() == "id"]
        ids = (part[columns[-1]].astype(object).str.strip().to_numpy(dtype=object)
               if columns else np.full(len(part), "", dtype=object))
    return pd.Series(pd.util.hash_array(ids), index=part.index, name="id_hash")


def _repeated_rows(part: pd.DataFrame, first_row: int, repeated: frozenset[int]
                   ) -> list[tuple[int, dict]]:
    """The rows of a partition whose alert id hash is in ``repeated``."""
    records = _records(part, first_row)
    hashes = pd.util.hash_array(np.array([id_key(rec) for _, rec in records], dtype=object))
    return [r for r, h in zip(records, hashes.tolist(), strict=True) if h in repeated]


def parse_partition(records: list[tuple[int, dict]], options: ParseOptions,
                    earlier: list[tuple[int, dict]] | None = None) -> Parsed:
    """Parse one partition exactly as a single pass over the whole file would.

    Parameters
    ----------
    records
        The partition's (row number, raw record) pairs, in file order.
    options
        Parse options of the run.
    earlier
        Rows of the whole file (row, record) whose alert id occurs more than once in it, in
        file order; None or empty when no id repeats.

    Returns
    -------
    Parsed
        The alerts, rejects and warnings of this partition's rows; ``rows`` counts them.

    Notes
    -----
    A row's outcome in `parse_alerts` depends on its own fields and on the earlier rows
    with the same (source, id). Parsing the earlier rows that share an id with this
    partition, followed by the partition, therefore gives every row of the partition its
    single-pass outcome; the prefix's own alerts, warnings and rejects come first and are
    dropped (its outcomes are those of parsing the prefix alone).
    """
    if not records or not earlier:
        return options.parse(records)
    start = records[0][0]
    ids = {id_key(rec) for _, rec in records}
    prefix = [(row, rec) for row, rec in earlier if row < start and id_key(rec) in ids]
    if not prefix:
        return options.parse(records)
    head = options.parse(prefix)
    both = options.parse(prefix + records)
    return Parsed(alerts=both.alerts[len(head.alerts):],
                  rejects=[r for r in both.rejects if r.row >= start],
                  warnings=both.warnings[len(head.warnings):], rows=both.rows - head.rows)


@dataclass
class PartResult:
    """What routing one partition did, and where its CSV rows are."""

    index: int
    path: str
    tally: Tally


def route_partition(part: pd.DataFrame, index: int, first_row: int, router: Router,
                    options: ParseOptions, earlier: list[tuple[int, dict]] | None,
                    folder: str) -> PartResult:
    """Parse, route and write one partition (runs on a worker).

    Parameters
    ----------
    part
        The partition: a CSV block (text columns) or rows and records of a JSON file.
    index
        Partition number; partition 0 writes the header line.
    first_row
        Row number of the first row of a CSV block.
    router
        The router (shipped to the worker once).
    options
        Parse options of the run.
    earlier
        Rows whose alert id repeats in the file (see `parse_partition`).
    folder
        Where to write ``part-{index}.csv``.

    Returns
    -------
    PartResult
        The partition's tally and the path of its CSV rows.
    """
    parsed = parse_partition(_records(part, first_row), options, earlier)
    _, frame = route_alerts(router, parsed.alerts, options)
    path = os.path.join(folder, f"part-{index:06d}.csv")
    frame.to_csv(path, index=False, header=index == 0)
    return PartResult(index, path, Tally.of(parsed, frame))


# ---------------------------------------------------------------------------- reading
def _is_json(path: Path) -> bool:
    return path.suffix.lower() in (".jsonl", ".ndjson", ".geojson", ".json")


def _has_rows(path: Path) -> bool:
    """Whether the file has a data row; raises `IngestError` as the single path would
    (missing file, no header, missing columns, undecodable first rows)."""
    with closing(read_records(path)) as records:
        return next(records, None) is not None


def read_points(path: Path, partition_rows: int = PARTITION_ROWS):
    """The input file as a Dask DataFrame of about ``partition_rows`` rows per partition.

    CSV is read by ``dask.dataframe.read_csv`` with every value as text (blocks sized from
    the file's mean line length); GeoJSON and JSON lines are read by `read_records` into
    a frame of ``__row__`` and ``__record__`` columns and split with ``from_pandas``.
    """
    import dask.dataframe as dd

    if _is_json(path):
        rows, records = [], []
        for row, record in read_records(path):
            rows.append(row)
            records.append(record)
        frame = pd.DataFrame({_ROW: pd.Series(rows, dtype="int64"),
                              _RECORD: pd.Series(records, dtype=object)})
        return dd.from_pandas(frame, npartitions=max(1, math.ceil(len(frame) / partition_rows)),
                              sort=False)
    columns = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns
    with path.open("rb") as f:
        sample = f.read(1 << 20)
    line = len(sample) / max(1, sample.count(b"\n"))
    return dd.read_csv(path, blocksize=max(int(line * partition_rows), int(line) + 1),
                       dtype=object, keep_default_na=False, na_filter=False,
                       usecols=list(range(len(columns))), encoding="utf-8-sig")


# ---------------------------------------------------------------------------- cluster
@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None
                ) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, else of a new local cluster.

    The local cluster runs ``workers`` worker processes (default: one per core) of one
    thread each, listens on 127.0.0.1 only and serves no dashboard.
    """
    from distributed import Client, LocalCluster

    try:
        if scheduler:
            client = Client(scheduler)
            cluster = None
        else:
            with warnings.catch_warnings():  # another cluster's dashboard port: harmless
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                       threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
            client = Client(cluster)
    except (OSError, TimeoutError) as exc:
        where = f"the Dask scheduler at {scheduler}" if scheduler else "a local Dask cluster"
        raise EngineError(f"cannot reach {where}: {exc}") from exc
    with client, cluster if cluster is not None else nullcontext():
        yield client


def _read_error(path: Path, exc: Exception) -> IngestError:
    if isinstance(exc, UnicodeDecodeError):
        return IngestError(f"{path}: not UTF-8 text ({exc.reason})")
    return IngestError(f"{path}: cannot be read as CSV ({exc})")


def route_file_dask(path: Path, out: Path, router: Router, options: ParseOptions, *,
                    client: Client | None = None, scheduler: str | None = None,
                    workers: int | None = None, partition_rows: int = PARTITION_ROWS,
                    progress: bool = False) -> Tally:
    """Route a CSV, GeoJSON or JSON-lines file on Dask into a CSV file.

    Parameters
    ----------
    path
        The alerts file (see `geo.ingest.read_records`).
    out
        The output CSV: exactly what the single-machine path writes, in input order.
    router
        The router; pickled once and broadcast to the workers.
    options
        Parse options of the run.
    client
        A connected Dask client; without one, a client of ``scheduler`` or of a new local
        cluster of ``workers`` processes is opened for this run (see `dask_client`).
    partition_rows
        Rows per partition (about, for CSV).
    progress
        Show a count of routed partitions on standard error.

    Returns
    -------
    Tally
        Rows read and routed, flags, rejects and warnings. A file without data rows gives
        an empty tally and writes nothing.

    Raises
    ------
    IngestError
        The file cannot be read (as the single-machine path would say).
    EngineError
        The cluster cannot be reached.
    OSError
        The output cannot be written.
    """
    path, out = Path(path), Path(out)
    if not _has_rows(path):
        return Tally()
    with (nullcontext(client) if client is not None
          else dask_client(scheduler, workers)) as c:
        return _route_on(c, path, out, router, options, partition_rows, progress)


def _route_on(client: Client, path: Path, out: Path, router: Router, options: ParseOptions,
              partition_rows: int, progress: bool) -> Tally:
    import dask
    from dask import delayed
    from distributed import as_completed
    from tqdm import tqdm

    with dask.config.set(_DASK_CONFIG):
        points = read_points(path, partition_rows)
        keys = points.map_partitions(_id_hashes,
                                     meta=pd.Series(dtype="uint64", name="id_hash"))
        counts = keys.value_counts(split_out=max(1, points.npartitions // 16))
        if progress:
            print(f"{path}: reading {points.npartitions} partition(s)", file=sys.stderr)
        try:
            lengths, repeated = client.compute(
                [points.map_partitions(len), counts[counts > 1]], sync=True)
        except (UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise _read_error(path, exc) from exc
        ends = np.cumsum(np.asarray(lengths, dtype=np.int64))
        first_rows = [2 + int(n) for n in np.concatenate([[0], ends[:-1]])]
        parts = points.to_delayed()
        earlier = None
        if len(repeated):
            ids = frozenset(repeated.index.tolist())
            chunks = client.compute([delayed(_repeated_rows)(p, first_rows[i], ids)
                                     for i, p in enumerate(parts)], sync=True)
            earlier = client.scatter([[r for chunk in chunks for r in chunk]],
                                     broadcast=True)[0]
        shared_router = client.scatter(router, broadcast=True)
        held = [shared_router] if earlier is None else [shared_router, earlier]
        sink = out.open("wb")
        folder = None
        futures = []
        try:
            folder = tempfile.mkdtemp(prefix=f".{out.name}.parts-", dir=out.parent)
            futures = client.compute([
                delayed(route_partition)(p, i, first_rows[i], shared_router, options,
                                         earlier, folder)
                for i, p in enumerate(parts)])
            with sink, tqdm(total=len(parts), unit="partition", desc="routing",
                            file=sys.stderr, disable=not progress) as bar:
                tally = _collect(as_completed(futures), sink, bar, path)
        except BaseException:
            sink.close()
            out.unlink(missing_ok=True)
            raise
        finally:
            client.cancel(futures + held)  # stop what still runs, free what is held
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
    return tally


def _collect(finished, sink, bar, path: Path) -> Tally:
    """Append the partitions' CSV rows to ``sink`` in partition order as they finish."""
    tally = Tally()
    ready: dict[int, PartResult] = {}
    following = 0
    for future in finished:
        try:
            result: PartResult = future.result()
        except (UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise _read_error(path, exc) from exc
        ready[result.index] = result
        bar.update(1)
        while following in ready:
            part = ready.pop(following)
            with open(part.path, "rb") as src:
                shutil.copyfileobj(src, sink)
            os.remove(part.path)
            tally.add(part.tally)
            following += 1
    return tally
