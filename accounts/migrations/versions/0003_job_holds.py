"""Credits paid for jobs that have not ended, so a job lost with its runner is paid back.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_holds",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.Integer(),
                  sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_job_holds_created_at", "job_holds", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_job_holds_created_at", "job_holds")
    op.drop_table("job_holds")
