"""The demo feed (``python -m geo simulate``): live alerts near the demo sites, and the
dispatched teams driving to their cases.

Positions are WGS84 (EPSG:4326) in and out; team movement is computed in the router's metric
CRS (metres).
"""

from __future__ import annotations

import contextlib
import datetime as dt

import geopandas as gpd
import numpy as np

from geo.access import Scope
from geo.demo.layers import ALERT_SOURCES

FEED_TEXT = {
    "bigdata": "用电量异常，疑似虚拟货币“挖矿”",
    "12345": "市民来电投诉",
    "patrol": "巡查发现",
    "grid": "网格员上报",
    "referral": "部门移送线索",
}


def feed_alert(rng: np.random.Generator, sites: gpd.GeoDataFrame, now: dt.datetime,
               seq: int) -> dict:
    """One realistic live alert near a site (WGS84), reported at ``now`` (aware)."""
    names = list(ALERT_SOURCES)
    share = np.array([ALERT_SOURCES[k][0] for k in names])
    src = str(rng.choice(names, p=share / share.sum()))
    _, matters, weights = ALERT_SOURCES[src]
    kinds = {"bigdata": ("enterprise", "workshop", "warehouse"), "12345": ("shop",),
             "grid": ("farm", "shop", "workshop")}.get(src)
    pool = sites[sites["kind"].isin(kinds)] if kinds else sites
    site = pool.iloc[int(rng.integers(len(pool)))]
    p = site.geometry.representative_point()
    matter = str(rng.choice(matters))
    if src == "bigdata":
        matter = "M017" if rng.random() < 0.6 else matter
    return {
        "id": f"LIVE-{now:%Y%m%d%H%M%S}-{seq:04d}", "lon": round(p.x + rng.normal(0, 3e-4), 6),
        "lat": round(p.y + rng.normal(0, 3e-4), 6), "matter": matter,
        "reported_at": now.isoformat(timespec="seconds"), "source": src,
        "severity": str(rng.choice(["low", "medium", "high"], p=weights)),
        "description": f"{FEED_TEXT[src]}：{site['name']}",
        "credit_code": site["credit_code"] if isinstance(site.get("credit_code"), str) else "",
    }


TEAM_SPEED_KMH = 30.0


def move_dispatched_teams(engine, seconds: float, metric: str, actor: str = "simulator") -> int:
    """Demo feed: move each dispatched or en-route team toward its case by ``seconds`` of
    driving (straight line at 30 km/h, in ``metric`` metres); a team arriving within 30 m
    goes on scene. Returns how many teams moved."""
    from sqlalchemy import select

    from geo import store
    from geo.cases import IllegalTransitionError
    from geo.crs import to_metric, to_wgs84
    from geo.store.dispatching import (
        ACTIVE,
        ConflictError,
        add_positions,
        set_team_status,
        teams_frame,
    )
    from geo.store.models import Assignment, Case

    scope = Scope("admin", actor=actor)
    teams = teams_frame(engine, metric, scope=scope).set_index("team_id")
    with store.sessions(engine)() as s:
        jobs = s.execute(select(Assignment.team_id, Case.lon, Case.lat)
                         .join(Case, Case.id == Assignment.case_id)
                         .where(Assignment.status.in_(ACTIVE))).all()
    now = store.utcnow()
    fixes, moved = [], 0
    for team_id, lon, lat in jobs:
        team = teams.loc[team_id]
        if team["status"] not in ("dispatched", "en_route"):
            continue
        version = int(team["version"])
        try:
            if team["status"] == "dispatched":
                set_team_status(engine, team_id, version, "en_route", actor, scope=scope)
                version += 1
        except (ConflictError, IllegalTransitionError):
            continue  # a dispatcher acted on this team meanwhile; next tick sees it
        cx, cy = to_metric(lon, lat, metric)
        dx, dy = cx - team["x"], cy - team["y"]
        gap = float(np.hypot(dx, dy))
        step = min(gap, TEAM_SPEED_KMH / 3.6 * seconds)
        nx = team["x"] + dx / gap * step if gap else cx
        ny = team["y"] + dy / gap * step if gap else cy
        (wlon,), (wlat,) = to_wgs84(np.array([nx]), np.array([ny]), metric)
        fixes.append({"team_id": team_id, "lon": float(wlon), "lat": float(wlat), "at": now})
        moved += 1
        if gap - step <= 30.0:
            with contextlib.suppress(ConflictError, IllegalTransitionError):
                set_team_status(engine, team_id, version, "on_scene", actor, scope=scope)
    add_positions(engine, fixes, scope=scope)
    return moved
