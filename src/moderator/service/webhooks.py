"""Webhook endpoints: adding, listing, removing, rotating secrets, redelivering; signing; the SSRF guard.
No Flask imports (the admin API and the ``moderator webhooks`` commands both use it).

Signing follows the Standard Webhooks specification (https://www.standardwebhooks.com): each request
carries ``webhook-id`` (the event's id, the same on every retry), ``webhook-timestamp`` (Unix seconds of the
attempt) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, computed by the
``standardwebhooks`` reference library with the endpoint's secret (``whsec_<base64 of 32 random bytes>``).
After a rotation the previous secret signs too, space-separated, for ``MODERATOR_WEBHOOK_SECRET_GRACE_HOURS``,
so a receiver can switch secrets without dropping a delivery.

Server-side request forgery: :class:`Guard` refuses a URL whose scheme is not http(s), or whose host resolves
to a link-local or cloud-metadata address (169.254.0.0/16, fe80::/10, fd00:ec2::254, also written as
IPv4-mapped IPv6) or to the service's own listening address (``MODERATOR_BIND``). It checks when an endpoint
is added, and the delivery worker checks again at every connection, on the very address it connects to
(DNS can change). Loopback and private addresses are allowed: a site's backend often runs beside the service.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from moderator.service import audit, events, feed
from moderator.service.audit import Actor
from moderator.storage.models import INT_MAX, Event, WebhookDelivery, WebhookEndpoint

SECRET_PREFIX = "whsec_"
STATUSES = ("active", "failing", "disabled")
MAX_URL = 2000
_AUTHOR_EVENT = re.compile(r"author\.[a-z_]{1,50}")


class WebhookError(Exception):
    """Bad input to a webhook operation; ``code`` is stable, ``field`` names the input at fault."""

    code = "invalid_value"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(WebhookError):
    code = "not_found"


class UnsafeUrl(WebhookError):
    """The URL is refused (scheme, or an address the service must not call)."""

    code = "unsafe_url"


# ---------------------------------------------------------------- the SSRF guard

BLOCKED_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),  # IPv4 link-local, incl. the cloud metadata address 169.254.169.254
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS's IPv6 metadata address
)
DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_local_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``ip`` is an address of this machine: binding a socket to it succeeds only then."""
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((str(ip), 0))
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class Guard:
    """Which addresses webhook deliveries may connect to. ``bind``: the service's own ``HOST:PORT``."""

    bind: str = "127.0.0.1:8000"

    def _own(self) -> tuple[set[str], bool, int] | None:
        """(addresses of the bind host, whether it is a wildcard, port); None when unparsable."""
        host, _, port_s = self.bind.rpartition(":")
        host = host.strip("[]") or "0.0.0.0"
        if not port_s.isdigit():
            return None
        try:
            wildcard = ipaddress.ip_address(host).is_unspecified
        except ValueError:
            wildcard = False
        addrs = set() if wildcard else {_norm(a[4][0]) for a in _resolve(host, int(port_s))}
        return addrs, wildcard, int(port_s)

    def check_address(self, address: str, port: int) -> None:
        """Refuse (:class:`UnsafeUrl`) connecting to ``address``:``port``."""
        ip = ipaddress.ip_address(_norm(address))
        mapped = getattr(ip, "ipv4_mapped", None)
        for candidate in (ip, mapped) if mapped is not None else (ip,):
            if any(candidate in net for net in BLOCKED_NETWORKS if net.version == candidate.version):
                raise UnsafeUrl(f"the URL resolves to {address}, a link-local or cloud-metadata address", "url")
        own = self._own()
        if own is not None:
            addrs, wildcard, own_port = own
            target = mapped or ip
            if port == own_port and (str(target) in addrs or target.is_unspecified
                                     or (wildcard and _is_local_address(target))):
                raise UnsafeUrl(f"the URL points at this service's own address ({address}:{port})", "url")

    def check_url(self, url: str, resolve: bool = True) -> tuple[str, str, int]:
        """(scheme, host, port) of an acceptable URL; every address its host resolves to is checked."""
        if len(url) > MAX_URL:
            raise WebhookError(f"the URL is longer than {MAX_URL} characters", "url")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise WebhookError(f"not a valid URL: {exc}", "url") from None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise UnsafeUrl("only http and https URLs are allowed", "url")
        host = parts.hostname
        if not host:
            raise WebhookError("the URL has no host", "url")
        port = port or DEFAULT_PORTS[scheme]
        if resolve:
            try:
                found = _resolve(host, port)
            except (OSError, UnicodeError, ValueError) as exc:  # a name that cannot be encoded is also an error
                raise WebhookError(f"cannot resolve {host[:100]!r}: {exc}", "url") from None
            for info in found:
                self.check_address(info[4][0], port)
        return scheme, host, port


def _norm(address: str) -> str:
    return address.split("%", 1)[0]  # an IPv6 scope (fe80::1%eth0)


def _resolve(host: str, port: int) -> list[Any]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


# ---------------------------------------------------------------- secrets and signing


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one within its grace period."""
    out = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        out.append(endpoint.previous_secret)
    return out


def sign(secrets_: Sequence[str], msg_id: str, sent_at: datetime, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per secret, space-separated."""
    from standardwebhooks.webhooks import Webhook

    return " ".join(Webhook(s).sign(msg_id, sent_at, body) for s in secrets_)


# ---------------------------------------------------------------- managing endpoints


def known_event_types() -> tuple[str, ...]:
    return (*events.COMMENT_EVENTS, *getattr(events, "AUTHOR_EVENTS", ()))


def check_event_types(types: Sequence[str] | None) -> list[str] | None:
    """The event filter as stored: None (every event) or known types without repeats."""
    if types is None:
        return None
    out: list[str] = []
    known = known_event_types()
    for t in types:
        if t not in known and not _AUTHOR_EVENT.fullmatch(t):
            raise WebhookError(f"unknown event type {t[:60]!r}; known: {', '.join(known)} (and author.*)", "events")
        if t not in out:
            out.append(t)
    if not out:
        raise WebhookError("give at least one event type, or none at all for every event", "events")
    return out


def endpoint_dict(e: WebhookEndpoint) -> dict[str, Any]:
    """An endpoint as the API and the CLI show it (never its secret)."""
    return {
        "id": e.id,
        "url": e.url,
        "events": e.events,
        "description": e.description,
        "status": e.status,
        "consecutive_failures": e.consecutive_failures,
        "last_success_at": feed_iso(e.last_success_at),
        "last_failure_at": feed_iso(e.last_failure_at),
        "secret_rotated_until": feed_iso(e.previous_secret_until),
        "created_at": feed_iso(e.created_at),
    }


def feed_iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def add_endpoint(session: Session, url: str, types: Sequence[str] | None, guard: Guard, actor: Actor,
                 now: datetime, description: str | None = None) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint; returns it and its secret (shown once)."""
    guard.check_url(url)
    stored_types = check_event_types(types)
    secret = new_secret()
    endpoint = WebhookEndpoint(url=url, events=stored_types, description=description, secret=secret,
                               previous_secret=None, previous_secret_until=None, status="active",
                               consecutive_failures=0, created_at=now, updated_at=now)
    session.add(endpoint)
    session.flush()
    audit.record(session, actor, "webhook.add", now, "webhook", endpoint.id, {"url": url, "events": stored_types})
    return endpoint, secret


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    found = session.get(WebhookEndpoint, endpoint_id) if 0 < endpoint_id <= INT_MAX else None
    if found is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}", "id")
    return found


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def remove_endpoint(session: Session, endpoint_id: int, actor: Actor, now: datetime) -> None:
    """Delete an endpoint and its delivery log."""
    endpoint = get_endpoint(session, endpoint_id)
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)
    audit.record(session, actor, "webhook.remove", now, "webhook", endpoint_id, {"url": endpoint.url})


def rotate_secret(session: Session, endpoint_id: int, grace: timedelta, actor: Actor,
                  now: datetime) -> tuple[WebhookEndpoint, str]:
    """A new secret; the old one keeps signing alongside it for ``grace``."""
    endpoint = get_endpoint(session, endpoint_id)
    secret = new_secret()
    endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, now + grace
    endpoint.secret, endpoint.updated_at = secret, now
    audit.record(session, actor, "webhook.rotate_secret", now, "webhook", endpoint_id,
                 {"previous_valid_until": (now + grace).isoformat()})
    return endpoint, secret


def set_status(session: Session, endpoint_id: int, status: str, actor: Actor, now: datetime) -> WebhookEndpoint:
    """Disable an endpoint (nothing is sent to it; its deliveries wait) or make it active again."""
    if status not in ("active", "disabled"):
        raise WebhookError("status must be active or disabled", "status")
    endpoint = get_endpoint(session, endpoint_id)
    endpoint.status, endpoint.updated_at = status, now
    if status == "active":
        endpoint.consecutive_failures = 0
    audit.record(session, actor, f"webhook.{'enable' if status == 'active' else 'disable'}", now, "webhook",
                 endpoint_id)
    return endpoint


def redeliver(session: Session, ident: str, actor: Actor, now: datetime,
              endpoint_id: int | None = None) -> list[int]:
    """Send again: ``evt_<n>`` (an event: all its deliveries, or to ``endpoint_id``, creating the delivery if
    the event was never sent there) or ``<n>`` (one delivery). Returns the delivery ids, due now."""
    ids: list[int]
    if ident.startswith("evt_"):
        eid = feed.parse_event_id(ident)
        event = session.get(Event, eid) if eid is not None and eid <= INT_MAX else None
        if event is None:
            raise NotFound(f"no event {ident[:40]!r}", "id")
        stmt = select(WebhookDelivery.id).where(WebhookDelivery.event_id == event.id)
        if endpoint_id is not None:
            get_endpoint(session, endpoint_id)
            stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
        ids = list(session.scalars(stmt))
        if not ids and endpoint_id is not None:
            row = WebhookDelivery(event_id=event.id, endpoint_id=endpoint_id, status="pending", attempts=0,
                                  next_attempt_at=now, created_at=now)
            session.add(row)
            session.flush()
            ids = [row.id]
    else:
        did = feed.parse_event_id(ident) if ident.isdigit() else None
        found = session.get(WebhookDelivery, did) if did is not None and did <= INT_MAX else None
        if found is None:
            raise NotFound(f"no delivery {ident[:40]!r} (give a delivery id, or evt_<n> for an event)", "id")
        ids = [found.id]
    if not ids:
        raise NotFound(f"event {ident[:40]!r} has no deliveries; name an endpoint to send it to", "id")
    session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                    .values(status="pending", attempts=0, next_attempt_at=now, delivered_at=None)
                    .execution_options(synchronize_session=False))
    audit.record(session, actor, "webhook.redeliver", now, "webhook_delivery", ",".join(map(str, ids))[:100])
    return ids


def delivery_dict(d: WebhookDelivery, event_type: str | None = None) -> dict[str, Any]:
    return {
        "id": d.id,
        "event_id": f"evt_{d.event_id}",
        "event_type": event_type,
        "endpoint_id": d.endpoint_id,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": feed_iso(d.next_attempt_at) if d.status == "pending" else None,
        "last_attempt_at": feed_iso(d.last_attempt_at),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "delivered_at": feed_iso(d.delivered_at),
        "created_at": feed_iso(d.created_at),
    }


def deliveries(session: Session, endpoint_id: int, status: str | None = None, before: int | None = None,
               limit: int = 50) -> tuple[list[dict[str, Any]], int | None]:
    """The endpoint's delivery log, newest first; returns the page and the id to continue before."""
    get_endpoint(session, endpoint_id)
    stmt = (select(WebhookDelivery, Event.type).join(Event, Event.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.endpoint_id == endpoint_id))
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if before is not None:
        stmt = stmt.where(WebhookDelivery.id < before)
    rows = list(session.execute(stmt.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return [delivery_dict(d, t) for d, t in rows], (rows[-1][0].id if more and rows else None)


__all__ = ["BLOCKED_NETWORKS", "STATUSES", "Guard", "NotFound", "UnsafeUrl", "WebhookError", "add_endpoint",
           "check_event_types", "deliveries", "delivery_dict", "endpoint_dict", "get_endpoint",
           "known_event_types", "list_endpoints", "new_secret", "redeliver", "remove_endpoint", "rotate_secret",
           "set_status", "sign", "signing_secrets"]
