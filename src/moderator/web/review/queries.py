"""Read-only queries and pure helpers for the review pages (no Flask imports).

The queue itself, claims and decisions are :mod:`moderator.service.queue`'s; this module only adds what the pages
show around them: highlight segments, an author's history, a thread's other comments, the overview numbers.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moderator import CATEGORIES
from moderator.storage.models import AuditEvent, Comment, Decision, ReviewItem

# Reasons a moderator picks when rejecting (after the community guidelines) and the category each names.
REJECT_REASONS: tuple[tuple[str, str, str | None], ...] = (
    ("hate_speech", "Hate speech", "hate_speech"),
    ("obscenity", "Obscenity", "obscenity"),
    ("personal_attack", "Personal attack", "personal_attack"),
    ("spam", "Spam / duplicate", "spam"),
    ("other", "Other (say why)", None),
)
REASON_CATEGORY: dict[str, str | None] = {code: cat for code, _, cat in REJECT_REASONS}
CATEGORY_LABELS = {"hate_speech": "hate speech", "obscenity": "obscenity", "personal_attack": "personal attack",
                   "spam": "spam"}


def category_label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category.replace("_", " "))


def decision_fields(action: str, reason_code: str | None, note: str, checked: Sequence[str],
                    reason_categories: Mapping[str, str | None] | None = None) -> tuple[str | None, list[str]]:
    """The ``reason`` text and ``categories`` stored with a decision made in the pages.

    Approve: the note (if any), no categories. Reject: ``"<code>"`` or ``"<code>: <note>"`` (the code is a
    category name where there is one, which the feedback export reads), categories = the reason's category
    (``reason_categories``: the site's reasons, default the five built in) plus the boxes the moderator
    ticked, in the canonical order.
    """
    note = note.strip()
    if action == "approve":
        return (note or None), []
    code = reason_code or "other"
    reason = f"{code}: {note}" if note else code
    cats = set(checked)
    named = (REASON_CATEGORY if reason_categories is None else reason_categories).get(code)
    if named:
        cats.add(named)
    return reason, [c for c in CATEGORIES if c in cats]


# ---------------------------------------------------------------- highlights


@dataclass(frozen=True)
class Segment:
    """A run of the comment text; ``categories`` non-empty means highlighted (the spans that drove them)."""

    text: str
    categories: tuple[str, ...] = ()
    weight: float = 0.0

    @property
    def title(self) -> str:
        return ", ".join(category_label(c) for c in self.categories)


def highlight_segments(text: str, spans: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Segment]:
    """Split ``text`` at every span boundary; each piece knows which categories' spans cover it.

    ``spans`` maps a category to the model's ``explain(text, category)`` output (``start``/``end`` offsets
    into ``text``); spans out of range are ignored. The pieces concatenate back to ``text`` exactly; the
    template escapes each one (user text is never marked safe).
    """
    cover: list[tuple[int, int, str, float]] = []
    bounds = {0, len(text)}
    for cat, items in spans.items():
        for s in items:
            try:
                a, b, w = int(s["start"]), int(s["end"]), float(s.get("weight", 0.0))
            except (KeyError, TypeError, ValueError):
                continue
            if 0 <= a < b <= len(text):
                cover.append((a, b, cat, w))
                bounds.update((a, b))
    points = sorted(bounds)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    out: list[Segment] = []
    for a, b in itertools.pairwise(points):
        here = [(c, w) for x, y, c, w in cover if x <= a and b <= y]
        cats = tuple(sorted({c for c, _ in here}, key=lambda c: order.get(c, len(order))))
        weight = max((w for _, w in here), default=0.0)
        if out and out[-1].categories == cats:
            prev = out[-1]
            out[-1] = Segment(prev.text + text[a:b], cats, max(prev.weight, weight))
        else:
            out.append(Segment(text[a:b], cats, weight))
    return out or [Segment(text)]


# Explanations cost tens of milliseconds each with the real model, and the queue page shows the same items
# again after every decision: remember them per process (by model, category and text digest), least recently
# used first out. A reloaded model has another identity and version, so it never sees stale spans.
EXPLAIN_CACHE_SIZE = 4096
_explain_cache: OrderedDict[tuple[int, str, str, bytes], list[dict[str, Any]]] = OrderedDict()
_explain_lock = threading.Lock()


def _explain_cached(model: Any, text: str, category: str) -> list[dict[str, Any]]:
    key = (id(model), str(getattr(model, "version", "")), category,
           hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest())
    with _explain_lock:
        hit = _explain_cache.get(key)
        if hit is not None:
            _explain_cache.move_to_end(key)
            return hit
    try:
        spans = [dict(s) for s in model.explain(text, category)]
    except Exception:
        spans = []
    with _explain_lock:
        _explain_cache[key] = spans
        while len(_explain_cache) > EXPLAIN_CACHE_SIZE:
            _explain_cache.popitem(last=False)
    return spans


def explain_flags(model: Any, text: str, flags: Sequence[str], min_share: float = 0.25
                  ) -> dict[str, list[dict[str, Any]]]:
    """``{category: spans}`` for the flagged categories the model knows: the spans whose weight is at least
    ``min_share`` of the strongest one (the words that drove the score, not every faint contribution).
    A failing explanation is skipped: it is a nicety, never a reason to fail the page."""
    out: dict[str, list[dict[str, Any]]] = {}
    known = set(getattr(model, "categories", CATEGORIES))
    for cat in flags:
        if cat not in known:
            continue
        spans = _explain_cached(model, text, cat)
        top = max((float(s.get("weight", 0.0)) for s in spans), default=0.0)
        out[cat] = [s for s in spans if top <= 0 or float(s.get("weight", 0.0)) >= min_share * top]
    return out


# ---------------------------------------------------------------- around one comment


@dataclass
class AuthorHistory:
    author_id: str
    total: int
    by_status: dict[str, int]
    rejected_decisions: int
    recent: list[tuple[Comment, Decision | None]]


def latest_decisions(session: Session, comment_ids: Sequence[int]) -> dict[int, Decision]:
    if not comment_ids:
        return {}
    out: dict[int, Decision] = {}
    for d in session.scalars(select(Decision).where(Decision.comment_id.in_(list(comment_ids)))
                             .order_by(Decision.id)):
        out[d.comment_id] = d
    return out


def author_history(session: Session, author_id: str, exclude_id: int | None = None, limit: int = 10
                   ) -> AuthorHistory:
    """The author's other comments (newest first) with their latest decision, and counts by state."""
    counts = dict(session.execute(select(Comment.state, func.count()).where(Comment.author_id == author_id)
                                  .group_by(Comment.state)).all())
    stmt = select(Comment).where(Comment.author_id == author_id)
    if exclude_id is not None:
        stmt = stmt.where(Comment.id != exclude_id)
    recent = list(session.scalars(stmt.order_by(Comment.id.desc()).limit(limit)))
    latest = latest_decisions(session, [c.id for c in recent])
    rejected = int(session.scalar(select(func.count()).select_from(Decision).join(
        Comment, Comment.id == Decision.comment_id).where(Comment.author_id == author_id,
                                                          Decision.decision == "reject")) or 0)
    return AuthorHistory(author_id, sum(int(v) for v in counts.values()), {k: int(v) for k, v in counts.items()},
                         rejected, [(c, latest.get(c.id)) for c in recent])


def author_summaries(session: Session, author_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """``{author_id: {state: count}}`` for the queue list (one grouped query)."""
    out: dict[str, dict[str, int]] = {a: {} for a in author_ids}
    if not author_ids:
        return out
    for author, status, n in session.execute(
        select(Comment.author_id, Comment.state, func.count()).where(Comment.author_id.in_(list(set(author_ids))))
        .group_by(Comment.author_id, Comment.state)
    ):
        out.setdefault(author, {})[status] = int(n)
    return out


def thread_comments(session: Session, thread_id: str, exclude_id: int | None = None, limit: int = 10
                    ) -> list[Comment]:
    stmt = select(Comment).where(Comment.thread_id == thread_id)
    if exclude_id is not None:
        stmt = stmt.where(Comment.id != exclude_id)
    return list(session.scalars(stmt.order_by(Comment.id.desc()).limit(limit)))


def audit_for_comment(session: Session, comment_id: int, limit: int = 100) -> list[AuditEvent]:
    """The audit events about one comment (submission, claims, decisions), oldest first."""
    return list(session.scalars(select(AuditEvent).where(AuditEvent.target_type == "comment",
                                                         AuditEvent.target_id == str(comment_id))
                                .order_by(AuditEvent.id).limit(limit)))


def neighbours(session: Session, item: ReviewItem) -> tuple[int | None, int | None]:
    """The previous and next pending comment ids around ``item`` in queue order (priority desc, id asc)."""
    base = select(ReviewItem.comment_id).where(ReviewItem.status == "pending", ReviewItem.id != item.id)
    nxt = session.scalar(base.where(
        (ReviewItem.priority < item.priority) | ((ReviewItem.priority == item.priority) & (ReviewItem.id > item.id))
    ).order_by(ReviewItem.priority.desc(), ReviewItem.id.asc()).limit(1))
    prev = session.scalar(base.where(
        (ReviewItem.priority > item.priority) | ((ReviewItem.priority == item.priority) & (ReviewItem.id < item.id))
    ).order_by(ReviewItem.priority.asc(), ReviewItem.id.desc()).limit(1))
    return prev, nxt


# ---------------------------------------------------------------- overview


@dataclass
class Agreement:
    category: str
    decisions: int = 0
    agreed: int = 0
    both: int = 0  # model flagged it and the moderator rejected for it
    model_only: int = 0  # model flagged, moderator did not name it
    moderator_only: int = 0  # moderator rejected for it, model did not flag it

    @property
    def rate(self) -> float | None:
        return self.agreed / self.decisions if self.decisions else None


@dataclass
class Overview:
    queue_depth: int
    pending_by_category: dict[str, int]
    oldest_pending: datetime | None
    per_day: list[tuple[date, int, int]]  # day, approved, rejected (oldest first)
    by_moderator: list[tuple[str, int, int]]  # actor name, approved, rejected
    agreement: list[Agreement] = field(default_factory=list)
    decisions_total: int = 0


def agreement(rows: Sequence[tuple[str, Sequence[str], Sequence[str]]],
              categories: Sequence[str] = CATEGORIES) -> list[Agreement]:
    """Per category: how often the moderator's decision matched the model's flags.

    ``rows`` are ``(decision, moderator categories, model flags)``. A reject agrees on category *c* when
    *c* is both among the moderator's categories and the model's flags, or among neither; an approve agrees
    on *c* when the model did not flag *c*.
    """
    out = {c: Agreement(c) for c in categories}
    for decision, mod_cats, flags in rows:
        mine = set(mod_cats) if decision == "reject" else set()
        model = set(flags)
        for c, a in out.items():
            a.decisions += 1
            m, f = c in mine, c in model
            if m == f:
                a.agreed += 1
            if m and f:
                a.both += 1
            elif f:
                a.model_only += 1
            elif m:
                a.moderator_only += 1
    return list(out.values())


def overview(session: Session, now: datetime, days: int = 14) -> Overview:
    depth = int(session.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "pending"))
                or 0)
    oldest = session.scalar(select(func.min(ReviewItem.created_at)).where(ReviewItem.status == "pending"))
    pending_flags: Counter[str] = Counter()
    for (flags,) in session.execute(select(Comment.flags).join(ReviewItem, ReviewItem.comment_id == Comment.id)
                                    .where(ReviewItem.status == "pending")):
        pending_flags.update(flags or [])
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    per_day: dict[date, list[int]] = {(since + timedelta(days=i)).date(): [0, 0] for i in range(days)}
    by_mod: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for at, decision, name in session.execute(select(Decision.created_at, Decision.decision, Decision.actor_name)
                                              .where(Decision.created_at >= since)):
        slot = 0 if decision == "approve" else 1
        day = at.date()
        if day in per_day:
            per_day[day][slot] += 1
        by_mod[name][slot] += 1
    # agreement over each comment's latest decision (a re-opened and re-decided comment counts once)
    latest: dict[int, tuple[str, list[str], list[str]]] = {}
    for cid, decision, cats, flags in session.execute(
        select(Decision.comment_id, Decision.decision, Decision.categories, Comment.flags)
        .join(Comment, Comment.id == Decision.comment_id).order_by(Decision.id)
    ):
        latest[cid] = (decision, list(cats or []), list(flags or []))
    return Overview(
        queue_depth=depth,
        pending_by_category={c: pending_flags.get(c, 0) for c in CATEGORIES},
        oldest_pending=oldest,
        per_day=[(d, v[0], v[1]) for d, v in sorted(per_day.items())],
        by_moderator=sorted(((n, v[0], v[1]) for n, v in by_mod.items()), key=lambda r: -(r[1] + r[2])),
        agreement=agreement(list(latest.values())),
        decisions_total=len(latest),
    )


def age(then: datetime | None, now: datetime) -> str:
    """``"3 min"``, ``"2 h"``, ``"5 d"``: how long ago, for the queue."""
    if then is None:
        return "-"
    s = max(0, int((now - then).total_seconds()))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min" if s < 6 * 3600 else f"{s // 3600} h"
    return f"{s // 86400} d"


__all__ = [
    "REASON_CATEGORY",
    "REJECT_REASONS",
    "Agreement",
    "AuthorHistory",
    "Overview",
    "Segment",
    "age",
    "agreement",
    "audit_for_comment",
    "author_history",
    "author_summaries",
    "category_label",
    "decision_fields",
    "explain_flags",
    "highlight_segments",
    "latest_decisions",
    "neighbours",
    "overview",
    "thread_comments",
]
