"""pushstage.taskworker: run an App's tasks (docs/tasks.md, "Python: the
worker").

    python3 -m pushstage.worker --app myapp.tasks -Q emails,images:3 -c 8 \\
        --pool thread|process|asyncio

--app names a module holding a pushstage.App (its attribute `app`, or
the one App in it), or module:attribute.  -Q lists the queues to serve,
each with a weight (QUEUE:WEIGHT, 1 unless given); without it, the
queues of the app's tasks (or its default_queue).

Queues and weights.  Each queue has its own consumer connection, and
asks for events ahead, --prefetch of them (default 1):
a queue holds at most that many events that wait for a slot (asked
for, or delivered and not started), and asks for more when half of
them have started, in one DEMAND.  A worker of one queue also asks for
its free slots: it holds at most the concurrency plus prefetch.  With
several, the events the worker holds never exceed the concurrency
(those running) plus prefetch times the number of queues (the daemon
holds them for it: no other consumer gets them meanwhile; --prefetch 1
holds the fewest).  At a stop the events waiting are given back, but
a demand cannot be taken back: while a queue still has events asked
for and not received, those waiting are kept, not run (a nack would
give them to the same demand again, an attempt a time), and given back
once the last has come, or when the connection closes.
When a slot is
free and several queues have an event waiting, it goes to one of them
at random with probability weight / (the sum of their weights), as
Sidekiq's weighted queues; a queue with nothing waiting takes no share.
(With --prefetch 1, a queue's next event comes a round trip to the
daemon after the last one started: with tasks that take less than
that, queues that just gave one get fewer than their share.)

Routing.  An event's `task` header names its task (of the app, whatever
its queue).  An unknown task, a payload that is not the envelope, or a
content-type other than application/json goes to the dead letters at
once (a NACK whose delay is 0xfffffffe, reason "rejected") with the
envelope's error: UnknownTask, BadPayload, UnsupportedContentType.  A
task that returns acks its event with the value as JSON
(envelope.encode_result; over the queue's max-result it fails, as in
pushstage.worker).  One that raises nacks it with envelope.error_of(the
exception) and a backoff: the task's own, else --backoff; when the
task's max_attempts is reached the event goes to the dead letters at
once (the queue's max-attempts still applies).

Pools.  async def tasks run on the worker's event loop (--pool asyncio,
the default when every task served is async; under the other pools the
async tasks still run on the loop).  Plain functions run in -c threads
(--pool thread, the default) or -c child processes (--pool process).
-c bounds the tasks running at once, whatever their kind.

Time limits.  soft_time_limit raises SoftTimeLimitExceeded inside the
task: in a child by SIGALRM (setitimer); in a thread by
PyThreadState_SetAsyncExc, which lands only when the thread runs Python
bytecode (not while it waits in a C call: a sleep, a read, a lock); in
asyncio it is thrown into the coroutine at the await it waits in.
time_limit ends the run: a child is killed (SIGKILL) and replaced, an
asyncio task cancelled, and the event nacked with TimeLimitExceeded
"time limit exceeded (N s)".  A thread cannot be killed: the worker
refuses to start (EX_CONFIG) when a plain task it serves has a
time_limit and the pool is thread.  While a task runs the worker
touches its event each half ack timeout, so that it is not delivered
again.

Children.  --pool process forks its children from the worker (fork,
not forkserver: the app is loaded once and a child is replaced at once,
without importing anything; the worker has no other thread when it
forks).  A child keeps no descriptor of the worker's but its pipes and
stdio (its copies of the daemon's connections are made /dev/null, so a
worker killed with -9 is seen by the daemon at once), dies with the
worker (PR_SET_PDEATHSIG, and the end of its pipe), and ignores SIGINT
and SIGTERM: the worker stops it.  A child that dies while it runs a
task (a segfault) is replaced and its event nacked with Signal "killed
by signal N" (ExitStatus "exit status N" for an exit); one that ran
--max-tasks-per-child tasks is replaced.

Hooks.  App.hooks' before_task(task, event), after_task(task, event,
result, seconds) and on_failure(task, event, exception, seconds) run
where the task runs: in its thread, on the loop (an awaitable they
return is awaited), or in the child; on_failure for a child killed
(time limit, signal) runs in the worker, the child being gone.  A hook
that raises is logged (logger "pushstage.taskworker") and changes
nothing.

The event.  A task reaches the event it runs for with
current_event(): an AsyncEvent in the worker (its id, attempt, data,
key, headers, cancelled), a ChildEvent (the same fields) in a child.
Cancelled (Client.cancel): an event waiting for a slot is acked, not
run; an async task's asyncio task is cancelled; a plain task sees
current_event().cancelled become True and may return early; the event
is acked (without a result) either way.

Periodic tasks.  The app's periodic tasks (App.periodic) of the queues
served are defined in the daemon when the worker starts, each a
SCHEDULE ADD with REPLACE on a connection of its own: the same
definition again changes nothing, a changed one replaces it and keeps
its progress.  Again when a queue's connection comes back after a loss
(a daemon restarted without --data-dir has lost them); while the daemon
is away, again with a backoff.  One the daemon refuses (a bad rule or
time zone, --max-schedules, a daemon without schedules) stops the
worker (EX_CONFIG), naming the schedule.  A schedule's events are
tasks as any other: their headers add pushstage-schedule and
pushstage-tick.

Tasks need protocol version 5 (headers): an older daemon stops the
worker (EX_CONFIG).

Stopping.  SIGTERM or SIGINT: ask for nothing more, give back the
events waiting for a slot, let the running tasks finish within --grace
seconds, then nack what is left (cancelling asyncio tasks, killing the
children), exit 0; a second signal exits at once.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import functools
import importlib
import inspect
import logging
import os
import pickle
import queue as _queue
import random
import signal
import socket as _socket
import struct
import sys
import threading
import time
import traceback
from typing import (Any, Awaitable, Callable, Deque, Dict, Generator, List,
                    NamedTuple, Optional, Set, Tuple, Union)
import collections

from . import envelope as E
from .aio import AsyncClient, AsyncConsumer, AsyncEvent
from ._core import EventHeaders, queue_for
from .errors import ProtocolError, PushstageError, Refused, Unsupported
from .tasks import App, Task
from .taskctx import (ChildEvent, SoftTimeLimitExceeded, TaskEvent,
                      TimeLimitExceeded, _current, current_event)
from . import worker as W
from .worker import (EX_CONFIG, EX_USAGE, GRACE_ERROR, ResultLimit,
                     _Backoff, _fatal, _traceback_line, retry_delay)

logger = logging.getLogger("pushstage.taskworker")

POOLS = ("thread", "process", "asyncio")


# --- a run's outcome -------------------------------------------------------

class Outcome(NamedTuple):
    """How one run ended: ok and its result (JSON bytes), or its error
    (the envelope's bytes) and what the log line says of it."""
    ok: bool
    result: bytes
    error: bytes
    etype: str
    message: str
    where: str          # the traceback on one line
    seconds: float


def _failed(e: BaseException, seconds: float, limit: int) -> Outcome:
    try:
        msg = str(e)
    except Exception:
        msg = "<exception str() failed>"
    return Outcome(False, b"", E.error_of(e, limit), type(e).__name__, msg,
                   _traceback_line(e), seconds)


def _said(etype: str, message: str, seconds: float, limit: int) -> Outcome:
    """A failure the worker saw, not the task (a signal, a time limit)."""
    return Outcome(False, b"", E.encode_error(etype, message, "", limit),
                   etype, message, "", seconds)


def _hooks(app: App, kind: str, *args: Any) -> List[Awaitable[Any]]:
    """Call the app's hooks of a kind; one that raises is logged.  The
    awaitables they return, for the caller on a loop to await."""
    out: List[Awaitable[Any]] = []
    for fn in list(app.hooks.get(kind, [])):
        try:
            r = fn(*args)
            if inspect.isawaitable(r):
                out.append(r)
        except Exception as e:
            logger.error("hook %s failed: %s: %s" % (kind, type(e).__name__,
                                                      e),
                         exc_info=e, extra={"kv": {"hook": getattr(
                             fn, "__qualname__", repr(fn))}})
    return out


async def _await_hooks(aws: List[Awaitable[Any]]) -> None:
    """Await what async hooks returned; one that raises is logged."""
    for a in aws:
        try:
            await a
        except Exception as e:
            logger.error("hook failed: %s: %s" % (type(e).__name__, e),
                         exc_info=e)


def _close_awaitables(aws: List[Awaitable[Any]]) -> None:
    for a in aws:
        close = getattr(a, "close", None)
        if close is not None:
            close()
    if aws:
        logger.warning("an async hook outside asyncio: not run")


def call_sync(app: App, task: Task, ev: TaskEvent, args: List[Any],
              kwargs: Dict[str, Any], limit: int,
              arm: Callable[[bool], None]) -> Outcome:
    """Run a plain task with its hooks, in a thread or a child: arm(True)
    just before its function, arm(False) just after (its soft limit's
    window)."""
    token = _current.set(ev)
    t0 = time.monotonic()
    try:
        _close_awaitables(_hooks(app, "before_task", task, ev))
        try:
            try:
                arm(True)
                value = task.fn(*args, **kwargs)
            finally:
                arm(False)
            res = E.encode_result(value)
        except BaseException as e:
            secs = time.monotonic() - t0
            _close_awaitables(_hooks(app, "on_failure", task, ev, e, secs))
            return _failed(e, secs, limit)
        secs = time.monotonic() - t0
        _close_awaitables(_hooks(app, "after_task", task, ev, value, secs))
        return Outcome(True, res, b"", "", "", "", secs)
    finally:
        _current.reset(token)


# --- settings --------------------------------------------------------------

def parse_queues(spec: str) -> List[Tuple[str, int]]:
    """"emails,images:3" as [("emails", 1), ("images", 3)]; ValueError
    saying what is wrong."""
    out: List[Tuple[str, int]] = []
    for part in spec.split(","):
        name, sep, w = part.strip().partition(":")
        if not name:
            raise ValueError("-Q %r: a queue's name is empty" % spec)
        weight = 1
        if sep:
            try:
                weight = int(w)
            except ValueError:
                weight = 0
            if not 1 <= weight <= 1000000:
                raise ValueError("-Q %r: %s's weight must be a whole number "
                                 "1 to 1000000" % (spec, name))
        if any(n == name for n, _ in out):
            raise ValueError("-Q %r: %s given twice" % (spec, name))
        out.append((name, weight))
    return out


def load_app(target: str) -> App:
    """--app: a module holding an App (its attribute `app`, or its one
    App), or module:attribute."""
    mod, sep, attr = target.partition(":")
    if not mod:
        raise ValueError("--app %r: give a module, or module:attribute"
                         % target)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    m = importlib.import_module(mod)
    if sep:
        obj: Any = m
        for part in attr.split("."):
            obj = getattr(obj, part)
        if not isinstance(obj, App):
            raise ValueError("%s is a %s, not a pushstage.App"
                             % (target, type(obj).__name__))
        return obj
    if isinstance(getattr(m, "app", None), App):
        a: App = getattr(m, "app")
        return a
    apps = {id(v): v for v in vars(m).values() if isinstance(v, App)}
    if len(apps) != 1:
        raise ValueError("module %s holds %s pushstage.App: give "
                         "module:attribute" % (mod, "no" if not apps
                                               else "more than one"))
    return list(apps.values())[0]


class Settings:
    def __init__(self, app: App, queues: List[Tuple[str, int]],
                 concurrency: int, pool: str, socket: Optional[str],
                 id: str, grace: float,
                 backoff: Optional[Tuple[float, float]],
                 max_tasks_per_child: int = 0,
                 prefetch: Optional[int] = None) -> None:
        self.app = app
        self.queues = queues
        self.concurrency = concurrency
        self.pool = pool
        self.socket = socket if socket is not None else app.socket
        self.id = id
        self.grace = grace
        self.backoff = backoff
        self.max_tasks_per_child = max_tasks_per_child
        self.prefetch = prefetch if prefetch is not None else 1


def default_queues(app: App) -> List[Tuple[str, int]]:
    names = sorted({t.queue for t in app.tasks.values()})
    return [(n, 1) for n in (names or [app.default_queue])]


def served(app: App, queues: List[Tuple[str, int]]) -> List[Task]:
    qs = {n for n, _ in queues}
    return [t for t in app.tasks.values() if t.queue in qs]


def check_pool(app: App, queues: List[Tuple[str, int]],
               pool: Optional[str]) -> Tuple[str, Optional[str]]:
    """The pool to use (pool None: asyncio when every task served is
    async, else thread), and why it cannot be, or None."""
    tasks = served(app, queues)
    if pool is None:
        pool = "asyncio" if tasks and all(t.is_async for t in tasks) \
            else "thread"
    if pool == "thread":
        for t in tasks:
            if not t.is_async and t.time_limit:
                return pool, ("task %s has a time_limit (%gs), and a thread "
                              "cannot be stopped: use --pool process"
                              % (t.name, t.time_limit))
    if pool == "asyncio":
        for t in tasks:
            if not t.is_async:
                return pool, ("task %s is a plain function; --pool asyncio "
                              "runs async def tasks: use --pool thread or "
                              "process" % t.name)
    return pool, None


# --- one running event -----------------------------------------------------

class _Queue:
    """A queue served: its weight, its connection, the event it holds
    waiting for a slot, and whether it has asked for one."""

    def __init__(self, name: str, weight: int, s: Settings) -> None:
        self.name = name
        self.weight = weight
        self.c: Optional[AsyncConsumer] = None
        self.credit = 0
        self.waiting: Deque[AsyncEvent] = collections.deque()
        self.limit = ResultLimit(s.socket, name)
        self.serving: Optional["asyncio.Task[None]"] = None


class _Run:
    def __init__(self, q: _Queue, ev: AsyncEvent, task: Task,
                 args: List[Any], kwargs: Dict[str, Any]) -> None:
        self.q = q
        self.ev = ev
        self.task = task
        self.args = args
        self.kwargs = kwargs
        self.started = time.monotonic()
        self.timers: List[asyncio.TimerHandle] = []
        self.atask: Optional["asyncio.Task[Outcome]"] = None
        self.soft = False           # its soft limit fired
        self.hard = False           # its time limit ended it
        self.cancel_req = False     # cancelled by a client (asyncio)
        self.child: Optional["_Child"] = None
        self.slot: Optional["_Slot"] = None
        self.done = False


def _key(ev: AsyncEvent) -> Tuple[int, int]:
    return id(ev._consumer), ev.id


def _give_back(ev: AsyncEvent, error: Optional[bytes] = None
               ) -> Callable[[], Optional[bool]]:
    """A stop's answer to an event not run to its end: acked when it
    was cancelled meanwhile, else nacked (with the error)."""
    if ev.cancelled:
        return ev.ack_nowait
    return functools.partial(ev.nack_nowait, error=error)


# --- asyncio: an awaitable a soft limit is thrown into ---------------------

class _Throwing:
    """Awaits a coroutine, and throws SoftTimeLimitExceeded into it at
    the await it waits in when soft() is called (the task is cancelled
    to wake it; the CancelledError that brings is turned into the soft
    limit's exception)."""

    def __init__(self, coro: Any) -> None:
        self.coro = coro
        self.pending = False
        self.running = True     # False once the coroutine ended

    def __await__(self) -> Generator[Any, Any, Any]:
        try:
            return (yield from self._drive())
        finally:
            self.running = False

    def _drive(self) -> Generator[Any, Any, Any]:
        send: Any = None
        exc: Optional[BaseException] = None
        while True:
            try:
                if exc is not None:
                    e, exc = exc, None
                    if isinstance(e, asyncio.CancelledError) and self.pending:
                        self.pending = False
                        t = asyncio.current_task()
                        if t is not None and hasattr(t, "uncancel"):
                            t.uncancel()
                        e = SoftTimeLimitExceeded("soft time limit exceeded")
                    y = self.coro.throw(e)
                else:
                    y = self.coro.send(send)
            except StopIteration as st:
                return st.value
            try:
                send = yield y
            except BaseException as e:
                exc = e


# --- the loop's wake-up ---------------------------------------------------

class _Wake:
    """asyncio.Event's set, clear, is_set and wait for the worker's one
    waiter, without a Task each wait: set() often, from every callback,
    costs a flag."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.flag = False
        self.fut: Optional["asyncio.Future[None]"] = None

    def set(self) -> None:
        self.flag = True
        f = self.fut
        if f is not None and not f.done():
            f.set_result(None)

    def clear(self) -> None:
        self.flag = False

    def is_set(self) -> bool:
        return self.flag

    async def wait(self, timeout: Optional[float] = None) -> None:
        """Until set (or timeout seconds)."""
        if self.flag:
            return
        f = self.fut = self.loop.create_future()
        h = None if timeout is None else \
            self.loop.call_later(timeout, self.set)
        try:
            await f
        finally:
            self.fut = None
            if h is not None:
                h.cancel()


# --- the thread pool -------------------------------------------------------

class _Slot:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tid = 0
        self.run: Optional[_Run] = None
        self.in_fn = False
        self.sent = False       # a soft limit was raised in it


def _async_exc(tid: int, exc: type) -> int:
    return int(ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(tid), ctypes.py_object(exc)))


class _Dropped(BaseException):
    pass


def _drop_async_exc(tid: int) -> None:
    """Drop an exception raised in this thread (tid) by _async_exc that
    has not landed yet.  Not by clearing it (SetAsyncExc with NULL):
    CPython then leaves the interpreter's "async exception pending" flag
    up, and every thread's eval loop takes its slow path for good (the
    worker ran at half speed).  A harmless one replaces it instead, and
    lands here at once: its landing lowers the flag.  (In 3.11 the flag
    is the interpreter's: lowered here, another thread's soft limit
    sent meanwhile lands at its next check for a GIL hand-off, within
    the switch interval while threads wait, not at once.)"""
    try:
        _async_exc(tid, _Dropped)
        for _ in range(1000000):
            pass
    except _Dropped:
        pass


class _ThreadPool:
    """n threads running plain tasks; each outcome goes back to the loop
    (done(run, outcome))."""

    def __init__(self, n: int, app: App, loop: asyncio.AbstractEventLoop,
                 done: Callable[[_Run, Outcome], None]) -> None:
        self.app = app
        self.loop = loop
        self.done = done
        self.jobs: "_queue.SimpleQueue[Optional[Tuple[_Run, int]]]" = \
            _queue.SimpleQueue()
        # Outcomes on their way to the loop: the first of a batch wakes
        # it (one wake-up for all those that end meanwhile).
        self.olock = threading.Lock()
        self.outbox: List[Tuple[_Run, Outcome]] = []
        self.threads = [threading.Thread(target=self.work, args=(_Slot(),),
                                         daemon=True, name="task-%d" % i)
                        for i in range(n)]
        for t in self.threads:
            t.start()

    def submit(self, run: _Run, limit: int) -> None:
        self.jobs.put((run, limit))

    def work(self, slot: _Slot) -> None:
        slot.tid = threading.get_ident()
        while True:
            job = None
            try:
                job = self.jobs.get()
                if job is None:
                    return
                run, limit = job
                out: Optional[Outcome] = None

                def arm(on: bool, run: _Run = run) -> None:
                    # A soft limit sent as the function returned may
                    # still be pending: dropped on the way out, or (when
                    # it landed in arm(False) itself) on the way in,
                    # before the new run can be sent one.
                    with slot.lock:
                        sent, slot.sent = slot.sent, False
                        if not on:
                            slot.run, slot.in_fn = None, False
                    if sent:
                        _drop_async_exc(slot.tid)
                    if on:
                        with slot.lock:
                            slot.run, slot.in_fn = run, True
                run.slot = slot
                out = call_sync(self.app, run.task, run.ev, run.args,
                                run.kwargs, limit, arm)
            except SoftTimeLimitExceeded as e:
                # Landed outside the function (a late one): its outcome
                # is the soft limit, unless it had one.
                if job is not None and out is None:
                    out = _failed(e, time.monotonic() - job[0].started,
                                  job[1])
            except BaseException as e:      # never lose the thread
                if job is not None and out is None:
                    out = _failed(e, time.monotonic() - job[0].started,
                                  job[1])
            if job is not None and out is not None:
                with self.olock:
                    self.outbox.append((job[0], out))
                    first = len(self.outbox) == 1
                if first:
                    try:
                        self.loop.call_soon_threadsafe(self.deliver)
                    except RuntimeError:
                        return      # the worker has ended (past its grace)

    def deliver(self) -> None:
        """On the loop: the outcomes in."""
        with self.olock:
            box, self.outbox = self.outbox, []
        for run, out in box:
            try:
                self.done(run, out)
            except Exception as e:      # never lose the others
                logger.error("answering an event failed: %s: %s"
                             % (type(e).__name__, e), exc_info=e,
                             extra={"kv": {"event": run.ev.id}})

    def soft(self, run: _Run) -> bool:
        """Raise SoftTimeLimitExceeded in the thread running run's
        function; False when it does not run it now."""
        slot = run.slot
        if slot is None:
            return False
        with slot.lock:
            if slot.run is not run or not slot.in_fn:
                return False
            slot.sent = _async_exc(slot.tid, SoftTimeLimitExceeded) == 1
            return slot.sent

    def stop(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)


# --- the process pool ------------------------------------------------------

_LEN = struct.Struct(">I")


def _pack(obj: Any) -> bytes:
    b = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _LEN.pack(len(b)) + b


def _read_exact(fd: int, n: int) -> Optional[bytes]:
    buf = b""
    while len(buf) < n:
        try:
            b = os.read(fd, n - len(buf))
        except InterruptedError:
            continue
        if not b:
            return None
        buf += b
    return buf


def _write_all(fd: int, b: bytes) -> None:
    view = memoryview(b)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[n:]


class _Child:
    def __init__(self, pid: int, to_fd: int, from_fd: int) -> None:
        self.pid = pid
        self.to_fd = to_fd
        self.from_fd = from_fd
        self.rbuf = bytearray()
        self.wbuf = bytearray()
        self.run: Optional[_Run] = None
        self.tasks = 0
        self.killed: Optional[str] = None   # why the worker killed it
        self.retiring = False


def _child_main(r_fd: int, w_fd: int, app: App) -> None:
    """A child of --pool process: runs the tasks its pipe brings, one at
    a time, and writes each outcome back.  Never returns."""
    try:
        keep = {0, 1, 2, r_fd, w_fd}
        devnull = os.open(os.devnull, os.O_RDWR)
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd not in keep and fd != devnull:
                try:
                    os.dup2(devnull, fd)    # the worker's, now nothing
                except OSError:
                    pass
        os.close(devnull)
    except OSError:
        pass
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)       # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:
        os._exit(1)
    # The app's client, if the worker made one, is the worker's
    # connection (now /dev/null here): a task's own calls (a task
    # enqueueing another) connect anew.
    app.reset_client()
    try:
        signal.set_wakeup_fd(-1)
    except (ValueError, OSError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def on_alarm(signum: int, frame: object) -> None:
        raise SoftTimeLimitExceeded("soft time limit exceeded")
    signal.signal(signal.SIGALRM, on_alarm)
    jobs: "_queue.Queue[Optional[Tuple[Any, ...]]]" = _queue.Queue()
    cancelled: Set[int] = set()
    busy = [False]

    def reading() -> None:
        while True:
            head = _read_exact(r_fd, 4)
            body = None if head is None else \
                _read_exact(r_fd, _LEN.unpack(head)[0])
            if body is None:
                if busy[0]:
                    os._exit(1)     # the worker is gone mid-task
                jobs.put(None)
                return
            msg = pickle.loads(body)
            if msg[0] == "cancel":
                cancelled.add(msg[1])
            else:
                jobs.put(msg)
    threading.Thread(target=reading, daemon=True).start()
    while True:
        job = jobs.get()
        if job is None:
            os._exit(0)
        (_, eid, attempt, data, key, headers, queue, name, args, kwargs,
         soft, limit) = job
        busy[0] = True
        task = app.tasks[name]
        ev = ChildEvent(eid, attempt, data, key, headers, queue, cancelled)

        def arm(on: bool, soft: Optional[float] = soft) -> None:
            if soft:
                signal.setitimer(signal.ITIMER_REAL, soft if on else 0)
        t0 = time.monotonic()
        try:
            out = call_sync(app, task, ev, args, kwargs, limit, arm)
        except SoftTimeLimitExceeded as e:      # landed outside it
            signal.setitimer(signal.ITIMER_REAL, 0)
            out = _failed(e, time.monotonic() - t0, limit)
        try:
            msg = _pack(("done", eid, tuple(out)))
        except Exception as e:
            msg = _pack(("done", eid, tuple(_failed(e, out.seconds, limit))))
        busy[0] = False
        cancelled.discard(eid)
        sys.stdout.flush()
        sys.stderr.flush()
        _write_all(w_fd, msg)


class _ProcessPool:
    """n children (forked from the worker) running plain tasks, one at
    a time each; a child that dies is replaced."""

    def __init__(self, n: int, app: App, loop: asyncio.AbstractEventLoop,
                 done: Callable[[_Run, Outcome], None],
                 max_tasks: int, wake: Callable[[], None]) -> None:
        self.n = n
        self.app = app
        self.loop = loop
        self.done = done
        self.wake = wake
        self.max_tasks = max_tasks
        self.children: Dict[int, _Child] = {}
        self.stopping = False
        for _ in range(n):
            self.spawn()

    def spawn(self) -> _Child:
        r1, w1 = os.pipe()      # worker -> child
        r2, w2 = os.pipe()      # child -> worker
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(w1)
                os.close(r2)
                _child_main(r1, w2, self.app)
            finally:
                os._exit(1)
        os.close(r1)
        os.close(w2)
        os.set_blocking(w1, False)
        os.set_blocking(r2, False)
        ch = _Child(pid, w1, r2)
        self.children[pid] = ch
        self.loop.add_reader(r2, self.readable, ch)
        logger.debug("child started", extra={"kv": {"child": pid}})
        self.wake()
        return ch

    def idle(self) -> Optional[_Child]:
        for ch in self.children.values():
            if ch.run is None and not ch.retiring and ch.killed is None:
                return ch
        return None

    def submit(self, run: _Run, limit: int) -> bool:
        ch = self.idle()
        if ch is None:
            return False
        ev = run.ev
        ch.run = run
        run.child = ch
        self.send(ch, ("run", ev.id, ev.attempt, ev.data, ev.key,
                       ev.raw_headers or None, run.q.name, run.task.name,
                       run.args, run.kwargs, run.task.soft_time_limit,
                       limit))
        return True

    def send(self, ch: _Child, msg: Tuple[Any, ...]) -> None:
        ch.wbuf += _pack(msg)
        self.writable(ch)

    def writable(self, ch: _Child) -> None:
        if ch.to_fd < 0:
            return
        try:
            while ch.wbuf:
                n = os.write(ch.to_fd, ch.wbuf)
                del ch.wbuf[:n]
        except BlockingIOError:
            pass
        except OSError:
            ch.wbuf.clear()     # it is gone: its end comes by its pipe
        try:
            if ch.wbuf:
                self.loop.add_writer(ch.to_fd, self.writable, ch)
            else:
                self.loop.remove_writer(ch.to_fd)
        except (ValueError, OSError):
            pass

    def cancel(self, run: _Run) -> None:
        if run.child is not None and run.child.run is run:
            self.send(run.child, ("cancel", run.ev.id))

    def kill(self, run: _Run, why: str) -> None:
        ch = run.child
        if ch is not None and ch.run is run and ch.killed is None:
            ch.killed = why
            try:
                os.kill(ch.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def readable(self, ch: _Child) -> None:
        try:
            b = os.read(ch.from_fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            b = b""
        if not b:
            self.ended(ch)
            return
        ch.rbuf += b
        while len(ch.rbuf) >= 4:
            n = _LEN.unpack_from(ch.rbuf)[0]
            if len(ch.rbuf) < 4 + n:
                break
            msg = pickle.loads(bytes(ch.rbuf[4:4 + n]))
            del ch.rbuf[:4 + n]
            if msg[0] == "done" and ch.run is not None and \
                    ch.run.ev.id == msg[1]:
                run = ch.run
                ch.run = None
                ch.tasks += 1
                if ch.killed is None:
                    self.done(run, Outcome(*msg[2]))
                if self.max_tasks and ch.tasks >= self.max_tasks:
                    self.retire(ch)

    def retire(self, ch: _Child) -> None:
        """Its pipe closed: it exits, idle; a new one takes its place
        now."""
        if not ch.retiring:
            ch.retiring = True
            self.close_to(ch)
            logger.debug("child retired after %d tasks" % ch.tasks,
                         extra={"kv": {"child": ch.pid}})
            if not self.stopping:
                self.spawn()

    def close_to(self, ch: _Child) -> None:
        if ch.to_fd >= 0:
            try:
                self.loop.remove_writer(ch.to_fd)
            except (ValueError, OSError):
                pass
            os.close(ch.to_fd)
            ch.to_fd = -1

    def ended(self, ch: _Child) -> None:
        """Its pipe's end: it exited (or was killed).  Its task, if it
        ran one, fails with how it ended; a new child takes its place."""
        self.loop.remove_reader(ch.from_fd)
        os.close(ch.from_fd)
        self.close_to(ch)
        del self.children[ch.pid]
        try:
            wpid, status = os.waitpid(ch.pid, os.WNOHANG)
            if wpid == 0:
                # Its pipe closed and it runs on (a task closed the
                # descriptor; or it is between closing its files and
                # its end): it goes now, its status kept if it was
                # ending already.
                os.kill(ch.pid, signal.SIGKILL)
                _, status = os.waitpid(ch.pid, 0)
        except (ChildProcessError, ProcessLookupError):
            status = 0
        run = ch.run
        ch.run = None
        if run is not None and not run.done:
            secs = time.monotonic() - run.started
            limit = run.ev._consumer.error_max
            if ch.killed == "time limit":
                run.hard = True
                out = _said(E.TIME_LIMIT_EXCEEDED, "time limit exceeded (%g s)"
                            % (run.task.time_limit or 0), secs, limit)
                exc: BaseException = TimeLimitExceeded(out.message)
            elif os.WIFSIGNALED(status):
                out = _said(E.SIGNAL, "killed by signal %d"
                            % os.WTERMSIG(status), secs, limit)
                exc = RuntimeError(out.message)
            else:
                out = _said(E.EXIT_STATUS, "exit status %d"
                            % os.WEXITSTATUS(status), secs, limit)
                exc = RuntimeError(out.message)
            if ch.killed != "stopping":
                _close_awaitables(_hooks(self.app, "on_failure", run.task,
                                         run.ev, exc, secs))
                self.done(run, out)
            logger.warning("child %d ended while it ran a task: %s"
                           % (ch.pid, out.message),
                           extra={"kv": {"task": run.task.name,
                                         "event": run.ev.id}})
        if not self.stopping and not ch.retiring:
            self.spawn()

    def stop(self) -> None:
        """Close every child's pipe (idle ones exit); kill those that
        still run."""
        self.stopping = True
        for ch in list(self.children.values()):
            self.close_to(ch)
            if ch.run is not None and ch.killed is None:
                ch.killed = "stopping"
                try:
                    os.kill(ch.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def reap(self) -> None:
        for ch in list(self.children.values()):
            try:
                self.loop.remove_reader(ch.from_fd)
            except (ValueError, OSError):
                pass
            os.close(ch.from_fd)
            self.close_to(ch)
            try:
                os.waitpid(ch.pid, 0)
            except ChildProcessError:
                pass
        self.children.clear()


# --- the worker ------------------------------------------------------------

class TaskWorker:
    """Serves an App's tasks from its queues; run() until stopped."""

    def __init__(self, s: Settings) -> None:
        self.s = s
        self.app = s.app
        self.queues = [_Queue(n, w, s) for n, w in s.queues]
        self.running: Dict[Tuple[int, int], _Run] = {}
        self.stopping = False
        self.signals = 0
        self.fatal: Optional[PushstageError] = None
        self.threads: Optional[_ThreadPool] = None
        self.procs: Optional[_ProcessPool] = None
        self.touched: Dict[Tuple[int, int], float] = {}
        self.warned: Set[str] = set()
        # Connections with answers or demand not yet written: written
        # at the end of a turn of the loop (flush_dirty), all of a
        # turn's frames in one write each; those that ask for events
        # (asking) after those that only answer, so that the daemon
        # mostly reads an answer before the demand it made room for
        # (within one connection, always: answers precede DEMAND).
        self.dirty: Dict[AsyncConsumer, None] = {}
        self.asking: Set[AsyncConsumer] = set()
        self.cancels = False        # a CANCEL came: look at the waiting
        # The app's periodic tasks of the queues served, defined in the
        # daemon at the start and again after it was lost (keep_schedules).
        qs = {n for n, _ in s.queues}
        self.periodics = [p for p in self.app.periodics.values()
                          if p.queue in qs]
        self.schedules_due: Optional[asyncio.Event] = None
        self.connected_once: Set[str] = set()

    # -- the loop

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.wake = _Wake(loop)
        self.touch_wake = _Wake(loop)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.on_signal)
        if self.s.pool == "process":
            self.procs = _ProcessPool(self.s.concurrency, self.app, loop,
                                      self.done, self.s.max_tasks_per_child,
                                      self.wake.set)
        elif self.s.pool == "thread":
            self.threads = _ThreadPool(self.s.concurrency, self.app, loop,
                                       self.done)
        logger.info("serving tasks", extra={"kv": {
            "app": self.app.name or "-", "queues": ",".join(
                "%s:%d" % (q.name, q.weight) for q in self.queues),
            "tasks": len(self.app.tasks), "pool": self.s.pool,
            "concurrency": self.s.concurrency, "id": self.s.id}})
        scheduler: "Optional[asyncio.Future[None]]" = None
        if self.periodics:
            self.schedules_due = asyncio.Event()
            self.schedules_due.set()
            scheduler = asyncio.ensure_future(self.keep_schedules())
        for q in self.queues:
            q.serving = asyncio.ensure_future(self.serve(q))
        toucher = asyncio.ensure_future(self.touching())
        while not self.stopping:
            self.wake.clear()
            self.schedule()
            await self.flush_dirty()
            await self.wake.wait()
        await self.drain()
        toucher.cancel()
        if scheduler is not None:
            scheduler.cancel()
        for q in self.queues:
            if q.serving is not None:
                q.serving.cancel()
        for q in self.queues:
            if q.c is not None:
                if q.waiting:
                    n = len(q.waiting)
                    logger.info("closing: %d event%s delivered while "
                                "stopping go%s back with the connection"
                                % (n, "" if n == 1 else "s",
                                   "es" if n == 1 else ""),
                                extra={"kv": {"queue": q.name}})
                await q.c.close()
        if self.procs is not None:
            self.procs.stop()
            self.procs.reap()
        if self.threads is not None:
            self.threads.stop()
        if self.fatal is not None:
            logger.error(str(self.fatal))
            return EX_CONFIG
        logger.info("stopped")
        return 0

    def on_signal(self) -> None:
        self.signals += 1
        if self.signals > 1:
            logger.warning("second signal: exiting at once; the daemon "
                           "gives unacked events to other consumers",
                           extra={"kv": {"held": len(self.running)}})
            os._exit(1)
        self.stop()

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()

    # -- a queue's connection

    async def serve(self, q: _Queue) -> None:
        """Connect q's consumer, read it on and on; again after a loss,
        with a backoff, until the worker stops."""
        s = self.s
        back = _Backoff()
        while not self.stopping:
            c = AsyncConsumer(q.name, s.id, None,
                              s.concurrency + s.prefetch, s.concurrency,
                              s.socket)
            c._window.set_manual()
            c._on_cancel = functools.partial(self.on_cancel, q)
            try:
                await c.connect()
            except PushstageError as e:
                if _fatal(e):
                    self.fatal = e
                    self.stop()
                    return
                d = back.next()
                logger.warning("%s; again in %.1fs" % (e, d),
                               extra={"kv": {"queue": q.name}})
                await asyncio.sleep(d)
                continue
            back.reset()
            if c.version < 5:
                # No headers before version 5: no task names.
                await c.close()
                self.fatal = Unsupported(
                    "the daemon speaks protocol version %d; tasks need "
                    "version 5 (headers)" % c.version)
                self.stop()
                return
            await q.limit.connected_async(c)
            q.c = c
            q.credit = 0
            if q.name in self.connected_once and \
                    self.schedules_due is not None:
                # Back after a loss: the daemon may have restarted
                # without its schedules (no --data-dir).
                self.schedules_due.set()
            self.connected_once.add(q.name)
            # Its ack timeout is known now: the toucher's next sleep is
            # at most half of it (events may come with the first read).
            self.touch_wake.set()
            logger.info("consuming", extra={"kv": {
                "queue": q.name, "weight": q.weight, "id": s.id,
                "version": c.version}})
            self.refill(q)
            await self.flush_dirty()
            try:
                while True:
                    await c._read()
                    self.take(q)
            except PushstageError as e:
                logger.log(logging.ERROR if _fatal(e) else logging.WARNING,
                           "lost the daemon: %s" % e,
                           extra={"kv": {"queue": q.name}})
                q.c = None
                for ev in q.waiting:    # the daemon's again
                    self.touched.pop(_key(ev), None)
                q.waiting.clear()
                await c.close()
                if _fatal(e):
                    self.fatal = e
                    self.stop()
                    return
                self.wake.set()
                await asyncio.sleep(back.next())

    async def keep_schedules(self) -> None:
        """Define the app's periodic tasks of the queues served
        (App.periodic) in the daemon: an ADD with REPLACE each, so that
        an unchanged one changes nothing and a changed one is replaced,
        its progress kept.  At the start, and again when a queue's
        connection comes back after a loss; until it is done, again with
        a backoff while the daemon is away.  A refusal (a bad rule or
        time zone, too many schedules, an old daemon) stops the worker
        (EX_CONFIG), as a fatal refusal of a queue does."""
        assert self.schedules_due is not None
        back = _Backoff()
        while not self.stopping:
            await self.schedules_due.wait()
            self.schedules_due.clear()
            while not self.stopping:
                at = ""
                try:
                    async with AsyncClient(self.s.socket,
                                           name=self.app.name) as c:
                        for p in self.periodics:
                            at = p.name
                            await c.schedule_add(replace=True,
                                                 **p.add_kwargs())
                except PushstageError as e:
                    # Refused (but DRAINING, TOO_MANY, STORAGE), an old
                    # daemon, or a frame it does not know (ERROR 3: a
                    # producerd without schedules): no retry mends it.
                    if isinstance(e, Unsupported) or _fatal(e) or (
                            isinstance(e, ProtocolError) and e.code):
                        self.fatal = e
                        if isinstance(e, Refused):
                            self.fatal = Refused(e.code, e.name,
                                                 "schedule %s: %s"
                                                 % (at, e.message))
                        elif isinstance(e, ProtocolError):
                            self.fatal = ProtocolError(
                                "schedule %s: %s" % (at, e), e.code)
                        self.stop()
                        return
                    d = back.next()
                    logger.warning("defining the schedules: %s; again in "
                                   "%.1fs" % (e, d))
                    await asyncio.sleep(d)
                    continue
                back.reset()
                logger.info("schedules defined", extra={"kv": {
                    "schedules": ",".join(p.name for p in self.periodics)}})
                break

    def take(self, q: _Queue) -> None:
        c = q.c
        if c is None:
            return
        now = time.monotonic()
        while c._ready:
            ev = c._ready.popleft()
            q.credit = max(0, q.credit - 1)
            self.touched[_key(ev)] = now
            q.waiting.append(ev)
        self.wake.set()

    def refill(self, q: _Queue) -> None:
        """Ask for q's next events, so that those waiting for a slot and
        those asked for come to --prefetch (the rule: at most prefetch
        waiting a queue), and, when q is the only queue, to the free
        slots besides (no other queue's events could take them: at most
        c + prefetch held).  Asked when at most half of it is left, so
        that one DEMAND asks for many.  (Written by flush_dirty.)"""
        c = q.c
        if c is None or self.stopping:
            return
        have = len(q.waiting) + q.credit
        want = self.s.prefetch
        if len(self.queues) == 1:
            want += max(0, self.s.concurrency - len(self.running))
        if have > want // 2:
            return
        q.credit += want - have
        c._window.ask(want - have)
        self.asking.add(c)

    async def flush_dirty(self) -> None:
        """Write each connection's answers and demand: once a turn of
        the loop, one write a connection."""
        for c in list(self.asking):
            self.dirty.pop(c, None)
            self.dirty[c] = None        # last
        self.asking.clear()
        while self.dirty:
            c = next(iter(self.dirty))
            del self.dirty[c]
            try:
                await c.flush()
            except PushstageError:
                pass            # its reader says so

    def on_cancel(self, q: _Queue, ids: List[int]) -> None:
        """A CANCEL read on q's connection: waiting events are acked at
        the next schedule; running ones are told."""
        c = q.c
        for eid in ids:
            if c is None:
                break
            run = self.running.get((id(c), eid))
            if run is None:
                continue
            if run.atask is not None and not run.cancel_req:
                run.cancel_req = True
                run.atask.cancel()
            elif run.child is not None and self.procs is not None:
                self.procs.cancel(run)
        self.cancels = True
        self.wake.set()

    # -- starting

    def schedule(self) -> None:
        """Waiting events cancelled meanwhile are acked; then free slots
        go to queues with an event waiting, by weight."""
        for q in self.queues:
            if not self.cancels:
                break
            for ev in [e for e in q.waiting if e.cancelled]:
                q.waiting.remove(ev)
                logger.info("event cancelled before its task started: "
                            "acked, not run",
                            extra={"kv": {"queue": q.name, "event": ev.id}})
                self.touched.pop(_key(ev), None)
                self._answer(ev, ev.ack_nowait)
        self.cancels = False
        while len(self.running) < self.s.concurrency and not self.stopping:
            ready = [q for q in self.queues if q.waiting]
            if not ready:
                break
            q = ready[0] if len(ready) == 1 else random.choices(
                ready, weights=[x.weight for x in ready])[0]
            ev = q.waiting.popleft()
            if not self.start(q, ev):
                # No child free yet (one is replaced): the new one wakes
                # the loop.
                q.waiting.appendleft(ev)
                break
        for q in self.queues:
            self.refill(q)

    def route(self, ev: AsyncEvent) -> Union[Tuple[Task, List[Any],
                                                   Dict[str, Any]],
                                             Tuple[str, str]]:
        """(task, args, kwargs), or (error type, message) to give up."""
        h = ev.headers
        ctype = h.get(E.TYPE_HEADER)
        if not E.is_json_type(ctype):
            return (E.UNSUPPORTED_CONTENT_TYPE, "content-type %r: this worker "
                    "reads %s" % (ctype, E.CONTENT_TYPE))
        name = h.get(E.TASK_HEADER)
        if name is None:
            return (E.UNKNOWN_TASK, "the event has no task header")
        task = self.app.tasks.get(name)
        if task is None:
            return (E.UNKNOWN_TASK, "no task %r in this worker" % name)
        try:
            args, kwargs = E.decode_call(ev.data)
        except E.BadPayload as e:
            return (E.BAD_PAYLOAD, str(e))
        return task, args, kwargs

    def start(self, q: _Queue, ev: AsyncEvent) -> bool:
        """Start ev (or give it up at once); False when it needs a child
        and none is free (a child replaced: the new one comes soon)."""
        r = self.route(ev)
        if isinstance(r[0], str):
            etype, msg = r[0], str(r[1])
            self.touched.pop(_key(ev), None)
            logger.warning("task given up at once, to the dead letters: "
                           "%s: %s" % (etype, msg),
                           extra={"kv": {"queue": q.name, "event": ev.id,
                                         "task": ev.headers.get("task", "")}})
            c = ev._consumer
            self._answer(ev, functools.partial(
                ev.nack_nowait, error=E.encode_error(etype, msg, "",
                                                     c.error_max),
                dead=True))
            self.wake.set()
            return True
        task, args, kwargs = r[0], r[1], r[2]
        assert isinstance(task, Task) and isinstance(args, list) and \
            isinstance(kwargs, dict)
        if not task.is_async and self.s.pool == "process":
            assert self.procs is not None
            if self.procs.idle() is None:
                return False
        run = _Run(q, ev, task, args, kwargs)
        self.running[_key(ev)] = run
        self.touched[_key(ev)] = time.monotonic()
        limit = ev._consumer.error_max
        if task.is_async:
            run.atask = asyncio.ensure_future(self.run_async(run, limit))
            run.atask.add_done_callback(functools.partial(self._async_done,
                                                          run))
        else:
            if self.s.pool == "process":
                assert self.procs is not None
                self.procs.submit(run, limit)
            else:
                if self.threads is None:
                    self.threads = _ThreadPool(self.s.concurrency, self.app,
                                               self.loop, self.done)
                if task.time_limit and task.name not in self.warned:
                    self.warned.add(task.name)
                    logger.warning("task %s has a time_limit, which a thread "
                                   "cannot enforce: --pool process"
                                   % task.name)
                self.threads.submit(run, limit)
            if task.soft_time_limit and self.s.pool != "process":
                run.timers.append(self.loop.call_later(
                    task.soft_time_limit, self._soft, run))
            if task.time_limit and self.s.pool == "process":
                run.timers.append(self.loop.call_later(
                    task.time_limit, self._hard, run))
        return True

    def _soft(self, run: _Run) -> None:
        if run.done:
            return
        run.soft = True
        if self.threads is not None and run.slot is not None:
            self.threads.soft(run)

    def _hard(self, run: _Run) -> None:
        if run.done:
            return
        if run.atask is not None:
            run.hard = True
            run.atask.cancel()
        elif self.procs is not None:
            self.procs.kill(run, "time limit")

    async def run_async(self, run: _Run, limit: int) -> Outcome:
        task, ev = run.task, run.ev
        _current.set(ev)
        t0 = time.monotonic()
        loop = self.loop
        try:
            await _await_hooks(_hooks(self.app, "before_task", task, ev))
            thrower = _Throwing(task.fn(*run.args, **run.kwargs))
            if task.soft_time_limit:
                def soft(th: _Throwing = thrower) -> None:
                    if not run.done and run.atask is not None and \
                            th.running:
                        run.soft = th.pending = True
                        run.atask.cancel()
                run.timers.append(loop.call_later(task.soft_time_limit,
                                                  soft))
            if task.time_limit:
                run.timers.append(loop.call_later(task.time_limit,
                                                  self._hard, run))
            value = await thrower
            res = E.encode_result(value)
        except asyncio.CancelledError as e:
            secs = time.monotonic() - t0
            if run.hard:
                exc: BaseException = TimeLimitExceeded(
                    "time limit exceeded (%g s)" % (task.time_limit or 0))
                await _await_hooks(_hooks(self.app, "on_failure", task, ev,
                                          exc, secs))
                return _said(E.TIME_LIMIT_EXCEEDED, str(exc), secs, limit)
            if run.cancel_req:
                return _failed(e, secs, limit)
            raise
        except Exception as e:
            secs = time.monotonic() - t0
            await _await_hooks(_hooks(self.app, "on_failure", task, ev, e,
                                      secs))
            return _failed(e, secs, limit)
        secs = time.monotonic() - t0
        if run.hard:        # it swallowed the cancel: ended all the same
            return _said(E.TIME_LIMIT_EXCEEDED, "time limit exceeded (%g s)"
                         % (task.time_limit or 0), secs, limit)
        await _await_hooks(_hooks(self.app, "after_task", task, ev, value,
                                  secs))
        return Outcome(True, res, b"", "", "", "", secs)

    def _async_done(self, run: _Run, t: "asyncio.Task[Outcome]") -> None:
        if t.cancelled():
            # The drain's (run.done: it answers the event), or a cancel
            # no one asked for (a task that cancelled itself): failed.
            self.done(run, _said("CancelledError", "the task was "
                                 "cancelled", time.monotonic() - run.started,
                                 run.ev._consumer.error_max))
            return
        e = t.exception()
        if e is not None:
            out = _failed(e, time.monotonic() - run.started,
                          run.ev._consumer.error_max)
        else:
            out = t.result()
        self.done(run, out)

    # -- ending

    def done(self, run: _Run, out: Outcome) -> None:
        """A run's outcome (on the loop): its event is answered (written
        at the end of the loop's turn)."""
        if run.done:
            return
        run.done = True
        for h in run.timers:
            h.cancel()
        ev, q = run.ev, run.q
        if out.ok and not ev.cancelled:
            c = ev._consumer
            lim = q.limit
            n = len(out.result)
            try:
                asks = lim.frame_check(c, n) and (lim.stale() or
                                                  lim.over(n))
            except ValueError as e:
                asks, out = False, _failed(e, out.seconds, c.error_max)
            if asks:
                # The queue's max-result to ask first (rarely: every
                # ResultLimit.REFRESH seconds).
                asyncio.ensure_future(self.checked(run, out))
                return
        self.finish(run, out)

    async def checked(self, run: _Run, out: Outcome) -> None:
        c = run.ev._consumer
        try:
            await run.q.limit.check_async(c, len(out.result))
        except ValueError as e:
            out = _failed(e, out.seconds, c.error_max)
        self.finish(run, out)

    def finish(self, run: _Run, out: Outcome) -> None:
        ev, q, task = run.ev, run.q, run.task
        k = _key(ev)
        kv: Dict[str, object] = {
            "task": task.name, "queue": q.name, "event": ev.id,
            "attempt": ev.attempt, "seconds": "%.3f" % out.seconds}
        c = ev._consumer
        try:
            if ev.cancelled:
                logger.info("task cancelled: acked", extra={"kv": kv})
                self._answer(ev, ev.ack_nowait)
                return
            if out.ok:
                logger.info("task done", extra={"kv": kv})
                # None's result, null, is a plain ACK's: one of many in a
                # frame, where each result is a frame of its own.
                self._answer(ev, functools.partial(
                    ev.ack_nowait, None if out.result == b"null"
                    else out.result))
                return
            kv["error"] = "%s: %s" % (out.etype, out.message)
            if out.where:
                kv["traceback"] = out.where
            if task.max_attempts and ev.attempt >= task.max_attempts:
                kv["attempt"] = "%d/%d" % (ev.attempt, task.max_attempts)
                logger.error("task failed: its last attempt (the task's "
                             "max_attempts), to the dead letters",
                             extra={"kv": kv})
                self._answer(ev, functools.partial(
                    ev.nack_nowait, error=out.error, dead=True))
                return
            backoff = task.backoff if task.backoff is not None \
                else self.s.backoff
            delay = retry_delay(backoff, ev.attempt, c.max_attempts)
            last = c.max_attempts and ev.attempt >= c.max_attempts
            kv["attempt"] = "%d/%d" % (ev.attempt, c.max_attempts)
            logger.error("task failed: " + (
                "its last attempt, to the dead letters" if last else
                "again in %.3gs" % delay if delay is not None else "nacked"),
                extra={"kv": kv})
            self._answer(ev, functools.partial(ev.nack_nowait, delay,
                                               out.error))
        finally:
            self.running.pop(k, None)
            self.touched.pop(k, None)
            self.wake.set()

    def _answer(self, ev: AsyncEvent,
                mark: Callable[[], Optional[bool]]) -> bool:
        """mark: ev's ack_nowait or nack_nowait (with its arguments); the
        answer is written by flush_dirty."""
        try:
            ok = mark() is not None
        except ValueError:
            ok = False
        if ok:
            self.dirty[ev._consumer] = None
        else:
            logger.warning("event answered after its connection was lost; "
                           "the daemon delivers it again",
                           extra={"kv": {"event": ev.id}})
        return ok

    # -- touching

    async def touching(self) -> None:
        """Touch each event held (running or waiting) every half ack
        timeout of its queue."""
        while True:
            now = time.monotonic()
            nxt = 1.0
            for q in self.queues:
                c = q.c
                if c is None or not c.ack_timeout:
                    continue
                half = c.ack_timeout / 2
                nxt = min(nxt, half)
                evs = list(q.waiting) + [r.ev for r in self.running.values()
                                         if r.q is q and not r.done]
                for ev in evs:
                    k = _key(ev)
                    last = self.touched.get(k)
                    if last is None:
                        continue
                    if now - last >= half:
                        self.touched[k] = now
                        try:
                            await ev.touch()
                        except (PushstageError, ValueError):
                            pass
                    else:
                        nxt = min(nxt, last + half - now)
            self.touch_wake.clear()
            await self.touch_wake.wait(max(0.01, nxt))

    # -- stopping

    async def drain(self) -> None:
        """Ask for nothing more, give back what waits, let what runs end
        within --grace, then nack what is left.  A demand asked before
        the stop cannot be taken back: while a queue still has events
        asked for and not received, what it has waiting is kept (not
        run; a nack would give it back to that same demand, an attempt
        a time), and given back once the last asked for has come, or
        when the connection closes."""
        s = self.s
        for q in self.queues:
            if q.c is not None:
                q.c.stop()
        logger.info("stopping: asking for nothing more, finishing what "
                    "runs", extra={"kv": {"running": len(self.running),
                                          "grace": "%gs" % s.grace}})
        end = self.loop.time() + s.grace
        while True:
            for q in self.queues:
                if q.credit:
                    continue
                while q.waiting:
                    ev = q.waiting.popleft()
                    self.touched.pop(_key(ev), None)
                    self._answer(ev, _give_back(ev))
            await self.flush_dirty()
            if not self.running or self.loop.time() >= end:
                break
            self.wake.clear()
            await self.wake.wait(end - self.loop.time())
        # Those whose outcome is in (done) are being answered: theirs.
        left = [r for r in self.running.values() if not r.done]
        if not left:
            return
        for run in left:
            self.running.pop(_key(run.ev), None)
        for run in left:
            run.done = True
            for h in run.timers:
                h.cancel()
            if run.atask is not None:
                run.atask.cancel()
        if self.procs is not None:
            self.procs.stop()
        pending = [r.atask for r in left if r.atask is not None]
        if pending:
            await asyncio.wait(pending)
        for run in left:
            ev = run.ev
            self._answer(ev, _give_back(ev, E.encode_error(
                "WorkerStopped", GRACE_ERROR % s.grace, "",
                ev._consumer.error_max)))
        await self.flush_dirty()
        logger.warning("nacked %d event%s still running: its grace period "
                       "ran out" % (len(left), "" if len(left) == 1 else "s"),
                       extra={"kv": {"ids": ",".join(
                           str(r.ev.id) for r in left)}})


def main(p: argparse.ArgumentParser, a: argparse.Namespace) -> int:
    """python3 -m pushstage.worker --app ...: the options parsed by
    pushstage.worker.main."""
    if a.target is not None:
        p.error("--app or module:function, not both")
    for opt, v in (("--queue", a.queue), ("--group", a.group),
                   ("--max-demand", a.max_demand),
                   ("--min-demand", a.min_demand),
                   ("--partition", a.partition)):
        if v is not None:
            p.error("%s does not go with --app%s" % (
                opt, " (-Q QUEUE,...)" if opt == "--queue" else ""))
    if a.concurrency is not None and not 1 <= a.concurrency <= 10000:
        p.error("--concurrency must be 1 to 10000")
    if a.max_tasks_per_child < 0:
        p.error("--max-tasks-per-child must not be negative")
    if a.max_tasks_per_child and a.pool != "process":
        p.error("--max-tasks-per-child goes with --pool process")
    if a.grace < 0:
        p.error("--grace must not be negative")
    queues = None
    if a.queues is not None:
        try:
            queues = parse_queues(a.queues)
            for n, _ in queues:
                queue_for(3, n, False)
        except ValueError as e:
            p.error(str(e))
    try:
        app = load_app(a.app)
    except Exception as e:
        W.setup_logging(a.log_level)
        W.log("error", "cannot load the app %s: %s: %s"
            % (a.app, type(e).__name__, e))
        return EX_USAGE
    # After the app's module, which may have given "pushstage" handlers.
    W.setup_logging(a.log_level)
    if queues is None:
        queues = default_queues(app)
        for n, _ in queues:
            try:
                queue_for(3, n, False)
            except ValueError as e:
                W.log("error", "the app's queue: %s" % e)
                return EX_CONFIG
    pool, why = check_pool(app, queues, a.pool)
    if why is not None:
        W.log("error", "cannot serve with --pool %s: %s" % (pool, why))
        return EX_CONFIG
    conc = a.concurrency or (os.cpu_count() or 1 if pool == "process"
                             else 8)
    if a.prefetch is not None and not 1 <= a.prefetch <= 10000:
        p.error("--prefetch must be 1 to 10000")
    s = Settings(app, queues, conc, pool, a.socket,
                 a.id or default_id(), a.grace, a.backoff,
                 a.max_tasks_per_child, a.prefetch)
    return run(s)



def run(s: Settings) -> int:
    """Serve until stopped: the exit status (0, EX_CONFIG)."""
    return asyncio.run(TaskWorker(s).run())


def default_id() -> str:
    return "%s-%d" % (_socket.gethostname(), os.getpid())


__all__ = ["SoftTimeLimitExceeded", "TimeLimitExceeded", "ChildEvent",
           "TaskEvent", "current_event", "Outcome", "TaskWorker", "Settings",
           "parse_queues", "load_app", "check_pool", "default_queues",
           "run", "EX_CONFIG", "EX_USAGE", "POOLS"]
