"""The language check of the service: which comments the model cannot read (``moderator.model.language``).

A comment that is reliably not English is scored all the same (its scores are returned, marked with
``"language": {"code": ..., "supported": false}``) and held for a moderator with the reason
``language:<code>``. ``MODERATOR_LANGUAGE_CHECK=false`` turns the check off; ``MODERATOR_LANGUAGE_MIN_CHARS``
is the shortest text it acts on.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from moderator.model import language


def checker(settings: Any) -> Callable[[str], language.Guess] | None:
    """``text -> Guess`` under the settings, or None when the check is off."""
    if not settings.language_check:
        return None
    return partial(language.detect, min_chars=int(settings.language_min_chars))


def marking(guess: language.Guess) -> dict[str, Any]:
    """What an answer says about a text's language: ``{"code", "supported"}``."""
    return {"code": guess.code, "supported": guess.supported}


def warm_up(settings: Any) -> None:
    """Load the identifier at start-up (about 1 s) rather than on the first request."""
    if settings.language_check:
        language.warm_up()


__all__ = ["checker", "marking", "warm_up"]
