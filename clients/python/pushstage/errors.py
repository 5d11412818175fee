"""The exceptions of the pushstage client.  Every one is a PushstageError."""

from __future__ import annotations

from typing import List, Optional

# The daemon's ERROR codes (docs/protocol.md, Errors).
E_TOO_LARGE = 1
E_BAD_HEADER = 2
E_UNKNOWN_TYPE = 3
E_BAD_LENGTH = 4
E_BAD_VALUE = 5
E_BAD_STATE = 6
E_VERSION = 7
E_DEMAND = 8
E_NOMEM = 9
E_DRAINING = 10
E_NOT_IN_FLIGHT = 11
E_FORBIDDEN = 12
E_TOO_MANY = 13
E_TIMEOUT = 14
E_STORAGE = 15
E_NO_QUEUE = 16
E_QUEUE_LIMIT = 17
E_QUEUE_BUSY = 18
E_NO_EVENT = 19
E_NO_SCHEDULE = 20     # a SCHEDULE of a schedule the daemon does not have
E_EXISTS = 21          # a SCHEDULE ADD of a name defined otherwise


class PushstageError(Exception):
    """Anything the daemon or the link to it did wrong."""


class DaemonGone(PushstageError):
    """No daemon at the socket, or the connection closed (the daemon
    stopped or restarted).  A request under way may or may not have been
    carried out; the next call connects again."""


class ProtocolError(PushstageError):
    """The daemon sent bytes this client cannot read (a frame cut short, a
    bad header), or answered a frame of ours as malformed.  The connection
    is closed; the next call connects again."""

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code


class Refused(PushstageError):
    """The daemon answered with an ERROR frame (docs/protocol.md, Errors).
    code is its number, name its name (NO_QUEUE, DRAINING, ...), message
    the daemon's text.  retry_later is true for DRAINING, TOO_MANY and
    STORAGE: nothing is wrong with the request, send it again later."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__("%s (%s, error %d)" % (message, name, code))
        self.code = code
        self.name = name
        self.message = message

    @property
    def retry_later(self) -> bool:
        return self.code in (E_DRAINING, E_TOO_MANY, E_STORAGE)


class Unsupported(PushstageError):
    """The request needs a newer protocol than the daemon speaks."""


class QueueFull(PushstageError):
    """An ENQUEUE was taken only in part: the queue is at its limit and its
    overflow policy is reject.  ids holds the ids of the events taken (the
    batch's first ones); the last `refused` events of the batch (not
    counting duplicates) were not, and may be sent again later."""

    def __init__(self, queue: str, ids: List[int], refused: int) -> None:
        super().__init__("queue %s is full: %d event%s refused, %d taken"
                         % (queue, refused, "" if refused == 1 else "s",
                            len(ids)))
        self.queue = queue
        self.ids = ids
        self.refused = refused
