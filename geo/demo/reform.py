"""The demo's reform history: the staff roster (``data/staff.csv``) and the cases of the
years before the live demo, so that 改革成效 and the evaluation's decision paper have
something to show.

- Staff: before the reform most enforcement staff are in the seven district teams; on each
  township's first delegation (织里镇 2021-07-01, the others 2022-01-01 in the demo
  catalogue) staff move from the district teams to its center, until about 85 % of the
  district's staff work in the townships (the article: 317 moved, 85.2 %).
- Cases: alerts from 2020-01-01 until the first live demo case, a few a month per
  township, more once a township is empowered (织里's patrols and grid members find about
  2.6 times as many cases after its full powers); some matters are never reported before
  a township received them and are afterwards (dormant clauses activated); a few matters
  are often returned by one township's center, or slow to close. They go through the one
  alert pipeline (`geo.ingest.ingest_records`, so the body is the routing rule's on the
  incident's day), then each is closed (or returned, re-routed and closed) with legal
  steps (`geo.demo.cases.Story`) written to the audit log at the time they happened.

Deterministic (fixed seeds), and quick: a few thousand cases.
"""

from __future__ import annotations

import datetime as dt
import zlib
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo.access import SYSTEM
from geo.demo.cases import HOUR, REASONS, Story, _ts
from geo.demo.layers import ALERT_SOURCES

#: staff of each district team before the reform
TEAM_STAFF = {"DT-ZH": 200, "DT-SC": 60, "DT-ST": 30, "DT-JT": 25, "DT-NY": 20,
              "DT-WH": 13, "DT-YJ": 12}
#: staff of a township center before its reform (织里镇: 5)
CENTER_BASE = 3
#: staff of a township center once empowered, by the kind of township (织里镇: 45)
CENTER_TARGET = {"街道": 16, "镇": 22, "乡": 14}
ZHILI = "330502100000"
ROSTER_START = dt.date(2020, 1, 1)
#: the first day of the demo's case history
HISTORY_START = dt.date(2020, 1, 1)
#: prefix of the external ids of the history's alerts (how a second run knows it is there)
PREFIX = "HIST-"
SEED = 20260101
#: cases per month in a township before its reform, by kind (织里镇: 8)
MONTHLY = {"街道": 2.0, "镇": 3.0, "乡": 2.0}
#: how much more a source finds once the township is empowered (织里镇: `ZHILI_UPLIFT`)
UPLIFT = {"12345": 1.15, "patrol": 1.8, "grid": 1.8, "bigdata": 1.3, "referral": 1.0}
ZHILI_UPLIFT = {"12345": 1.6, "patrol": 3.6, "grid": 3.6, "bigdata": 2.6, "referral": 1.2}
#: (township, matter) pairs whose center returns most cases (taken back in the paper), and
#: the share returned; and pairs returned now and then (train)
RETURNS = {(ZHILI, "M013"): 0.6, (ZHILI, "M015"): 0.55, ("330502101000", "M006"): 0.4,
           ("330502001000", "M002"): 0.35}
#: (township, matter) pairs a center is slow to close (train)
SLOW = {(ZHILI, "M024"), ("330502102000", "M029")}
#: matters no source reports before a township holds them: activated once it does
DORMANT_PER_TOWN = {"织里镇": 10, "镇": 3, "街道": 1, "乡": 2}


def _kind(name: str) -> str:
    for kind in ("街道", "镇", "乡"):
        if str(name).endswith(kind):
            return kind
    return "镇"


def _starts(empowerment: pd.DataFrame) -> dict[str, dt.date]:
    """Each township's first delegation."""
    starts = empowerment.groupby("township_code")["effective_from"].min()
    return {t: pd.Timestamp(d).date() for t, d in starts.items()}


def build_staff(bodies: pd.DataFrame, empowerment: pd.DataFrame) -> pd.DataFrame:
    """The demo staff roster (``staff.csv``): ``body_code, count, effective_from,
    effective_to`` (text), staff moving from the district teams to each township center on
    its first delegation."""
    starts = _starts(empowerment)
    centers = bodies[bodies["kind"] == "township_center"]
    rows = []
    moves: dict[dt.date, int] = {}
    for code, town, name in zip(centers["code"], centers["township_code"], centers["name"],
                                strict=True):
        base = 5 if town == ZHILI else CENTER_BASE
        target = 45 if town == ZHILI else CENTER_TARGET[_kind(str(name).replace(
            "综合行政执法中心", ""))]
        start = starts.get(town)
        if start is None:
            rows.append((code, base, ROSTER_START, None))
            continue
        rows.append((code, base, ROSTER_START, start))
        rows.append((code, target, start, None))
        moves[start] = moves.get(start, 0) + target - base
    # the district teams give their staff in proportion, at each date
    total = sum(TEAM_STAFF.values())
    current = dict(TEAM_STAFF)
    since = dict.fromkeys(TEAM_STAFF, ROSTER_START)
    for day in sorted(moves):
        left = moves[day]
        for k, team in enumerate(TEAM_STAFF):
            give = left if k == len(TEAM_STAFF) - 1 else round(
                moves[day] * TEAM_STAFF[team] / total)
            give = min(give, current[team] - 2, left)
            rows.append((team, current[team], since[team], day))
            current[team] -= give
            since[team] = day
            left -= give
    for team in TEAM_STAFF:
        rows.append((team, current[team], since[team], None))
    return pd.DataFrame([{"body_code": b, "count": str(n), "effective_from": f.isoformat(),
                          "effective_to": t.isoformat() if t else ""}
                         for b, n, f, t in rows])


def _months(first: dt.date, end: dt.datetime) -> list[dt.date]:
    out, day = [], first
    while dt.datetime.combine(day, dt.time()) < end:
        out.append(day)
        day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return out


def history_alerts(sites: pd.DataFrame, empowerment: pd.DataFrame, townships: pd.DataFrame,
                   end: dt.datetime, tz: ZoneInfo, seed: int = SEED) -> pd.DataFrame:
    """The history's alerts (the demo alert file's columns), from `HISTORY_START` until
    ``end`` (naive UTC), deterministic.

    ``sites``: ``site_id, township_code, lon, lat`` (a point of each, WGS84);
    ``empowerment``: the catalogue's; ``townships``: ``code, name``.
    """
    rng = np.random.default_rng(seed)
    starts = _starts(empowerment)
    held = {t: g.sort_values("matter_code") for t, g in empowerment.groupby("township_code")}
    typical = {m for _, matters, _ in ALERT_SOURCES.values() for m in matters}
    names = dict(zip(townships["code"], townships["name"], strict=True))
    at_sites = {t: g[["lon", "lat"]].to_numpy() for t, g in sites.groupby("township_code")}
    sources = list(ALERT_SOURCES)
    share = np.array([ALERT_SOURCES[s][0] for s in sources])
    rows = []
    for town in sorted(at_sites):
        name = names.get(town, "")
        kind = "织里镇" if town == ZHILI else _kind(name)
        monthly = 8.0 if town == ZHILI else MONTHLY[kind]
        start = starts.get(town)
        lift = ZHILI_UPLIFT if town == ZHILI else UPLIFT
        mine = held.get(town)
        quiet = [] if mine is None else [
            (m, pd.Timestamp(d).date()) for m, d in zip(
                mine["matter_code"], mine["effective_from"], strict=True)
            if m not in typical]
        # the dormant matters of this township: a fixed choice among those it holds
        quiet.sort(key=lambda p: zlib.crc32(f"{town}{p[0]}".encode()))
        dormant = quiet[:DORMANT_PER_TOWN[kind]]
        for month in _months(HISTORY_START, end):
            trend = 1.0 + 0.05 * (month.year - HISTORY_START.year)
            after = start is not None and month >= start
            for src, w in zip(sources, share, strict=True):
                rate = monthly * w * trend * (lift[src] if after else 1.0)
                for _ in range(int(rng.poisson(rate))):
                    rows.append((town, src, str(rng.choice(ALERT_SOURCES[src][1])), month))
            for matter, since in dormant:
                if month >= since and rng.random() < (0.6 if month.year == since.year
                                                      else 0.2):
                    rows.append((town, str(rng.choice(["patrol", "grid"])), matter, month))
    out = []
    for k, (town, src, matter, month) in enumerate(rows, start=1):
        points = at_sites[town]
        lon, lat = points[int(rng.integers(len(points)))] + rng.normal(0, 0.0003, 2)
        days = (dt.date(month.year + month.month // 12, month.month % 12 + 1, 1) - month).days
        local = dt.datetime.combine(month, dt.time(8)) + dt.timedelta(
            days=int(rng.integers(days)), minutes=int(rng.integers(12 * 60)))
        when = local.replace(tzinfo=tz)
        if when.astimezone(dt.UTC).replace(tzinfo=None) >= end:
            continue
        out.append({"id": f"{PREFIX}{src.upper()}-{k:06d}", "lon": round(float(lon), 6),
                    "lat": round(float(lat), 6), "matter": matter,
                    "reported_at": when.isoformat(timespec="minutes"), "source": src,
                    "severity": str(rng.choice(["low", "medium", "high"],
                                               p=ALERT_SOURCES[src][2])),
                    "description": ""})
    return pd.DataFrame(out)


def close_history(cases: pd.DataFrame, command: str, centers: dict[str, str],
                  district: dict[str, str], seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """The steps of the history's cases (pure): each verified and closed within its
    deadline (late for `SLOW` pairs); a township center's case of a `RETURNS` pair, or
    now and then any, returned to the command center, re-routed to the district team and
    closed there. ``cases``: ``id, source, body_code, township_code, matter_code,
    opened_at, deadline_at`` (naive UTC). Returns (case rows' new values, audit
    entries)."""
    rng = np.random.default_rng(seed)
    town_centers = set(centers.values())
    changes, events = [], []
    for row in cases.sort_values("id").itertuples(index=False):
        opened = _ts(row.opened_at)
        story = Story(int(row.id), "routed", row.source, row.body_code, row.township_code,
                      _ts(row.deadline_at), opened + dt.timedelta(minutes=1))
        window = (story.deadline_at - opened) if story.deadline_at else dt.timedelta(days=7)
        actor = "command" if row.body_code == command else "demo"
        key = (row.township_code, row.matter_code)
        share = RETURNS.get(key, 0.03)
        if row.body_code in town_centers and rng.random() < share:
            at = story.at + HOUR * float(rng.uniform(1, 20))
            story.step("returned", at, actor, reason=REASONS["returned"], body=command)
            target = district.get(row.matter_code, command)
            story.step("routed", at + HOUR * float(rng.uniform(0.5, 3)), "command",
                       body=target)
            story.body_code = target
        at = story.at + HOUR * float(rng.uniform(1, 8))
        story.step("verified", at, actor)
        slow = key in SLOW and story.body_code in town_centers
        close = opened + window * float(rng.uniform(1.6, 3.0) if slow
                                        else rng.uniform(0.2, 0.9))
        story.step("closed", max(close, at + HOUR), actor, reason=REASONS[
            "closed_triage" if story.body_code == command else "closed_desk"])
        changes.append({"id": story.case_id, "status": story.status,
                        "body_code": story.body_code, "version": 1 + len(story.events)})
        events += story.events
    return changes, events


def add_reform_history(engine, router, catalog, tz: ZoneInfo, now: dt.datetime) -> int:
    """Ingest the history's alerts (`history_alerts`) up to the first live case (or
    ``now``, naive UTC) and close their cases (`close_history`); once: nothing when the
    history is there. Returns the number of cases added."""
    from sqlalchemy import func, insert, select, update

    from geo import store
    from geo.ingest import ingest_records
    from geo.store.models import Alert, AuditLog, Case

    with store.sessions(engine)() as s:
        if s.scalar(select(func.count()).select_from(Alert).where(
                Alert.external_id.like(f"{PREFIX}%"))):
            return 0
        first = s.scalar(select(func.min(Case.opened_at)))
    layers = store.load_layers(engine, scope=SYSTEM)
    if layers.sites is None or layers.sites.empty or not catalog.loaded:
        return 0
    points = layers.sites.geometry.representative_point()
    sites = pd.DataFrame({"site_id": layers.sites["site_id"],
                          "township_code": layers.sites["township_code"],
                          "lon": points.x.to_numpy(), "lat": points.y.to_numpy()})
    end = min(first, now) if first is not None else now
    alerts = history_alerts(sites, catalog.empowerment, layers.townships[["code", "name"]],
                            end, tz)
    if alerts.empty:
        return 0
    ingest_records(engine, enumerate(alerts.to_dict("records"), start=1), router, catalog,
                   "demo reform history", tz=tz)
    cols = (Case.id, Alert.source, Case.body_code, Case.township_code, Case.matter_code,
            Case.opened_at, Case.deadline_at, Alert.id, Alert.reported_at)
    with store.sessions(engine)() as s:
        found = pd.DataFrame(s.execute(select(*cols).join(Alert, Alert.id == Case.alert_id)
                                       .where(Alert.external_id.like(f"{PREFIX}%"))).all(),
                             columns=["id", "source", "body_code", "township_code",
                                      "matter_code", "opened_at", "deadline_at", "alert_id",
                                      "reported_at"])
    command = catalog.command_center
    district = dict(zip(catalog.matters["code"], catalog.matters["district_body"],
                        strict=True))
    changes, events = close_history(found, command, catalog.township_bodies(), district)
    opened = dict(zip(found["id"], found["opened_at"], strict=True))
    with store.sessions(engine).begin() as s:
        s.execute(update(Case), [{**c, "routed_at": _ts(opened[c["id"]]) + dt.timedelta(
            minutes=1)} for c in changes])
        s.execute(update(Alert), [{"id": int(a), "received_at": _ts(r) + dt.timedelta(
            minutes=1)} for a, r in zip(found["alert_id"], found["reported_at"],
                                         strict=True)])
        ids = {str(i): _ts(o) for i, o in opened.items()}
        routes = s.execute(select(AuditLog.id, AuditLog.entity_id).where(
            AuditLog.entity == "case", AuditLog.action == "route",
            AuditLog.entity_id.in_(list(ids)))).all()
        if routes:
            s.execute(update(AuditLog), [{"id": i, "at": ids[e] + dt.timedelta(minutes=1)}
                                         for i, e in routes])
        if events:
            s.execute(insert(AuditLog), events)
    return len(found)
