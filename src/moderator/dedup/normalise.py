"""Normalisation, fingerprints and shingles of comment texts (pure functions).

1. :func:`normalise` folds Unicode compatibility forms (NFKC), look-alike letters from other scripts
   (Unicode's confusables table), accents and emoji (unidecode), case, punctuation and whitespace.
2. :func:`fingerprint` hashes the normalised letters and digits: equal fingerprints are exact
   (normalised) repeats.
3. :func:`shingles` are the character ``k``-grams of the normalised text, compared by their exact
   :func:`jaccard` similarity.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

import numpy as np
import xxhash

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# a quoted line: Markdown / e-mail ``>`` (also HTML-escaped, and full-width), after optional indentation
_QUOTED_LINE = re.compile(r"^[ \t]*(?:>|&gt;|＞).*(?:\n|$)", re.MULTILINE)


def strip_quoted(text: str) -> str:
    r"""``text`` without its quoted lines (``> ...``), unless it is nothing but quoted lines.

    A reply that quotes an earlier comment and answers it says only the answer: compared whole, it could
    reach the threshold against the comment it quotes. A text made only of quoted lines is kept as it is,
    so quoting a comment is not a way to repeat it unnoticed.

    >>> strip_quoted("> You never read the report.\n\nI did, twice.")
    '\nI did, twice.'
    """
    if ">" not in text and "&gt;" not in text and "＞" not in text:
        return text
    rest = _QUOTED_LINE.sub("", text)
    return rest if rest.strip() else text


@cache
def _confusables_table() -> dict[int, str]:
    """Non-ASCII characters that Unicode's confusables table says look like one ASCII letter or digit."""
    from confusable_homoglyphs import utils

    table: dict[int, str] = {}
    for char, glyphs in utils.load("confusables.json").items():
        if len(char) != 1 or char.isascii():
            continue
        for glyph in glyphs:
            c = glyph["c"]
            if len(c) == 1 and c.isascii() and c.isalnum():
                table[ord(char)] = c
                break
    return table


def normalise(text: str) -> str:
    """Comparable form of a comment: lower-case ASCII letters and digits, single spaces between words.

    NFKC first (full-width and styled letters), then look-alike letters from other scripts
    (Cyrillic ``а`` -> ``a``), then the remaining accents and scripts are transliterated (emoji vanish),
    case-folded, and every run of punctuation or whitespace becomes one space.

    >>> normalise("  Ｈello,   WORLD!!! 😀 Café ")
    'hello world cafe'
    """
    if text.isascii():  # the common case: nothing to fold but case and punctuation
        return _NON_ALNUM.sub(" ", text.lower()).strip()
    folded = _fold(unicodedata.normalize("NFKC", text))
    return _NON_ALNUM.sub(" ", folded.casefold()).strip()


@cache
def _fold_table() -> dict[int, str]:
    """The ``str.translate`` table of :func:`_fold`: ASCII as itself and the confusables; characters are
    added on first use."""
    return {**{c: chr(c) for c in range(128)}, **_confusables_table()}


_FOLD_TABLE_GROWTH = 65_536  # characters :func:`_fold` may add to its table


def _fold(text: str) -> str:
    """Each character as its confusable ASCII letter or digit if it has one, else ``unidecode(character)``.

    The same as ``unidecode(text.translate(_confusables_table()))``, faster: unidecode replaces one
    character at a time in a Python loop (~0.1 ms per 1,000 characters), ``str.translate`` does it in C
    once every distinct character of the text is in the table. Only 65,536 characters are ever added,
    so a text made of every code point cannot grow it without bound (past that, unidecode is called).
    """
    table = _fold_table()
    new = [c for c in set(text) if ord(c) not in table]
    if new:
        from unidecode import unidecode

        if len(table) + len(new) > len(_confusables_table()) + 128 + _FOLD_TABLE_GROWTH:
            return unidecode(text.translate(table))
        for c in new:
            table[ord(c)] = unidecode(c)
    return text.translate(table)


def fingerprint(normalised: str) -> int:
    """64-bit hash of the letters and digits of a normalised text (spaces dropped)."""
    return xxhash.xxh3_64_intdigest(normalised.replace(" ", "").encode())


# normalise() leaves 37 symbols (space, 0-9, a-z): a k-gram is a k-digit base-37 number, exact for
# k <= 6 in 32 bits (37**6 < 2**32), so shingles need no hashing and no Python loop.
_DIGIT = np.zeros(256, dtype=np.uint32)
for _i, _c in enumerate(" 0123456789abcdefghijklmnopqrstuvwxyz"):
    _DIGIT[ord(_c)] = _i
MAX_SHINGLE_SIZE = 6


def shingles(normalised: str, k: int = 4) -> np.ndarray:
    """Sorted unique codes of the character ``k``-grams of a normalised text (``k`` <= 6).

    Each code is the gram read as a base-37 number, so two different grams never share a code. A text
    shorter than ``k`` is one shingle. Returned as a ``uint32`` array (compact, and the exact Jaccard of
    two of them is one ``np.intersect1d``).
    """
    if not 1 <= k <= MAX_SHINGLE_SIZE:
        raise ValueError(f"shingle size must be 1..{MAX_SHINGLE_SIZE}, not {k}")
    digits = _DIGIT[np.frombuffer(normalised.encode("ascii", "ignore"), dtype=np.uint8)]
    if digits.size <= k:  # one shingle: the whole (short) text
        code = 0
        for d in digits.tolist():
            code = code * 37 + d
        return np.array([code], dtype=np.uint32)
    n = digits.size - k + 1
    codes = digits[:n].copy()
    for j in range(1, k):
        codes *= np.uint32(37)
        codes += digits[j : j + n]
    # sort and drop repeats in place: np.unique (a hash table since numpy 2.3) is ~20x slower here
    codes.sort()
    if n > 1:
        keep = np.empty(n, dtype=bool)
        keep[0] = True
        np.not_equal(codes[1:], codes[:-1], out=keep[1:])
        codes = codes[keep]
    return codes


@lru_cache(maxsize=16_384)
def _cached_shingles(normalised: str, k: int) -> np.ndarray:
    """:func:`shingles` of stored texts, cached: floods make the same candidates come back."""
    arr = shingles(normalised, k)
    arr.flags.writeable = False
    return arr


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique shingle arrays."""
    if a.size == 0 and b.size == 0:
        return 1.0
    # both are sorted and unique, so a value present in both appears twice in a row once they are merged
    merged = np.concatenate((a, b))
    merged.sort()
    inter = int(np.count_nonzero(merged[1:] == merged[:-1]))
    return inter / (a.size + b.size - inter)


__all__ = ["MAX_SHINGLE_SIZE", "fingerprint", "jaccard", "normalise", "shingles", "strip_quoted"]
