"""Measure duplicate detection: precision/recall over thresholds and num_perm, look-up latency and memory.

Labelled pairs are built from real comment texts read in place from the corpora (never copied):

* positives: a base comment and a perturbation of it (case, whitespace, punctuation, typos, a word
  inserted / deleted / swapped, homoglyphs, emoji, and combinations) — the same author posting again;
* negatives: a different comment on the same topic (another comment under the same Ruddit post, another
  non-spam comment under the same YouTube video) and short common replies ("Thanks!", "+1").

Every stored comment is recorded in one detector under one author. Positives and same-topic negatives
are checked as that same author (the strictest case: one earlier comment is enough for a finding);
common replies are checked as a *different* author with ``flood_authors=2`` (the strictest flood
setting: one earlier author is enough). A positive counts as found when the detector returns a
finding; a negative is a false positive when it returns any finding.

Run::

    python bench/dedup_bench.py                       # quality sweep + latency/memory at 100k and 1M
    python bench/dedup_bench.py --quick               # small sample, 20k store (smoke run)
    python bench/dedup_bench.py --sizes 100000 --redis
    python bench/dedup_bench.py --no-quality --store mixed   # latency on a store that is not ~40 variants per text

Writes ``bench/results/dedup_bench.json`` and ``bench/results/dedup_bench.md``.
"""

from __future__ import annotations

import argparse
import csv
import gc
import html
import json
import os
import platform
import random
import re
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from moderator.config import data_dir
from moderator.dedup.detector import Detector
from moderator.dedup.normalise import jaccard, normalise, shingles
from moderator.dedup.settings import DedupSettings
from moderator.dedup.signer import lsh_params

RESULTS = Path(__file__).resolve().parent / "results"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
COMMON_REPLIES = [
    "Thanks!", "Thank you", "thanks :)", "+1", "lol", "LOL", "haha", "Great article", "Great article!",
    "Nice", "nice one", "Agreed", "I agree", "So true", "This.", "Well said", "Wow", "Exactly!",
    "Same here", "Me too", "First!", "Love it", "Love this song", "Awesome", "Cool video", "+100",
    "Great post, thanks", "Good point", "Yes!", "No.", "Totally agree", "Congrats!", "OMG", "❤️❤️❤️",
]
FILLER_WORDS = ["really", "just", "very", "actually", "so", "totally", "honestly", "also", "still", "the"]
HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і", "y": "у",
              "A": "А", "E": "Е", "O": "О", "P": "Р", "C": "С", "T": "Т", "H": "Н", "B": "В"}
EMOJI = ["😀", "😂", "🔥", "👍", "🙄", "❤️", "💯", "😡", "🎉", "🤔"]


# --------------------------------------------------------------------------------------------------
# corpora, read in place


def _impermium(root: Path) -> list[tuple[str, str]]:
    out = []
    with open(root / "impermium_insults" / "train.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            text = row["Comment"]
            if len(text) >= 2 and text[0] == text[-1] == '"':
                text = text[1:-1]
            text = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
            out.append(("impermium", text))
    return out


def _youtube(root: Path) -> list[tuple[str, str, str]]:
    """(video, text, class) rows."""
    out = []
    for path in sorted((root / "youtube_spam").glob("Youtube*.csv")):
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                text = html.unescape(re.sub(r"<[^>]+>", " ", row["CONTENT"])).replace("\ufeff", "")
                out.append((path.stem, text, row["CLASS"]))
    return out


def _ruddit(root: Path) -> list[tuple[str, str]]:
    """(post id, text) rows."""
    out = []
    with open(root / "ruddit" / "ruddit_with_text.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            body = row["comment_body"]
            if body and body not in {"[deleted]", "[removed]"}:
                out.append((row["post_id"], body))
    return out


def _trac1(root: Path) -> list[str]:
    out = []
    for name in ("agr_en_train.csv", "agr_en_dev.csv"):
        with open(root / "trac1_aggression" / name, encoding="utf-8", newline="") as f:
            out.extend(row[1] for row in csv.reader(f) if len(row) >= 2)
    return out


def _other_texts(root: Path) -> list[str]:
    """Texts of the four corpora the labelled set does not use (Davidson, OLID, Stormfront, TweetEval):
    only the mixed latency store reads them."""
    out = []
    with open(root / "davidson_hate_offensive" / "labeled_data.csv", encoding="utf-8", newline="") as f:
        out.extend(html.unescape(row["tweet"]) for row in csv.DictReader(f))
    with open(root / "olid" / "olid-training-v1.0.tsv", encoding="utf-8", newline="") as f:
        out.extend(row["tweet"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    with open(root / "stormfront_hate" / "stormfront_sentences.csv", encoding="utf-8", newline="") as f:
        out.extend(row["text"] for row in csv.DictReader(f))
    for name in ("train_text.txt", "val_text.txt"):
        with open(root / "tweeteval_hate" / name, encoding="utf-8") as f:
            out.extend(line.rstrip("\n") for line in f)
    return out


def _letters(text: str) -> int:
    n = normalise(text)
    return len(n) - n.count(" ")


def load_corpora(root: Path, min_letters: int) -> dict[str, list]:
    """Unique (by normalised text) comments with at least ``min_letters`` letters and digits."""
    seen: set[str] = set()

    def keep(text: str) -> bool:
        n = normalise(text)
        key = n.replace(" ", "")
        if len(key) < min_letters or key in seen:
            return False
        seen.add(key)
        return True

    yt = [(v, t, c) for v, t, c in _youtube(root) if keep(t)]
    rd = [(p, t) for p, t in _ruddit(root) if keep(t)]
    imp = [t for _, t in _impermium(root) if keep(t)]
    tr = [t for t in _trac1(root) if keep(t)]
    return {"youtube": yt, "ruddit": rd, "impermium": imp, "trac1": tr}


# --------------------------------------------------------------------------------------------------
# perturbations (a repeat by the same author)


def _typo(rng: random.Random, text: str) -> str:
    idx = [i for i, ch in enumerate(text) if ch.isalpha()]
    if not idx:
        return text
    i = rng.choice(idx)
    op = rng.choice(["sub", "del", "ins", "swap"])
    ch = rng.choice("abcdefghijklmnopqrstuvwxyz")
    if op == "sub":
        return text[:i] + ch + text[i + 1 :]
    if op == "del":
        return text[:i] + text[i + 1 :]
    if op == "ins":
        return text[:i] + ch + text[i:]
    return text[:i] + text[i + 1 : i + 2] + text[i] + text[i + 2 :] if i + 1 < len(text) else text


def _words(text: str) -> list[str]:
    return text.split()


def perturb(rng: random.Random, text: str, kind: str) -> str:
    words = _words(text)
    if kind == "case":
        return rng.choice([text.upper(), text.lower(), text.title(), text.swapcase()])
    if kind == "whitespace":
        return "  " + re.sub(r" ", lambda _: rng.choice([" ", "  ", "\n", " \t "]), text) + "\n"
    if kind == "punctuation":
        stripped = re.sub(r"[!-/:-@\[-`{-~]", "", text)  # ASCII punctuation only
        return rng.choice([stripped, text + "!!!", text.replace(" ", ", ", 1) + "?!", "..." + stripped])
    if kind == "typo":
        out = _typo(rng, text)
        return _typo(rng, out) if len(text) > 80 else out
    if kind == "word_inserted":
        i = rng.randint(0, len(words))
        return " ".join([*words[:i], rng.choice(FILLER_WORDS), *words[i:]])
    if kind == "word_deleted":
        if len(words) < 3:
            return _typo(rng, text)
        i = rng.randrange(len(words))
        return " ".join(words[:i] + words[i + 1 :])
    if kind == "words_swapped":
        if len(words) < 2:
            return _typo(rng, text)
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
        return " ".join(words)
    if kind == "homoglyphs":
        return "".join(HOMOGLYPHS[c] if c in HOMOGLYPHS and rng.random() < 0.4 else c for c in text)
    if kind == "emoji":
        extra = "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 3)))
        return rng.choice([text + " " + extra, extra + " " + text, text.replace(" ", f" {extra} ", 1)])
    if kind == "combined":  # three small edits at once
        for k in rng.sample(["case", "punctuation", "typo", "emoji", "homoglyphs", "word_inserted"], 3):
            text = perturb(rng, text, k)
        return text
    raise ValueError(kind)


KINDS = ["case", "whitespace", "punctuation", "typo", "word_inserted", "word_deleted", "words_swapped",
         "homoglyphs", "emoji", "combined"]


# --------------------------------------------------------------------------------------------------
# the labelled set


def build_pairs(corpora: dict[str, list], n_pos: int, n_neg: int, seed: int):
    """``stored`` texts, ``queries`` (text, label, kind, base index, source)."""
    rng = random.Random(seed)
    stored: list[str] = []
    queries: list[tuple[str, int, str, int, str]] = []

    # negatives first: topic-mates (store one comment, query another from the same post/video)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for post, text in corpora["ruddit"]:
        groups[("ruddit", post)].append(text)
    for video, text, cls in corpora["youtube"]:
        if cls == "0":  # non-spam: spam comments are often genuine copies of each other
            groups[("youtube", video)].append(text)
    topic_pairs = []
    for (source, _), texts in groups.items():
        rng.shuffle(texts)
        for a, b in zip(texts[0::2], texts[1::2], strict=False):
            topic_pairs.append((source, a, b))
    rng.shuffle(topic_pairs)
    for source, a, b in topic_pairs[:n_neg]:
        stored.append(a)
        queries.append((b, 0, "same_topic", len(stored) - 1, source))
    # short common replies: each one stored, then posted again by another author
    for reply in COMMON_REPLIES:
        stored.append(reply)
        for variant in (reply, reply.lower() + "!", reply.upper()):
            queries.append((variant, 0, "common_reply", len(stored) - 1, "written"))

    # positives: bases from all four corpora, neither stored nor used as a query already
    used = set(stored) | {q[0] for q in queries}
    pool = [("ruddit", t) for _, t in corpora["ruddit"]] + [("youtube", t) for _, t, _ in corpora["youtube"]]
    pool += [("impermium", t) for t in corpora["impermium"]] + [("trac1", t) for t in corpora["trac1"]]
    pool = [(s, t) for s, t in pool if t not in used]
    rng.shuffle(pool)
    for i, (source, base) in enumerate(pool[:n_pos]):
        kind = KINDS[i % len(KINDS)]
        stored.append(base)
        queries.append((perturb(rng, base, kind), 1, kind, len(stored) - 1, source))
    return stored, queries


# --------------------------------------------------------------------------------------------------
# quality


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def exact_jaccard_sweep(stored, queries, thresholds, ks):
    """Pair-level: exact Jaccard of the query and its own stored partner (no LSH), per shingle size."""
    out = []
    for k in ks:
        sims = np.array([jaccard(shingles(normalise(q), k), shingles(normalise(stored[i]), k))
                         for q, _, _, i, _ in queries])
        labels = np.array([lab for _, lab, _, _, _ in queries])
        letters = np.array([_letters(q) for q, _, _, _, _ in queries])
        eligible = letters >= DedupSettings().min_chars
        for th in thresholds:
            flag = (sims >= th) & eligible
            tp = int((flag & (labels == 1)).sum())
            fp = int((flag & (labels == 0)).sum())
            fn = int((~flag & (labels == 1)).sum())
            p, r = _prf(tp, fp, fn)
            out.append({"shingle_size": k, "threshold": th, "precision": p, "recall": r, "tp": tp, "fp": fp,
                        "fn": fn})
    return out


def detector_sweep(stored, queries, thresholds, num_perms, min_chars):
    """End-to-end: every stored text in one detector (LSH + exact verification), each query checked."""
    out, examples = [], {}
    for num_perm in num_perms:
        for th in thresholds:
            settings = DedupSettings(threshold=th, num_perm=num_perm, rate_limit="", min_chars=min_chars,
                                     flood_authors=2)
            d = Detector(settings)
            t = time.perf_counter()
            for i, text in enumerate(stored):
                d.record(i, text, "author", T0)
            t_record = time.perf_counter() - t
            tp = fp = fn = 0
            per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            fps, fns = [], []
            t = time.perf_counter()
            for text, label, kind, base, source in queries:
                who = "another-author" if kind == "common_reply" else "author"
                finding = d.check(text, who, T0 + timedelta(minutes=1))
                found = finding is not None
                per_kind[kind][0] += int(found)
                per_kind[kind][1] += 1
                if label and found:
                    tp += 1
                elif label:
                    fn += 1
                    fns.append({"kind": kind, "source": source, "stored_index": base})  # no corpus text
                elif found:
                    fp += 1
                    fps.append({"kind": kind, "source": source, "similarity": finding.similarity,
                                "stored_index": finding.of})
            t_check = time.perf_counter() - t
            p, r = _prf(tp, fp, fn)
            bands, rows = lsh_params(th, num_perm)
            out.append({"num_perm": num_perm, "threshold": th, "bands": bands, "rows": rows, "precision": p,
                        "recall": r, "tp": tp, "fp": fp, "fn": fn,
                        "flagged_by_kind": {k: f"{v[0]}/{v[1]}" for k, v in sorted(per_kind.items())},
                        "record_us": 1e6 * t_record / len(stored), "check_us": 1e6 * t_check / len(queries)})
            examples[f"{num_perm}/{th}"] = {"false_positives": fps[:8], "false_negatives": fns[:8]}
            print(f"  num_perm={num_perm:<4} threshold={th:.2f} b={bands:<3} r={rows:<2} "
                  f"precision={p:.4f} recall={r:.4f} (fp={fp}, fn={fn})", flush=True)
    return out, examples


# --------------------------------------------------------------------------------------------------
# latency and memory


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def synthesise(pool: list[str], n: int, seed: int):
    """``n`` distinct comments made of corpus texts: a base, often joined with part of another, often
    perturbed (so the store is not just ``len(pool)`` texts repeated)."""
    rng = random.Random(seed)
    for i in range(n):
        text = pool[i % len(pool)]
        if i >= len(pool):
            other = pool[rng.randrange(len(pool))]
            words = other.split()
            cut = rng.randint(1, max(1, len(words) // 2))
            text = f"{text} {' '.join(words[:cut])}" if rng.random() < 0.5 else f"{' '.join(words[-cut:])} {text}"
            if rng.random() < 0.5:
                text = perturb(rng, text, rng.choice(KINDS))
            text = f"{text} #{i}"  # keeps every stored comment distinct
        yield text


def synthesise_mixed(pool: list[str], n: int, seed: int, repeat_rate: float = 0.01,
                     floods: int = 20, flood_copies: int = 500):
    """``n`` comments that are mostly *not* near-copies of one another, closer to a real window of traffic
    than :func:`synthesise` (where every corpus text has ~40 variants at 1M):

    * every corpus text once as it is;
    * then comments made of two or three word windows (at least four words, or the whole text) of
      different random corpus texts, so stored comments share fragments but rarely most of their text;
    * ``repeat_rate`` of them a perturbed repeat of an earlier stored comment (an author posting again);
    * ``floods`` campaigns of ``flood_copies`` perturbed copies of one comment each, spread over the store.
    """
    rng = random.Random(seed)
    words = [t.split() for t in pool]
    flood_at: dict[int, int] = {}  # position in the store -> flood campaign
    if n > len(pool):
        flood_at = {rng.randrange(len(pool), n): f for f in range(floods) for _ in range(flood_copies)}
    flood_text: dict[int, str] = {}
    recent: list[str] = []
    for i in range(n):
        if i < len(pool):
            text = pool[i]
        elif i in flood_at:
            f = flood_at[i]
            if f not in flood_text:
                flood_text[f] = f"{pool[rng.randrange(len(pool))]} {pool[rng.randrange(len(pool))]}"
            text = perturb(rng, flood_text[f], rng.choice(KINDS))
        elif recent and rng.random() < repeat_rate:
            text = perturb(rng, recent[rng.randrange(len(recent))], rng.choice(KINDS))
        else:
            parts = []
            for _ in range(rng.choice((2, 2, 3))):
                w = words[rng.randrange(len(words))]
                if len(w) <= 4:
                    parts.append(" ".join(w))
                else:
                    length = rng.randint(4, len(w))
                    start = rng.randint(0, len(w) - length)
                    parts.append(" ".join(w[start : start + length]))
            text = " ".join(parts)
        if len(recent) < 10_000:
            recent.append(text)
        else:
            recent[rng.randrange(len(recent))] = text
        yield text


def latency(pool, size, settings: DedupSettings, n_queries, seed, detector=None, store: str = "crowded"):
    rng = random.Random(seed + 1)
    gc.collect()
    rss0 = _rss_mb()
    d = detector if detector is not None else Detector(settings)
    stored_sample: list[tuple[str, str]] = []
    t = time.perf_counter()
    step = max(1, size // n_queries)
    texts = synthesise(pool, size, seed) if store == "crowded" else synthesise_mixed(pool, size, seed)
    for i, text in enumerate(texts):
        author = f"user{i % 50_000}"
        d.record(i, text, author, T0 + timedelta(seconds=i * 50_000 / size))
        if i % step == 0:
            stored_sample.append((text, author))
    build_s = time.perf_counter() - t
    gc.collect()
    rss1 = _rss_mb()
    now = T0 + timedelta(seconds=50_001)
    timings_dup, timings_new, cpu = [], [], []
    hits = 0
    for text, author in stored_sample[:n_queries]:
        q = perturb(rng, text, rng.choice(KINDS))
        c, t = time.thread_time_ns(), time.perf_counter_ns()
        finding = d.check(q, author, now)
        timings_dup.append(time.perf_counter_ns() - t)
        cpu.append(time.thread_time_ns() - c)
        hits += finding is not None
    fresh = [f"{pool[rng.randrange(len(pool))]} {uuid.uuid4().hex[:6]} {pool[rng.randrange(len(pool))]}"
             for _ in range(n_queries)]
    for q in fresh:
        c, t = time.thread_time_ns(), time.perf_counter_ns()
        d.check(q, "someone", now)
        timings_new.append(time.perf_counter_ns() - t)
        cpu.append(time.thread_time_ns() - c)
    both = np.array(timings_dup + timings_new) / 1e6
    cpu_ms = np.array(cpu) / 1e6
    res = {
        "stored": d.size(), "build_seconds": round(build_s, 1), "record_us_mean": round(1e6 * build_s / size, 1),
        "check_ms_p50": round(float(np.percentile(both, 50)), 3),
        "check_ms_p99": round(float(np.percentile(both, 99)), 3),
        "check_ms_max": round(float(both.max()), 3),
        "check_cpu_ms_p50": round(float(np.percentile(cpu_ms, 50)), 3),
        "check_cpu_ms_p99": round(float(np.percentile(cpu_ms, 99)), 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "check_ms_p99_near_duplicates": round(float(np.percentile(np.array(timings_dup) / 1e6, 99)), 3),
        "check_ms_p99_new_texts": round(float(np.percentile(np.array(timings_new) / 1e6, 99)), 3),
        "near_duplicate_queries_flagged": f"{hits}/{len(timings_dup)}",
        "rss_mb_before": round(rss0, 1), "rss_mb_after": round(rss1, 1),
        "rss_bytes_per_entry": round((rss1 - rss0) * 1024 * 1024 / size),
    }
    if detector is None:  # bounded: everything goes once the window has passed
        t = time.perf_counter()
        dropped = d.evict(now + timedelta(days=2))
        res["after_window"] = {"evicted": dropped, "left": d.size(),
                               "evict_seconds": round(time.perf_counter() - t, 1)}
    return res, d


def traced_bytes_per_entry(pool, settings: DedupSettings, n: int = 20_000, seed: int = 4,
                           store: str = "crowded") -> dict:
    """Python heap per stored comment, by tracemalloc (RSS deltas depend on what the allocator kept)."""
    import tracemalloc

    texts = list(synthesise(pool, n, seed) if store == "crowded" else synthesise_mixed(pool, n, seed))
    gc.collect()
    tracemalloc.start()
    d = Detector(settings)
    before = tracemalloc.get_traced_memory()[0]
    for i, text in enumerate(texts):
        d.record(i, text, f"user{i % 50_000}", T0)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"entries": d.size(), "bytes_per_entry": round((after - before) / d.size()),
            "mean_text_chars": round(sum(map(len, texts)) / n)}


def redis_latency(pool, size, settings, n_queries, seed, store: str = "crowded"):
    import redis

    from moderator.dedup.redis_index import build_redis_detector

    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    prefix = f"dedup-bench:{uuid.uuid4().hex}:"
    mem0 = client.info("memory")["used_memory"]
    d = build_redis_detector(replace(settings, backend="redis", redis_prefix=prefix), client=client)
    try:
        res, _ = latency(pool, size, settings, n_queries, seed, detector=d, store=store)
        res["redis_used_memory_mb"] = round((client.info("memory")["used_memory"] - mem0) / 2**20, 1)
        res["redis_bytes_per_entry"] = round((client.info("memory")["used_memory"] - mem0) / size)
        for k in ("rss_mb_before", "rss_mb_after", "rss_bytes_per_entry"):
            res.pop(k)
    finally:
        d.index.clear()
    return res


# --------------------------------------------------------------------------------------------------


def markdown(report) -> str:
    lines = [f"Command: `{report['command']}`", ""]
    if "detector" in report:
        lines += _quality_markdown(report)
    lines += _latency_markdown(report)
    return "\n".join(lines) + "\n"


def _quality_markdown(report) -> list[str]:
    lines = [
             f"Labelled set: {report['labelled']['positives']} positives (perturbed repeats), "
             f"{report['labelled']['negatives']} negatives (same-topic comments, common replies); "
             f"{report['labelled']['stored']} stored comments.", "",
             "Exact Jaccard of each query and its partner (no LSH), by shingle size:", "",
             "| k | threshold | precision | recall |", "|---:|---:|---:|---:|"]
    for row in report["exact_jaccard"]:
        lines.append(f"| {row['shingle_size']} | {row['threshold']:.2f} | {row['precision']:.4f} | "
                     f"{row['recall']:.4f} |")
    lines += ["", "End to end (MinHash LSH candidates, exact verification, min_chars filter):", "",
              "| num_perm | threshold | bands×rows | precision | recall | FP | FN | check µs (mean) |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in report["detector"]:
        lines.append(f"| {row['num_perm']} | {row['threshold']:.2f} | {row['bands']}×{row['rows']} | "
                     f"{row['precision']:.4f} | {row['recall']:.4f} | {row['fp']} | {row['fn']} | "
                     f"{row['check_us']:.0f} |")
    if report.get("chosen"):
        c = report["chosen"]
        lines += ["", f"Recall by perturbation at the default (num_perm={c['num_perm']}, "
                  f"threshold={c['threshold']}): " + ", ".join(f"{k} {v}" for k, v in c["flagged_by_kind"].items())]
    return lines


def _latency_markdown(report) -> list[str]:
    lines = ["", "Look-up latency and memory (in-process unless noted; wall clock and thread CPU time):", ""]
    if "store" in report:
        lines += [f"Store: {report['store']['composition']} ({report['store']['corpus_texts']:,} corpus texts).", ""]
    if "memory_tracemalloc" in report:
        m = report["memory_tracemalloc"]
        lines += [f"Python heap per stored comment (tracemalloc, {m['entries']:,} entries, mean text "
                  f"{m['mean_text_chars']} chars): {m['bytes_per_entry']} bytes.", ""]
    lines += [
              "| backend | stored | check p50 ms | check p99 ms | CPU p50 / p99 ms | p99 near-dup / new ms | "
              "record µs | memory | load average |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in report["latency"]:
        mem = (f"{row['redis_used_memory_mb']} MB in Redis ({row['redis_bytes_per_entry']} B/entry)"
               if "redis_used_memory_mb" in row else
               f"+{row['rss_mb_after'] - row['rss_mb_before']:.0f} MB RSS ({row['rss_bytes_per_entry']} B/entry)")
        lines.append(f"| {row['backend']} | {row['stored']:,} | {row['check_ms_p50']} | {row['check_ms_p99']} | "
                     f"{row['check_cpu_ms_p50']} / {row['check_cpu_ms_p99']} | "
                     f"{row['check_ms_p99_near_duplicates']} / {row['check_ms_p99_new_texts']} | "
                     f"{row['record_us_mean']} | {mem} | {' '.join(map(str, row['load_average']))} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sample and a 20k store")
    ap.add_argument("--positives", type=int, default=3000)
    ap.add_argument("--negatives", type=int, default=3000)
    ap.add_argument("--thresholds", default="0.3,0.4,0.5,0.6,0.7,0.8")
    ap.add_argument("--num-perm", default="32,64,128")
    ap.add_argument("--shingle-sizes", default="3,4,5")
    ap.add_argument("--sizes", default="100000,1000000", help="stored comments for the latency runs")
    ap.add_argument("--queries", type=int, default=2000, help="look-ups per latency run (half new texts)")
    ap.add_argument("--redis", action="store_true", help="also time the Redis backend at the smallest size")
    ap.add_argument("--no-quality", action="store_true", help="latency and memory only")
    ap.add_argument("--store", choices=["crowded", "mixed"], default="crowded",
                    help="latency store: 'crowded' (the four labelled-set corpora, ~40 variants of each text at 1M) "
                         "or 'mixed' (all eight corpora, word windows of several texts, 1%% repeats, 20 floods)")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=str(RESULTS / "dedup_bench"))
    args = ap.parse_args(argv)
    if args.quick:
        args.positives, args.negatives, args.sizes, args.queries = 600, 600, "20000", 500
        args.num_perm, args.thresholds = "64", "0.4,0.5,0.6"

    root = data_dir(args.data_dir)
    if not root.is_dir():
        print(f"corpora not found at {root} (set MODERATOR_DATA_DIR)", file=sys.stderr)
        return 2
    defaults = DedupSettings()
    thresholds = [float(x) for x in args.thresholds.split(",")]
    num_perms = [int(x) for x in args.num_perm.split(",")]
    t = time.perf_counter()
    corpora = load_corpora(root, defaults.min_chars)
    stored, queries = build_pairs(corpora, args.positives, args.negatives, args.seed)
    n_pos = sum(q[1] for q in queries)
    print(f"{len(stored)} stored, {n_pos} positives, {len(queries) - n_pos} negatives "
          f"({time.perf_counter() - t:.1f}s)", flush=True)

    report = {
        "command": "python bench/dedup_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "load_average_at_start": os.getloadavg()},
        "defaults": {"threshold": defaults.threshold, "num_perm": defaults.num_perm,
                     "shingle_size": defaults.shingle_size, "min_chars": defaults.min_chars},
        "labelled": {"stored": len(stored), "positives": n_pos, "negatives": len(queries) - n_pos},
    }
    if not args.no_quality:
        print("exact Jaccard sweep", flush=True)
        report["exact_jaccard"] = exact_jaccard_sweep(stored, queries, thresholds,
                                                      [int(k) for k in args.shingle_sizes.split(",")])
        print("detector sweep", flush=True)
        report["detector"], report["examples"] = detector_sweep(stored, queries, thresholds, num_perms,
                                                                defaults.min_chars)
        chosen = [r for r in report["detector"]
                  if r["num_perm"] == defaults.num_perm and abs(r["threshold"] - defaults.threshold) < 1e-9]
        report["chosen"] = chosen[0] if chosen else None

    pool = [t for _, t in corpora["ruddit"]] + [t for _, t, _ in corpora["youtube"]]
    pool += corpora["impermium"] + corpora["trac1"]
    if args.store == "mixed":
        seen = {normalise(t).replace(" ", "") for t in pool}
        for text in _other_texts(root):
            key = normalise(text).replace(" ", "")
            if len(key) >= defaults.min_chars and key not in seen:
                seen.add(key)
                pool.append(text)
    report["store"] = {"composition": args.store, "corpus_texts": len(pool)}
    print(f"latency store: {args.store}, {len(pool):,} corpus texts", flush=True)
    report["latency"] = []
    sizes = [int(x) for x in args.sizes.split(",")]
    settings = replace(defaults, rate_limit="", max_entries=max(sizes) + 1)
    report["memory_tracemalloc"] = traced_bytes_per_entry(pool, settings, store=args.store)
    print("  tracemalloc:", report["memory_tracemalloc"], flush=True)
    for size in sizes:
        print(f"latency with {size:,} stored", flush=True)
        res, d = latency(pool, size, settings, args.queries // 2, args.seed, store=args.store)
        res["backend"] = "memory"
        report["latency"].append(res)
        print("  ", res, flush=True)
        del d
        gc.collect()
    if args.redis:
        size = min(sizes)
        print(f"redis latency with {size:,} stored", flush=True)
        res = redis_latency(pool, size, settings, args.queries // 2, args.seed, store=args.store)
        res["backend"] = "redis"
        report["latency"].append(res)
        print("  ", res, flush=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
