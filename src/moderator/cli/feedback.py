"""CLI commands of the feedback loop: ``export-labels``, ``compare``, ``promote``, ``rescore``.

The loop (``docs/feedback-loop.md``)::

    moderator export-labels --out feedback.jsonl
    moderator train --feedback feedback.jsonl --output models/candidates --no-default
    moderator compare <candidate> --feedback feedback.jsonl
    moderator promote <candidate> --feedback feedback.jsonl [--tolerance 0.01] [--force --reason ...] [--rescore]

Running services follow the new default within a few seconds (:mod:`moderator.service.reload`).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from moderator.cli.context import cli_actor, open_database, require_database, settings
from moderator.training.promotion import DEFAULT_MIN_SUPPORT, DEFAULT_TOLERANCE


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("must be an ISO 8601 date or date-time (UTC when no offset)",
                                 param_hint=name) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# ---------------------------------------------------------------- export-labels


@click.command("export-labels")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="JSON-lines file to write ('-' for standard output).")
@click.option("--since", default=None, help="Only decisions at or after this ISO date/date-time (UTC).")
@click.option("--until", default=None, help="Only decisions before this ISO date/date-time (exclusive).")
@click.option("--database-url", default=None,
              help="Database to read (default: DATABASE_URL, else SQLite in $MODERATOR_HOME, like the service).")
def export_labels(out: str, since: str | None, until: str | None, database_url: str | None) -> None:
    """Write moderators' decisions as a labelled corpus (JSON lines; see docs/feedback-loop.md)."""
    from moderator.storage.db import make_engine, make_sessionmaker, resolve_url
    from moderator.training.feedback import ExportStats, export_rows, write_jsonl

    start, end = _when(since, "--since"), _when(until, "--until")
    url = require_database(resolve_url(database_url, ".") if database_url else None)
    stats = ExportStats()
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = export_rows(session, start, end, stats)
            if out == "-":
                for row in rows:
                    sys.stdout.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            else:
                write_jsonl(rows, out)
    except Exception as exc:
        if isinstance(exc, click.ClickException):
            raise
        raise click.ClickException(f"cannot export from the database: {type(exc).__name__}: {exc}") from exc
    finally:
        engine.dispose()
    click.echo(json.dumps({"out": out, **stats.to_dict()}), err=True)


# ---------------------------------------------------------------- compare


def _load(ref: str, directory: Path) -> tuple[Any, Path]:
    from moderator.model import ModelLoadError, load_model
    from moderator.training.promotion import resolve_model_path

    try:
        path = resolve_model_path(ref, directory)
        return load_model(path), path
    except ModelLoadError as exc:
        raise click.ClickException(str(exc)) from exc


def _comparison(candidate: Any, cand_path: Path, current: Any, cur_path: Path, feedback: str | None,
                data_dir: str | None, validation_sample: int | None, validation: bool) -> dict[str, Any]:
    from moderator.training.feedback import FeedbackError
    from moderator.training.promotion import compare_models, evaluation_sets

    try:
        sets = evaluation_sets(candidate, current, data_dir=data_dir, feedback=feedback,
                               validation_sample=validation_sample, validation=validation)
    except FeedbackError as exc:
        raise click.ClickException(str(exc)) from exc
    if "validation" not in sets and validation:
        click.echo("warning: labelled corpora not found: the public validation split is not compared "
                   "(set --data-dir or MODERATOR_DATA_DIR)", err=True)
    return compare_models(candidate, current, sets, cand_path, cur_path)


def _eval_options(fn: Any) -> Any:
    for opt in reversed([
        click.option("--models-dir", type=click.Path(file_okay=False), default=None,
                     help="The served models folder (default: $MODERATOR_MODEL when a folder, else models/)."),
        click.option("--feedback", default=None,
                     help="Feedback (export-labels file or database URL): its held-back slice is compared."),
        click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Corpora directory."),
        click.option("--validation-sample", type=click.IntRange(1), default=None,
                     help="At most N validation rows per corpus (seeded; quicker, noisier)."),
        click.option("--no-validation", is_flag=True, help="Skip the public validation split."),
        click.option("--tolerance", type=click.FloatRange(0, 1), default=DEFAULT_TOLERANCE, show_default=True,
                     help="Largest accepted drop of a category's ROC AUC on any set."),
        click.option("--min-support", type=click.IntRange(1), default=DEFAULT_MIN_SUPPORT, show_default=True,
                     help="Positives and negatives a set needs before a category's AUC is gated."),
    ]):
        fn = opt(fn)
    return fn


@click.command("compare")
@click.argument("candidate")
@click.option("--against", default="current", show_default=True,
              help="The model to compare with: 'current' (the served default), a version or a path.")
@_eval_options
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Write <OUT>.md and <OUT>.json (default: <models-dir>/candidates/<candidate>-vs-<current>).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of the markdown.")
def compare(candidate: str, against: str, models_dir: str | None, feedback: str | None, data_dir: str | None,
            validation_sample: int | None, no_validation: bool, tolerance: float, min_support: int,
            out: str | None, as_json: bool) -> None:
    """Evaluate CANDIDATE and the current model on the same data; print a per-category AUC/F1 report."""
    from moderator.training import promotion

    directory = promotion.models_dir(models_dir)
    cand, cand_path = _load(candidate, directory)
    cur, cur_path = _load(against, directory)
    report = _comparison(cand, cand_path, cur, cur_path, feedback, data_dir, validation_sample, not no_validation)
    prefix = Path(out) if out else directory / "candidates" / f"{cand.version}-vs-{cur.version}"
    js, md = promotion.write_report(report, prefix, tolerance, min_support)
    if as_json:
        click.echo(json.dumps({**report, "gate": promotion.gate_summary(report, tolerance, min_support)}, indent=2))
    else:
        click.echo(promotion.render_markdown(report, tolerance, min_support))
    click.echo(f"report written to {md} and {js}", err=True)


# ---------------------------------------------------------------- promote


@click.command("promote")
@click.argument("candidate")
@_eval_options
@click.option("--force", is_flag=True, help="Promote despite regressions (recorded in the audit log).")
@click.option("--reason", default=None, help="Why (recorded in the audit log; expected with --force).")
@click.option("--rescore", "do_rescore", is_flag=True, help="Then re-score the pending queue with the new model.")
def promote(candidate: str, models_dir: str | None, feedback: str | None, data_dir: str | None,
            validation_sample: int | None, no_validation: bool, tolerance: float, min_support: int, force: bool,
            reason: str | None, do_rescore: bool) -> None:
    """Make CANDIDATE (a version or a path, e.g. in models/candidates/) the default model, unless a category's
    AUC regresses by more than --tolerance on any evaluated set."""
    from moderator.service import audit
    from moderator.service.model_guard import lock_for_switch
    from moderator.storage.db import write_session
    from moderator.training import promotion
    from moderator.training.promotion import (
        current_version,
        find_regressions,
        install,
        regressions_text,
        restore_default,
    )

    require_database()  # before the comparison, which can take minutes: the promotion is audited there
    directory = promotion.models_dir(models_dir)
    served = settings().model
    if served and not models_dir and Path(served).is_file():
        click.echo(f"warning: MODERATOR_MODEL names the file {served}: services started with it keep serving it; "
                   f"this promotes in {directory}", err=True)
    cand, cand_path = _load(candidate, directory)
    previous = current_version(directory)
    if previous == cand.version:
        click.echo(f"{cand.version} is already the default model in {directory}")
        return
    regressions: list[Any] = []
    report: dict[str, Any] | None = None
    if previous is not None:
        cur, cur_path = _load("current", directory)
        report = _comparison(cand, cand_path, cur, cur_path, feedback, data_dir, validation_sample,
                             not no_validation)
        regressions = find_regressions(report, tolerance, min_support)
        click.echo(_short_table(report), err=True)
    if regressions and not force:
        raise click.ClickException(
            f"not promoting {cand.version}: {len(regressions)} regression(s) beyond tolerance {tolerance}: "
            f"{regressions_text(regressions)} (use --force --reason '...' to override; it is audited)")
    actor = cli_actor()
    engine, factory = open_database()
    try:
        with write_session(factory) as session:
            audit.record(session, actor, "model.promote", datetime.now(UTC), "model", cand.version, {
                "from": previous, "to": cand.version, "forced": bool(force and regressions), "force_flag": force,
                "reason": reason, "tolerance": tolerance, "models_dir": str(directory),
                "sets": sorted(report["sets"]) if report else [],
                "regressions": [r.describe() for r in regressions],
            })
            lock_for_switch(session)  # no background re-score of the old model writes across the switch
            install(cand_path, directory, cand.version)  # inside the transaction: no audit row without it
        if do_rescore:
            _run_rescore(factory, cand, actor)
    except Exception as exc:
        if current_version(directory) == cand.version and previous != cand.version:
            restore_default(directory, previous)
        if isinstance(exc, click.ClickException):
            raise
        raise click.ClickException(f"promotion failed, {previous} stays the default: {exc}") from exc
    finally:
        engine.dispose()
    note = f" (FORCED over: {regressions_text(regressions)})" if regressions else ""
    click.echo(f"promoted {cand.version} (was {previous}) in {directory}{note}; running services follow within "
               "seconds, or POST /v1/admin/reload-model")


def _short_table(report: dict[str, Any]) -> str:
    lines = []
    for set_name, entry in report["sets"].items():
        for cat, pair in entry["categories"].items():
            a = ((pair.get("current") or {}).get("all") or {}).get("roc_auc")
            b = ((pair.get("candidate") or {}).get("all") or {}).get("roc_auc")
            fa = "–" if a is None else f"{a:.3f}"
            fb = "–" if b is None else f"{b:.3f}"
            lines.append(f"{set_name:<22} {cat:<16} AUC {fa} -> {fb}")
    return "\n".join(lines)


# ---------------------------------------------------------------- rescore


def _run_rescore(factory: Any, model: Any, actor: Any) -> dict[str, Any]:
    from moderator.service.policy import Policy
    from moderator.service.rescore import rescore_pending

    policy = Policy.from_env(model.thresholds, categories=model.categories)
    result = rescore_pending(factory, model, policy, actor, lambda: datetime.now(UTC))
    click.echo(json.dumps(result.to_dict()))
    return result.to_dict()


@click.command("rescore")
@click.option("--status", type=click.Choice(["pending"]), default="pending", show_default=True,
              help="Which items (decided ones keep the scores they were decided with).")
@click.option("--model", "model_path", type=click.Path(), default=None,
              help="Model (default: the one the service serves: $MODERATOR_MODEL or models/DEFAULT).")
@click.option("--priorities", "priorities_only", is_flag=True,
              help="Only recompute priorities from the stored scores (no model run), e.g. after an upgrade.")
def rescore(status: str, model_path: str | None, priorities_only: bool) -> None:
    """Re-score the pending review queue with the current model (new scores, priorities; audited)."""
    from moderator.model import ModelLoadError, load_model

    try:
        model = load_model(model_path)
    except ModelLoadError as exc:
        raise click.ClickException(str(exc)) from exc
    engine, factory = open_database()
    try:
        if priorities_only:
            from moderator.service.policy import Policy
            from moderator.service.rescore import reprioritise_pending

            policy = Policy.from_env(model.thresholds, categories=model.categories)
            changed = reprioritise_pending(factory, policy, cli_actor(), lambda: datetime.now(UTC))
            click.echo(json.dumps({"reprioritised": changed}))
            return
        _run_rescore(factory, model, cli_actor())
    finally:
        engine.dispose()


COMMANDS = [export_labels, compare, promote, rescore]

__all__ = ["COMMANDS", "compare", "export_labels", "promote", "rescore"]
