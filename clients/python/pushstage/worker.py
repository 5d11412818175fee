"""pushstage.worker: run a Python function for each event of a queue.

    python3 -m pushstage.worker module:function --queue jobs --concurrency 4
    python3 -m pushstage.worker --app myapp.tasks -Q emails,images:3 -c 8

The second form runs the tasks of a pushstage.App (docs/tasks.md):
pushstage.taskworker, whose docstring says how.  What follows is the
first.

The function gets an Event (id, attempt, data, key, and the headers it
was enqueued with: headers, a dict of str, and raw_headers, the (name,
bytes) pairs in order).  Its return acks the event, and what it returns
is the event's result (protocol version 5: Client.wait gets it, and
Client.job on a queue with keep-done): bytes as they are, a str as
UTF-8, None no result (a plain ACK), anything else as JSON (json.dumps,
compact: {"n":1}; NaN and infinities refused), see result_of.  A value
that cannot be encoded so, or a result longer than the queue's
max-result (or than the daemon's frames hold), fails the event as an
exception would.  An exception nacks it with a backoff (the dead
letters take it after the queue's max attempts), with the exception as
the NACK's error (failure_text: the daemon keeps it with the event and
shows it with its dead letter), and logs one line with the traceback.
A plain function runs in threads, an `async def` as asyncio tasks.
While a handler runs past half the queue's ack timeout the worker
touches its event.  An event a client cancels (Client.cancel, protocol
version 5) is acked (without a result), never nacked: not run when its
handler has not started; an `async def` handler that runs has its task
cancelled; a plain function can watch event.cancelled and return (or
raise) early.  SIGTERM or SIGINT: ask for nothing more, let running
handlers finish within --grace seconds, nack what is left, exit 0; a
second signal exits at once (the daemon gives unacked events to
others).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import inspect
import json
import logging
import os
import queue as _queue
import random
import re
import select
import signal
import socket
import sys
import threading
import time
import traceback
from typing import (Any, Awaitable, Callable, Dict, List, Optional, Set,
                    Tuple, Union)

from . import _core as C
from .aio import AsyncClient, AsyncConsumer, AsyncEvent
from .client import Client, Consumer, Event
from .errors import DaemonGone, ProtocolError, PushstageError, Refused

EX_USAGE = 64
EX_CONFIG = 78

_PROG = "pushstage.worker"


# The worker logs through the standard logging module: logger
# "pushstage" and its children ("pushstage.worker", the task worker's
# "pushstage.taskworker").  main() gives "pushstage" the default
# handler, a logfmt line on stderr as producerd writes them
# (LogfmtFormatter), unless the program loaded has given it one.
logger = logging.getLogger("pushstage.worker")

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO,
          "warn": logging.WARNING, "warning": logging.WARNING,
          "error": logging.ERROR}


def _level_name(n: int) -> str:
    if n >= logging.ERROR:
        return "error"
    if n >= logging.WARNING:
        return "warn"
    return "info" if n >= logging.INFO else "debug"


class LogfmtFormatter(logging.Formatter):
    """time=... level=... prog=pushstage.worker pid=... msg=... k=v ...:
    a record's extra "kv" (a dict) gives the fields after msg; an
    exception logged with it (exc_info) a traceback= field, on one
    line."""

    # The second's text, made once a second (a worker logs a line a
    # task: strftime was a fifth of it).
    _sec = -1
    _sec_text = ""

    def format(self, record: logging.LogRecord) -> str:
        t = record.created
        sec = int(t)
        if sec != self._sec:
            self._sec_text = time.strftime("%Y-%m-%dT%H:%M:%S",
                                           time.gmtime(sec))
            self._sec = sec
        parts = ["time=%s.%03dZ" % (self._sec_text, int(t * 1000) % 1000),
                 "level=" + _level_name(record.levelno), "prog=" + _PROG,
                 "pid=%d" % (record.process or os.getpid()),
                 "msg=" + _quote(record.getMessage())]
        kv = getattr(record, "kv", None)
        if isinstance(kv, dict):
            parts += ["%s=%s" % (k, _quote(str(v))) for k, v in kv.items()]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("traceback=" + _quote(_traceback_line(
                record.exc_info[1])))
        return " ".join(parts)


def setup_logging(level: str = "info") -> None:
    """The default handler (LogfmtFormatter on stderr) on the logger
    "pushstage", unless it has one already, and its level."""
    top = logging.getLogger("pushstage")
    if not top.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(LogfmtFormatter())
        top.addHandler(h)
        top.propagate = False
    top.setLevel(LEVELS[level])


def log(level: str, msg: str, **kv: object) -> None:
    """One line at level (debug, info, warn, error) with fields kv, by
    the logger "pushstage.worker": with the default handler a logfmt
    line on stderr, as producerd writes them."""
    logger.log(LEVELS[level], msg, extra={"kv": kv})


_BARE = re.compile(r"[\w./:@-]+")     # what goes without quotes


def _quote(s: str) -> str:
    if _BARE.fullmatch(s):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') \
        .replace("\n", "\\n") + '"'


def _traceback_line(e: BaseException) -> str:
    """The traceback on one line: innermost frame first."""
    frames = traceback.extract_tb(e.__traceback__)
    return " < ".join("%s:%d in %s" % (os.path.basename(f.filename),
                                       f.lineno or 0, f.name)
                      for f in reversed(frames))


# What a NACK says when the worker, stopping, gives up on a handler that
# still runs.
GRACE_ERROR = ("pushstage.worker stopping: the handler still ran when its "
               "grace period (--grace %gs) ran out")
_CUT = "...\n"


def _head(b: bytes, n: int) -> bytes:
    """b's first n bytes at most, not ending inside a UTF-8 character."""
    if len(b) <= n:
        return b
    i = n
    while i > 0 and n - i < 3 and 0x80 <= b[i] < 0xC0:
        i -= 1
    return b[:i]


def failure_text(e: BaseException, limit: int = 4096) -> str:
    """A failed handler's error, as its NACK sends it (at most limit
    bytes of UTF-8): "TYPE: MESSAGE" (TYPE alone when the message is
    empty), a blank line, then the traceback as traceback.format_exception
    writes it (chained exceptions too).  The head comes first, so that a
    dead letter (which shows an error's first 1024 bytes) names the
    exception; it is cut to its first 1024 bytes.  When the whole is
    over limit, the traceback keeps its end (the innermost frames and the
    exception's last line), from a frame's first line ('  File "...')
    or else a line's start, after a line "...":

        ValueError: bad input

        Traceback (most recent call last):
          File "/srv/jobs.py", line 5, in handle
            raise ValueError("bad input")
        ValueError: bad input
    """
    try:
        msg = str(e)
    except Exception:
        msg = "<exception str() failed>"
    name = type(e).__name__
    head = _head(("%s: %s" % (name, msg) if msg else name).encode(
        errors="replace"), min(1024, limit))
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__)
                 ).encode(errors="replace")
    room = limit - len(head) - 2
    if len(tb) > room:
        room -= len(_CUT)
        tail = tb[len(tb) - room:] if room > 0 else b""
        # From a frame's first line, else from a line's start.
        nl = tail.find(b'\n  File "')
        if nl < 0:
            nl = tail.find(b"\n")
        if 0 <= nl < len(tail) - 1:
            tail = tail[nl + 1:]
        else:
            i = 0
            while i < min(3, len(tail)) and 0x80 <= tail[i] < 0xC0:
                i += 1
            tail = tail[i:]
        tb = _CUT.encode() + tail if room > 0 else b""
    out = head + b"\n\n" + tb if tb else head
    return out[:limit].decode(errors="replace")


def result_of(value: object) -> Optional[bytes]:
    """A handler's return value as its event's result, the bytes its ACK
    carries: bytes (bytearray, memoryview) as they are, a str as UTF-8,
    None none (a plain ACK); anything else as JSON, json.dumps(value,
    separators=(",", ":"), allow_nan=False) in UTF-8: {"n":1}, [1,2],
    true, 42.  What cannot be (a str with a lone surrogate, an object
    JSON does not know, NaN, a circular list) raises TypeError or
    ValueError, and the worker nacks the event with that error as if
    the handler had raised it."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":"),
                      allow_nan=False).encode()


class ResultLimit:
    """The longest result the worker's queue takes (its max-result), as
    the daemon's STATS of it says: asked on a connection of its own at
    each connect, again when it was asked more than REFRESH seconds
    before a result goes, and when a result is over it.  A result over
    it is never sent (the daemon would refuse it and close the
    consumer's connection: every event held there would go back), but
    fails its event.  max None: not known (no answer: results go, the
    daemon judges); a daemon whose STATS has no max_result takes no
    results (taken False: its ACKs go without them)."""

    REFRESH = 10.0

    def __init__(self, socket: Optional[str], queue: str) -> None:
        self.socket = socket
        self.queue = queue
        self.max: Optional[int] = None
        self.taken = True
        self.at: Optional[float] = None
        self.lock = threading.Lock()
        self.alock: Optional[asyncio.Lock] = None

    def told(self, st: Optional[C.Stats]) -> None:
        self.at = time.monotonic()
        if st is None:
            self.max = None
        elif "max_result" in st.counters:
            self.max, self.taken = st["max_result"], True
        else:
            self.max, self.taken = None, False

    def stale(self) -> bool:
        return self.at is None or \
            time.monotonic() - self.at >= self.REFRESH

    def over(self, n: int) -> bool:
        return self.max is not None and n > self.max

    def error(self, n: int) -> ValueError:
        return ValueError("a result of %d bytes: queue %s takes at most %s "
                          "(max-result)" % (n, self.queue, self.max))

    def ask(self) -> None:
        try:
            with Client(self.socket, name="pushstage.worker",
                        timeout=30) as c:
                st: Optional[C.Stats] = c.stats(self.queue)
        except (PushstageError, OSError):
            st = None
        self.told(st)

    async def ask_async(self) -> None:
        try:
            async with AsyncClient(self.socket, name="pushstage.worker",
                                   timeout=30) as c:
                st: Optional[C.Stats] = await c.stats(self.queue)
        except (PushstageError, OSError):
            st = None
        self.told(st)

    @staticmethod
    def frame_check(c: Union[Consumer, AsyncConsumer], n: int) -> bool:
        """Does a result of n bytes go at all (results taken and acks)?
        ValueError when it is over what the daemon's frames hold."""
        w = c._window
        if not (w.acks and w.results):
            return False
        if n > w.result_max:
            raise ValueError("a result of %d bytes: the daemon's frames "
                             "hold at most %d" % (n, w.result_max))
        return n > 0

    def apply(self, c: Union[Consumer, AsyncConsumer]) -> None:
        """A daemon that takes no results gets ACKs without them."""
        if not self.taken:
            c._window.results = False

    def connected(self, c: Consumer) -> None:
        """A consumer connected (again): the limit asked, if results go."""
        if c._window.acks and c._window.results:
            with self.lock:
                self.ask()
            self.apply(c)

    async def connected_async(self, c: AsyncConsumer) -> None:
        if c._window.acks and c._window.results:
            await self.ask_async()
            self.apply(c)

    def check(self, c: Consumer, n: int) -> None:
        """A result of n bytes may go (ValueError if not); from the
        handler threads."""
        if not self.frame_check(c, n):
            return
        with self.lock:
            if self.stale() or self.over(n):
                self.ask()
                self.apply(c)
            if self.over(n):
                raise self.error(n)

    async def check_async(self, c: AsyncConsumer, n: int) -> None:
        """check, in the asyncio worker: one ask at a time."""
        if not self.frame_check(c, n):
            return
        if self.alock is None:
            self.alock = asyncio.Lock()
        async with self.alock:
            if self.stale() or self.over(n):
                await self.ask_async()
                self.apply(c)
        if self.over(n):
            raise self.error(n)


def load(target: str) -> Callable[..., object]:
    """module:function (module.path:attr.path), importable from here."""
    mod, sep, attr = target.partition(":")
    if not sep or not mod or not attr:
        raise ValueError("%r: give the handler as module:function" % target)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    obj = importlib.import_module(mod)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError("%s is not callable" % target)
    return obj


def parse_backoff(s: str) -> Optional[Tuple[float, float]]:
    if s == "none":
        return None
    base, sep, most = s.partition(":")
    try:
        b, m = float(base), float(most if sep else base)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "--backoff %r: give BASE:MAX in seconds (1:60), or none" % s)
    if b < 0 or m < b:
        raise argparse.ArgumentTypeError(
            "--backoff %r: need 0 <= BASE <= MAX" % s)
    return b, m


def retry_delay(backoff: Optional[Tuple[float, float]], attempt: int,
                max_attempts: int) -> Optional[float]:
    """Seconds before the event may go again: BASE * 2^(attempt-1), at
    most MAX, give or take 20 %; None for a plain NACK (the queue's own
    retry-backoff, or its last attempt: it goes to the dead letters)."""
    if backoff is None or (max_attempts and attempt >= max_attempts):
        return None
    base, most = backoff
    d = min(most, base * 2.0 ** min(attempt - 1, 40))
    return d * random.uniform(0.8, 1.2)


def fail_log(queue: str, ev: Union[Event, AsyncEvent], max_attempts: int,
             delay: Optional[float],
             e: BaseException) -> None:
    """One line for a failed handler, with its traceback."""
    last = max_attempts and ev.attempt >= max_attempts
    log("error", "handler failed: " + ("its last attempt, to the dead "
                                       "letters" if last else
                                       "again in %.3gs" % delay
                                       if delay is not None else "nacked"),
        queue=queue, event=ev.id, attempt="%d/%d" % (ev.attempt, max_attempts),
        error="%s: %s" % (type(e).__name__, e),
        traceback=_traceback_line(e))


def cancelled_log(queue: str, ev: Union[Event, AsyncEvent],
                  e: Optional[BaseException] = None) -> None:
    """One line for an event cancelled while its handler ran: acked."""
    kv: Dict[str, object] = {"queue": queue, "event": ev.id}
    if e is not None:
        kv["error"] = "%s: %s" % (type(e).__name__, e)
    log("info", "event cancelled while its handler ran: acked", **kv)


class Settings:
    def __init__(self, a: argparse.Namespace) -> None:
        self.queue: str = a.queue
        self.group: Optional[str] = a.group
        self.id: str = a.id or "%s-%d" % (socket.gethostname(), os.getpid())
        self.concurrency: int = a.concurrency
        self.max_demand: int = a.max_demand or a.concurrency
        self.min_demand: int = (a.min_demand if a.min_demand is not None
                                else self.max_demand - 1)
        self.socket: Optional[str] = a.socket
        self.grace: float = a.grace
        self.backoff = a.backoff
        self.partition: Optional[int] = a.partition


def _fatal(e: PushstageError) -> bool:
    """An error that another connection will not mend."""
    if isinstance(e, DaemonGone):
        return False
    if isinstance(e, Refused):
        return not e.retry_later
    return not isinstance(e, ProtocolError)


class _Backoff:
    def __init__(self) -> None:
        self.n = 0

    def next(self) -> float:
        d = min(5.0, 0.1 * 2.0 ** self.n) * random.uniform(0.8, 1.2)
        self.n = min(self.n + 1, 10)
        return d

    def reset(self) -> None:
        self.n = 0


# --- threads -------------------------------------------------------------

class ThreadWorker:
    """Plain functions, each event in one of `concurrency` threads."""

    def __init__(self, fn: Callable[[Event], object], s: Settings) -> None:
        self.fn = fn
        self.s = s
        self.lock = threading.Lock()
        # id -> [event, started, last touch]; started 0 until it runs
        self.running: Dict[int, List[Any]] = {}
        self.work: "_queue.Queue[Optional[Event]]" = _queue.Queue()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.stopping = False
        self.signals = 0
        self.consumer: Optional[Consumer] = None
        self.limit = ResultLimit(s.socket, s.queue)

    def wake(self) -> None:
        try:
            os.write(self.wake_w, b"x")
        except BlockingIOError:
            pass

    def on_signal(self, signum: int, frame: object) -> None:
        self.signals += 1
        if self.signals > 1:
            log("warn", "second signal: exiting at once; the daemon gives "
                "unacked events to other consumers",
                held=len(self.running))
            os._exit(1)
        self.stopping = True
        self.wake()

    def handle(self) -> None:
        while True:
            ev = self.work.get()
            if ev is None:
                return
            with self.lock:
                ent = self.running.get(ev.id)
                if ent is None or ent[0] is not ev or self.stopping:
                    # gone back while it waited (a drain, a lost link),
                    # or acked as cancelled (on_cancel)
                    continue
                skip = ev.cancelled
                if skip:
                    del self.running[ev.id]
                else:
                    ent[1] = ent[2] = time.monotonic()
            if skip:
                self.not_run(ev)
                continue
            self.wake()         # its touches are due from now
            c = ev._consumer
            try:
                r = self.fn(ev)
                if inspect.isawaitable(r):
                    raise TypeError("the handler returned an awaitable; "
                                    "make it async def")
                res = result_of(r)
                if res is not None and not ev.cancelled:
                    self.limit.check(c, len(res))
            except Exception as e:
                if ev.cancelled:
                    # Never delivered again, and its error not kept: the
                    # handler may well have given up for that.
                    cancelled_log(self.s.queue, ev, e)
                    self.finish(ev, ev.ack)
                    continue
                delay = retry_delay(self.s.backoff, ev.attempt,
                                    c.max_attempts)
                fail_log(self.s.queue, ev, c.max_attempts, delay, e)
                self.finish(ev, functools.partial(
                    ev.nack, delay, failure_text(e, c.error_max)))
            else:
                if ev.cancelled:
                    # Acked without its result: the event is not done
                    # but cancelled.
                    cancelled_log(self.s.queue, ev)
                    self.finish(ev, ev.ack)
                else:
                    self.finish(ev, functools.partial(ev.ack, res))

    def not_run(self, ev: Event) -> None:
        """An event cancelled before its handler started, taken out of
        running: acked, not run."""
        log("info", "event cancelled before its handler started: acked, "
            "not run", queue=self.s.queue, event=ev.id)
        try:
            if ev.ack():
                ev._consumer.flush()
        except (PushstageError, ValueError):
            pass

    def on_cancel(self, ids: List[int]) -> None:
        """The consumer read a CANCEL (in run's thread): events that wait
        for a thread are acked now, not run; a running handler sees its
        event's cancelled become True."""
        with self.lock:
            waiting = [self.running.pop(i)[0] for i in ids
                       if i in self.running and self.running[i][1] == 0]
        for ev in waiting:
            self.not_run(ev)

    def finish(self, ev: Event, how: Callable[[], bool]) -> None:
        with self.lock:
            ent = self.running.get(ev.id)
            mine = ent is not None and ent[0] is ev
            if mine:
                del self.running[ev.id]
        sent = False
        if mine:
            try:
                sent = how()
                ev._consumer.flush()
            except PushstageError:
                sent = False
        if not sent:
            log("warn", "event finished after its connection was lost or "
                "its grace ran out; the daemon delivers it again",
                queue=self.s.queue, event=ev.id)
        self.wake()

    def touch_due(self) -> Optional[float]:
        """Touch events running past half the ack timeout; seconds until
        the next is due (None: none)."""
        c = self.consumer
        if c is None or not c.ack_timeout:
            return None
        half = c.ack_timeout / 2
        now = time.monotonic()
        nxt: Optional[float] = None
        with self.lock:
            ents = [e for e in self.running.values() if e[1] > 0]
        for ent in ents:
            due = ent[2] + half
            if due <= now:
                try:
                    ent[0].touch()
                except (PushstageError, ValueError):
                    pass
                ent[2] = now
                due = now + half
            nxt = due if nxt is None else min(nxt, due)
        return None if nxt is None else max(0.01, nxt - now)

    def drain_wake(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def run(self) -> int:
        os.set_blocking(self.wake_r, False)
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        threads = [threading.Thread(target=self.handle, daemon=True,
                                    name="handler-%d" % i)
                   for i in range(self.s.concurrency)]
        for t in threads:
            t.start()
        back = _Backoff()
        deadline = None
        while True:
            if self.stopping and deadline is None:
                deadline = time.monotonic() + self.s.grace
                log("info", "stopping: asking for nothing more, finishing "
                    "what runs", running=len(self.running),
                    grace="%gs" % self.s.grace)
                if self.consumer is not None:
                    self.consumer.stop()
                self.nack_waiting()
            if self.stopping and not self.running:
                break
            if deadline is not None and time.monotonic() >= deadline:
                self.nack_all("its grace period ran out")
                break
            if self.consumer is None:
                if self.stopping:
                    break
                if not self.connect(back):
                    return EX_CONFIG
                continue
            wait = self.touch_due()
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                wait = left if wait is None else min(wait, left)
            try:
                ev = self.consumer.get(timeout=wait, wake=self.wake_r)
            except PushstageError as e:
                self.lost(e)
                if _fatal(e):
                    return 1
                continue
            self.drain_wake()
            if ev is None:
                continue
            if ev.cancelled:
                self.not_run(ev)
                continue
            with self.lock:
                self.running[ev.id] = [ev, 0.0, 0.0]
            if self.stopping:
                self.nack_waiting()
            else:
                self.work.put(ev)
        if self.consumer is not None:
            self.consumer.close()
        log("info", "stopped")
        return 0

    def connect(self, back: _Backoff) -> bool:
        s = self.s
        while not self.stopping:
            try:
                self.consumer = Consumer(s.queue, s.id, s.group, s.max_demand,
                                         s.min_demand, s.socket, s.partition)
                self.consumer._on_cancel = self.on_cancel
                self.limit.connected(self.consumer)
                log("info", "consuming", queue=self.consumer.queue,
                    id=s.id, concurrency=s.concurrency,
                    max_demand=s.max_demand,
                    version=self.consumer.version)
                back.reset()
                return True
            except PushstageError as e:
                if _fatal(e):
                    log("error", str(e), queue=s.queue)
                    return False
                d = back.next()
                log("warn", "%s; again in %.1fs" % (e, d))
                r, _, _ = select.select([self.wake_r], [], [], d)
                self.drain_wake()
        return True

    def lost(self, e: PushstageError) -> None:
        log("error" if _fatal(e) else "warn",
            "lost the daemon: %s" % e, queue=self.s.queue,
            held=len(self.running))
        if self.consumer is not None:
            self.consumer.close()
        self.consumer = None
        with self.lock:
            # Events not started are the daemon's again; those running
            # finish, and their acks are dropped (finish logs it).
            for eid in [k for k, v in self.running.items() if v[1] == 0]:
                del self.running[eid]

    def nack_waiting(self) -> None:
        """While stopping: events that have not started go back now."""
        with self.lock:
            waiting = [v[0] for v in self.running.values() if v[1] <= 0]
            for ev in waiting:
                del self.running[ev.id]
        for ev in waiting:
            try:
                if ev.cancelled:
                    ev.ack()
                else:
                    ev.nack()
            except (PushstageError, ValueError):
                pass
        if waiting and self.consumer is not None:
            try:
                self.consumer.flush()
            except PushstageError:
                pass

    def nack_all(self, why: str) -> None:
        """Past the grace period: the events still running go back, each
        NACK saying so (those not started were nacked by nack_waiting,
        without an error: their handling never failed)."""
        with self.lock:
            left = [v[0] for v in self.running.values()]
            started = {v[0].id for v in self.running.values() if v[1] > 0}
            self.running.clear()
        for ev in left:
            try:
                if ev.cancelled:
                    ev.ack()
                else:
                    ev.nack(error=GRACE_ERROR % self.s.grace
                            if ev.id in started else None)
            except (PushstageError, ValueError):
                pass
        if left:
            log("warn", "nacked %d event%s still running: %s"
                % (len(left), "" if len(left) == 1 else "s", why),
                ids=",".join(str(e.id) for e in left))


# --- asyncio -------------------------------------------------------------

class AsyncWorker:
    """async def handlers, `concurrency` tasks at a time.  A reader task
    reads the consumer's socket all along, while the handlers run, so
    that a CANCEL is seen at once: the task of an event cancelled while
    its handler runs is cancelled (task.cancel()) and the event acked;
    one not started is acked, not run."""

    def __init__(self, fn: Callable[[AsyncEvent], Awaitable[object]],
                 s: Settings) -> None:
        self.fn = fn
        self.s = s
        self.stop_ev: Optional[asyncio.Event] = None
        # Set when the reader has read, a task ended or events were
        # cancelled: what runs may change.  (Made in run: an Event
        # made before the loop runs is bound to another, before 3.10.)
        self.wake: asyncio.Event
        self.tasks: Dict[int, "asyncio.Task[None]"] = {}
        self.events: Dict[int, AsyncEvent] = {}
        # Events whose handler runs now, and those of them whose task
        # this worker cancelled for a CANCEL.
        self.in_handler: Set[int] = set()
        self.cancelling: Set[int] = set()
        self.cancel_seen = False
        self.signals = 0
        self.limit = ResultLimit(s.socket, s.queue)

    def on_signal(self) -> None:
        self.signals += 1
        if self.signals > 1:
            log("warn", "second signal: exiting at once", held=len(self.tasks))
            os._exit(1)
        assert self.stop_ev is not None
        self.stop_ev.set()

    def on_cancel(self, ids: List[int]) -> None:
        """The reader read a CANCEL: the task of each event whose handler
        runs is cancelled; those not started are acked, not run (start,
        or one as it begins)."""
        for eid in ids:
            t = self.tasks.get(eid)
            if t is not None and eid in self.in_handler and \
                    eid not in self.cancelling:
                self.cancelling.add(eid)
                t.cancel()
        self.cancel_seen = True
        self.wake.set()

    async def not_run(self, ev: AsyncEvent) -> None:
        log("info", "event cancelled before its handler started: acked, "
            "not run", queue=self.s.queue, event=ev.id)
        await self._safe(ev.ack())

    @staticmethod
    def _uncancel() -> None:
        """This task's cancel request was answered (Python 3.11 counts
        them: asyncio.timeout and TaskGroup look at the count)."""
        t = asyncio.current_task()
        if t is not None and hasattr(t, "uncancel"):
            t.uncancel()

    async def one(self, c: AsyncConsumer, ev: AsyncEvent) -> None:
        if ev.cancelled:                # while it waited for its turn
            await self.not_run(ev)
            return
        toucher = None
        if c.ack_timeout:
            toucher = asyncio.ensure_future(self.touching(ev, c.ack_timeout / 2))
        err: Optional[Exception] = None
        res: Optional[bytes] = None
        try:
            try:
                self.in_handler.add(ev.id)
                res = result_of(await self.fn(ev))
                if res is not None and not ev.cancelled:
                    await self.limit.check_async(c, len(res))
            except asyncio.CancelledError:
                if ev.id not in self.cancelling:
                    raise           # the grace ran out: run() nacks it
                self._uncancel()
            except Exception as e:
                err = e
            finally:
                self.in_handler.discard(ev.id)
                if toucher is not None:
                    toucher.cancel()
            if ev.cancelled:
                # Never delivered again, and a NACK's error not kept:
                # acked (without a result), whatever the handler did.
                cancelled_log(self.s.queue, ev, err)
                ok = await self._safe(ev.ack())
            elif err is not None:
                delay = retry_delay(self.s.backoff, ev.attempt,
                                    c.max_attempts)
                fail_log(self.s.queue, ev, c.max_attempts, delay, err)
                ok = await self._safe(ev.nack(delay, failure_text(
                    err, c.error_max)))
            else:
                ok = await self._safe(ev.ack(res))
        finally:
            self.cancelling.discard(ev.id)
        if not ok:
            log("warn", "event finished after its connection was lost or "
                "its grace ran out; the daemon delivers it again",
                queue=self.s.queue, event=ev.id)

    def _ended(self, eid: int, _t: "asyncio.Task[None]") -> None:
        self.tasks.pop(eid, None)
        self.events.pop(eid, None)
        self.wake.set()

    @staticmethod
    async def _safe(aw: Awaitable[bool]) -> bool:
        try:
            return await aw
        except (PushstageError, ValueError):
            return False

    @staticmethod
    async def touching(ev: AsyncEvent, half: float) -> None:
        while True:
            await asyncio.sleep(half)
            try:
                await ev.touch()
            except (PushstageError, ValueError):
                return

    async def reading(self, c: AsyncConsumer) -> None:
        """Read the consumer's socket on and on: events join its ready
        ones, CANCELs go to on_cancel.  Ends only by an error."""
        while True:
            await c._read()
            self.wake.set()

    async def start(self, c: AsyncConsumer) -> None:
        """Events that were cancelled before they started are acked; then
        handlers start for the ready events while fewer than
        --concurrency run."""
        if self.cancel_seen:
            self.cancel_seen = False
            for ev in [e for e in c._ready if e.cancelled]:
                c._ready.remove(ev)
                await self.not_run(ev)
        while c._ready and len(self.tasks) < self.s.concurrency:
            ev = c._ready.popleft()
            if ev.cancelled:
                await self.not_run(ev)
                continue
            t = asyncio.ensure_future(self.one(c, ev))
            self.tasks[ev.id] = t
            self.events[ev.id] = ev
            t.add_done_callback(functools.partial(self._ended, ev.id))

    async def give_back(self, c: AsyncConsumer) -> None:
        """While stopping: events that have not started go back (acked
        when they were cancelled), and the answers of those that ended
        go now (a stopped window asks for nothing, so nothing else
        sends them)."""
        while c._ready:
            ev = c._ready.popleft()
            await self._safe(ev.ack() if ev.cancelled else ev.nack())
        try:
            await c.flush()
        except PushstageError:
            pass

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.stop_ev = asyncio.Event()
        self.wake = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.on_signal)
        s = self.s
        back = _Backoff()
        stop_wait = asyncio.ensure_future(self.stop_ev.wait())
        while not self.stop_ev.is_set():
            c = AsyncConsumer(s.queue, s.id, s.group, s.max_demand,
                              s.min_demand, s.socket, s.partition)
            c._on_cancel = self.on_cancel
            try:
                await c.connect()
            except PushstageError as e:
                if _fatal(e):
                    log("error", str(e), queue=s.queue)
                    return EX_CONFIG
                d = back.next()
                log("warn", "%s; again in %.1fs" % (e, d))
                await asyncio.wait([stop_wait], timeout=d)
                continue
            back.reset()
            await self.limit.connected_async(c)
            log("info", "consuming", queue=c.queue, id=s.id,
                concurrency=s.concurrency, max_demand=s.max_demand,
                version=c.version)
            reader = asyncio.ensure_future(self.reading(c))
            try:
                while not self.stop_ev.is_set():
                    self.wake.clear()
                    await self.start(c)
                    await c.flush()
                    if self.wake.is_set():
                        continue
                    # A read, a handler's end, or the signal.
                    woke = asyncio.ensure_future(self.wake.wait())
                    await asyncio.wait([reader, woke, stop_wait],
                                       return_when=asyncio.FIRST_COMPLETED)
                    woke.cancel()
                    if reader.done():
                        reader.result()     # raises why it ended
            except PushstageError as e:
                reader.cancel()
                log("error" if _fatal(e) else "warn",
                    "lost the daemon: %s" % e, held=len(self.tasks))
                await c.close()
                if _fatal(e):
                    return 1
                continue
            await self.drain(c, reader)
            await c.close()
        log("info", "stopped")
        return 0

    async def drain(self, c: AsyncConsumer,
                    reader: "asyncio.Task[None]") -> None:
        """Stopping: ask for nothing more, give back what has not
        started, let the handlers finish within --grace (the reader
        still reads: a CANCEL still cancels a handler), then cancel and
        nack those still running."""
        s = self.s
        loop = asyncio.get_running_loop()
        c.stop()
        log("info", "stopping: asking for nothing more, finishing what "
            "runs", running=len(self.tasks), grace="%gs" % s.grace)
        await self.give_back(c)
        end = loop.time() + s.grace
        while self.tasks and loop.time() < end:
            self.wake.clear()
            woke = asyncio.ensure_future(self.wake.wait())
            waits: List["asyncio.Future[Any]"] = [woke]
            if not reader.done():
                waits.append(reader)
            await asyncio.wait(waits, timeout=end - loop.time(),
                               return_when=asyncio.FIRST_COMPLETED)
            woke.cancel()
            # Events sent before the stop and read since go back; the
            # answers of handlers that ended go.
            await self.give_back(c)
        if reader.done() and not reader.cancelled():
            reader.exception()          # lost meanwhile: acks go nowhere
        reader.cancel()
        if self.tasks:
            left = list(self.tasks)
            held = [self.events[i] for i in left]
            pending = list(self.tasks.values())
            for t in pending:
                t.cancel()
            await asyncio.wait(pending)
            # Cancelled, they will not ack: nack them now, saying why
            # (ack those the daemon cancelled meanwhile).
            for ev in held:
                if ev.cancelled:
                    await self._safe(ev.ack())
                else:
                    await self._safe(ev.nack(error=GRACE_ERROR % s.grace))
            log("warn", "nacked %d event%s still running: its grace "
                "period ran out" % (len(left), "" if len(left) == 1 else "s"),
                ids=",".join(map(str, left)))


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python3 -m pushstage.worker",
        usage="python3 -m pushstage.worker module:function [--queue Q] "
        "[options]\n       python3 -m pushstage.worker --app MODULE "
        "[-Q QUEUE[:WEIGHT],...] [--pool thread|process|asyncio] [options]",
        description="Run module:function for each event of a pushstage "
        "queue: return acks (what it returns is the event's result: bytes, "
        "str as UTF-8, None none, else JSON), an exception nacks with "
        "backoff.  Or, with --app, run the tasks of a pushstage.App "
        "(docs/tasks.md): each event's task header names its task, its "
        "payload gives the arguments, the return value is its JSON result.")
    p.add_argument("target", metavar="module:function", nargs="?",
                   help="the handler; it gets an Event (id, attempt, data, "
                   "key, headers)")
    p.add_argument("--queue", "-q", default=None,
                   help="the queue to consume (default: default)")
    p.add_argument("--group", "-g", help="a group of the queue to join")
    p.add_argument("--id", help="the consumer ID (default: HOST-PID)")
    p.add_argument("--concurrency", "-c", type=int, default=None,
                   help="handlers (tasks) running at once (default 1; "
                   "--app: the number of CPUs for --pool process, else 8)")
    p.add_argument("--max-demand", type=int,
                   help="events held at most (default: --concurrency)")
    p.add_argument("--min-demand", type=int,
                   help="ask again at this many held (default: max - 1, "
                   "each finished event asks for the next)")
    p.add_argument("--socket", "-s", help="the daemon's socket (default: "
                   "$PUSHSTAGE_SOCKET, $XDG_RUNTIME_DIR/pushstage.sock, "
                   "${TMPDIR:-/tmp}/pushstage-UID/pushstage.sock; --app: "
                   "else the App's socket)")
    p.add_argument("--partition", type=int,
                   help="the partition to read, for a queue with partitions")
    p.add_argument("--grace", type=float, default=30.0,
                   help="seconds to finish running handlers after SIGTERM "
                   "(default 30)")
    p.add_argument("--backoff", type=parse_backoff, default=(1.0, 60.0),
                   metavar="BASE:MAX",
                   help="a failed event waits BASE*2^(attempt-1) seconds, at "
                   "most MAX (default 1:60); none: a plain NACK, the queue's "
                   "retry-backoff (--app: for tasks without their own "
                   "backoff)")
    p.add_argument("--log-level", choices=["debug", "info", "warning",
                                           "error"], default="info",
                   help="the least level logged (default info) by the "
                   "logger \"pushstage\"")
    t = p.add_argument_group(
        "tasks (--app)",
        "Each queue asks for --prefetch events ahead of a free slot, and "
        "for more when half have started: the worker holds at most "
        "--concurrency + prefetch x the number of queues events.  A free "
        "slot goes to a queue with "
        "an event waiting with probability WEIGHT / (the sum of the "
        "weights of those with one).")
    t.add_argument("--app", metavar="MODULE[:ATTR]",
                   help="the module holding a pushstage.App (its attribute "
                   "app, or its one App), or module:attribute")
    t.add_argument("-Q", "--queues", metavar="QUEUE[:WEIGHT],...",
                   help="the queues to serve, each with a weight (1 unless "
                   "given) (default: the queues of the app's tasks, or its "
                   "default_queue)")
    t.add_argument("--pool", choices=["thread", "process", "asyncio"],
                   help="where plain tasks run: threads (default) or child "
                   "processes; async def tasks run on the event loop "
                   "(asyncio: the default when every task served is async)")
    t.add_argument("--max-tasks-per-child", type=int, default=0,
                   metavar="N", help="--pool process: a child is replaced "
                   "after N tasks (default 0: never)")
    t.add_argument("--prefetch", type=int, default=None, metavar="N",
                   help="events each queue holds waiting for a free slot, "
                   "asked for ahead (default 1; 1 to 10000)")
    a = p.parse_args(argv)
    if a.app is not None:
        # (Imported by name: pushstage.taskworker imports this module.)
        tw = importlib.import_module(__package__ + ".taskworker")
        code: int = tw.main(p, a)
        return code
    for opt, v in (("-Q", a.queues), ("--pool", a.pool)):
        if v is not None:
            p.error("%s goes with --app" % opt)
    if a.max_tasks_per_child:
        p.error("--max-tasks-per-child goes with --app")
    if a.prefetch is not None:
        p.error("--prefetch goes with --app")
    if a.target is None:
        p.error("give the handler, module:function, or --app MODULE")
    if a.queue is None:
        a.queue = "default"
    if a.concurrency is None:
        a.concurrency = 1
    if a.concurrency < 1 or a.concurrency > 10000:
        p.error("--concurrency must be 1 to 10000")
    md = a.max_demand or a.concurrency
    if not 1 <= md <= 1048576:
        p.error("--max-demand must be 1 to 1048576")
    if a.min_demand is not None and not 0 <= a.min_demand < md:
        p.error("--min-demand must be 0 to max-demand - 1")
    if a.grace < 0:
        p.error("--grace must not be negative")
    try:
        C.queue_for(3, a.queue if a.group is None
                    else "%s/%s" % (a.queue, a.group), True)
    except ValueError as e:
        p.error(str(e))
    try:
        fn = load(a.target)
    except Exception as e:
        setup_logging(a.log_level)
        log("error", "cannot load the handler %s: %s: %s"
            % (a.target, type(e).__name__, e))
        return EX_USAGE
    setup_logging(a.log_level)
    s = Settings(a)
    if inspect.iscoroutinefunction(fn):
        return asyncio.run(AsyncWorker(fn, s).run())
    return ThreadWorker(fn, s).run()


if __name__ == "__main__":
    sys.exit(main())
