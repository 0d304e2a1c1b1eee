"""Duplicate, near-duplicate and flood detection with the in-memory index (no services needed).

Every text here is written for these tests; nothing comes from the corpora.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import replace
from datetime import timedelta

import pytest

from helpers import T0, FakeClock
from moderator.config import Settings
from moderator.dedup import normalise as norm_mod
from moderator.dedup import settings as settings_mod
from moderator.dedup import signer as signer_mod
from moderator.dedup.detector import Detector, build_detector
from moderator.dedup.memory_index import MemoryIndex
from moderator.dedup.normalise import fingerprint, jaccard, normalise, shingles
from moderator.dedup.ratelimit import RateLimiter, parse_rate
from moderator.dedup.settings import DedupSettings
from moderator.dedup.types import DuplicateFinding

BASE = "The council should publish the full budget before the vote on Thursday, not after it."

# (kind, perturbed text) — each one a repeat of BASE by its author
PERTURBATIONS = [
    ("exact", BASE),
    ("case", BASE.upper()),
    ("whitespace", "  The council   should publish the full\nbudget before the vote on Thursday,\tnot after it. "),
    ("punctuation", "The council should publish the full budget before the vote on Thursday not after it!!!"),
    ("emoji", "The council should publish the full budget 📊 before the vote on Thursday, not after it 🙄🙄"),
    ("typo", "The councel should publish the full budget before the vote on Thursday, not after it."),
    ("typo fixed + word added", "The council really should publish the full budget before the vote on Thursday, "
                                "not after it."),
    ("word deleted", "The council should publish the budget before the vote on Thursday, not after it."),
    ("words swapped", "The council should publish the full budget before the Thursday vote, not after it."),
    ("homoglyphs", "Тhе cоuncil should publish thе full budgеt bеfore the vote on Thursday, not after it."),
    ("full-width", "Ｔｈｅ ｃｏｕｎｃｉｌ should publish the full budget before the vote on Thursday, not after it."),
    ("accents", "The cóuncil should publísh the full budget before the vote on Thursday, not after it."),
]

PARAPHRASES = [
    "Releasing the entire spending plan ahead of Thursday's ballot is what the councillors owe us.",
    "Why is the town hall voting on money it has not shown anyone yet? Show us the numbers first.",
    "I disagree, the budget details can wait until after the vote, the committee already reviewed them.",
]

COMMON_REPLIES = ["Thanks!", "+1", "lol", "Great article", "This.", "Agreed!!", "So true", "Well said."]


def make(**overrides) -> Detector:
    return Detector(replace(DedupSettings(rate_limit=""), **overrides))


@pytest.fixture
def detector() -> Detector:
    return make()


# ------------------------------------------------------------------------------------------------
# pure functions


def test_normalise_folds_case_space_punctuation_emoji_homoglyphs():
    assert normalise("  Hello,\n\tWORLD!!! 😀 ") == "hello world"
    assert normalise("Неllо wоrld") == "hello world"  # Cyrillic Н, е, о
    assert normalise("ｈｅｌｌｏ ｗｏｒｌｄ") == "hello world"  # full-width
    assert normalise("Ça va, José?") == "ca va jose"
    assert normalise("🙂🙂") == ""


def test_fingerprint_ignores_spacing_only():
    assert fingerprint(normalise("good  morning")) == fingerprint(normalise("good-morning!"))
    assert fingerprint(normalise("good morning")) != fingerprint(normalise("good evening"))


def test_shingles_and_exact_jaccard():
    a, b = shingles("abcdef", 4), shingles("abcdxf", 4)
    assert a.tolist() == sorted(set(a.tolist())) and a.size == 3  # abcd bcde cdef
    assert jaccard(a, a) == 1.0
    assert jaccard(a, b) == pytest.approx(1 / 5)  # only "abcd" shared
    assert shingles("ab", 4).size == 1  # shorter than k: one shingle


def test_shingle_codes_are_exact_base37_numbers():
    assert shingles("ab c", 4).tolist() == [((11 * 37 + 12) * 37 + 0) * 37 + 13]  # a=11 b=12 ' '=0 c=13
    assert len(set(shingles("abcdefghij klmnop", 6).tolist())) == 12
    with pytest.raises(ValueError):
        shingles("abcdefgh", 7)


def test_fast_normalise_shingles_jaccard_equal_the_library_definitions():
    """normalise, shingles and jaccard avoid unidecode's per-character loop, np.unique and np.intersect1d
    for speed; they must give exactly what those give."""
    import random

    import numpy as np
    from unidecode import unidecode

    rng = random.Random(7)
    alphabet = [*"abcxyz 019.,!'", "Ｈ", "ｅ", "а", "е", "о", "Н", "é", "ß", "Æ", "’", "😀", "❤️", "中", "Ж", "ﬁ"]
    alphabet.append("\u200b")
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        reference = unidecode(unicodedata.normalize("NFKC", text).translate(norm_mod._confusables_table()))
        assert normalise(text) == norm_mod._NON_ALNUM.sub(" ", reference.casefold()).strip()
        norm = normalise(text)
        for k in (1, 3, 4, 6):
            digits = norm_mod._DIGIT[np.frombuffer(norm.encode(), dtype=np.uint8)]
            if digits.size > k:
                n = digits.size - k + 1
                codes = sum(digits[j : j + n] * np.uint32(37 ** (k - 1 - j)) for j in range(k))
                assert shingles(norm, k).tolist() == np.unique(codes).tolist()
        a, b = shingles(norm), shingles(normalise(text[::-1] + text[:20]))
        inter = np.intersect1d(a, b, assume_unique=True).size
        assert jaccard(a, b) == inter / (a.size + b.size - inter)


def test_fold_table_growth_is_bounded(monkeypatch):
    monkeypatch.setattr(norm_mod, "_FOLD_TABLE_GROWTH", 0)  # no room left: unidecode does the rest
    size = len(norm_mod._fold_table())
    assert normalise("Ｈello wörld ✓ 文") == "hello world wen"
    assert len(norm_mod._fold_table()) == size


@pytest.mark.parametrize("text", ["", "ab", "a much longer text about the weather " * 20, BASE])
def test_vectorised_minhash_equals_datasketch_update_batch(text):
    signer = signer_mod.Signer(num_perm=64)
    assert signer._fast
    codes = shingles(normalise(text))
    assert signer.minhash_values(codes).tolist() == signer.minhash(codes).hashvalues.tolist()


def test_long_texts_minhash_a_prefix_but_verify_the_whole_text(detector):
    assert signer_mod.MINHASH_CHARS < 1500
    words = " ".join(f"word{i}" for i in range(400))  # ~3,000 characters, one distinct text
    detector.record(1, words, "alice", T0)
    assert detector.check(words.replace("word399", "word399 and more"), "alice", T0).of == 1
    # the same first 1,000 characters, then something else entirely: candidates, but not a match
    other = words[:1200] + " " + " ".join(f"other{i}" for i in range(400))
    assert detector.check(other, "alice", T0) is None


def test_lsh_params_fit_num_perm():
    bands, rows = signer_mod.lsh_params(0.5, 64)
    assert bands >= 2 and bands * rows <= 64


# ------------------------------------------------------------------------------------------------
# same author


@pytest.mark.parametrize(("kind", "text"), PERTURBATIONS, ids=[k for k, _ in PERTURBATIONS])
def test_same_author_repeat_is_found(detector, kind, text):
    detector.record(7, BASE, "alice", T0)
    finding = detector.check(text, "alice", T0 + timedelta(minutes=5))
    assert finding is not None, kind
    assert finding.kind == "same_author" and finding.of == 7 and finding.is_duplicate
    assert detector.settings.threshold <= finding.similarity <= 1.0
    if kind in {"exact", "case", "whitespace", "punctuation", "emoji", "homoglyphs", "full-width"}:
        assert finding.similarity == 1.0


def test_same_author_points_at_the_most_similar_earlier_comment(detector):
    detector.record(1, BASE.replace("Thursday", "Friday").replace("full", "whole"), "alice", T0)
    detector.record(2, BASE, "alice", T0 + timedelta(minutes=1))
    finding = detector.check(BASE + "!", "alice", T0 + timedelta(minutes=2))
    assert finding == DuplicateFinding(True, "same_author", 2, 1.0)
    assert finding.to_dict() == {"is_duplicate": True, "kind": "same_author", "of": 2, "similarity": 1.0}


def test_a_signature_passed_to_check_and_record_signs_the_text_once(detector, monkeypatch):
    """A submission signs its text once and hands the signature to check() and record(); without one, each
    call signs the text it is given."""
    calls: list[str] = []
    sign = detector.signer.sign
    monkeypatch.setattr(detector.signer, "sign", lambda text: calls.append(text) or sign(text))
    other = BASE.replace("Thursday", "Friday")
    sig = detector.sign(BASE)
    assert detector.check(BASE, "alice", T0, signature=sig) is None
    detector.record(1, BASE, "alice", T0, signature=sig)
    assert calls == [BASE]
    detector.record(2, other, "bob", T0)
    assert calls == [BASE, other]
    detector.record(3, BASE, "carol", T0)
    assert calls == [BASE, other, BASE]
    assert detector.size() == 3
    finding = detector.check(BASE + "!", "alice", T0 + timedelta(minutes=1))  # bob and carol posted it too
    assert (finding.kind, finding.of) == ("cross_author_flood", 2)


def test_an_empty_detector_is_truthy(detector):
    assert detector.size() == 0
    assert bool(detector)  # `app.extensions.get("dedup") or ...` must not rebuild an empty detector


def test_another_author_once_is_not_a_duplicate(detector):
    detector.record(1, BASE, "alice", T0)
    assert detector.check(BASE, "bob", T0 + timedelta(minutes=1)) is None


@pytest.mark.parametrize("text", PARAPHRASES)
def test_paraphrase_on_the_same_topic_is_not_a_duplicate(detector, text):
    detector.record(1, BASE, "alice", T0)
    detector.record(2, BASE, "bob", T0)
    assert detector.check(text, "carol", T0 + timedelta(minutes=1)) is None
    assert detector.check(text, "alice", T0 + timedelta(minutes=1)) is None


@pytest.mark.parametrize("quote", [f"> {BASE}\n\n", f"  >{BASE}\r\n", f"&gt; {BASE}\n",
                                   f"> {BASE[:40]}\n> {BASE[40:]}\n"])
def test_a_reply_quoting_a_comment_is_not_its_duplicate(detector, quote):
    detector.record(1, BASE, "alice", T0)
    later = T0 + timedelta(minutes=1)
    # without the quote stripped, this reply has Jaccard ~0.8 with BASE
    reply = quote + "Agreed, and the minutes too."
    assert jaccard(shingles(normalise(reply)), shingles(normalise(BASE))) >= 0.6
    assert detector.check(reply, "alice", later) is None
    # the answer itself still counts: the same reply posted again is a repeat
    detector.record(2, reply, "alice", later)
    assert detector.check(quote + "Agreed, and the minutes too!!", "alice", later).of == 2


def test_a_comment_that_is_only_a_quote_is_still_compared_whole(detector):
    detector.record(1, BASE, "alice", T0)
    assert detector.check(f"> {BASE}", "alice", T0 + timedelta(minutes=1)).of == 1
    assert norm_mod.strip_quoted("a > b, and b > c") == "a > b, and b > c"  # not a quote: mid-line


def test_short_common_replies_are_never_flagged(detector):
    for i, reply in enumerate(COMMON_REPLIES * 3):
        author = f"user{i}"
        assert detector.check(reply, author, T0) is None
        detector.record(i + 1, reply, author, T0)
        assert detector.check(reply, author, T0) is None  # not even a repeat by the same author
    assert detector.size() == 0  # too short to be indexed at all


# ------------------------------------------------------------------------------------------------
# cross-author flood

SPAM = "Earn $500 a day from home!!! Visit cash-fast dot example and enter code FREE500 today"


def test_cross_author_flood_on_the_third_distinct_author(detector):
    assert detector.settings.flood_authors == 3
    detector.record(10, SPAM, "bot1", T0)
    assert detector.check(SPAM.lower(), "bot2", T0 + timedelta(seconds=30)) is None
    detector.record(11, SPAM.lower(), "bot2", T0 + timedelta(seconds=30))
    near = SPAM.replace("today", "now 💰").replace("Earn", "Make")
    finding = detector.check(near, "bot3", T0 + timedelta(minutes=1))
    assert finding is not None and finding.kind == "cross_author_flood"
    assert finding.of == 10  # the first comment of the flood
    assert 0.5 <= finding.similarity < 1.0


def test_flood_count_is_configurable_and_counts_distinct_authors():
    d = make(flood_authors=2)
    d.record(1, SPAM, "bot1", T0)
    d.record(2, SPAM, "bot1", T0)  # the same author twice is still one author
    finding = d.check(SPAM, "bot2", T0)
    assert finding is not None and finding.kind == "cross_author_flood" and finding.of == 1
    d3 = make(flood_authors=3)
    d3.record(1, SPAM, "bot1", T0)
    d3.record(2, SPAM, "bot1", T0)
    assert d3.check(SPAM, "bot2", T0) is None


def test_flood_needs_flood_min_chars():
    d = make(flood_authors=2)
    text = "Totally agree with you on this one"  # 28 letters: a repeat, but too short for a flood
    d.record(1, text, "a", T0)
    assert d.check(text, "b", T0) is None
    assert d.check(text, "a", T0).kind == "same_author"


def test_flood_window_is_separate_from_the_repeat_window():
    d = make(flood_authors=2, flood_window_seconds=600)
    d.record(1, SPAM, "bot1", T0)
    assert d.check(SPAM, "bot2", T0 + timedelta(seconds=599)).kind == "cross_author_flood"
    assert d.check(SPAM, "bot2", T0 + timedelta(seconds=601)) is None
    assert d.check(SPAM, "bot1", T0 + timedelta(seconds=601)).kind == "same_author"


# ------------------------------------------------------------------------------------------------
# windows, restart, bounded memory


def test_window_expiry_with_injected_clock(detector):
    detector.record(1, BASE, "alice", T0)
    assert detector.check(BASE, "alice", T0 + timedelta(hours=23, minutes=59)) is not None
    assert detector.check(BASE, "alice", T0 + timedelta(hours=24, seconds=1)) is None


def test_window_is_configurable():
    d = make(window_seconds=60, flood_window_seconds=60)
    d.record(1, BASE, "alice", T0)
    assert d.check(BASE, "alice", T0 + timedelta(seconds=59)) is not None
    assert d.check(BASE, "alice", T0 + timedelta(seconds=61)) is None


def test_rebuild_restores_the_index_after_a_restart():
    rows = [
        (1, BASE, "alice", T0 - timedelta(days=3)),  # older than the window: skipped
        (2, SPAM, "bot1", T0 - timedelta(minutes=10)),
        (3, SPAM, "bot2", T0 - timedelta(minutes=5)),
        (4, "Thanks!", "carol", T0 - timedelta(minutes=1)),  # too short: skipped
        (5, PARAPHRASES[0], "dave", T0 - timedelta(hours=2)),
    ]
    before = make()
    for row in rows:
        before.record(*row)
    restarted = make()  # a new process: empty until rebuilt
    assert restarted.check(PARAPHRASES[0], "dave", T0) is None
    assert restarted.rebuild(iter(rows), now=T0) == 3
    assert restarted.size() == 3
    assert restarted.check(PARAPHRASES[0], "dave", T0) == DuplicateFinding(True, "same_author", 5, 1.0)
    assert restarted.check(SPAM, "bot3", T0).kind == "cross_author_flood"
    assert restarted.check(BASE, "alice", T0) is None
    assert restarted.rebuild([], now=T0) == 0 and restarted.size() == 0  # replaced, not merged


def test_rebuild_accepts_naive_utc_datetimes():
    d = make()
    naive = T0.replace(tzinfo=None)
    assert d.rebuild([(1, BASE, "alice", naive)], now=T0) == 1
    assert d.check(BASE, "alice", T0 + timedelta(hours=1)).of == 1


def test_index_is_bounded_after_expiry():
    d = make(window_seconds=3_600, flood_window_seconds=600)
    for i in range(500):
        d.record(i, f"comment number {i} about the bridge repairs and the traffic they cause", f"u{i}",
                 T0 + timedelta(seconds=i))
    assert d.size() == 500
    index = d.index
    assert isinstance(index, MemoryIndex)
    assert len(index._exact) == 500 and len(index._bands) > 0
    later = T0 + timedelta(hours=2)
    d.record(10_000, BASE, "alice", later)  # adding evicts everything older than the window
    assert d.size() == 1
    assert len(index._exact) == 1 and len(index._bands) <= d.signer.bands and len(index._heap) == 1
    assert d.evict(later + timedelta(hours=2)) == 1 and d.size() == 0


def test_index_rows_are_not_tracked_by_the_garbage_collector(detector):
    """A million tracked objects make every full collection a pause of hundreds of milliseconds."""
    import gc

    for i in range(50):
        detector.record(i, f"{BASE} number {i}", "alice", T0)
    gc.collect()
    rows = list(detector.index._entries.values())
    assert len(rows) == 50 and not any(gc.is_tracked(row) for row in rows)
    assert detector.check(f"{BASE} number 7", "alice", T0).of == 7  # and look-ups still see whole entries


def test_max_entries_caps_the_index():
    d = make(max_entries=50)
    for i in range(120):
        d.record(i, f"note {i}: the library opens late on Sundays from now on", "u", T0 + timedelta(seconds=i))
    assert d.size() == 50
    assert d.check("note 119: the library opens late on Sundays from now on", "u", T0).of == 119


def test_re_recording_an_id_replaces_its_text(detector):
    detector.record(1, BASE, "alice", T0)
    detector.record(1, SPAM, "alice", T0)
    assert detector.size() == 1
    assert detector.check(BASE, "alice", T0) is None
    assert detector.check(SPAM, "alice", T0).of == 1


def test_detector_is_thread_safe():
    d = make(flood_authors=100)  # the workers' texts are near-duplicates of each other on purpose
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(60):
                cid = worker * 1000 + i
                text = f"worker {worker} says item {i} is on the agenda for the meeting tonight"
                d.check(text, f"w{worker}", T0)
                d.record(cid, text, f"w{worker}", T0)
                assert d.check(text, f"w{worker}", T0).of == cid
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert d.size() == 360


# ------------------------------------------------------------------------------------------------
# rate limit


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """The limits library reads ``time.time()``; give its storages (and Retry-After) a fake clock."""
    import limits.storage.memory
    import limits.storage.redis

    fake = FakeClock()
    monkeypatch.setattr(limits.storage.memory, "time", fake)
    monkeypatch.setattr(limits.storage.redis, "time", fake)
    monkeypatch.setattr(RateLimiter, "clock", staticmethod(fake.time))
    return fake


def test_rate_limit_allows_then_denies_then_allows_after_the_window(clock):
    d = Detector(DedupSettings(rate_limit="3/60"))
    author = "rapid"
    assert [d.rate_check(author, T0).allowed for _ in range(3)] == [True, True, True]
    denied = d.rate_check(author, T0)
    assert not denied.allowed and 0 < denied.retry_after <= 60
    assert d.rate_check("someone-else", T0).allowed  # per author
    clock.now += 30
    still = d.rate_check(author, T0)
    assert not still.allowed and 0 < still.retry_after <= 30
    clock.now += 31
    assert d.rate_check(author, T0).allowed


def test_rate_limit_is_a_moving_window(clock):
    limiter = RateLimiter("2 per minute")
    assert limiter.hit("a").allowed
    clock.now += 40
    assert limiter.hit("a").allowed
    clock.now += 21  # the first hit has left the window, the second has not
    assert limiter.hit("a").allowed
    denied = limiter.hit("a")
    assert not denied.allowed and denied.retry_after == 39  # until the second hit (t=40) leaves at 100


def test_rate_limit_off():
    limiter = RateLimiter("")
    assert all(limiter.hit("a").allowed for _ in range(100))
    assert parse_rate("0") is None and parse_rate(None) is None


@pytest.mark.parametrize(("spec", "amount", "seconds"), [
    ("10/60", 10, 60), (" 5 / 30 ", 5, 30), ("10 per minute", 10, 60), ("100/hour", 100, 3600),
])
def test_parse_rate(spec, amount, seconds):
    item = parse_rate(spec)
    assert (item.amount, item.get_expiry()) == (amount, seconds)


@pytest.mark.parametrize("spec", ["ten a minute", "0/60", "5/0"])
def test_parse_rate_rejects_nonsense(spec):
    with pytest.raises(ValueError):
        parse_rate(spec)


# ------------------------------------------------------------------------------------------------
# settings and the factory


def test_build_detector_reads_overrides_then_settings():
    settings = Settings.from_env({"MODERATOR_DUP_WINDOW_SECONDS": "120", "MODERATOR_DUP_FLOOD_AUTHORS": "4"})
    d = build_detector(settings, {"MODERATOR_DUP_FLOOD_AUTHORS": 2, "MODERATOR_RATE_LIMIT": "5 per minute",
                                  "MODERATOR_DUP_THRESHOLD": "0.6"})
    assert isinstance(d, Detector)
    s = d.settings
    assert (s.window_seconds, s.flood_authors, s.threshold) == (120, 2, 0.6)
    assert s.backend == "memory" and isinstance(d.index, MemoryIndex)
    assert d.rate_limiter.item.amount == 5


def test_build_detector_defaults():
    s = DedupSettings.from_settings(Settings.from_env({}))
    assert (s.backend, s.window_seconds, s.rate_limit) == ("memory", 86_400, "10/60")
    assert s.threshold == DedupSettings().threshold


@pytest.mark.parametrize(("key", "value"), [
    ("MODERATOR_DUP_BACKEND", "sqlite"), ("MODERATOR_DUP_THRESHOLD", "1.5"), ("MODERATOR_DUP_FLOOD_AUTHORS", "1"),
])
def test_bad_settings_are_refused(key, value):
    with pytest.raises(ValueError, match=key):
        DedupSettings.from_settings(Settings.from_env({}), {key: value})


def test_every_dedup_setting_is_declared():
    from moderator.config import SETTINGS

    names = {s.name for s in SETTINGS}
    assert set(settings_mod._SETTING_FIELDS) <= names
