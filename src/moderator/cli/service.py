"""Service commands: ``moderator serve``, ``moderator init`` and ``moderator keys create|list|revoke``."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from typing import Any

import click

from moderator.cli.context import cli_actor, create_database, home, open_database, settings


@click.command()
def init() -> None:
    """Create or upgrade the service database (SQLite in $MODERATOR_HOME, or DATABASE_URL)."""
    create_database()


@click.command()
@click.option("--bind", default=lambda: settings().bind, show_default="127.0.0.1:8000",
              help="HOST:PORT to listen on.")
@click.option("--workers", type=click.IntRange(1, 64), default=lambda: settings().workers, show_default="1",
              help="Gunicorn worker processes.")
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Threads per worker: gunicorn's gthread worker (keep-alive; concurrent requests share model "
                   "calls and commits); 1 means the sync worker.")
@click.option("--timeout", type=int, default=30, show_default=True, help="Worker timeout in seconds.")
def serve(bind: str, workers: int, threads: int, timeout: int) -> None:
    """Run the service with gunicorn (migrates the database once, before the workers start)."""
    state = home(create=True)
    os.environ["MODERATOR_HOME"] = str(state)  # workers resolve the same absolute path
    os.environ["MODERATOR_BIND"] = bind  # the webhook guard refuses URLs pointing at the service itself
    create_database()
    prom_dir = state / "prometheus"
    shutil.rmtree(prom_dir, ignore_errors=True)
    prom_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)

    from gunicorn.app.base import BaseApplication

    def child_exit(_server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

    options: dict[str, Any] = {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": timeout,
        "child_exit": child_exit,
        "accesslog": None,
        "loglevel": "info",
    }
    from gunicorn.config import Config

    if "control_socket_disable" in Config().settings:  # gunicorn >= 25: one control socket per user otherwise
        options["control_socket_disable"] = True

    class _Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from moderator.web.app import create_app

            return create_app()

    if workers > 1 and str(settings().dup_backend).lower() == "memory":
        click.echo(f"moderator: warning: {workers} workers with MODERATOR_DUP_BACKEND=memory: each worker keeps its "
                   "own duplicate index and rate-limit counters, so repeats that land on different workers are "
                   "missed; set MODERATOR_DUP_BACKEND=redis (and MODERATOR_REDIS_URL) for several workers",
                   err=True)
    host = bind.rsplit(":", 1)[0] if ":" in bind else bind
    port = bind.rsplit(":", 1)[1] if ":" in bind else "8000"
    click.echo(f"moderator: serving on http://{host}:{port} ({workers} worker(s) x {threads} thread(s))", err=True)
    click.echo("moderator: create the first API key with: moderator keys create --role admin --name NAME",
               err=True)
    _Server().run()


@click.group()
def keys() -> None:
    """Manage API keys (stored hashed; the key itself is shown once, at creation)."""


@keys.command("create")
@click.option("--role", type=click.Choice(["submit", "review", "admin"]), required=True)
@click.option("--name", required=True, help="Who or what uses the key (e.g. the site, the moderator).")
def keys_create(role: str, name: str) -> None:
    """Create a key; prints it alone on the last line (it cannot be shown again)."""
    from moderator.service import keys as auth
    from moderator.storage.db import write_session

    if not name.strip():
        raise click.BadParameter("must not be empty", param_hint="--name")
    engine, factory = open_database()
    try:
        with write_session(factory) as session:
            key, token = auth.create_key(session, name, role, cli_actor(), datetime.now(UTC))
            key_id, prefix = key.id, key.prefix
    finally:
        engine.dispose()
    click.echo(f"created API key {key_id} (prefix {prefix}, role {role}, name {name.strip()!r}); "
               "store it now, it is not shown again:")
    click.echo(token)


@keys.command("list")
def keys_list() -> None:
    """List keys (id, prefix, role, name, created, revoked)."""
    from moderator.service import keys as auth

    engine, factory = open_database()
    try:
        with factory() as session:
            rows = auth.list_keys(session)
            click.echo(f"{'id':>4}  {'prefix':8}  {'role':6}  {'created':25}  {'revoked':25}  name")
            for k in rows:
                revoked = k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "-"
                click.echo(f"{k.id:>4}  {k.prefix:8}  {k.role:6}  {k.created_at.isoformat(timespec='seconds'):25}  "
                           f"{revoked:25}  {k.name}")
    finally:
        engine.dispose()


@keys.command("revoke")
@click.argument("ident")
def keys_revoke(ident: str) -> None:
    """Revoke a key by id or prefix (takes effect on the next request)."""
    from moderator.service import keys as auth
    from moderator.storage.db import write_session

    engine, factory = open_database()
    try:
        with write_session(factory) as session:
            try:
                key = auth.revoke_key(session, ident, cli_actor(), datetime.now(UTC))
            except auth.UnknownKeyError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"revoked API key {key.id} (prefix {key.prefix}, {key.name!r})")
    finally:
        engine.dispose()


COMMANDS = [serve, init, keys]

__all__ = ["COMMANDS", "init", "keys", "serve"]
