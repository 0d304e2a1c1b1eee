"""Database engine, sessions and migrations (no Flask imports; ``app.py`` wires them per request).

* SQLite (default ``$MODERATOR_HOME/moderator.db``): WAL journal, ``synchronous=FULL`` (every commit is
  fsynced before it returns, so a 2xx survives power loss; ``MODERATOR_SQLITE_SYNCHRONOUS=NORMAL`` trades
  that for speed), ``busy_timeout``, foreign keys on. Submissions share commits (``group_commit.py``).
  Write transactions start with ``BEGIN IMMEDIATE`` (see :func:`begin_write`) so that two writers never
  deadlock on a read-to-write lock upgrade; read transactions use a plain deferred ``BEGIN``.
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


SYNCHRONOUS_MODES = ("FULL", "NORMAL")


def sqlite_synchronous() -> str:
    from moderator.config import env_value

    mode = str(env_value("sqlite_synchronous")).strip().upper()
    if mode not in SYNCHRONOUS_MODES:
        raise ValueError(f"MODERATOR_SQLITE_SYNCHRONOUS must be one of {', '.join(SYNCHRONOUS_MODES)}, not {mode!r}")
    return mode


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the SQLite pragmas and write-transaction handling described in the module docstring."""
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database and sa_url.database != ":memory:":
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        synchronous = sqlite_synchronous()

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_begin)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
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


# ---------------------------------------------------------------- fast inserts (the submission hot path)


class FastInsert:
    """An INSERT run straight on the DBAPI cursor, with SQLAlchemy's own bind processors for each column (so
    the stored values are byte-for-byte what a Core insert would store: JSON text, naive-UTC timestamps).

    Only for ``qmark`` drivers (SQLite), where it is about five times cheaper than a Core execute; other
    databases use Core (see :func:`fast_inserts_for`).
    """

    _cache: dict[tuple[Any, ...], FastInsert] = {}  # noqa: RUF012 - a process-wide cache on purpose

    def __init__(self, table: Any, columns: tuple[str, ...], dialect: Any, returning: str | None = None) -> None:
        quote = dialect.identifier_preparer.quote
        self.columns = columns
        self.processors = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
        self.sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
                    f"VALUES ({', '.join('?' for _ in columns)})" + (f" RETURNING {quote(returning)}" if returning
                                                                     else ""))

    @classmethod
    def get(cls, table: Any, columns: tuple[str, ...], dialect: Any, returning: str | None = None) -> FastInsert:
        key = (table.name, columns, dialect.name, returning)
        found = cls._cache.get(key)
        if found is None:
            found = cls._cache[key] = cls(table, columns, dialect, returning)
        return found

    def params(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[c] if p is None else p(row[c]) for c, p in zip(self.columns, self.processors, strict=True))


def raw_cursor(session: Session) -> Any | None:
    """A DBAPI cursor inside the session's transaction when the fast path applies (SQLite), else None."""
    conn = session.connection()
    if conn.dialect.paramstyle != "qmark":
        return None
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def insert_rows(session: Session, table: Any, rows: list[dict[str, Any]], returning: str | None = None) -> Any:
    """INSERT ``rows`` (all with the same keys) into ``table``; returns the ``returning`` value of the first row.

    SQLite: the raw cursor with SQLAlchemy's bind processors; elsewhere: a Core insert on the connection.
    """
    from sqlalchemy import insert

    columns = tuple(rows[0])
    conn = session.connection()
    cursor = conn.connection.driver_connection.cursor() if conn.dialect.paramstyle == "qmark" else None  # type: ignore[union-attr]
    if cursor is None:
        if returning is not None:
            return conn.execute(insert(table).returning(table.c[returning]), rows[0]).scalar_one()
        conn.execute(insert(table), rows)
        return None
    try:
        stmt = FastInsert.get(table, columns, conn.dialect, returning)
        if returning is not None:
            cursor.execute(stmt.sql, stmt.params(rows[0]))
            return cursor.fetchone()[0]
        if len(rows) == 1:
            cursor.execute(stmt.sql, stmt.params(rows[0]))
        else:
            cursor.executemany(stmt.sql, [stmt.params(r) for r in rows])
        return None
    finally:
        cursor.close()


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
    "FastInsert",
    "begin_write",
    "current_revision",
    "default_url",
    "head_revision",
    "insert_rows",
    "make_engine",
    "make_sessionmaker",
    "migrate",
    "resolve_url",
    "write_session",
]
