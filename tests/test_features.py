"""Normalisation: obfuscations resolve, Scunthorpe traps stay clean, spans point into the original text."""

from __future__ import annotations

import pytest

from moderator import load_model
from moderator.model.features import fold, tokenize


@pytest.fixture(scope="module")
def normalizer():
    return load_model().normalizer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("f*ck", "fuck"),
        ("f**k", "fuck"),
        ("sh*t", "shit"),
        ("sh1t", "shit"),
        ("5hit", "shit"),
        ("@ss", "ass"),
        ("a$$hole", "asshole"),
        ("m0r0n", "moron"),
        ("f u c k", "fuck"),
        ("b.u.l.l.s.h.i.t", "bullshit"),
        ("F.U.C.K", "fuck"),
        ("f-u-c-k", "fuck"),
        ("fuuuck", "fuck"),
        ("shiiiiit", "shit"),
        ("fvck", "fuck"),
        ("phuck", "fuck"),
        ("fu\u0441k", "fuck"),  # Cyrillic es
        ("\u0455hit", "shit"),  # Cyrillic dze
        ("\uff46\uff55\uff43\uff4b", "fuck"),  # fullwidth
        ("\U0001d41f\U0001d42e\U0001d41c\U0001d424", "fuck"),  # mathematical bold
        ("fu\u200bck", "fuck"),  # zero-width space
        ("FuCk", "fuck"),
        ("sh!!!t", "shit"),
        ("fucck", "fuck"),
        ("booob", "boob"),
    ],
)
def test_obfuscations_resolve(normalizer, text: str, expected: str) -> None:
    assert normalizer.normalize(text) == expected


@pytest.mark.parametrize(
    "text",
    ["Scunthorpe United won again", "the assassin ordered a cocktail", "my therapist is great",
     "Dick Van Dyke sang", "we read Moby Dick at school", "tit for tat", "a classic bass passage",
     "Penistone and Essex", "she graduated magna cum laude", "a pair of blue tits in the garden",
     "she covered my shift today", "a clean shirt and a dipstick", "my dad is a terrible cook", "he cooks dal"],
)
def test_scunthorpe_traps_have_no_lexicon_hit(normalizer, text: str) -> None:
    tokens = [t.norm for t in normalizer.tokens(text)]
    assert normalizer.lexicon.matches(tokens) == [], tokens


def test_ordinary_words_are_not_rewritten(normalizer) -> None:
    text = "Good morning, I'd like to book a room for three nights in Sussex."
    assert normalizer.normalize(text) == "good morning i'd like to book a room for three nights in sussex"


def test_urls_and_mentions_become_placeholders(normalizer) -> None:
    assert normalizer.normalize("see https://spam.example.com/x?y=1 @bob_99") == "see xxurl xxuser"
    assert normalizer.normalize("visit www.example.org now") == "visit xxurl now"


def test_spans_point_into_the_original_text(normalizer) -> None:
    text = "Well f\u200bu\u0441k   that, you m0r0n!"
    toks = normalizer.tokens(text)
    by_norm = {t.norm: text[t.start:t.end] for t in toks}
    assert by_norm["fuck"] == "f\u200bu\u0441k"
    assert by_norm["moron"] == "m0r0n"
    spelled = "what a c u n t."
    toks = normalizer.tokens(spelled)
    assert [spelled[t.start:t.end] for t in toks if t.norm == "cunt"] == ["c u n t"]


def test_fold_keeps_offsets() -> None:
    folded, origin = fold("A\u200bB\uff43")
    assert folded == "abc"
    assert origin == [0, 2, 3]


def test_tokenize_without_vocabulary() -> None:
    kinds = [(t.norm, t.kind) for t in tokenize("Hi @joe :) see bit.ly/x !!!")]
    assert ("xxuser", "user") in kinds
    assert ("xxurl", "url") in kinds
    assert (":)", "emoticon") in kinds
    assert ("!!!", "punct") in kinds
