"""The Flask application: ``create_app(test_config=None, settings=None)`` builds everything.

Configuration is a :class:`~moderator.config.Settings` (default ``Settings.from_env()``, read once). Each
setting has one key in ``app.config`` (:func:`config_key`: ``claim_ttl`` -> ``CLAIM_TTL``, ``home`` ->
``MODERATOR_HOME``, ``model`` -> ``MODEL_PATH``); ``test_config`` overrides a setting by that key or by its
environment variable name (``MODERATOR_CLAIM_TTL``), and the resulting settings are what the service holds
(``state.settings``). Keys besides the settings:

``MODEL``               a loaded model object (default: ``load_model(MODEL_PATH or None)``)
``POLICY``              a :class:`~moderator.service.policy.Policy` or a mapping layered over the model thresholds
                        (default: ``Policy.from_settings``)
``REFINE``              start the background refiner in deferred mode (default True; tests drive it by hand)
``MAINTENANCE``         start the hourly erasure of old IP addresses (default True; MODERATOR_IP_RETENTION_DAYS)
``DUPLICATE_DETECTOR``  a detector (or ``None`` for none); default ``moderator.dedup.detector.build_detector``
                        over the settings
``CLOCK``               a callable returning an aware UTC ``datetime`` (tests inject one)
``AUTO_MIGRATE``        create/upgrade the database at start-up (default True; cheap when already current)
``VALIDATE_RESPONSES``  validate every response against its documented schema (tests)
``MODEL_WATCH``, ``MODEL_RELOAD_INTERVAL``, ``MODEL_RELOAD_BACKGROUND``
                        what the model reloader follows, how often, in a thread (:mod:`moderator.service.reload`)

The model, policy, settings, engine, session factory, detector, clock and metrics live on
``app.extensions["moderator"]`` (a :class:`ServiceState`), with the readiness checks ``/readyz`` reports
(``state.readiness.register(name, check)`` adds a dependency) and what recent writes saw (``state.db_health``).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from moderator.config import SETTINGS, Settings
from moderator.metrics import Metrics
from moderator.service import languages
from moderator.service.policy import Policy
from moderator.service.readiness import Readiness
from moderator.service.reload import DEFAULT_INTERVAL, Reloader, watched_source
from moderator.storage.db import DatabaseHealth, DbTimeouts, make_engine, make_sessionmaker, migrate, resolve_url
from moderator.web import context

log = logging.getLogger("moderator.web.app")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ServiceState:
    model: Any
    policy: Policy
    engine: Engine
    sessionmaker: sessionmaker[Session]
    detector: Any
    clock: Callable[[], datetime]
    metrics: Metrics
    database_url: str
    settings: Settings = field(default_factory=Settings.from_env)
    # Deferred scoring (moderator.service.refine): the model with the encoder, and its policy; None otherwise.
    full_model: Any = None
    full_policy: Policy | None = None
    # The fast path (the linear view) and its policy, where submissions may get it: deferred, auto.
    fast_model: Any = None
    fast_policy: Policy | None = None
    readiness: Readiness = field(default_factory=Readiness)
    db_health: DatabaseHealth = field(default_factory=DatabaseHealth)

    @property
    def loaded_version(self) -> str:
        """The version of the loaded artifact (the served model may be its linear view)."""
        return str((self.full_model or self.model).version)


ENCODER_MODES = ("auto", "deferred", "inline", "off")
_SETTINGS = "moderator_settings"


def model_fields(app: Flask, model: Any) -> dict[str, Any]:
    """The state's ``model``/``policy`` (what is served: ``/v1/score``, ``/v1/policy``, the overview),
    ``full_model``/``full_policy`` (what the background refiner re-scores with) and ``fast_model``/``fast_policy``
    (the linear view, for submissions scored on the fast path) for a loaded model under ``ENCODER_MODE``:
    ``auto`` serves the full model and falls back to the fast path under bursts; ``deferred`` serves the
    linear view and refines in the background; ``inline`` serves the full model only; ``off`` the linear view
    only. A model without an encoder is served as it is."""
    mode = app.config["ENCODER_MODE"]
    if mode not in ENCODER_MODES:
        raise ValueError(f"MODERATOR_ENCODER_MODE must be one of {', '.join(ENCODER_MODES)}, not {mode!r}")
    none = {"full_model": None, "full_policy": None, "fast_model": None, "fast_policy": None}
    if getattr(model, "encoder", None) is None or mode == "inline":
        return {"model": model, "policy": policy_for(app, model), **none}
    serve = model.linear_view()
    if mode == "auto":  # the full model is served; submissions fall back to the fast path under bursts
        full = policy_for(app, model)
        return {"model": model, "policy": full, "full_model": model, "full_policy": full,
                "fast_model": serve, "fast_policy": policy_for(app, serve)}
    fast = policy_for(app, serve)
    if mode == "deferred":
        return {"model": serve, "policy": fast, "full_model": model, "full_policy": policy_for(app, model),
                "fast_model": serve, "fast_policy": fast}
    return {"model": serve, "policy": fast, **none}


def policy_for(app: Flask, model: Any) -> Policy:
    """The policy for ``model``: ``POLICY`` from the config (a Policy, or a mapping over the model's
    thresholds), else the policy settings."""
    given = app.config.get("POLICY")
    if given is None:
        return Policy.from_settings(model.thresholds, app.extensions[_SETTINGS], categories=model.categories)
    if isinstance(given, Policy):
        return given
    return Policy.from_mapping(given, model.thresholds)


def _install_reloader(app: Flask) -> Reloader:
    """This worker's reloader: checks before every request, swaps ``app.extensions["moderator"]`` for a copy
    of the state over the new model (and drops what was derived from the old state)."""

    def swap(model: Any) -> ServiceState:
        new = dataclasses.replace(app.extensions[context.STATE], **model_fields(app, model))
        app.extensions[context.STATE] = new
        for key in context.DERIVED_EXTENSIONS:  # rebuilt on the next request, bound to the new state
            app.extensions.pop(key, None)
        return new

    cfg = app.config
    source = watched_source(cfg.get("MODEL_WATCH"), cfg.get("MODEL") is not None, cfg.get("MODEL_PATH"))
    reloader = Reloader(lambda: app.extensions[context.STATE], swap, source,
                        float(cfg.get("MODEL_RELOAD_INTERVAL", DEFAULT_INTERVAL)),
                        bool(cfg.get("MODEL_RELOAD_BACKGROUND", True)))
    app.extensions[context.RELOADER] = reloader
    app.before_request(reloader.check)
    return reloader


# app.config key of each setting (one spelling each): the setting's name upper-cased, but for these.
_CONFIG_KEY_EXCEPTIONS = {"home": "MODERATOR_HOME", "model": "MODEL_PATH"}


def config_key(setting_name: str) -> str:
    """The app.config key of a setting (``claim_ttl`` -> ``CLAIM_TTL``, ``secret_key`` -> Flask's ``SECRET_KEY``)."""
    return _CONFIG_KEY_EXCEPTIONS.get(setting_name, setting_name.upper())


_BY_KEY = {config_key(s.name): s for s in SETTINGS}
_BY_ENV = {s.env: s for s in SETTINGS}


def _with_overrides(base: Settings, test_config: Mapping[str, Any]) -> tuple[Settings, dict[str, Any]]:
    """Fold the setting keys of ``test_config`` (config key or environment variable name, e.g. ``CLAIM_TTL`` or
    ``MODERATOR_CLAIM_TTL``) into ``base``; returns the settings and the other keys."""
    values: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in test_config.items():
        setting = _BY_KEY.get(key) or _BY_ENV.get(key)
        if setting is None:
            rest[key] = value
        elif isinstance(value, str) and setting.parse is not str:
            values[setting.name] = setting.default if value == "" else setting.parse(value)
        else:
            values[setting.name] = value
    return base.replace(**values), rest


def _config(settings: Settings) -> dict[str, Any]:
    return {
        **{config_key(s.name): getattr(settings, s.name) for s in SETTINGS},
        "REFINE": True,
        "MAINTENANCE": True,
        "AUTO_MIGRATE": True,
        "VALIDATE_RESPONSES": False,
    }


def _start_refiner(app: Flask, home: Path, url: str) -> None:
    from moderator.service.refine import Refiner

    def target() -> tuple[Any, Any] | None:
        st: ServiceState = app.extensions["moderator"]  # follows model reloads
        return None if st.full_model is None else (st.full_model, st.full_policy)

    st: ServiceState = app.extensions["moderator"]
    lock = Path(url.removeprefix("sqlite:///") + ".refiner.lock") if url.startswith("sqlite:///") else None
    if lock is not None and not lock.parent.is_dir():
        lock = home / "refiner.lock"
    cfg = app.config
    source = watched_source(cfg.get("MODEL_WATCH"), cfg.get("MODEL") is not None, cfg.get("MODEL_PATH"))
    app.extensions["moderator_refiner"] = Refiner(st.engine, st.sessionmaker, target, st.clock,
                                                  float(app.config["REFINE_INTERVAL"]), lock, source).start()


def create_app(test_config: Mapping[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    """The service over ``settings`` (default: read from the environment once); ``test_config`` overrides
    settings (by config key or environment variable name) and sets the other keys."""
    settings, extra = _with_overrides(settings or Settings.from_env(), test_config or {})
    app = Flask(__name__)
    app.config.from_mapping(_config(settings))
    app.config.update(extra)
    app.extensions[_SETTINGS] = settings
    app.json.sort_keys = False  # type: ignore[attr-defined]

    home = Path(app.config["MODERATOR_HOME"]).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    url = resolve_url(app.config["DATABASE_URL"], home)
    if app.config["AUTO_MIGRATE"]:
        migrate(url)

    model = app.config.get("MODEL")
    if model is None:
        from moderator import load_model

        model = load_model(app.config["MODEL_PATH"] or None)

    model.predict_proba(["warm-up"])  # first call pays lazy initialisation, not the first request
    languages.warm_up(settings)  # the language identifier too
    fields = model_fields(app, model)

    has_detector = "DUPLICATE_DETECTOR" in app.config
    detector = app.config["DUPLICATE_DETECTOR"] if has_detector else _default_detector(settings)

    timeouts = DbTimeouts(float(app.config["DB_CONNECT_TIMEOUT"]), float(app.config["DB_STATEMENT_TIMEOUT"]),
                          float(app.config["DB_POOL_TIMEOUT"]), float(app.config["SQLITE_BUSY_TIMEOUT"]))
    engine = make_engine(url, timeouts)
    factory = make_sessionmaker(engine)

    def queue_depth() -> int:
        from moderator.service.queue import pending_count

        with factory() as session:
            return pending_count(session)

    def refine_backlog() -> int:
        from moderator.service.queue import unrefined_count

        full = app.extensions["moderator"].full_model
        if full is None:
            return 0
        with factory() as session:
            return unrefined_count(session, str(full.version))

    state = ServiceState(
        **fields,
        engine=engine,
        sessionmaker=factory,
        detector=detector,
        clock=app.config.get("CLOCK") or utcnow,
        metrics=Metrics(queue_depth, lambda: str(app.extensions["moderator"].model.version),  # follows reloads
                        refine_backlog),
        database_url=url,
        settings=settings,
    )
    app.extensions["moderator"] = state
    state.readiness.register("database", lambda: _check_database(app.extensions["moderator"]))
    if getattr(detector, "uses_redis", False):
        # failing open the service takes comments without Redis (marked), so Redis is not required then
        state.readiness.register("redis", lambda: _check_redis(detector), required=detector.fail_closed)
    if detector is not None:
        _rebuild_detector(state)

    from moderator.web.api import errors
    from moderator.web.api import routes as api

    api.register(app)
    _install_reloader(app)  # follow a new default model (models/DEFAULT) without a restart
    if state.full_model is not None and app.config["REFINE"]:
        _start_refiner(app, home, url)
    if app.config["IP_RETENTION_DAYS"] > 0 and app.config["MAINTENANCE"]:
        from moderator.service.retention import IpRetention  # authors' IP addresses: erased when old

        app.extensions["moderator_ip_retention"] = IpRetention(factory, state.clock,
                                                               int(app.config["IP_RETENTION_DAYS"])).start()
    if app.config["WEBHOOKS_WORKER"]:
        from moderator.web.api import webhooks as webhook_api

        webhook_api.start_worker(app)  # webhook deliveries, in a background thread of this process

    from moderator.web.review import (
        views as web,  # the moderators' pages under /review: sessions, CSRF, sign-in limiter
    )

    web.init_app(app)
    for db_error in errors.DATABASE_ERRORS:  # the pages' own catch-all would answer an outage 500
        app.error_handler_spec["web"][None][db_error] = errors.database_error

    proxies = int(app.config["TRUSTED_PROXIES"] or 0)
    if proxies < 0:
        raise ValueError("MODERATOR_TRUSTED_PROXIES must be 0 or more")
    if proxies:
        # Behind N proxies the peer address is the last proxy's: take the client's from the headers they set.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    return app


def _check_database(state: ServiceState) -> str:
    """Readiness of the database: a round trip answers, and recent writes did not fail (a full disk)."""
    from moderator.storage.db import DatabaseUnavailable, unavailable_reason

    try:
        with state.sessionmaker() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        reason = unavailable_reason(exc)
        if reason is None:
            raise
        raise DatabaseUnavailable(reason) from exc
    failing = state.db_health.failing()
    if failing is not None:
        raise DatabaseUnavailable(f"writes failing: {failing}")
    return "ok"


def _check_redis(detector: Any) -> str:
    health = detector.redis_health()
    if health is not None and not health[0]:
        raise RuntimeError(health[1])
    return "ok"


def _default_detector(settings: Settings) -> Any:
    from moderator.dedup.detector import build_detector

    return build_detector(settings)


GC_FREEZE_MIN_ENTRIES = 50_000  # below this a full collection of the index is cheap: leave the collector alone


def _rebuild_detector(state: ServiceState) -> None:
    """Re-index recent comments after a restart (when the detector supports it)."""
    rebuild = getattr(state.detector, "rebuild", None)
    if rebuild is None:
        return
    from moderator.storage.models import Comment

    now = state.clock()
    retention = getattr(getattr(state.detector, "settings", None), "retention_seconds", 86400)
    since = now - timedelta(seconds=float(retention))
    with state.sessionmaker() as session:
        rows = session.execute(
            select(Comment.id, Comment.text, Comment.author_id, Comment.created_at)
            .where(Comment.created_at >= since, Comment.state.not_in(("withdrawn", "erased"))).order_by(Comment.id)
        )
        try:
            indexed = rebuild(((r[0], r[1], r[2], r[3]) for r in rows), now)
        except Exception:
            log.exception("could not rebuild the duplicate index")
            return
    if isinstance(indexed, int) and indexed >= GC_FREEZE_MIN_ENTRIES:
        # A large rebuilt index lives as long as the process: moved out of the collector's reach, full
        # collections no longer walk it (about 0.5 s each at 1M entries, docs/benchmarks.md).
        gc.collect()
        gc.freeze()


__all__ = ["ServiceState", "create_app", "utcnow"]
