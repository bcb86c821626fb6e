"""Bulk routing: alerts files routed column by column, in one process or on Dask.

``python -m geo route FILE --out OUT.csv`` reads the file in chunks (`geo.alertfiles`),
checks each chunk with `geo.alerts.check` (keeping unusable coordinates, which the router
flags ``invalid``), routes it with one `Router.route_many` call and appends its rows to the
output with pyarrow's CSV writer: memory stays flat whatever the size of the file.

``--engine dask`` gives the chunks to the workers of a Dask cluster and writes exactly the
same bytes. The client reads the file twice: first only the (source, id) pair of every row,
as 64-bit hashes, to find the pairs that occur more than once (only those make one row's
outcome depend on another chunk: a repeat of an accepted alert is rejected, naming the
first row); then chunk by chunk, sending each to a worker with the earlier rows carrying
its repeated pairs (normally none), so that each chunk is checked as the single pass would
check it. Workers send back their chunk's CSV bytes and tally; the client writes them in
input order. Workers need not see the input or the output: the client reads and writes.
"""

from __future__ import annotations

import io
import os
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from geo.alertfiles import IngestError, RejectsFile, read_chunks
from geo.alerts import (
    Checked,
    Notes,
    Reject,
    Rules,
    SeenIds,
    check,
    normalised,
    pairs,
)
from geo.days import local_days
from geo.generations import Timeline, routers_of

if TYPE_CHECKING:
    from distributed import Client

    from geo.routing import Router, RoutingBatch

PARTITION_ROWS = 100_000
#: rows a chunk of the single-process engine (small enough to overlap writing and routing)
ROUTE_CHUNK_ROWS = 100_000
MAX_WARNINGS = 20
MAX_REJECTS = 20
OUTPUT_COLUMNS = ("id", "township_code", "township_name", "unit_code", "site_id",
                  "body_code", "flags", "reasons")


class EngineError(RuntimeError):
    """The Dask cluster could not be reached or started."""


@dataclass
class Tally:
    """What a bulk run (or one chunk of it) did: rows, routed, flags, rejects, warnings."""

    rows: int = 0
    routed: int = 0
    flags: Counter = field(default_factory=Counter)
    rejected: int = 0
    rejects: list[str] = field(default_factory=list)  # the first `MAX_REJECTS` of the run
    notes: Notes = field(default_factory=Notes)
    chunk_rejects: list[Reject] = field(default_factory=list)  # a chunk's, to be written

    @classmethod
    def of(cls, checked: Checked, batch: RoutingBatch | None) -> Tally:
        """The tally of one checked chunk and its routing."""
        flags: Counter = Counter()
        if batch is not None and len(batch):
            from geo.routing import flag_names

            masks, counts = np.unique(batch.flags, return_counts=True)
            for mask, count in zip(masks.tolist(), counts.tolist(), strict=True):
                flags.update(dict.fromkeys(flag_names(mask), count))
        return cls(rows=checked.rows, routed=len(checked.alerts), flags=flags,
                   rejected=len(checked.rejects),
                   rejects=[str(r) for r in checked.rejects[:MAX_REJECTS]],
                   notes=checked.notes, chunk_rejects=checked.rejects)

    @property
    def warnings(self) -> list[str]:
        return self.notes.lines()

    def add(self, other: Tally, sink: RejectsFile | None = None) -> None:
        """Add the tally of the next rows of the same file (their rejects to ``sink``)."""
        self.rows += other.rows
        self.routed += other.routed
        self.flags.update(other.flags)
        self.rejected += other.rejected
        self.rejects.extend(other.rejects[:max(0, MAX_REJECTS - len(self.rejects))])
        self.notes.update(other.notes)
        if sink is not None:
            sink.write(other.chunk_rejects)

    def messages(self, file: str, rejects_file: str | None = None) -> list[str]:
        """Lines for standard error: the first warnings, then the first rejected rows."""
        lines = ([f"warning: {w}" for w in self.warnings[:MAX_WARNINGS]]
                 + [f"rejected: {file}, {r}" for r in self.rejects])
        if rejects_file and self.rejected:
            lines.append(f"rejected rows written to {rejects_file}")
        elif self.rejected > len(self.rejects):
            lines.append(f"... and {self.rejected - len(self.rejects)} more rejected row(s); "
                         "--rejects FILE writes them all")
        return lines

    def summary(self, out: str) -> str:
        """The one-line summary for standard output."""
        flags = ", ".join(f"{k} {v}" for k, v in sorted(self.flags.items()))
        return (f"routed {self.routed} of {self.rows} row(s) to {out}"
                + (f"; flagged {flags}" if flags else "")
                + (f"; {self.rejected} rejected" if self.rejected else ""))


def bulk_rules(rules: Rules) -> Rules:
    """The rules of bulk routing: unusable coordinates are kept and flagged ``invalid``;
    rows without a source are the source ``route``."""
    return replace(rules, keep_bad_coordinates=True, source=rules.source or "route")


def route_checked(router: Router, alerts: pd.DataFrame, tz) -> tuple[RoutingBatch, dict]:
    """Route checked alerts (`geo.alerts.ALERT_COLUMNS`, one CRS); the batch and the output
    columns (`OUTPUT_COLUMNS`, see `RoutingBatch.columns`). Both engines and the intake of
    stored alerts (`geo.ingest.case_frame`) route through here."""
    crs = alerts["crs"].iloc[0] if len(alerts) else "EPSG:4326"
    batch = router.route_many(
        alerts["lon"].to_numpy(dtype="float64"), alerts["lat"].to_numpy(dtype="float64"),
        matter=alerts["matter_code"].to_numpy(dtype=object),
        at=local_days(alerts["reported_at"], tz), crs=crs,
        credit_code=alerts["credit_code"].to_numpy(dtype=object))
    return batch, batch.columns(ids=alerts["external_id"])


def _text(values) -> pa.Array | pa.ChunkedArray:
    """An output column as arrow text (pandas text arrays without a copy)."""
    if isinstance(values, np.ndarray) and values.dtype == object:
        return pa.array(values, type=pa.large_string(), from_pandas=True)
    arr = pa.array(values) if not isinstance(values, np.ndarray) else pa.array(
        values.astype(str))
    return arr if arr.type in (pa.string(), pa.large_string()) else arr.cast(pa.large_string())


def csv_bytes(columns: dict, header: bool) -> bytes:
    """Output rows as CSV: a plain header, text values quoted, empty for none, ``\\n``
    line ends."""
    table = pa.table({name: _text(columns[name]) for name in OUTPUT_COLUMNS})
    sink = io.BytesIO()
    if header:  # plain names: they need no quotes
        sink.write((",".join(OUTPUT_COLUMNS) + "\n").encode())
    if table.num_rows:
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False,
                                                        quoting_style="needed"))
    return sink.getvalue()


def route_chunk(frame: pd.DataFrame, rows: np.ndarray, router: Router | Timeline, rules: Rules,
                seen: SeenIds) -> tuple[Checked, RoutingBatch | None, dict]:
    """Check and route one chunk: the check, the batch and the output columns."""
    checked = check(frame, rows, rules, seen)
    return checked, *route_checked_or_empty(router, checked, rules)


def route_file(path: Path, out: Path, router: Router | Timeline, rules: Rules,
               chunk_rows: int = ROUTE_CHUNK_ROWS, progress: bool = False,
               rejects: Path | None = None) -> Tally:
    """Route a CSV, GeoJSON or JSON-lines file into a CSV or GeoJSON file, in one process.

    CSV output is written chunk by chunk (flat memory); GeoJSON output is written at the
    end. Raises `IngestError` (unreadable input) or OSError (output not writable); an
    empty input gives an empty tally and writes nothing.
    """
    from tqdm import tqdm

    path, out = Path(path), Path(out)
    rules = bulk_rules(rules)
    geojson = out.suffix.lower() in (".geojson", ".json")
    chunks = read_chunks(path, chunk_rows)
    first = next(chunks, None)
    tally = Tally()
    if first is None:
        return tally
    bar = tqdm(unit="row", desc="routing", file=sys.stderr, disable=not progress,
               mininterval=0.5)
    bad = RejectsFile(rejects)
    try:
        _route_chunks(_chain(first, chunks), out, router, rules, geojson, tally, bar, bad)
    except BaseException:  # no half-written output is left behind as if it were whole
        with suppress(OSError):
            out.unlink(missing_ok=True)
        raise
    return tally


def _route_chunks(chunks: Iterator, out: Path, router: Router | Timeline, rules: Rules,
                  geojson: bool, tally: Tally, bar, bad: RejectsFile) -> None:
    """The stages of `route_file` over ``chunks``, adding up ``tally``: the next chunk is
    read and checked, this one routed, the one before rendered and written, all at once
    (pyarrow, numpy, shapely and the file write let go of the GIL)."""
    seen = SeenIds()
    frames, points = [], []
    with (nullcontext() if geojson else out.open("wb")) as sink, bar, closing(bad), \
            ThreadPoolExecutor(2) as pool:
        written = None
        for k, (checked, batch, columns) in enumerate(_routed(chunks, router, rules, seen,
                                                               pool)):
            part = Tally.of(checked, batch)
            tally.add(part, bad)
            bar.update(part.rows)
            if geojson:
                frames.append(pd.DataFrame(columns))
                points.append(_points(batch))
                continue
            if written is not None:
                written.result()
            written = pool.submit(_write, sink, columns, k == 0)
        if written is not None:
            written.result()
    if geojson:
        _write_geojson(out, frames, points)


def _routed(chunks: Iterator, router: Router | Timeline, rules: Rules, seen: SeenIds,
            pool: ThreadPoolExecutor) -> Iterator[tuple[Checked, RoutingBatch | None, dict]]:
    """Check, then route, chunk after chunk, with the next chunk read and checked by a
    thread of ``pool`` while this one is routed (much of both runs without the GIL)."""
    def checked_next():
        item = next(chunks, None)
        return None if item is None else check(item[0], item[1], rules, seen)

    ahead = pool.submit(checked_next)
    while (checked := ahead.result()) is not None:
        ahead = pool.submit(checked_next)
        yield checked, *route_checked_or_empty(router, checked, rules)


@dataclass(frozen=True)
class Routed:
    """What the tally and the GeoJSON output read of a chunk routed with several layer
    generations: WGS84 lon/lat (degrees) and routing flags per row, in the chunk's order."""

    lon: np.ndarray
    lat: np.ndarray
    flags: np.ndarray

    def __len__(self) -> int:
        return len(self.flags)


def route_checked_or_empty(router: Router | Timeline, checked: Checked, rules: Rules
                           ) -> tuple[RoutingBatch | Routed | None, dict]:
    """`route_checked` of a checked chunk; with a `geo.generations.Timeline`, each row
    with the boundaries in force on its reported day (rows without one: today's)."""
    alerts = checked.alerts
    if not len(alerts):
        return None, {c: np.array([], dtype=object) for c in OUTPUT_COLUMNS}
    groups = routers_of(router, alerts["reported_at"])
    if len(groups) == 1:
        return route_checked(groups[0][0], alerts, rules.tz)
    n = len(alerts)
    columns = {c: np.empty(n, dtype=object) for c in OUTPUT_COLUMNS}
    lon, lat = np.empty(n), np.empty(n)
    flags = None
    for one, rows in groups:
        batch, part = route_checked(one, alerts.iloc[rows], rules.tz)
        for c in OUTPUT_COLUMNS:
            columns[c][rows] = np.asarray(part[c], dtype=object)
        lon[rows], lat[rows] = batch.lon, batch.lat
        flags = np.zeros(n, dtype=batch.flags.dtype) if flags is None else flags
        flags[rows] = batch.flags
    return Routed(lon, lat, flags), columns


def _write(sink, columns: dict, header: bool) -> None:
    sink.write(csv_bytes(columns, header))


def _chain(first, rest) -> Iterator:
    yield first
    yield from rest


def _points(batch: RoutingBatch | None):
    import geopandas as gpd

    from geo.routing import INVALID

    if batch is None:
        return gpd.GeoSeries([], crs="EPSG:4326").values
    points = gpd.points_from_xy(batch.lon, batch.lat)
    points[(batch.flags & INVALID) > 0] = None
    return points


def _write_geojson(out: Path, frames: list[pd.DataFrame], points: list) -> None:
    import geopandas as gpd
    import shapely

    frame = pd.concat(frames, ignore_index=True)
    geoms = np.concatenate([np.asarray(shapely.from_wkb(shapely.to_wkb(np.asarray(p))))
                            for p in points]) if points else []
    gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326")).to_file(
        out, driver="GeoJSON")


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


# ---------------------------------------------------------------------------- Dask
def pair_hashes(frame: pd.DataFrame, source: str | None) -> np.ndarray:
    """A 64-bit hash of the (source, id) pair of every raw row, as `check` reads them."""
    return SeenIds.keys(*pairs(normalised(frame), source))


def route_part(frame: pd.DataFrame, rows: np.ndarray, earlier: pd.DataFrame | None,
               earlier_rows: np.ndarray | None, router: Router | Timeline, rules: Rules,
               header: bool) -> tuple[bytes, Tally]:
    """One chunk on a worker: check ``earlier`` (the earlier rows of the file that share a
    (source, id) pair with this chunk) to learn which of them were accepted, then check,
    route and render the chunk. Returns its CSV bytes and tally."""
    seen = SeenIds()
    if earlier is not None and len(earlier):
        check(earlier, earlier_rows, rules, seen)
    checked, batch, columns = route_chunk(frame, rows, router, rules, seen)
    return csv_bytes(columns, header), Tally.of(checked, batch)


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


def route_file_dask(path: Path, out: Path, router: Router | Timeline, rules: Rules, *,
                    client: Client | None = None, scheduler: str | None = None,
                    workers: int | None = None, partition_rows: int = PARTITION_ROWS,
                    progress: bool = False, rejects: Path | None = None) -> Tally:
    """Route a CSV, GeoJSON or JSON-lines file on Dask into a CSV file.

    Parameters
    ----------
    path
        The alerts file (see `geo.alertfiles.read_chunks`).
    out
        The output CSV: exactly what `route_file` writes.
    router
        The router, or a `geo.generations.Timeline` of the layer generations (each row
        routed with the boundaries of its reported day); pickled once and broadcast to
        the workers.
    rules
        The checks of the run (see `bulk_rules`).
    client
        A connected Dask client; without one, a client of ``scheduler`` or of a new local
        cluster of ``workers`` processes is opened for this run (see `dask_client`).
    partition_rows
        Rows per chunk given to a worker.
    progress
        Show a count of routed chunks on standard error.

    Returns
    -------
    Tally
        Rows read and routed, flags, rejects and warnings. A file without data rows gives
        an empty tally and writes nothing.

    Raises
    ------
    IngestError
        The file cannot be read (as `route_file` would say).
    EngineError
        The cluster cannot be reached.
    OSError
        The output cannot be written.
    """
    path, out = Path(path), Path(out)
    rules = bulk_rules(rules)
    hashes = [pair_hashes(frame, rules.source) for frame, _ in read_chunks(path, partition_rows)]
    if not hashes:
        return Tally()
    keys, counts = np.unique(np.concatenate(hashes), return_counts=True)
    repeated = keys[counts > 1]
    del hashes, keys, counts
    with (nullcontext(client) if client is not None
          else dask_client(scheduler, workers)) as c, closing(RejectsFile(rejects)) as bad:
        return _route_on(c, path, out, router, rules, repeated, partition_rows, progress,
                         bad)


def _route_on(client: Client, path: Path, out: Path, router: Router | Timeline, rules: Rules,
              repeated: np.ndarray, partition_rows: int, progress: bool,
              bad: RejectsFile) -> Tally:
    from distributed import as_completed
    from tqdm import tqdm

    # a timeline's earlier routers are built here, once, not by every worker
    shared = client.scatter(router.built() if isinstance(router, Timeline) else router,
                            broadcast=True)
    tally = Tally()
    futures = []
    held: list[tuple[pd.DataFrame, np.ndarray, np.ndarray]] = []  # earlier repeated rows
    window = 2 * max(1, len(client.scheduler_info().get("workers", {})) or 1) + 2
    try:
        with out.open("wb") as sink, tqdm(unit="chunk", desc="routing", file=sys.stderr,
                                          disable=not progress) as bar:
            ready: dict[int, tuple[bytes, Tally]] = {}
            following = 0
            pending = as_completed()
            index = {}
            for k, (frame, rows) in enumerate(read_chunks(path, partition_rows)):
                keys = pair_hashes(frame, rules.source)
                mine = np.isin(keys, repeated)
                earlier, earlier_rows = _earlier(held, keys[mine])
                if mine.any():
                    held.append((frame[mine], rows[mine], keys[mine]))
                future = client.submit(route_part, frame, rows, earlier, earlier_rows, shared,
                                       rules, k == 0, pure=False)
                index[future.key] = k
                futures.append(future)
                pending.add(future)
                while pending.count() >= window:
                    following = _drain(next(pending), index, ready, following, sink, tally, bar,
                                       bad)
            for future in pending:
                following = _drain(future, index, ready, following, sink, tally, bar, bad)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    finally:
        client.cancel([*futures, shared])
    return tally


def _earlier(held: list, keys: np.ndarray) -> tuple[pd.DataFrame | None, np.ndarray | None]:
    """The held earlier rows whose pair is among ``keys``, in file order."""
    if not len(keys) or not held:
        return None, None
    frames, rows = [], []
    for frame, r, k in held:
        pick = np.isin(k, keys)
        if pick.any():
            frames.append(frame[pick])
            rows.append(r[pick])
    if not frames:
        return None, None
    return pd.concat(frames, ignore_index=True), np.concatenate(rows)


def _drain(future, index: dict, ready: dict, following: int, sink, tally: Tally, bar,
           bad: RejectsFile | None = None) -> int:
    """Keep a finished chunk; write every chunk that is next in input order."""
    ready[index.pop(future.key)] = future.result()
    future.release()
    bar.update(1)
    while following in ready:
        data, part = ready.pop(following)
        sink.write(data)
        tally.add(part, bad)
        following += 1
    return following


__all__ = ["EngineError", "IngestError", "Tally", "bulk_rules", "dask_client", "route_file",
           "route_file_dask", "usage_problem"]
