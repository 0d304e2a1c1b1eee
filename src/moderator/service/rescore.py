"""Re-score the pending review queue with the current model, so that its order reflects that model.

For every pending item whose comment was scored by another model version, in batches:

* the texts are scored outside any transaction (the slow part);
* then, in one write transaction per batch, and only while the item is still pending (a conditional
  ``UPDATE ... WHERE status = 'pending'`` whose row count is checked, so a concurrent decision always wins):
  new ``comment_scores`` rows with the new ``model_version``; the comment's ``model_version``, ``flags`` and
  ``flagged:*`` reasons; the item's ``priority`` from the same policy function the service uses
  (:meth:`moderator.service.policy.Policy.evaluate`, including the +1 for duplicates and rate-limited comments);
  a ``rescored`` history row.

Several re-scorers may run at once (the background refiner of :mod:`moderator.service.refine` in each worker, an
operator's ``moderator rescore``): the comment's update is conditional on its ``model_version`` not being the
new one yet, so each comment gets the new scores once.

The item's ``version`` (optimistic lock) is not bumped: a moderator who read the item before the re-score
is deciding on the same comment, and a priority change must not turn their decision into a 409.
One ``model.rescore`` audit event records the run. Decided comments keep the scores they were decided
with (``moderator export-labels`` reports the model the moderator saw).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from moderator.service import audit, site_policy
from moderator.service import reports as site_reports
from moderator.service.audit import Actor
from moderator.storage.db import write_session
from moderator.storage.models import Comment, CommentScore, HistoryEvent, ReviewItem


@dataclass
class RescoreResult:
    model_version: str
    rescored: int = 0
    skipped_decided: int = 0  # decided between scoring and writing
    already_current: int = 0
    stale: bool = False  # stopped because ``still_current`` said the model is no longer the current one
    last_item_id: int = 0  # the highest review item id looked at (a cursor for the next run)
    priority_changes: list[tuple[int, float, float]] = field(default_factory=list)  # (comment, before, after)

    def to_dict(self) -> dict[str, Any]:
        moved = [abs(b - a) for _, a, b in self.priority_changes]
        return {"model_version": self.model_version, "rescored": self.rescored,
                "skipped_decided": self.skipped_decided, "already_current": self.already_current,
                "max_priority_change": round(max(moved), 6) if moved else 0.0}


def _reasons(old: list[Any], flags: tuple[str, ...]) -> list[str]:
    """``old`` with its ``flagged:*`` entries replaced by the new flags (same position; before
    ``premoderation`` when there were none)."""
    new = [f"flagged:{c}" for c in flags]
    kept = [str(r) for r in old if not str(r).startswith("flagged:")]
    pos = next((i for i, r in enumerate(old) if str(r).startswith("flagged:")), None)
    if pos is None:
        pos = kept.index("premoderation") if "premoderation" in kept else len(kept)
    else:
        pos = sum(1 for r in old[:pos] if not str(r).startswith("flagged:"))
    return kept[:pos] + new + kept[pos:]


def rescore_pending(factory: sessionmaker[Session], model: Any, policy: Any, actor: Actor,
                    clock: Callable[[], datetime], batch_size: int = 200, *, after_id: int = 0,
                    max_batches: int | None = None, record: bool = True,
                    still_current: Callable[[Session], bool] | None = None) -> RescoreResult:
    """Re-score every pending item not yet scored by ``model`` (see the module docstring).

    ``after_id`` skips review items up to that id, ``max_batches`` stops early (both for the background
    refiner, which resumes from ``result.last_item_id``); ``record=False`` writes no audit event and does not
    count the items already current. ``still_current(session)``, called first in each write transaction,
    stops the run without writing when it says False (a background re-score whose model was replaced:
    :mod:`moderator.service.model_guard`).
    """
    version = str(model.version)
    result = RescoreResult(version, last_item_id=after_id)
    if record:
        with factory() as session:
            result.already_current = len(session.scalars(
                select(ReviewItem.id).join(Comment, Comment.id == ReviewItem.comment_id)
                .where(ReviewItem.status == "pending", Comment.model_version == version)).all())
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        with factory() as session:
            rows = session.execute(
                select(ReviewItem.id, ReviewItem.comment_id, ReviewItem.priority, Comment.text,
                       Comment.duplicate, Comment.reasons, Comment.model_version)
                .join(Comment, Comment.id == ReviewItem.comment_id)
                .where(ReviewItem.status == "pending", ReviewItem.id > result.last_item_id,
                       Comment.model_version != version)
                .order_by(ReviewItem.id).limit(batch_size)
            ).all()
        if not rows:
            break
        result.last_item_id = rows[-1][0]
        probs = model.predict_proba([r[3] for r in rows])
        now = clock()
        with write_session(factory) as session:
            if still_current is not None and not still_current(session):
                result.stale = True
                break
            reported = site_reports.summaries(session, [r[1] for r in rows])  # open readers' reports
            for (_item_id, cid, before, _text, duplicate, reasons, old_version), p in zip(rows, probs, strict=True):
                scores = {c: float(v) for c, v in p.items()}
                kind = duplicate.get("kind") if isinstance(duplicate, dict) else None
                verdict = policy.evaluate(scores, kind, "rate_limited" in (reasons or []))
                # what the site phase (rules, trusted authors) and readers' reports added is kept
                verdict = dataclasses.replace(verdict, priority=site_policy.rescored_priority(
                    verdict, list(reasons or []), float(reported.get(cid, {}).get("weight", 0.0))))
                done = session.execute(
                    update(ReviewItem).where(ReviewItem.comment_id == cid, ReviewItem.status == "pending")
                    .values(priority=verdict.priority, updated_at=now)
                    .execution_options(synchronize_session=False))
                if done.rowcount != 1:  # type: ignore[attr-defined]
                    result.skipped_decided += 1
                    continue
                done = session.execute(
                    # the text scored, still the comment's (an edit meanwhile is scored again on the next pass)
                    update(Comment).where(Comment.id == cid, Comment.model_version != version, Comment.text == _text)
                    .values(model_version=version, flags=list(verdict.flags),
                            reasons=_reasons(list(reasons or []), verdict.flags), updated_at=now)
                    .execution_options(synchronize_session=False))
                if done.rowcount != 1:  # type: ignore[attr-defined]  # another re-scorer was first
                    result.already_current += 1
                    continue
                # a model served before may have scored this comment already (promoted back): same values
                session.execute(delete(CommentScore).where(CommentScore.comment_id == cid,
                                                           CommentScore.model_version == version))
                flags = set(verdict.flags)
                session.add_all([CommentScore(comment_id=cid, category=c, probability=v, flagged=c in flags,
                                              model_version=version) for c, v in scores.items()])
                session.add(HistoryEvent(comment_id=cid, action="rescored", actor=actor.ref, from_status="pending",
                                         to_status="pending", created_at=now,
                                         data={"from_model": old_version, "to_model": version,
                                               "priority_from": before, "priority_to": verdict.priority,
                                               "flags": list(verdict.flags)}))
                result.rescored += 1
                result.priority_changes.append((cid, float(before), float(verdict.priority)))
    if record:
        with write_session(factory) as session:
            audit.record(session, actor, "model.rescore", clock(), "model", version, result.to_dict())
    return result


def reprioritise_pending(factory: sessionmaker[Session], policy: Any, actor: Actor,
                         clock: Callable[[], datetime], batch_size: int = 500) -> int:
    """Recompute the priority of every pending item from its comment's stored current scores (no model
    run), e.g. after the priority formula changed; returns how many changed. Conditional on the item still
    being pending, version not bumped (as in :func:`rescore_pending`); one ``queue.reprioritise`` audit event."""
    changed, after = 0, 0
    while True:
        with factory() as session:
            rows = session.execute(
                select(ReviewItem.id, ReviewItem.comment_id, ReviewItem.priority, Comment.duplicate,
                       Comment.reasons, Comment.model_version)
                .join(Comment, Comment.id == ReviewItem.comment_id)
                .where(ReviewItem.status == "pending", ReviewItem.id > after)
                .order_by(ReviewItem.id).limit(batch_size)).all()
            scores: dict[int, dict[str, float]] = {}
            versions = {r[1]: r[5] for r in rows}
            if rows:
                for cid, cat, prob, version in session.execute(
                        select(CommentScore.comment_id, CommentScore.category, CommentScore.probability,
                               CommentScore.model_version)
                        .where(CommentScore.comment_id.in_(list(versions)))):
                    if version == versions[cid]:
                        scores.setdefault(cid, {})[cat] = float(prob)
        if not rows:
            break
        after = rows[-1][0]
        with write_session(factory) as session:
            for _item_id, cid, before, duplicate, reasons, _version in rows:
                if cid not in scores:
                    continue  # not scored yet (deferred scoring): the refiner sets its priority
                kind = duplicate.get("kind") if isinstance(duplicate, dict) else None
                new = policy.evaluate(scores[cid], kind, "rate_limited" in (reasons or [])).priority
                if abs(new - float(before)) < 1e-9:
                    continue
                done = session.execute(
                    update(ReviewItem).where(ReviewItem.comment_id == cid, ReviewItem.status == "pending")
                    .values(priority=new).execution_options(synchronize_session=False))
                changed += int(done.rowcount == 1)  # type: ignore[attr-defined]
    with write_session(factory) as session:
        audit.record(session, actor, "queue.reprioritise", clock(), "queue", "pending", {"changed": changed})
    return changed


__all__ = ["RescoreResult", "reprioritise_pending", "rescore_pending"]
