"""What every command shares: where the service's state is, opening its database, and who acts.

The CLI finds the same state as the server: the SQLite database in ``$MODERATOR_HOME`` (a per-user data
directory by default, the same from any working directory), or ``DATABASE_URL``. Only ``moderator init``
and ``moderator serve`` create the database (:func:`create_database`); every other command opens an
existing one (:func:`open_database`) and stops with a message when there is none, so that a command run with
the wrong settings never starts a second, empty service database beside the real one.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from moderator.config import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from moderator.service.audit import Actor


def settings() -> Settings:
    """The command's settings, read from the environment (``moderator serve`` hands its resolved home to its
    workers through the environment, so this is read when needed rather than once at import)."""
    return Settings.from_env()


def home(create: bool = False) -> Path:
    """``$MODERATOR_HOME`` as an absolute path; made (with its parents) only when ``create``."""
    path = Path(settings().home).expanduser().resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """The service database: ``DATABASE_URL`` when set, else SQLite in :func:`home`."""
    from moderator.storage.db import resolve_url

    return resolve_url(settings().database_url, home())


def display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def create_database() -> str:
    """Create or upgrade the service database (``init``, ``serve``); says which it did. Returns its URL."""
    from moderator.storage.db import migrate

    home(create=True)
    url = database_url()
    try:
        migrated = migrate(url)
    except Exception as exc:
        raise click.ClickException(f"cannot create/migrate the database {display_url(url)}: {exc}") from exc
    click.echo(f"database {display_url(url)}: {'created/migrated' if migrated else 'up to date'}", err=True)
    return url


def require_database(url: str | None = None) -> str:
    """``url`` (default: the service database) if a moderator database is there; else a ClickException.

    A SQLite file is looked for before anything connects (connecting would create it). The database must
    also carry the schema's version, which ``moderator init`` writes.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from moderator.storage.db import current_revision

    if url is not None:
        hint = "check the database URL given"
    else:
        url = database_url()
        hint = "check DATABASE_URL" if settings().database_url else "set MODERATOR_HOME"
    sa_url = make_url(url)
    sqlite_file = sa_url.database if sa_url.get_backend_name() == "sqlite" and sa_url.database != ":memory:" else None
    if sqlite_file and not Path(sqlite_file).is_file():
        raise click.ClickException(f"no database at {sqlite_file}; run `moderator init` or {hint}")
    engine = create_engine(url, poolclass=NullPool)  # a plain read: none of make_engine's pragmas, which write
    try:
        revision = current_revision(engine)
    except Exception as exc:
        raise click.ClickException(f"cannot open the database {display_url(url)}: {exc}") from exc
    finally:
        engine.dispose()
    if revision is None:
        raise click.ClickException(f"no moderator database at {display_url(url)}; run `moderator init` or {hint}")
    return url


def open_database(url: str | None = None) -> tuple[Engine, sessionmaker[Session]]:
    """(engine, sessionmaker) on an existing service database, upgraded to the current schema if behind.

    The caller disposes of the engine. No database there: a ClickException naming it (see
    :func:`require_database`).
    """
    from moderator.storage.db import make_engine, make_sessionmaker, migrate

    url = require_database(url)
    try:
        migrate(url)
        engine = make_engine(url)
    except Exception as exc:
        raise click.ClickException(f"cannot open the database {display_url(url)}: {exc}") from exc
    return engine, make_sessionmaker(engine)


def cli_actor() -> Actor:
    """The audit log's actor for commands: the operating-system user, with the admin role."""
    from moderator.service.audit import Actor

    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return Actor(ref=f"cli:{user}", name=f"command line ({user})", role="admin")


__all__ = ["cli_actor", "create_database", "database_url", "display_url", "home", "open_database",
           "require_database"]
