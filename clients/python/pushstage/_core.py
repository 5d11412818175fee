"""What the synchronous and the asyncio clients share: the socket path
rule, the objects handed to callers, the shapes of requests and answers,
and the demand window.  No I/O but the checks made before a connect."""

from __future__ import annotations

import datetime
import os
import re
import socket
import stat
import struct
from dataclasses import dataclass, field
from typing import (Dict, Iterable, Iterator, List, Mapping, Optional,
                    Sequence, Tuple, Union, cast)

from . import _proto as P
from .errors import (E_BAD_HEADER, E_BAD_LENGTH, E_BAD_STATE, E_TOO_LARGE,
                     E_UNKNOWN_TYPE, E_VERSION, DaemonGone, ProtocolError,
                     PushstageError, QueueFull, Refused, Unsupported)

Data = Union[bytes, str]
# What an event's payload may be given as.
EVENT_TYPES = (bytes, str, bytearray, memoryview)
# An event's headers as given to enqueue: a mapping of name to value, or
# (name, value) pairs (as Event.raw_headers); a str value goes as UTF-8.
Headers = Union[Mapping[str, Data], Mapping[bytes, Data],
                Iterable[Tuple[Data, Data]]]


# --- the socket --------------------------------------------------------

def _private_paths() -> Tuple[Optional[str], str]:
    run = os.environ.get("XDG_RUNTIME_DIR") or None
    tmp = os.environ.get("TMPDIR") or "/tmp"
    return ((run + "/pushstage.sock") if run else None,
            "%s/pushstage-%d/pushstage.sock" % (tmp, os.getuid()))


def default_socket() -> str:
    """The programs' rule: $PUSHSTAGE_SOCKET, else
    $XDG_RUNTIME_DIR/pushstage.sock, else
    ${TMPDIR:-/tmp}/pushstage-UID/pushstage.sock."""
    env = os.environ.get("PUSHSTAGE_SOCKET")
    if env:
        return env
    run, tmp = _private_paths()
    return run or tmp


# A directory shared with others (sticky or writable by all: /tmp as
# XDG_RUNTIME_DIR, say), or not the user's, is never to be changed for
# us: the advice is then a socket elsewhere (common/sockpath.c's rule).
_ELSEWHERE = ("set PUSHSTAGE_SOCKET or give socket=: a path in a directory "
              "of your own")


def check_private_dir(path: str) -> None:
    """A default per-user path's directory must be the user's, no link,
    closed to others (as the C programs check); a missing one is left for
    connect to report."""
    if path not in _private_paths():
        return
    d = os.path.dirname(path) or "."
    try:
        st = os.lstat(d)
    except FileNotFoundError:
        return
    except OSError as e:
        raise DaemonGone("%s: %s" % (d, e.strerror)) from None
    shared = st.st_mode & (stat.S_ISVTX | stat.S_IWOTH)
    if not stat.S_ISDIR(st.st_mode):
        raise PushstageError("%s is not a directory; another user may have "
                             "made it to stand in for producerd: %s%s"
                             % (d, "remove it, or "
                                if st.st_uid == os.getuid() else "",
                                _ELSEWHERE))
    if st.st_uid != os.getuid():
        raise PushstageError("%s belongs to uid %d, not to you (uid %d)%s; %s"
                             % (d, st.st_uid, os.getuid(),
                                " and is shared with others" if shared else
                                ": another user may have made it to stand "
                                "in for producerd", _ELSEWHERE))
    if shared:
        raise PushstageError("%s has mode %04o: others may enter it and make "
                             "files in it, a directory shared that cannot "
                             "hold the socket safely; %s"
                             % (d, st.st_mode & 0o7777, _ELSEWHERE))
    if st.st_mode & 0o077:
        raise PushstageError("%s has mode %04o: others may enter it; "
                             "chmod 700 %s, or %s"
                             % (d, st.st_mode & 0o7777, d, _ELSEWHERE))


def check_peer(sock: socket.socket, path: str) -> None:
    """On a default per-user path the daemon must be the user or root."""
    if path not in _private_paths() or not hasattr(socket, "SO_PEERCRED"):
        return
    cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                           struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", cred)
    if uid not in (os.getuid(), 0):
        raise PushstageError("%s is served by uid %d, neither you nor root; "
                             "another user may stand in for producerd"
                             % (path, uid))


def connect_error(path: str, e: OSError) -> DaemonGone:
    return DaemonGone("cannot connect to producerd at %s: %s%s"
                      % (path, e.strerror or e,
                         " (is producerd running?)"
                         if isinstance(e, (FileNotFoundError,
                                           ConnectionRefusedError)) else ""))


# --- errors and versions -------------------------------------------------

# ERRORs that say our frame was malformed: this client's fault, not the
# request's.
_PROTOCOL_CODES = (E_TOO_LARGE, E_BAD_HEADER, E_UNKNOWN_TYPE, E_BAD_LENGTH,
                   E_BAD_STATE)


def error_from(body: bytes) -> PushstageError:
    code, msg = P.parse_error(body)
    name = P.ERROR_NAMES.get(code, "error %d" % code)
    if code in _PROTOCOL_CODES:
        return ProtocolError("the daemon refused a frame: %s (%s, error %d)"
                             % (msg, name, code), code)
    return Refused(code, name, msg)


class Link:
    """What WELCOME told a connection, and the checks of the answers on
    it, shared by the blocking and the asyncio connections."""

    path = ""
    timeout: Optional[float] = None
    reader: P.Reader
    version = 0
    max_frame = 0
    ack_timeout = 0.0
    max_attempts = 0
    acks = False

    def welcome(self, ftype: int, body: bytes, version: int) -> None:
        """The answer to HELLO(version): WELCOME, or raise."""
        self.answer(ftype, body, P.WELCOME_T)
        w = P.parse_welcome(body)
        if w["version"] != version:
            raise ProtocolError("asked for protocol version %d, the daemon "
                                "speaks %d" % (version, w["version"]))
        self.version = version
        self.max_frame = w["max_frame"]
        self.ack_timeout = w["ack_timeout_ms"] / 1000.0
        self.max_attempts = w["max_attempts"]
        self.acks = w["delivery"] == 1 and version >= 2

    @staticmethod
    def answer(ftype: int, body: bytes, want: int) -> bytes:
        """The body of an answer of type want; an ERROR or another type
        raises."""
        if ftype == P.ERROR:
            raise error_from(body)
        if ftype != want:
            raise ProtocolError("the daemon answered with a frame of type %d, "
                                "not %d" % (ftype, want))
        return body

    # Why a read ended the connection (path, timeout and reader are the
    # connection's).
    def no_answer(self) -> DaemonGone:
        return DaemonGone("no answer from producerd at %s within %ss"
                          % (self.path, self.timeout))

    def read_failed(self, e: OSError) -> DaemonGone:
        return DaemonGone("reading from producerd at %s: %s"
                          % (self.path, e.strerror or e))

    def hung_up(self) -> DaemonGone:
        cut = self.reader.pending()
        return DaemonGone("producerd at %s closed the connection%s"
                          % (self.path, " in the middle of a frame (%d "
                             "bytes of it came)" % cut if cut else ""))

    def check_request(self, frame: bytes) -> None:
        if len(frame) - 8 > self.max_frame:
            raise ValueError("a request of %d bytes is over the daemon's frame "
                             "limit of %d; send smaller batches"
                             % (len(frame) - 8, self.max_frame))


def version_after_refusal(err: PushstageError, tried: int) -> Optional[int]:
    """After ERROR 7 to a HELLO of version `tried`: the best version both
    speak, or None.  The ERROR names the daemon's versions ("speaks
    versions A to B"); without them, the one below `tried` (5, then 4,
    then 3, ...)."""
    if not isinstance(err, Refused) or err.code != E_VERSION:
        return None
    found = re.findall(r"speaks versions? (\d+)(?: to (\d+))?", err.message)
    m = found[-1] if found else None
    lo, hi = (int(m[0]), int(m[1] or m[0])) if m else (1, tried - 1)
    best = min(hi, tried - 1, P.VERSION)
    if best < max(lo, P.MIN_VERSION):
        return None
    return best


def no_common_version(err: PushstageError) -> Unsupported:
    return Unsupported("the daemon speaks no protocol version this client "
                       "does (%d to %d): %s" % (P.MIN_VERSION, P.VERSION, err))


def need_v3(version: int, what: str) -> None:
    if version < 3:
        raise Unsupported("%s needs protocol version 3; the daemon speaks "
                          "version %d" % (what, version))


def need_v5_headers(version: int) -> None:
    if version < 5:
        raise Unsupported("headers need protocol version 5; the daemon "
                          "speaks version %d, and would not carry them"
                          % version)


def queue_for(version: int, queue: Data, group_ok: bool = False) -> bytes:
    q = P.queue_name(queue, group_ok)
    if version < 3 and q != b"default":
        raise Unsupported("the daemon speaks protocol version %d, which has "
                          "one queue, default; not %s"
                          % (version, q.decode()))
    return q


# --- what callers get ----------------------------------------------------

@dataclass
class Message:
    """One event of a batch with its own attributes.  delay is in
    seconds; not_before a datetime or seconds since 1970; priority 0 to
    65535, smaller first (32768 without); unique_id makes a duplicate of
    any other event with it while this one is in the queue.  headers
    (protocol version 5), a mapping of name to str or bytes or (name,
    value) pairs, go after those given to enqueue(headers=), and replace
    one of theirs of the same name; they are checked here (ValueError,
    TypeError) as at enqueue."""
    data: Data
    key: Optional[Data] = None
    delay: Optional[float] = None
    not_before: Optional[Union[float, datetime.datetime]] = None
    priority: Optional[int] = None
    unique_id: Optional[Data] = None
    headers: Optional[Headers] = None

    def __post_init__(self) -> None:
        if not isinstance(self.data, EVENT_TYPES):
            raise TypeError(_NOT_AN_EVENT % type(self.data).__name__)
        if self.headers is not None:
            if isinstance(self.headers, Iterator):
                # An iterator would be spent by the first enqueue.
                self.headers = list(cast(Iterator[Tuple[Data, Data]],
                                         self.headers))
            P.headers_block(header_pairs(self.headers))


class EventHeaders:
    """An event's headers (protocol version 5), for Event and
    AsyncEvent: none from an older daemon."""

    __slots__ = ()
    _headers: Optional[P.RawHeaders]

    @property
    def raw_headers(self) -> List[Tuple[str, bytes]]:
        """The headers exactly as enqueued, in order: [(name, value
        bytes)]; [] when the event has none."""
        return list(self._headers) if self._headers else []

    @property
    def headers(self) -> Dict[str, str]:
        """The headers by name, values decoded as UTF-8 (a byte that is
        not: U+FFFD); {} when the event has none."""
        if not self._headers:
            return {}
        return {n: v.decode(errors="replace") for n, v in self._headers}


class Enqueued(List[int]):
    """The ids of the events taken, in batch order (0 each in a cluster,
    where an event gets its id where it is delivered).  duplicates holds
    the batch indexes of events not taken because their unique id was
    held; shed_new events of the batch dropped by the queue's overflow
    policy; shed_old older events dropped to make room."""
    duplicates: List[int]
    shed_new: int
    shed_old: int


@dataclass
class ConsumerInfo:
    """A consumer in a STATS reply: its id, its fields by name, and its
    queue ("QUEUE" or "QUEUE/GROUP"; "" from a daemon that does not say)."""
    id: str
    fields: Dict[str, int]
    queue: str = ""

    def __getitem__(self, name: str) -> int:
        return self.fields[name]


@dataclass
class Stats:
    """A STATS_REPLY: counters by name (also stats["queued"]), the
    consumers with their fields, and texts (a queue's reply: "queue")."""
    counters: Dict[str, int]
    consumers: List[ConsumerInfo] = field(default_factory=list)
    texts: Dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> int:
        return self.counters[name]

    def get(self, name: str, default: int = 0) -> int:
        return self.counters.get(name, default)


@dataclass
class QueueInfo:
    """A queue (QUEUE) or a group of one (QUEUE/GROUP) and its counters."""
    name: str
    counters: Dict[str, int]

    def __getitem__(self, name: str) -> int:
        return self.counters[name]


DEAD_REASONS: Dict[int, str] = {1: "nack", 2: "ack timeout", 3: "consumer gone",
                                4: "rejected"}


@dataclass
class DeadEvent:
    """A dead letter: its id, deliveries, why it died, its whole length,
    its first bytes (up to the preview asked for) and its last error
    (protocol version 5): the newest of its failures that said why, as
    a consumer's NACK with an error or the daemon's ack timeout, its
    first 1024 bytes decoded as UTF-8 (a byte that is not: U+FFFD);
    None when no failure said why, or from a daemon older than 5."""
    id: int
    attempts: int
    reason: str
    length: int
    preview: bytes
    error: Optional[str] = None


class DeadList(List[DeadEvent]):
    """Dead letters, oldest death first; total counts them all (the list
    is cut short when a frame cannot hold them)."""
    total: int


# A JOB_REPLY's states and a dead event's reasons in the protocol's
# words (protocol.md, JOB_REPLY; pushctl job show's); a WAIT_REPLY's
# are the same and one more, 10: cancelled (while it waited).
JOB_STATES = ("unknown", "queued", "delayed", "waiting behind its key",
              "waiting for its partition", "in flight", "waiting to retry",
              "dead", "cancelled in flight", "done")
WAIT_STATES = JOB_STATES + ("cancelled",)
JOB_DEAD = P.JOB_DEAD
JOB_DONE = P.JOB_DONE
JOB_REASONS: Dict[int, str] = {1: "nack", 2: "timeout", 3: "disconnect",
                               4: "rejected"}


@dataclass(frozen=True)
class Failure:
    """One of an event's failures (protocol version 5): when (seconds
    since 1970), its attempt, the consumer's id and the error it said
    (decoded as UTF-8, a byte that is not: U+FFFD; "" when it said
    none, as a plain NACK)."""
    at: float
    attempt: int
    consumer: str
    error: str


@dataclass(frozen=True)
class Job:
    """Where one event of a queue (or group) is and what it carries, as
    Client.job found it (protocol version 5, JOB).  state is the
    protocol's word ("queued", "delayed", "waiting behind its key",
    "waiting for its partition", "in flight", "waiting to retry",
    "dead", "cancelled in flight": its consumer was told, and it is gone
    when the consumer answers; "done": acked, its record kept by the
    queue's keep-done), state_code its number; reason why it died
    ("nack", "timeout", "disconnect"), None unless dead; attempts its
    deliveries so far; at seconds since 1970: when it is due (delayed,
    waiting to retry), was delivered (in flight, cancelled in flight),
    became ready (queued, waiting for its partition) or was done, else
    None; priority its PRIORITY (32768 unless given); length its
    payload's bytes, preview their first ones (done: length is its
    result's bytes, and preview is empty); consumer the id of the
    consumer that holds it (in flight), else None; key its KEY or None;
    headers and raw_headers as an Event's; failures its last ones (at
    most 3), oldest first (a done event's record keeps no payload,
    headers or failures).  result: done, the result its consumer acked
    it with (Event.ack(result=); b"" for a plain ACK), cut at its end
    when the daemon's answer could not hold it all (len(result) <
    length); None in any other state."""
    id: int
    state: str
    state_code: int
    reason: Optional[str]
    attempts: int
    at: Optional[float]
    priority: int
    length: int
    preview: bytes
    consumer: Optional[str]
    key: Optional[bytes]
    headers: Dict[str, str] = field(hash=False)
    raw_headers: List[Tuple[str, bytes]] = field(hash=False)
    failures: List[Failure] = field(hash=False)
    result: Optional[bytes] = None


@dataclass(frozen=True)
class WaitResult:
    """How an event ended, or where it was when the wait's timeout came
    first, as Client.wait was told (protocol version 5, WAIT_REPLY).
    id is the event's, 0 when the queue knows no such event (never
    enqueued, done with and no record kept, cancelled while it waited
    before the wait began, shed, purged); timed_out True when the
    timeout came first (or timeout 0 and it had not ended), and state
    then where it is, as a Job's ("queued" to "waiting to retry").
    Otherwise state says how it ended: "done" (acked: result is what
    its consumer acked it with, b"" for a plain ACK), "dead" (error is
    its last error, decoded as UTF-8 (a byte that is not: U+FFFD), ""
    when no failure said why; reason why it died, as a Job's),
    "cancelled" or "cancelled in flight" (a client cancelled it; "in
    flight": its consumer was told and had not answered as the wait
    began), or "unknown" (gone some other way, or never known: id 0).
    state_code is the state's number (10 for "cancelled"); attempts its
    deliveries; at seconds since 1970 when it ended (or, timed out, as
    Job.at), None when not known.  result is None unless done, error
    None unless dead; either is cut at its end when the daemon's answer
    could not hold it all."""
    id: int
    state: str
    state_code: int
    timed_out: bool
    reason: Optional[str]
    at: Optional[float]
    attempts: int
    result: Optional[bytes] = None
    error: Optional[str] = None

    @property
    def done(self) -> bool:
        """It ended acked (state "done"): result holds its result."""
        return self.state_code == JOB_DONE and not self.timed_out


# A JOB_CANCEL_REPLY's outcomes in the protocol's words.
CANCEL_OUTCOMES: Dict[int, str] = {
    P.CANCEL_REMOVED: "cancelled", P.CANCEL_TOLD: "cancelled in flight",
    P.CANCEL_ALREADY: "cancelled before"}


@dataclass(frozen=True)
class Cancelled:
    """What Client.cancel did with one event (protocol version 5,
    JOB_CANCEL_REPLY): its id, and the outcome in the protocol's words:
    "cancelled" (it waited: queued, delayed, behind its key, for its
    partition or to retry; it is gone), "cancelled in flight" (its
    consumer was told: Event.cancelled; it is gone when the consumer
    answers, never delivered again) or "cancelled before" (in flight,
    cancelled by an earlier call: nothing more done); outcome_code its
    number, 1, 2 or 3."""
    id: int
    outcome: str
    outcome_code: int


# The states Client.jobs lists, in pushctl jobs --state's words.
LIST_STATES: Dict[str, int] = {
    "queued": 1, "delayed": 2, "in-flight": 5, "retrying": 6, "dead": 7,
    "done": JOB_DONE}


@dataclass(frozen=True)
class Listed:
    """One event on a page of Client.jobs (protocol version 5,
    JOBS_REPLY): its id; state and state_code as a Job's ("queued",
    "waiting behind its key" or "waiting for its partition" on a page of
    queued events; "in flight" or "cancelled in flight" on one of in
    flight; else the page's); reason why it died, as a Job's, None
    unless dead; attempts its deliveries; at seconds since 1970 as a
    Job's, None when not known; length its payload's bytes and preview
    their first ones (done: its result's); key its KEY or None; headers
    and raw_headers as an Event's."""
    id: int
    state: str
    state_code: int
    reason: Optional[str]
    attempts: int
    at: Optional[float]
    length: int
    preview: bytes
    key: Optional[bytes]
    headers: Dict[str, str] = field(hash=False)
    raw_headers: List[Tuple[str, bytes]] = field(hash=False)


@dataclass(frozen=True)
class JobsPage:
    """A page of Client.jobs: its events, lowest ids first, and next,
    the cursor of the page after it (32 hex digits, as pushctl jobs
    prints it: give it as after=), or None when there is no more.  A
    full page gives a cursor though the next page may be empty."""
    events: List[Listed] = field(hash=False)
    next: Optional[str]


# The time of a schedule's fields (ms since 1970) as an aware datetime
# in UTC, exactly (no float on the way).
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


@dataclass(frozen=True)
class Schedule:
    """A schedule of the daemon, as a SCHEDULE_REPLY gave it (protocol
    version 5): an event enqueued to `queue` at each tick of its rule.
    name and queue; cron (a 5-field rule or @daily, ...) or every (a
    duration, "1h30m"), the one it has, as given; tz the time zone of a
    cron rule as given (None when none was: UTC; None with every);
    catch_up "none", "last" or "all"; unique and paused as bools.
    created, last and next are aware datetimes in UTC: created when it
    was first added; last the time of the latest tick it handled (fired
    or skipped), None for none; next its next fire times, up to 5,
    soonest first ([] when it never fires again).  last_id the id of
    the event of its latest tick fired (None for none); fired and
    skipped count its ticks.  enqueued: the answer to a RUN_NOW alone,
    the id of the event it enqueued (0 when the queue did not take it);
    None otherwise.  payload, key, priority (None when not given:
    32768), headers and raw_headers (as an Event's) are its event's, as
    its ADD gave them (the daemon adds the headers pushstage-schedule
    and pushstage-tick to each event it enqueues).  fields holds every
    KEY=VALUE of the reply as sent, those this package does not know
    too (the times in ms since 1970 there)."""
    name: str
    queue: str
    cron: Optional[str]
    every: Optional[str]
    tz: Optional[str]
    catch_up: str
    unique: bool
    paused: bool
    created: Optional[datetime.datetime]
    last: Optional[datetime.datetime]
    last_id: Optional[int]
    fired: int
    skipped: int
    next: List[datetime.datetime] = field(hash=False)
    enqueued: Optional[int]
    payload: bytes
    key: Optional[bytes]
    priority: Optional[int]
    headers: Dict[str, str] = field(hash=False)
    raw_headers: List[Tuple[str, bytes]] = field(hash=False)
    fields: Dict[str, str] = field(hash=False, repr=False)


# --- requests ------------------------------------------------------------

def _b(v: Data) -> bytes:
    return v.encode() if isinstance(v, str) else bytes(v)


def _ms(seconds: Optional[float], what: str) -> Optional[int]:
    if seconds is None:
        return None
    if seconds < 0:
        raise ValueError("%s must not be negative: %r" % (what, seconds))
    return int(round(seconds * 1000))


def nack_delay_ms(delay: Optional[float]) -> Optional[int]:
    """A NACK's delay in seconds as ms (None: the queue's retry-backoff);
    ValueError, before anything is done, for one the protocol cannot
    carry (negative, or over 4294967295 ms, about 49 days)."""
    if delay is None:
        return None
    ms = int(round(delay * 1000))
    if not 0 <= ms <= P.NACK_BACKOFF:
        raise ValueError("a NACK's delay is 0 to 4294967.295 seconds, not %r"
                         % delay)
    return ms


def nack_error_bytes(error: object, limit: int = P.ERROR_MAX) -> bytes:
    """A NACK's error as it goes: a str as UTF-8, bytes as they are
    (TypeError for anything else).  Over limit bytes (4096, or less to
    fit a daemon's smallest frames) its end is kept, the useful part of a
    traceback: the last limit bytes, and of a str from the first whole
    character in them (so at most 3 fewer)."""
    if not isinstance(error, (str, bytes, bytearray, memoryview)):
        raise TypeError("a NACK's error is str or bytes, not %s"
                        % type(error).__name__)
    b = _b(error)
    if len(b) <= limit:
        return b
    b = b[len(b) - limit:]
    if isinstance(error, str):
        i = 0
        while i < min(3, len(b)) and 0x80 <= b[i] < 0xC0:  # in a character
            i += 1
        b = b[i:]
    return b


def _epoch_ms(t: Union[float, datetime.datetime, None]) -> Optional[int]:
    if t is None:
        return None
    if isinstance(t, datetime.datetime):
        t = t.timestamp()
    return _ms(t, "not_before")


def _attrs(key: Optional[Data], delay: Optional[float],
           not_before: Union[float, datetime.datetime, None],
           priority: Optional[int], unique_id: Optional[Data]) -> bytes:
    return P.attrs(None if key is None else _b(key), _ms(delay, "delay"),
                   _epoch_ms(not_before), priority,
                   None if unique_id is None else _b(unique_id))


_NOT_AN_EVENT = ("an event is bytes or str (or a Message of them), "
                 "not %s")

_NOT_HEADERS = ("headers are a mapping of name to value, or (name, value) "
                "pairs; not %s")


def header_pairs(headers: object) -> List[Tuple[bytes, bytes]]:
    """enqueue's headers= (or a Message's) as (name, value) bytes, in
    order; TypeError for anything that is not headers.  The protocol's
    rules are P.headers_block's."""
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        items: List[object] = list(headers.items())
    elif isinstance(headers, Iterable) and \
            not isinstance(headers, EVENT_TYPES):
        items = list(headers)
    else:
        raise TypeError(_NOT_HEADERS % type(headers).__name__)
    out: List[Tuple[bytes, bytes]] = []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError("a header is a (name, value) pair, not %s"
                            % type(item).__name__)
        name, value = item
        if not isinstance(name, (str, bytes)):
            raise TypeError("a header's name is str or bytes, not %s"
                            % type(name).__name__)
        nb = _b(name)
        if not isinstance(value, EVENT_TYPES):
            raise TypeError('header "%s": its value is str or bytes, not %s'
                            % (P.header_shown(nb), type(value).__name__))
        out.append((nb, _b(value)))
    return out


def _merged(common: List[Tuple[bytes, bytes]],
            own: List[Tuple[bytes, bytes]]) -> List[Tuple[bytes, bytes]]:
    """A Message's headers after the call's, replacing those it names."""
    if not common:
        return own
    names = {n for n, _ in own}
    return [h for h in common if h[0] not in names] + own


def _batch(events: object) -> Tuple[List[Union[Data, Message]], bool]:
    """(the events, single) of Client.enqueue's argument: one event, or
    an iterable of them; TypeError for anything else (a mapping's keys,
    a number's bytes or a list of numbers would go out silently)."""
    if isinstance(events, EVENT_TYPES + (Message,)):
        return [events], True
    if isinstance(events, Mapping) or not isinstance(events, Iterable):
        raise TypeError("enqueue takes an event (bytes or str, or a "
                        "Message) or an iterable of them, not %s"
                        % type(events).__name__)
    batch: List[Union[Data, Message]] = list(events)
    for i, e in enumerate(batch):
        if not isinstance(e, EVENT_TYPES + (Message,)):
            raise TypeError(("event %d of the batch: " % i) +
                            _NOT_AN_EVENT % type(e).__name__)
    return batch, False


def enqueue_frame(version: int, queue: Data, events: object,
                  key: Optional[Data] = None, delay: Optional[float] = None,
                  not_before: Union[float, datetime.datetime, None] = None,
                  priority: Optional[int] = None,
                  unique_id: Optional[Data] = None,
                  headers: Optional[Headers] = None
                  ) -> Tuple[bytes, int, bool]:
    """(frame, count, single) for Client.enqueue's arguments.  Every
    check (ValueError, TypeError, Unsupported) comes before the frame."""
    q = queue_for(version, queue)
    batch, single = _batch(events)
    if not batch:
        raise ValueError("enqueue of no events")
    if unique_id is not None and len(batch) > 1:
        raise ValueError("unique_id= names one event; give each event of a "
                         "batch its own with Message(data, unique_id=...)")
    hpairs = header_pairs(headers)
    hblock = P.headers_block(hpairs)
    common: Optional[bytes] = None
    if hblock or any(v is not None for v in (key, delay, not_before,
                                             priority, unique_id)):
        common = _attrs(key, delay, not_before, priority, unique_id) + hblock
    datas: List[bytes] = []
    blocks: Optional[List[bytes]] = None
    kinds = set(map(type, batch))
    if common is None and kinds == {bytes}:
        datas = cast(List[bytes], batch)    # the common case, as it is
    elif common is None and Message not in kinds:
        datas = [_b(e) for e in cast(List[Data], batch)]
    else:
        blocks = []
        headed = bool(hblock)
        for i, e in enumerate(batch):
            if isinstance(e, Message):
                m = e
                datas.append(_b(m.data))
                mblock = hblock
                if m.headers is not None:
                    try:
                        mblock = P.headers_block(_merged(
                            hpairs, header_pairs(m.headers)))
                    except (TypeError, ValueError) as x:
                        if single:
                            raise
                        raise type(x)("event %d of the batch: %s"
                                      % (i, x)) from None
                    headed = headed or bool(mblock)
                blocks.append(_attrs(
                    m.key if m.key is not None else key,
                    m.delay if m.delay is not None else delay,
                    m.not_before if m.not_before is not None else not_before,
                    m.priority if m.priority is not None else priority,
                    m.unique_id) + mblock)
            else:
                datas.append(_b(e))
                blocks.append(common or b"")
        if headed:
            need_v5_headers(version)
        if version < 3 and any(blocks):
            raise Unsupported("event attributes (key, delay, priority, "
                              "unique id) need protocol version 3; the "
                              "daemon speaks version %d" % version)
        if version < 3:
            blocks = None
    return P.enqueue(version, q, datas, blocks), len(batch), single


def enqueue_result(queue: Data, count: int, single: bool,
                   body: bytes) -> Union[Optional[int], Enqueued]:
    first, acc, refused, shed_new, shed_old, dups = P.parse_enqueued(body)
    if acc + refused + shed_new + len(dups) != count:
        raise ProtocolError("ENQUEUED counts %d events for an ENQUEUE of %d"
                            % (acc + refused + shed_new + len(dups), count))
    ids = Enqueued(range(first, first + acc) if first else [0] * acc)
    ids.duplicates, ids.shed_new, ids.shed_old = dups, shed_new, shed_old
    if refused:
        raise QueueFull(queue if isinstance(queue, str) else
                        queue.decode(errors="replace"), ids, refused)
    if single:
        return ids[0] if ids else None
    return ids


def stats_result(body: bytes, version: int) -> Stats:
    counters, consumers, texts, queues = P.parse_stats(body, version)
    queues += [""] * (len(consumers) - len(queues))
    return Stats(counters, [ConsumerInfo(i, f, q) for (i, f), q in
                            zip(consumers, queues)], texts)


def dead_result(body: bytes, version: int) -> DeadList:
    total, entries = P.parse_dead_list(body, version)
    out = DeadList(DeadEvent(i, a, DEAD_REASONS.get(r, "reason %d" % r),
                             n, p, e.decode(errors="replace") if e else None)
                   for i, a, r, n, p, e in entries)
    out.total = total
    return out


def job_args(queue: Data, id: Optional[int], unique_id: Optional[Data],
             preview: int) -> Tuple[int, bytes]:
    """(id, unique id bytes) of Client.job's arguments, each checked
    before anything is done: ValueError (TypeError for a type that is
    none of those allowed) naming the argument."""
    P.queue_name(queue, group_ok=True)
    if id is not None and (isinstance(id, bool) or not isinstance(id, int)):
        raise TypeError("id must be an int, not %s" % type(id).__name__)
    if unique_id is not None and not isinstance(unique_id, EVENT_TYPES):
        raise TypeError("unique_id must be str or bytes, not %s"
                        % type(unique_id).__name__)
    if isinstance(preview, bool) or not isinstance(preview, int):
        raise TypeError("preview must be an int, not %s"
                        % type(preview).__name__)
    if (id is None) == (unique_id is None):
        raise ValueError("give id or unique_id, %s" % (
            "not both" if id is not None else "one of them"))
    if id is not None and not 1 <= id < 1 << 64:
        raise ValueError("id must be 1 to 2**64 - 1, not %r" % id)
    uid = _uid_bytes(unique_id)
    if not 0 <= preview <= P.PREVIEW_MAX:
        raise ValueError("preview must be 0 to %d bytes, not %r"
                         % (P.PREVIEW_MAX, preview))
    return id or 0, uid


def job_frame(version: int, queue: Data, eid: int, uid: bytes,
              preview: int) -> bytes:
    """JOB, to a daemon of version 5 (Unsupported before)."""
    if version < 5:
        raise Unsupported("looking up a job (JOB) needs protocol version "
                          "5; the daemon speaks version %d" % version)
    return P.job(queue_for(version, queue, True), eid, preview, uid)


def job_result(body: bytes) -> Optional[Job]:
    """A JOB_REPLY as a Job; None for id 0 (no such event now)."""
    eid, state, reason, attempts, at, prio, length, preview, consumer, \
        key, hdrs, fails, result = P.parse_job_reply(body)
    if eid == 0:
        return None
    raw = list(hdrs) if hdrs else []
    return Job(
        eid, JOB_STATES[state] if state < len(JOB_STATES) else "unknown",
        state, _reason(state, reason), attempts, at / 1000.0 if at else None,
        prio, length, preview,
        consumer.decode(errors="replace") if consumer else None, key,
        {n: v.decode(errors="replace") for n, v in raw}, raw,
        [Failure(fat / 1000.0, fatt, who.decode(errors="replace"),
                 err.decode(errors="replace"))
         for fat, fatt, who, err in fails], result)


def _reason(state: int, reason: int) -> Optional[str]:
    """A dead event's reason in words; None in any other state."""
    if state != JOB_DEAD:
        return None
    return JOB_REASONS.get(reason, "reason %d" % reason)


def _uid_bytes(unique_id: Optional[Data]) -> bytes:
    """A unique id as it goes, 1 to 128 bytes (ValueError), b"" for
    none."""
    uid = b"" if unique_id is None else _b(unique_id)
    if unique_id is not None and not 1 <= len(uid) <= P.UNIQUE_ID_MAX:
        raise ValueError("unique_id must be 1 to %d bytes, not %d"
                         % (P.UNIQUE_ID_MAX, len(uid)))
    return uid


# The longest timeout a WAIT carries, in seconds: 4294967295 ms is no
# limit.
WAIT_MAX = (P.WAIT_FOREVER - 1) / 1000.0


def wait_args(queue: Data, id: Optional[int], unique_id: Optional[Data],
              timeout: Optional[float]) -> Tuple[int, bytes, int]:
    """(id, unique id bytes, timeout in ms) of Client.wait's arguments,
    each checked before anything is done: ValueError (TypeError for a
    type that is none of those allowed) naming the argument.  timeout
    None is no limit (WAIT_FOREVER); seconds are rounded to ms, and a
    timeout above 0 is at least 1 ms (0 is "answer at once")."""
    eid, uid = job_args(queue, id, unique_id, 0)
    if timeout is None:
        return eid, uid, P.WAIT_FOREVER
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError("timeout must be a number of seconds or None, not "
                        "%s" % type(timeout).__name__)
    if not 0 <= timeout <= WAIT_MAX:        # (NaN is neither)
        raise ValueError("timeout must be 0 to %.3f seconds (about 49 days)"
                         ", or None for no limit; not %r" % (WAIT_MAX,
                                                              timeout))
    ms = int(round(timeout * 1000))
    return eid, uid, max(ms, 1) if timeout > 0 else 0


def wait_frame(version: int, queue: Data, eid: int, uid: bytes,
               timeout_ms: int) -> bytes:
    """WAIT, to a daemon of version 5 (Unsupported before)."""
    if version < 5:
        raise Unsupported("waiting for a job (WAIT) needs protocol version "
                          "5; the daemon speaks version %d" % version)
    return P.wait(queue_for(version, queue, True), eid, timeout_ms, uid)


def wait_read_timeout(timeout: Optional[float],
                      timeout_ms: int) -> Optional[float]:
    """How long a connection whose answers are awaited timeout seconds
    (None: as long as it takes) awaits a WAIT_REPLY: the daemon holds it
    until the event ends, at most timeout_ms; the connection's own
    timeout comes after that.  No limit (WAIT_FOREVER): as long as it
    takes."""
    if timeout is None or timeout_ms == P.WAIT_FOREVER:
        return None
    return timeout_ms / 1000.0 + timeout


def wait_result(body: bytes) -> WaitResult:
    """A WAIT_REPLY as a WaitResult."""
    eid, state, timed_out, reason, at, attempts, data = \
        P.parse_wait_reply(body)
    return WaitResult(
        eid, WAIT_STATES[state] if state < len(WAIT_STATES) else "unknown",
        state, timed_out, _reason(state, reason), at / 1000.0 if at else None,
        attempts, data if state == JOB_DONE else None,
        data.decode(errors="replace") if state == JOB_DEAD else None)


def result_bytes(result: object) -> bytes:
    """An ACK's result as it goes: bytes as they are, a str as UTF-8
    (TypeError for anything else)."""
    if not isinstance(result, EVENT_TYPES):
        raise TypeError("an ACK's result is bytes or str, not %s"
                        % type(result).__name__)
    return _b(result)


def cancel_args(queue: Data, ids: object,
                unique_id: Optional[Data]) -> Tuple[List[int], bytes]:
    """(ids, unique id bytes) of Client.cancel's arguments, each checked
    before anything is done: ValueError (TypeError for a type that is
    none of those allowed) naming the argument.  ids is one id or an
    iterable of them; the queue is a queue, not a group."""
    q = P.queue_name(queue, group_ok=True)
    if b"/" in q:
        raise ValueError("cannot cancel in %s, a group: a job is cancelled "
                         "in every group of its queue; name the queue"
                         % q.decode(errors="replace"))
    idl: List[int] = []
    if ids is not None:
        if isinstance(ids, int) and not isinstance(ids, bool):
            idl = [ids]
        elif isinstance(ids, Iterable) and \
                not isinstance(ids, EVENT_TYPES + (Mapping,)):
            idl = list(cast(Iterable[int], ids))
            for i, v in enumerate(idl):
                if isinstance(v, bool) or not isinstance(v, int):
                    raise TypeError("ids[%d] must be an int, not %s"
                                    % (i, type(v).__name__))
        else:
            raise TypeError("ids must be an int or an iterable of ints, "
                            "not %s" % type(ids).__name__)
    if unique_id is not None and not isinstance(unique_id, EVENT_TYPES):
        raise TypeError("unique_id must be str or bytes, not %s"
                        % type(unique_id).__name__)
    if (ids is None) == (unique_id is None):
        raise ValueError("give ids or unique_id, %s" % (
            "not both" if ids is not None else "one of them"))
    if ids is not None and not idl:
        raise ValueError("ids is empty: give at least one id")
    for v in idl:
        if not 1 <= v < 1 << 64:
            raise ValueError("an id must be 1 to 2**64 - 1, not %r" % v)
    uid = b"" if unique_id is None else _b(unique_id)
    if unique_id is not None and not 1 <= len(uid) <= P.UNIQUE_ID_MAX:
        raise ValueError("unique_id must be 1 to %d bytes, not %d"
                         % (P.UNIQUE_ID_MAX, len(uid)))
    return idl, uid


def cancel_frame(version: int, max_frame: int, queue: Data,
                 ids: List[int], uid: bytes) -> bytes:
    """JOB_CANCEL, to a daemon of version 5 (Unsupported before).  Its
    answer has 9 bytes an id: more ids than max_frame / 9 would bring
    an answer over the daemon's own frame limit, which no client can
    read (the daemon would cancel them all the same), so they are a
    ValueError here, before anything is sent."""
    if version < 5:
        raise Unsupported("cancelling a job (JOB_CANCEL) needs protocol "
                          "version 5; the daemon speaks version %d"
                          % version)
    most = max_frame // P.CANCEL_REPLY_ENTRY.size
    if len(ids) > most:
        raise ValueError("cancel of %d ids: the daemon's answer (9 bytes an "
                         "id) would pass its frame limit of %d bytes; "
                         "cancel at most %d at once" % (len(ids), max_frame,
                                                        most))
    return P.job_cancel(queue_for(version, queue), ids, uid)


def cancel_result(body: bytes, ids: List[int]) -> List[Cancelled]:
    """A JOB_CANCEL_REPLY as Cancelled entries; it answers each id asked
    for, in order (one entry for a unique id): else a ProtocolError."""
    got = P.parse_cancel_reply(body)
    if len(got) != (len(ids) or 1) or (ids and [i for i, _ in got] != ids):
        raise ProtocolError("JOB_CANCEL_REPLY answers %s, not the %s asked "
                            "for" % ([i for i, _ in got][:8],
                                     ids[:8] if ids else "unique id"))
    return [Cancelled(i, CANCEL_OUTCOMES[o], o) for i, o in got]


_HEX_CURSOR = re.compile(r"[0-9a-fA-F]{%d}\Z" % (2 * P.CURSOR_LEN))

# What Client.jobs sends: (state, cursor, key, header) checked.
JobsArgs = Tuple[int, bytes, Optional[bytes], Optional[Tuple[bytes, bytes]]]


def jobs_args(queue: Data, state: str, after: object, limit: int,
              preview: int, key: Optional[Data],
              header: object) -> JobsArgs:
    """(state code, cursor bytes, key bytes or None, (name, value) bytes
    or None) of Client.jobs's arguments, each checked before anything
    is done: ValueError (TypeError for a type that is none of those
    allowed) naming the argument."""
    P.queue_name(queue, group_ok=True)
    if not isinstance(state, str):
        raise TypeError("state must be a str, not %s" % type(state).__name__)
    if state not in LIST_STATES:
        raise ValueError("state must be %s or %s, not %r" % (
            ", ".join('"%s"' % n for n in list(LIST_STATES)[:-1]),
            '"%s"' % list(LIST_STATES)[-1], state))
    for name, v, lo, hi in (("limit", limit, 1, P.JOBS_LIMIT_MAX),
                            ("preview", preview, 0, P.PREVIEW_MAX)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError("%s must be an int, not %s"
                            % (name, type(v).__name__))
        if not lo <= v <= hi:
            raise ValueError("%s must be %d to %d%s, not %r" % (
                name, lo, hi, " bytes" if name == "preview" else "", v))
    if after is None:
        cursor = bytes(P.CURSOR_LEN)
    elif isinstance(after, str):
        if not _HEX_CURSOR.match(after):
            raise ValueError("after must be a cursor: the %d hex digits a "
                             "page gave as next (or its %d bytes), not %r"
                             % (2 * P.CURSOR_LEN, P.CURSOR_LEN, after[:40]))
        cursor = bytes.fromhex(after)
    elif isinstance(after, (bytes, bytearray, memoryview)):
        cursor = bytes(after)
        if len(cursor) != P.CURSOR_LEN:
            raise ValueError("after must be a cursor of %d bytes, not %d"
                             % (P.CURSOR_LEN, len(cursor)))
    else:
        raise TypeError("after must be a cursor, str or bytes, not %s"
                        % type(after).__name__)
    kb: Optional[bytes] = None
    if key is not None:
        if not isinstance(key, EVENT_TYPES):
            raise TypeError("key must be str or bytes, not %s"
                            % type(key).__name__)
        kb = _b(key)
        if len(kb) > 255:
            raise ValueError("key must be at most 255 bytes, not %d"
                             % len(kb))
    hdr: Optional[Tuple[bytes, bytes]] = None
    if header is not None:
        if not isinstance(header, (tuple, list)) or len(header) != 2:
            raise TypeError("header must be a (name, value) pair, not %s"
                            % type(header).__name__)
        (hdr,) = header_pairs([header])
        P.headers_block([hdr])          # the name's and value's rules
        if key is not None:
            raise ValueError("give key or header, not both")
    return LIST_STATES[state], cursor, kb, hdr


def jobs_frame(version: int, queue: Data, args: JobsArgs, limit: int,
               preview: int) -> bytes:
    """JOBS, to a daemon of version 5 (Unsupported before)."""
    if version < 5:
        raise Unsupported("listing jobs (JOBS) needs protocol version 5; "
                          "the daemon speaks version %d" % version)
    state, cursor, key, header = args
    return P.jobs(queue_for(version, queue, True), state, limit, preview,
                  cursor, key, header)


def jobs_result(body: bytes, state: int, limit: int) -> JobsPage:
    """A JOBS_REPLY to a JOBS of state and limit as a JobsPage: at most
    limit entries, each in that state (JOBS_STATES), lowest ids first;
    else a ProtocolError."""
    nxt, entries = P.parse_jobs_reply(body)
    if len(entries) > limit:
        raise ProtocolError("JOBS_REPLY of %d entries for a page of %d"
                            % (len(entries), limit))
    out: List[Listed] = []
    last = 0
    for eid, st, reason, attempts, at, length, preview, key, hdrs in entries:
        if st not in P.JOBS_STATES[state]:
            raise ProtocolError("JOBS_REPLY: event %d in state %d on a page "
                                "of state %d" % (eid, st, state))
        if eid <= last:
            raise ProtocolError("JOBS_REPLY: event %d after event %d (lowest "
                                "ids first)" % (eid, last))
        last = eid
        raw = list(hdrs) if hdrs else []
        out.append(Listed(
            eid, JOB_STATES[st], st, _reason(st, reason), attempts,
            at / 1000.0 if at else None, length, preview, key,
            {n: v.decode(errors="replace") for n, v in raw}, raw))
    return JobsPage(out, nxt.hex() if any(nxt) else None)


# --- schedules (SCHEDULE, SCHEDULE_REPLY: protocol version 5) ---------------

CATCH_UPS = ("none", "last", "all")
# An interval's bounds, in seconds (protocol.md: 1 s to 3650 d).
EVERY_MAX = 3650 * 86400


def every_text(every: object) -> str:
    """An interval as the daemon takes it: a str as it is ("30s",
    "1h30m"); a number of seconds (whole, 1 to 3650 days) or a timedelta
    as its terms, largest first: 5400 is "1h30m", 86400 "1d"."""
    if isinstance(every, str):
        if not every:
            raise ValueError("every is empty: give a duration, 30s, 5m, "
                             "1h30m, 1d")
        return every
    if isinstance(every, datetime.timedelta):
        secs = every.total_seconds()
    elif isinstance(every, bool) or not isinstance(every, (int, float)):
        raise TypeError("every is a duration (str), a number of seconds or "
                        "a timedelta, not %s" % type(every).__name__)
    else:
        secs = float(every)
    if secs != int(secs) or not 1 <= secs <= EVERY_MAX:
        raise ValueError("every must be whole seconds, 1 s to 3650 days, "
                         "not %r" % (every,))
    n = int(secs)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if n >= size:
            out += "%d%s" % (n // size, unit)
            n %= size
    return out


def _yes(what: str, v: object) -> bytes:
    if not isinstance(v, bool):
        raise TypeError("%s is True or False, not %r" % (what, v))
    return b"yes" if v else b"no"


# What schedule_add_args makes: (name, queue, settings, attribute block,
# payload).
ScheduleAdd = Tuple[bytes, bytes, List[bytes], bytes, bytes]


def schedule_add_args(name: Data, queue: Data, cron: Optional[str] = None,
                      every: object = None, tz: Optional[str] = None,
                      catch_up: Optional[str] = None,
                      unique: Optional[bool] = None,
                      paused: Optional[bool] = None, payload: Data = b"",
                      headers: Optional[Headers] = None,
                      priority: Optional[int] = None,
                      key: Optional[Data] = None) -> ScheduleAdd:
    """Client.schedule_add's arguments as they go, each checked before
    anything is sent (ValueError, or TypeError for a type that is none
    of those allowed, naming it): a name and a queue (not a group) of 1
    to 64 bytes of A-Z a-z 0-9 . _ : -; exactly one of cron and every;
    tz with cron alone; catch_up "none", "last" or "all"; the event's
    headers as an ENQUEUE's but at most 14, of at most 3980 bytes of
    names and values, none named pushstage...; priority 0 to 65535; key
    to 255 bytes.  The settings go in one order, so that the same
    arguments make the same ADD (the daemon takes it again as a no-op)."""
    nm = P.schedule_name(name)
    q = P.queue_name(queue)
    if (cron is None) == (every is None):
        raise ValueError("give cron or every, %s" % (
            "not both" if cron is not None else "one of them"))
    settings: List[bytes] = []
    if cron is not None:
        if not isinstance(cron, str):
            raise TypeError("cron is a str (\"0 6 * * *\", \"@daily\"), "
                            "not %s" % type(cron).__name__)
        settings.append(b"cron=" + cron.encode("ascii", "replace"))
    else:
        settings.append(b"every=" + every_text(every).encode("ascii",
                                                             "replace"))
    if tz is not None:
        if not isinstance(tz, str):
            raise TypeError("tz is a str (\"Europe/Berlin\"), not %s"
                            % type(tz).__name__)
        if cron is None:
            raise ValueError("tz goes with cron: every counts from 1970 in "
                             "UTC")
        settings.append(b"tz=" + tz.encode("ascii", "replace"))
    if catch_up is not None:
        if catch_up not in CATCH_UPS:
            raise ValueError("catch_up must be \"none\", \"last\" or "
                             "\"all\", not %r" % (catch_up,))
        settings.append(b"catch-up=" + catch_up.encode())
    if unique is not None:
        settings.append(b"unique=" + _yes("unique", unique))
    if paused is not None:
        settings.append(b"paused=" + _yes("paused", paused))
    for st in settings:
        if len(st) > P.SCHED_SETTING_MAX or \
                any(c < 0x20 or c > 0x7e for c in st):
            k = st.split(b"=", 1)[0].decode()
            raise ValueError("%s must be printable ASCII, its setting at "
                             "most %d bytes" % (k, P.SCHED_SETTING_MAX))
    if not isinstance(payload, EVENT_TYPES):
        raise TypeError("payload is bytes or str, not %s"
                        % type(payload).__name__)
    pairs = header_pairs(headers)
    hblock = P.headers_block(pairs)
    for n, _ in pairs:
        if n.startswith(b"pushstage"):
            raise ValueError('header "%s": names that begin with pushstage '
                             'are the daemon\'s' % P.header_shown(n))
    if len(pairs) > P.SCHED_HEADERS_MAX:
        raise ValueError("a schedule's event has at most %d headers (the "
                         "daemon adds two), not %d"
                         % (P.SCHED_HEADERS_MAX, len(pairs)))
    hbytes = sum(len(n) + len(v) for n, v in pairs)
    if hbytes > P.SCHED_HEADERS_BYTES_MAX:
        raise ValueError("a schedule's event has at most %d bytes of header "
                         "names and values (the daemon adds two), not %d"
                         % (P.SCHED_HEADERS_BYTES_MAX, hbytes))
    if priority is not None and (isinstance(priority, bool) or
                                 not isinstance(priority, int)):
        raise TypeError("priority must be an int, not %s"
                        % type(priority).__name__)
    if key is not None and not isinstance(key, EVENT_TYPES):
        raise TypeError("key must be str or bytes, not %s"
                        % type(key).__name__)
    block = P.attrs(None if key is None else _b(key), priority=priority,
                    headers=hblock)
    return nm, q, settings, block, _b(payload)


def need_v5_schedules(version: int) -> None:
    if version < 5:
        raise Unsupported("schedules (SCHEDULE) need protocol version 5; "
                          "the daemon speaks version %d" % version)


def schedule_add_frame(version: int, args: ScheduleAdd,
                       replace: bool) -> bytes:
    """SCHEDULE ADD, to a daemon of version 5 (Unsupported before)."""
    need_v5_schedules(version)
    name, q, settings, block, data = args
    return P.schedule_add(name, q, settings, block, data, replace)


def schedule_frame(version: int, op: int, name: bytes,
                   start: int = 0) -> bytes:
    """SCHEDULE of another op (LIST with name b"": every schedule from
    the start-th), to a daemon of version 5 (Unsupported before)."""
    need_v5_schedules(version)
    return P.schedule(op, name, start)


def _when(ms: str, what: str) -> datetime.datetime:
    try:
        if not (ms.isascii() and ms.isdigit()):
            raise ValueError(ms)
        return EPOCH + datetime.timedelta(milliseconds=int(ms))
    except (ValueError, OverflowError):
        raise ProtocolError("SCHEDULE_REPLY: %s is %r, not ms since 1970"
                            % (what, ms[:40])) from None


def _count(fields: Dict[str, str], k: str) -> int:
    v = fields.get(k, "0")
    if not (v.isascii() and v.isdigit()):
        raise ProtocolError("SCHEDULE_REPLY: %s is %r, not a count"
                            % (k, v[:40]))
    return int(v)


def schedule_of(entry: P.ScheduleEntry) -> Schedule:
    """One SCHEDULE_REPLY entry as a Schedule; a field it cannot read (a
    time or a count that is not digits, a yes/no that is neither) is a
    ProtocolError.  Fields it does not know are kept in .fields."""
    name, queue, pairs, block, data = entry
    f = dict(pairs)
    key, prio, raw = P.attr_block(block, "a SCHEDULE_REPLY entry")

    def yes(k: str) -> bool:
        v = f.get(k, "no")
        if v not in ("yes", "no"):
            raise ProtocolError("SCHEDULE_REPLY: %s is %r, not yes or no"
                                % (k, v[:40]))
        return v == "yes"
    created = _when(f["created"], "created") if "created" in f else None
    last = _count(f, "last")
    nxt = f.get("next", "")
    return Schedule(
        name, queue, f.get("cron"), f.get("every"), f.get("tz"),
        f.get("catch-up", "last"), yes("unique"), yes("paused"), created,
        _when(str(last), "last") if last else None,
        _count(f, "last-id") or None, _count(f, "fired"),
        _count(f, "skipped"),
        [_when(t, "next") for t in nxt.split(",")] if nxt else [],
        _count(f, "enqueued") if "enqueued" in f else None, data, key, prio,
        {n: v.decode(errors="replace") for n, v in raw}, raw, f)


def schedules_result(body: bytes) -> Tuple[int, List[Schedule]]:
    """A SCHEDULE_REPLY: (total, its Schedules)."""
    total, entries = P.parse_schedule_reply(body)
    return total, [schedule_of(e) for e in entries]


def schedule_result(body: bytes, name: bytes) -> Schedule:
    """A SCHEDULE_REPLY to an op on one schedule: its one entry, of that
    name; anything else a ProtocolError."""
    total, got = schedules_result(body)
    if len(got) != 1 or got[0].name.encode() != name:
        raise ProtocolError("SCHEDULE_REPLY of %d entr%s (%s) for schedule "
                            "%s" % (len(got), "y" if len(got) == 1 else "ies",
                                    ",".join(s.name for s in got) or "none",
                                    name.decode()))
    return got[0]


def dead_ids_frame(version: int, ftype: int, queue: Data,
                   ids: Optional[Iterable[int]]) -> Optional[bytes]:
    """DEAD_RETRY or DEAD_DROP; None when ids is an empty list (nothing to
    do: count 0 on the wire would mean every dead letter)."""
    q = queue_for(version, queue, group_ok=True)
    idl = [] if ids is None else [int(i) for i in ids]
    if ids is not None and not idl:
        return None
    return P.dead_ids(version, ftype, q, idl)


def duration(seconds: float) -> str:
    """A setting's duration, in milliseconds."""
    return "%dms" % max(1, int(round(seconds * 1000)))


def settings_list(settings: Dict[str, object]) -> List[str]:
    """KEY=VALUE strings; Python names may use _ for -."""
    out = []
    for k, v in settings.items():
        if v is None:
            v = "none"
        elif v is True:
            v = "yes"
        elif v is False:
            v = "no"
        out.append("%s=%s" % (k.replace("_", "-"), v))
    return out


def pause_setting(seconds: Optional[float]) -> str:
    if seconds is None:
        return "paused=yes"
    import time
    return "paused=until:%d" % int((time.time() + seconds) * 1000)


# --- the demand window ---------------------------------------------------

# How many ids of events cancelled (CANCEL) a consumer keeps, about,
# once they are answered: never fewer than half of it; the ids of
# events it holds are kept until they are answered, however many.
CANCELLED_KEEP = 1024


class Window:
    """GenStage's demand window for one consumer connection (protocol.md,
    Demand accounting): what is held, and what to send when events are
    done.  Each delivery (the events of one read) is cut into chunks of at
    most max_demand - min_demand; when every event of a chunk is done its
    size leaves `pending`, and at min_demand or below the window is topped
    back up.  Frames to send pile up in out() until the caller writes
    them, so that ACKs and the DEMAND after them go in one write."""

    def __init__(self, max_demand: int, min_demand: int, acks: bool) -> None:
        if not 1 <= max_demand <= 1048576:
            raise ValueError("max_demand must be 1 to 1048576, not %r"
                             % max_demand)
        if not 0 <= min_demand < max_demand:
            raise ValueError("min_demand must be 0 to max_demand - 1, not %r"
                             % min_demand)
        self.max = max_demand
        self.min = min_demand
        self.acks = acks
        self.pending = max_demand
        self.held: Dict[int, List[int]] = {}
        self.stopped = False
        self._ack: List[int] = []
        self._nack: List[int] = []
        self._later: Dict[int, List[int]] = {}
        # NACK_ERROR frames, one an event; errors: the peer takes them
        # (version 5), else a nack's error is dropped; error_max: the
        # longest that goes (set_errors).
        self._errors: List[bytes] = []
        self.errors = False
        self.error_max = P.ERROR_MAX
        # ACK_RESULT frames, one an event; results: the peer takes them
        # (version 5), else an ACK goes without its result; result_max:
        # the longest that fits the peer's frames (set_results).
        self._results: List[bytes] = []
        self.results = False
        self.result_max = 0
        self._touch: List[int] = []
        self._demand = max_demand
        # Events the daemon said were cancelled (CANCEL), oldest first:
        # each held one until it is answered, then while it is among
        # the last answered (CANCELLED_KEEP).
        self.cancelled: Dict[int, None] = {}
        self._cancel_limit = CANCELLED_KEEP
        # manual: the caller asks for events itself (ask()); answering
        # them asks for nothing (the task worker's own rule).
        self.manual = False

    def set_manual(self) -> None:
        """From now on demand is asked by ask() alone: nothing at the
        start, nothing as events are answered.  (Before the first
        write: pushstage.taskworker's consumers.)"""
        self.manual = True
        self._demand = 0

    def ask(self, n: int) -> None:
        """Ask for n more events (manual demand; nothing once stopped).
        The caller keeps the credit and the events held within
        max_demand."""
        if not self.stopped:
            self._demand += n

    def set_errors(self, version: int, max_frame: int) -> None:
        """What WELCOME said of NACK_ERROR: version 5 takes it, and its
        body (14 bytes and the error) must fit max_frame, which may be
        as small as 4096."""
        self.errors = version >= 5
        self.error_max = max(0, min(P.ERROR_MAX,
                                    max_frame - P.NACK_ERROR_HEAD.size))

    def set_results(self, version: int, max_frame: int) -> None:
        """What WELCOME said of ACK_RESULT: version 5 takes it, and its
        body (12 bytes and the result) must fit max_frame."""
        self.results = version >= 5
        self.result_max = max(0, max_frame - P.ACK_RESULT_HEAD.size)

    def delivery(self, ids: Sequence[int]) -> None:
        step = self.max - self.min
        for i in range(0, len(ids), step):
            n = min(step, len(ids) - i)
            self.held.update(dict.fromkeys(ids[i:i + step], [n, n]))

    def cancel(self, ids: Iterable[int]) -> List[int]:
        """A CANCEL's ids: those of events held here (delivered, not yet
        acked or nacked) are now cancelled; others (answered already:
        the CANCEL crossed the answer) are nothing here.  Returns the
        ids newly cancelled, in order."""
        held, c = self.held, self.cancelled
        new: List[int] = []
        for eid in ids:
            if eid in held and eid not in c:
                c[eid] = None
                new.append(eid)
        if len(c) > self._cancel_limit:
            # Forget the oldest answered ones but the last half; those
            # held stay.  Next time: when as many again are answered,
            # or (many held) when the held have doubled.
            half = CANCELLED_KEEP // 2
            answered = [i for i in c if i not in held]
            for i in answered[:len(answered) - half]:
                del c[i]
            kept = len(c)
            self._cancel_limit = max(CANCELLED_KEEP, kept + half,
                                     2 * (kept - half))
        return new

    @staticmethod
    def _not_held(eid: int) -> ValueError:
        return ValueError("event %d is not held here (acked or nacked "
                          "already, or from another connection)" % eid)

    def ack(self, eid: int) -> bool:
        """The event is done; True when a DEMAND is due.  (done()'s
        common case, the hot path of a consumer.)"""
        chunk = self.held.pop(eid, None)
        if chunk is None:
            raise self._not_held(eid)
        if self.acks:
            self._ack.append(eid)
        chunk[0] -= 1
        return chunk[0] == 0 and self._chunk_done(chunk)

    def ack_result(self, eid: int, result: bytes) -> bool:
        """The event is done, and this is its result: an ACK_RESULT when
        the peer takes results (version 5), else a plain ACK, the result
        dropped (as libpushstage does); nothing without acks.  A result
        over result_max is a ValueError, with nothing done.  True when a
        DEMAND is due."""
        f = None
        if self.acks and self.results:
            if len(result) > self.result_max:
                raise ValueError("a result of %d bytes: the daemon takes "
                                 "frames of at most %d bytes, a result of "
                                 "at most %d" % (len(result),
                                                 self.result_max +
                                                 P.ACK_RESULT_HEAD.size,
                                                 self.result_max))
            f = P.ack_result(eid, result)
        chunk = self.held.pop(eid, None)
        if chunk is None:
            raise self._not_held(eid)
        if f is not None:
            self._results.append(f)
        elif self.acks:
            self._ack.append(eid)
        chunk[0] -= 1
        return chunk[0] == 0 and self._chunk_done(chunk)

    def ack_many(self, ids: Iterable[int]) -> bool:
        """Window.ack of each id (a batch's acks under one lock)."""
        due = False
        held = self.held
        out = self._ack if self.acks else []
        for eid in ids:
            chunk = held.pop(eid, None)
            if chunk is None:
                raise self._not_held(eid)
            out.append(eid)
            chunk[0] -= 1
            if chunk[0] == 0:
                due = self._chunk_done(chunk)
        return due

    def done(self, eid: int, how: str = "ack",
             delay_ms: Optional[int] = None,
             error: Optional[bytes] = None, dead: bool = False) -> bool:
        """The event is acked (how "ack") or nacked (with a delay: in
        delay_ms; with an error, at most 4096 bytes: a NACK_ERROR when
        errors, else the error is dropped); True when a DEMAND is due.
        dead: give up at once, a NACK_ERROR whose delay is NACK_DEAD
        (the dead letters, whatever the attempts; a peer without
        NACK_ERROR gets a plain NACK)."""
        if how == "ack":
            return self.ack(eid)
        f = None
        if dead and self.errors and self.acks:
            f = P.nack_error(eid, P.NACK_DEAD, error or b"")
        elif error is not None and self.errors and self.acks:
            # (Built first: a bad error or delay raises with nothing
            # done.)  NACK_BACKOFF is the queue's backoff there and
            # NACK_DEAD gives up: a delay of just that many ms goes
            # sooner.
            f = P.nack_error(eid, None if delay_ms is None else
                             min(delay_ms, P.NACK_DEAD - 1), error)
        chunk = self.held.pop(eid, None)
        if chunk is None:
            raise self._not_held(eid)
        if self.acks:
            if f is not None:
                self._errors.append(f)
            elif delay_ms is None:
                self._nack.append(eid)
            else:
                self._later.setdefault(delay_ms, []).append(eid)
        chunk[0] -= 1
        return chunk[0] == 0 and self._chunk_done(chunk)

    def _chunk_done(self, chunk: List[int]) -> bool:
        if self.manual:
            return False
        self.pending -= chunk[1]
        if self.pending <= self.min and not self.stopped:
            self._demand += self.max - self.pending
            self.pending = self.max
        return self._demand > 0

    def touch(self, eid: int) -> None:
        if eid not in self.held:
            raise ValueError("event %d is not held here" % eid)
        if self.acks:
            self._touch.append(eid)

    def stop(self) -> None:
        """Ask for nothing more (a worker that drains)."""
        self.stopped = True
        self._demand = 0

    def out(self) -> bytes:
        parts: List[bytes] = []
        # TOUCHes first: an event touched and then acked before this write
        # is still in flight when its TOUCH arrives.
        if self._touch:
            parts.append(P.ids(P.TOUCH, self._touch))
            self._touch = []
        if self._ack:
            parts.append(P.ids(P.ACK, self._ack))
            self._ack = []
        if self._results:
            parts += self._results
            self._results = []
        if self._nack:
            parts.append(P.ids(P.NACK, self._nack))
            self._nack = []
        for d, idl in self._later.items():
            parts.append(P.nack_later(d, idl))
        self._later = {}
        if self._errors:
            parts += self._errors
            self._errors = []
        if self._demand:
            parts.append(P.demand(self._demand))
            self._demand = 0
        return b"".join(parts)
