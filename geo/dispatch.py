"""Team recommendation: the available teams able to handle a case, ranked by travel time.

Pure functions over plain tables. Positions are metres in the router's metric CRS (the
district's own, `geo.crs.metric_crs_of` the townships); times are minutes. Without a road
graph the travel time is the straight-line distance times a detour factor at a speed per
team type; with one it is the shortest path on the road graph.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.roads import RoadGraph

DETOUR_FACTOR = 1.3
SPEED_KMH = {"township_center": 30.0, "district_team": 40.0}
DEFAULT_SPEED_KMH = 30.0
STALE_AFTER = dt.timedelta(minutes=10)
#: what a team's last position fix is worth: none yet, older than `STALE_AFTER`, recent
FIX_STATES = ("none", "stale", "fresh")


def fix_state(age_min: float | None, stale_after: dt.timedelta = STALE_AFTER) -> str:
    """The one rule for a team's position: ``none`` (never had a fix: shown at its base),
    ``stale`` (the last fix is older than ``stale_after``) or ``fresh``.

    Parameters
    ----------
    age_min : float or None
        Minutes since the last fix; None or NaN where there is none.
    stale_after : datetime.timedelta
        How old a fix may be and still count.

    Examples
    --------
    >>> fix_state(None), fix_state(30.0), fix_state(2.0)
    ('none', 'stale', 'fresh')
    """
    if age_min is None or pd.isna(age_min):
        return "none"
    return "stale" if age_min > stale_after.total_seconds() / 60 else "fresh"


def fix_states(fix_at: pd.Series, now: dt.datetime,
               stale_after: dt.timedelta = STALE_AFTER) -> list[str]:
    """`fix_state` of each team from the time of its last fix (naive UTC, NaT for none) at
    ``now`` (naive UTC).

    Examples
    --------
    >>> now = dt.datetime(2026, 1, 1, 12, 0)
    >>> fix_states(pd.Series([pd.NaT, now - dt.timedelta(hours=2), now]), now)
    ['none', 'stale', 'fresh']
    """
    ages = (pd.Timestamp(now) - pd.to_datetime(fix_at)).dt.total_seconds() / 60
    return [fix_state(a, stale_after) for a in ages]


@dataclass(frozen=True)
class Recommendation:
    """One team offered for a case."""

    team_id: str
    name: str
    body_code: str
    distance_m: float
    eta_min: float
    open_assignments: int
    fix_age_min: float | None
    fix_state: str  # `fix_state`: none, stale or fresh
    cross_support: bool
    by_road: bool

    @property
    def stale(self) -> bool:
        """Whether the team's last fix is too old to trust (not: it has none)."""
        return self.fix_state == "stale"


def able(teams: pd.DataFrame, domain: str | None) -> pd.Series:
    """Teams that are available and have the skill (domain) the matter needs."""
    skilled = teams["skills"].map(lambda s: domain is None or domain in
                                  {x.strip() for x in str(s).split(",")})
    return (teams["status"] == "available") & skilled


def recommend(
    x: float,
    y: float,
    body: str,
    domain: str | None,
    teams: pd.DataFrame,
    now: dt.datetime,
    neighbours: list[str] = (),
    body_kinds: dict[str, str] | None = None,
    roads: RoadGraph | None = None,
    limit: int = 5,
) -> list[Recommendation]:
    """Rank the able teams of ``body`` by ETA; if none, those of ``neighbours`` (marked
    cross-support).

    ``teams`` has ``team_id, name, body_code, skills, status, x, y`` and optionally
    ``fix_at`` (naive UTC of the last position fix) and ``open_assignments``.
    """
    ok = able(teams, domain)
    own = teams[ok & (teams["body_code"] == body)]
    cross = own.empty
    pool = teams[ok & teams["body_code"].isin(list(neighbours))] if cross else own
    if pool.empty:
        return []
    tx, ty = pool["x"].to_numpy(float), pool["y"].to_numpy(float)
    distance = np.hypot(tx - x, ty - y)
    if roads is not None:
        eta = roads.travel(x, y, tx, ty) / 60.0
        reachable = np.isfinite(eta)
        pool, tx, ty, distance, eta = (pool[reachable], tx[reachable], ty[reachable],
                                       distance[reachable], eta[reachable])
        if pool.empty:
            return []
    else:
        kinds = body_kinds or {}
        speed = pool["body_code"].map(lambda b: SPEED_KMH.get(kinds.get(b, ""),
                                                              DEFAULT_SPEED_KMH)).to_numpy()
        eta = distance * DETOUR_FACTOR / (speed / 3.6) / 60.0
    order = np.lexsort((pool["team_id"].to_numpy(), eta))[:limit]
    fix = pool["fix_at"] if "fix_at" in pool.columns else pd.Series(pd.NaT, index=pool.index)
    load = (pool["open_assignments"] if "open_assignments" in pool.columns
            else pd.Series(0, index=pool.index))
    out = []
    for k in order:
        fixed_at = fix.iloc[k]
        age = None if pd.isna(fixed_at) else (now - pd.Timestamp(fixed_at)).total_seconds() / 60
        out.append(Recommendation(
            team_id=str(pool["team_id"].iloc[k]), name=str(pool["name"].iloc[k]),
            body_code=str(pool["body_code"].iloc[k]), distance_m=float(distance[k]),
            eta_min=float(eta[k]), open_assignments=int(load.iloc[k]),
            fix_age_min=age, fix_state=fix_state(age),
            cross_support=cross, by_road=roads is not None))
    return out


def neighbour_bodies(township_code: str | None, adjacency: dict[str, list[str]],
                     centers: dict[str, str], district_body: str | None,
                     responsible: str | None = None) -> list[str]:
    """Bodies that may lend a team: the township's own center, the centers of adjacent
    townships and the matter's district team, less the responsible body itself."""
    codes = [township_code, *adjacency.get(township_code or "", [])]
    out = [centers[c] for c in codes if c in centers]
    if district_body:
        out.append(district_body)
    return [b for b in dict.fromkeys(out) if b != responsible]


def township_adjacency(townships) -> dict[str, list[str]]:
    """Township code -> codes of the townships sharing a boundary with it (WGS84 layer)."""
    import shapely

    geoms = townships.geometry.to_numpy()
    codes = townships["code"].to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    out: dict[str, list[str]] = {c: [] for c in codes}
    for i, j in zip(a, b, strict=True):
        if i != j:
            out[codes[i]].append(codes[j])
    return {k: sorted(v) for k, v in out.items()}


def transfer_choices(township_code: str | None, adjacency: dict[str, list[str]],
                     townships: Sequence[str]) -> list[tuple[str, bool]]:
    """The townships a case in ``township_code`` may be transferred to: every other one of
    ``townships``, each with whether it is adjacent; the adjacent ones first, each group in
    the order given.

    Examples
    --------
    >>> transfer_choices("b", {"b": ["c"]}, ["a", "b", "c", "d"])
    [('c', True), ('a', False), ('d', False)]
    """
    near = set(adjacency.get(township_code or "", []))
    others = [c for c in dict.fromkeys(townships) if c != township_code]
    return ([(c, True) for c in others if c in near]
            + [(c, False) for c in others if c not in near])
