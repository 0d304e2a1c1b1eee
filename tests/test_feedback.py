"""Moderators' decisions -> labelled corpus: labelling rules, the held-back split, export through the CLI,
reading back (file and database URL), and ``moderator train --feedback`` never seeing the held-back slice."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from helpers import make_reload_app, save_stub, stub_module
from moderator import CATEGORIES
from moderator.cli import main
from moderator.training.feedback import (
    categories_in_reason,
    is_holdout,
    labels_for,
    load_rows,
    read_feedback,
    split_part,
    write_jsonl,
)

ALL0 = dict.fromkeys(CATEGORIES, 0)


# ---------------------------------------------------------------- labelling rules


def test_approved_is_negative_for_every_category() -> None:
    assert labels_for("approve", [], None, ["spam"]) == (ALL0, "approved")


def test_rejected_with_categories_is_positive_for_those_negative_for_the_rest() -> None:
    labels, source = labels_for("reject", ["spam", "obscenity"], "junk", ["personal_attack"])
    assert labels == {**ALL0, "spam": 1, "obscenity": 1} and source == "categories"


def test_rejected_without_categories_never_becomes_a_negative() -> None:
    labels, source = labels_for("reject", [], "rude", ["personal_attack"])
    assert labels == {"personal_attack": 1} and source == "fallback"  # other categories: no label at all
    labels, _ = labels_for("reject", [], "Spam", [])
    assert labels == {"spam": 1}
    labels, _ = labels_for("reject", [], "personal attack, and spam", ["spam"])
    assert labels == {"personal_attack": 1, "spam": 1}
    assert labels_for("reject", [], "duplicate", []) == (None, "skipped")
    assert labels_for("reject", [], None, []) == (None, "skipped")


def test_reason_must_name_a_category_as_a_word() -> None:
    assert categories_in_reason("spammer network") == []
    assert categories_in_reason("hate-speech") == ["hate_speech"]
    assert categories_in_reason("OBSCENITY: slur") == ["obscenity"]
    assert categories_in_reason(None) == []


def test_unknown_decision_is_an_error() -> None:
    with pytest.raises(ValueError):
        labels_for("ignore", [], None, [])


# ---------------------------------------------------------------- held-back slice


def test_holdout_is_deterministic_by_text_and_about_a_fifth() -> None:
    texts = [f"comment number {i}" for i in range(4000)]
    held = [t for t in texts if is_holdout(t)]
    assert 0.17 < len(held) / len(texts) < 0.23
    assert held == [t for t in texts if is_holdout(t)]
    # the same text (case and spacing aside) is always on the same side: a flood cannot leak across
    assert all(is_holdout(t.upper().replace(" ", "  ")) for t in held[:50])
    assert is_holdout("x", fraction=0.0) is False and is_holdout("x", fraction=1.0) is True
    rows = [{"text": t} for t in texts]
    train, hold = split_part(rows, "train"), split_part(rows, "holdout")
    assert len(train) + len(hold) == len(rows) and not {r["text"] for r in train} & {r["text"] for r in hold}
    with pytest.raises(ValueError):
        split_part(rows, "test")  # type: ignore[arg-type]


def _synthetic(path: Path, n: int = 300) -> Path:
    write_jsonl(({"comment_id": i, "text": f"synthetic comment {i}", "labels": {"spam": i % 2},
                  "decision": "reject" if i % 2 else "approve"} for i in range(n)), path)
    return path


def test_read_feedback_excludes_the_holdout_by_default(tmp_path: Path) -> None:
    path = _synthetic(tmp_path / "fb.jsonl")
    train = read_feedback(path)
    hold = read_feedback(path, part="holdout")
    every = read_feedback(path, part="all")
    assert len(every) == 300 and len(train) + len(hold) == 300 and 30 < len(hold) < 90
    assert {e.text for e in train}.isdisjoint({e.text for e in hold})
    assert all(e.corpus == "feedback" for e in every)
    ex = every[3]
    assert ex.labels == {"spam": 1} and ex.raw_label == "reject" and ex.group == "3" and ex.meta["comment_id"] == "3"


def test_bad_feedback_files_fail_clearly(tmp_path: Path) -> None:
    from moderator.training.feedback import FeedbackError

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "labels": {"spam": 2}}\n')
    with pytest.raises(FeedbackError, match="0 or 1"):
        load_rows(bad)
    bad.write_text("not json\n")
    with pytest.raises(FeedbackError, match="invalid JSON"):
        load_rows(bad)
    with pytest.raises(FeedbackError, match="not found"):
        load_rows(tmp_path / "missing.jsonl")


def test_train_with_a_bad_feedback_file_is_a_clean_cli_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["train", "--feedback", str(tmp_path / "missing.jsonl"), "--quiet",
                                  "--output", str(tmp_path / "out")])
    assert r.exit_code == 1
    assert "Error: feedback file not found" in r.output and r.exception is not None
    assert isinstance(r.exception, SystemExit)  # click reported it; no traceback


def test_train_feedback_option_trains_without_the_holdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import moderator.training.train as training

    seen: dict[str, Any] = {}

    def fake_train(cfg: Any) -> Any:
        seen["cfg"] = cfg
        model = SimpleNamespace(version="fake", thresholds={}, metadata={"training_seconds": 0, "metrics": {}})
        return model, tmp_path / "fake.joblib"

    monkeypatch.setattr(training, "train", fake_train)
    path = _synthetic(tmp_path / "fb.jsonl")
    r = CliRunner().invoke(main, ["train", "--feedback", str(path), "--feedback-weight", "2", "--no-report",
                                  "--quiet", "--output", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    cfg = seen["cfg"]
    texts = {e.text for e in cfg.extra_examples}
    held = {e.text for e in read_feedback(path, part="holdout")}
    assert texts and texts.isdisjoint(held) and len(texts) + len(held) == 300
    assert cfg.extra_weight == 2.0


# ---------------------------------------------------------------- export through the service


@pytest.fixture
def decided(tmp_path: Path) -> Any:
    """A service (stub model v1) with comments decided through the API at known times."""
    from conftest import make_service

    stub_module(tmp_path / "stubmod")
    models = tmp_path / "models"
    save_stub(models, "v1", make_default=True)
    app = make_reload_app(tmp_path, models)
    svc = make_service(app)
    clock = svc.state.clock
    ids = {}
    for key, text in [("spam", "Buy cheap watches now"), ("attack", "You are an idiot"),
                      ("clean", "Lovely garden, thanks"), ("dup", "Same text posted again and again"),
                      ("hate", "A comment the moderator called hateful"), ("pending", "Still waiting")]:
        r = svc.submit(text)
        assert r.status_code == 201, r.get_json()
        ids[key] = r.get_json()["id"]
    decisions = [("spam", {"decision": "reject", "reason": "ad", "categories": ["spam"]}),
                 ("attack", {"decision": "reject", "reason": "rude"}),
                 ("clean", {"decision": "approve"}),
                 ("dup", {"decision": "reject", "reason": "duplicate"}),
                 ("hate", {"decision": "reject", "reason": "hate speech"})]
    for key, body in decisions:
        clock.advance(3600)
        r = svc.call("POST", f"/v1/queue/{ids[key]}/decision", "review", json=body)
        assert r.status_code == 200, r.get_json()
    yield svc, ids
    app.extensions["moderator"].engine.dispose()


def test_export_labels_cli_writes_the_labelled_corpus(decided: Any, tmp_path: Path) -> None:
    svc, ids = decided
    out = tmp_path / "feedback.jsonl"
    r = CliRunner().invoke(main, ["export-labels", "--out", str(out), "--database-url", svc.state.database_url])
    assert r.exit_code == 0, r.output
    rows = {row["comment_id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {ids["spam"], ids["attack"], ids["clean"], ids["hate"]}  # dup skipped, pending left out
    assert rows[ids["spam"]]["labels"] == {**ALL0, "spam": 1}
    assert rows[ids["attack"]]["labels"] == {"personal_attack": 1}  # the model's flag, no negatives
    assert rows[ids["attack"]]["label_source"] == "fallback"
    assert rows[ids["clean"]]["labels"] == ALL0 and rows[ids["clean"]]["decision"] == "approve"
    assert rows[ids["hate"]]["labels"] == {"hate_speech": 1}
    spam = rows[ids["spam"]]
    assert spam["model_version"] == "v1" and spam["scores"]["spam"] == pytest.approx(0.9)
    assert spam["text"] == "Buy cheap watches now" and spam["categories"] == ["spam"]
    assert spam["decided_at"].startswith("2026-03-01T13:00") and spam["decided_by"].startswith("key:")
    assert spam["split"] in ("train", "holdout")
    summary = json.loads(r.stderr.strip().splitlines()[-1]) if r.stderr else None
    assert summary is None or summary["skipped_no_label"] == 1


def test_export_since_until_and_database_url_feedback(decided: Any, tmp_path: Path) -> None:
    svc, ids = decided
    out = tmp_path / "window.jsonl"
    # decisions at 13:00 (spam), 14:00 (attack), 15:00 (clean), 16:00 (dup), 17:00 (hate)
    r = CliRunner().invoke(main, ["export-labels", "-o", str(out), "--database-url", svc.state.database_url,
                                  "--since", "2026-03-01T14:00", "--until", "2026-03-01T17:00:00+00:00"])
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["comment_id"] for x in out.read_text().splitlines()] == [ids["attack"], ids["clean"]]
    r = CliRunner().invoke(main, ["export-labels", "-o", str(out), "--since", "yesterday"])
    assert r.exit_code != 0 and "ISO 8601" in r.output
    every = read_feedback(svc.state.database_url, part="all")
    assert sorted(int(e.meta["comment_id"]) for e in every) == sorted([ids["spam"], ids["attack"], ids["clean"],
                                                                      ids["hate"]])


def test_reopened_comment_is_not_exported_until_decided_again(decided: Any) -> None:
    from moderator.service import queue as review
    from moderator.service.audit import Actor
    from moderator.storage.db import write_session
    from moderator.storage.models import Comment

    svc, ids = decided
    with write_session(svc.state.sessionmaker) as session:
        comment = session.get(Comment, ids["clean"])
        review.needs_review(session, comment, 1.0, Actor("cli:test", "test", "admin"), svc.state.clock())
    got = {int(e.meta["comment_id"]) for e in read_feedback(svc.state.database_url, part="all")}
    assert ids["clean"] not in got
    r = svc.call("POST", f"/v1/queue/{ids['clean']}/decision", "review",
                 json={"decision": "reject", "categories": ["obscenity"]})
    assert r.status_code == 200
    again = {int(e.meta["comment_id"]): e for e in read_feedback(svc.state.database_url, part="all")}
    assert again[ids["clean"]].labels == {**ALL0, "obscenity": 1}  # the latest decision counts
