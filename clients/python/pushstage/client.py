"""The synchronous client: Client for requests, Consumer for events."""

from __future__ import annotations

import collections
import select
import socket as _socket
import threading
import time
import datetime
from typing import (Callable, Deque, Iterable, Iterator, List, Optional,
                    Sequence, Tuple, Union, overload)

from . import _core as C
from . import _proto as P
from ._core import (Cancelled, ConsumerInfo, Data, DeadEvent, DeadList,
                    Enqueued, Failure, Headers, Job, JobsPage, Listed,
                    Message, QueueInfo, Schedule, Stats, WaitResult)
from .errors import DaemonGone, ProtocolError, PushstageError, Refused

__all__ = ["Client", "Consumer", "Event", "Message", "Stats", "QueueInfo",
           "ConsumerInfo", "DeadEvent", "DeadList", "Enqueued", "Job",
           "Failure", "Cancelled", "WaitResult", "JobsPage", "Listed",
           "Schedule"]

READ_SIZE = 256 * 1024


class _Conn(C.Link):
    """One connection to producerd, past its handshake.  Raises
    DaemonGone, Refused or ProtocolError; after any of them the
    connection is closed."""

    def __init__(self, path: str, role: int, name: bytes = b"",
                 max_demand: int = 0, min_demand: int = 0,
                 queue: Data = b"", group_ok: bool = False,
                 partition: Optional[int] = None,
                 timeout: Optional[float] = None,
                 version: int = P.VERSION) -> None:
        self.path = path
        self.timeout = timeout
        self.sock: Optional[_socket.socket] = None
        while True:
            q = C.queue_for(version, queue, group_ok) if queue else b""
            try:
                self._open(version, P.hello(version, role, name, max_demand,
                                            min_demand, q, partition))
                return
            except Refused as e:
                nv = C.version_after_refusal(e, version)
                if nv is None:
                    raise (C.no_common_version(e) if e.code == 7 else e) \
                        from None
                version = nv

    def _open(self, version: int, hello: bytes) -> None:
        C.check_private_dir(self.path)
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(self.path)
        except OSError as e:
            s.close()
            raise C.connect_error(self.path, e) from None
        self.sock = s
        self.reader = P.Reader()
        try:
            C.check_peer(s, self.path)
            self.send(hello)
            ftype, body, _ = self.next_frame()
            self.welcome(ftype, body, version)
        except BaseException:
            self.close()
            raise
        # EVENT bodies may be 4 bytes over max_frame.
        self.reader.limit = self.max_frame + 4

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def send(self, data: bytes) -> None:
        if self.sock is None:
            raise DaemonGone("the connection to %s is closed" % self.path)
        try:
            self.sock.sendall(data)
        except _socket.timeout:
            self.close()
            raise DaemonGone("producerd at %s took no data for %ss"
                             % (self.path, self.timeout)) from None
        except OSError as e:
            # The daemon may have said why before it closed: read that.
            err = self._parting_error()
            self.close()
            if err is not None:
                raise err from None
            raise DaemonGone("producerd at %s closed the connection (%s)"
                             % (self.path, e.strerror or e)) from None

    def _parting_error(self) -> Optional[PushstageError]:
        try:
            assert self.sock is not None
            self.sock.settimeout(0.0)
            while True:
                data = self.sock.recv(READ_SIZE)
                if not data:
                    break
                self.reader.feed(data)
        except (OSError, AssertionError):
            pass
        try:
            for ftype, body, _ in self.reader.frames():
                if ftype == P.ERROR:
                    return C.error_from(body)
        except ProtocolError as e:
            return e
        return None

    def fill(self) -> List[P.Frame]:
        """One read (blocking, within the timeout); its whole frames."""
        self.reader.feed(self.recv())
        try:
            return self.reader.frames()
        except ProtocolError:
            self.close()
            raise

    def recv(self) -> bytes:
        """One read (blocking, within the timeout), never empty."""
        if self.sock is None:
            raise DaemonGone("the connection to %s is closed" % self.path)
        try:
            data = self.sock.recv(READ_SIZE)
        except _socket.timeout:
            self.close()
            raise self.no_answer() from None
        except OSError as e:
            self.close()
            raise self.read_failed(e) from None
        if not data:
            err = self.hung_up()
            self.close()
            raise err
        return data

    def next_frame(self) -> P.Frame:
        while True:
            frames = self.fill()
            if frames:
                if len(frames) > 1:
                    self.close()
                    raise ProtocolError("the daemon sent %d frames for one "
                                        "request" % len(frames))
                return frames[0]

    def request(self, frame: bytes, want: int) -> bytes:
        self.check_request(frame)
        try:
            self.send(frame)
            return self._answer(want)
        except BaseException:
            # Cut short (KeyboardInterrupt, a signal handler's
            # exception): its answer would come to the next request.
            self.close()
            raise

    def request_held(self, frame: bytes, want: int,
                     timeout: Optional[float]) -> bytes:
        """request, for one the daemon holds until something happens
        (WAIT): sent within the connection's timeout, its answer awaited
        up to timeout seconds (None: as long as it takes).  Interrupted
        (KeyboardInterrupt, a signal handler's exception), the
        connection is closed: its answer would come to the next
        request."""
        self.check_request(frame)
        keep = self.timeout
        try:
            self.send(frame)
            self.timeout = timeout
            if self.sock is not None:
                self.sock.settimeout(timeout)
            return self._answer(want)
        except BaseException:
            self.close()
            raise
        finally:
            self.timeout = keep
            if self.sock is not None:
                self.sock.settimeout(keep)

    def _answer(self, want: int) -> bytes:
        ftype, body, _ = self.next_frame()
        try:
            return self.answer(ftype, body, want)
        except PushstageError:
            self.close()
            raise


class Client:
    """Enqueues events and manages queues.  Connects on first use, and
    again on the next call after the connection is lost (DaemonGone) or
    closed by an ERROR (Refused, ProtocolError); a call is never retried
    for you.  Safe to share between threads (one request at a time).

    socket: the daemon's path (default: the programs' rule,
    $PUSHSTAGE_SOCKET, then $XDG_RUNTIME_DIR/pushstage.sock, then
    ${TMPDIR:-/tmp}/pushstage-UID/pushstage.sock).  timeout: seconds to
    wait for an answer (None: as long as it takes, as an ENQUEUE into a
    queue whose overflow is block may)."""

    def __init__(self, socket: Optional[str] = None, name: str = "",
                 timeout: Optional[float] = None) -> None:
        self.socket = socket or C.default_socket()
        self.name = name.encode()
        self.timeout = timeout
        self._conn: Optional[_Conn] = None
        self._lock = threading.Lock()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connected(self) -> _Conn:
        if self._conn is None or self._conn.sock is None:
            self._conn = _Conn(self.socket, P.ROLE_CLIENT, self.name,
                               timeout=self.timeout)
        return self._conn

    @property
    def version(self) -> int:
        """The protocol version spoken with the daemon (connects)."""
        with self._lock:
            return self._connected().version

    @property
    def max_frame(self) -> int:
        with self._lock:
            return self._connected().max_frame

    def _call(self, build: Callable[[int], bytes], want: int) -> bytes:
        return self._call_v(build, want)[0]

    def _call_v(self, build: Callable[[int], bytes],
                want: int) -> Tuple[bytes, int]:
        with self._lock:
            conn = self._connected()
            v = conn.version
            return conn.request(build(v), want), v

    # A str is also an iterable of str: the first overload that fits wins,
    # so one str is one event (typeshed's way with str and Iterable[str]).
    @overload
    def enqueue(  # type: ignore[misc]
            self, queue: str, events: Union[Data, Message], *,
            key: Optional[Data] = None, delay: Optional[float] = None,
            not_before: Union[float, datetime.datetime, None] = None,
            priority: Optional[int] = None,
            unique_id: Optional[Data] = None,
            headers: Optional[Headers] = None) -> Optional[int]: ...

    @overload
    def enqueue(self, queue: str, events: Iterable[Union[Data, Message]], *,
                key: Optional[Data] = None, delay: Optional[float] = None,
                not_before: Union[float, datetime.datetime, None] = None,
                priority: Optional[int] = None,
                unique_id: Optional[Data] = None,
                headers: Optional[Headers] = None) -> Enqueued: ...

    def enqueue(self, queue: str, events: Union[Data, Message,
                                                Iterable[Union[Data,
                                                               Message]]],
                *, key: Optional[Data] = None, delay: Optional[float] = None,
                not_before: Union[float, datetime.datetime, None] = None,
                priority: Optional[int] = None,
                unique_id: Optional[Data] = None,
                headers: Optional[Headers] = None
                ) -> Union[Optional[int], Enqueued]:
        """Enqueue one event (bytes, str or Message) and return its id, or
        None when it was not stored (a duplicate of its unique_id, or shed
        by a drop-newest queue); or a batch (any iterable) in one frame and
        return an Enqueued list of the ids taken.  key, delay (seconds),
        not_before, priority and unique_id (one event only) apply to every
        event; a Message carries its own.  headers, a mapping of name to
        value (str, sent as UTF-8, or bytes) or (name, value) pairs, go
        with every event (protocol version 5; Unsupported from an older
        daemon); a Message's own go after them.  A bad header (a name not
        1 to 64 bytes of a-z 0-9 - _ ., a value over 1024 bytes, more than
        16, over 4096 bytes of names and values) raises ValueError naming
        it, before anything is sent.  Raises QueueFull when the queue
        refused some (its overflow policy is reject).  An event is bytes or
        str: anything else (a number, a mapping) raises TypeError."""
        built: List[Tuple[int, bool]] = []

        def build(version: int) -> bytes:
            f, n, single = C.enqueue_frame(version, queue, events, key, delay,
                                           not_before, priority, unique_id,
                                           headers)
            built.append((n, single))
            return f
        body = self._call(build, P.ENQUEUED_T)
        return C.enqueue_result(queue, built[-1][0], built[-1][1], body)

    def stats(self, queue: Optional[str] = None) -> Stats:
        """The daemon's counters and consumers, or one queue's (or group's,
        QUEUE/GROUP)."""
        def build(version: int) -> bytes:
            q = C.queue_for(version, queue, True) if queue else None
            return P.stats(version, q)
        return C.stats_result(*self._call_v(build, P.STATS_REPLY))

    def queues(self) -> List[QueueInfo]:
        """Every queue and group with its counters."""
        out: List[QueueInfo] = []
        while True:
            def build(version: int, start: int = len(out)) -> bytes:
                C.need_v3(version, "listing queues")
                return P.queues(start)
            total, entries = P.parse_queues(self._call(build, P.QUEUES_REPLY))
            out.extend(QueueInfo(n, c) for n, c in entries)
            if not entries or len(out) >= total:
                return out

    def dead(self, queue: str = "default", preview: int = 64) -> DeadList:
        """The queue's (or group's) dead letters, with the first `preview`
        bytes of each (0 to 1024) and its last error (version 5)."""
        if not 0 <= preview <= 1024:
            raise ValueError("preview must be 0 to 1024 bytes")
        return C.dead_result(*self._call_v(lambda v: P.dead_list(
            v, C.queue_for(v, queue, True), preview), P.DEAD_LIST_REPLY))

    def job(self, queue: str, id: Optional[int] = None, *,
            unique_id: Optional[Data] = None,
            preview: int = 256) -> Optional[Job]:
        """Where one event of the queue (or group, "QUEUE/GROUP") is now
        and what it carries, found by its id or by the unique_id (str or
        bytes, 1 to 128) it was enqueued with, one of them; with the
        first `preview` bytes of its payload (0 to 1024).  None when the
        queue has no such event now (never enqueued, or done with).
        Protocol version 5 (Unsupported before); a bad argument raises
        ValueError naming it before anything is sent."""
        eid, uid = C.job_args(queue, id, unique_id, preview)
        with self._lock:
            conn = self._connected()
            body = conn.request(C.job_frame(conn.version, queue, eid, uid,
                                            preview), P.JOB_REPLY)
            try:
                return C.job_result(body)
            except ProtocolError:
                conn.close()        # nothing past a bad reply is trusted
                raise

    def jobs(self, queue: str, state: str = "queued", *,
             after: Union[bytes, str, None] = None, limit: int = 50,
             preview: int = 64, key: Optional[Data] = None,
             header: Optional[Tuple[Data, Data]] = None) -> JobsPage:
        """A page of the events of the queue (or group, "QUEUE/GROUP")
        in one state, lowest ids first, as pushctl jobs lists them:
        state "queued" (with those behind their key or waiting for their
        partition), "delayed", "in-flight" (with those cancelled in
        flight), "retrying", "dead" or "done" (records kept by the
        queue's keep-done: preview is of their results); at most limit
        (1 to 1000) of them, each with its payload's first `preview`
        bytes (0 to 1024); those of one key (str or bytes, to 255
        bytes), or with one header's value (a (name, value) pair),
        alone.  after: None for the first page, else a page's next (the
        32 hex digits, as pushctl jobs prints them, or their 16 bytes).
        Returns a JobsPage: its events (Listed) and next, None when
        there is no more.  A cursor is its queue's, group's and state's:
        another's is Refused (BAD_VALUE), as is one event alone too big
        for a frame with this preview.  Protocol version 5 (Unsupported
        before); a daemon in a cluster refuses it (ProtocolError, code
        6); a queue that does not exist is Refused (NO_QUEUE); a bad
        argument raises ValueError (TypeError) naming it before anything
        is sent."""
        args = C.jobs_args(queue, state, after, limit, preview, key, header)
        with self._lock:
            conn = self._connected()
            body = conn.request(C.jobs_frame(conn.version, queue, args, limit,
                                             preview), P.JOBS_REPLY)
            try:
                return C.jobs_result(body, args[0], limit)
            except ProtocolError:
                conn.close()        # nothing past a bad reply is trusted
                raise

    def cancel(self, queue: str,
               ids: Union[int, Iterable[int], None] = None, *,
               unique_id: Optional[Data] = None) -> List[Cancelled]:
        """Cancel events of the queue, in every group of it: by their
        ids (one int, or an iterable of them), or the one enqueued with
        unique_id (str or bytes, 1 to 128), one of the two.  An event
        waiting (queued, delayed, behind its key, for its partition, to
        retry) is gone: "cancelled"; one in flight is marked and its
        consumer told (its Event's cancelled becomes True): "cancelled
        in flight", or "cancelled before" when an earlier call did;
        it is gone when the consumer answers, and never delivered
        again.  Returns a Cancelled (id, outcome) for each id, in order
        (one for a unique id).  An id the queue holds in no group,
        waiting or in flight (never enqueued, done with, cancelled), is
        Refused NO_EVENT; a dead letter Refused BAD_VALUE (drop_dead
        drops it): either way nothing is cancelled, and the message
        names it.  Protocol version 5 (Unsupported before); a bad
        argument raises ValueError (TypeError) naming it, before
        anything is sent, and so does a queue name with a group: a job
        is cancelled in every group."""
        idl, uid = C.cancel_args(queue, ids, unique_id)
        with self._lock:
            conn = self._connected()
            body = conn.request(C.cancel_frame(conn.version, conn.max_frame,
                                               queue, idl, uid),
                                P.JOB_CANCEL_REPLY)
            try:
                return C.cancel_result(body, idl)
            except ProtocolError:
                conn.close()        # nothing past a bad reply is trusted
                raise

    def wait(self, queue: str, id: Optional[int] = None, *,
             unique_id: Optional[Data] = None,
             timeout: Optional[float] = None) -> WaitResult:
        """Wait until one event of the queue (or group, "QUEUE/GROUP")
        ends, found by its id or by the unique_id (str or bytes, 1 to
        128) it was enqueued with, one of them: the daemon answers the
        moment it does, without polling.  timeout: seconds at most (None:
        no limit, the call may block for ever; 0: answer at once).
        Returns a WaitResult: "done" with its result (what its consumer
        acked it with: Event.ack(result=), a worker handler's return
        value), "dead" with its last error, "cancelled in flight",
        "cancelled", or "unknown" (never enqueued, or done with before
        the wait and its record not kept: an event done before the wait
        began is known only on a queue with keep-done); or, timed_out
        True, where it is when the timeout came.

        The daemon holds the answer until then, and reads nothing more
        of this connection meanwhile: the Client's other calls (from
        other threads) wait for it, so give a long wait a Client of its
        own.  The Client's timeout counts after the wait's (none without
        one).  A wait interrupted (KeyboardInterrupt) closes the
        connection.  If the daemon stops or restarts meanwhile the wait
        raises DaemonGone: call it again (once the daemon is back; a
        queue with keep-done answers from the event's kept record if it
        ended meanwhile).  Protocol version 5 (Unsupported before); a
        daemon in a cluster refuses it (ProtocolError, code 6); a bad
        argument raises ValueError (TypeError) naming it before anything
        is sent."""
        eid, uid, ms = C.wait_args(queue, id, unique_id, timeout)
        with self._lock:
            conn = self._connected()
            body = conn.request_held(
                C.wait_frame(conn.version, queue, eid, uid, ms),
                P.WAIT_REPLY, C.wait_read_timeout(self.timeout, ms))
            try:
                return C.wait_result(body)
            except ProtocolError:
                conn.close()        # nothing past a bad reply is trusted
                raise

    # -- schedules (protocol version 5: SCHEDULE, SCHEDULE_REPLY)

    def _schedule(self, build: Callable[[int], bytes]
                  ) -> Tuple[int, List[Schedule]]:
        with self._lock:
            conn = self._connected()
            body = conn.request(build(conn.version), P.SCHEDULE_REPLY)
            try:
                return C.schedules_result(body)
            except ProtocolError:
                conn.close()        # nothing past a bad reply is trusted
                raise

    def _schedule_op(self, op: int, name: str) -> Schedule:
        nm = P.schedule_name(name)
        with self._lock:
            conn = self._connected()
            body = conn.request(C.schedule_frame(conn.version, op, nm),
                                P.SCHEDULE_REPLY)
            try:
                return C.schedule_result(body, nm)
            except ProtocolError:
                conn.close()
                raise

    def schedule_add(self, name: str, queue: str, *,
                     cron: Optional[str] = None,
                     every: Union[str, float, datetime.timedelta,
                                  None] = None,
                     tz: Optional[str] = None,
                     catch_up: Optional[str] = None,
                     unique: Optional[bool] = None,
                     paused: Optional[bool] = None, replace: bool = False,
                     payload: Data = b"", headers: Optional[Headers] = None,
                     priority: Optional[int] = None,
                     key: Optional[Data] = None) -> Schedule:
        """Define the schedule `name`: the event payload (with its
        headers, priority and key) enqueued to queue at each tick of
        cron (a 5-field rule, or @daily, @hourly, ...; in the time zone
        tz, UTC unless given) or every (a duration "30s", "5m", "1h30m",
        "1d"; or whole seconds, or a timedelta): one of the two.
        catch_up: what becomes of ticks missed while the daemon was down
        or busy, "none", "last" (the daemon's default) or "all"; unique:
        skip a tick while the previous tick's event still waits or runs;
        paused: fire nothing until resumed.  A setting left None is not
        sent (the daemon's default; a replaced schedule keeps its
        paused).  Its first tick is the first after now.

        The same definition again changes nothing (a worker may define
        its schedules each time it starts); another one of that name is
        Refused EXISTS (errors.E_EXISTS) unless replace, which replaces
        it and keeps its progress (no tick it fired fires again).
        Returns the Schedule as it is now.  A bad argument is a
        ValueError (TypeError) naming it, before anything is sent; a bad
        rule or time zone Refused BAD_VALUE (the daemon's words, naming
        the field); too many schedules Refused QUEUE_LIMIT.  Protocol
        version 5 (Unsupported before)."""
        args = C.schedule_add_args(name, queue, cron, every, tz, catch_up,
                                   unique, paused, payload, headers,
                                   priority, key)
        with self._lock:
            conn = self._connected()
            body = conn.request(C.schedule_add_frame(conn.version, args,
                                                     replace),
                                P.SCHEDULE_REPLY)
            try:
                return C.schedule_result(body, args[0])
            except ProtocolError:
                conn.close()
                raise

    def schedules(self) -> List[Schedule]:
        """Every schedule of the daemon, in the order they were added
        (as many LISTs as their pages take)."""
        out: List[Schedule] = []
        while True:
            def build(version: int, start: int = len(out)) -> bytes:
                return C.schedule_frame(version, P.SCHED_LIST, b"", start)
            total, got = self._schedule(build)
            out.extend(got)
            if not got or len(out) >= total:
                return out

    def schedule(self, name: str) -> Schedule:
        """The schedule `name`; Refused NO_SCHEDULE (errors.E_NO_SCHEDULE)
        when the daemon has none of that name."""
        return self._schedule_op(P.SCHED_LIST, name)

    def schedule_pause(self, name: str) -> Schedule:
        """Fire nothing more until schedule_resume: the Schedule, paused.
        Refused NO_SCHEDULE when there is none of that name."""
        return self._schedule_op(P.SCHED_PAUSE, name)

    def schedule_resume(self, name: str) -> Schedule:
        """Fire again from its next tick (those missed while paused are
        skipped, counted in skipped): the Schedule.  Refused NO_SCHEDULE
        when there is none of that name."""
        return self._schedule_op(P.SCHED_RESUME, name)

    def schedule_remove(self, name: str) -> Schedule:
        """Forget the schedule (its events already enqueued stay): the
        Schedule as it was.  Refused NO_SCHEDULE when there is none of
        that name."""
        return self._schedule_op(P.SCHED_REMOVE, name)

    def schedule_run_now(self, name: str) -> Schedule:
        """Enqueue its event once now, beside its ticks, paused or not:
        the Schedule, whose enqueued is the new event's id (0 when the
        queue did not take it: full, say).  Refused NO_SCHEDULE when
        there is none of that name."""
        return self._schedule_op(P.SCHED_RUN_NOW, name)

    def _dead_op(self, ftype: int, queue: str,
                 ids: Optional[Iterable[int]]) -> int:
        with self._lock:
            conn = self._connected()
            f = C.dead_ids_frame(conn.version, ftype, queue, ids)
            if f is None:
                return 0
            return P.parse_u32(conn.request(f, P.DEAD_DONE), "DEAD_DONE")

    def retry_dead(self, queue: str = "default",
                   ids: Optional[Iterable[int]] = None) -> int:
        """Put dead letters back at the end of the queue (all of them
        without ids); returns how many."""
        return self._dead_op(P.DEAD_RETRY, queue, ids)

    def drop_dead(self, queue: str = "default",
                  ids: Optional[Iterable[int]] = None) -> int:
        """Discard dead letters (all of them without ids); returns how
        many."""
        return self._dead_op(P.DEAD_DROP, queue, ids)

    def _admin(self, op: int, queue: str, settings: Sequence[str] = (),
               force: bool = False, group_ok: bool = False) -> int:
        def build(version: int) -> bytes:
            C.need_v3(version, "managing queues")
            return P.queue_admin(op, C.queue_for(version, queue, group_ok),
                                 list(settings), force)
        return P.parse_u64(self._call(build, P.QUEUE_DONE), "QUEUE_DONE")

    def set(self, queue: str, **settings: object) -> None:
        """Change a queue's settings (max_queue=, overflow=, ack_timeout=,
        max_attempts=, dispatch=, rate=, retry_backoff=, paused=, ...: the
        daemon's options of those names, protocol.md QUEUE_ADMIN)."""
        self._admin(P.OP_SET, queue, C.settings_list(settings))

    def create(self, queue: str, **settings: object) -> None:
        """Make a queue now and keep it while empty, with settings."""
        self._admin(P.OP_CREATE, queue, C.settings_list(settings))

    def pause(self, queue: str, seconds: Optional[float] = None) -> None:
        """Stop sending the queue's events (until resume, or for seconds);
        it still takes ENQUEUEs, and events in flight complete."""
        self._admin(P.OP_SET, queue, [C.pause_setting(seconds)])

    def resume(self, queue: str) -> None:
        self._admin(P.OP_SET, queue, ["paused=no"])

    def purge(self, queue: str) -> int:
        """Drop every event the queue buffers; returns how many."""
        return self._admin(P.OP_PURGE, queue)

    def delete(self, queue: str, force: bool = False) -> int:
        """Forget the queue; with consumers, Refused (QUEUE_BUSY) unless
        force.  Returns the events it buffered."""
        return self._admin(P.OP_DELETE, queue, force=force)

    def drop_group(self, queue: str, group: str, force: bool = False) -> int:
        """Forget one group of a queue ("" for the shared group)."""
        return self._admin(P.OP_DROP_GROUP, "%s/%s" % (queue, group),
                           force=force, group_ok=True)


class Event(C.EventHeaders):
    """An event delivered to a Consumer: id, attempt (1 on the first
    delivery), data (bytes), key (bytes, or None: an event without
    one, or a daemon of protocol version 3 or older), headers (a dict of
    str, values decoded as UTF-8) and raw_headers ([(name, bytes)] as
    enqueued, in order; both empty without headers, or from a daemon of
    protocol version 4 or older).  Call ack() when it is handled (or
    ack(result=...) to hand back its result), or nack(delay=seconds,
    error=why) when it failed; touch() while it takes long.  Each
    returns False, sending nothing, when the connection it came on is
    gone (the daemon then delivers it again).  cancelled
    becomes True when the daemon says a client cancelled the event
    (protocol version 5): stop working on it if you can, and still ack
    it."""

    __slots__ = ("id", "attempt", "data", "_consumer", "key", "_headers",
                 "_cancelled")

    def __init__(self, eid: int, attempt: int, data: bytes,
                 consumer: "Consumer", key: Optional[bytes] = None,
                 headers: Optional[P.RawHeaders] = None) -> None:
        self.id = eid
        self.attempt = attempt
        self.data = data
        self._consumer = consumer
        self.key = key
        self._headers = headers
        self._cancelled = False

    @property
    def text(self) -> str:
        return self.data.decode()

    @property
    def cancelled(self) -> bool:
        """True once the daemon said the event is cancelled (a client's
        Client.cancel while it was in flight here; protocol version 5).
        It may become True while the event is handled, as the consumer
        reads on (in another thread, or at its next read): a long
        handler may look at it now and then and stop.  The event is
        still acked (or nacked); it is never delivered again."""
        if not self._cancelled and \
                self.id in self._consumer._window.cancelled:
            self._cancelled = True
        return self._cancelled

    def ack(self, result: Optional[Data] = None) -> bool:
        """Its handling is done.  result (bytes, or str sent as UTF-8;
        protocol version 5) is its result: the daemon gives it to the
        clients waiting for the event (Client.wait) and, on a queue with
        keep-done, keeps it with the event's record (Client.job).  A
        result longer than the daemon's frames can hold (max_frame - 12
        bytes: result_max) is a ValueError here, with nothing done; one
        longer than the queue's max-result (65536 bytes unless set; 0:
        none taken) the daemon refuses, closing the connection (Refused
        BAD_VALUE at the next read; its events go to other consumers).
        A daemon older than version 5 takes a plain ACK: the result is
        dropped.  Like a plain ack it goes with the next write (flush(),
        or the next wait for events)."""
        if result is None:
            return self._consumer._ack(self)
        return self._consumer._ack_result(self, C.result_bytes(result))

    def nack(self, delay: Optional[float] = None,
             error: Optional[Data] = None, *, dead: bool = False) -> bool:
        """Its handling failed: deliver it again after delay seconds (0:
        at once; None: after the queue's retry-backoff), or to the dead
        letters after its last attempt.  error (str, sent as UTF-8, or
        bytes) says why, kept by the daemon with the event and shown with
        its dead letter: over 4096 bytes its end is kept.  A daemon older
        than protocol version 5 cannot take it: the NACK goes without.
        dead=True gives up at once (docs/tasks.md): the event goes to the
        dead letters whatever its attempts, reason "rejected" (a
        NACK_ERROR whose delay is 0xfffffffe; delay is not taken with
        it; a daemon older than version 5 gets a plain NACK)."""
        c = self._consumer
        if dead and delay is not None:
            raise ValueError("nack(dead=True) takes no delay")
        return c._done(self, "nack", C.nack_delay_ms(delay),
                       None if error is None else
                       C.nack_error_bytes(error, c._window.error_max), dead)

    def touch(self) -> bool:
        return self._consumer._touch(self)

    def __repr__(self) -> str:
        return "Event(id=%d, attempt=%d, key=%r, %s%sdata=%r)" % (
            self.id, self.attempt, self.key, "headers=%r, " % self.headers
            if self._headers else "", "cancelled, " if self.cancelled
            else "", self.data[:40])


class Consumer:
    """Takes events of one queue (or one group of it: group=) with
    GenStage's demand window: at most max_demand held at once, asking
    for more when it is down to min_demand (by default, as GenStage,
    max_demand // 2).  Iterate it for Event objects
    and ack() each; ACKs and the DEMAND that follows go in one write, at
    the latest before the next wait for events.  Thread-safe: other
    threads may ack, nack and touch while one iterates.  A CANCEL from
    the daemon (protocol version 5) is read as events are, and makes
    its events' cancelled True.

    Raises DaemonGone when the daemon goes (its unacked events go to other
    consumers), Refused on an ERROR (a bad queue name, NO_QUEUE)."""

    def __init__(self, queue: str = "default", id: str = "python",
                 group: Optional[str] = None, max_demand: int = 1,
                 min_demand: Optional[int] = None,
                 socket: Optional[str] = None,
                 partition: Optional[int] = None) -> None:
        if min_demand is None:
            min_demand = max_demand // 2        # GenStage's default
        self.queue = queue if group is None else "%s/%s" % (queue, group)
        self.socket = socket or C.default_socket()
        if not id:
            raise ValueError("a consumer needs an id")
        self._lock = threading.Lock()
        self._ready: Deque[Event] = collections.deque()
        self._window = C.Window(max_demand, min_demand, True)
        # Called with the ids a CANCEL newly cancelled, in the thread
        # that read it, outside the lock (the worker's).
        self._on_cancel: Optional[Callable[[List[int]], None]] = None
        self._conn = _Conn(self.socket, P.ROLE_CONSUMER, id.encode(),
                           max_demand, min_demand, self.queue, True,
                           partition)
        self._window.acks = self._conn.acks
        self._window.set_errors(self._conn.version, self._conn.max_frame)
        self._window.set_results(self._conn.version, self._conn.max_frame)
        self._send(self._window.out())

    # what WELCOME said
    @property
    def version(self) -> int:
        return self._conn.version

    @property
    def ack_timeout(self) -> float:
        """The queue's ack timeout in seconds (0: none)."""
        return self._conn.ack_timeout

    @property
    def max_attempts(self) -> int:
        return self._conn.max_attempts

    @property
    def acks(self) -> bool:
        """Whether events are acked (the queue delivers at least once)."""
        return self._conn.acks

    @property
    def held(self) -> int:
        """Events delivered here and not yet acked or nacked."""
        return len(self._window.held)

    @property
    def error_max(self) -> int:
        """The longest error a nack sends, in bytes: 4096, less when the
        daemon's max_frame is under 4110 (a longer one keeps its end)."""
        return self._window.error_max

    @property
    def result_max(self) -> int:
        """The longest result an ack sends, in bytes: max_frame - 12
        (the queue's max-result may be less)."""
        return self._window.result_max

    def fileno(self) -> int:
        return self._conn.sock.fileno() if self._conn.sock else -1

    def __enter__(self) -> "Consumer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Send what is pending and hang up; events held and not done go
        back to the daemon's other consumers."""
        with self._lock:
            if self._conn.sock is not None:
                try:
                    out = self._window.out()
                    if out:
                        self._conn.send(out)
                except PushstageError:
                    pass
                self._conn.close()

    def _send(self, data: bytes) -> None:
        if data:
            self._conn.send(data)

    def flush(self) -> None:
        """Write the ACKs, NACKs and DEMAND waiting to go."""
        with self._lock:
            if self._conn.sock is not None:
                self._send(self._window.out())

    def ack(self, events: Iterable[Event]) -> bool:
        """Ack a batch of events at once (as each one's ack(), cheaper);
        False when the connection they came on is gone."""
        with self._lock:
            if self._conn.sock is None:
                return False
            if self._window.ack_many([e.id for e in events]):
                self._send(self._window.out())
            return True

    def nack(self, events: Iterable[Event], delay: Optional[float] = None,
             error: Optional[Data] = None) -> bool:
        """Nack a batch of events (to come again after delay seconds), each
        with the error, as Event.nack (a NACK_ERROR for each)."""
        d = C.nack_delay_ms(delay)
        err = None if error is None else \
            C.nack_error_bytes(error, self._window.error_max)
        with self._lock:
            if self._conn.sock is None:
                return False
            due = False
            for e in events:
                due = self._window.done(e.id, "nack", d, err) or due
            if due:
                self._send(self._window.out())
            return True

    def _ack(self, ev: Event) -> bool:
        with self._lock:
            if self._conn.sock is None:
                return False
            # A DEMAND goes at once; lone ACKs wait for the next write.
            if self._window.ack(ev.id):
                self._send(self._window.out())
            return True

    def _ack_result(self, ev: Event, result: bytes) -> bool:
        with self._lock:
            if self._conn.sock is None:
                return False
            if self._window.ack_result(ev.id, result):
                self._send(self._window.out())
            return True

    def _done(self, ev: Event, how: str, delay_ms: Optional[int],
              error: Optional[bytes] = None, dead: bool = False) -> bool:
        w = self._window
        with self._lock:
            if self._conn.sock is None:
                return False
            if w.done(ev.id, how, delay_ms, error, dead):
                self._send(w.out())
            return True

    def _touch(self, ev: Event) -> bool:
        with self._lock:
            if self._conn.sock is None:
                return False
            self._window.touch(ev.id)
            self._send(self._window.out())
            return True

    def stop(self) -> None:
        """Ask for no more events (those already sent still come)."""
        with self._lock:
            self._window.stop()

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        if self._ready:
            return self._ready.popleft()
        ev = self.get()
        assert ev is not None
        return ev

    def batch(self, timeout: Optional[float] = None,
              wake: Optional[int] = None) -> List[Event]:
        """The events here now, up to one chunk of the window (max_demand -
        min_demand, so that acking them asks for more while the rest are
        handled), waiting for one if there is none (as get()); [] after
        the timeout.  With ack(events), the cheap way through many."""
        if not self._ready and not self._wait(timeout, wake):
            return []
        r = self._ready
        n = min(len(r), self._window.max - self._window.min)
        if n == len(r):
            out = list(r)
            r.clear()
        else:
            out = [r.popleft() for _ in range(n)]
        return out

    def get(self, timeout: Optional[float] = None,
            wake: Optional[int] = None) -> Optional[Event]:
        """The next event; None after timeout seconds without one, or when
        the file descriptor wake becomes readable."""
        if not self._ready and not self._wait(timeout, wake):
            return None
        return self._ready.popleft()

    def _wait(self, timeout: Optional[float], wake: Optional[int]) -> bool:
        """Send what waits to go, then read until events are here (True),
        or the timeout passes or wake is readable (False)."""
        end = None if timeout is None else time.monotonic() + timeout
        poll = select.poll()
        while not self._ready:
            self.flush()
            if self._conn.sock is None:
                raise DaemonGone("the consumer's connection is closed")
            poll.register(self._conn.sock, select.POLLIN)
            if wake is not None:
                poll.register(wake, select.POLLIN)
            left = None if end is None else max(0.0, end - time.monotonic())
            ready = poll.poll(None if left is None else left * 1000)
            if not ready:
                return False
            if wake is not None and any(fd == wake for fd, _ in ready):
                return False
            self._take(self._conn.recv())
        return True

    def _take(self, data: bytes) -> None:
        """Cut one read into frames, their EVENTs into Events and their
        CANCELs (version 5) into the window's cancelled ids.  The
        consumer's hot path: frames are read straight from the bytes, not
        copied out one by one first."""
        conn = self._conn
        r = conn.reader
        buf = bytes(r.buf[r.pos:]) + data if r.pending() else data
        end = len(buf)
        pos = 0
        got: List[Event] = []
        ids: List[int] = []
        cancels: List[int] = []
        new: List[int] = []
        hdr = P.HEADER.unpack_from
        full = P.EVENT_FRAME.unpack_from
        limit = r.limit
        EV = P.EVENT
        new_id = ids.append
        new_event = got.append
        try:
            while pos + 8 <= end:
                if pos + 20 <= end:     # the head of an EVENT, at one go
                    length, ftype, flags, reserved, eid, attempt = \
                        full(buf, pos)
                else:
                    length, ftype, flags, reserved = hdr(buf, pos)
                if length > limit or reserved or (flags and (
                        flags != 1 or ftype != EV or conn.version < 4)):
                    raise ProtocolError("the daemon sent a bad frame header "
                                        "(length %d, type %d, flags %d)"
                                        % (length, ftype, flags))
                nxt = pos + 8 + length
                if nxt > end:
                    break
                if ftype == EV and length >= 12:
                    new_id(eid)
                    if flags:   # version 4 on: a key, then headers (5)
                        key, hdrs, at = P.event_block(buf, pos + 20, nxt,
                                                      conn.version)
                        new_event(Event(eid, attempt, buf[at:nxt], self, key,
                                        hdrs))
                    else:
                        new_event(Event(eid, attempt, buf[pos + 20:nxt],
                                        self))
                elif ftype == P.CANCEL and conn.version >= 5:
                    cancels += P.parse_cancel(buf[pos + 8:nxt])
                elif ftype == P.ERROR:
                    raise C.error_from(buf[pos + 8:nxt])
                else:
                    raise ProtocolError("a consumer was sent a frame of type "
                                        "%d, %d bytes" % (ftype, length))
                pos = nxt
        except PushstageError:
            conn.close()
            got = []            # from a connection now closed
            cancels = []
            raise
        finally:
            r.buf = bytearray(buf[pos:])
            r.pos = 0
            if got or cancels:
                # Its EVENTs first: a CANCEL names events sent before it.
                with self._lock:
                    if got:
                        self._window.delivery(ids)
                    if cancels:
                        new = self._window.cancel(cancels)
                self._ready.extend(got)
        if new and self._on_cancel is not None:
            self._on_cancel(new)
