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
import time
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderator.service import audit
from moderator.service.audit import Actor
from moderator.storage.models import ApiKey

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
    clear_cache()
    if key.revoked_at is None:
        key.revoked_at = now
        audit.record(session, actor, "key.revoke", now, "api_key", key.id, {"name": key.name,
                                                                            "prefix": key.prefix})
    return key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


# Successful lookups are remembered for AUTH_CACHE_SECONDS per process (by hash, never the clear key), which
# takes a database round trip off every request; a revocation made elsewhere (the CLI, another worker) is
# therefore refused within that many seconds. Revoking in this process clears the cache at once.
AUTH_CACHE_SECONDS = 2.0
_cache: dict[str, tuple[float, Actor]] = {}
_CACHE_MAX = 10_000


def clear_cache() -> None:
    _cache.clear()


def cached_actor(token: str) -> Actor | None:
    """The actor of a key verified within the last ``AUTH_CACHE_SECONDS`` in this process, else None
    (then :func:`authenticate` must ask the database). Lets a request skip opening a database session."""
    if not token.startswith(KEY_PREFIX) or len(token) > 200:
        return None
    hit = _cache.get(hash_token(token))
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    return None


def authenticate(session: Session, token: str, use_cache: bool = True) -> Actor | None:
    """The actor for a clear-text token, or None when unknown or revoked."""
    if not token.startswith(KEY_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    now = time.monotonic()
    if use_cache:
        hit = _cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
    t = ApiKey.__table__.c
    row = session.connection().execute(select(t.id, t.name, t.role, t.prefix, t.revoked_at)
                                       .where(t.key_hash == digest)).first()
    if row is None or row.revoked_at is not None:
        _cache.pop(digest, None)
        return None
    actor = Actor(ref=f"key:{row.id}", name=f"{row.name} ({row.prefix})", role=row.role, key_id=row.id)
    if use_cache:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[digest] = (now + AUTH_CACHE_SECONDS, actor)
    return actor


def role_allows(role: str, allowed: tuple[str, ...]) -> bool:
    return role == "admin" or role in allowed


__all__ = ["AUTH_CACHE_SECONDS", "ROLES", "UnknownKeyError", "actor_for", "authenticate", "cached_actor", "clear_cache",
           "create_key", "find_key", "hash_token",
           "list_keys", "revoke_key", "role_allows"]
