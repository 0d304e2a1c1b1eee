"""Moderator account commands: ``moderator users create|list|disable|enable|set-password|sign-out``.

Passwords are read from standard input: one line when piped (``printf '%s\\n' "$PW" | moderator users create
...``), or typed twice at a hidden prompt on a terminal. They never appear on the command line.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from moderator.cli.context import cli_actor, open_database


def _read_password() -> str:
    stdin = sys.stdin
    if stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))
    line = stdin.readline()
    if not line:
        raise click.ClickException("no password on standard input (give it as one line)")
    return line.rstrip("\r\n")


@click.group()
def users() -> None:
    """Manage moderator accounts (sign-in to the /review pages)."""


@users.command("create")
@click.option("--role", type=click.Choice(["review", "admin"]), required=True)
@click.option("--name", required=True, help="Sign-in name (letters, digits, . _ @ -).")
def users_create(role: str, name: str) -> None:
    """Create an account; the password is read from standard input."""
    from moderator.service import users as svc
    from moderator.storage.db import write_session

    password = _read_password()
    engine, factory = open_database()
    try:
        with write_session(factory) as session:
            try:
                user = svc.create_user(session, name, role, password, cli_actor(), datetime.now(UTC))
            except svc.UserError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"created moderator {user.name!r} (role {user.role}, actor user:{user.name})")
    finally:
        engine.dispose()


@users.command("set-password")
@click.argument("name")
def users_set_password(name: str) -> None:
    """Replace an account's password (read from standard input)."""
    from moderator.service import users as svc
    from moderator.storage.db import write_session

    password = _read_password()
    engine, factory = open_database()
    try:
        with write_session(factory) as session:
            try:
                svc.set_password(session, name, password, cli_actor(), datetime.now(UTC))
            except svc.UserError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"password of {name!r} changed")
    finally:
        engine.dispose()


@users.command("list")
def users_list() -> None:
    """List accounts (name, role, created, last sign-in, disabled)."""
    from moderator.service import users as svc

    engine, factory = open_database()

    def fmt(value: datetime | None) -> str:
        return value.isoformat(timespec="seconds") if value else "-"

    try:
        with factory() as session:
            click.echo(f"{'name':20}  {'role':6}  {'created':25}  {'last sign-in':25}  disabled")
            for u in svc.list_users(session):
                click.echo(f"{u.name:20}  {u.role:6}  {fmt(u.created_at):25}  {fmt(u.last_login_at):25}  "
                           f"{fmt(u.disabled_at)}")
    finally:
        engine.dispose()


@users.command("disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Disable an account: it cannot sign in, and its open sessions end on their next request."""
    from moderator.service import users as svc
    from moderator.storage.db import write_session

    engine, factory = open_database()
    try:
        with write_session(factory) as session:
            try:
                svc.disable_user(session, name, cli_actor(), datetime.now(UTC))
            except svc.UserError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"disabled moderator {name!r}")
    finally:
        engine.dispose()


@users.command("enable")
@click.argument("name")
def users_enable(name: str) -> None:
    """Enable a disabled account again: it can sign in with its password."""
    from moderator.service import users as svc
    from moderator.storage.db import write_session

    engine, factory = open_database()
    try:
        with write_session(factory) as session:
            try:
                svc.enable_user(session, name, cli_actor(), datetime.now(UTC))
            except svc.UserError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"enabled moderator {name!r}")
    finally:
        engine.dispose()


@users.command("sign-out")
@click.argument("name")
def users_sign_out(name: str) -> None:
    """End every session of an account (all browsers and devices); it can sign in again."""
    from moderator.service import users as svc
    from moderator.storage.db import write_session

    engine, factory = open_database()
    try:
        with write_session(factory) as session:
            try:
                ended = svc.sign_out_everywhere(session, name, cli_actor(), datetime.now(UTC))
            except svc.UserError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"ended {ended} session{'s' if ended != 1 else ''} of {name!r}")
    finally:
        engine.dispose()


COMMANDS = [users]

__all__ = ["COMMANDS", "users"]
