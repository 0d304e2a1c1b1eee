"""Moderation policy: from a comment's scores (and duplicate / rate findings) to a decision. Pure, no Flask.

Decision rules, in order:

1. rate limited and ``rate_limit_action == "hold"``         -> hold, reason ``rate_limited``
   (with ``"reject"`` the API answers 429 before the policy runs and nothing is stored);
2. any category at or over its *reject* threshold (off by default) -> reject, reason ``reject:<category>``;
3. a duplicate finding -> hold (or reject when ``duplicate_action == "reject"``),
   reason ``duplicate:same_author`` / ``duplicate:cross_author_flood``;
4. a language the model cannot read (reliably not English) -> hold, reason ``language:<code>``;
5. any category at or over its threshold                     -> hold, reason ``flagged:<category>``;
6. otherwise: ``premoderation`` -> hold with reason ``premoderation``; ``postmoderation`` -> publish.

A check that could not run (Redis down with ``MODERATOR_REDIS_FAIL_MODE=open``) adds the reason
``duplicate_check_unavailable`` or ``rate_limit_unavailable`` and changes neither the decision nor the
priority: the comment is decided on its scores alone, and moderators can see what was not checked.

A held comment is queued for review. Its **priority** orders the queue (highest first; ties by age, oldest
first); :mod:`moderator.service.priority` defines it and says why::

    below a category's threshold:  p_c / t_c                                   (in [0, 1))
    at or over it:                 1 + w_c * (1 + ln(1 + logit(p_c) - logit(t_c)))
    priority = the strongest category + 0.1 x the other flagged categories' excess over 1
               (+ 1 for a duplicate or rate-limited comment, so those sort with flagged ones)

with severity weights ``w``: hate speech and personal attack 1.0, obscenity 0.5, spam 0.25. Every flagged
comment outranks every unflagged one; among flagged ones severity decides first, then how far past the
threshold the model is, in log-odds, which keeps growing as p nears 1 instead of capping (the earlier
``1 + (p - t)/(1 - t)`` saturated at 2.00, so confident spam tied with severe abuse). Stored priorities
from before are on the same scale below 1 and still order flagged above unflagged; ``moderator rescore
--priorities`` recomputes the pending ones from their stored scores.

Configuration (lowest to highest precedence): the model's ``thresholds``; a JSON/TOML file
(``MODERATOR_POLICY_FILE``) with keys ``mode``, ``thresholds``, ``reject``, ``duplicate_action``,
``rate_limit_action``, ``reject_reasons`` (:mod:`moderator.service.reasons`); environment variables
``MODERATOR_POLICY_MODE``, ``MODERATOR_THRESHOLD_<CATEGORY>``,
``MODERATOR_REJECT_<CATEGORY>``, ``MODERATOR_DUPLICATE_ACTION``, ``MODERATOR_RATE_LIMIT_ACTION``.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from moderator.config import Settings
from moderator.service import priority
from moderator.service import reasons as reject_reasons_config
from moderator.service.reasons import DEFAULT_REJECT_REASONS, RejectReason

Mode = Literal["premoderation", "postmoderation"]
Outcome = Literal["publish", "hold", "reject"]

MODES = ("premoderation", "postmoderation")
DUPLICATE_ACTIONS = ("hold", "reject")
RATE_LIMIT_ACTIONS = ("reject", "hold")


class PolicyError(ValueError):
    """An invalid policy configuration (raised at start-up, never per request)."""


@dataclass(frozen=True)
class Verdict:
    decision: Outcome
    flags: tuple[str, ...]
    reasons: tuple[str, ...]
    priority: float

    @property
    def needs_review(self) -> bool:
        return self.decision == "hold"


@dataclass(frozen=True)
class Policy:
    thresholds: Mapping[str, float]
    mode: Mode = "premoderation"
    reject: Mapping[str, float] = field(default_factory=dict)
    duplicate_action: Literal["hold", "reject"] = "hold"
    rate_limit_action: Literal["reject", "hold"] = "reject"
    # the site's reasons for rejecting (the policy file's reject_reasons; moderator.service.reasons)
    reject_reasons: tuple[RejectReason, ...] = DEFAULT_REJECT_REASONS

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PolicyError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.duplicate_action not in DUPLICATE_ACTIONS:
            raise PolicyError(f"duplicate_action must be one of {DUPLICATE_ACTIONS}")
        if self.rate_limit_action not in RATE_LIMIT_ACTIONS:
            raise PolicyError(f"rate_limit_action must be one of {RATE_LIMIT_ACTIONS}")
        for kind, table in (("threshold", self.thresholds), ("reject", self.reject)):
            for cat, value in table.items():
                if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 < value <= 1.0:
                    raise PolicyError(f"{kind} for {cat} must be a number in (0, 1], not {value!r}")
        unknown = set(self.reject) - set(self.thresholds)
        if unknown:
            raise PolicyError(f"reject thresholds for unknown categories: {sorted(unknown)}")

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.thresholds)

    # ------------------------------------------------------------------ evaluation

    def flags(self, scores: Mapping[str, float]) -> tuple[str, ...]:
        return tuple(c for c, t in self.thresholds.items() if scores.get(c, 0.0) >= t)

    def risk(self, scores: Mapping[str, float]) -> float:
        """Severity-weighted risk: below 1 when nothing is flagged (see the module docstring)."""
        return priority.risk(scores, self.thresholds)

    def evaluate(
        self,
        scores: Mapping[str, float],
        duplicate_kind: str | None = None,
        rate_limited: bool = False,
        unavailable: Sequence[str] = (),
        language: str | None = None,
    ) -> Verdict:
        """The decision for one comment; ``unavailable`` names checks that could not run (``duplicate_check``,
        ``rate_limit``), each recorded as the reason ``<name>_unavailable``; ``language`` is the ISO 639-1
        code of a language the model cannot read (``moderator.model.language``): held, reason
        ``language:<code>``, since its scores are an English model's guess."""
        flags = self.flags(scores)
        priority = self.risk(scores)
        reasons: list[str] = []
        decision: Outcome = "publish"
        if rate_limited:
            reasons.append("rate_limited")
            decision = "hold"
            priority += 1.0
        rejects = [c for c, t in self.reject.items() if scores.get(c, 0.0) >= t]
        if rejects:
            reasons.extend(f"reject:{c}" for c in rejects)
            decision = "reject"
        if duplicate_kind:
            reasons.append(f"duplicate:{duplicate_kind}")
            priority += 1.0
            if self.duplicate_action == "reject":
                decision = "reject"
            elif decision != "reject":
                decision = "hold"
        reasons.extend(f"{name}_unavailable" for name in unavailable)
        if language:
            reasons.append(f"language:{language}")
            if decision == "publish":
                decision = "hold"
        reasons.extend(f"flagged:{c}" for c in flags)
        if flags and decision == "publish":
            decision = "hold"
        if decision == "publish" and self.mode == "premoderation":
            reasons.append("premoderation")
            decision = "hold"
        return Verdict(decision=decision, flags=flags, reasons=tuple(reasons), priority=round(priority, 6))

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "thresholds": dict(self.thresholds),
            "reject": dict(self.reject),
            "duplicate_action": self.duplicate_action,
            "rate_limit_action": self.rate_limit_action,
            "reject_reasons": [r.to_dict() for r in self.reject_reasons],
            "priority": priority.DESCRIPTION,
        }

    # ------------------------------------------------------------------ configuration

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], model_thresholds: Mapping[str, float], base: Policy | None = None
    ) -> Policy:
        """A policy from a mapping (file contents or test config) layered over ``base`` / the model."""
        allowed = {"mode", "thresholds", "reject", "duplicate_action", "rate_limit_action", "reject_reasons"}
        unknown = set(data) - allowed
        if unknown:
            raise PolicyError(f"unknown policy keys: {sorted(unknown)}")
        start = base or cls(thresholds=dict(model_thresholds))
        thresholds = dict(start.thresholds)
        for cat, value in dict(data.get("thresholds") or {}).items():
            if cat not in thresholds:
                raise PolicyError(f"threshold for unknown category {cat!r}")
            thresholds[cat] = value
        reject = dict(start.reject)
        for cat, value in dict(data.get("reject") or {}).items():
            if value is None:
                reject.pop(cat, None)
            else:
                reject[cat] = value
        reasons = start.reject_reasons
        if "reject_reasons" in data:
            try:
                reasons = reject_reasons_config.parse(data["reject_reasons"], thresholds)
            except reject_reasons_config.ReasonsError as exc:
                raise PolicyError(str(exc)) from None
        return cls(
            thresholds=thresholds,
            reject_reasons=reasons,
            mode=data.get("mode", start.mode),
            reject=reject,
            duplicate_action=data.get("duplicate_action", start.duplicate_action),
            rate_limit_action=data.get("rate_limit_action", start.rate_limit_action),
        )

    @classmethod
    def from_settings(
        cls,
        model_thresholds: Mapping[str, float],
        settings: Settings,
        categories: Sequence[str] | None = None,
    ) -> Policy:
        """Model thresholds, then the policy file (``policy_file``), then the policy settings
        (``policy_mode``, ``duplicate_action``, ``rate_limit_action``, ``threshold_<category>``,
        ``reject_<category>``). A setting left unset leaves the file's value in place; one given explicitly wins,
        even at its default value."""
        from moderator.config import SETTINGS

        defaults = {s.name: s.default for s in SETTINGS}
        policy = cls(thresholds=dict(model_thresholds))
        path = str(settings.policy_file or "")
        if path:
            policy = cls.from_mapping(load_policy_file(path), model_thresholds, policy)
        overrides: dict[str, Any] = {"thresholds": {}, "reject": {}}
        for key in ("mode", "duplicate_action", "rate_limit_action"):
            name = "policy_mode" if key == "mode" else key
            raw = str(getattr(settings, name) or "")
            if raw and (settings.is_given(name) or raw != defaults[name]):
                overrides[key] = raw.strip().lower()
        for cat in categories or tuple(model_thresholds):
            for kind, table in (("threshold", "thresholds"), ("reject", "reject")):
                raw = str(getattr(settings, f"{kind}_{cat}", "") or "").strip()
                if raw:
                    overrides[table][cat] = _number(raw, f"MODERATOR_{kind.upper()}_{cat.upper()}")
        return cls.from_mapping(overrides, model_thresholds, policy)

    @classmethod
    def from_env(
        cls,
        model_thresholds: Mapping[str, float],
        environ: Mapping[str, str] | None = None,
        categories: Sequence[str] | None = None,
    ) -> Policy:
        """:meth:`from_settings` over ``Settings.from_env(environ)`` (the process environment by default)."""
        return cls.from_settings(model_thresholds, Settings.from_env(environ), categories)


def _number(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise PolicyError(f"{name} must be a number, not {raw!r}") from None
    if not math.isfinite(value):
        raise PolicyError(f"{name} must be finite")
    return value


def load_policy_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {p}: {exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8")) if p.suffix.lower() == ".toml" else json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PolicyError(f"invalid policy file {p}: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"policy file {p} must hold an object/table")
    return data


__all__ = ["Policy", "PolicyError", "Verdict", "load_policy_file"]
