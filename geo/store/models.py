"""SQLAlchemy 2 models: reference data (layers, catalogues), alerts, cases, teams, audit.

Geometries are WGS84 (EPSG:4326), read and written as WKB; on PostGIS they are geometry
columns with GiST indexes (`geo.store.geometry`). Timestamps are timezone-naive UTC.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from geo.store.geometry import WKBGeometry, gist_index


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Township(Base):
    __tablename__ = "townships"
    __table_args__ = (gist_index("townships"),)
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    geom: Mapped[bytes] = mapped_column(WKBGeometry())


class Unit(Base):
    __tablename__ = "units"
    __table_args__ = (gist_index("units"),)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    township_code: Mapped[str] = mapped_column(ForeignKey("townships.code"), index=True)
    geom: Mapped[bytes] = mapped_column(WKBGeometry())


class Generation(Base):
    """One imported layer set's boundaries, in force from ``effective_from`` (a calendar day
    in the district's time zone) until ``effective_to`` (the next generation's start; None
    while it is the latest), with where it came from, when it was imported (UTC) and the
    validation findings it was imported with (``problems``: warnings and repairs, as
    `geo.layers.Problem` fields; None for layers imported before generations were kept)."""

    __tablename__ = "generations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    problems: Mapped[list | None] = mapped_column(JSON)


class GenerationTownship(Base):
    """A township as a generation drew it (WGS84)."""

    __tablename__ = "generation_townships"
    __table_args__ = (gist_index("generation_townships"),)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generations.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    geom: Mapped[bytes] = mapped_column(WKBGeometry())


class GenerationUnit(Base):
    """A unit as a generation drew it (WGS84), with its township of that generation."""

    __tablename__ = "generation_units"
    __table_args__ = (gist_index("generation_units"),)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generations.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    township_code: Mapped[str] = mapped_column(String(12))
    geom: Mapped[bytes] = mapped_column(WKBGeometry())


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (gist_index("sites"),)
    site_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    risk: Mapped[str] = mapped_column(String(10))
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    township_code: Mapped[str | None] = mapped_column(String(12), index=True)
    geom: Mapped[bytes] = mapped_column(WKBGeometry())


class Road(Base):
    __tablename__ = "roads"
    __table_args__ = (gist_index("roads"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    road_class: Mapped[str] = mapped_column(String(40))
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    geom: Mapped[bytes] = mapped_column(WKBGeometry())


class Body(Base):
    __tablename__ = "bodies"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    township_code: Mapped[str] = mapped_column(String(12), default="")


class Matter(Base):
    __tablename__ = "matters"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str] = mapped_column(String(40))
    district_body: Mapped[str] = mapped_column(ForeignKey("bodies.code"))
    deadline_days_low: Mapped[float] = mapped_column(Float)
    deadline_days_medium: Mapped[float] = mapped_column(Float)
    deadline_days_high: Mapped[float] = mapped_column(Float)


class Empowerment(Base):
    __tablename__ = "empowerment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    township_code: Mapped[str] = mapped_column(String(12), index=True)
    matter_code: Mapped[str] = mapped_column(ForeignKey("matters.code"))
    effective_from: Mapped[dt.date] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (gist_index("teams"),)
    team_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    body_code: Mapped[str] = mapped_column(ForeignKey("bodies.code"), index=True)
    skills: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="available")
    geom: Mapped[bytes] = mapped_column(WKBGeometry("POINT"))
    version: Mapped[int] = mapped_column(Integer, default=1)


class TeamPosition(Base):
    __tablename__ = "team_positions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.team_id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)


class Alert(Base):
    """An incoming alert as received; unique on (source, external_id)."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_alert_source_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(100))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    crs: Mapped[str] = mapped_column(Text, default="EPSG:4326")
    matter_code: Mapped[str | None] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10), default="medium")
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime)
    description: Mapped[str] = mapped_column(Text, default="")
    credit_code: Mapped[str | None] = mapped_column(String(18))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    case: Mapped[Case | None] = relationship(back_populates="alert", uselist=False)


class Case(Base):
    """A routed alert with its routing result (WGS84 position, decision and reasons)."""

    __tablename__ = "cases"
    __table_args__ = (gist_index("cases"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    geom: Mapped[bytes | None] = mapped_column(WKBGeometry("POINT"))
    matter_code: Mapped[str | None] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    township_code: Mapped[str | None] = mapped_column(String(12), index=True)
    township_name: Mapped[str | None] = mapped_column(String(100))
    unit_code: Mapped[str | None] = mapped_column(String(40))
    site_id: Mapped[str | None] = mapped_column(String(40))
    body_code: Mapped[str | None] = mapped_column(String(40), index=True)
    flags: Mapped[str] = mapped_column(String(100), default="")
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    candidates: Mapped[list] = mapped_column(JSON, default=list)
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    routed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    alert: Mapped[Alert] = relationship(back_populates="case")


class Assignment(Base):
    """A team sent to a case, with the time of each team status on the way."""

    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.team_id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="dispatched")
    actor: Mapped[str] = mapped_column(String(100))
    dispatched_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    en_route_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    on_scene_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    cleared_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ChecklistItem(Base):
    """An item of the problem checklist of one site kind, owned by a department."""

    __tablename__ = "checklist_items"
    item_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    item: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(40))
    matter_code: Mapped[str] = mapped_column(String(40))


class Inspection(Base):
    """One joint visit to a site (综合查一次) by several departments."""

    __tablename__ = "inspections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # plain codes, not foreign keys: re-importing layers or checklists keeps the history
    site_id: Mapped[str] = mapped_column(String(40), index=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    departments: Mapped[str] = mapped_column(Text)
    inspector: Mapped[str] = mapped_column(String(100))


class Finding(Base):
    """The result of one checklist item at an inspection; a problem carries its
    rectification requirement and deadline."""

    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id"), index=True)
    item_code: Mapped[str] = mapped_column(String(40))
    result: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text, default="")
    photo: Mapped[str | None] = mapped_column(String(300))
    requirement: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[dt.date | None] = mapped_column(Date)


class Reinspection(Base):
    """A re-inspection (复检) of one problem: fixed or not."""

    __tablename__ = "reinspections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), index=True)
    day: Mapped[dt.date] = mapped_column(Date)
    fixed: Mapped[bool] = mapped_column()


class AuditLog(Base):
    """Who did what, when, from which state to which, and why."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")


class Meta(Base):
    """Key/value facts about the loaded reference data (layer sources, import time)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class User(Base):
    """A person who signs in to the app or reads the API, with the scope of their role.

    ``role`` is one of `geo.access.ROLES`; a dispatcher has a ``body_code``, township staff a
    ``township_code``. The password is a bcrypt hash; the API token a SHA-256 hash.
    """

    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(60), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    township_code: Mapped[str | None] = mapped_column(String(12))
    body_code: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(100))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)


class Source(Base):
    """A system that posts alerts over the API: its token (SHA-256 hash) and rate limit."""

    __tablename__ = "sources"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    rate_limit: Mapped[str] = mapped_column(String(40), default="20/second")
    crs: Mapped[str] = mapped_column(String(40), default="EPSG:4326")
    active: Mapped[bool] = mapped_column(default=True)


class SignIn(Base):
    """A browser's sign-in to the app: the SHA-256 hash of the random value its cookie holds.

    The cookie is valid only while its row exists and has not expired: signing out deletes
    the row (so a cookie the browser kept, or a copy of it, no longer signs anyone in), and
    so do disabling or deleting the user and changing their password.
    """

    __tablename__ = "sign_ins"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(
        ForeignKey("users.username", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Evidence(Base):
    """A photo or document attached to a case or to an inspection finding (exactly one).

    The file is kept once, under its SHA-256, in the evidence folder (`geo.store.evidence`);
    a row says what it was attached to, the name it came with (cleaned: shown, never a
    path), its content type (told by its content), size in bytes, who attached it and when.
    The same content is attached to one case or finding once.
    """

    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("case_id", "sha256", name="uq_evidence_case_sha"),
                      UniqueConstraint("finding_id", "sha256", name="uq_evidence_finding_sha"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


# issue 14: reform figures
class StaffRoster(Base):
    """Enforcement staff of one body over a period (``staff.csv``): ``count`` people from
    ``effective_from`` until the day before ``effective_to`` (None: still there). A plain
    body code, not a foreign key: re-importing the catalogue keeps the roster's history."""

    __tablename__ = "staff_roster"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body_code: Mapped[str] = mapped_column(String(40), index=True)
    count: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)


# issue 14: 两单融合, the 审批—监管—执法 hand-off and referrals (移送)
class Power(Base):
    """The power list's side of a matter (`geo.handoff`, ``powers.csv``): the permit, legal
    basis, approving department and penalty range (yuan), with the department that
    supervises holders and the days it has to visit after an approval. A plain matter code,
    not a foreign key: re-importing the matters keeps it (as checklists)."""

    __tablename__ = "powers"
    matter_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    permit: Mapped[str] = mapped_column(String(200), default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    approving_department: Mapped[str] = mapped_column(String(100), default="")
    penalty_min_yuan: Mapped[float | None] = mapped_column(Float)
    penalty_max_yuan: Mapped[float | None] = mapped_column(Float)
    supervising_department: Mapped[str] = mapped_column(String(100), default="")
    supervision_days: Mapped[int] = mapped_column(Integer)


class Approval(Base):
    """A permit granted to a site (审批), as the approving system sent it; unique on
    (source, external id)."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_approval_source_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(100))
    site_id: Mapped[str] = mapped_column(String(40), index=True)
    township_code: Mapped[str | None] = mapped_column(String(12), index=True)
    matter_code: Mapped[str] = mapped_column(String(40))
    permit: Mapped[str] = mapped_column(String(200), default="")
    approving_department: Mapped[str] = mapped_column(String(100))
    granted_on: Mapped[dt.date] = mapped_column(Date)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SupervisionTask(Base):
    """The supervision (监管) an approval opens: the department visits the site by
    ``due_on``; the visit is an inspection (``inspection_id``), whose unfixed problems
    become cases through `geo.escalation`."""

    __tablename__ = "supervision_tasks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    approval_id: Mapped[int] = mapped_column(ForeignKey("approvals.id"), unique=True)
    site_id: Mapped[str] = mapped_column(String(40), index=True)
    township_code: Mapped[str | None] = mapped_column(String(12), index=True)
    matter_code: Mapped[str] = mapped_column(String(40))
    department: Mapped[str] = mapped_column(String(100))
    opened_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    inspection_id: Mapped[int | None] = mapped_column(ForeignKey("inspections.id"),
                                                      unique=True)


class CopyNotice(Base):
    """A notice (抄告) to the approving department that a case escalated from its approval's
    supervision was closed: one per case."""

    __tablename__ = "copy_notices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("supervision_tasks.id"), index=True)
    department: Mapped[str] = mapped_column(String(100))
    township_code: Mapped[str | None] = mapped_column(String(12), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))


class Referral(Base):
    """A case referred (移送) from one body to another, to be acknowledged (签收) by the
    receiving body by ``due_at`` (naive UTC); escalated to the command center when not."""

    __tablename__ = "referrals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    from_body: Mapped[str] = mapped_column(String(40), index=True)
    to_body: Mapped[str] = mapped_column(String(40), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    referred_by: Mapped[str] = mapped_column(String(100))
    referred_at: Mapped[dt.datetime] = mapped_column(DateTime)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


# issue 14: check-ups by appointment (预约体检) and joint visits (综合查一次)
class JointVisit(Base):
    """One joint visit of a site scheduled by the office (综合查一次): its day, the lead
    body, the bodies (codes) and departments (names) joining, the inspectors (names); the
    request it answers (None: scheduled by the office itself); once done, the inspection
    its findings were recorded as. ``township_code`` is the site's when scheduled."""

    __tablename__ = "joint_visits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # plain codes, not foreign keys: re-importing layers or catalogues keeps the history
    site_id: Mapped[str] = mapped_column(String(40), index=True)
    township_code: Mapped[str | None] = mapped_column(String(12), index=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    lead_body: Mapped[str] = mapped_column(String(40))
    bodies: Mapped[list] = mapped_column(JSON, default=list)
    departments: Mapped[list] = mapped_column(JSON, default=list)
    inspectors: Mapped[list] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="scheduled", index=True)
    inspection_id: Mapped[int | None] = mapped_column(ForeignKey("inspections.id"))
    scheduled_by: Mapped[str] = mapped_column(String(100))
    scheduled_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class CheckupRequest(Base):
    """A site's request for a check-up (预约体检): who asks (``contact``), why, the days it
    would like, when it asked, who entered it (a user, or the source whose token booked
    it: ``source``), and the visit that answers it once scheduled."""

    __tablename__ = "checkup_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[str] = mapped_column(String(40), index=True)
    township_code: Mapped[str | None] = mapped_column(String(12), index=True)
    contact: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    wanted_from: Mapped[dt.date | None] = mapped_column(Date)
    wanted_until: Mapped[dt.date | None] = mapped_column(Date)
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    requested_by: Mapped[str] = mapped_column(String(100))
    source: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("joint_visits.id"), index=True)


class VisitObserver(Base):
    """A member of a visit's 观摩团: a manager of another site, by name, invited to watch."""

    __tablename__ = "visit_observers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("joint_visits.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    site_id: Mapped[str] = mapped_column(String(40))
# issue 14: joint operation
class JointParticipant(Base):
    """A body taking part in the joint operation on a case (`geo.jointops`), or an
    observer: an organisation that is not an enforcement body (``body_code`` None), by name.
    The case's responsible body leads the operation and has no row here."""

    __tablename__ = "joint_participants"
    __table_args__ = (UniqueConstraint("case_id", "body_code", name="uq_joint_case_body"),
                      UniqueConstraint("case_id", "name", name="uq_joint_case_name"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    # a plain code, not a foreign key: re-importing the catalogue keeps the history
    body_code: Mapped[str | None] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SeizedItem(Base):
    """One line of items seized on a case: ``quantity`` in ``unit`` (`geo.jointops.UNITS`),
    the estimated value of the whole line in fen (1/100 yuan, exact), the body that
    recorded it, who and when."""

    __tablename__ = "seized_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    item: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(10))
    value_fen: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(String(200), default="")
    body_code: Mapped[str | None] = mapped_column(String(40))
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
