"""Migration 0006_lifecycle on a database holding comments (SQLite and PostgreSQL): every comment gets its
state, and an external id stored more than once stays with the newest comment."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from conftest import PG_URL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    admin = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} ({type(exc).__name__})")
    schema = f"moderator_mig_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_upgrade_fills_state_and_releases_repeated_external_ids(empty_url: str) -> None:
    from alembic import command

    from moderator.storage.db import alembic_config, migrate

    command.upgrade(alembic_config(empty_url), "0005_events")
    engine = create_engine(empty_url)
    rows = [  # id, status, decision, review item status (or None), external id
        (1, "held", "hold", "pending", "a"),
        (2, "published", "hold", "approved", "a"),
        (3, "published", "publish", None, "b"),
        (4, "rejected", "hold", "rejected", None),
        (5, "rejected", "reject", None, "a"),
    ]
    with engine.begin() as conn:
        for cid, status, decision, item, ext in rows:
            conn.execute(text(
                "INSERT INTO comments (id, external_id, author_id, thread_id, text, status, decision, reasons, flags, "
                "model_version, submitted_by, created_at, updated_at) VALUES (:id, :ext, 'u', 't', 'x', :status, "
                ":decision, '[]', '[]', 'v', 'key:1', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"),
                {"id": cid, "ext": ext, "status": status, "decision": decision})
            if item is not None:
                conn.execute(text(
                    "INSERT INTO review_items (comment_id, status, priority, thread_id, version, created_at, "
                    "updated_at) VALUES (:id, :status, 0.5, 't', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"),
                    {"id": cid, "status": item})
    assert migrate(empty_url) is True
    with engine.connect() as conn:
        got = dict(conn.execute(text("SELECT id, state FROM comments")).all())
        ext = dict(conn.execute(text("SELECT id, external_id FROM comments")).all())
        released = conn.execute(text("SELECT comment_id, action FROM history_events ORDER BY comment_id")).all()
    engine.dispose()
    assert got == {1: "pending", 2: "approved", 3: "published", 4: "rejected", 5: "rejected"}
    assert ext == {1: None, 2: None, 3: "b", 4: None, 5: "a"}  # the newest comment keeps "a"
    assert [tuple(r) for r in released] == [(1, "external_id_released"), (2, "external_id_released")]
