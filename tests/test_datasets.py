"""Each loader against the row and label counts its corpus's SOURCE.md states."""

from __future__ import annotations

from collections import Counter

import pytest

from moderator.config import data_dir
from moderator.training import datasets

pytestmark = pytest.mark.skipif(
    not datasets.data_available(),
    reason=f"labelled corpora not found at {data_dir()} (set MODERATOR_DATA_DIR); CI has them",
)


def raw_counts(name: str) -> tuple[int, Counter[str]]:
    rows = datasets.load_corpus(name)
    return len(rows), Counter(r.raw_label for r in rows)


def label_counts(name: str, category: str) -> Counter[int | None]:
    return Counter(r.labels.get(category) for r in datasets.load_corpus(name))


def test_davidson() -> None:
    n, c = raw_counts("davidson_hate_offensive")
    assert n == 24783
    assert c == {"0": 1430, "1": 19190, "2": 4163}
    assert label_counts("davidson_hate_offensive", "hate_speech") == {1: 1430, 0: 23353}
    texts = [r.text for r in datasets.load_corpus("davidson_hate_offensive")]
    assert not any("&amp;" in t for t in texts)  # entities decoded


def test_olid_needs_quote_none() -> None:
    n, c = raw_counts("olid")
    assert n == 13240
    assert c == {"NOT/NULL/NULL": 8840, "OFF/TIN/GRP": 1074, "OFF/TIN/IND": 2407, "OFF/TIN/OTH": 395,
                 "OFF/UNT/NULL": 524}
    assert label_counts("olid", "personal_attack") == {1: 2407, 0: 10833}
    assert label_counts("olid", "hate_speech") == {0: 12166, None: 1074}


def test_tweeteval_hate() -> None:
    rows = datasets.load_corpus("tweeteval_hate")
    by_split = Counter((r.meta["split"], r.raw_label) for r in rows)
    assert by_split == {("train", "0"): 5217, ("train", "1"): 3783, ("val", "0"): 573, ("val", "1"): 427}


def test_stormfront() -> None:
    n, c = raw_counts("stormfront_hate")
    assert n == 10428
    assert c == {"hate": 957, "noHate": 9230, "relation": 168, "idk/skip": 73}
    assert label_counts("stormfront_hate", "hate_speech") == {0: 9230, 1: 957, None: 241}


def test_impermium_decodes_escapes() -> None:
    n, c = raw_counts("impermium_insults")
    assert n == 3947
    assert c == {"0": 2898, "1": 1049}
    texts = [r.text for r in datasets.load_corpus("impermium_insults")]
    assert not any(t.startswith('"') and t.endswith('"') for t in texts)
    assert not any("\\xa0" in t or "\\n" in t or "\\u2019" in t for t in texts)
    assert any("\n" in t for t in texts) and any("\xa0" in t for t in texts)


def test_youtube_spam() -> None:
    rows = datasets.load_corpus("youtube_spam")
    assert len(rows) == 1956
    assert Counter(r.raw_label for r in rows) == {"0": 951, "1": 1005}
    per_file = Counter(r.meta["video"] for r in rows)
    assert per_file == {"Youtube01-Psy.csv": 350, "Youtube02-KatyPerry.csv": 350, "Youtube03-LMFAO.csv": 438,
                        "Youtube04-Eminem.csv": 448, "Youtube05-Shakira.csv": 370}
    assert not any("\ufeff" in r.text or "<br" in r.text for r in rows)


def test_trac1_without_header() -> None:
    rows = datasets.load_corpus("trac1_aggression")
    c = Counter((r.meta["split"], r.raw_label) for r in rows)
    assert c == {("train", "NAG"): 5051, ("train", "CAG"): 4240, ("train", "OAG"): 2708,
                 ("dev", "NAG"): 1233, ("dev", "CAG"): 1057, ("dev", "OAG"): 711}
    assert label_counts("trac1_aggression", "personal_attack") == {1: 3419, 0: 6284, None: 5297}


def test_ruddit_continuous_score() -> None:
    rows = datasets.load_corpus("ruddit")
    assert len(rows) == 5658  # 6000 minus 342 deleted/removed
    scores = [float(r.raw_label) for r in rows]
    assert sum(s >= 0.5 for s in scores) == 488
    assert sum(s <= 0 for s in scores) == 3380
    assert all(r.labels == {} for r in rows)


def test_file_hashes_match_source_md() -> None:
    hashes = datasets.file_hashes()
    assert hashes["davidson_hate_offensive/labeled_data.csv"] == (
        "fcb8bc7c68120ae4af04a5b9acd58585513ede11e1548ebf36a5c2040b6f6281")
    assert hashes["profanity_wordlists/ldnoobw_en.txt"] == (
        "af851ecef1d5f212caba17339b12ac39cc2fef7d78c74876f67237644fcee8bd")


def test_missing_data_dir_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(datasets.DataMissingError, match="MODERATOR_DATA_DIR"):
        datasets.load_corpus("olid", tmp_path)
