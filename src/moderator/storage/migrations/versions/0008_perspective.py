"""perspective_suggestions: labels sent through the Perspective-compatible comments:suggestscore

Revision ID: 0008_perspective
Revises: 0007_authors
Create Date: 2026-11-30 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_perspective"
down_revision: str | None = "0007_authors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "perspective_suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.String(length=200), nullable=False),
        sa.Column("client_token", sa.String(length=200), nullable=True),
        sa.Column("session_id", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=True),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.Column("submitted_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_perspective_suggestions")),
        sa.UniqueConstraint("community_id", "client_token", name=op.f("uq_perspective_suggestions_community_id")),
    )
    op.create_index(op.f("ix_perspective_suggestions_updated_at"), "perspective_suggestions", ["updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_perspective_suggestions_updated_at"), table_name="perspective_suggestions")
    op.drop_table("perspective_suggestions")
