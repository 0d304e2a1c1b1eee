"""Promotion and background re-scoring never race: a background re-score writes only while its model is the
one the deployment's model source names, and a promotion changes that name only when no such write is under way.

A running service's refiner (:mod:`moderator.service.refine`) re-scores with the model it loaded. When
``moderator promote --rescore`` makes another model the default and re-scores the queue with it, the service
keeps its old model until it reloads (seconds later); without a guard, its refiner would put the promoted
model's scores back to the old model's in that window (and keep doing so until the reload).

So the two are serialised through the database:

* the promotion replaces ``models/DEFAULT`` inside a write transaction that holds :func:`lock_for_switch`
  (on SQLite the write lock every write transaction takes; on PostgreSQL also an exclusive transaction-level
  advisory lock);
* each write transaction of a background re-score first calls :func:`still_current`: on PostgreSQL it takes
  the same advisory lock shared, then it reads the source's current version, and the batch is written only
  if it is the re-scorer's model.

A re-score batch therefore either commits before the promotion's switch (and the promotion's own re-score,
which runs after the switch, overwrites it) or sees the new name and writes nothing. The refiner then idles
until its worker reloads the new model.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

SWITCH_LOCK_KEY = 0x6D6F6466  # PostgreSQL advisory lock id: "modf"


def source_version(source: Path | None) -> str | None:
    """The model version a models folder's ``DEFAULT`` names now; None for any other source (an artifact
    file, or a model object: nothing promotes over those) or when it cannot be read."""
    if source is None or not source.is_dir():
        return None
    from moderator.model import ModelLoadError, default_version

    try:
        return default_version(source)
    except ModelLoadError:
        return None


def lock_for_switch(session: Session) -> None:
    """Call at the start of the write transaction that changes the default model (see the module docstring)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SWITCH_LOCK_KEY})


def still_current(session: Session, source: Path | None, version: str) -> bool:
    """In a background re-score's write transaction: may it write scores of model ``version``?"""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": SWITCH_LOCK_KEY})
    named = source_version(source)
    return named is None or named == version


__all__ = ["SWITCH_LOCK_KEY", "lock_for_switch", "source_version", "still_current"]
