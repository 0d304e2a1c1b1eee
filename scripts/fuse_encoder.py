#!/usr/bin/env python
"""Rewrite a model's encoder graph for the CPU, in place: the same scores, faster.

    python scripts/fuse_encoder.py [VERSION_OR_PATH] [--models models]

Each GELU (five elementwise operators as exported) becomes one ``com.microsoft.Gelu`` and the NaN guard after
each attention softmax goes (``moderator.training.encoder.fuse_for_cpu``); training stores graphs rewritten so,
this brings an artifact written before that up to date. The rewrite computes the same function (``Gelu``
evaluates the same erf formula; only float32 rounding can differ, and with it, rarely, a rounding step of a
quantised activation), so the artifact keeps its version, thresholds and metrics: before writing, the script
scores texts of varied length with both graphs and refuses if any probability moves by more than 0.01 (on the
graph of `0.1.0-983a879e59` none of 3,000 validation texts moved at all). Float outputs of the int8 products
(``float_products``) are not applied here: they change the scores, so the rest of the model is fitted again on
them (``scripts/train.py --encoder-from``). The sidecar's ``artifact_bytes`` and
``encoder.onnx_bytes`` are updated and ``encoder.graph_rewrite`` says what was done. The file is replaced
atomically; a running service keeps the graph it loaded until it reloads.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.special import expit

from moderator.model import MODELS_DIR, load_model
from moderator.model.encoder import inference_session, padded_feed
from moderator.training.encoder import fuse_for_cpu, needs_cpu_rewrite
from moderator.training.promotion import resolve_model_path

TOLERANCE = 0.01  # largest probability change accepted on CHECK_TEXTS
REWRITE = "GELUs fused into com.microsoft.Gelu, the softmax's NaN guard dropped (fuse_for_cpu)"

# Texts of varied length and content, so that every padded width and very different activations are compared.
CHECK_TEXTS = [
    "ok", "?", "you idiot", "Thanks!!! 🙂", "1234 5678", "à bientôt, merci beaucoup",
    "thanks for the thoughtful article", "the council meets again on tuesday",
    "shut up you stupid moron, nobody asked you", "those people are vermin and should leave the country",
    "I know where you live and I will come for you", "killer deal for commuters this weekend only",
    "The committee reviewed the proposal for the new library on Main Street and asked the architects for a revised "
    "budget, a second entrance for wheelchairs and more bicycle parking before the vote next month.",
    "STOP POSTING THIS GARBAGE YOU MORON " * 12,
]


def graph_logits(onnx_model: bytes, ids: list[list[int]]) -> np.ndarray:
    session = inference_session(onnx_model)
    out = []
    for row in ids:
        arr = np.asarray([row], dtype=np.int64)
        out.append(session.run(None, {"input_ids": arr, "attention_mask": np.ones_like(arr)})[0][0])
    # and one padded batch of all of them
    return np.vstack([np.asarray(out), session.run(None, padded_feed(ids))[0]])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default="current",
                    help="artifact path, or version in --models (default: current, the folder's DEFAULT)")
    ap.add_argument("--models", default=str(MODELS_DIR), help="the models folder versions are looked up in")
    args = ap.parse_args(argv)
    path = resolve_model_path(args.model, Path(args.models))
    model = load_model(path)
    if path.name != f"{model.version}.joblib":
        print(f"{path}: not named by its version ({model.version}); rewriting it in place would write another file",
              file=sys.stderr)
        return 2
    enc = model.encoder
    if enc is None or not needs_cpu_rewrite(enc.onnx_model):
        print(f"{model.version}: nothing to rewrite", file=sys.stderr)
        return 0
    graph = fuse_for_cpu(enc.onnx_model)
    ids = enc.token_ids(CHECK_TEXTS)
    moved = float(np.abs(expit(graph_logits(graph, ids)) - expit(graph_logits(enc.onnx_model, ids))).max())
    if moved > TOLERANCE:
        print(f"{model.version}: the rewritten graph moves a probability by {moved:.3g}; not written",
              file=sys.stderr)
        return 1
    new = replace(model, encoder=replace(enc, onnx_model=graph, info={**enc.info, "graph_rewrite": REWRITE}))
    path = new.save(path.parent, make_default=False)  # in place: the same version, beside its sidecar
    meta = dict(model.metadata)
    meta["encoder"] = {**(meta.get("encoder") or {}), "onnx_bytes": len(graph), "graph_rewrite": REWRITE}
    meta["artifact_bytes"] = path.stat().st_size
    new.metadata = meta
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"{model.version}: encoder graph rewritten ({len(enc.onnx_model):,} -> {len(graph):,} bytes; "
          f"largest probability change {moved:.2g}) in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
