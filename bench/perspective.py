"""The cost of a Perspective-compatible ``comments:analyze`` call against ``POST /v1/score`` for the same texts.

    python bench/perspective.py [--texts 400] [--threads 4] [--rounds 2]

In process (Flask test client, the shipped model, the service's default configuration -- deferred encoder, so
both endpoints score with the linear model -- a fresh SQLite home, the language check on). The texts are a
seeded sample of validation rows (never written out). For each text, in alternating order so that both see the
same machine noise:

* ``/v1/score`` with ``{"text": ...}``;
* ``comments:analyze`` with Coral Talk's body (``requestedAttributes: {TOXICITY: {}}``, ``languages: ["en"]``,
  ``doNotStore: true``), and with every attribute requested and no ``languages`` (the language check runs).

Sequential latency p50/p99 per endpoint, then throughput with ``--threads`` client threads. Writes
``bench/results/perspective.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ALL = ["TOXICITY", "SEVERE_TOXICITY", "IDENTITY_ATTACK", "INSULT", "PROFANITY", "THREAT", "SPAM"]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--texts", type=int, default=400)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2, help="sequential passes over the texts")
    ap.add_argument("--out", default=str(HERE / "results" / "perspective"))
    args = ap.parse_args()

    home = tempfile.mkdtemp(prefix="moderator-bench-")
    os.environ["MODERATOR_HOME"] = home
    from moderator.service import keys as auth
    from moderator.service.audit import Actor
    from moderator.storage.db import write_session
    from moderator.training.train import TrainConfig, validation_rows
    from moderator.web.app import create_app

    rows = validation_rows(TrainConfig())
    texts = [r.text for r in random.Random(0).sample(rows, args.texts) if r.text.strip()]
    app = create_app({"MODERATOR_HOME": home, "REFINE": False})
    st = app.extensions["moderator"]
    with write_session(st.sessionmaker) as session:
        _, key = auth.create_key(session, "bench", "submit", Actor("cli:bench", "bench", "admin"), st.clock())

    def score(client: Any, text: str) -> int:
        return client.post("/v1/score", json={"text": text}, headers={"Authorization": f"Bearer {key}"}).status_code

    def coral(client: Any, text: str) -> int:
        return client.post(f"/v1alpha1/comments:analyze?key={key}", json={
            "comment": {"text": text}, "doNotStore": True, "requestedAttributes": {"TOXICITY": {}},
            "languages": ["en"]}).status_code

    def every(client: Any, text: str) -> int:
        return client.post(f"/v1alpha1/comments:analyze?key={key}", json={
            "comment": {"text": text}, "requestedAttributes": {a: {} for a in ALL}}).status_code

    calls = {"POST /v1/score": score, "analyze (Coral: TOXICITY, languages en)": coral,
             "analyze (7 attributes, language detected)": every}
    client = app.test_client()
    for fn in calls.values():  # warm-up
        for t in texts[:20]:
            fn(client, t)
    latency: dict[str, list[float]] = {name: [] for name in calls}
    statuses: dict[str, dict[int, int]] = {name: {} for name in calls}
    for r in range(args.rounds):
        for i, t in enumerate(texts):
            order = list(calls.items())
            if (i + r) % 2:
                order.reverse()
            for name, fn in order:
                t0 = time.perf_counter()
                code = fn(client, t)
                latency[name].append((time.perf_counter() - t0) * 1000)
                statuses[name][code] = statuses[name].get(code, 0) + 1

    throughput: dict[str, float] = {}
    for name, fn in calls.items():
        work = list(texts)
        lock = threading.Lock()

        def worker(fn: Any = fn, work: list[str] = work, lock: threading.Lock = lock) -> None:
            c = app.test_client()
            while True:
                with lock:
                    if not work:
                        return
                    t = work.pop()
                fn(c, t)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(args.threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        throughput[name] = len(texts) / (time.perf_counter() - t0)

    report = {"texts": len(texts), "rounds": args.rounds, "threads": args.threads, "python": sys.version.split()[0],
              "cpus": os.cpu_count(), "statuses": statuses,
              "endpoints": {name: {"p50_ms": statistics.median(v), "p99_ms": pct(v, 0.99),
                                   "mean_ms": statistics.mean(v), "throughput_per_s": throughput[name]}
                            for name, v in latency.items()}}
    lines = [f"{len(texts)} validation texts x {args.rounds} sequential rounds (alternating order), then "
             f"{args.threads} client threads; in process, {os.cpu_count()} CPUs shared with other work.", "",
             "| endpoint | p50 ms | p99 ms | mean ms | requests/s (threads) | statuses |",
             "|---|---:|---:|---:|---:|---|"]
    for name, e in report["endpoints"].items():
        lines.append(f"| {name} | {e['p50_ms']:.2f} | {e['p99_ms']:.2f} | {e['mean_ms']:.2f} | "
                     f"{e['throughput_per_s']:.0f} | {statuses[name]} |")
    md = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(md)
    print(md)
    st.engine.dispose()


if __name__ == "__main__":
    main()
