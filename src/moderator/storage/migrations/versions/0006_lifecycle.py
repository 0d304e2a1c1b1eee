"""comment lifecycle: where a comment stands now (state), the site's id unique and indexed

Revision ID: 0006_lifecycle
Revises: 0005_events
Create Date: 2026-11-30 02:40:00

``comments.state`` is one of pending, approved, rejected, published, withdrawn, erased; existing rows get it
from their status and their review item (a published comment whose item was approved by a moderator is
``approved``, one published at intake ``published``).

``comments.external_id`` becomes unique (NULLs allowed) so that a resubmission with the same id is found and
treated as an edit. Should an existing database hold the same external id more than once, the newest comment
keeps it; the older ones lose it, each with a history row ``external_id_released`` saying which id it had.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006_lifecycle"
down_revision: str | None = "0005_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("comments", sa.Column("state", sa.String(length=16), nullable=False, server_default="pending"))
    op.execute(
        "UPDATE comments SET state = CASE"
        " WHEN status = 'held' THEN 'pending'"
        " WHEN status = 'rejected' THEN 'rejected'"
        " WHEN EXISTS (SELECT 1 FROM review_items r WHERE r.comment_id = comments.id AND r.status = 'approved')"
        " THEN 'approved'"
        " ELSE 'published' END"
    )
    conn = op.get_bind()
    dupes = conn.execute(sa.text(
        "SELECT c.id, c.external_id FROM comments c WHERE c.external_id IS NOT NULL AND EXISTS ("
        "SELECT 1 FROM comments n WHERE n.external_id = c.external_id AND n.id > c.id)")).all()
    now = datetime.now(UTC).replace(tzinfo=None)
    for cid, ext in dupes:
        conn.execute(sa.text("UPDATE comments SET external_id = NULL WHERE id = :id"), {"id": cid})
        conn.execute(
            sa.text("INSERT INTO history_events (comment_id, action, actor, from_status, to_status, data, "
                    "created_at) VALUES (:id, 'external_id_released', 'migration:0006_lifecycle', NULL, NULL, "
                    ":data, :now)").bindparams(sa.bindparam("data", type_=sa.JSON())),
            {"id": cid, "data": {"external_id": ext}, "now": now})
    op.create_index(op.f("ix_comments_external_id"), "comments", ["external_id"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_comments_external_id"), table_name="comments")
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("state")
