"""Finding cases: by case number, site (id or name) or words of the description and the
address the caller gave, among the cases a scope may read."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, case, literal, or_, select

from geo.access import Scope
from geo.calls import search_terms
from geo.store import in_scope
from geo.store.models import Alert, Case, Matter, Site

#: cases a search returns at most
SEARCH_LIMIT = 50
COLUMNS = ("id", "status", "severity", "matter_code", "matter_name", "township_name",
           "body_code", "site_id", "site_name", "description", "opened_at")


def _like(text: str) -> str:
    """A LIKE pattern finding ``text`` anywhere, its ``%``, ``_`` and ``\\`` taken as
    themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_cases(engine: Engine, text: str, limit: int = SEARCH_LIMIT, *,
                 scope: Scope) -> pd.DataFrame:
    """The cases in ``scope`` that ``text`` finds, the one numbered ``text`` first, then
    the newest.

    Parameters
    ----------
    engine : Engine
        The store.
    text : str
        A case number (``123`` or ``#123``), a site id or part of a site's name, or words
        of the description or address (case-insensitive, taken literally).
    limit : int
        Cases returned at most.
    scope : Scope
        The caller's: only cases it may read are searched; site names only where it may
        read sites.

    Returns
    -------
    DataFrame
        Columns `COLUMNS`; ``opened_at`` naive UTC. Empty for empty text.

    Raises
    ------
    geo.calls.CallError
        Text too long or not plain text (`geo.calls.search_terms`).
    """
    number, text = search_terms(text)
    if not text:
        scope.require("cases", "read")
        return pd.DataFrame(columns=list(COLUMNS))
    like = _like(text)
    names = scope.allows("sites", "read")
    site_name = Site.name if names else literal(None)
    found = [Case.site_id.ilike(like, escape="\\"),
             Alert.description.ilike(like, escape="\\")]
    if names:
        found.append(Site.name.ilike(like, escape="\\"))
    if number is not None:
        found.append(Case.id == number)
    q = (select(Case.id, Case.status, Case.severity, Case.matter_code,
                Matter.name.label("matter_name"), Case.township_name, Case.body_code,
                Case.site_id, site_name.label("site_name"), Alert.description,
                Case.opened_at)
         .join(Alert, Alert.id == Case.alert_id)
         .outerjoin(Matter, Matter.code == Case.matter_code)
         .where(in_scope(scope), or_(*found)))
    if names:
        q = q.outerjoin(Site, Site.site_id == Case.site_id)
    first = case((Case.id == number, 0), else_=1) if number is not None else literal(1)
    q = q.order_by(first, Case.opened_at.desc(), Case.id.desc()).limit(max(1, int(limit)))
    with engine.connect() as conn:
        frame = pd.read_sql(q, conn)
    frame["opened_at"] = pd.to_datetime(frame["opened_at"])
    return frame.reindex(columns=list(COLUMNS))
