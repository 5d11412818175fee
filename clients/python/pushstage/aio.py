"""The asyncio client: AsyncClient and AsyncConsumer, the same shape as
Client and Consumer with coroutines."""

from __future__ import annotations

import asyncio
import collections
import datetime
from typing import (Callable, Deque, Iterable, List, Optional, Sequence,
                    Tuple, Union, overload)

from . import _core as C
from . import _proto as P
from ._core import (Cancelled, Data, DeadList, Enqueued, Headers, Job,
                    JobsPage, Message, QueueInfo, Schedule, Stats,
                    WaitResult)
from .errors import DaemonGone, ProtocolError, PushstageError, Refused

READ_SIZE = 256 * 1024


class _AConn(C.Link):
    """One connection to producerd past its handshake (asyncio)."""

    def __init__(self, path: str, timeout: Optional[float]) -> None:
        self.path = path
        self.timeout = timeout
        self.r: Optional[asyncio.StreamReader] = None
        self.w: Optional[asyncio.StreamWriter] = None
        self.reader = P.Reader()

    @classmethod
    async def open(cls, path: str, role: int, name: bytes = b"",
                   max_demand: int = 0, min_demand: int = 0,
                   queue: Data = b"", partition: Optional[int] = None,
                   timeout: Optional[float] = None) -> "_AConn":
        version = P.VERSION
        while True:
            c = cls(path, timeout)
            q = C.queue_for(version, queue, True) if queue else b""
            try:
                await c._open(version, P.hello(version, role, name,
                                               max_demand, min_demand, q,
                                               partition))
                return c
            except Refused as e:
                nv = C.version_after_refusal(e, version)
                if nv is None:
                    raise (C.no_common_version(e) if e.code == 7 else e) \
                        from None
                version = nv

    async def _open(self, version: int, hello: bytes) -> None:
        C.check_private_dir(self.path)
        try:
            self.r, self.w = await asyncio.open_unix_connection(self.path)
        except OSError as e:
            raise C.connect_error(self.path, e) from None
        try:
            sock = self.w.get_extra_info("socket")
            if sock is not None:
                C.check_peer(sock, self.path)
            await self.send(hello)
            ftype, body, _ = await self.next_frame()
            self.welcome(ftype, body, version)
        except BaseException:
            self.close()
            raise
        self.reader.limit = self.max_frame + 4

    @property
    def open_(self) -> bool:
        return self.w is not None

    def close(self) -> None:
        if self.w is not None:
            self.w.close()
            self.w = None

    def write(self, data: bytes) -> None:
        if self.w is None:
            raise DaemonGone("the connection to %s is closed" % self.path)
        if data:
            self.w.write(data)

    async def send(self, data: bytes) -> None:
        self.write(data)
        assert self.w is not None
        try:
            await self.w.drain()
        except OSError as e:
            self.close()
            raise DaemonGone("producerd at %s closed the connection (%s)"
                             % (self.path, e.strerror or e)) from None

    async def fill(self) -> List[P.Frame]:
        assert self.r is not None
        try:
            data = await asyncio.wait_for(self.r.read(READ_SIZE),
                                          self.timeout)
        except asyncio.TimeoutError:
            self.close()
            raise self.no_answer() from None
        except OSError as e:
            self.close()
            raise self.read_failed(e) from None
        if not data:
            err = self.hung_up()
            self.close()
            raise err
        self.reader.feed(data)
        try:
            return self.reader.frames()
        except ProtocolError:
            self.close()
            raise

    async def next_frame(self) -> P.Frame:
        while True:
            frames = await self.fill()
            if frames:
                if len(frames) > 1:
                    self.close()
                    raise ProtocolError("the daemon sent %d frames for one "
                                        "request" % len(frames))
                return frames[0]

    async def request(self, frame: bytes, want: int) -> bytes:
        self.check_request(frame)
        try:
            await self.send(frame)
            return await self._answer(want)
        except BaseException:
            # Cut short (a task cancelled, as by asyncio.wait_for): its
            # answer would come to the next request.
            self.close()
            raise

    async def request_held(self, frame: bytes, want: int,
                           timeout: Optional[float]) -> bytes:
        """request, for one the daemon holds until something happens
        (WAIT): its answer awaited up to timeout seconds (None: as long
        as it takes), not the connection's timeout.  Cancelled (as by
        asyncio.wait_for), the connection is closed: its answer would
        come to the next request."""
        self.check_request(frame)
        keep = self.timeout
        try:
            await self.send(frame)
            self.timeout = timeout
            return await self._answer(want)
        except BaseException:
            self.close()
            raise
        finally:
            self.timeout = keep

    async def _answer(self, want: int) -> bytes:
        ftype, body, _ = await self.next_frame()
        try:
            return self.answer(ftype, body, want)
        except PushstageError:
            self.close()
            raise


class AsyncClient:
    """Client with coroutines: `await client.enqueue("jobs", b"x")`.
    Connects on first use and again after a lost connection; one request
    at a time."""

    def __init__(self, socket: Optional[str] = None, name: str = "",
                 timeout: Optional[float] = None) -> None:
        self.socket = socket or C.default_socket()
        self.name = name.encode()
        self.timeout = timeout
        self._conn: Optional[_AConn] = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _connected(self) -> _AConn:
        if self._conn is None or not self._conn.open_:
            self._conn = await _AConn.open(self.socket, P.ROLE_CLIENT,
                                           self.name, timeout=self.timeout)
        return self._conn

    async def version(self) -> int:
        async with self._lock:
            return (await self._connected()).version

    async def _call(self, build: Callable[[int], bytes],
                    want: int) -> Tuple[bytes, int]:
        async with self._lock:
            conn = await self._connected()
            return await conn.request(build(conn.version), want), conn.version

    # As Client.enqueue's: one str is one event.
    @overload
    async def enqueue(  # type: ignore[misc]
            self, queue: str, events: Union[Data, Message], *,
            key: Optional[Data] = None, delay: Optional[float] = None,
            not_before: Union[float, datetime.datetime, None] = None,
            priority: Optional[int] = None,
            unique_id: Optional[Data] = None,
            headers: Optional[Headers] = None) -> Optional[int]: ...

    @overload
    async def enqueue(
            self, queue: str, events: Iterable[Union[Data, Message]], *,
            key: Optional[Data] = None, delay: Optional[float] = None,
            not_before: Union[float, datetime.datetime, None] = None,
            priority: Optional[int] = None,
            unique_id: Optional[Data] = None,
            headers: Optional[Headers] = None) -> Enqueued: ...

    async def enqueue(
            self, queue: str,
            events: Union[Data, Message, Iterable[Union[Data, Message]]], *,
            key: Optional[Data] = None, delay: Optional[float] = None,
            not_before: Union[float, datetime.datetime, None] = None,
            priority: Optional[int] = None,
            unique_id: Optional[Data] = None,
            headers: Optional[Headers] = None
            ) -> Union[Optional[int], Enqueued]:
        """As Client.enqueue (headers= too)."""
        built: List[Tuple[int, bool]] = []

        def build(version: int) -> bytes:
            f, n, single = C.enqueue_frame(version, queue, events, key, delay,
                                           not_before, priority, unique_id,
                                           headers)
            built.append((n, single))
            return f
        body, _ = await self._call(build, P.ENQUEUED_T)
        return C.enqueue_result(queue, built[-1][0], built[-1][1], body)

    async def stats(self, queue: Optional[str] = None) -> Stats:
        body, v = await self._call(lambda v: P.stats(
            v, C.queue_for(v, queue, True) if queue else None),
            P.STATS_REPLY)
        return C.stats_result(body, v)

    async def queues(self) -> List[QueueInfo]:
        out: List[QueueInfo] = []
        while True:
            def build(version: int, start: int = len(out)) -> bytes:
                C.need_v3(version, "listing queues")
                return P.queues(start)
            body, _ = await self._call(build, P.QUEUES_REPLY)
            total, entries = P.parse_queues(body)
            out.extend(QueueInfo(n, c) for n, c in entries)
            if not entries or len(out) >= total:
                return out

    async def dead(self, queue: str = "default", preview: int = 64
                   ) -> DeadList:
        if not 0 <= preview <= 1024:
            raise ValueError("preview must be 0 to 1024 bytes")
        body, v = await self._call(lambda v: P.dead_list(
            v, C.queue_for(v, queue, True), preview), P.DEAD_LIST_REPLY)
        return C.dead_result(body, v)

    async def job(self, queue: str, id: Optional[int] = None, *,
                  unique_id: Optional[Data] = None,
                  preview: int = 256) -> Optional[Job]:
        """As Client.job: the event by id or unique_id, or None."""
        eid, uid = C.job_args(queue, id, unique_id, preview)
        async with self._lock:
            conn = await self._connected()
            body = await conn.request(C.job_frame(
                conn.version, queue, eid, uid, preview), P.JOB_REPLY)
            try:
                return C.job_result(body)
            except ProtocolError:
                conn.close()        # nothing past a bad reply is trusted
                raise

    async def jobs(self, queue: str, state: str = "queued", *,
                   after: Union[bytes, str, None] = None, limit: int = 50,
                   preview: int = 64, key: Optional[Data] = None,
                   header: Optional[Tuple[Data, Data]] = None) -> JobsPage:
        """As Client.jobs: a page of the queue's events in one state."""
        args = C.jobs_args(queue, state, after, limit, preview, key, header)
        async with self._lock:
            conn = await self._connected()
            body = await conn.request(C.jobs_frame(
                conn.version, queue, args, limit, preview), P.JOBS_REPLY)
            try:
                return C.jobs_result(body, args[0], limit)
            except ProtocolError:
                conn.close()        # nothing past a bad reply is trusted
                raise

    async def cancel(self, queue: str,
                     ids: Union[int, Iterable[int], None] = None, *,
                     unique_id: Optional[Data] = None) -> List[Cancelled]:
        """As Client.cancel: the events by ids or unique_id, in every
        group of the queue; a Cancelled for each."""
        idl, uid = C.cancel_args(queue, ids, unique_id)
        async with self._lock:
            conn = await self._connected()
            body = await conn.request(C.cancel_frame(
                conn.version, conn.max_frame, queue, idl, uid),
                P.JOB_CANCEL_REPLY)
            try:
                return C.cancel_result(body, idl)
            except ProtocolError:
                conn.close()        # nothing past a bad reply is trusted
                raise

    async def wait(self, queue: str, id: Optional[int] = None, *,
                   unique_id: Optional[Data] = None,
                   timeout: Optional[float] = None) -> WaitResult:
        """As Client.wait: until the event (by id or unique_id) ends, at
        most timeout seconds (None: no limit; 0: at once); a WaitResult.
        The client's other calls wait for it (give a long wait an
        AsyncClient of its own); cancelled (asyncio.wait_for), it closes
        the connection; the daemon gone meanwhile is DaemonGone."""
        eid, uid, ms = C.wait_args(queue, id, unique_id, timeout)
        async with self._lock:
            conn = await self._connected()
            body = await conn.request_held(
                C.wait_frame(conn.version, queue, eid, uid, ms),
                P.WAIT_REPLY, C.wait_read_timeout(self.timeout, ms))
            try:
                return C.wait_result(body)
            except ProtocolError:
                conn.close()        # nothing past a bad reply is trusted
                raise

    # -- schedules (protocol version 5), as Client's

    async def _schedule_op(self, op: int, name: str) -> Schedule:
        nm = P.schedule_name(name)
        async with self._lock:
            conn = await self._connected()
            body = await conn.request(C.schedule_frame(conn.version, op, nm),
                                      P.SCHEDULE_REPLY)
            try:
                return C.schedule_result(body, nm)
            except ProtocolError:
                conn.close()        # nothing past a bad reply is trusted
                raise

    async def schedule_add(self, name: str, queue: str, *,
                           cron: Optional[str] = None,
                           every: Union[str, float, datetime.timedelta,
                                        None] = None,
                           tz: Optional[str] = None,
                           catch_up: Optional[str] = None,
                           unique: Optional[bool] = None,
                           paused: Optional[bool] = None,
                           replace: bool = False, payload: Data = b"",
                           headers: Optional[Headers] = None,
                           priority: Optional[int] = None,
                           key: Optional[Data] = None) -> Schedule:
        """As Client.schedule_add: define the schedule (replace: over
        one defined otherwise, its progress kept); the Schedule."""
        args = C.schedule_add_args(name, queue, cron, every, tz, catch_up,
                                   unique, paused, payload, headers,
                                   priority, key)
        async with self._lock:
            conn = await self._connected()
            body = await conn.request(C.schedule_add_frame(
                conn.version, args, replace), P.SCHEDULE_REPLY)
            try:
                return C.schedule_result(body, args[0])
            except ProtocolError:
                conn.close()
                raise

    async def schedules(self) -> List[Schedule]:
        """As Client.schedules: every schedule, every page of them."""
        out: List[Schedule] = []
        while True:
            def build(version: int, start: int = len(out)) -> bytes:
                return C.schedule_frame(version, P.SCHED_LIST, b"", start)
            async with self._lock:
                conn = await self._connected()
                body = await conn.request(build(conn.version),
                                          P.SCHEDULE_REPLY)
                try:
                    total, got = C.schedules_result(body)
                except ProtocolError:
                    conn.close()
                    raise
            out.extend(got)
            if not got or len(out) >= total:
                return out

    async def schedule(self, name: str) -> Schedule:
        """As Client.schedule: the one named (Refused NO_SCHEDULE)."""
        return await self._schedule_op(P.SCHED_LIST, name)

    async def schedule_pause(self, name: str) -> Schedule:
        return await self._schedule_op(P.SCHED_PAUSE, name)

    async def schedule_resume(self, name: str) -> Schedule:
        return await self._schedule_op(P.SCHED_RESUME, name)

    async def schedule_remove(self, name: str) -> Schedule:
        return await self._schedule_op(P.SCHED_REMOVE, name)

    async def schedule_run_now(self, name: str) -> Schedule:
        """As Client.schedule_run_now: its enqueued is the event's id."""
        return await self._schedule_op(P.SCHED_RUN_NOW, name)

    async def _dead_op(self, ftype: int, queue: str,
                       ids: Optional[Iterable[int]]) -> int:
        async with self._lock:
            conn = await self._connected()
            f = C.dead_ids_frame(conn.version, ftype, queue, ids)
            if f is None:
                return 0
            return P.parse_u32(await conn.request(f, P.DEAD_DONE),
                               "DEAD_DONE")

    async def retry_dead(self, queue: str = "default",
                         ids: Optional[Iterable[int]] = None) -> int:
        return await self._dead_op(P.DEAD_RETRY, queue, ids)

    async def drop_dead(self, queue: str = "default",
                        ids: Optional[Iterable[int]] = None) -> int:
        return await self._dead_op(P.DEAD_DROP, queue, ids)

    async def _admin(self, op: int, queue: str, settings: Sequence[str] = (),
                     force: bool = False, group_ok: bool = False) -> int:
        def build(version: int) -> bytes:
            C.need_v3(version, "managing queues")
            return P.queue_admin(op, C.queue_for(version, queue, group_ok),
                                 list(settings), force)
        body, _ = await self._call(build, P.QUEUE_DONE)
        return P.parse_u64(body, "QUEUE_DONE")

    async def set(self, queue: str, **settings: object) -> None:
        await self._admin(P.OP_SET, queue, C.settings_list(settings))

    async def create(self, queue: str, **settings: object) -> None:
        await self._admin(P.OP_CREATE, queue, C.settings_list(settings))

    async def pause(self, queue: str, seconds: Optional[float] = None) -> None:
        await self._admin(P.OP_SET, queue, [C.pause_setting(seconds)])

    async def resume(self, queue: str) -> None:
        await self._admin(P.OP_SET, queue, ["paused=no"])

    async def purge(self, queue: str) -> int:
        return await self._admin(P.OP_PURGE, queue)

    async def delete(self, queue: str, force: bool = False) -> int:
        return await self._admin(P.OP_DELETE, queue, force=force)

    async def drop_group(self, queue: str, group: str,
                         force: bool = False) -> int:
        return await self._admin(P.OP_DROP_GROUP, "%s/%s" % (queue, group),
                                 force=force, group_ok=True)


class AsyncEvent(C.EventHeaders):
    """An Event of an AsyncConsumer: `await event.ack()` (or
    `await event.ack(result=...)`); id, attempt, data, key, headers,
    raw_headers and cancelled as Event's."""

    __slots__ = ("id", "attempt", "data", "_consumer", "key", "_headers",
                 "_cancelled")

    def __init__(self, eid: int, attempt: int, data: bytes,
                 consumer: "AsyncConsumer",
                 key: Optional[bytes] = None,
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
        """As Event.cancelled: True once the daemon said the event is
        cancelled, which the consumer learns when it reads (a get(),
        or the worker's reader, which cancels the handler's task)."""
        if not self._cancelled and \
                self.id in self._consumer._window.cancelled:
            self._cancelled = True
        return self._cancelled

    async def ack(self, result: Optional[Data] = None) -> bool:
        """As Event.ack: done, with its result (bytes, or str as UTF-8;
        protocol version 5, dropped before) when given."""
        return await self._consumer._send_if(self.ack_nowait(result))

    async def nack(self, delay: Optional[float] = None,
                   error: Optional[Data] = None, *,
                   dead: bool = False) -> bool:
        """As Event.nack: again after delay seconds (None: the queue's
        retry-backoff), error saying why (its end when over 4096 bytes;
        dropped by a daemon older than protocol version 5); dead=True
        gives up at once, to the dead letters (reason "rejected")."""
        return await self._consumer._send_if(
            self.nack_nowait(delay, error, dead=dead))

    def ack_nowait(self, result: Optional[Data] = None) -> Optional[bool]:
        """ack() without writing: the answer waits in the consumer until
        its next write (flush(), or any answer that writes), so that a
        worker answering many events writes them all at once.  None when
        the connection is gone; else whether a DEMAND is due."""
        c = self._consumer
        if result is None:
            return c._mark(self, "ack", None)
        return c._mark(self, "ack", None, result=C.result_bytes(result))

    def nack_nowait(self, delay: Optional[float] = None,
                    error: Optional[Data] = None, *,
                    dead: bool = False) -> Optional[bool]:
        """nack() without writing, as ack_nowait."""
        c = self._consumer
        if dead and delay is not None:
            raise ValueError("nack(dead=True) takes no delay")
        return c._mark(
            self, "nack", C.nack_delay_ms(delay), None if error is None else
            C.nack_error_bytes(error, c._window.error_max), dead)

    async def touch(self) -> bool:
        return await self._consumer._touch(self)

    def __repr__(self) -> str:
        return "AsyncEvent(id=%d, attempt=%d, key=%r, %s%sdata=%r)" % (
            self.id, self.attempt, self.key, "headers=%r, " % self.headers
            if self._headers else "", "cancelled, " if self.cancelled
            else "", self.data[:40])


class AsyncConsumer:
    """Consumer with coroutines: `async with AsyncConsumer("jobs", id="w")
    as c: async for event in c: ...; await event.ack()`."""

    def __init__(self, queue: str = "default", id: str = "python",
                 group: Optional[str] = None, max_demand: int = 1,
                 min_demand: Optional[int] = None,
                 socket: Optional[str] = None,
                 partition: Optional[int] = None) -> None:
        if not id:
            raise ValueError("a consumer needs an id")
        self.queue = queue if group is None else "%s/%s" % (queue, group)
        self.socket = socket or C.default_socket()
        self.id = id
        self.partition = partition
        self._window = C.Window(max_demand, max_demand // 2 if min_demand is
                                None else min_demand, True)
        self._conn: Optional[_AConn] = None
        self._ready: Deque[AsyncEvent] = collections.deque()
        # Called with the ids a CANCEL newly cancelled (the worker's).
        self._on_cancel: Optional[Callable[[List[int]], None]] = None

    async def connect(self) -> "AsyncConsumer":
        if self._conn is None:
            w = self._window
            self._conn = await _AConn.open(self.socket, P.ROLE_CONSUMER,
                                           self.id.encode(), w.max, w.min,
                                           self.queue, self.partition)
            w.acks = self._conn.acks
            w.set_errors(self._conn.version, self._conn.max_frame)
            w.set_results(self._conn.version, self._conn.max_frame)
            await self._conn.send(w.out())
        return self

    @property
    def version(self) -> int:
        return self._conn.version if self._conn else 0

    @property
    def ack_timeout(self) -> float:
        return self._conn.ack_timeout if self._conn else 0.0

    @property
    def max_attempts(self) -> int:
        return self._conn.max_attempts if self._conn else 0

    @property
    def held(self) -> int:
        return len(self._window.held)

    @property
    def error_max(self) -> int:
        """As Consumer.error_max (4096 before connect)."""
        return self._window.error_max

    @property
    def result_max(self) -> int:
        """As Consumer.result_max (0 before connect)."""
        return self._window.result_max

    async def __aenter__(self) -> "AsyncConsumer":
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        c = self._conn
        if c is not None and c.open_:
            try:
                await c.send(self._window.out())
            except PushstageError:
                pass
            c.close()

    async def flush(self) -> None:
        if self._conn is not None and self._conn.open_:
            await self._conn.send(self._window.out())

    def stop(self) -> None:
        self._window.stop()

    async def ack(self, events: Iterable[AsyncEvent]) -> bool:
        """Ack a batch of events at once; False when the connection they
        came on is gone."""
        c = self._conn
        if c is None or not c.open_:
            return False
        if self._window.ack_many([e.id for e in events]):
            await c.send(self._window.out())
        return True

    async def nack(self, events: Iterable[AsyncEvent],
                   delay: Optional[float] = None,
                   error: Optional[Data] = None) -> bool:
        """Nack a batch of events, each with the error (as
        Consumer.nack)."""
        d = C.nack_delay_ms(delay)
        err = None if error is None else \
            C.nack_error_bytes(error, self._window.error_max)
        c = self._conn
        if c is None or not c.open_:
            return False
        due = False
        for e in events:
            due = self._window.done(e.id, "nack", d, err) or due
        if due:
            await c.send(self._window.out())
        return True

    async def batch(self, timeout: Optional[float] = None
                    ) -> List[AsyncEvent]:
        """The events here now, up to one chunk of the window (as
        Consumer.batch), waiting for one if there is none; [] after the
        timeout."""
        ev = await self.get(timeout)
        if ev is None:
            return []
        out = [ev]
        n = self._window.max - self._window.min
        while self._ready and len(out) < n:
            out.append(self._ready.popleft())
        return out

    def _mark(self, ev: AsyncEvent, how: str, delay_ms: Optional[int],
              error: Optional[bytes] = None, dead: bool = False,
              result: Optional[bytes] = None) -> Optional[bool]:
        """ev answered in the window (nothing written): None when the
        connection is gone, else whether a DEMAND is due."""
        c = self._conn
        if c is None or not c.open_:
            return None
        if result is not None:
            return self._window.ack_result(ev.id, result)
        return self._window.done(ev.id, how, delay_ms, error, dead)

    async def _send_if(self, due: Optional[bool]) -> bool:
        """After _mark: write when a DEMAND is due; False when the
        connection was gone."""
        if due is None:
            return False
        if due and self._conn is not None:
            await self._conn.send(self._window.out())
        return True

    async def _touch(self, ev: AsyncEvent) -> bool:
        c = self._conn
        if c is None or not c.open_:
            return False
        self._window.touch(ev.id)
        await c.send(self._window.out())
        return True

    def __aiter__(self) -> "AsyncConsumer":
        return self

    async def __anext__(self) -> AsyncEvent:
        ev = await self.get()
        assert ev is not None
        return ev

    async def get(self, timeout: Optional[float] = None
                  ) -> Optional[AsyncEvent]:
        """The next event, or None after timeout seconds without one."""
        if self._ready:
            return self._ready.popleft()
        await self.connect()
        c = self._conn
        assert c is not None
        loop = asyncio.get_running_loop()
        # A read may bring no event (a CANCEL): the timeout is the
        # call's, not each read's.
        end = None if timeout is None else loop.time() + timeout
        while not self._ready:
            if not c.open_:
                raise DaemonGone("the consumer's connection is closed")
            await c.send(self._window.out())
            if end is None:
                frames = await c.fill()
            else:
                try:
                    frames = await asyncio.wait_for(
                        c.fill(), max(0.0, end - loop.time()))
                except asyncio.TimeoutError:
                    return None
            self._take(frames)
        return self._ready.popleft()

    async def _read(self) -> None:
        """Send what waits to go, then one read: its events join those
        ready, its CANCELs mark theirs (the worker reads so, on and on,
        while its handlers run)."""
        await self.connect()
        c = self._conn
        assert c is not None
        if not c.open_:
            raise DaemonGone("the consumer's connection is closed")
        await c.send(self._window.out())
        self._take(await c.fill())

    def _take(self, frames: List[P.Frame]) -> None:
        """A read's frames: EVENTs become AsyncEvents, ready; a CANCEL's
        ids (version 5) the window's cancelled, after the events before
        it."""
        got: List[AsyncEvent] = []
        cancels: List[int] = []
        unpack = P.EVENT_HEAD.unpack_from
        w = self._window
        assert self._conn is not None
        for ftype, body, flags in frames:
            if ftype == P.CANCEL and self._conn.version >= 5:
                try:
                    cancels += P.parse_cancel(body)
                except ProtocolError:
                    self._conn.close()
                    raise
                continue
            if ftype == P.EVENT:
                if len(body) < 12:
                    self._conn.close()
                    raise ProtocolError("an EVENT of %d bytes" % len(body))
                eid, attempt = unpack(body)
                key, hdrs, at = None, None, 12
                if flags and self._conn.version < 4:
                    self._conn.close()
                    raise ProtocolError("an EVENT with flags %d before "
                                        "protocol version 4" % flags)
                if flags:
                    try:
                        key, hdrs, at = P.event_block(body, 12, len(body),
                                                      self._conn.version)
                    except ProtocolError:
                        self._conn.close()
                        raise
                got.append(AsyncEvent(eid, attempt, body[at:], self, key,
                                      hdrs))
            elif ftype == P.ERROR:
                self._conn.close()
                raise C.error_from(body)
            else:
                self._conn.close()
                raise ProtocolError("a consumer was sent a frame of type %d"
                                    % ftype)
        if got:
            w.delivery([e.id for e in got])
            self._ready.extend(got)
        if cancels:
            new = w.cancel(cancels)
            if new and self._on_cancel is not None:
                self._on_cancel(new)
