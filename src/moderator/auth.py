"""API keys: creation, hashing, lookup and revocation. No Flask imports (the API and CLI both use it).

A key looks like ``mod_<prefix>_<secret>``: ``prefix`` is 8 hex characters, stored in clear to identify
the key in listings and audit logs; ``secret`` is 32 random bytes (URL-safe base64). Only the SHA-256 of
the whole key is stored: with 256 bits of entropy a fast hash is the right tool (no password stretching
needed), and lookup by hash is a single indexed query.

Roles: ``submit`` (site backends: score, submit, read comments and policy), ``review`` (moderators: the
queue, claims, decisions), ``admin`` (everything, including the audit log).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderator import audit
from moderator.audit import Actor
from moderator.models import ApiKey

ROLES: tuple[str, ...] = ("submit", "review", "admin")
KEY_PREFIX = "mod_"


class UnknownKeyError(LookupError):
    """No such key (or ambiguous identifier)."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_token() -> tuple[str, str]:
    """A new (prefix, token) pair."""
    prefix = secrets.token_hex(4)
    return prefix, f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


def actor_for(key: ApiKey) -> Actor:
    return Actor(ref=f"key:{key.id}", name=f"{key.name} ({key.prefix})", role=key.role, key_id=key.id)


def create_key(session: Session, name: str, role: str, actor: Actor, now: datetime) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the clear-text token (shown once, never stored)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if not name.strip():
        raise ValueError("name must not be empty")
    prefix, token = generate_token()
    key = ApiKey(name=name.strip(), role=role, prefix=prefix, key_hash=hash_token(token), created_at=now)
    session.add(key)
    session.flush()
    audit.record(session, actor, "key.create", now, "api_key", key.id, {"name": key.name, "role": role,
                                                                        "prefix": prefix})
    return key, token


def find_key(session: Session, ident: str) -> ApiKey:
    """A key by id (digits) or prefix (with or without the ``mod_`` start)."""
    ident = ident.strip()
    if ident.startswith(KEY_PREFIX):
        ident = ident[len(KEY_PREFIX):].split("_", 1)[0]
    key = None
    if ident.isascii() and ident.isdigit():
        key = session.get(ApiKey, int(ident))
    if key is None:
        key = session.scalar(select(ApiKey).where(ApiKey.prefix == ident))
    if key is None:
        raise UnknownKeyError(f"no API key with id or prefix {ident!r}")
    return key


def revoke_key(session: Session, ident: str, actor: Actor, now: datetime) -> ApiKey:
    key = find_key(session, ident)
    if key.revoked_at is None:
        key.revoked_at = now
        audit.record(session, actor, "key.revoke", now, "api_key", key.id, {"name": key.name,
                                                                            "prefix": key.prefix})
    return key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def authenticate(session: Session, token: str) -> Actor | None:
    """The actor for a clear-text token, or None when unknown or revoked."""
    if not token.startswith(KEY_PREFIX) or len(token) > 200:
        return None
    t = ApiKey.__table__.c
    row = session.execute(select(t.id, t.name, t.role, t.prefix, t.revoked_at)
                          .where(t.key_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    return Actor(ref=f"key:{row.id}", name=f"{row.name} ({row.prefix})", role=row.role, key_id=row.id)


def role_allows(role: str, allowed: tuple[str, ...]) -> bool:
    return role == "admin" or role in allowed


__all__ = ["ROLES", "UnknownKeyError", "actor_for", "authenticate", "create_key", "find_key", "hash_token",
           "list_keys", "revoke_key", "role_allows"]
