"""Webhook commands: ``moderator webhooks add|list|remove|rotate-secret|redeliver|deliveries|deliver``."""

from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from moderator.cli.context import cli_actor, open_database, settings


def _guard() -> Any:
    from moderator.service.webhooks import Guard

    return Guard(str(settings().bind))


def _run(fn: Any) -> Any:
    """Run ``fn(session)`` in a write transaction on the service database; a WebhookError is a usage error."""
    from moderator.service.webhooks import WebhookError
    from moderator.storage.db import write_session

    engine, factory = open_database()
    try:
        with write_session(factory) as session:
            try:
                return fn(session)
            except WebhookError as exc:
                raise click.ClickException(exc.message) from None
    finally:
        engine.dispose()


@click.group()
def webhooks() -> None:
    """Manage webhook endpoints (signed per Standard Webhooks) and run the delivery worker."""


@webhooks.command("add")
@click.argument("url")
@click.option("--events", "types", default=None,
              help="Comma-separated event types to send (default: every event), e.g. comment.decided.")
@click.option("--description", default=None, help="What the endpoint is (shown in listings).")
def webhooks_add(url: str, types: str | None, description: str | None) -> None:
    """Add an endpoint; prints its secret alone on the last line (it cannot be shown again)."""
    from moderator.service import webhooks as svc

    wanted = [t.strip() for t in types.split(",") if t.strip()] if types is not None else None

    def add(session: Any) -> tuple[int, str, Any]:
        endpoint, secret = svc.add_endpoint(session, url, wanted, _guard(), cli_actor(), datetime.now(UTC),
                                            description)
        return endpoint.id, secret, endpoint.events

    endpoint_id, secret, stored = _run(add)
    click.echo(f"added webhook endpoint {endpoint_id} ({url}, events: {', '.join(stored) if stored else 'all'}); "
               "its signing secret follows; store it now, it is not shown again:")
    click.echo(secret)


@webhooks.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def webhooks_list(as_json: bool) -> None:
    """List endpoints (id, status, failures in a row, events, URL)."""
    from moderator.service import webhooks as svc

    engine, factory = open_database()
    try:
        with factory() as session:
            rows = [svc.endpoint_dict(e) for e in svc.list_endpoints(session)]
    finally:
        engine.dispose()
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    click.echo(f"{'id':>4}  {'status':8}  {'failures':>8}  {'events':32}  url")
    for r in rows:
        click.echo(f"{r['id']:>4}  {r['status']:8}  {r['consecutive_failures']:>8}  "
                   f"{','.join(r['events']) if r['events'] else 'all':32}  {r['url']}")


@webhooks.command("remove")
@click.argument("endpoint_id", type=click.IntRange(1))
def webhooks_remove(endpoint_id: int) -> None:
    """Remove an endpoint and its delivery log."""
    from moderator.service import webhooks as svc

    _run(lambda s: svc.remove_endpoint(s, endpoint_id, cli_actor(), datetime.now(UTC)))
    click.echo(f"removed webhook endpoint {endpoint_id}")


@webhooks.command("rotate-secret")
@click.argument("endpoint_id", type=click.IntRange(1))
def webhooks_rotate(endpoint_id: int) -> None:
    """A new secret, printed alone on the last line; the old one keeps signing alongside it for
    MODERATOR_WEBHOOK_SECRET_GRACE_HOURS."""
    from moderator.service import webhooks as svc

    grace = timedelta(hours=float(settings().webhook_secret_grace_hours))
    _, secret = _run(lambda s: svc.rotate_secret(s, endpoint_id, grace, cli_actor(), datetime.now(UTC)))
    click.echo(f"new secret for webhook endpoint {endpoint_id}; the previous one also signs for the next "
               f"{grace.total_seconds() / 3600:g} h:")
    click.echo(secret)


@webhooks.command("redeliver")
@click.argument("ident")
@click.option("--endpoint", "endpoint_id", type=click.IntRange(1), default=None,
              help="With an event id: send it to this endpoint only (also one it was never sent to).")
def webhooks_redeliver(ident: str, endpoint_id: int | None) -> None:
    """Send again, now: an event (evt_<n>: to every endpoint it went to) or one delivery (its number)."""
    from moderator.service import webhooks as svc

    ids = _run(lambda s: svc.redeliver(s, ident, cli_actor(), datetime.now(UTC), endpoint_id))
    click.echo(f"due now: deliver{'y' if len(ids) == 1 else 'ies'} {', '.join(map(str, ids))}")


@webhooks.command("deliveries")
@click.argument("endpoint_id", type=click.IntRange(1))
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]), default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def webhooks_deliveries(endpoint_id: int, status: str | None, limit: int) -> None:
    """The endpoint's delivery log, newest first (status, attempts, last answer or error)."""
    from moderator.service import webhooks as svc

    engine, factory = open_database()
    try:
        with factory() as session:
            try:
                items, _ = svc.deliveries(session, endpoint_id, status, None, limit)
            except svc.WebhookError as exc:
                raise click.ClickException(exc.message) from None
    finally:
        engine.dispose()
    click.echo(f"{'id':>6}  {'event':12}  {'type':20}  {'status':9}  {'tries':>5}  last")
    for d in items:
        last = d["last_error"] or (str(d["last_status_code"]) if d["last_status_code"] else "-")
        click.echo(f"{d['id']:>6}  {d['event_id']:12}  {d['event_type'] or '':20}  {d['status']:9}  "
                   f"{d['attempts']:>5}  {last}")


@webhooks.command("deliver")
@click.option("--once", is_flag=True, help="Send what is due now, then exit (else: run until interrupted).")
def webhooks_deliver(once: bool) -> None:
    """Run the delivery worker in this process (beside or instead of the service's own threads); several
    may run against one PostgreSQL database: each delivery is sent by one of them."""
    from moderator.service import webhooks as svc
    from moderator.service.delivery import DeliveryWorker, worker_engine
    from moderator.storage.db import make_sessionmaker

    s = settings()
    engine, _ = open_database()
    engine.dispose()  # checked and migrated: deliver through the worker's own engine
    engine = worker_engine(str(engine.url.render_as_string(hide_password=False)), s)
    factory = make_sessionmaker(engine)
    worker = DeliveryWorker(factory, lambda: datetime.now(UTC), svc.Guard(str(s.bind)),
                            timeout=float(s.webhook_timeout), concurrency=int(s.webhook_concurrency),
                            poll_interval=float(s.webhook_poll_interval), failing_after=int(s.webhook_failing_after),
                            retention_days=float(s.events_retention_days))
    try:
        if once:
            sent = worker.run_once()
            click.echo(f"sent {sent} deliver{'y' if sent == 1 else 'ies'} "
                       f"({worker.stats.delivered} delivered, {worker.stats.failed_attempts} failed)")
            return
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        worker.start()
        click.echo("moderator: delivering webhooks; Ctrl-C stops", err=True)
        done.wait()
        worker.stop()
        click.echo(f"stopped: {worker.stats.delivered} delivered, {worker.stats.failed_attempts} failed attempts",
                   err=True)
    finally:
        engine.dispose()


COMMANDS = [webhooks]

__all__ = ["COMMANDS", "webhooks"]
