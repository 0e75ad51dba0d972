"""Sign-ins under way: their state, kept where every process and instance finds it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin_states",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_signin_states_expires_at", "signin_states", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_signin_states_expires_at", "signin_states")
    op.drop_table("signin_states")
