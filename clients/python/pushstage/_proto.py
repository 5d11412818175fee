"""The pushstage protocol's bytes (docs/protocol.md): frames built and
read, and nothing else.  No I/O here, so the synchronous and the asyncio
clients share it, and tests drive it directly."""

from __future__ import annotations

import struct
from typing import Dict, List, Optional, Sequence, Set, Tuple

from . import errors as E
from .errors import ProtocolError

VERSION = 5             # the version this package speaks best
MIN_VERSION = 2         # and the oldest it speaks (acks need 2)

HEADER = struct.Struct(">IBBH")
U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")
EVENT_HEAD = struct.Struct(">QI")
EVENT_FRAME = struct.Struct(">IBBHQI")      # a header and an EVENT's head
WELCOME = struct.Struct(">HHIIHBB")
ENQUEUED = struct.Struct(">QIIII")

# Frame types.
HELLO, WELCOME_T, ENQUEUE, ENQUEUED_T, DEMAND, EVENT, STATS, STATS_REPLY, \
    ERROR, ACK, NACK, TOUCH, DEAD_LIST, DEAD_LIST_REPLY, DEAD_RETRY, \
    DEAD_DROP, DEAD_DONE, QUEUES, QUEUES_REPLY, QUEUE_ADMIN, QUEUE_DONE, \
    NACK_LATER, NACK_ERROR, JOB, JOB_REPLY, CANCEL, JOB_CANCEL, \
    JOB_CANCEL_REPLY, ACK_RESULT, WAIT, WAIT_REPLY, JOBS, JOBS_REPLY, \
    TASK_STATS, TASK_STATS_REPLY, SCHEDULE, SCHEDULE_REPLY = range(1, 38)
TYPE_MAX = SCHEDULE_REPLY       # a frame type past it is a bad header

ROLE_CONSUMER = 1
ROLE_CLIENT = 2

# ENQUEUE attributes.
ATTR_KEY, ATTR_DELAY, ATTR_NOT_BEFORE, ATTR_PRIORITY, ATTR_UNIQUE_ID = \
    range(1, 6)
MAX_DELAY_MS = 316_224_000_000
# Version 5: a tag of 128 or more has a u16 length; 128 is a HEADER.
ATTR_LONG = 128
ATTR_HEADER = 128
HEADER_NAME_MAX = 64
HEADER_VALUE_MAX = 1024
HEADERS_MAX = 16
HEADERS_BYTES_MAX = 4096
HEADER_ATTR = struct.Struct(">BHB")     # tag, length, name_len

# NACK_ERROR (version 5): its head, the longest error it takes, and the
# delay that means the queue's retry-backoff.  A dead letter shows the
# first DEAD_ERROR_MAX bytes of its last error.
NACK_ERROR_HEAD = struct.Struct(">QIH")
ERROR_MAX = 4096
DEAD_ERROR_MAX = 1024
NACK_BACKOFF = 0xFFFFFFFF
# A NACK_ERROR's delay that gives up at once: the event goes to the dead
# letters whatever its attempts, reason 4 "rejected" (docs/tasks.md).
NACK_DEAD = 0xFFFFFFFE

# JOB (version 5): the longest preview and unique id it takes; a
# JOB_REPLY's fixed head (id, state, reason, attempts, at, priority, len,
# preview_len) and each failure's (at, attempt).
PREVIEW_MAX = 1024
UNIQUE_ID_MAX = 128
JOB_HEAD = struct.Struct(">QHB")            # id, preview, uid_len
JOB_REPLY_HEAD = struct.Struct(">QBBIQHIH")
FAILURE_HEAD = struct.Struct(">QI")

# JOB_CANCEL (version 5): its head after the queue and unique id (the
# count of ids), and a JOB_CANCEL_REPLY's entries (id, outcome) with
# their outcomes: it waited and is gone, in flight and its consumer
# told, in flight and cancelled before.
CANCEL_REPLY_ENTRY = struct.Struct(">QB")
CANCEL_REMOVED, CANCEL_TOLD, CANCEL_ALREADY = range(1, 4)

# JOB_REPLY's states dead (with its reason) and done (acked, its record
# kept by the queue's keep-done: the result of its ACK_RESULT follows the
# failures).
JOB_DEAD = 7
JOB_DONE = 9

# ACK_RESULT (version 5): its head (id, len), so a result is at most
# max_frame - 12 bytes.
ACK_RESULT_HEAD = struct.Struct(">QI")

# WAIT (version 5): its head after the queue (id, timeout_ms, uid_len)
# and the timeout that means no limit; a WAIT_REPLY's fixed head (id,
# state, timed_out, reason, reserved, at, attempts, len), its data the
# result (done) or the last error (dead).
WAIT_HEAD = struct.Struct(">QIB")
WAIT_FOREVER = 0xFFFFFFFF
WAIT_REPLY_HEAD = struct.Struct(">QBBBBQII")

# JOBS (version 5): the states a page may list (queued, delayed, in
# flight, waiting to retry, dead, done) and the states its entries may
# be in for each (queued: also behind their key, 3, or for their
# partition, 4; in flight: also cancelled in flight, 8); its head after
# the queue (state, limit, preview, cursor, filter, filter_len), its
# filters, the most events a page takes; a JOBS_REPLY's head (next,
# count) and each entry's fixed head (id, state, reason, attempts, at,
# len, preview_len).
JOBS_STATES: Dict[int, Tuple[int, ...]] = {
    1: (1, 3, 4), 2: (2,), 5: (5, 8), 6: (6,), 7: (7,), 9: (9,)}
JOBS_HEAD = struct.Struct(">BHH16sBH")
FILTER_NONE, FILTER_KEY, FILTER_HEADER = range(3)
JOBS_LIMIT_MAX = 1000
CURSOR_LEN = 16
JOBS_REPLY_HEAD = struct.Struct(">16sI")
JOBS_ENTRY_HEAD = struct.Struct(">QBBIQIH")

# SCHEDULE (version 5): its ops, ADD's flag, a name's and a setting's
# longest, and what an ADD's event may carry (the daemon adds two
# headers of its own, pushstage-schedule and pushstage-tick).
SCHED_ADD, SCHED_REMOVE, SCHED_PAUSE, SCHED_RESUME, SCHED_RUN_NOW, \
    SCHED_LIST = range(1, 7)
SCHED_REPLACE = 1
SCHED_NAME_MAX = 64
SCHED_SETTING_MAX = 1024
SCHED_HEADERS_MAX = 14
SCHED_HEADERS_BYTES_MAX = 3980

# QUEUE_ADMIN operations.
OP_SET, OP_PURGE, OP_DELETE, OP_CREATE, OP_DROP_GROUP = range(1, 6)
ADMIN_FORCE = 1

# ERROR codes by name: TOO_LARGE for E_TOO_LARGE, ...
ERROR_NAMES: Dict[int, str] = {
    v: k[2:] for k, v in vars(E).items() if k.startswith("E_")}

_NAME_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        b"0123456789._:-")
_HEADER_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_.")

# An event's headers as they come: (name, value), in order.
RawHeaders = List[Tuple[str, bytes]]


def _bytes(v: "str | bytes", what: str) -> bytes:
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    raise TypeError("%s must be str or bytes, not %s" % (what, type(v).__name__))


def queue_name(name: "str | bytes", group_ok: bool = False) -> bytes:
    """A queue name checked as the daemon checks it (ValueError if bad):
    1 to 64 bytes of A-Z a-z 0-9 . _ : -; with group_ok also QUEUE/GROUP
    (QUEUE/ alone is the shared group), up to 129 bytes."""
    b = _bytes(name, "a queue name")
    parts = b.split(b"/", 1) if group_ok else [b]
    for i, p in enumerate(parts):
        if i == 1 and p == b"":
            continue
        if not 1 <= len(p) <= 64 or not set(p) <= _NAME_BYTES:
            raise ValueError("bad queue name %r: 1 to 64 bytes of A-Z a-z "
                             "0-9 . _ : -%s" % (b.decode(errors="replace"),
                                                ", or QUEUE/GROUP" if group_ok
                                                else " (no group here)"))
    return b


def frame(ftype: int, body: bytes = b"", flags: int = 0) -> bytes:
    return HEADER.pack(len(body), ftype, flags, 0) + body


def _short(b: bytes) -> bytes:
    return bytes((len(b),)) + b


def hello(version: int, role: int, name: bytes = b"", max_demand: int = 0,
          min_demand: int = 0, queue: bytes = b"",
          partition: Optional[int] = None) -> bytes:
    if len(name) > 255:
        raise ValueError("a consumer ID or client name is at most 255 bytes")
    if any(c < 0x20 or c == 0x7f for c in name):
        raise ValueError("a consumer ID or client name may not hold control "
                         "bytes: %r" % name)
    body = struct.pack(">HBBII", version, role, 0, max_demand, min_demand) \
        + _short(name)
    if version >= 3:
        body += _short(queue)
        if partition is not None:
            body += U16.pack(partition)
    return frame(HELLO, body)


def attrs(key: Optional[bytes] = None, delay_ms: Optional[int] = None,
          not_before_ms: Optional[int] = None, priority: Optional[int] = None,
          unique_id: Optional[bytes] = None, headers: bytes = b"") -> bytes:
    """One event's attribute block (without its u16 length); headers, a
    headers_block(), go after every other attribute (version 5)."""
    a = b""
    if key is not None:
        if len(key) > 255:
            raise ValueError("a key is at most 255 bytes")
        a += bytes((ATTR_KEY, len(key))) + key
    if delay_ms is not None and not_before_ms is not None:
        raise ValueError("give delay or not_before, not both")
    if delay_ms is not None:
        if not 0 <= delay_ms <= MAX_DELAY_MS:
            raise ValueError("delay must be 0 to 10 years, not %r ms" % delay_ms)
        a += bytes((ATTR_DELAY, 8)) + U64.pack(delay_ms)
    if not_before_ms is not None:
        if not_before_ms < 0:
            raise ValueError("not_before must be after 1970")
        a += bytes((ATTR_NOT_BEFORE, 8)) + U64.pack(not_before_ms)
    if priority is not None:
        if not 0 <= priority <= 65535:
            raise ValueError("priority must be 0 to 65535, not %r" % priority)
        a += bytes((ATTR_PRIORITY, 2)) + U16.pack(priority)
    if unique_id is not None:
        if not 1 <= len(unique_id) <= 128:
            raise ValueError("a unique id is 1 to 128 bytes")
        a += bytes((ATTR_UNIQUE_ID, len(unique_id))) + unique_id
    return a + headers


def header_shown(name: bytes) -> str:
    """A header's name as a message shows it: its first 64 characters,
    any that could not be printed or would end the quotes as ?."""
    s = "".join(c if c.isprintable() and c not in '"\\' else "?"
                for c in name.decode(errors="replace"))
    return s if len(s) <= HEADER_NAME_MAX else s[:HEADER_NAME_MAX] + "..."


def headers_block(headers: Sequence[Tuple[bytes, bytes]]) -> bytes:
    """An event's HEADER attributes (version 5), in the order given,
    checked as the daemon checks them (protocol.md, Headers): a
    ValueError names the header and says what is wrong, in the words of
    the daemon's ERROR."""
    out: List[bytes] = []
    seen: Set[bytes] = set()
    total = 0
    pack = HEADER_ATTR.pack
    for i, (name, value) in enumerate(headers):
        if not 1 <= len(name) <= HEADER_NAME_MAX or \
                not set(name) <= _HEADER_NAME_BYTES:
            raise ValueError('header "%s": a name is 1 to 64 bytes of a-z '
                             '0-9 - _ .' % header_shown(name))
        if len(value) > HEADER_VALUE_MAX:
            raise ValueError('header "%s": its value is %d bytes, over 1024'
                             % (header_shown(name), len(value)))
        if i >= HEADERS_MAX:
            raise ValueError('header "%s": more than 16 headers'
                             % header_shown(name))
        total += len(name) + len(value)
        if total > HEADERS_BYTES_MAX:
            raise ValueError('header "%s": headers over 4096 bytes (names '
                             'and values)' % header_shown(name))
        if name in seen:
            raise ValueError('header "%s" given twice' % header_shown(name))
        seen.add(name)
        out.append(pack(ATTR_HEADER, 1 + len(name) + len(value), len(name)))
        out.append(name)
        out.append(value)
    return b"".join(out)


def enqueue(version: int, queue: bytes, events: Sequence[bytes],
            attrblocks: Optional[Sequence[bytes]] = None) -> bytes:
    """ENQUEUE of events; attrblocks, when given, one per event (flags 1)."""
    parts: List[bytes] = [U32.pack(len(events))]
    if version >= 3:
        parts.append(_short(queue))
    if attrblocks is None:
        pack = U32.pack
        for e in events:
            parts.append(pack(len(e)))
            parts.append(e)
        flags = 0
    else:
        for e, a in zip(events, attrblocks):
            parts.append(U32.pack(len(e)) + U16.pack(len(a)) + a)
            parts.append(e)
        flags = 1
    body = b"".join(parts)
    return HEADER.pack(len(body), ENQUEUE, flags, 0) + body


def demand(n: int) -> bytes:
    return frame(DEMAND, U32.pack(n))


def ids(ftype: int, idlist: Sequence[int], prefix: bytes = b"") -> bytes:
    """ACK, NACK, TOUCH, DEAD_RETRY, DEAD_DROP: [prefix] count, ids."""
    body = prefix + struct.pack(">I%dQ" % len(idlist), len(idlist), *idlist)
    return frame(ftype, body)


def nack_later(delay_ms: int, idlist: Sequence[int]) -> bytes:
    if not 0 <= delay_ms <= 0xFFFFFFFF:
        raise ValueError("a NACK's delay is 0 to 4294967295 ms")
    return ids(NACK_LATER, idlist, U32.pack(delay_ms))


def nack_error(eid: int, delay_ms: Optional[int], error: bytes) -> bytes:
    """NACK_ERROR (version 5) of one event: again after delay_ms (0: at
    once; None or NACK_BACKOFF: after the queue's retry-backoff, as a
    NACK), with the error (at most ERROR_MAX bytes) that said why."""
    d = NACK_BACKOFF if delay_ms is None else delay_ms
    if not 0 <= d <= NACK_BACKOFF:
        raise ValueError("a NACK's delay is 0 to 4294967295 ms")
    if len(error) > ERROR_MAX:
        raise ValueError("a NACK's error is at most %d bytes, not %d"
                         % (ERROR_MAX, len(error)))
    return frame(NACK_ERROR, NACK_ERROR_HEAD.pack(eid, d, len(error)) + error)


def ack_result(eid: int, result: bytes) -> bytes:
    """ACK_RESULT (version 5): an ACK of one event, with its result
    (opaque bytes; b"" is a plain ACK's)."""
    if not 0 < eid < 1 << 64:
        raise ValueError("an event's id is 1 to 2**64 - 1, not %r" % eid)
    return frame(ACK_RESULT, ACK_RESULT_HEAD.pack(eid, len(result)) + result)


def stats(version: int, queue: Optional[bytes]) -> bytes:
    return frame(STATS, _short(queue) if queue and version >= 3 else b"")


def dead_list(version: int, queue: bytes, preview: int) -> bytes:
    q = _short(queue) if version >= 3 else b""
    return frame(DEAD_LIST, q + U32.pack(preview))


def dead_ids(version: int, ftype: int, queue: bytes,
             idlist: Sequence[int]) -> bytes:
    return ids(ftype, idlist, _short(queue) if version >= 3 else b"")


def queues(start: int) -> bytes:
    return frame(QUEUES, U32.pack(start))


def queue_admin(op: int, queue: bytes, settings: Sequence[str] = (),
                force: bool = False) -> bytes:
    body = bytes((op, ADMIN_FORCE if force else 0)) + _short(queue) + \
        U16.pack(len(settings))
    for s in settings:
        b = s.encode("ascii")
        body += U16.pack(len(b)) + b
    return frame(QUEUE_ADMIN, body)


def job(queue: bytes, eid: int, preview: int, uid: bytes = b"") -> bytes:
    """JOB (version 5): the event eid of the queue (or QUEUE/GROUP), or
    with eid 0 the one enqueued with the unique id uid; the first
    `preview` bytes of its payload."""
    if (eid == 0) == (uid == b""):
        raise ValueError("a JOB names an event by its id or (id 0) by its "
                         "unique id, one of them")
    if not 0 <= eid < 1 << 64:
        raise ValueError("an event's id is 1 to 2**64 - 1, not %r" % eid)
    if len(uid) > UNIQUE_ID_MAX:
        raise ValueError("a unique id is 1 to 128 bytes")
    if not 0 <= preview <= PREVIEW_MAX:
        raise ValueError("a JOB's preview is 0 to 1024 bytes")
    return frame(JOB, _short(queue) + JOB_HEAD.pack(eid, preview, len(uid))
                 + uid)


def job_cancel(queue: bytes, idlist: Sequence[int],
               uid: bytes = b"") -> bytes:
    """JOB_CANCEL (version 5): the events idlist of the queue (not a
    group: a job is cancelled in every group), or with no ids the one
    enqueued with the unique id uid."""
    if (not idlist) == (uid == b""):
        raise ValueError("a JOB_CANCEL names events by their ids or one by "
                         "its unique id, one of them")
    if len(uid) > UNIQUE_ID_MAX:
        raise ValueError("a unique id is 1 to 128 bytes")
    for i in idlist:
        if not 0 < i < 1 << 64:
            raise ValueError("an event's id is 1 to 2**64 - 1, not %r" % i)
    return frame(JOB_CANCEL, _short(queue) + _short(uid) +
                 struct.pack(">I%dQ" % len(idlist), len(idlist), *idlist))


def wait(queue: bytes, eid: int, timeout_ms: int, uid: bytes = b"") -> bytes:
    """WAIT (version 5): until the event eid of the queue (or
    QUEUE/GROUP), or with eid 0 the one enqueued with the unique id uid,
    ends; answered at the latest after timeout_ms (0: at once;
    WAIT_FOREVER: no limit)."""
    if (eid == 0) == (uid == b""):
        raise ValueError("a WAIT names an event by its id or (id 0) by its "
                         "unique id, one of them")
    if not 0 <= eid < 1 << 64:
        raise ValueError("an event's id is 1 to 2**64 - 1, not %r" % eid)
    if len(uid) > UNIQUE_ID_MAX:
        raise ValueError("a unique id is 1 to 128 bytes")
    if not 0 <= timeout_ms <= WAIT_FOREVER:
        raise ValueError("a WAIT's timeout is 0 to 4294967295 ms")
    return frame(WAIT, _short(queue) + WAIT_HEAD.pack(eid, timeout_ms,
                                                      len(uid)) + uid)


def jobs(queue: bytes, state: int, limit: int, preview: int,
         cursor: bytes = bytes(CURSOR_LEN), key: Optional[bytes] = None,
         header: Optional[Tuple[bytes, bytes]] = None) -> bytes:
    """JOBS (version 5): a page of the events of the queue (or
    QUEUE/GROUP) in one state (JOBS_STATES), at most limit of them,
    with their payloads' first `preview` bytes, past cursor (all 0: the
    first page); those of one key, or with one header's value, alone."""
    if state not in JOBS_STATES:
        raise ValueError("a JOBS lists state 1, 2, 5, 6, 7 or 9, not %r"
                         % state)
    if not 1 <= limit <= JOBS_LIMIT_MAX:
        raise ValueError("a JOBS's limit is 1 to 1000 events")
    if not 0 <= preview <= PREVIEW_MAX:
        raise ValueError("a JOBS's preview is 0 to 1024 bytes")
    if len(cursor) != CURSOR_LEN:
        raise ValueError("a cursor is 16 bytes")
    if key is not None and header is not None:
        raise ValueError("a JOBS filters by a key or a header, not both")
    filt, fbody = FILTER_NONE, b""
    if key is not None:
        if len(key) > 255:
            raise ValueError("a key is at most 255 bytes")
        filt, fbody = FILTER_KEY, key
    elif header is not None:
        name, value = header
        if not 1 <= len(name) <= HEADER_NAME_MAX or \
                len(value) > HEADER_VALUE_MAX:
            raise ValueError("a header's name is 1 to 64 bytes, its value "
                             "at most 1024")
        filt, fbody = FILTER_HEADER, _short(name) + value
    return frame(JOBS, _short(queue) + JOBS_HEAD.pack(
        state, limit, preview, cursor, filt, len(fbody)) + fbody)


def schedule_name(name: "str | bytes") -> bytes:
    """A schedule's name checked as the daemon checks it (ValueError if
    bad): 1 to 64 bytes of A-Z a-z 0-9 . _ : -, as a queue's."""
    b = _bytes(name, "a schedule's name")
    if not 1 <= len(b) <= SCHED_NAME_MAX or not set(b) <= _NAME_BYTES:
        raise ValueError("bad schedule name %r: 1 to 64 bytes of A-Z a-z "
                         "0-9 . _ : -" % b.decode(errors="replace"))
    return b


def schedule(op: int, name: bytes, start: int = 0) -> bytes:
    """SCHEDULE (version 5) of every op but ADD: REMOVE, PAUSE, RESUME,
    RUN_NOW or LIST of the schedule `name`; a LIST with name b"" lists
    every schedule from the start-th (0: the first)."""
    if not SCHED_REMOVE <= op <= SCHED_LIST:
        raise ValueError("a SCHEDULE's op is 2 to 6 here (ADD: "
                         "schedule_add), not %r" % op)
    if name:
        schedule_name(name)
    elif op != SCHED_LIST:
        raise ValueError("only a LIST goes without a schedule's name")
    if not 0 <= start <= 0xFFFFFFFF:
        raise ValueError("a LIST's start is 0 to 4294967295, not %r" % start)
    if start and (op != SCHED_LIST or name):
        raise ValueError("a start goes with a LIST of every schedule alone")
    return frame(SCHEDULE, bytes((op, 0, len(name))) + name +
                 U32.pack(start))


def schedule_add(name: bytes, queue: bytes, settings: Sequence[bytes],
                 attrblock: bytes, data: bytes,
                 replace: bool = False) -> bytes:
    """SCHEDULE ADD (version 5): the schedule `name` enqueues to `queue`
    (not a group) the event `data` with the attribute block attrblock
    (attrs(): KEY, PRIORITY, HEADERs) at each tick of its settings, each
    b"KEY=VALUE" (ASCII, at most 1024 bytes); replace: REPLACE, a
    definition of that name otherwise is replaced (its progress kept)."""
    schedule_name(name)
    queue_name(queue)
    if len(settings) > 0xFFFF:
        raise ValueError("a SCHEDULE ADD has at most 65535 settings")
    parts = [bytes((SCHED_ADD, SCHED_REPLACE if replace else 0, len(name))),
             name, U32.pack(0), _short(queue), U16.pack(len(settings))]
    for st in settings:
        if not 3 <= len(st) <= SCHED_SETTING_MAX or b"=" not in st[1:] or \
                any(c < 0x20 or c > 0x7e for c in st):
            raise ValueError("a schedule's setting is KEY=VALUE, printable "
                             "ASCII, at most %d bytes: not %r"
                             % (SCHED_SETTING_MAX, st[:80]))
        parts.append(U16.pack(len(st)))
        parts.append(st)
    if len(attrblock) > 0xFFFF:
        raise ValueError("an event's attributes are at most 65535 bytes")
    parts.append(U32.pack(len(data)) + U16.pack(len(attrblock)))
    parts.append(attrblock)
    parts.append(data)
    return frame(SCHEDULE, b"".join(parts))


# --- reading -----------------------------------------------------------

# A frame read: (type, body, flags).
Frame = Tuple[int, bytes, int]


class Reader:
    """Cuts a byte stream into frames.  feed() the bytes as they come;
    frames() gives (type, body, flags) for each whole one.  A header whose
    length passes limit is a ProtocolError: nothing past it is trusted."""

    __slots__ = ("buf", "pos", "limit")

    def __init__(self, limit: int = 1 << 20) -> None:
        self.buf = bytearray()
        self.pos = 0
        self.limit = limit

    def feed(self, data: bytes) -> None:
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data

    def pending(self) -> int:
        return len(self.buf) - self.pos

    def frames(self) -> List[Frame]:
        """Every whole frame buffered, as (type, body, flags), consumed.
        Only an EVENT (version 4 on) may have flags: 1, attributes."""
        buf = self.buf
        end = len(buf)
        pos = self.pos
        out: List[Frame] = []
        unpack = HEADER.unpack_from
        while end - pos >= 8:
            length, ftype, flags, reserved = unpack(buf, pos)
            if length > self.limit:
                raise ProtocolError("the daemon sent a frame of %d bytes, "
                                    "over the limit of %d"
                                    % (length, self.limit))
            if not 1 <= ftype <= TYPE_MAX or reserved or (
                    flags and (ftype != EVENT or flags != 1)):
                raise ProtocolError("the daemon sent a bad frame header "
                                    "(type %d, flags %d, reserved %d)"
                                    % (ftype, flags, reserved))
            if end - pos < 8 + length:
                break
            out.append((ftype, bytes(buf[pos + 8:pos + 8 + length]), flags))
            pos += 8 + length
        self.pos = pos
        return out


def _need(body: bytes, n: int, what: str) -> None:
    if len(body) < n:
        raise ProtocolError("%s cut short: %d bytes, need %d"
                            % (what, len(body), n))


def parse_welcome(body: bytes) -> Dict[str, int]:
    if len(body) == 8:          # version 1
        v, _, mf = struct.unpack(">HHI", body)
        return {"version": v, "max_frame": mf, "ack_timeout_ms": 0,
                "max_attempts": 0, "delivery": 2}
    if len(body) != 16:
        raise ProtocolError("WELCOME of %d bytes, not 16" % len(body))
    v, _, mf, at, ma, dl, _ = WELCOME.unpack(body)
    return {"version": v, "max_frame": mf, "ack_timeout_ms": at,
            "max_attempts": ma, "delivery": dl}


def parse_error(body: bytes) -> Tuple[int, str]:
    _need(body, 2, "ERROR")
    return U16.unpack_from(body)[0], bytes(body[2:]).decode(errors="replace")


def parse_enqueued(body: bytes) -> Tuple[int, int, int, int, int,
                                                 List[int]]:
    """first_id, accepted, refused, shed_new, shed_old, duplicate indexes."""
    _need(body, 24, "ENQUEUED")
    first, acc, ref, shn, sho = ENQUEUED.unpack_from(body)
    dups: List[int] = []
    if len(body) > 24:
        _need(body, 28, "ENQUEUED")
        n = U32.unpack_from(body, 24)[0]
        if len(body) != 28 + 4 * n:
            raise ProtocolError("ENQUEUED of %d bytes for %d duplicates"
                                % (len(body), n))
        dups = list(struct.unpack_from(">%dI" % n, body, 28))
    return first, acc, ref, shn, sho, dups


def _attrs(buf: bytes, p: int, stop: int, long_tags: bool, what: str,
           prio_tag: bool = False
           ) -> Tuple[Optional[bytes], Optional[int], RawHeaders]:
    """The attributes at buf[p:stop]: (KEY or None, PRIORITY or None,
    HEADERs in order).  With long_tags (version 5) a tag of 128 or more
    has a u16 length; PRIORITY is read only with prio_tag (an EVENT has
    none); tags not known are skipped.  An attribute or a HEADER's name
    past its end, or a PRIORITY not of 2 bytes, is a ProtocolError
    naming what holds it."""
    key: Optional[bytes] = None
    prio: Optional[int] = None
    headers: RawHeaders = []
    while p < stop:
        tag = buf[p]
        if long_tags and tag >= ATTR_LONG:
            if stop - p < 3:
                raise ProtocolError("%s's attribute cut short" % what)
            v = p + 3
            p = v + (buf[p + 1] << 8 | buf[p + 2])
            if p > stop:
                raise ProtocolError("%s's attribute cut short" % what)
            if tag == ATTR_HEADER:
                if p == v or buf[v] > p - v - 1:
                    raise ProtocolError("%s's HEADER runs past its length"
                                        % what)
                n = v + 1 + buf[v]
                headers.append((bytes(buf[v + 1:n]).decode(
                    errors="replace"), bytes(buf[n:p])))
            continue
        if stop - p < 2 or stop - p - 2 < buf[p + 1]:
            raise ProtocolError("%s's attribute cut short" % what)
        ln = buf[p + 1]
        if tag == ATTR_KEY:
            key = bytes(buf[p + 2:p + 2 + ln])
        elif tag == ATTR_PRIORITY and prio_tag:
            if ln != 2:
                raise ProtocolError("%s's PRIORITY of %d bytes, not 2"
                                    % (what, ln))
            prio = int(U16.unpack_from(buf, p + 2)[0])
        p += 2 + ln
    return key, prio, headers


def event_block(body: bytes, start: int, end: int, version: int,
                what: str = "an EVENT"
                ) -> Tuple[Optional[bytes], Optional[RawHeaders], int]:
    """An EVENT's attribute block at body[start:end] (flags 1, version 4
    on): (its KEY or None, its headers or None, where the payload
    starts).  In version 5 a tag of 128 or more has a u16 length, and
    HEADERs (tag 128) are the event's headers in order; tags not known
    are skipped.  (A JOB_REPLY holds one too: what names the frame in
    an error.)"""
    if end - start < 2:
        raise ProtocolError("%s's attributes cut short" % what)
    alen = U16.unpack_from(body, start)[0]
    p, stop = start + 2, start + 2 + alen
    if stop > end:
        raise ProtocolError("%s's attributes (%d bytes) pass its end"
                            % (what, alen))
    key, _, headers = _attrs(body, p, stop, version >= 5, what)
    return key, headers or None, stop


def event_attrs(body: bytes, start: int, end: int) -> Tuple[Optional[bytes],
                                                          int]:
    """A version 4 EVENT's attribute block at body[start:end]: (its KEY
    or None, where the payload starts).  Tags not known are skipped."""
    key, _, at = event_block(body, start, end, 4)
    return key, at


def parse_cancel(body: bytes) -> List[int]:
    """A CANCEL's ids (version 5, to a consumer): count, at least 1, and
    count u64s, the length exactly that; else a ProtocolError."""
    _need(body, 4, "CANCEL")
    n = U32.unpack_from(body)[0]
    if n == 0 or len(body) != 4 + 8 * n:
        raise ProtocolError("CANCEL of %d bytes for %d ids" % (len(body), n))
    return list(struct.unpack_from(">%dQ" % n, body, 4))


def parse_cancel_reply(body: bytes) -> List[Tuple[int, int]]:
    """A JOB_CANCEL_REPLY: [(id, outcome)], count of them, each outcome
    CANCEL_REMOVED, CANCEL_TOLD or CANCEL_ALREADY; a length other than 4
    + 9 x count, or another outcome, is a ProtocolError."""
    _need(body, 4, "JOB_CANCEL_REPLY")
    n = U32.unpack_from(body)[0]
    if len(body) != 4 + CANCEL_REPLY_ENTRY.size * n:
        raise ProtocolError("JOB_CANCEL_REPLY of %d bytes for %d entries"
                            % (len(body), n))
    out = [(int(i), int(o)) for i, o in
           CANCEL_REPLY_ENTRY.iter_unpack(body[4:])]
    for i, o in out:
        if not CANCEL_REMOVED <= o <= CANCEL_ALREADY:
            raise ProtocolError("JOB_CANCEL_REPLY: event %d has outcome %d, "
                                "not 1 to 3" % (i, o))
    return out


def parse_u32(body: bytes, what: str) -> int:
    if len(body) != 4:
        raise ProtocolError("%s of %d bytes, not 4" % (what, len(body)))
    return int(U32.unpack(body)[0])


def parse_u64(body: bytes, what: str) -> int:
    if len(body) != 8:
        raise ProtocolError("%s of %d bytes, not 8" % (what, len(body)))
    return int(U64.unpack(body)[0])


class _Cursor:
    __slots__ = ("b", "p", "what")

    def __init__(self, b: bytes, what: str) -> None:
        self.b, self.p, self.what = b, 0, what

    def take(self, n: int) -> bytes:
        if self.p + n > len(self.b):
            raise ProtocolError("%s cut short at byte %d" % (self.what, self.p))
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(U16.unpack(self.take(2))[0])

    def u32(self) -> int:
        return int(U32.unpack(self.take(4))[0])

    def u64(self) -> int:
        return int(U64.unpack(self.take(8))[0])

    def short(self) -> str:
        return bytes(self.take(self.u8())).decode(errors="replace")

    def counters(self, n: int) -> Dict[str, int]:
        out: Dict[str, int] = {}
        for _ in range(n):
            name = self.short()
            out[name] = self.u64()
        return out


Counters = Dict[str, int]


def parse_stats(body: bytes, version: int
                ) -> Tuple[Counters, List[Tuple[str, Counters]],
                           Dict[str, str], List[str]]:
    """(counters, [(consumer id, fields)], texts, and the consumer_queue
    texts, one a consumer in their order)."""
    c = _Cursor(body, "STATS_REPLY")
    counters = c.counters(c.u16())
    consumers: List[Tuple[str, Counters]] = []
    for _ in range(c.u32()):
        cid = c.short()
        consumers.append((cid, c.counters(c.u8())))
    texts: Dict[str, str] = {}
    queues: List[str] = []
    if version >= 2:
        for _ in range(c.u16()):
            name = c.short()
            value = bytes(c.take(c.u16())).decode(errors="replace")
            if name == "consumer_queue":
                queues.append(value)
            else:
                texts[name] = value
    return counters, consumers, texts, queues


# (id, attempts, reason, length, preview, error): error is the event's
# last error (version 5), b"" for none or from an older daemon.
DeadEntry = Tuple[int, int, int, int, bytes, bytes]


def parse_dead_list(body: bytes, version: int
                    ) -> Tuple[int, List[DeadEntry]]:
    """(total, [(id, attempts, reason, length, preview, error)]).  In
    version 5 each entry ends with u16 error_len and the error's first
    bytes; before, it ends with its preview.  The body ends after the
    last entry: bytes past it are a ProtocolError (a reply read in the
    wrong version's layout)."""
    c = _Cursor(body, "DEAD_LIST_REPLY")
    total = c.u32()
    out: List[DeadEntry] = []
    errors = version >= 5
    for _ in range(c.u32()):
        eid, att, reason = c.u64(), c.u32(), c.u8()
        c.u8()
        length = c.u32()
        preview = bytes(c.take(c.u16()))
        error = bytes(c.take(c.u16())) if errors else b""
        out.append((eid, att, reason, length, preview, error))
    if c.p != len(body):
        raise ProtocolError("DEAD_LIST_REPLY of %d bytes: %d past its %d "
                            "entries" % (len(body), len(body) - c.p,
                                         len(out)))
    return total, out


def parse_queues(body: bytes) -> Tuple[int, List[Tuple[str, Counters]]]:
    """(total, [(name, counters)])."""
    c = _Cursor(body, "QUEUES_REPLY")
    total = c.u32()
    out: List[Tuple[str, Counters]] = []
    for _ in range(c.u32()):
        name = c.short()
        out.append((name, c.counters(c.u8())))
    return total, out


# One failure of an event: (at, ms since 1970; attempt; the consumer's
# id; its error), as a JOB_REPLY lays it out.
FailureEntry = Tuple[int, int, bytes, bytes]
# A JOB_REPLY: (id, state, reason, attempts, at, priority, length,
# preview, consumer, key, headers, failures, result); consumer b"" when
# not in flight, key and headers None when the event has none, result
# None unless the state is JOB_DONE (then length is the result's whole
# length, and the result may be cut at its end).
JobReply = Tuple[int, int, int, int, int, int, int, bytes, bytes,
                 Optional[bytes], Optional[RawHeaders], List[FailureEntry],
                 Optional[bytes]]


def parse_job_reply(body: bytes) -> JobReply:
    """A JOB_REPLY (version 5), every length checked: its fixed head and
    preview, the consumer's id, an EVENT's attribute block (KEY, then
    HEADERs), nfail failures, and in state JOB_DONE (9) the result: u32
    length, then that many bytes.  The body ends after the last failure,
    or in state 9 after the result: bytes cut short or past it are a
    ProtocolError."""
    n = JOB_REPLY_HEAD.size
    _need(body, n, "JOB_REPLY")
    eid, state, reason, attempts, at, prio, length, plen = \
        JOB_REPLY_HEAD.unpack_from(body)
    c = _Cursor(body, "JOB_REPLY")
    c.p = n
    preview = bytes(c.take(plen))
    consumer = bytes(c.take(c.u8()))
    key, headers, c.p = event_block(body, c.p, len(body), VERSION,
                                    "a JOB_REPLY")
    fails: List[FailureEntry] = []
    for _ in range(c.u8()):
        fat, fattempt = FAILURE_HEAD.unpack(c.take(FAILURE_HEAD.size))
        who = bytes(c.take(c.u8()))
        fails.append((fat, fattempt, who, bytes(c.take(c.u16()))))
    result: Optional[bytes] = None
    if state == JOB_DONE:
        rlen = c.u32()
        if rlen != len(body) - c.p:
            raise ProtocolError("JOB_REPLY of a done event: a result of %d "
                                "bytes in the %d left of its body"
                                % (rlen, len(body) - c.p))
        result = bytes(c.take(rlen))
    if c.p != len(body):
        raise ProtocolError("JOB_REPLY of %d bytes: %d past its %d "
                            "failures" % (len(body), len(body) - c.p,
                                          len(fails)))
    return (eid, state, reason, attempts, at, prio, length, preview,
            consumer, key, headers, fails, result)


# A WAIT_REPLY: (id, state, timed_out, reason, at, attempts, data).
WaitReply = Tuple[int, int, bool, int, int, int, bytes]


def parse_wait_reply(body: bytes) -> WaitReply:
    """A WAIT_REPLY (version 5): its 28-byte head and its data (done: the
    result; dead: the last error; else empty), the length exactly 28 +
    len; timed_out 0 or 1 and the reserved byte 0.  Anything else is a
    ProtocolError."""
    _need(body, WAIT_REPLY_HEAD.size, "WAIT_REPLY")
    eid, state, timed_out, reason, reserved, at, attempts, dlen = \
        WAIT_REPLY_HEAD.unpack_from(body)
    if dlen != len(body) - WAIT_REPLY_HEAD.size:
        raise ProtocolError("WAIT_REPLY of %d bytes for %d bytes of data"
                            % (len(body), dlen))
    if timed_out > 1 or reserved:
        raise ProtocolError("WAIT_REPLY with timed_out %d, reserved %d "
                            "(0 or 1, and 0)" % (timed_out, reserved))
    return (eid, state, bool(timed_out), reason, at, attempts,
            bytes(body[WAIT_REPLY_HEAD.size:]))


# A JOBS_REPLY's entry: (id, state, reason, attempts, at, length,
# preview, key, headers); key and headers None when the event has none.
JobsEntry = Tuple[int, int, int, int, int, int, bytes, Optional[bytes],
                  Optional[RawHeaders]]


def parse_jobs_reply(body: bytes) -> Tuple[bytes, List[JobsEntry]]:
    """A JOBS_REPLY (version 5): (next, the 16-byte cursor, all 0 for
    none; [entries]), each entry's fixed head, preview and attribute
    block (KEY, then HEADERs) checked; count of them, the body ending
    after the last.  Bytes cut short or past it are a ProtocolError."""
    _need(body, JOBS_REPLY_HEAD.size, "JOBS_REPLY")
    nxt, count = JOBS_REPLY_HEAD.unpack_from(body)
    c = _Cursor(body, "JOBS_REPLY")
    c.p = JOBS_REPLY_HEAD.size
    # An entry is at least 30 bytes: a count past what the body can hold
    # is refused before anything is read.
    if count > (len(body) - c.p) // (JOBS_ENTRY_HEAD.size + 2):
        raise ProtocolError("JOBS_REPLY of %d bytes for %d entries"
                            % (len(body), count))
    out: List[JobsEntry] = []
    for _ in range(count):
        eid, state, reason, attempts, at, length, plen = \
            JOBS_ENTRY_HEAD.unpack(c.take(JOBS_ENTRY_HEAD.size))
        preview = bytes(c.take(plen))
        key, headers, c.p = event_block(body, c.p, len(body), VERSION,
                                        "a JOBS_REPLY entry")
        out.append((eid, state, reason, attempts, at, length, preview, key,
                    headers))
    if c.p != len(body):
        raise ProtocolError("JOBS_REPLY of %d bytes: %d past its %d "
                            "entries" % (len(body), len(body) - c.p,
                                         len(out)))
    return bytes(nxt), out


# One entry of a SCHEDULE_REPLY: (name, queue, its fields as (KEY,
# VALUE) in order, its event's attribute block, its payload).
ScheduleEntry = Tuple[str, str, List[Tuple[str, str]], bytes, bytes]

# An entry is at least 12 bytes: a name and a queue of a byte each, their
# lengths, nfields, len and attrs_len.
_SCHED_ENTRY_MIN = 12


def parse_schedule_reply(body: bytes) -> Tuple[int, List[ScheduleEntry]]:
    """A SCHEDULE_REPLY (version 5): (total, [entries]), each entry's
    name and queue (1 to 64 bytes), its fields (each KEY=VALUE, read as
    ASCII, a byte that is not U+FFFD), the attribute block and payload
    of its event; count of them, the body ending after the last.  Bytes
    cut short or past it, an empty name or a field without = are a
    ProtocolError."""
    c = _Cursor(body, "SCHEDULE_REPLY")
    total = c.u32()
    count = c.u32()
    if count > (len(body) - 8) // _SCHED_ENTRY_MIN:
        raise ProtocolError("SCHEDULE_REPLY of %d bytes for %d entries"
                            % (len(body), count))
    out: List[ScheduleEntry] = []
    for _ in range(count):
        name = bytes(c.take(c.u8()))
        queue = bytes(c.take(c.u8()))
        if not name or not queue:
            raise ProtocolError("SCHEDULE_REPLY: an entry with an empty %s"
                                % ("name" if not name else "queue"))
        fields: List[Tuple[str, str]] = []
        for _ in range(c.u16()):
            raw = bytes(c.take(c.u16()))
            k, sep, v = raw.partition(b"=")
            if not sep or not k:
                raise ProtocolError("SCHEDULE_REPLY: schedule %s has a "
                                    "field %r, not KEY=VALUE"
                                    % (name.decode(errors="replace"),
                                       raw[:40]))
            fields.append((k.decode("ascii", errors="replace"),
                           v.decode("ascii", errors="replace")))
        dlen = c.u32()
        attrblock = bytes(c.take(c.u16()))
        data = bytes(c.take(dlen))
        out.append((name.decode("ascii", errors="replace"),
                    queue.decode("ascii", errors="replace"), fields,
                    attrblock, data))
    if c.p != len(body):
        raise ProtocolError("SCHEDULE_REPLY of %d bytes: %d past its %d "
                            "entries" % (len(body), len(body) - c.p,
                                         len(out)))
    return total, out


def attr_block(block: bytes, what: str
               ) -> Tuple[Optional[bytes], Optional[int], RawHeaders]:
    """An event's attributes as an ADD gave them (version 5, without
    their u16 length): (its KEY or None, its PRIORITY or None, its
    HEADERs in order).  Other tags are skipped; a PRIORITY not of 2
    bytes, an attribute or a HEADER's name past its end a
    ProtocolError naming what holds it."""
    return _attrs(block, 0, len(block), True, what, prio_tag=True)
