"""Loaders for the labelled corpora, read in place from the data directory.

One loader per corpus; each parses its corpus's quirks and maps its labels onto our categories.
A corpus that says nothing about a category gives *no label* for it (the key is absent), never a
negative. ``docs/data.md`` documents every mapping; the tests check the row and label counts that each
corpus's ``SOURCE.md`` states.

Nothing here downloads anything: ``SOURCES[name].url`` only tells a user with internet where a corpus
comes from.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from moderator.config import data_dir as _default_data_dir

csv.field_size_limit(sys.maxsize)

HATE = "hate_speech"
OBSCENITY = "obscenity"
ATTACK = "personal_attack"
SPAM = "spam"


@dataclass
class Example:
    """One labelled text. ``labels`` holds only the categories this corpus labels."""

    text: str
    corpus: str
    labels: dict[str, int]
    raw_label: str
    group: str = ""  # rows sharing a group (e.g. sentences of one forum post) stay on one side of a split
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    name: str
    files: tuple[str, ...]
    url: str
    license: str
    loader: Callable[[Path], list[Example]]


def _open(path: Path):
    return open(path, encoding="utf-8", newline="")


# --------------------------------------------------------------------------- davidson


def load_davidson(folder: Path) -> list[Example]:
    """Davidson et al. 2017: class 0 hate, 1 offensive, 2 neither.

    hate_speech: class 0 -> 1, classes 1 and 2 -> 0. Obscenity labels are derived later (see
    :mod:`moderator.training.weak_labels`); ``raw_label`` keeps the class for that.
    """
    out: list[Example] = []
    with _open(folder / "labeled_data.csv") as f:
        for row in csv.DictReader(f):
            cls = row["class"]
            text = _html_unescape(row["tweet"])
            out.append(Example(text, "davidson_hate_offensive", {HATE: int(cls == "0")}, cls,
                               meta={"id": row[""]}))
    return out


_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|amp|lt|gt|quot|apos);")


def _html_unescape(text: str) -> str:
    import html

    # Davidson keeps entities such as &amp; and &#128514; -- decode them so the emoji and '&' are real text.
    return _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)


# --------------------------------------------------------------------------- OLID


def load_olid(folder: Path) -> list[Example]:
    """OLID v1.0 training file (TSV, must be read with QUOTE_NONE: tweets hold unbalanced quotes).

    personal_attack: OFF/TIN/IND -> 1; NOT, OFF/UNT, OFF/TIN/OTH, OFF/TIN/GRP -> 0 (not aimed at a person).
    hate_speech: NOT, OFF/UNT, OFF/TIN/IND, OFF/TIN/OTH -> 0; OFF/TIN/GRP -> no label (group-targeted
    offence includes political groups, so it is neither clearly hate nor clearly not).
    """
    out: list[Example] = []
    with _open(folder / "olid-training-v1.0.tsv") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        assert header[:5] == ["id", "tweet", "subtask_a", "subtask_b", "subtask_c"], header
        for rid, tweet, a, b, c in reader:
            raw = f"{a}/{b}/{c}"
            labels = {ATTACK: int(raw == "OFF/TIN/IND")}
            if raw != "OFF/TIN/GRP":
                labels[HATE] = 0
            out.append(Example(tweet, "olid", labels, raw, meta={"id": rid}))
    return out


# --------------------------------------------------------------------------- TweetEval hate


def load_tweeteval_hate(folder: Path) -> list[Example]:
    """TweetEval hate (HatEval): aligned text/label files; train and val both used (we re-split).

    Lines are aligned one-to-one, so the files are split on '\\n' without stripping (SOURCE.md).
    Empty or whitespace-only tweets are dropped.
    """
    out: list[Example] = []
    for split in ("train", "val"):
        texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").split("\n")
        labels = (folder / f"{split}_labels.txt").read_text(encoding="utf-8").split("\n")
        if texts and texts[-1] == "":
            texts.pop()
        if labels and labels[-1] == "":
            labels.pop()
        if len(texts) != len(labels):
            raise ValueError(f"tweeteval_hate {split}: {len(texts)} texts but {len(labels)} labels")
        for i, (text, lab) in enumerate(zip(texts, labels, strict=True)):
            lab = lab.strip()
            out.append(Example(text, "tweeteval_hate", {HATE: int(lab)}, lab,
                               meta={"split": split, "line": str(i)}))
    return out


# --------------------------------------------------------------------------- Stormfront


def load_stormfront(folder: Path) -> list[Example]:
    """Stormfront sentences: hate -> 1, noHate -> 0; relation and idk/skip carry no label.

    ``group`` is the forum post (comment_id) so a post's sentences stay on one side of a split.
    """
    out: list[Example] = []
    with _open(folder / "stormfront_sentences.csv") as f:
        for row in csv.DictReader(f):
            lab = row["label"]
            labels = {HATE: 1} if lab == "hate" else {HATE: 0} if lab == "noHate" else {}
            out.append(Example(row["text"], "stormfront_hate", labels, lab, group=row["comment_id"],
                               meta={"file_id": row["file_id"]}))
    return out


# --------------------------------------------------------------------------- Impermium


_IMPERMIUM_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[nrt\\'\"])")


def decode_impermium(raw: str) -> str:
    """Impermium text: strip the extra outer quotes and decode literal escapes (``\\n``, ``\\xa0``, ``\\u2019``).

    Runs of ``\\xNN`` escapes are UTF-8 byte sequences written out (``\\xc2\\xa0`` is one NBSP), so byte
    escapes are collected and decoded as UTF-8, falling back to Latin-1 for a lone byte such as ``\\xa0``.
    """
    s = raw
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        s = s[1:-1]
    out: list[str] = []
    pending = bytearray()

    def flush() -> None:
        if pending:
            try:
                out.append(pending.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(pending.decode("latin-1"))
            pending.clear()

    pos = 0
    for m in _IMPERMIUM_ESCAPE.finditer(s):
        if m.start() > pos:
            flush()
            out.append(s[pos:m.start()])
        esc = m.group(1)
        if esc[0] == "x":
            pending.append(int(esc[1:], 16))
        else:
            flush()
            if esc[0] in "uU":
                out.append(chr(int(esc[1:], 16)))
            else:
                out.append(codecs.decode("\\" + esc, "unicode_escape"))
        pos = m.end()
    flush()
    out.append(s[pos:])
    return "".join(out)


def load_impermium(folder: Path) -> list[Example]:
    """Kaggle/Impermium insults (train.csv): Insult 1 -> personal_attack 1, 0 -> 0."""
    out: list[Example] = []
    with _open(folder / "train.csv") as f:
        for i, row in enumerate(csv.DictReader(f)):
            lab = row["Insult"]
            out.append(Example(decode_impermium(row["Comment"]), "impermium_insults", {ATTACK: int(lab)}, lab,
                               meta={"row": str(i), "date": row["Date"]}))
    return out


# --------------------------------------------------------------------------- YouTube spam

YOUTUBE_FILES = ("Youtube01-Psy.csv", "Youtube02-KatyPerry.csv", "Youtube03-LMFAO.csv",
                 "Youtube04-Eminem.csv", "Youtube05-Shakira.csv")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def load_youtube_spam(folder: Path) -> list[Example]:
    """UCI YouTube spam: CLASS 1 -> spam 1, 0 -> 0. ``<br />`` becomes a newline, a trailing BOM is dropped."""
    import html

    out: list[Example] = []
    for name in YOUTUBE_FILES:
        with _open(folder / name) as f:
            for row in csv.DictReader(f):
                lab = row.get("CLASS", row.get("label", ""))
                text = html.unescape(_BR.sub("\n", row["CONTENT"])).replace("\ufeff", "").strip()
                out.append(Example(text, "youtube_spam", {SPAM: int(lab)}, lab, group=name,
                                   meta={"id": row["COMMENT_ID"], "author": row["AUTHOR"], "video": name}))
    return out


# --------------------------------------------------------------------------- TRAC-1


def load_trac1(folder: Path) -> list[Example]:
    """TRAC-1 English train+dev (no header; id, text, label): OAG -> personal_attack 1, NAG -> 0, CAG no label."""
    out: list[Example] = []
    for split, name in (("train", "agr_en_train.csv"), ("dev", "agr_en_dev.csv")):
        with _open(folder / name) as f:
            for rid, text, lab in csv.reader(f):
                labels = {ATTACK: 1} if lab == "OAG" else {ATTACK: 0} if lab == "NAG" else {}
                out.append(Example(text, "trac1_aggression", labels, lab, meta={"id": rid, "split": split}))
    return out


# --------------------------------------------------------------------------- Ruddit


def load_ruddit(folder: Path) -> list[Example]:
    """Ruddit: graded offensiveness only, undifferentiated between our categories.

    It gives no category label (``labels`` is empty); ``raw_label`` keeps the score so that the weak
    obscenity labelling and the reports can use it. Deleted/removed bodies are dropped.
    """
    out: list[Example] = []
    with _open(folder / "ruddit_with_text.csv") as f:
        for row in csv.DictReader(f):
            body = row["comment_body"]
            if body.strip() in {"[deleted]", "[removed]"}:
                continue
            out.append(Example(body, "ruddit", {}, row["offensiveness_score"], group=row["post_id"],
                               meta={"id": row["comment_id"]}))
    return out


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("davidson_hate_offensive", ("labeled_data.csv",),
               "https://github.com/t-davidson/hate-speech-and-offensive-language", "MIT (tweets: Twitter ToS)",
               load_davidson),
        Source("olid", ("olid-training-v1.0.tsv",), "https://scholar.harvard.edu/malmasi/olid",
               "no license stated (research use, cite); host repo CC BY 4.0", load_olid),
        Source("tweeteval_hate", ("train_text.txt", "train_labels.txt", "val_text.txt", "val_labels.txt"),
               "https://github.com/cardiffnlp/tweeteval", "research use (HatEval terms; Twitter ToS)",
               load_tweeteval_hate),
        Source("stormfront_hate", ("stormfront_sentences.csv",),
               "https://github.com/Vicomtech/hate-speech-dataset", "CC BY-SA 3.0 ES", load_stormfront),
        Source("impermium_insults", ("train.csv",),
               "https://www.kaggle.com/c/detecting-insults-in-social-commentary",
               "Kaggle competition data (research use, no open license)", load_impermium),
        Source("youtube_spam", YOUTUBE_FILES, "https://archive.ics.uci.edu/dataset/380/youtube+spam+collection",
               "CC BY 4.0", load_youtube_spam),
        Source("trac1_aggression", ("agr_en_train.csv", "agr_en_dev.csv"),
               "https://sites.google.com/view/trac1/shared-task", "TRAC-1 research use", load_trac1),
        Source("ruddit", ("ruddit_with_text.csv",), "https://github.com/hadarishav/Ruddit",
               "MIT (ids/scores); text Reddit ToS", load_ruddit),
    )
}

LEXICON_FILES = ("ldnoobw_en.txt", "dsojevic_en.json")


class DataMissingError(FileNotFoundError):
    """The data directory, or one corpus in it, is absent."""


def corpus_dir(name: str, data_dir: str | Path | None = None) -> Path:
    folder = _default_data_dir(data_dir) / name
    if not folder.is_dir():
        raise DataMissingError(
            f"corpus {name!r} not found at {folder}; set --data-dir or MODERATOR_DATA_DIR "
            f"(public source: {SOURCES[name].url if name in SOURCES else 'see docs/data.md'})"
        )
    return folder


def load_corpus(name: str, data_dir: str | Path | None = None) -> list[Example]:
    """All rows of one corpus, with our labels."""
    return SOURCES[name].loader(corpus_dir(name, data_dir))


def iter_corpora(names: tuple[str, ...] | None = None,
                 data_dir: str | Path | None = None) -> Iterator[tuple[str, list[Example]]]:
    for name in names or tuple(SOURCES):
        yield name, load_corpus(name, data_dir)


def file_hashes(names: tuple[str, ...] | None = None, data_dir: str | Path | None = None) -> dict[str, str]:
    """sha256 of every input file, keyed ``corpus/file`` (recorded in the model's metadata)."""
    out: dict[str, str] = {}
    for name in names or tuple(SOURCES):
        for fname in SOURCES[name].files:
            out[f"{name}/{fname}"] = hashlib.sha256((corpus_dir(name, data_dir) / fname).read_bytes()).hexdigest()
    for fname in LEXICON_FILES:
        path = corpus_dir("profanity_wordlists", data_dir) / fname
        out[f"profanity_wordlists/{fname}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def data_available(data_dir: str | Path | None = None) -> bool:
    root = _default_data_dir(data_dir)
    return all((root / n).is_dir() for n in (*SOURCES, "profanity_wordlists"))
