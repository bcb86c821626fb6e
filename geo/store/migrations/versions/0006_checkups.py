"""Check-ups by appointment (预约体检) and joint visits (综合查一次): the visits the office
schedules, the sites' requests they answer, and the observers (观摩团) of each visit.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "joint_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("township_code", sa.String(length=12), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("lead_body", sa.String(length=40), nullable=False),
        sa.Column("bodies", sa.JSON(), nullable=False),
        sa.Column("departments", sa.JSON(), nullable=False),
        sa.Column("inspectors", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=True),
        sa.Column("scheduled_by", sa.String(length=100), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["inspection_id"], ["inspections.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_joint_visits_site_id"), "joint_visits", ["site_id"])
    op.create_index(op.f("ix_joint_visits_township_code"), "joint_visits", ["township_code"])
    op.create_index(op.f("ix_joint_visits_day"), "joint_visits", ["day"])
    op.create_index(op.f("ix_joint_visits_status"), "joint_visits", ["status"])
    op.create_table(
        "checkup_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("township_code", sa.String(length=12), nullable=True),
        sa.Column("contact", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("wanted_from", sa.Date(), nullable=True),
        sa.Column("wanted_until", sa.Date(), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["visit_id"], ["joint_visits.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("site_id", "township_code", "source", "status", "visit_id"):
        op.create_index(op.f(f"ix_checkup_requests_{column}"), "checkup_requests", [column])
    op.create_table(
        "visit_observers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["visit_id"], ["joint_visits.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_visit_observers_visit_id"), "visit_observers", ["visit_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_visit_observers_visit_id"), table_name="visit_observers")
    op.drop_table("visit_observers")
    for column in ("visit_id", "status", "source", "township_code", "site_id"):
        op.drop_index(op.f(f"ix_checkup_requests_{column}"), table_name="checkup_requests")
    op.drop_table("checkup_requests")
    for column in ("status", "day", "township_code", "site_id"):
        op.drop_index(op.f(f"ix_joint_visits_{column}"), table_name="joint_visits")
    op.drop_table("joint_visits")
