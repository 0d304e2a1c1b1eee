"""``Normalizer.resolve`` memoises per instance: a replaced model's normaliser can be freed (hot reload)."""

from __future__ import annotations

import gc
import pickle
import weakref

from moderator.model.features import Normalizer


def test_resolve_cache_does_not_keep_old_normalizers_alive() -> None:
    norm = Normalizer(min_count=1).fit(["shit happens", "you moron", "hello world"] * 2)
    assert norm.resolve("sh1t") == "shit" and norm.resolve("m0r0n") == "moron"
    ref = weakref.ref(norm)
    del norm
    gc.collect()
    assert ref() is None


def test_resolve_cache_is_per_instance_bounded_and_not_pickled(monkeypatch) -> None:
    a = Normalizer(min_count=1).fit(["hello world"] * 2)
    b = Normalizer(min_count=1).fit(["hellooo there"] * 2)
    assert a.resolve("hellooo") == "hello"  # squeezed to a known word of a's vocabulary
    assert b.resolve("hellooo") == "hellooo"  # b knows the spelling itself
    assert "hellooo" in a._resolved and a._resolved is not b._resolved
    assert "_resolved" not in a.__getstate__()
    c = pickle.loads(pickle.dumps(a))
    assert c._resolved == {} and c.resolve("hellooo") == "hello"
    monkeypatch.setattr(Normalizer, "RESOLVE_CACHE_SIZE", 3)
    for w in ("one", "two", "three", "four"):
        c.resolve(w)
    assert len(c._resolved) <= 3
    a.fit(["hellooo friend"] * 2)  # refitting changes the vocabulary: the cache starts over
    assert a.resolve("hellooo") == "hellooo"
