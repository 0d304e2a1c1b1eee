"""Test doubles shared by several test modules: clocks, a stub model saved as a real artifact, its app.

Import them with ``from helpers import ...`` (pytest puts ``tests/`` on the path); fixtures stay in
``conftest.py``.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- clocks


@dataclass
class Clock:
    """The service's clock (``CLOCK`` in the app config): a settable UTC datetime."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now = self.now + timedelta(seconds=seconds)


class FakeClock:
    """Epoch seconds that a test sets: stands in for the ``time`` module (``.time()``) or a clock callable."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- stub model artifacts

STUB_MODULE = "moderator_feedback_stub"

STUB_SOURCE = '''
from moderator import CATEGORIES

KEYWORDS = {"hate_speech": "vermin", "obscenity": "fuck", "personal_attack": "idiot", "spam": "buy"}


class StubModel:
    """Keyword scores: p = 0.9 when the category's keyword occurs, else ``base``."""

    def __init__(self, version: str, base: float = 0.05, thresholds: dict[str, float] | None = None) -> None:
        self.version = version
        self.base = base
        self.thresholds = thresholds or {c: 0.5 for c in CATEGORIES}
        self.metadata = {"version": version}

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(CATEGORIES)

    def predict_proba(self, texts: list[str]) -> list[dict[str, float]]:
        return [{c: (0.9 if KEYWORDS[c] in t.lower() else self.base) for c in CATEGORIES} for t in texts]

    def flags(self, scores: dict[str, float]) -> list[str]:
        return [c for c in CATEGORIES if scores[c] >= self.thresholds[c]]

    def explain(self, text: str, category: str, top: int = 10) -> list[dict[str, object]]:
        return []
'''


def stub_module(folder: Path) -> ModuleType:
    """Import (once per process) the stub model module written into ``folder``.

    The stub lives in a module of its own, outside ``tests/``, so that its pickled artifacts load in any
    process that has ``folder`` on its path (``moderator serve`` in a subprocess too).
    """
    if STUB_MODULE in sys.modules:
        return sys.modules[STUB_MODULE]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{STUB_MODULE}.py").write_text(STUB_SOURCE)
    sys.path.insert(0, str(folder))
    return importlib.import_module(STUB_MODULE)


def save_stub(directory: Path, version: str, make_default: bool = False, **kw: Any) -> Path:
    """Write a stub model as a real artifact (same format as ModerationModel.save); needs :func:`stub_module`."""
    import pickle

    import joblib

    from moderator.model.artifact import FORMAT_VERSION, set_default

    mod = sys.modules[STUB_MODULE]
    model = mod.StubModel(version, **kw)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{version}.joblib"
    joblib.dump({"format": FORMAT_VERSION, "version": version, "payload": pickle.dumps(model)}, path)
    if make_default:
        set_default(directory, version)
    return path


def make_reload_app(tmp_path: Path, models_dir: Path, **config: Any) -> Any:
    """An app serving the default model of ``models_dir`` (SQLite in ``tmp_path``), reloading it on demand."""
    from moderator.web.app import create_app

    cfg = {"TESTING": True, "MODERATOR_HOME": str(tmp_path / "home"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'moderator.db'}", "MODEL_PATH": str(models_dir),
           "DUPLICATE_DETECTOR": None, "CLOCK": Clock(), "VALIDATE_RESPONSES": True,
           "MODEL_RELOAD_INTERVAL": 0.05, "MODEL_RELOAD_BACKGROUND": False, **config}
    return create_app(cfg)


__all__ = ["STUB_MODULE", "T0", "Clock", "FakeClock", "make_reload_app", "save_stub", "stub_module"]
