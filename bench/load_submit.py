"""Load benchmark for ``POST /v1/comments`` against a real ``moderator serve`` on SQLite.

Starts the service on a free loopback port with a fresh ``MODERATOR_HOME`` in a temporary directory, creates
a ``submit`` key with the CLI, then POSTs comments (mostly unique texts, 2% verbatim repeats of a few, from
20,000 authors so that the per-author rate limit is not what is measured) for ``--duration`` seconds with
``--concurrency`` connections in flight, and reports throughput, latency percentiles, errors (any non-2xx
answer or socket error), the CPU time of the client and of the server, and the load average. Afterwards it
checks that every comment id answered with a 2xx is in the database.

    python bench/load_submit.py          # 60 s, 1 worker x 8 threads (the `moderator serve` defaults), wrk -c 8
    python bench/load_submit.py --workers 2 --dup-backend redis
    python bench/load_submit.py --policy-mode postmoderation --webhooks fast,dead

``--webhooks`` configures webhook endpoints before the load (``moderator webhooks add``): ``fast``, a receiver in
this process that answers 204 at once, and/or ``dead``, a port that accepts connections and never answers (every
attempt waits for the send timeout). Under premoderation (the default) intake emits no events (held comments
wait for a moderator), so measure webhooks with ``--policy-mode postmoderation``: every clean comment then
emits ``comment.published``, which the service's delivery worker fans out and sends while the load runs.
The report then says how many events were delivered to the fast receiver during the load and after it.

    python bench/load_submit.py --client threads --rate 200    # a steady 200 comments/s (open loop, paced)
    python bench/load_submit.py --encoder-mode deferred         # MODERATOR_ENCODER_MODE for the server

The report counts the comments decided at intake by the full model and by the fast path (``+linear``,
re-scored later or still waiting).

Two load generators:

* ``--client wrk`` (default): `wrk <https://github.com/wg/wrk>`_ with ``bench/load_submit.lua``, which builds
  the same kind of comments and records every acknowledged id. wrk is written in C: about 0.06 ms of CPU
  per request, against about 0.2 ms for the Python client, which matters on a 2-core machine where client
  and server share the CPUs. It is a benchmark tool, not a project dependency: ``sudo apt-get install wrk``
  on Debian/Ubuntu. A warm-up run of ``--warmup`` seconds precedes the measured one (its ids are checked too).
* ``--client threads``: the original Python client (keep-alive ``http.client`` threads); it needs no install.

Only 127.0.0.1 is used; the number of requests in flight is bounded by ``--concurrency``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
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
from typing import Any

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
    def __init__(self, port: int, key: str, stop_at: float, seed: int, warm_until: float,
                 interval: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.port, self.key, self.stop_at, self.warm_until = port, key, stop_at, warm_until
        self.interval = interval  # > 0: send one request every this many seconds (paced), else back to back
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
        next_at = time.monotonic() + self.interval * self.rng.random()
        while time.monotonic() < self.stop_at:
            n += 1
            if self.interval > 0:
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_at += self.interval
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


WRK_SCRIPT = Path(__file__).with_name("load_submit.lua")
WRK_HELP = ("wrk is not installed. It is a benchmark tool, not a project dependency: on Debian/Ubuntu "
            "`sudo apt-get install wrk` (https://github.com/wg/wrk elsewhere), or use --client threads")


def children_cpu() -> float:
    """User + system CPU seconds of every child process reaped so far (wrk; gunicorn and its workers)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_wrk(port: int, key: str, home: Path, duration: float, connections: int, threads: int, seed: int,
            name: str) -> tuple[dict[str, Any], list[int]]:
    """One wrk run; returns its JSON report and the ids it was answered with (2xx)."""
    (home / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (home / "texts.txt").write_text("\n".join(TEXTS) + "\n")
    out = home / f"wrk-{name}.json"
    env = {**os.environ, "WRK_KEY": key, "WRK_VOCAB": str(home / "vocab.txt"), "WRK_TEXTS": str(home / "texts.txt"),
           "WRK_REPEAT": str(REPEAT_RATE), "WRK_SEED": str(seed), "WRK_OUT": str(out)}
    proc = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s", "--timeout",
                           "10s", "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}/v1/comments"],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file():
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    report = json.loads(out.read_text())
    ids = [int(x) for x in (home / f"wrk-{name}.json.ids").read_text().split() if x.isdigit()]
    if len(ids) != report["acked"]:
        report["unparsed_ids"] = report["acked"] - len(ids)
    return report, ids


def wait_ready(server: subprocess.Popen[bytes], port: int, home: Path) -> bool:
    deadline = time.monotonic() + 120
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            ready = c.getresponse().status == 200
            c.close()
            if ready:
                return True
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            print((home / "serve.log").read_text(), file=sys.stderr)
            return False
        time.sleep(0.3)


def clear_redis_prefix(url: str, prefix: str) -> int:
    """Delete the benchmark's own Redis keys (a fresh prefix per run), so nothing is left behind."""
    import redis

    client = redis.Redis.from_url(url)
    n = 0
    batch = []
    for k in client.scan_iter(match=prefix + "*", count=1000):
        batch.append(k)
        if len(batch) >= 1000:
            n += client.delete(*batch)
            batch = []
    if batch:
        n += client.delete(*batch)
    client.close()
    return n


def seed(path: Path, rules: int, authors: int) -> None:
    """Store ``rules`` site rules (none matches the load's texts by design, as most rules never match a given
    comment) and ``authors`` author records, and bump the rules version so the workers recompile."""
    rng = random.Random(7)
    letters = "bcdfghjklmnpqrstvwxz"
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    rows = []
    for i in range(rules):
        word = "".join(rng.choice(letters) + rng.choice("aeiou") for _ in range(rng.randint(3, 5)))
        kind = ("word", "word", "phrase", "regex")[i % 4]
        pattern = {"word": word, "phrase": f"{word} {word[::-1]}", "regex": f"{word}[0-9]+"}[kind]
        rows.append((kind, pattern, ("block", "hold", "flag")[i % 3], None, "cli:bench", now))
    db = sqlite3.connect(path)
    with db:
        db.executemany("INSERT INTO rules (kind, pattern, action, note, created_by, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)", rows)
        db.execute("UPDATE counters SET value = value + 1 WHERE name = 'rules_version'")
        db.executemany(
            "INSERT INTO authors (author_id, status, submitted, approved, rejected, reported, first_seen_at, "
            "last_seen_at, updated_at) VALUES (?, ?, 0, 0, 0, 0, ?, ?, ?)",
            [(f"user-{i}", (("normal",) * 8 + ("trusted", "premoderated"))[i % 10], now, now, now)
             for i in range(authors)])
    db.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    ap.add_argument("--warmup", type=float, default=3.0,
                    help="seconds of load before the measured run / excluded from latency stats (default 3)")
    ap.add_argument("--workers", type=int, default=1, help="gunicorn workers (default 1)")
    ap.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker (default 8; 1: sync)")
    ap.add_argument("--client", choices=("wrk", "threads"), default="wrk",
                    help="load generator: wrk (default; C, little CPU) or Python threads (keep-alive http.client, "
                         "about 3x wrk's CPU per request)")
    ap.add_argument("--concurrency", type=int, default=8,
                    help="connections in flight: wrk -c, or client threads (default 8, max 64)")
    ap.add_argument("--dup-backend", choices=("memory", "redis"), default=None,
                    help="MODERATOR_DUP_BACKEND for the service (default: the environment's, else memory); "
                         "redis uses a fresh key prefix that is deleted afterwards")
    ap.add_argument("--keep", action="store_true", help="keep the temporary MODERATOR_HOME")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="--client threads only: a steady total rate of submissions per second, paced across the "
                         "connections (default 0: as fast as answers come back)")
    ap.add_argument("--encoder-mode", default=None, help="MODERATOR_ENCODER_MODE of the server (default: its own)")
    ap.add_argument("--drain", type=float, default=0.0,
                    help="after the load, keep the server up to this many seconds while the background refiner "
                         "(deferred scoring) re-scores the queue, and report how fast it caught up")
    ap.add_argument("--rules", type=int, default=0,
                    help="watched-word rules to store before the load (random words and phrases, a few regular "
                         "expressions; block, hold or flag), compiled by every worker")
    ap.add_argument("--authors", type=int, default=0,
                    help="author records to store before the load (user-0 ... : the load's own authors, a few "
                         "trusted or premoderated)")
    ap.add_argument("--policy-mode", choices=("premoderation", "postmoderation"), default=None,
                    help="MODERATOR_POLICY_MODE for the service (default: the environment's, else premoderation)")
    ap.add_argument("--webhooks", default="",
                    help="comma-separated webhook endpoints to configure: fast (answers 204), dead (never answers)")
    ap.add_argument("--deliver-process", action="store_true",
                    help="deliver webhooks from a separate `nice moderator webhooks deliver` process instead of "
                         "the service's threads (MODERATOR_WEBHOOKS_WORKER=false)")
    ap.add_argument("--moderator", default=str(Path(sys.executable).parent / "moderator"),
                    help="the moderator command to run (default: the one next to this Python)")
    args = ap.parse_args()
    if not 1 <= args.concurrency <= 64:
        ap.error("--concurrency must be 1..64")
    if args.client == "wrk" and shutil.which("wrk") is None:
        print(WRK_HELP, file=sys.stderr)
        return 2

    moderator = args.moderator.split()
    home = Path(tempfile.mkdtemp(prefix="moderator-bench-"))
    env = {**os.environ, "MODERATOR_HOME": str(home)}
    for var in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(var, None)
    if args.dup_backend:
        env["MODERATOR_DUP_BACKEND"] = args.dup_backend
    if args.policy_mode:
        env["MODERATOR_POLICY_MODE"] = args.policy_mode
    hooks = Hooks([h for h in args.webhooks.split(",") if h])
    if args.deliver_process:
        env["MODERATOR_WEBHOOKS_WORKER"] = "false"
    deliverer: subprocess.Popen[bytes] | None = None
    if args.encoder_mode:
        env["MODERATOR_ENCODER_MODE"] = args.encoder_mode
    if args.rate and args.client != "threads":
        ap.error("--rate needs --client threads")
    backend = env.get("MODERATOR_DUP_BACKEND") or "memory"
    redis_prefix = None
    if backend == "redis":
        redis_prefix = f"moderator:bench:{os.getpid()}:{int(time.time())}:"
        env["MODERATOR_DUP_REDIS_PREFIX"] = redis_prefix
    port = free_port()
    load_before = os.getloadavg()
    log = (home / "serve.log").open("w")
    server = subprocess.Popen([*moderator, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
                               "--threads", str(args.threads)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    wrk_report: dict[str, Any] = {}
    ids: list[int] = []
    lat: list[float] = []
    errors: dict[str, int] = {}
    client_cpu = float("nan")
    try:
        if not wait_ready(server, port, home):
            return 2
        key = subprocess.run([*moderator, "keys", "create", "--role", "submit", "--name", "bench"], env=env,
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        if args.rules or args.authors:
            seed(home / "moderator.db", args.rules, args.authors)
            time.sleep(3)  # every worker sees the new rules version within MODERATOR_RULES_REFRESH (2 s)
        hooks.add(moderator, env)
        if args.deliver_process:
            deliverer = subprocess.Popen(["nice", "-n", "19", *moderator, "webhooks", "deliver"], env=env,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if args.client == "wrk":
            if args.warmup > 0:
                warm, warm_ids = run_wrk(port, key, home, args.warmup, args.concurrency, 1, 1, "warmup")
                ids.extend(warm_ids)
                _add_wrk_errors(errors, warm)
            cpu1 = children_cpu()
            start = time.monotonic()
            wrk_report, run_ids = run_wrk(port, key, home, args.duration, args.concurrency, 1, 2, "run")
            elapsed = time.monotonic() - start
            client_cpu = children_cpu() - cpu1
            ids.extend(run_ids)
            _add_wrk_errors(errors, wrk_report)
            measured = len(run_ids)
            elapsed = wrk_report["duration_us"] / 1e6
        else:
            own0 = time.process_time()
            start = time.monotonic()
            stop_at = start + args.duration
            interval = args.concurrency / args.rate if args.rate > 0 else 0.0
            clients = [Client(port, key, stop_at, seed, start + args.warmup, interval)
                       for seed in range(args.concurrency)]
            for cl in clients:
                cl.start()
            for cl in clients:
                cl.join()
            elapsed = time.monotonic() - start
            client_cpu = time.process_time() - own0
            ids = [i for cl in clients for i in cl.ids]
            lat = sorted(x for cl in clients for x in cl.latencies)
            for cl in clients:
                for k, v in cl.errors.items():
                    errors[k] = errors.get(k, 0) + v
            measured = len(ids)
        webhook_report = hooks.report(home / "moderator.db", args.drain) if hooks.kinds else None
        refine = refine_progress(home / "moderator.db", args.drain)
        cpu_before_stop = children_cpu()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        if deliverer is not None:
            os.killpg(deliverer.pid, signal.SIGTERM)
            deliverer.wait(timeout=30)
        log.close()
        hooks.close()
    server_cpu = children_cpu() - cpu_before_stop
    load_after = os.getloadavg()
    if redis_prefix:
        clear_redis_prefix(env.get("MODERATOR_REDIS_URL") or "redis://127.0.0.1:6379/0", redis_prefix)

    db = sqlite3.connect(home / "moderator.db")
    stored = {row[0] for row in db.execute("SELECT id FROM comments")}
    db.close()
    missing = [i for i in ids if i not in stored]
    if args.client == "wrk":
        latency = {k: round(v / 1000, 2) for k, v in wrk_report["latency_us"].items()}
    else:
        latency = {
            "p50": round(percentile(lat, 50) * 1000, 2),
            "p90": round(percentile(lat, 90) * 1000, 2),
            "p99": round(percentile(lat, 99) * 1000, 2),
            "max": round(lat[-1] * 1000, 2) if lat else None,
            "mean": round(statistics.fmean(lat) * 1000, 2) if lat else None,
        }
    report = {
        "rules": args.rules,
        "authors": args.authors,
        "client": args.client,
        "workers": args.workers,
        "threads_per_worker": args.threads,
        "concurrency": args.concurrency,
        "dup_backend": backend,
        "encoder_mode": env.get("MODERATOR_ENCODER_MODE", "default"),
        "rate_per_s": args.rate or None,
        "duration_s": round(elapsed, 1),
        "comments_2xx": measured,
        "throughput_per_s": round(measured / elapsed, 1),
        "latency_ms": latency,
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "duplicate_ids": len(ids) - len(set(ids)),
        "ids_checked": len(ids),
        "ids_missing_from_db": len(missing),
        "rows_in_db": len(stored),
        "refine": refine,
        "policy_mode": env.get("MODERATOR_POLICY_MODE") or "premoderation",
        "webhooks": webhook_report,
        "webhook_delivery": ("separate process" if args.deliver_process else "service threads")
        if hooks.kinds else None,
        "cpu_s": {"client": round(client_cpu, 1), "server_total": round(server_cpu, 1)},
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
    }
    print(json.dumps(report, indent=2))
    if args.keep:
        print(f"MODERATOR_HOME kept at {home}", file=sys.stderr)
    else:
        shutil.rmtree(home, ignore_errors=True)
    return 0 if not missing and not errors and len(ids) == len(set(ids)) else 1


class Hooks:
    """The benchmark's webhook endpoints: a fast receiver (204 at once, counting what it gets) and a dead one
    (a listening socket that never accepts: every attempt waits for the send timeout)."""

    def __init__(self, kinds: list[str]) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        unknown = set(kinds) - {"fast", "dead"}
        if unknown:
            raise SystemExit(f"--webhooks: unknown kind(s) {sorted(unknown)}: use fast, dead")
        self.kinds = kinds
        self.received = 0
        self.lock = threading.Lock()
        self.load_ended_at: float | None = None
        self.at_load_end = 0
        self.server: Any = None
        self.dead: socket.socket | None = None
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                with owner.lock:
                    owner.received += 1
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        if "fast" in kinds:
            self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
        if "dead" in kinds:
            self.dead = socket.socket()
            self.dead.bind(("127.0.0.1", 0))
            self.dead.listen(4096)

    def add(self, moderator: list[str], env: dict[str, str]) -> None:
        urls = []
        if self.server is not None:
            urls.append(f"http://127.0.0.1:{self.server.server_address[1]}/fast")
        if self.dead is not None:
            urls.append(f"http://127.0.0.1:{self.dead.getsockname()[1]}/dead")
        for url in urls:
            subprocess.run([*moderator, "webhooks", "add", url], env=env, capture_output=True, check=True)

    def report(self, db_path: Path, drain: float) -> dict[str, Any]:
        """Events emitted, delivered to the fast receiver by the end of the load, and how long the rest took."""
        with self.lock:
            at_end = self.received
        t0 = time.monotonic()

        def events() -> int:
            db = sqlite3.connect(db_path, timeout=30)
            try:
                return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
            finally:
                db.close()

        total = events()
        out: dict[str, Any] = {"endpoints": self.kinds, "events": total}
        if self.server is not None:
            out["fast_received_when_load_stopped"] = at_end
            while self.received < total and time.monotonic() - t0 < max(drain, 60.0):
                time.sleep(0.5)
            out["fast_received"] = self.received
            out["seconds_to_deliver_the_rest"] = round(time.monotonic() - t0, 1) if self.received >= total else None
        return out

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.dead is not None:
            self.dead.close()


def refine_progress(db_path: Path, drain: float) -> dict[str, Any]:
    """Comments still scored by the linear view only (``+linear``) when the load stopped, and, with ``drain``,
    how long the background refiner then took to re-score them all (polled every 2 s)."""

    def unrefined() -> tuple[int, int]:
        db = sqlite3.connect(db_path, timeout=30)
        try:
            total = db.execute("SELECT count(*) FROM comments").fetchone()[0]
            left = db.execute("SELECT count(*) FROM comments WHERE model_version LIKE '%+linear'").fetchone()[0]
        finally:
            db.close()
        return int(total), int(left)

    total, left = unrefined()
    db = sqlite3.connect(db_path, timeout=30)
    try:  # fast path at intake: still on the linear view, or re-scored from it since
        refined = db.execute("SELECT count(*) FROM history_events WHERE action = 'rescored' "
                             "AND data LIKE '%+linear%'").fetchone()[0]
    finally:
        db.close()
    out: dict[str, Any] = {"comments": total, "unrefined_when_load_stopped": left,
                           "fast_path_at_intake": left + int(refined),
                           "full_model_at_intake": total - left - int(refined)}
    if drain > 0 and left:
        t0 = time.monotonic()
        while left and time.monotonic() - t0 < drain:
            time.sleep(2.0)
            _, now_left = unrefined()
            out.setdefault("samples", []).append([round(time.monotonic() - t0, 1), now_left])
            left = now_left
        waited = time.monotonic() - t0
        done = out["unrefined_when_load_stopped"] - left
        out.update({"drain_seconds": round(waited, 1), "unrefined_after_drain": left,
                    "refined_per_s_while_idle": round(done / waited, 1) if waited else None})
        out.pop("samples", None)
    return out


def _add_wrk_errors(errors: dict[str, int], report: dict[str, Any]) -> None:
    for status, n in report["non_2xx"].items():
        errors[status] = errors.get(status, 0) + n
    for kind, n in report["socket_errors"].items():
        if n:
            errors[kind] = errors.get(kind, 0) + n
    if report.get("unparsed_ids"):
        errors["unparsed_id"] = report["unparsed_ids"]


if __name__ == "__main__":
    raise SystemExit(main())
