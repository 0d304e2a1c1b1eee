"""The site's reasons for rejecting a comment: the choices the review pages offer and ``GET /v1/policy`` lists.

Configured by the policy file's ``reject_reasons`` (a list of ``{"code", "label", "category"}`` objects;
``category`` optional, one of the model's categories or absent/null); the default is the five below. A reason
with a category names it when a moderator rejects for it, which the feedback export turns into a training
label; a reason without one (``other``) asks the moderator to say why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RejectReason:
    code: str
    label: str
    category: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label, "category": self.category}


DEFAULT_REJECT_REASONS: tuple[RejectReason, ...] = (
    RejectReason("hate_speech", "Hate speech", "hate_speech"),
    RejectReason("obscenity", "Obscenity", "obscenity"),
    RejectReason("personal_attack", "Personal attack", "personal_attack"),
    RejectReason("spam", "Spam / duplicate", "spam"),
    RejectReason("other", "Other (say why)", None),
)

_CODE = re.compile(r"[a-z0-9_][a-z0-9_.-]{0,63}")


class ReasonsError(ValueError):
    """An invalid ``reject_reasons`` list (raised while the policy is read, at start-up)."""


def parse(data: Any, categories: Iterable[str]) -> tuple[RejectReason, ...]:
    """The reasons of a policy file's ``reject_reasons`` value; :class:`ReasonsError` for anything else."""
    known = set(categories)
    if not isinstance(data, list) or not data:
        raise ReasonsError("reject_reasons must be a non-empty list of {code, label, category} objects")
    out: list[RejectReason] = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or set(entry) - {"code", "label", "category"}:
            raise ReasonsError(f"reject_reasons[{i}] must be an object with code, label and optional category")
        code, label, cat = entry.get("code"), entry.get("label"), entry.get("category")
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise ReasonsError(f"reject_reasons[{i}].code must be 1-64 of a-z 0-9 _ . - (starting a-z 0-9 _)")
        if not isinstance(label, str) or not 0 < len(label.strip()) <= 100:
            raise ReasonsError(f"reject_reasons[{i}].label must be a text of 1 to 100 characters")
        if cat is not None and cat not in known:
            raise ReasonsError(f"reject_reasons[{i}].category must be one of {sorted(known)} or absent")
        out.append(RejectReason(code, label.strip(), cat))
    codes = [r.code for r in out]
    if len(set(codes)) != len(codes):
        raise ReasonsError("reject_reasons has a code twice")
    return tuple(out)


def category_of(reasons: Sequence[RejectReason]) -> dict[str, str | None]:
    """``{code: category or None}``: what the review pages check a chosen reason against."""
    return {r.code: r.category for r in reasons}


__all__ = ["DEFAULT_REJECT_REASONS", "ReasonsError", "RejectReason", "category_of", "parse"]
