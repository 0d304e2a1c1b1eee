"""Database engine, sessions and migrations (no Flask imports; ``app.py`` wires them per request).

* SQLite (default ``$MODERATOR_HOME/moderator.db``): WAL journal, ``synchronous=NORMAL``, ``busy_timeout``,
  foreign keys on. Write transactions start with ``BEGIN IMMEDIATE`` (see :func:`begin_write`) so that two
  writers never deadlock on a read-to-write lock upgrade; read transactions use a plain deferred ``BEGIN``.
* PostgreSQL (``DATABASE_URL=postgresql+psycopg://...``): ordinary READ COMMITTED transactions; the queue
  relies on conditional UPDATEs whose row count is checked, which is correct under concurrency on both.
* Migrations: Alembic scripts shipped in the package (``moderator/migrations``), run with :func:`migrate`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000


def default_url(home: str | os.PathLike[str]) -> str:
    path = Path(home).resolve() / "moderator.db"
    return f"sqlite:///{path}"


def resolve_url(database_url: str | None, home: str | os.PathLike[str]) -> str:
    """``DATABASE_URL`` when set (``postgres://`` and plain ``postgresql://`` mean psycopg 3), else SQLite."""
    if not database_url:
        return default_url(home)
    for prefix in ("postgres://", "postgresql://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix):]
    return database_url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the SQLite pragmas and write-transaction handling described in the module docstring."""
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database and sa_url.database != ":memory:":
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_begin)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("moderator_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def begin_write(session: Session) -> None:
    """Mark the session's next transaction as a write transaction; call before its first statement.

    On SQLite this makes the transaction ``BEGIN IMMEDIATE`` (take the write lock up front, wait for it
    with ``busy_timeout``); elsewhere it does nothing.
    """
    if not session.in_transaction():
        session.connection(execution_options={"moderator_write": True})


@contextmanager
def write_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction is a write transaction; committed on success, rolled back on error."""
    with factory() as session:
        begin_write(session)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# ---------------------------------------------------------------- migrations

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(url: str) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def migrate(url: str) -> bool:
    """Create or upgrade the database at ``url`` to the newest schema. Returns True when it ran a migration.

    Cheap when the database is already current (one read of ``alembic_version``). On PostgreSQL the upgrade
    holds an advisory lock so that several instances starting together migrate once.
    """
    engine = make_engine(url, poolclass=_null_pool())
    try:
        head = head_revision(url)
        if current_revision(engine) == head:
            return False
        from alembic import command

        cfg = alembic_config(url)
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return True
    finally:
        engine.dispose()


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


__all__ = [
    "begin_write",
    "current_revision",
    "default_url",
    "head_revision",
    "make_engine",
    "make_sessionmaker",
    "migrate",
    "resolve_url",
    "write_session",
]
