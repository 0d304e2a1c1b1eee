"""Score texts with the peer libraries, in whatever interpreter has them installed.

The peers (``alt-profanity-check``, ``better-profanity``, ``hatesonar``) can live in their own virtualenv; the
bench scripts start this file with that venv's Python and talk JSON over stdin/stdout, so every peer scores
exactly the texts our model scores, in the same run. It imports nothing from ``moderator``.

Request (one JSON object on stdin)::

    {"mode": "score", "peers": ["alt_profanity_check", "better_profanity", "hatesonar"], "texts": [...]}
    {"mode": "speed", "peers": ["alt_profanity_check"], "texts": [...], "batch_sizes": [256, 1000],
     "single": 2000, "warmup": 200, "repeats": 3}

Response (one JSON object on stdout): ``versions`` (package versions), ``scores`` (peer -> score name -> list
of floats, in text order), ``seconds`` (peer -> wall time to score all texts, excluding model load),
``load_seconds``, ``speed`` (speed mode), ``errors`` (peer -> the exception text, when a peer cannot run).

Score names: ``alt_profanity_check.profane`` = ``predict_prob``; ``better_profanity.contains`` = 0/1 from
``contains_profanity``; ``hatesonar.hate`` / ``.offensive`` / ``.neither`` = ``Sonar().ping`` class
probabilities.

hatesonar >= 0.1 runs an ONNX graph whose StringNormalizer node needs the ``en_US.UTF-8`` C locale; slim
images often have only ``C.UTF-8``. When it is missing, this worker compiles it with ``localedef`` into a cache
directory and points ``LOCPATH`` there (nothing system-wide is changed).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

PEERS = ("alt_profanity_check", "better_profanity", "hatesonar")
DISTRIBUTIONS = {"alt_profanity_check": "alt-profanity-check", "better_profanity": "better-profanity",
                 "hatesonar": "hatesonar"}


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def ensure_en_us_locale() -> str:
    """Make ``en_US.UTF-8`` loadable by C++ ``std::locale`` (onnxruntime's StringNormalizer); return how."""
    import locale

    try:
        old = locale.setlocale(locale.LC_CTYPE)
        locale.setlocale(locale.LC_CTYPE, "en_US.UTF-8")
        locale.setlocale(locale.LC_CTYPE, old)
        return "system locale en_US.UTF-8"
    except locale.Error:
        pass
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "moderator-bench" / "locales"
    target = cache / "en_US.UTF-8"
    if not target.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        # localedef exits 1 on harmless warnings; the directory's existence is the real test
        subprocess.run(["localedef", "-i", "en_US", "-f", "UTF-8", str(target)], capture_output=True, check=False)
        if not target.is_dir():
            raise RuntimeError("en_US.UTF-8 locale missing and localedef could not build it "
                               "(install the 'locales' package or generate en_US.UTF-8)")
    os.environ["LOCPATH"] = str(cache)
    return f"LOCPATH={cache} (compiled with localedef)"


class Peer:
    """One peer library behind a common ``score(texts) -> {score name: [float]}`` interface."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.note = ""
        if name == "alt_profanity_check":
            from profanity_check import predict_prob

            self._predict_prob = predict_prob
            self._predict_prob(["warm up"])
        elif name == "better_profanity":
            from better_profanity import profanity

            profanity.load_censor_words()  # the default list; otherwise loaded lazily on the first call
            self._profanity = profanity
        elif name == "hatesonar":
            self.note = ensure_en_us_locale()
            from hatesonar import Sonar

            self._sonar = Sonar()
        else:
            raise ValueError(f"unknown peer {name!r}; known: {', '.join(PEERS)}")

    def score(self, texts: list[str]) -> dict[str, list[float]]:
        if self.name == "alt_profanity_check":
            return {"profane": [float(p) for p in self._predict_prob(texts)]} if texts else {"profane": []}
        if self.name == "better_profanity":
            return {"contains": [float(self._profanity.contains_profanity(t)) for t in texts]}
        out: dict[str, list[float]] = {"hate": [], "offensive": [], "neither": []}
        keys = {"hate_speech": "hate", "offensive_language": "offensive", "neither": "neither"}
        for t in texts:
            for c in self._sonar.ping(t)["classes"]:
                out[keys[c["class_name"]]].append(float(c["confidence"]))
        return out

    def one(self, text: str) -> None:
        """Score a single comment the way an application would call the library."""
        if self.name == "alt_profanity_check":
            self._predict_prob([text])
        elif self.name == "better_profanity":
            self._profanity.contains_profanity(text)
        else:
            self._sonar.ping(text)


def speed(peer: Peer, texts: list[str], req: dict[str, Any]) -> dict[str, Any]:
    """Single-comment latency and batch throughput, measured the same way as ``bench/speed.py`` does ours."""
    import statistics

    warmup, single, repeats = int(req.get("warmup", 200)), int(req.get("single", 2000)), int(req.get("repeats", 3))
    for t in texts[:warmup]:
        peer.one(t)
    lat = []
    for t in texts[:single]:
        t0 = time.perf_counter()
        peer.one(t)
        lat.append(time.perf_counter() - t0)
    lat.sort()
    out: dict[str, Any] = {"single": {"n": len(lat), "p50_ms": 1000 * lat[len(lat) // 2],
                                      "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
                                      "mean_ms": 1000 * statistics.fmean(lat)}, "batch": {}}
    for bs in req.get("batch_sizes", [256, 1000]):
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(0, len(texts), bs):
                peer.score(texts[i:i + bs])
            runs.append(time.perf_counter() - t0)
        best = min(runs)
        out["batch"][str(bs)] = {"texts": len(texts), "repeats": repeats, "best_seconds": best,
                                 "median_seconds": statistics.median(runs), "comments_per_s": len(texts) / best}
    return out


def main() -> int:
    req = json.load(sys.stdin)
    real_stdout, sys.stdout = sys.stdout, sys.stderr  # a library's print() must not corrupt the JSON reply
    texts = [str(t) for t in req["texts"]]
    resp: dict[str, Any] = {"python": sys.version.split()[0], "executable": sys.executable, "versions": {},
                            "scores": {}, "seconds": {}, "load_seconds": {}, "notes": {}, "errors": {}}
    for dist in ("scikit-learn", "numpy", "onnxruntime", "joblib"):
        resp["versions"][dist] = _version(dist)
    for name in req.get("peers", PEERS):
        resp["versions"][DISTRIBUTIONS.get(name, name)] = _version(DISTRIBUTIONS.get(name, name))
        try:
            t0 = time.perf_counter()
            peer = Peer(name)
            resp["load_seconds"][name] = time.perf_counter() - t0
            if peer.note:
                resp["notes"][name] = peer.note
            if req.get("mode", "score") == "speed":
                resp.setdefault("speed", {})[name] = speed(peer, texts, req)
            else:
                t0 = time.perf_counter()
                resp["scores"][name] = peer.score(texts)
                resp["seconds"][name] = time.perf_counter() - t0
        except Exception as exc:  # a peer that cannot run is reported, never faked
            resp["errors"][name] = "".join(traceback.format_exception_only(exc)).strip()
            resp.setdefault("tracebacks", {})[name] = traceback.format_exc()
    json.dump(resp, real_stdout)
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
