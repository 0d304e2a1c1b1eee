"""Leader/follower batching of concurrent threads' work items in one process.

Used by :class:`moderator.service.scoring.BatchScorer` (model calls) and
:class:`moderator.service.group_commit.GroupCommitter`
(write transactions). A thread submits an item and, if no batch is running, leads at once: it takes the queue's
head (its own item first among them) and processes it. Items arriving meanwhile queue up; when the running
batch ends, the next waiting thread leads the whole queue as one batch. Nobody waits for a timer, so a lone item
is never delayed, and under load the fixed cost per batch is shared.
"""

from __future__ import annotations

import threading
from typing import Generic, Protocol, TypeVar


class Item(Protocol):
    done: bool


ItemT = TypeVar("ItemT", bound=Item)


class LeaderBatcher(Generic[ItemT]):
    """Subclasses define :meth:`_take` (how many queued items make the next batch) and :meth:`_process`."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._queue: list[ItemT] = []
        self._busy = False

    def _take(self, queue: list[ItemT]) -> int:
        """How many items from the head of ``queue`` (never empty) the next batch takes: at least 1."""
        raise NotImplementedError

    def _process(self, batch: list[ItemT]) -> None:
        """Process ``batch``, recording each item's result or error on the item; must not raise."""
        raise NotImplementedError

    def _submit(self, item: ItemT) -> None:
        """Return once ``item`` was processed, by this thread (as the leader of a batch) or by another."""
        with self._cv:
            self._queue.append(item)
        while True:
            with self._cv:
                while not item.done and self._busy:
                    self._cv.wait()
                if item.done:
                    return
                self._busy = True  # lead: process the head of the queue (this item among it)
                n = max(1, self._take(self._queue))
                batch = self._queue[:n]
                del self._queue[:n]
            try:
                self._process(batch)
            finally:
                with self._cv:
                    for queued in batch:
                        queued.done = True
                    self._busy = False
                    self._cv.notify_all()


__all__ = ["LeaderBatcher"]
