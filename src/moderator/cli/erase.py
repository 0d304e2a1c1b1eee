"""Data-protection commands about authors: ``moderator authors erase AUTHOR_ID`` and ``moderator authors
purge-ips``.

``erase`` does what ``DELETE /v1/authors/<author_id>`` does (:func:`moderator.service.lifecycle.erase_author`),
then removes the comments from a Redis duplicate index. The in-memory index (``MODERATOR_DUP_BACKEND=memory``)
lives in the server's process, which this command cannot reach: erase through the API there, or restart the
service (the index is rebuilt without erased comments).
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from moderator.cli.authors import authors
from moderator.cli.context import cli_actor, open_database, settings


@authors.command("erase")
@click.argument("author_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase(author_id: str, yes: bool) -> None:
    """Erase an author's data: every comment of theirs loses its text, IP address and metadata (ids, actions and
    times stay in the audit trail); emits comment.erased for each."""
    from moderator.service import lifecycle
    from moderator.storage.db import write_session

    if not yes:
        click.confirm(f"Erase the text, IP addresses and metadata of every comment by {author_id!r}?", abort=True,
                      err=True)
    engine, factory = open_database()
    try:
        with write_session(factory) as session:
            ids = lifecycle.erase_author(session, cli_actor(), author_id, datetime.now(UTC))
    finally:
        engine.dispose()
    cfg = settings()
    if ids and cfg.dup_backend == "redis":
        from moderator.dedup.detector import build_detector

        lifecycle.forget(build_detector(cfg), ids)
    click.echo(f"erased {len(ids)} comment{'s' if len(ids) != 1 else ''} of {author_id!r}")


@authors.command("purge-ips")
@click.option("--days", type=click.IntRange(min=0), default=None,
              help="Erase IP addresses older than this many days (default: MODERATOR_IP_RETENTION_DAYS).")
def purge_ips(days: int | None) -> None:
    """Erase the IP addresses of comments older than the retention (the service also does this hourly)."""
    from moderator.service.retention import purge

    keep = settings().ip_retention_days if days is None else days
    if keep <= 0:
        raise click.ClickException("IP address retention is off (0 days): give --days N")
    engine, factory = open_database()
    try:
        n = purge(factory, datetime.now(UTC), keep)
    finally:
        engine.dispose()
    click.echo(f"erased the IP addresses of {n} comment{'s' if n != 1 else ''} older than {keep} days")


# both commands join the ``authors`` group of moderator.cli.authors, which registers it
COMMANDS: list[click.Command] = []

__all__ = ["COMMANDS", "erase", "purge_ips"]
