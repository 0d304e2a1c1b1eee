"""Hot reload: a running service follows a new default model without a restart or a dropped request.

Two triggers, both per worker process (every gunicorn worker has its own :class:`Reloader`):

* **watch**: before a request, at most once every ``interval`` seconds (``MODEL_RELOAD_INTERVAL``, default 5;
  0 turns it off), :meth:`Reloader.check` ``stat``s the marker the worker was started from: ``<models dir>/DEFAULT``
  (or the artifact itself when ``MODERATOR_MODEL`` names a file). When the marker changed and names another
  version, the new model is loaded in a background thread (``background``, default on) while requests go on
  with the old one. So every worker follows ``moderator promote`` within a few seconds of its next request.
* **on demand**: :meth:`Reloader.reload` checks and loads at once (the web layer's
  ``POST /v1/admin/reload-model``); the other workers follow through the watch.

The reloader knows nothing of the web framework: it reads the served state through ``current()`` and hands
a loaded, warmed-up model to ``swap(model)``, which installs a new state built over it in one assignment
(see ``moderator.web.app``). A request that already fetched the state keeps using the old model and policy
to its end, so a stored score, its flags and its ``model_version`` always agree. A model given as an object
(``MODEL`` in the app config, as tests do) has no source and is never replaced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("moderator.service.reload")

DEFAULT_INTERVAL = 5.0
RETRY_AFTER_FAILURE = 60.0


class NotReloadable(RuntimeError):
    """The service was given a model object, not a file or folder to reload from."""


def watched_source(watch: str | Path | None, model_given: bool, model_path: str | Path | None) -> Path | None:
    """What to follow: ``watch``, else ``model_path``, else the default ``models/``; nothing when the service
    was given a model object and no ``watch``."""
    from moderator.model import MODELS_DIR

    if watch:
        return Path(watch)
    if model_given:
        return None
    return Path(model_path) if model_path else MODELS_DIR


def _marker(source: Path) -> Path:
    return source / "DEFAULT" if source.is_dir() else source


def _target(source: Path) -> Path:
    from moderator.model import default_model_path

    return default_model_path(source) if source.is_dir() else source


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Reloader:
    """Follows ``source`` for one worker.

    ``current()`` returns the served state (with ``model.version`` and ``loaded_version``); ``swap(model)``
    installs a state over a loaded model and returns it.
    """

    def __init__(self, current: Callable[[], Any], swap: Callable[[Any], Any], source: Path | None,
                 interval: float = DEFAULT_INTERVAL, background: bool = True) -> None:
        self.current = current
        self.swap = swap
        self.source = source
        self.interval = float(interval)
        self.background = background
        self._check_lock = threading.Lock()
        self._swap_lock = threading.Lock()
        self._next_check = time.monotonic() + self.interval
        # A folder's DEFAULT is read once at the first check (not remembered now): a promotion between the
        # service's model load and this line would otherwise go unnoticed. Same version -> nothing is loaded.
        self._seen = _signature(source) if source is not None and source.is_file() else None
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    # ------------------------------------------------------------------ the cheap per-request check
    def check(self) -> None:
        """Called before every request: a clock comparison, and a ``stat`` every ``interval`` seconds."""
        if self.source is None or self.interval <= 0:
            return
        now = time.monotonic()
        if now < self._next_check or not self._check_lock.acquire(blocking=False):
            return
        try:
            self._next_check = now + self.interval
            sig = _signature(_marker(self.source))
            if sig == self._seen or sig is None:
                return
            if self._thread is not None and self._thread.is_alive():
                return  # a load is already under way; look again next time
            self._seen = sig
            if self.background:
                self._thread = threading.Thread(target=self._reload_logged, name="moderator-model-reload",
                                                daemon=True)
                self._thread.start()
            else:
                self._reload_logged()
        finally:
            self._check_lock.release()

    def _reload_logged(self) -> None:
        try:
            old, new, changed = self.reload()
            if changed:
                log.info("model reloaded: %s -> %s", old, new)
        except Exception as exc:  # keep serving the old model; try again later
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("model reload failed; still serving %s", self.current().model.version)
            self._seen = None
            self._next_check = time.monotonic() + max(self.interval, RETRY_AFTER_FAILURE)

    def wait(self, timeout: float = 60.0) -> None:
        """Wait for a background load to finish (tests)."""
        t = self._thread
        if t is not None:
            t.join(timeout)

    # ------------------------------------------------------------------ the reload itself
    def reload(self, force: bool = False) -> tuple[str, str, bool]:
        """Load the source's model when its version differs from the served one (or ``force``), then swap.

        Returns ``(previous version, served version, changed)``. Raises :class:`NotReloadable` without a
        source, and on a missing or broken artifact, leaving the old model in place.
        """
        if self.source is None:
            raise NotReloadable("this service was given a model object; there is no model file to reload")
        from moderator.model import load_model

        with self._swap_lock:
            old = self.current()
            path = _target(self.source)
            if not force and path.stem == old.loaded_version:
                return old.model.version, old.model.version, False
            model = load_model(path)
            model.predict_proba(["warm-up"])  # pay lazy initialisation here, not in a request
            new = self.swap(model)
            self.last_error = None
            return old.model.version, new.model.version, new.loaded_version != old.loaded_version


__all__ = ["DEFAULT_INTERVAL", "NotReloadable", "Reloader", "watched_source"]
