"""Joint operations (issue 14, practice 4): the bodies taking part in the operation on a
case and the named observers (`joint_participants`), and the items seized on a case with
their quantity, unit and estimated value in fen (`seized_items`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "joint_participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("body_code", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "body_code", name="uq_joint_case_body"),
        sa.UniqueConstraint("case_id", "name", name="uq_joint_case_name"),
    )
    op.create_index(op.f("ix_joint_participants_case_id"), "joint_participants", ["case_id"],
                    unique=False)
    op.create_index(op.f("ix_joint_participants_body_code"), "joint_participants",
                    ["body_code"], unique=False)
    op.create_table(
        "seized_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=100), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=10), nullable=False),
        sa.Column("value_fen", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("body_code", sa.String(length=40), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_seized_items_case_id"), "seized_items", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_seized_items_case_id"), table_name="seized_items")
    op.drop_table("seized_items")
    op.drop_index(op.f("ix_joint_participants_body_code"), table_name="joint_participants")
    op.drop_index(op.f("ix_joint_participants_case_id"), table_name="joint_participants")
    op.drop_table("joint_participants")
