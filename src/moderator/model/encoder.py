"""The fine-tuned transformer encoder: scores for the categories the linear model reads least well.

A fine-tuned all-MiniLM-L6-v2 (see :mod:`moderator.training.encoder`) reads a comment as a whole: who an
insult is aimed at, a slur-free dehumanising sentence. Word and character n-grams cannot, and on the two
comment-section corpora the linear model saturates below the targets (``docs/benchmarks.md``). This module
only *runs* the encoder: an int8 ONNX graph (``onnxruntime``) and the WordPiece tokenizer (``tokenizers``),
both stored inside the model artifact, so scoring needs neither torch nor any file outside ``models/``.

The graph takes ``input_ids`` and ``attention_mask`` (int64, batch x tokens) and returns one logit per
category (mean pooling over the tokens, one linear output per category).
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


@dataclass
class EncoderScorer:
    """One encoder, one logit per category in ``categories``. Pickles as bytes; sessions are per process."""

    categories: tuple[str, ...]
    onnx_model: bytes
    tokenizer_json: str
    max_len: int = 128
    info: dict[str, Any] = field(default_factory=dict)  # base weights, training rows, epochs, seconds

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_session", None)
        state.pop("_tokenizer", None)
        return state

    def _runtime(self) -> tuple[Any, Any]:
        session = self.__dict__.get("_session")
        if session is None:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = _threads()
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            session = ort.InferenceSession(self.onnx_model, opts, providers=["CPUExecutionProvider"])
            tok = Tokenizer.from_str(self.tokenizer_json)
            tok.enable_truncation(self.max_len)
            tok.no_padding()
            self.__dict__["_session"], self.__dict__["_tokenizer"] = session, tok
        return session, self.__dict__["_tokenizer"]

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(categories)) logits, each text run on its own.

        Not batched, on purpose: the int8 graph quantises its activations with one scale per tensor, so a
        batch's other texts (and their padding) would move a text's score (by up to 0.1 in probability,
        measured); alone, a text always gets the same score. On a CPU, one at a time is no slower here.
        """
        session, tok = self._runtime()
        out = np.zeros((len(texts), len(self.categories)), dtype=np.float32)
        for i, enc in enumerate(tok.encode_batch(list(texts))):
            ids = np.asarray([enc.ids], dtype=np.int64)
            out[i] = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(categories)) probabilities."""
        return expit(self.logits(texts).astype(np.float64))


__all__ = ["EncoderScorer"]
