"""Fit, evaluate and write a model artifact. ``scripts/train.py`` and ``moderator train`` call :func:`train`.

:func:`train` runs the stages in order, each a function here (with a progress bar): :func:`load_data` (load
corpora, drop exact duplicate texts across corpora, seeded stratified validation split per corpus) ->
:func:`fit_normalizer` (the normaliser's vocabulary, then weak obscenity labels) -> :func:`fit_features` ->
:func:`fit_classifiers` (one calibrated logistic regression per category, on the rows that carry its label)
-> :func:`fit_encoder` (the fine-tuned encoder, :mod:`moderator.training.encoder`, for the categories of
``ENCODER_CORPORA``) -> :func:`choose_thresholds` (thresholds and metrics on validation) ->
:func:`write_artifact` (version, metadata, the artifact). The CLI then writes the report and model card.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import logit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, StratifiedShuffleSplit
from sklearn.pipeline import Pipeline
from tqdm.auto import tqdm

from moderator import CATEGORIES, __version__
from moderator.config import data_dir
from moderator.model import MODELS_DIR
from moderator.model.classifier import CategoryModel, ModerationModel
from moderator.model.encoder import EncoderScorer
from moderator.model.features import Normalizer
from moderator.model.lexicon import Lexicon
from moderator.model.pipeline import CATEGORY_BLOCKS, block_width, build_features
from moderator.training.augment import (
    AUGMENT_CORPUS,
    IDENTITY_TERMS,
    LINEAR_ONLY_KINDS,
    augmentation_examples,
    identity_pattern,
)
from moderator.training.datasets import ATTACK, HATE, SOURCES, SPAM, Example, corpus_dir, file_hashes, load_corpus
from moderator.training.metrics import (
    OBSCENITY_EVAL,
    category_metrics,
    encoder_rows,
    evaluate_obscenity_set,
)
from moderator.training.operating_points import COMMENT_SECTION_CORPORA, category_targets, flag_report
from moderator.training.weak_labels import add_obscenity_labels

# Files whose content defines what a training run produces; their hash is part of the model version.
_CODE_FILES = ("training/datasets.py", "model/features.py", "model/lexicon.py", "training/weak_labels.py",
               "model/pipeline.py", "model/classifier.py", "model/artifact.py", "training/train.py",
               "training/metrics.py", "model/encoder.py", "training/encoder.py", "model/cues.py",
               "training/augment.py")
# The encoder's served outputs fine-tune on every training row of the comment-section corpora of the categories
# the linear model reads least well, and on the team's rows; a seeded sample of the other corpora
# (TrainConfig.encoder_sample, at TrainConfig.encoder_sample_weight) trains auxiliary outputs
# (encoder_training_rows): the encoder sees more than two sites' idea of an attack while the comment sections
# stay in charge of what it serves.
ENCODER_CORPORA: dict[str, str] = {"impermium_insults": "personal_attack", "stormfront_hate": "hate_speech"}
_URL = re.compile(r"https?://|www\.|\.com\b", re.IGNORECASE)


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
                                                                     "stormfront_hate": 3.0, "augment": 1.0})
    max_char_features: int = 200_000
    max_word_features: int = 150_000
    sample: int | None = None  # rows per corpus, for quick runs and tests
    make_default: bool = True
    progress: bool = True
    extra_examples: list[Example] = field(default_factory=list)  # e.g. moderators' decisions
    extra_weight: float = 1.0
    encoder: bool = True  # fine-tune the encoder (needs the `train` extra: torch, transformers)
    encoder_epochs: int = 1
    encoder_layers: int = 6  # transformer layers of the encoder kept (EncoderConfig.layers)
    encoder_ffn: int = 1536  # feed-forward units kept per layer (EncoderConfig.ffn)
    encoder_heads: int = 12  # attention heads kept per layer (EncoderConfig.heads)
    encoder_prune_after: int = 0  # epochs at full width before the pruning (EncoderConfig.prune_after)
    encoder_head_lr: float | None = 1e-3  # the encoder's output layer's own learning rate (EncoderConfig.head_lr)
    # Rows per corpus the encoder also trains on, beyond ENCODER_CORPORA, as auxiliary outputs of their own
    # (encoder_training_rows; pooled into the product's outputs, tweet rows for hate_speech cost Stormfront
    # ~0.01 AUC, docs/benchmarks-history.md).
    encoder_sample: dict[str, int] = field(default_factory=lambda: {
        "trac1_aggression": 1500, "olid": 1000, "davidson_hate_offensive": 600, "tweeteval_hate": 600})
    encoder_sample_weight: float = 0.5
    encoder_augment: int = 10_000  # at most this many of the team's rows go to the encoder (a seeded sample)
    person_threat_twins: int = 0  # friendly twins of the person threats, under this many openings (augment)
    # The encoder's own seed (initialisation, batch order, calibration sample), default ``seed``: another value
    # fine-tunes the same rows in another order, which measures how far one training's numbers can move alone.
    encoder_seed: int | None = None
    # Reuse the encoder of this model artifact instead of fine-tuning one (the linear model, thresholds and
    # report are still computed here): for iterating on the linear part, or on a machine too busy to fine-tune.
    encoder_from: str | None = None
    # Int8 products that return float32 (EncoderConfig.float_products); with ``encoder_from``, the reused
    # encoder's graph is rewritten so (training.encoder.float_products) when it still rounds them to uint8.
    encoder_float_products: bool = True
    # Distil the encoder of this model artifact (the teacher) into the one fine-tuned here: its probabilities on
    # the encoder's training rows are soft targets at ``encoder_distill_weight`` (train_encoder's distill_weight),
    # so that a smaller encoder (``encoder_layers``) can learn what a larger one reads.
    encoder_distill_from: str | None = None
    encoder_distill_weight: float = 0.5
    # With a teacher: this many more training rows (a seeded sample of the corpora's rows the encoder does not
    # train on) join the encoder's rows without a label, taught by the teacher's probabilities alone: a larger
    # transfer set for a small student (transfer_rows).
    encoder_transfer: int = 0
    # How the full model averages the linear and encoder probabilities: "calibrated" (each part Platt-scaled on
    # the validation rows first, fit_calibration) or "mean" (the plain mean of models trained before).
    blend: str = "calibrated"
    # The team's own rows (moderator.training.augment), trained on as the corpus "augment".
    augment: bool = True
    # Rows of every corpus but YouTube's (and without a link) are spam negatives: without them the spam
    # classifier only ever saw YouTube comments and flagged ordinary comments elsewhere.
    spam_negatives: bool = True
    # Categories whose rows are re-weighted so that, within each corpus, naming a group does not predict the
    # label (identity_weights), and categories whose classifier ignores the features of identity words.
    identity_reweight: tuple[str, ...] = ("hate_speech", "personal_attack")
    # Of those, categories re-weighted across the corpora pooled as well (identity_weights' ``pooled``): a group
    # named mostly in a corpus with many positives (women and immigrants in TweetEval, 42% hate) otherwise
    # predicts the label for a model that cannot see which corpus a comment came from, though within each
    # corpus it does not.
    identity_reweight_pooled: tuple[str, ...] = ()
    # Categories whose linear classifier is fitted with each row's corpus as features of its own, then scores
    # with the corpora averaged in (corpus_adjusted): a back-door adjustment for the corpus, which sets both a
    # row's base rate and its vocabulary (Landeiro and Culotta 2016), so that a word common in a corpus with
    # many positives does not carry that corpus's base rate into its weight. For hate_speech it gains on
    # every corpus left out of training and on hate without slurs; for personal_attack it costs TRAC-1 and
    # friendly comments to the reader (docs/benchmarks.md).
    corpus_adjust: tuple[str, ...] = ("hate_speech",)
    identity_neutral: tuple[str, ...] = ("personal_attack",)
    # The thresholds' operating point on the comment-section corpora's validation rows: the highest recall
    # that flags at most this share of the clean comments (and other negatives) of each category, so that at
    # most ~9% of clean comments get any flag. hate_speech, whose recall is the furthest below its target,
    # gets the most of the 5%-per-category budget that leaves a margin for comments unlike the validation
    # rows. The precision this gives at ``prevalence`` violations is reported against ``min_precision``.
    max_flag_rate: dict[str, float] = field(default_factory=lambda: {
        "hate_speech": 0.04, "personal_attack": 0.03, "spam": 0.01, "obscenity": 0.01})
    prevalence: float = 0.1
    min_precision: float = 0.7

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "categories": list(self.categories), "corpora": list(self.corpora),
                "encoder": self.encoder, "encoder_epochs": self.encoder_epochs,
                "encoder_layers": self.encoder_layers, "encoder_ffn": self.encoder_ffn,
                "encoder_heads": self.encoder_heads, "encoder_transfer": self.encoder_transfer,
                "encoder_prune_after": self.encoder_prune_after, "encoder_head_lr": self.encoder_head_lr,
                "val_fraction": self.val_fraction, "C": self.C,
                "corpus_weight": self.corpus_weight, "max_char_features": self.max_char_features,
                "max_word_features": self.max_word_features, "sample": self.sample,
                "extra_examples": len(self.extra_examples), "extra_weight": self.extra_weight,
                "encoder_sample": self.encoder_sample, "encoder_sample_weight": self.encoder_sample_weight,
                "encoder_augment": self.encoder_augment,
                **({"person_threat_twins": self.person_threat_twins} if self.person_threat_twins else {}),
                **({"encoder_seed": self.encoder_seed} if self.encoder_seed is not None else {}),
                "encoder_from": _encoder_source(self.encoder_from),
                **({"encoder_from_sha256": _file_sha256(self.encoder_from)} if self.encoder_from else {}),
                **({} if self.encoder_float_products else {"encoder_float_products": False}),
                "blend": self.blend,
                **({"encoder_distill_from": _encoder_source(self.encoder_distill_from),
                    "encoder_distill_weight": self.encoder_distill_weight} if self.encoder_distill_from else {}),
                "augment": self.augment, "spam_negatives": self.spam_negatives,
                "identity_reweight": list(self.identity_reweight), "identity_neutral": list(self.identity_neutral),
                **({"identity_reweight_pooled": list(self.identity_reweight_pooled)}
                   if self.identity_reweight_pooled else {}),
                **({"corpus_adjust": list(self.corpus_adjust)} if self.corpus_adjust else {}),
                "operating_point": {"max_flag_rate": self.max_flag_rate, "prevalence": self.prevalence,
                                    "min_precision": self.min_precision}}


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


def _hash_code_files() -> str:
    h = hashlib.sha256()
    here = Path(__file__).resolve().parents[1]
    for name in _CODE_FILES:
        h.update((here / name).read_bytes())
    return h.hexdigest()


# Read when this module is imported, not when a training ends: a checkout edited while a training runs must not
# give the model the version of code it was not trained with.
_CODE_DIGEST = _hash_code_files()


def code_digest() -> str:
    """sha256 of the training code files (``_CODE_FILES``) as they were when training was imported."""
    return _CODE_DIGEST


def _bar(cfg: TrainConfig, it: Any, desc: str, total: int | None = None) -> Any:
    return tqdm(it, desc=desc, total=total, disable=not cfg.progress, leave=False)


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



@dataclass
class TrainingData:
    """What a run trains and validates on."""

    splits: Splits
    extra: list[Example]  # the non-empty ``cfg.extra_examples``, trained on after the corpora's rows
    lexicon: Lexicon
    augment: list[Example] = field(default_factory=list)  # the team's own rows (training only)

    @property
    def train_rows(self) -> list[Example]:
        """Every training row: the corpora's training split, the team's rows, then the extra rows."""
        return self.splits.train + self.augment + self.extra


def load_data(cfg: TrainConfig) -> TrainingData:
    """The corpora split as :func:`make_splits` makes them, the obscenity lexicon and the extra rows."""
    splits = make_splits(cfg)
    lexicon = Lexicon.from_files(corpus_dir("profanity_wordlists", cfg.data_dir))
    extra = [e for e in cfg.extra_examples if text_key(e.text)]
    augment = augmentation_examples(cfg.seed, cfg.person_threat_twins) if cfg.augment else []
    if augment and cfg.sample:  # a quick run samples the team's rows like every corpus
        keep = np.random.default_rng(cfg.seed).permutation(len(augment))[: cfg.sample]
        augment = [augment[i] for i in sorted(keep.tolist())]
    if cfg.spam_negatives and SPAM in cfg.categories:
        add_spam_negatives([*splits.train, *splits.validation, *augment])
    return TrainingData(splits, extra, lexicon, augment)


def add_spam_negatives(rows: Sequence[Example]) -> int:
    """Label every row of a corpus other than YouTube's as not spam (in place), except rows with a link (a
    corpus that is not about spam may still hold some) and rows its corpus left without a label (TRAC-1's
    covert aggression, Stormfront's "relation": a spam label would make them count as clean comments);
    returns how many were labelled."""
    n = 0
    for e in rows:
        labelled = e.corpus == "ruddit" or any(c in e.labels for c in (HATE, ATTACK))
        if e.corpus != "youtube_spam" and labelled and SPAM not in e.labels and not _URL.search(e.text):
            e.labels[SPAM] = 0
            n += 1
    return n


def identity_weights(rows: Sequence[Example], y: np.ndarray, w: np.ndarray, min_rows: int = 5,
                     clip: tuple[float, float] = (0.2, 5.0), pooled: bool = False) -> np.ndarray:
    """Factors for ``w`` that make every identity word (:data:`IDENTITY_TERMS`) uninformative about the label
    within each corpus, after Dixon et al. 2018 (re-weighting rather than adding data; Kamiran and Calders'
    reweighing): the rows of a corpus that name a group get ``base / rate`` if positive and
    ``(1 - base) / (1 - rate)`` if negative, where ``base`` is the corpus's weighted positive rate and
    ``rate`` that of its rows naming the group. A row naming several groups gets the geometric mean of their
    factors. The team's own rows (already balanced by construction) keep their weight.

    With ``pooled``, the same is done once more over every corpus's rows together, on the weights the first
    pass gives: balanced within each corpus, a group can still predict the label across them when most of
    its rows come from a corpus with a high positive rate, and the model does not know a comment's corpus."""
    pattern = identity_pattern()
    terms = [{m.group(0).lower() for m in pattern.finditer(e.text)} for e in rows]
    corpus = np.array([e.corpus for e in rows])
    first = _balance_terms(terms, corpus, y, w, min_rows, clip, pooled=False)
    if not pooled:
        return first
    return first * _balance_terms(terms, corpus, y, w * first, min_rows, clip, pooled=True)


def _balance_terms(terms: Sequence[set[str]], corpus: np.ndarray, y: np.ndarray, w: np.ndarray, min_rows: int,
                   clip: tuple[float, float], pooled: bool) -> np.ndarray:
    """:func:`identity_weights`' factors for one pass: per corpus, or over the corpora pooled."""
    logs = np.zeros(len(terms))
    counts = np.zeros(len(terms))
    groups = ([np.flatnonzero(corpus != AUGMENT_CORPUS)] if pooled
              else [np.flatnonzero(corpus == name) for name in np.unique(corpus) if name != AUGMENT_CORPUS])
    for in_corpus in groups:
        if not len(in_corpus):
            continue
        wc, yc = w[in_corpus], y[in_corpus]
        base = float((wc * yc).sum() / wc.sum())
        if not 0 < base < 1:
            continue
        by_term: dict[str, list[int]] = {}
        for i in in_corpus.tolist():
            for t in terms[i]:
                by_term.setdefault(t, []).append(i)
        for rows_t in by_term.values():
            if len(rows_t) < min_rows:
                continue
            r = np.array(rows_t)
            rate = float(np.clip((w[r] * y[r]).sum() / w[r].sum(), 0.02, 0.98))
            f = np.where(y[r] == 1, base / rate, (1 - base) / (1 - rate))
            logs[r] += np.log(np.clip(f, *clip))
            counts[r] += 1
    return np.exp(np.divide(logs, counts, out=np.zeros_like(logs), where=counts > 0))


def identity_columns(X: FeatureMatrices) -> np.ndarray:
    """Feature columns that identify a group by name: word uni/bigrams holding an identity word, and the
    character n-grams of four or more characters inside one (padded as ``char_wb`` pads words)."""
    union = dict(X.features.named_steps["features"].transformer_list)
    starts = dict(zip(X.sizes, np.cumsum([0, *list(X.sizes.values())[:-1]]).tolist(), strict=True))
    terms = set(IDENTITY_TERMS)
    cols = [starts["word"] + j for g, j in union["word"].vocabulary_.items() if any(t in terms for t in g.split())]
    grams = {f" {t} "[i:i + n] for t in terms for n in range(4, 6) for i in range(len(t) + 3 - n)}
    cols += [starts["char"] + j for g, j in union["char"].vocabulary_.items() if g in grams]
    return np.array(sorted(cols), dtype=np.int64)


def fit_normalizer(cfg: TrainConfig, data: TrainingData) -> tuple[Normalizer, dict[str, int]]:
    """The normaliser, its vocabulary fitted on the training texts only; then the weak obscenity labels of
    the corpora's rows (set in place), counted by outcome."""
    normalizer = Normalizer(data.lexicon).fit(_bar(cfg, [e.text for e in data.train_rows], "vocabulary"))
    weak_counts = add_obscenity_labels(data.splits.train + data.splits.validation, normalizer)
    return normalizer, weak_counts


@dataclass
class FeatureMatrices:
    """The fitted feature pipeline and the feature matrices of the training and validation rows."""

    features: Pipeline
    train: sp.csr_matrix  # rows of ``TrainingData.train_rows``
    validation: sp.csr_matrix
    sizes: dict[str, int]  # feature columns of each block, in column order

    def columns(self, blocks: Sequence[str]) -> tuple[int, int]:
        """[start, end) of the feature columns of ``blocks`` (adjacent blocks)."""
        starts = dict(zip(self.sizes, np.cumsum([0, *list(self.sizes.values())[:-1]]).tolist(), strict=True))
        return min(starts[k] for k in blocks), max(starts[k] + self.sizes[k] for k in blocks)


def fit_features(cfg: TrainConfig, normalizer: Normalizer, data: TrainingData) -> FeatureMatrices:
    """Fit the feature pipeline on the training rows and transform both splits. Checks that
    :meth:`ModerationModel.transform_normalized`, which scoring uses, reproduces the fitted union."""
    features = build_features(normalizer, max_char=cfg.max_char_features, max_word=cfg.max_word_features)
    norm_train = [normalizer.normalize(t) for t in _bar(cfg, [e.text for e in data.train_rows], "normalise train")]
    norm_val = [normalizer.normalize(t) for t in _bar(cfg, [e.text for e in data.splits.validation],
                                                        "normalise val")]
    union = features.named_steps["features"]
    X_train = sp.csr_matrix(union.fit_transform(norm_train))
    X_val = sp.csr_matrix(union.transform(norm_val))
    fast_val = ModerationModel("check", features, {}, {}).transform_normalized(norm_val[:500])
    if abs(fast_val - X_val[:500]).max() > 1e-5:
        raise RuntimeError("ModerationModel.transform disagrees with the fitted FeatureUnion")
    for _name, trans in union.transformer_list:
        if hasattr(trans, "stop_words_"):
            trans.stop_words_ = None  # only needed for introspection; it would bloat the artifact
    sizes = {n: block_width(n, t) for n, t in union.transformer_list}
    return FeatureMatrices(features, X_train, X_val, sizes)


def fit_classifiers(cfg: TrainConfig, data: TrainingData, X: FeatureMatrices) -> dict[str, CategoryModel]:
    """One calibrated logistic regression per category, on the training rows that carry its label and the
    feature blocks of :data:`CATEGORY_BLOCKS`, reduced to a :class:`CategoryModel` (checked against
    scikit-learn's own probabilities on validation)."""
    all_train = data.train_rows
    classifiers: dict[str, CategoryModel] = {}
    weights_all = np.ones(len(all_train))
    weights_all[len(all_train) - len(data.extra):] = cfg.extra_weight
    for cat in _bar(cfg, cfg.categories, "classifiers"):
        idx = [i for i, e in enumerate(all_train) if cat in e.labels]
        y = np.array([all_train[i].labels[cat] for i in idx])
        a, b = X.columns(CATEGORY_BLOCKS[cat])
        Xc = X.train[idx][:, a:b]
        Xv = X.validation[:, a:b]
        rows = [all_train[i] for i in idx]
        w = _weights(rows, cfg.corpus_weight) * weights_all[idx]
        if cat in cfg.identity_reweight:
            w = w * identity_weights(rows, y, w, pooled=cat in cfg.identity_reweight_pooled)
        if cat in cfg.identity_neutral:  # all-zero columns get zero weight: the classifier cannot use them
            keep = np.ones(b - a, dtype=np.float32)
            cols = identity_columns(X)
            keep[cols[(cols >= a) & (cols < b)] - a] = 0.0
            Xc, Xv = Xc @ sp.diags(keep), Xv @ sp.diags(keep)
        base = LogisticRegression(C=cfg.C.get(cat, 4.0), solver="liblinear", max_iter=1000, class_weight="balanced")
        cal = CalibratedClassifierCV(base, method="sigmoid", cv=3, ensemble=False)
        if cat in cfg.corpus_adjust:
            # Shuffled folds: the default ones are contiguous, so each holds out most of a corpus whose
            # column the other two folds never saw, and the calibration learns those columns' absence.
            cal.set_params(cv=StratifiedKFold(3, shuffle=True, random_state=cfg.seed))
            onehot, prior = corpus_columns(rows, w)
            cal.fit(sp.hstack([Xc, onehot], format="csr"), y, sample_weight=w)
            classifiers[cat] = corpus_adjusted(CategoryModel.from_calibrated((a, b), cal), prior)
            reference = cal.predict_proba(sp.hstack([Xv, sp.csr_matrix(np.tile(prior, (Xv.shape[0], 1)))],
                                                    format="csr"))[:, 1]
        else:
            cal.fit(Xc, y, sample_weight=w)
            classifiers[cat] = CategoryModel.from_calibrated((a, b), cal)
            reference = cal.predict_proba(Xv)[:, 1]
        if cat in cfg.identity_neutral:
            classifiers[cat].coef_ *= keep
        reduced = classifiers[cat].predict_proba(X.validation)
        if not np.allclose(reference, reduced, atol=1e-4):  # float32 weights: tiny differences only
            raise RuntimeError(f"{cat}: reduced classifier disagrees with scikit-learn by "
                               f"{np.abs(reference - reduced).max():.2g}")
    return classifiers


def corpus_columns(rows: Sequence[Example], w: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """One indicator column per corpus of ``rows`` (sorted by name), and each corpus's share of the weight
    ``w``: the average a comment of unknown corpus is scored with (:func:`corpus_adjusted`)."""
    names = sorted({e.corpus for e in rows})
    col = np.array([names.index(e.corpus) for e in rows])
    onehot = sp.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), col)), shape=(len(rows), len(names)))
    prior = np.bincount(col, weights=w, minlength=len(names)) / w.sum()
    return onehot, prior


def corpus_adjusted(model: CategoryModel, prior: np.ndarray) -> CategoryModel:
    """``model`` fitted with :func:`corpus_columns` appended to its features, scoring with the corpora averaged
    in: their weights leave ``coef_`` and their prior-weighted mean joins the intercept (the back-door
    adjustment, on the logit scale)."""
    k = len(prior)
    return CategoryModel(model.columns, model.coef_[:-k].copy(), model.intercept_ + float(prior @ model.coef_[-k:]),
                         model.calib_a, model.calib_b)


def encoder_training_rows(cfg: TrainConfig, train_rows: Sequence[Example], enc_cats: Sequence[str],
                          ) -> tuple[list[Example], list[dict[str, int]], list[float]]:
    """What the encoder trains on: every ``ENCODER_CORPORA`` row (for its corpus's category), the team's own rows
    but ``LINEAR_ONLY_KINDS`` (for the encoder's categories they are labelled for; a seeded sample when there are
    more than ``cfg.encoder_augment``), and a seeded sample of ``cfg.encoder_sample`` rows of the other corpora
    (at ``cfg.encoder_sample_weight``). The other corpora's
    labels are *auxiliary* (``"<corpus>/<category>"``): they train outputs of their own, which the served graph
    drops, because their idea of a category is not the product's (TRAC-1's overt aggression, OLID's offensive
    tweets) and pooled into the category's output they cost the comment corpora accuracy.
    Returns (rows, their labels, their weights)."""
    rows: list[Example] = []
    labels: list[dict[str, int]] = []
    weights: list[float] = []
    by_corpus: dict[str, list[Example]] = {}
    team: list[tuple[Example, dict[str, int]]] = []
    for e in train_rows:
        if e.corpus in ENCODER_CORPORA:
            cat = ENCODER_CORPORA[e.corpus]
            if cat in enc_cats and cat in e.labels:
                rows.append(e)
                labels.append({cat: e.labels[cat]})
                weights.append(1.0)
        elif e.corpus == AUGMENT_CORPUS and e.raw_label not in LINEAR_ONLY_KINDS:
            lab = {c: e.labels[c] for c in enc_cats if c in e.labels}
            if lab:
                team.append((e, lab))
        elif e.corpus in cfg.encoder_sample and any(c in e.labels for c in enc_cats):
            by_corpus.setdefault(e.corpus, []).append(e)
    rng = np.random.default_rng(cfg.seed)
    for i in sorted(rng.permutation(len(team))[: cfg.encoder_augment].tolist()):
        rows.append(team[i][0])
        labels.append(team[i][1])
        weights.append(1.0)
    for name, pool in sorted(by_corpus.items()):
        for i in sorted(rng.permutation(len(pool))[: cfg.encoder_sample[name]].tolist()):
            rows.append(pool[i])
            labels.append({f"{name}/{c}": pool[i].labels[c] for c in enc_cats if c in pool[i].labels})
            weights.append(cfg.encoder_sample_weight)
    return rows, labels, weights


def transfer_rows(cfg: TrainConfig, train_rows: Sequence[Example], taken: Sequence[Example]) -> list[Example]:
    """A seeded sample of ``cfg.encoder_transfer`` training rows that are not in ``taken`` (the encoder's own
    rows), from every corpus: texts for a teacher to label, so that a student learns its reading on more
    comments than the labelled rows it was fine-tuned on. Only training rows: never validation or test."""
    used = {id(e) for e in taken}
    pool = [e for e in train_rows if id(e) not in used]
    rng = np.random.default_rng(cfg.seed + 1)
    return [pool[i] for i in sorted(rng.permutation(len(pool))[: cfg.encoder_transfer].tolist())]


def _encoder_source(path: str | None) -> str | None:
    """The reused artifact, named by its version (its file name) so that the model version does not depend
    on where the file lies."""
    return None if path is None else Path(path).stem


def _file_sha256(path: str) -> str:
    """The artifact's content hash: an encoder rewritten in place keeps its version, not its bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def fit_encoder(cfg: TrainConfig, train_rows: Sequence[Example],
                teacher: EncoderScorer | None = None) -> EncoderScorer | None:
    """The encoder fine-tuned on :func:`encoder_training_rows` (or taken from ``cfg.encoder_from``), or None
    (``cfg.encoder`` off, or none of its categories trained). ``teacher`` (else the encoder of
    ``cfg.encoder_distill_from``, if set) is distilled into it (:func:`teacher_probabilities`)."""
    enc_cats = tuple(c for c in dict.fromkeys(ENCODER_CORPORA.values()) if c in cfg.categories)
    if not (cfg.encoder and enc_cats):
        return None
    if cfg.encoder_from:
        from moderator.model.artifact import load_model as load_artifact

        reused = load_artifact(cfg.encoder_from).encoder
        if reused is None:
            raise ValueError(f"{cfg.encoder_from} has no encoder to reuse")
        info = {**reused.info, "reused_from": _encoder_source(cfg.encoder_from)}
        if cfg.encoder_float_products and reused.batch_invariant:
            from moderator.training.encoder import FLOAT_PRODUCTS, float_products

            graph = float_products(reused.onnx_model)
            if graph != reused.onnx_model:
                info.update({"quantization": f"{info.get('quantization', '')}; {FLOAT_PRODUCTS}",
                             "products_rewritten": True})
                reused = replace(reused, onnx_model=graph)
        reused.info = info
        return reused
    from moderator.training.encoder import EncoderConfig, train_encoder

    enc_rows, enc_labels, enc_weights = encoder_training_rows(cfg, train_rows, enc_cats)
    if teacher is None and cfg.encoder_distill_from:
        teacher = _teacher(cfg.encoder_distill_from)
    if cfg.encoder_transfer:
        if teacher is None:
            raise ValueError("encoder_transfer needs a teacher (encoder_distill_from): its rows have no label")
        extra = transfer_rows(cfg, train_rows, enc_rows)
        enc_rows, enc_labels = [*enc_rows, *extra], [*enc_labels, *({} for _ in extra)]
        enc_weights = [*enc_weights, *(1.0 for _ in extra)]
    texts = [e.text for e in enc_rows]
    soft = None if teacher is None else teacher_probabilities(teacher, texts, enc_cats)
    return train_encoder(
        texts, enc_labels, enc_cats, weights=enc_weights,
        vocabulary_texts=[e.text for e in train_rows],
        cfg=EncoderConfig(epochs=cfg.encoder_epochs, layers=cfg.encoder_layers, ffn=cfg.encoder_ffn,
                          heads=cfg.encoder_heads, prune_after=cfg.encoder_prune_after,
                          head_lr=cfg.encoder_head_lr, float_products=cfg.encoder_float_products,
                          seed=cfg.seed if cfg.encoder_seed is None else cfg.encoder_seed),
        progress=(lambda it, desc, total: _bar(cfg, it, desc, total)), soft_targets=soft,
        distill_weight=cfg.encoder_distill_weight)


def _teacher(path: str) -> EncoderScorer:
    from moderator.model.artifact import load_model as load_artifact

    teacher = load_artifact(path).encoder
    if teacher is None:
        raise ValueError(f"{path} has no encoder to distil")
    return teacher


def teacher_probabilities(teacher: EncoderScorer | str, texts: Sequence[str],
                          categories: Sequence[str]) -> np.ndarray:
    """``teacher`` (an encoder, or the artifact at that path) scoring ``texts``: (len(texts), len(categories))
    probabilities, the soft targets of :func:`moderator.training.encoder.train_encoder`."""
    if isinstance(teacher, str):
        teacher = _teacher(teacher)
    missing = [c for c in categories if c not in teacher.categories]
    if missing:
        raise ValueError(f"the teacher encoder does not score {', '.join(missing)}")
    columns = [teacher.categories.index(c) for c in categories]
    return teacher.predict_proba(texts)[:, columns].astype(np.float32)


def fit_calibration(rows: Sequence[Example], categories: Sequence[str], linear: np.ndarray,
                    encoder: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """Platt scaling (Platt 1999) of each part of the full model, per category: ``{category: {"linear": [a, b],
    "encoder": [a, b]}}``, for :meth:`ModerationModel.combine`.

    ``linear`` and ``encoder`` are the parts' probabilities of ``rows`` (columns in ``categories``' order);
    each ``[a, b]`` is a one-feature logistic regression of a row's label on that part's log-odds, over the rows
    labelled for the category. The rows are validation rows, held out from both parts' training, so the fit
    sees how confident each part is on text it has not seen (the encoder fits its training rows almost
    perfectly). A category with no labelled rows of both classes gets no entry (the plain mean)."""
    out: dict[str, dict[str, list[float]]] = {}
    for j, cat in enumerate(categories):
        idx = [i for i, r in enumerate(rows) if cat in r.labels]
        y = np.array([rows[i].labels[cat] for i in idx], dtype=int)
        if not idx or y.min() == y.max():
            continue
        fit: dict[str, list[float]] = {}
        for part, probs in (("linear", linear), ("encoder", encoder)):
            x = logit(np.clip(np.asarray(probs, dtype=np.float64)[idx, j], 1e-12, 1 - 1e-12))[:, None]
            lr = LogisticRegression(C=1e4, max_iter=1000).fit(x, y)  # all but unregularised: two parameters
            fit[part] = [round(float(lr.coef_[0, 0]), 6), round(float(lr.intercept_[0]), 6)]
        out[cat] = fit
    return out


def choose_thresholds(cfg: TrainConfig, X: FeatureMatrices, classifiers: dict[str, CategoryModel],
                      encoder: EncoderScorer | None, val_rows: Sequence[Example],
                      ) -> tuple[dict[str, float], dict[str, float], dict[str, Any], dict[str, Any] | None]:
    """Thresholds (the operating point of :func:`operating_threshold`) and validation metrics, of the model's
    scores and of the linear model's alone, and the calibration of the full model's parts
    (:func:`fit_calibration`, with ``cfg.blend`` "calibrated"): ``(thresholds, linear_thresholds, metrics,
    calibration)``. Without an encoder, or for a category it does not score, the two thresholds are the
    same."""
    shell = ModerationModel("check", X.features, classifiers, {}, encoder=encoder)
    linear_val = np.column_stack([classifiers[c].predict_proba(X.validation) for c in shell.categories])
    combined = linear_val.copy()
    cats = shell.categories
    # the encoder scores what it is labelled for, Ruddit, and every comment-section row (their clean rows
    # are what the thresholds are chosen against)
    rows = np.flatnonzero(np.array(encoder_rows(val_rows, shell.encoder_categories), dtype=bool)
                          | np.array([e.corpus in COMMENT_SECTION_CORPORA for e in val_rows], dtype=bool))
    if len(rows) and shell.encoder_categories:
        enc_val = shell.encoder_matrix(list(_bar(cfg, [val_rows[i].text for i in rows.tolist()],
                                                 "encoder on validation")))
        assert enc_val is not None
        if cfg.blend == "calibrated":
            parts = linear_val[rows][:, [cats.index(c) for c in shell.encoder_categories]]
            shell.calibration = fit_calibration([val_rows[i] for i in rows.tolist()], shell.encoder_categories,
                                                parts, enc_val)
        combined[rows] = shell.combine(linear_val[rows], enc_val)
    selected = {"model": operating_thresholds(cfg, val_rows, combined, cats),
                "linear": operating_thresholds(cfg, val_rows, linear_val, cats)}
    thresholds = {c: round(selected["model"][c]["threshold"], 4) if c in selected["model"] else 0.5 for c in cats}
    linear_thresholds = {c: round(selected["linear"][c]["threshold"], 4) if c in selected["linear"] else 0.5
                         for c in cats}
    for c in cats:
        if c not in shell.encoder_categories:
            linear_thresholds[c] = thresholds[c]
    metrics: dict[str, Any] = {"validation": {}, "operating_point": {
        "max_flag_rate": cfg.max_flag_rate, "prevalence": cfg.prevalence, "min_precision": cfg.min_precision,
        "selection": selected,
        "comment_sections": {"model": flag_report(val_rows, combined, cats, thresholds),
                             "linear": flag_report(val_rows, linear_val, cats, linear_thresholds)}}}
    for cat in cfg.categories:
        k = cats.index(cat)
        metrics["validation"][cat] = category_metrics(val_rows, cat, combined[:, k], thresholds[cat])
        if cat in shell.encoder_categories:
            metrics.setdefault("validation_linear", {})[cat] = category_metrics(val_rows, cat, linear_val[:, k],
                                                                              linear_thresholds[cat])
    probs = {cat: combined[:, shell.categories.index(cat)] for cat in cfg.categories}
    ruddit = [i for i, e in enumerate(val_rows) if e.corpus == "ruddit"]
    if ruddit:
        score = np.array([float(val_rows[i].raw_label) for i in ruddit])
        worst = np.max(np.vstack([probs[c][ruddit] for c in cfg.categories if c != "spam"]), axis=0)
        keep = (score >= 0.33) | (score <= 0)
        if keep.any() and 0 < (score[keep] >= 0.33).sum() < keep.sum():
            metrics["ruddit_offensive_vs_clean_auc"] = float(roc_auc_score(score[keep] >= 0.33, worst[keep]))
    if shell.calibration:
        metrics["calibration"] = {"method": "Platt scaling of each part's log-odds on the validation rows labelled "
                                            "for the category, then the mean", "parts": shell.calibration}
    return thresholds, linear_thresholds, metrics, shell.calibration


def operating_threshold(y: np.ndarray, p: np.ndarray, max_flag_rate: float, prevalence: float,
                        min_precision: float) -> dict[str, Any]:
    """One category's operating point on comment-section rows (``y`` 1 for a violation, 0 for a negative).

    The highest recall that flags at most ``max_flag_rate`` of the negatives; among thresholds of that recall,
    the highest (the same catch, fewer flags on comments unlike the validation set's). Also the precision
    there with the positives re-weighted to ``prevalence`` (validation sets hold far more violations than a
    comment section: Impermium 26%, YouTube 48%), and whether it reaches ``min_precision``.
    """
    pos, neg = int(y.sum()), int((y == 0).sum())
    w = prevalence / (1 - prevalence) * neg / pos
    cand = np.unique(p)[::-1]  # descending: recall grows along it
    ps, ns = np.sort(p[y == 1]), np.sort(p[y == 0])
    tp = pos - np.searchsorted(ps, cand, side="left")
    fp = neg - np.searchsorted(ns, cand, side="left")
    precision = w * tp / np.maximum(w * tp + fp, 1e-12)
    ok = fp / neg <= max_flag_rate
    k = int(np.flatnonzero(ok & (tp == tp[ok].max()))[0]) if ok.any() else 0
    return {"threshold": float(cand[k]), "recall": float(tp[k] / pos), "precision": float(precision[k]),
            "negative_flag_rate": float(fp[k] / neg), "max_flag_rate": max_flag_rate,
            "feasible": bool(precision[k] >= min_precision), "prevalence": prevalence,
            "min_precision": min_precision, "positives": pos, "negatives": neg}


def operating_thresholds(cfg: TrainConfig, rows: Sequence[Example], scores: np.ndarray,
                         categories: Sequence[str]) -> dict[str, dict[str, Any]]:
    """:func:`operating_threshold` of each category over the validation rows of the comment-section corpora,
    where a clean comment of any of them is a negative for every category
    (:func:`moderator.training.operating_points.category_targets`). A category without positives or
    negatives there is left out."""
    keep = np.flatnonzero([r.corpus in COMMENT_SECTION_CORPORA for r in rows])
    sub = [rows[i] for i in keep.tolist()]
    out: dict[str, dict[str, Any]] = {}
    for k, cat in enumerate(categories):
        idx, y = category_targets(sub, cat)
        if len(idx) and 0 < y.sum() < len(y):
            out[cat] = operating_threshold(y, np.asarray(scores)[keep][idx, k], cfg.max_flag_rate.get(cat, 0.01),
                                           cfg.prevalence, cfg.min_precision)
    return out


def model_version(cfg: TrainConfig, data_hashes: dict[str, str], extra: Sequence[Example]) -> str:
    """``<package version>-<hash>``, deterministic: the hash covers the code, the options and the data."""
    digest = hashlib.sha256(json.dumps({"code": code_digest(), "config": cfg.to_dict(), "data": data_hashes,
                                        "extra": [e.text for e in extra][:1000]}, sort_keys=True).encode())
    return f"{__version__}-{digest.hexdigest()[:10]}"


def describe(cfg: TrainConfig, model: ModerationModel, data: TrainingData, weak_counts: dict[str, int],
             X: FeatureMatrices, metrics: dict[str, Any], data_hashes: dict[str, str],
             seconds: float) -> dict[str, Any]:
    """The artifact's metadata (its JSON sidecar and the model card's source)."""
    import joblib
    import matplotlib
    import onnxruntime
    import scipy
    import sklearn
    import tokenizers

    splits, encoder = data.splits, model.encoder
    return {
        "version": model.version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "moderator_version": __version__,
        "library_versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__,
                             "scipy": scipy.__version__, "joblib": joblib.__version__,
                             "matplotlib": matplotlib.__version__, "onnxruntime": onnxruntime.__version__,
                             "tokenizers": tokenizers.__version__, "python": platform.python_version()},
        "categories": list(cfg.categories),
        "thresholds": model.thresholds,
        "linear_thresholds": model.linear_thresholds,
        "encoder": None if encoder is None else {**encoder.info, "categories": list(model.encoder_categories),
                                                 "onnx_bytes": len(encoder.onnx_model)},
        "config": cfg.to_dict(),
        "command": "python scripts/train.py" + ("" if cfg.seed == TrainConfig.seed else f" --seed {cfg.seed}")
                   + ("" if cfg.encoder else " --no-encoder")
                   + (f" --encoder-from models/{Path(cfg.encoder_from).name}" if cfg.encoder_from else "")
                   + ("" if cfg.encoder_float_products else " --no-float-products")
                   + ("" if cfg.encoder_layers == TrainConfig.encoder_layers
                      else f" --encoder-layers {cfg.encoder_layers}")
                   + ("" if cfg.encoder_ffn == TrainConfig.encoder_ffn else f" --encoder-ffn {cfg.encoder_ffn}")
                   + ("" if cfg.encoder_heads == TrainConfig.encoder_heads
                      else f" --encoder-heads {cfg.encoder_heads}")
                   + (f" --prune-after {cfg.encoder_prune_after}" if cfg.encoder_prune_after else "")
                   + ("" if cfg.encoder_epochs == TrainConfig.encoder_epochs
                      else f" --encoder-epochs {cfg.encoder_epochs}")
                   + (f" --distill-from models/{Path(cfg.encoder_distill_from).name}"
                      + ("" if cfg.encoder_distill_weight == TrainConfig.encoder_distill_weight
                         else f" --distill-weight {cfg.encoder_distill_weight}")
                      if cfg.encoder_distill_from else "")
                   + (f" --distill-transfer {cfg.encoder_transfer}" if cfg.encoder_transfer else "")
                   + (f" --person-threat-twins {cfg.person_threat_twins}" if cfg.person_threat_twins else "")
                   + ("" if cfg.encoder_seed is None else f" --encoder-seed {cfg.encoder_seed}")
                   + ("" if cfg.blend == TrainConfig.blend else f" --blend {cfg.blend}"),
        "data_dir": str(data_dir(cfg.data_dir)),
        "input_sha256": data_hashes,
        "rows": {name: {"loaded": len(splits.raw[name]), "after_dedup": len(splits.corpora[name]),
                        "duplicates_dropped": splits.dropped[name],
                        "train": sum(e.corpus == name for e in splits.train),
                        "validation": sum(e.corpus == name for e in splits.validation)} for name in splits.raw},
        "training_rows_per_category": {c: sum(c in e.labels for e in data.train_rows) for c in cfg.categories},
        "weak_obscenity_labels": weak_counts,
        "feedback_rows": len(data.extra),
        "augment_rows": dict(Counter(e.raw_label for e in data.augment)),
        "features": X.sizes,
        "metrics": metrics,
        "training_seconds": round(seconds, 1),
        "code_sha256": code_digest(),
    }


def write_artifact(cfg: TrainConfig, model: ModerationModel) -> Path:
    """Save the model into ``cfg.output`` (the default there with ``cfg.make_default``), then record the
    artifact's size in its sidecar."""
    path = model.save(cfg.output, make_default=cfg.make_default)
    model.metadata["artifact_bytes"] = path.stat().st_size
    path.with_suffix(".json").write_text(json.dumps(model.metadata, indent=2, sort_keys=True) + "\n")
    return path


def train(cfg: TrainConfig) -> tuple[ModerationModel, Path]:
    """Run the whole training and write the artifact; returns the model and its path."""
    if cfg.blend not in ("calibrated", "mean"):
        raise ValueError(f"blend must be 'calibrated' or 'mean', not {cfg.blend!r}")
    if cfg.encoder_from and cfg.encoder_distill_from:
        raise ValueError("an encoder is either reused (encoder_from) or trained by distillation "
                         "(encoder_distill_from), not both")
    if not 0.0 <= cfg.encoder_distill_weight <= 1.0:
        raise ValueError(f"encoder_distill_weight must be within [0, 1], not {cfg.encoder_distill_weight}")
    if cfg.encoder_transfer and not cfg.encoder_distill_from:
        raise ValueError("encoder_transfer needs a teacher (encoder_distill_from): its rows have no label")
    t0 = time.time()
    stages = tqdm(total=8, desc="training", disable=not cfg.progress)
    data = load_data(cfg)
    stages.update()
    normalizer, weak_counts = fit_normalizer(cfg, data)
    stages.update()
    X = fit_features(cfg, normalizer, data)
    stages.update()
    classifiers = fit_classifiers(cfg, data, X)
    stages.update()
    encoder = fit_encoder(cfg, data.splits.train + data.augment)
    stages.update()
    thresholds, linear_thresholds, metrics, calibration = choose_thresholds(cfg, X, classifiers, encoder,
                                                                            data.splits.validation)
    stages.update()

    data_hashes = file_hashes(cfg.corpora, cfg.data_dir)
    model = ModerationModel(model_version(cfg, data_hashes, data.extra), X.features, classifiers, thresholds,
                            encoder=encoder, linear_thresholds=linear_thresholds if encoder is not None else None,
                            calibration=calibration or None)
    if "obscenity" in cfg.categories and OBSCENITY_EVAL.is_file():
        metrics["obscenity_handwritten"] = evaluate_obscenity_set(model)
    if set(model.categories) == set(CATEGORIES) and not cfg.sample:
        # identity fairness, threats, hate without slurs (hand-written sets, never trained on) for the card
        from moderator.training.fairness import training_metrics

        metrics.update(training_metrics(model, data.splits.validation))
    stages.update()
    model.metadata = describe(cfg, model, data, weak_counts, X, metrics, data_hashes, time.time() - t0)
    path = write_artifact(cfg, model)
    stages.update()
    stages.close()
    return model, path


def validation_rows(cfg: TrainConfig) -> list[Example]:
    """The validation split exactly as :func:`train` makes it (for benchmarks and comparisons)."""
    return make_splits(replace(cfg, progress=False)).validation


def label_validation(rows: Sequence[Example], model: ModerationModel) -> None:
    """Give validation rows their weak obscenity labels with ``model``'s normaliser (as training did)."""
    add_obscenity_labels(list(rows), model.normalizer)
