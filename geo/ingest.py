"""Alert intake: check alert files and posts with `geo.alerts`, store them, route them.

Every row is checked (`geo.alerts.check`, the one definition of a valid alert); a bad row
goes to the rejects with its row number, field and reason, and the good rows are kept.
Alerts are committed before routing, and intake is idempotent on (source, external id):
feeding the same file twice stores nothing new. An alert and its case are one unit: if
routing one alert fails, that alert alone gets a case for command-center triage with the
reason, and every other alert of the same file, batch or group commit is routed as usual.
Files are read in chunks (`geo.alertfiles`), so their size is not bounded by memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select
from tqdm import tqdm

from geo import store
from geo.access import SYSTEM, Scope
from geo.alertfiles import (
    CHUNK_ROWS,
    JSON_SUFFIXES,
    Chunk,
    IngestError,
    RejectsFile,
    _chunked,
    csv_header,
    read_chunks,
    records_frame,
)
from geo.alerts import (
    ALERT_COLUMNS,
    EARLIEST,
    FIELDS,
    FUTURE_SLACK,
    Notes,
    Reject,
    Rules,
    SeenIds,
    check,
    excerpt,
)
from geo.bulk import route_checked
from geo.calls import SOURCE as CALL_SOURCE
from geo.calls import CallError, PhoneReport, check_report, preview, record_of
from geo.catalog import SEVERITY_WORDS, Catalog
from geo.crs import parse_crs
from geo.generations import Timeline, routers_of
from geo.routing import BORDER, NEAR_BORDER, Router, Routing
from geo.settings import Settings
from geo.store.bulkinsert import row_dicts

__all__ = ["FIELDS", "IngestError", "IngestReport", "Reject", "ingest_file", "ingest_records",
           "intake", "intake_group", "repair", "route_pending", "stored_routing",
           "take_call"]

log = logging.getLogger(__name__)
BATCH = 5000
#: rejected rows printed by the command line before it only counts them
SHOWN_REJECTS = 20


@dataclass
class IngestReport:
    """What an ingest run did: rows read, stored, duplicates, rejected, routed, flags."""

    file: str
    rows: int = 0
    new: int = 0
    duplicates: int = 0
    rejected: int = 0
    routed: int = 0
    flags: Counter = field(default_factory=Counter)
    notes: Notes = field(default_factory=Notes)
    rejects: list[Reject] = field(default_factory=list)  # the first `SHOWN_REJECTS`
    rejects_file: str | None = None
    unroutable: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return self.notes.lines()

    def render(self) -> str:
        lines = [
            f"{self.file}: {self.rows} row(s) read, {self.new} new alert(s) stored, "
            f"{self.duplicates} already stored, {self.rejected} rejected",
            f"routed {self.routed} case(s)"
            + (": flagged " + ", ".join(f"{k} {v}" for k, v in sorted(self.flags.items()))
               if self.flags else ""),
        ]
        lines += [f"warning: {w}" for w in self.warnings[:20]]
        if len(self.warnings) > 20:
            lines.append(f"... and {len(self.warnings) - 20} more warning(s)")
        lines += [f"error: {u}" for u in self.unroutable[:SHOWN_REJECTS]]
        if len(self.unroutable) > SHOWN_REJECTS:
            lines.append(f"... and {len(self.unroutable) - SHOWN_REJECTS} more such error(s)")
        lines += [f"rejected: {r}" for r in self.rejects[:SHOWN_REJECTS]]
        if self.rejects_file:
            lines.append(f"rejected rows written to {self.rejects_file}")
        elif self.rejected > SHOWN_REJECTS:
            lines.append(f"... and {self.rejected - SHOWN_REJECTS} more rejected row(s); "
                         "--rejects FILE writes them all")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- routing
def deadlines(catalog: Catalog, matter: np.ndarray, severity: np.ndarray,
              opened: np.ndarray) -> np.ndarray:
    """Deadline (datetime64[us], NaT where the catalogue has none) of each case."""
    keys = pd.Series(matter, dtype=object).fillna("") + "\x1f" + pd.Series(severity,
                                                                             dtype=object)
    codes, inverse = np.unique(keys.to_numpy(dtype=str), return_inverse=True)
    table = {f"{m}\x1f{s}": d for (m, s), d in catalog._deadlines.items()}
    allowed = np.array([table.get(c, np.timedelta64("NaT")) for c in codes],
                       dtype="timedelta64[us]")
    return np.asarray(opened, dtype="datetime64[us]") + allowed[inverse]


def case_frame(alerts: pd.DataFrame, routers: Router | Timeline, catalog: Catalog,
               tz: ZoneInfo) -> pd.DataFrame:
    """Route stored alerts (columns ``id``, ``lon``, ``lat``, ``crs``, ``matter_code``,
    ``severity``, ``reported_at``, ``credit_code``) into case rows, all at once; with a
    `geo.generations.Timeline`, each alert with the boundaries in force on its reported
    day (the alerts grouped by generation, each group routed with its router)."""
    parts = []
    for router, rows in routers_of(routers, alerts["reported_at"]):
        parts += _case_parts(alerts.iloc[rows], router, catalog, tz)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _case_parts(alerts: pd.DataFrame, router: Router, catalog: Catalog,
                tz: ZoneInfo) -> list[pd.DataFrame]:
    """`case_frame` of alerts of one layer generation: a frame per CRS."""
    parts = []
    for _, group in alerts.groupby("crs", sort=True):
        batch, columns = route_checked(router, group.assign(external_id=group["id"]), tz)
        out = pd.DataFrame(columns)
        candidates = np.empty(len(group), dtype=object)
        candidates[:] = [()] * len(group)
        for i in np.flatnonzero(batch.flags & (BORDER | NEAR_BORDER)):
            candidates[i] = tuple(router.t_codes[k] for k in batch._others(int(i)))
        opened = group["reported_at"].to_numpy(dtype="datetime64[us]")
        parts.append(pd.DataFrame({
            "alert_id": group["id"].to_numpy(), "status": "routed",
            "lon": batch.lon, "lat": batch.lat,
            "matter_code": group["matter_code"].to_numpy(dtype=object),
            "severity": group["severity"].to_numpy(dtype=object),
            "township_code": out["township_code"].to_numpy(dtype=object),
            "township_name": out["township_name"].to_numpy(dtype=object),
            "unit_code": out["unit_code"].to_numpy(dtype=object),
            "site_id": out["site_id"].to_numpy(dtype=object),
            "body_code": out["body_code"].to_numpy(dtype=object),
            "flags": out["flags"].to_numpy(dtype=object),
            "reasons": out["reasons"].to_numpy(dtype=object),
            "candidates": candidates,
            "opened_at": opened,
            "deadline_at": deadlines(catalog, group["matter_code"].to_numpy(dtype=object),
                                     group["severity"].to_numpy(dtype=object), opened),
        }))
    return parts


def _triage_frame(alerts: pd.DataFrame, router: Router, reason: str,
                  opened: np.ndarray | None = None) -> pd.DataFrame:
    """Cases for alerts that could not be routed: to the command center, with the reason
    (opened at ``opened``, else the reported time), no deadline."""
    n = len(alerts)
    if opened is None:
        opened = alerts["reported_at"].to_numpy(dtype="datetime64[us]")
    lon = pd.to_numeric(alerts["lon"], errors="coerce").to_numpy(dtype="float64")
    lat = pd.to_numeric(alerts["lat"], errors="coerce").to_numpy(dtype="float64")
    usable = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    return pd.DataFrame({
        "alert_id": alerts["id"].to_numpy(), "status": "routed",
        "lon": np.where(usable, lon, 0.0), "lat": np.where(usable, lat, 0.0),
        "matter_code": alerts["matter_code"].to_numpy(dtype=object),
        "severity": alerts["severity"].to_numpy(dtype=object),
        "township_code": None, "township_name": None, "unit_code": None, "site_id": None,
        "body_code": router.command_center, "flags": "invalid",
        "reasons": np.full(n, reason, dtype=object), "candidates": [()] * n,
        "opened_at": opened, "deadline_at": np.full(n, np.datetime64("NaT"), "datetime64[us]"),
    })


def _failure(error: BaseException) -> str:
    return (f"自动分拨失败（{excerpt(f'{type(error).__name__}: {error}', 200)}），"
            "交指挥中心人工分拨")


def _implausible(alerts: pd.DataFrame, earliest: dt.datetime) -> np.ndarray:
    """Stored alerts whose reported time lies outside what `geo.alerts.check` accepts
    (stored by an older version): before ``earliest`` or past their receipt."""
    reported = pd.to_datetime(alerts["reported_at"], errors="coerce").to_numpy(
        dtype="datetime64[us]")
    received = (pd.to_datetime(alerts["received_at"], errors="coerce").to_numpy(
        dtype="datetime64[us]") if "received_at" in alerts.columns
        else np.full(len(alerts), np.datetime64(store.utcnow(), "us")))
    latest = np.where(np.isnat(received), np.datetime64(store.utcnow(), "us"), received)
    return np.isnat(reported) | (reported < np.datetime64(earliest, "us")) | (
        reported > latest + np.timedelta64(FUTURE_SLACK))


def safe_case_frame(alerts: pd.DataFrame, router: Router, catalog: Catalog, tz: ZoneInfo,
                    failed: list[str] | None = None,
                    earliest: dt.datetime = EARLIEST) -> pd.DataFrame:
    """`case_frame`, where an alert whose routing fails costs no other alert its case.

    Alerts whose reported time is implausible (stored by an older version) go to the
    command center, opened at their receipt. A failing group is split in halves until the
    failing alerts stand alone, or until both halves fail alike (a failure of the whole
    group, told by its first, middle and last alert each failing alone as well); those
    alerts get a command-center case saying why
    (`_triage_frame`), and are named in ``failed``.
    """
    odd = _implausible(alerts, earliest)
    if odd.any():
        bad = alerts[odd]
        when = pd.to_datetime(bad.get("received_at", pd.Series(dtype="datetime64[us]")),
                              errors="coerce").to_numpy(dtype="datetime64[us]")
        when = np.where(np.isnat(when), np.datetime64(store.utcnow(), "us"), when) if len(
            when) else np.full(len(bad), np.datetime64(store.utcnow(), "us"))
        if failed is not None:
            failed.append(f"{_alerts_named(bad['id'].tolist())}: reported time out of range; "
                          "given to the command center for triage")
        triage = _triage_frame(bad, router, "报告时间不在可受理范围内（早于最早受理日期或晚于"
                               "接收时间），交指挥中心人工分拨", opened=when)
        rest = safe_case_frame(alerts[~odd], router, catalog, tz, failed, earliest)
        return pd.concat([rest, triage], ignore_index=True)
    return _split_on_failure(alerts, router, catalog, tz, failed)


def _split_on_failure(alerts: pd.DataFrame, router: Router, catalog: Catalog, tz: ZoneInfo,
                      failed: list[str] | None,
                      error: Exception | None = None) -> pd.DataFrame:
    """`case_frame`, or the failing alerts found by halving (see `safe_case_frame`);
    ``error``: the failure of routing ``alerts`` together, already met."""
    if alerts.empty:
        return pd.DataFrame()
    if error is None:
        try:
            return case_frame(alerts, router, catalog, tz)
        except Exception as exc:
            log.exception("%d alert(s) could not be routed together", len(alerts))
            error = exc
    if len(alerts) > 1:
        half = len(alerts) // 2
        parts, errors = [], []
        for part in (alerts.iloc[:half], alerts.iloc[half:]):
            try:
                parts.append(case_frame(part, router, catalog, tz))
                errors.append(None)
            except Exception as exc:
                parts.append(None)
                errors.append(exc)
        alike = all(e is not None and f"{type(e).__name__}: {e}" == f"{type(error).__name__}: "
                    f"{error}" for e in errors)
        if alike:  # the whole group, or bad alerts in both halves: a few alone tell
            alike = not any(_routes(alerts.iloc[[i]], router, catalog, tz)
                            for i in sorted({0, len(alerts) // 2, len(alerts) - 1}))
        if not alike:  # one half routes, or they fail differently: look closer
            return pd.concat([
                p if p is not None else _split_on_failure(part, router, catalog, tz, failed, e)
                for p, e, part in zip(parts, errors, (alerts.iloc[:half], alerts.iloc[half:]),
                                      strict=True)], ignore_index=True)
    if failed is not None:
        failed.append(f"{_alerts_named(alerts['id'].tolist())}: routing failed "
                      f"({excerpt(f'{type(error).__name__}: {error}', 200)}); given to the "
                      "command center for triage")
    return _triage_frame(alerts, router, _failure(error))


def _alerts_named(ids: list) -> str:
    """``alert 7``, ``alerts 3, 9``, or ``alerts 1, 2, 3, 4, 5 and 20 more``."""
    shown = ", ".join(map(str, ids[:5]))
    more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
    return f"alert{'s' if len(ids) > 1 else ''} {shown}{more}"


def _routes(alerts: pd.DataFrame, router: Router, catalog: Catalog, tz: ZoneInfo) -> bool:
    """Whether these alerts route without an error."""
    try:
        case_frame(alerts, router, catalog, tz)
    except Exception:
        return False
    return True


def case_table(alerts: pd.DataFrame, router: Router, catalog: Catalog, tz: ZoneInfo,
               failed: list[str] | None = None,
               earliest: dt.datetime = EARLIEST) -> pd.DataFrame:
    """`safe_case_frame` as the frame `geo.store.add_cases` takes (reasons as lists)."""
    frame = safe_case_frame(alerts, router, catalog, tz, failed, earliest)
    if frame.empty:
        return frame
    frame["reasons"] = [r.split("；") if r else [] for r in frame["reasons"].tolist()]
    frame["routed_at"] = store.utcnow()
    return frame


def flag_counts(flags: pd.Series) -> Counter:
    """How many cases carry each flag (``flags`` are ``;``-separated texts)."""
    counts: Counter = Counter()
    for text, n in flags.value_counts().items():
        counts.update(dict.fromkeys((f for f in str(text).split(";") if f), int(n)))
    return counts


def _stored_frame(alerts: list) -> pd.DataFrame:
    """Stored alerts (ORM rows or namespaces) as the frame `case_frame` reads."""
    return pd.DataFrame({
        "id": [a.id for a in alerts], "lon": [a.lon for a in alerts],
        "lat": [a.lat for a in alerts], "crs": [a.crs for a in alerts],
        "matter_code": pd.Series([a.matter_code for a in alerts], dtype=object),
        "severity": [a.severity for a in alerts],
        "reported_at": pd.to_datetime(pd.Series([a.reported_at for a in alerts],
                                                dtype=object), errors="coerce"),
        "credit_code": pd.Series([a.credit_code for a in alerts], dtype=object),
        "received_at": pd.to_datetime(pd.Series([a.received_at for a in alerts],
                                                dtype=object), errors="coerce")})


def route_pending(engine: Engine, router: Router, catalog: Catalog, tz: ZoneInfo,
                  progress: bool = False, failed: list[str] | None = None,
                  earliest: dt.datetime = EARLIEST) -> tuple[int, Counter]:
    """Route every stored alert that has no case yet; one commit per batch.

    Returns the number of cases made and the count of each flag; an alert that cannot be
    routed gets a command-center case and is named in ``failed``.
    """
    flags: Counter = Counter()
    done = 0
    make = store.sessions(engine)
    with make() as s:
        total = store.count_unrouted(s, scope=SYSTEM)
    bar = tqdm(total=total, unit="alert", desc="routing", disable=not progress or total < BATCH)
    stuck: set[int] = set()
    while True:
        with make.begin() as s:
            alerts = store.unrouted_alerts(s, limit=BATCH, scope=SYSTEM)
            if not alerts:
                break
            if {a.id for a in alerts} == stuck:  # never loop on cases the store refuses
                raise RuntimeError(f"cases of alert(s) {sorted(stuck)[:10]} cannot be stored")
            rows = case_table(_stored_frame(alerts), router, catalog, tz, failed, earliest)
            made = store.add_cases(s, rows, scope=SYSTEM)
        stuck = set() if made else {a.id for a in alerts}
        if made:
            flags.update(flag_counts(rows.loc[rows["alert_id"].isin(list(made)), "flags"]))
        done += len(made)
        bar.update(len(rows))
    bar.close()
    return done, flags


def repair(engine: Engine, router: Router, catalog: Catalog, tz: ZoneInfo,
           earliest: dt.datetime = EARLIEST) -> tuple[int, list]:
    """Give every stored alert without a case its case (`route_pending`).

    Returns the number of cases made and the alerts that could not be routed (they got a
    command-center case), by id.
    """
    failed: list[str] = []
    done, _ = route_pending(engine, router, catalog, tz, failed=failed, earliest=earliest)
    return done, failed


# ---------------------------------------------------------------------------- files
def ingest_chunks(engine: Engine, chunks: Iterable[Chunk], rules: Rules, router: Router,
                  catalog: Catalog, label: str, rejects_path: Path | None = None,
                  progress: bool = False) -> IngestReport:
    """Check, store and route alerts chunk by chunk; then route anything left unrouted.

    Per chunk: the new alerts are committed, then routed and their cases committed, so an
    interrupted run keeps what it stored and a second run stores and routes the rest.
    """
    report = IngestReport(file=label)
    seen = SeenIds()
    sink = RejectsFile(rejects_path)
    make = store.sessions(engine)
    bar = tqdm(unit="row", desc="ingest", disable=not progress, mininterval=0.5)
    try:
        for frame, rows in chunks:
            checked = check(frame, rows, rules, seen)
            report.rows += checked.rows
            report.rejected += len(checked.rejects)
            report.rejects.extend(checked.rejects[:max(0, SHOWN_REJECTS - len(report.rejects))])
            report.notes.update(checked.notes)
            sink.write(checked.rejects)
            for start in range(0, len(checked.alerts), BATCH * 10):
                part = checked.alerts.iloc[start:start + BATCH * 10]
                with make.begin() as s:
                    new = store.store_alerts(s, part.drop(columns="row"))
                report.new += len(new)
                report.duplicates += len(part) - len(new)
                if not new:
                    continue
                keys = list(zip(part["source"], part["external_id"], strict=True))
                ids = np.array([new.get(k, -1) for k in keys])
                fresh = part.assign(id=ids)[ids >= 0]
                cases = case_table(fresh, router, catalog, rules.tz, report.unroutable,
                                   rules.earliest)
                with make.begin() as s:
                    made = store.add_cases(s, cases, scope=SYSTEM)
                # an alert routed meanwhile by another process is counted there, not here
                report.routed += len(made)
                report.flags.update(flag_counts(
                    cases.loc[cases["alert_id"].isin(list(made)), "flags"]))
            bar.update(checked.rows)
    finally:
        bar.close()
        sink.close()
    if report.rows == 0:
        raise IngestError(f"{label}: empty file (no rows)")
    if report.rejected and rejects_path is not None:
        report.rejects_file = str(rejects_path)
    more, flags = route_pending(engine, router, catalog, rules.tz, progress, report.unroutable,
                                rules.earliest)
    report.routed += more
    report.flags.update(flags)
    return report


def _rules(catalog: Catalog, source, crs, tz, earliest) -> Rules:
    return Rules(crs=parse_crs(crs), tz=tz or ZoneInfo("Asia/Shanghai"), now=store.utcnow(),
                 source=source, matters=frozenset(catalog.matters["code"]), earliest=earliest,
                 severity_words=catalog.severity_words)


def ingest_records(
    engine: Engine,
    records: Iterable[tuple[int, dict]],
    router: Router,
    catalog: Catalog,
    label: str,
    source: str | None = None,
    crs: str | None = None,
    rejects_path: Path | None = None,
    tz: ZoneInfo | None = None,
    progress: bool = False,
    earliest: dt.datetime = EARLIEST,
) -> IngestReport:
    """`ingest_chunks` of (row, raw record) pairs; ``label`` names them in messages."""
    return ingest_chunks(engine, _chunked(iter(records), CHUNK_ROWS),
                         _rules(catalog, source, crs, tz, earliest), router, catalog, label,
                         rejects_path, progress)


def ingest_file(
    engine: Engine,
    path: Path,
    router: Router,
    catalog: Catalog,
    source: str | None = None,
    crs: str | None = None,
    rejects_path: Path | None = None,
    tz: ZoneInfo | None = None,
    progress: bool = False,
    earliest: dt.datetime = EARLIEST,
) -> IngestReport:
    """`ingest_chunks` of a CSV, GeoJSON or JSON-lines file, read in chunks; rejected rows
    are written to ``rejects_path`` when given (and the first ones are in the report)."""
    path = Path(path)
    is_csv = path.suffix.lower() not in JSON_SUFFIXES and path.is_file()
    if not source and is_csv and "source" not in csv_header(path):  # every row would fail
        raise IngestError(f"{path}: no source column: give the source of its alerts with "
                          "--source NAME (e.g. --source 12345)")
    return ingest_chunks(engine, read_chunks(path), _rules(catalog, source, crs, tz, earliest),
                         router, catalog, str(path), rejects_path, progress)


def _check_calls(calls: list[tuple[list[dict], str, str]], tz: ZoneInfo,
                 matters: frozenset[str], earliest: dt.datetime, outcomes: list,
                 severity_words: Mapping[str, str] = SEVERITY_WORDS,
                 ) -> list[pd.DataFrame | None]:
    """Check the records of several posts with one `geo.alerts.check` per (source, CRS),
    severities by the catalogue's words (``severity_words``).

    Per post: its checked alerts, or None when any of its records is bad (then its
    rejects, numbered by position in the post, are put in ``outcomes``). An id sent twice
    in one post is one alert posted twice: both are checked, and it is stored once.
    """
    now = store.utcnow()
    groups: dict[tuple[str, str], list[tuple[int, int, dict]]] = {}
    for k, (records, source, crs) in enumerate(calls):
        # every record is checked, a repeat of an id too (it is stored once, below)
        groups.setdefault((source, crs), []).extend(
            (k, row, rec) for row, rec in enumerate(records, 1))
    alerts: list[pd.DataFrame | None] = [None] * len(calls)
    parts: dict[int, list[pd.DataFrame]] = {}
    bad: dict[int, list[Reject]] = {}
    for (source, crs), items in groups.items():
        rules = Rules(crs=parse_crs(crs), tz=tz, now=now, source=source, matters=matters,
                      earliest=earliest, severity_words=severity_words)
        frame, _ = records_frame([(g, rec) for g, (_, _, rec) in enumerate(items)])
        checked = check(frame, np.arange(len(items)), rules, repeats=False)
        for r in checked.rejects:
            k, row, _ = items[r.row]
            bad.setdefault(k, []).append(replace(r, row=row))
        owner = np.array([k for k, _, _ in items])[checked.alerts["row"].to_numpy(dtype=int)]
        for k, part in checked.alerts.groupby(owner, sort=False):
            parts.setdefault(int(k), []).append(part)
    for k in range(len(calls)):
        if k in bad:
            outcomes[k] = (sorted(bad[k], key=lambda r: r.row), [])
        else:
            alerts[k] = pd.concat(parts.get(k, []), ignore_index=True) if k in parts else (
                pd.DataFrame(columns=list(ALERT_COLUMNS)))
    return alerts


def _route_stored(engine: Engine, alert_ids: list[int], router: Router, catalog: Catalog,
                  tz: ZoneInfo, earliest: dt.datetime = EARLIEST) -> dict:
    """Route stored alerts that have no case; their rows as `intake_group` answers them."""
    make = store.sessions(engine)
    with _one_writer(engine), make.begin() as s:
        alerts = list(s.scalars(select(store.Alert).outerjoin(store.Case).where(
            store.Alert.id.in_(alert_ids), store.Case.id.is_(None))))
        if alerts:
            store.add_cases(s, case_table(_stored_frame(alerts), router, catalog, tz,
                                          earliest=earliest), scope=SYSTEM)
        rows = s.execute(
            select(store.Alert.source, store.Alert.external_id,
                   store.Alert.id.label("alert_id"), store.Case.id.label("case_id"),
                   store.Case.status, store.Case.township_code, store.Case.body_code,
                   store.Case.flags)
            .join(store.Case).where(store.Alert.id.in_(alert_ids))).all()
    return {(row.source, row.external_id): row for row in rows}


# ---------------------------------------------------------------------------- API posts
_SQLITE_WRITERS: dict[str, threading.Lock] = {}


def _one_writer(engine: Engine):
    """This process's write lock on a SQLite file (a no-op on PostgreSQL).

    SQLite lets one connection write at a time; API threads that all try at once would
    wait in SQLite's busy handler, which sleeps (up to 100 ms a try) instead of taking
    turns. Other processes are still kept apart by SQLite's own locking (``busy_timeout``).
    """
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return _SQLITE_WRITERS.setdefault(str(engine.url), threading.Lock())


def intake(engine: Engine, records: list[dict], source: str, crs: str, router: Router,
           catalog: Catalog, tz: ZoneInfo,
           matters: set[str] | frozenset[str] | None = None,
           earliest: dt.datetime = EARLIEST,
           actor: str | None = None) -> tuple[list[Reject], list[dict]]:
    """Store and route alerts posted by one source: all of them, or none if any is bad.

    Returns the rejects (then nothing was stored) and, per record, ``id``, ``alert_id``,
    ``case_id``, ``created`` (False: already stored, nothing changed), ``status``,
    ``township_code``, ``body_code`` and ``flags``. Alerts are committed before routing;
    concurrent posts of the same (source, id) store it once. ``matters`` (the catalogue's
    matter codes) may be given by a caller that keeps them. The cases' audit entries name
    ``actor`` (default ``source:SOURCE``): the user who took a call (`take_call`).
    """
    return intake_group(engine, [(records, source, crs)], router, catalog, tz, matters,
                        earliest, actor)[0]


def intake_group(engine: Engine, calls: list[tuple[list[dict], str, str]], router: Router,
                 catalog: Catalog, tz: ZoneInfo,
                 matters: set[str] | frozenset[str] | None = None,
                 earliest: dt.datetime = EARLIEST,
                 actor: str | None = None,
                 ) -> list[tuple[list[Reject], list[dict]]]:
    """`intake` for several posts at once, each given as (records, source, crs).

    Each post is checked on its own and rejected whole if any of its records is bad; the
    alerts of the others are stored in one transaction (committed before routing), routed
    together, and their cases stored in a second one. An alert whose routing fails gets a
    command-center case and costs no other alert its case. Returns, per post, what `intake`
    returns for it alone; an id in several posts is ``created`` in the first only. The new
    cases' audit entries name ``actor``, else their source (``source:SOURCE``).
    """
    matters = frozenset(catalog.matters["code"]) if matters is None else frozenset(matters)
    outcomes: list = [None] * len(calls)
    good = [(k, [str(rec.get("id")).strip() for rec in records], alerts)
            for k, (records, _, _), alerts in zip(
                range(len(calls)), calls, _check_calls(calls, tz, matters, earliest, outcomes,
                                                      catalog.severity_words),
                strict=True) if alerts is not None]
    if not good:
        return outcomes
    alerts = pd.concat([a for _, _, a in good], ignore_index=True).drop_duplicates(
        ["source", "external_id"])
    make = store.sessions(engine)
    with _one_writer(engine), make.begin() as s:
        new = store.store_alerts(s, alerts.drop(columns="row"))
    # what was stored and routed here is answered without reading it back
    known: dict[tuple[str, str], tuple[int, int, dict]] = {}
    if new:
        keys = list(zip(alerts["source"], alerts["external_id"], strict=True))
        ids = np.array([new.get(key, -1) for key in keys])
        fresh = alerts.assign(id=ids)[ids >= 0]
        cases = case_table(fresh, router, catalog, tz, earliest=earliest)
        cases["source"] = cases["alert_id"].map(dict(zip(fresh["id"].tolist(),
                                                          fresh["source"], strict=True)))
        made: dict[int, int] = {}
        with _one_writer(engine), make.begin() as s:
            for src, src_rows in cases.groupby("source", sort=True):
                made.update(store.add_cases(s, src_rows.drop(columns="source"),
                                            scope=replace(SYSTEM, actor=actor or f"source:{src}")))
        by_alert = {r["alert_id"]: r for r in row_dicts(
            cases[["alert_id", "status", "township_code", "body_code", "flags"]])}
        known = {key: (aid, made[aid], by_alert[aid]) for key, aid in new.items()
                 if aid in made}
    missing: dict[str, set[str]] = {}
    for k, ids_, _ in good:
        for ext in ids_:
            if (calls[k][1], ext) not in known:
                missing.setdefault(calls[k][1], set()).add(ext)
    found = {}
    if missing:
        # stored before (or routed meanwhile by another process): as the store has it
        with make() as s:
            for src, exts in missing.items():
                found.update({(src, row.external_id): row for row in s.execute(
                    select(store.Alert.external_id, store.Alert.id.label("alert_id"),
                           store.Case.id.label("case_id"), store.Case.status,
                           store.Case.township_code, store.Case.body_code, store.Case.flags)
                    .outerjoin(store.Case).where(store.Alert.source == src,
                                                 store.Alert.external_id.in_(sorted(exts))))})
    unrouted = [row.alert_id for row in found.values() if row.case_id is None]
    if unrouted:  # left without a case by an older version or a crash: routed now
        found.update(_route_stored(engine, unrouted, router, catalog, tz, earliest))
    answered: set[tuple[str, str]] = set()
    for k, ids_, _ in good:
        source, results = calls[k][1], []
        for ext in ids_:
            key = (source, ext)
            if key in known:
                alert_id, case_id, case = known[key]
            else:
                row = found[key]
                alert_id, case_id, case = row.alert_id, row.case_id, row._mapping
            results.append({"id": ext, "alert_id": alert_id, "case_id": case_id,
                            "created": key in new and key not in answered,
                            "status": case["status"], "township_code": case["township_code"],
                            "body_code": case["body_code"], "flags": case["flags"] or ""})
            answered.add(key)
        outcomes[k] = ([], results)
    return outcomes


# ---------------------------------------------------------------------------- phone calls
def stored_routing(engine: Engine, settings: Settings) -> tuple[Timeline, Catalog]:
    """The routers and catalogue of the loaded layer set: a `geo.generations.Timeline` of
    the layer generations (`stored_timeline`), its routers from ``settings.cache_path``
    where built before (`geo.routercache.cached_router`). The routers know every site:
    where a report routes does not depend on who asks."""
    from geo.routercache import cached_router

    catalog = store.load_catalog(engine, scope=SYSTEM)
    current = cached_router(store.load_layers(engine, scope=SYSTEM), catalog, settings,
                            settings.cache_path)
    return stored_timeline(engine, current, catalog, settings), catalog


def stored_timeline(engine: Engine, current: Router, catalog: Catalog | None,
                    settings: Settings) -> Timeline:
    """The layer generations of the store as a `geo.generations.Timeline` whose latest
    generation routes with ``current`` (the router of the loaded layers). An earlier
    generation's router is built (or read from ``settings.cache_path``) when an alert of
    its time first comes: its townships and units with today's sites and catalogue."""
    from geo.layers import LayerSet
    from geo.routercache import cached_router
    from geo.store.generations import generation_layers, list_generations

    gens = list_generations(engine, scope=SYSTEM)
    if len(gens) <= 1:
        return Timeline.single(current)

    def build(generation_id: int) -> Router:
        old = generation_layers(engine, generation_id, scope=SYSTEM)
        sites = store.load_layers(engine, scope=SYSTEM).sites
        return cached_router(LayerSet(townships=old.townships, units=old.units, sites=sites),
                             catalog, settings, settings.cache_path)

    return Timeline(gens["id"].tolist(), gens["effective_from"].tolist(), current, build,
                    ZoneInfo(settings.timezone))


@dataclass(frozen=True)
class TakenCall:
    """The case a call became: its id, whether this call made it (False: the same report
    was stored before, by a second click), its body and township, and its routing."""

    case_id: int
    created: bool
    body_code: str | None
    township_code: str | None
    routing: Routing


def take_call(engine: Engine, report: PhoneReport, router: Router, catalog: Catalog,
              tz: ZoneInfo, *, scope: Scope) -> TakenCall:
    """Open a case from a phone report, through the one intake of every door (`intake`,
    source `geo.calls.SOURCE`), audited as taken by ``scope.actor``.

    The report is checked (`geo.calls.check_report`) and routed (`geo.calls.preview`)
    before anything is stored: the role must be allowed to open cases, and the case must
    fall in the caller's own (township staff: their township; `geo.access.Scope.check_new`).

    Raises
    ------
    geo.calls.CallError
        The report is refused (its code says why), nothing stored.
    geo.access.AccessDeniedError
        The role may not open cases, or (`geo.access.OutsideScopeError`) the report routes
        outside the caller's own.
    """
    scope.require("cases", "open")
    check_report(report, frozenset(catalog.matters["code"]), store.utcnow())
    routing = preview(router, report)
    scope.check_new("cases", {"township_code": routing.township_code,
                              "body_code": routing.body_code})
    rejects, results = intake(engine, [record_of(report)], CALL_SOURCE, report.crs, router,
                              catalog, tz, actor=scope.actor)
    if rejects:  # the checks above are the intake's bounds: a safety net
        raise CallError(f"refused by the intake: {rejects[0]}", "rejected",
                        field=rejects[0].field, reason=rejects[0].reason)
    made = results[0]
    return TakenCall(int(made["case_id"]), bool(made["created"]), made["body_code"],
                     made["township_code"], routing)
