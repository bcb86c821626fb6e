"""The staff roster per body with dates (staff.csv), for the reform's figures: staff
moved to the townships and their share.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_roster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("body_code", sa.String(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_staff_roster_body_code"), "staff_roster", ["body_code"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_roster_body_code"), table_name="staff_roster")
    op.drop_table("staff_roster")
