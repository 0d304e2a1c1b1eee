"""server-side sessions of the review pages (signing out ends the session)

Revision ID: 0004_review_sessions
Revises: 0003_idem_created
Create Date: 2026-11-28 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_review_sessions"
down_revision: str | None = "0003_idem_created"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "moderator_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["moderator_users.id"],
                                name=op.f("fk_moderator_sessions_user_id_moderator_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderator_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_moderator_sessions_token_hash")),
    )
    op.create_index(op.f("ix_moderator_sessions_user_id"), "moderator_sessions", ["user_id"])
    op.create_index(op.f("ix_moderator_sessions_expires_at"), "moderator_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_moderator_sessions_expires_at"), table_name="moderator_sessions")
    op.drop_index(op.f("ix_moderator_sessions_user_id"), table_name="moderator_sessions")
    op.drop_table("moderator_sessions")
