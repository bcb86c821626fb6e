"""Intake API load test on loopback: alerts posted one per request at a fixed rate.

Makes a fresh temporary SQLite database (or uses ``--database-url``, e.g. a PostGIS
database), loads the demo layers (``geo init``), registers a source, starts the API server
(``python -m geo api``, one process) on a free localhost port, then posts single alerts
at a fixed open-loop rate (default 500 per second for 60 seconds): every send is scheduled
on a timetable fixed in advance and never waits for earlier responses, so a slow server
shows as latency, not as a lower rate. Latency is measured from each request's scheduled
send time (a request the client could not send on time counts its wait), to its response.

A share of the requests (``--duplicates``, default 1 %) re-send the id of an earlier
request from the last ``--dup-window`` requests, some of them still in flight, to show
that a repeat never stores an alert twice, even under load and in a race.

Afterwards the database is checked: every id that got a 2xx answer is stored exactly once
with exactly one case; no (source, id) is stored twice; exactly one answer per id says
``created``; every answer for an id names the same alert. Exits 1 if anything was lost or
duplicated, or if any request failed (non-2xx or no answer); exits 2 if nothing was
lost but the server did not keep up (sends fell behind the timetable: achieved rate under
98 % of the target). Results also go to ``bench/results/api_load.json``.

Usage: ``python bench/api_load.py [--rate 500] [--seconds 60] [--database-url URL]``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo import store  # noqa: E402
from geo.store.models import Alert, Case  # noqa: E402

PATH = "/api/v1/alerts"
TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class Sent:
    """One request and what came back.

    Attributes
    ----------
    seq
        Position in the timetable (0-based).
    ext_id
        The alert id posted.
    repeat
        True when this request re-sends an id posted earlier.
    scheduled, started, finished
        Event-loop times (s): when it was due, when it was handed to the client, when the
        answer was read.
    status
        HTTP status, or 0 when no answer came (``error`` says why).
    created, alert_id, case_id
        From the answer's result (None without a 2xx answer).
    error
        The transport error, if any.
    """

    seq: int
    ext_id: str
    repeat: bool
    scheduled: float
    started: float = float("nan")
    finished: float = float("nan")
    status: int = 0
    created: bool | None = None
    alert_id: int | None = None
    case_id: int | None = None
    error: str = ""


def free_port() -> int:
    """A free TCP port on 127.0.0.1.

    Returns
    -------
    int
        The port number.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def geo_cli(args: list[str], env: dict[str, str]) -> str:
    """Run ``python -m geo ARGS`` and return its standard output.

    Parameters
    ----------
    args
        Command-line arguments after ``python -m geo``.
    env
        Environment of the command (carries ``GEO_DATABASE_URL``).

    Returns
    -------
    str
        What the command printed.
    """
    done = subprocess.run([sys.executable, "-m", "geo", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        sys.exit(f"python -m geo {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def templates() -> list[dict]:
    """Realistic alert rows (position, matter, severity) from ``data/demo_alerts.csv``.

    Returns
    -------
    list of dict
        One dict per demo alert, with ``lon``, ``lat``, ``matter`` and ``severity``.
    """
    with (ROOT / "data" / "demo_alerts.csv").open(encoding="utf-8") as f:
        return [{"lon": float(r["lon"]), "lat": float(r["lat"]), "matter": r["matter"],
                 "severity": r["severity"]} for r in csv.DictReader(f)]


def timetable(n: int, duplicates: float, window: int, prefix: str,
              seed: int) -> tuple[list[str], list[bool], dict[str, bytes]]:
    """The ids to post in order, which of them are repeats, and each id's request body.

    Parameters
    ----------
    n
        Number of requests.
    duplicates
        Share of requests that re-send an id posted earlier.
    window
        A repeat re-sends the id of one of the ``window`` requests before it (so some
        repeats race the original, still in flight).
    prefix
        Prefix of the alert ids, unique per run.
    seed
        Seed of the random choices.

    Returns
    -------
    ids : list of str
        The alert id of each request.
    repeat : list of bool
        Whether each request re-sends an earlier id.
    bodies : dict of str to bytes
        The JSON body of each distinct id (a repeat sends the very same bytes).
    """
    rng = np.random.default_rng(seed)
    rows = templates()
    now = dt.datetime.now(TZ).replace(microsecond=0)
    ids: list[str] = []
    repeat: list[bool] = []
    bodies: dict[str, bytes] = {}
    is_dup = rng.random(n) < duplicates
    is_dup[:window] = False
    for i in range(n):
        if is_dup[i]:
            j = i - int(rng.integers(1, window + 1))
            ids.append(ids[j])
            repeat.append(True)
            continue
        ext = f"{prefix}-{len(bodies):06d}"
        row = rows[int(rng.integers(len(rows)))]
        alert = {"id": ext, "lon": round(row["lon"] + float(rng.normal(0, 3e-4)), 6),
                 "lat": round(row["lat"] + float(rng.normal(0, 3e-4)), 6),
                 "matter": row["matter"], "severity": row["severity"],
                 "reported_at": (now - dt.timedelta(seconds=int(rng.integers(0, 3600))))
                 .isoformat(),
                 "description": f"load test alert {len(bodies)}"}
        bodies[ext] = json.dumps(alert, ensure_ascii=False).encode()
        ids.append(ext)
        repeat.append(False)
    return ids, repeat, bodies


class Connection:
    """One keep-alive HTTP/1.1 connection to the server, one request at a time.

    The load client speaks the little HTTP/1.1 it needs (a POST with a length, an answer
    with a ``content-length``) over asyncio streams instead of using httpx: on this machine
    `httpx.AsyncClient` costs about 2 ms of client CPU per request (its pool and
    per-request machinery), so at 500 requests/s the client alone would take a core of the
    two it shares with the server. This one costs a few per cent of that.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        """Connect (again) if not connected."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        """Drop the connection (after an error its state is unknown)."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one request and read its answer.

        Parameters
        ----------
        request
            The whole request, head and body.

        Returns
        -------
        status : int
            The HTTP status.
        body : bytes
            The answer's body.
        """
        await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, body


def request_bytes(host: str, port: int, token: str, body: bytes) -> bytes:
    """The bytes of ``POST /api/v1/alerts`` carrying ``body``.

    Parameters
    ----------
    host, port
        The server's address (for the Host header).
    token
        The source's bearer token.
    body
        The JSON body.

    Returns
    -------
    bytes
        Request line, headers and body.
    """
    return (f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def post(pool: asyncio.Queue, sent: Sent, request: bytes, timeout: float,
               loop: asyncio.AbstractEventLoop) -> None:
    """Post one alert on a free connection of ``pool`` and record the answer in ``sent``.

    Parameters
    ----------
    pool
        Idle connections (waits here when all are busy).
    sent
        The request's record, filled in here.
    request
        The request's bytes.
    timeout
        Seconds before a request without an answer counts as failed.
    loop
        The running event loop (its clock is the one of the timetable).
    """
    conn = await pool.get()
    sent.started = loop.time()
    try:
        async with asyncio.timeout(timeout):
            status, body = await conn.exchange(request)
        sent.finished = loop.time()
        sent.status = status
        if 200 <= status < 300:
            (res,) = json.loads(body)["results"]
            sent.created, sent.alert_id, sent.case_id = (res["created"], res["alert_id"],
                                                         res["case_id"])
        else:
            sent.error = body[:200].decode(errors="replace")
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ValueError) as exc:
        sent.finished = loop.time()
        sent.error = f"{type(exc).__name__}: {exc}"[:200]
        conn.close()
    finally:
        pool.put_nowait(conn)


async def load(url: str, token: str, ids: list[str], repeat: list[bool],
               bodies: dict[str, bytes], rate: float, connections: int,
               timeout: float) -> list[Sent]:
    """Post ``ids`` in order, request ``i`` at ``i / rate`` seconds, open loop.

    A request waiting for a free connection is late, and its wait counts in its latency.

    Parameters
    ----------
    url
        Base URL of the API (``http://host:port``).
    token
        The source's bearer token.
    ids, repeat, bodies
        The timetable (see `timetable`).
    rate
        Requests per second.
    connections
        Number of connections (requests in flight at most).
    timeout
        Seconds before a request without an answer counts as failed.

    Returns
    -------
    list of Sent
        One record per request, in timetable order.
    """
    host, port = url.removeprefix("http://").rsplit(":", 1)
    requests = {ext: request_bytes(host, int(port), token, body) for ext, body in bodies.items()}
    conns = [Connection(host, int(port)) for _ in range(connections)]
    await asyncio.gather(*(c.open() for c in conns))  # connected before the clock starts
    pool: asyncio.Queue = asyncio.Queue()
    for conn in conns:
        pool.put_nowait(conn)
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.2
        sent = [Sent(i, ext, rep, t0 + i / rate) for i, (ext, rep) in
                enumerate(zip(ids, repeat, strict=True))]
        tasks = []
        for s in sent:
            delay = s.scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(pool, s, requests[s.ext_id], timeout, loop)))
        await asyncio.gather(*tasks)
    finally:
        for conn in conns:
            conn.close()
    return sent


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by process ``pid`` (Linux).

    Parameters
    ----------
    pid
        The process id.

    Returns
    -------
    float
        CPU seconds.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(url: str, server: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    """Wait until the server answers on ``url`` (exit with its log if it dies or stalls).

    Parameters
    ----------
    url
        Base URL of the API.
    server
        The server process.
    log
        Its log file.
    timeout_s
        Seconds to wait.
    """
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if server.poll() is not None:
            sys.exit(f"the API server stopped (exit {server.returncode}):\n"
                     f"{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"{url}/openapi.json", timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"the API server did not answer within {timeout_s:.0f} s:\n"
             f"{log.read_text()[-3000:]}")


def warm_up(url: str, token: str, bodies: dict[str, bytes]) -> list[Sent]:
    """Post a few alerts one after another, so that the router is built before the run.

    Parameters
    ----------
    url
        Base URL of the API.
    token
        The source's bearer token.
    bodies
        The warm-up alerts' bodies by id.

    Returns
    -------
    list of Sent
        Their records (they are checked with the others).
    """
    out = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for k, (ext, body) in enumerate(bodies.items()):
            s = Sent(-1 - k, ext, False, time.monotonic())
            s.started = s.scheduled
            r = client.post(PATH, content=body)
            s.finished, s.status = time.monotonic(), r.status_code
            if r.is_success:
                (res,) = r.json()["results"]
                s.created, s.alert_id, s.case_id = (res["created"], res["alert_id"],
                                                    res["case_id"])
            else:
                s.error = r.text[:200]
            out.append(s)
    return out


def check(database_url: str, source: str, sent: list[Sent]) -> dict:
    """Compare what the answers said with what the database holds.

    Parameters
    ----------
    database_url
        The database the server wrote to.
    source
        The run's source code (only its alerts are looked at).
    sent
        Every request of the run, warm-up included.

    Returns
    -------
    dict
        Counts: ``acked`` (ids with a 2xx answer), ``stored``, ``lost`` (acked, not
        stored), ``duplicated`` (ids stored more than once), ``no_case``, ``extra_cases``
        (cases beyond one per alert), ``created_not_once`` (ids whose 2xx answers do not
        say ``created`` exactly once), ``alert_id_mismatch`` (answers naming another
        alert than the stored one), ``stored_unacked`` (stored though no 2xx came),
        ``case_id_pending`` (2xx answers with no case id yet), and a few example ids.
    """
    from sqlalchemy import func, select

    engine = store.connect(database_url)
    with engine.connect() as conn:
        stored_rows = conn.execute(
            select(Alert.external_id, Alert.id, func.count(Case.id))
            .outerjoin(Case, Case.alert_id == Alert.id)
            .where(Alert.source == source).group_by(Alert.id, Alert.external_id)).all()
    engine.dispose()
    copies: Counter = Counter(ext for ext, _, _ in stored_rows)
    db_id = {ext: aid for ext, aid, _ in stored_rows}
    cases = {ext: n for ext, _, n in stored_rows}
    answers: dict[str, list[Sent]] = defaultdict(list)
    for s in sent:
        answers[s.ext_id].append(s)
    acked = {ext for ext, ss in answers.items() if any(200 <= s.status < 300 for s in ss)}
    lost = sorted(acked - set(db_id))
    duplicated = sorted(ext for ext, n in copies.items() if n > 1)
    no_case = sorted(ext for ext in db_id if cases[ext] == 0)
    extra_cases = sum(n - 1 for n in cases.values() if n > 1)
    created_not_once = []
    mismatch = []
    for ext, ss in answers.items():
        ok = [s for s in ss if 200 <= s.status < 300]
        if not ok:
            continue
        if len(ok) == len(ss) and sum(bool(s.created) for s in ok) != 1:
            created_not_once.append(ext)
        if any(s.alert_id != db_id.get(ext) for s in ok):
            mismatch.append(ext)
    unacked = sorted(set(db_id) - acked)
    pending = sum(1 for s in sent if 200 <= s.status < 300 and s.case_id is None)
    return {"ids_posted": len(answers), "acked": len(acked), "stored": len(db_id),
            "lost": len(lost), "duplicated": len(duplicated), "no_case": len(no_case),
            "extra_cases": extra_cases, "created_not_once": len(created_not_once),
            "alert_id_mismatch": len(mismatch), "stored_unacked": len(unacked),
            "case_id_pending": pending,
            "examples": {"lost": lost[:5], "duplicated": duplicated[:5],
                         "no_case": no_case[:5], "created_not_once": created_not_once[:5],
                         "alert_id_mismatch": sorted(mismatch)[:5]}}


def percentiles(values: np.ndarray) -> dict[str, float]:
    """p50, p95, p99 and max of ``values`` in milliseconds (NaN when empty).

    Parameters
    ----------
    values
        Durations in seconds.

    Returns
    -------
    dict
        ``p50``, ``p95``, ``p99``, ``max`` in ms.
    """
    if not len(values):
        return dict.fromkeys(("p50", "p95", "p99", "max"), float("nan"))
    q = np.percentile(values, [50, 95, 99]) * 1000
    return {"p50": float(q[0]), "p95": float(q[1]), "p99": float(q[2]),
            "max": float(values.max() * 1000)}


def table(rows: list[tuple[str, str]]) -> str:
    """Two aligned columns.

    Parameters
    ----------
    rows
        (label, value) pairs.

    Returns
    -------
    str
        The table as text.
    """
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main() -> int:
    """Run the load test; returns the exit code (1 if anything was lost or failed)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=500.0, help="requests per second")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the run")
    ap.add_argument("--duplicates", type=float, default=0.01,
                    help="share of requests re-sending an earlier id")
    ap.add_argument("--dup-window", type=int, default=500,
                    help="a repeat re-sends one of this many requests before it")
    ap.add_argument("--database-url",
                    help="database to use (default: a fresh temporary SQLite file); it "
                         "gets the demo layers; the run's alerts have their own source")
    ap.add_argument("--connections", type=int, default=64,
                    help="client keep-alive connections (requests in flight at most)")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="seconds before a request without an answer counts as failed")
    ap.add_argument("--warm-up", type=int, default=20,
                    help="alerts posted one by one before the run (router built)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="api_load_"))
    database_url = args.database_url or f"sqlite:///{tmp / 'load.sqlite'}"
    run = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    source = f"load-{run}"
    env = {**os.environ, "GEO_DATABASE_URL": database_url}
    n = round(args.rate * args.seconds)
    ids, repeat, bodies = timetable(n + args.warm_up, args.duplicates, args.dup_window,
                                    f"LOAD-{run}", args.seed)
    # the first alerts (never repeats) are the warm-up ones
    warm_ids = ids[:args.warm_up]
    ids, repeat = ids[args.warm_up:], repeat[args.warm_up:]

    t0 = time.perf_counter()
    geo_cli(["init"], env)
    token = geo_cli(["sources", "add", source, "--name", "load test",
                     "--rate-limit", "100000/minute"], env).strip().splitlines()[-1]
    print(f"database {store.connect(database_url).url.render_as_string(hide_password=True)} "
          f"ready in {time.perf_counter() - t0:.1f} s (demo layers, source {source})",
          flush=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "geo", "api", "--host", "127.0.0.1", "--port", str(port),
             "--no-access-log", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_ready(url, server, log)
        warm = warm_up(url, token, {k: bodies[k] for k in warm_ids})
        print(f"server on {url}; warm-up: {len(warm)} alerts, first "
              f"{(warm[0].finished - warm[0].started) * 1000:.0f} ms (builds the router)",
              flush=True)
        print(f"posting {n:,} alerts ({sum(repeat):,} repeats of earlier ids) at "
              f"{args.rate:g}/s for {args.seconds:g} s ...", flush=True)
        cpu_server0 = cpu_seconds(server.pid)
        cpu_client0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        wall0 = time.perf_counter()
        sent = asyncio.run(load(url, token, ids, repeat, bodies, args.rate,
                                args.connections, args.timeout))
        wall = time.perf_counter() - wall0
        cpu_server = cpu_seconds(server.pid) - cpu_server0
        cpu_client = sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - cpu_client0
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    server_log = log.read_text()
    result = check(database_url, source, warm + sent)

    started = np.array([s.started for s in sent])
    ok = [s for s in sent if 200 <= s.status < 300]
    latency = np.array([s.finished - s.scheduled for s in ok])
    service = np.array([s.finished - s.started for s in ok])
    lag = started - np.array([s.scheduled for s in sent])
    span = started.max() - started.min()
    send_rate = (len(sent) - 1) / span if span > 0 else float("nan")
    statuses = Counter(s.status for s in sent)
    failed = {("no answer" if k == 0 else str(k)): v for k, v in sorted(statuses.items())
              if not 200 <= k < 300}
    errors = Counter(s.error.split(":")[0] for s in sent if s.status == 0)
    last = max(s.finished for s in sent) - min(s.scheduled for s in sent)
    lat = percentiles(latency)
    srv = percentiles(service)
    bad = (result["lost"] + result["duplicated"] + result["no_case"] + result["extra_cases"]
           + result["created_not_once"] + result["alert_id_mismatch"] + sum(failed.values()))
    backend = "PostGIS" if database_url.startswith("postgresql") else "SQLite"
    rows = [
        ("backend", backend),
        ("requests", f"{len(sent):,} single-alert POSTs ({sum(repeat):,} repeats of an "
                     f"earlier id) + {len(warm)} warm-up"),
        ("target rate", f"{args.rate:g}/s for {args.seconds:g} s"),
        ("achieved send rate", f"{send_rate:.1f}/s (sends late by more than 10 ms: "
                               f"{int((lag > 0.010).sum())}, max {lag.max() * 1000:.1f} ms)"),
        ("last answer", f"{last:.2f} s after the first send was due"),
        ("answers", ", ".join(f"{k}: {v:,}" for k, v in sorted(statuses.items()))),
        ("non-2xx / no answer", (", ".join(f"{k}: {v}" for k, v in failed.items()) or "0")
         + (f" ({', '.join(f'{k} {v}' for k, v in errors.items())})" if errors else "")),
        ("latency from due time", "p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
                                  "max {max:.1f} ms".format(**lat)),
        ("latency from actual send", "p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
                                     "max {max:.1f} ms".format(**srv)),
        ("ids acknowledged (2xx)", f"{result['acked']:,} of {result['ids_posted']:,}"),
        ("alerts stored", f"{result['stored']:,}"),
        ("lost (2xx, not stored)", f"{result['lost']}"),
        ("duplicated (stored twice)", f"{result['duplicated']}"),
        ("stored without a case", f"{result['no_case']}"),
        ("cases beyond one per alert", f"{result['extra_cases']}"),
        ("ids not 'created' exactly once", f"{result['created_not_once']}"),
        ("answers naming another alert", f"{result['alert_id_mismatch']}"),
        ("2xx answers without a case id", f"{result['case_id_pending']}"),
        ("CPU during the run", f"server {cpu_server / wall:.2f} cores "
                               f"({cpu_server / len(sent) * 1000:.2f} ms a request), client "
                               f"{cpu_client / wall:.2f} cores (of {os.cpu_count()})"),
    ]
    held = send_rate >= 0.98 * args.rate
    rows.append(("verdict", "PASS" if not bad and held else
                 "FAIL: lost, duplicated or failed requests" if bad else
                 f"nothing lost or duplicated, but the server did not keep up with "
                 f"{args.rate:g}/s"))
    print(table(rows))
    if bad:
        print(f"FAILED: {json.dumps(result['examples'])}")
        tail = [line for line in server_log.splitlines() if line.strip()][-20:]
        if tail:
            print("server log (last lines):\n" + "\n".join(tail))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "api_load.json").write_text(json.dumps({
        "backend": backend, "rate": args.rate, "seconds": args.seconds, "requests": len(sent),
        "repeats": sum(repeat), "send_rate": send_rate, "held_rate": held,
        "statuses": dict(statuses),
        "latency_ms": lat, "service_ms": srv, "check": result,
        "cpu_cores": {"server": cpu_server / wall, "client": cpu_client / wall},
        "failed_examples": [asdict(s) for s in sent if not 200 <= s.status < 300][:20],
    }, indent=2, default=str))
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if bad else 0 if held else 2


if __name__ == "__main__":
    sys.exit(main())
