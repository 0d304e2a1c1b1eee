"""CPU cost of the site phase of a submission (authors and watched-word rules), in process.

    python bench/site_policy_cost.py --requests 3000

Three apps (Flask test client, the shipped model's linear view as at intake, SQLite in a temporary
directory, premoderation), each submitting the same kind of comments as ``bench/load_submit.py``:

* ``none``: the site phase switched off (what the service did before authors and rules existed);
* ``empty``: the site phase with no rules and no author records (one author SELECT and one upsert each);
* ``seeded``: 1,000 rules (as ``load_submit.py --rules``) and 10,000 author records, the load's own authors.

Batches of 100 requests alternate between the three, so that a busy machine slows them alike; each batch's
process CPU time (``time.process_time``: not the other processes' share of a loaded machine) is recorded, and
the mean CPU milliseconds per request are printed with the ratio to ``none``.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_submit import make_text, seed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=3000, help="requests per configuration (default 3000)")
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--authors", type=int, default=10000)
    args = ap.parse_args()

    from moderator import load_model
    from moderator.service import keys as auth
    from moderator.service.audit import Actor
    from moderator.storage.db import write_session
    from moderator.web import context
    from moderator.web.app import create_app

    model = load_model()
    tmp = Path(tempfile.mkdtemp(prefix="moderator-site-bench-"))
    apps: dict[str, tuple[Any, str]] = {}
    for name in ("none", "empty", "seeded"):
        home = tmp / name
        app = create_app({"MODERATOR_HOME": str(home), "MODEL": model, "REFINE": False, "DUPLICATE_DETECTOR": None,
                          "RATE_LIMIT": ""})
        st = app.extensions["moderator"]
        with write_session(st.sessionmaker) as session:
            _, key = auth.create_key(session, "bench", "submit", Actor("cli:bench", "bench", "admin"), st.clock())
        if name == "seeded":
            seed(home / "moderator.db", args.rules, args.authors)
        apps[name] = (app, key)

    real_site_policy = context.site_policy
    switched_off = {"on": False}

    def site_policy() -> Any:
        return None if switched_off["on"] else real_site_policy()

    context.site_policy = site_policy  # type: ignore[assignment]

    rng = random.Random(1)
    cpu: dict[str, list[float]] = {n: [] for n in apps}
    clients = {n: (a.test_client(), k) for n, (a, k) in apps.items()}
    batch = 100

    def run(name: str, n: int) -> float:
        client, key = clients[name]
        switched_off["on"] = name == "none"
        t0 = time.process_time()
        for _ in range(n):
            body = {"text": make_text(rng), "author_id": f"user-{rng.randrange(20000)}",
                    "thread_id": f"thread-{rng.randrange(500)}"}
            resp = client.post("/v1/comments", json=body, headers={"Authorization": f"Bearer {key}"})
            assert resp.status_code == 201, resp.get_json()
        return time.process_time() - t0

    for name in apps:  # warm-up: caches, the rules' compilation
        run(name, 50)
    done = 0
    while done < args.requests:
        for name in apps:
            cpu[name].append(run(name, batch) / batch * 1000)
        done += batch
    base = statistics.fmean(cpu["none"])
    report = {name: {"cpu_ms_per_request": round(statistics.fmean(v), 3),
                     "median_batch_ms": round(statistics.median(v), 3),
                     "ratio_to_none": round(statistics.fmean(v) / base, 3)} for name, v in cpu.items()}
    db = sqlite3.connect(tmp / "seeded" / "moderator.db")
    report["seeded"]["rules"] = db.execute("SELECT COUNT(*) FROM rules").fetchone()[0]
    report["seeded"]["authors"] = db.execute("SELECT COUNT(*) FROM authors").fetchone()[0]
    db.close()
    print(json.dumps({"requests_per_config": done, **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
