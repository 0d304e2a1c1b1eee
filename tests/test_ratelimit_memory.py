"""The in-process moving-window storage behind ``MODERATOR_RATE_LIMIT`` (``moderator.dedup.ratelimit``)."""

from __future__ import annotations

import threading

from helpers import FakeClock
from moderator.dedup.ratelimit import MovingWindowMemory, RateLimiter


def test_same_decisions_as_a_moving_window() -> None:
    clock = FakeClock(1_000.0)
    store = MovingWindowMemory(clock)
    assert [store.acquire_entry("a", 3, 60) for _ in range(4)] == [True, True, True, False]
    assert store.get_moving_window("a", 3, 60) == (1_000.0, 3)  # window starts at the oldest hit
    clock.now += 60  # a hit exactly one window old still counts (as in limits' MemoryStorage)
    assert not store.acquire_entry("a", 3, 60)
    clock.now += 0.5
    assert store.acquire_entry("a", 3, 60)
    assert store.get_moving_window("a", 3, 60) == (1_060.5, 1)
    assert store.acquire_entry("b", 3, 60)  # per key
    store.clear("a")
    assert store.get_moving_window("a", 3, 60) == (1_060.5, 0)
    assert not store.acquire_entry("c", 1, 60, amount=2)


def test_authors_idle_for_a_window_are_forgotten() -> None:
    clock = FakeClock(1_000.0)
    store = MovingWindowMemory(clock, sweep_every=10)
    for i in range(9):
        store.acquire_entry(f"author-{i}", 10, 60)
    assert len(store) == 9
    clock.now += 61
    store.acquire_entry("late", 10, 60)  # the 10th hit sweeps
    assert len(store) == 1


def test_rate_limiter_in_memory_starts_no_threads() -> None:
    """limits' MemoryStorage started a Timer thread on most hits (about 1 ms each)."""
    limiter = RateLimiter("5/60")
    before = threading.active_count()
    for i in range(200):
        assert limiter.hit(f"user-{i}").allowed
    assert threading.active_count() == before
    assert [limiter.hit("same").allowed for _ in range(6)] == [True] * 5 + [False]
    assert 0 < limiter.hit("same").retry_after <= 60
