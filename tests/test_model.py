"""The shipped model through the public interface other components rely on."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from moderator import CATEGORIES, load_model
from moderator.model import ModelLoadError, default_model_path


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_interface(model) -> None:
    assert isinstance(model.version, str) and model.version
    assert model.categories == ("hate_speech", "obscenity", "personal_attack", "spam")
    assert set(model.thresholds) == set(CATEGORIES)
    assert all(0.0 < t < 1.0 for t in model.thresholds.values())


def test_predict_proba_shape_and_order(model) -> None:
    texts = ["Thanks for the thoughtful article.", "you are a fucking idiot", "CHECK OUT MY CHANNEL subscribe"]
    out = model.predict_proba(texts)
    assert len(out) == 3
    for scores in out:
        assert set(scores) == set(CATEGORIES)
        assert all(0.0 <= v <= 1.0 and not math.isnan(v) for v in scores.values())
    # order is preserved: each text scores highest where it should
    assert out[1]["obscenity"] > out[0]["obscenity"]
    assert out[1]["personal_attack"] > out[0]["personal_attack"]
    assert out[2]["spam"] > out[0]["spam"]
    assert model.predict_proba([]) == []
    assert model.predict_proba([texts[1]])[0] == pytest.approx(out[1])


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("you are a pathetic moron and everyone here knows it", "personal_attack"),
        ("what a load of f*cking bullsh1t", "obscenity"),
        ("Check out my channel and subscribe, free iPhone giveaway at my page http://bit.ly/xyz", "spam"),
    ],
)
def test_clear_cases_are_flagged(model, text: str, category: str) -> None:
    scores = model.predict_proba([text])[0]
    assert scores[category] >= model.thresholds[category], scores


def test_clean_comment_is_not_flagged(model) -> None:
    scores = model.predict_proba(["I enjoyed the recipe; the lemon cake came out moist and light."])[0]
    assert model.flags(scores) == [], scores


def test_explain_spans(model) -> None:
    text = "Honestly you are a st*pid f\u200buck1ng idiot, go away"
    spans = model.explain(text, "obscenity")
    assert spans, "an obscene comment must have a span that drove the score"
    top = spans[0]
    assert set(top) == {"start", "end", "text", "weight"}
    assert text[top["start"]:top["end"]] == top["text"]
    assert "f\u200buck1ng" in top["text"]
    assert [s["weight"] for s in spans] == sorted((s["weight"] for s in spans), reverse=True)
    assert all(s["weight"] > 0 for s in spans)
    attack = model.explain(text, "personal_attack")
    assert any("idiot" in s["text"] for s in attack[:3])
    with pytest.raises(KeyError):
        model.explain(text, "nonsense")


def test_scunthorpe_is_neither_flagged_nor_blamed(model) -> None:
    text = "Scunthorpe United signed a new striker from Penistone"
    assert model.predict_proba([text])[0]["obscenity"] < model.thresholds["obscenity"]
    assert not any("Scunthorpe" in s["text"] or "Penistone" in s["text"] for s in model.explain(text, "obscenity"))


def test_model_env_var_and_path(tmp_path: Path, monkeypatch) -> None:
    src = default_model_path()
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    monkeypatch.setenv("MODERATOR_MODEL", str(dst))
    assert load_model().version == load_model(str(src)).version


def test_incompatible_sklearn_version_fails_clearly(tmp_path: Path) -> None:
    src = default_model_path()
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    meta = json.loads(src.with_suffix(".json").read_text())
    meta["library_versions"]["scikit-learn"] = "0.24.2"
    dst.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match=r"scikit-learn 0\.24\.2.*installed"):
        load_model(str(dst))


def test_missing_or_corrupt_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        load_model(str(tmp_path / "nope.joblib"))
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(b"not a joblib file")
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_model(str(bad))


@pytest.mark.parametrize(("module", "name", "where"), [
    ("moderator.classifier", "ModerationModel", "moderator.model.classifier"),
    ("moderator.classifier", "CategoryModel", "moderator.model.classifier"),
    ("moderator.classifier", "NormalizeText", "moderator.model.pipeline"),
    ("moderator.classifier", "LexiconCounts", "moderator.model.pipeline"),
    ("moderator.classifier", "_split_space", "moderator.model.pipeline"),
    ("moderator.model.classifier", "NormalizeText", "moderator.model.pipeline"),
    ("moderator.model.classifier", "LexiconCounts", "moderator.model.pipeline"),
    ("moderator.model.classifier", "_split_space", "moderator.model.pipeline"),
    ("moderator.features", "Normalizer", "moderator.model.features"),
    ("moderator.lexicon", "Lexicon", "moderator.model.lexicon"),
    ("moderator.encoder", "EncoderScorer", "moderator.model.encoder"),
])
def test_loader_finds_classes_where_older_artifacts_put_them(module: str, name: str, where: str) -> None:
    """Artifacts name their classes by the module paths they were written under (the shipped one by the
    flat layout's); every such path resolves to where the class lives now."""
    import io

    from moderator.model.artifact import _ArtifactUnpickler

    found = _ArtifactUnpickler(io.BytesIO(b"")).find_class(module, name)
    assert (found.__module__, found.__name__) == (where, name)


def test_loading_and_scoring_need_no_torch() -> None:
    """Serving installs neither torch nor transformers: the encoder runs on onnxruntime from the artifact."""
    code = ("import sys; from moderator import load_model; m = load_model(); "
            "m.predict_proba(['you are an idiot']); "
            "print(sorted(k for k in ('torch', 'transformers', 'onnx') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_shipped_artifact_is_small_and_described() -> None:
    path = default_model_path()
    assert path.stat().st_size < 40_000_000  # the project's cap for an artifact in models/
    meta = json.loads(path.with_suffix(".json").read_text())
    for key in ("version", "created_at", "library_versions", "categories", "thresholds", "input_sha256",
                "rows", "metrics", "command"):
        assert key in meta, key
    assert Path(path.parent / "README.md").is_file()


def test_cli_score_reads_lines_and_json_lines() -> None:
    stdin = 'hello there, nice post\n{"text": "you absolute f*cking moron"}\n\n'
    out = subprocess.run([sys.executable, "-m", "moderator", "score"], input=stdin, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    rows = [json.loads(line) for line in out]
    assert [r["text"] for r in rows] == ["hello there, nice post", "you absolute f*cking moron"]
    assert rows[1]["scores"]["obscenity"] > rows[0]["scores"]["obscenity"]
    assert "obscenity" in rows[1]["flags"]


def test_cli_score_rejects_bad_json_line() -> None:
    proc = subprocess.run([sys.executable, "-m", "moderator", "score"], input='{"txt": 1}\n',
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "text" in proc.stderr


def test_cli_evaluate_prints_metrics() -> None:
    out = subprocess.run([sys.executable, "-m", "moderator", "evaluate"], capture_output=True, text=True,
                         check=True).stdout
    assert "impermium_insults" in out and "hand-written set" in out


@pytest.mark.parametrize("content", ["../outside/evil", "/etc/passwd", "..", ".", "", "sub/v1", "..\\evil",
                                     "v1\x00", "v\x1b1"])
def test_default_may_only_name_a_file_inside_models(tmp_path: Path, content: str) -> None:
    models, outside = tmp_path / "models", tmp_path / "outside"
    models.mkdir()
    outside.mkdir()
    (outside / "evil.joblib").write_bytes(b"not a model")
    (models / "DEFAULT").write_text(content + "\n")
    with pytest.raises(ModelLoadError, match="must name a model"):
        default_model_path(models)
    with pytest.raises(ModelLoadError, match="must name a model"):
        load_model(models)


def test_default_may_not_escape_through_a_symlink(tmp_path: Path) -> None:
    models, outside = tmp_path / "models", tmp_path / "outside"
    models.mkdir()
    outside.mkdir()
    (outside / "evil.joblib").write_bytes(b"not a model")
    (models / "v1.joblib").symlink_to(outside / "evil.joblib")
    (models / "DEFAULT").write_text("v1\n")
    with pytest.raises(ModelLoadError, match="resolves outside"):
        load_model(models)
    # a models folder that is itself a symlink (e.g. to a volume) is fine: the artifact is inside it
    (models / "v1.joblib").unlink()
    (models / "v1.joblib").write_bytes(b"x")
    link = tmp_path / "linked-models"
    link.symlink_to(models)
    assert default_model_path(link) == link / "v1.joblib"


def test_default_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "DEFAULT").write_bytes(b"\xff\xfe")
    with pytest.raises(ModelLoadError, match="not UTF-8"):
        default_model_path(tmp_path)
