"""MinHash signatures of comment texts, cut into LSH bands (datasketch's MinHash, vectorised)."""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

import numpy as np
import xxhash

from moderator.dedup.normalise import fingerprint, normalise, shingles, strip_quoted


def _identity(value: int) -> int:
    return value


@cache
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """LSH ``(bands, rows)`` for a Jaccard threshold, weighted towards recall (candidates are verified
    exactly, so a false candidate only costs time). Uses datasketch's parameter search."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, 0.2, 0.8)


class Signature(NamedTuple):
    """Everything the index needs about one text."""

    normalised: str
    fingerprint: int
    shingles: np.ndarray | None  # all shingles; None for a text longer than MINHASH_CHARS (computed when needed)
    band_keys: tuple[int, ...]  # one 64-bit key per LSH band
    minhash: np.ndarray  # the MinHash values (uint32, num_perm of them)


MINHASH_CHARS = 1000  # normalised characters a MinHash covers (the 99th percentile of corpus comments is ~830)


class Signer:
    """Turns texts into :class:`Signature` s: datasketch MinHash over shingle hashes, cut into bands."""

    def __init__(self, num_perm: int = 64, threshold: float = 0.6, shingle_size: int = 4,
                 bands: int = 0) -> None:
        from datasketch import MinHash

        self.num_perm = num_perm
        self.shingle_size = shingle_size
        if bands:
            self.bands, self.rows = bands, num_perm // bands
        else:
            self.bands, self.rows = lsh_params(threshold, num_perm)
        # shingle codes are already 32-bit integers: the MinHash takes them through the identity
        self._template = MinHash(num_perm=num_perm, seed=1, hashfunc=_identity)
        self._fast = _vectorised_minhash_matches(self._template)

    def minhash(self, shingle_codes: np.ndarray) -> Any:
        """The datasketch :class:`~datasketch.MinHash` of a shingle array (``update_batch``)."""
        m = self._template.copy()
        m.update_batch(shingle_codes.tolist())
        return m

    def minhash_values(self, shingle_codes: np.ndarray) -> np.ndarray:
        """``self.minhash(codes).hashvalues``, computed as one numpy expression with the MinHash's own
        permutations and pre-mix (``update_batch`` spends most of its time in a Python loop calling the
        hash function per value). Checked against ``update_batch`` once per Signer; if datasketch ever
        changes its scheme the slow path is used."""
        if not self._fast or shingle_codes.size == 0:
            return self.minhash(shingle_codes).hashvalues
        from datasketch.minhash import _fmix

        a, b = self._template.permutations
        hv = _fmix(shingle_codes.astype(np.uint32).reshape(-1, 1), 32)
        return np.minimum(self._template.hashvalues, (hv * a + b).min(axis=0))

    def bands_of(self, values: np.ndarray | bytes) -> tuple[int, ...]:
        """The LSH band keys of MinHash values (an array, or its bytes as stored in an :class:`Entry`)."""
        if isinstance(values, bytes):
            values = np.frombuffer(values, dtype=np.uint32)
        r = self.rows
        return tuple(
            xxhash.xxh3_64_intdigest(values[i * r : (i + 1) * r].tobytes(), seed=i) for i in range(self.bands)
        )

    def band_keys(self, shingle_codes: np.ndarray) -> tuple[int, ...]:
        return self.bands_of(self.minhash_values(shingle_codes))

    def sign(self, text: str) -> Signature:
        """Normalise (after :func:`strip_quoted`), fingerprint and MinHash ``text``. The MinHash covers the
        first :data:`MINHASH_CHARS` normalised characters (the cost grows with length; the exact Jaccard
        that decides always uses the whole text); ``shingles`` is None when the text is longer than that."""
        norm = normalise(strip_quoted(text))
        sh = shingles(norm[:MINHASH_CHARS], self.shingle_size)
        values = self.minhash_values(sh)
        full = sh if len(norm) <= MINHASH_CHARS else None
        return Signature(norm, fingerprint(norm), full, self.bands_of(values), values)


def _vectorised_minhash_matches(template: Any) -> bool:
    try:
        from datasketch.minhash import _fmix
    except ImportError:  # pragma: no cover - another datasketch layout
        return False
    if template.scheme != "affine32":  # pragma: no cover
        return False
    probe = np.array([0, 1, 7, 2**31 + 5, 2**32 - 1, 123_456_789], dtype=np.uint32)
    m = template.copy()
    m.update_batch(probe.tolist())
    a, b = template.permutations
    fast = np.minimum(template.hashvalues, (_fmix(probe.reshape(-1, 1), 32) * a + b).min(axis=0))
    return bool(np.array_equal(fast, m.hashvalues))


__all__ = ["MINHASH_CHARS", "Signature", "Signer", "lsh_params"]
