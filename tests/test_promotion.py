"""The promotion gate on synthetic metrics, and ``moderator promote`` / ``compare`` refusing, forcing (audited)
and installing a candidate from ``models/candidates``. No training: models are stub artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from helpers import save_stub, stub_module
from moderator.cli import main
from moderator.training.promotion import (
    Regression,
    compare_models,
    find_regressions,
    gate_summary,
    install,
    render_markdown,
    resolve_model_path,
)


def m(auc: float | None, n: int = 100, pos: int = 30, f1: float = 0.5) -> dict[str, Any]:
    return {"all": {"n": n, "positives": pos, "roc_auc": auc, "f1": f1, "precision": f1, "recall": f1}}


def report(sets: dict[str, dict[str, tuple[Any, Any]]]) -> dict[str, Any]:
    return {"candidate": {"version": "cand"}, "current": {"version": "cur"},
            "sets": {name: {"rows": 100,
                            "categories": {c: {"current": a, "candidate": b} for c, (a, b) in cats.items()}}
                     for name, cats in sets.items()}}


def test_within_tolerance_passes() -> None:
    r = report({"validation": {"spam": (m(0.950), m(0.941)), "obscenity": (m(0.90), m(0.95))},
                "feedback_holdout": {"spam": (m(0.80), m(0.795))}})
    assert find_regressions(r, tolerance=0.01) == []
    assert gate_summary(r, 0.01, 5)["passed"] is True


def test_a_drop_beyond_tolerance_on_any_set_is_a_regression() -> None:
    r = report({"validation": {"spam": (m(0.95), m(0.96))},
                "feedback_holdout": {"spam": (m(0.90), m(0.85)), "hate_speech": (m(0.7), m(0.699))}})
    regs = find_regressions(r, tolerance=0.01)
    assert [(x.set, x.category) for x in regs] == [("feedback_holdout", "spam")]
    assert regs[0].delta == pytest.approx(-0.05)
    assert "0.9000 -> 0.8500" in regs[0].describe()
    assert find_regressions(r, tolerance=0.06) == []
    assert find_regressions(r, tolerance=0.0)[1].category == "hate_speech"  # 0.001 worse with no tolerance


def test_missing_category_low_support_and_undefined_auc() -> None:
    r = report({"validation": {"spam": (m(0.9), None), "obscenity": (None, m(0.8)),
                               "hate_speech": (m(0.9, n=40, pos=3), m(0.5, n=40, pos=3)),
                               "personal_attack": (m(None, pos=0), m(None, pos=0))}})
    regs = find_regressions(r, tolerance=0.01, min_support=5)
    assert [(x.category, x.reason) for x in regs] == [("spam", "the candidate has no such category")]
    assert [x.category for x in find_regressions(r, 0.01, min_support=3)] == ["spam", "hate_speech"]
    md = render_markdown(r, 0.01, 5)
    assert "| hate_speech | 40 | 3 | 0.900 | 0.500 | -0.400 | 0.500 | 0.500 | +0.000 | too few to gate |" in md
    assert "**Refused**: validation/spam: the candidate has no such category" in md


def test_markdown_marks_regressions() -> None:
    r = report({"validation": {"spam": (m(0.95), m(0.90))}})
    md = render_markdown(r, 0.01, 5)
    assert "| spam | 100 | 30 | 0.950 | 0.900 | -0.050 |" in md and "**regression**" in md
    assert isinstance(find_regressions(r)[0], Regression)


# ---------------------------------------------------------------- the commands


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    stub_module(tmp_path / "stubmod")
    d = tmp_path / "models"
    save_stub(d, "v1", make_default=True)
    save_stub(d / "candidates", "v2", base=0.3)
    monkeypatch.setenv("MODERATOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("MODERATOR_MODEL", raising=False)
    assert CliRunner().invoke(main, ["init"]).exit_code == 0
    return d


def fake_comparison(regress: bool) -> Any:
    def _comparison(candidate: Any, cand_path: Path, current: Any, cur_path: Path, *args: Any) -> dict[str, Any]:
        r = report({"validation": {"spam": (m(0.95), m(0.90 if regress else 0.951))}})
        r["candidate"]["version"], r["current"]["version"] = candidate.version, current.version
        return r

    return _comparison


def audit_events(action: str) -> list[Any]:
    from moderator.cli.context import database_url
    from moderator.storage.db import make_engine, make_sessionmaker
    from moderator.storage.models import AuditEvent

    engine = make_engine(database_url())
    try:
        with make_sessionmaker(engine)() as s:
            return [(e.actor, e.target_id, e.data) for e in s.query(AuditEvent).filter_by(action=action)]
    finally:
        engine.dispose()


def test_promote_refuses_a_regression_and_names_it(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import moderator.cli.feedback as fc

    monkeypatch.setattr(fc, "_comparison", fake_comparison(regress=True))
    r = CliRunner().invoke(main, ["promote", "v2", "--models-dir", str(models)])
    assert r.exit_code == 1
    assert "not promoting v2" in r.output and "validation/spam: AUC 0.9500 -> 0.9000" in r.output
    assert (models / "DEFAULT").read_text().strip() == "v1"
    assert not (models / "v2.joblib").exists()


def test_promote_force_is_audited(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import moderator.cli.feedback as fc

    monkeypatch.setattr(fc, "_comparison", fake_comparison(regress=True))
    r = CliRunner().invoke(main, ["promote", "v2", "--models-dir", str(models), "--force", "--reason", "hotfix"])
    assert r.exit_code == 0, r.output
    assert "FORCED" in r.output
    assert (models / "DEFAULT").read_text().strip() == "v2" and (models / "v2.joblib").is_file()
    [(actor, target, data)] = audit_events("model.promote")
    assert actor.startswith("cli:") and target == "v2"
    assert data["forced"] is True and data["reason"] == "hotfix" and data["from"] == "v1"
    assert data["regressions"] == ["validation/spam: AUC 0.9500 -> 0.9000 (-0.0500)"]


def test_promote_passes_and_is_idempotent(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import moderator.cli.feedback as fc

    monkeypatch.setattr(fc, "_comparison", fake_comparison(regress=False))
    r = CliRunner().invoke(main, ["promote", str(models / "candidates" / "v2.joblib"), "--models-dir", str(models)])
    assert r.exit_code == 0, r.output
    assert (models / "DEFAULT").read_text().strip() == "v2"
    [(_, _, data)] = audit_events("model.promote")
    assert data["forced"] is False
    r = CliRunner().invoke(main, ["promote", "v2", "--models-dir", str(models)])
    assert r.exit_code == 0 and "already the default" in r.output


def test_promote_unknown_model(models: Path) -> None:
    r = CliRunner().invoke(main, ["promote", "nope", "--models-dir", str(models)])
    assert r.exit_code == 1 and "no model 'nope'" in r.output


def test_compare_writes_markdown_and_json(models: Path, tmp_path: Path) -> None:
    fb = tmp_path / "fb.jsonl"
    rows = [{"text": f"buy this {i}" if i % 2 else f"nice post {i}", "labels": {"spam": i % 2}} for i in range(400)]
    fb.write_text("".join(json.dumps(x) + "\n" for x in rows))
    out = tmp_path / "report" / "cmp"
    r = CliRunner().invoke(main, ["compare", "v2", "--models-dir", str(models), "--feedback", str(fb),
                                  "--no-validation", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "# Model comparison: `v2` (candidate) vs `v1` (current)" in r.output
    data = json.loads(out.with_name("cmp.json").read_text())
    spam = data["sets"]["feedback_holdout"]["categories"]["spam"]
    assert spam["current"]["all"]["roc_auc"] == 1.0 and spam["candidate"]["all"]["roc_auc"] == 1.0
    assert 40 < data["sets"]["feedback_holdout"]["rows"] < 120  # only the held-back slice
    assert data["gate"]["passed"] is True
    assert out.with_name("cmp.md").read_text().startswith("# Model comparison")


def test_resolve_and_install(models: Path) -> None:
    assert resolve_model_path("current", models) == models / "v1.joblib"
    assert resolve_model_path("v2", models) == models / "candidates" / "v2.joblib"
    assert install(models / "candidates" / "v2.joblib", models) == "v2"
    assert (models / "DEFAULT").read_text().strip() == "v2"


def test_compare_models_on_the_same_rows(models: Path) -> None:
    from moderator.model import load_model
    from moderator.training.datasets import Example

    rows = [Example("buy now", "x", {"spam": 1}, "1"), Example("hello", "x", {"spam": 0}, "0"),
            Example("idiot", "x", {"personal_attack": 1}, "1")]
    r = compare_models(load_model(str(models / "candidates" / "v2.joblib")), load_model(str(models)), {"s": rows})
    assert r["candidate"]["version"] == "v2" and r["current"]["version"] == "v1"
    assert r["sets"]["s"]["categories"]["spam"]["current"]["all"]["n"] == 2
