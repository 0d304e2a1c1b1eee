"""Authors' IP addresses are kept for ``MODERATOR_IP_RETENTION_DAYS`` days: :class:`IpRetention` erases older
ones from a background thread of the service (first a minute after start, then hourly), and
``moderator authors purge-ips`` does the same from the command line (e.g. from cron). No Flask imports.

Running it in several workers or instances at once is harmless: each run is one idempotent ``UPDATE``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from moderator.service.lifecycle import purge_ips
from moderator.storage.db import write_session

log = logging.getLogger("moderator.service.retention")

FIRST_RUN_AFTER = 60.0
INTERVAL = 3600.0


def purge(factory: sessionmaker[Session], now: datetime, days: int) -> int:
    """Erase the IP addresses of comments submitted more than ``days`` days before ``now``; 0 days: none."""
    if days <= 0:
        return 0
    with write_session(factory) as session:
        return purge_ips(session, now - timedelta(days=days))


class IpRetention:
    """A daemon thread running :func:`purge` every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, factory: sessionmaker[Session], clock: Callable[[], datetime], days: int,
                 interval: float = INTERVAL, first: float = FIRST_RUN_AFTER) -> None:
        self.factory, self.clock, self.days = factory, clock, days
        self.interval, self.first = interval, first
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> IpRetention:
        self._thread = threading.Thread(target=self._run, name="moderator-ip-retention", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def run_once(self) -> int:
        n = purge(self.factory, self.clock(), self.days)
        if n:
            log.info("erased the IP addresses of %d comments older than %d days", n, self.days)
        return n

    def _run(self) -> None:
        wait = self.first
        while not self._stop.wait(wait):
            try:
                self.run_once()
            except Exception:  # the database may be down: the next run tries again
                log.warning("IP address retention run failed", exc_info=True)
            wait = self.interval


__all__ = ["IpRetention", "purge"]
