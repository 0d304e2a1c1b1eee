"""The whole feedback loop on one running app: comments submitted and decided through the API -> export-labels
-> retrain with the feedback (small sample) -> compare -> promote -> the same app object serves the new model
(watch) -> rescore of the pending queue. Comments come from the corpora (read at test time, never stored)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import make_reload_app
from moderator.cli import main
from moderator.training.datasets import data_available, load_corpus

pytestmark = [
    pytest.mark.slow,
    pytest.mark.corpora,
    pytest.mark.skipif(not data_available(), reason="labelled corpora not found (set MODERATOR_DATA_DIR)"),
]

CORPORA = ("youtube_spam", "impermium_insults", "olid")
CATEGORIES = ("personal_attack", "spam")
# Linear models only: this test is about the feedback loop; the encoder has its own (test_encoder, test_refine).
SMALL = {"sample": 300, "corpora": CORPORA, "categories": CATEGORIES, "max_char_features": 20_000,
         "max_word_features": 10_000, "progress": False, "encoder": False}


def site_comments(n: int) -> list[tuple[str, str, int]]:
    """``n`` comments per site corpus as (text, category, label), seeded."""
    out = []
    rng = np.random.default_rng(7)
    for corpus, cat in (("impermium_insults", "personal_attack"), ("youtube_spam", "spam")):
        rows = [r for r in load_corpus(corpus) if cat in r.labels and 0 < len(r.text.strip()) < 2000]
        out += [(rows[i].text, cat, rows[i].labels[cat]) for i in rng.permutation(len(rows))[:n]]
    return out


def test_feedback_loop_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import make_service
    from moderator.training.feedback import is_holdout, read_feedback
    from moderator.training.train import TrainConfig, train

    started = time.monotonic()
    models = tmp_path / "models"
    base, _ = train(TrainConfig(output=str(models), **SMALL))
    app = make_reload_app(tmp_path, models, MODEL_RELOAD_INTERVAL=0.05, MODEL_RELOAD_BACKGROUND=False)
    svc = make_service(app)
    url = svc.state.database_url

    # 1. the site: comments submitted and decided by moderators through the API
    comments = site_comments(70)
    for i, (text, cat, label) in enumerate(comments):
        r = svc.submit(text, author_id=f"author-{i}", thread_id=f"thread-{i % 7}")
        assert r.status_code == 201, r.get_json()
        cid = r.get_json()["id"]
        assert r.get_json()["model_version"] == base.version
        if i % 10 == 9:
            continue  # left pending, for the re-score
        body: dict[str, Any] = {"decision": "reject", "categories": [cat]} if label else {"decision": "approve"}
        if label and i % 5 == 0:
            body = {"decision": "reject", "reason": cat}  # no categories: the reason names it
        r = svc.call("POST", f"/v1/queue/{cid}/decision", "review", json=body)
        assert r.status_code == 200, r.get_json()

    # 2. export
    feedback = tmp_path / "feedback.jsonl"
    r = CliRunner().invoke(main, ["export-labels", "--out", str(feedback), "--database-url", url])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in feedback.read_text().splitlines()]
    assert len(rows) == 126 and all(x["model_version"] == base.version for x in rows)

    # 3. retrain with the feedback (never on the held-back slice)
    examples = read_feedback(feedback)
    assert examples and not any(is_holdout(e.text) for e in examples)
    candidate, _ = train(TrainConfig(output=str(models / "candidates"), make_default=False,
                                     extra_examples=examples, extra_weight=2.0, **SMALL))
    assert candidate.version != base.version and candidate.metadata["feedback_rows"] == len(examples)
    assert (models / "DEFAULT").read_text().strip() == base.version

    # 4. compare: same rows for both models (validation sample + held-back feedback)
    out = tmp_path / "cmp"
    r = CliRunner().invoke(main, ["compare", candidate.version, "--models-dir", str(models), "--feedback",
                                  str(feedback), "--validation-sample", "60", "--out", str(out)])
    assert r.exit_code == 0, r.output
    report = json.loads(out.with_name("cmp.json").read_text())
    assert set(report["sets"]) >= {"validation", "feedback_holdout"}
    assert report["sets"]["feedback_holdout"]["rows"] == sum(x["split"] == "holdout" for x in rows)
    assert report["current"]["version"] == base.version and report["candidate"]["version"] == candidate.version

    # 5. promote (the gate on the held-back slice; a tiny model may regress somewhere: then --force, audited)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("MODERATOR_MODEL", raising=False)
    args = ["promote", candidate.version, "--models-dir", str(models), "--feedback", str(feedback),
            "--no-validation", "--tolerance", "0.02"]
    r = CliRunner().invoke(main, args)
    if r.exit_code != 0:
        assert "not promoting" in r.output, r.output
        r = CliRunner().invoke(main, [*args, "--force", "--reason", "end-to-end test"])
    assert r.exit_code == 0, r.output
    assert (models / "DEFAULT").read_text().strip() == candidate.version

    # 6. the running app follows (no new app object)
    time.sleep(0.06)
    assert svc.call("GET", "/v1/policy", "admin").get_json()["model_version"] == candidate.version
    r = svc.submit("Thanks for the article, very helpful.", author_id="after")
    assert r.get_json()["model_version"] == candidate.version
    assert f'moderator_model_info{{version="{candidate.version}"}} 1.0' in \
        svc.call("GET", "/metrics", None).get_data(as_text=True)

    # 7. re-score the pending queue with the promoted model
    r = CliRunner().invoke(main, ["rescore", "--model", str(models)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["rescored"] == 14
    queue = svc.call("GET", "/v1/queue?limit=200", "review").get_json()["items"]
    assert len(queue) == 15
    for item in queue:
        detail = svc.call("GET", f"/v1/comments/{item['id']}").get_json()
        assert detail["model_version"] == candidate.version
    audit = {e["action"] for e in svc.call("GET", "/v1/audit?limit=500", "admin").get_json()["items"]}
    assert {"model.promote", "model.rescore"} <= audit
    app.extensions["moderator"].engine.dispose()
    print(f"feedback loop end to end: {time.monotonic() - started:.0f} s (27 s CPU)")
