"""Coverage and gap analysis: pure functions over sites, inspections, teams and cases.

Dates are calendar days (``datetime64[D]``); areas are square metres and distances metres in
the district's metric CRS (`geo.crs.metric_crs_of` its townships).
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely

from geo.catalog import DEFAULT_INSPECTION_INTERVALS

# Days between inspections by risk level where no catalogue gives them
# (`geo.catalog.Catalog.inspection_intervals`, read from inspection_intervals.csv).
DEFAULT_INTERVALS = DEFAULT_INSPECTION_INTERVALS
RISK_WEIGHTS = {"high": 3.0, "medium": 2.0, "low": 1.0}
#: a team's speed (km/h) where there is no road layer: straight lines, over `DETOUR`
STRAIGHT_SPEED_KMH = 30.0
#: how much longer than the straight line a trip is without a road layer
DETOUR = 1.3


def visits(findings: pd.DataFrame) -> pd.DataFrame:
    """The visits of sites (``site_id``, ``day``): one per site and day on which an
    inspection recorded any finding (pass or problem), whoever inspected. ``findings`` has
    ``site_id`` and ``day``; this is what `site_status` counts as an inspection."""
    return findings[["site_id", "day"]].drop_duplicates().reset_index(drop=True)


def site_status(sites: pd.DataFrame, inspections: pd.DataFrame, today: dt.date,
                intervals: dict[str, int] = DEFAULT_INTERVALS) -> pd.DataFrame:
    """Per site: last inspection day, days since, due day and whether it is overdue.

    ``sites`` has ``site_id`` and ``risk``; ``inspections`` has ``site_id`` and ``day``;
    ``intervals`` gives the days allowed between inspections per risk level (the
    catalogue's `geo.catalog.Catalog.inspection_intervals`). A site never inspected is due
    from the start (overdue) and has no last day.
    """
    out = sites.copy()
    if len(inspections):
        last = inspections.groupby("site_id")["day"].max()
        out["last_inspected"] = pd.to_datetime(out["site_id"].map(last))
    else:  # a district's first day: no inspection yet (an empty map would not be dates)
        out["last_inspected"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    today_ts = pd.Timestamp(today)
    out["days_since"] = (today_ts - out["last_inspected"]).dt.days
    every = out["risk"].map(intervals)
    out["due"] = out["last_inspected"] + pd.to_timedelta(every, unit="D")
    out["overdue"] = out["last_inspected"].isna() | (out["due"] < today_ts)
    return out


def coverage_by(status: pd.DataFrame, area: str,
                weights: dict[str, float] = RISK_WEIGHTS) -> pd.DataFrame:
    """Per area (``area`` column, e.g. unit or township code): sites, sites on time, and the
    risk-weighted share of sites inspected on time; worst first."""
    w = status["risk"].map(weights).fillna(1.0)
    frame = pd.DataFrame({area: status[area], "w": w, "on_time": ~status["overdue"],
                          "w_on": w * ~status["overdue"],
                          "high_overdue": (status["risk"] == "high") & status["overdue"]})
    out = frame.groupby(area).agg(sites=("w", "size"), on_time=("on_time", "sum"),
                                  weight=("w", "sum"), weight_on=("w_on", "sum"),
                                  high_overdue=("high_overdue", "sum"))
    out["share_on_time"] = out["weight_on"] / out["weight"]
    return out.drop(columns=["weight", "weight_on"]).sort_values(
        ["share_on_time", "sites"], ascending=[True, False]).reset_index()


def reach_gaps(district: shapely.Geometry, bases_xy: np.ndarray, minutes: float,
               speed_kmh: float = STRAIGHT_SPEED_KMH, detour: float = DETOUR,
               sites: gpd.GeoDataFrame | None = None, roads=None) -> gpd.GeoDataFrame:
    """Parts of ``district`` (metres) more than ``minutes`` from every team base: by road
    when a `geo.roads.RoadGraph` is given, else by straight line at ``speed_kmh`` divided
    by the detour factor. One row per gap polygon with its area (m2) and, if ``sites``
    (metric points) are given, the site ids inside."""
    if roads is not None:
        reach = roads.reach(bases_xy[:, 0], bases_xy[:, 1], minutes)
    else:
        radius = speed_kmh / 3.6 * minutes * 60.0 / detour
        reach = shapely.union_all(shapely.buffer(shapely.points(bases_xy), radius,
                                                 quad_segs=16))
    gaps = [g for g in shapely.get_parts(shapely.difference(district, reach)) if g.area > 1.0]
    frame = gpd.GeoDataFrame({"area_m2": [g.area for g in gaps]}, geometry=gaps)
    if sites is not None and len(frame):
        hit_gap, hit_site = shapely.STRtree(sites.geometry.to_numpy()).query(
            frame.geometry.to_numpy(), predicate="intersects")
        ids = sites["site_id"].to_numpy()
        frame["site_ids"] = [list(ids[hit_site[hit_gap == k]]) for k in range(len(frame))]
    return frame.sort_values("area_m2", ascending=False).reset_index(drop=True)


def hot_spots(lon: np.ndarray, lat: np.ndarray, district_cells: int, resolution: int = 8,
              alpha: float = 0.01) -> pd.DataFrame:
    """Cases binned on H3 cells (WGS84 lon/lat) and tested against the district's rate.

    Under the null every one of ``district_cells`` cells expects n / cells cases (Poisson);
    a cell is a hot spot when P(X >= count) is below ``alpha`` after a Bonferroni
    correction over the district's cells. Returns cell, count, expected, p, hot.
    """
    from scipy.stats import poisson  # here: scipy.stats takes seconds to import

    cells = pd.Series([h3.latlng_to_cell(y, x, resolution) for x, y in zip(lon, lat,
                                                                             strict=True)])
    counts = cells.value_counts()
    expected = len(cells) / max(district_cells, 1)
    p = poisson.sf(counts.to_numpy() - 1, expected)
    out = pd.DataFrame({"cell": counts.index, "count": counts.to_numpy(),
                        "expected": expected, "p": p})
    out["hot"] = out["p"] < alpha / max(district_cells, 1)
    return out.sort_values(["p", "cell"]).reset_index(drop=True)


def district_cell_count(district_wgs84: shapely.Geometry, resolution: int = 8) -> int:
    """Number of H3 cells whose centre lies in the district (WGS84)."""
    return len(h3.geo_to_cells(district_wgs84.__geo_interface__, resolution))


def repeat_sites(case_sites: pd.Series, at_least: int = 3) -> pd.Series:
    """Sites with at least ``at_least`` cases, most first."""
    counts = case_sites.dropna().value_counts()
    return counts[counts >= at_least]


def empowerment_evaluation(cases: pd.DataFrame, events: pd.DataFrame,
                           empowerment: pd.DataFrame, centers: dict[str, str],
                           start: dt.date, end: dt.date,
                           often_returned: float = 0.3) -> pd.DataFrame:
    """The annual 赋权事项评估: per township and delegated matter in force in [start, end).

    ``cases``: id, township_code, matter_code, body_code, opened_at; ``events``: case_id,
    to_state, at (audit log). Columns: handled (cases the township's center held), returned
    (returns of its cases to the district), median_days_to_close, never_used, often_returned.
    """
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    emp = empowerment.copy()
    emp["effective_from"] = pd.to_datetime(emp["effective_from"])
    emp["effective_to"] = pd.to_datetime(emp["effective_to"])
    emp = emp[(emp["effective_from"] < e) & (emp["effective_to"].isna()
                                             | (emp["effective_to"] > s))]
    period = cases[(cases["opened_at"] >= s) & (cases["opened_at"] < e)]
    key = ["township_code", "matter_code"]
    held = period[period["body_code"] == period["township_code"].map(centers)]
    handled = held.groupby(key).size().rename("handled")
    returns = events[events["to_state"] == "returned"].merge(
        period[["id", *key]], left_on="case_id", right_on="id")
    returned = returns.groupby(key).size().rename("returned")
    closed = events[events["to_state"] == "closed"].merge(
        held[["id", "opened_at", *key]], left_on="case_id", right_on="id")
    closed["days"] = (pd.to_datetime(closed["at"]) - closed["opened_at"]).dt.total_seconds() / 86400
    median = closed.groupby(key)["days"].median().rename("median_days_to_close")
    out = emp[key].drop_duplicates().set_index(key).join([handled, returned, median])
    out[["handled", "returned"]] = out[["handled", "returned"]].fillna(0).astype(int)
    out["never_used"] = out["handled"] == 0
    total = out["handled"] + out["returned"]
    out["often_returned"] = (total > 0) & (out["returned"] / total.where(total > 0, 1)
                                           > often_returned)
    return out.reset_index().sort_values(key).reset_index(drop=True)


def evaluation_by_township(evaluation: pd.DataFrame) -> pd.DataFrame:
    """Per township: delegated matters, how many were used, the share used, returns."""
    out = evaluation.groupby("township_code").agg(
        delegated=("matter_code", "size"), unused=("never_used", "sum"),
        handled=("handled", "sum"), returned=("returned", "sum"))
    out["share_used"] = 1 - out["unused"] / out["delegated"]
    return out.reset_index()
