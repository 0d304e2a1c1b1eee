"""The encoder: vocabulary pruning keeps tokenization intact, fine-tuning is seeded and deterministic, the
int8 artifact pickles, scores a text the same alone or among others, and learns from its rows."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace

import numpy as np
import pytest

from moderator.training.encoder import (
    EncoderConfig,
    base_weights,
    kept_token_ids,
    needs_cpu_rewrite,
    prune_vocabulary,
    train_encoder,
)

INSULTS = ["you are a complete idiot", "shut up you stupid moron", "what a pathetic loser you are",
           "nobody cares about your dumb opinion, clown", "you ignorant fool, read a book",
           "go away you worthless troll", "you are too stupid to understand this", "what an idiot you are"]
POLITE = ["thanks for the thoughtful article", "the council meets again on tuesday",
          "i enjoyed the photos of the harbour", "great points about the budget vote",
          "the recipe worked well for me", "interesting interview, thank you",
          "the train was late again this morning", "lovely weather for the match today"]


@pytest.fixture(scope="module")
def tokenizer_json() -> str:
    return (base_weights() / "tokenizer.json").read_text()


def test_pruned_vocabulary_tokenizes_like_the_full_one(tokenizer_json: str) -> None:
    from tokenizers import Tokenizer

    texts = ["Thanks for the thoughtful article!", "you are a complete idiot"]
    keep = kept_token_ids(tokenizer_json, texts, 128, min_count=1)
    pruned, old_ids = prune_vocabulary(tokenizer_json, keep)
    full, small = Tokenizer.from_str(tokenizer_json), Tokenizer.from_str(pruned)
    for tok in (full, small):
        tok.no_padding()
    assert len(old_ids) == len(keep) < len(json.loads(tokenizer_json)["model"]["vocab"])
    for t in texts:  # texts it was cut for: the same tokens, renumbered consistently
        a, b = full.encode(t), small.encode(t)
        assert a.tokens == b.tokens
        assert [int(old_ids[i]) for i in b.ids] == a.ids
    assert small.encode("hi").tokens[0] == "[CLS]" and small.encode("hi").tokens[-1] == "[SEP]"
    rare = small.encode("xylophonists quizzically")  # pieces that were cut: shorter pieces, never [UNK]
    assert "[UNK]" not in rare.tokens and "".join(rare.tokens).replace("##", "").count("xylophonist") == 1


@pytest.fixture(scope="module")
def tiny() -> tuple:
    texts = INSULTS + POLITE + ["those people are vermin", "welcome to everyone moving here"]
    labels = [{"personal_attack": 1}] * 8 + [{"personal_attack": 0}] * 8 + [{"hate_speech": 1}, {"hate_speech": 0}]
    cfg = EncoderConfig(epochs=3, max_len=32, min_token_count=1, lr=1e-4, batch_size=4)
    return train_encoder(texts, labels, ("personal_attack", "hate_speech"), cfg=cfg), texts, labels, cfg


def test_fine_tuned_encoder_learns_and_is_deterministic(tiny: tuple) -> None:
    enc, texts, labels, cfg = tiny
    assert enc.categories == ("personal_attack", "hate_speech")
    assert enc.batch_invariant  # the default export quantises statically: scored in batches
    p = enc.predict_proba(texts)
    assert p.shape == (len(texts), 2) and ((p > 0) & (p < 1)).all()
    assert p[:8, 0].mean() > p[8:16, 0].mean() + 0.1  # insults score higher on its training rows
    assert enc.info["rows_per_category"] == {"personal_attack": 16, "hate_speech": 2}
    again = train_encoder(texts, labels, ("personal_attack", "hate_speech"), cfg=cfg)
    assert again.onnx_model == enc.onnx_model and again.tokenizer_json == enc.tokenizer_json


def _dense_products(graph: bytes) -> tuple[int, int]:
    """(int8 products, float32 products with a weight) in an ONNX graph."""
    import onnx

    model = onnx.load_from_string(graph)
    weights = {i.name for i in model.graph.initializer}
    q = sum(n.op_type in ("QLinearMatMul", "MatMulIntegerToFloat") for n in model.graph.node)
    f = sum(n.op_type == "MatMul" and any(x in weights for x in n.input) for n in model.graph.node)
    return q, f


def test_the_output_layer_learns_at_its_own_rate() -> None:
    texts = INSULTS + POLITE
    labels = [{"personal_attack": 1}] * 8 + [{"personal_attack": 0}] * 8
    # the pretrained layers barely move at 1e-6; only the output layer's own rate lets the encoder learn
    cfg = EncoderConfig(epochs=3, max_len=32, min_token_count=1, lr=1e-6, batch_size=4)

    def gap(c: EncoderConfig) -> float:
        p = train_encoder(texts, labels, ("personal_attack",), cfg=c).predict_proba(texts)[:, 0]
        return float(p[:8].mean() - p[8:].mean())

    slow, fast = gap(cfg), gap(replace(cfg, head_lr=1e-2))
    assert fast > 0.1 and fast > slow + 0.05


def test_the_export_stores_the_graph_rewritten_for_the_cpu(tiny: tuple) -> None:
    import onnx

    enc = tiny[0]
    ops = [n.op_type for n in onnx.load_from_string(enc.onnx_model).graph.node]
    assert ops.count("Gelu") == enc.info["config"]["layers"] and "Erf" not in ops and "IsNaN" not in ops
    assert not needs_cpu_rewrite(enc.onnx_model)  # so loading it never imports onnx to rewrite it


def test_the_export_quantises_every_dense_layer(tiny: tuple) -> None:
    enc, _, _, cfg = tiny
    # six per layer: query, key, value, attention output, feed-forward expansion and contraction
    assert _dense_products(enc.onnx_model) == (6 * cfg.layers, 0)
    assert "every dense layer" in enc.info["quantization"]


def test_the_export_returns_each_int8_product_as_float32(tiny: tuple) -> None:
    """No product rounds its sums to uint8: each is a MatMulIntegerToFloat with its bias folded in."""
    import onnx

    enc, _, _, cfg = tiny
    nodes = onnx.load_from_string(enc.onnx_model).graph.node
    products = [n for n in nodes if n.op_type == "MatMulIntegerToFloat"]
    assert len(products) == 6 * cfg.layers and not any(n.op_type == "QLinearMatMul" for n in nodes)
    assert all(len(n.input) == 7 for n in products)  # A, B, their scales and zero points, the bias
    assert "returns its sums as float32" in enc.info["quantization"]


def test_scores_do_not_depend_on_the_other_texts(tiny: tuple) -> None:
    enc, texts, _, _ = tiny
    together = enc.predict_proba(texts)  # length-sorted batches
    alone = np.vstack([enc.predict_proba([t]) for t in texts])
    assert np.abs(together - alone).max() <= 1e-6
    assert enc.predict_proba([]).shape == (0, 2)


def test_encoder_pickles_without_its_session(tiny: tuple) -> None:
    enc, texts, _, _ = tiny
    before = enc.predict_proba(texts[:3])
    blob = pickle.dumps(enc)
    assert len(blob) < len(enc.onnx_model) + len(enc.tokenizer_json.encode()) + 10_000  # no session inside
    assert np.array_equal(pickle.loads(blob).predict_proba(texts[:3]), before)


def test_distillation_teaches_what_the_labels_do_not_say() -> None:
    texts = INSULTS + POLITE
    labels = [{"personal_attack": 1}] * 8 + [{"personal_attack": 0}] * 8  # no hate_speech label at all
    cats = ("personal_attack", "hate_speech")
    # a teacher that reads the polite texts as hate_speech: only distillation can teach the student that
    soft = np.array([[0.9, 0.05]] * 8 + [[0.1, 0.95]] * 8, dtype=np.float32)
    cfg = EncoderConfig(epochs=3, max_len=32, min_token_count=1, lr=1e-4, batch_size=4, layers=1, head_lr=1e-2)
    taught = train_encoder(texts, labels, cats, cfg=cfg, soft_targets=soft).predict_proba(texts)
    plain = train_encoder(texts, labels, cats, cfg=cfg).predict_proba(texts)
    assert taught[8:, 1].mean() > taught[:8, 1].mean() + 0.2  # the teacher's hate_speech, never labelled
    assert abs(plain[8:, 1].mean() - plain[:8, 1].mean()) < 0.1  # without the teacher: no such difference
    assert taught[:8, 0].mean() > taught[8:, 0].mean() + 0.1  # and the labelled output still learns its labels


def test_distillation_weight_zero_is_the_plain_fine_tuning() -> None:
    texts = INSULTS + POLITE
    labels = [{"personal_attack": 1}] * 8 + [{"personal_attack": 0}] * 8
    cfg = EncoderConfig(epochs=1, max_len=32, min_token_count=1, batch_size=4, layers=1)
    soft = np.full((16, 1), 0.5, dtype=np.float32)
    plain = train_encoder(texts, labels, ("personal_attack",), cfg=cfg)
    zero = train_encoder(texts, labels, ("personal_attack",), cfg=cfg, soft_targets=soft, distill_weight=0.0)
    assert zero.onnx_model == plain.onnx_model
    assert zero.info["distilled"] == {"rows": 16, "weight": 0.0} and "distilled" not in plain.info
    assert "distill_weight" not in plain.info["config"]  # no distillation setting on an encoder not distilled
    with pytest.raises(ValueError, match="soft_targets must be"):
        train_encoder(texts, labels, ("personal_attack",), cfg=cfg, soft_targets=soft[:3])


def _bert_layer() -> object:
    from transformers import AutoModel

    return AutoModel.from_pretrained(base_weights()).encoder.layer[0]


def test_pruning_keeps_the_units_and_heads_that_matter_most() -> None:
    import torch

    from moderator.training.encoder import prune_layer

    layer = _bert_layer()
    layer.eval()
    x = torch.randn(2, 7, 384, generator=torch.Generator().manual_seed(0))
    full = layer(x)[0].detach()
    # three feed-forward units made to dominate: they must be among those kept, and their weights unchanged
    strong = [5, 700, 1500]
    layer.intermediate.dense.weight.data[strong] *= 50
    rows = layer.intermediate.dense.weight.data[strong].clone()
    # head 9 made to dominate the output projection
    layer.attention.output.dense.weight.data[:, 9 * 32:10 * 32] *= 50
    head9 = layer.attention.self.value.weight.data[9 * 32:10 * 32].clone()
    prune_layer(layer, ffn=96, heads=3)
    assert layer.intermediate.dense.weight.shape == (96, 384) and layer.output.dense.weight.shape == (384, 96)
    assert layer.attention.self.query.weight.shape == (96, 384)  # 3 heads x 32
    assert layer.attention.output.dense.weight.shape == (384, 96)
    kept = layer.intermediate.dense.weight.data
    assert all(any(torch.equal(kept[i], r) for i in range(96)) for r in rows)
    value = layer.attention.self.value.weight.data
    assert any(torch.equal(value[h * 32:(h + 1) * 32], head9) for h in range(3))
    out = layer(x)[0]
    assert out.shape == full.shape and torch.isfinite(out).all()

    untouched = _bert_layer()
    untouched.eval()
    prune_layer(untouched, ffn=1536, heads=12)  # nothing cut: the same layer, the same output
    assert torch.allclose(untouched(x)[0], full)
    with pytest.raises(ValueError, match="ffn must be"):
        prune_layer(untouched, ffn=0, heads=12)
    with pytest.raises(ValueError, match="heads must be"):
        prune_layer(untouched, ffn=1536, heads=13)


def test_a_pruned_encoder_exports_narrower_products_and_still_learns() -> None:
    import onnx

    texts = INSULTS + POLITE
    labels = [{"personal_attack": 1}] * 8 + [{"personal_attack": 0}] * 8
    cfg = EncoderConfig(epochs=3, max_len=32, min_token_count=1, lr=1e-4, batch_size=4, layers=2, ffn=128,
                        heads=4, head_lr=1e-2)
    enc = train_encoder(texts, labels, ("personal_attack",), cfg=cfg)
    assert enc.info["config"]["ffn"] == 128 and enc.info["config"]["heads"] == 4
    assert _dense_products(enc.onnx_model) == (6 * 2, 0)
    shapes = {tuple(d.dims) for d in onnx.load_from_string(enc.onnx_model).graph.initializer}
    assert (384, 128) in shapes or (128, 384) in shapes  # the narrowed feed-forward products
    assert not any(1536 in s for s in shapes)
    p = enc.predict_proba(texts)[:, 0]
    assert p[:8].mean() > p[8:].mean() + 0.1
    alone = np.array([enc.predict_proba([t])[0, 0] for t in texts])
    assert np.abs(alone - p).max() <= 1e-6


def test_pruning_after_an_epoch_at_full_width() -> None:
    import onnx

    texts = INSULTS + POLITE
    labels = [{"personal_attack": 1}] * 8 + [{"personal_attack": 0}] * 8
    cfg = EncoderConfig(epochs=3, max_len=32, min_token_count=1, lr=1e-4, batch_size=4, layers=2, ffn=128,
                        heads=4, head_lr=1e-2, prune_after=1)
    enc = train_encoder(texts, labels, ("personal_attack",), cfg=cfg)
    shapes = {tuple(d.dims) for d in onnx.load_from_string(enc.onnx_model).graph.initializer}
    assert not any(1536 in s for s in shapes)
    before = train_encoder(texts, labels, ("personal_attack",), cfg=replace(cfg, prune_after=0))
    assert before.onnx_model != enc.onnx_model  # other units kept: those the first epoch made important
    p = enc.predict_proba(texts)[:, 0]
    assert p[:8].mean() > p[8:].mean() + 0.1
    with pytest.raises(ValueError, match="prune_after must be"):
        train_encoder(texts, labels, ("personal_attack",), cfg=replace(cfg, prune_after=3))
