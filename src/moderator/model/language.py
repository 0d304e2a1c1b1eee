"""Which language a comment is written in, and whether the model can read it.

The classifier was trained on English comments only: a Spanish insult gets an English model's guess. The
service therefore identifies each comment's language with py3langid (Lui & Baldwin's langid.py, 97
languages, a naive Bayes model over byte n-grams shipped inside the package: no download, well under 1 ms
per comment) and treats a comment as *foreign* only when the identification is reliable:

* at least ``min_chars`` characters once URLs, @mentions, e-mail addresses and digits are removed and
  whitespace collapsed: short texts -- "lol", "+1", "Nice" -- carry too little evidence and count as readable;
* the probability the identifier gives English (with the English-lexified languages it knows, Nigerian
  Pidgin and Scots, whose classes mostly catch English with non-standard spelling) is below
  ``max_english``, and the top language is a language (not ``zxx``, "no linguistic content").

Anything else is *readable*: English, or undetermined. The top language's own probability is not the test:
short Spanish is split between Spanish, Galician and Catalan (0.7 each way) while English stays near 0,
whereas English with a French dish or a few Urdu words keeps English well above 0.01.
``bench/language.py`` measures the rule on the hand-written check set ``data/language_eval.jsonl`` and on
the English validation corpora (docs/benchmarks.md). No web framework here.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

ENGLISH = "en"
UNKNOWN = "und"
# py3langid classes that are English-lexified: their guesses are read as English.
ENGLISH_LIKE = frozenset({"en", "pcm", "sco"})
NOT_A_LANGUAGE = frozenset({"zxx", "und"})
MIN_CHARS = 20
MAX_ENGLISH = 0.01  # a text is foreign when English (with ENGLISH_LIKE) gets less than this probability

_NOISE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\S+|@\w+|#|\d+", re.UNICODE)


@dataclass(frozen=True)
class Guess:
    """The language of one text.

    ``code``: ISO 639-1 code of the identified language when ``reliable``; otherwise ``"en"`` when English
    was the top guess and ``"und"`` (undetermined) when the text is too short or the guess too weak.
    ``confidence``: the identifier's normalised probability of ``code`` (of its top language for ``"und"``);
    ``english``: its probability of English. ``reliable``: the text is long enough and the guess clear
    enough to act on.
    """

    code: str
    confidence: float
    reliable: bool
    english: float = 1.0

    @property
    def supported(self) -> bool:
        """Whether the model can read the text: English, or not reliably anything else."""
        return not self.reliable or self.code in ENGLISH_LIKE

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "confidence": round(self.confidence, 4), "reliable": self.reliable,
                "supported": self.supported}


_lock = threading.Lock()
_identifier: Any = None


def _get_identifier() -> Any:
    """py3langid's identifier with normalised probabilities, loaded once per process (about 1 s)."""
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


def letters(text: str) -> str:
    """The text without URLs, @mentions, e-mail addresses, hashes and digits: what the identifier reads."""
    return _NOISE.sub(" ", text)


def length(text: str) -> int:
    """Characters as a reader counts them: runs of whitespace count as one space, the ends not at all."""
    return len(" ".join(text.split()))


def detect(text: str, min_chars: int = MIN_CHARS, max_english: float = MAX_ENGLISH) -> Guess:
    """The language of ``text`` (see the module docstring for when a guess counts as reliable)."""
    clean = letters(text)
    enough = length(clean) >= min_chars
    ranked = _get_identifier().rank(clean)
    top, top_p = str(ranked[0][0]), float(ranked[0][1])
    english = float(sum(p for code, p in ranked if code in ENGLISH_LIKE))
    if top in ENGLISH_LIKE or english >= 0.5:
        return Guess(ENGLISH, english, enough, english)
    if enough and english < max_english and top not in NOT_A_LANGUAGE:
        return Guess(top, top_p, True, english)
    return Guess(UNKNOWN, top_p, False, english)


def warm_up() -> None:
    """Load the identifier now (the service calls this at start-up, not on the first request)."""
    _get_identifier()


__all__ = ["ENGLISH", "MAX_ENGLISH", "MIN_CHARS", "UNKNOWN", "Guess", "detect", "length", "letters",
           "warm_up"]
