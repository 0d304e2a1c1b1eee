"""No tracked file carries corpus text: the corpora are read in place and never copied into the project.

Every corpus comment of 40+ characters is cut into 40-character windows (only windows with at least five
words, so code and markup shapes do not match); a tracked text file that contains one of them fails, with
the file and the window named. Hand-written examples (tests, ``data/``) do not match any corpus.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from moderator.config import PROJECT_ROOT, data_dir
from moderator.training import datasets

pytestmark = pytest.mark.skipif(
    not datasets.data_available(),
    reason=f"labelled corpora not found at {data_dir()} (set MODERATOR_DATA_DIR); CI has them",
)

WINDOW = 40
WORD = re.compile(r"[a-z]{3,}")
BINARY = (".png", ".jpg", ".joblib", ".ico", ".woff", ".woff2")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def _corpus_windows() -> set[str]:
    windows: set[str] = set()
    for name in datasets.SOURCES:
        for row in datasets.load_corpus(name):
            text = _norm(row.text)
            for i in range(0, len(text) - WINDOW + 1, WINDOW // 2):
                w = text[i:i + WINDOW]
                if len(WORD.findall(w)) >= 5:
                    windows.add(w)
    return windows


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [PROJECT_ROOT / p for p in out.decode().split("\0") if p and not p.endswith(BINARY)]


def test_scan_finds_a_planted_corpus_row() -> None:
    """The check itself works: a real corpus row (kept in memory only) is found by it."""
    windows = _corpus_windows()
    row = next(r.text for r in datasets.load_corpus("impermium_insults") if len(WORD.findall(_norm(r.text))) > 30)
    planted = _norm(f"some text before {row} and after")
    assert any(planted[i:i + WINDOW] in windows for i in range(len(planted) - WINDOW + 1))


def test_no_tracked_file_contains_corpus_text() -> None:
    windows = _corpus_windows()
    found: dict[str, str] = {}
    for path in _tracked_files():
        try:
            text = _norm(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for i in range(len(text) - WINDOW + 1):
            if text[i:i + WINDOW] in windows:
                found[str(path.relative_to(PROJECT_ROOT))] = text[i:i + WINDOW]
                break
    assert not found, f"corpus text in tracked files (remove it; keep indices or counts instead): {found}"
