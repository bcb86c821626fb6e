"""两单融合 and the 审批—监管—执法 hand-off (issue 14): the powers catalogue, approvals and
the supervision tasks they open, notices (抄告) of closed cases to the approving
department, and referrals (移送) between bodies with their acknowledgement (签收).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "powers",
        sa.Column("matter_code", sa.String(length=40), nullable=False),
        sa.Column("permit", sa.String(length=200), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("approving_department", sa.String(length=100), nullable=False),
        sa.Column("penalty_min_yuan", sa.Float(), nullable=True),
        sa.Column("penalty_max_yuan", sa.Float(), nullable=True),
        sa.Column("supervising_department", sa.String(length=100), nullable=False),
        sa.Column("supervision_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("matter_code"),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("township_code", sa.String(length=12), nullable=True),
        sa.Column("matter_code", sa.String(length=40), nullable=False),
        sa.Column("permit", sa.String(length=200), nullable=False),
        sa.Column("approving_department", sa.String(length=100), nullable=False),
        sa.Column("granted_on", sa.Date(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "external_id", name="uq_approval_source_id"),
    )
    op.create_index("ix_approvals_site_id", "approvals", ["site_id"])
    op.create_index("ix_approvals_township_code", "approvals", ["township_code"])
    op.create_table(
        "supervision_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("township_code", sa.String(length=12), nullable=True),
        sa.Column("matter_code", sa.String(length=40), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["approval_id"], ["approvals.id"]),
        sa.ForeignKeyConstraint(["inspection_id"], ["inspections.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("approval_id"),
        sa.UniqueConstraint("inspection_id"),
    )
    op.create_index("ix_supervision_tasks_site_id", "supervision_tasks", ["site_id"])
    op.create_index("ix_supervision_tasks_township_code", "supervision_tasks",
                    ["township_code"])
    op.create_table(
        "copy_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("township_code", sa.String(length=12), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["supervision_tasks.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
    )
    op.create_index("ix_copy_notices_task_id", "copy_notices", ["task_id"])
    op.create_index("ix_copy_notices_township_code", "copy_notices", ["township_code"])
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("from_body", sa.String(length=40), nullable=False),
        sa.Column("to_body", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("referred_by", sa.String(length=100), nullable=False),
        sa.Column("referred_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.Column("escalated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_referrals_case_id", "referrals", ["case_id"])
    op.create_index("ix_referrals_from_body", "referrals", ["from_body"])
    op.create_index("ix_referrals_to_body", "referrals", ["to_body"])


def downgrade() -> None:
    op.drop_table("referrals")
    op.drop_table("copy_notices")
    op.drop_table("supervision_tasks")
    op.drop_table("approvals")
    op.drop_table("powers")
