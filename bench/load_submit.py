"""Load benchmark for ``POST /v1/comments`` against a real ``moderator serve`` on SQLite.

Starts the service on a free loopback port with a fresh ``MODERATOR_HOME`` in a temporary directory, creates
a ``submit`` key with the CLI, then POSTs comments (mostly unique texts, 2% verbatim repeats of a few, from
20,000 authors so that the per-author rate limit is not what is measured) for ``--duration`` seconds from
``--concurrency`` client threads (persistent HTTP/1.1 connections, reopened when the server closes them),
and reports throughput, latency percentiles and errors. Afterwards it checks that every comment id
answered with a 2xx is in the database.

    python bench/load_submit.py --duration 60 --workers 3 --threads 4 --concurrency 16

Only 127.0.0.1 is used; the number of requests in flight is bounded by ``--concurrency``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TEXTS = [
    "Great article, thanks for explaining the new parking rules so clearly.",
    "I disagree with the council here; the budget should go to the schools first.",
    "Does anyone know when the library reopens after the renovation?",
    "You are an idiot and everyone on this thread knows it.",
    "This is the best recipe for lemon cake I have tried, my kids loved it.",
    "BUY CHEAP WATCHES NOW at www.example-watches.biz best prices!!!",
    "The referee made a terrible call in the second half, the goal should have stood.",
    "What a load of crap, this reporter has no clue what she is talking about.",
    "Thanks for the update. Is the bridge closure still planned for March?",
    "People like you are vermin and should be thrown out of this country.",
]


_COMMON = (
    "the a of to and in is it that for on with as was at by this be are from or have an they which one you "
    "were all we when there can more if no out so said what up its about into than them only other new some "
    "could time these two may then do first any my now such like our over man me even most made after also "
    "did many before must through back years where much your way well down should because each just those "
    "people how too little state good very make world still own see men work long get here between both life "
    "being under never day same another know while last might us great old year off come since against go "
    "came right used take three council park road school budget vote mayor traffic bus rain match team coach "
    "goal season price store market recipe cake garden dog cat film book music concert street bridge"
)
VOCAB = sorted({w.strip(".,;!?()").lower() for t in TEXTS for w in t.split()} | set(_COMMON.split()))
REPEAT_RATE = 0.02  # share of verbatim repeats of TEXTS (the duplicate path); the rest are unique texts


def make_text(rng: random.Random) -> str:
    """Mostly unique comments (8-40 words from VOCAB, like real traffic), a few verbatim repeats."""
    if rng.random() < REPEAT_RATE:
        return rng.choice(TEXTS)
    words = [rng.choice(VOCAB) for _ in range(rng.randint(8, 40))]
    return " ".join(words).capitalize() + rng.choice([".", "!", "?", "..."])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


class Client(threading.Thread):
    def __init__(self, port: int, key: str, stop_at: float, seed: int, warm_until: float) -> None:
        super().__init__(daemon=True)
        self.port, self.key, self.stop_at, self.warm_until = port, key, stop_at, warm_until
        self.rng = random.Random(seed)
        self.latencies: list[float] = []
        self.ids: list[int] = []
        self.errors: dict[str, int] = {}
        self.conn: http.client.HTTPConnection | None = None

    def _conn(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        return self.conn

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        n = 0
        while time.monotonic() < self.stop_at:
            n += 1
            body = json.dumps({
                "text": make_text(self.rng),
                "author_id": f"user-{self.rng.randrange(20000)}",
                "thread_id": f"thread-{self.rng.randrange(200)}",
            })
            t0 = time.perf_counter()
            try:
                conn = self._conn()
                conn.request("POST", "/v1/comments", body=body, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                status = resp.status
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self.conn = None
            except (OSError, http.client.HTTPException) as exc:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                self.errors[type(exc).__name__] = self.errors.get(type(exc).__name__, 0) + 1
                continue
            elapsed = time.perf_counter() - t0
            if 200 <= status < 300:
                self.ids.append(json.loads(raw)["id"])
                if t0 >= self.warm_until:
                    self.latencies.append(elapsed)
            else:
                self.errors[str(status)] = self.errors.get(str(status), 0) + 1
        if self.conn is not None:
            self.conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds excluded from latency stats (default 3)")
    ap.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    ap.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4; 1: sync)")
    ap.add_argument("--concurrency", type=int, default=16, help="client threads (default 16, max 64)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary MODERATOR_HOME")
    ap.add_argument("--moderator", default=str(Path(sys.executable).parent / "moderator"),
                    help="the moderator command to run (default: the one next to this Python)")
    args = ap.parse_args()
    if not 1 <= args.concurrency <= 64:
        ap.error("--concurrency must be 1..64")

    moderator = args.moderator.split()
    home = Path(tempfile.mkdtemp(prefix="moderator-bench-"))
    env = {**os.environ, "MODERATOR_HOME": str(home)}
    for var in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(var, None)
    port = free_port()
    log = (home / "serve.log").open("w")
    server = subprocess.Popen([*moderator, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
                               "--threads", str(args.threads)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/readyz")
                ready = c.getresponse().status == 200
                c.close()
                if ready:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print((home / "serve.log").read_text(), file=sys.stderr)
                return 2
            time.sleep(0.3)
        key = subprocess.run([*moderator, "keys", "create", "--role", "submit", "--name", "bench"], env=env,
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        start = time.monotonic()
        stop_at = start + args.duration
        clients = [Client(port, key, stop_at, seed, start + args.warmup) for seed in range(args.concurrency)]
        for cl in clients:
            cl.start()
        for cl in clients:
            cl.join()
        elapsed = time.monotonic() - start
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()

    ids = [i for cl in clients for i in cl.ids]
    lat = sorted(x for cl in clients for x in cl.latencies)
    errors: dict[str, int] = {}
    for cl in clients:
        for k, v in cl.errors.items():
            errors[k] = errors.get(k, 0) + v
    db = sqlite3.connect(home / "moderator.db")
    stored = {row[0] for row in db.execute("SELECT id FROM comments")}
    db.close()
    missing = [i for i in ids if i not in stored]
    report = {
        "workers": args.workers,
        "threads_per_worker": args.threads,
        "client_threads": args.concurrency,
        "duration_s": round(elapsed, 1),
        "comments_2xx": len(ids),
        "throughput_per_s": round(len(ids) / elapsed, 1),
        "latency_ms": {
            "p50": round(percentile(lat, 50) * 1000, 2),
            "p90": round(percentile(lat, 90) * 1000, 2),
            "p99": round(percentile(lat, 99) * 1000, 2),
            "max": round(lat[-1] * 1000, 2) if lat else None,
            "mean": round(statistics.fmean(lat) * 1000, 2) if lat else None,
        },
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "duplicate_ids": len(ids) - len(set(ids)),
        "ids_missing_from_db": len(missing),
        "rows_in_db": len(stored),
    }
    print(json.dumps(report, indent=2))
    if args.keep:
        print(f"MODERATOR_HOME kept at {home}", file=sys.stderr)
    else:
        shutil.rmtree(home, ignore_errors=True)
    return 0 if not missing and not errors and len(ids) == len(set(ids)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
