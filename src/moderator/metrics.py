"""Prometheus metrics, correct with several gunicorn workers.

* Counters and histograms (requests, latencies, decisions) use prometheus_client's multiprocess mode when
  ``PROMETHEUS_MULTIPROC_DIR`` is set (``moderator serve`` sets it to ``$MODERATOR_HOME/prometheus``, empties
  it at start and marks dead workers); otherwise they live in a registry private to the app.
* Gauges that describe shared state are computed from the database at scrape time, so they are right no
  matter which worker answers: ``moderator_queue_depth`` (pending review items) and ``moderator_model_info``.
* ``moderator_dependency_up{dependency}`` is each process's own view of a dependency (``redis``; the same
  gauge serves ``database``): 1 when its last use succeeded, 0 when it failed; absent until first used. With
  several workers the lowest live worker's value is shown (``livemin``), so one worker that cannot reach
  Redis shows as 0.

``/metrics`` is open (no API key), like ``/healthz``: restrict it at the network level if needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from moderator.config import env_value

log = logging.getLogger("moderator.metrics")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def multiprocess_dir() -> str | None:
    return env_value("prometheus_multiproc_dir") or None


# Process-wide (a dependency's reachability does not depend on which app in the process asks); in no
# registry of its own: each app's Metrics exposes it.
DEPENDENCY_UP = Gauge("moderator_dependency_up", "1 when this process's last use of the dependency succeeded, "
                      "0 when it failed", ["dependency"], multiprocess_mode="livemin", registry=None)


def set_dependency_up(dependency: str, up: bool) -> None:
    """Report whether ``dependency`` (``"redis"``, ``"database"``) answered its last use."""
    DEPENDENCY_UP.labels(dependency).set(1.0 if up else 0.0)


class _StateCollector(Collector):
    def __init__(self, queue_depth: Callable[[], int], model_version: Callable[[], str],
                 refine_backlog: Callable[[], int] | None = None) -> None:
        self.queue_depth = queue_depth
        self.model_version = model_version
        self.refine_backlog = refine_backlog

    def collect(self) -> Iterator[Any]:
        yield _gauge("moderator_queue_depth", "Pending review items (from the database)", self.queue_depth)
        info = GaugeMetricFamily("moderator_model_info", "The model being served", labels=["version"])
        info.add_metric([self.model_version()], 1.0)
        yield info
        if self.refine_backlog is not None:
            yield _gauge("moderator_refine_backlog",
                         "Pending review items not yet re-scored by the full model (deferred scoring)",
                         self.refine_backlog)


def _gauge(name: str, documentation: str, read: Callable[[], int]) -> GaugeMetricFamily:
    """A gauge read at scrape time; NaN (and a warning) when the database cannot answer."""
    gauge = GaugeMetricFamily(name, documentation)
    try:
        gauge.add_metric([], float(read()))
    except Exception as exc:
        log.warning("%s unavailable: %s", name, exc)
        gauge.add_metric([], float("nan"))
    return gauge


class Metrics:
    def __init__(self, queue_depth: Callable[[], int], model_version: Callable[[], str],
                 refine_backlog: Callable[[], int] | None = None) -> None:
        self._mp_dir = multiprocess_dir()
        # In multiprocess mode values go to the shared files whatever the registry; keep them out of any
        # global registry so that several apps in one process (tests) never clash.
        self._registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("moderator_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self._registry)
        self.latency = Histogram("moderator_request_seconds", "Request latency", ["method", "route"],
                                 buckets=LATENCY_BUCKETS, registry=self._registry)
        self.decisions = Counter("moderator_decisions", "Decisions by source (submission policy or moderator) "
                                 "and outcome", ["source", "outcome"], registry=self._registry)
        self.intake = Counter("moderator_intake_scored", "Submissions by what scored them at intake: fast (the "
                              "linear model, re-scored later by the full model) or full (scores that stay)", ["path"],
                              registry=self._registry)
        self._registry.register(DEPENDENCY_UP)
        self._state = _StateCollector(queue_depth, model_version, refine_backlog)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def decision(self, source: str, outcome: str) -> None:
        self.decisions.labels(source, outcome).inc()

    def scored_at_intake(self, path: str) -> None:
        """One submission scored at intake by the ``"full"`` model or on the ``"fast"`` path."""
        self.intake.labels(path).inc()

    def render(self) -> tuple[bytes, str]:
        if self._mp_dir:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self._mp_dir)
        else:
            registry = CollectorRegistry()
            registry.register(_RegistryProxy(self._registry))
        registry.register(self._state)
        return generate_latest(registry), CONTENT_TYPE_LATEST


class _RegistryProxy(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        yield from self.registry.collect()


__all__ = ["DEPENDENCY_UP", "Metrics", "multiprocess_dir", "set_dependency_up"]
