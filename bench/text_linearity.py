"""Time per character of every text-processing step, from 100 to 20,000 characters, on adversarial texts.

    python bench/text_linearity.py [--sizes 100,1000,5000,20000] [--only single_ab,...] [--out PATH]

Each input is a short adversarial unit repeated to the size: the worst ones found when searching the
normaliser, the lexicon, explanations and the duplicate signature for super-linear paths. Steps: normalise
(``Normalizer.normalize``), the linear model's ``predict_proba`` (``linear_view``), ``explain`` for every
category, the duplicate detector's signature (normalise + shingles + MinHash) and the full model's
``predict_proba`` (with the encoder, which reads the first 128 tokens; ``--full-max`` limits its sizes). Times are
CPU seconds of this process (best of ``--repeat``), with the normaliser's word cache emptied before each
run so that nothing is answered from an earlier one. Flat microseconds per character down a column means
the step is linear. Writes ``bench/results/text_linearity.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "text_linearity.json"


def _spaced(alphabet: str, seed: int = 1) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(alphabet) for _ in range(500)) + " "


# name -> (unit repeated to the size, what it attacks)
INPUTS: dict[str, tuple[str, str]] = {
    "single_ab": ("a b ", "runs of single letters (cubic before)"),
    "single_random": (_spaced("abcdefghijklmnopqrstuvwxyz"), "random single letters (cubic before)"),
    "single_uov0": (_spaced("uov0"), "single letters sharing one skeleton class"),
    "single_leet": (_spaced("il1!|"), "single leetspeak characters and the letters they read as"),
    "single_leet_only": (_spaced("1!|"), "single leetspeak characters with two readings each (the worst found)"),
    "spelled_dots": ("b.u.l.l.s.h.i.t.", "a spelled-out word with separators, repeated"),
    "long_word_fuc": ("fu" + "c" * 997 + "z", "a long word against fu[a-z]*c[a-z]*k (quadratic before)"),
    "long_word_phx": ("phxzvuk", "a long word triggering every respelling"),
    "leet_word": ("5h1t|!", "a long leetspeak word"),
    "masked_word": ("f*", "a long masked word"),
    "separators": (" . - _ * ", "repeated separators"),
    "emoji": ("😀🔥💩👍🏽 ", "emoji"),
    "mixed_scripts": ("aа1١😀中 ｆ𝐮 ", "mixed scripts, fullwidth and mathematical letters"),
    "zero_width": ("f\u200bu\u200bc\u200bk\u200b ", "zero-width characters inside words"),
    "emoticons": ("8-d:-) ", "emoticons"),
    "plain_text": ("You never read the report, did you? I did, twice. ", "ordinary text, for comparison"),
}


def repeat(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def cpu_seconds(fn: Callable[[str], object], text: str, fresh: Callable[[], None], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        fresh()
        t = time.process_time()
        fn(text)
        best = min(best, time.process_time() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,5000,20000")
    ap.add_argument("--only", default="", help="comma-separated input names (default: all)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--full-max", type=int, default=20000, help="largest size for the full model's predict")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()

    from moderator import load_model
    from moderator.dedup.signer import Signer

    model = load_model()
    view = model.linear_view()
    norm = model.normalizer
    signer = Signer()
    steps: dict[str, Callable[[str], object]] = {
        "normalize": norm.normalize,
        "linear_predict": lambda t: view.predict_proba([t]),
        "explain_all": lambda t: [model.explain(t, c) for c in model.categories],
        "dedup_sign": signer.sign,
        "full_predict": lambda t: model.predict_proba([t]),
    }
    sizes = [int(s) for s in args.sizes.split(",")]
    names = [n for n in args.only.split(",") if n] or list(INPUTS)
    for fn in steps.values():  # first-use tables, sessions and caches
        fn("warm up a b c 😀")
    results: dict[str, dict] = {}
    for name in names:
        unit, about = INPUTS[name]
        row: dict[str, dict[str, float]] = {}
        for step, fn in steps.items():
            per: dict[str, float] = {}
            for n in sizes:
                if step == "full_predict" and n > args.full_max:
                    continue
                seconds = cpu_seconds(fn, repeat(unit, n), norm._resolved.clear, args.repeat)
                per[str(n)] = round(seconds / n * 1e6, 2)
            row[step] = per
        results[name] = {"about": about, "us_per_char": row}
        print(f"{name:14s} " + "  ".join(f"{s}: " + "/".join(f"{v:g}" for v in p.values()) for s, p in row.items()),
              flush=True)
    report = {
        "what": "CPU microseconds per character, best of --repeat, per input, step and size",
        "sizes": sizes,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
