"""Layer generations: township and unit boundaries that change over time (as MapIt keeps them).

Every import of a layer set is a *generation*, in force from its ``effective_from`` (a
calendar day in the district's time zone) until the next generation's ``effective_from``
(``effective_to``; ``None`` while it is the latest). An alert is routed with the boundaries of
the generation in force on its reported day, so that a case keeps the township of its time
after a township is merged or units are redrawn.

Pure decisions only: which generation covers a day (`generation_at`), whether a new
generation may start on a day (`check_effective_from`), what changed between two
generations (`differences`); and `Timeline`, the routers of the generations, built when
first needed. No database: the store and the intake (`geo.ingest.stored_routing`) feed them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.days import local_day, local_days, local_today

if TYPE_CHECKING:
    from geo.routing import Router, Routing

#: square metres of symmetric difference below which a boundary counts as unchanged (the
#: round trip through WKB and reprojection moves no boundary by that much)
REDRAWN_MIN_M2 = 1.0
#: codes named in a difference before the rest are counted
SHOWN_CODES = 5


class GenerationError(ValueError):
    """A new generation may not start on the day asked for; nothing was imported."""


def check_effective_from(effective_from: dt.date, current_from: dt.date | None,
                         today: dt.date | None = None) -> None:
    """Refuse a generation starting before the one in force, or (given ``today``) after
    today: the loaded layers are the ones in force now, on every page and for every
    alert without a reported time, so boundaries announced for a later day are imported
    on that day.

    Parameters
    ----------
    effective_from : datetime.date
        First day (district's local calendar) of the new generation.
    current_from : datetime.date or None
        First day of the latest stored generation; ``None`` when there is none.
    today : datetime.date, optional
        The district's local day; ``None``: not checked.

    Raises
    ------
    GenerationError
        ``effective_from`` is earlier than ``current_from``: the boundaries in force
        between the two days would be lost. The same day is allowed (a corrected import
        replaces the generation of that day: `geo.store.generations.add_generation`).
        Or ``effective_from`` is after ``today``.
    """
    if today is not None and effective_from > today:
        raise GenerationError(
            f"effective date {effective_from.isoformat()} is in the future (today is "
            f"{today.isoformat()}): the loaded layers are the ones in force now, so import "
            "boundaries on or after the day they take effect; nothing was imported")
    if current_from is not None and effective_from < current_from:
        raise GenerationError(
            f"effective date {effective_from.isoformat()} is earlier than the start of the "
            f"layer generation in force ({current_from.isoformat()}): a new generation must "
            f"start on or after {current_from.isoformat()} (--effective-from); nothing was "
            "imported (if the start of the generation in force was mistyped, `python -m geo "
            "layers move-start DATE` corrects it)")


def check_moved_start(new_from: dt.date, previous_from: dt.date | None,
                      today: dt.date) -> None:
    """Refuse moving the start of the generation in force to ``new_from`` (a mistyped
    ``--effective-from`` corrected) unless it falls after the start of the generation
    before it (which would never be in force otherwise) and not after ``today`` (local
    calendar days).

    Raises
    ------
    GenerationError
        ``new_from`` is on or before ``previous_from``, or after ``today``.
    """
    if new_from > today:
        raise GenerationError(
            f"{new_from.isoformat()} is in the future (today is {today.isoformat()}); "
            "nothing was changed")
    if previous_from is not None and new_from <= previous_from:
        raise GenerationError(
            f"{new_from.isoformat()} is not after the start of the generation before "
            f"({previous_from.isoformat()}), which would then never be in force; nothing "
            "was changed")


def generation_at(starts: np.ndarray, days: np.ndarray, today: dt.date) -> np.ndarray:
    """The generation in force on each day, as positions into ``starts``.

    Parameters
    ----------
    starts : numpy.ndarray
        ``effective_from`` of the generations (datetime64[D]), in import order (never
        decreasing: `check_effective_from`).
    days : numpy.ndarray
        Local calendar days (datetime64[D]) of the alerts; NaT: no reported time.
    today : datetime.date
        The local day taken for an alert without a reported time.

    Returns
    -------
    numpy.ndarray
        int64 positions: the last generation starting on or before the day (of generations
        starting on the same day, the later import). A day before the first generation
        takes the first: the oldest boundaries known.
    """
    starts = np.asarray(starts, dtype="datetime64[D]")
    days = np.asarray(days, dtype="datetime64[D]")
    if len(starts) == 0:
        raise ValueError("no layer generation to route with")
    days = np.where(np.isnat(days), np.datetime64(today, "D"), days)
    return np.clip(np.searchsorted(starts, days, side="right") - 1, 0, None).astype(np.int64)


# ---------------------------------------------------------------------------- differences
@dataclass(frozen=True)
class Change:
    """What changed in one layer kind between a generation and the one before: codes
    added, removed, renamed (same code, another name) and redrawn (same code, boundary
    moved by more than `REDRAWN_MIN_M2`), each sorted."""

    kind: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    renamed: tuple[str, ...] = ()
    redrawn: tuple[str, ...] = ()
    #: (removed code, the new code covering most of its area): merged into, or taken over
    merged: tuple[tuple[str, str], ...] = ()
    #: units kept under the same code in another township (``township_code`` changed)
    moved: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.renamed or self.redrawn or self.moved)


def _changed(kind: str, old: gpd.GeoDataFrame | None, new: gpd.GeoDataFrame | None,
             metric: str) -> Change:
    old = _empty() if old is None else old
    new = _empty() if new is None else new
    a = old.set_index("code")
    b = new.set_index("code")
    both = a.index.intersection(b.index)
    names_a = a.loc[both, "name"].to_numpy()
    renamed = list(both[names_a != b.loc[both, "name"].to_numpy()])
    redrawn: list[str] = []
    if len(both):
        ga = gpd.GeoSeries(a.loc[both].geometry.to_numpy(), crs=old.crs).to_crs(metric)
        gb = gpd.GeoSeries(b.loc[both].geometry.to_numpy(), crs=new.crs).to_crs(metric)
        moved = shapely.area(shapely.symmetric_difference(ga.to_numpy(), gb.to_numpy()))
        redrawn = [c for c, m in zip(both, moved, strict=True) if m > REDRAWN_MIN_M2]
    parents: list[str] = []
    if "township_code" in a.columns and "township_code" in b.columns and len(both):
        parents = list(both[a.loc[both, "township_code"].to_numpy()
                            != b.loc[both, "township_code"].to_numpy()])
    removed = a.index.difference(b.index)
    return Change(kind, tuple(sorted(b.index.difference(a.index))), tuple(sorted(removed)),
                  tuple(sorted(renamed)), tuple(sorted(redrawn)),
                  _successors(a.loc[removed], b, old.crs, new.crs, metric),
                  tuple(sorted(parents)))


def _successors(gone: pd.DataFrame, new: pd.DataFrame, old_crs, new_crs,
                metric: str) -> tuple[tuple[str, str], ...]:
    """(code, successor) for each feature of ``gone``: the feature of ``new`` that covers
    the largest share of its area (none where nothing covers it)."""
    if gone.empty or new.empty:
        return ()
    ga = gpd.GeoSeries(gone.geometry.to_numpy(), crs=old_crs).to_crs(metric).to_numpy()
    gb = gpd.GeoSeries(new.geometry.to_numpy(), crs=new_crs).to_crs(metric).to_numpy()
    i, j = shapely.STRtree(gb).query(ga, predicate="intersects")
    if not len(i):
        return ()
    shared = pd.DataFrame({"i": i, "j": j,
                           "m2": shapely.area(shapely.intersection(ga[i], gb[j]))})
    best = shared[shared["m2"] > 0].sort_values(["i", "m2"], ascending=[True, False])
    best = best.drop_duplicates("i")
    return tuple(sorted((str(gone.index[r.i]), str(new.index[r.j]))
                        for r in best.itertuples(index=False)))


def _empty() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs="EPSG:4326")


def differences(old: dict[str, gpd.GeoDataFrame | None],
                new: dict[str, gpd.GeoDataFrame | None], metric: str) -> list[Change]:
    """Townships and units added, removed, renamed and redrawn from ``old`` to ``new``.

    Parameters
    ----------
    old, new : dict
        ``townships`` and ``units`` (GeoDataFrames with ``code``, ``name`` and geometry,
        any CRS; ``None`` or missing: none) of two generations.
    metric : str
        The district's metric CRS, in which boundary moves are measured (square metres).

    Returns
    -------
    list of Change
        One per kind, townships then units.
    """
    return [_changed(kind, old.get(kind), new.get(kind), metric)
            for kind in ("townships", "units")]


def shown_codes(codes: Sequence[str], limit: int = SHOWN_CODES,
                names: Mapping[str, str] | None = None) -> str:
    """``3: A, B, C``, or ``12: A, B, C, D, E, …`` (the count, then the first codes; each
    as ``name (code)`` where ``names`` has it)."""
    if not codes:
        return "0"
    more = ", …" if len(codes) > limit else ""
    names = names or {}
    shown = [f"{names[c]} ({c})" if c in names else c for c in codes[:limit]]
    return f"{len(codes)}: {', '.join(shown)}{more}"


# ---------------------------------------------------------------------------- routing
@dataclass
class Timeline:
    """The routers of the layer generations: each alert is routed with the boundaries in
    force on its reported day (`generation_at`).

    Parameters
    ----------
    ids : sequence of int
        Generation ids, in import order.
    starts : sequence of datetime.date
        Their ``effective_from`` (local days).
    current : Router
        The router of the latest generation (the layers in force now).
    build : callable
        ``build(generation_id) -> Router`` for an earlier generation, called once each,
        when an alert of its time first comes.
    tz : zoneinfo.ZoneInfo
        The district's time zone (the routers' ``tz``).
    """

    ids: Sequence[int]
    starts: Sequence[dt.date]
    current: Router
    build: Callable[[int], Router] | None = None
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    _built: dict[int, Router] = field(default_factory=dict, repr=False)

    @classmethod
    def single(cls, router: Router) -> Timeline:
        """One generation: every alert routes with ``router``."""
        return cls([0], [dt.date.min], router, tz=router.tz)

    @property
    def command_center(self) -> str | None:
        return self.current.command_center

    @property
    def metric(self) -> str:
        """The district's metric CRS (`geo.routing.Router.metric` of the layers in force)."""
        return self.current.metric

    def built(self) -> Timeline:
        """This timeline with every generation's router built and no ``build`` (which may
        hold a database connection): what can be pickled and sent to other processes."""
        for position in range(len(self.ids)):
            self.router(position)
        return Timeline(self.ids, self.starts, self.current, None, self.tz, dict(self._built))

    def router(self, position: int) -> Router:
        """The router of the generation at ``position`` (the latest: `current`)."""
        if position == len(self.ids) - 1:
            return self.current
        gen = int(self.ids[position])
        if gen not in self._built:
            if self.build is None:
                raise LookupError(f"no router for layer generation {gen}")
            self._built[gen] = self.build(gen)
        return self._built[gen]

    def positions(self, reported_at) -> np.ndarray:
        """`generation_at` of naive-UTC reported times (a column; NaT: now)."""
        days = local_days(reported_at, self.tz) if len(reported_at) else np.array(
            [], dtype="datetime64[D]")
        return generation_at(np.array(self.starts, dtype="datetime64[D]"), days,
                             local_today(self.tz))

    def groups(self, reported_at) -> list[tuple[Router, np.ndarray]]:
        """The alerts by the router of their generation: (router, positions of the rows
        routed with it), oldest generation first; one group when there is one generation."""
        if len(self.ids) == 1:
            return [(self.current, np.arange(len(reported_at)))]
        where = self.positions(reported_at)
        return [(self.router(int(p)), np.flatnonzero(where == p)) for p in np.unique(where)]

    def at(self, when: dt.date | dt.datetime | None) -> Router:
        """The router in force on one day: a date (local), a datetime (naive: local, as
        `geo.routing.Router.route` takes it; aware: converted) or None (today)."""
        if len(self.ids) == 1:
            return self.current
        if when is None:
            day = local_today(self.tz)
        elif isinstance(when, dt.datetime):
            day = when.date() if when.tzinfo is None else local_day(when, self.tz)
        else:
            day = when
        where = generation_at(np.array(self.starts, dtype="datetime64[D]"),
                              np.array([day], dtype="datetime64[D]"), day)
        return self.router(int(where[0]))

    def route(self, lon: float, lat: float, matter: str | None = None,
              at: dt.date | dt.datetime | None = None, crs: str | None = None,
              credit_code: str | None = None) -> Routing:
        """`geo.routing.Router.route` with the router of the generation in force ``at``."""
        return self.at(at).route(lon, lat, matter, at=at, crs=crs, credit_code=credit_code)


def routers_of(router: Router | Timeline, reported_at: pd.Series
               ) -> list[tuple[Router, np.ndarray]]:
    """`Timeline.groups`, or one group for a plain router."""
    if isinstance(router, Timeline):
        return router.groups(reported_at)
    return [(router, np.arange(len(reported_at)))]
