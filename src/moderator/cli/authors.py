"""Author and watched-word commands: ``moderator authors show|set`` and ``moderator rules add|list|remove``.

The same service functions as ``/v1/authors`` and ``/v1/rules`` (audited as ``cli:<login>``); a running
service's workers pick up rule changes within ``MODERATOR_RULES_REFRESH`` seconds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from moderator.cli.context import cli_actor, open_database


@click.group()
def authors() -> None:
    """An author's status (normal, trusted, premoderated, suspended, banned) and note; erasure of their data and
    IP address retention."""


@authors.command("show")
@click.argument("author_id")
def authors_show(author_id: str) -> None:
    """Print the author's record as JSON: status, until, note, counts, first and last seen."""
    from moderator.service import authors as svc

    engine, factory = open_database()
    try:
        with factory() as session:
            row = svc.get(session, author_id)
            if row is None:
                raise click.ClickException(f"no author {author_id!r} (never commented, never set)")
            click.echo(json.dumps(svc.author_dict(row, datetime.now(UTC)), indent=2))
    finally:
        engine.dispose()


def _until(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter("an ISO 8601 date-time, e.g. 2026-12-31T00:00:00Z", param_hint="--until") \
            from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@authors.command("set")
@click.argument("author_id")
@click.option("--status", type=click.Choice(["normal", "trusted", "premoderated", "suspended", "banned"]))
@click.option("--until", help="End of a suspension (ISO 8601; UTC without an offset).")
@click.option("--note", help="The moderators' note on this author ('' clears it).")
def authors_set(author_id: str, status: str | None, until: str | None, note: str | None) -> None:
    """Change an author's status, suspension end or note (audited; an author.updated event)."""
    from moderator.service import authors as svc
    from moderator.storage.db import write_session

    if status is None and until is None and note is None:
        raise click.UsageError("give --status, --until or --note")
    kwargs: dict[str, Any] = {}
    if until is not None:
        kwargs["until"] = _until(until)
    if note is not None:
        kwargs["note"] = note or None
    engine, factory = open_database()
    try:
        with write_session(factory) as session:
            now = datetime.now(UTC)
            try:
                row = svc.set_status(session, cli_actor(), now, author_id, status=status, **kwargs)
            except svc.AuthorError as exc:
                raise click.ClickException(exc.message) from None
            click.echo(json.dumps(svc.author_dict(row, now), indent=2))
    finally:
        engine.dispose()


@click.group()
def rules() -> None:
    """The site's watched words: plain words, phrases or RE2 regular expressions that block, hold or flag."""


@rules.command("add")
@click.argument("pattern")
@click.option("--kind", type=click.Choice(["word", "phrase", "regex"]), default="word", show_default=True)
@click.option("--action", type=click.Choice(["block", "hold", "flag"]), required=True)
@click.option("--note", help="Why the rule is there.")
def rules_add(pattern: str, kind: str, action: str, note: str | None) -> None:
    """Add a rule (audited); prints its id."""
    from moderator.service import rules as svc
    from moderator.storage.db import write_session

    engine, factory = open_database()
    try:
        with write_session(factory) as session:
            try:
                rule = svc.add_rule(session, cli_actor(), datetime.now(UTC), kind, pattern, action, note)
            except svc.RuleError as exc:
                raise click.ClickException(exc.message) from None
            click.echo(f"added rule {rule.id}: {rule.kind} {rule.pattern!r} -> {rule.action}")
    finally:
        engine.dispose()


@rules.command("list")
def rules_list() -> None:
    """List the rules: id, kind, action, pattern."""
    from moderator.service import rules as svc

    engine, factory = open_database()
    try:
        with factory() as session:
            for r in svc.all_rules(session):
                click.echo(f"{r.id}\t{r.kind}\t{r.action}\t{r.pattern}")
    finally:
        engine.dispose()


@rules.command("remove")
@click.argument("rule_id", type=int)
def rules_remove(rule_id: int) -> None:
    """Remove a rule by its id (audited)."""
    from moderator.service import rules as svc
    from moderator.storage.db import write_session

    engine, factory = open_database()
    try:
        with write_session(factory) as session:
            try:
                svc.remove_rule(session, cli_actor(), datetime.now(UTC), rule_id)
            except svc.RuleNotFound as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"removed rule {rule_id}")
    finally:
        engine.dispose()


COMMANDS = [authors, rules]
