"""Layer generations in the store: every layer import kept with its effective dates, its
township and unit boundaries (WGS84) and the validation findings it was imported with.

The tables ``townships`` and ``units`` hold the latest generation (the one the rest of the
system reads); ``generation_townships`` and ``generation_units`` hold every generation's,
the latest included. Which generation routes an alert is decided by
`geo.generations.generation_at`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

import pandas as pd
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from geo.access import Scope
from geo.generations import check_effective_from, check_moved_start
from geo.layers import LayerReport, LayerSet, Problem
from geo.store.models import Generation, GenerationTownship, GenerationUnit, Meta, utcnow

GENERATION_COLUMNS = ("id", "effective_from", "effective_to", "source", "imported_at",
                      "townships", "units")


def add_generation(s: Session, layers: LayerSet, source: str, effective_from: dt.date,
                   report: LayerReport | None, *, scope: Scope) -> int:
    """Within the import's transaction (`geo.store.import_reference`): end the generation
    in force on ``effective_from`` and store ``layers``' townships and units as a new one,
    with ``report``'s warnings and repairs; its id.

    Raises `geo.generations.GenerationError` (before anything is written) when
    ``effective_from`` is earlier than the start of the generation in force.
    """
    from geo.store import _rows

    scope.require("layers", "change")
    current = s.scalars(select(Generation).where(Generation.effective_to.is_(None))
                        .order_by(Generation.id.desc()).with_for_update()).first()
    check_effective_from(effective_from, current.effective_from if current else None)
    kept = [] if report is None else [_plain(p) for p in report.problems
                                      if p.level != "error"]
    if current is not None and current.effective_from == effective_from:
        # a corrected import of the same day replaces that day's generation
        generation = current
        generation.source, generation.imported_at, generation.problems = (
            source, utcnow(), kept)
        for model in (GenerationUnit, GenerationTownship):
            s.execute(delete(model).where(model.generation_id == current.id))
    else:
        if current is not None:
            current.effective_to = effective_from
        generation = Generation(effective_from=effective_from, source=source,
                                imported_at=utcnow(), problems=kept)
        s.add(generation)
    s.flush()
    gid = generation.id
    s.execute(insert(GenerationTownship), [
        {**r, "generation_id": gid} for r in _rows(layers.townships, ("code", "name"))])
    units = _rows(layers.units, ("code", "name", "township_code"))
    if units:
        s.execute(insert(GenerationUnit), [{**r, "generation_id": gid} for r in units])
    return gid


def move_start(engine: Engine, effective_from: dt.date, today: dt.date, *,
               scope: Scope) -> tuple[int, dt.date]:
    """Move the start of the generation in force to ``effective_from`` (a mistyped
    ``init --effective-from`` corrected; `geo.generations.check_moved_start` says which
    days may be chosen), and the end of the one before with it; audited. Cases stay with
    the township they were routed to. Returns (generation id, its former start).

    Raises
    ------
    LookupError
        No layers have been imported.
    geo.generations.GenerationError
        The day may not be chosen; nothing is changed.
    """
    from geo.store import audit, sessions

    scope.require("layers", "change")
    with sessions(engine).begin() as s:
        latest = s.scalars(select(Generation).order_by(Generation.id.desc()).limit(2)
                           .with_for_update()).all()
        if not latest:
            raise LookupError("no layers loaded: run `python -m geo init` first")
        current, previous = latest[0], (latest[1] if len(latest) > 1 else None)
        check_moved_start(effective_from, previous.effective_from if previous else None,
                          today)
        former = current.effective_from
        current.effective_from = effective_from
        if previous is not None:
            previous.effective_to = effective_from
        # routers and pages keyed by the import see the new dates
        s.merge(Meta(key="imported_at", value=utcnow().isoformat(timespec="seconds")))
        audit(s, scope.actor, "layers", str(current.id), "move_start",
              detail=f"{former.isoformat()} -> {effective_from.isoformat()}")
    return current.id, former


def _plain(problem: Problem) -> dict:
    """A problem as JSON values (a feature number from numpy as a plain int)."""
    found = asdict(problem)
    if found["feature"] is not None:
        found["feature"] = int(found["feature"])
    return {k: v if v is None or k == "feature" else str(v) for k, v in found.items()}


def list_generations(engine: Engine, *, scope: Scope) -> pd.DataFrame:
    """The layer generations, oldest first.

    Returns
    -------
    DataFrame
        ``id``, ``effective_from`` and ``effective_to`` (local calendar days; ``None``: in
        force), ``source`` (file or folder as given to ``init``), ``imported_at`` (UTC),
        ``townships`` and ``units`` (counts).
    """
    from geo.store import sessions

    scope.require("layers", "read")
    towns = (select(GenerationTownship.generation_id, func.count().label("n"))
             .group_by(GenerationTownship.generation_id).subquery())
    units = (select(GenerationUnit.generation_id, func.count().label("n"))
             .group_by(GenerationUnit.generation_id).subquery())
    q = (select(Generation.id, Generation.effective_from, Generation.effective_to,
                Generation.source, Generation.imported_at,
                func.coalesce(towns.c.n, 0), func.coalesce(units.c.n, 0))
         .outerjoin(towns, towns.c.generation_id == Generation.id)
         .outerjoin(units, units.c.generation_id == Generation.id)
         .order_by(Generation.id))
    with sessions(engine)() as s:
        rows = s.execute(q).all()
    frame = pd.DataFrame(rows, columns=list(GENERATION_COLUMNS))
    frame["effective_to"] = frame["effective_to"].astype(object).where(
        frame["effective_to"].notna(), None)
    return frame


def generation_problems(engine: Engine, generation_id: int, *, scope: Scope
                        ) -> LayerReport | None:
    """The warnings and repairs the generation was imported with, as a `LayerReport`
    (``render`` summarises repeated ones); None where they were not kept (layers imported
    before generations were); LookupError for no such generation."""
    from geo.store import sessions

    scope.require("layers", "read")
    with sessions(engine)() as s:
        found = s.get(Generation, generation_id)
        if found is None:
            raise LookupError(f"no layer generation {generation_id}")
        if found.problems is None:
            return None
        return LayerReport(problems=[Problem(**p) for p in found.problems])


def generation_layers(engine: Engine, generation_id: int, *, scope: Scope) -> LayerSet:
    """The townships and units of one generation (WGS84, sorted by code; no other
    layers); LookupError for no such generation."""
    from geo.store import _frame, _sorted, sessions

    scope.require("layers", "read")
    with sessions(engine)() as s:
        towns = _frame(s, GenerationTownship, ("code", "name"),
                       GenerationTownship.generation_id == generation_id)
        if towns is None:
            raise LookupError(f"no layer generation {generation_id}")
        units = _frame(s, GenerationUnit, ("code", "name", "township_code"),
                       GenerationUnit.generation_id == generation_id)
    return LayerSet(townships=_sorted(towns, "code"), units=_sorted(units, "code"))


def township_names(engine: Engine, *, scope: Scope) -> dict[str, str]:
    """The name of every township of every generation by code: the latest generation's
    name where a code occurs in several (a township merged away keeps its last name)."""
    from geo.store import sessions

    scope.require("layers", "read")
    with sessions(engine)() as s:
        rows = s.execute(select(GenerationTownship.code, GenerationTownship.name)
                         .order_by(GenerationTownship.generation_id)).all()
    return dict(rows)
