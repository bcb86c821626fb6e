"""The site registry (监管对象) in the caller's scope: reading sites, and one site added or
changed by the approval system. Coordinates are WGS84 degrees."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Engine, select

from geo.access import Scope
from geo.crs import WGS84
from geo.layers import LayerReport, validate_layer, with_townships
from geo.store import audit, sessions
from geo.store.models import Meta, Site, Township, utcnow
from geo.store.scoping import visible
from geo.store.spatial import check_bbox

SITE_FIELDS = ("site_id", "name", "kind", "risk", "credit_code", "township_code")


class SiteError(ValueError):
    """A site that fails the checks of a sites layer; ``problems`` are (field, message)
    pairs, the field None where the problem is not one field's."""

    def __init__(self, problems: list[tuple[str | None, str]]):
        super().__init__("; ".join(f"field {f}: {m}" if f else m for f, m in problems))
        self.problems = problems


def sites_frame(engine: Engine, *, scope: Scope, bbox=None, township: str | None = None,
                kind: str | None = None, site_id: str | None = None) -> gpd.GeoDataFrame:
    """Sites in ``scope`` (in ``bbox`` = min_lon, min_lat, max_lon, max_lat, of one
    township or kind, or the one site ``site_id``, where given), ordered by ``site_id``;
    WGS84."""
    q = select(*(getattr(Site, c) for c in SITE_FIELDS), Site.geom).where(
        visible(scope, "sites"))
    if site_id is not None:
        q = q.where(Site.site_id == site_id)
    if township:
        q = q.where(Site.township_code == township)
    if kind:
        q = q.where(Site.kind == kind)
    with sessions(engine)() as s:
        rows = s.execute(q.order_by(Site.site_id)).all()
    frame = pd.DataFrame([r[:-1] for r in rows], columns=list(SITE_FIELDS))
    sites = gpd.GeoDataFrame(frame, geometry=shapely.from_wkb([r[-1] for r in rows]),
                             crs=WGS84)
    if bbox is not None and len(sites):
        w, so, e, n = check_bbox(bbox)
        sites = sites[sites.intersects(shapely.box(w, so, e, n))]
    return sites.reset_index(drop=True)


def put_site(engine: Engine, record: dict, geometry: shapely.Geometry, *,
             scope: Scope) -> bool:
    """Add or replace one site (``record`` holds `SITE_FIELDS`, ``geometry`` a WGS84
    Point or Polygon), checked like a sites layer; returns whether it is new.

    A site without a township code gets the township it lies in (`geo.layers.
    with_townships`). `SiteError` (a `ValueError`) names the fields that are wrong; nothing
    is stored then.
    The change is audited, and the layers' import stamp moves on, so routers and maps
    built from the old registry are rebuilt.
    """
    scope.require("sites", "change")
    raw = gpd.GeoDataFrame([{c: record.get(c) for c in SITE_FIELDS}], geometry=[geometry],
                           crs=WGS84)
    report = LayerReport()
    site = validate_layer(raw, "sites", report, None)
    with sessions(engine).begin() as s:
        towns = s.execute(select(Township.code, Township.geom)).all()
        if not towns:
            raise LookupError("no layers loaded: run `python -m geo init` first")
        known = {code for code, _ in towns}
        if report.ok and site.loc[0, "township_code"] not in (None, *known):
            report.add("error", "sites", f"unknown township {site.loc[0, 'township_code']}",
                       field="township_code")
        if not report.ok:
            raise SiteError([(p.field, p.message) for p in report.errors])
        townships = gpd.GeoDataFrame({"code": [c for c, _ in towns]},
                                     geometry=shapely.from_wkb([g for _, g in towns]),
                                     crs=WGS84)
        site = with_townships(site, townships, report)
        row = {c: (None if pd.isna(site.loc[0, c]) else site.loc[0, c])
               for c in SITE_FIELDS if c in site.columns}
        row["geom"] = shapely.to_wkb(site.geometry.iloc[0])
        before = s.get(Site, row["site_id"])
        s.merge(Site(**row))
        audit(s, scope.actor, "site", row["site_id"], "put",
              detail="added" if before is None else "changed")
        s.merge(Meta(key="imported_at", value=utcnow().isoformat(timespec="microseconds")))
    return before is None
