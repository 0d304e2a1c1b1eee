"""Moderators' decisions as a labelled corpus: export from the service database, read back for training.

Labelling rules (one row per decided comment, from its latest decision; a comment whose item is pending
again, e.g. re-opened, has no current decision and is left out):

* **approved** -> negative (0) for every category.
* **rejected with categories** (``Decision.categories``, the moderator's own labels) -> positive (1) for
  the named categories and negative (0) for every other category.
* **rejected without categories** -> positive for the categories the *reason* names literally (a reason
  ``"spam"`` or ``"obscenity: slur"``) and for the categories the policy flagged when the comment was
  scored (``Comment.flags``), and *no label* for the others: the moderator said "not acceptable" without
  saying why, so we only keep what the model and the moderator agree on and never turn it into a negative.
  When neither gives a category (e.g. rejected as a duplicate or for being off-topic) the row is skipped.

Rows are JSON lines with ``comment_id``, ``text``, ``labels``, ``decision``, ``categories``, ``reason``,
``decided_at``, ``decided_by``, ``model_version`` (the model that scored the comment the moderator saw),
``scores`` (that model's probabilities), ``label_source`` (``approved`` | ``categories`` | ``fallback``)
and ``split`` (``train`` | ``holdout``). Labels a site sent through the Perspective-compatible
``comments:suggestscore`` follow (:func:`suggestion_rows`): ``suggestion_id`` instead of ``comment_id``,
``label_source`` and ``source`` ``perspective``, ``community_id``, ``client_token`` and ``attributes``.

Held-back slice: :func:`is_holdout` puts a fixed, seeded fraction of the feedback aside for
``moderator compare`` / ``promote``. It hashes the *normalised text* (not the database id), so the same
text submitted many times (a spam flood) is always on one side, and every tool that reads the same
feedback agrees on the split without extra files. :func:`read_feedback` returns only the training part
unless asked otherwise; ``moderator train --feedback`` therefore never trains on the held-back slice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from moderator import CATEGORIES
from moderator.training.datasets import Example

CORPUS = "feedback"
HOLDOUT_FRACTION = 0.2
HOLDOUT_SALT = "moderator-feedback-holdout-v1"

Part = Literal["train", "holdout", "all"]

_SPACE = re.compile(r"\s+")
_SEP = re.compile(r"[\s\-]+")


def _text_key(text: str) -> str:
    # the same key as moderator.training.train.text_key (duplicate removal); not imported to keep this module light
    return _SPACE.sub(" ", text.lower()).strip()


def holdout_score(text: str, salt: str = HOLDOUT_SALT) -> float:
    """A uniform number in [0, 1) fixed by the normalised text and ``salt``."""
    digest = hashlib.sha256(f"{salt}\x00{_text_key(text)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_holdout(text: str, fraction: float = HOLDOUT_FRACTION, salt: str = HOLDOUT_SALT) -> bool:
    """Whether a feedback row belongs to the held-back comparison slice (deterministic, by text)."""
    return holdout_score(text, salt) < fraction


def split_part(rows: Iterable[Any], part: Part, fraction: float = HOLDOUT_FRACTION,
               salt: str = HOLDOUT_SALT) -> list[Any]:
    """The rows (anything with a ``text`` attribute or key) of one part: ``train``, ``holdout`` or ``all``."""
    if part not in ("train", "holdout", "all"):
        raise ValueError(f"part must be train, holdout or all, not {part!r}")
    out = []
    for r in rows:
        if part == "all":
            out.append(r)
            continue
        text = r["text"] if isinstance(r, dict) else r.text
        if is_holdout(text, fraction, salt) == (part == "holdout"):
            out.append(r)
    return out


# ---------------------------------------------------------------- labelling


def categories_in_reason(reason: str | None, categories: Sequence[str] = CATEGORIES) -> list[str]:
    """Categories that a free-text reason names literally (``"spam"``, ``"Personal attack: insult"``)."""
    if not reason:
        return []
    norm = _SEP.sub("_", reason.lower())
    return [c for c in categories if re.search(rf"(?<![a-z]){re.escape(c)}(?![a-z])", norm)]


def labels_for(decision: str, named: Sequence[str], reason: str | None, flags: Sequence[str],
               categories: Sequence[str] = CATEGORIES) -> tuple[dict[str, int] | None, str]:
    """``(labels, source)`` for one decision (see the module docstring); ``labels`` is None to skip the row."""
    if decision == "approve":
        return {c: 0 for c in categories}, "approved"
    if decision != "reject":
        raise ValueError(f"unknown decision {decision!r}")
    explicit = [c for c in named if c in categories]
    if explicit:
        return {c: int(c in explicit) for c in categories}, "categories"
    positive = set(categories_in_reason(reason, categories)) | {c for c in flags if c in categories}
    if not positive:
        return None, "skipped"
    return {c: 1 for c in categories if c in positive}, "fallback"


# ---------------------------------------------------------------- export


@dataclass
class ExportStats:
    decided: int = 0
    exported: int = 0
    skipped: int = 0
    by_source: Counter[str] = field(default_factory=Counter)
    by_split: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"decided": self.decided, "exported": self.exported, "skipped_no_label": self.skipped,
                "by_label_source": dict(self.by_source), "by_split": dict(self.by_split)}


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def export_rows(session: Any, since: datetime | None = None, until: datetime | None = None,
                stats: ExportStats | None = None, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
    """Labelled rows for comments decided in ``[since, until)`` (by decision time), oldest decision first."""
    from sqlalchemy import func, select

    from moderator.storage.models import Comment, CommentScore, Decision, ReviewItem

    stats = stats if stats is not None else ExportStats()
    since, until = _aware(since), _aware(until)
    latest = (select(Decision.comment_id, func.max(Decision.id).label("decision_id"))
              .group_by(Decision.comment_id).subquery())
    stmt = (select(Decision, Comment)
            .join(latest, latest.c.decision_id == Decision.id)
            .join(Comment, Comment.id == Decision.comment_id)
            .join(ReviewItem, ReviewItem.comment_id == Comment.id)
            .where(ReviewItem.status.in_(("approved", "rejected")), Comment.state != "erased"))
    if since is not None:
        stmt = stmt.where(Decision.created_at >= since)
    if until is not None:
        stmt = stmt.where(Decision.created_at < until)
    stmt = stmt.order_by(Decision.created_at, Decision.id)
    pending: list[tuple[Any, Any]] = []

    def flush() -> Iterator[dict[str, Any]]:
        ids = [c.id for _, c in pending]
        scores: dict[int, dict[str, float]] = {i: {} for i in ids}
        versions = {c.id: c.model_version for _, c in pending}
        for cid, cat, p, version in session.execute(
                select(CommentScore.comment_id, CommentScore.category, CommentScore.probability,
                       CommentScore.model_version).where(CommentScore.comment_id.in_(ids))):
            if version == versions[cid]:
                scores[cid][cat] = float(p)
        for d, c in pending:
            stats.decided += 1
            labels, source = labels_for(d.decision, d.categories or [], d.reason, c.flags or [])
            if labels is None:
                stats.skipped += 1
                continue
            split = "holdout" if is_holdout(c.text) else "train"
            stats.exported += 1
            stats.by_source[source] += 1
            stats.by_split[split] += 1
            yield {
                "comment_id": c.id,
                "text": c.text,
                "labels": labels,
                "decision": d.decision,
                "categories": list(d.categories or []),
                "reason": d.reason,
                "decided_at": d.created_at.isoformat(),
                "decided_by": d.actor,
                "model_version": c.model_version,
                "scores": scores[c.id],
                "label_source": source,
                "split": split,
            }
        pending.clear()

    for d, c in session.execute(stmt):
        pending.append((d, c))
        if len(pending) >= batch_size:
            yield from flush()
    if pending:
        yield from flush()
    yield from suggestion_rows(session, since, until, stats)


def suggestion_rows(session: Any, since: datetime | None = None, until: datetime | None = None,
                    stats: ExportStats | None = None) -> Iterator[dict[str, Any]]:
    """Labels sent through the Perspective-compatible ``comments:suggestscore`` (last updated in
    ``[since, until)``), as rows like the moderators' decisions, marked ``"source": "perspective"`` with the
    community, the client token and the attribute values sent. A suggestion whose attributes give no
    category's label (``TOXICITY`` 1 on a comment the model flags nowhere) is skipped."""
    from sqlalchemy import select

    from moderator.storage.models import Suggestion

    stats = stats if stats is not None else ExportStats()
    since, until = _aware(since), _aware(until)
    stmt = select(Suggestion).order_by(Suggestion.updated_at, Suggestion.id)
    if since is not None:
        stmt = stmt.where(Suggestion.updated_at >= since)
    if until is not None:
        stmt = stmt.where(Suggestion.updated_at < until)
    for s in session.scalars(stmt):
        stats.decided += 1
        labels = {k: int(v) for k, v in (s.labels or {}).items() if k in CATEGORIES}
        if not labels:
            stats.skipped += 1
            continue
        split = "holdout" if is_holdout(s.text) else "train"
        stats.exported += 1
        stats.by_source["perspective"] += 1
        stats.by_split[split] += 1
        positive = [c for c, v in labels.items() if v]
        yield {
            "suggestion_id": s.id,
            "text": s.text,
            "labels": labels,
            "decision": "reject" if positive else "approve",
            "categories": positive,
            "reason": None,
            "decided_at": s.updated_at.isoformat(),
            "decided_by": s.submitted_by,
            "model_version": s.model_version,
            "scores": dict(s.scores or {}),
            "label_source": "perspective",
            "source": "perspective",
            "community_id": s.community_id,
            "client_token": s.client_token,
            "attributes": dict(s.attributes or {}),
            "split": split,
        }


def is_database_url(source: str | Path) -> bool:
    s = str(source)
    return "://" in s and s.split("://", 1)[0].lower().startswith(("sqlite", "postgres"))


def export_from_url(url: str, since: datetime | None = None, until: datetime | None = None,
                    stats: ExportStats | None = None) -> list[dict[str, Any]]:
    """Export from a database URL (``sqlite:///...``, ``postgresql+psycopg://...``) into memory."""
    from moderator.storage.db import make_engine, make_sessionmaker, resolve_url

    engine = make_engine(resolve_url(url, "."))
    try:
        with make_sessionmaker(engine)() as session:
            return list(export_rows(session, since, until, stats))
    finally:
        engine.dispose()


def write_jsonl(rows: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write rows as JSON lines (atomically: a temporary file, then a rename); returns the row count."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


# ---------------------------------------------------------------- reading back


class FeedbackError(ValueError):
    """A feedback file that is missing or not what ``moderator export-labels`` writes."""


def _rows_from_file(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FeedbackError(f"{path}:{n}: invalid JSON: {exc}") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str) \
                    or not isinstance(obj.get("labels"), dict):
                raise FeedbackError(f"{path}:{n}: a feedback row needs a string 'text' and an object 'labels'")
            bad = [k for k, v in obj["labels"].items() if k not in CATEGORIES or v not in (0, 1)]
            if bad:
                raise FeedbackError(f"{path}:{n}: labels must map known categories to 0 or 1 (bad: {bad})")
            rows.append(obj)
    return rows


def load_rows(source: str | Path) -> list[dict[str, Any]]:
    """All feedback rows of a JSON-lines file or a database URL (exported in memory)."""
    if is_database_url(source):
        return export_from_url(str(source))
    path = Path(source)
    if not path.is_file():
        raise FeedbackError(f"feedback file not found: {path}")
    return _rows_from_file(path)


def to_example(row: dict[str, Any]) -> Example:
    return Example(
        text=row["text"],
        corpus=CORPUS,
        labels={k: int(v) for k, v in row["labels"].items()},
        raw_label=str(row.get("decision", "")),
        group=str(row.get("comment_id", "")) if "comment_id" in row else f"suggestion:{row.get('suggestion_id', '')}",
        meta={k: str(row[k]) for k in ("comment_id", "suggestion_id", "model_version", "decided_at", "label_source")
              if k in row},
    )


def read_feedback(source: str | Path, part: Part = "train", fraction: float = HOLDOUT_FRACTION) -> list[Example]:
    """Feedback as training examples (corpus ``"feedback"``), by default without the held-back slice.

    ``source`` is a file written by ``moderator export-labels`` or a database URL. ``part="holdout"`` gives
    the slice ``moderator compare`` evaluates on; ``part="all"`` everything.
    """
    return [to_example(r) for r in split_part(load_rows(source), part, fraction)]


__all__ = [
    "CORPUS",
    "HOLDOUT_FRACTION",
    "ExportStats",
    "FeedbackError",
    "categories_in_reason",
    "export_from_url",
    "export_rows",
    "is_database_url",
    "is_holdout",
    "labels_for",
    "load_rows",
    "read_feedback",
    "split_part",
    "to_example",
    "write_jsonl",
]
