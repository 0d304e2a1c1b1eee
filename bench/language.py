"""Language identification on short comments: accuracy of the routing rule and speed.

    python bench/language.py [--lingua]

* the hand-written check set ``data/language_eval.jsonl`` (16 languages besides English, and English with
  typos, slang, Roman-script South Asian names and code-mixing): the share of non-English comments of 20+
  characters routed to a moderator (target >= 95%), and of English ones routed (target <= 0.5%);
* every English validation row of the corpora (training's own split, ``moderator.training.train``): the share
  that would be routed, per corpus, with the routed texts' guesses counted (never printed: corpus rows stay out
  of the repository);
* speed: ms per comment over the check set and a validation sample, and the time to load the identifier;
* ``--lingua``: the same rule over lingua-language-detector (``pip install lingua-language-detector``), the
  alternative measured, with its load time and memory.

Writes ``bench/results/language.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from moderator.model import language  # noqa: E402

CHECK_SET = HERE.parent / "data" / "language_eval.jsonl"
MIN_ROUTED_CHARS = 20


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lingua_detector() -> Callable[[str], language.Guess]:
    """lingua-language-detector (all languages, low-accuracy mode: high accuracy needs over 1 GB) under the
    same reliability rule as :func:`moderator.model.language.detect`."""
    from lingua import LanguageDetectorBuilder

    det = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()

    def detect(text: str) -> language.Guess:
        clean = language.letters(text)
        values = det.compute_language_confidence_values(clean)
        if not values:
            return language.Guess(language.UNKNOWN, 0.0, False, 0.0)
        enough = language.length(clean) >= language.MIN_CHARS
        top = values[0]
        code = top.language.iso_code_639_1.name.lower()
        english = sum(v.value for v in values if v.language.iso_code_639_1.name.lower() == "en")
        if code == "en" or english >= 0.5:
            return language.Guess("en", english, enough, english)
        if enough and english < language.MAX_ENGLISH:
            return language.Guess(code, top.value, True, english)
        return language.Guess(language.UNKNOWN, top.value, False, english)

    det.compute_language_confidence_values("warm up the models")
    return detect


def check_set(detect: Callable[[str], language.Guess]) -> dict[str, Any]:
    rows = [json.loads(line) for line in CHECK_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    foreign = [r for r in rows if r["lang"] != "en"]
    long_foreign = [r for r in foreign if len(r["text"]) >= MIN_ROUTED_CHARS]
    english = [r for r in rows if r["lang"] == "en"]
    t0 = time.perf_counter()
    guesses = {r["text"]: detect(r["text"]) for r in rows}
    ms = (time.perf_counter() - t0) / len(rows) * 1000
    routed_long = [r for r in long_foreign if not guesses[r["text"]].supported]
    right_code = [r for r in routed_long if guesses[r["text"]].code == r["lang"]]
    routed_en = [r for r in english if not guesses[r["text"]].supported]
    missed = [{"lang": r["lang"], "text": r["text"], "guess": guesses[r["text"]].to_dict()}
              for r in long_foreign if guesses[r["text"]].supported]
    by_kind: dict[str, list[int]] = {}
    for r in english:
        by_kind.setdefault(r["kind"], [0, 0])
        by_kind[r["kind"]][0] += 1
        by_kind[r["kind"]][1] += int(not guesses[r["text"]].supported)
    return {
        "rows": len(rows), "foreign": len(foreign), "foreign_20_plus": len(long_foreign),
        "languages": sorted({r["lang"] for r in foreign}),
        "foreign_20_plus_routed": len(routed_long),
        "foreign_20_plus_routed_rate": len(routed_long) / len(long_foreign),
        "routed_with_right_code": len(right_code),
        "foreign_short_routed": sum(not guesses[r["text"]].supported for r in foreign
                                    if len(r["text"]) < MIN_ROUTED_CHARS),
        "foreign_short": len(foreign) - len(long_foreign),
        "english": len(english), "english_routed": len(routed_en),
        "english_routed_rate": len(routed_en) / len(english),
        "english_routed_texts": [{"text": r["text"], "guess": guesses[r["text"]].to_dict()} for r in routed_en],
        "english_by_kind": {k: {"rows": n, "routed": m} for k, (n, m) in sorted(by_kind.items())},
        "missed": missed,
        "ms_per_comment": ms,
    }


def validation(detect: Callable[[str], language.Guess], sample: int | None) -> dict[str, Any]:
    from moderator.training.train import TrainConfig, validation_rows

    rows = validation_rows(TrainConfig())
    if sample:
        import random

        rows = random.Random(0).sample(rows, min(sample, len(rows)))
    per: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    for ex in rows:
        g = detect(ex.text)
        entry = per.setdefault(ex.corpus, {"rows": 0, "routed": 0, "routed_codes": Counter()})
        entry["rows"] += 1
        if not g.supported:
            entry["routed"] += 1
            entry["routed_codes"][g.code] += 1
    ms = (time.perf_counter() - t0) / max(1, len(rows)) * 1000
    total = sum(e["rows"] for e in per.values())
    routed = sum(e["routed"] for e in per.values())
    for e in per.values():
        e["rate"] = e["routed"] / e["rows"]
        e["routed_codes"] = dict(e["routed_codes"].most_common(8))
    return {"rows": total, "routed": routed, "rate": routed / total, "per_corpus": dict(sorted(per.items())),
            "ms_per_comment": ms}


def markdown(report: dict[str, Any]) -> str:
    lines = ["| identifier | load s | RSS MB after load | check set: non-English 20+ chars routed | "
             "English routed (check set) | English validation rows routed | ms / comment |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in report["identifiers"].items():
        c, v = r["check_set"], r["validation"]
        lines.append(f"| {name} | {r['load_s']:.2f} | {r['rss_mb']:.0f} | {c['foreign_20_plus_routed']}/"
                     f"{c['foreign_20_plus']} ({c['foreign_20_plus_routed_rate']:.1%}) | {c['english_routed']}/"
                     f"{c['english']} ({c['english_routed_rate']:.1%}) | {v['routed']}/{v['rows']} ({v['rate']:.2%})"
                     f" | {v['ms_per_comment']:.2f} |")
    lines += ["", "English validation rows routed, per corpus (py3langid, the service's identifier):", "",
              "| corpus | rows | routed | rate | guesses of the routed rows |", "|---|---:|---:|---:|---|"]
    first = next(iter(report["identifiers"].values()))
    for corpus, e in first["validation"]["per_corpus"].items():
        codes = ", ".join(f"{k} {n}" for k, n in e["routed_codes"].items())
        lines.append(f"| {corpus} | {e['rows']} | {e['routed']} | {e['rate']:.2%} | {codes} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lingua", action="store_true", help="also measure lingua-language-detector")
    ap.add_argument("--sample", type=int, default=None, help="at most N validation rows (seeded)")
    ap.add_argument("--out", default=str(HERE / "results" / "language"))
    args = ap.parse_args()
    identifiers: dict[str, Any] = {}
    before = rss_mb()
    t0 = time.perf_counter()
    language.warm_up()
    load = time.perf_counter() - t0
    identifiers["py3langid"] = {"load_s": load, "rss_mb": rss_mb() - before, "detect": language.detect}
    if args.lingua:
        before = rss_mb()
        t0 = time.perf_counter()
        det = lingua_detector()
        identifiers["lingua (low accuracy)"] = {"load_s": time.perf_counter() - t0, "rss_mb": rss_mb() - before,
                                                "detect": det}
    for entry in identifiers.values():
        detect = entry.pop("detect")
        entry["check_set"] = check_set(detect)
        entry["validation"] = validation(detect, args.sample)
    report = {"identifiers": identifiers, "rule": {"min_chars": language.MIN_CHARS,
                                                   "max_english": language.MAX_ENGLISH}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    md = markdown(report)
    out.with_suffix(".md").write_text(md)
    print(md)
    for name, entry in identifiers.items():
        print(name, "missed:", json.dumps(entry["check_set"]["missed"], ensure_ascii=False))
        print(name, "English routed:", json.dumps(entry["check_set"]["english_routed_texts"], ensure_ascii=False))


if __name__ == "__main__":
    main()
