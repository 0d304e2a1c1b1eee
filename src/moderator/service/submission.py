"""Submitting a comment, as named phases composed by :func:`submit`:

1. :func:`replay_phase`: a retry with a known ``Idempotency-Key`` gets the first answer back;
2. :func:`rate_phase`: the author's rate limit (reject: :class:`RateLimited`; hold: a reason);
3. :func:`score_phase`: the model's scores;
4. :func:`duplicate_phase`: the duplicate / flood check;
5. :func:`policy_phase`: the policy's verdict over scores, duplicate, rate limit and checks that could not run,
   then changed in :func:`store_phase`'s transaction by the site's phase (:mod:`moderator.service.site_policy`:
   the author's status, and the watched-word rules :func:`site_phase` matched beforehand);
6. :func:`store_phase`: the comment's rows and its idempotency key, written through the group committer;
7. :func:`record_phase`: the duplicate index learns the stored comment.

A dependency check that cannot run (Redis down) either marks the comment (fail open) or raises
:class:`Unavailable` (fail closed). No web framework here: the caller passes plain values and maps the
exceptions (all :class:`SubmissionError`) to its protocol.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderator.dedup.outage import DependencyUnavailable
from moderator.dedup.types import RateDecision
from moderator.service import audit, comments, languages
from moderator.storage.db import insert_rows
from moderator.storage.models import IdempotencyKey

log = logging.getLogger("moderator.service.submission")

IDEMPOTENCY_PRUNE_EVERY = timedelta(hours=1)


# ---------------------------------------------------------------- outcomes and errors


class SubmissionError(Exception):
    """A submission refused: ``code`` and ``message`` say why, ``field`` names the input at fault."""

    code = "submission_error"
    field: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RateLimited(SubmissionError):
    """The author is over the rate limit and the policy rejects: retry after ``retry_after`` seconds."""

    code = "rate_limited"
    field = "author_id"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many comments from this author; retry in {retry_after} s")
        self.retry_after = retry_after


class Unavailable(SubmissionError):
    """A dependency check could not run and the service fails closed: nothing stored."""

    code = "unavailable"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IdempotencyKeyReused(SubmissionError):
    code = "idempotency_key_reused"
    field = "Idempotency-Key"

    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used with a different request body")


@dataclass(frozen=True)
class Outcome:
    """The answer to a submission: ``payload`` (the stored comment), or a replay of an earlier answer."""

    payload: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class Comment:
    """What the author submitted."""

    text: str
    author_id: str
    thread_id: str
    external_id: str | None = None
    author_ip: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class Idempotency:
    """The request's ``Idempotency-Key`` and the hash of its body (:func:`request_hash`)."""

    key: str
    request_hash: str


@dataclass
class IdempotencyPruner:
    """Expired idempotency keys are deleted by a submission at most once per ``every`` per process."""

    every: timedelta = IDEMPOTENCY_PRUNE_EVERY
    last: datetime | None = None

    def due(self, t: datetime) -> bool:
        if self.last is not None and t - self.last < self.every:
            return False
        self.last = t
        return True


@dataclass
class Service:
    """The pieces of the running service a submission uses (one request's view of them)."""

    policy: Any
    detector: Any
    score: Callable[[list[str]], tuple[str, list[dict[str, float]]]]
    commit: Callable[[Callable[[Session], Any]], Any]
    session: Callable[[], Session]
    clock: Callable[[], datetime]
    idempotency_ttl: int
    pruner: IdempotencyPruner = field(default_factory=IdempotencyPruner)
    metrics: Any = None
    site: Any = None  # a moderator.service.site_policy.SitePolicy (None: no author or rule policy)
    normalize: Callable[[str], str] | None = None  # the model's evasion normaliser, for the site's rules
    # the language check (moderator.service.languages.checker): text -> a Guess, or None when it is off
    language: Callable[[str], Any] | None = None
    policies: dict[str, Any] = field(default_factory=dict)  # by model version, where not ``policy`` (fast path)


def request_hash(body: Any) -> str:
    """The hash an idempotency key is bound to: the body's JSON, canonical."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


# ---------------------------------------------------------------- phases


def _cutoff(svc: Service, t: datetime) -> datetime:
    """Keys created before this are forgotten (``MODERATOR_IDEMPOTENCY_TTL``)."""
    return t - timedelta(seconds=int(svc.idempotency_ttl))


def replay_phase(svc: Service, session: Session, actor: audit.Actor, idem: Idempotency) -> Outcome | None:
    """The first answer to this key, or None when the request is new (key never used, or expired)."""
    row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.api_key_id == actor.key_id,
                                                      IdempotencyKey.key == idem.key))
    if row is None or row.created_at < _cutoff(svc, svc.clock()):
        return None
    if row.request_hash != idem.request_hash:
        raise IdempotencyKeyReused()
    return Outcome(row.response, replayed=True)


def _check_unavailable(detector: Any, exc: DependencyUnavailable, unavailable: list[str], check: str) -> None:
    """Fail closed: :class:`Unavailable`, nothing stored. Fail open: the comment carries the reason."""
    if getattr(detector, "fail_closed", False):
        raise Unavailable(f"{exc.dependency} is unavailable, so the {check.replace('_', ' ')} cannot run; "
                          "retry later", exc.retry_after)
    unavailable.append(check)


def rate_phase(svc: Service, author_id: str, t: datetime, unavailable: list[str]) -> bool:
    """True when the author is over the limit and the policy holds; :class:`RateLimited` when it rejects."""
    detector = svc.detector
    if detector is None:
        return False
    try:
        decision = detector.rate_check(author_id, t)
    except DependencyUnavailable as exc:  # logged (bounded) by the detector's guard
        _check_unavailable(detector, exc, unavailable, "rate_limit")
        decision = RateDecision(True)
    except Exception:  # degrade: a detector failure must not stop comment intake
        log.exception("rate check failed; accepting the comment without it")
        unavailable.append("rate_limit")
        decision = RateDecision(True)
    if decision.allowed:
        return False
    if svc.policy.rate_limit_action == "reject":
        raise RateLimited(max(1, math.ceil(decision.retry_after)))
    return True


def score_phase(svc: Service, text: str) -> tuple[str, dict[str, float]]:
    version, probs = svc.score([text])
    return version, probs[0]


def duplicate_phase(svc: Service, comment: Comment, t: datetime,
                    unavailable: list[str]) -> tuple[dict[str, Any] | None, Any]:
    """The duplicate finding (``kind``, ``of`` ...) or None, and the text's signature for :func:`record_phase`
    (signed once for both)."""
    detector = svc.detector
    finding = signature = None
    if detector is not None:
        try:
            signature = detector.sign(comment.text)
            finding = detector.check(comment.text, comment.author_id, t, signature=signature)
        except DependencyUnavailable as exc:
            _check_unavailable(detector, exc, unavailable, "duplicate_check")
        except Exception:
            log.exception("duplicate check failed; accepting the comment without it")
            unavailable.append("duplicate_check")
    return (finding.to_dict() if finding is not None and finding.is_duplicate else None), signature


def policy_phase(svc: Service, scores: dict[str, float], duplicate: dict[str, Any] | None, rate_limited: bool,
                 unavailable: list[str], unreadable: str | None = None, version: str | None = None) -> Any:
    """The verdict under the policy of the model that scored (its thresholds: the fast path has its own);
    ``unreadable``: the language code of a comment the model cannot read."""
    policy = svc.policies.get(version, svc.policy) if version is not None else svc.policy
    if unreadable:  # only then: policies written before the language check keep working
        return policy.evaluate(scores, duplicate["kind"] if duplicate else None, rate_limited, unavailable,
                               language=unreadable)
    return policy.evaluate(scores, duplicate["kind"] if duplicate else None, rate_limited, unavailable)


def site_phase(svc: Service, comment: Comment) -> Any:
    """The site's rules matching the comment (the rest of the site phase runs in :func:`store_phase`'s
    transaction); None without a site phase."""
    if svc.site is None:
        return None
    return svc.site.before(svc.session, comment.text, svc.normalize)


def store_phase(svc: Service, actor: audit.Actor, comment: Comment, t: datetime, version: str,
                scores: dict[str, float], verdict: Any, duplicate: dict[str, Any] | None,
                idem: Idempotency | None, site: Any = None,
                language: dict[str, Any] | None = None) -> tuple[comments.Stored, dict[str, Any]] | Outcome:
    """Write the comment (and its idempotency key) through the group committer; returns after the COMMIT.
    A concurrent retry with the same key that committed first: its answer, replayed."""
    cutoff = _cutoff(svc, t)
    prune = svc.pruner.due(t)

    def write(session: Session) -> tuple[comments.Stored, dict[str, Any]]:
        """The comment's rows (and its Idempotency-Key): run by the group committer, maybe with others'."""
        v, pre = verdict, None
        if site is not None:  # the author's status, read in this transaction, and the rules change the verdict
            v, pre = svc.site.decide(session, comment.author_id, t, verdict, site, svc.policy.mode)
        stored = comments.store(
            session, actor=actor, now=t, text=comment.text, author_id=comment.author_id,
            thread_id=comment.thread_id, scores=scores, model_version=version, verdict=v,
            duplicate=duplicate, external_id=comment.external_id, author_ip=comment.author_ip,
            metadata=comment.metadata,
        )
        if pre is not None:  # the author's record, in the same transaction
            svc.site.record(session, comment.author_id, t, v.decision, pre)
        payload = {
            "id": stored.id,
            "state": comments.STATE_FOR_DECISION[v.decision],
            "intake_decision": v.decision,
            "status": stored.status,
            "decision": v.decision,
            "scores": scores,
            "flags": list(v.flags),
            "reasons": list(v.reasons),
            "duplicate": duplicate,
            "priority": stored.priority,
            "model_version": version,
            "created_at": t.isoformat(),
        }
        if language is not None:
            payload["language"] = language
        if prune:
            session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
        if idem is not None:
            session.execute(delete(IdempotencyKey).where(  # this key's expired use, if any, makes room
                IdempotencyKey.api_key_id == actor.key_id, IdempotencyKey.key == idem.key,
                IdempotencyKey.created_at < cutoff))
            insert_rows(session, IdempotencyKey.__table__, [{
                "api_key_id": actor.key_id, "key": idem.key, "request_hash": idem.request_hash,
                "comment_id": stored.id, "response": payload, "created_at": t}])
        return stored, payload

    try:
        result: tuple[comments.Stored, dict[str, Any]] = svc.commit(write)
    except (IntegrityError, sqlite3.IntegrityError):
        if idem is None:
            raise
        session = svc.session()
        session.rollback()
        replay = replay_phase(svc, session, actor, idem)  # a concurrent retry committed first
        session.rollback()
        if replay is None:
            raise
        return replay
    return result


def record_phase(svc: Service, stored: comments.Stored, comment: Comment, t: datetime, signature: Any = None) -> None:
    """The duplicate index learns the stored comment; a failure here never undoes the submission."""
    if svc.detector is None:
        return
    try:
        svc.detector.record(stored.id, comment.text, comment.author_id, t, signature=signature)
    except DependencyUnavailable:  # the comment is stored; the guard has logged the outage
        pass
    except Exception:  # the comment is stored; a detector failure must not turn that into an error
        log.exception("duplicate detector failed to record comment %s", stored.id)


# ---------------------------------------------------------------- the flow


def submit(svc: Service, actor: audit.Actor, comment: Comment, idem: Idempotency | None = None,
           refiner: Any = None) -> Outcome:
    """Score, check, decide and store one comment. ``idem`` only for a key that belongs to an API key."""
    if idem is not None:
        session = svc.session()
        replay = replay_phase(svc, session, actor, idem)
        session.rollback()
        if replay is not None:
            return replay
    t = svc.clock()
    unavailable: list[str] = []  # checks that could not run: the comment says so (MODERATOR_REDIS_FAIL_MODE)
    rate_limited = rate_phase(svc, comment.author_id, t, unavailable)
    version, scores = score_phase(svc, comment.text)
    guess = svc.language(comment.text) if svc.language is not None else None
    duplicate, signature = duplicate_phase(svc, comment, t, unavailable)
    site = site_phase(svc, comment)
    verdict = policy_phase(svc, scores, duplicate, rate_limited, unavailable,
                           None if guess is None or guess.supported else guess.code, version)
    written = store_phase(svc, actor, comment, t, version, scores, verdict, duplicate, idem, site,
                          None if guess is None else languages.marking(guess))
    if isinstance(written, Outcome):
        return written
    stored, payload = written
    record_phase(svc, stored, comment, t, signature)
    fast = version in svc.policies  # the fast path's version has its own policy (thresholds)
    if svc.metrics is not None:
        svc.metrics.decision("submission", payload["decision"])
        svc.metrics.scored_at_intake("fast" if fast else "full")
    if refiner is not None and stored.priority is not None and fast:  # fast path: re-scored later
        refiner.wake()
    return Outcome(payload)


__all__ = ["Comment", "Idempotency", "IdempotencyKeyReused", "IdempotencyPruner", "Outcome", "RateLimited",
           "Service", "SubmissionError", "Unavailable", "duplicate_phase", "policy_phase", "rate_phase",
           "record_phase", "replay_phase", "request_hash", "score_phase", "site_phase", "store_phase", "submit"]
