"""Group commit (``moderator.service.group_commit``): concurrent write jobs share transactions, every result is
handed back only after its commit, and one job's failure never loses or blocks the others' rows."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderator.service.group_commit import GroupCommitter
from moderator.storage.db import make_engine, make_sessionmaker

meta = MetaData()
rows = Table("rows", meta, Column("id", Integer, primary_key=True), Column("name", String, unique=True))


@pytest.fixture
def db(tmp_path: Path) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    meta.create_all(engine)
    yield engine, make_sessionmaker(engine), tmp_path / "g.db"
    engine.dispose()


def committed_names(path: Path) -> set[str]:
    """Read with a separate plain connection: only committed rows are visible."""
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM rows")}
    finally:
        conn.close()


def job(name: str) -> Any:
    def run(session: Session) -> int:
        return int(session.execute(insert(rows).values(name=name).returning(rows.c.id)).scalar_one())
    return run


def test_concurrent_jobs_share_transactions_and_are_committed_before_returning(db: Any) -> None:
    _, factory, path = db
    gc = GroupCommitter(factory, str(path) + ".writelock")
    n = 40
    results: dict[str, int] = {}
    visible: dict[str, bool] = {}
    start = threading.Barrier(n)

    def worker(i: int) -> None:
        name = f"c{i}"
        start.wait()
        results[name] = gc.run(job(name))
        visible[name] = name in committed_names(path)  # the moment run() returns, the row is committed

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == n and len(set(results.values())) == n
    assert all(visible.values())
    assert committed_names(path) == set(results)
    assert gc.transactions < n  # some jobs shared a commit


def test_a_failing_job_gets_its_error_and_the_others_are_committed(db: Any) -> None:
    _, factory, path = db
    gc = GroupCommitter(factory)
    gc.run(job("taken"))
    n = 12
    outcome: dict[str, Any] = {}
    start = threading.Barrier(n)

    def worker(i: int) -> None:
        name = "taken" if i == 5 else f"ok{i}"
        start.wait()
        try:
            outcome[f"w{i}"] = gc.run(job(name))
        except IntegrityError as exc:
            outcome[f"w{i}"] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(outcome["w5"], IntegrityError)
    assert all(isinstance(outcome[f"w{i}"], int) for i in range(n) if i != 5)
    assert committed_names(path) == {"taken"} | {f"ok{i}" for i in range(n) if i != 5}


def test_a_failed_commit_reports_an_error_to_every_job_and_stores_nothing(db: Any, monkeypatch: Any) -> None:
    _, factory, path = db
    gc = GroupCommitter(factory)

    def broken_commit(self: Session) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Session, "commit", broken_commit)
    with pytest.raises(OSError, match="disk full"):
        gc.run(job("lost"))
    monkeypatch.undo()
    assert committed_names(path) == set()
    assert gc.run(job("next")) > 0  # the committer is usable afterwards
    with factory() as s:
        assert s.scalars(select(rows.c.name)).all() == ["next"]
