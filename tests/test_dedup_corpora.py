"""A small run of the duplicate benchmark on the real corpora (read in place; skipped when absent)."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

import pytest

from moderator.config import data_dir
from moderator.dedup.detector import Detector
from moderator.dedup.settings import DedupSettings

BENCH = Path(__file__).resolve().parents[1] / "bench" / "dedup_bench.py"
NEEDED = ("impermium_insults", "youtube_spam", "ruddit", "trac1_aggression")

pytestmark = [
    pytest.mark.corpora,
    pytest.mark.skipif(not all((data_dir() / name).is_dir() for name in NEEDED),
                       reason=f"corpora {', '.join(NEEDED)} not found in {data_dir()} (MODERATOR_DATA_DIR)"),
]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("dedup_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_settings_reach_the_targets_on_a_corpus_sample(bench):
    corpora = bench.load_corpora(data_dir(), DedupSettings().min_chars)
    stored, queries = bench.build_pairs(corpora, n_pos=400, n_neg=400, seed=11)
    d = Detector(DedupSettings(rate_limit="", flood_authors=2))
    for i, text in enumerate(stored):
        d.record(i, text, "author", bench.T0)
    tp = fp = fn = 0
    for text, label, kind, _, _ in queries:
        who = "another-author" if kind == "common_reply" else "author"
        found = d.check(text, who, bench.T0 + timedelta(minutes=1)) is not None
        tp += label and found
        fn += label and not found
        fp += (not label) and found
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert recall >= 0.95, (tp, fn)
    assert precision >= 0.98, (tp, fp)  # 0.99 on the full benchmark; a 400-pair sample is noisier


def test_every_perturbation_kind_is_a_repeat(bench):
    import random

    rng = random.Random(3)
    base = "Honestly the referee ruined the second half with those calls, the whole stadium saw it"
    d = Detector(DedupSettings(rate_limit=""))
    d.record(1, base, "fan", bench.T0)
    for kind in bench.KINDS:
        assert d.check(bench.perturb(rng, base, kind), "fan", bench.T0) is not None, kind
