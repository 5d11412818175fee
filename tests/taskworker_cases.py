#!/usr/bin/env python3
"""taskworker_cases.py: the task worker (python3 -m pushstage.worker --app,
pushstage.taskworker) against real daemons.  Each case has its own daemon
and directory (integration.py's Harness) and stops every process it
started, by its PID.  Tests wait for the state they need (a consumer's
demand, a line a task wrote, a job's state by Client.job or TaskJob's
WAIT), never for a stretch of time.

usage: taskworker_cases.py CASE   (PRODUCERD names the daemon)
"""

import concurrent.futures
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))

import pushstage as ps                                  # noqa: E402
from pushstage import envelope as E                     # noqa: E402
from pushstage import _proto                            # noqa: E402
from python_client import (Fake, run_case, Py, Skip, expect,      # noqa: E402
                           read_frame)

# The app the workers serve (tapp.py in each case's directory).  Each
# task writes a JSON line to OUT_DIR/lines: what it saw, and its pid.
TAPP = r'''
import asyncio, ctypes, json, os, signal, time
import pushstage
from pushstage.taskworker import SoftTimeLimitExceeded, current_event

OUT = os.environ["OUT_DIR"]
app = pushstage.App(socket=os.environ["PS_SOCK"], default_queue="tq")

def line(*parts):
    with open(os.path.join(OUT, "lines"), "a") as f:
        f.write(json.dumps(list(parts)) + "\n")

def released():
    return os.path.exists(os.path.join(OUT, "release"))

@app.before_task
def before(task, event):
    line("before", task.name, event.id, os.getpid())

@app.before_task
def broken_hook(task, event):
    raise RuntimeError("a hook that raises")

@app.after_task
def after(task, event, result, seconds):
    line("after", task.name, event.id, result)

@app.on_failure
def failure(task, event, exc, seconds):
    line("failure", task.name, event.id, type(exc).__name__, os.getpid())

# -- queue tq: plain functions

@app.task(name="add")
def add(a, b):
    ev = current_event()
    line("add", ev.id, ev.attempt, os.getpid(), a, b)
    return a + b

@app.task(name="boom", backoff=(0.2, 0.2))
def boom(what):
    line("boom", current_event().attempt)
    raise ValueError("no good: %s" % what)

@app.task(name="fail3", max_attempts=3, backoff=(0.05, 0.05))
def fail3():
    line("fail3", current_event().attempt)
    raise KeyError("three times")

@app.task(name="unencodable")
def unencodable():
    return object()

@app.task(name="soft", soft_time_limit=0.3)
def soft(catch):
    line("soft start", current_event().id, os.getpid())
    try:
        while True:
            time.sleep(0.01)
    except SoftTimeLimitExceeded:
        line("soft caught", current_event().id)
        if catch:
            return "cleaned up"
        raise

@app.task(name="segv")
def segv():
    line("segv", os.getpid())
    ctypes.string_at(0)

@app.task(name="chain")
def chain(a, b):
    """Enqueues add(a, b) (from a thread or a child): its id."""
    return add.delay(a, b).id

@app.task(name="exit3")
def exit3():
    os._exit(3)

@app.task(name="pid")
def pid():
    return os.getpid()

@app.task(name="hold")
def hold(tag):
    ev = current_event()
    line("hold start", tag, ev.id, ev.attempt, os.getpid())
    while not released() or os.environ.get("HOLD_FOREVER"):
        time.sleep(0.01)
    line("hold done", tag, ev.id)
    return tag

@app.task(name="watch")
def watch():
    ev = current_event()
    line("watch start", ev.id, os.getpid())
    while not ev.cancelled:
        time.sleep(0.005)
    line("watch saw cancelled", ev.id)
    return "stopped"

def _echo(*args, **kwargs):
    ev = current_event()
    line("echo", ev.headers.get("task"), ev.id)
    return {"args": list(args), "kwargs": kwargs}

for _name in ("resize", "mail.send", "noop", "report.build", "escape",
              "echo"):
    app.task(name=_name)(_echo)

# -- queues qa and qb: weights

@app.task(name="rec_a", queue="qa")
def rec_a(i):
    line("rec", "qa", i)
    time.sleep(0.005)   # longer than a round trip to the daemon

@app.task(name="rec_b", queue="qb")
def rec_b(i):
    line("rec", "qb", i)
    time.sleep(0.005)

# -- queue hq: a plain function with a time limit

@app.task(name="hard", queue="hq", time_limit=0.5)
def hard():
    line("hard start", current_event().id, os.getpid())
    while True:
        time.sleep(0.01)

@app.task(name="hpid", queue="hq")
def hpid():
    return os.getpid()

# -- queue aq: async def

@app.task(name="aadd", queue="aq")
async def aadd(a, b):
    await asyncio.sleep(0)
    line("aadd", current_event().id)
    return a + b

@app.task(name="asoft", queue="aq", soft_time_limit=0.3)
async def asoft(catch):
    line("asoft start", current_event().id)
    try:
        await asyncio.sleep(3600)
    except SoftTimeLimitExceeded:
        line("asoft caught", current_event().id)
        if catch:
            return "cleaned up"
        raise

@app.task(name="ahard", queue="aq", time_limit=0.5)
async def ahard():
    line("ahard start", current_event().id)
    await asyncio.sleep(3600)

@app.task(name="ahold", queue="aq")
async def ahold(tag):
    ev = current_event()
    line("hold start", tag, ev.id, ev.attempt, os.getpid())
    while not released() or os.environ.get("HOLD_FOREVER"):
        await asyncio.sleep(0.01)
    line("hold done", tag, ev.id)
    return tag

@app.task(name="aforever", queue="aq")
async def aforever():
    ev = current_event()
    line("aforever start", ev.id)
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        line("aforever cancelled", ev.id, ev.cancelled)
        raise
'''


class Tw(Py):
    """Py's harness with the app tapp.py and its task workers."""

    def __init__(self):
        super().__init__()
        with open(os.path.join(self.dir, "tapp.py"), "w") as f:
            f.write(TAPP)
        self.env = dict(self.env, PS_SOCK=self.sock)
        self._app = None

    @property
    def tapp(self):
        """tapp, imported here (its App's socket: this case's daemon)."""
        if self._app is None:
            os.environ["OUT_DIR"] = self.dir
            os.environ["PS_SOCK"] = self.sock
            sys.path.insert(0, self.dir)
            import tapp
            self._app = tapp
        return self._app

    def tworker(self, *args, env=None, name="w", app="tapp"):
        log = os.path.join(self.dir, "%s.log" % name)
        f = open(log, "ab")
        p = subprocess.Popen([sys.executable, "-m", "pushstage.worker",
                              "--app", app, "--socket", self.sock,
                              "--grace", "5"] + list(args),
                             stdout=f, stderr=f,
                             env=dict(self.env, **(env or {})), cwd=self.dir)
        self.procs.append(p)
        return p, log

    def cleanup(self):
        """Py's, and no worker may have printed a Python traceback or
        asyncio's complaints (a crash the worker did not catch)."""
        bad = []
        for n in sorted(os.listdir(self.dir)):
            if n.endswith(".log") and n != "producerd.log":
                text = self.log_of(os.path.join(self.dir, n))
                for what in ("Traceback (most recent call last)",
                             "never retrieved", "was never awaited",
                             "Exception in thread", "Exception ignored"):
                    if what in text:
                        bad.append("%s has %r:\n%s" % (n, what, text))
        return super().cleanup() + bad

    def lines(self, kind=None):
        try:
            with open(os.path.join(self.dir, "lines")) as f:
                out = [json.loads(x) for x in f if x.endswith("\n")]
        except FileNotFoundError:
            return []
        return [x for x in out if kind is None or x[0] == kind]

    def wait_line(self, kind, pred=lambda x: True, n=1, what=None):
        got = []

        def seen():
            got[:] = [x for x in self.lines(kind) if pred(x)]
            return len(got) >= n
        self.wait_for(seen, what=what or "%d line(s) %r" % (n, kind))
        return got

    def serving(self, *queues):
        """Until the worker's consumer of each queue asked for an
        event."""
        def asked():
            with self.client() as c:
                for q in queues:
                    try:
                        st = c.stats(q)
                    except ps.Refused:
                        return False
                    if not any(k["demand"] > 0 for k in st.consumers):
                        return False
            return True
        self.wait_for(asked, what="the worker's demand on " + ",".join(queues))

    def release(self):
        open(os.path.join(self.dir, "release"), "w").close()

    def job(self, queue, eid):
        with self.client() as c:
            return c.job(queue, eid)

    def wait_state(self, queue, eid, *states):
        got = []

        def there():
            j = self.job(queue, eid)
            got[:] = [j]
            return j is not None and j.state in states
        self.wait_for(there, what="event %s:%d %s (it is %s)" % (
            queue, eid, "/".join(states),
            got[0].state if got and got[0] else "gone"))
        return got[0]

    def stop(self, p, sig=signal.SIGTERM, timeout=30):
        p.send_signal(sig)
        return p.wait(timeout=timeout)

    def log_of(self, log):
        with open(log, errors="replace") as f:
            return f.read()


def create(h, *queues, **settings):
    settings.setdefault("keep_done", "1h")
    with h.client() as c:
        for q in queues:
            c.create(q, **settings)


def raw(h, queue, payload, headers):
    """An event enqueued as bytes with these headers: its id."""
    with h.client() as c:
        return c.enqueue(queue, payload, headers=headers)


def failed(job, timeout=60):
    """job.result()'s TaskFailed."""
    return expect(ps.TaskFailed, job.result, timeout=timeout)


def waiting_for(h, queue, job, n):
    """job.result() in a thread, once the daemon counts n clients
    waiting on the queue: a future of the name of what it raised (or
    its value)."""
    fut = concurrent.futures.Future()

    def wait():
        # A client of its own: the app's is the test's meanwhile.
        try:
            with ps.Client(h.sock) as c:
                w = c.wait(queue, job.id, timeout=60)
            fut.set_result("TaskCancelled" if w.state.startswith(
                "cancelled") else w)
        except Exception as e:
            fut.set_result(e)
    threading.Thread(target=wait, daemon=True).start()
    h.wait_for(lambda: h.qstats(queue)["waits"] >= n,
               what="%d WAIT(s) on %s" % (n, queue))
    return fut


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:        # a zombie of ours is not alive
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# --- giving up at once, the bytes ----------------------------------------

def case_tw_nack_dead_bytes(h):
    """nack(dead=True) is a NACK_ERROR whose delay is 0xfffffffe (with
    the error, or none); a NACK_ERROR's own delay never reaches it (nor
    0xffffffff, the queue's backoff); a peer without NACK_ERROR gets a
    plain NACK."""
    from pushstage import _core, _proto
    w = _core.Window(4, 3, True)
    w.set_errors(5, 1 << 20)
    w.out()
    w.delivery([1, 2, 3, 4])
    w.done(1, "nack", None, b"why", dead=True)
    w.done(2, "nack", None, None, dead=True)
    w.done(3, "nack", _core.nack_delay_ms(4294967.295), b"late")
    out = w.out()
    assert out == (_proto.nack_error(1, 0xFFFFFFFE, b"why") +
                   _proto.nack_error(2, 0xFFFFFFFE, b"") +
                   _proto.nack_error(3, 0xFFFFFFFD, b"late") +
                   _proto.demand(3)), out.hex()
    assert _proto.nack_error(1, 0xFFFFFFFE, b"")[8:20].hex() == \
        "0000000000000001fffffffe"
    w = _core.Window(1, 0, True)
    w.set_errors(4, 1 << 20)
    w.out()
    w.delivery([9])
    w.done(9, "nack", None, b"why", dead=True)
    assert w.out() == _proto.ids(_proto.NACK, [9]) + _proto.demand(1)
    # Manual demand: nothing at the start or as events are answered;
    # ask(n) asks, and nothing once stopped.
    w = _core.Window(3, 2, True)
    w.set_manual()
    assert w.out() == b""
    w.ask(1)
    assert w.out() == _proto.demand(1)
    w.delivery([5])
    w.ack(5)
    assert w.out() == _proto.ids(_proto.ACK, [5])
    w.stop()
    w.ask(1)
    assert w.out() == b""
    assert _core.DEAD_REASONS[4] == "rejected" == _core.JOB_REASONS[4]


# --- routing and weights ---------------------------------------------------

def case_tw_weights(h):
    """-Q qa:3,qb: with both queues full, a free slot goes to qa three
    times in four; routing is by the task header, whatever the queue;
    the worker never holds more than -c plus the number of queues."""
    h.start_daemon()
    create(h, "qa", "qb")
    t = h.tapp
    n = 200
    t.app.enqueue_many([t.rec_a.s(i) for i in range(n)] +
                       [t.rec_b.s(i) for i in range(n)])
    # A task of queue tq sent to qb: routed by its name.
    j = t.add.apply((20, 22), queue="qb")
    p, log = h.tworker("-Q", "qa:3,qb", "-c", "1")
    most = 0

    def done():
        nonlocal most
        with h.client() as c:       # one STATS: one instant
            most = max(most, c.stats()["in_flight"])
        return len(h.lines("rec")) >= 2 * n
    h.wait_for(done, what="%d tasks" % (2 * n))
    assert j.result(timeout=30) == 42
    # At most -c (1) running plus one waiting a queue (2).
    assert 1 <= most <= 3, most
    first = [x[1] for x in h.lines("rec")][:n]
    share = first.count("qa")
    # 3/4 of 200 is 150, with a deviation of about 6.1: 115 to 185 is
    # more than 5.7 deviations either way; equal shares give 100, qa
    # first always 200.
    assert 115 <= share <= 185, share
    # Each queue in its own order.
    for q in ("qa", "qb"):
        ids = [x[2] for x in h.lines("rec") if x[1] == q]
        assert ids == list(range(n)), (q, ids[:20])
    assert h.stop(p) == 0
    out = h.log_of(log)
    assert "queues=\"qa:3,qb:1\"" in out and "pool=thread" in out, out


def case_tw_demand_rule(h):
    """-c 2 over three queues with backlogs: each queue holds at most
    --prefetch events waiting for a slot (default 1), so in flight on
    the worker's connections never passes 2 + 3, and with --prefetch 2
    never 2 + 3 x 2 (asked again as soon as one of the two starts:
    held exactly so while the backlogs last); a queue's consumer
    declares -c + prefetch.  One queue alone asks for its free slots
    too, and holds at most -c + prefetch: 2 + 1."""
    h.start_daemon()
    create(h, "tq", "qa", "qb")
    t = h.tapp
    for queues, prefetch, held_most in ((("tq", "qa", "qb"), None, 5),
                                        (("tq", "qa", "qb"), 2, 8),
                                        (("tq",), None, 3)):
        # Nothing runs until released: the worker fills its slots and
        # holds prefetch waiting a queue.
        for q in queues:
            for i in range(5):
                t.hold.apply(("%s%d" % (q, i),), queue=q)
        args = ["-Q", ",".join(queues), "-c", "2"]
        if prefetch is not None:
            args += ["--prefetch", str(prefetch)]
        n = len(h.lines("hold start"))
        p, log = h.tworker(*args)
        h.wait_line("hold start", n=n + 2)
        pf = prefetch or 1
        with h.client() as c:
            def held():
                return sum(c.stats(q)["in_flight"] for q in queues)
            h.wait_for(lambda: held() == held_most,
                       what="2 running and %d waiting" % (held_most - 2))
            for q in queues:
                st = c.stats(q)
                assert st["in_flight"] <= 2 + pf, (q, st.counters)
                assert [k["max_demand"] for k in st.consumers] == \
                    [2 + pf], st.consumers
            assert held() == held_most
        h.release()
        h.wait_line("hold done", n=n + 5 * len(queues))
        assert h.stop(p) == 0
        os.remove(os.path.join(h.dir, "release"))


def case_tw_old_daemon(h):
    """A daemon of protocol version 4 has no headers, so no task names:
    the worker says so and exits 78, having asked for nothing."""
    path = os.path.join(h.dir, "v4.sock")
    seen = []

    def script(conn):
        t, body = read_frame(conn)
        assert t == 1, t                    # HELLO
        if struct.unpack(">H", body[:2])[0] > 4:
            conn.sendall(_proto.frame(9, struct.pack(">H", 7) + (
                b"protocol version 5 is not supported; this daemon speaks "
                b"versions 1 to 4")))
            return
        conn.sendall(_proto.frame(2, struct.pack(">HHIIHBB", 4, 0, 1 << 20,
                                                 0, 5, 1, 0)))
        while True:
            t, body = read_frame(conn)
            if t is None:
                return
            seen.append(t)
    f = Fake(path, script)
    p = subprocess.Popen([sys.executable, "-m", "pushstage.worker", "--app",
                          "tapp", "--socket", path, "-Q", "tq"],
                         stderr=subprocess.PIPE, env=h.env, cwd=h.dir)
    h.procs.append(p)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 78, (p.returncode, err)
    assert b"tasks need version 5 (headers)" in err, err
    assert seen == [], seen             # no DEMAND
    f.close()


# --- unknown tasks, bad payloads, results, failures ------------------------

def case_tw_reject_at_once(h):
    """An unknown task, a payload that is not the envelope (each of the
    vectors' bad payloads), another content type, no task header: each
    to the dead letters at once (reason rejected, one attempt) with the
    envelope's error; the next task still runs."""
    h.start_daemon()
    create(h, "tq", max_attempts=5)
    with open(os.path.join(HERE, "fixtures", "tasks", "vectors.json")) as f:
        vec = json.load(f)
    js = [("task", "add"), ("content-type", "application/json")]
    cases = [
        (b'{"args":[1,2]}', [("task", "nosuch.task")], "UnknownTask",
         "nosuch.task"),
        (b'{"args":[1,2]}', [], "UnknownTask", "no task header"),
        (b'{"args":[1,2]}', [("task", "add"), ("content-type", "text/csv")],
         "UnsupportedContentType", "text/csv"),
    ] + [(bytes.fromhex(b["payload_hex"]), js, "BadPayload", "")
         for b in vec["bad_payloads"]]
    p, log = h.tworker("-Q", "tq")
    ids = [raw(h, "tq", pl, hd) for pl, hd, _, _ in cases]
    for eid, (pl, hd, etype, says) in zip(ids, cases):
        j = h.wait_state("tq", eid, "dead", "waiting to retry")
        assert j.state == "dead", (
            "event %d (%s) is %s: the daemon does not give up at once on "
            "a NACK_ERROR of delay 0xfffffffe yet (docs/tasks.md)"
            % (eid, etype, j.state))
        assert j.reason == "rejected" and j.attempts == 1, j
        err = E.decode_error(j.failures[-1].error)
        assert err.type == etype and says in err.message, (etype, err)
    assert h.tapp.add.delay(1, 2).result(timeout=30) == 3
    assert not [x for x in h.lines("add") if x[1] in ids]
    assert h.stop(p) == 0


def case_tw_result_and_failure(h):
    """A returned value is TaskJob.result(); a raise is TaskFailed with
    its type, message and traceback, tried again after the task's
    backoff until the queue's max-attempts; a value JSON cannot hold
    fails the run; hooks run (one that raises changes nothing); one
    info line a task."""
    h.start_daemon()
    create(h, "tq", max_attempts=2, max_result=64)
    t = h.tapp
    p, log = h.tworker("-Q", "tq", "-c", "2")
    j = t.add.delay(2, 3)
    assert j.result(timeout=30) == 5
    eb = e = failed(t.boom.delay("x"))
    assert e.type == "ValueError" and e.message == "no good: x", e
    assert 'raise ValueError("no good: %s" % what)' in e.traceback and \
        e.traceback.startswith("Traceback"), e.traceback
    assert [x[1] for x in h.lines("boom")] == [1, 2]
    js = h.job("tq", e.job.id)
    assert js.state == "dead" and js.attempts == 2 and js.reason == "nack"
    f1, f2 = js.failures[-2:]
    assert f2.at - f1.at >= 0.15, (f1.at, f2.at)       # backoff 0.2 s +-20 %
    e = failed(t.unencodable.delay())
    assert e.type == "TypeError" and "cannot be sent as JSON" in e.message, e
    # Over the queue's max-result (64): failed, never sent (the daemon
    # would close the worker's connection).
    echo = t.app.tasks["echo"]
    assert echo.delay("x" * 30).result(timeout=30) == {
        "args": ["x" * 30], "kwargs": {}}
    e = failed(echo.delay("x" * 60))
    assert e.type == "ValueError" and "(max-result)" in e.message and \
        "queue tq takes at most 64" in e.message, e
    # Hooks: before (in a thread of the worker), after, on_failure.
    bf = h.lines("before")
    assert {x[1] for x in bf} >= {"add", "boom", "unencodable"}
    assert all(x[3] == p.pid for x in bf), bf
    assert ["after", "add", j.id, 5] in h.lines("after")
    assert [x[1:4] for x in h.lines("failure")].count(
        ["boom", eb.job.id, "ValueError"]) == 2
    assert h.stop(p) == 0
    out = h.log_of(log)
    assert "hook before_task failed: RuntimeError: a hook that raises" in out
    assert ('msg="task done" task=add queue=tq event=%d attempt=1 seconds='
            % j.id) in out, out
    assert "msg=\"task failed: again in" in out and \
        "error=\"ValueError: no good: x\"" in out, out
    # --log-level warning: no info lines.
    p, log = h.tworker("-Q", "tq", "--log-level", "warning", name="quiet")
    assert t.add.delay(1, 1).result(timeout=30) == 2
    assert h.stop(p) == 0
    out = h.log_of(log)
    assert "task done" not in out and "level=info" not in out and \
        "level=error" in out, out        # the broken hook's line


def case_tw_task_max_attempts(h):
    """A task's own max_attempts (3) under a queue's 10: its third
    failure sends the event to the dead letters at once."""
    h.start_daemon()
    create(h, "tq", max_attempts=10)
    p, log = h.tworker("-Q", "tq")
    j = h.tapp.fail3.delay()
    h.wait_line("fail3", n=3)

    def third():
        jb = h.job("tq", j.id)
        return jb is not None and jb.attempts == 3 and \
            jb.state in ("dead", "waiting to retry")
    h.wait_for(third, what="fail3's third attempt answered")
    jb = h.job("tq", j.id)
    assert jb.state == "dead", (
        "after 3 attempts the event is %s: the daemon does not give up at "
        "once on a NACK_ERROR of delay 0xfffffffe yet" % jb.state)
    assert jb.attempts == 3 and jb.reason == "rejected", jb
    e = failed(j)
    assert e.type == "KeyError" and "three times" in e.message, e
    assert [x[1] for x in h.lines("fail3")] == [1, 2, 3]
    assert h.stop(p) == 0


# --- time limits -----------------------------------------------------------

def _soft(h, pool, queue, task, caught_kind):
    p, log = h.tworker("-Q", queue, "--pool", pool, name="w-" + pool)
    j = task.delay(True)
    assert j.result(timeout=30) == "cleaned up"
    j2 = task.delay(False)
    e = failed(j2)
    assert e.type == "SoftTimeLimitExceeded", e
    caught = [x[1] for x in h.lines(caught_kind)]
    assert j.id in caught and j2.id in caught, caught
    assert h.stop(p) == 0
    return p


def case_tw_soft_limit(h):
    """soft_time_limit raises SoftTimeLimitExceeded inside the task, in
    each pool: caught, the task returns; not caught, it fails so."""
    h.start_daemon()
    create(h, "tq", "aq", max_attempts=1)
    t = h.tapp
    pt = _soft(h, "thread", "tq", t.soft, "soft caught")
    pp = _soft(h, "process", "tq", t.soft, "soft caught")
    _soft(h, "asyncio", "aq", t.asoft, "asoft caught")
    pids = {x[1]: x[2] for x in h.lines("soft start")}
    assert pt.pid in pids.values() and \
        any(v not in (pt.pid, pp.pid) for v in pids.values()), pids


def case_tw_hard_limit(h):
    """time_limit: in the process pool the child is killed and replaced,
    the event nacked TimeLimitExceeded "time limit exceeded (0.5 s)",
    and the next task runs; in asyncio the task is cancelled, the
    same."""
    h.start_daemon()
    create(h, "hq", "aq", max_attempts=1)
    t = h.tapp
    p, log = h.tworker("-Q", "hq", "--pool", "process", "-c", "1")
    e = failed(t.hard.delay())
    assert e.type == "TimeLimitExceeded" and \
        e.message == "time limit exceeded (0.5 s)", e
    killed = h.wait_line("hard start")[0][2]
    h.wait_for(lambda: not alive(killed), what="the child killed")
    nxt = t.hpid.delay().result(timeout=30)
    assert nxt != killed and nxt != p.pid and alive(nxt), (nxt, killed)
    # before_task ran in the child; on_failure in the worker, the child
    # being gone.
    assert ["before", "hard", e.job.id, killed] in h.lines("before")
    assert ["failure", "hard", e.job.id, "TimeLimitExceeded", p.pid] in \
        h.lines("failure")
    assert h.stop(p) == 0
    assert not alive(nxt)
    p, log = h.tworker("-Q", "aq", name="wa")     # asyncio: all async
    e = failed(t.ahard.delay())
    assert e.type == "TimeLimitExceeded" and \
        e.message == "time limit exceeded (0.5 s)", e
    assert t.aadd.delay(1, 2).result(timeout=30) == 3
    assert h.stop(p) == 0
    assert "pool=asyncio" in h.log_of(log)


def case_tw_refusals(h):
    """A plain task with a time_limit under --pool thread (given, or by
    default): refused with EX_CONFIG, saying to use --pool process; a
    plain task under --pool asyncio too; bad -Q."""
    h.start_daemon()
    for args in (["-Q", "hq", "--pool", "thread"], ["-Q", "hq"]):
        p, log = h.tworker(*args, name="r")
        assert p.wait(timeout=60) == 78, p.returncode
        out = h.log_of(log)
        assert "task hard has a time_limit (0.5s)" in out and \
            "use --pool process" in out, out
    p, log = h.tworker("-Q", "tq,aq", "--pool", "asyncio", name="ra")
    assert p.wait(timeout=60) == 78
    assert "is a plain function" in h.log_of(log)
    for bad in ("qa:0", "qa,qa", "qa:x", ",", "bad name"):
        p, log = h.tworker("-Q", bad, name="bad")
        assert p.wait(timeout=60) == 2, (bad, p.returncode)
    p, log = h.tworker("-Q", "tq", "--max-tasks-per-child", "3", name="m")
    assert p.wait(timeout=60) == 2
    assert "goes with --pool process" in h.log_of(log)
    p, log = h.tworker("handlers:record", name="both")
    assert p.wait(timeout=60) == 2
    # An app that cannot be loaded: 64.
    with open(os.path.join(h.dir, "noapp.py"), "w") as f:
        f.write("x = 1\n")
    for app, says in (("noapp", "module noapp holds no pushstage.App"),
                      ("noapp:x", "noapp:x is a int, not a pushstage.App"),
                      ("nosuchmodule", "No module named 'nosuchmodule'")):
        p, log = h.tworker(name="load", app=app)
        assert p.wait(timeout=60) == 64, (app, p.returncode)
        out = h.log_of(log)
        assert "cannot load the app %s" % app in out and says in out, out
        os.unlink(log)
    with h.client() as c:       # nothing served, nothing made
        assert [q.name for q in c.queues()] == []


# --- the process pool ------------------------------------------------------

def case_tw_segfault(h):
    """A child that segfaults is replaced; its event nacked Signal
    "killed by signal 11"; the next task runs in the new child; one
    that exits mid-task is ExitStatus "exit status 3"; a task in a child
    may enqueue another."""
    h.start_daemon()
    create(h, "tq", max_attempts=1)
    t = h.tapp
    p, log = h.tworker("-Q", "tq", "--pool", "process", "-c", "1")
    # A task enqueueing another, from a child (before and after).
    sub = t.chain.delay(2, 3).result(timeout=30)
    assert ps.TaskJob(t.app, "tq", sub).result(timeout=30) == 5
    e = failed(t.segv.delay())
    assert e.type == "Signal" and e.message == "killed by signal 11", e
    dead = h.lines("segv")[0][1]
    nxt = t.pid.delay().result(timeout=30)
    assert nxt not in (dead, p.pid), (nxt, dead)
    sub = t.chain.delay(4, 5).result(timeout=30)
    assert ps.TaskJob(t.app, "tq", sub).result(timeout=30) == 9
    # A child that exits mid-task: ExitStatus.
    e = failed(t.exit3.delay())
    assert e.type == "ExitStatus" and e.message == "exit status 3", e
    assert t.add.delay(1, 1).result(timeout=30) == 2
    assert h.stop(p) == 0
    assert "killed by signal 11" in h.log_of(log)


def case_tw_max_tasks_per_child(h):
    """--max-tasks-per-child 2: six tasks one after another run in three
    children, two each."""
    h.start_daemon()
    create(h, "tq")
    t = h.tapp
    p, log = h.tworker("-Q", "tq", "--pool", "process", "-c", "1",
                       "--max-tasks-per-child", "2")
    pids = [t.pid.delay().result(timeout=30) for _ in range(6)]
    assert pids[0] == pids[1] and pids[2] == pids[3] and \
        pids[4] == pids[5] and len(set(pids)) == 3, pids
    assert p.pid not in pids
    h.wait_for(lambda: not alive(pids[0]) and not alive(pids[2]),
               what="the retired children to exit")
    assert h.stop(p) == 0


# --- cancelling ------------------------------------------------------------

def _cancel(h, pool):
    t = h.tapp
    p, log = h.tworker("-Q", "tq", "--pool", pool, "-c", "1",
                       name="w-" + pool)
    h.serving("tq")
    w = t.watch.delay()
    h.wait_line("watch start", lambda x: x[1] == w.id)
    waiting = t.add.delay(1, 1)         # held by the worker, for a slot
    h.wait_state("tq", waiting.id, "in flight")
    queued = t.add.delay(2, 2)          # still the daemon's
    assert h.job("tq", queued.id).state == "queued"
    assert queued.cancel()
    assert h.job("tq", queued.id) is None        # gone at once
    # Each ends cancelled: a client waiting for it is told so.
    got = waiting_for(h, "tq", waiting, 1)
    assert waiting.cancel()
    r = got.result(timeout=60)
    assert r == "TaskCancelled", r
    got = waiting_for(h, "tq", w, 1)
    assert w.cancel()
    h.wait_line("watch saw cancelled", lambda x: x[1] == w.id)
    r = got.result(timeout=60)
    assert r == "TaskCancelled", r
    ran = [x[1] for x in h.lines("add")]
    assert waiting.id not in ran and queued.id not in ran, ran
    assert t.add.delay(3, 3).result(timeout=30) == 6
    assert h.stop(p) == 0
    return log


def case_tw_cancel(h):
    """Cancel a queued task (never run), one the worker holds waiting
    for a slot (acked, not run), a running plain task (it sees
    current_event().cancelled; thread and process pools) and a running
    async task (its asyncio task is cancelled)."""
    h.start_daemon()
    create(h, "tq", "aq")
    _cancel(h, "thread")
    log = _cancel(h, "process")
    assert "event cancelled before its task started" in h.log_of(log)
    t = h.tapp
    p, log = h.tworker("-Q", "aq", name="wa")
    j = t.aforever.delay()
    h.wait_line("aforever start", lambda x: x[1] == j.id)
    ended = waiting_for(h, "aq", j, 1)
    assert j.cancel()
    got = h.wait_line("aforever cancelled", lambda x: x[1] == j.id)
    assert got[0][2] is True, got
    assert ended.result(timeout=60) == "TaskCancelled"
    assert t.aadd.delay(2, 2).result(timeout=30) == 4
    assert h.stop(p) == 0


# --- kill -9 and SIGTERM ---------------------------------------------------

def case_tw_kill9(h):
    """kill -9 of the worker mid-task (thread and process pools): nothing
    lost, the next worker runs it as attempt 2; a child dies with its
    worker."""
    h.start_daemon()
    create(h, "tq")
    t = h.tapp
    for pool in ("thread", "process"):
        j = t.hold.delay(pool)
        p, log = h.tworker("-Q", "tq", "--pool", pool, "-c", "2",
                           name="k-" + pool)
        st = h.wait_line("hold start", lambda x: x[2] == j.id)[0]
        assert st[3] == 1
        p.kill()
        p.wait()
        if pool == "process":
            assert st[4] != p.pid
            h.wait_for(lambda: not alive(st[4]), what="the child to die")
        p2, log2 = h.tworker("-Q", "tq", "--pool", pool,
                             name="k2-" + pool)
        again = h.wait_line("hold start", lambda x: x[2] == j.id, n=2)
        assert again[1][3] == 2, again
        h.release()
        assert j.result(timeout=30) == pool
        assert h.stop(p2) == 0
        os.unlink(os.path.join(h.dir, "release"))


def _drain(h, pool, queue, task):
    t = h.tapp
    jobs = [task.delay("%s-%d" % (pool, i)) for i in range(3)]
    p, log = h.tworker("-Q", queue, "--pool", pool, "-c", "2",
                       name="d-" + pool)
    h.wait_line("hold start", lambda x: x[1].startswith(pool), n=2)
    h.wait_for(lambda: sum(1 for jb in jobs if h.job(queue, jb.id).state
                           == "in flight") == 3, what="3 held")
    p.send_signal(signal.SIGTERM)
    # The one waiting for a slot goes back at once, without an error.
    started = {x[2] for x in h.lines("hold start")}
    left = [jb for jb in jobs if jb.id not in started]
    assert len(left) == 1
    jb = h.wait_state(queue, left[0].id, "queued", "waiting to retry")
    assert jb.attempts == 1 and all(f.error == "" for f in jb.failures), jb
    h.release()
    assert p.wait(timeout=30) == 0
    for jb in jobs:
        if jb.id in started:
            assert jb.result(timeout=30) == "%s-%d" % (pool, jobs.index(jb))
    os.unlink(os.path.join(h.dir, "release"))
    # Grace runs out: the running one is nacked, saying so.
    with h.client() as c:
        c.purge(queue)
    j = task.delay(pool + "-forever")
    p, log = h.tworker("-Q", queue, "--pool", pool, "--grace", "0.3",
                       env={"HOLD_FOREVER": "1"}, name="g-" + pool)
    st = h.wait_line("hold start", lambda x: x[2] == j.id)[0]
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    jb = h.wait_state(queue, j.id, "queued", "waiting to retry")
    err = E.decode_error(jb.failures[-1].error)
    assert err.type == "WorkerStopped" and "grace period" in err.message, err
    if pool == "process":
        h.wait_for(lambda: not alive(st[4]), what="the child killed")
    with h.client() as c:
        c.purge(queue)
    assert "its grace period ran out" in h.log_of(log)


def _drain_late(h):
    """An event delivered while the worker stops (to demand asked
    before: one task of -c 3 runs, 3 more asked) is kept, not run and
    not nacked (a nack would give it back to that same demand, an
    attempt a time), and goes back once, when the worker closes."""
    t = h.tapp
    j = t.hold.delay("late-0")
    p, log = h.tworker("-Q", "tq", "-c", "3", name="late")
    h.wait_line("hold start", lambda x: x[2] == j.id)
    def asked():
        with h.client() as c:
            return [k["demand"] for k in c.stats("tq").consumers] == [3]
    h.wait_for(asked, what="3 more asked for")
    p.send_signal(signal.SIGTERM)
    h.wait_for(lambda: "stopping:" in h.log_of(log), what="the stop")
    late = t.hold.delay("late-1")
    h.wait_for(lambda: h.job("tq", late.id).state == "in flight",
               what="the late one delivered")
    h.release()
    assert p.wait(timeout=30) == 0
    assert j.result(timeout=30) == "late-0"
    jb = h.wait_state("tq", late.id, "queued")
    assert jb.attempts == 1 and jb.failures == [], jb
    assert not [x for x in h.lines("hold start") if x[2] == late.id]
    assert "closing: 1 event delivered while stopping goes back" in \
        h.log_of(log)
    with h.client() as c:
        c.purge("tq")
    os.unlink(os.path.join(h.dir, "release"))


def case_tw_sigterm_drain(h):
    """SIGTERM with each pool: nothing more asked, the waiting event
    given back, the running tasks finish, exit 0; past --grace the
    running ones are nacked (the children killed); an event delivered
    meanwhile is kept and goes back once, at the close."""
    h.start_daemon()
    create(h, "tq", "aq")
    t = h.tapp
    _drain_late(h)
    _drain(h, "thread", "tq", t.hold)
    _drain(h, "process", "tq", t.hold)
    _drain(h, "asyncio", "aq", t.ahold)


def case_tw_auto_touch(h):
    """Tasks that run past the ack timeout keep their events, and so do
    the events waiting for a slot meanwhile: a child's and an asyncio
    task's."""
    h.start_daemon()
    create(h, "tq", "aq", ack_timeout=1)
    t = h.tapp
    jobs = [t.hold.delay("p1"), t.hold.delay("p2"), t.ahold.delay("a1"),
            t.ahold.delay("a2")]
    p1, _ = h.tworker("-Q", "tq", "--pool", "process", "-c", "1", name="p")
    p2, _ = h.tworker("-Q", "aq", "-c", "1", name="a")
    h.wait_line("hold start", n=2)
    h.wait_for(lambda: h.qstats("tq")["in_flight"] == 2 and
               h.qstats("aq")["in_flight"] == 2, what="1 running, 1 waiting")
    start = time.monotonic()
    # The thing under test is time itself: 3 ack timeouts go by.
    while time.monotonic() - start < 3:
        for q in ("tq", "aq"):
            assert h.qstats(q)["timed_out_total"] == 0, q
        time.sleep(0.1)
    h.release()
    for j, tag in zip(jobs, ("p1", "p2", "a1", "a2")):
        assert j.result(timeout=30) == tag
    assert all(x[3] == 1 for x in h.lines("hold start"))
    for q in ("tq", "aq"):
        st = h.qstats(q)
        assert st["timed_out_total"] == 0 and st["late_acks_total"] == 0, st
    assert h.stop(p1) == 0 and h.stop(p2) == 0


def case_tw_reconnects(h):
    """The daemon restarts under a worker of two queues: each connects
    again with backoff and goes on; a task enqueued meanwhile runs."""
    data = os.path.join(h.dir, "data")
    d = h.start_daemon("--data-dir", data)
    create(h, "tq", "aq")
    t = h.tapp
    p, log = h.tworker("-Q", "tq,aq", "-c", "2")
    assert t.add.delay(1, 2).result(timeout=30) == 3
    assert t.aadd.delay(3, 4).result(timeout=30) == 7
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=30) == 0
    h.procs.remove(d)
    h.wait_for(lambda: h.log_of(log).count("lost the daemon") == 2,
               what="both queues to see it")
    h.start_daemon("--data-dir", data)
    t.app.close()       # the app's client: a new connection
    j1, j2 = t.add.delay(5, 6), t.aadd.delay(7, 8)
    assert j1.result(timeout=30) == 11 and j2.result(timeout=30) == 15
    assert h.stop(p) == 0
    assert h.log_of(log).count("msg=consuming") == 4


# --- the test vectors ------------------------------------------------------

def case_tw_vectors(h):
    """tests/fixtures/tasks/vectors.json: each call enqueued as its exact
    payload bytes and headers runs with its args and kwargs; each
    payload a decoder must read too."""
    h.start_daemon()
    create(h, "tq")
    with open(os.path.join(HERE, "fixtures", "tasks", "vectors.json")) as f:
        vec = json.load(f)
    p, log = h.tworker("-Q", "tq", "--pool", "process", app="tapp:app")
    todo = []
    for v in vec["calls"]:
        hd = [(n, val) for n, val in v["headers"]]
        eid = raw(h, "tq", bytes.fromhex(v["payload_hex"]), hd)
        todo.append((eid, v["args_json"], v["kwargs_json"], v["task"]))
    for d in vec["decode"]:
        eid = raw(h, "tq", d["payload"].encode(), [("task", "echo")])
        todo.append((eid, d["args_json"], d["kwargs_json"], "echo"))
    app = h.tapp.app
    for eid, a, k, name in todo:
        got = ps.TaskJob(app, "tq", eid).result(timeout=30)
        assert got == {"args": json.loads(a), "kwargs": json.loads(k)}, \
            (name, got, a, k)
    names = [x[1] for x in h.lines("echo")]
    assert sorted(names) == sorted([v["task"] for v in vec["calls"]] +
                                   ["echo"] * len(vec["decode"])), names
    assert h.stop(p) == 0


def main():
    return run_case(globals(), Tw, "taskworker_cases.py")

if __name__ == "__main__":
    sys.exit(main())
