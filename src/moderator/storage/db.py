"""Database engine, sessions and migrations (no Flask imports; ``moderator.web.app`` wires them per request).

* SQLite (default ``$MODERATOR_HOME/moderator.db``): WAL journal, ``synchronous=FULL`` (every commit is
  fsynced before it returns, so a 2xx survives power loss; ``MODERATOR_SQLITE_SYNCHRONOUS=NORMAL`` trades
  that for speed), ``busy_timeout``, foreign keys on. Submissions share commits (``group_commit.py``).
  Write transactions start with ``BEGIN IMMEDIATE`` (see :func:`begin_write`) so that two writers never
  deadlock on a read-to-write lock upgrade; read transactions use a plain deferred ``BEGIN``.
* PostgreSQL (``DATABASE_URL=postgresql+psycopg://...``): ordinary READ COMMITTED transactions; the queue
  relies on conditional UPDATEs whose row count is checked, which is correct under concurrency on both.
* Migrations: Alembic scripts shipped in the package (``moderator/storage/migrations``), run with :func:`migrate`.
* Timeouts (:class:`DbTimeouts`, ``MODERATOR_DB_*`` settings) bound every wait on the database, so that an
  unreachable, hung or full database turns into an error within seconds; :func:`unavailable_reason` tells
  those errors (answered 503 by the service) from bugs.

The timeouts and the SQLite synchronous mode come from a :class:`moderator.config.Settings` handed to
:func:`make_engine` / :func:`migrate`; a caller that has none gets ``Settings.from_env()``.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from moderator.config import Settings

log = logging.getLogger("moderator.db")


@dataclass(frozen=True)
class DbTimeouts:
    """Bounds on every wait for the database, in seconds (0 turns one off).

    ``connect``: opening a PostgreSQL connection (libpq ``connect_timeout``, at least 2 s).
    ``statement``: one PostgreSQL statement (server-side ``statement_timeout``); the client also gives up on a
    round trip that gets no answer within ``statement + ANSWER_GRACE`` seconds (a server or network that
    accepts and never answers) and closes that connection.
    ``pool``: waiting for a free connection of the engine's pool (SQLAlchemy ``pool_timeout``).
    ``sqlite_busy``: waiting for SQLite's write lock (``PRAGMA busy_timeout``).
    """

    connect: float = 5.0
    statement: float = 10.0
    pool: float = 5.0
    sqlite_busy: float = 10.0

    ANSWER_GRACE = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DbTimeouts:
        return cls(float(settings.db_connect_timeout), float(settings.db_statement_timeout),
                   float(settings.db_pool_timeout), float(settings.sqlite_busy_timeout))

    @property
    def answer(self) -> float | None:
        """Seconds the PostgreSQL client waits for any one answer; None for no bound."""
        return self.statement + self.ANSWER_GRACE if self.statement > 0 else None


def default_url(home: str | os.PathLike[str]) -> str:
    path = Path(home).expanduser().resolve() / "moderator.db"
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


def _settings(settings: Settings | None) -> Settings:
    from moderator.config import Settings

    return settings if settings is not None else Settings.from_env()


def sqlite_synchronous(settings: Settings) -> str:
    """``MODERATOR_SQLITE_SYNCHRONOUS``, checked."""
    mode = str(settings.sqlite_synchronous).strip().upper()
    if mode not in SYNCHRONOUS_MODES:
        raise ValueError(f"MODERATOR_SQLITE_SYNCHRONOUS must be one of {', '.join(SYNCHRONOUS_MODES)}, not {mode!r}")
    return mode


def make_engine(url: str, timeouts: DbTimeouts | None = None, *, settings: Settings | None = None,
                **kwargs: Any) -> Engine:
    """An engine with the SQLite pragmas, write-transaction handling and timeouts described in the module
    docstring. ``timeouts`` default to the ``MODERATOR_DB_*`` values of ``settings``, which also give the SQLite
    synchronous mode (``settings`` default to ``Settings.from_env()``)."""
    settings = _settings(settings)
    t = timeouts if timeouts is not None else DbTimeouts.from_settings(settings)
    sa_url = make_url(url)
    file_db = sa_url.get_backend_name() != "sqlite" or (sa_url.database not in (None, "", ":memory:"))
    if "poolclass" not in kwargs and file_db and t.pool > 0:
        kwargs.setdefault("pool_timeout", t.pool)
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database and sa_url.database != ":memory:":
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        synchronous = sqlite_synchronous(settings)
        busy_ms = int(t.sqlite_busy * 1000)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_begin)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("moderator_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if sa_url.get_backend_name() == "postgresql" and sa_url.get_driver_name() == "psycopg":
        _bound_psycopg(engine, t)
    return engine


def _bound_psycopg(engine: Engine, t: DbTimeouts) -> None:
    """Connect with ``connect_timeout`` and ``statement_timeout``, as connections that give up on a silent server."""
    connection_class = _bounded_connection_class()

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        if t.connect > 0:
            cparams.setdefault("connect_timeout", max(2, math.ceil(t.connect)))
        if t.statement > 0:  # appended to the URL's own options (e.g. a search_path)
            cparams["options"] = f"{cparams.get('options', '')} -c statement_timeout={int(t.statement * 1000)}".strip()
        if connection_class is None:
            return None  # the dialect connects as usual
        conn = connection_class.connect(*cargs, **cparams)
        conn.answer_timeout = t.answer
        return conn


_BOUNDED: list[Any] = []


def _bounded_connection_class() -> Any | None:
    """A ``psycopg.Connection`` whose every wait for the server ends after ``answer_timeout`` seconds: the
    connection is then closed (SQLAlchemy discards it from the pool) and ``OperationalError`` raised.

    ``statement_timeout`` cannot help when the server (or a network device) accepts and never answers, and
    TCP keepalives do not notice a peer whose kernel still acknowledges. None when this psycopg has no
    timed ``wait`` (older than 3.2): then only the connect and statement timeouts apply.
    """
    if _BOUNDED:
        return _BOUNDED[0]
    import psycopg

    found: type[BaseException] | None = getattr(psycopg.errors, "_WaitTimeout", None)
    if found is None:
        _BOUNDED.append(None)
        return None

    wait_timeout: type[BaseException] = found

    class BoundedConnection(psycopg.Connection):
        answer_timeout: float | None = None

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            bound = self.answer_timeout
            if timeout is not None or not bound:
                return super().wait(gen, interval, timeout)
            try:
                return super().wait(gen, interval, bound)
            except wait_timeout:
                self.pgconn.finish()  # the protocol state is unknown: this connection is done
                raise psycopg.OperationalError(
                    f"the database did not answer within {bound:g} s (timeout); connection closed") from None

    _BOUNDED.append(BoundedConnection)
    return BoundedConnection


# ---------------------------------------------------------------- unavailability

_SQLITE_UNAVAILABLE = {"SQLITE_FULL": "disk full", "SQLITE_BUSY": "busy", "SQLITE_LOCKED": "busy",
                       "SQLITE_IOERR": "I/O error", "SQLITE_CANTOPEN": "unreachable"}


class DatabaseUnavailable(Exception):
    """The database could not serve a request (down, refusing, not answering, full); ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the database is unavailable ({reason})")
        self.reason = reason


def unavailable_reason(exc: BaseException) -> str | None:
    """A short reason (``timeout``, ``refused``, ``unreachable``, ``disk full``, ``busy``, ``I/O error``) when
    ``exc`` means the database cannot serve right now, a state the client may retry after; None for any other
    error (a bug, a constraint violation, bad SQL)."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, DatabaseUnavailable):
        return exc.reason
    if isinstance(exc, sa_exc.TimeoutError):
        return "timeout"  # no free connection in the pool in time
    orig: BaseException = exc
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return "unreachable"
        orig = exc.orig if isinstance(exc.orig, BaseException) else exc
    if isinstance(orig, sqlite3.Error):
        name = getattr(orig, "sqlite_errorname", "") or ""
        for prefix, reason in _SQLITE_UNAVAILABLE.items():
            if name.startswith(prefix):
                return reason
        message = str(orig)
        if "database or disk is full" in message:
            return "disk full"
        if "database is locked" in message:
            return "busy"
        return None
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return None
    if isinstance(orig, psycopg.errors.DiskFull):
        return "disk full"
    if isinstance(orig, psycopg.errors.QueryCanceled):
        return "timeout"  # statement_timeout
    if isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
        message = str(orig).lower()
        if "timeout" in message:
            return "timeout"
        if "refused" in message:
            return "refused"
        return "unreachable"
    return None


class DatabaseHealth:
    """What recent requests saw. A write that failed for a reason a read probe cannot see (a full disk, an
    I/O error) marks the database failing until a later write succeeds or ``hold`` seconds pass (then the
    next write tries again); readiness consults this besides its own round trip.

    Logs one line when the database becomes unavailable (for any reason), at most one per ``log_every``
    seconds while it stays so, and one on recovery, instead of a traceback per request.
    """

    WRITE_ONLY = frozenset({"disk full", "I/O error"})

    def __init__(self, hold: float = 10.0, log_every: float = 60.0) -> None:
        self.hold = hold
        self.log_every = log_every
        self._lock = threading.Lock()
        self._failed_at: float | None = None
        self._reason = ""
        self._logged_at = -math.inf

    def failed(self, reason: str, exc: BaseException | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            if reason in self.WRITE_ONLY:
                self._failed_at, self._reason = now, reason
            if now - self._logged_at < self.log_every:
                return
            self._logged_at = now
        log.warning("database unavailable (%s): %s", reason, str(exc).splitlines()[0][:300] if exc else reason)

    def succeeded(self) -> None:
        with self._lock:
            recovered = self._logged_at != -math.inf
            self._failed_at, self._logged_at = None, -math.inf
        if recovered:
            log.warning("database available again")

    def failing(self) -> str | None:
        """The reason of the last write failure when no write succeeded since and it is recent, else None."""
        with self._lock:
            if self._failed_at is None or time.monotonic() - self._failed_at > self.hold:
                return None
            return self._reason


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
    databases use Core (see :func:`insert_rows`).
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


def migrate(url: str, settings: Settings | None = None) -> bool:
    """Create or upgrade the database at ``url`` to the newest schema. Returns True when it ran a migration.

    Cheap when the database is already current (one read of ``alembic_version``). On PostgreSQL the upgrade
    holds an advisory lock so that several instances starting together migrate once.
    """
    # no statement timeout: a migration may rewrite a large table
    settings = _settings(settings)
    engine = make_engine(url, replace(DbTimeouts.from_settings(settings), statement=0.0), settings=settings,
                         poolclass=_null_pool())
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
    "DatabaseHealth",
    "DatabaseUnavailable",
    "DbTimeouts",
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
    "unavailable_reason",
    "write_session",
]
