"""moderator: self-hosted comment moderation.

Public interface::

    from moderator import load_model
    model = load_model()
    model.predict_proba(["some comment"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = ["CATEGORIES", "__version__", "load_model"]

CATEGORIES: tuple[str, ...] = ("hate_speech", "obscenity", "personal_attack", "spam")

if TYPE_CHECKING:  # pragma: no cover
    from moderator.model.classifier import ModerationModel


def load_model(path: str | None = None) -> ModerationModel:
    """Load a trained model: ``path``, else ``$MODERATOR_MODEL``, else the shipped default in ``models/``.

    Imported lazily so that ``import moderator`` stays cheap (no scikit-learn import at package import time).
    """
    from moderator.model.artifact import load_model as _load

    return _load(path)
