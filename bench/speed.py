"""How fast the model is, and how that compares with alt-profanity-check on identical texts in the same run.

    python bench/speed.py [--model PATH] [--peer-python /path/to/peer-venv/bin/python] [--texts 2000]

Texts: the first ``--texts`` rows of a seeded shuffle of the validation split (real comments of every corpus).
Measured, after a warm-up:

* single-comment latency: ``model.predict_proba([text])`` one text at a time, p50/p99/mean: of the full
  model (linear + encoder) and, for a model with an encoder, of its linear view alone (what the service's
  submit path runs in the default deferred mode);
* batch throughput (comments/s): ``predict_prob`` over all texts in batches of 256 and 1000 (best of
  ``--repeats`` passes; the median is stored too);
* with ``--processes N`` (N > 1), batch throughput on N cores as the service gets it from N worker processes:
  N processes each load the model, warm up, wait for each other, then score their share of the texts (every
  N-th) in the same batches; comments/s over the wall time from the common start to the last one's end (best
  of ``--repeats``);
* cold load: ``load_model()`` in a fresh Python subprocess (import time excluded and reported separately),
  artifact size on disk, and the subprocess's resident memory (RSS) before and after the load;
* alt-profanity-check (``predict_prob``), measured the same way on the same texts by ``bench/peer_worker.py``
  under ``--peer-python``; the throughput ratio ours / alt-profanity-check per batch size.

Writes ``bench/results/speed.json`` and prints a markdown table. Keep the machine otherwise idle: the numbers
are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from compare_peers import run_worker  # noqa: E402  (bench/ is not a package)

RESULTS = HERE / "results"

# Runs in a fresh interpreter: cold import, cold load, RSS.
_LOAD_PROBE = r"""
import json, resource, sys, time

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")

t0 = time.perf_counter()
import moderator.model.classifier  # noqa: F401  (scikit-learn, scipy, numpy)
t1 = time.perf_counter()
rss_before = rss_mb()
from moderator import load_model
model = load_model(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None)
t2 = time.perf_counter()
rss_after = rss_mb()
model.predict_proba(["first call"])
t3 = time.perf_counter()
print(json.dumps({"import_seconds": t1 - t0, "load_seconds": t2 - t1, "first_predict_seconds": t3 - t2,
                  "rss_mb_before_load": rss_before, "rss_mb_after_load": rss_after,
                  "rss_mb_after_first_predict": rss_mb(),
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def pct(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def measure_ours(model: Any, texts: list[str], batch_sizes: list[int], warmup: int, repeats: int) -> dict[str, Any]:
    for t in texts[:warmup]:
        model.predict_proba([t])
    lat = []
    cpu = []
    for t in texts:
        c0, t0 = time.process_time(), time.perf_counter()
        model.predict_proba([t])
        lat.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    lat.sort()
    cpu.sort()
    # CPU time as well as wall time: on a shared machine, other processes lengthen the wall time of a call but
    # barely its CPU time (the encoder runs on the calling thread: MODERATOR_ENCODER_THREADS=1)
    out: dict[str, Any] = {"single": {"n": len(lat), "p50_ms": 1000 * pct(lat, 0.5), "p99_ms": 1000 * pct(lat, 0.99),
                                      "mean_ms": 1000 * statistics.fmean(lat), "cpu_p50_ms": 1000 * pct(cpu, 0.5),
                                      "cpu_mean_ms": 1000 * statistics.fmean(cpu)}, "batch": {}}
    for bs in batch_sizes:
        runs, cpus = [], []
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            for i in range(0, len(texts), bs):
                model.predict_proba(texts[i:i + bs])
            runs.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        best = min(runs)
        out["batch"][str(bs)] = {"texts": len(texts), "repeats": repeats, "best_seconds": best,
                                 "median_seconds": statistics.median(runs), "comments_per_s": len(texts) / best,
                                 "comments_per_cpu_s": len(texts) / min(cpus)}
    return out


def _process_worker(model_arg: str | None, texts: list[str], batch_sizes: list[int], warmup: int, repeats: int,
                    barrier: Any, results: Any) -> None:
    from moderator import load_model

    model = load_model(model_arg)
    for t in texts[:warmup]:
        model.predict_proba([t])
    model.predict_proba(texts[:256])
    out: dict[str, list[tuple[float, float]]] = {}
    for bs in batch_sizes:
        for _ in range(repeats):
            barrier.wait()
            t0 = time.perf_counter()
            for i in range(0, len(texts), bs):
                model.predict_proba(texts[i:i + bs])
            out.setdefault(str(bs), []).append((t0, time.perf_counter()))
    results.put(out)


def measure_processes(model_arg: str | None, texts: list[str], batch_sizes: list[int], processes: int,
                      warmup: int, repeats: int) -> dict[str, Any]:
    """Batch throughput of ``processes`` worker processes scoring ``texts`` between them, started together."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # each process its own model and ONNX session, as the service's workers
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(model_arg, texts[k::processes], batch_sizes,
                                                       warmup // processes, repeats, barrier, results))
             for k in range(processes)]
    for proc in procs:
        proc.start()
    replies = [results.get(timeout=1800) for _ in procs]
    for proc in procs:
        proc.join()
    out: dict[str, Any] = {"processes": processes, "batch": {}}
    for bs in map(str, batch_sizes):
        walls = [max(r[bs][k][1] for r in replies) - min(r[bs][k][0] for r in replies) for k in range(repeats)]
        out["batch"][bs] = {"texts": len(texts), "repeats": repeats, "best_seconds": min(walls),
                            "median_seconds": statistics.median(walls), "comments_per_s": len(texts) / min(walls)}
    return out


def cold_load(model_arg: str | None, runs: int) -> dict[str, Any]:
    probes = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", _LOAD_PROBE, model_arg or ""], capture_output=True, text=True,
                              check=True, timeout=600)
        probes.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    keys = probes[0].keys()
    return {"runs": runs, **{k: statistics.median(p[k] for p in probes) for k in keys}, "all": probes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model artifact or directory (default: models/DEFAULT)")
    ap.add_argument("--peer-python", default=os.environ.get("MODERATOR_PEER_PYTHON", sys.executable),
                    help="Python of the venv with alt-profanity-check (default: $MODERATOR_PEER_PYTHON, else this "
                         "interpreter)")
    ap.add_argument("--texts", type=int, default=2000, help="validation texts to time (default 2000)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1000])
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--load-runs", type=int, default=3, help="fresh-subprocess cold loads (median reported)")
    ap.add_argument("--processes", type=int, default=1,
                    help="also measure batch throughput with this many worker processes (one per core)")
    ap.add_argument("--no-peer", action="store_true", help="skip alt-profanity-check")
    ap.add_argument("--output", default=str(RESULTS / "speed.json"))
    args = ap.parse_args(argv)
    load_at_start = os.getloadavg()

    import numpy as np

    from moderator import load_model
    from moderator.config import env_value
    from moderator.model import default_model_path
    from moderator.training.train import TrainConfig, validation_rows

    model = load_model(args.model)
    path = Path(args.model) if args.model else default_model_path()
    if path.is_dir():
        path = default_model_path(path)
    rows = validation_rows(TrainConfig())
    order = np.random.default_rng(20261127).permutation(len(rows))[: args.texts]
    texts = [rows[i].text for i in order]
    chars = [len(t) for t in texts]
    print(f"model {model.version}; {len(texts)} texts (median {statistics.median(chars):.0f} chars)", file=sys.stderr)

    ours = measure_ours(model, texts, args.batch_sizes, args.warmup, args.repeats)
    linear = None
    if getattr(model, "encoder", None) is not None:
        linear = measure_ours(model.linear_view(), texts, args.batch_sizes, args.warmup, args.repeats)
    multi = None
    if args.processes > 1:
        multi = measure_processes(args.model, texts, args.batch_sizes, args.processes, args.warmup, args.repeats)
    peer: dict[str, Any] | None = None
    if not args.no_peer:
        reply = run_worker(args.peer_python, ["alt_profanity_check"], texts, mode="speed",
                           extra={"batch_sizes": args.batch_sizes, "single": len(texts), "warmup": args.warmup,
                                  "repeats": args.repeats})
        if "alt_profanity_check" in reply.get("speed", {}):
            peer = {"alt_profanity_check": reply["speed"]["alt_profanity_check"],
                    "versions": reply["versions"], "python": reply["executable"],
                    "load_seconds": reply["load_seconds"].get("alt_profanity_check")}
        else:
            peer = {"error": reply["errors"].get("alt_profanity_check")}
    load = cold_load(args.model, args.load_runs)

    ratio = None
    if peer and "alt_profanity_check" in peer:
        ratio = {bs: ours["batch"][bs]["comments_per_s"] / peer["alt_profanity_check"]["batch"][bs]["comments_per_s"]
                 for bs in ours["batch"]}
        ratio["single_p50"] = (peer["alt_profanity_check"]["single"]["p50_ms"] / ours["single"]["p50_ms"])

    out = {
        "command": "python bench/speed.py" + (f" --model {args.model}" if args.model else "")
                   + ("" if args.peer_python == sys.executable else f" --peer-python {args.peer_python}")
                   + (f" --processes {args.processes}" if args.processes > 1 else ""),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "loadavg_at_start": load_at_start,
                    # intra-op threads of each encoder call (MODERATOR_ENCODER_THREADS; the service's default 1)
                    "encoder_threads": int(env_value("encoder_threads"))},
        "model": {"version": model.version, "artifact": path.name, "artifact_bytes": path.stat().st_size},
        "texts": {"n": len(texts), "source": "validation split, seeded shuffle", "median_chars":
                  statistics.median(chars), "mean_chars": statistics.fmean(chars)},
        "ours": ours,
        "ours_linear_view": linear,
        "ours_processes": multi,
        "cold_load": load,
        "alt_profanity_check": peer,
        "throughput_ratio_ours_over_alt_profanity_check": ratio,
    }
    out["machine"]["loadavg_at_end"] = os.getloadavg()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(markdown(out))
    return 0


def markdown(out: dict[str, Any]) -> str:
    o, p = out["ours"], (out["alt_profanity_check"] or {}).get("alt_profanity_check")
    lines = ["| measure | moderator | alt-profanity-check | ours ÷ alt |", "|---|---:|---:|---:|"]
    lines.append(f"| single comment CPU p50 (ms) | {o['single']['cpu_p50_ms']:.2f} | | |")
    for key, label in (("p50_ms", "single comment p50 (ms)"), ("p99_ms", "single comment p99 (ms)"),
                       ("mean_ms", "single comment mean (ms)")):
        peer = p["single"][key] if p else None
        lines.append(f"| {label} | {o['single'][key]:.2f} | {peer:.2f} | {o['single'][key] / peer:.2f} |"
                     if peer else f"| {label} | {o['single'][key]:.2f} | n/a | |")
    for bs, v in o["batch"].items():
        peer = p["batch"][bs]["comments_per_s"] if p else None
        lines.append(f"| batch {bs}: comments per CPU-second (one thread) | {v['comments_per_cpu_s']:,.0f} | | |")
        lines.append(f"| batch {bs}: comments/s | {v['comments_per_s']:,.0f} | "
                     + (f"{peer:,.0f} | {v['comments_per_s'] / peer:.3f} |" if peer else "n/a | |"))
    multi = out.get("ours_processes")
    if multi:
        for bs, v in multi["batch"].items():
            lines.append(f"| batch {bs}, {multi['processes']} processes: comments/s | {v['comments_per_s']:,.0f} | | |")
    lin = out.get("ours_linear_view")
    if lin:
        lines.append(f"| linear view (submit path): single p50 / p99 (ms) | {lin['single']['p50_ms']:.2f} / "
                     f"{lin['single']['p99_ms']:.2f} | | |")
        for bs, v in lin["batch"].items():
            peer = p["batch"][bs]["comments_per_s"] if p else None
            lines.append(f"| linear view, batch {bs}: comments/s | {v['comments_per_s']:,.0f} | "
                         + (f"{peer:,.0f} | {v['comments_per_s'] / peer:.3f} |" if peer else "n/a | |"))
    c = out["cold_load"]
    lines += ["", "| artifact / load | value |", "|---|---:|",
              f"| artifact size | {out['model']['artifact_bytes'] / 2**20:.1f} MiB |",
              f"| import moderator.model.classifier (fresh process) | {c['import_seconds']:.2f} s |",
              f"| load_model() (fresh process, median of {c['runs']}) | {c['load_seconds']:.2f} s |",
              f"| first predict_proba after load | {1000 * c['first_predict_seconds']:.0f} ms |",
              f"| RSS after imports / after load / after first call | {c['rss_mb_before_load']:.0f} / "
              f"{c['rss_mb_after_load']:.0f} / {c['rss_mb_after_first_predict']:.0f} MiB |",
              f"| peak RSS during load | {c['max_rss_mb']:.0f} MiB |"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
