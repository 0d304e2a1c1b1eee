"""Where the time of one ``POST /v1/comments`` goes, in process (Flask test client, SQLite in a temp dir).

    python bench/profile_submit.py --requests 500 [--external-ids]

Prints the mean wall time per request and per stage: key lookup, body parsing/validation, model scoring,
duplicate detection, database inserts, commit. Uses the shipped model (or ``MODERATOR_MODEL``) and the
default duplicate detector.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_submit import make_text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--cprofile", type=int, default=0, metavar="N",
                    help="also print the N functions with the most own time (cProfile) over the measured requests")
    ap.add_argument("--external-ids", action="store_true",
                    help="give every comment an external_id (a look-up of it precedes each submission)")
    args = ap.parse_args()

    from sqlalchemy.orm import Session

    import moderator.service.comments as comments
    import moderator.service.scoring as scoring
    import moderator.web.api.routes as api
    from moderator.service import keys as auth
    from moderator.service.audit import Actor
    from moderator.storage.db import write_session
    from moderator.web.app import create_app

    totals: dict[str, float] = {}

    def timed(owner: Any, name: str, label: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def wrapper(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                totals[label] = totals.get(label, 0.0) + time.perf_counter() - t0

        setattr(owner, name, wrapper)

    home = tempfile.mkdtemp(prefix="moderator-profile-")
    app = create_app({"MODERATOR_HOME": home})
    st = app.extensions["moderator"]
    with write_session(st.sessionmaker) as session:
        _, key = auth.create_key(session, "profile", "submit", Actor("cli:bench", "bench", "admin"), st.clock())
    timed(api, "authenticate", "key lookup (cached)")
    timed(api, "parse_body", "parse + validate body")
    timed(scoring.BatchScorer, "score", "model scoring")
    if st.detector is not None:
        for name in ("rate_check", "check", "record"):
            timed(st.detector, name, f"duplicates: {name}")
    timed(comments, "store", "database inserts")
    timed(Session, "commit", "commit")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    rng = random.Random(0)

    sent = [0]

    def one() -> None:
        body = {"text": make_text(rng), "author_id": f"user-{rng.randrange(20000)}", "thread_id": "t"}
        sent[0] += 1
        if args.external_ids:
            body["external_id"] = f"site-{sent[0]}"
        resp = client.post("/v1/comments", json=body, headers=headers)
        assert resp.status_code == 201, resp.get_json()

    for _ in range(50):
        one()
    totals.clear()
    profiler = None
    if args.cprofile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    for _ in range(args.requests):
        one()
    wall = time.perf_counter() - t0
    if profiler is not None:
        profiler.disable()
    print(f"model {st.model.version}; {args.requests} requests; mean wall time per request: "
          f"{wall / args.requests * 1000:.2f} ms")
    for label, total in totals.items():
        print(f"  {label:28s} {total / args.requests * 1000:7.2f} ms")
    rest = wall - sum(totals.values())
    print(f"  {'Flask, JSON, test client':28s} {rest / args.requests * 1000:7.2f} ms")
    if profiler is not None:
        import pstats

        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.cprofile)
    st.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
