"""The cost of the worst ``POST /v1/score`` requests, with and without the per-request character budget.

    python bench/score_budget.py [--before-texts 100] [--repeats 3]

In process (Flask test client, the shipped model, the service's default configuration, a fresh SQLite home).
Texts are a seeded mix of insults, obscenities, hate speech, spam and ordinary words, so that every text is
flagged in all four categories and ``explain`` explains each of them (the most expensive case).

* before: the budget switched off (both limits 10**9), the largest request the body limit
  (``MODERATOR_MAX_CONTENT_LENGTH``, 1 MiB) lets through with explain: ``--before-texts`` x 10,000 characters;
* after (defaults): the worst requests still accepted: 200,000 characters without explain (10 x 20,000 and
  100 x 2,000), 20,000 characters with explain (1 x 20,000 and 2 x 10,000), and the time it takes to refuse
  the former worst request (413 ``request_too_large``).

Wall-clock on whatever else the machine does; writes ``bench/results/score_budget.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PHRASES = ("you are a stupid idiot and a moron, shut up loser. buy cheap viagra now click here www.spam.example "
         "free money fuck this shit damn it. those people are vermin and should go back where they came from. "
         "great article, thanks for sharing your thoughts about the new park downtown.")
WORDS = PHRASES.split()


def make_text(n: int, rng: random.Random) -> str:
    out: list[str] = []
    size = 0
    while size < n:
        w = rng.choice(WORDS)
        out.append(w)
        size += len(w) + 1
    return (" ".join(out) + ".")[:n]


def app_client(home: Path, limits: dict[str, int]) -> tuple[Any, dict[str, str]]:
    from moderator.service import keys as auth
    from moderator.service.audit import Actor
    from moderator.storage.db import write_session
    from moderator.web.app import create_app

    app = create_app({"MODERATOR_HOME": str(home), "DATABASE_URL": "", **limits})
    st = app.extensions["moderator"]
    with write_session(st.sessionmaker) as s:
        _, token = auth.create_key(s, "bench", "submit", Actor("cli:bench", "bench", "admin"), st.clock())
    return app, {"Authorization": f"Bearer {token}"}


def timed(client: Any, headers: dict[str, str], body: dict[str, Any], repeats: int) -> dict[str, Any]:
    data = json.dumps(body).encode()
    times, status, code, flags = [], None, None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        resp = client.post("/v1/score", data=data, headers={**headers, "Content-Type": "application/json"})
        times.append(time.perf_counter() - t0)
        status = resp.status_code
        payload = resp.get_json()
        code = payload.get("error", {}).get("code") if status != 200 else None
        if status == 200:
            flags = min(len(r["flags"]) for r in payload["results"])
    chars = sum(len(t) for t in body.get("texts") or [body.get("text", "")])
    return {"status": status, "code": code, "chars": chars, "explain": bool(body.get("explain")),
            "min_flags_per_text": flags, "bytes": len(data), "seconds_median": statistics.median(times),
            "seconds_max": max(times), "repeats": repeats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before-texts", type=int, default=100, help="texts of 10,000 characters in the 'before' request")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "results" / "score_budget"))
    args = ap.parse_args()
    rng = random.Random(12)
    ten_k = [make_text(10000, rng) for _ in range(max(args.before_texts, 2))]
    twenty_k = [make_text(20000, rng) for _ in range(10)]
    two_k = [make_text(2000, rng) for _ in range(100)]
    rows: list[tuple[str, str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        off = {"MAX_REQUEST_CHARS": 10**9, "MAX_EXPLAIN_CHARS": 10**9}
        app, headers = app_client(Path(tmp) / "before", off)
        client = app.test_client()
        big = {"texts": ten_k[:args.before_texts], "explain": True}
        name = f"{args.before_texts} x 10,000 chars, explain"
        rows.append(("before (no budget)", name, timed(client, headers, big, 1)))
        app, headers = app_client(Path(tmp) / "after", {})
        client = app.test_client()
        cases = [
            ("10 x 20,000 chars", {"texts": twenty_k}),
            ("100 x 2,000 chars", {"texts": two_k}),
            ("1 x 20,000 chars, explain", {"text": twenty_k[0], "explain": True}),
            ("2 x 10,000 chars, explain", {"texts": ten_k[:2], "explain": True}),
            (f"{args.before_texts} x 10,000 chars, explain (refused)", big),
            ("10 x 20,000 + 1 chars (refused)", {"texts": [*twenty_k, "x"]}),
        ]
        for name, body in cases:
            rows.append(("after (defaults)", name, timed(client, headers, body, args.repeats)))
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
              "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg(), "python": sys.version.split()[0],
              "rows": [{"budget": b, "request": n, **r} for b, n, r in rows]}
    lines = ["| budget | request | status | characters | body bytes | seconds (median) | seconds (max) |",
             "|---|---|---|---|---|---|---|"]
    for b, n, r in rows:
        status = f"{r['status']}" + (f" `{r['code']}`" if r["code"] else "")
        lines.append(f"| {b} | {n} | {status} | {r['chars']:,} | {r['bytes']:,} | {r['seconds_median']:.3f} | "
                     f"{r['seconds_max']:.3f} |")
    md = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
