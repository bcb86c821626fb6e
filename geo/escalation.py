"""Escalation of integrated inspections: problems still unfixed after their deadline
become cases, through the normal ingest and routing path.

A service over the store (`geo.store.inspecting` reads the findings) and the alert
pipeline (`geo.ingest`): at the level of `geo.ingest`, so that the store imports neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from geo.access import Scope
from geo.catalog import Catalog
from geo.ingest import IngestReport, ingest_records
from geo.inspections import rectification_plan, unfixed_after_deadline
from geo.routing import Router
from geo.store import load_layers
from geo.store.inspecting import checklists, inspection_tables


def escalate_unfixed(engine: Engine, router: Router, catalog: Catalog, today: dt.date,
                     tz: ZoneInfo, *, scope: Scope, only: Iterable[int] | None = None
                     ) -> IngestReport | None:
    """Turn problems unfixed after their deadline at sites in ``scope`` into cases.

    Each becomes an alert of source ``inspection`` with external id
    ``INSP-<inspection>-<item>`` (so running it again adds nothing), at the site's
    representative point (WGS84), matter of the checklist item, severity ``medium``,
    reported at 09:00 local time (``tz``) on ``today``, routed by ``router``.

    ``only``: the ids of the inspections to look at (default: every one in ``scope``), e.g.
    the visit of one supervision task (`geo.store.handoff`).

    Returns the ingest report, or None when no problem is past its deadline unfixed.
    Raises `geo.access.AccessDeniedError` unless ``scope`` may change inspections.
    """
    scope.require("inspections", "change")
    findings, re = inspection_tables(engine, scope=scope)
    plan = rectification_plan(findings, checklists(engine, scope=scope))
    late = unfixed_after_deadline(plan, re, today)
    if only is not None:
        late = late[late["inspection_id"].isin(set(only))]
    if late.empty:
        return None
    sites = load_layers(engine, scope=scope).sites.set_index("site_id")
    records = []
    for n, row in enumerate(late.itertuples(index=False), start=1):
        at = sites.loc[row.site_id].geometry.representative_point()
        records.append((n, {
            "id": f"INSP-{row.inspection_id}-{row.item_code}", "lon": at.x, "lat": at.y,
            "matter": row.matter_code, "source": "inspection", "severity": "medium",
            "reported_at": dt.datetime.combine(today, dt.time(9), tz).isoformat(),
            "description": f"逾期未整改：{row.item}（{row.site_id}）",
        }))
    return ingest_records(engine, iter(records), router, catalog, "inspection escalation",
                          tz=tz)
