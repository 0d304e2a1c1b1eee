"""The moderation model: scoring and explaining comments, and its artifacts on disk.

- :mod:`~moderator.model.features` and :mod:`~moderator.model.lexicon`: text normalisation (obfuscated
  spellings, leetspeak) and the obscenity lexicon it reads;
- :mod:`~moderator.model.pipeline`: the linear model's feature pipeline (TF-IDF n-grams and lexicon counts);
- :mod:`~moderator.model.classifier`: :class:`~moderator.model.classifier.ModerationModel`, the per-category
  classifiers and, optionally, the fine-tuned encoder (:mod:`~moderator.model.encoder`);
- :mod:`~moderator.model.explain`: which words pushed a score up;
- :mod:`~moderator.model.artifact`: saving and loading ``models/<version>.joblib``.

The artifact functions are re-exported here; they import no scikit-learn until a model is loaded.
"""

from moderator.model.artifact import (
    MODELS_DIR,
    ModelLoadError,
    default_model_path,
    default_version,
    load_model,
    set_default,
)

__all__ = ["MODELS_DIR", "ModelLoadError", "default_model_path", "default_version", "load_model", "set_default"]
