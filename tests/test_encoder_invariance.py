"""A batch-invariant encoder scores a text the same alone and inside any batch; an older, dynamically quantised
one still scores (one text at a time) and converts into a batch-invariant one without retraining."""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import moderator.model.encoder as encoder_module
from moderator.model.encoder import inference_session, length_batches, padded_feed
from moderator.training.encoder import (
    EncoderConfig,
    batch_invariant_from,
    dequantize_dynamic,
    float_products,
    fuse_for_cpu,
    needs_cpu_rewrite,
    quantize_static_int8,
    train_encoder,
)

INSULTS = ["you are a complete idiot", "shut up you stupid moron", "what a pathetic loser you are",
           "nobody cares about your dumb opinion, clown", "you ignorant fool, read a book",
           "go away you worthless troll"]
POLITE = ["thanks for the thoughtful article", "the council meets again on tuesday",
          "i enjoyed the photos of the harbour", "great points about the budget vote",
          "the recipe worked well for me", "interesting interview, thank you"]
# Varied lengths and content, so that batches mix short and long rows (padding) and very different activations.
VARIED = ["ok", "you idiot", "Thanks!!! 🙂", "those people are vermin and should leave",
          "The committee reviewed the proposal for the new library on Main Street and asked the architects for "
          "a revised budget, a second entrance for wheelchairs and more bicycle parking before the vote.",
          "STOP POSTING THIS GARBAGE YOU MORON " * 6, "à bientôt, merci beaucoup", "1234 5678", "?"]
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def dynamic() -> object:
    """A tiny encoder exported the old way (dynamic int8)."""
    texts = INSULTS + POLITE + ["those people are vermin", "welcome to everyone moving here"]
    labels = [{"personal_attack": 1}] * 6 + [{"personal_attack": 0}] * 6 + [{"hate_speech": 1}, {"hate_speech": 0}]
    cfg = EncoderConfig(epochs=1, max_len=48, min_token_count=1, lr=1e-4, batch_size=4, quantization="dynamic")
    return train_encoder(texts, labels, ("personal_attack", "hate_speech"), cfg=cfg)


@pytest.fixture(scope="module")
def static(dynamic: object) -> object:
    """The same network quantised statically, as the trainer's default export does (tests/test_encoder.py
    covers that export end to end; converting saves a second fine-tuning here)."""
    return batch_invariant_from(dynamic, INSULTS + POLITE + VARIED)  # type: ignore[arg-type]


def _run_padded(enc: object, batch: list[str]) -> np.ndarray:
    """Probabilities of ``batch`` run as ONE graph call, padded to its longest text (no length bucketing)."""
    session = enc._runtime()[0]  # type: ignore[attr-defined]
    logits = session.run(None, padded_feed(enc.token_ids(batch)))[0]  # type: ignore[attr-defined]
    return 1 / (1 + np.exp(-logits.astype(np.float64)))


def test_new_encoders_are_batch_invariant(static: object) -> None:
    texts = INSULTS + POLITE + VARIED
    assert static.batch_invariant  # type: ignore[attr-defined]
    alone = np.vstack([static.predict_proba([t]) for t in texts])  # type: ignore[attr-defined]
    rng = np.random.default_rng(7)
    for size in (2, 5, 9, len(texts)):
        order = rng.permutation(len(texts))
        for start in range(0, len(texts), size):
            idx = order[start:start + size].tolist()
            batch = [texts[i] for i in idx]
            # through the scorer (length-bucketed batches) and as one padded graph run of mixed lengths
            assert np.abs(static.predict_proba(batch) - alone[idx]).max() <= TOLERANCE  # type: ignore[attr-defined]
            assert np.abs(_run_padded(static, batch) - alone[idx]).max() <= TOLERANCE
    # the same text many times among others, at every position of a batch
    target = VARIED[3]
    for pos in range(len(VARIED)):
        batch = [t for t in VARIED if t != target]
        batch.insert(pos, target)
        assert abs(_run_padded(static, batch)[pos, 1] - alone[len(INSULTS + POLITE) + 3, 1]) <= TOLERANCE


def test_the_flag_survives_pickling(static: object) -> None:
    copy = pickle.loads(pickle.dumps(static))
    assert copy.batch_invariant
    assert np.array_equal(copy.predict_proba(VARIED), static.predict_proba(VARIED))  # type: ignore[attr-defined]


def test_old_dynamic_encoders_run_one_text_at_a_time(dynamic: object) -> None:
    texts = INSULTS + POLITE + VARIED
    assert not dynamic.batch_invariant  # type: ignore[attr-defined]
    # an old graph in a padded batch moves scores (why it runs one text at a time) ...
    alone = np.vstack([dynamic.predict_proba([t]) for t in texts])  # type: ignore[attr-defined]
    assert np.abs(_run_padded(dynamic, texts) - alone).max() > TOLERANCE
    # ... so the scorer runs it text by text: the same scores whatever the call's other texts
    assert np.array_equal(dynamic.predict_proba(texts), alone)  # type: ignore[attr-defined]
    # an artifact pickled before the flag existed has no such attribute: it unpickles as not batch-invariant
    state = dict(dynamic.__dict__)  # type: ignore[attr-defined]
    state.pop("batch_invariant")
    old = type(dynamic).__new__(type(dynamic))
    old.__dict__.update({k: v for k, v in state.items() if not k.startswith("_")})
    assert old.batch_invariant is False



def test_conversion_keeps_the_feed_forward_contraction_in_float32(static: object) -> None:
    import onnx

    model = onnx.load_from_string(static.onnx_model)  # type: ignore[attr-defined]
    weights = {i.name for i in model.graph.initializer}
    ops = [n.op_type for n in model.graph.node]
    float_dense = [n for n in model.graph.node if n.op_type == "MatMul" and any(x in weights for x in n.input)]
    layers = 6
    # five int8 products per layer, plus the output layer (a MatMul in this older export)
    assert ops.count("QLinearMatMul") == 5 * layers + 1 and len(float_dense) == layers
    assert "but the feed-forward contraction" in static.info["quantization"]  # type: ignore[attr-defined]


def test_conversion_keeps_the_network(dynamic: object, static: object) -> None:
    texts = INSULTS + POLITE + VARIED
    assert static.batch_invariant and static.categories == dynamic.categories  # type: ignore[attr-defined]
    assert batch_invariant_from(static, []) is static  # type: ignore[arg-type]  # nothing to convert
    old = np.vstack([dynamic.predict_proba([t]) for t in texts])  # type: ignore[attr-defined]
    new = np.vstack([static.predict_proba([t]) for t in texts])  # type: ignore[attr-defined]
    assert np.abs(new - old).max() < 0.1  # the same network, quantised another way: close scores
    assert "static int8" in static.info["quantization"]  # type: ignore[attr-defined]


def test_length_batches_sort_and_bound_padding() -> None:
    lengths = [5, 40, 6, 41, 5, 100, 7, 3]
    batches = length_batches(lengths, max_tokens=64)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        widths = [lengths[i] for i in b]
        assert widths == sorted(widths)
        assert max(widths) <= min(widths) * 1.25 + 2 or len(b) == 1
        assert max(widths) * len(b) <= 64 or len(b) == 1
    assert length_batches([]) == []


def test_the_shipped_encoder_is_batch_invariant() -> None:
    """The trainer's own export (int8 weights and embedding tables, calibrated activation scales), as shipped:
    every text of mixed batches scores as it does alone."""
    from moderator import load_model

    enc = load_model().encoder
    assert enc is not None and enc.batch_invariant
    texts = INSULTS + POLITE + VARIED
    alone = np.vstack([enc.predict_proba([t]) for t in texts])
    order = np.random.default_rng(11).permutation(len(texts)).tolist()
    for size in (3, 7, len(texts)):
        for start in range(0, len(texts), size):
            idx = order[start:start + size]
            batch = [texts[i] for i in idx]
            assert np.abs(enc.predict_proba(batch) - alone[idx]).max() <= TOLERANCE
            assert np.abs(_run_padded(enc, batch) - alone[idx]).max() <= TOLERANCE


def _optimised_ops(onnx_model: bytes, path: str) -> set[str]:
    import onnx

    inference_session(onnx_model, optimized_model_path=path)
    return {n.op_type for n in onnx.load(path).graph.node}


def test_scorer_session_keeps_layer_norms_unfused(static: object, tmp_path: object,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime's SkipLayerNormalization CPU kernel is several times slower than the residual Add and the
    LayerNormalization it would replace, BiasGelu a little slower than its Add and Gelu (``bench/encoder_profile.py``),
    so the scorer's session leaves them apart."""
    onnx_model = static.onnx_model  # type: ignore[attr-defined]
    ops = _optimised_ops(onnx_model, f"{tmp_path}/kept.onnx")
    assert {"LayerNormalization", "Gelu"} <= ops and not {"SkipLayerNormalization", "BiasGelu"} & ops
    # the fusions are onnxruntime's defaults: the exclusion is what keeps them out
    monkeypatch.setattr(encoder_module, "DISABLED_OPTIMIZERS", ())
    assert {"SkipLayerNormalization", "BiasGelu"} <= _optimised_ops(onnx_model, f"{tmp_path}/fused.onnx")


def test_cpu_rewrite_fuses_gelu_and_drops_the_softmax_guard_without_changing_scores(
        dynamic: object, static: object) -> None:
    import onnx

    # a static graph as artifacts before the rewrite stored it
    calibration = static.token_ids(INSULTS + POLITE + VARIED)  # type: ignore[attr-defined]
    onnx_model = quantize_static_int8(dequantize_dynamic(dynamic.onnx_model), calibration,  # type: ignore[attr-defined]
                                      float_contraction=True)
    assert needs_cpu_rewrite(onnx_model) and not needs_cpu_rewrite(static.onnx_model)  # type: ignore[attr-defined]
    before = [n.op_type for n in onnx.load_from_string(onnx_model).graph.node]
    after = [n.op_type for n in onnx.load_from_string(fuse_for_cpu(onnx_model)).graph.node]
    layers = before.count("Erf")
    assert layers >= 1 and before.count("IsNaN") == layers
    assert after.count("Gelu") == layers and "Erf" not in after and "IsNaN" not in after
    assert len(after) == len(before) - 6 * layers  # per layer: 5 GELU operators become 1; IsNaN and Where go
    assert fuse_for_cpu(fuse_for_cpu(onnx_model)) == fuse_for_cpu(onnx_model)  # nothing left to rewrite

    feed = padded_feed(calibration)
    rewritten = inference_session(fuse_for_cpu(onnx_model)).run(None, feed)[0]
    assert np.abs(rewritten - inference_session(onnx_model).run(None, feed)[0]).max() <= 1e-5


def test_fuse_encoder_script_rewrites_an_older_artifact_in_place(dynamic: object, tmp_path: Path) -> None:
    """An artifact whose graph predates the rewrite (the dynamic export is stored unfused) is rewritten in place:
    same version, same scores, the sidecar updated; a second run finds nothing to do."""
    from dataclasses import replace

    from moderator import load_model

    shipped = load_model()
    model = replace(shipped, version="0.0.0-fusetest", encoder=dynamic, metadata={**shipped.metadata,
                                                                                   "version": "0.0.0-fusetest"})
    model.save(tmp_path, make_default=False)
    texts = INSULTS + POLITE + VARIED
    before = model.predict_matrix(texts)
    assert needs_cpu_rewrite(dynamic.onnx_model)  # type: ignore[attr-defined]
    script = [sys.executable, str(Path(__file__).resolve().parents[1] / "scripts" / "fuse_encoder.py"),
              "0.0.0-fusetest", "--models", str(tmp_path)]
    done = subprocess.run(script, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "encoder graph rewritten" in done.stdout
    again = load_model(tmp_path / "0.0.0-fusetest.joblib")
    assert again.encoder is not None and not needs_cpu_rewrite(again.encoder.onnx_model)
    # float32 rounding apart (dynamic quantisation, which this old export uses, scales by the whole tensor)
    assert np.abs(again.predict_matrix(texts) - before).max() <= 1e-3
    meta = json.loads((tmp_path / "0.0.0-fusetest.json").read_text())
    assert meta["artifact_bytes"] == (tmp_path / "0.0.0-fusetest.joblib").stat().st_size
    assert "Gelu" in meta["encoder"]["graph_rewrite"]
    assert not (tmp_path / "DEFAULT").exists()
    second = subprocess.run(script, capture_output=True, text=True, check=True)
    assert "nothing to rewrite" in second.stderr


def _logits(onnx_model: bytes, ids: list[list[int]]) -> np.ndarray:
    return inference_session(onnx_model).run(None, padded_feed(ids))[0]


def test_float_products_keep_the_sums_and_batch_invariance(dynamic: object, static: object) -> None:
    """Each QLinearMatMul -> DequantizeLinear -> bias Add becomes one MatMulIntegerToFloat: the same int8
    weights, input scales and integer sums, not rounded to uint8, so the graph is closer to the float32 network
    those int8 weights define, and a text's score still does not depend on its batch."""
    import onnx

    texts = INSULTS + POLITE + VARIED
    ids = static.token_ids(texts)  # type: ignore[attr-defined]
    graph = static.onnx_model  # type: ignore[attr-defined]
    rewritten = float_products(graph)
    before = [n.op_type for n in onnx.load_from_string(graph).graph.node]
    after = [n.op_type for n in onnx.load_from_string(rewritten).graph.node]
    products = before.count("QLinearMatMul")
    assert products > 0 and "QLinearMatMul" not in after and after.count("MatMulIntegerToFloat") == products
    # each product's DequantizeLinear and bias Add went into it
    assert after.count("DequantizeLinear") == before.count("DequantizeLinear") - products
    assert after.count("Add") == before.count("Add") - products
    assert float_products(rewritten) == rewritten  # nothing left to rewrite
    # the bias folded in or added after: the same values
    unfolded = float_products(graph, fold_bias=False)
    assert np.abs(_logits(unfolded, ids) - _logits(rewritten, ids)).max() <= 1e-4

    # closer to the float32 network of the same int8 weights than the uint8-rounded graph is
    exact = _logits(dequantize_dynamic(dynamic.onnx_model), ids)  # type: ignore[attr-defined]
    err_float = np.abs(_logits(rewritten, ids) - exact).mean()
    err_uint8 = np.abs(_logits(graph, ids) - exact).mean()
    assert err_float < err_uint8

    alone = np.vstack([_logits(rewritten, [row]) for row in ids])
    rng = np.random.default_rng(3)
    for size in (2, 5, len(ids)):
        order = rng.permutation(len(ids))
        for start in range(0, len(ids), size):
            idx = order[start:start + size].tolist()
            assert np.abs(_logits(rewritten, [ids[i] for i in idx]) - alone[idx]).max() <= TOLERANCE


def test_a_reused_encoder_gets_float_products_unless_told_not_to(static: object, tmp_path: Path) -> None:
    """``--encoder-from`` rewrites a reused encoder's uint8-rounded products (the model is re-fitted on it
    anyway), says so in its info, and the artifact's content, not only its version, names the source."""
    from dataclasses import replace

    from moderator import load_model
    from moderator.training.train import TrainConfig, fit_encoder

    shipped = load_model()
    path = replace(shipped, version="0.0.0-uint8", encoder=static).save(tmp_path, make_default=False)
    cfg = TrainConfig(output=str(tmp_path), progress=False, encoder_from=str(path))
    enc = fit_encoder(cfg, [])
    assert enc is not None and enc.info["products_rewritten"] and enc.info["reused_from"] == "0.0.0-uint8"
    assert enc.onnx_model == float_products(static.onnx_model)  # type: ignore[attr-defined]
    assert "returns its sums as float32" in enc.info["quantization"]
    kept = fit_encoder(replace(cfg, encoder_float_products=False), [])
    assert kept is not None and kept.onnx_model == static.onnx_model  # type: ignore[attr-defined]
    assert "products_rewritten" not in kept.info
    assert cfg.to_dict()["encoder_from_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "encoder_float_products" not in cfg.to_dict()
    assert replace(cfg, encoder_float_products=False).to_dict()["encoder_float_products"] is False
