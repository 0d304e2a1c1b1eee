"""The obscenity lexicon, built from the two public profanity word lists in the data directory.

Used three ways: to resolve obfuscated words during normalisation (``f*ck`` -> ``fuck``), as a
feature of the obscenity classifier, and for the weak obscenity labels (see :mod:`moderator.training.weak_labels`).
It is built at training time and stored inside the model artifact, so serving never needs the data
directory.

Matching is always on whole normalised tokens (or whole token sequences for phrases): a term never
matches inside another word, which is what keeps ``Scunthorpe``, ``cocktail`` and ``assassin`` clean.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Entries of LDNOOBW that are neutral or clinical vocabulary on a news site, not obscenity.
NEUTRAL_TERMS: frozenset[str] = frozenset({
    "sex", "sexual", "sexually", "sexuality", "sexy", "nude", "nudity", "anal", "anus", "gay sex", "homoerotic",
    "lolita", "escort", "erotic", "erotism", "panties", "panty", "bikini", "lingerie", "nipple", "nipples",
    "vagina", "penis", "breasts", "boobs", "topless", "nudes", "ovum", "genitals", "rectum", "urophilia",
    "hentai", "hooker", "swastika", "nazi", "camgirl", "camslut", "sexo", "yaoi", "yiffy", "butt", "bung hole",
    "rimming", "strip club", "threesome", "xx", "xxx", "muff", "queef", "jail bait", "jailbait", "spooge",
    "date rape", "rape", "raping", "rapist", "bondage", "fetish", "orgy", "orgasm", "porn", "porno",
    "pornography", "sadism", "sadist", "masturbate", "masturbating", "masturbation", "ejaculation",
    "tit", "hell", "damn",
    # ordinary words or names in news and forum comments that LDNOOBW lists
    "negro", "santorum", "snatch", "domination", "intercourse", "collared", "collaring", "incest", "paedophile",
    "paedophilia", "pedophile", "pedophilia", "viagra", "cialis", "playboy", "swinger", "scat", "eunuch",
    "undressing", "vulva", "semen", "fecal", "grope", "nsfw", "voyeur", "twink", "twinkie", "skeet", "shrimping",
    "snowballing", "kinky", "spunk", "bimbos", "busty", "tushy", "octopussy", "clitoris", "lovemaking", "ecchi",
    "ejaculate", "ejaculated", "ejaculating", "orgasmic", "orgasms", "pornographic", "neonazi", "nambla",
    "domme", "dommes", "mong", "humping", "smut", "hardcore", "hard core", "onlyfans", "pornhub",
})
# Identity slurs that LDNOOBW lists with the obscenities: they are hate-speech features, not obscenity.
LDNOOBW_SLURS: frozenset[str] = frozenset({
    "nigger", "nigga", "kike", "spic", "wetback", "towelhead", "raghead", "paki", "darkie", "honkey", "jigaboo",
    "jiggaboo", "jiggerboo", "slanteye", "beaner", "beaners", "coon", "coons", "retard", "retarded", "spastic",
    "tranny", "shemale", "fag", "faggot", "poof", "bulldyke", "carpetmuncher", "fudgepacker", "pikey",
})
# Mild words that a site's guideline does not treat as obscenity (decided in data/README.md too).
MILD_TERMS: frozenset[str] = frozenset({"crap", "damn", "hell", "bloody", "sucks", "suck", "piss off", "butt"})

# dsojevic tags that denote vulgar or sexual language (racial/religious/lgbtq entries are slurs: hate features).
OBSCENE_TAGS = frozenset({"sexual", "general", "shock"})

# Core swear words that every list agrees on; guaranteed present even if a list changes upstream.
CORE_TERMS: frozenset[str] = frozenset({
    "fuck", "fucking", "fucked", "fucker", "fuckers", "fucks", "motherfucker", "motherfucking", "shit", "shitty",
    "bullshit", "shits", "asshole", "assholes", "ass", "arse", "arsehole", "bitch", "bitches", "cunt", "cunts",
    "dick", "dicks", "dickhead", "cock", "cocks", "cocksucker", "pussy", "piss", "pissed", "wanker", "wank",
    "twat", "bastard", "slut", "whore", "tits", "jizz", "cum", "dildo", "blowjob", "handjob", "boner", "horseshit",
    "dipshit", "jackass", "shite", "shitting", "fucktard", "wankers", "twats", "pissing",
    "dumbass", "shithead", "fuckwit", "bollocks", "prick", "skank",
})


@functools.cache
def _stemmer() -> Any:
    from nltk.stem.porter import PorterStemmer  # rule-based: needs no nltk data download

    return PorterStemmer()


@functools.lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer().stem(word)


_WILDCARD = "[a-z]*"


_REPEAT = re.compile(r"([a-z])" + re.escape(_WILDCARD))


def _linear(pattern: str) -> str:
    r"""``pattern`` (``fu[a-z]*c[a-z]*k``) as the regular expression that matches it, in linear time.

    In the dsojevic list a ``*`` repeats the letter before it (``fu*c*k``: ``fuuuck``, ``fucck``; ``boo*b``:
    ``booob``), so a letter followed by the wildcard is that letter one or more times (``fu+c+k``); read as
    "any letters", ``sh*i*t`` matched ``shift`` and ``shirt`` and ``di*ck`` matched ``dipstick``. A
    wildcard after anything else keeps the "any letters" reading; with two or more of those, a failing match
    would backtrack over every way of splitting the word between them (quadratic or worse in its length), so
    when the literal parts between them are letters, each middle part is matched lazily inside an atomic
    group that is never re-entered (taking its leftmost occurrence is always right): ``x(?>[a-z]*?c)[a-z]*k``.
    """
    pattern = _REPEAT.sub(r"\1+", pattern)
    parts = pattern.split(_WILDCARD)
    if len(parts) < 3 or not all(p.isascii() and p.isalpha() and p.islower() for p in parts[1:-1]):
        return pattern
    middle = "".join(f"(?>[a-z]*?{p})" for p in parts[1:-1])
    return f"{parts[0]}{middle}{_WILDCARD}{parts[-1]}"


@dataclass
class Lexicon:
    """Obscene single words, obscene phrases (as token tuples) and wildcard patterns."""

    words: frozenset[str] = frozenset()
    phrases: frozenset[tuple[str, ...]] = frozenset()
    patterns: tuple[str, ...] = ()
    slurs: frozenset[str] = frozenset()
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._compile()

    def _compile(self) -> None:
        self._regex = re.compile("^(?:" + "|".join(map(_linear, self.patterns)) + ")$") if self.patterns else None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_regex"] = None
        state.pop("_stems_cache", None)
        state.pop("_starts_cache", None)
        state.pop("_initials_cache", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._compile()

    def is_obscene_word(self, token: str) -> bool:
        if token in self.words:
            return True
        return bool(self._regex and self._regex.match(token))

    def pattern_initials(self) -> frozenset[str] | None:
        """The first letters of the wildcard patterns (a word starting otherwise matches none of them), or
        None when a pattern does not start with a plain letter."""
        cached = self.__dict__.get("_initials_cache", False)
        if cached is False:
            heads = {p[:1] for p in self.patterns}
            cached = frozenset(heads) if all(h.isascii() and h.isalpha() for h in heads) else None
            self.__dict__["_initials_cache"] = cached
        return cached

    def matches(self, tokens: list[str]) -> list[tuple[int, int]]:
        """Token index ranges ``[i, j)`` of obscene words and phrases in a normalised token list.

        Single words match exactly; phrases also match on Porter stems, so the entry ``jerk off`` matches
        ``jerking off`` (stems are never used for single words: ``assess`` must not become ``ass``).
        """
        hits: list[tuple[int, int]] = []
        n = len(tokens)
        for i, tok in enumerate(tokens):
            if self.is_obscene_word(tok):
                hits.append((i, i + 1))
        if self.phrases and n > 1:
            stems = [_stem(t) for t in tokens]
            phrase_stems = self._phrase_stems()
            first_words, first_stems = self._phrase_starts()
            # only positions where some phrase can start (same hits, same order, far fewer tuples)
            starts = [i for i in range(n - 1) if tokens[i] in first_words or stems[i] in first_stems]
            for length in (2, 3, 4):
                for i in starts:
                    if i > n - length:
                        break
                    if tuple(tokens[i:i + length]) in self.phrases or tuple(stems[i:i + length]) in phrase_stems:
                        hits.append((i, i + length))
        return hits

    def _phrase_starts(self) -> tuple[frozenset[str], frozenset[str]]:
        """First words of the phrases, and first stems of their stemmed forms."""
        cached = self.__dict__.get("_starts_cache")
        if cached is None:
            cached = (frozenset(p[0] for p in self.phrases if p), frozenset(p[0] for p in self._phrase_stems() if p))
            self.__dict__["_starts_cache"] = cached
        return cached

    def _phrase_stems(self) -> frozenset[tuple[str, ...]]:
        cached = self.__dict__.get("_stems_cache")
        if cached is None:
            cached = frozenset(tuple(_stem(w) for w in p) for p in self.phrases)
            self.__dict__["_stems_cache"] = cached
        return cached

    @classmethod
    def from_files(cls, folder: Path) -> Lexicon:
        """Build from ``ldnoobw_en.txt`` and ``dsojevic_en.json`` (the ``profanity_wordlists`` corpus)."""
        terms: set[str] = set(CORE_TERMS)
        for line in (folder / "ldnoobw_en.txt").read_text(encoding="utf-8").splitlines():
            t = line.strip().lower()
            if t and not any(c.isdigit() for c in t):
                terms.add(t)
        patterns: set[str] = set()
        slurs: set[str] = set()
        for entry in json.loads((folder / "dsojevic_en.json").read_text(encoding="utf-8")):
            tags = set(entry.get("tags", ()))
            variants = [v.strip().lower() for v in entry["match"].split("|") if v.strip()]
            obscene = bool(tags & OBSCENE_TAGS) and int(entry.get("severity", 1)) >= 2
            for v in variants:
                if any(c.isdigit() for c in v):
                    continue
                if not obscene:
                    if tags & {"racial", "religious", "lgbtq"} and " " not in v and "*" not in v:
                        slurs.add(v)
                    continue
                if "*" in v:
                    if " " not in v and "-" not in v:
                        patterns.add(re.escape(v).replace(r"\*", "[a-z]*"))
                    continue
                terms.add(v.replace("-", " "))
        slurs |= {t for t in terms if t in LDNOOBW_SLURS}
        terms -= NEUTRAL_TERMS | MILD_TERMS | LDNOOBW_SLURS
        words = frozenset(t for t in terms if " " not in t)
        phrases = frozenset(tuple(t.split()) for t in terms if " " in t and len(t.split()) <= 4)
        return cls(words=words, phrases=phrases, patterns=tuple(sorted(patterns)), slurs=frozenset(slurs))
