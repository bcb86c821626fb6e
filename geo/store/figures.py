"""Writes and reads for the reform's figures: the staff roster (a catalogue, ``staff.csv``)
and the inputs of `geo.figures` as the caller may read them."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, delete, insert, select

from geo.access import Scope
from geo.figures import STAFF_COLUMNS
from geo.store import audit, case_events, cases_frame, sessions
from geo.store.models import StaffRoster


def replace_staff(engine: Engine, roster: pd.DataFrame, *, scope: Scope) -> None:
    """Replace the staff roster (`geo.figures.validate_staff`'s table; a catalogue: the
    administrator's, audited)."""
    scope.require("catalogues", "change")
    rows = roster[list(STAFF_COLUMNS)].astype(object).where(roster.notna(), None)
    with sessions(engine).begin() as s:
        s.execute(delete(StaffRoster))
        if len(rows):
            s.execute(insert(StaffRoster), [
                {**r, "count": int(r["count"])} for r in rows.to_dict("records")])
        audit(s, scope.actor, "catalogue", "staff", "import",
              detail=f"{len(rows)} rows, {int(roster['count'].sum()) if len(roster) else 0} "
                     "staff")


def staff_roster(engine: Engine, *, scope: Scope) -> pd.DataFrame:
    """The staff roster: ``body_code, count, effective_from, effective_to`` (dates; None
    while open), oldest first; empty when none was loaded."""
    scope.require("catalogues", "read")
    with sessions(engine)() as s:
        rows = s.execute(select(StaffRoster.body_code, StaffRoster.count,
                                StaffRoster.effective_from, StaffRoster.effective_to)
                         .order_by(StaffRoster.effective_from, StaffRoster.id)).all()
    frame = pd.DataFrame(rows, columns=list(STAFF_COLUMNS)).astype(object)
    frame["count"] = frame["count"].astype("int64")
    return frame


@dataclass(frozen=True)
class FigureInputs:
    """What `geo.figures` works on, as one caller may read it: ``cases`` (``id,
    township_code, matter_code, body_code, source, status, opened_at``, naive UTC),
    ``events`` (their state changes: ``case_id, to_state, at``) and the ``roster``."""

    cases: pd.DataFrame
    events: pd.DataFrame
    roster: pd.DataFrame


def figure_inputs(engine: Engine, *, scope: Scope) -> FigureInputs:
    """The cases, their state changes and the staff roster for the reform's figures and
    the evaluation, from what ``scope`` may read (township staff: their township's cases);
    `AccessDeniedError` for a role that may not read the figures."""
    scope.require("figures", "read")
    cases = cases_frame(engine, scope=scope)[["id", "township_code", "matter_code",
                                              "body_code", "source", "status", "opened_at"]]
    return FigureInputs(cases.reset_index(drop=True), case_events(engine, scope=scope),
                        staff_roster(engine, scope=scope))
