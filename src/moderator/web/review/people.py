"""The review pages for people and the site's rules: an author's page (status, note, counts, history and
changes), the reported queue (pending comments with readers' reports) and the watched-word rules.

Routes join the ``/review`` blueprint of :mod:`moderator.web.review.views` (same sign-in, CSRF and security
headers); changes go through :mod:`moderator.service.authors` and :mod:`moderator.service.rules`, audited as
the signed-in moderator. Rules change only for ``admin`` accounts (as ``/v1/rules``); any moderator sees them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from moderator.service import authors, comments, reports, rules
from moderator.storage.models import AuditEvent
from moderator.web.context import db, now, site_policy, write_db
from moderator.web.review import queries as q
from moderator.web.review.views import _item_view, bp


def _author_changes(session: Any, author_id: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.target_type == "author",
                                                         AuditEvent.target_id == author_id)
                                .order_by(AuditEvent.id.desc()).limit(50)))


@bp.route("/authors/<path:author_id>")
def author_page(author_id: str) -> Any:
    if len(author_id) > 200:
        abort(404, "There is no such author.")
    s = db()
    t = now()
    row = authors.get(s, author_id)
    history = q.author_history(s, author_id, limit=25)
    if row is None and history.total == 0:
        abort(404, f"No author {author_id!r} has commented or been set.")
    return render_template("author.html", a=row, author_id=author_id, history=history,
                           info=authors.author_dict(row, t) if row is not None else None,
                           changes=_author_changes(s, author_id), statuses=authors.STATUSES, page="author",
                           here=url_for("web.author_page", author_id=author_id))


def _until_input(raw: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise authors.AuthorError("Give the end of the suspension as a date and time.", "until") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@bp.route("/authors/<path:author_id>", methods=["POST"])
def author_update(author_id: str) -> Any:
    back = url_for("web.author_page", author_id=author_id)
    status = request.form.get("status") or None
    note = (request.form.get("note") or "")[:authors.MAX_NOTE + 1]
    s = write_db()
    try:
        until = _until_input(request.form.get("until") or "") if status == "suspended" else None
        authors.set_status(s, g.actor, now(), author_id[:201], status=status, until=until,
                           note=note.strip() or None)
        s.commit()
    except authors.AuthorError as exc:
        s.rollback()
        flash(f"Not changed: {exc.message}", "error")
        return redirect(back, 303)
    flash(f"Author {author_id} saved.", "ok")
    return redirect(back, 303)


@bp.route("/reported")
def reported() -> Any:
    s = db()
    t = now()
    rows = reports.reported_pending(s, limit=50)
    ids = [c.id for _, c in rows]
    scores = comments.scores_for(s, ids)
    views = [_item_view(item, c, scores[c.id], t) for item, c in rows]
    summaries = reports.summaries(s, ids)
    detail = {cid: reports.for_comment(s, cid) for cid in ids}
    return render_template("reported.html", views=views, summaries=summaries, detail=detail, page="reported",
                           here=url_for("web.reported"))


@bp.route("/rules")
def rules_page() -> Any:
    s = db()
    return render_template("rules.html", rules=rules.all_rules(s), version=rules.current_version(s),
                           kinds=rules.KINDS, rule_actions=rules.ACTIONS, page="rules",
                           may_edit=g.user_role == "admin")


def _admin_only() -> None:
    if g.user_role != "admin":
        abort(403, "Only admin accounts change the rules.")


@bp.route("/rules", methods=["POST"])
def rules_add() -> Any:
    _admin_only()
    s = write_db()
    try:
        rule = rules.add_rule(s, g.actor, now(), request.form.get("kind", ""),
                              (request.form.get("pattern") or "")[:rules.MAX_PATTERN + 1],
                              request.form.get("action", ""), (request.form.get("note") or "").strip()[:2000] or None)
        s.commit()
    except rules.RuleError as exc:
        s.rollback()
        flash(f"Rule not added: {exc.message}", "error")
        return redirect(url_for("web.rules_page"), 303)
    site_policy().rulebook.invalidate()
    flash(f"Rule {rule.id} added: {rule.kind} “{rule.pattern}” → {rule.action}.", "ok")
    return redirect(url_for("web.rules_page"), 303)


@bp.route("/rules/<int:rule_id>/delete", methods=["POST"])
def rules_remove(rule_id: int) -> Any:
    _admin_only()
    s = write_db()
    try:
        rules.remove_rule(s, g.actor, now(), rule_id)
        s.commit()
    except rules.RuleNotFound:
        s.rollback()
        flash(f"There is no rule {rule_id}.", "error")
        return redirect(url_for("web.rules_page"), 303)
    site_policy().rulebook.invalidate()
    flash(f"Rule {rule_id} removed.", "ok")
    return redirect(url_for("web.rules_page"), 303)


__all__ = ["author_page", "reported", "rules_page"]
