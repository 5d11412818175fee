"""pushstage.taskctx: what a task sees of the worker that runs it: the
exceptions of its time limits and current_event(), its event.  Apart
from the worker, so that `import pushstage` does not load the worker
(and `python3 -m pushstage.worker` runs it once)."""

from __future__ import annotations

import contextvars
from typing import List, Optional, Set, Tuple, Union

from ._core import EventHeaders
from .aio import AsyncEvent


class SoftTimeLimitExceeded(Exception):
    """Raised inside a task that ran past its soft_time_limit: catch it
    to clean up and return (or raise) before time_limit ends the run."""


class TimeLimitExceeded(Exception):
    """A run ended by its task's time_limit ("time limit exceeded (N
    s)"): the error its event is nacked with."""


# --- the event a task runs for -------------------------------------------

class ChildEvent(EventHeaders):
    """The event a task runs for in a child of --pool process: id,
    attempt, data, key, headers, raw_headers as an Event's, the queue
    it came from, and cancelled (True once the worker was told a client
    cancelled it).  It has no ack() or touch(): the worker does that."""

    __slots__ = ("id", "attempt", "data", "key", "_headers", "queue",
                 "_cancelled")

    def __init__(self, eid: int, attempt: int, data: bytes,
                 key: Optional[bytes],
                 headers: Optional[List[Tuple[str, bytes]]],
                 queue: str, cancelled: Set[int]) -> None:
        self.id = eid
        self.attempt = attempt
        self.data = data
        self.key = key
        self._headers = headers
        self.queue = queue
        self._cancelled = cancelled

    @property
    def cancelled(self) -> bool:
        return self.id in self._cancelled

    def __repr__(self) -> str:
        return "ChildEvent(id=%d, attempt=%d, queue=%s)" % (
            self.id, self.attempt, self.queue)


TaskEvent = Union[AsyncEvent, ChildEvent]

_current: "contextvars.ContextVar[Optional[TaskEvent]]" = \
    contextvars.ContextVar("pushstage_current_event", default=None)


def current_event() -> TaskEvent:
    """The event of the task that runs in this thread, asyncio task or
    child: its id, attempt, data, key, headers and cancelled.
    RuntimeError outside a task run by the worker."""
    ev = _current.get()
    if ev is None:
        raise RuntimeError("current_event(): no task of pushstage's worker "
                           "runs here")
    return ev
