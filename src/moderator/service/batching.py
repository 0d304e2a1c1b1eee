"""Leader/follower batching of concurrent threads' work items in one process.

Used by :class:`moderator.service.scoring.BatchScorer` (model calls) and
:class:`moderator.service.group_commit.GroupCommitter`
(write transactions). A thread submits an item and, if a batch may start (fewer than ``lanes`` batches are
running), leads at once: it takes the queue's head (its own item among them) and processes it. Items arriving
meanwhile queue up; when a running batch ends, the next waiting thread whose item is still queued leads the
whole queue as one batch. Nobody waits for a timer, so a lone item is never delayed, and under load the fixed
cost per batch is shared.

``lanes`` > 1 lets that many batches run at once: for work that releases the GIL for most of its time (the
encoder's onnxruntime call), a second batch can use a second core while the first runs. Writers to one
SQLite database keep one lane.
"""

from __future__ import annotations

import threading
from typing import Generic, Protocol, TypeVar


class Item(Protocol):
    done: bool


ItemT = TypeVar("ItemT", bound=Item)


class LeaderBatcher(Generic[ItemT]):
    """Subclasses define :meth:`_take` (how many queued items make the next batch) and :meth:`_process`."""

    def __init__(self, lanes: int = 1) -> None:
        if lanes < 1:
            raise ValueError("lanes must be at least 1")
        self.lanes = lanes
        self._cv = threading.Condition()
        self._queue: list[ItemT] = []
        self._queued: set[int] = set()  # id() of the items in _queue: an item taken by a batch is not here
        self._running = 0

    def _take(self, queue: list[ItemT]) -> int:
        """How many items from the head of ``queue`` (never empty) the next batch takes: at least 1."""
        raise NotImplementedError

    def _process(self, batch: list[ItemT]) -> None:
        """Process ``batch``, recording each item's result or error on the item; must not raise."""
        raise NotImplementedError

    def _submit(self, item: ItemT) -> None:
        """Return once ``item`` was processed, by this thread (as the leader of a batch) or by another."""
        mine = id(item)
        with self._cv:
            self._queue.append(item)
            self._queued.add(mine)
        while True:
            with self._cv:
                # wait while another batch holds the item, or while every lane is busy
                while not item.done and (mine not in self._queued or self._running >= self.lanes):
                    self._cv.wait()
                if item.done:
                    return
                self._running += 1  # lead: process the head of the queue (this item among it)
                n = max(1, self._take(self._queue))
                batch = self._queue[:n]
                del self._queue[:n]
                for taken in batch:
                    self._queued.discard(id(taken))
            try:
                self._process(batch)
            finally:
                with self._cv:
                    for queued in batch:
                        queued.done = True
                    self._running -= 1
                    self._cv.notify_all()


__all__ = ["LeaderBatcher"]
