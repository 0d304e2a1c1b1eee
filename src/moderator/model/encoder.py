"""The fine-tuned transformer encoder: scores for the categories the linear model reads least well.

A fine-tuned all-MiniLM-L6-v2 (see :mod:`moderator.training.encoder`) reads a comment as a whole: who an
insult is aimed at, a slur-free dehumanising sentence. Word and character n-grams cannot, and on the two
comment-section corpora the linear model saturates below the targets (``docs/benchmarks.md``). This module
only *runs* the encoder: an int8 ONNX graph (``onnxruntime``) and the WordPiece tokenizer (``tokenizers``),
both stored inside the model artifact, so scoring needs neither torch nor any file outside ``models/``.

The graph takes ``input_ids`` and ``attention_mask`` (int64, batch x tokens) and returns one logit per
category (mean pooling over the tokens, one linear output per category).

Two kinds of graph exist. Older artifacts hold a *dynamically* quantised graph: each activation tensor is
quantised with a scale computed from the whole tensor at run time, so in a batch the other texts move a text's
score; those run one text at a time. Newer ones (``batch_invariant``) are *statically* quantised: int8 weights
per output channel and activation scales fixed at export from calibration texts, so every row of a batch is
computed exactly as it would be alone (integer matrix products, padding masked out of attention and pooling).
Those run in batches of texts of similar token length, sorted so that little padding is computed.

The session leaves out onnxruntime's ``SkipLayerNormalization`` and ``BiasGelu`` fusions
(:data:`DISABLED_OPTIMIZERS`), whose kernels are slower than what they replace (:func:`inference_session`); the
trainer stores graphs with their GELUs fused (``moderator.training.encoder.fuse_for_cpu``, which
``scripts/fuse_encoder.py`` applies to an older artifact). Measured in ``docs/benchmarks.md``, "The encoder's
runtime".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit


def _threads() -> int:
    """Threads per ONNX session: ``MODERATOR_ENCODER_THREADS``, default 1 (the service scales with processes
    and threads of its own; one intra-op thread per call keeps several calls from fighting over the cores)."""
    from moderator.config import env_value

    return max(1, int(env_value("encoder_threads")))


# onnxruntime graph rewrites not applied to the encoder, because their fused kernels (onnxruntime 1.32, CPU) are
# slower than what they replace: ``SkipLayerNormFusion`` merges each residual Add, bias Add and
# LayerNormalization into one com.microsoft ``SkipLayerNormalization``, about 5x the time of the three at this
# width (384), which was 18% of the shipped graph's time; ``BiasGeluFusion`` merges a bias Add and a ``Gelu``
# into ``BiasGelu``, a few percent of the graph slower than the two. Unfused, the graph computes the same
# function (float32 rounding apart).
DISABLED_OPTIMIZERS: tuple[str, ...] = ("SkipLayerNormFusion", "BiasGeluFusion")


def inference_session(onnx_model: bytes, threads: int = 1, profile_prefix: str | None = None,
                      optimized_model_path: str | None = None) -> Any:
    """An onnxruntime CPU session of an encoder graph as the scorer runs it: ``threads`` intra-op threads, one
    inter-op thread, onnxruntime's graph rewrites but :data:`DISABLED_OPTIMIZERS`. ``profile_prefix`` turns on
    onnxruntime's profiler (``bench/encoder_profile.py``); ``optimized_model_path`` saves the rewritten graph."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    if profile_prefix is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    if optimized_model_path is not None:
        opts.optimized_model_filepath = optimized_model_path
    return ort.InferenceSession(onnx_model, opts, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(DISABLED_OPTIMIZERS))


BATCH_TOKENS = 2048  # tokens (rows x padded width) per graph run: large enough to amortise a run's fixed cost
MAX_PADDING = 0.25  # a batch grows while its padded width stays within 25% (+2 tokens) of its shortest text


def length_batches(lengths: Sequence[int], max_tokens: int = BATCH_TOKENS) -> list[list[int]]:
    """Indices of ``lengths`` in batches of similar length: sorted, a new batch whenever the padded width would
    exceed ``MAX_PADDING`` over the batch's shortest text or the batch would exceed ``max_tokens`` tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current:
            shortest, width = lengths[current[0]], max(lengths[i], 1)
            if width > shortest * (1 + MAX_PADDING) + 2 or width * (len(current) + 1) > max_tokens:
                batches.append(current)
                current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def padded_feed(rows: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    """The graph's inputs for the token id lists ``rows``: padded with zeros to the longest, masked to the real
    tokens."""
    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, row in enumerate(rows):
        ids[r, :len(row)] = row
        mask[r, :len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask}


@dataclass
class EncoderScorer:
    """One encoder, one logit per category in ``categories``. Pickles as bytes; sessions are per process."""

    categories: tuple[str, ...]
    onnx_model: bytes
    tokenizer_json: str
    max_len: int = 128
    info: dict[str, Any] = field(default_factory=dict)  # base weights, training rows, epochs, seconds
    # True for a statically quantised graph (a text's score does not depend on its batch); artifacts written
    # before the flag existed unpickle with this default.
    batch_invariant: bool = False

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_session", None)
        state.pop("_tokenizer", None)
        return state

    def _runtime(self) -> tuple[Any, Any]:
        session = self.__dict__.get("_session")
        if session is None:
            from tokenizers import Tokenizer

            session = inference_session(self.onnx_model, _threads())
            tok = Tokenizer.from_str(self.tokenizer_json)
            tok.enable_truncation(self.max_len)
            tok.no_padding()
            self.__dict__["_session"], self.__dict__["_tokenizer"] = session, tok
        return session, self.__dict__["_tokenizer"]

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The WordPiece ids of each text as the graph reads them (truncated to ``max_len``, unpadded)."""
        return [enc.ids for enc in self._runtime()[1].encode_batch(list(texts))]

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(categories)) logits, in input order.

        A batch-invariant graph runs length-sorted batches (:func:`length_batches`); an older, dynamically
        quantised one runs each text on its own, because there a batch's other texts (and their padding) would
        move a text's score (by up to 0.14 in probability, measured) while alone a text always gets one score.
        """
        session = self._runtime()[0]
        ids = self.token_ids(texts)
        out = np.zeros((len(ids), len(self.categories)), dtype=np.float32)
        if not self.batch_invariant:
            for i, row in enumerate(ids):
                arr = np.asarray([row], dtype=np.int64)
                out[i] = session.run(None, {"input_ids": arr, "attention_mask": np.ones_like(arr)})[0][0]
            return out
        for batch in length_batches([len(r) for r in ids]):
            out[batch] = session.run(None, padded_feed([ids[i] for i in batch]))[0]
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(categories)) probabilities."""
        return expit(self.logits(texts).astype(np.float64))


__all__ = ["DISABLED_OPTIMIZERS", "EncoderScorer", "inference_session", "length_batches", "padded_feed"]
