"""pushstage.tasks: named tasks called with arguments (docs/tasks.md).

    import pushstage
    app = pushstage.App(default_queue="img")

    @app.task(max_attempts=5, backoff=(1, 60), time_limit=30)
    def resize(photo_id, size=1):
        ...
        return {"w": 64}

    job = resize.delay(42, size=3)      # enqueued; a TaskJob
    job.result(timeout=10)              # {"w": 64}: the daemon's WAIT

    @app.periodic("0 6 * * *", tz="Europe/Berlin", args=(1,))
    @app.task
    def report(day_offset): ...         # a schedule of the daemon, defined
                                        # by the worker when it starts

A task is an event of its queue whose `task` header names it and whose
payload is {"args": [...], "kwargs": {...}} in JSON: the envelope of
docs/tasks.md, which a worker in any language can run.  Run the tasks
with `python3 -m pushstage.worker --app MODULE`.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import inspect
import re
import sys
import threading
import warnings
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple, Union, overload)

from . import _core as C
from . import _proto as P
from . import envelope as E
from ._core import (Data, Headers, Job, Message, Schedule, WaitResult,
                    header_pairs)
from .client import Client
from .errors import PushstageError, Unsupported

Backoff = Optional[Tuple[float, float]]
KeyRule = Union[None, str, Callable[..., Any]]
UniqueRule = Union[bool, Callable[..., Any]]


class TaskFailed(E.TaskError):
    """TaskJob.result() of a task that died: its last error's type,
    message and traceback (docs/tasks.md), and the job."""

    def __init__(self, err: E.TaskError, job: "TaskJob") -> None:
        super().__init__(err.type, err.message, err.traceback)
        self.job = job


class TaskCancelled(PushstageError):
    """TaskJob.result() of a task a client cancelled."""


class TaskGone(PushstageError):
    """TaskJob.result() of a task the queue no longer knows: done with
    no record kept (set the queue's keep-done to read results after the
    fact), cancelled or purged before the wait began, or shed by its
    overflow."""


def _backoff(b: Union[None, str, Sequence[float]]) -> Backoff:
    """A backoff as (base, max) seconds: a pair, "BASE:MAX", or None."""
    if b is None:
        return None
    if isinstance(b, str):
        base, sep, most = b.partition(":")
        try:
            pair = (float(base), float(most if sep else base))
        except ValueError:
            raise ValueError("backoff %r: BASE:MAX in seconds" % b) from None
    else:
        try:
            pair = (float(b[0]), float(b[1]))
        except (TypeError, ValueError, IndexError):
            raise ValueError("backoff %r: (BASE, MAX) in seconds"
                             % (b,)) from None
    if not 0 <= pair[0] <= pair[1]:
        raise ValueError("backoff %r: 0 <= BASE <= MAX" % (b,))
    return pair


def _seconds(what: str, v: Optional[float]) -> Optional[float]:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
        raise ValueError("%s must be a number of seconds over 0, not %r"
                         % (what, v))
    return float(v)


class Task:
    """A function registered with App.task: call it to run it here;
    delay() or apply() to enqueue it; s() for a call to send later."""

    def __init__(self, app: "App", fn: Callable[..., Any], name: str,
                 queue: Optional[str], max_attempts: Optional[int],
                 backoff: Backoff, time_limit: Optional[float],
                 soft_time_limit: Optional[float], priority: Optional[int],
                 key: KeyRule, unique: UniqueRule) -> None:
        self.app = app
        self.fn = fn
        self.name = E.check_name(name)
        self._queue = queue
        if max_attempts is not None and (isinstance(max_attempts, bool) or
                                         not isinstance(max_attempts, int) or
                                         max_attempts < 1):
            raise ValueError("max_attempts must be 1 or more, not %r"
                             % (max_attempts,))
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.time_limit = _seconds("time_limit", time_limit)
        self.soft_time_limit = _seconds("soft_time_limit", soft_time_limit)
        if (self.time_limit and self.soft_time_limit and
                self.soft_time_limit > self.time_limit):
            raise ValueError("soft_time_limit (%g) is over time_limit (%g)"
                             % (self.soft_time_limit, self.time_limit))
        if priority is not None and (isinstance(priority, bool) or
                                     not isinstance(priority, int) or
                                     not 0 <= priority <= 65535):
            raise ValueError("priority must be 0 to 65535, not %r"
                             % (priority,))
        self.priority = priority
        self.key = key
        self.unique = unique
        self.is_async = inspect.iscoroutinefunction(fn)
        functools.update_wrapper(self, fn)

    @property
    def queue(self) -> str:
        """The queue it is sent to: its own, else the app's default."""
        return self._queue or self.app.default_queue

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return "<Task %s on %s>" % (self.name, self.queue)

    def s(self, *args: Any, **kwargs: Any) -> "Signature":
        """A call of the task to send later (Signature.delay(),
        App.enqueue_many); the arguments are checked now."""
        return Signature(self, args, kwargs)

    def delay(self, *args: Any, **kwargs: Any) -> "TaskJob":
        """Enqueue a call with these arguments: apply(args, kwargs)."""
        return self.apply(args, kwargs)

    def apply(self, args: Sequence[Any] = (),
              kwargs: Optional[Mapping[str, Any]] = None, *,
              delay: Optional[float] = None,
              at: Union[None, float, datetime.datetime] = None,
              priority: Optional[int] = None, key: Optional[Data] = None,
              unique_id: Optional[Data] = None,
              headers: Optional[Headers] = None,
              queue: Optional[str] = None) -> "TaskJob":
        """Enqueue a call, with options over the task's own: delay in
        seconds, or at (a datetime or seconds since 1970); priority;
        key; unique_id; more headers; another queue.  Returns its
        TaskJob.  An argument JSON cannot encode is a TypeError naming
        it, and nothing is sent."""
        sig = Signature(self, args, kwargs or {}, delay=delay, at=at,
                        priority=priority, key=key, unique_id=unique_id,
                        headers=headers, queue=queue)
        return self.app.enqueue_many([sig])[0]


class Signature:
    """One call of a task, with its options, ready to send: what
    Task.s() makes.  delay() sends it; App.enqueue_many sends many."""

    def __init__(self, task: Task, args: Sequence[Any],
                 kwargs: Mapping[str, Any], *,
                 delay: Optional[float] = None,
                 at: Union[None, float, datetime.datetime] = None,
                 priority: Optional[int] = None, key: Optional[Data] = None,
                 unique_id: Optional[Data] = None,
                 headers: Optional[Headers] = None,
                 queue: Optional[str] = None) -> None:
        if delay is not None and at is not None:
            raise ValueError("delay and at: one or the other")
        self.task = task
        self.args = list(args)
        self.kwargs = dict(kwargs)
        self.payload = E.encode_call(self.args, self.kwargs)
        self.queue = queue or task.queue
        self.delay_s = delay
        self.at = at
        self.priority = priority if priority is not None else task.priority
        self.key = key if key is not None else self._rule(task.key)
        if unique_id is None and task.unique:
            if callable(task.unique):
                unique_id = task.unique(*self.args, **self.kwargs)
            else:
                unique_id = hashlib.sha256(
                    task.name.encode() + b"\0" + self.payload).hexdigest()
        self.unique_id = unique_id
        pairs = [(b"task", task.name.encode()),
                 (b"content-type", E.CONTENT_TYPE.encode())]
        for n, v in header_pairs(headers or {}):
            if n == b"task":
                raise ValueError("headers: \"task\" is the task's name, "
                                 "set by the task")
            if n == b"content-type":
                if v != E.CONTENT_TYPE.encode():
                    raise ValueError("headers: content-type %r: tasks are "
                                     "%s" % (v.decode(errors="replace"),
                                             E.CONTENT_TYPE))
                continue
            pairs.append((n, v))
        self.headers = pairs

    def _rule(self, rule: KeyRule) -> Optional[Data]:
        if rule is None or isinstance(rule, str):
            return rule
        k = rule(*self.args, **self.kwargs)
        return None if k is None else (k if isinstance(k, (bytes, str))
                                       else str(k))

    def message(self) -> Message:
        return Message(self.payload, key=self.key, delay=self.delay_s,
                       not_before=self.at, priority=self.priority,
                       unique_id=self.unique_id, headers=self.headers)

    def delay(self) -> "TaskJob":
        """Send it: its TaskJob."""
        return self.task.app.enqueue_many([self])[0]

    def __repr__(self) -> str:
        return "%s.s(%s)" % (self.task.name, self.payload.decode())


class TaskJob:
    """An enqueued task: .id (None when it was a duplicate of one whose
    id could not be found, or shed by the queue's overflow), .queue,
    .unique_id, .duplicate (True when its unique id was held: then it
    stands for the event that held it).  status(), result(), cancel()
    ask the daemon."""

    def __init__(self, app: "App", queue: str, id: Optional[int],
                 unique_id: Optional[Data] = None,
                 duplicate: bool = False) -> None:
        self.app = app
        self.queue = queue
        self.id = id
        self.unique_id = unique_id
        self.duplicate = duplicate

    def __repr__(self) -> str:
        return "<TaskJob %s:%s>" % (self.queue, self.id)

    def _by(self) -> Tuple[Optional[int], Optional[Data]]:
        if self.id:
            return self.id, None
        if self.unique_id is not None:
            return None, self.unique_id
        if self.id == 0:
            raise Unsupported("a cluster gives a task its id where it is "
                              "delivered: it cannot be found by id")
        raise TaskGone("this task was not stored (shed by the queue's "
                       "overflow)")

    def status(self) -> Optional[Job]:
        """Where it is now (Client.job): a Job whose .state is "queued",
        "in flight", "done", "dead", ... or None when the queue no
        longer knows it."""
        i, u = self._by()
        return self.app.client().job(self.queue, i, unique_id=u)

    def wait(self, timeout: Optional[float] = None) -> WaitResult:
        """Client.wait on it: how it ended, or timed_out.  On a
        connection of its own, so that the app's other calls (from other
        threads) go on while it waits."""
        i, u = self._by()
        with Client(self.app.socket, name=self.app.name) as c:
            return c.wait(self.queue, i, unique_id=u, timeout=timeout)

    def result(self, timeout: Optional[float] = None) -> Any:
        """Its return value, once it is done, waiting as long as timeout
        (seconds; None: no limit): the daemon answers the moment it
        ends, no polling.  Raises TaskFailed (dead: its last error),
        TaskCancelled, TaskGone, or TimeoutError."""
        w = self.wait(timeout)
        if w.timed_out:
            raise TimeoutError("task %s:%s still %s after %gs"
                               % (self.queue, self.id, w.state,
                                  timeout or 0))
        if w.done:
            return E.decode_result(w.result)
        if w.state == "dead":
            raise TaskFailed(E.decode_error(w.error), self)
        if w.state.startswith("cancelled"):
            raise TaskCancelled("task %s:%s was cancelled"
                                % (self.queue, self.id))
        raise TaskGone("task %s:%s is not known to the queue now: done "
                       "(a result is kept only with the queue's keep-done), "
                       "cancelled or purged before this wait began"
                       % (self.queue, self.id))

    def cancel(self) -> bool:
        """Cancel it (Client.cancel): True when it was, or was told to
        stop; a PushstageError (ERROR 19) when it already ended."""
        i, u = self._by()
        out = self.app.client().cancel(self.queue, i, unique_id=u)
        return bool(out)


Every = Union[str, float, datetime.timedelta, None]


def _periodic_name(task_name: str, n: int) -> str:
    """The default name of a task's n-th periodic registration (1: its
    first): the task's name, with ":N" from the second on.  A task name
    that is no schedule name (1 to 64 bytes of A-Z a-z 0-9 . _ : -) has
    its other characters as "_", cut to fit, and "-" and 8 hex digits of
    its SHA-256 so that two such stay apart."""
    suffix = "" if n == 1 else ":%d" % n
    b = task_name.encode()
    try:
        return P.schedule_name(b + suffix.encode()).decode()
    except ValueError:
        pass
    clean = re.sub(r"[^A-Za-z0-9._:-]", "_", task_name)
    digest = hashlib.sha256(b).hexdigest()[:8]
    return "%s-%s%s" % (clean[:P.SCHED_NAME_MAX - 9 - len(suffix)], digest,
                        suffix)


class Periodic:
    """A task's call defined as a schedule of the daemon (App.periodic):
    the schedule `name` enqueues task(*args, **kwargs) to `queue`, as
    task.delay(*args, **kwargs) would (the same envelope, headers task
    and content-type, key and priority), at each tick of cron (in tz)
    or every.  The worker defines it when it starts (register(), an ADD
    with REPLACE); run_now() and schedule() ask the daemon."""

    def __init__(self, app: "App", task: Task, name: str, queue: str,
                 cron: Optional[str], every: Every, tz: Optional[str],
                 catch_up: Optional[str], unique: Optional[bool],
                 args: Sequence[Any],
                 kwargs: Optional[Mapping[str, Any]]) -> None:
        self.app = app
        self.task = task
        self.name = name
        self.queue = queue
        self.cron = cron
        self.every = every
        self.tz = tz
        self.catch_up = catch_up
        self.unique = unique
        self._default_name = False      # named by App.periodic's rule
        C.schedule_add_args(name, queue, cron, every, tz, catch_up, unique)
        # The call as delay() sends it (its arguments checked now); a
        # unique id of the task's is not: each tick has the daemon's.
        sig = Signature(task, args, kwargs or {}, queue=queue)
        self.args = sig.args
        self.kwargs = sig.kwargs
        self.payload = sig.payload
        self.headers = sig.headers
        self.key = sig.key
        self.priority = sig.priority
        # Every argument checked now, as the daemon would (but the
        # rule's own syntax and the time zone, which it checks).
        C.schedule_add_args(**self.add_kwargs())

    def add_kwargs(self) -> Dict[str, Any]:
        """Client.schedule_add's arguments for it (but replace)."""
        return dict(name=self.name, queue=self.queue, cron=self.cron,
                    every=self.every, tz=self.tz, catch_up=self.catch_up,
                    unique=self.unique, payload=self.payload,
                    headers=self.headers, priority=self.priority,
                    key=self.key)

    def register(self, client: Optional[Client] = None) -> Schedule:
        """Define it in the daemon: an ADD with REPLACE, so that the
        same definition again changes nothing and a changed one replaces
        it, its progress (last, fired) kept; a schedule paused stays
        paused.  Returns the Schedule."""
        c = client or self.app.client()
        return c.schedule_add(replace=True, **self.add_kwargs())

    def schedule(self) -> Schedule:
        """The daemon's Schedule of it (Refused NO_SCHEDULE when it has
        none: not registered yet, or removed)."""
        return self.app.client().schedule(self.name)

    def run_now(self) -> Schedule:
        """Enqueue its call once now (Client.schedule_run_now): the
        Schedule, whose enqueued is the event's id."""
        return self.app.client().schedule_run_now(self.name)

    def __repr__(self) -> str:
        return "<Periodic %s: %s(%s) on %s, %s>" % (
            self.name, self.task.name, self.payload.decode(), self.queue,
            "cron %r%s" % (self.cron, " in %s" % self.tz if self.tz else "")
            if self.cron is not None else "every %s" % C.every_text(
                self.every))


HookFn = Callable[..., Any]


class App:
    """A set of tasks and how to reach the daemon: socket (None: the
    rule of the C programs, $PUSHSTAGE_SOCKET and so on) and the queue a
    task without its own goes to."""

    def __init__(self, socket: Optional[str] = None,
                 default_queue: str = "default", *, name: str = "",
                 timeout: Optional[float] = None) -> None:
        self.socket = socket
        self.default_queue = default_queue
        self.name = name
        self.timeout = timeout
        self.tasks: Dict[str, Task] = {}
        self.periodics: Dict[str, Periodic] = {}
        self.hooks: Dict[str, List[HookFn]] = {
            "before_task": [], "after_task": [], "on_failure": []}
        self._client: Optional[Client] = None
        self._lock = threading.Lock()

    def client(self) -> Client:
        """The app's Client, made on first use; threads share it."""
        with self._lock:
            if self._client is None:
                self._client = Client(self.socket, name=self.name,
                                      timeout=self.timeout)
            return self._client

    def reset_client(self) -> None:
        """Forget the app's Client without closing it: for a process
        forked from one that had it (the connection is the parent's), so
        that the next call connects anew."""
        with self._lock:
            self._client = None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    @overload
    def task(self, fn: Callable[..., Any]) -> Task: ...

    @overload
    def task(self, fn: None = None, *, name: Optional[str] = None,
             queue: Optional[str] = None,
             max_attempts: Optional[int] = None,
             backoff: Union[None, str, Sequence[float]] = None,
             time_limit: Optional[float] = None,
             soft_time_limit: Optional[float] = None,
             priority: Optional[int] = None, key: KeyRule = None,
             unique: UniqueRule = False
             ) -> Callable[[Callable[..., Any]], Task]: ...

    def task(self, fn: Optional[Callable[..., Any]] = None, *,
             name: Optional[str] = None, queue: Optional[str] = None,
             max_attempts: Optional[int] = None,
             backoff: Union[None, str, Sequence[float]] = None,
             time_limit: Optional[float] = None,
             soft_time_limit: Optional[float] = None,
             priority: Optional[int] = None, key: KeyRule = None,
             unique: UniqueRule = False
             ) -> Union[Task, Callable[[Callable[..., Any]], Task]]:
        """Register a function (sync or async) as a task: @app.task or
        @app.task(...).  name defaults to "module.function"; queue to
        the app's default_queue.  max_attempts: runs before its dead
        letter (None: the queue's max-attempts); backoff: (BASE, MAX)
        seconds, a failed run waits BASE*2^(attempt-1), at most MAX
        (None: the worker's); time_limit ends a run (process pool,
        asyncio; a thread cannot be killed, so a worker with --pool
        thread refuses a task with one), soft_time_limit raises
        SoftTimeLimitExceeded in it;
        priority 0-65535; key a str, or a function of the task's
        arguments giving it (calls of one key run in order on a queue
        with dispatch=key); unique True: a call with the same arguments
        is a duplicate while one is pending (or a function of the
        arguments giving the unique id)."""
        def register(f: Callable[..., Any]) -> Task:
            if isinstance(f, Task):
                raise TypeError("@app.task over the task %s: decorators "
                                "apply from the bottom up; put "
                                "@app.periodic above @app.task" % f.name)
            if name is None and f.__module__ == "__main__":
                warnings.warn(
                    "task %s is named after __main__ (%s is run as a "
                    "script): a worker that imports the module knows it by "
                    "another name; give name=" % (f.__qualname__,
                                                  sys.argv[0] or "python"),
                    RuntimeWarning, stacklevel=3)
            n = name if name is not None else "%s.%s" % (f.__module__,
                                                      f.__qualname__)
            if n in self.tasks and self.tasks[n].fn is not f:
                raise ValueError("task %r registered twice" % n)
            t = Task(self, f, n, queue, max_attempts, _backoff(backoff),
                     time_limit, soft_time_limit, priority, key, unique)
            self.tasks[n] = t
            return t
        if fn is not None:
            return register(fn)
        return register

    def periodic(self, cron: Optional[str] = None, *, every: Every = None,
                 tz: Optional[str] = None, args: Sequence[Any] = (),
                 kwargs: Optional[Mapping[str, Any]] = None,
                 name: Optional[str] = None, queue: Optional[str] = None,
                 catch_up: Optional[str] = None,
                 unique: Optional[bool] = None
                 ) -> Callable[[Union[Task, Callable[..., Any]]], Task]:
        """Run a task on a schedule of the daemon: at each tick of cron
        (a 5-field rule or @daily, ..., in the time zone tz, UTC unless
        given) or every (a duration "30s", "1h30m", or seconds, or a
        timedelta), one of them, the daemon enqueues task(*args,
        **kwargs), the same event as task.delay(*args, **kwargs).  Put
        it above @app.task (on a plain function it registers the
        function as a task of default options too); several may stack
        on one task.  name: the schedule's (1 to 64 bytes of A-Z a-z 0-9
        . _ : -); by default the task's name, ":2", ":3", ... after the
        task's second, third default-named registration (in the order
        they run: the bottom one first), and a task name that cannot be
        a schedule's made into one.  queue: the task's unless given.
        catch_up ("none", "last", "all") and unique (skip a tick while
        the last one's event waits or runs) as Client.schedule_add;
        None leaves the daemon's default.  The schedule is defined when
        a worker serving its queue starts (or by register_schedules()),
        not here.  A bad argument is a ValueError (TypeError) at once."""
        def register(t: Union[Task, Callable[..., Any]]) -> Task:
            task = t if isinstance(t, Task) else self.task(t)
            if task.app is not self:
                raise ValueError("task %s is another App's" % task.name)
            if name is None:
                n = 1 + sum(1 for p in self.periodics.values()
                            if p.task is task and p._default_name)
                nm = _periodic_name(task.name, n)
                while nm in self.periodics:
                    n += 1
                    nm = _periodic_name(task.name, n)
            else:
                nm = P.schedule_name(name).decode()
                if nm in self.periodics:
                    raise ValueError("schedule %r defined twice" % nm)
            per = Periodic(self, task, nm, queue or task.queue, cron, every,
                           tz, catch_up, unique, args, kwargs)
            per._default_name = name is None
            self.periodics[nm] = per
            return task
        return register

    def register_schedules(self, queues: Optional[Iterable[str]] = None
                           ) -> List[Schedule]:
        """Define the app's periodic tasks (of these queues, or all) in
        the daemon, each an ADD with REPLACE (Periodic.register): what
        the worker does when it starts.  Their Schedules, in order."""
        qs = None if queues is None else set(queues)
        c = self.client()
        return [p.register(c) for p in self.periodics.values()
                if qs is None or p.queue in qs]

    def schedules(self) -> List[Schedule]:
        """The daemon's schedules of this app: those whose names its
        periodic tasks define, in the daemon's order (a periodic not
        registered yet is not there).  Client.schedules() has them all."""
        return [s for s in self.client().schedules()
                if s.name in self.periodics]

    def _hook(self, kind: str, fn: HookFn) -> HookFn:
        self.hooks[kind].append(fn)
        return fn

    def before_task(self, fn: HookFn) -> HookFn:
        """fn(task, event) before each run.  Hooks run where the task
        runs: in the worker's thread or loop, or in the child of a
        process pool; one that raises is logged and changes nothing."""
        return self._hook("before_task", fn)

    def after_task(self, fn: HookFn) -> HookFn:
        """fn(task, event, result, seconds) after each run that
        returned."""
        return self._hook("after_task", fn)

    def on_failure(self, fn: HookFn) -> HookFn:
        """fn(task, event, exception, seconds) after each run that
        raised or timed out.  For a child of the process pool that was
        killed (a hard time limit) or died, it runs in the worker, with
        a TimeLimitExceeded or a TaskError (Signal, ExitStatus)."""
        return self._hook("on_failure", fn)

    def enqueue_many(self, calls: Iterable[Signature]) -> List[TaskJob]:
        """Send many calls (Task.s(...)), one ENQUEUE a queue: their
        TaskJobs in order."""
        sigs = list(calls)
        for s in sigs:
            if not isinstance(s, Signature):
                raise TypeError("enqueue_many takes Task.s(...) calls, not "
                                "%s" % type(s).__name__)
        by_queue: Dict[str, List[int]] = {}
        for i, s in enumerate(sigs):
            by_queue.setdefault(s.queue, []).append(i)
        out: List[Optional[TaskJob]] = [None] * len(sigs)
        c = self.client()
        for q, idx in by_queue.items():
            got = c.enqueue(q, [sigs[i].message() for i in idx])
            dup = set(got.duplicates)
            taken = [j for j in range(len(idx)) if j not in dup]
            # drop-newest sheds the batch's last events.
            ids: List[Optional[int]] = list(got)
            ids += [None] * (len(taken) - len(ids))
            for j, eid in zip(taken, ids):
                s = sigs[idx[j]]
                out[idx[j]] = TaskJob(self, q, eid, s.unique_id)
            for j in dup:
                s = sigs[idx[j]]
                held = None
                try:
                    jb = c.job(q, unique_id=s.unique_id, preview=0)
                    held = jb.id if jb is not None else None
                except PushstageError:
                    pass
                out[idx[j]] = TaskJob(self, q, held, s.unique_id,
                                      duplicate=True)
        return [j for j in out if j is not None]
