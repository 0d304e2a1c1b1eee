"""Moderator accounts: create, verify a password, list, disable. No Flask imports (the CLI and the web pages
both use it).

Passwords are hashed with argon2id (``argon2-cffi``'s :class:`~argon2.PasswordHasher`, its default
parameters); a hash made with older parameters is upgraded on the next successful sign-in. Verifying an
unknown name still runs one argon2 verification, so response times do not reveal which names exist.

A signed-in moderator acts as the :class:`~moderator.service.audit.Actor` ``user:<name>`` with the account's role
(``review`` or ``admin``), exactly like an API key acts as ``key:<id>``: decisions go through
:func:`moderator.service.queue.perform` either way.

Sessions of the review pages live in the database (``moderator_sessions``, :func:`start_session`): the
browser's cookie carries a random token, the server keeps its digest. Signing out ends that one session;
changing the password or disabling the account ends all of the account's sessions at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from moderator.service import audit
from moderator.service.audit import Actor
from moderator.storage.models import ModeratorUser, ReviewSession

ROLES: tuple[str, ...] = ("review", "admin")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password; used to keep timing constant")


class UserError(ValueError):
    """Invalid input or a conflicting account (the message is safe to show)."""


def actor_for(user: ModeratorUser) -> Actor:
    return Actor(ref=f"user:{user.name}", name=user.name, role=user.role)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise UserError(f"the password must have at most {MAX_PASSWORD_CHARS} characters")


def create_user(session: Session, name: str, role: str, password: str, actor: Actor, now: datetime) -> ModeratorUser:
    name = name.strip()
    if not NAME_RE.match(name):
        raise UserError("the name must be 1 to 64 letters, digits or . _ @ - (starting with a letter or digit)")
    if role not in ROLES:
        raise UserError(f"the role must be one of {', '.join(ROLES)}")
    check_password(password)
    if find_user(session, name) is not None:
        raise UserError(f"a moderator named {name!r} already exists")
    user = ModeratorUser(name=name, role=role, password_hash=_hasher.hash(password), created_at=now)
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", now, "user", user.name, {"role": role})
    return user


def find_user(session: Session, name: str) -> ModeratorUser | None:
    return session.scalar(select(ModeratorUser).where(ModeratorUser.name == name.strip()))


def get_user(session: Session, user_id: int) -> ModeratorUser | None:
    return session.get(ModeratorUser, user_id)


def check_credentials(session: Session, name: str, password: str) -> ModeratorUser | None:
    """The enabled account named ``name`` when ``password`` is right, else None. Only reads: run it outside
    a write transaction (an argon2 verification takes tens of milliseconds)."""
    user = find_user(session, name) if name and len(name) <= 64 else None
    if len(password) > MAX_PASSWORD_CHARS:
        return None
    try:
        _hasher.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled_at is not None:
        return None
    return user


def record_login(session: Session, user: ModeratorUser, password: str, now: datetime) -> None:
    """After a successful :func:`check_credentials`: note the time, upgrade an old hash, write the audit row."""
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    audit.record(session, actor_for(user), "user.login", now, "user", user.name)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def start_session(session: Session, user: ModeratorUser, now: datetime, lifetime: timedelta) -> str:
    """A new session for ``user`` lasting ``lifetime`` from ``now``; returns the token for the cookie.

    Expired sessions (of anyone) are deleted on the way: sign-ins keep the table small.
    """
    session.execute(delete(ReviewSession).where(ReviewSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(ReviewSession(token_hash=_token_hash(token), user_id=user.id, created_at=now,
                              expires_at=now + lifetime))
    session.flush()
    return token


def session_user(session: Session, token: str, now: datetime) -> ModeratorUser | None:
    """The enabled account whose unexpired session has this token, else None (one query)."""
    if not token or len(token) > 200:
        return None
    return session.scalar(
        select(ModeratorUser).join(ReviewSession, ReviewSession.user_id == ModeratorUser.id)
        .where(ReviewSession.token_hash == _token_hash(token), ReviewSession.expires_at > now,
               ModeratorUser.disabled_at.is_(None)))


def end_session(session: Session, token: str) -> bool:
    """Delete the session with this token (signing out); True when there was one."""
    result = session.execute(delete(ReviewSession).where(ReviewSession.token_hash == _token_hash(token)))
    return bool(getattr(result, "rowcount", 0))


def end_all_sessions(session: Session, user: ModeratorUser) -> int:
    """Delete every session of ``user``; returns how many there were."""
    result = session.execute(delete(ReviewSession).where(ReviewSession.user_id == user.id))
    return int(getattr(result, "rowcount", 0) or 0)


def set_password(session: Session, name: str, password: str, actor: Actor, now: datetime) -> ModeratorUser:
    user = _require(session, name)
    check_password(password)
    user.password_hash = _hasher.hash(password)
    end_all_sessions(session, user)
    audit.record(session, actor, "user.password", now, "user", user.name)
    return user


def disable_user(session: Session, name: str, actor: Actor, now: datetime) -> ModeratorUser:
    user = _require(session, name)
    end_all_sessions(session, user)
    if user.disabled_at is None:
        user.disabled_at = now
        audit.record(session, actor, "user.disable", now, "user", user.name)
    return user


def enable_user(session: Session, name: str, actor: Actor, now: datetime) -> ModeratorUser:
    """Let a disabled account sign in again (with its current password); a no-op for an enabled one."""
    user = _require(session, name)
    if user.disabled_at is not None:
        user.disabled_at = None
        audit.record(session, actor, "user.enable", now, "user", user.name)
    return user


def sign_out_everywhere(session: Session, name: str, actor: Actor, now: datetime) -> int:
    """End every session of the account (a lost laptop); it may sign in again. Returns how many ended."""
    user = _require(session, name)
    ended = end_all_sessions(session, user)
    audit.record(session, actor, "user.sign_out", now, "user", user.name, {"sessions": ended})
    return ended


def list_users(session: Session) -> list[ModeratorUser]:
    return list(session.scalars(select(ModeratorUser).order_by(ModeratorUser.name)))


def _require(session: Session, name: str) -> ModeratorUser:
    user = find_user(session, name)
    if user is None:
        raise UserError(f"no moderator named {name!r}")
    return user


__all__ = ["ROLES", "UserError", "actor_for", "check_credentials", "check_password", "create_user", "disable_user",
           "enable_user", "end_all_sessions", "end_session", "find_user", "get_user", "list_users", "record_login",
           "session_user", "set_password", "sign_out_everywhere", "start_session"]
