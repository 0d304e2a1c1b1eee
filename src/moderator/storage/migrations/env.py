"""Alembic environment for moderator: the URL comes from the app's configuration, never from an ini file.

``moderator.storage.db.migrate(url)`` passes an open connection in ``config.attributes["connection"]``; when run
from the ``alembic`` command line instead, the URL is ``sqlalchemy.url`` or the service's settings
(``DATABASE_URL`` / ``MODERATOR_HOME``).
"""

from __future__ import annotations

from alembic import context

from moderator.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from moderator.config import Settings
    from moderator.storage.db import resolve_url

    settings = Settings.from_env()
    return resolve_url(settings.database_url, settings.home)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    from moderator.storage.db import make_engine

    engine = make_engine(_url())
    try:
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
