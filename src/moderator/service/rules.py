"""The site's own rules (watched words): plain words, phrases or regular expressions, each with an action.

* ``block``: the comment is stored and rejected at intake, reason ``word:<pattern>``;
* ``hold``: the comment is queued for a moderator with the reason ``word:<pattern>`` (priority +1, so it
  sorts with flagged comments);
* ``flag``: a badge only (reason ``watched:<pattern>``); the decision does not change.

**What is matched.** The same evasion-normalised text the model scores (:class:`moderator.model.features.
Normalizer`: homoglyphs folded, masks such as ``f*ck`` and leetspeak resolved to known words, spelled-out
letters joined), and beside it the folded text (Unicode NFKC, confusables, lower case). A word or phrase rule
is itself made evasion-tolerant: each letter also accepts its leetspeak readings (``o``: ``0``; ``s``:
``$``, ``5``) and repeats (``fuuuck``), and each letter but the first and the last also a mask ``*``, so
``fr0bn1cate`` and ``fr*bnicate`` match the word ``frobnicate`` even though the model's vocabulary does not
know it. Matching is on whole words (no letter or digit may touch a match on either side), so ``cunt`` never
matches ``Scunthorpe``; a regular expression is matched the same way, case-insensitively.

**Engine.** Every rule is compiled into one RE2 set (``google-re2``): one linear-time pass over the text
answers which rules match, whatever their number, and a pathological expression such as ``(a+)+b`` cannot
backtrack (RE2 has no backtracking; expressions it cannot run in linear time, such as back-references, are
refused with a clear error when the rule is added).

**Freshness.** Rules live in the database; each change bumps the ``rules_version`` counter in the same
transaction. Each worker keeps its compiled set (:class:`RuleBook`) and reads that one counter at most every
``MODERATOR_RULES_REFRESH`` seconds, recompiling only when it changed: a new rule applies in every worker
within that time, without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import re2
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from moderator.model.features import LEET, LEET_ALT, fold
from moderator.service import audit
from moderator.service.audit import Actor
from moderator.storage.models import INT_MAX, Counter, Rule

log = logging.getLogger("moderator.service.rules")

KINDS = ("word", "phrase", "regex")
ACTIONS = ("block", "hold", "flag")
MAX_PATTERN = 500
MAX_RULES = 10_000
VERSION_COUNTER = "rules_version"
RE2_MAX_MEM = 256 << 20  # bytes RE2 may use for one compiled set (1,000 rules need a few MB)


class RuleError(ValueError):
    """A rule that cannot be added: ``field`` names the input at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


class RuleNotFound(LookupError):
    pass


@dataclass(frozen=True)
class RuleView:
    id: int
    kind: str
    pattern: str
    action: str

    @property
    def reason(self) -> str:
        return f"{'watched' if self.action == 'flag' else 'word'}:{self.pattern}"


# ---------------------------------------------------------------- compiling


def _options() -> Any:
    opts = re2.Options()
    opts.case_sensitive = False
    opts.max_mem = RE2_MAX_MEM
    opts.log_errors = False
    return opts


# letter -> the characters that may stand for it (itself and its leetspeak readings)
_READINGS: dict[str, set[str]] = {}
for _sym, _letter in [*LEET.items(), *LEET_ALT.items()]:
    _READINGS.setdefault(_letter, {_letter}).add(_sym)

_EDGE = "[^a-z0-9]"  # whole words: no letter or digit may touch a match


def _letter_re(ch: str, masked: bool) -> str:
    chars = sorted(_READINGS.get(ch, {ch}) | ({"*"} if masked else set()))
    if len(chars) == 1:
        return re2.escape(chars[0]) + "+"
    return "[" + "".join("\\" + c if not c.isalnum() else c for c in chars) + "]+"


def _word_re(word: str) -> str:
    """An evasion-tolerant expression for one folded word: leetspeak readings and repeats of each letter,
    a mask ``*`` for each letter but the first and last."""
    last = len(word) - 1
    return "".join(_letter_re(ch, 0 < i < last) if ch.isalnum() else re2.escape(ch) for i, ch in enumerate(word))


def folded(pattern: str) -> str:
    return " ".join(fold(pattern)[0].split())


def expression(kind: str, pattern: str) -> str:
    """The RE2 expression of a rule (without the whole-word edges); :class:`RuleError` if it is not valid."""
    if kind not in KINDS:
        raise RuleError(f"kind must be one of {', '.join(KINDS)}", "kind")
    if not pattern.strip():
        raise RuleError("pattern must not be empty", "pattern")
    if len(pattern) > MAX_PATTERN:
        raise RuleError(f"pattern must be at most {MAX_PATTERN} characters", "pattern")
    if kind == "regex":
        body = pattern
        try:  # alone first: wrapped, an unbalanced expression could pair up with the edges' brackets
            re2.compile(body, _options())
        except re2.error as exc:
            raise RuleError(f"invalid regular expression (RE2 syntax, no back-references or look-around): "
                            f"{_message(exc)}", "pattern") from None
    else:
        words = folded(pattern).split(" ")
        if kind == "word" and len(words) != 1:
            raise RuleError("a word rule is one word; use kind phrase for several", "pattern")
        if not any(ch.isalnum() for ch in "".join(words)):
            raise RuleError("pattern must contain a letter or digit", "pattern")
        body = "[^a-z0-9]+".join(_word_re(w) for w in words)
    wrapped = f"(?:^|{_EDGE})(?:{body})(?:{_EDGE}|$)"
    try:
        re2.compile(wrapped, _options())
    except re2.error as exc:
        raise RuleError(f"invalid regular expression (RE2 syntax, no back-references or look-around): "
                        f"{_message(exc)}", "pattern") from None
    return wrapped


def _message(exc: Exception) -> str:
    msg = exc.args[0] if exc.args else str(exc)
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    return str(msg)[:200]


class CompiledRules:
    """A set of rules compiled into one RE2 set: :meth:`match` answers which match a text in one pass."""

    def __init__(self, rules: Sequence[RuleView], version: int = 0) -> None:
        self.version = version
        self.rules = []
        self._set: Any = None
        s = re2.Set.SearchSet(_options())
        for r in rules:
            try:  # every stored rule was checked when it was added; one that fails now is skipped, not fatal
                s.Add(expression(r.kind, r.pattern))
            except (RuleError, re2.error):
                log.error("rule %s (%s %r) cannot be compiled; skipped", r.id, r.kind, r.pattern)
                continue
            self.rules.append(r)
        if self.rules:
            try:
                s.Compile()
            except re2.error:  # beyond RE2_MAX_MEM: intake goes on without the rules, loudly
                log.exception("the %d rules cannot be compiled together; matching none", len(self.rules))
                self.rules = []
                return
            self._set = s

    def __len__(self) -> int:
        return len(self.rules)

    def match(self, text: str, normalized: str | None = None) -> list[RuleView]:
        """The rules matching ``text`` (its folded form) or ``normalized`` (the model's normalised text), in
        rule order."""
        if self._set is None:
            return []
        views = fold(text)[0] if normalized is None else f"{fold(text)[0]}\n{normalized}"
        hits = self._set.Match(views)
        return [self.rules[i] for i in sorted(hits or ())]


# ---------------------------------------------------------------- the per-worker cache


class RuleBook:
    """One worker's compiled rules, re-read when the database's ``rules_version`` changes (checked at most
    every ``refresh`` seconds; ``clock`` is monotonic seconds)."""

    def __init__(self, refresh: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.refresh = refresh
        self.clock = clock
        self._compiled = CompiledRules([], -1)
        self._checked: float | None = None
        self._lock = threading.Lock()

    def current(self, session: Callable[[], Session]) -> CompiledRules:
        """The compiled rules; ``session`` (a factory) is called only when the version is due a check."""
        t = self.clock()
        checked = self._checked
        if checked is not None and t - checked < self.refresh:
            return self._compiled
        with self._lock:
            if self._checked is not None and self.clock() - self._checked < self.refresh:
                return self._compiled
            s = session()
            try:
                version = current_version(s)
                if version != self._compiled.version:
                    self._compiled = CompiledRules(list_rules(s), version)
            finally:
                s.rollback()
            self._checked = self.clock()
            return self._compiled

    def invalidate(self) -> None:
        """Check the database again on the next call (this worker changed the rules)."""
        self._checked = None


# ---------------------------------------------------------------- storing


def current_version(session: Session) -> int:
    return int(session.scalar(select(Counter.value).where(Counter.name == VERSION_COUNTER)) or 0)


def _bump(session: Session) -> None:
    result = session.execute(update(Counter).where(Counter.name == VERSION_COUNTER)
                             .values(value=Counter.value + 1).execution_options(synchronize_session=False))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(Counter(name=VERSION_COUNTER, value=1))


def list_rules(session: Session) -> list[RuleView]:
    return [RuleView(r.id, r.kind, r.pattern, r.action) for r in session.scalars(select(Rule).order_by(Rule.id))]


def rule_dict(r: Rule) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "pattern": r.pattern, "action": r.action, "note": r.note,
            "created_by": r.created_by, "created_at": r.created_at.isoformat()}


def add_rule(session: Session, actor: Actor, now: datetime, kind: str, pattern: str, action: str,
             note: str | None = None) -> Rule:
    """Validate, store and audit one rule; the caller commits. :class:`RuleError` for a bad rule."""
    if action not in ACTIONS:
        raise RuleError(f"action must be one of {', '.join(ACTIONS)}", "action")
    expression(kind, pattern)
    if kind != "regex":
        pattern = folded(pattern)
    from sqlalchemy import func

    if int(session.scalar(select(func.count()).select_from(Rule)) or 0) >= MAX_RULES:
        raise RuleError(f"at most {MAX_RULES} rules", "pattern")
    rule = Rule(kind=kind, pattern=pattern, action=action, note=note, created_by=actor.ref, created_at=now)
    session.add(rule)
    session.flush()
    _bump(session)
    audit.record(session, actor, "rule.create", now, "rule", rule.id,
                 {"kind": kind, "pattern": pattern, "action": action, "note": note})
    return rule


def remove_rule(session: Session, actor: Actor, now: datetime, rule_id: int) -> None:
    rule = session.get(Rule, rule_id) if 0 < rule_id <= INT_MAX else None
    if rule is None:
        raise RuleNotFound(f"no rule {rule_id}")
    data = {"kind": rule.kind, "pattern": rule.pattern, "action": rule.action}
    session.execute(delete(Rule).where(Rule.id == rule_id))
    _bump(session)
    audit.record(session, actor, "rule.delete", now, "rule", rule_id, data)


def all_rules(session: Session) -> list[Rule]:
    return list(session.scalars(select(Rule).order_by(Rule.id)))


__all__ = ["ACTIONS", "KINDS", "CompiledRules", "RuleBook", "RuleError", "RuleNotFound", "RuleView", "add_rule",
           "all_rules", "current_version", "expression", "list_rules", "remove_rule", "rule_dict"]
