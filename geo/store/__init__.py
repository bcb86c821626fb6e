"""The store: the system of record (SQLite file by default, any SQLAlchemy URL).

Reference data (layers and catalogues) is replaced all or nothing by `import_reference`;
alerts are committed before they are routed and are unique on (source, external id).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Engine, create_engine, delete, event, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from geo.access import AccessDeniedError, Scope
from geo.catalog import SEVERITIES, Catalog, validate_catalog
from geo.crs import WGS84
from geo.layers import LayerReport, LayerSet
from geo.store.models import (
    Alert,
    AuditLog,
    Body,
    Case,
    Empowerment,
    Matter,
    Meta,
    Road,
    Site,
    Team,
    TeamPosition,
    Township,
    Unit,
    utcnow,
)

__all__ = [
    "Alert",
    "AuditLog",
    "Case",
    "Team",
    "TeamPosition",
    "add_alerts",
    "add_cases",
    "audit",
    "connect",
    "has_reference",
    "import_reference",
    "load_catalog",
    "load_layers",
    "migrate",
    "query_cases",
    "sessions",
    "unrouted_alerts",
]


def connect(url: str) -> Engine:
    """Engine for ``url``; a SQLite file gets its folder, WAL and foreign keys."""
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):
            cur = conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()
    return engine


MIGRATIONS = Path(__file__).parent / "migrations"
FIRST_RELEASE = "0001"
# PostGIS' own tables are not ours to migrate
FOREIGN_TABLES = frozenset({"spatial_ref_sys", "topology", "layer", "geometry_columns",
                            "geography_columns"})


def schema_filter(dialect: str):
    """Alembic's ``include_object`` for ``dialect``: leaves out PostGIS' tables, and GiST
    indexes where there is no PostGIS (`geo.store.geometry.gist_index`)."""
    def include(obj, name, type_, reflected, compare_to) -> bool:
        if type_ == "table" and name in FOREIGN_TABLES:
            return False
        return dialect == "postgresql" or not (type_ == "index" and name.endswith("_gist"))
    return include


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database's schema to ``revision`` with the Alembic migrations.

    A database made before migrations existed (tables, no ``alembic_version``) is taken as
    the first release and upgraded from there; its data is kept.
    """
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        tables = set(inspect(conn).get_table_names())
        if "townships" in tables and "alembic_version" not in tables:
            command.stamp(config, FIRST_RELEASE)
        command.upgrade(config, revision)


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# ---------------------------------------------------------------------- reference data
def _rows(gdf: gpd.GeoDataFrame | None, columns: Sequence[str]) -> list[dict]:
    if gdf is None:
        return []
    frame = pd.DataFrame({c: gdf[c] if c in gdf.columns else None for c in columns})
    frame = frame.astype(object).where(frame.notna(), None)
    records = frame.to_dict("records")
    for rec, geom in zip(records, shapely.to_wkb(gdf.geometry.to_numpy()), strict=True):
        rec["geom"] = geom
    return records


def import_reference(engine: Engine, layers: LayerSet, catalog: Catalog, source: str, *,
                     scope: Scope, effective_from: dt.date | None = None,
                     report: LayerReport | None = None) -> int:
    """Replace layers and catalogues in one transaction (all or nothing), audited, keeping
    the boundaries replaced as an earlier layer generation.

    The townships and units become a new generation (`geo.store.generations`) in force from
    ``effective_from`` (a calendar day in the district's time zone; default today in UTC:
    callers that know the district pass its local day, as ``init`` does), with the
    warnings and repairs of ``report``; the generation in force until now ends that day.
    A layer set without a teams layer leaves the stored teams (and their position history)
    as they are.

    Returns
    -------
    int
        The new generation's id.

    Raises
    ------
    geo.generations.GenerationError
        ``effective_from`` is earlier than the start of the generation in force; nothing
        is changed.
    """
    from geo.store.generations import add_generation

    scope.require("layers", "change")
    scope.require("catalogues", "change")
    with sessions(engine).begin() as s:
        generation = add_generation(s, layers, source, effective_from or utcnow().date(),
                                    report, scope=scope)
        for model in (Empowerment, Matter, Unit, Site, Road, Township):
            s.execute(delete(model))
        body_codes = set(catalog.bodies["code"])
        for rec in catalog.bodies.to_dict("records"):
            s.merge(Body(**rec))
        s.flush()
        if layers.teams is not None:
            team_rows = _rows(layers.teams, ("team_id", "name", "body_code", "skills",
                                             "status"))
            keep = {r["team_id"] for r in team_rows}
            gone = select(Team.team_id).where(Team.team_id.not_in(keep))
            s.execute(delete(TeamPosition).where(TeamPosition.team_id.in_(gone)))
            s.execute(delete(Team).where(Team.team_id.not_in(keep)))
            for rec in team_rows:
                s.merge(Team(**rec))
            s.flush()
        in_use = select(Team.body_code)
        s.execute(delete(Body).where(Body.code.not_in(body_codes), Body.code.not_in(in_use)))
        matters = catalog.matters.to_dict("records")
        if matters:  # none before a district loads its catalogue
            s.execute(insert(Matter), matters)
        emp = catalog.empowerment.to_dict("records")
        if emp:
            s.execute(insert(Empowerment), emp)
        s.execute(insert(Township), _rows(layers.townships, ("code", "name")))
        for model, gdf, cols in (
            (Unit, layers.units, ("code", "name", "township_code")),
            (Site, layers.sites, ("site_id", "name", "kind", "risk", "credit_code",
                                  "township_code")),
            (Road, layers.roads, ("road_class", "speed_kmh")),
        ):
            rows = _rows(gdf, cols)
            if rows:
                s.execute(insert(model), rows)
        s.merge(Meta(key="inspection_intervals", value=json.dumps(
            catalog.inspection_intervals, sort_keys=True)))
        s.merge(Meta(key="severity_words", value=json.dumps(
            catalog.severity_words, sort_keys=True, ensure_ascii=False)))
        s.merge(Meta(key="layers_source", value=source))
        s.merge(Meta(key="imported_at", value=utcnow().isoformat(timespec="seconds")))
        audit(s, scope.actor, "layers", "reference", "import",
              detail=f"{source} (generation {generation})")
    return generation


def has_reference(engine: Engine) -> bool:
    with sessions(engine)() as s:
        try:
            return bool(s.scalar(select(func.count()).select_from(Township)))
        except Exception:
            return False


def _frame(s: Session, model, columns: Sequence[str], where=None) -> gpd.GeoDataFrame | None:
    q = select(*(getattr(model, c) for c in columns), model.geom)
    rows = s.execute(q if where is None else q.where(where)).all()
    if not rows:
        return None
    frame = pd.DataFrame([r[:-1] for r in rows], columns=list(columns))
    geoms = shapely.from_wkb([r[-1] for r in rows])
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=WGS84)


def load_layers(engine: Engine, *, scope: Scope) -> LayerSet:
    """The loaded layer set as ``scope`` may read it: every township, unit and road, the
    sites and teams in scope (none for a role that may not read them). Raises
    `LookupError` when ``init`` has not imported one."""
    from geo.store.scoping import visible

    scope.require("layers", "read")
    with sessions(engine)() as s:
        townships = _frame(s, Township, ("code", "name"))
        if townships is None:
            raise LookupError("no layers loaded: run `python -m geo init` first")
        sites = teams = None
        if scope.allows("sites", "read"):
            sites = _frame(s, Site, ("site_id", "name", "kind", "risk", "credit_code",
                                     "township_code"), visible(scope, "sites"))
        if scope.allows("teams", "read"):
            teams = _frame(s, Team, ("team_id", "name", "body_code", "skills", "status"),
                           visible(scope, "teams"))
        layers = LayerSet(
            townships=townships.sort_values("code").reset_index(drop=True),
            units=_sorted(_frame(s, Unit, ("code", "name", "township_code")), "code"),
            sites=_sorted(sites, "site_id"),
            teams=_sorted(teams, "team_id"),
            roads=_frame(s, Road, ("road_class", "speed_kmh")),
        )
    return layers


def _sorted(gdf, key):
    return None if gdf is None else gdf.sort_values(key).reset_index(drop=True)


def load_catalog(engine: Engine, *, scope: Scope) -> Catalog:
    """The loaded catalogues, validated as when read from CSV."""
    scope.require("catalogues", "read")
    with sessions(engine)() as s:
        def table(model, columns):
            rows = s.execute(select(*(getattr(model, c) for c in columns))).all()
            return pd.DataFrame(rows, columns=list(columns)).astype(object)

        matters = table(Matter, ("code", "name", "domain", "district_body", "deadline_days_low",
                                 "deadline_days_medium", "deadline_days_high"))
        bodies = table(Body, ("code", "name", "kind", "township_code"))
        emp = table(Empowerment, ("township_code", "matter_code", "effective_from",
                                  "effective_to"))
        stored = s.get(Meta, "inspection_intervals")
        words = s.get(Meta, "severity_words")
    for col in ("deadline_days_low", "deadline_days_medium", "deadline_days_high"):
        matters[col] = matters[col].map(lambda v: f"{v:g}")
    for col in ("effective_from", "effective_to"):
        emp[col] = emp[col].map(lambda d: d.isoformat() if d else "")
    intervals = None if stored is None else pd.DataFrame(
        list(json.loads(stored.value).items()), columns=["risk", "days"]).astype(str)
    severities = None if words is None else pd.DataFrame(
        list(json.loads(words.value).items()), columns=["word", "severity"])
    if severities is not None:  # low/medium/high mean themselves (an older release let a
        # catalogue map them to another severity: that mapping is no longer kept)
        severities = severities[~severities["word"].str.lower().isin(SEVERITIES)]
    return validate_catalog(matters.sort_values("code"), bodies.sort_values("code"), emp,
                            intervals=intervals, severities=severities)


def get_meta(engine: Engine) -> dict[str, str]:
    with sessions(engine)() as s:
        return {m.key: m.value for m in s.scalars(select(Meta))}


# ---------------------------------------------------------------------- alerts and cases
def _insert_new(s: Session, model):
    """``INSERT`` that skips rows clashing with a unique key (SQLite and PostgreSQL)."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(model).on_conflict_do_nothing()


ALERT_FIELDS = ("source", "external_id", "lon", "lat", "crs", "matter_code", "severity",
                "reported_at", "description", "credit_code", "received_at")
CASE_FIELDS = ("alert_id", "status", "lon", "lat", "matter_code", "severity", "township_code",
               "township_name", "unit_code", "site_id", "body_code", "flags", "reasons",
               "candidates", "opened_at", "deadline_at", "routed_at")


def _frame_of(rows, columns: Sequence[str]) -> pd.DataFrame:
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if frame.empty:
        return pd.DataFrame(columns=list(columns))
    return frame.reindex(columns=list(columns))


def store_alerts(s: Session, rows: Iterable[dict] | pd.DataFrame) -> dict[tuple[str, str], int]:
    """Insert the alerts not yet stored; returns the new ones' ids by (source, external id).

    ``rows`` are dicts or a frame with the columns of `ALERT_FIELDS`. Safe against
    concurrent writers: an alert stored meanwhile by another process counts as stored,
    never twice. The caller commits: the alert is on record before any routing.
    """
    from geo.store.bulkinsert import insert_new

    frame = _frame_of(rows, ALERT_FIELDS)
    if frame.empty:
        return {}
    if frame["received_at"].isna().any():
        frame["received_at"] = frame["received_at"].astype(object).where(
            frame["received_at"].notna(), utcnow())
    done = insert_new(s.connection(), Alert.__table__, frame,
                      ("source", "external_id", "id"))
    return {(src, ext): i for src, ext, i in done}


def add_alerts(s: Session, rows: Iterable[dict] | pd.DataFrame) -> tuple[int, int]:
    """Insert alerts not yet stored (by source and external id); returns (new, duplicates)."""
    frame = _frame_of(rows, ALERT_FIELDS)
    new = len(store_alerts(s, frame))
    return new, len(frame) - new


def count_unrouted(s: Session, *, scope: Scope) -> int:
    """How many alerts have no case yet (the intake's: a role that may change cases)."""
    scope.require("cases", "change")
    return s.scalar(select(func.count(Alert.id)).outerjoin(Case).where(Case.id.is_(None)))


def unrouted_alerts(s: Session, limit: int | None = None, *, scope: Scope) -> list[Alert]:
    """Alerts on record that have no case yet (new ones, or left by an interrupted run)."""
    scope.require("cases", "change")
    q = select(Alert).outerjoin(Case).where(Case.id.is_(None)).order_by(Alert.id)
    return list(s.scalars(q.limit(limit) if limit else q))


def add_cases(s: Session, rows: list[dict] | pd.DataFrame, *, scope: Scope
              ) -> dict[int, int]:
    """Store routed cases (status ``routed``) with one audit entry each, by ``scope.actor``
    (the intake's scope: it must be allowed to change every case); each case gets its
    WGS84 point from ``lon``/``lat``. ``rows`` are dicts or a frame with the columns of
    `CASE_FIELDS` (``reasons`` and ``candidates`` lists). Returns the new case ids by
    alert id; an alert routed meanwhile by another process keeps its case."""
    from geo.store.bulkinsert import insert_all, insert_new

    scope.require("cases", "change")
    if scope.case_match:
        raise AccessDeniedError(f"{scope.actor} ({scope.role}) may not open cases")
    actor = scope.actor

    frame = _frame_of(rows, CASE_FIELDS)
    if frame.empty:
        return {}
    now = utcnow()
    frame["routed_at"] = frame["routed_at"].where(frame["routed_at"].notna(), now)
    frame["version"] = 1
    frame["geom"] = shapely.to_wkb(shapely.points(frame["lon"].to_numpy(dtype="float64"),
                                                  frame["lat"].to_numpy(dtype="float64")))
    conn = s.connection()
    made = insert_new(conn, Case.__table__, frame, ("id", "alert_id"))
    if made:
        ids = pd.DataFrame(made, columns=["case_id", "alert_id"])
        insert_all(conn, AuditLog.__table__, pd.DataFrame({
            "at": now, "actor": actor, "entity": "case",
            "entity_id": ids["case_id"].astype(str), "action": "route", "from_state": "new",
            "to_state": "routed",
            "detail": [json.dumps({"alert_id": int(a)}) for a in ids["alert_id"]]}))
    return {int(aid): int(cid) for cid, aid in made}


def in_scope(scope: Scope):
    """The SQL condition on `Case` that keeps the cases ``scope`` may see
    (`geo.store.scoping.visible`)."""
    from geo.store.scoping import visible

    return visible(scope, "cases")


def query_cases(
    s: Session,
    township: str | None = None,
    body: str | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    limit: int | None = None,
    *,
    scope: Scope,
) -> list[Case]:
    """Cases in ``scope`` matching every filter given, newest first."""
    q = select(Case).where(in_scope(scope))
    if township:
        q = q.where(Case.township_code == township)
    if body:
        q = q.where(Case.body_code == body)
    if status:
        q = q.where(Case.status == status)
    if since:
        q = q.where(Case.opened_at >= since)
    q = q.order_by(Case.opened_at.desc(), Case.id.desc())
    return list(s.scalars(q.limit(limit) if limit else q))


def cases_frame(engine: Engine, since: dt.datetime | None = None, *,
                scope: Scope) -> pd.DataFrame:
    """The cases in ``scope`` (opened at or after ``since``) with their alert's source and
    description and their matter's name and domain, as the case table `geo.cases` works on."""
    q = (select(Case.id, Case.version, Case.status, Case.severity, Case.lon, Case.lat,
                Case.matter_code,
                Matter.name.label("matter_name"), Matter.domain, Alert.source,
                Alert.external_id, Alert.description, Case.township_code, Case.township_name,
                Case.unit_code, Case.site_id, Case.body_code, Case.flags, Case.reasons,
                Case.opened_at, Case.deadline_at, Case.routed_at)
         .join(Alert, Alert.id == Case.alert_id)
         .outerjoin(Matter, Matter.code == Case.matter_code)
         .where(in_scope(scope)))
    if since is not None:
        q = q.where(Case.opened_at >= since)
    with engine.connect() as conn:
        frame = pd.read_sql(q.order_by(Case.id), conn)
    for col in ("opened_at", "deadline_at", "routed_at"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def cases_version(engine: Engine, *, scope: Scope) -> tuple:
    """Changes whenever a case in ``scope`` is added or changed: (count, last id, sum of
    versions)."""
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count(Case.id), func.max(Case.id),
                                         func.sum(Case.version)).where(in_scope(scope))).one())


def case_events(engine: Engine, *, scope: Scope) -> pd.DataFrame:
    """Every state change of the cases in ``scope`` from the audit log: case_id, to_state,
    at (naive UTC)."""
    q = select(AuditLog.entity_id, AuditLog.to_state, AuditLog.at).where(
        AuditLog.entity == "case")
    if scope.case_match:
        q = q.where(AuditLog.entity_id.in_(select(func.cast(Case.id, AuditLog.entity_id.type))
                                           .where(in_scope(scope))))
    with engine.connect() as conn:
        frame = pd.read_sql(q, conn)
    frame["case_id"] = frame.pop("entity_id").astype(int)
    frame["at"] = pd.to_datetime(frame["at"])
    return frame


def case_timeline(engine: Engine, case_id: int, *, scope: Scope) -> list[AuditLog]:
    """The audit entries of one case in ``scope``, oldest first (LookupError outside it)."""
    with sessions(engine)() as s:
        if s.scalar(select(Case.id).where(Case.id == case_id, in_scope(scope))) is None:
            raise LookupError(f"no case {case_id}")
        return list(s.scalars(select(AuditLog).where(
            AuditLog.entity == "case", AuditLog.entity_id == str(case_id)).order_by(
            AuditLog.at, AuditLog.id)))


def audit(s: Session, actor: str, entity: str, entity_id: str, action: str,
          from_state: str | None = None, to_state: str | None = None, detail: str = "") -> None:
    s.add(AuditLog(actor=actor, entity=entity, entity_id=str(entity_id), action=action,
                   from_state=from_state, to_state=to_state, detail=detail))
