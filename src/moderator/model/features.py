"""Text normalisation that survives evasion without creating false positives, with character offsets.

The pipeline, per comment:

1. **Fold** every character (:func:`fold`): Unicode NFKC (fullwidth and mathematical letters), the
   Unicode confusables table (Cyrillic ``с`` -> ``c``; from the maintained ``confusable-homoglyphs``
   package), transliteration of accented Latin letters (``unidecode``), removal of zero-width, format and
   control characters, lower case. Each output character remembers its offset in the original text.
2. **Tokenise** (:func:`tokenize`): URLs -> ``xxurl``, @mentions -> ``xxuser``, words (which may hold
   leetspeak or mask characters such as ``sh1t``, ``@ss``, ``f*ck``), emoji and punctuation runs.
3. **Resolve** obfuscation against a vocabulary (:class:`Normalizer`): runs of single letters joined
   (``f u c k``, ``b.u.l.l.s.h.i.t``), repeated letters squeezed (``fuuuck``), leetspeak mapped inside
   words (``m0r0n``), masked letters matched (``f*ck``). A rewrite is only accepted when it yields a
   known word (the training vocabulary or the obscenity lexicon), so ordinary words are never turned into
   profanity, and matching is on whole tokens, so ``Scunthorpe`` or ``cocktail`` never contain a match.
   Ambiguous words that are also names (``Dick`` in ``Dick Van Dyke``) become ``xxname`` when written as
   a name, and a few fixed innocent phrases (``tit for tat``, ``cum laude``) become single tokens.

The result is a list of :class:`Token` whose ``norm`` feeds the vectorizers and whose ``start``/``end``
point into the original text for explanations.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from moderator.model.lexicon import Lexicon

# --------------------------------------------------------------------------- 1. folding


@functools.cache
def _confusables() -> dict[str, str]:
    """Unicode confusable -> ASCII lookalike, from the confusable-homoglyphs package's copy of confusables.txt."""
    import confusable_homoglyphs

    path = Path(confusable_homoglyphs.__file__).with_name("confusables.json")
    table: dict[str, str] = {}
    for char, glyphs in json.loads(path.read_text(encoding="utf-8")).items():
        if char.isascii():
            continue
        for g in glyphs:
            c = g["c"]
            if c.isascii() and c.strip() and all(ch.isalnum() or ch in "@$!|'" for ch in c):
                table[char] = c.lower()
                break
    return table


@functools.lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    """The folded form of one original character ('' to drop it)."""
    if ch.isascii():
        if ch in "\n\r\t":
            return " "
        return ch.lower() if ch.isprintable() else ""
    cat = unicodedata.category(ch)
    if cat in ("Cf", "Cc", "Cs", "Co", "Mn", "Me"):  # zero-width, BOM, bidi marks, controls, combining marks
        return ""
    if cat == "Zs":
        return " "
    out = []
    for c in unicodedata.normalize("NFKC", ch):
        if c.isascii():
            out.append(c.lower())
            continue
        conf = _confusables().get(c)
        if conf is not None and c.isalpha():
            out.append(conf)
            continue
        if c.isalpha() and "LATIN" in unicodedata.name(c, ""):
            from unidecode import unidecode

            t = unidecode(c)
            out.append(t.lower() if t.isascii() and t.isalpha() else c.lower())
            continue
        if c in "\u2018\u2019\u02bc\u2032":
            out.append("'")
            continue
        out.append(c.lower())
    return "".join(out)


def fold(text: str) -> tuple[str, list[int]]:
    """Fold ``text``; return the folded string and, for each of its characters, the original offset."""
    if text.isascii() and text.isprintable():  # the common case: every character folds to its lower case
        return text.lower(), list(range(len(text)))
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        f = _fold_char(ch)
        for c in f:
            chars.append(c)
            origin.append(i)
    return "".join(chars), origin


# --------------------------------------------------------------------------- 2. tokenising

LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "9": "g", "@": "a", "$": "s", "!": "i",
        "|": "l", "+": "t", "8": "b"}
LEET_ALT = {"1": "l", "|": "i", "!": "l"}
_WORD_CHARS = "a-z0-9"
_SYM = r"@$*!|+"


@functools.cache
def _token_re() -> re.Pattern[str]:
    """The token regex; built on first use so that importing this module does not import nltk."""
    from nltk.tokenize.casual import EMOTICON_RE  # TweetTokenizer's emoticon table; no data download

    return re.compile(
        r"(?P<url>(?:https?://|www\.)\S+|\b[a-z0-9][a-z0-9-]*\.(?:com|net|org|ly|io|co|uk|tv|me|info|biz|us|ca|de)"
        r"\b(?:/\S*)?)"
        r"|(?P<user>(?<![a-z0-9])@[a-z0-9_]{2,30})"
        r"|(?P<emoticon>(?x:" + EMOTICON_RE.pattern + r"))"  # nltk's pattern is written in verbose mode
        r"|(?P<word>[" + _SYM + r"]*[" + _WORD_CHARS + r"](?:[" + _WORD_CHARS + _SYM + r"'-]*[" + _WORD_CHARS + r"])?"
        r"\**)"
        r"|(?P<punct>[!?]+)"
        r"|(?P<other>[^\sa-z0-9.,;:()\[\]{}\"'`~^_=<>/\\&#%-])",
    )


_SEP_RE = re.compile(r"^[\s.\-_*]{1,2}$")


@dataclass
class Token:
    norm: str  # normalised form used for features
    start: int  # offsets into the original text
    end: int
    kind: str  # word, url, user, emoticon, punct, other, name, phrase
    raw: str = ""  # the folded surface form before resolution

    def as_dict(self) -> dict[str, object]:
        return {"norm": self.norm, "start": self.start, "end": self.end, "kind": self.kind}


def tokenize(text: str) -> list[Token]:
    """Raw tokens of the folded text with spans in the original ``text`` (no vocabulary needed)."""
    folded, origin = fold(text)
    tokens: list[Token] = []
    for m in _token_re().finditer(folded):
        kind = m.lastgroup or "other"
        s, e = m.start(), m.end()
        surface = m.group(0)
        if kind == "word":
            # trailing '-' or "'" are punctuation, not part of the word
            while surface and surface[-1] in "'-":
                surface = surface[:-1]
                e -= 1
            if not surface:
                continue
        start, end = origin[s], origin[e - 1] + 1
        norm = {"url": "xxurl", "user": "xxuser"}.get(kind, surface)
        if kind == "punct":
            norm = surface[:3]
        tokens.append(Token(norm, start, end, kind, surface))
    return tokens


# --------------------------------------------------------------------------- 3. resolving

INNOCENT_PHRASES: dict[tuple[str, ...], str] = {
    ("tit", "for", "tat"): "titfortat",
    ("cum", "laude"): "cumlaude",
    ("magna", "cum", "laude"): "magnacumlaude",
    ("summa", "cum", "laude"): "summacumlaude",
    ("pussy", "willow"): "pussywillow",
    ("pussy", "willows"): "pussywillow",
    ("pussy", "cat"): "pussycat",
    ("moby", "dick"): "mobydick",
    ("blue", "tit"): "bluetit",
    ("blue", "tits"): "bluetit",
    ("great", "tit"): "greattit",
    ("coal", "tits"): "coaltit",
}
_PHRASE_STARTS = frozenset(k[0] for k in INNOCENT_PHRASES)
# Lexicon words that are also given names or surnames: written as a name, they are a name.
NAME_AMBIGUOUS = frozenset({"dick", "willy", "fanny", "johnson", "peter", "randy", "cox", "bush", "knob", "dong",
                            "woody", "rod", "beaver", "butts"})
_NOT_NAME_NEIGHBOURS = frozenset({"you", "your", "the", "a", "an", "what", "i", "he", "she", "they", "we", "it",
                                  "is", "are", "such", "big", "little", "stupid", "fucking", "total"})
_RUN_RE = re.compile(r"(.)\1+")


def _squeeze_variants(word: str, limit: int = 64) -> list[str]:
    """Every way of shortening each run of a repeated letter to one or two letters (bounded).

    The ways come in the order of ``itertools.product((1, 2), repeat=runs)`` and the first ``limit`` of
    them only vary the last ``log2(limit)`` runs, so all earlier runs are cut to one letter once, in a
    shared head: a word with many runs costs ``limit`` copies of it, not ``limit`` passes over its runs.
    """
    runs = [(m.start(), m.end(), m.group(1)) for m in _RUN_RE.finditer(word)]
    if not runs:
        return []
    free = min(len(runs), max(0, (limit - 1).bit_length()))
    fixed, varied = runs[:len(runs) - free], runs[len(runs) - free:]
    head, pos = [], 0
    for s, e, ch in fixed:
        head.append(word[pos:s])
        head.append(ch)
        pos = e
    head_text, head_end = "".join(head), pos
    variants: list[str] = []
    for choice in itertools.islice(itertools.product((1, 2), repeat=free), limit):
        parts, pos = [head_text], head_end
        for (s, e, ch), k in zip(varied, choice, strict=True):
            parts.append(word[pos:s])
            parts.append(ch * min(k, e - s))
            pos = e
        parts.append(word[pos:])
        v = "".join(parts)
        if v != word:
            variants.append(v)
    return variants


def _leet_variants(word: str, limit: int = 16) -> list[str]:
    """Leetspeak readings of a word holding digits or symbols (``sh1t`` -> ``shit``, ``5h!t`` -> ``shit``)."""
    options = []
    for ch in word:
        if ch in LEET:
            opts = [LEET[ch]] + ([LEET_ALT[ch]] if ch in LEET_ALT else [])
            options.append(opts)
        else:
            options.append([ch])
    return ["".join(p) for p in itertools.islice(itertools.product(*options), limit)]


_SPELLING = (("ph", "f"), ("v", "u"), ("kk", "ck"), ("k", "ck"), ("z", "s"), ("u", "oo"), ("x", "ck"))

def _spelling_variants(word: str) -> list[str]:
    """Phonetic respellings used to dodge filters (``phuck``, ``fvck``, ``fuk``); only kept if they hit the lexicon."""
    out = []
    for a, b in _SPELLING:
        if a in word:
            v = word.replace(a, b)
            out.append(v)
            out.extend(_squeeze_variants(v))
    return out


# Shapes of words, to tell cheaply that a word can never resolve to a known word (and spare resolving it).
# A shape maps each character to a class and then cuts every run of one class to one character, so that
# squeezing (``fuuuck``) never changes a shape. The *skeleton* also merges what leetspeak and the respellings
# above cannot tell apart ('0', 'o', 'u', 'v' -> 'o'; 'c', 'k', 'x' -> 'k'; 'p' -> 'f' and an 'h' after an
# 'f' dropped, so 'ph' -> 'f'): every rewrite :meth:`Normalizer.resolve` tries keeps it. The *run shape* is
# the word with its runs cut: squeezing keeps it, and a leetspeak reading of the word has one of the run
# shapes of the word read with each leetspeak character as itself or as one of its letters.
_SKELETON = str.maketrans({
    **dict.fromkeys("0uv", "o"), **dict.fromkeys("1!|l", "i"), "3": "e", **dict.fromkeys("4@", "a"),
    **dict.fromkeys("5$z", "s"), **dict.fromkeys("7+", "t"), "9": "g", "8": "b", **dict.fromkeys("cx", "k"),
    "p": "f",
})
# the letters each leetspeak character may be read as (no known word holds one of them as itself)
_READINGS = {c: tuple({LEET[c], LEET_ALT.get(c, LEET[c])}) for c in LEET}


def _shape_step(shape: str, ch: str, table: dict[int, str], drop_fh: bool = False) -> str:
    """The shape of ``word + ch`` given ``shape``, the shape of ``word``, for one character ``ch``."""
    m = ch.translate(table)
    last = shape[-1:]
    return shape if m == last or (drop_fh and m == "h" and last == "f") else shape + m


def _shape(word: str, table: dict[int, str], drop_fh: bool = False) -> str:
    out: list[str] = []
    last = ""
    for m in word.translate(table):
        if m != last and not (drop_fh and m == "h" and last == "f"):
            out.append(m)
            last = m
    return "".join(out)


def _run_shape(word: str) -> str:
    """``word`` with every run of one character cut to one (its shape with no classes)."""
    return "".join(ch for ch, _ in itertools.groupby(word))


def skeleton(word: str) -> str:
    """The skeleton of ``word`` (``phuuuck``, ``fvck`` and ``fuk`` -> ``fok``); linear in its length."""
    return _shape(word, _SKELETON, drop_fh=True)


@dataclass(frozen=True)
class _Shapes:
    """Shapes of the known words (vocabulary and lexicon), with every prefix of them."""

    lexicon: frozenset[str]  # skeletons of the lexicon's words
    lexicon_prefixes: frozenset[str]
    runs: frozenset[str]  # run shapes of the known words
    runs_prefixes: frozenset[str]

    @classmethod
    def of(cls, known: Iterable[str], lexicon: Iterable[str]) -> _Shapes:
        def prefixes(shapes: frozenset[str]) -> frozenset[str]:
            return frozenset(x[:i] for x in shapes for i in range(len(x) + 1))

        lex = frozenset(skeleton(w) for w in lexicon)
        runs = frozenset(_run_shape(w) for w in known)
        return cls(lex, prefixes(lex), runs, prefixes(runs))


class Normalizer:
    """Turns raw text into resolved tokens, using a vocabulary learned from the training texts.

    ``fit`` learns the vocabulary (words seen at least ``min_count`` times in plain spelling) and takes
    the obscenity lexicon; ``tokens(text)`` returns resolved :class:`Token` s; ``normalize(text)``
    the space-joined normalised text the vectorizers see.
    """

    def __init__(self, lexicon: Lexicon | None = None, min_count: int = 3) -> None:
        self.lexicon = lexicon or Lexicon()
        self.min_count = min_count
        self.vocabulary_: frozenset[str] = frozenset()
        self._by_shape: dict[tuple[int, str], list[str]] = {}
        self._resolved: dict[str, str] = {}  # resolve()'s cache: per instance, dies with the model
        self._shapes_cache: _Shapes | None = None

    # -- fitting
    def fit(self, texts: Iterable[str]) -> Normalizer:
        counts: Counter[str] = Counter()
        for text in texts:
            for tok in tokenize(text):
                if tok.kind == "word" and tok.norm.replace("'", "").isalpha():
                    counts[tok.norm] += 1
        vocab = {w for w, c in counts.items() if c >= self.min_count}
        vocab |= set(self.lexicon.words)
        for phrase in self.lexicon.phrases:
            vocab |= set(phrase)
        self.vocabulary_ = frozenset(vocab)
        self._index()
        return self

    def _index(self) -> None:
        self._resolved = {}  # answers depend on the vocabulary
        self._shapes_cache = None
        by_shape: dict[tuple[int, str], list[str]] = {}
        for w in sorted(self.lexicon.words) + sorted(self.vocabulary_ - self.lexicon.words):
            by_shape.setdefault((len(w), w[0]), []).append(w)
        self._by_shape = by_shape

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_by_shape"] = {}
        state.pop("_resolved", None)
        state.pop("_shapes_cache", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._index()

    def _shapes(self) -> _Shapes:
        shapes = self._shapes_cache
        if shapes is None:
            shapes = self._shapes_cache = _Shapes.of(self.vocabulary_ | self.lexicon.words, self.lexicon.words)
        return shapes

    # -- resolution of one word
    def _known(self, w: str) -> bool:
        return w in self.vocabulary_ or self.lexicon.is_obscene_word(w)

    def _best(self, candidates: Iterable[str]) -> str | None:
        """The first candidate that is an obscene word, else a known word, else an obscene pattern match."""
        cands = list(candidates)
        for c in cands:
            if c in self.lexicon.words:
                return c
        for c in cands:
            if c in self.vocabulary_:
                return c
        for c in cands:
            if self.lexicon.is_obscene_word(c):
                return c
        return None

    def _masked(self, word: str) -> str | None:
        """Match ``f*ck``/``f**k``/``a**hole`` against known words of the same length (lexicon first)."""
        core = word
        if not core or core[0] == "*":
            return None
        pattern = re.compile("^" + "".join("[a-z]" if c == "*" else re.escape(c) for c in core) + "$")
        candidates = self._by_shape.get((len(core), core[0]), [])
        lex = [w for w in candidates if w in self.lexicon.words and pattern.match(w)]
        if lex:
            return lex[0]
        return None

    def _squeezes_may_match(self, word: str) -> bool:
        """False when no squeezing of ``word`` (nor ``word``) can be a known word or match a lexicon pattern:
        squeezing keeps the run shape and the first letter. Spares building and testing its variants."""
        initials = self.lexicon.pattern_initials()
        return (_run_shape(word) in self._shapes().runs
                or initials is None or word[:1] in initials)

    RESOLVE_CACHE_SIZE = 100_000
    RESOLVE_CACHE_WORD = 64  # characters; longer words are rare, and resolving one is linear in its length

    def resolve(self, word: str) -> str:
        """The normalised form of one word-like token (memoised per instance).

        The cache is a plain dict on the instance, not ``functools.lru_cache`` on the method: a method-level
        cache is shared by the class and holds ``self`` in its keys, so every Normalizer a hot-reloaded model
        left behind stayed alive. Bounded by clearing it when full (a worker's vocabulary refills it quickly),
        and words longer than :attr:`RESOLVE_CACHE_WORD` are not kept, so its memory is bounded too.
        """
        cache = self._resolved
        found = cache.get(word)
        if found is None:
            found = self._resolve(word)
            if len(word) <= self.RESOLVE_CACHE_WORD:
                if len(cache) >= self.RESOLVE_CACHE_SIZE:
                    cache.clear()
                cache[word] = found
        return found

    def _resolve(self, word: str) -> str:
        if word in self.lexicon.words:
            return word
        respelled = None
        if skeleton(word) in self._shapes().lexicon:  # respelling keeps the skeleton: else none can match
            # a known word is read as a respelling only without squeezing: 'fvck', not 'cook' -> 'coock' -> 'cock'
            variants = ([word.replace(x, y) for x, y in _SPELLING if x in word] if word in self.vocabulary_
                        else _spelling_variants(word))
            respelled = next((v for v in variants if v in self.lexicon.words), None)
        if respelled and word.isalpha():  # 'fvck', 'phuck': common enough to be in the vocabulary, still evasion
            return respelled
        if word in self.vocabulary_:
            return word
        plain = word.replace("'", "")
        if "-" in plain:
            parts = plain.split("-")
            if len(parts) >= 3 and all(len(p) == 1 for p in parts):  # f-u-c-k
                return self.resolve("".join(parts))
            return word
        if plain.isalpha():
            if plain in self.vocabulary_ or plain in self.lexicon.words:
                return plain
            best = self._best(_squeeze_variants(word)) if self._squeezes_may_match(word) else None
            if best:
                return best
            if self.lexicon.is_obscene_word(plain):
                return plain
            return _RUN_RE.sub(lambda m: m.group(1) * 2, word) if len(word) > 2 else word
        if plain.isdigit():
            return word
        # digits or symbols inside: leetspeak and masks
        has_mask = "*" in word
        for variant in _leet_variants(word.replace("*", "\0")):
            variant = variant.replace("\0", "*")
            if has_mask:
                m = self._masked(variant)
                if m:
                    return m
                continue
            if not self._squeezes_may_match(variant):
                continue
            best = self._best([variant, *_squeeze_variants(variant)])
            if best:
                return best
        if has_mask:
            stripped = word.rstrip("*")
            if stripped != word and stripped.isalpha():
                m = self._masked(stripped + "*" * (len(word) - len(stripped)))
                if m:
                    return m
        return word

    # -- whole texts
    def tokens(self, text: str) -> list[Token]:
        raw = tokenize(text)
        raw = self._join_spelled(text, raw)
        out: list[Token] = []
        for tok in raw:
            if tok.kind == "user":
                # '@ss' is leetspeak, not a mention
                handle = self.resolve(tok.raw)
                if handle != tok.raw and self.lexicon.is_obscene_word(handle):
                    out.append(Token(handle, tok.start, tok.end, "word", tok.raw))
                    continue
                out.append(tok)
                continue
            if tok.kind != "word":
                out.append(tok)
                continue
            norm = self.resolve(tok.norm)
            if norm == tok.norm and any(c in _SYM for c in norm):
                # unresolved symbols: split into the plain parts ('wow!great' -> 'wow', 'great')
                for m in re.finditer(r"[a-z0-9']+", tok.raw):
                    part = self.resolve(m.group(0))
                    s = tok.start + m.start() if tok.end - tok.start == len(tok.raw) else tok.start
                    e = tok.start + m.end() if tok.end - tok.start == len(tok.raw) else tok.end
                    out.append(Token(part, s, e, "word", m.group(0)))
                continue
            out.append(Token(norm, tok.start, tok.end, "word", tok.raw))
        out = self._join_phrases(out)
        self._mark_names(text, out)
        return out

    # A spelled-out word is at most this many single characters ('f u u u u c k' counts 7): twice the longest
    # known word, so that repeated letters still fit, and constant, so that a text of nothing but single
    # characters costs a bounded amount of work per character.
    MAX_SPELLED = 64
    # ... and at most this many of its prefixes that could be a known word are resolved (longest first).
    MAX_SPELLED_TRIES = 4
    # ... and a prefix with more leetspeak readings than this still beginning a known word ends the search
    MAX_SPELLED_READINGS = 32

    def _join_spelled(self, text: str, toks: list[Token]) -> list[Token]:
        """Join runs of >= 3 single characters (``f u c k``, ``b.u.l.l.$.h.1.t``) when they spell a known word.

        The run may start one letter late (``a b i t c h`` -> ``a`` + ``bitch``) and stop early
        (``f u c k y o u`` -> ``fuck`` + ``y o u``); the longest known word wins.

        Linear in the number of tokens: where each run ends is computed once (from the right), the longest
        word starting at a token is looked for once (memoised), only within its first :attr:`MAX_SPELLED`
        characters, while their shapes (``_Shapes``) still begin a known word's, and only the few
        prefixes whose shapes are a known word's are resolved.
        """
        n = len(toks)
        if n < 3:
            return toks
        is_single = [len(t.raw) == 1 and (t.kind == "word" or t.raw in LEET) for t in toks]
        run_end = list(range(n))  # the last token of the run of single characters that starts at each token
        for i in range(n - 2, -1, -1):
            if is_single[i] and is_single[i + 1] and _SEP_RE.match(text[toks[i].end:toks[i + 1].start] or " "):
                run_end[i] = run_end[i + 1]
        memo: dict[int, tuple[int, str, str] | None] = {}

        def longest(start: int) -> tuple[int, str, str] | None:
            """(last token, resolved, spelled) of the longest known word spelled from ``start``, if any."""
            if start in memo:
                return memo[start]
            shapes = self._shapes()
            skel, alpha = "", True
            runs = {""}  # run shapes of the readings of the prefix that begin a known word's run shape
            viable = []
            for k in range(start, min(run_end[start], start + self.MAX_SPELLED - 1) + 1):
                ch = toks[k].raw
                skel = _shape_step(skel, ch, _SKELETON, drop_fh=True)
                readings = _READINGS.get(ch, (ch,))
                runs = {r for shape in runs for c in readings
                        if (r := shape if shape[-1:] == c else shape + c) in shapes.runs_prefixes}
                alpha = alpha and ch.isalpha()
                in_lexicon = alpha and skel in shapes.lexicon_prefixes  # respellings are of letters only
                if not (in_lexicon or runs) or len(runs) > self.MAX_SPELLED_READINGS:
                    break  # no longer prefix can resolve to a known word either (or too many readings do)
                # a respelling may reach a lexicon word; squeezing (after leetspeak) must reach a known word
                if k >= start + 2 and ((in_lexicon and skel in shapes.lexicon) or not runs.isdisjoint(shapes.runs)):
                    viable.append(k)
            found = None
            for k in reversed(viable[-self.MAX_SPELLED_TRIES:]):
                word = "".join(t.raw for t in toks[start:k + 1])
                resolved = self.resolve(word)
                if resolved in self.vocabulary_ or resolved in self.lexicon.words:
                    found = (k, resolved, word)
                    break
            memo[start] = found
            return found

        out: list[Token] = []
        i = 0
        while i < n:
            found = None
            if run_end[i] - i + 1 >= 3:
                for start in (i, i + 1):
                    hit = longest(start)
                    if hit is not None and (found is None or len(hit[2]) > len(found[3])):
                        found = (start, *hit)
            if found:
                start, k, resolved, word = found
                out.extend(toks[i:start])
                out.append(Token(resolved, toks[start].start, toks[k].end, "word", word))
                i = k + 1
                continue
            out.append(toks[i])
            i += 1
        return out

    @staticmethod
    def _mark_names(text: str, toks: list[Token]) -> None:
        for i, tok in enumerate(toks):
            if tok.kind != "word" or tok.norm not in NAME_AMBIGUOUS:
                continue
            surface = text[tok.start:tok.end]
            if not (surface[:1].isupper() and surface[1:].islower()):
                continue
            neighbours = [toks[k] for k in (i - 1, i + 1) if 0 <= k < len(toks)]
            for nb in neighbours:
                s = text[nb.start:nb.end]
                if ((nb.kind == "word" and s[:1].isupper() and not s.isupper()) or (len(s) == 1 and s.isupper())) \
                        and nb.norm not in _NOT_NAME_NEIGHBOURS:
                    tok.norm, tok.kind = "xxname", "name"
                    break

    @staticmethod
    def _join_phrases(toks: list[Token]) -> list[Token]:
        out: list[Token] = []
        i = 0
        while i < len(toks):
            if toks[i].norm not in _PHRASE_STARTS:  # (the common case) no phrase starts here
                out.append(toks[i])
                i += 1
                continue
            for length in (3, 2):
                key = tuple(t.norm for t in toks[i:i + length])
                if len(key) == length and key in INNOCENT_PHRASES:
                    out.append(Token(INNOCENT_PHRASES[key], toks[i].start, toks[i + length - 1].end, "phrase"))
                    i += length
                    break
            else:
                out.append(toks[i])
                i += 1
        return out

    def normalize(self, text: str) -> str:
        return " ".join(t.norm for t in self.tokens(text))

    def normalize_many(self, texts: Iterable[str]) -> list[str]:
        return [self.normalize(t) for t in texts]
