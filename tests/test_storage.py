"""Storage and the review service layer without Flask, on SQLite and PostgreSQL: migrations match the models,
SQLite pragmas, and concurrent claims/decisions (threads racing on the same item: exactly one wins)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text

from helpers import T0
from moderator.service import queue as review
from moderator.service.audit import Actor
from moderator.service.policy import Policy
from moderator.storage.db import begin_write, make_engine, make_sessionmaker, migrate, write_session
from moderator.storage.models import Base, Comment, Decision, HistoryEvent, ReviewItem

SUBMITTER = Actor("key:1", "site", "submit", 1)
MODS = [Actor(f"key:{i}", f"moderator {i}", "review", i) for i in range(10, 20)]


@pytest.fixture
def factory(db_url: str) -> Any:
    engine = make_engine(db_url, pool_size=12, max_overflow=4)
    yield make_sessionmaker(engine)
    engine.dispose()


def add_pending(factory: Any, n: int = 1) -> list[int]:
    from moderator.service import comments

    policy = Policy(thresholds={"spam": 0.5})
    ids = []
    with write_session(factory) as session:
        for i in range(n):
            c = comments.store(session, actor=SUBMITTER, now=T0, text=f"comment {i}", author_id="a",
                                  thread_id="t", scores={"spam": 0.1 * i}, model_version="m1",
                                  verdict=policy.evaluate({"spam": 0.1 * i}), duplicate=None)
            ids.append(c.id)
    return ids


def race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
    assert migrate(db_url) is False  # already at head: nothing to do


def test_sqlite_pragmas(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL: a 2xx survives power loss
    finally:
        engine.dispose()


def test_sqlite_synchronous_setting(tmp_path: Any) -> None:
    from moderator.config import Settings

    engine = make_engine(f"sqlite:///{tmp_path}/x.db", settings=Settings.from_env({}, sqlite_synchronous="normal"))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    finally:
        engine.dispose()
    with pytest.raises(ValueError, match="FULL, NORMAL"):
        make_engine(f"sqlite:///{tmp_path}/y.db", settings=Settings.from_env({"MODERATOR_SQLITE_SYNCHRONOUS": "OFF"}))


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_concurrent_decisions_exactly_one_wins(factory: Any, action: str) -> None:
    for _ in range(3):  # several rounds to give a race a chance to show
        (cid,) = add_pending(factory)

        def decide(i: int, cid: int = cid) -> Any:
            with factory() as session:
                begin_write(session)
                try:
                    item, _ = review.perform(session, cid, MODS[i], action if i % 2 else "approve", T0, f"by {i}")
                    session.commit()
                    return item.status
                except review.Conflict:
                    session.rollback()
                    return "conflict"

        results = race(8, lambda i, cid=cid: decide(i, cid))
        assert all(not isinstance(r, Exception) for r in results), results
        assert sum(r != "conflict" for r in results) == 1, results
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(Decision).where(Decision.comment_id == cid)) == 1
            item = session.scalar(select(ReviewItem).where(ReviewItem.comment_id == cid))
            decision = session.scalar(select(Decision).where(Decision.comment_id == cid))
            assert item is not None and decision is not None
            assert item.status == review.ACTIONS[decision.decision]
            comment = session.get(Comment, cid)
            assert comment is not None and comment.status == review.COMMENT_STATUS[item.status]


def test_concurrent_claims_exactly_one_wins(factory: Any) -> None:
    (cid,) = add_pending(factory)

    def claim(i: int) -> Any:
        with factory() as session:
            begin_write(session)
            try:
                item = review.claim(session, cid, MODS[i], T0, 300)
                session.commit()
                return item.claimed_by
            except review.Conflict:
                session.rollback()
                return "conflict"

    results = race(8, claim)
    winners = [r for r in results if r != "conflict"]
    assert len(winners) == 1, results
    with factory() as session:
        item = session.scalar(select(ReviewItem).where(ReviewItem.comment_id == cid))
        assert item is not None and item.claimed_by == winners[0]
        claims = session.scalar(select(func.count()).select_from(HistoryEvent).where(
            HistoryEvent.comment_id == cid, HistoryEvent.action == "claimed"))
        assert claims == 1


def test_service_layer_without_flask(factory: Any) -> None:
    ids = add_pending(factory, 3)
    with factory() as session:
        page = review.list_queue(session, limit=2)
        assert [c.id for _, c in page.items] == [ids[2], ids[1]]  # higher spam score first
        item = review.get_item(session, ids[0])
        assert review.actions_for(item, MODS[0], T0) == ["claim", "approve", "reject"]
        assert review.actions_for(item, SUBMITTER, T0) == []
    with write_session(factory) as session:
        review.claim(session, ids[0], MODS[0], T0, 60)
    with factory() as session:
        item = review.get_item(session, ids[0])
        assert review.actions_for(item, MODS[1], T0) == []
        assert review.actions_for(item, MODS[0], T0) == ["claim", "approve", "reject"]
    with write_session(factory) as session, pytest.raises(review.Forbidden):
        review.perform(session, ids[0], SUBMITTER, "approve", T0)
    with write_session(factory) as session:
        review.perform(session, ids[0], MODS[0], "approve", T0)
    # re-opening goes back to pending on the same item (never a second one)
    with write_session(factory) as session:
        comment = session.get(Comment, ids[0])
        assert comment is not None
        item = review.needs_review(session, comment, 1.5, MODS[0], T0, ["user_flag"])
    with factory() as session:
        items = session.scalars(select(ReviewItem).where(ReviewItem.comment_id == ids[0])).all()
        assert len(items) == 1 and items[0].status == "pending" and items[0].priority == 1.5
        actions = [h.action for h in review.history(session, ids[0])]
        assert actions == ["submitted", "queued", "claimed", "approved", "reopened"]


def test_pending_count_and_foreign_keys(factory: Any) -> None:
    add_pending(factory, 2)
    with factory() as session:
        assert review.pending_count(session) == 2
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), write_session(factory) as session:
        session.add(ReviewItem(comment_id=987654, status="pending", priority=0.0, thread_id="t", version=1,
                               created_at=T0, updated_at=T0))
        session.flush()


def test_postgres_url_uses_psycopg(db_url: str) -> None:
    from moderator.storage.db import resolve_url

    assert resolve_url("postgres://u@h/db", "/x").startswith("postgresql+psycopg://")
    assert resolve_url("", "/tmp/home") == "sqlite:////tmp/home/moderator.db"
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_init_command_creates_then_leaves_the_database(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from moderator.cli import main

    monkeypatch.setenv("MODERATOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    first = CliRunner().invoke(main, ["init"])
    assert first.exit_code == 0 and "created/migrated" in first.output
    assert (tmp_path / "home" / "moderator.db").is_file()
    second = CliRunner().invoke(main, ["init"])
    assert second.exit_code == 0 and "up to date" in second.output
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    failed = CliRunner().invoke(main, ["init"])
    assert failed.exit_code != 0 and "cannot create/migrate" in failed.output
