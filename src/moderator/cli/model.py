"""CLI commands of the model: ``moderator train``, ``moderator score``, ``moderator evaluate``."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from moderator import CATEGORIES


def _category_list(text: str, allowed: Sequence[str], option: str, refusal: str = "unknown categories:",
                   ) -> tuple[str, ...]:
    """A comma-separated option's categories ('' for none), each one of ``allowed``."""
    cats = tuple(c.strip() for c in text.split(",") if c.strip())
    bad = [c for c in cats if c not in allowed]
    if bad:
        raise click.BadParameter(f"{refusal} {', '.join(bad)}", param_hint=option)
    return cats


def _flag_budget(text: str) -> dict[str, float]:
    """``category=share,...``: the share of clean comment-section comments each named category may flag."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        cat, _, share = part.partition("=")
        cat = cat.strip()
        try:
            value = float(share)
        except ValueError:  # no "=", or not a number
            value = float("nan")
        if cat not in CATEGORIES:
            raise click.BadParameter(f"unknown category: {cat}", param_hint="--flag-budget")
        if not 0 < value < 1:
            raise click.BadParameter(f"{part!r}: give category=share, a share between 0 and 1 (e.g. "
                                     "hate_speech=0.03)", param_hint="--flag-budget")
        out[cat] = value
    return out


@click.command("train")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Corpora directory (default: $MODERATOR_DATA_DIR or ../shared/data).")
@click.option("--output", "-o", type=click.Path(file_okay=False), default=None,
              help="Where to write the model (default: models/).")
@click.option("--seed", type=int, default=None, help="Random seed for the validation split and calibration.")
@click.option("--categories", default=",".join(CATEGORIES), show_default=True,
              help="Comma-separated categories to train.")
@click.option("--sample", type=int, default=None, help="Use at most N rows per corpus (quick runs).")
@click.option("--feedback", type=click.Path(), default=None,
              help="Moderators' decisions (JSON lines from `moderator export-labels`) to add to the corpora.")
@click.option("--feedback-weight", type=float, default=1.0, show_default=True,
              help="Sample weight of each feedback row relative to a corpus row.")
@click.option("--no-encoder", is_flag=True,
              help="Linear model only: skip fine-tuning the transformer encoder (no torch needed; ~1 min).")
@click.option("--encoder-from", type=click.Path(dir_okay=False), default=None,
              help="Reuse the encoder of this model artifact instead of fine-tuning one (quick; no torch needed).")
@click.option("--no-float-products", is_flag=True,
              help="Round each int8 product of the encoder to uint8, as encoders before 0.1.0-22e38d33db did "
                   "(slower and coarser; to reproduce those). With --encoder-from: keep the reused graph as it is.")
@click.option("--encoder-layers", type=click.IntRange(1, 6), default=None,
              help="Transformer layers of the encoder to keep (from the bottom; default: the trainer's).")
@click.option("--encoder-ffn", type=click.IntRange(1, 1536), default=None,
              help="Feed-forward units kept in each encoder layer, the most important by weight (default 1536: "
                   "all); fewer make a narrower, faster encoder, best with --distill-from.")
@click.option("--encoder-heads", type=click.IntRange(1, 12), default=None,
              help="Attention heads kept in each encoder layer (default 12: all).")
@click.option("--prune-after", type=click.IntRange(0, 9), default=0, show_default=True,
              help="With --encoder-ffn/--encoder-heads: epochs fine-tuned at full width before the pruning "
                   "(0: prune the pretrained network).")
@click.option("--encoder-epochs", type=click.IntRange(1, 10), default=None,
              help="Passes of the encoder's fine-tuning over its rows (default: the trainer's).")
@click.option("--distill-from", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Fine-tune the encoder on this model's encoder's probabilities too (knowledge distillation): "
                   "with --encoder-layers, a smaller, faster encoder that learns from the larger one.")
@click.option("--distill-weight", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="With --distill-from: the weight of the teacher's probability against each row's label.")
@click.option("--distill-transfer", type=click.IntRange(0, None), default=0, show_default=True,
              help="With --distill-from: this many more training rows, not labelled for the encoder, taught by "
                   "the teacher's probabilities alone (a larger transfer set for a small student).")
@click.option("--person-threat-twins", type=click.IntRange(0, 7), default=0, show_default=True,
              help="Train on a friendly twin of each person threat under N of its 7 openings: fewer friendly "
                   "comments to the reader flagged, fewer threats caught (docs/benchmarks.md).")
@click.option("--identity-pooled", default=None, metavar="CATEGORIES",
              help="Comma-separated categories whose rows naming a group are balanced over the corpora pooled "
                   "as well as within each ('' for none; default: the trainer's).")
@click.option("--corpus-adjust", default=None, metavar="CATEGORIES",
              help="Comma-separated categories whose linear classifier is fitted with each row's corpus as a "
                   "feature and scores with the corpora averaged in ('' for none; default: the trainer's).")
@click.option("--flag-budget", default=None, metavar="CATEGORY=SHARE,...",
              help="The share of clean comment-section comments a category's threshold may flag, e.g. "
                   "hate_speech=0.03 (the others keep the trainer's: hate_speech 0.04, personal_attack 0.03, "
                   "spam and obscenity 0.01).")
@click.option("--encoder-seed", type=int, default=None,
              help="Seed of the encoder's fine-tuning alone (default: --seed): the same rows in another order.")
@click.option("--blend", type=click.Choice(["calibrated", "mean"]), default="calibrated", show_default=True,
              help="How the full model averages its linear and encoder probabilities: each Platt-scaled on the "
                   "validation rows first, or the plain mean of the two.")
@click.option("--no-default", is_flag=True, help="Write the model without making it the default.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Write the report folder (metrics JSON, plots) and the model card.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train_command(data_dir: str | None, output: str | None, seed: int | None, categories: str, sample: int | None,
                  feedback: str | None, feedback_weight: float, no_encoder: bool, encoder_from: str | None,
                  no_float_products: bool,
                  encoder_layers: int | None, encoder_ffn: int | None, encoder_heads: int | None,
                  prune_after: int, encoder_epochs: int | None, distill_from: str | None,
                  distill_weight: float, distill_transfer: int, person_threat_twins: int, identity_pooled: str | None,
                  corpus_adjust: str | None, flag_budget: str | None,
                  encoder_seed: int | None,
                  blend: str, no_default: bool, report: bool, quiet: bool) -> None:
    """Train the classifier on the labelled corpora and write a versioned model."""
    from moderator.training.datasets import DataMissingError
    from moderator.training.encoder import EncoderUnavailable
    from moderator.training.train import TrainConfig, train

    cfg = TrainConfig(data_dir=data_dir, sample=sample, make_default=not no_default, progress=not quiet,
                      extra_weight=feedback_weight, encoder=not no_encoder, encoder_from=encoder_from,
                      encoder_float_products=not no_float_products)
    if output:
        cfg.output = output
    if seed is not None:
        cfg.seed = seed
    if encoder_layers is not None:
        cfg.encoder_layers = encoder_layers
    if encoder_ffn is not None:
        cfg.encoder_ffn = encoder_ffn
    if encoder_heads is not None:
        cfg.encoder_heads = encoder_heads
    cfg.encoder_prune_after = prune_after
    if encoder_epochs is not None:
        cfg.encoder_epochs = encoder_epochs
    if distill_from and encoder_from:
        raise click.UsageError("--distill-from and --encoder-from exclude each other: the encoder is either "
                               "trained (and taught) or reused")
    cfg.encoder_distill_from, cfg.encoder_distill_weight = distill_from, distill_weight
    if distill_transfer and not distill_from:
        raise click.UsageError("--distill-transfer needs --distill-from: its rows are taught by the teacher alone")
    cfg.encoder_transfer = distill_transfer
    cfg.person_threat_twins = person_threat_twins
    if identity_pooled is not None:
        cfg.identity_reweight_pooled = _category_list(
            identity_pooled, cfg.identity_reweight, "--identity-pooled",
            f"only {', '.join(cfg.identity_reweight)} are re-weighted, not")
    if corpus_adjust is not None:
        cfg.corpus_adjust = _category_list(corpus_adjust, CATEGORIES, "--corpus-adjust")
    if flag_budget is not None:
        cfg.max_flag_rate = {**cfg.max_flag_rate, **_flag_budget(flag_budget)}
    cfg.encoder_seed = encoder_seed
    cfg.blend = blend
    cfg.categories = _category_list(categories, CATEGORIES, "--categories")
    if feedback:
        from moderator.training.feedback import FeedbackError, read_feedback

        try:
            cfg.extra_examples = read_feedback(feedback)
        except FeedbackError as exc:
            raise click.ClickException(str(exc)) from exc
    try:
        model, path = train(cfg)
    except DataMissingError as exc:
        raise click.ClickException(str(exc)) from exc
    except EncoderUnavailable as exc:
        raise click.ClickException(f"{exc} (or train without the encoder: --no-encoder)") from exc
    if report:
        from moderator.training.report import write_report

        write_report(model, Path(cfg.output))
    click.echo(json.dumps({"version": model.version, "path": str(path), "thresholds": model.thresholds,
                           "seconds": model.metadata["training_seconds"]}, indent=2))
    click.echo(summary_table(model.metadata["metrics"]))


def summary_table(metrics: dict) -> str:
    lines = [f"{'category':<16} {'corpus':<26} {'n':>6} {'AUC':>6} {'F1':>6}"]
    for cat, per in metrics.get("validation", {}).items():
        for corpus, m in per.items():
            auc = f"{m['roc_auc']:.3f}" if m.get("roc_auc") is not None else "  -  "
            lines.append(f"{cat:<16} {corpus:<26} {m['n']:>6} {auc:>6} {m['f1']:>6.3f}")
    hw = metrics.get("obscenity_handwritten")
    if hw:
        lines.append(f"{'obscenity':<16} {'hand-written set':<26} {hw['n']:>6} {hw['roc_auc']:>6.3f} {hw['f1']:>6.3f}"
                     f"  missed obfuscations: {len(hw['missed_obfuscations'])}, flagged traps: "
                     f"{len(hw['flagged_traps'])}")
    return "\n".join(lines)


def _read_texts(source) -> list[str]:
    texts = []
    for n, line in enumerate(source, 1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise click.ClickException(f"line {n}: invalid JSON: {exc}") from exc
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise click.ClickException(f"line {n}: a JSON line needs a string field 'text'")
            texts.append(obj["text"])
        else:
            texts.append(line)
    return texts


@click.command("score")
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--model", "model_path", type=click.Path(), default=None, help="Model artifact (default: shipped).")
@click.option("--explain", is_flag=True, help="Add the spans that drove each flagged category.")
@click.option("--batch-size", type=int, default=256, show_default=True)
def score_command(file, model_path: str | None, explain: bool, batch_size: int) -> None:
    """Score comments: one per line, or JSON lines with a "text" field; prints JSON lines."""
    from moderator.model import ModelLoadError, load_model

    try:
        model = load_model(model_path)
    except ModelLoadError as exc:
        raise click.ClickException(str(exc)) from exc
    texts = _read_texts(file)
    for i in range(0, len(texts), batch_size):
        chunk = texts[i:i + batch_size]
        for text, scores in zip(chunk, model.predict_proba(chunk), strict=True):
            out = {"text": text, "scores": {k: round(v, 5) for k, v in scores.items()},
                   "flags": model.flags(scores), "model_version": model.version}
            if explain:
                out["explanations"] = {c: model.explain(text, c) for c in out["flags"]}
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")


@click.command("evaluate")
@click.option("--model", "model_path", type=click.Path(), default=None, help="Model artifact (default: shipped).")
@click.option("--recompute", is_flag=True,
              help="Recompute validation metrics from the corpora instead of printing the stored ones.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def evaluate_command(model_path: str | None, recompute: bool, data_dir: str | None, as_json: bool) -> None:
    """Print a model's validation metrics (per category and corpus, and the hand-written obscenity set)."""
    from moderator.model import ModelLoadError, load_model

    try:
        model = load_model(model_path)
    except ModelLoadError as exc:
        raise click.ClickException(str(exc)) from exc
    metrics = model.metadata.get("metrics", {})
    if recompute:
        from moderator.training.evaluation import evaluate_model

        metrics = evaluate_model(model, data_dir=data_dir)
    if as_json:
        click.echo(json.dumps({"version": model.version, "thresholds": model.thresholds, "metrics": metrics},
                              indent=2))
    else:
        click.echo(f"model {model.version}  thresholds {json.dumps(model.thresholds)}")
        click.echo(summary_table(metrics))


COMMANDS = [train_command, score_command, evaluate_command]
