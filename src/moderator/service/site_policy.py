"""The site's own policy phase of a submission: who the author is, and the site's watched-word rules.

Runs around :func:`moderator.service.submission.policy_phase` (after Coral's pipeline phases):

1. :meth:`SitePolicy.before` (CPU only, beside the model's scoring): the rules matching the comment's
   evasion-normalised text (:mod:`moderator.service.rules`);
2. :meth:`SitePolicy.decide`, in the transaction that stores the comment: the author's record (one indexed
   read on the connection the write already holds) and :meth:`SitePolicy.adjust`, the verdict over the
   model's scores, duplicates and rate limits changed by the author and the rules;
3. :meth:`SitePolicy.record`, in the same transaction: the author's record upserted (one statement), and
   automatic trust when it is turned on.

Adjustments, strongest first:

* a **banned** author: rejected, reason ``author:banned``;
* a **suspended** author, until the suspension ends: rejected or held (``MODERATOR_SUSPENDED_ACTION``),
  reason ``author:suspended``;
* a ``block`` rule: rejected, reason ``word:<pattern>``; a ``hold`` rule: held, reason ``word:<pattern>``,
  priority +1; a ``flag`` rule: reason ``watched:<pattern>`` only;
* a **premoderated** author: always held (also in postmoderation), reason ``author:premoderated``;
* a **new** author (fewer than ``MODERATOR_NEW_AUTHOR_HOLD`` earlier comments): held even in
  postmoderation, reason ``author:new``;
* a **trusted** author's clean comment (nothing flagged, no rule, duplicate or rate limit): published in
  postmoderation (as anyone's); in premoderation queued last (priority below every other item, reason
  ``author:trusted``), or published at once with ``MODERATOR_TRUSTED_SKIP_QUEUE``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from moderator.service import authors, reports
from moderator.service.policy import Verdict
from moderator.service.rules import RuleBook, RuleView
from moderator.storage.models import Comment

log = logging.getLogger("moderator.service.site_policy")

TRUSTED_BASE = -1.0  # a trusted author's clean comment in premoderation: below every other item (>= 0)


@dataclass(frozen=True)
class Settings:
    suspended_action: str = "reject"
    new_author_hold: int = 0
    trusted_skip_queue: bool = False
    auto_trust_approved: int = 0
    auto_trust_window_days: int = 90
    reports_to_queue: float = 1.0

    @classmethod
    def from_settings(cls, s: Any) -> Settings:
        action = str(s.suspended_action).strip().lower()
        if action not in ("reject", "hold"):
            raise ValueError(f"MODERATOR_SUSPENDED_ACTION must be reject or hold, not {action!r}")
        return cls(action, max(0, int(s.new_author_hold)), bool(s.trusted_skip_queue),
                   max(0, int(s.auto_trust_approved)), max(0, int(s.auto_trust_window_days)),
                   float(s.reports_to_queue))


@dataclass(frozen=True)
class Before:
    author: authors.AuthorState
    matches: tuple[RuleView, ...]
    auto_trust: bool = False  # a normal author who qualifies for automatic trust now (recorded with the comment)


class SitePolicy:
    """One worker's site phase: its settings and its compiled rules (:class:`RuleBook`)."""

    def __init__(self, settings: Settings, rulebook: RuleBook) -> None:
        self.settings = settings
        self.rulebook = rulebook

    def before(self, session: Callable[[], Session], text: str,
               normalize: Callable[[str], str] | None) -> tuple[RuleView, ...]:
        """The site's rules matching ``text`` (CPU only; ``session`` opens one only when the rules version is
        due a check, at most every ``MODERATOR_RULES_REFRESH`` seconds)."""
        rules = self.rulebook.current(session)
        if not len(rules):
            return ()
        normalized = None
        if normalize is not None:
            try:
                normalized = normalize(text)
            except Exception:  # the folded text is still matched
                log.exception("normalising a comment for the rules failed")
        return tuple(rules.match(text, normalized))

    def decide(self, session: Session, author_id: str, now: datetime, verdict: Verdict,
               matches: tuple[RuleView, ...], mode: str) -> tuple[Verdict, Before]:
        """In the comment's write transaction: the author's record (one indexed read) and the verdict adjusted
        by it and by the matching rules."""
        author = authors.state(session, author_id)
        auto = self._qualifies(author, now)
        if auto:
            author = dataclasses.replace(author, status="trusted")
        pre = Before(author, matches, auto)
        return self.adjust(verdict, pre, now, mode), pre

    def _qualifies(self, a: authors.AuthorState, now: datetime) -> bool:
        k = self.settings.auto_trust_approved
        if k <= 0 or a.status != "normal" or a.approved < k:
            return False
        return a.last_rejected_at is None or (now - a.last_rejected_at).days >= self.settings.auto_trust_window_days

    def adjust(self, v: Verdict, pre: Before, now: datetime, mode: str) -> Verdict:
        decision, priority = v.decision, v.priority
        reasons = list(v.reasons)
        clean = decision != "reject" and not v.flags and not pre.matches and set(reasons) <= {"premoderation"}

        def hold(reason: str, bump: float = 0.0) -> None:
            nonlocal decision, priority
            reasons.append(reason)
            if decision != "reject":
                decision, priority = "hold", priority + bump

        for rule in pre.matches:
            if rule.action == "block":
                reasons.append(rule.reason)
                decision = "reject"
            elif rule.action == "hold":
                hold(rule.reason, 1.0)
            else:
                reasons.append(rule.reason)
        status = pre.author.effective_status(now)
        if status == "banned":
            reasons.append("author:banned")
            decision = "reject"
        elif status == "suspended":
            if self.settings.suspended_action == "reject":
                reasons.append("author:suspended")
                decision = "reject"
            else:
                hold("author:suspended")
        elif status == "premoderated":
            hold("author:premoderated")
        elif status != "trusted" and pre.author.submitted < self.settings.new_author_hold:
            hold("author:new")
        elif status == "trusted" and clean and mode == "premoderation":
            reasons = [r for r in reasons if r != "premoderation"] + ["author:trusted"]
            if self.settings.trusted_skip_queue:
                decision = "publish"
            else:
                priority = TRUSTED_BASE + min(max(priority, 0.0), 0.999) / 1000
        if decision == "reject" and v.decision != "reject":
            priority = v.priority
        return dataclasses.replace(v, decision=decision, reasons=tuple(reasons), priority=round(priority, 6))

    def record(self, session: Session, author_id: str, now: datetime, decision: str, pre: Before) -> None:
        """In the comment's transaction: the author's record (one upsert), and automatic trust when the author
        qualified (:func:`moderator.service.authors.maybe_auto_trust`: audited, an ``author.updated`` event)."""
        authors.record_submission(session, author_id, now, decision)
        if pre.auto_trust:
            authors.maybe_auto_trust(session, author_id, now, self.settings.auto_trust_approved,
                                     self.settings.auto_trust_window_days)


def rescored_priority(verdict: Verdict, reasons: list[str], report_weight: float = 0.0) -> float:
    """The queue priority of a pending comment re-scored by another model (:mod:`moderator.service.rescore`):
    the policy's new priority (``verdict``) with what the site phase and readers' reports added at intake
    kept: +1 for a ``hold`` rule, a trusted author's clean comment still last, a reported comment at least
    ``1 + report_weight`` (other reports on a waiting comment: ``REPORT_PRIORITY x weight``)."""
    p = verdict.priority
    if any(r.startswith("word:") for r in reasons):
        p += 1.0
    if "reported" in reasons:
        p = max(p, 1.0 + report_weight)
    else:
        p += reports.REPORT_PRIORITY * report_weight
        if "author:trusted" in reasons and not verdict.flags and p < 1.0:
            p = TRUSTED_BASE + min(max(p, 0.0), 0.999) / 1000
    return round(p, 6)


def after_decision(session: Session, comment: Comment, action: str, now: datetime) -> None:
    """A moderator approved or rejected ``comment``: the author's counts and the comment's reports resolved.
    (Automatic trust is checked at the author's next comment, where the policy needs it.)"""
    authors.record_decision(session, comment, action, now)
    reports.resolve(session, comment.id, action, now)


__all__ = ["Before", "Settings", "SitePolicy", "after_decision", "rescored_priority"]
