"""Every text-processing step costs time linear in the text: adversarial inputs, long against short.

Each generated input is a short adversarial unit (runs of single characters, repeated separators, long
words, emoji, mixed scripts, zero-width characters, leetspeak) repeated to a short and to a long text. The
long text must not cost more per character than the short one, within a generous factor: a super-linear
step (the normaliser once took 37 s on 4,000 characters of ``a b a b``) fails by orders of magnitude.
Times are the process's CPU time, and two of them are compared rather than one against a wall-clock limit,
so a busy machine does not fail the test. The absolute numbers are in ``bench/text_linearity.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderator.dedup.signer import Signer
from moderator.model.features import LEET

pytestmark = pytest.mark.slow

SHORT, LONG = 400, 3_000  # characters (past 400, a run of single characters costs its most per character)
FACTOR = 6.0  # long may cost this many times the short text's time per character, plus SLACK
SLACK = 0.05  # seconds (of CPU time)

LETTERS = "abcdefghijklmnopqrstuvwxyz"
SEPARATORS = [" ", ".", "-", " . ", "_", "  ", "*", ", ", "\n", " - "]
EMOJI = "😀🔥💩👍🏽🇫🇷❤️‍🔥🤬🙈"
SCRIPTS = "аеорсухпривет αβγδ 中文字 العربية ｆｕｌｌ 𝐟𝐮𝐜𝐤 ßçé"
ZERO_WIDTH = "\u200b\u200c\u200d\ufeff\u2060\u00ad"

single_chars = st.builds(
    lambda chars, sep: sep.join(chars) + sep,
    st.lists(st.sampled_from(LETTERS + "".join(LEET)), min_size=1, max_size=12),
    st.sampled_from(SEPARATORS),
)
separators = st.text(alphabet=" .-_*!?,;:'\"()", min_size=1, max_size=8)
long_words = st.text(alphabet=LETTERS + "'-", min_size=1, max_size=12)  # repeated without spaces: one word
emoji = st.text(alphabet=EMOJI + " ", min_size=1, max_size=8)
mixed_scripts = st.text(alphabet=SCRIPTS + LETTERS[:6] + "0123", min_size=1, max_size=12)
zero_width = st.builds(lambda w, z: z.join(w) + z, st.text(alphabet=LETTERS, min_size=1, max_size=8),
                       st.sampled_from(ZERO_WIDTH))
leet_runs = st.text(alphabet="".join(LEET) + "fuckshitao*", min_size=1, max_size=10)
any_unit = st.one_of(single_chars, separators, long_words, emoji, mixed_scripts, zero_width, leet_runs)

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@cache
def _model():
    from moderator import load_model

    return load_model()


def repeat(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def _seconds(step: Callable[[str], object], text: str, fresh: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(2):
        fresh()
        t = time.process_time()
        step(text)
        best = min(best, time.process_time() - t)
    return best


def check_linear(step: Callable[[str], object], unit: str, long: int = LONG) -> None:
    """``step`` on ``unit`` repeated to LONG characters costs at most FACTOR x its per-character cost on
    SHORT characters (with a fresh normaliser cache each time, so repeats are not answered from it)."""
    norm = _model().normalizer
    fresh = norm._resolved.clear
    step(repeat(unit, SHORT))  # warm-up: first-use tables
    short = _seconds(step, repeat(unit, SHORT), fresh)
    longer = _seconds(step, repeat(unit, long), fresh)
    budget = FACTOR * short * long / SHORT + SLACK
    assert longer <= budget, f"{longer:.3f}s for {long} chars vs {short * 1e3:.2f}ms for {SHORT}: {unit!r}"


@SETTINGS
@given(any_unit)
def test_normalisation_is_linear(unit: str) -> None:
    check_linear(_model().normalizer.normalize, unit)


@SETTINGS
@given(any_unit)
def test_linear_scoring_is_linear(unit: str) -> None:
    view = _model().linear_view()
    check_linear(lambda t: view.predict_proba([t]), unit)


@SETTINGS
@given(any_unit)
def test_explanations_are_linear(unit: str) -> None:
    model = _model()
    check_linear(lambda t: [model.explain(t, c) for c in model.categories], unit, long=2_000)


@SETTINGS
@given(any_unit)
def test_dedup_signature_is_linear(unit: str) -> None:
    signer = Signer()
    check_linear(signer.sign, unit, long=8_000)


@pytest.mark.parametrize("unit", ["a b ", "f u c k ", "u o v 0 ", "b.u.l.l.s.h.i.t.", "1 l ! | ", "q w e r t y "])
def test_runs_of_single_characters_are_linear(unit: str) -> None:
    """The inputs that were cubic (or near it) before, at twice the length of the generated ones."""
    check_linear(_model().normalizer.normalize, unit, long=6_000)


def test_long_word_against_wildcard_patterns_is_linear() -> None:
    """A long word that almost matches a lexicon pattern with two wildcards (``fu[a-z]*c[a-z]*k``)."""
    check_linear(_model().normalizer.normalize, "fu" + "c" * 200 + "z", long=4_000)
    lexicon = _model().normalizer.lexicon
    assert lexicon.is_obscene_word("fuuuccck") and not lexicon.is_obscene_word("fu" + "c" * 5_000 + "z")


def test_caches_keep_no_long_words() -> None:
    """The per-word caches (resolved words, word n-grams) hold short words only: a stream of distinct long
    words must not grow them by the size of the words."""
    model = _model()
    norm = model.normalizer
    long_words = ["zq" * 500 + str(i) for i in range(3)]
    model.linear_view().predict_proba([" ".join([*long_words, "hello"])])
    assert "hello" in norm._resolved
    assert not any(len(w) > norm.RESOLVE_CACHE_WORD for w in norm._resolved)
    grams = model.__dict__.get("_word_grams", {})
    assert any("hello" in cache for cache in grams.values())
    assert not any(len(w) > 64 for cache in grams.values() for w in cache)
