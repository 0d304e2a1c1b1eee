"""Fit, evaluate and write a model artifact. ``scripts/train.py`` and ``moderator train`` call :func:`train`.

Stages (each with a progress bar): load corpora -> drop exact duplicate texts across corpora -> seeded,
stratified validation split per corpus -> fit the normaliser's vocabulary -> weak obscenity labels ->
features -> one calibrated logistic regression per category, on the rows that carry its label ->
the fine-tuned encoder (:mod:`moderator.training.encoder`) for the categories of ``ENCODER_CORPORA`` ->
thresholds chosen on validation -> metrics, plots, model card.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_recall_curve, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedShuffleSplit
from tqdm.auto import tqdm

from moderator import CATEGORIES, __version__
from moderator.config import PROJECT_ROOT, data_dir
from moderator.model import MODELS_DIR
from moderator.model.classifier import CategoryModel, ModerationModel
from moderator.model.features import Normalizer
from moderator.model.lexicon import Lexicon
from moderator.model.pipeline import CATEGORY_BLOCKS, build_features
from moderator.training.datasets import SOURCES, Example, corpus_dir, file_hashes, load_corpus
from moderator.training.weak_labels import add_obscenity_labels

OBSCENITY_EVAL = PROJECT_ROOT / "data" / "obscenity_eval.jsonl"
# Files whose content defines what a training run produces; their hash is part of the model version.
_CODE_FILES = ("training/datasets.py", "model/features.py", "model/lexicon.py", "training/weak_labels.py",
               "model/classifier.py", "training/train.py", "model/encoder.py", "training/encoder.py")
# The encoder fine-tunes on the comment-section corpora of the categories the linear model reads least well
# (the tweet corpora add little there, and within the 10-minute training budget they would not fit).
ENCODER_CORPORA: dict[str, str] = {"impermium_insults": "personal_attack", "stormfront_hate": "hate_speech"}


@dataclass
class TrainConfig:
    data_dir: str | None = None
    output: str = str(MODELS_DIR)
    seed: int = 20261126
    categories: tuple[str, ...] = CATEGORIES
    corpora: tuple[str, ...] = tuple(SOURCES)
    val_fraction: float = 0.15
    # Inverse regularisation per category (chosen on validation AUC over 0.5 .. 16).
    C: dict[str, float] = field(default_factory=lambda: {"hate_speech": 0.5, "obscenity": 4.0,
                                                         "personal_attack": 0.5, "spam": 4.0})
    # Extra weight for corpora from comment sections and forums, the product's own domain (the rest are
    # tweets); applied on top of balancing every corpus to the same total weight.
    corpus_weight: dict[str, float] = field(default_factory=lambda: {"impermium_insults": 3.0,
                                                                     "stormfront_hate": 3.0})
    max_char_features: int = 200_000
    max_word_features: int = 150_000
    sample: int | None = None  # rows per corpus, for quick runs and tests
    make_default: bool = True
    progress: bool = True
    extra_examples: list[Example] = field(default_factory=list)  # e.g. moderators' decisions
    extra_weight: float = 1.0
    encoder: bool = True  # fine-tune the encoder (needs the `train` extra: torch, transformers)
    encoder_epochs: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "categories": list(self.categories), "corpora": list(self.corpora),
                "encoder": self.encoder, "encoder_epochs": self.encoder_epochs,
                "val_fraction": self.val_fraction, "C": self.C,
                "corpus_weight": self.corpus_weight, "max_char_features": self.max_char_features,
                "max_word_features": self.max_word_features, "sample": self.sample,
                "extra_examples": len(self.extra_examples), "extra_weight": self.extra_weight}


_SPACE = re.compile(r"\s+")


def text_key(text: str) -> str:
    """The key for exact-duplicate removal: lower case, whitespace collapsed."""
    return _SPACE.sub(" ", text.lower()).strip()


def dedupe(corpora: dict[str, list[Example]]) -> tuple[dict[str, list[Example]], dict[str, int]]:
    """Drop empty texts and exact duplicate texts, within and across corpora (first occurrence kept)."""
    seen: set[str] = set()
    out: dict[str, list[Example]] = {}
    dropped: dict[str, int] = {}
    for name, rows in corpora.items():
        kept = []
        for ex in rows:
            key = text_key(ex.text)
            if not key or key in seen:
                continue
            seen.add(key)
            kept.append(ex)
        out[name] = kept
        dropped[name] = len(rows) - len(kept)
    return out, dropped


def _strata(ex: Example) -> str:
    if ex.corpus == "ruddit":
        score = float(ex.raw_label)
        return "hi" if score >= 0.33 else "mid" if score > 0 else "lo"
    return ex.raw_label


def split(rows: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Seeded split stratified by the corpus's own label; grouped where a corpus has groups (Stormfront posts)."""
    if len(rows) < 10:
        return rows, []
    y = np.array([_strata(r) for r in rows])
    # merge rare strata so stratification is possible
    counts = Counter(y)
    y = np.array([s if counts[s] >= 4 else "rare" for s in y])
    grouped = rows[0].corpus == "stormfront_hate"
    if grouped:
        n_splits = max(2, round(1 / fraction))
        sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        groups = np.array([r.group for r in rows])
        train_idx, val_idx = next(sgkf.split(np.zeros(len(rows)), y, groups))
    else:
        sss = StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        train_idx, val_idx = next(sss.split(np.zeros(len(rows)), y))
    return [rows[i] for i in sorted(train_idx)], [rows[i] for i in sorted(val_idx)]


def _weights(rows: list[Example], corpus_weight: dict[str, float] | None = None) -> np.ndarray:
    """Sample weights giving every corpus the same total weight (times its ``corpus_weight``), mean 1.

    Without this, Davidson's 21k tweets would decide what ``hate_speech`` means for everyone.
    """
    sizes = Counter(r.corpus for r in rows)
    cw = corpus_weight or {}
    w = np.array([cw.get(r.corpus, 1.0) / sizes[r.corpus] for r in rows], dtype=np.float64)
    return w * (len(rows) / w.sum())


def code_digest() -> str:
    h = hashlib.sha256()
    here = Path(__file__).resolve().parents[1]
    for name in _CODE_FILES:
        h.update((here / name).read_bytes())
    return h.hexdigest()


def _bar(cfg: TrainConfig, it: Any, desc: str, total: int | None = None) -> Any:
    return tqdm(it, desc=desc, total=total, disable=not cfg.progress, leave=False)


def choose_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability threshold that maximises F1 on validation."""
    precision, recall, thr = precision_recall_curve(y, p)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1[:-1])) if len(thr) else 0
    return float(thr[best]) if len(thr) else 0.5


def metrics_for(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """Row and positive counts, ROC AUC (None when one class is missing), F1, precision and recall at ``threshold``."""
    pred = (p >= threshold).astype(int)
    out: dict[str, Any] = {"n": len(y), "positives": int(y.sum())}
    out["roc_auc"] = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None
    out["f1"] = float(f1_score(y, pred, zero_division=0))
    out["precision"] = float(precision_score(y, pred, zero_division=0))
    out["recall"] = float(recall_score(y, pred, zero_division=0))
    return out


def category_metrics(rows: Sequence[Example], category: str, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """``metrics_for`` one category over the rows that carry its label: pooled ("all") and per corpus.

    ``p`` holds the category's probability for every row of ``rows``, in the same order.
    """
    idx = [i for i, r in enumerate(rows) if category in r.labels]
    y = np.array([rows[i].labels[category] for i in idx])
    p = np.asarray(p)[idx]
    out: dict[str, Any] = {"all": metrics_for(y, p, threshold)}
    by_corpus: dict[str, list[int]] = defaultdict(list)
    for k, i in enumerate(idx):
        by_corpus[rows[i].corpus].append(k)
    for corpus, ks in sorted(by_corpus.items()):
        out[corpus] = metrics_for(y[ks], p[ks], threshold)
    return out


def load_obscenity_eval(path: Path = OBSCENITY_EVAL) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluate_obscenity_set(model: ModerationModel, path: Path = OBSCENITY_EVAL) -> dict[str, Any]:
    """Metrics on the hand-written obscenity set, plus every obfuscation missed and every trap flagged."""
    rows = load_obscenity_eval(path)
    p = np.array([s["obscenity"] for s in model.predict_proba([r["text"] for r in rows])])
    y = np.array([int(r["obscene"]) for r in rows])
    thr = model.thresholds["obscenity"]
    out = metrics_for(y, p, thr)
    out["by_kind"] = {}
    for kind in sorted({r["kind"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["kind"] == kind]
        out["by_kind"][kind] = {"n": len(idx), "flagged": int((p[idx] >= thr).sum())}
    out["missed_obfuscations"] = [rows[i]["text"] for i in range(len(rows))
                                  if rows[i]["kind"] == "obfuscated" and p[i] < thr]
    out["flagged_traps"] = [rows[i]["text"] for i in range(len(rows))
                            if rows[i]["kind"] == "scunthorpe" and p[i] >= thr]
    return out


@dataclass
class Splits:
    raw: dict[str, list[Example]]  # as loaded (sampled with ``cfg.sample``)
    corpora: dict[str, list[Example]]  # exact duplicates dropped across corpora
    dropped: dict[str, int]
    train: list[Example]
    validation: list[Example]


def make_splits(cfg: TrainConfig) -> Splits:
    """The corpora as training reads them: loaded in ``cfg.corpora`` order (optionally sampled), exact
    duplicates dropped across corpora, and the seeded validation split of each corpus. The one place that
    defines which rows are training and which are validation (training, evaluation, benchmarks)."""
    raw: dict[str, list[Example]] = {}
    for name in _bar(cfg, cfg.corpora, "load corpora"):
        rows = load_corpus(name, cfg.data_dir)
        if cfg.sample:
            rng = np.random.default_rng(cfg.seed)
            idx = rng.permutation(len(rows))[: cfg.sample]
            rows = [rows[i] for i in sorted(idx)]
        raw[name] = rows
    corpora, dropped = dedupe(raw)
    train_rows: list[Example] = []
    val_rows: list[Example] = []
    for rows in corpora.values():
        tr, va = split(rows, cfg.val_fraction, cfg.seed)
        train_rows += tr
        val_rows += va
    return Splits(raw, corpora, dropped, train_rows, val_rows)


def train(cfg: TrainConfig) -> tuple[ModerationModel, Path]:
    """Run the whole training and write the artifact; returns the model and its path."""
    t0 = time.time()
    stages = tqdm(total=9, desc="training", disable=not cfg.progress)

    # 1. load, 2. dedupe, 3. split
    splits = make_splits(cfg)
    raw, corpora, dropped = splits.raw, splits.corpora, splits.dropped
    train_rows, val_rows = splits.train, splits.validation
    lexicon = Lexicon.from_files(corpus_dir("profanity_wordlists", cfg.data_dir))
    stages.update()
    extra = [e for e in cfg.extra_examples if text_key(e.text)]
    stages.update()

    # 4. normaliser vocabulary (training texts only)
    normalizer = Normalizer(lexicon).fit(_bar(cfg, [e.text for e in train_rows + extra], "vocabulary"))
    stages.update()

    # 5. weak obscenity labels
    weak_counts = add_obscenity_labels(train_rows + val_rows, normalizer)
    stages.update()

    # 6. features
    features = build_features(normalizer, max_char=cfg.max_char_features, max_word=cfg.max_word_features)
    all_train = train_rows + extra
    norm_train = [normalizer.normalize(t) for t in _bar(cfg, [e.text for e in all_train], "normalise train")]
    norm_val = [normalizer.normalize(t) for t in _bar(cfg, [e.text for e in val_rows], "normalise val")]
    union = features.named_steps["features"]
    X_train = sp.csr_matrix(union.fit_transform(norm_train))
    X_val = sp.csr_matrix(union.transform(norm_val))
    fast_val = ModerationModel("check", features, {}, {}).transform_normalized(norm_val[:500])
    if abs(fast_val - X_val[:500]).max() > 1e-5:
        raise RuntimeError("ModerationModel.transform disagrees with the fitted FeatureUnion")
    for _name, trans in union.transformer_list:
        if hasattr(trans, "stop_words_"):
            trans.stop_words_ = None  # only needed for introspection; it would bloat the artifact
    sizes = [len(t.vocabulary_) if n != "lexicon" else 2 for n, t in union.transformer_list]
    starts = dict(zip([n for n, _ in union.transformer_list], np.cumsum([0, *sizes[:-1]]).tolist(), strict=True))
    ends = {n: starts[n] + s for n, s in zip(starts, sizes, strict=True)}
    stages.update()

    # 7. classifiers
    classifiers: dict[str, CategoryModel] = {}
    weights_all = np.ones(len(all_train))
    weights_all[len(train_rows):] = cfg.extra_weight
    for cat in _bar(cfg, cfg.categories, "classifiers"):
        idx = [i for i, e in enumerate(all_train) if cat in e.labels]
        y = np.array([all_train[i].labels[cat] for i in idx])
        blocks = CATEGORY_BLOCKS[cat]
        a, b = min(starts[k] for k in blocks), max(ends[k] for k in blocks)
        X = X_train[idx][:, a:b]
        w = _weights([all_train[i] for i in idx], cfg.corpus_weight) * weights_all[idx]
        base = LogisticRegression(C=cfg.C.get(cat, 4.0), solver="liblinear", max_iter=1000, class_weight="balanced")
        cal = CalibratedClassifierCV(base, method="sigmoid", cv=3, ensemble=False)
        cal.fit(X, y, sample_weight=w)
        classifiers[cat] = CategoryModel.from_calibrated((a, b), cal)
        reference = cal.predict_proba(X_val[:, a:b])[:, 1]
        reduced = classifiers[cat].predict_proba(X_val)
        if not np.allclose(reference, reduced, atol=1e-4):  # float32 weights: tiny differences only
            raise RuntimeError(f"{cat}: reduced classifier disagrees with scikit-learn by "
                               f"{np.abs(reference - reduced).max():.2g}")
    stages.update()

    # 8. encoder
    encoder = None
    enc_cats = tuple(c for c in dict.fromkeys(ENCODER_CORPORA.values()) if c in cfg.categories)
    if cfg.encoder and enc_cats:
        from moderator.training.encoder import EncoderConfig, train_encoder

        enc_rows = [e for e in train_rows if ENCODER_CORPORA.get(e.corpus) in enc_cats
                    and ENCODER_CORPORA[e.corpus] in e.labels]
        encoder = train_encoder(
            [e.text for e in enc_rows], [{ENCODER_CORPORA[e.corpus]: e.labels[ENCODER_CORPORA[e.corpus]]}
                                         for e in enc_rows],
            enc_cats, vocabulary_texts=[e.text for e in train_rows],
            cfg=EncoderConfig(epochs=cfg.encoder_epochs, seed=cfg.seed),
            progress=(lambda it, desc, total: _bar(cfg, it, desc, total)))
    stages.update()

    # 9. thresholds and metrics: of the model's scores, and of the linear model alone
    shell = ModerationModel("check", features, classifiers, {}, encoder=encoder)
    linear_val = np.column_stack([classifiers[c].predict_proba(X_val) for c in shell.categories])
    combined = linear_val.copy()
    rows = np.flatnonzero(encoder_rows(val_rows, shell.encoder_categories))
    if len(rows):
        combined[rows] = shell.combine(linear_val[rows], shell.encoder_matrix(
            list(_bar(cfg, [val_rows[i].text for i in rows], "encoder on validation"))))
    thresholds: dict[str, float] = {}
    linear_thresholds: dict[str, float] = {}
    metrics: dict[str, Any] = {"validation": {}}
    for cat in cfg.categories:
        idx = [i for i, e in enumerate(val_rows) if cat in e.labels]
        y = np.array([val_rows[i].labels[cat] for i in idx])
        k = shell.categories.index(cat)
        for table, p, key in ((thresholds, combined[:, k], "validation"),
                              (linear_thresholds, linear_val[:, k], "validation_linear")):
            if key == "validation_linear" and cat not in shell.encoder_categories:
                table[cat] = thresholds[cat]
                continue
            table[cat] = round(choose_threshold(y, p[idx]), 4) if len(set(y)) == 2 else 0.5
            metrics.setdefault(key, {})[cat] = category_metrics(val_rows, cat, p, table[cat])
    probs = {cat: combined[:, shell.categories.index(cat)] for cat in cfg.categories}
    ruddit = [i for i, e in enumerate(val_rows) if e.corpus == "ruddit"]
    if ruddit:
        score = np.array([float(val_rows[i].raw_label) for i in ruddit])
        worst = np.max(np.vstack([probs[c][ruddit] for c in cfg.categories if c != "spam"]), axis=0)
        keep = (score >= 0.33) | (score <= 0)
        if keep.any() and 0 < (score[keep] >= 0.33).sum() < keep.sum():
            metrics["ruddit_offensive_vs_clean_auc"] = float(roc_auc_score(score[keep] >= 0.33, worst[keep]))
    stages.update()

    data_hashes = file_hashes(cfg.corpora, cfg.data_dir)
    digest = hashlib.sha256(json.dumps({"code": code_digest(), "config": cfg.to_dict(), "data": data_hashes,
                                        "extra": [e.text for e in extra][:1000]}, sort_keys=True).encode())
    version = f"{__version__}-{digest.hexdigest()[:10]}"  # deterministic: same code, options and data
    model = ModerationModel(version, features, classifiers, thresholds, encoder=encoder,
                            linear_thresholds=linear_thresholds if encoder is not None else None)
    if "obscenity" in cfg.categories and OBSCENITY_EVAL.is_file():
        metrics["obscenity_handwritten"] = evaluate_obscenity_set(model)

    import joblib
    import matplotlib
    import onnxruntime
    import scipy
    import sklearn
    import tokenizers

    model.metadata = {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "moderator_version": __version__,
        "library_versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__,
                             "scipy": scipy.__version__, "joblib": joblib.__version__,
                             "matplotlib": matplotlib.__version__, "onnxruntime": onnxruntime.__version__,
                             "tokenizers": tokenizers.__version__, "python": platform.python_version()},
        "categories": list(cfg.categories),
        "thresholds": thresholds,
        "linear_thresholds": model.linear_thresholds,
        "encoder": None if encoder is None else {**encoder.info, "categories": list(model.encoder_categories),
                                                 "onnx_bytes": len(encoder.onnx_model)},
        "config": cfg.to_dict(),
        "command": "python scripts/train.py" + ("" if cfg.seed == TrainConfig.seed else f" --seed {cfg.seed}")
                   + ("" if cfg.encoder else " --no-encoder"),
        "data_dir": str(data_dir(cfg.data_dir)),
        "input_sha256": data_hashes,
        "rows": {name: {"loaded": len(raw[name]), "after_dedup": len(corpora[name]),
                        "duplicates_dropped": dropped[name],
                        "train": sum(e.corpus == name for e in train_rows),
                        "validation": sum(e.corpus == name for e in val_rows)} for name in raw},
        "training_rows_per_category": {c: sum(c in e.labels for e in all_train) for c in cfg.categories},
        "weak_obscenity_labels": weak_counts,
        "feedback_rows": len(extra),
        "features": {n: s for n, s in zip(starts, sizes, strict=True)},
        "metrics": metrics,
        "training_seconds": round(time.time() - t0, 1),
        "code_sha256": code_digest(),
    }
    path = model.save(cfg.output, make_default=cfg.make_default)
    stages.update()
    stages.close()
    model.metadata["artifact_bytes"] = path.stat().st_size
    path.with_suffix(".json").write_text(json.dumps(model.metadata, indent=2, sort_keys=True) + "\n")
    return model, path


def encoder_rows(rows: Sequence[Example], categories: Sequence[str]) -> list[bool]:
    """Which rows evaluation runs the encoder on: those labelled for one of its ``categories``, and Ruddit's
    (whose ranking check reads every category)."""
    return [e.corpus == "ruddit" or any(c in e.labels for c in categories) for e in rows]


def validation_rows(cfg: TrainConfig) -> list[Example]:
    """The validation split exactly as :func:`train` makes it (for benchmarks and comparisons)."""
    return make_splits(replace(cfg, progress=False)).validation


def label_validation(rows: Sequence[Example], model: ModerationModel) -> None:
    """Give validation rows their weak obscenity labels with ``model``'s normaliser (as training did)."""
    add_obscenity_labels(list(rows), model.normalizer)
