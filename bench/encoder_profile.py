"""Where an encoder's time goes: onnxruntime's profiler over the scorer's batches, by operator type.

    python bench/encoder_profile.py [--model PATH] [--texts 1000] [--rounds 3] [--output FILE]

Runs the artifact's encoder graph (one intra-op thread, as the service runs it) over the first ``--texts`` texts
of ``bench/speed.py``'s seeded shuffle of the validation split, in the scorer's own length-sorted batches
(``length_batches``), ``--rounds`` times after a warm-up round, with onnxruntime's profiler on. Reports, per
operator type, its share of the graph's kernel time and microseconds per comment; and the work per comment:
integer multiply-adds of the weight products (``QLinearMatMul``, ``MatMulIntegerToFloat``, ``MatMulInteger``;
multiply and add counted apart, from the weights' shapes and each batch's padded token count), so that the
products' achieved rate (GOP/s) can be set against ``bench/gemm_peak.py``'s. Also the time outside the graph per
comment: tokenizing, and the linear model. Keep the machine otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
INT8_PRODUCTS = ("QLinearMatMul", "MatMulIntegerToFloat", "MatMulInteger")


def weight_products(onnx_bytes: bytes) -> list[tuple[str, int, int]]:
    """(node name, k, n) of every product with a constant weight matrix of shape (k, n)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(onnx_bytes)
    shapes = {i.name: tuple(numpy_helper.to_array(i).shape) for i in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type == "QLinearMatMul":
            w = node.input[3]
        elif node.op_type in ("MatMul", "MatMulInteger", "MatMulIntegerToFloat"):
            w = node.input[1]
        else:
            continue
        if w in shapes and len(shapes[w]) == 2:
            out.append((node.name, *shapes[w]))
    return out


def profile(model: Any, texts: list[str], rounds: int) -> dict[str, Any]:
    from moderator.model.encoder import inference_session, length_batches, padded_feed

    enc = model.encoder
    enc.token_ids(texts[:1])  # the session and tokenizer, made once
    t0 = time.process_time()
    for _ in range(rounds):
        ids = enc.token_ids(texts)
    tokenize_ms = (time.process_time() - t0) / rounds / len(texts) * 1e3
    batches = [padded_feed([ids[i] for i in batch]) for batch in length_batches([len(r) for r in ids])]
    padded = sum(b["input_ids"].size for b in batches)
    real = sum(len(r) for r in ids)

    with tempfile.TemporaryDirectory() as tmp:
        plain = inference_session(enc.onnx_model)
        for feed in batches:  # warm-up
            plain.run(None, feed)
        t0 = time.process_time()
        for _ in range(rounds):
            for feed in batches:
                plain.run(None, feed)
        graph_ms = (time.process_time() - t0) / rounds / len(texts) * 1e3
        session = inference_session(enc.onnx_model, profile_prefix=os.path.join(tmp, "ort"))
        for feed in batches:
            session.run(None, feed)
        for _ in range(rounds):
            for feed in batches:
                session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())

    # the warm-up runs come first: count the operators from the start of the first timed run on
    starts = sorted(ev["ts"] for ev in events if ev.get("cat") == "Session" and ev.get("name") == "model_run")
    timed_from = starts[len(batches)]
    by_type: dict[str, float] = defaultdict(float)
    for ev in events:
        if ev.get("cat") == "Node" and str(ev.get("name", "")).endswith("_kernel_time") and ev["ts"] >= timed_from:
            by_type[ev["args"]["op_name"]] += ev["dur"]
    total = sum(by_type.values())
    per_comment = {op: us / rounds / len(texts) for op, us in by_type.items()}

    products = weight_products(enc.onnx_model)
    macs_per_token = sum(k * n for _, k, n in products)
    ops_real = 2 * macs_per_token * real / len(texts)
    ops_padded = 2 * macs_per_token * padded / len(texts)
    product_us = sum(per_comment.get(op, 0.0) for op in INT8_PRODUCTS)

    t0 = time.process_time()
    for _ in range(rounds):
        model.predict_matrix(texts, encoder_rows=[False] * len(texts))
    linear_ms = (time.process_time() - t0) / rounds / len(texts) * 1e3
    return {
        "texts": len(texts), "tokens_per_comment": real / len(texts), "padded_tokens_per_comment": padded / len(texts),
        "batches": len(batches), "weight_products": len(products),
        "int8_mop_per_comment": ops_real / 1e6, "int8_mop_per_comment_padded": ops_padded / 1e6,
        "products_gop_per_s": ops_padded / (product_us * 1e-6) / 1e9 if product_us else None,
        "graph_ms_per_comment": graph_ms, "tokenize_ms_per_comment": tokenize_ms, "linear_ms_per_comment": linear_ms,
        "kernel_us_per_comment": total / rounds / len(texts),
        "by_op": {op: {"share": by_type[op] / total, "us_per_comment": per_comment[op]}
                  for op in sorted(by_type, key=by_type.__getitem__, reverse=True)},
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [f"model `{report['model']}`: {report['texts']} texts, "
             f"{report['tokens_per_comment']:.1f} tokens per comment "
             f"({report['padded_tokens_per_comment']:.1f} with padding, {report['batches']} batches)",
             f"graph {report['graph_ms_per_comment']:.3f} ms CPU per comment; tokenizer "
             f"{report['tokenize_ms_per_comment']:.3f} ms; linear model {report['linear_ms_per_comment']:.3f} ms",
             f"int8 products: {report['int8_mop_per_comment']:.0f} MOP per comment "
             f"({report['int8_mop_per_comment_padded']:.0f} with padding), "
             f"{report['products_gop_per_s']:.0f} GOP/s while they run", "",
             "| operator | share of kernel time | µs per comment |", "|---|---:|---:|"]
    for op, row in report["by_op"].items():
        if row["share"] >= 0.005:
            lines.append(f"| {op} | {row['share']:.1%} | {row['us_per_comment']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model artifact or directory (default: models/DEFAULT)")
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--output", default=None, help="write the report as JSON here too")
    args = ap.parse_args(argv)

    import numpy as np

    from moderator import load_model
    from moderator.training.train import TrainConfig, validation_rows

    model = load_model(args.model)
    if model.encoder is None:
        print("this model has no encoder", file=sys.stderr)
        return 2
    rows = validation_rows(TrainConfig())
    order = np.random.default_rng(20261127).permutation(len(rows))[: args.texts]
    texts = [rows[i].text for i in order]
    report = {"model": model.version, "load_average": os.getloadavg(), **profile(model, texts, args.rounds)}
    print(markdown(report))
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
