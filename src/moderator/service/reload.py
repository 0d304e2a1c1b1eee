"""Hot reload: a running service follows a new default model without a restart or a dropped request.

Two triggers, both per worker process (every gunicorn worker has its own :class:`Reloader`):

* **watch**: before a request, at most once every ``MODEL_RELOAD_INTERVAL`` seconds (default 5; 0 turns
  it off), the worker ``stat``s the marker it was started from: ``<models dir>/DEFAULT`` (or the artifact
  itself when ``MODERATOR_MODEL`` names a file). When the marker changed and names another version, the new
  model is loaded in a background thread (``MODEL_RELOAD_BACKGROUND``, default on) while requests go on
  with the old one. So every worker follows ``moderator promote`` within a few seconds of its next request.
* **admin endpoint**: ``POST /v1/admin/reload-model`` (admin role, audited as ``model.reload``) checks and
  loads at once in the worker that answers; the other workers follow through the watch.

The swap is atomic: the new model is loaded completely and warmed up first, then one assignment replaces
``app.extensions["moderator"]`` with a copy of the :class:`~moderator.web.app.ServiceState` holding the new model
and the policy rebuilt over its thresholds. A request that already fetched the state keeps using the old
model and policy to its end, so a stored score, its flags and its ``model_version`` always agree. Code must
therefore fetch the state per request (``api.state()``) rather than keep it; per-state caches in
``app.extensions`` (the batch scorer) are listed in :data:`DERIVED_EXTENSIONS` and dropped at the swap.
A model given as an object (``MODEL`` in the app config, as tests do) is never replaced.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response
from pydantic import BaseModel, ConfigDict

from moderator.service import audit
from moderator.web.api import routes as api

log = logging.getLogger("moderator.service.reload")

DEFAULT_INTERVAL = 5.0
RETRY_AFTER_FAILURE = 60.0
EXTENSION = "moderator_reloader"
# app.extensions entries built from one ServiceState (api.scorer()'s BatchScorer holds the state it was made
# with): dropped at a swap so that the next request builds them over the new state.
DERIVED_EXTENSIONS = ("moderator_scorer",)


class NotReloadable(RuntimeError):
    """The app was given a model object, not a file or folder to reload from."""


def watched_source(config: Any) -> Path | None:
    """What to follow: ``MODEL_WATCH``, else ``MODEL_PATH`` / ``$MODERATOR_MODEL``, else ``models/``; nothing
    when the app was given a model object without ``MODEL_WATCH``."""
    from moderator.model import MODELS_DIR

    if config.get("MODEL_WATCH"):
        return Path(config["MODEL_WATCH"])
    if config.get("MODEL") is not None:
        return None
    return Path(config["MODEL_PATH"]) if config.get("MODEL_PATH") else MODELS_DIR


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


def policy_for(app: Flask, model: Any) -> Any:
    """The policy the app would have built at start-up for ``model`` (same rules as ``create_app``)."""
    from moderator.service.policy import Policy

    given = app.config.get("POLICY")
    if given is None:
        return Policy.from_env(model.thresholds, categories=model.categories)
    if isinstance(given, Policy):
        return given
    return Policy.from_mapping(given, model.thresholds)


class Reloader:
    def __init__(self, app: Flask, source: Path | None, interval: float = DEFAULT_INTERVAL,
                 background: bool = True) -> None:
        self.app = app
        self.source = source
        self.interval = float(interval)
        self.background = background
        self._check_lock = threading.Lock()
        self._swap_lock = threading.Lock()
        self._next_check = time.monotonic() + self.interval
        # A folder's DEFAULT is read once at the first check (not remembered now): a promotion between the
        # app's model load and this line would otherwise go unnoticed. Same version -> nothing is loaded.
        self._seen = _signature(source) if source is not None and source.is_file() else None
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def state(self) -> Any:
        return self.app.extensions["moderator"]

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
            log.exception("model reload failed; still serving %s", self.state.model.version)
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

        Returns ``(previous version, served version, changed)``. Raises on a missing or broken artifact,
        leaving the old model in place.
        """
        if self.source is None:
            raise NotReloadable("this service was given a model object; there is no model file to reload")
        from moderator.model import load_model

        with self._swap_lock:
            old = self.state
            path = _target(self.source)
            if not force and path.stem == old.loaded_version:
                return old.model.version, old.model.version, False
            model = load_model(path)
            model.predict_proba(["warm-up"])  # pay lazy initialisation here, not in a request
            from moderator.web.app import model_fields

            self.app.extensions["moderator"] = dataclasses.replace(old, **model_fields(self.app, model))
            for key in DERIVED_EXTENSIONS:  # rebuilt on the next request, bound to the new state
                self.app.extensions.pop(key, None)
            self.last_error = None
            new = self.app.extensions["moderator"]
            return old.model.version, new.model.version, new.loaded_version != old.loaded_version


def install(app: Flask) -> Reloader:
    """Create the app's reloader and run its check before every request."""
    reloader = Reloader(app, watched_source(app.config),
                        float(app.config.get("MODEL_RELOAD_INTERVAL", DEFAULT_INTERVAL)),
                        bool(app.config.get("MODEL_RELOAD_BACKGROUND", True)))
    app.extensions[EXTENSION] = reloader
    app.before_request(reloader.check)
    return reloader


def reloader_of(app: Flask) -> Reloader:
    return app.extensions[EXTENSION]


# ---------------------------------------------------------------- admin endpoint


class ReloadResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_version: str
    previous_version: str
    changed: bool


@api.endpoint(api.v1, "/admin/reload-model", "POST", summary="Load the current default model now (this worker; "
              "the others follow within MODEL_RELOAD_INTERVAL seconds)", roles=("admin",),
              response=ReloadResponse, errors=(401, 403, 409))
def reload_model() -> Response:
    from flask import current_app, g

    from moderator.model import ModelLoadError

    reloader = reloader_of(current_app)  # type: ignore[arg-type]
    try:
        old, new, changed = reloader.reload()
    except NotReloadable as exc:
        raise api.ApiError(409, "not_reloadable", str(exc)) from None
    except ModelLoadError as exc:  # missing or broken artifact: the old model stays
        raise api.ApiError(409, "model_unavailable", str(exc)) from None
    session = api.write_db()
    audit.record(session, g.actor, "model.reload", api.now(), "model", new,
                 {"from": old, "to": new, "changed": changed})
    session.commit()
    return api.ok(ReloadResponse, {"model_version": new, "previous_version": old, "changed": changed})


__all__ = ["NotReloadable", "ReloadResponse", "Reloader", "install", "policy_for", "reloader_of",
           "watched_source"]
