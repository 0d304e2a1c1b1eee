"""Read-only queries and pure helpers for the review pages (no Flask imports).

The queue itself, claims and decisions are :mod:`moderator.service.queue`'s; this module only adds what the pages
show around them: highlight segments, an author's history, a thread's other comments, the overview numbers.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from moderator import CATEGORIES
from moderator.service import queue as review
from moderator.storage.models import INT_MAX, AuditEvent, Comment, Decision, ReviewItem

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


CATEGORY_LETTERS = {"hate_speech": "H", "obscenity": "O", "personal_attack": "A", "spam": "S"}


def category_letter(category: str) -> str:
    """The one-letter badge that marks a category besides its colour (for colour-blind moderators)."""
    return CATEGORY_LETTERS.get(category, category[:1].upper())


@dataclass(frozen=True)
class Segment:
    """A run of the comment text; ``categories`` non-empty means highlighted (the spans that drove them),
    strongest first: ``weights`` holds each category's strongest span weight over this run."""

    text: str
    categories: tuple[str, ...] = ()
    weight: float = 0.0
    weights: tuple[float, ...] = ()

    @property
    def title(self) -> str:
        return ", ".join(category_label(c) for c in self.categories)

    @property
    def letters(self) -> str:
        return "".join(category_letter(c) for c in self.categories)


def highlight_segments(text: str, spans: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Segment]:
    """Split ``text`` at every span boundary; each piece knows which categories' spans cover it.

    ``spans`` maps a category to the model's ``explain(text, category)`` output (``start``/``end`` offsets
    into ``text``); spans out of range are ignored. A piece covered by several categories' spans names all
    of them, the one whose span weighs most first (its colour is the piece's; the others show as stripes,
    letters and in the tooltip). The pieces concatenate back to ``text`` exactly; the template escapes each
    one (user text is never marked safe).
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
        best: dict[str, float] = {}
        for x, y, c, w in cover:
            if x <= a and b <= y:
                best[c] = max(best.get(c, w), w)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], order.get(kv[0], len(order))))
        cats = tuple(c for c, _ in ranked)
        ws = tuple(w for _, w in ranked)
        weight = ws[0] if ws else 0.0
        if out and out[-1].categories == cats:
            prev = out[-1]
            out[-1] = Segment(prev.text + text[a:b], cats, max(prev.weight, weight),
                              tuple(max(p, q) for p, q in zip(prev.weights, ws, strict=True)))
        else:
            out.append(Segment(text[a:b], cats, weight, ws))
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


MIN_SHARE = 0.25  # of the strongest span of the same category
# in the category's decision-function (log-odds) units: the span alone multiplies the odds by at least 1.8.
# With the shipped model this drops what only nudges a category ("minutes" 0.47-0.48 and "blood" 0.30-0.37
# in flagged sentences, a "you" of 0.58 next to an "idiot" of 2.3) and keeps the words that carry it.
MIN_WEIGHT = 0.6


def explain_flags(model: Any, text: str, flags: Sequence[str], min_share: float = MIN_SHARE,
                  min_weight: float = MIN_WEIGHT) -> dict[str, list[dict[str, Any]]]:
    """``{category: spans}`` for the flagged categories the model knows: only the spans that really drove
    the flag. A span counts when its weight (its contribution to the category's linear score) is at least
    ``min_share`` of the strongest span's **and** at least ``min_weight``: a word that only nudges a category
    (``minutes``, ``blood`` in an ordinary sentence) is not highlighted, however weak the strongest span.
    A failing explanation is skipped: it is a nicety, never a reason to fail the page."""
    out: dict[str, list[dict[str, Any]]] = {}
    known = set(getattr(model, "categories", CATEGORIES))
    for cat in flags:
        if cat not in known:
            continue
        spans = _explain_cached(model, text, cat)
        top = max((float(s.get("weight", 0.0)) for s in spans), default=0.0)
        floor = max(min_share * top, min_weight)
        out[cat] = [s for s in spans if float(s.get("weight", 0.0)) >= floor]
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


# ---------------------------------------------------------------- decided views


@dataclass(frozen=True)
class DecidedPage:
    items: list[tuple[ReviewItem, Comment, Decision | None]]
    next_cursor: str | None


def _decided_cursor(at: datetime, item_id: int) -> str:
    raw = json.dumps({"t": at.isoformat(), "i": item_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_decided_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        if len(cursor) > 200 or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
            raise ValueError
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at, i = datetime.fromisoformat(data["t"]), data["i"]
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i <= INT_MAX:
            raise ValueError
        if at.tzinfo is None:
            raise ValueError
        return at, i
    except (ValueError, KeyError, TypeError, RecursionError):
        raise review.InvalidCursor("invalid cursor") from None


def decided_page(session: Session, status: str, category: str | None = None, thread_id: str | None = None,
                 cursor: str | None = None, limit: int = 25) -> DecidedPage:
    """Approved or rejected items, the most recently decided first, each with its latest decision (who,
    why, when). Filters as in the queue; ``cursor`` continues a previous page."""
    if thread_id is not None and "\x00" in thread_id:
        return DecidedPage([], None)
    stmt = select(ReviewItem, Comment).join(Comment, Comment.id == ReviewItem.comment_id)
    stmt = review.queue_filter(stmt, status, category, thread_id)
    if cursor:
        at, i = _decode_decided_cursor(cursor)
        stmt = stmt.where(or_(ReviewItem.updated_at < at, and_(ReviewItem.updated_at == at, ReviewItem.id < i)))
    rows = [(r[0], r[1]) for r in session.execute(
        stmt.order_by(ReviewItem.updated_at.desc(), ReviewItem.id.desc()).limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    latest = latest_decisions(session, [c.id for _, c in rows])
    nxt = _decided_cursor(rows[-1][0].updated_at, rows[-1][0].id) if more and rows else None
    return DecidedPage([(item, c, latest.get(c.id)) for item, c in rows], nxt)


def reason_parts(reason: str | None, reasons: Sequence[tuple[str, str, str | None]] = REJECT_REASONS,
                 ) -> tuple[str | None, str | None]:
    """A stored reason ``"<code>"`` or ``"<code>: <note>"`` as (the code's label, the note); a reason that is
    not one of the site's codes (``reasons``; the API takes any text) is returned as the note."""
    if not reason:
        return None, None
    code, _, note = reason.partition(":")
    labels = {c: label for c, label, _ in reasons}
    if code.strip() in labels:
        label = labels[code.strip()].removesuffix(" (say why)")
        return label, (note.strip() or None)
    return None, reason


# ---------------------------------------------------------------- what the site sent along


@dataclass(frozen=True)
class Context:
    """The article and the replied-to comment, from the submission's ``metadata`` (see docs/review-page.md)."""

    article_title: str | None
    article_url: str | None
    reply_to: str | None  # the external id the site sent
    reply: Comment | None  # that comment, when it is stored (same thread)


METADATA_TEXT_MAX = 300


def safe_url(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) URL with a host (no ``javascript:``, ``data:`` or
    relative links, no control characters), else None."""
    if not isinstance(value, str) or len(value) > 2000 or any(ord(ch) < 33 or ord(ch) == 127 for ch in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value


def _text(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:METADATA_TEXT_MAX]


def comment_context(session: Session | None, comment: Comment) -> Context:
    """What the site sent about the comment's surroundings in ``metadata``: ``article_title``,
    ``article_url`` (shown as a link only when http or https) and ``reply_to`` (the external id of the
    comment it answers, looked up in the same thread). Anything else in ``metadata`` is ignored here."""
    meta = comment.meta if isinstance(comment.meta, dict) else {}
    reply_to = _text(meta.get("reply_to"))
    reply = None
    if session is not None and reply_to is not None and len(reply_to) <= 200 and "\x00" not in reply_to:
        reply = session.scalar(select(Comment).where(Comment.thread_id == comment.thread_id,
                                                     Comment.external_id == reply_to,
                                                     Comment.id != comment.id).order_by(Comment.id).limit(1))
    return Context(_text(meta.get("article_title")), safe_url(meta.get("article_url")), reply_to, reply)


def replies_for(session: Session, comments: Sequence[Comment]) -> dict[int, Comment]:
    """``{comment id: the comment it replies to}`` for a page of comments (one query)."""
    wanted: dict[tuple[str, str], list[int]] = defaultdict(list)
    for c in comments:
        meta = c.meta if isinstance(c.meta, dict) else {}
        ref = _text(meta.get("reply_to"))
        if ref is not None and len(ref) <= 200 and "\x00" not in ref:
            wanted[(c.thread_id, ref)].append(c.id)
    if not wanted:
        return {}
    out: dict[int, Comment] = {}
    refs = list({ref for _, ref in wanted})
    for other in session.scalars(select(Comment).where(Comment.external_id.in_(refs)).order_by(Comment.id.desc())):
        for cid in wanted.get((other.thread_id, other.external_id or ""), []):
            if cid != other.id:
                out[cid] = other
    return out


# ---------------------------------------------------------------- new items (the queue's live bar)


def newer_pending(session: Session, after_id: int, category: str | None = None,
                  thread_id: str | None = None) -> tuple[int, int]:
    """``(how many, newest item id)`` of pending items with an id above ``after_id`` under the filters: the
    queue page polls this to offer the comments that arrived since it was rendered."""
    if thread_id is not None and "\x00" in thread_id:
        return 0, after_id
    stmt = select(func.count(), func.max(ReviewItem.id)).select_from(ReviewItem).join(
        Comment, Comment.id == ReviewItem.comment_id).where(ReviewItem.id > after_id)
    n, top = session.execute(review.queue_filter(stmt, "pending", category, thread_id)).one()
    return int(n or 0), int(top or after_id)


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
    "Context",
    "DecidedPage",
    "Overview",
    "Segment",
    "age",
    "agreement",
    "audit_for_comment",
    "author_history",
    "author_summaries",
    "category_label",
    "category_letter",
    "comment_context",
    "decided_page",
    "decision_fields",
    "explain_flags",
    "highlight_segments",
    "latest_decisions",
    "neighbours",
    "newer_pending",
    "overview",
    "reason_parts",
    "replies_for",
    "safe_url",
    "thread_comments",
]
