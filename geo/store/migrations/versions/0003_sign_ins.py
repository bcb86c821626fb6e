"""Sign-ins of the app kept in the store (a cookie is valid while its row exists), so that
signing out, disabling a user or changing a password ends their sign-ins everywhere.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_ins",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["username"], ["users.username"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index(op.f("ix_sign_ins_username"), "sign_ins", ["username"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sign_ins_username"), table_name="sign_ins")
    op.drop_table("sign_ins")
