"""The review pages' webhook delivery log (admins only): ``/review/webhooks`` lists the endpoints with their
status, ``/review/webhooks/<id>`` one endpoint's deliveries (status, attempts, last answer or error).

Read-only; endpoints are managed with ``moderator webhooks`` or the admin API. The routes join the review
pages' blueprint (imported by ``views.init_app`` before it is registered), so sign-in and the security headers
apply as on every other page.
"""

from __future__ import annotations

from typing import Any

from flask import abort, g, render_template, request

from moderator.service import webhooks as svc
from moderator.storage.models import INT_MAX
from moderator.web.context import db
from moderator.web.review.views import bp

PAGE = 50


def _admin_only() -> None:
    if g.get("user_role") != "admin":
        abort(403, "The webhook delivery log is for admins.")


@bp.route("/webhooks")
def webhooks() -> Any:
    _admin_only()
    endpoints = [svc.endpoint_dict(e) for e in svc.list_endpoints(db())]
    return render_template("webhooks.html", endpoints=endpoints, endpoint=None, deliveries=None, page="webhooks")


@bp.route(f"/webhooks/<int(max={INT_MAX}):endpoint_id>")
def webhook_deliveries(endpoint_id: int) -> Any:
    _admin_only()
    session = db()
    try:
        endpoint = svc.endpoint_dict(svc.get_endpoint(session, endpoint_id))
    except svc.NotFound:
        abort(404, f"There is no webhook endpoint {endpoint_id}.")
    status = request.args.get("status")
    if status not in (None, "pending", "delivered", "failed"):
        status = None
    raw = request.args.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None
    items, next_before = svc.deliveries(session, endpoint_id, status, before, PAGE)
    return render_template("webhooks.html", endpoints=None, endpoint=endpoint, deliveries=items, status=status,
                           next_before=next_before, page="webhooks")


__all__ = ["webhook_deliveries", "webhooks"]
