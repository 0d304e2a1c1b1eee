"""A small end-to-end training run on a sample of the real corpora produces a loadable, working model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moderator import CATEGORIES, load_model
from moderator.model import default_model_path
from moderator.training.datasets import Example, data_available
from moderator.training.metrics import choose_threshold
from moderator.training.train import TrainConfig, dedupe, split, train
from moderator.training.weak_labels import obscenity_label

needs_corpora = pytest.mark.skipif(not data_available(),
                                   reason="labelled corpora not found (set MODERATOR_DATA_DIR); CI has them")
# A 400-row sample of Stormfront leaves a stratum with a single row: scikit-learn warns that the grouped
# split cannot stratify it, which is expected for a sample and irrelevant to what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore:The least populated class in y:UserWarning")


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    cfg = TrainConfig(output=str(out), sample=400, progress=False, max_char_features=20_000,
                      max_word_features=10_000)
    model, path = train(cfg)
    return model, path


@pytest.mark.slow  # fine-tunes the encoder
@needs_corpora
def test_training_writes_a_loadable_artifact(small_model) -> None:
    model, path = small_model
    assert path.is_file() and path.suffix == ".joblib"
    assert (path.parent / "DEFAULT").read_text().strip() == model.version
    loaded = load_model(str(path))
    assert loaded.version == model.version
    assert loaded.categories == CATEGORIES
    texts = ["you stupid f*cking idiot", "lovely photo of the harbour"]
    assert loaded.predict_proba(texts) == model.predict_proba(texts)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["rows"]["olid"]["loaded"] == 400
    assert set(meta["input_sha256"]) >= {"olid/olid-training-v1.0.tsv", "impermium_insults/train.csv"}
    assert meta["metrics"]["validation"]["spam"]["youtube_spam"]["roc_auc"] > 0.8
    assert loaded.explain(texts[0], "obscenity")
    # the encoder serves the product's categories only; the other corpora trained outputs of their own
    enc = meta["encoder"]
    assert enc["categories"] == ["hate_speech", "personal_attack"]
    assert enc["auxiliary_outputs"] and all("/" in k for k in enc["auxiliary_outputs"])
    assert loaded.encoder is not None and loaded.encoder.predict_proba(texts).shape == (2, 2)
    # the full model averages the two parts after each one's Platt scaling, fitted on the validation rows
    assert loaded.calibration == meta["metrics"]["calibration"]["parts"]
    assert set(loaded.calibration) == {"hate_speech", "personal_attack"}


@pytest.mark.slow  # fine-tunes the encoder
@needs_corpora
def test_training_is_deterministic(small_model, tmp_path) -> None:
    model, _ = small_model
    cfg = TrainConfig(output=str(tmp_path), sample=400, progress=False, max_char_features=20_000,
                      max_word_features=10_000)
    again, _ = train(cfg)
    assert again.version == model.version
    assert again.thresholds == model.thresholds


def test_dedupe_drops_exact_repeats_across_corpora() -> None:
    a = [Example("Hello  World", "a", {}, "0"), Example("hello world", "a", {}, "0"), Example(" ", "a", {}, "0")]
    b = [Example("HELLO WORLD", "b", {}, "1"), Example("something else", "b", {}, "1")]
    out, dropped = dedupe({"a": a, "b": b})
    assert [e.text for e in out["a"]] == ["Hello  World"]
    assert [e.text for e in out["b"]] == ["something else"]
    assert dropped == {"a": 2, "b": 1}


def test_split_is_seeded_stratified_and_grouped() -> None:
    rows = [Example(f"text {i}", "x", {}, str(i % 4 == 0)) for i in range(400)]
    tr1, va1 = split(rows, 0.15, seed=1)
    _tr2, va2 = split(rows, 0.15, seed=1)
    assert [e.text for e in va1] == [e.text for e in va2]
    assert len(va1) == 60 and len(tr1) == 340
    assert sum(e.raw_label == "True" for e in va1) == 15  # stratified: a quarter are positive
    storm = [Example(f"s {i}", "stormfront_hate", {}, "hate" if i % 5 == 0 else "noHate", group=str(i // 4))
             for i in range(400)]
    tr, va = split(storm, 0.15, seed=3)
    assert {e.group for e in tr}.isdisjoint({e.group for e in va})


def test_threshold_maximises_f1() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.6, 0.55, 0.8, 0.9])
    assert choose_threshold(y, p) == pytest.approx(0.55)


@pytest.mark.parametrize(
    ("corpus", "raw", "hit", "expected"),
    [
        ("olid", "OFF/UNT/NULL", False, 1),
        ("olid", "NOT/NULL/NULL", True, None),
        ("olid", "NOT/NULL/NULL", False, 0),
        ("olid", "OFF/TIN/IND", False, None),
        ("davidson_hate_offensive", "1", True, 1),
        ("davidson_hate_offensive", "1", False, None),
        ("davidson_hate_offensive", "2", True, None),
        ("davidson_hate_offensive", "2", False, 0),
        ("impermium_insults", "1", True, 1),
        ("impermium_insults", "1", False, 0),
    ],
)
def test_weak_obscenity_label_rules(corpus: str, raw: str, hit: bool, expected: int | None) -> None:
    assert obscenity_label(Example("t", corpus, {}, raw), hit) == expected


def test_the_blend_calibrates_each_part_before_averaging() -> None:
    """An underconfident part (log-odds a third of the truth) and an overconfident one (five times it): the fit
    undoes each part's scale, and the calibrated mean predicts the labels better than the plain mean."""
    from types import SimpleNamespace

    from scipy.special import expit
    from sklearn.metrics import log_loss

    from moderator.model.classifier import ModerationModel, platt
    from moderator.training.train import fit_calibration

    rng = np.random.default_rng(7)
    z = rng.normal(-1.0, 2.0, size=(4000, 2))  # the true log-odds of two categories
    y = (rng.random(z.shape) < expit(z)).astype(int)
    cats = ("hate_speech", "personal_attack")
    rows = [Example(f"t{i}", "c", {c: int(y[i, k]) for k, c in enumerate(cats)}, "") for i in range(len(z))]
    linear, encoder = expit(z / 3), expit(5 * z)
    fit = fit_calibration(rows, cats, linear, encoder)
    assert set(fit) == set(cats)
    for c in cats:
        assert fit[c]["linear"][0] == pytest.approx(3.0, rel=0.15)
        assert fit[c]["encoder"][0] == pytest.approx(0.2, rel=0.15)
        assert abs(fit[c]["linear"][1]) < 0.15 and abs(fit[c]["encoder"][1]) < 0.15

    model = ModerationModel("t", None, dict.fromkeys(cats), {},  # type: ignore[arg-type]
                            encoder=SimpleNamespace(categories=cats), calibration=fit)  # type: ignore[arg-type]
    blended = model.combine(linear.copy(), encoder)
    a, b = fit["hate_speech"]["linear"]
    ea, eb = fit["hate_speech"]["encoder"]
    assert np.allclose(blended[:, 0], 0.5 * (platt(linear[:, 0], a, b) + platt(encoder[:, 0], ea, eb)))
    model.calibration = None
    plain = model.combine(linear.copy(), encoder)
    assert np.allclose(plain, 0.5 * (linear + encoder))
    for k in range(2):
        assert log_loss(y[:, k], blended[:, k]) < log_loss(y[:, k], plain[:, k]) - 0.01
    # a category whose rows hold one class only is left to the plain mean
    one_class = [Example(r.text, "c", {"hate_speech": 0, "personal_attack": r.labels["personal_attack"]}, "")
                 for r in rows]
    assert set(fit_calibration(one_class, cats, linear, encoder)) == {"personal_attack"}


def test_an_unknown_blend_is_refused_before_training(tmp_path) -> None:
    with pytest.raises(ValueError, match="blend"):
        train(TrainConfig(output=str(tmp_path), blend="median", progress=False))


def test_a_reused_encoder_cannot_also_be_distilled(tmp_path) -> None:
    with pytest.raises(ValueError, match="not both"):
        train(TrainConfig(output=str(tmp_path), progress=False, encoder_from="models/a.joblib",
                          encoder_distill_from="models/b.joblib"))
    with pytest.raises(ValueError, match="encoder_distill_weight"):
        train(TrainConfig(output=str(tmp_path), progress=False, encoder_distill_weight=1.5))
    assert not any(tmp_path.iterdir())
    from click.testing import CliRunner

    from moderator.cli.model import train_command

    shipped = str(default_model_path())
    result = CliRunner().invoke(train_command, ["-o", str(tmp_path), "--encoder-from", shipped,
                                                "--distill-from", shipped])
    assert result.exit_code == 2 and "exclude each other" in result.output
    assert not any(tmp_path.iterdir())


def test_a_teacher_must_score_the_student_categories(tmp_path) -> None:
    from moderator.training.train import teacher_probabilities

    with pytest.raises(ValueError, match="teacher encoder does not score spam"):
        teacher_probabilities(str(default_model_path()), ["hello"], ["personal_attack", "spam"])
    p = teacher_probabilities(str(default_model_path()), ["hello", "you idiot"], ["personal_attack"])
    assert p.shape == (2, 1) and p[1, 0] > p[0, 0]


def test_the_model_card_names_the_teacher() -> None:
    from dataclasses import replace

    from moderator.training.report import model_card

    shipped = load_model()
    meta = shipped.metadata
    assert "Distilled" not in model_card(shipped)
    taught = {**meta, "config": {**meta["config"], "encoder_distill_from": "0.1.0-teacher"},
              "encoder": {**meta["encoder"], "distilled": {"rows": 10, "weight": 0.5}}}
    card = model_card(replace(shipped, metadata=taught))
    assert "Distilled from the encoder of model `0.1.0-teacher` (`--distill-from`)" in card
    assert "the latter at weight 0.5" in card and "distill-transfer" not in card
    assert "pruned" not in card
    narrow = {**taught, "config": {**taught["config"], "encoder_transfer": 10000},
              "encoder": {**taught["encoder"], "config": {**taught["encoder"]["config"], "layers": 3, "ffn": 512,
                                                          "heads": 8, "prune_after": 1}}}
    card = model_card(replace(shipped, metadata=narrow))
    assert ("its bottom 3 of 6 layers, each pruned to 512 of 1536 feed-forward units and 8 of 12 attention heads "
            "after 1 epoch(s) at full width") in card
    assert "among them 10000 training rows the encoder is not otherwise fine-tuned on" in card


def test_the_model_card_describes_a_reused_encoder_from_its_own_training() -> None:
    """A reused encoder's card says where it came from, how its graph was rewritten, and what its outputs were
    fine-tuned on by the run that trained it."""
    from dataclasses import replace

    from moderator.training.report import model_card

    shipped = load_model()
    meta = shipped.metadata
    enc = {k: v for k, v in meta["encoder"].items() if k not in ("reused_from", "products_rewritten")}
    fresh = model_card(replace(shipped, metadata={**meta, "encoder": enc}))
    assert "Reused from" not in fresh and "(reused from" not in fresh
    assert "samples of the other corpora (davidson_hate_offensive, olid, trac1_aggression, tweeteval_hate)" in fresh
    reused = {**enc, "reused_from": "0.1.0-before", "products_rewritten": True}
    card = model_card(replace(shipped, metadata={**meta, "encoder": reused}))
    assert "Reused from model `0.1.0-before` (`--encoder-from`), its int8 products rewritten to return float32" in card
    assert "The encoder's outputs (reused from `0.1.0-before`) are fine-tuned on the two comment-section" in card
    old = {k: v for k, v in reused.items() if k not in ("auxiliary_outputs", "products_rewritten")}
    card = model_card(replace(shipped, metadata={**meta, "encoder": old}))
    assert "Reused from model `0.1.0-before` (`--encoder-from`) unchanged." in card
    assert "The encoder (reused from `0.1.0-before`) is fine-tuned on Impermium and Stormfront only" in card


def test_transfer_rows_are_other_training_rows_taught_only_by_the_teacher(tmp_path) -> None:
    from click.testing import CliRunner

    from moderator.cli.model import train_command
    from moderator.training.train import transfer_rows

    rows = [Example(f"comment number {i}", "olid", {"personal_attack": i % 2}, str(i % 2)) for i in range(50)]
    taken = rows[:20]
    cfg = TrainConfig(encoder_transfer=10)
    extra = transfer_rows(cfg, rows, taken)
    assert len(extra) == 10 and not {id(e) for e in extra} & {id(e) for e in taken}
    assert extra == transfer_rows(cfg, rows, taken)  # seeded
    assert len({id(e) for e in extra}) == 10
    assert len(transfer_rows(TrainConfig(encoder_transfer=100), rows, taken)) == 30  # at most what is left
    result = CliRunner().invoke(train_command, ["-o", str(tmp_path), "--distill-transfer", "100"])
    assert result.exit_code == 2 and "needs --distill-from" in result.output
    with pytest.raises(ValueError, match="needs a teacher"):
        train(TrainConfig(output=str(tmp_path), progress=False, encoder_transfer=5))
    assert not any(tmp_path.iterdir())


def test_the_version_hashes_the_code_as_imported(tmp_path, monkeypatch) -> None:
    """Editing a training file while a training runs does not change the version that training will write."""
    from moderator.training import train as train_module

    before = train_module.code_digest()
    assert before == train_module._hash_code_files()
    copy = tmp_path / "moderator"
    import shutil

    shutil.copytree(train_module.Path(train_module.__file__).resolve().parents[1], copy)
    (copy / "training" / "augment.py").write_text((copy / "training" / "augment.py").read_text() + "\n# edited\n")
    monkeypatch.setattr(train_module, "__file__", str(copy / "training" / "train.py"))
    assert train_module._hash_code_files() != before  # the files on disk changed...
    assert train_module.code_digest() == before  # ...the version does not follow them
