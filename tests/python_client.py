#!/usr/bin/env python3
"""python_client.py: the Python package pushstage (clients/python) against
a real producerd, and against fake daemons for what a real one never
sends.  Each case has its own daemon and directory (integration.py's
Harness) and stops every process it started.

usage: python_client.py CASE   (PRODUCERD names the daemon)
"""

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(HERE, "..", "clients", "python")
sys.path.insert(0, HERE)
sys.path.insert(0, PKG)

import pushstage as ps                       # noqa: E402
from pushstage import _core, _proto          # noqa: E402
from integration import CLIENT_ROLE, Harness, read_frame  # noqa: E402

HANDLERS = '''
import asyncio, json, os, time

def _line(ev, tag=""):
    with open(os.path.join(os.environ["OUT_DIR"], "out-%d" % os.getpid()),
              "a") as f:
        f.write("%d %d %s%s\\n" % (ev.id, ev.attempt, ev.data.decode(), tag))

def record(ev):
    _line(ev)

def boom(ev):
    _line(ev)
    raise ValueError("no good: %s" % ev.data.decode())

def hold(ev):
    """Runs until the file release exists (or, with HOLD_FOREVER, never)."""
    _line(ev, " start")
    release = os.path.join(os.environ["OUT_DIR"], "release")
    while not os.path.exists(release) or os.environ.get("HOLD_FOREVER"):
        time.sleep(0.01)
    _line(ev, " done")

async def arecord(ev):
    await asyncio.sleep(0)
    _line(ev)

async def ahold(ev):
    """hold, as a coroutine."""
    _line(ev, " start")
    release = os.path.join(os.environ["OUT_DIR"], "release")
    while not os.path.exists(release) or os.environ.get("HOLD_FOREVER"):
        await asyncio.sleep(0.01)
    _line(ev, " done")

async def aboom(ev):
    _line(ev)
    raise ValueError("no good: %s" % ev.data.decode())

def _ping(n):
    if n == 0:
        raise ValueError("deep down")
    _pong(n - 1)

def _pong(n):
    _ping(n)

def deepboom(ev):
    """A traceback of some 8 KB: frames that do not repeat."""
    _line(ev)
    _ping(60)

def _headers(ev):
    return "\\t" + json.dumps([[n, v.hex()] for n, v in ev.raw_headers]) + \\
        "\\t" + json.dumps(ev.headers)

def hrecord(ev):
    """record, with the event's headers: raw (hex) and decoded."""
    _line(ev, _headers(ev))

async def ahrecord(ev):
    await asyncio.sleep(0)
    _line(ev, _headers(ev))

async def aforever(ev):
    """Runs until its task is cancelled (data "quick": returns at once);
    says when it is, and whether its event says cancelled."""
    if ev.data == b"quick":
        _line(ev)
        return
    _line(ev, " start")
    try:
        while True:
            await asyncio.sleep(3600)
    except asyncio.CancelledError:
        _line(ev, " task cancelled, event.cancelled %s" % ev.cancelled)
        raise

# What answer returns for each event's data: its result (or why not).
ANSWERS = {"bytes": b"\\x00\\xff raw", "str": "h\\u00e9llo \\u2713",
           "json": {"n": [1, 2.5, None, True], "s": "\\u00e9"}, "none": None,
           "int": 42, "empty": b"", "at max": b"m" * 100,
           "over max": b"o" * 101, "nan": float("nan"), "object": object(),
           "surrogate": "\\ud800"}

def answer(ev):
    """Returns ANSWERS[data] (data "raise": raises)."""
    _line(ev)
    if ev.data == b"raise":
        raise RuntimeError("no answer")
    return ANSWERS[ev.data.decode()]

async def aanswer(ev):
    await asyncio.sleep(0)
    return answer(ev)

def watch(ev):
    """Runs until its event says cancelled, then returns (data "raise":
    raises, as a handler that gives up)."""
    _line(ev, " start")
    while not ev.cancelled:
        time.sleep(0.005)
    _line(ev, " saw cancelled")
    if ev.data == b"raise":
        raise RuntimeError("gave up: cancelled")
'''


class Py(Harness):
    """The Harness with Python workers and a client."""

    def __init__(self):
        super().__init__()
        with open(os.path.join(self.dir, "handlers.py"), "w") as f:
            f.write(HANDLERS)
        self.env = dict(os.environ, OUT_DIR=self.dir,
                        PYTHONPATH=PKG + os.pathsep + self.dir)

    def client(self, **kw):
        return ps.Client(self.sock, **kw)

    def worker(self, handler, *args, env=None, name="w"):
        log = os.path.join(self.dir, "%s.log" % name)
        f = open(log, "ab")
        p = subprocess.Popen([sys.executable, "-m", "pushstage.worker",
                              "handlers:" + handler, "--socket", self.sock]
                             + list(args), stdout=f, stderr=f,
                             env=dict(self.env, **(env or {})), cwd=self.dir)
        self.procs.append(p)
        return p, log

    def outputs(self):
        """(pid file, id, attempt, data, tag) of every handled line."""
        out = []
        for n in os.listdir(self.dir):
            if n.startswith("out-"):
                with open(os.path.join(self.dir, n)) as f:
                    for line in f:
                        if line.endswith("\n"):
                            i, a, rest = line[:-1].split(" ", 2)
                            out.append((n, int(i), int(a), rest))
        return out

    def qstats(self, queue):
        with self.client() as c:
            return c.stats(queue)


def expect(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s did not raise %s" % (fn, exc.__name__))


# --- the bytes, without a daemon ------------------------------------------

def case_py_proto(h):
    # protocol.md's exchange: the consumer's HELLO, DEMAND, ACK; the
    # client's HELLO and ENQUEUE, byte for byte.
    hx = bytes.fromhex
    assert _proto.hello(3, 1, b"w1", 2, 0, b"jobs") == hx(
        "00000014010000000003010000000002000000000277310" "46a6f6273")
    assert _proto.demand(2) == hx("000000040500000000000002")
    assert _proto.hello(3, 2) == hx("0000000e01000000000302000000000000000000"
                                    "0000")
    assert _proto.enqueue(3, b"jobs", [b"hi", b"", b"job 3"]) == hx(
        "0000001c030000000000000304" "6a6f6273000000026869000000000000"
        "00056a6f622033")
    assert _proto.ids(_proto.ACK, [1, 2]) == hx(
        "000000140a00000000000002" "0000000000000001" "0000000000000002")
    assert _proto.stats(3, b"jobs") == hx("00000005070000000" "46a6f6273")
    # Attributes: flags 1, each event's block between length and bytes.
    f = _proto.enqueue(3, b"q", [b"x"], [_proto.attrs(key=b"k", priority=7)])
    assert f[5] == 1 and f[8 + 6:] == hx("00000001" "0007" "01016b" "04020007"
                                         "78"), f.hex()
    # The doc's STATS_REPLY example.
    body = hx("000106717565756564000000000000000500000001027731010664656d616e"
              "6400000000000000010000")
    st = _core.stats_result(body, 3)
    assert st["queued"] == 5 and st.consumers[0].id == "w1" \
        and st.consumers[0]["demand"] == 1, st
    # Each consumer's queue, from the consumer_queue texts in their order.
    def text(n, v):
        return bytes([len(n)]) + n + struct.pack(">H", len(v)) + v
    body = (b"\0\0" + b"\0\0\0\2" + b"\2w1\0" + b"\2w2\0" + b"\0\3" +
            text(b"queue", b"jobs") + text(b"consumer_queue", b"jobs") +
            text(b"consumer_queue", b"jobs/g"))
    st = _core.stats_result(body, 3)
    assert [(k.id, k.queue) for k in st.consumers] == [
        ("w1", "jobs"), ("w2", "jobs/g")] and st.texts == {"queue": "jobs"}, st
    # The Reader: frames across reads, and a bad header.
    r = _proto.Reader()
    whole = _proto.frame(9, b"\x00\x10no queue") + _proto.frame(17, b"\0\0\0\3")
    r.feed(whole[:5])
    assert r.frames() == []
    r.feed(whole[5:18])
    assert r.frames() == [(9, b"\x00\x10no queue", 0)]
    r.feed(whole[18:])
    assert r.frames() == [(17, b"\0\0\0\3", 0)]
    r.feed(struct.pack(">IBBH", 1 << 30, 6, 0, 0))
    expect(ps.ProtocolError, r.frames)
    # Version 4: an EVENT's key in its attribute block; flags elsewhere
    # are a bad header.
    body = struct.pack(">QIH", 1, 1, 8) + bytes([1, 6]) + b"user-9" + b"hi"
    assert _proto.event_attrs(body, 12, len(body)) == (b"user-9", 22)
    expect(ps.ProtocolError, _proto.event_attrs, body[:20], 12, 20)
    r = _proto.Reader()
    r.feed(struct.pack(">IBBH", 0, 7, 1, 0))
    expect(ps.ProtocolError, r.frames)
    # The demand window, as protocol.md's examples: max 100, min 20 and a
    # delivery of 100 is chunks of 80 and 20; after 80 it asks 80.
    w = _core.Window(100, 20, True)
    assert w.out() == _proto.demand(100)
    w.delivery(list(range(1, 101)))
    for i in range(1, 80):
        w.done(i)
    assert w.out() == _proto.ids(_proto.ACK, list(range(1, 80)))
    w.done(80)
    assert w.out() == _proto.ids(_proto.ACK, [80]) + _proto.demand(80)
    w.delivery(list(range(101, 181)))
    for i in list(range(81, 101)) + list(range(101, 181)):
        w.done(i, "nack" if i in (90, 91) else "ack",
               500 if i == 91 else None)
    out = w.out()
    assert out.endswith(_proto.demand(100)), out[-12:].hex()
    assert _proto.nack_later(500, [91]) in out and \
        _proto.ids(_proto.NACK, [90]) in out
    expect(ValueError, w.done, 5)
    # max 1000, min 750, deliveries of 100: after the third it asks 300.
    w = _core.Window(1000, 750, True)
    w.out()
    for d in range(3):
        ids = list(range(d * 100, d * 100 + 100))
        w.delivery(ids)
        for i in ids:
            w.done(i)
        if d < 2:
            assert not w.out().endswith(_proto.demand(300))
    assert w.out().endswith(_proto.demand(300))
    # A touch goes before the ACK of the same event in one write.
    w = _core.Window(2, 0, True)
    w.out()
    w.delivery([7, 8])
    w.touch(7)
    w.done(7)
    w.done(8)
    assert w.out() == _proto.ids(_proto.TOUCH, [7]) + \
        _proto.ids(_proto.ACK, [7, 8]) + _proto.demand(2)
    # Names and values checked before anything is sent.
    expect(ValueError, _proto.queue_name, "bad name")
    expect(ValueError, _proto.queue_name, "a/b")
    assert _proto.queue_name("a/b", True) == b"a/b"
    expect(ValueError, _proto.attrs, priority=70000)
    expect(ValueError, _proto.attrs, delay_ms=1, not_before_ms=1)
    expect(ValueError, _core.enqueue_frame, 3, "q", [b"a", b"b"],
           unique_id="u")
    expect(ValueError, _core.enqueue_frame, 3, "q", [])
    expect(ps.Unsupported, _core.enqueue_frame, 2, "q", b"a")
    expect(ps.Unsupported, _core.enqueue_frame, 2, "default", b"a", key="k")


# --- every call against a real daemon -------------------------------------

def case_py_api(h):
    h.start_daemon()
    c = h.client()
    assert c.version == 5 and c.max_frame == 1 << 20
    # One event, a batch, attributes.
    assert c.enqueue("jobs", b"one") == 1
    ids = c.enqueue("jobs", ["two", b"three", ps.Message("four", key="k")])
    assert ids == [2, 3, 4] and ids.duplicates == [] and ids.shed_old == 0
    assert c.enqueue("jobs", "five", unique_id="u5") == 5
    assert c.enqueue("jobs", "five again", unique_id="u5") is None
    ids = c.enqueue("jobs", [ps.Message("six", unique_id="u5"),
                             ps.Message("seven", unique_id="u7")])
    assert list(ids) == [6] and ids.duplicates == [0], ids
    assert c.enqueue("later", "x", delay=3600) == 7
    assert c.enqueue("later", "y", not_before=time.time() + 3600) == 8
    st = c.stats("later")
    assert st["delayed"] == 2 and st["queued"] == 0 and \
        st.texts["queue"] == "later", st
    assert c.stats()["enqueued_total"] == 8
    names = [q.name for q in c.queues()]
    assert names == ["jobs", "later"], names
    assert c.queues()[0]["queued"] == 6
    # Priorities: smaller first.
    c.enqueue("prio", [ps.Message("low", priority=9),
                       ps.Message("high", priority=1)])
    with ps.Consumer("prio", id="p", max_demand=2, socket=h.sock) as con:
        got = [next(con), next(con)]
        assert [e.data for e in got] == [b"high", b"low"], got
        for e in got:
            assert e.ack()
    # A consumer: ack, nack (again at once, attempt 2), nack with delay,
    # touch.
    with ps.Consumer("jobs", id="py", max_demand=10, socket=h.sock) as con:
        assert con.acks and con.max_attempts == 5 and con.version == 5
        seen = {}
        keys = {}
        while len(seen) < 6:
            ev = con.get(timeout=10)
            assert ev is not None, seen
            if ev.data == b"two" and ev.attempt == 1:
                assert ev.touch()
                assert ev.nack()
                continue
            if ev.data == b"three" and ev.attempt == 1:
                assert ev.nack(delay=0.05)
                continue
            seen[ev.data] = ev.attempt
            keys[ev.data] = ev.key
            assert ev.ack()
            expect(ValueError, ev.ack)
        assert seen == {b"one": 1, b"two": 2, b"three": 2, b"four": 1,
                        b"five": 1, b"seven": 1}, seen
        assert keys[b"four"] == b"k" and keys[b"one"] is None, keys
        con.flush()
        h.wait_for(lambda: h.qstats("jobs")["acked_total"] == 6,
                   what="the acks")
    st = c.stats("jobs")
    assert st["nacked_total"] == 2 and st["in_flight"] == 0, st
    # Batches: at most a chunk of the window each (max 100, min 50 by
    # default), acked or nacked whole.
    c.enqueue("many", ["m%d" % i for i in range(300)])
    with ps.Consumer("many", id="m", max_demand=100, socket=h.sock) as con:
        seen = []
        b = con.batch(timeout=10)
        assert b and len(b) <= 50, len(b)
        assert con.nack(b)
        while len(seen) < 300:
            b = con.batch(timeout=10)
            assert b and len(b) <= 50, len(b)
            seen += [e.data for e in b]
            assert con.ack(b)
        expect(ValueError, con.ack, b)
        con.flush()
        h.wait_for(lambda: c.stats("many")["acked_total"] == 300,
                   what="300 acks")
    assert sorted(seen) == sorted(b"m%d" % i for i in range(300))
    assert c.stats("many")["nacked_total"] > 0
    # Groups: each gets its copy.
    c.create("fan")
    with ps.Consumer("fan", id="a", group="ga", socket=h.sock) as a, \
            ps.Consumer("fan", id="b", group="gb", socket=h.sock) as b:
        h.wait_for(lambda: c.stats("fan/ga")["consumers"] == 1 and
                   c.stats("fan/gb")["consumers"] == 1, what="the groups")
        c.enqueue("fan", "hello")
        ea, eb = next(a), next(b)
        assert ea.data == eb.data == b"hello"
        ea.ack()
        eb.ack()
    assert sorted(q.name for q in c.queues() if q.name.startswith("fan")) \
        == ["fan", "fan/ga", "fan/gb"]
    # The consumers' closes reach the daemon on their own connections.
    h.wait_for(lambda: c.stats("fan/gb")["consumers"] == 0, what="gb's consumer gone")
    assert c.drop_group("fan", "gb") == 0
    # Settings, QueueFull under reject.
    c.set("small", max_queue=2, overflow="reject")
    e = expect(ps.QueueFull, c.enqueue, "small", ["a", "b", "c", "d"])
    assert e.ids == [312, 313] and e.refused == 2, (e.ids, e.refused)
    assert c.stats("small")["rejected_total"] == 2
    # Pause: the event stays buffered though a consumer asks.
    c.pause("small")
    with ps.Consumer("small", id="s", max_demand=5, socket=h.sock) as con:
        h.wait_for(lambda: c.stats("small").consumers and
                   c.stats("small").consumers[0]["demand"] == 5,
                   what="the demand")
        st = c.stats("small")
        assert st["paused"] == 1 and st["queued"] == 2, st
        c.resume("small")
        got = [next(con), next(con)]
        assert [x.data for x in got] == [b"a", b"b"]
        for x in got:
            x.ack()
    c.pause("small", seconds=3600)
    assert c.stats("small")["paused"] == 1
    c.resume("small")
    # Dead letters: list, retry, drop.
    c.set("d", max_attempts=1)
    c.enqueue("d", ["x1", "x2", "x3"])
    with ps.Consumer("d", id="d", max_demand=3, socket=h.sock) as con:
        for _ in range(3):
            next(con).nack()
        con.flush()
        h.wait_for(lambda: len(c.dead("d")) == 3, what="3 dead letters")
    dl = c.dead("d", preview=1)
    assert dl.total == 3 and [x.preview for x in dl] == [b"x"] * 3 and \
        dl[0].reason == "nack" and dl[0].attempts == 1 and dl[0].length == 2
    # Plain NACKs say nothing: no last error (version 5's entry tail, 0).
    assert [x.error for x in dl] == [None] * 3, dl
    assert c.retry_dead("d", []) == 0
    assert c.retry_dead("d", [dl[0].id, 999999]) == 1
    assert c.drop_dead("d", [dl[1].id]) == 1
    assert c.drop_dead("d") == 1 and c.dead("d").total == 0
    assert c.stats("d")["queued"] == 1
    assert c.purge("d") == 1
    # Errors: a typed exception, and the next call connects again.
    e = expect(ps.Refused, c.stats, "nope")
    assert e.code == 16 and e.name == "NO_QUEUE" and "nope" in e.message
    assert not e.retry_later
    assert c.stats("jobs")["queued"] == 0
    e = expect(ps.Refused, c.set, "jobs", max_attempts=0)
    assert e.code == 5 and "max-attempts" in e.message, e
    expect(ValueError, c.enqueue, "bad name", "x")
    expect(ValueError, c.enqueue, "jobs", b"x" * (1 << 20))
    assert c.delete("later") == 0
    assert "later" not in [q.name for q in c.queues()]
    c.close()
    # A consumer named wrongly gets Refused.
    e = expect(ps.Refused, ps.Consumer, "jobs", id="x", socket=h.sock,
               partition=3)
    assert e.code == 5
    # The default socket rule.
    os.environ["PUSHSTAGE_SOCKET"] = h.sock
    try:
        assert ps.Client().stats()["queues"] >= 1
    finally:
        del os.environ["PUSHSTAGE_SOCKET"]


# --- workers --------------------------------------------------------------

def case_py_workers_exactly_once(h):
    """10,000 events through 4 worker processes, each exactly once."""
    h.start_daemon()
    c = h.client()
    for i in range(4):
        h.worker("record", "--queue", "jobs", "-c", "2", name="w%d" % i)
    h.wait_for(lambda: "jobs" in [q.name for q in c.queues()] and
               c.stats("jobs")["consumers"] == 4, what="4 workers")
    for b in range(0, 10000, 500):
        c.enqueue("jobs", ["e%d" % i for i in range(b, b + 500)])
    h.wait_for(lambda: c.stats("jobs")["acked_total"] == 10000, timeout=90,
               what="10,000 acks")
    out = h.outputs()
    data = sorted(int(d[1:]) for _, _, _, d in out)
    assert data == list(range(10000)), (len(data), len(set(data)))
    per = {}
    for f, _, a, _ in out:
        assert a == 1
        per[f] = per.get(f, 0) + 1
    assert len(per) == 4, per      # every worker took some
    st = c.stats("jobs")
    assert st["in_flight"] == 0 and st["queued"] == 0 and \
        st["redelivered_total"] == 0, st


def case_py_handler_raises_goes_dead(h):
    h.start_daemon()
    c = h.client()
    c.set("jobs", max_attempts=3)
    p, log = h.worker("boom", "--queue", "jobs", "--backoff", "0.01:0.05")
    c.enqueue("jobs", "bad job")
    h.wait_for(lambda: c.dead("jobs").total == 1, what="the dead letter")
    d = c.dead("jobs")[0]
    assert d.attempts == 3 and d.reason == "nack" and d.preview == b"bad job"
    assert [a for _, _, a, _ in sorted(h.outputs(), key=lambda o: o[2])] \
        == [1, 2, 3]
    lines = [ln for ln in open(log) if "handler failed" in ln]
    assert len(lines) == 3, lines
    for ln in lines:
        assert 'error="ValueError: no good: bad job"' in ln and \
            "traceback=" in ln and "handlers.py:" in ln, ln
    assert "again in" in lines[0] and "dead letters" in lines[2], lines
    assert c.stats("jobs")["retries_scheduled_total"] == 2


def case_py_kill9_mid_event(h):
    """A worker killed mid-event: another finishes the event, attempt 2;
    nothing was acked for the dead one."""
    h.start_daemon()
    c = h.client()
    a, _ = h.worker("hold", "--queue", "jobs", name="a",
                    env={"HOLD_FOREVER": "1"})
    c.enqueue("jobs", "job")
    h.wait_for(lambda: any(t.endswith("start") for _, _, _, t in
                           h.outputs()), what="the handler to start")
    assert c.stats("jobs")["in_flight"] == 1
    a.kill()
    a.wait()
    open(os.path.join(h.dir, "release"), "w").close()
    h.worker("hold", "--queue", "jobs", name="b")
    h.wait_for(lambda: c.stats("jobs")["acked_total"] == 1, what="the ack")
    lines = sorted((a, t) for _, _, a, t in h.outputs())
    assert lines == [(1, "job start"), (2, "job done"), (2, "job start")], \
        lines
    assert c.stats("jobs")["in_flight"] == 0


def case_py_sigterm_drain(h):
    h.start_daemon()
    c = h.client()
    p, log = h.worker("hold", "--queue", "jobs", name="a")
    c.enqueue("jobs", "first")
    h.wait_for(lambda: len(h.outputs()) == 1, what="the handler to start")
    p.send_signal(signal.SIGTERM)
    h.wait_for(lambda: "stopping" in open(log).read(), what="the drain")
    # It asks for nothing more: the next event stays in the buffer.
    c.enqueue("jobs", "second")
    st = c.stats("jobs")
    assert st["queued"] == 1 and st["in_flight"] == 1 and \
        st.consumers[0]["demand"] == 0, st
    open(os.path.join(h.dir, "release"), "w").close()
    assert p.wait(timeout=30) == 0
    st = c.stats("jobs")
    assert st["acked_total"] == 1 and st["queued"] == 1 and \
        st["consumers"] == 0, st
    assert sorted(t for _, _, _, t in h.outputs()) == \
        ["first done", "first start"]
    # Past its grace period the rest is nacked and it still exits 0.
    os.unlink(os.path.join(h.dir, "release"))
    q, log = h.worker("hold", "--queue", "jobs", "--grace", "0.2",
                      name="b", env={"HOLD_FOREVER": "1"})
    h.wait_for(lambda: any(t == "second start" for _, _, _, t in
                           h.outputs()), what="the second handler")
    q.send_signal(signal.SIGTERM)
    assert q.wait(timeout=30) == 0
    text = open(log).read()
    assert "nacked 1 event still running" in text, text
    st = c.stats("jobs")
    assert st["nacked_total"] == 1 and st["queued"] == 1 and \
        st["in_flight"] == 0, st


def case_py_async_worker_drain_and_fail(h):
    """The asyncio worker: a failing handler to the dead letters, the
    drain on SIGTERM, and past its grace the rest nacked."""
    h.start_daemon()
    c = h.client()
    c.set("bad", max_attempts=2)
    h.worker("aboom", "--queue", "bad", "--backoff", "0:0", name="ab")
    c.enqueue("bad", "x")
    h.wait_for(lambda: c.dead("bad").total == 1, what="the dead letter")
    assert "traceback=" in open(os.path.join(h.dir, "ab.log")).read()
    p, log = h.worker("ahold", "--queue", "jobs", name="a")
    c.enqueue("jobs", "first")
    h.wait_for(lambda: any(t == "first start" for _, _, _, t in
                           h.outputs()), what="the handler to start")
    p.send_signal(signal.SIGTERM)
    h.wait_for(lambda: "stopping" in open(log).read(), what="the drain")
    c.enqueue("jobs", "second")
    st = c.stats("jobs")
    assert st["queued"] == 1 and st["in_flight"] == 1, st
    open(os.path.join(h.dir, "release"), "w").close()
    assert p.wait(timeout=30) == 0
    st = c.stats("jobs")
    assert st["acked_total"] == 1 and st["queued"] == 1, st
    os.unlink(os.path.join(h.dir, "release"))
    q, log = h.worker("ahold", "--queue", "jobs", "--grace", "0.2",
                      name="b", env={"HOLD_FOREVER": "1"})
    h.wait_for(lambda: any(t == "second start" for _, _, _, t in
                           h.outputs()), what="the second handler")
    q.send_signal(signal.SIGTERM)
    assert q.wait(timeout=30) == 0
    assert "nacked 1 event still running" in open(log).read()
    st = c.stats("jobs")
    assert st["nacked_total"] == 1 and st["queued"] == 1 and \
        st["in_flight"] == 0, st


def case_py_auto_touch(h):
    """A handler that runs past the ack timeout keeps its event: a
    thread's and a task's."""
    h.start_daemon()
    c = h.client()
    for q, handler in (("jobs", "hold"), ("ajobs", "ahold")):
        c.set(q, ack_timeout=2)
        h.worker(handler, "--queue", q, name=q)
        c.enqueue(q, "slow " + q)
    h.wait_for(lambda: len(h.outputs()) == 2, what="the handlers to start")
    start = time.monotonic()
    # The thing under test is time itself: 2.5 ack timeouts go by.
    while time.monotonic() - start < 5:
        for q in ("jobs", "ajobs"):
            assert c.stats(q)["timed_out_total"] == 0, q
        time.sleep(0.1)
    open(os.path.join(h.dir, "release"), "w").close()
    for q in ("jobs", "ajobs"):
        h.wait_for(lambda: c.stats(q)["acked_total"] == 1, what="the ack")
        st = c.stats(q)
        assert st["timed_out_total"] == 0 and st["late_acks_total"] == 0, st
    assert sorted(t for _, _, _, t in h.outputs()) == [
        "slow ajobs done", "slow ajobs start", "slow jobs done",
        "slow jobs start"]


def case_py_worker_reconnects(h):
    """The daemon restarts under a worker: it connects again with backoff
    and goes on; events kept by the journal are handled."""
    data = os.path.join(h.dir, "data")
    d = h.start_daemon("--data-dir", data)
    c = h.client()
    p, log = h.worker("record", "--queue", "jobs")
    c.enqueue("jobs", "before")
    h.wait_for(lambda: c.stats("jobs")["acked_total"] == 1, what="the ack")
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=30) == 0
    h.procs.remove(d)
    h.wait_for(lambda: "lost the daemon" in open(log).read(),
               what="the worker to see it")
    h.start_daemon("--data-dir", data)
    c.close()
    c.enqueue("jobs", "after")
    h.wait_for(lambda: c.stats("jobs")["acked_total"] == 1, timeout=30,
               what="the ack after the restart")
    assert sorted(t for _, _, _, t in h.outputs()) == ["after", "before"]
    assert p.poll() is None


# --- asyncio ---------------------------------------------------------------

def case_py_asyncio(h):
    h.start_daemon()

    async def run():
        c = ps.AsyncClient(h.sock)
        assert await c.version() == 5
        ids = await c.enqueue("jobs", ["e%d" % i for i in range(1000)])
        assert ids == list(range(1, 1001))
        assert (await c.stats("jobs"))["queued"] == 1000
        seen = []
        async with ps.AsyncConsumer("jobs", id="a", max_demand=64,
                                    min_demand=16, socket=h.sock) as con:
            async for ev in con:
                if ev.data == b"e7" and ev.attempt == 1:
                    assert await ev.nack()
                    continue
                seen.append(ev.data)
                assert await ev.ack()
                if len(seen) == 1000:
                    break
        assert sorted(seen) == sorted(b"e%d" % i for i in range(1000))
        await c.enqueue("ab", ["b%d" % i for i in range(100)])
        got = 0
        async with ps.AsyncConsumer("ab", id="ab", max_demand=20,
                                    socket=h.sock) as con:
            while got < 100:
                b = await con.batch(timeout=10)
                assert b and len(b) <= 10, len(b)
                got += len(b)
                assert await con.ack(b)
            await con.flush()
        await c.set("d", max_attempts=1)
        await c.enqueue("d", "x")
        async with ps.AsyncConsumer("d", id="d", socket=h.sock) as con:
            ev = await con.get(timeout=10)
            await ev.nack()
            await con.flush()
        for _ in range(500):
            if (await c.dead("d")).total:
                break
            await asyncio.sleep(0.02)
        assert await c.retry_dead("d") == 1
        assert [q.name for q in await c.queues()] == ["jobs", "ab", "d"]
        e = None
        try:
            await c.stats("nope")
        except ps.Refused as x:
            e = x
        assert e is not None and e.code == 16
        assert (await c.stats("jobs"))["acked_total"] == 1000
        await c.close()
    asyncio.run(run())

    # An async def handler: the worker runs it as tasks.
    c = h.client()
    for i in range(2):
        h.worker("arecord", "--queue", "aw", "-c", "8", name="aw%d" % i)
    h.wait_for(lambda: "aw" in [q.name for q in c.queues()] and
               c.stats("aw")["consumers"] == 2, what="2 async workers")
    c.enqueue("aw", ["a%d" % i for i in range(2000)])
    h.wait_for(lambda: c.stats("aw")["acked_total"] == 2000, timeout=60,
               what="2,000 acks")
    data = sorted(d for _, _, _, d in h.outputs())
    assert data == sorted("a%d" % i for i in range(2000)), len(data)


# --- versions and bad input, with fake daemons -----------------------------

class Fake:
    """A fake daemon on a Unix socket: script(conn) in a thread for each
    connection."""

    def __init__(self, path, script):
        self.path = path
        self.script = script
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(8)
        self.srv.settimeout(20)
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(conn,),
                             daemon=True).start()

    def one(self, conn):
        with conn:
            try:
                self.script(conn)
            except OSError:
                pass

    def close(self):
        self.srv.close()


def welcome(version):
    return _proto.frame(2, struct.pack(">HHIIHBB", version, 0, 1 << 20, 0, 5,
                                       1, 0))


def case_py_versions(h):
    h.start_daemon()
    assert ps.Client(h.sock).version == 5
    # A daemon of version 3 (the last without keys on EVENTs): the client
    # speaks 3 with it, and its events have no key.
    def v3(conn):
        t, body = read_frame(conn)
        if struct.unpack(">H", body[:2])[0] != 3:
            conn.sendall(_proto.frame(9, struct.pack(">H", 7) +
                         b"protocol version 5 is not supported; this daemon "
                         b"speaks versions 1 to 3"))
            return
        conn.sendall(welcome(3))
        read_frame(conn)                     # DEMAND
        conn.sendall(_proto.frame(6, struct.pack(">QI", 5, 1) + b"e"))
        read_frame(conn)
    path = os.path.join(h.dir, "v3.sock")
    f = Fake(path, v3)
    con = ps.Consumer("jobs", id="w", socket=path)
    ev = next(con)
    assert con.version == 3 and ev.key is None and ev.data == b"e", ev
    con.close()
    f.close()
    # A daemon of version 2 only: the client falls back, and what needs
    # version 3 is refused before it is sent.
    asked = []

    def v2(conn):
        t, body = read_frame(conn)
        v = struct.unpack(">H", body[:2])[0]
        asked.append(v)
        if v != 2:
            conn.sendall(_proto.frame(9, struct.pack(">H", 7) +
                         b"protocol version 3 is not supported; this daemon "
                         b"speaks versions 1 to 2"))
            return
        conn.sendall(welcome(2))
        while True:
            t, body = read_frame(conn)
            if t is None:
                return
            assert t == 3 and body[:4] == b"\0\0\0\1", body
            conn.sendall(_proto.frame(4, struct.pack(">QIIII", 41, 1, 0, 0,
                                                     0)))
    path = os.path.join(h.dir, "v2.sock")
    f = Fake(path, v2)
    c = ps.Client(path)
    assert c.version == 2 and asked == [5, 2], asked
    assert c.enqueue("default", "x") == 41
    expect(ps.Unsupported, c.enqueue, "jobs", "x")
    expect(ps.Unsupported, c.enqueue, "default", "x", key="k")
    expect(ps.Unsupported, c.queues)
    e = expect(ps.Unsupported, ps.Consumer, "jobs", id="w", socket=path)
    assert "version 2" in str(e), e
    c.close()
    f.close()

    # A daemon of versions this client does not speak.
    def v9(conn):
        read_frame(conn)
        conn.sendall(_proto.frame(9, struct.pack(">H", 7) +
                     b"protocol version 3 is not supported; this daemon "
                     b"speaks versions 9 to 9"))
    path = os.path.join(h.dir, "v9.sock")
    f = Fake(path, v9)
    e = expect(ps.Unsupported, lambda: ps.Client(path).version)
    assert "2 to 5" in str(e) and "9 to 9" in str(e), e
    f.close()


def case_py_bad_input(h):
    # A frame cut short, then the close.
    def cut(conn):
        read_frame(conn)
        conn.sendall(welcome(5)[:11])
    path = os.path.join(h.dir, "cut.sock")
    f = Fake(path, cut)
    e = expect(ps.DaemonGone, lambda: ps.Client(path).version)
    assert "middle of a frame (11 bytes" in str(e), e
    f.close()

    # A header with a length over the limit.
    def huge(conn):
        read_frame(conn)
        conn.sendall(welcome(5))
        read_frame(conn)
        conn.sendall(struct.pack(">IBBH", 1 << 30, 4, 0, 0))
        read_frame(conn)
    path = os.path.join(h.dir, "huge.sock")
    f = Fake(path, huge)
    e = expect(ps.ProtocolError, ps.Client(path).enqueue, "q", "x")
    assert "over the limit" in str(e), e
    f.close()

    # A daemon that never answers, with a timeout: no hang.
    def mute(conn):
        read_frame(conn)
        read_frame(conn)
    path = os.path.join(h.dir, "mute.sock")
    f = Fake(path, mute)
    t0 = time.monotonic()
    e = expect(ps.DaemonGone, lambda: ps.Client(path, timeout=0.3).version)
    assert "no answer" in str(e) and time.monotonic() - t0 < 10, e
    f.close()

    # An ENQUEUED that does not add up.
    def wrong(conn):
        read_frame(conn)
        conn.sendall(welcome(5))
        read_frame(conn)
        conn.sendall(_proto.frame(4, struct.pack(">QIIII", 1, 5, 0, 0, 0)))
        read_frame(conn)
    path = os.path.join(h.dir, "wrong.sock")
    f = Fake(path, wrong)
    expect(ps.ProtocolError, ps.Client(path).enqueue, "q", ["a", "b"])
    f.close()

    # No daemon at all; then the real one going away under a client and a
    # consumer.
    e = expect(ps.DaemonGone, lambda: ps.Client(h.sock).version)
    assert h.sock in str(e) and "is producerd running" in str(e), e
    d = h.start_daemon()
    c = h.client()
    con = ps.Consumer("jobs", id="c", socket=h.sock)
    c.enqueue("jobs", "x")
    ev = next(con)
    d.kill()
    d.wait()
    h.procs.remove(d)
    expect(ps.DaemonGone, c.stats)
    expect(ps.DaemonGone, con.get, 10)
    assert ev.ack() is False   # never acked on another connection
    # The daemon back: the same Client connects again.
    h.start_daemon()
    assert c.enqueue("jobs", "y") == 1
    # An ERROR closes only that connection; the client goes on.
    e = expect(ps.Refused, c.drop_group, "jobs", "nope")
    assert e.code == 16, e
    assert c.stats("jobs")["queued"] == 1


def case_py_install(h):
    """pip installs the package offline; the copy imports and works."""
    target = os.path.join(h.dir, "site")
    # From a copy: a build leaves build/ and *.egg-info where it runs.
    src = os.path.join(h.dir, "src")
    shutil.copytree(PKG, src, ignore=shutil.ignore_patterns(
        "__pycache__", "build", "*.egg-info"))
    # Debian's python3, for which scripts/deps.sh installs pip,
    # setuptools and wheel; else this one.
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
        else sys.executable
    r = subprocess.run([py, "-m", "pip", "install", "-q",
                        "--root-user-action=ignore", "--no-build-isolation",
                        "--no-index", "--target", target, src],
                       capture_output=True, text=True, cwd=h.dir,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(os.path.join(target, "pushstage", "py.typed"))
    h.start_daemon()
    r = subprocess.run([py, "-c",
                        "import pushstage, sys; "
                        "print(pushstage.__file__); "
                        "print(pushstage.Client(sys.argv[1]).enqueue('q', 'x'))",
                        h.sock], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=target), cwd=h.dir)
    assert r.returncode == 0, r.stderr
    where, eid = r.stdout.split()
    assert where.startswith(target) and eid == "1", r.stdout
    r = subprocess.run([py, "-m", "pushstage.worker", "--help"],
                       capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=target))
    assert r.returncode == 0 and "--concurrency" in r.stdout, r.stderr


# --- what an event may be, types, version, install --------------------------

def case_py_event_types(h):
    """Only bytes and str (or Messages of them) are events: a mapping, a
    number or a batch holding one raises TypeError, naming what an event
    may be, before anything is sent; in the sync and asyncio clients."""
    h.start_daemon()
    c = h.client()
    bad = [{"a": 1, "b": 2}, 5, 2.5, None, ["a", 3], [b"x", {"k": "v"}],
           [None], [object()]]
    for events in bad:
        e = expect(TypeError, c.enqueue, "jobs", events)
        assert "bytes or str" in str(e), (events, e)
    for data in ({"a": 1}, 7, None, ["a"]):
        e = expect(TypeError, ps.Message, data)
        assert "bytes or str" in str(e), (data, e)

    async def aio():
        ac = ps.AsyncClient(h.sock)
        for events in bad:
            try:
                await ac.enqueue("jobs", events)
            except TypeError as e:
                assert "bytes or str" in str(e), (events, e)
            else:
                raise AssertionError("AsyncClient took %r" % (events,))
        r = await ac.enqueue("jobs", (x for x in [b"g1", "g2"]))
        await ac.close()
        return r
    st = c.stats()
    assert st["enqueued_total"] == 0, st.counters
    # What is an event still goes: bytes-likes, str, Messages, iterables.
    assert c.enqueue("jobs", bytearray(b"ba")) == 1
    assert c.enqueue("jobs", memoryview(b"mv")) == 2
    assert c.enqueue("jobs", ["s", b"b", ps.Message("m")]) == [3, 4, 5]
    assert asyncio.run(aio()) == [6, 7]
    con = ps.Consumer("jobs", id="c", socket=h.sock, max_demand=10)
    got = [next(con).data for _ in range(7)]
    assert got == [b"ba", b"mv", b"s", b"b", b"m", b"g1", b"g2"], got
    con.close()


# --- headers (protocol version 5) -----------------------------------------

def spec_event(body, flags):
    """An EVENT body read as protocol.md lays out version 5, apart from
    the package: (id, attempt, key, [(name, value bytes)], payload)."""
    i, a = struct.unpack(">QI", body[:12])
    key, hdrs, at = None, [], 12
    if flags & 1:
        (alen,) = struct.unpack(">H", body[12:14])
        block, at = body[14:14 + alen], 14 + alen
        p = 0
        while p < len(block):
            tag = block[p]
            if tag >= 128:
                (n,) = struct.unpack(">H", block[p + 1:p + 3])
                v, p = block[p + 3:p + 3 + n], p + 3 + n
            else:
                n = block[p + 1]
                v, p = block[p + 2:p + 2 + n], p + 2 + n
            if tag == 1:
                assert not hdrs, "a KEY after a HEADER: %r" % block
                key = v
            elif tag == 128:
                hdrs.append((v[1:1 + v[0]].decode(), v[1 + v[0]:]))
        assert p == len(block), block
    return i, a, key, hdrs, body[at:]


def read_flagged(conn):
    """The next frame as (type, flags, body), or (None, None, None)."""
    head = b""
    while len(head) < 8:
        b = conn.recv(8 - len(head))
        if not b:
            return None, None, None
        head += b
    n, t, flags, _ = struct.unpack(">IBBH", head)
    body = b""
    while len(body) < n:
        b = conn.recv(n - len(body))
        assert b, "a frame cut short"
        body += b
    return t, flags, body


def raw_peer(path, role, version=5, name=b"", queue=b"", max_demand=0):
    """A peer speaking the protocol byte by byte, past its WELCOME."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(_proto.frame(1, struct.pack(">HBBIIB", version, role, 0,
                                          max_demand, 0, len(name)) + name +
                           bytes([len(queue)]) + queue))
    t, _, body = read_flagged(s)
    assert t == 2 and struct.unpack(">H", body[:2])[0] == version, (t, body)
    return s


def raw_header(name, value):
    """One HEADER attribute, unchecked: tag 128, u16 length, name_len,
    name, value."""
    return bytes([128]) + struct.pack(">H", 1 + len(name) + len(value)) + \
        bytes([len(name)]) + name + value


# What case_py_headers enqueues: (data, key, [(name, value bytes)]) as it
# must come out, in id order.
PAIRS = [("z-last", "first"), ("a.first", b"\xff\x00raw"), ("m_mid", "é ✓"),
         ("empty", "")]
COMMON = {"task": "resize", "content-type": "application/json"}


def _biggest():
    """16 headers of 4096 bytes of names and values, one a name of 64
    bytes, one a value of 1024: every limit, just."""
    big = [("v", b"\x01" * 1024), ("n" * 64, b"")]
    rest = 4096 - (1 + 1024) - 64 - 14 * 3
    for i in range(14):
        n = rest // 14 + (1 if i < rest % 14 else 0)
        big.append(("h%02d" % i, bytes([65 + i]) * n))
    assert len(big) == 16 and sum(len(n) + len(v) for n, v in big) == 4096
    return big


def _enqueue_set(c, queue):
    """Events with headers every way: pairs with a key and a priority,
    the call's headers on a batch, a Message's own after them and
    replacing one, none, and every limit.  The expected events."""
    b = lambda v: v.encode() if isinstance(v, str) else v  # noqa: E731
    big = _biggest()
    r = [c.enqueue(queue, b"one", key="k1", priority=3, headers=PAIRS),
         c.enqueue(queue, ["two", ps.Message("three", headers={
             "task": "own", "x": b"1"}), ps.Message("four", key="k4")],
                   headers=COMMON),
         c.enqueue(queue, "five"),
         c.enqueue(queue, "six", headers=big)]
    common = [(n, b(v)) for n, v in COMMON.items()]
    want = [(b"one", b"k1", [(n, b(v)) for n, v in PAIRS]),
            (b"two", None, common),
            (b"three", None, [("content-type", b"application/json"),
                              ("task", b"own"), ("x", b"1")]),
            (b"four", b"k4", common),
            (b"five", None, []),
            (b"six", None, big)]
    return r, want


def case_py_headers_proto(h):
    """The bytes of headers, without a daemon: protocol.md's ENQUEUE
    example built, its EVENT example read; unknown long and short tags
    skipped; a HEADER that runs past its length refused."""
    hx = bytes.fromhex
    f, n, single = _core.enqueue_frame(5, "q", "hi", headers={
        "task": "resize", "n": "1"})
    assert f == hx("00000022030100000000000101710000000200148000"
                   "0b047461736b726573697a658000" "03016e316869"), f.hex()
    assert (n, single) == (1, True)
    # The same as pairs, and the same after the other attributes.
    assert _core.enqueue_frame(5, "q", "hi", headers=[(b"task", b"resize"),
                                                      ("n", b"1")])[0] == f
    f = _core.enqueue_frame(5, "q", "hi", key="k", priority=7,
                            headers={"t": "v"})[0]
    blk = hx("01016b" "04020007") + raw_header(b"t", b"v")
    assert f[8 + 6 + 4:] == struct.pack(">H", len(blk)) + blk + b"hi", \
        f.hex()
    # protocol.md's EVENT: id 7, attempt 1, key k, task: resize, "hi".
    ev = hx("0000002106010000" "0000000000000007" "00000001" "0011" "01016b"
            "80000b047461736b726573697a65" "6869")
    r = _proto.Reader()
    r.feed(ev)
    (t, body, flags), = r.frames()
    assert (t, flags) == (6, 1)
    assert _proto.event_block(body, 12, len(body), 5) == (
        b"k", [("task", b"resize")], len(body) - 2)
    assert spec_event(body, flags) == (7, 1, b"k", [("task", b"resize")],
                                       b"hi")
    # Unknown tags: a long one (200, u16 length) and a short one (9).
    block = bytes([200]) + struct.pack(">H", 300) + b"x" * 300 + \
        bytes([9, 2]) + b"yy" + raw_header(b"a", b"\xff") + \
        raw_header(b"b", b"")
    body = struct.pack(">QIH", 1, 1, len(block)) + block + b"data"
    assert _proto.event_block(body, 12, len(body), 5) == (
        None, [("a", b"\xff"), ("b", b"")], len(body) - 4)
    # A HEADER whose name runs past its length, or past the block.
    for bad in (bytes([128, 0, 2, 5]) + b"ab", bytes([128, 0, 9, 1]) + b"a",
                bytes([128, 0, 0]), bytes([128, 0])):
        body = struct.pack(">QIH", 1, 1, len(bad)) + bad + b"data"
        expect(ps.ProtocolError, _proto.event_block, body, 12, len(body), 5)
    # Headers need version 5: from an older daemon, Unsupported before
    # any frame; the rules first.
    for v in (4, 3, 2):
        e = expect(ps.Unsupported, _core.enqueue_frame, v, "default", "x",
                   headers={"task": "t"})
        assert "headers need protocol version 5" in str(e) and \
            "version %d" % v in str(e), e
        e = expect(ps.Unsupported, _core.enqueue_frame, v, "default",
                   [ps.Message("x", headers={"a": "b"})])
        assert "version 5" in str(e), e
        expect(ValueError, _core.enqueue_frame, v, "default", "x",
               headers={"Bad": "x"})
        # No headers, or none at all in an empty mapping: as before.
        _core.enqueue_frame(v, "default", "x", headers={})
        _core.enqueue_frame(v, "default", [ps.Message("x", headers=[])])
    # A Message's headers from an iterator outlive one enqueue.
    m = ps.Message("x", headers=iter([("a", "1")]))
    assert _core.enqueue_frame(5, "q", m)[0] == \
        _core.enqueue_frame(5, "q", m)[0] == \
        _core.enqueue_frame(5, "q", "x", headers={"a": "1"})[0]
    # An Event's views of them.
    e = ps.Event(1, 1, b"d", None, None, [("a", b"\xff"), ("b", b"2")])
    assert e.headers == {"a": "\ufffd", "b": "2"}
    raw = e.raw_headers
    raw.clear()
    assert e.raw_headers == [("a", b"\xff"), ("b", b"2")]
    e = ps.Event(1, 1, b"d", None)
    assert e.headers == {} and e.raw_headers == []


def case_py_headers(h):
    """Headers from Client.enqueue (and AsyncClient's) to a raw version 5
    consumer byte for byte, to Consumer and AsyncConsumer as
    Event.headers and raw_headers, and back into an enqueue."""
    h.start_daemon()
    c = h.client()
    assert c.version == 5
    r, want = _enqueue_set(c, "raw")
    assert r == [1, [2, 3, 4], 5, 6], r
    # protocol.md's EVENT example, id 7 and all, to the byte.
    assert c.enqueue("doc", "hi", key="k", headers={"task": "resize"}) == 7
    s = raw_peer(h.sock, 1, name=b"d", queue=b"doc", max_demand=1)
    s.sendall(_proto.demand(1))
    t, flags, body = read_flagged(s)
    assert _proto.frame(t, body, flags) == bytes.fromhex(
        "00000021060100000000000000000007000000010011010" "16b80000b0474"
        "61736b726573697a656869"), body.hex()
    s.close()
    # A raw version 5 consumer: each event's key first, then its headers
    # in the order given, the bytes as enqueued.
    s = raw_peer(h.sock, 1, name=b"raw", queue=b"raw", max_demand=6)
    s.sendall(_proto.demand(6))
    got = []
    for _ in range(6):
        t, flags, body = read_flagged(s)
        assert t == 6, (t, body)
        got.append((flags,) + spec_event(body, flags))
    s.close()
    assert [g[1] for g in got] == [1, 2, 3, 4, 5, 6], got
    assert [(p, k, hd) for _, _, _, k, hd, p in got] == want, got
    assert [g[0] for g in got] == [1, 1, 1, 1, 0, 1], got
    # Consumer: Event.raw_headers exact, Event.headers decoded.
    _enqueue_set(c, "py")
    with ps.Consumer("py", id="py", max_demand=6, socket=h.sock) as con:
        evs = [next(con) for _ in range(6)]
        for ev, (data, key, hd) in zip(evs, want):
            assert (ev.data, ev.key, ev.raw_headers) == (data, key, hd), ev
            assert ev.headers == {n: v.decode(errors="replace")
                                  for n, v in hd}, ev
            assert ev.ack()
    assert evs[0].headers == {"z-last": "first", "a.first": "\ufffd\x00raw",
                              "m_mid": "é ✓", "empty": ""}, evs[0].headers
    assert list(evs[0].headers) == ["z-last", "a.first", "m_mid", "empty"]
    assert evs[4].headers == {} and evs[4].raw_headers == []
    assert "headers={'task': 'resize'" in repr(evs[1]), repr(evs[1])
    # An event's raw_headers enqueued again come out the same.
    assert c.enqueue("again", evs[5].data, headers=evs[5].raw_headers) == 14
    assert c.enqueue("again", [ps.Message(evs[0].data,
                                          headers=evs[0].raw_headers)]) \
        == [15]
    with ps.Consumer("again", id="a", max_demand=2, socket=h.sock) as con:
        a, b = next(con), next(con)
        assert a.raw_headers == want[5][2] and b.raw_headers == want[0][2]
        con.ack([a, b])

    # AsyncClient and AsyncConsumer.
    async def run():
        ac = ps.AsyncClient(h.sock)
        assert await ac.version() == 5
        assert await ac.enqueue("apy", "a1", headers=PAIRS, key="k") == 16
        assert await ac.enqueue("apy", [ps.Message("a2", headers={
            "x": "y"}), "a3"], headers={"task": b"t"}) == [17, 18]
        await ac.close()
        out = []
        async with ps.AsyncConsumer("apy", id="a", max_demand=3,
                                    socket=h.sock) as con:
            for _ in range(3):
                ev = await con.get(timeout=10)
                assert ev is not None
                out.append((ev.data, ev.key, ev.raw_headers, ev.headers))
                await ev.ack()
        return out
    assert asyncio.run(run()) == [
        (b"a1", b"k", want[0][2], evs[0].headers),
        (b"a2", None, [("task", b"t"), ("x", b"y")], {"task": "t", "x": "y"}),
        (b"a3", None, [("task", b"t")], {"task": "t"})]
    st = c.stats()
    assert st["enqueued_total"] == 18, st.counters


def case_py_headers_worker(h):
    """The worker hands its handlers events with their headers, in
    threads and as asyncio tasks."""
    h.start_daemon()
    c = h.client()
    h.worker("hrecord", "--queue", "wt", name="wt")
    h.worker("ahrecord", "--queue", "wa", name="wa")
    h.wait_for(lambda: {q.name for q in c.queues()} >= {"wt", "wa"} and
               c.stats("wt")["consumers"] == 1 and
               c.stats("wa")["consumers"] == 1, what="the workers")
    for q in ("wt", "wa"):
        c.enqueue(q, "%s-1" % q, headers=PAIRS)
        c.enqueue(q, ["%s-2" % q, ps.Message("%s-3" % q, headers={
            "x": "1"})], headers=COMMON)
        c.enqueue(q, "%s-4" % q)
    h.wait_for(lambda: c.stats("wt")["acked_total"] == 4 and
               c.stats("wa")["acked_total"] == 4, what="8 acks")
    got = {}
    for _, _, _, rest in h.outputs():
        data, raw, dec = rest.split("\t")
        got[data] = ([(n, bytes.fromhex(v)) for n, v in json.loads(raw)],
                     json.loads(dec))
    b = lambda v: v.encode() if isinstance(v, str) else v  # noqa: E731
    pairs = [(n, b(v)) for n, v in PAIRS]
    common = [(n, b(v)) for n, v in COMMON.items()]
    for q in ("wt", "wa"):
        assert got["%s-1" % q][0] == pairs, got
        assert got["%s-1" % q][1]["a.first"] == "\ufffd\x00raw", got
        assert got["%s-2" % q] == (common, COMMON), got
        assert got["%s-3" % q][0] == common + [("x", b"1")], got
        assert got["%s-4" % q] == ([], {}), got


def old_daemon(speaks, seen, named=True):
    """A fake daemon older than version 5: a HELLO of a version over
    `speaks` is ERROR 7 (naming its versions as a real one does, or with
    named=False not); seen gets each HELLO's version and each frame of a
    client.  A consumer gets one EVENT, with its key from version 4."""
    def script(conn):
        t, body = read_frame(conn)
        v, role = struct.unpack(">HB", body[:3])
        seen.append(("HELLO", v))
        if v > speaks:
            msg = "protocol version %d is not supported" % v
            if named:
                msg += "; this daemon speaks versions 1 to %d" % speaks
            conn.sendall(_proto.frame(9, struct.pack(">H", 7) +
                                      msg.encode()))
            return
        conn.sendall(welcome(v))
        if role == 1:
            read_frame(conn)                        # DEMAND
            head = struct.pack(">QI", 9, 1)
            if v >= 4:
                conn.sendall(_proto.frame(6, head + struct.pack(">H", 3) +
                                          b"\x01\x01k" + b"e", 1))
            else:
                conn.sendall(_proto.frame(6, head + b"e"))
            read_frame(conn)
            return
        while True:
            t, body = read_frame(conn)
            if t is None:
                return
            seen.append((t, body))
            n = struct.unpack(">I", body[:4])[0]
            conn.sendall(_proto.frame(4, struct.pack(">QIIII", 100, n, 0, 0,
                                                     0)))
    return script


def case_py_headers_old_daemons(h):
    """To a daemon of version 4 or 3 the package falls back (5, then 4,
    then 3) and says headers need version 5 before sending them: never an
    ENQUEUE without them.  What needs no headers still goes."""
    for speaks, named, asked in ((4, True, [5, 4]), (3, True, [5, 3]),
                                 (3, False, [5, 4, 3])):
        seen = []
        path = os.path.join(h.dir, "v%d%s.sock" % (speaks, named))
        f = Fake(path, old_daemon(speaks, seen, named))
        c = ps.Client(path)
        assert c.version == speaks and seen == [("HELLO", v) for v in asked],\
            seen
        for args, kw in ((("q", "x"), {"headers": {"task": "t"}}),
                         (("q", ["x", "y"]), {"headers": [("a", b"b")]}),
                         (("q", [ps.Message("x", headers={"a": "b"})]), {}),
                         (("q", ps.Message("x", headers={"a": "b"})),
                          {"key": "k"})):
            e = expect(ps.Unsupported, c.enqueue, *args, **kw)
            assert "headers need protocol version 5" in str(e) and \
                "speaks version %d" % speaks in str(e), e
        # The rules before the version; then what has no headers goes, on
        # the same connection.
        expect(ValueError, c.enqueue, "q", "x", headers={"Task": "t"})
        assert not [s for s in seen if s[0] != "HELLO"], seen
        assert c.enqueue("q", "x", headers={}) == 100
        assert c.enqueue("q", "y", key="k") == 100
        assert [s[0] for s in seen[len(asked):]] == [3, 3], seen
        assert len(seen) == len(asked) + 2
        c.close()

        async def aio():
            ac = ps.AsyncClient(path)
            try:
                await ac.enqueue("q", "x", headers={"task": "t"})
            except ps.Unsupported as x:
                assert "version 5" in str(x), x
            else:
                raise AssertionError("AsyncClient sent headers to version %d"
                                     % speaks)
            v = await ac.version()
            await ac.close()
            return v
        assert asyncio.run(aio()) == speaks
        # A consumer's events from it: a key from version 4, no headers.
        con = ps.Consumer("q", id="w", socket=path)
        ev = next(con)
        assert con.version == speaks and ev.data == b"e" and \
            ev.key == (b"k" if speaks >= 4 else None), ev
        assert ev.headers == {} and ev.raw_headers == [], ev
        con.close()
        f.close()


def case_py_headers_bad_input(h):
    """Each bad header is a ValueError (a TypeError for what is not a
    header) naming it, in the words of the daemon's ERROR for it, before
    anything is sent: nothing is enqueued, the connection goes on."""
    h.start_daemon()
    c = h.client()
    many = {"h%02d" % i: "v" for i in range(17)}
    big = {"h%02d" % i: "v" * 1000 for i in range(5)}
    # (headers, what the ValueError says, the raw HEADERs for the daemon
    # or None when the client's words are its own)
    cases = [
        ({"Task": "x"},
         'header "Task": a name is 1 to 64 bytes of a-z 0-9 - _ .',
         raw_header(b"Task", b"x")),
        ({"a b\n": "x"}, 'header "a b?": a name is 1 to 64 bytes',
         raw_header(b"a b\n", b"x")),
        ({"": "x"}, 'header "": a name is 1 to 64 bytes',
         raw_header(b"", b"x")),
        ({"n" * 65: "x"}, 'header "%s...": a name is 1 to 64 bytes'
         % ("n" * 64), None),
        ({"tâche": "x"}, 'header "tâche": a name is 1 to 64 bytes', None),
        ({b"caf\xc3": "x"}, 'header "caf\ufffd": a name is', None),
        ({"v": "x" * 1025}, 'header "v": its value is 1025 bytes, over 1024',
         raw_header(b"v", b"x" * 1025)),
        ({"v": "é" * 513}, 'header "v": its value is 1026 bytes, over 1024',
         raw_header(b"v", "é".encode() * 513)),
        (many, 'header "h16": more than 16 headers',
         b"".join(raw_header(n.encode(), b"v") for n in many)),
        (big, 'header "h04": headers over 4096 bytes (names and values)',
         b"".join(raw_header(n.encode(), b"v" * 1000) for n in big)),
        ([("task", "a"), ("task", "b")], 'header "task" given twice',
         raw_header(b"task", b"a") + raw_header(b"task", b"b")),
        ({"task": "a", b"task": "b"}, 'header "task" given twice', None),
    ]
    for headers, words, raw in cases:
        e = expect(ValueError, c.enqueue, "hb", "x", headers=headers)
        assert str(e).startswith(words), (words, str(e))
        e = expect(ValueError, c.enqueue, "hb", ["x", "y"], headers=headers)
        assert str(e).startswith(words), (words, str(e))
        # A Message's own: refused when made.
        e = expect(ValueError, ps.Message, "x", headers=headers)
        assert str(e).startswith(words), (words, str(e))
        if raw is None:
            continue
        # The daemon's ERROR for the same bytes says the same.
        s = raw_peer(h.sock, 2)
        s.sendall(_proto.enqueue(5, b"raw", [b"fine", b"x"], [b"", raw]))
        t, _, body = read_flagged(s)
        s.close()
        assert t == 9 and struct.unpack(">H", body[:2])[0] == 5, body
        why = body[2:].decode()
        assert why.startswith("bad ENQUEUE: "), why
        why = why[len("bad ENQUEUE: "):]
        assert why == str(e) or (why in str(e) and
                                 str(e).endswith(": " + why)), (why, str(e))
    # A batch: the call's headers with a Message's own over a limit, and
    # the Message named.
    ten = {"c%d" % i: "v" for i in range(10)}
    e = expect(ValueError, c.enqueue, "hb", ["x", ps.Message("y", headers={
        "m%d" % i: "v" for i in range(7)})], headers=ten)
    assert str(e) == 'event 1 of the batch: header "m6": more than 16 ' \
        'headers', e
    # Not headers at all: TypeError, naming what is wrong.
    for headers, words in (("task=x", "not str"), (b"task", "not bytes"),
                           (5, "not int"), ({"a": 1}, 'header "a": its value '
                                            'is str or bytes, not int'),
                           ({"a": None}, 'header "a": its value'),
                           ({1: "x"}, "a header's name is str or bytes"),
                           (["task"], "a (name, value) pair, not str"),
                           ([("a", "b", "c")], "a (name, value) pair")):
        e = expect(TypeError, c.enqueue, "hb", "x", headers=headers)
        assert words in str(e), (headers, words, str(e))

    # The asyncio client checks the same, before anything is sent.
    async def aio():
        ac = ps.AsyncClient(h.sock)
        for headers, words, _ in cases:
            try:
                await ac.enqueue("hb", "x", headers=headers)
            except ValueError as x:
                assert str(x).startswith(words), (words, str(x))
            else:
                raise AssertionError("AsyncClient took %r" % (headers,))
        await ac.close()
    asyncio.run(aio())
    # Nothing was enqueued; the client's connection goes on.
    st = c.stats()
    assert st["enqueued_total"] == 0 and st["queued"] == 0, st.counters
    assert "hb" not in [q.name for q in c.queues()]
    assert c.enqueue("hb", "fine", headers={"ok": "1"}) == 1


# --- failures (protocol version 5): NACK_ERROR and dead letters' errors ----

def nack_error_frame(eid, delay_ms, error):
    """A NACK_ERROR as protocol.md lays it out, apart from the package."""
    return struct.pack(">IBBH", 14 + len(error), 23, 0, 0) + \
        struct.pack(">QIH", eid, delay_ms, len(error)) + error


def dead_entry(eid, attempts, reason, length, preview, error=None):
    """A DEAD_LIST_REPLY entry as protocol.md lays it out; error None:
    version 4's, without the tail."""
    e = struct.pack(">QIBBIH", eid, attempts, reason, 0, length,
                    len(preview)) + preview
    if error is not None:
        e += struct.pack(">H", len(error)) + error
    return e


def _raise(e):
    """e, raised and caught: with its traceback."""
    try:
        raise e
    except Exception as x:
        return x


def case_py_failures_proto(h):
    """The bytes of failures, without a daemon: NACK_ERROR built to the
    byte, the demand window's NACK_ERRORs (version 5) and NACKs (older),
    an error's end kept, version 5 DEAD_LIST_REPLY entries read (and
    version 4's), the worker's failure_text and its bounds."""
    from pushstage import worker
    hx = bytes.fromhex
    # protocol.md's layout: id, delay_ms (0xffffffff the queue's
    # backoff), error_len, error.
    assert _proto.nack_error(7, None, b"boom") == hx(
        "00000012" "17" "00" "0000" "0000000000000007" "ffffffff" "0004"
        "626f6f6d")
    assert _proto.nack_error(7, 1500, b"") == nack_error_frame(7, 1500, b"")
    assert _proto.nack_error(1, 0, b"x" * 4096) == \
        nack_error_frame(1, 0, b"x" * 4096)
    expect(ValueError, _proto.nack_error, 1, None, b"x" * 4097)
    expect(ValueError, _proto.nack_error, 1, -1, b"x")
    expect(ValueError, _proto.nack_error, 1, 1 << 32, b"x")
    # The window: with errors (version 5) one NACK_ERROR an event, after
    # the plain NACKs, before the DEMAND; delay None the queue's backoff.
    w = _core.Window(10, 0, True)
    w.set_errors(5, 1 << 20)
    assert w.errors and w.error_max == 4096
    w.out()
    w.delivery(list(range(1, 7)))
    w.done(1, "nack", None, b"one")
    w.done(2, "nack", 0, b"two")
    w.done(3, "nack", 2500, "three".encode())
    w.done(4, "nack")
    w.done(5, "nack", 2500)
    # As late as it goes: 2 ms less (0xffffffff is the queue's backoff,
    # 0xfffffffe gives up at once: nack(dead=True)).
    w.done(6, "nack", 0xFFFFFFFF, b"")
    assert w.out() == b"".join([
        _proto.ids(_proto.NACK, [4]), _proto.nack_later(2500, [5]),
        nack_error_frame(1, 0xFFFFFFFF, b"one"),
        nack_error_frame(2, 0, b"two"), nack_error_frame(3, 2500, b"three"),
        nack_error_frame(6, 0xFFFFFFFD, b"")])
    # Before version 5 the error cannot go: NACK, or NACK_LATER with a
    # delay, as without one.
    for v in (4, 3, 2):
        w = _core.Window(10, 0, True)
        w.set_errors(v, 1 << 20)
        assert not w.errors
        w.out()
        w.delivery([1, 2, 3])
        w.done(1, "nack", None, b"one")
        w.done(2, "nack", 0, b"two")
        w.done(3, "nack", 300, b"three")
        assert w.out() == _proto.ids(_proto.NACK, [1]) + \
            _proto.nack_later(0, [2]) + _proto.nack_later(300, [3])
    # At most once (delivery 2): nothing to nack.
    w = _core.Window(1, 0, False)
    w.set_errors(5, 1 << 20)
    w.out()
    w.delivery([1])
    w.done(1, "nack", None, b"x")
    assert w.out() == _proto.demand(1)
    # The smallest max_frame (4096) leaves 4082 bytes for an error.
    w.set_errors(5, 4096)
    assert w.error_max == 4082
    # An error as it goes: str as UTF-8, bytes as they are; over the
    # limit the last bytes, a str's from a whole character.
    eb = _core.nack_error_bytes
    assert eb("é ✓") == "é ✓".encode() and eb(b"\xff") == b"\xff"
    assert eb(bytearray(b"ba")) == b"ba" and eb(memoryview(b"mv")) == b"mv"
    long = "".join("line %05d\n" % i for i in range(1000)).encode()
    assert eb(long) == long[-4096:] and eb(long.decode()) == long[-4096:]
    assert eb(long, 4082) == long[-4082:]
    assert eb(b"\xc3\xa9" * 3000) == (b"\xc3\xa9" * 3000)[-4096:]
    assert eb("é" * 3000) == "é".encode() * 2048
    assert eb("é" * 3000, 4095) == "é".encode() * 2047
    assert eb("✓" * 2000) == "✓".encode() * 1365        # 4095 bytes
    assert eb("x", 0) == b""
    for bad in (5, None, ["x"], {"e": 1}, ValueError("x")):
        expect(TypeError, eb, bad)
    # A delay the protocol cannot carry: ValueError before anything.
    assert _core.nack_delay_ms(None) is None
    assert _core.nack_delay_ms(0) == 0 and _core.nack_delay_ms(1.5) == 1500
    assert _core.nack_delay_ms(4294967.295) == 0xFFFFFFFF
    for bad in (-0.5, 4294967.3, 1e12):
        expect(ValueError, _core.nack_delay_ms, bad)

    # DEAD_LIST_REPLY, version 5: each entry ends with its last error.
    body = struct.pack(">II", 3, 3) + \
        dead_entry(4, 2, 1, 5, b"job 4", b"ValueError: x\n\nTraceback") + \
        dead_entry(9, 1, 2, 300, b"ab", b"no ACK within the ack timeout "
                   b"(30000 ms)") + \
        dead_entry(12, 5, 1, 0, b"", b"")
    assert _proto.parse_dead_list(body, 5) == (3, [
        (4, 2, 1, 5, b"job 4", b"ValueError: x\n\nTraceback"),
        (9, 1, 2, 300, b"ab", b"no ACK within the ack timeout (30000 ms)"),
        (12, 5, 1, 0, b"", b"")])
    dl = _core.dead_result(body, 5)
    assert dl.total == 3 and [d.id for d in dl] == [4, 9, 12]
    assert [d.reason for d in dl] == ["nack", "ack timeout", "nack"]
    assert [(d.attempts, d.length, d.preview) for d in dl] == [
        (2, 5, b"job 4"), (1, 300, b"ab"), (5, 0, b"")]
    assert [d.error for d in dl] == [
        "ValueError: x\n\nTraceback",
        "no ACK within the ack timeout (30000 ms)", None], dl
    # An error not UTF-8 (or cut inside a character): U+FFFD.
    body = struct.pack(">II", 1, 1) + dead_entry(1, 1, 1, 1, b"x",
                                                 b"bad \xff \xc3")
    assert _core.dead_result(body, 5)[0].error == "bad \ufffd \ufffd"
    # Version 4 and older: no tail, no error.
    body4 = struct.pack(">II", 2, 2) + dead_entry(4, 2, 1, 5, b"job 4") + \
        dead_entry(5, 1, 3, 1, b"y")
    for v in (4, 3, 2):
        dl = _core.dead_result(body4, v)
        assert [(d.id, d.reason, d.preview, d.error) for d in dl] == [
            (4, "nack", b"job 4", None), (5, "consumer gone", b"y", None)]
    # One layout read as the other: bytes past the end, or cut short.
    e = expect(ps.ProtocolError, _proto.parse_dead_list, body, 4)
    assert "past its 1 entries" in str(e), e
    expect(ps.ProtocolError, _proto.parse_dead_list, body4, 5)
    expect(ps.ProtocolError, _proto.parse_dead_list, body[:-1], 5)
    assert _core.dead_result(struct.pack(">II", 7, 0), 5) == [] and \
        _core.dead_result(struct.pack(">II", 7, 0), 5).total == 7
    # DeadEvent keeps its fields' places: error is last, None by default.
    assert ps.DeadEvent(1, 2, "nack", 3, b"p").error is None

    # The worker's error: TYPE: MESSAGE, a blank line, the traceback.
    e = _raise(ValueError("bad input"))
    t = worker.failure_text(e)
    assert t.startswith("ValueError: bad input\n\nTraceback (most recent "
                        "call last):\n  File "), t
    assert t.endswith("ValueError: bad input\n") and "in _raise" in t, t
    assert t == "ValueError: bad input\n\n" + "".join(
        traceback.format_exception(type(e), e, e.__traceback__)), t
    # An empty message: the type alone; a chained exception: both.
    t = worker.failure_text(_raise(KeyError()))
    assert t.startswith("KeyError\n\nTraceback"), t
    try:
        try:
            {}["k"]
        except KeyError:
            raise RuntimeError("while handling")
    except RuntimeError as x:
        t = worker.failure_text(x)
    assert t.startswith("RuntimeError: while handling\n\nTraceback") and \
        "KeyError: 'k'" in t and "During handling" in t, t
    # A traceback over 4096 bytes keeps its end, from a line's start,
    # after "...".
    def deep(n):
        if n == 0:
            raise ValueError("deep down")
        deep2(n - 1)

    def deep2(n):
        deep(n)
    try:
        deep(80)
    except ValueError as x:
        e = x
    full = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    assert len(full.encode()) > 8000
    t = worker.failure_text(e)
    tb = t.split("\n\n", 1)[1]
    assert len(t.encode()) <= 4096 and len(t.encode()) > 4000, len(t)
    assert t.startswith("ValueError: deep down\n\n...\n  File "), t[:80]
    assert full.endswith(tb[4:]) and full[-len(tb) + 4 - 1] == "\n", tb[:80]
    assert t.endswith("ValueError: deep down\n"), t[-80:]
    # Other bounds: the daemon's smaller frames; a message of megabytes
    # (its first 1024 bytes, whole characters; then the traceback's end).
    assert len(worker.failure_text(e, 4082).encode()) <= 4082
    t = worker.failure_text(_raise(ValueError("é" * 100000)))
    head, tb = t.split("\n\n", 1)
    assert head == "ValueError: " + "é" * 506, head[-10:]
    assert len(t.encode()) <= 4096 and tb.startswith("...\n"), tb[:20]
    assert t.endswith("é" * 100 + "\n")
    assert worker.failure_text(_raise(ValueError("x" * 50)), 30) == \
        "ValueError: " + "x" * 18
    assert worker.GRACE_ERROR % 0.2 == ("pushstage.worker stopping: the "
                                        "handler still ran when its grace "
                                        "period (--grace 0.2s) ran out")


def dead_json(h, queue):
    """pushctl dead list -q QUEUE --json: its events.  (pushctl writes an
    error's bytes as they are: one not UTF-8 is read as U+FFFD, as the
    package decodes it.)"""
    r = h.pushctl("dead", "list", "-q", queue, "--json")
    assert r.returncode == 0, r
    return json.loads(r.stdout.decode(errors="replace"))["events"]


def case_py_failures(h):
    """Failures from the Python package into a real producerd: a
    Consumer's nack(error=), the worker's exception (threads and
    asyncio) with its traceback, a batch's nack(events, error=), an
    error's end kept; the dead letters' last errors through pushctl dead
    list and Client.dead (and AsyncClient's) alike; delay None is the
    queue's retry-backoff, 0 at once."""
    h.start_daemon("--max-attempts", "2")
    c = h.client()
    # A Consumer says why (attempt 1), then the worker's handler raises
    # (attempt 2, the last): the dead letter's error is the worker's.
    c.enqueue("f", "job f")
    with ps.Consumer("f", id="py", socket=h.sock) as con:
        assert con.version == 5 and con.error_max == 4096
        ev = next(con)
        assert ev.attempt == 1
        con.stop()              # not again here: the worker's turn
        assert ev.nack(error="boom 1")
    # Until then the event's last error was the consumer's: an event
    # whose next attempt is a plain NACK dies with it.
    c.enqueue("g", "job g")
    with ps.Consumer("g", id="py", socket=h.sock) as con:
        ev = next(con)
        assert ev.nack(error="boom 1")
        ev = next(con)
        assert ev.attempt == 2 and ev.nack()
        con.flush()
    h.wait_for(lambda: c.dead("g").total == 1, what="g's dead letter")
    (d,) = c.dead("g")
    assert (d.error, d.attempts, d.reason) == ("boom 1", 2, "nack"), d
    assert dead_json(h, "g")[0]["error"] == "boom 1"
    p, log = h.worker("boom", "--queue", "f", "--backoff", "none",
                      name="wf")
    pa, alog = h.worker("aboom", "--queue", "fa", "--backoff", "0:0",
                        name="wa")
    c.enqueue("fa", "job fa")
    h.wait_for(lambda: c.dead("f").total == 1 and c.dead("fa").total == 1,
               what="the workers' dead letters")
    for q, fn, data in (("f", "boom", "job f"), ("fa", "aboom", "job fa")):
        (d,) = c.dead(q)
        (j,) = dead_json(h, q)
        assert j["error"] == d.error, (j, d)
        assert (d.attempts, d.reason, d.preview) == (2, "nack",
                                                     data.encode()), d
        err = d.error
        assert err.startswith("ValueError: no good: %s\n\nTraceback (most "
                              "recent call last):\n" % data), err
        assert 'handlers.py", line' in err and ", in %s\n" % fn in err and \
            'raise ValueError("no good: %s" % ev.data.decode())' in err, err
        assert err.endswith("\nValueError: no good: %s\n" % data), err
        # pushctl's table: the first line, below the entry.
        r = h.pushctl("dead", "list", "-q", q)
        assert "last error: ValueError: no good: %s" % data in \
            r.stdout.decode(), r
    # The log line is as before.
    assert 'error="ValueError: no good: job f"' in open(log).read()

    # The end of a long traceback: the head stays first (a dead letter
    # shows an error's first 1024 bytes).
    h.worker("deepboom", "--queue", "deep", "--backoff", "none",
             name="wd")
    c.enqueue("deep", "x")
    h.wait_for(lambda: c.dead("deep").total == 1, what="deep's dead letter")
    err = c.dead("deep")[0].error
    assert err.startswith("ValueError: deep down\n\n...\n  File "), err[:80]
    assert len(err.encode()) == 1024, len(err)     # an ASCII traceback
    assert dead_json(h, "deep")[0]["error"] == err

    # A batch: one NACK_ERROR an event, the same error; a long one's end.
    c.set("b", max_attempts=1)
    c.enqueue("b", ["b%d" % i for i in range(5)])
    long = "".join("line %05d\n" % i for i in range(1000))
    with ps.Consumer("b", id="b", max_demand=5, min_demand=0,
                     socket=h.sock) as con:
        evs = [next(con) for _ in range(5)]
        assert con.nack(evs[:3], error=b"batch failed \xff")
        assert con.nack(evs[3:4], delay=0, error=long)
        assert evs[4].nack(error="é" * 3000)
        con.flush()
    h.wait_for(lambda: c.dead("b").total == 5, what="b's dead letters")
    dl = c.dead("b", preview=3)
    got = {x.preview: x.error for x in dl}
    assert got == {b"b0": "batch failed \ufffd", b"b1": "batch failed \ufffd",
                   b"b2": "batch failed \ufffd",
                   b"b3": long[-4096:][:1024], b"b4": "é" * 512}, got
    js = {j["preview"]: j["error"] for j in dead_json(h, "b")}
    assert js["b3"] == long[-4096:][:1024] and js["b4"] == "é" * 512, js

    # delay None: the queue's retry-backoff, as a NACK; 0: at once.
    c.set("rb", retry_backoff="1h:1h", max_attempts=5)
    c.enqueue("rb", ["r1", "r2"])
    with ps.Consumer("rb", id="rb", max_demand=2, socket=h.sock) as con:
        a, b = next(con), next(con)
        assert a.nack(error="later") and b.nack(delay=0, error="now")
        con.flush()
        again = con.get(timeout=10)
        assert again is not None and again.data == b.data and \
            again.attempt == 2, again
        st = c.stats("rb")
        assert st["delayed"] == 1 and st["retries_scheduled_total"] == 1, \
            st.counters
        assert again.nack(delay=3600, error="an hour")
        con.flush()
        h.wait_for(lambda: c.stats("rb")["delayed"] == 2, what="2 held back")

    # The asyncio client and consumer.
    async def run():
        ac = ps.AsyncClient(h.sock)
        await ac.set("ab", max_attempts=1)
        await ac.enqueue("ab", ["a1", "a2", "a3"])
        async with ps.AsyncConsumer("ab", id="a", max_demand=3,
                                    socket=h.sock) as con:
            assert con.error_max == 4096
            evs = [await con.get(timeout=10) for _ in range(3)]
            assert await evs[0].nack(error="async one")
            assert await con.nack(evs[1:], error=b"async batch")
            await con.flush()
        for _ in range(500):
            dl = await ac.dead("ab")
            if dl.total == 3:
                break
            await asyncio.sleep(0.02)
        await ac.close()
        return {x.preview: x.error for x in dl}
    assert asyncio.run(run()) == {b"a1": "async one", b"a2": "async batch",
                                  b"a3": "async batch"}
    # The failures made no trouble: the workers still run.
    assert p.poll() is None and pa.poll() is None

    # Past --grace a handler still running is nacked saying so, in
    # threads and as a task; its last attempt, its dead letter shows it.
    from pushstage.worker import GRACE_ERROR
    for q, handler in (("gt", "hold"), ("ga", "ahold")):
        c.set(q, max_attempts=1)
        w, _ = h.worker(handler, "--queue", q, "--grace", "0.2", name=q,
                        env={"HOLD_FOREVER": "1"})
        c.enqueue(q, "slow " + q)
        h.wait_for(lambda: "slow %s start" % q in
                   [t for _, _, _, t in h.outputs()], what="the handler")
        w.send_signal(signal.SIGTERM)
        assert w.wait(timeout=30) == 0
        h.wait_for(lambda: c.dead(q).total == 1, what="the dead letter")
        assert c.dead(q)[0].error == GRACE_ERROR % 0.2 == \
            dead_json(h, q)[0]["error"], c.dead(q)


def nack_daemon(speaks, seen, events=1, max_frame=1 << 20):
    """A fake daemon for consumers, of protocol version `speaks`: a HELLO
    of a newer version is ERROR 7 (naming its versions), then WELCOME, a
    DEMAND, `events` EVENTs (ids 1, 2, ...); seen gets every frame after
    it as (type, body).  A client's connection (the worker asks STATS
    for its queue's max-result on one) is closed unanswered: the worker
    then takes the largest result the frame holds."""
    def script(conn):
        t, body = read_frame(conn)
        v = struct.unpack(">H", body[:2])[0]
        if body[2] == CLIENT_ROLE:
            return
        if v > speaks:
            conn.sendall(_proto.frame(9, struct.pack(">H", 7) + (
                "protocol version %d is not supported; this daemon speaks "
                "versions 1 to %d" % (v, speaks)).encode()))
            return
        conn.sendall(_proto.frame(2, struct.pack(">HHIIHBB", v, 0, max_frame,
                                                 0, 5, 1, 0)))
        t, body = read_frame(conn)
        assert t == 5, t                    # DEMAND
        for i in range(1, events + 1):
            conn.sendall(_proto.frame(6, struct.pack(">QI", i, 1) +
                                      b"e%d" % i))
        while True:
            t, body = read_frame(conn)
            if t is None:
                return
            if t != 5:
                seen.append((t, body))
    return script


def case_py_failures_old_daemon(h):
    """To a daemon of version 4 (no NACK_ERROR) an error cannot go: the
    NACK or NACK_LATER goes as without one, from Event.nack,
    Consumer.nack, their asyncio twins and the worker; never a frame of
    type 23.  To a version 5 fake the same calls send NACK_ERRORs laid
    out as protocol.md says, cut to what its max_frame takes."""
    ids_body = lambda *i: struct.pack(">I%dQ" % len(i), len(i), *i)  # noqa
    seen = []
    path = os.path.join(h.dir, "v4.sock")
    f = Fake(path, nack_daemon(4, seen, events=5))
    con = ps.Consumer("q", id="w", max_demand=5, min_demand=0, socket=path)
    evs = [next(con) for _ in range(5)]
    assert con.version == 4 and [e.id for e in evs] == [1, 2, 3, 4, 5]
    assert evs[0].nack(error="boom")
    assert evs[1].nack(delay=1.5, error=b"boom")
    assert con.nack(evs[2:4], error="batch")
    assert con.nack(evs[4:], delay=0, error="x" * 10000)
    con.flush()
    h.wait_for(lambda: len(seen) >= 3, what="the NACKs")
    con.close()
    # (One write: the NACKs in one frame, a NACK_LATER a delay.)
    assert sorted(seen) == sorted([
        (_proto.NACK, ids_body(1, 3, 4)),
        (_proto.NACK_LATER, struct.pack(">I", 1500) + ids_body(2)),
        (_proto.NACK_LATER, struct.pack(">I", 0) + ids_body(5))]), seen
    f.close()

    # The asyncio consumer, the same.
    seen = []
    path = os.path.join(h.dir, "v4a.sock")
    f = Fake(path, nack_daemon(4, seen, events=3))

    async def run():
        async with ps.AsyncConsumer("q", id="a", max_demand=3, min_demand=0,
                                    socket=path) as con:
            evs = [await con.get(timeout=10) for _ in range(3)]
            assert con.version == 4
            assert await evs[0].nack(error="boom")
            assert await con.nack(evs[1:], delay=2, error="b")
            await con.flush()
            for _ in range(500):
                if len(seen) >= 2:
                    break
                await asyncio.sleep(0.02)
    asyncio.run(run())
    assert sorted(seen) == sorted([
        (_proto.NACK, ids_body(1)),
        (_proto.NACK_LATER, struct.pack(">I", 2000) + ids_body(2, 3))]), seen
    f.close()

    # The worker: its handler raises, a plain NACK goes (the queue's
    # backoff with --backoff none, else NACK_LATER).
    for backoff, want in (("none", _proto.NACK), ("1:1", _proto.NACK_LATER)):
        seen = []
        path = os.path.join(h.dir, "v4w-%s.sock" % backoff[0])
        f = Fake(path, nack_daemon(4, seen))
        p, log = h.worker("boom", "--socket", path, "--queue", "q",
                          "--backoff", backoff, name="w4" + backoff[0])
        h.wait_for(lambda: seen, what="the worker's NACK")
        assert [t for t, _ in seen] == [want], seen
        assert seen[0][1].endswith(ids_body(1)), seen
        assert "handler failed" in open(log).read()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
        f.close()

    # A version 5 fake: NACK_ERRORs, one an event, to the byte.
    seen = []
    path = os.path.join(h.dir, "v5.sock")
    f = Fake(path, nack_daemon(5, seen, events=4))
    con = ps.Consumer("q", id="w", max_demand=4, min_demand=0, socket=path)
    evs = [next(con) for _ in range(4)]
    assert con.version == 5
    assert evs[0].nack(error="boom")
    assert evs[1].nack(delay=1.5, error=b"\xffraw")
    assert con.nack(evs[2:], delay=0, error="é")
    con.flush()
    h.wait_for(lambda: len(seen) >= 4, what="the NACK_ERRORs")
    con.close()
    assert [_proto.frame(t, b) for t, b in seen] == [
        nack_error_frame(1, 0xFFFFFFFF, b"boom"),
        nack_error_frame(2, 1500, b"\xffraw"),
        nack_error_frame(3, 0, "é".encode()),
        nack_error_frame(4, 0, "é".encode())], seen
    f.close()
    # A version 5 daemon of the smallest frames: the error's end that
    # fits (4082 bytes), so the frame is not TOO_LARGE.
    seen = []
    path = os.path.join(h.dir, "v5small.sock")
    f = Fake(path, nack_daemon(5, seen, max_frame=4096))
    con = ps.Consumer("q", id="w", socket=path)
    assert con.error_max == 4082
    long = "".join("line %05d\n" % i for i in range(1000))
    assert next(con).nack(error=long)
    con.flush()
    h.wait_for(lambda: seen, what="the NACK_ERROR")
    con.close()
    assert seen == [(23, struct.pack(">QIH", 1, 0xFFFFFFFF, 4082) +
                     long[-4082:].encode())], seen
    f.close()
    # The worker to a version 5 fake: the exception as the error, the
    # backoff's delay.
    seen = []
    path = os.path.join(h.dir, "v5w.sock")
    f = Fake(path, nack_daemon(5, seen))
    p, log = h.worker("boom", "--socket", path, "--queue", "q",
                      "--backoff", "1:1", name="w5")
    h.wait_for(lambda: seen, what="the worker's NACK_ERROR")
    ((t, body),) = seen
    eid, delay, n = struct.unpack(">QIH", body[:14])
    err = body[14:].decode()
    assert t == 23 and eid == 1 and 800 <= delay <= 1200 and \
        n == len(body) - 14, (t, body[:14])
    assert err.startswith("ValueError: no good: e1\n\nTraceback (most "
                          "recent call last):\n") and \
        err.endswith("ValueError: no good: e1\n"), err
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    f.close()


# --- job lookup (JOB and JOB_REPLY, protocol version 5) --------------------

def job_frame_spec(queue, eid, preview, uid=b""):
    """A JOB as protocol.md lays it out, apart from the package."""
    body = bytes([len(queue)]) + queue + struct.pack(">QHB", eid, preview,
                                                     len(uid)) + uid
    return struct.pack(">IBBH", len(body), 24, 0, 0) + body


def job_reply_spec(eid, state=1, reason=0, attempts=0, at=0, priority=32768,
                   length=0, preview=b"", consumer=b"", attrs=b"",
                   failures=()):
    """A JOB_REPLY body as protocol.md lays it out: failures are (at,
    attempt, consumer, error)."""
    b = struct.pack(">QBBIQHIH", eid, state, reason, attempts, at, priority,
                    length, len(preview)) + preview
    b += bytes([len(consumer)]) + consumer
    b += struct.pack(">H", len(attrs)) + attrs + bytes([len(failures)])
    for fat, fatt, who, err in failures:
        b += struct.pack(">QIB", fat, fatt, len(who)) + who + \
            struct.pack(">H", len(err)) + err
    return b


def case_py_job_proto(h):
    """The bytes of job lookup, without a daemon: JOB built to the byte
    (by id, by unique id, a group), JOB_REPLY read from hand-made bytes
    (a key, headers and unknown attributes, failures, each state and
    reason), id 0 as None, and every reply cut short, run long or with
    a HEADER past its length a ProtocolError."""
    hx = bytes.fromhex
    # protocol.md's layout: queue, u64 id, u16 preview, u8 uid_len, uid.
    assert _proto.job(b"q", 7, 256) == hx(
        "0000000d" "18" "00" "0000" "0171" "0000000000000007" "0100" "00")
    assert _proto.job(b"jobs/audit", 0, 0, b"order-7") == job_frame_spec(
        b"jobs/audit", 0, 0, b"order-7")
    assert _proto.job(b"q", (1 << 64) - 1, 1024) == job_frame_spec(
        b"q", (1 << 64) - 1, 1024)
    assert _proto.job(b"q", 0, 5, b"u" * 128) == job_frame_spec(
        b"q", 0, 5, b"u" * 128)
    for args in ((b"q", 0, 1), (b"q", 1, 1, b"u"), (b"q", 1, 1025),
                 (b"q", 0, 1, b"u" * 129), (b"q", 1 << 64, 1)):
        expect(ValueError, _proto.job, *args)

    # A reply with everything: preview, consumer, KEY, two HEADERs (one
    # not UTF-8) and tags it does not know (short 9, long 200), three
    # failures, one of no error and one not UTF-8.
    attrs = bytes([1, 2]) + b"k1" + bytes([9, 1, 0]) + \
        raw_header(b"task", b"resize") + \
        bytes([200]) + struct.pack(">H", 2) + b"??" + \
        raw_header(b"n", b"\x01\xff")
    fails = [(1700000000123, 1, b"w1", b"ValueError: x\n\nTraceback"),
             (1700000001000, 2, b"w2", b""),
             (1700000002500, 3, b"w\xff", b"bad \xff \xc3")]
    body = job_reply_spec(42, 5, 0, 3, 1700000003007, 7, 2000, b"hello",
                          b"worker-1", attrs, fails)
    want = (42, 5, 0, 3, 1700000003007, 7, 2000, b"hello", b"worker-1", b"k1",
            [("task", b"resize"), ("n", b"\x01\xff")], fails, None)
    assert _proto.parse_job_reply(body) == want, _proto.parse_job_reply(body)
    j = _core.job_result(body)
    assert j == ps.Job(
        id=42, state="in flight", state_code=5, reason=None, attempts=3,
        at=1700000003.007, priority=7, length=2000, preview=b"hello",
        consumer="worker-1", key=b"k1",
        headers={"task": "resize", "n": "\x01\ufffd"},
        raw_headers=[("task", b"resize"), ("n", b"\x01\xff")],
        failures=[ps.Failure(1700000000.123, 1, "w1",
                             "ValueError: x\n\nTraceback"),
                  ps.Failure(1700000001.0, 2, "w2", ""),
                  ps.Failure(1700000002.5, 3, "w\ufffd", "bad \ufffd \ufffd")]
    ), j
    # Frozen, hashable (headers and failures left out of the hash).
    assert hash(j) == hash(_core.job_result(body))
    e = expect(Exception, setattr, j, "state", "dead")
    assert type(e).__name__ == "FrozenInstanceError", e
    # The least: no preview, consumer, attributes or failures.
    j = _core.job_result(job_reply_spec(9, 1, length=3))
    assert (j.id, j.state, j.at, j.preview, j.consumer, j.key, j.headers,
            j.raw_headers, j.failures) == (9, "queued", None, b"", None,
                                            None, {}, [], []), j
    # An empty key is a key.
    assert _core.job_result(job_reply_spec(9, attrs=b"\x01\x00")).key == b""
    # Each state in the protocol's words; a code past them "unknown".
    words = ["unknown", "queued", "delayed", "waiting behind its key",
             "waiting for its partition", "in flight", "waiting to retry",
             "dead", "cancelled in flight", "unknown"]
    for code, word in zip(list(range(9)) + [255], words):
        j = _core.job_result(job_reply_spec(1, code))
        assert (j.state, j.state_code) == (word, code), j
    # A dead event's reason (pushctl job show's words); none otherwise.
    for r, word in ((1, "nack"), (2, "timeout"), (3, "disconnect"),
                    (9, "reason 9")):
        assert _core.job_result(job_reply_spec(1, 7, r)).reason == word
        assert _core.job_result(job_reply_spec(1, 6, r)).reason is None
    # id 0: no such event now.
    assert _core.job_result(job_reply_spec(0, 0)) is None
    assert _core.job_result(bytes(30) + b"\0" + b"\0\0" + b"\0") is None
    # Cut anywhere, one byte too many, a length past the end, a HEADER
    # whose name runs past its length: ProtocolError.
    for n in range(len(body)):
        expect(ps.ProtocolError, _proto.parse_job_reply, body[:n])
        expect(ps.ProtocolError, _core.job_result, body[:n])
    e = expect(ps.ProtocolError, _proto.parse_job_reply, body + b"\0")
    assert "JOB_REPLY" in str(e), e
    expect(ps.ProtocolError, _core.job_result, job_reply_spec(0) + b"\0")
    bad = job_reply_spec(1, attrs=bytes([128]) + struct.pack(">H", 2) +
                         b"\x05n")
    e = expect(ps.ProtocolError, _proto.parse_job_reply, bad)
    assert "a JOB_REPLY's HEADER" in str(e), e
    expect(ps.ProtocolError, _proto.parse_job_reply,
           job_reply_spec(1, attrs=bytes([128]) + struct.pack(">H", 0)))
    expect(ps.ProtocolError, _proto.parse_job_reply,
           job_reply_spec(1, attrs=bytes([128]) + struct.pack(">H", 9) + b"x"))
    expect(ps.ProtocolError, _proto.parse_job_reply,
           job_reply_spec(1, attrs=b"\x01\x05k"))
    # preview_len past the end.
    expect(ps.ProtocolError, _proto.parse_job_reply,
           struct.pack(">QBBIQHIH", 1, 1, 0, 0, 0, 0, 9, 9) + b"x" * 4)
    # The Reader takes a JOB_REPLY (type 25), nothing past the last
    # type (37, SCHEDULE_REPLY).
    r = _proto.Reader()
    r.feed(_proto.frame(25, body))
    assert r.frames() == [(25, body, 0)]
    r.feed(_proto.frame(38, b""))
    expect(ps.ProtocolError, r.frames)
    # Exported.
    assert ps.Job is _core.Job and ps.Failure is _core.Failure
    assert "Job" in ps.__all__ and "Failure" in ps.__all__


def pushctl_job(h, queue, *args):
    """pushctl job show QUEUE ... --json: its JSON, or None (exit 1)."""
    r = h.pushctl("job", "show", queue, *[str(a) for a in args], "--json")
    if r.returncode == 1:
        return None
    assert r.returncode == 0, r
    return json.loads(r.stdout.decode(errors="replace"))


def iso_ms(seconds):
    """Seconds since 1970 as pushctl shows a time: ISO 8601 UTC, with ms."""
    import datetime
    ms = int(round(seconds * 1000))
    t = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


# The daemon reckons a JOB_REPLY's at (but a failure's) from its
# monotonic clock at each lookup: two lookups of one event may differ by
# a millisecond.
AT_SLACK = 0.005


def same_job(a, b):
    """Two lookups of one event say the same, at give or take AT_SLACK."""
    import dataclasses
    assert a is not None and b is not None, (a, b)
    assert (a.at is None) == (b.at is None) and \
        (a.at is None or abs(a.at - b.at) <= AT_SLACK), (a, b)
    assert dataclasses.replace(a, at=b.at) == b, (a, b)


def same_as_pushctl(h, queue, j, preview=256):
    """Job j says what pushctl job show --json says of the event (its
    fields by their names there, its result too: null unless done; bytes
    shown as UTF-8, U+FFFD for a byte that is not; at give or take
    AT_SLACK)."""
    import datetime
    js = pushctl_job(h, queue, j.id, "--preview", preview)
    u = lambda b: None if b is None else b.decode(errors="replace")  # noqa
    if js["at"] is not None and j.at is not None:
        t = datetime.datetime.strptime(js["at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
        assert abs(t - j.at) <= AT_SLACK, (js["at"], j.at)
        js["at"] = iso_ms(j.at)
    assert js == {
        "id": j.id, "state": j.state, "attempts": j.attempts,
        "at": None if j.at is None else iso_ms(j.at), "reason": j.reason,
        "priority": j.priority, "consumer": j.consumer, "key": u(j.key),
        "headers": j.headers, "bytes": j.length, "preview": u(j.preview),
        "failures": [{"at": iso_ms(f.at), "attempt": f.attempt,
                      "consumer": f.consumer, "error": f.error}
                     for f in j.failures], "result": u(j.result)}, (js, j)


def case_py_job(h):
    """Client.job (and AsyncClient.job) against a real producerd: an
    event queued with its key, headers and unique id, delayed, in
    flight with its consumer, waiting behind its key, waiting to retry
    with its failure, dead (a NACK's, an ack timeout's, a consumer
    gone), in a group; by id and by unique id; previews; what the queue
    does not have now is None; each the same as pushctl job show --json.
    Bad arguments are ValueErrors naming them, before any connect."""
    h.start_daemon("--max-attempts", "2")
    r = h.pushctl("queue", "create", "j", "retry-backoff=1h:1h")
    assert r.returncode == 0, r
    c = h.client()
    t0 = time.time()
    f = c.enqueue("j", "flight", priority=1)
    rt = c.enqueue("j", "retry", priority=2)
    q = c.enqueue("j", b"queued \xff payload", key="k1",
                  headers=[("task", "resize"), ("n", b"\x01\xff")],
                  unique_id="uid-q", priority=100)
    big = c.enqueue("j", b"z" * 2000, priority=200)
    later = c.enqueue("j", "later", delay=3600, unique_id=b"uid-later")
    assert [f, rt, q, big, later] == list(range(f, f + 5))

    # Queued: its key, headers, priority, when it became ready.
    j = c.job("j", q)
    assert (j.id, j.state, j.state_code, j.reason, j.attempts) == \
        (q, "queued", 1, None, 0), j
    assert t0 - 1 <= j.at <= time.time() + 1, j
    assert (j.priority, j.length, j.preview, j.consumer, j.key) == \
        (100, 16, b"queued \xff payload", None, b"k1"), j
    assert j.raw_headers == [("task", b"resize"), ("n", b"\x01\xff")], j
    assert j.headers == {"task": "resize", "n": "\x01\ufffd"}, j
    assert j.failures == [], j
    same_as_pushctl(h, "j", j)
    # By its unique id (str or bytes), the same; previews.
    same_job(c.job("j", unique_id="uid-q"), j)
    same_job(c.job("j", unique_id=b"uid-q"), j)
    jp = c.job("j", unique_id="uid-q", preview=3)
    assert (jp.preview, jp.length) == (b"que", 16), jp
    assert c.job("j", q, preview=0).preview == b""
    jb = c.job("j", big)
    assert (jb.length, jb.preview) == (2000, b"z" * 256), jb
    assert c.job("j", big, preview=1024).preview == b"z" * 1024
    same_as_pushctl(h, "j", c.job("j", big, preview=1024), 1024)
    # Delayed: due in an hour.
    j = c.job("j", later)
    assert (j.state, j.state_code, j.attempts) == ("delayed", 2, 0), j
    assert t0 + 3600 - 5 <= j.at <= time.time() + 3600 + 5, j
    same_job(c.job("j", unique_id="uid-later"), j)
    same_as_pushctl(h, "j", j)
    # What the queue does not have: None; an id is one queue's.
    assert c.job("j", 10 ** 9) is None
    assert c.job("j", unique_id="nobody") is None
    other = c.enqueue("other", "o")
    assert c.job("j", other) is None
    assert c.job("other", other).state == "queued"
    e = expect(ps.Refused, c.job, "nope", 1)
    assert e.code == ps.errors.E_NO_QUEUE and e.name == "NO_QUEUE", e
    assert c.job("j", q).id == q            # connected again

    # In flight: the consumer's id, when it was delivered.
    con = ps.Consumer("j", id="py-worker", max_demand=2, min_demand=0,
                      socket=h.sock)
    a, b = next(con), next(con)
    assert (a.id, b.id) == (f, rt), (a, b)
    t1 = time.time()
    j = c.job("j", f)
    assert (j.state, j.state_code, j.consumer, j.attempts) == \
        ("in flight", 5, "py-worker", 1), j
    assert t0 - 1 <= j.at <= t1 + 1, j
    same_as_pushctl(h, "j", j)
    # Waiting to retry (the queue backs off an hour), with its failure.
    assert b.nack(error="ValueError: try later")
    con.flush()
    h.wait_for(lambda: c.job("j", rt).state == "waiting to retry",
               what="the event held back")
    j = c.job("j", rt)
    assert (j.state_code, j.attempts, j.consumer, j.reason) == \
        (6, 1, None, None), j
    assert t1 + 2880 - 5 <= j.at <= time.time() + 4320 + 5, j
    (fl,) = j.failures
    assert (fl.attempt, fl.consumer, fl.error) == \
        (1, "py-worker", "ValueError: try later"), fl
    assert t1 - 1 <= fl.at <= time.time() + 1, fl
    same_as_pushctl(h, "j", j)
    # The asyncio client says the same.

    async def aio():
        async with ps.AsyncClient(h.sock) as ac:
            got = [await ac.job("j", rt), await ac.job("j", unique_id="uid-q"),
                   await ac.job("j", 10 ** 9)]
            try:
                await ac.job("j", rt, unique_id="x")
            except ValueError as x:
                got.append(str(x))
            return got
    got = asyncio.run(aio())
    same_job(got[0], j)
    same_job(got[1], c.job("j", q))
    assert got[2:] == [None, "give id or unique_id, not both"], got
    # Done with (acked): None.
    assert a.ack()
    con.flush()
    h.wait_for(lambda: c.job("j", f) is None, what="the acked event gone")
    assert pushctl_job(h, "j", f) is None
    con.close()

    # Dead after its last attempt (--max-attempts 2): a NACK's, both
    # failures kept.
    x = c.enqueue("d", "dies")
    with ps.Consumer("d", id="py-d", socket=h.sock) as dc:
        ev = next(dc)
        assert ev.nack(delay=0, error="first")
        ev = next(dc)
        assert ev.attempt == 2 and ev.nack(error=b"second \xff")
        dc.flush()
        h.wait_for(lambda: c.job("d", x).state == "dead", what="dead")
    j = c.job("d", x)
    assert (j.state_code, j.reason, j.attempts, j.at, j.consumer) == \
        (7, "nack", 2, None, None), j
    assert [(fl.attempt, fl.consumer, fl.error) for fl in j.failures] == \
        [(1, "py-d", "first"), (2, "py-d", "second \ufffd")], j
    assert j.failures[0].at <= j.failures[1].at <= time.time() + 1, j
    same_as_pushctl(h, "d", j)
    assert c.dead("d")[0].error == "second \ufffd"
    # An ack timeout's: the daemon's error.
    c.create("to", max_attempts=1, ack_timeout=0.2)
    y = c.enqueue("to", "slow")
    with ps.Consumer("to", id="py-slow", socket=h.sock) as tc:
        assert next(tc).id == y
        h.wait_for(lambda: c.job("to", y).state == "dead", what="timed out")
    j = c.job("to", y)
    assert (j.reason, j.attempts) == ("timeout", 1), j
    assert [(fl.attempt, fl.consumer, fl.error) for fl in j.failures] == \
        [(1, "py-slow", "no ACK within the ack timeout (200 ms)")], j
    same_as_pushctl(h, "to", j)
    # A consumer gone with it on its last attempt: no failure of its.
    c.create("dc", max_attempts=1)
    z = c.enqueue("dc", "orphan")
    gone = ps.Consumer("dc", id="py-gone", socket=h.sock)
    assert next(gone).id == z
    gone.close()
    h.wait_for(lambda: c.job("dc", z).state == "dead", what="dead")
    j = c.job("dc", z)
    assert (j.reason, j.attempts, j.failures) == ("disconnect", 1, []), j
    same_as_pushctl(h, "dc", j)

    # Waiting behind its key (dispatch key): the second of a key.
    c.create("k", dispatch="key")
    k1 = c.enqueue("k", "k first", key="user-9")
    k2 = c.enqueue("k", "k second", key="user-9", unique_id="k-2")
    with ps.Consumer("k", id="py-k", max_demand=2, socket=h.sock) as kc:
        ev = next(kc)
        assert ev.id == k1
        j = c.job("k", unique_id="k-2")
        assert (j.id, j.state, j.state_code, j.key) == \
            (k2, "waiting behind its key", 3, b"user-9"), j
        same_as_pushctl(h, "k", j)
        assert ev.ack()
        ev = next(kc)
        assert ev.id == k2
        j = c.job("k", k2)
        assert (j.state, j.consumer) == ("in flight", "py-k"), j
        assert c.job("k", k1) is None
        assert ev.ack()

    # A group's copy: in flight there, queued in the shared group.
    with ps.Consumer("g", group="audit", id="py-audit",
                     socket=h.sock) as gc:
        c.enqueue("g", "one")
        ev = next(gc)
        j = c.job("g/audit", ev.id)
        assert (j.state, j.consumer) == ("in flight", "py-audit"), j
        same_as_pushctl(h, "g/audit", j)
        assert c.job("g", ev.id).state == "queued"
        assert c.job("g/", ev.id).state == "queued"

    # Bad arguments: ValueError (TypeError for a type) naming the
    # argument, before any connect (there is no daemon at this path).
    nowhere = ps.Client(os.path.join(h.dir, "nowhere.sock"))
    for args, kw, exc, says in (
            (("j",), {}, ValueError, "give id or unique_id, one of them"),
            (("j", 1), {"unique_id": "u"}, ValueError, "not both"),
            (("j", 0), {}, ValueError, "id must be 1 to 2**64 - 1"),
            (("j", -1), {}, ValueError, "id must be"),
            (("j", 1 << 64), {}, ValueError, "id must be"),
            (("j",), {"unique_id": ""}, ValueError,
             "unique_id must be 1 to 128 bytes, not 0"),
            (("j",), {"unique_id": "x" * 129}, ValueError,
             "unique_id must be 1 to 128 bytes, not 129"),
            (("j",), {"unique_id": "é" * 65}, ValueError,
             "unique_id must be 1 to 128 bytes, not 130"),
            (("j", 1), {"preview": -1}, ValueError,
             "preview must be 0 to 1024 bytes, not -1"),
            (("j", 1), {"preview": 1025}, ValueError, "preview must be"),
            (("bad name!", 1), {}, ValueError, "bad queue name"),
            (("j/a/b", 1), {}, ValueError, "bad queue name"),
            (("j", "5"), {}, TypeError, "id must be an int, not str"),
            (("j", True), {}, TypeError, "id must be an int"),
            (("j", 1.0), {}, TypeError, "id must be an int"),
            (("j",), {"unique_id": 5}, TypeError,
             "unique_id must be str or bytes"),
            (("j", 1), {"preview": "8"}, TypeError, "preview must be an int")):
        e = expect(exc, nowhere.job, *args, **kw)
        assert says in str(e), (args, kw, e)
        e = expect(exc, c.job, *args, **kw)
        assert says in str(e), (args, kw, e)
    # Good ones go: 128 bytes of unique id, preview 1024, QUEUE/GROUP.
    assert c.job("j", unique_id="u" * 128, preview=1024) is None
    assert c.job("g/audit", 10 ** 9) is None
    c.close()


def job_daemon(seen, answer):
    """A fake version 5 daemon for clients: each frame after its WELCOME
    into seen, as (type, body), answered with answer(type, body): the
    bytes to send, or None to hang up."""
    def script(conn):
        t, body = read_frame(conn)
        conn.sendall(welcome(5))
        while True:
            t, body = read_frame(conn)
            if t is None:
                return
            seen.append((t, body))
            out = answer(t, body)
            if out is None:
                return
            conn.sendall(out)
    return script


def case_py_job_fakes(h):
    """Client.job to fake daemons: to one of version 4 or 3, Unsupported
    (JOB needs version 5) and no JOB sent, the connection still good; a
    JOB laid out as protocol.md says, by id and unique id, of a group;
    a cluster's ERROR 6 surfaced as every ERROR 6 is (ProtocolError,
    its code and reason); a JOB_REPLY cut short a ProtocolError and the
    connection closed; a JOB_REPLY with failures and headers read; a JOB
    cut short (a task cancelled, KeyboardInterrupt) closes its
    connection, so that its late answer never answers the next call."""
    for speaks in (4, 3):
        seen = []
        path = os.path.join(h.dir, "v%d.sock" % speaks)
        f = Fake(path, old_daemon(speaks, seen))
        c = ps.Client(path)
        e = expect(ps.Unsupported, c.job, "q", 1)
        assert "(JOB) needs protocol version 5" in str(e) and \
            "speaks version %d" % speaks in str(e), e
        expect(ps.Unsupported, c.job, "q/g", unique_id="u")
        assert all(s[0] == "HELLO" for s in seen), seen
        assert c.enqueue("q", "x") == 100       # the same connection
        c.close()

        async def aio():
            async with ps.AsyncClient(path) as ac:
                try:
                    await ac.job("q", 1)
                except ps.Unsupported as x:
                    return str(x)
            return None
        assert "needs protocol version 5" in (asyncio.run(aio()) or ""), speaks
        assert not [s for s in seen if s[0] == 24], seen
        f.close()

    # Version 5: the JOB's bytes; the reply read.
    reply = job_reply_spec(
        77, 6, 0, 1, 1700000009000, 32768, 4, b"data", b"",
        bytes([1, 1]) + b"k" + raw_header(b"task", b"t"),
        [(1700000008000, 1, b"w", b"Traceback: boom")])
    seen = []
    path = os.path.join(h.dir, "v5.sock")
    f = Fake(path, job_daemon(seen, lambda t, b: _proto.frame(25, reply)))
    c = ps.Client(path)
    j = c.job("q/g", 77, preview=9)
    assert j == ps.Job(77, "waiting to retry", 6, None, 1, 1700000009.0,
                       32768, 4, b"data", None, b"k", {"task": "t"},
                       [("task", b"t")],
                       [ps.Failure(1700000008.0, 1, "w", "Traceback: boom")]
                       ), j
    c.job("q", unique_id="é")
    c.job("q", 5)

    async def aio5():
        async with ps.AsyncClient(path) as ac:
            return await ac.job("q", unique_id=b"\xff", preview=1024)
    assert asyncio.run(aio5()) == j
    assert [_proto.frame(t, b) for t, b in seen] == [
        job_frame_spec(b"q/g", 77, 9), job_frame_spec(b"q", 0, 256,
                                                      "é".encode()),
        job_frame_spec(b"q", 5, 256), job_frame_spec(b"q", 0, 1024, b"\xff")
    ], seen
    c.close()
    f.close()

    # A daemon in a cluster: ERROR 6 with its reason, as any ERROR 6.
    why = (b"JOB: a cluster does not find an event by its id yet: its events "
           b"live in JetStream, for every host (docs/cluster.md)")
    seen = []
    path = os.path.join(h.dir, "cluster.sock")
    f = Fake(path, job_daemon(seen, lambda t, b: _proto.frame(
        9, struct.pack(">H", 6) + why)))
    c = ps.Client(path)
    e = expect(ps.ProtocolError, c.job, "q", 1)
    assert e.code == 6 and why.decode() in str(e) and "BAD_STATE" in str(e), e

    async def aioc():
        async with ps.AsyncClient(path) as ac:
            try:
                await ac.job("q", 1)
            except ps.ProtocolError as x:
                return x.code, str(x)
        return None
    code, msg = asyncio.run(aioc())
    assert code == 6 and why.decode() in msg, msg
    c.close()
    f.close()

    # A reply cut short (the frame whole, its body not): ProtocolError,
    # the connection closed, the next call on a new one.
    seen = []
    path = os.path.join(h.dir, "short.sock")
    replies = [reply[:-3], reply[:29], reply + b"\0", reply]
    f = Fake(path, job_daemon(seen, lambda t, b: _proto.frame(
        25, replies[len(seen) - 1])))
    c = ps.Client(path)
    for _ in range(3):
        expect(ps.ProtocolError, c.job, "q", 77)
        assert c._conn is None or c._conn.sock is None
    assert c.job("q", 77) == j
    c.close()
    seen.clear()

    async def aios():
        async with ps.AsyncClient(path) as ac:
            try:
                await ac.job("q", 77)
            except ps.ProtocolError:
                pass
            else:
                raise AssertionError("a short JOB_REPLY was read")
            assert ac._conn is None or not ac._conn.open_
            for _ in range(2):
                try:
                    await ac.job("q", 77)
                except ps.ProtocolError:
                    pass
            return await ac.job("q", 77)
    assert asyncio.run(aios()) == j
    f.close()
    # A request cut short (a task cancelled, a signal handler's
    # exception in the main thread, as KeyboardInterrupt) closes its
    # connection: its answer, late, never comes to the next request.
    got, release = threading.Event(), threading.Event()

    def slow(t, b):
        eid = struct.unpack(">Q", b[2:10])[0]
        if eid == 1:
            got.set()
            release.wait(60)
        return _proto.frame(25, job_reply_spec(eid, 1))
    path = os.path.join(h.dir, "slow.sock")
    f = Fake(path, job_daemon([], slow))

    async def aiocut():
        loop = asyncio.get_running_loop()
        async with ps.AsyncClient(path) as ac:
            task = asyncio.ensure_future(ac.job("q", 1))
            assert await loop.run_in_executor(None, got.wait, 30)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            closed = not ac._conn.open_
            release.set()
            return closed, (await ac.job("q", 2)).id
    assert asyncio.run(aiocut()) == (True, 2)
    got.clear()
    release.clear()

    def interrupt(signum, frame):
        raise Interrupted()
    old = signal.signal(signal.SIGUSR1, interrupt)
    try:
        c = ps.Client(path)
        main = threading.main_thread().ident

        def poke():
            got.wait(30)
            signal.pthread_kill(main, signal.SIGUSR1)
        threading.Thread(target=poke).start()
        expect(Interrupted, c.job, "q", 1)
        assert c._conn is None or c._conn.sock is None
    finally:
        signal.signal(signal.SIGUSR1, old)
    release.set()
    assert c.job("q", 2).id == 2
    c.close()
    f.close()
    # Another frame for an answer: ProtocolError.
    seen = []
    path = os.path.join(h.dir, "other.sock")
    f = Fake(path, job_daemon(seen, lambda t, b: _proto.frame(
        17, b"\0\0\0\1")))
    e = expect(ps.ProtocolError, ps.Client(path).job, "q", 1)
    assert "type 17, not 25" in str(e), e
    f.close()


# --- cancelling jobs (JOB_CANCEL, JOB_CANCEL_REPLY, CANCEL; version 5) -----

def job_cancel_spec(queue, ids=(), uid=b""):
    """A JOB_CANCEL as protocol.md lays it out, apart from the package:
    queue_len, queue, uid_len, uid, count, ids."""
    body = bytes([len(queue)]) + queue + bytes([len(uid)]) + uid + \
        struct.pack(">I", len(ids)) + b"".join(struct.pack(">Q", i)
                                               for i in ids)
    return struct.pack(">IBBH", len(body), 27, 0, 0) + body


def cancel_reply_spec(entries):
    """A JOB_CANCEL_REPLY body: count, then each (u64 id, u8 outcome)."""
    return struct.pack(">I", len(entries)) + b"".join(
        struct.pack(">QB", i, o) for i, o in entries)


def cancel_spec(ids):
    """A CANCEL frame, header and all: count, then the u64 ids (ACK's
    layout)."""
    body = struct.pack(">I", len(ids)) + b"".join(struct.pack(">Q", i)
                                                  for i in ids)
    return struct.pack(">IBBH", len(body), 26, 0, 0) + body


def event_spec(eid, attempt, data):
    body = struct.pack(">QI", eid, attempt) + data
    return struct.pack(">IBBH", len(body), 6, 0, 0) + body


def quiet_consumer(speaks):
    """A fake daemon for one consumer: WELCOME of version `speaks`, then
    it reads (DEMAND, ACKs) and sends nothing: the test feeds the
    consumer's reads itself."""
    def script(conn):
        _, body = read_frame(conn)
        if struct.unpack(">H", body[:2])[0] > speaks:
            conn.sendall(_proto.frame(9, struct.pack(">H", 7) + (
                "this daemon speaks versions 1 to %d" % speaks).encode()))
            return
        conn.sendall(welcome(speaks))
        while read_frame(conn)[0] is not None:
            pass
    return script


def case_py_cancel_proto(h):
    """The bytes of cancelling, without a daemon: JOB_CANCEL built to the
    byte (by ids, by unique id), JOB_CANCEL_REPLY and CANCEL read from
    hand-made bytes, and everything cut short, run long or out of range
    a ProtocolError; a consumer, sync and asyncio, that reads a CANCEL
    between EVENTs (whole, split across reads, with its EVENT in one
    read, naming ids it does not hold) goes on and marks its events
    cancelled; a client to fake daemons (its frame, a reply that does
    not answer it, a version 4 daemon, the reply's frame limit)."""
    hx = bytes.fromhex
    # protocol.md's layout: queue, uid_len, uid, count, ids.
    assert _proto.job_cancel(b"jobs", [1, 2]) == hx(
        "0000001a" "1b" "00" "0000" "046a6f6273" "00" "00000002"
        "0000000000000001" "0000000000000002")
    assert _proto.job_cancel(b"q", [], b"order-7") == hx(
        "0000000e" "1b000000" "0171" "07" + b"order-7".hex() + "00000000")
    for args in ((b"q", [7, (1 << 64) - 1, 7]), (b"q", [], b"u" * 128),
                 (b"x" * 64, [5])):
        assert _proto.job_cancel(*args) == job_cancel_spec(*args), args
    for args in ((b"q", []), (b"q", [1], b"u"), (b"q", [], b"u" * 129),
                 (b"q", [0]), (b"q", [1 << 64])):
        expect(ValueError, _proto.job_cancel, *args)
    # The package's request, from Client.cancel's arguments.
    idl, uid = _core.cancel_args("jobs", (i for i in (3, 1, 2)), None)
    assert _core.cancel_frame(5, 1 << 20, "jobs", idl, uid) == \
        job_cancel_spec(b"jobs", [3, 1, 2])
    idl, uid = _core.cancel_args("jobs", 9, None)
    assert _core.cancel_frame(5, 1 << 20, "jobs", idl, uid) == \
        job_cancel_spec(b"jobs", [9])
    idl, uid = _core.cancel_args("jobs", None, "é")
    assert _core.cancel_frame(5, 1 << 20, "jobs", idl, uid) == \
        job_cancel_spec(b"jobs", [], "é".encode())
    e = expect(ps.Unsupported, _core.cancel_frame, 4, 1 << 20, "q", [1], b"")
    assert "(JOB_CANCEL) needs protocol version 5" in str(e) and \
        "speaks version 4" in str(e), e

    # JOB_CANCEL_REPLY: count, then (u64 id, u8 outcome) each.
    body = cancel_reply_spec([(7, 1), (9, 2), ((1 << 64) - 1, 3)])
    assert body == hx("00000003" "000000000000000701" "000000000000000902"
                      "ffffffffffffffff03")
    assert _proto.parse_cancel_reply(body) == [(7, 1), (9, 2),
                                               ((1 << 64) - 1, 3)]
    assert _core.cancel_result(body, [7, 9, (1 << 64) - 1]) == [
        ps.Cancelled(7, "cancelled", 1),
        ps.Cancelled(9, "cancelled in flight", 2),
        ps.Cancelled((1 << 64) - 1, "cancelled before", 3)]
    # By unique id: one entry, the event's id.
    assert _core.cancel_result(cancel_reply_spec([(42, 1)]), []) == [
        ps.Cancelled(42, "cancelled", 1)]
    for n in range(len(body)):
        expect(ps.ProtocolError, _proto.parse_cancel_reply, body[:n])
    e = expect(ps.ProtocolError, _proto.parse_cancel_reply, body + b"\0")
    assert "JOB_CANCEL_REPLY" in str(e), e
    for o in (0, 4, 255):
        e = expect(ps.ProtocolError, _proto.parse_cancel_reply,
                   cancel_reply_spec([(7, o)]))
        assert "outcome %d" % o in str(e), e
    # A reply that does not answer what was asked: other ids, another
    # order, more or fewer, or more than one for a unique id.
    for asked, entries in (([7, 9], [(9, 1), (7, 1)]), ([7], [(8, 1)]),
                           ([7], [(7, 1), (7, 1)]), ([7, 9], [(7, 1)]),
                           ([], [(7, 1), (8, 1)]), ([], [])):
        expect(ps.ProtocolError, _core.cancel_result,
               cancel_reply_spec(entries), asked)
    # An id named twice is answered twice.
    assert [x.outcome for x in _core.cancel_result(cancel_reply_spec(
        [(7, 2), (7, 3)]), [7, 7])] == ["cancelled in flight",
                                        "cancelled before"]

    # CANCEL: count (at least 1), then the u64 ids, ACK's layout.
    f = cancel_spec([5, 6])
    assert f == hx("00000014" "1a000000" "00000002" "0000000000000005"
                   "0000000000000006")
    assert f == _proto.ids(_proto.CANCEL, [5, 6])
    assert _proto.parse_cancel(f[8:]) == [5, 6]
    for n in range(8, len(f) - 8):
        expect(ps.ProtocolError, _proto.parse_cancel, f[8:8 + n])
    expect(ps.ProtocolError, _proto.parse_cancel, f[8:] + b"\0")
    expect(ps.ProtocolError, _proto.parse_cancel, b"\0\0\0\0")
    # The Reader takes the three types, 26 to 28.
    r = _proto.Reader()
    r.feed(f + job_cancel_spec(b"q", [1]) +
           _proto.frame(28, cancel_reply_spec([(1, 1)])))
    assert [t for t, _, _ in r.frames()] == [26, 27, 28]

    # A consumer reads a CANCEL between EVENTs: each of its ids held
    # here marks its event, the rest is nothing; the consumer goes on.
    path = os.path.join(h.dir, "quiet.sock")
    f5 = Fake(path, quiet_consumer(5))
    con = ps.Consumer("q", id="w", max_demand=8, socket=path)
    con._take(event_spec(1, 1, b"one") + event_spec(2, 1, b"two"))
    e1, e2 = con.get(), con.get()
    assert (e1.data, e2.data, e1.cancelled, e2.cancelled) == \
        (b"one", b"two", False, False)
    told = []
    con._on_cancel = told.append
    con._take(cancel_spec([2, 99]))
    assert (e1.cancelled, e2.cancelled, told) == (False, True, [[2]]), told
    assert "cancelled" in repr(e2) and "cancelled" not in repr(e1)
    # Split across reads, and after its EVENT in one read.
    whole = event_spec(3, 1, b"three") + cancel_spec([1, 3])
    for i in range(0, len(whole), 7):
        con._take(whole[i:i + 7])
    e3 = con.get()
    assert (e3.data, e3.cancelled, e1.cancelled) == (b"three", True, True)
    assert told == [[2], [1, 3]] and con.get(timeout=0) is None, told
    # Told twice, or of an event answered already: nothing more.
    assert e1.ack()
    con._take(cancel_spec([1, 2, 3]))
    assert told == [[2], [1, 3]], told
    assert e1.cancelled and e2.cancelled and e3.cancelled
    # A CANCEL whose count does not match its length, or of no ids: a
    # ProtocolError, the connection closed.
    bad = struct.pack(">IBBHI", 12, 26, 0, 0, 2) + struct.pack(">Q", 3)
    e = expect(ps.ProtocolError, con._take, bad)
    assert "CANCEL" in str(e) and con._conn.sock is None, e
    con2 = ps.Consumer("q", id="w2", socket=path)
    e = expect(ps.ProtocolError, con2._take, struct.pack(">IBBHI", 4, 26, 0,
                                                         0, 0))
    assert "CANCEL" in str(e) and con2._conn.sock is None, e
    con.close()
    # To a consumer of version 4 a CANCEL is a frame it may not get.
    p4 = os.path.join(h.dir, "quiet4.sock")
    f4 = Fake(p4, quiet_consumer(4))
    con4 = ps.Consumer("q", id="w", socket=p4)
    assert con4.version == 4
    con4._take(event_spec(1, 1, b"x"))
    e = expect(ps.ProtocolError, con4._take, cancel_spec([1]))
    assert "type 26" in str(e), e
    f4.close()

    async def aio():
        acon = ps.AsyncConsumer("q", id="a", max_demand=8, socket=path)
        await acon.connect()
        seen = []
        acon._on_cancel = seen.append
        r = _proto.Reader()
        r.feed(event_spec(1, 1, b"one") + event_spec(2, 1, b"two") +
               cancel_spec([2, 77]))
        acon._take(r.frames())
        a1, a2 = await acon.get(), await acon.get()
        out = [(a1.cancelled, a2.cancelled, list(seen))]
        r.feed(cancel_spec([1, 2]))
        acon._take(r.frames())
        out.append((a1.cancelled, a2.cancelled, list(seen),
                    "cancelled" in repr(a1)))
        try:
            acon._take([(26, b"\0\0\0\1" + bytes(7), 0)])
        except ps.ProtocolError as x:
            out.append(("closed", not acon._conn.open_, "CANCEL" in str(x)))
        await acon.close()
        return out
    assert asyncio.run(aio()) == [
        (False, True, [[2]]), (True, True, [[2], [1]], True),
        ("closed", True, True)]
    f5.close()

    # A read that brings no event (CANCELs that come on and on) does
    # not start get()'s timeout again: it ends with None.
    def chatty(conn):
        read_frame(conn)
        conn.sendall(welcome(5))
        read_frame(conn)                            # DEMAND
        while True:
            conn.sendall(cancel_spec([999]))
            time.sleep(0.01)
    path = os.path.join(h.dir, "chatty.sock")
    fc = Fake(path, chatty)
    with ps.Consumer("q", id="w", socket=path) as con:
        assert con.get(timeout=0.2) is None

    async def aio_chatty():
        async with ps.AsyncConsumer("q", id="a", socket=path) as acon:
            return await asyncio.wait_for(acon.get(timeout=0.2), 60)
    assert asyncio.run(aio_chatty()) is None
    fc.close()

    # The window keeps each held event's id until it is answered, and
    # of those answered the last 512 at least, about 1024 at most.
    w = _core.Window(4000, 0, True)
    w.delivery([1, 2, 3])
    assert w.cancel([5000]) == [] and w.cancel([1, 1, 2]) == [1, 2]
    assert w.cancel([2, 3]) == [3]
    for i in range(4, 20004):
        w.delivery([i])
        w.cancel([i])
        w.done(i)
        assert len(w.cancelled) <= 1024 + 4, (i, len(w.cancelled))
    assert all(i in w.cancelled for i in [1, 2, 3] + list(range(19492,
                                                                20004)))
    assert 4 not in w.cancelled
    # However many are held: all of them kept.
    w.delivery(list(range(30000, 33000)))
    w.cancel(range(30000, 33000))
    for i in range(40000, 50000):
        w.delivery([i])
        w.cancel([i])
        w.done(i)
    assert all(i in w.cancelled for i in range(30000, 33000))
    assert len(w.cancelled) <= 2 * (3003 + 1024), len(w.cancelled)

    # A client to fake daemons: the JOB_CANCEL it sends, a reply read.
    seen = []
    path = os.path.join(h.dir, "jc.sock")
    replies = {b"ok": lambda ids: cancel_reply_spec([(i, 2) for i in ids]),
               b"bad": lambda ids: cancel_reply_spec([(i + 1, 1)
                                                      for i in ids])}

    def answer(t, body):
        q = body[1:1 + body[0]]
        rest = body[1 + body[0]:]
        uid = rest[1:1 + rest[0]]
        n = struct.unpack(">I", rest[1 + rest[0]:5 + rest[0]])[0]
        ids = list(struct.unpack(">%dQ" % n, rest[5 + rest[0]:])) or [123]
        return _proto.frame(28, replies[q](ids) if uid != b"cut"
                            else cancel_reply_spec([(1, 1)])[:-1])
    f = Fake(path, job_daemon(seen, answer))
    c = ps.Client(path)
    assert c.cancel("ok", [5, 6]) == [ps.Cancelled(5, "cancelled in flight",
                                                   2),
                                      ps.Cancelled(6, "cancelled in flight",
                                                   2)]
    assert c.cancel("ok", unique_id=b"\xff")[0].id == 123
    expect(ps.ProtocolError, c.cancel, "bad", [5])
    assert c._conn is None or c._conn.sock is None, "not closed"
    expect(ps.ProtocolError, c.cancel, "ok", unique_id="cut")
    assert [_proto.frame(t, b) for t, b in seen] == [
        job_cancel_spec(b"ok", [5, 6]), job_cancel_spec(b"ok", [], b"\xff"),
        job_cancel_spec(b"bad", [5]), job_cancel_spec(b"ok", [], b"cut")]

    async def aio_client():
        async with ps.AsyncClient(path) as ac:
            got = await ac.cancel("ok", 8)
            try:
                await ac.cancel("bad", [8])
            except ps.ProtocolError:
                got.append("bad")
            return got
    assert asyncio.run(aio_client()) == [
        ps.Cancelled(8, "cancelled in flight", 2), "bad"]
    c.close()
    f.close()
    # A daemon of version 4: Unsupported, nothing sent, the connection
    # still good.
    seen = []
    path = os.path.join(h.dir, "v4.sock")
    f = Fake(path, old_daemon(4, seen))
    c = ps.Client(path)
    e = expect(ps.Unsupported, c.cancel, "q", [1])
    assert "(JOB_CANCEL) needs protocol version 5" in str(e), e
    assert c.enqueue("q", "x") == 100 and \
        not [s for s in seen if s[0] == 27], seen
    c.close()
    f.close()
    # Its answer is 9 bytes an id: more ids than max_frame / 9 would
    # bring one over the daemon's frame limit, so they are refused here.
    seen = []
    path = os.path.join(h.dir, "small.sock")

    def small(conn):
        read_frame(conn)
        conn.sendall(_proto.frame(2, struct.pack(">HHIIHBB", 5, 0, 4096, 0,
                                                 5, 1, 0)))
        while True:
            t, body = read_frame(conn)
            if t is None:
                return
            seen.append(t)
            n = struct.unpack(">I", body[3:7])[0]
            conn.sendall(_proto.frame(28, cancel_reply_spec(
                [(i, 1) for i in range(1, n + 1)])))
    f = Fake(path, small)
    c = ps.Client(path)
    assert len(c.cancel("q", range(1, 456))) == 455
    e = expect(ValueError, c.cancel, "q", range(1, 457))
    assert "cancel at most 455 at once" in str(e), e
    assert seen == [27], seen
    c.close()
    f.close()
    # Exported.
    assert ps.Cancelled is _core.Cancelled and "Cancelled" in ps.__all__
    assert ps.errors.E_NO_EVENT == 19 and \
        _proto.ERROR_NAMES[19] == "NO_EVENT"


def case_py_cancel(h):
    """Client.cancel (and AsyncClient.cancel) against a real producerd:
    queued and delayed events are gone; one in flight is marked, its
    consumer's Event.cancelled becomes True, JOB says "cancelled in
    flight", and after its answer (an ACK, or a NACK) it is gone, never
    delivered again; in every group of a queue; by unique id (free at
    once after); an unknown id (NO_EVENT) and a dead letter (BAD_VALUE)
    cancel nothing of the call; bad arguments are ValueErrors before
    any connect."""
    h.start_daemon()
    c = h.client()

    def st(q, *names):
        s = c.stats(q)
        return tuple(s[n] for n in names)
    # Queued: gone; the consumer never gets them.
    q1, q2, q3 = c.enqueue("jobs", ["q1", "q2", "q3"])
    got = c.cancel("jobs", [q1, q3])
    assert got == [ps.Cancelled(q1, "cancelled", 1),
                   ps.Cancelled(q3, "cancelled", 1)], got
    assert st("jobs", "queued", "cancelled_total") == (1, 2)
    assert c.job("jobs", q1) is None and c.job("jobs", q3) is None
    assert pushctl_job(h, "jobs", q1) is None
    # Delayed: gone.
    d = c.enqueue("jobs", "later", delay=3600)
    assert st("jobs", "delayed") == (1,)
    assert c.cancel("jobs", d) == [ps.Cancelled(d, "cancelled", 1)]
    assert st("jobs", "delayed", "cancelled_total") == (0, 3)
    assert c.job("jobs", d) is None
    # In flight: marked, its consumer told.
    f1, f2, f3 = c.enqueue("jobs", ["f1", "f2", "f3"])
    con = ps.Consumer("jobs", id="py-c", max_demand=4, min_demand=0,
                      socket=h.sock)
    evs = {}
    while len(evs) < 4:
        ev = con.get(timeout=10)
        assert ev is not None, evs
        evs[ev.data] = ev
    assert sorted(evs) == [b"f1", b"f2", b"f3", b"q2"], evs
    assert not any(e.cancelled for e in evs.values())
    assert c.cancel("jobs", [f1]) == [
        ps.Cancelled(f1, "cancelled in flight", 2)]
    j = c.job("jobs", f1)
    assert (j.state, j.state_code, j.consumer) == \
        ("cancelled in flight", 8, "py-c"), j
    r = h.pushctl("job", "show", "jobs", str(f1), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["state"].startswith(
        "cancelled"), r
    # The consumer learns it as it reads on (the CANCEL comes between
    # EVENTs: none comes, as the queue holds nothing for it).
    h.wait_for(lambda: con.get(timeout=0.01) is None and
               evs[b"f1"].cancelled, what="the CANCEL read")
    assert [e.cancelled for k, e in sorted(evs.items())] == \
        [True, False, False, False]
    # Again: cancelled before, nothing more.
    assert c.cancel("jobs", [f1, f1]) == [
        ps.Cancelled(f1, "cancelled before", 3)] * 2
    assert st("jobs", "cancelled_total", "in_flight") == (4, 4)
    # Its ACK ends it; a NACK of another cancelled one too: neither
    # comes again, nor goes to the dead letters.
    assert c.cancel("jobs", [f2]) == [
        ps.Cancelled(f2, "cancelled in flight", 2)]
    h.wait_for(lambda: con.get(timeout=0.01) is None and
               evs[b"f2"].cancelled, what="the second CANCEL")
    assert evs[b"f1"].ack() and evs[b"f2"].nack(delay=0, error="stopped")
    con.flush()
    h.wait_for(lambda: st("jobs", "in_flight") == (2,), what="the answers")
    assert st("jobs", "acked_total", "nacked_total", "redelivered_total",
              "queued", "dead", "delayed") == (1, 1, 0, 0, 0, 0)
    assert c.job("jobs", f1) is None and c.job("jobs", f2) is None
    assert pushctl_job(h, "jobs", f2) is None
    assert evs[b"f1"].cancelled and evs[b"f2"].cancelled
    # An unknown id, with others that could go: ERROR 19, nothing
    # cancelled; the next call connects again.
    q4 = c.enqueue("jobs", "q4")
    for ids in ([q4, 10 ** 9], [10 ** 9, q4], [f3, q4, f1]):
        e = expect(ps.Refused, c.cancel, "jobs", ids)
        bad = 10 ** 9 if 10 ** 9 in ids else f1
        assert (e.code, e.name) == (ps.errors.E_NO_EVENT, "NO_EVENT") and \
            str(bad) in e.message and not e.retry_later, e
    assert c.job("jobs", q4).state == "queued"
    assert c.job("jobs", f3).state == "in flight"
    assert st("jobs", "cancelled_total", "queued", "in_flight") == (5, 1, 2)
    # A dead letter: ERROR 5, nothing cancelled; drop_dead drops it.
    c.create("d", max_attempts=1)
    x = c.enqueue("d", "dies")
    with ps.Consumer("d", id="py-d", socket=h.sock) as dc:
        assert next(dc).nack()
        dc.flush()
        h.wait_for(lambda: c.dead("d").total == 1, what="the dead letter")
    y = c.enqueue("d", "waits")
    e = expect(ps.Refused, c.cancel, "d", [y, x])
    assert (e.code, e.name) == (5, "BAD_VALUE") and str(x) in e.message and \
        "dead letter" in e.message, e
    assert c.job("d", y).state == "queued" and c.job("d", x).state == "dead"
    assert st("d", "cancelled_total", "dead") == (0, 1)
    assert c.cancel("d", [y]) == [ps.Cancelled(y, "cancelled", 1)]
    # By unique id: its one event, its unique id free at once.
    u = c.enqueue("jobs", "unique", unique_id="u-1")
    assert c.enqueue("jobs", "dup", unique_id="u-1") is None
    assert c.cancel("jobs", unique_id="u-1") == [
        ps.Cancelled(u, "cancelled", 1)]
    u2 = c.enqueue("jobs", "again", unique_id=b"u-1")
    assert u2 is not None and u2 > u
    assert c.cancel("jobs", unique_id=b"u-1")[0].id == u2
    e = expect(ps.Refused, c.cancel, "jobs", unique_id="u-1")
    assert e.code == 19 and "u-1" in e.message, e
    e = expect(ps.Refused, c.cancel, "nope", [1])
    assert e.code == ps.errors.E_NO_QUEUE, e
    # Every group of the queue: one group's copy in flight, another's
    # buffered, the shared group's too.
    c.create("fan")
    ga = ps.Consumer("fan", id="py-ga", group="ga", socket=h.sock)
    h.wait_for(lambda: c.stats("fan/ga")["consumers"] == 1, what="ga")
    # (gb is made by its consumer's HELLO, and keeps its copies after.)
    ps.Consumer("fan", id="py-gb", group="gb", socket=h.sock).close()
    h.wait_for(lambda: "fan/gb" in [q.name for q in c.queues()], what="gb")
    g = c.enqueue("fan", "fanned")
    ge = next(ga)
    assert ge.id == g and st("fan/gb", "queued") == (1,)
    assert c.cancel("fan", [g]) == [ps.Cancelled(g, "cancelled in flight",
                                                 2)]
    assert st("fan/gb", "queued", "cancelled_total") == (0, 1)
    assert st("fan", "queued", "cancelled_total") == (0, 1)
    h.wait_for(lambda: ga.get(timeout=0.01) is None and ge.cancelled,
               what="ga's CANCEL")
    assert ge.ack()
    ga.close()
    # A group's name: the package says so before sending; the daemon
    # refuses one as protocol.md says (ERROR 5).
    e = expect(ValueError, c.cancel, "fan/ga", [g])
    assert "a group" in str(e), e
    e = expect(ps.Refused, lambda: c._connected().request(
        _proto.job_cancel(b"fan/ga", [g]), _proto.JOB_CANCEL_REPLY))
    assert e.code == 5 and "group" in e.message, e

    # The asyncio client, and an AsyncConsumer told.
    async def aio():
        async with ps.AsyncClient(h.sock) as ac, \
                ps.AsyncConsumer("aq", id="py-a", max_demand=2,
                                 socket=h.sock) as acon:
            a1, a2 = await ac.enqueue("aq", ["a1", "a2"])
            b1, b2 = await acon.get(), await acon.get()
            assert (b1.id, b2.id) == (a1, a2)
            out = [await ac.cancel("aq", [a2])]
            while not b2.cancelled:
                assert await acon.get(timeout=0.01) is None
            out.append((b1.cancelled, b2.cancelled))
            try:
                await ac.cancel("aq", [a2 + 1000])
            except ps.Refused as x:
                out.append(x.code)
            out.append(await ac.cancel("aq", a2))
            await b1.ack()
            await b2.ack()
            await acon.flush()
            return a2, out
    a2, out = asyncio.run(aio())
    assert out == [[ps.Cancelled(a2, "cancelled in flight", 2)],
                   (False, True), 19,
                   [ps.Cancelled(a2, "cancelled before", 3)]], out
    h.wait_for(lambda: st("aq", "acked_total") == (2,), what="aq's acks")
    assert st("aq", "redelivered_total", "queued", "cancelled_total") == \
        (0, 0, 1)

    # Bad arguments: ValueError or TypeError naming them, before any
    # connect.
    nowhere = ps.Client(os.path.join(h.dir, "nowhere.sock"))
    for args, kw, exc, says in (
            (("j",), {}, ValueError, "give ids or unique_id, one of them"),
            (("j", 1), {"unique_id": "u"}, ValueError, "not both"),
            (("j", []), {}, ValueError, "ids is empty"),
            (("j", iter(())), {}, ValueError, "ids is empty"),
            (("j", 0), {}, ValueError, "an id must be 1 to 2**64 - 1, not 0"),
            (("j", [1, -1]), {}, ValueError, "an id must be"),
            (("j", [1 << 64]), {}, ValueError, "an id must be"),
            (("j",), {"unique_id": ""}, ValueError,
             "unique_id must be 1 to 128 bytes, not 0"),
            (("j",), {"unique_id": "é" * 65}, ValueError,
             "unique_id must be 1 to 128 bytes, not 130"),
            (("bad name!", 1), {}, ValueError, "bad queue name"),
            (("j/g", 1), {}, ValueError, "j/g, a group"),
            (("j/", 1), {}, ValueError, "a group"),
            (("j", "5"), {}, TypeError, "ids must be an int or an iterable "
             "of ints, not str"),
            (("j", b"\1\2"), {}, TypeError, "not bytes"),
            (("j", {1: 2}), {}, TypeError, "not dict"),
            (("j", True), {}, TypeError, "not bool"),
            (("j", 1.0), {}, TypeError, "not float"),
            (("j", [1, "2"]), {}, TypeError, "ids[1] must be an int, not str"),
            (("j", [False]), {}, TypeError, "ids[0] must be an int"),
            (("j",), {"unique_id": 5}, TypeError,
             "unique_id must be str or bytes")):
        e = expect(exc, nowhere.cancel, *args, **kw)
        assert says in str(e), (args, kw, e)
        e = expect(exc, c.cancel, *args, **kw)
        assert says in str(e), (args, kw, e)
    # Good ones go: a set, a range, 128 bytes of unique id.
    q5, q6 = c.enqueue("jobs", ["q5", "q6"])
    assert sorted(x.id for x in c.cancel("jobs", {q5, q6})) == [q5, q6]
    e = expect(ps.Refused, c.cancel, "jobs", unique_id="u" * 128)
    assert e.code == 19, e
    con.close()
    c.close()


def case_py_cancel_worker(h):
    """The worker and a CANCEL: an async def handler that would run for
    ever has its task cancelled and its event acked (not nacked: no
    failure, never delivered again; pushctl job show knows it no more);
    an event cancelled before its handler started is not run, and acked
    while others run; a thread's handler sees event.cancelled become
    True (and one that then raises is acked all the same); while a
    worker stops, a cancel still ends its running handler."""
    h.start_daemon()
    c = h.client()

    def lines(eid):
        return sorted(t for _, i, _, t in h.outputs() if i == eid)

    def started(eid):
        return any(t.endswith(" start") for t in lines(eid))
    # asyncio: one slot, two held (--max-demand 2): the second waits.
    p, log = h.worker("aforever", "--queue", "aw", "-c", "1",
                      "--max-demand", "2", "--grace", "1", name="aw")
    a1, a2 = c.enqueue("aw", ["forever 1", "forever 2"])
    h.wait_for(lambda: started(a1), what="the first handler")
    h.wait_for(lambda: c.stats("aw")["in_flight"] == 2, what="both held")
    assert not started(a2)
    # The one waiting: acked at once, not run, though a1 still runs.
    assert c.cancel("aw", a2) == [ps.Cancelled(a2, "cancelled in flight",
                                               2)]
    h.wait_for(lambda: c.stats("aw")["in_flight"] == 1,
               what="the waiting one answered")
    assert c.stats("aw")["acked_total"] == 1
    assert not started(a2) and lines(a2) == [] and \
        c.job("aw", a1).state == "in flight"
    # The one running: its task cancelled, its event acked.
    assert c.cancel("aw", [a1]) == [ps.Cancelled(a1, "cancelled in flight",
                                                 2)]
    h.wait_for(lambda: c.stats("aw")["in_flight"] == 0,
               what="the running one answered")
    assert lines(a1) == ["forever 1 start", "forever 1 task cancelled, "
                         "event.cancelled True"], lines(a1)
    s = c.stats("aw")
    assert (s["cancelled_total"], s["acked_total"], s["nacked_total"],
            s["redelivered_total"], s["in_flight"], s["queued"],
            s["dead"], s["delayed"]) == (2, 2, 0, 0, 0, 0, 0, 0), s
    for eid in (a1, a2):
        assert c.job("aw", eid) is None and pushctl_job(h, "aw", eid) is None
    text = open(log).read()
    assert "event cancelled before its handler started" in text and \
        "event cancelled while its handler ran" in text and \
        "handler failed" not in text, text
    # It goes on.
    q = c.enqueue("aw", "quick")
    h.wait_for(lambda: c.stats("aw")["acked_total"] == 3, what="the next")
    assert lines(q) == ["quick"] and p.poll() is None

    # Threads: the waiting one is acked at once, not run; the running
    # handler sees event.cancelled and returns, or raises: acked.
    p, log = h.worker("watch", "--queue", "tw", "-c", "1", "--max-demand",
                      "2", "--grace", "1", name="tw")
    t1, t2 = c.enqueue("tw", ["watch 1", "raise"])
    h.wait_for(lambda: started(t1), what="the thread's handler")
    h.wait_for(lambda: c.stats("tw")["in_flight"] == 2, what="both held")
    assert c.cancel("tw", [t2]) == [ps.Cancelled(t2, "cancelled in flight",
                                                 2)]
    h.wait_for(lambda: c.stats("tw")["in_flight"] == 1,
               what="the waiting one answered")
    assert c.stats("tw")["acked_total"] == 1
    assert lines(t2) == [] and c.job("tw", t1).state == "in flight"
    assert c.cancel("tw", [t1]) == [ps.Cancelled(t1, "cancelled in flight",
                                                 2)]
    h.wait_for(lambda: c.stats("tw")["in_flight"] == 0,
               what="the running one answered")
    assert c.stats("tw")["acked_total"] == 2
    assert lines(t1) == ["watch 1 saw cancelled", "watch 1 start"], \
        lines(t1)
    # One that raises once it sees it: acked, no failure kept.
    t3 = c.enqueue("tw", "raise")
    h.wait_for(lambda: started(t3), what="the third handler")
    c.cancel("tw", [t3])
    h.wait_for(lambda: c.stats("tw")["in_flight"] == 0,
               what="the raising one answered")
    assert lines(t3) == ["raise saw cancelled", "raise start"]
    s = c.stats("tw")
    assert (s["cancelled_total"], s["acked_total"], s["nacked_total"],
            s["redelivered_total"], s["in_flight"], s["queued"],
            s["dead"]) == (3, 3, 0, 0, 0, 0, 0), s
    for eid in (t1, t2, t3):
        assert pushctl_job(h, "tw", eid) is None
    text = open(log).read()
    assert "handler failed" not in text and \
        "error=\"RuntimeError: gave up: cancelled\"" in text, text
    assert p.poll() is None

    # While it stops (SIGTERM, a long --grace) it still reads: the one
    # that had not started goes back at once, and a cancel of the one
    # running ends it, acked, and the worker exits then.
    for handler, queue in (("aforever", "as"), ("watch", "ts")):
        p, log = h.worker(handler, "--queue", queue, "-c", "1",
                          "--max-demand", "2", "--grace", "120",
                          name=queue)
        r1, r2 = c.enqueue(queue, ["run 1", "run 2"])
        h.wait_for(lambda: started(r1) and
                   c.stats(queue)["in_flight"] == 2, what="both held")
        p.send_signal(signal.SIGTERM)
        h.wait_for(lambda: c.stats(queue)["nacked_total"] == 1,
                   what="the waiting one given back")
        assert c.job(queue, r2).state == "queued" and not started(r2)
        assert c.cancel(queue, r1) == [
            ps.Cancelled(r1, "cancelled in flight", 2)]
        assert p.wait(timeout=60) == 0
        s = c.stats(queue)
        assert (s["acked_total"], s["nacked_total"], s["in_flight"],
                s["queued"]) == (1, 1, 0, 1), (handler, s)
        text = open(log).read()
        assert "event cancelled while its handler ran" in text and \
            "grace period ran out" not in text, text


# --- results and waits (ACK_RESULT, WAIT, WAIT_REPLY; version 5) ----------

def ack_result_spec(eid, result):
    """An ACK_RESULT as protocol.md lays it out, apart from the package:
    u64 id, u32 len, the result."""
    body = struct.pack(">QI", eid, len(result)) + result
    return struct.pack(">IBBH", len(body), 29, 0, 0) + body


def wait_spec(queue, eid, timeout_ms, uid=b""):
    """A WAIT as protocol.md lays it out: queue_len, queue, u64 id, u32
    timeout_ms, uid_len, uid."""
    body = bytes([len(queue)]) + queue + \
        struct.pack(">QIB", eid, timeout_ms, len(uid)) + uid
    return struct.pack(">IBBH", len(body), 30, 0, 0) + body


def wait_reply_spec(eid, state, timed_out=0, reason=0, at=0, attempts=0,
                    data=b"", reserved=0, dlen=None):
    """A WAIT_REPLY body: u64 id, u8 state, timed_out, reason, reserved,
    u64 at, u32 attempts, u32 len (dlen, to lie), the data."""
    return struct.pack(">QBBBBQII", eid, state, timed_out, reason, reserved,
                       at, attempts, len(data) if dlen is None else dlen) + \
        data


def done_reply_spec(eid, result, length=None, attempts=1, at=0):
    """A JOB_REPLY of a done event (state 9), as a kept record is: no
    preview, consumer, attributes or failures; len the result's whole
    length; then u32 and the result (as much of it as came)."""
    return job_reply_spec(eid, 9, 0, attempts, at, 32768,
                          len(result) if length is None else length) + \
        struct.pack(">I", len(result)) + result


def results_consumer(speaks, seen, events, ended, max_frame=1 << 20):
    """A fake daemon for one consumer: WELCOME of the version it asks for
    (ERROR 7 over `speaks`) with max_frame; after its DEMAND, an EVENT
    of each (id, data) of events; then each frame it gets into seen, as
    (type, body), until the consumer hangs up: ended is set."""
    def script(conn):
        _, body = read_frame(conn)
        v = struct.unpack(">H", body[:2])[0]
        if v > speaks:
            conn.sendall(_proto.frame(9, struct.pack(">H", 7) + (
                "this daemon speaks versions 1 to %d" % speaks).encode()))
            return
        try:
            conn.sendall(_proto.frame(2, struct.pack(
                ">HHIIHBB", v, 0, max_frame, 0, 5, 1, 0)))
            read_frame(conn)                        # DEMAND
            conn.sendall(b"".join(event_spec(i, 1, d) for i, d in events))
            while True:
                t, b = read_frame(conn)
                if t is None:
                    return
                seen.append((t, b))
        finally:
            ended.set()
    return script


def answered(seen):
    """What a consumer sent but its DEMANDs, as whole frames."""
    return [_proto.frame(t, b) for t, b in seen if t != 5]


class Interrupted(Exception):
    """Raised by a signal handler in the main thread, as KeyboardInterrupt
    is."""


def case_py_results_proto(h):
    """The bytes of results and waits, without a daemon: ACK_RESULT and
    WAIT built to the byte as protocol.md lays them out; WAIT_REPLY and
    a done JOB_REPLY (state 9, its result, cut at its end) read from
    hand-made bytes, and cut short, run long or out of range a
    ProtocolError; state 10 a WAIT_REPLY's only.  Plain ACKs batched as
    before beside ACK_RESULTs; a result dropped to a daemon of version 4,
    refused here over max_frame - 12 (ValueError, nothing done), of a
    type that is not bytes or str a TypeError; consumers, sync and
    asyncio, to fake daemons.  Client.wait to fakes: its WAIT, daemons
    of version 4 and 3 (Unsupported, nothing sent), a cluster's refusal,
    replies that do not read, a daemon gone mid-wait, the client's own
    timeout out of the way while the daemon holds the answer, and a
    wait interrupted closing its connection."""
    hx = bytes.fromhex
    # ACK_RESULT: u64 id, u32 len, the result.
    assert _proto.ack_result(7, b"res") == hx(
        "0000000f" "1d000000" "0000000000000007" "00000003" "726573")
    for eid, res in ((1, b""), ((1 << 64) - 1, b"\x00\xff" * 300)):
        assert _proto.ack_result(eid, res) == ack_result_spec(eid, res)
    for eid in (0, 1 << 64):
        expect(ValueError, _proto.ack_result, eid, b"x")
    # WAIT: queue, u64 id, u32 timeout_ms, u8 uid_len, uid.
    assert _proto.wait(b"q", 7, 1500) == hx(
        "0000000f" "1e000000" "0171" "0000000000000007" "000005dc" "00")
    assert _proto.wait(b"jobs/audit", 0, 0xFFFFFFFF, b"order-7") == \
        wait_spec(b"jobs/audit", 0, 0xFFFFFFFF, b"order-7")
    assert _proto.wait(b"q", 0, 0, b"u" * 128) == \
        wait_spec(b"q", 0, 0, b"u" * 128)
    for args in ((b"q", 0, 1), (b"q", 1, 1, b"u"), (b"q", 0, 1, b"u" * 129),
                 (b"q", 1 << 64, 1), (b"q", 1, -1), (b"q", 1, 1 << 32)):
        expect(ValueError, _proto.wait, *args)
    # Client.wait's timeout: seconds as ms, None no limit, 0 at once, a
    # timeout above 0 at least 1 ms.
    for timeout, ms in ((None, 0xFFFFFFFF), (0, 0), (0.0, 0), (1.5, 1500),
                        (30, 30000), (0.3, 300), (0.0001, 1), (0.0005, 1),
                        (0.0015, 2), (4294967.294, 4294967294)):
        eid, uid, got = _core.wait_args("q", 5, None, timeout)
        assert (eid, uid, got) == (5, b"", ms), (timeout, got)
        assert _core.wait_frame(5, "q", eid, uid, got) == \
            wait_spec(b"q", 5, ms)
    eid, uid, ms = _core.wait_args("q/g", None, "é", 2)
    assert _core.wait_frame(5, "q/g", eid, uid, ms) == \
        wait_spec(b"q/g", 0, 2000, "é".encode())
    e = expect(ps.Unsupported, _core.wait_frame, 4, "q", 1, b"", 0)
    assert "(WAIT) needs protocol version 5" in str(e) and \
        "speaks version 4" in str(e), e
    # The answer is awaited for the wait's timeout, then the client's;
    # for ever when either is None.
    assert _core.wait_read_timeout(None, 1500) is None
    assert _core.wait_read_timeout(5.0, 0xFFFFFFFF) is None
    assert _core.wait_read_timeout(5.0, 1500) == 6.5
    assert _core.wait_read_timeout(0.25, 0) == 0.25

    # WAIT_REPLY: done with its result, dead with its last error and
    # reason, cancelled (8 in flight, 10 while it waited), unknown, timed
    # out where it is.
    w = _core.wait_result(wait_reply_spec(42, 9, 0, 0, 1700000000123, 2,
                                          b"\x00\xffresult"))
    assert w == ps.WaitResult(42, "done", 9, False, None, 1700000000.123, 2,
                              b"\x00\xffresult", None) and w.done, w
    w = _core.wait_result(wait_reply_spec(43, 7, 0, 2, 1700000000500, 5,
                                          b"no ACK \xff"))
    assert w == ps.WaitResult(43, "dead", 7, False, "timeout",
                              1700000000.5, 5, None, "no ACK \ufffd"), w
    assert not w.done
    w = _core.wait_result(wait_reply_spec(44, 7, 0, 1))
    assert (w.state, w.reason, w.error, w.result, w.at) == \
        ("dead", "nack", "", None, None), w
    assert _core.wait_result(wait_reply_spec(44, 7, 0, 9)).reason == \
        "reason 9"
    for code, word in ((8, "cancelled in flight"), (10, "cancelled"),
                       (0, "unknown"), (11, "unknown"), (255, "unknown")):
        w = _core.wait_result(wait_reply_spec(45, code, 0, 3, 1000, 1))
        assert (w.state, w.state_code, w.timed_out, w.reason, w.result,
                w.error, w.at) == (word, code, False, None, None, None,
                                   1.0), w
    assert _core.wait_result(wait_reply_spec(0, 0)) == ps.WaitResult(
        0, "unknown", 0, False, None, None, 0)
    for code, word in ((1, "queued"), (2, "delayed"),
                       (3, "waiting behind its key"),
                       (4, "waiting for its partition"), (5, "in flight"),
                       (6, "waiting to retry")):
        w = _core.wait_result(wait_reply_spec(46, code, 1, 0, 2000, 1))
        assert (w.state, w.state_code, w.timed_out, w.at, w.done) == \
            (word, code, True, 2.0, False), w
    # Its length exactly 28 + len; timed_out 0 or 1; reserved 0.
    body = wait_reply_spec(42, 9, data=b"result")
    for n in range(len(body)):
        expect(ps.ProtocolError, _proto.parse_wait_reply, body[:n])
    for bad in (body + b"\0", wait_reply_spec(42, 9, data=b"r", dlen=2),
                wait_reply_spec(42, 9, data=b"r", dlen=0),
                wait_reply_spec(42, 1, timed_out=2),
                wait_reply_spec(42, 9, reserved=1)):
        e = expect(ps.ProtocolError, _core.wait_result, bad)
        assert "WAIT_REPLY" in str(e), e

    # JOB_REPLY in state 9: its result after the failures, len its whole
    # length.
    body = done_reply_spec(77, b"the result", attempts=2, at=1700000001000)
    assert _proto.parse_job_reply(body) == (
        77, 9, 0, 2, 1700000001000, 32768, 10, b"", b"", None, None, [],
        b"the result")
    j = _core.job_result(body)
    assert j == ps.Job(77, "done", 9, None, 2, 1700000001.0, 32768, 10, b"",
                       None, None, {}, [], [], b"the result"), j
    # Cut at its end by the daemon: len says how long it is.
    j = _core.job_result(done_reply_spec(77, b"the res", length=5000))
    assert (j.state, j.length, j.result) == ("done", 5000, b"the res"), j
    assert _core.job_result(done_reply_spec(78, b"")).result == b""
    # Any other state: no result (None), and bytes past the failures a
    # ProtocolError as before; 10 is a WAIT_REPLY's, "unknown" here.
    assert _core.job_result(job_reply_spec(9, 1)).result is None
    j = _core.job_result(job_reply_spec(9, 10))
    assert (j.state, j.state_code, j.result) == ("unknown", 10, None), j
    for st in (0, 1, 7, 8, 10):
        e = expect(ps.ProtocolError, _proto.parse_job_reply,
                   job_reply_spec(9, st) + struct.pack(">I", 1) + b"r")
        assert "JOB_REPLY" in str(e), e
    # Done: the result's field whole, and nothing after it.
    for n in range(len(body)):
        expect(ps.ProtocolError, _proto.parse_job_reply, body[:n])
    for bad in (body + b"\0", job_reply_spec(77, 9),
                job_reply_spec(77, 9) + struct.pack(">I", 11) + b"the result",
                job_reply_spec(77, 9) + struct.pack(">I", 9) + b"the result"):
        expect(ps.ProtocolError, _core.job_result, bad)
    # The Reader takes the three types, 29 to 31.
    r = _proto.Reader()
    r.feed(ack_result_spec(1, b"x") + wait_spec(b"q", 1, 0) +
           _proto.frame(31, wait_reply_spec(0, 0)))
    assert [t for t, _, _ in r.frames()] == [29, 30, 31]

    # The window: ACK_RESULTs, one an event, after the plain ACKs, which
    # go together in one ACK as before.
    w = _core.Window(8, 0, True)
    w.set_results(5, 1 << 20)
    w.delivery([1, 2, 3, 4, 5])
    assert w.out() == _proto.demand(8)
    assert not w.ack(1) and not w.ack_result(2, b"two") and not w.ack(3)
    assert not w.ack_result(4, b"")
    assert w.out() == _proto.ids(_proto.ACK, [1, 3]) + \
        ack_result_spec(2, b"two") + ack_result_spec(4, b""), w.out()
    assert w.result_max == (1 << 20) - 12
    # Over max_frame - 12: ValueError, nothing done; the event is held,
    # and acked after.  One not held: ValueError.
    w = _core.Window(4, 0, True)
    w.set_results(5, 4096)
    w.delivery([1, 2])
    w.out()
    e = expect(ValueError, w.ack_result, 1, b"x" * 4085)
    assert "a result of 4085 bytes" in str(e) and "at most 4084" in str(e), e
    assert 1 in w.held and w.out() == b""
    w.ack_result(1, b"x" * 4084)
    assert w.out() == ack_result_spec(1, b"x" * 4084)
    expect(ValueError, w.ack_result, 1, b"x")
    # Version 4: a plain ACK, the result dropped; at most once: nothing.
    w = _core.Window(4, 0, True)
    w.set_results(4, 1 << 20)
    w.delivery([7, 8])
    w.out()
    w.ack_result(7, b"dropped")
    w.ack(8)
    assert w.out() == _proto.ids(_proto.ACK, [7, 8])
    w = _core.Window(4, 0, False)
    w.set_results(5, 1 << 20)
    w.delivery([9])
    w.out()
    w.ack_result(9, b"r")
    assert w.out() == b""

    # Consumers to fake daemons: ack(result=) of str (UTF-8), bytes,
    # bytearray, memoryview, b"" is an ACK_RESULT; ack() a plain ACK,
    # as before; a result neither bytes nor str a TypeError, nothing
    # done.  Version 4: plain ACKs.
    events = [(1, b"a"), (2, b"b"), (3, b"c"), (4, b"d"), (5, b"e")]
    want = {5: [_proto.ids(_proto.ACK, [2]),
                ack_result_spec(1, "é ✓".encode()), ack_result_spec(3, b""),
                ack_result_spec(4, b"\x00\xff"), ack_result_spec(5, b"mv")],
            4: [_proto.ids(_proto.ACK, [1, 2, 3, 4, 5])]}
    for speaks in (5, 4):
        seen, ended = [], threading.Event()
        path = os.path.join(h.dir, "rc%d.sock" % speaks)
        f = Fake(path, results_consumer(speaks, seen, events, ended))
        con = ps.Consumer("q", id="w", max_demand=8, min_demand=0,
                          socket=path)
        assert con.version == speaks
        evs = [con.get(timeout=30) for _ in events]
        e = expect(TypeError, evs[0].ack, result=5)
        assert "an ACK's result is bytes or str, not int" in str(e), e
        expect(TypeError, evs[0].ack, result=["x"])
        assert con.held == 5
        assert evs[0].ack(result="é ✓") and evs[1].ack() and \
            evs[2].ack(result=b"") and \
            evs[3].ack(result=bytearray(b"\x00\xff")) and \
            evs[4].ack(result=memoryview(b"mv"))
        con.close()
        assert ended.wait(30)
        assert answered(seen) == want[speaks], (speaks, seen)
        assert not evs[0].ack(result="gone")        # the connection is

        async def aio():
            aseen, aended = [], threading.Event()
            apath = os.path.join(h.dir, "arc%d.sock" % speaks)
            af = Fake(apath, results_consumer(speaks, aseen, events, aended))
            acon = ps.AsyncConsumer("q", id="a", max_demand=8, min_demand=0,
                                    socket=apath)
            await acon.connect()
            aevs = [await acon.get(timeout=30) for _ in events]
            try:
                await aevs[0].ack(result=5)
            except TypeError:
                pass
            else:
                raise AssertionError("ack(result=5) went")
            ok = [await aevs[0].ack(result="é ✓"), await aevs[1].ack(),
                  await aevs[2].ack(result=b""),
                  await aevs[3].ack(result=bytearray(b"\x00\xff")),
                  await aevs[4].ack(result=memoryview(b"mv"))]
            await acon.close()
            await asyncio.get_running_loop().run_in_executor(
                None, aended.wait, 30)
            af.close()
            return ok, answered(aseen)
        ok, got = asyncio.run(aio())
        assert ok == [True] * 5 and got == want[speaks], (speaks, got)
        f.close()
    # A daemon of small frames (max_frame 4096): a result of 4084 bytes
    # goes, one of 4085 is a ValueError with nothing done.
    seen, ended = [], threading.Event()
    path = os.path.join(h.dir, "rcsmall.sock")
    f = Fake(path, results_consumer(5, seen, events[:2], ended, 4096))
    con = ps.Consumer("q", id="w", max_demand=8, min_demand=0, socket=path)
    assert con.result_max == 4084
    e1, e2 = con.get(timeout=30), con.get(timeout=30)
    e = expect(ValueError, e1.ack, result=b"x" * 4085)
    assert "at most 4084" in str(e) and con.held == 2, e
    assert e1.ack(result="y" * 4084) and e2.ack(result=b"")
    con.close()
    assert ended.wait(30)
    assert answered(seen) == [ack_result_spec(1, b"y" * 4084),
                              ack_result_spec(2, b"")], seen
    f.close()

    # Client.wait to daemons of version 4 and 3: Unsupported, no WAIT
    # sent, the connection still good.
    for speaks in (4, 3):
        seen = []
        path = os.path.join(h.dir, "wv%d.sock" % speaks)
        f = Fake(path, old_daemon(speaks, seen))
        c = ps.Client(path)
        e = expect(ps.Unsupported, c.wait, "q", 1)
        assert "(WAIT) needs protocol version 5" in str(e) and \
            "speaks version %d" % speaks in str(e), e
        expect(ps.Unsupported, c.wait, "q/g", unique_id="u", timeout=0)
        assert c.enqueue("q", "x") == 100       # the same connection
        c.close()

        async def aio_old():
            async with ps.AsyncClient(path) as ac:
                try:
                    await ac.wait("q", 1)
                except ps.Unsupported as x:
                    return str(x)
            return None
        assert "needs protocol version 5" in (asyncio.run(aio_old()) or "")
        assert not [s for s in seen if s[0] == 30], seen
        f.close()

    # Version 5: the WAIT's bytes, the reply read.
    reply = wait_reply_spec(77, 9, 0, 0, 1700000009000, 1, b"it worked")
    seen = []
    path = os.path.join(h.dir, "w5.sock")
    f = Fake(path, job_daemon(seen, lambda t, b: _proto.frame(31, reply)))
    c = ps.Client(path)
    w = c.wait("q/g", 77, timeout=1.5)
    assert w == ps.WaitResult(77, "done", 9, False, None, 1700000009.0, 1,
                              b"it worked", None), w
    assert c.wait("q", unique_id="é") == w
    assert c.wait("q", 5, timeout=0) == w

    async def aio5():
        async with ps.AsyncClient(path) as ac:
            return await ac.wait("q", unique_id=b"\xff", timeout=0.25)
    assert asyncio.run(aio5()) == w
    assert [_proto.frame(t, b) for t, b in seen] == [
        wait_spec(b"q/g", 77, 1500), wait_spec(b"q", 0, 0xFFFFFFFF,
                                               "é".encode()),
        wait_spec(b"q", 5, 0), wait_spec(b"q", 0, 250, b"\xff")], seen
    # Bad arguments: ValueError (TypeError) naming them, nothing sent.
    for args, kw, exc, says in (
            (("q",), {}, ValueError, "give id or unique_id, one of them"),
            (("q", 1), {"unique_id": "u"}, ValueError, "not both"),
            (("q", 0), {}, ValueError, "id must be 1 to 2**64 - 1"),
            (("q",), {"unique_id": "x" * 129}, ValueError,
             "unique_id must be 1 to 128 bytes, not 129"),
            (("bad name!", 1), {}, ValueError, "bad queue name"),
            (("q", 1), {"timeout": -1}, ValueError, "timeout must be 0 to"),
            (("q", 1), {"timeout": 4294967.295}, ValueError,
             "timeout must be 0 to 4294967.294 seconds"),
            (("q", 1), {"timeout": float("nan")}, ValueError,
             "timeout must be"),
            (("q", 1), {"timeout": float("inf")}, ValueError,
             "timeout must be"),
            (("q", 1), {"timeout": "5"}, TypeError,
             "timeout must be a number of seconds or None, not str"),
            (("q", 1), {"timeout": True}, TypeError, "not bool"),
            (("q", "1"), {}, TypeError, "id must be an int")):
        e = expect(exc, c.wait, *args, **kw)
        assert says in str(e), (args, kw, e)
    assert len(seen) == 4, seen
    c.close()
    f.close()

    # A daemon in a cluster: ERROR 6 with its reason, as Client.job's.
    why = (b"WAIT: a cluster does not find an event by its id yet: its "
           b"events live in JetStream, for every host (docs/cluster.md)")
    path = os.path.join(h.dir, "wcluster.sock")
    f = Fake(path, job_daemon([], lambda t, b: _proto.frame(
        9, struct.pack(">H", 6) + why)))
    e = expect(ps.ProtocolError, ps.Client(path).wait, "q", 1)
    assert e.code == 6 and why.decode() in str(e) and "BAD_STATE" in str(e), e

    async def aioc():
        async with ps.AsyncClient(path) as ac:
            try:
                await ac.wait("q", 1)
            except ps.ProtocolError as x:
                return x.code, str(x)
        return None
    code, msg = asyncio.run(aioc())
    assert code == 6 and why.decode() in msg, msg
    f.close()

    # Replies that do not read (cut short, run long, a length that lies,
    # another frame), and a daemon that hangs up mid-wait: ProtocolError
    # or DaemonGone, the connection closed, the next call on a new one.
    seen = []
    path = os.path.join(h.dir, "wbad.sock")
    replies = [_proto.frame(31, reply[:-1]), _proto.frame(31, reply[:27]),
               _proto.frame(31, reply + b"\0"), _proto.frame(17, b"\0" * 4),
               None, _proto.frame(31, reply)] * 2
    f = Fake(path, job_daemon(seen, lambda t, b: replies[len(seen) - 1]))
    c = ps.Client(path)
    for exc in [ps.ProtocolError] * 4 + [ps.DaemonGone]:
        e = expect(exc, c.wait, "q", 77)
        assert c._conn is None or c._conn.sock is None, e
    assert c.wait("q", 77) == w
    c.close()

    async def aiobad():
        out = []
        async with ps.AsyncClient(path) as ac:
            for _ in range(5):
                try:
                    await ac.wait("q", 77)
                except (ps.ProtocolError, ps.DaemonGone) as x:
                    out.append((type(x).__name__, not ac._conn.open_))
            out.append(await ac.wait("q", 77))
        return out
    assert asyncio.run(aiobad()) == [("ProtocolError", True)] * 4 + [
        ("DaemonGone", True), w]
    f.close()

    # The daemon holds the answer: the client's own timeout (50 ms here)
    # is out of the way meanwhile, and back after.  (The time that
    # passes before the answer is the point: four times the client's
    # timeout.)
    got_wait, release = threading.Event(), threading.Event()

    def held(t, b):
        if t == 30:
            got_wait.set()
            release.wait(60)
            release.clear()
            return _proto.frame(31, reply)
        return _proto.frame(25, job_reply_spec(5, 1))
    path = os.path.join(h.dir, "whold.sock")
    f = Fake(path, job_daemon([], held))
    for wait_timeout, sock_timeout in ((None, None), (20, 20.05)):
        c = ps.Client(path, timeout=0.05)
        c.job("q", 5)
        out = []
        t = threading.Thread(target=lambda: out.append(
            c.wait("q", 77, timeout=wait_timeout)))
        got_wait.clear()
        t0 = time.monotonic()
        t.start()
        assert got_wait.wait(30)
        # (The WAIT is sent within the client's timeout, then the read's
        # is set.)
        h.wait_for(lambda: c._conn.sock.gettimeout() == sock_timeout,
                   what="the wait's read timeout, %s" % sock_timeout)
        while time.monotonic() < t0 + 0.2:
            time.sleep(0.01)
        release.set()
        t.join(30)
        assert out == [w], out
        assert c._conn.sock.gettimeout() == 0.05 and c._conn.timeout == 0.05
        assert c.job("q", 5).id == 5            # the same connection
        c.close()

    async def aiohold(wait_timeout, conn_timeout):
        loop = asyncio.get_running_loop()
        async with ps.AsyncClient(path, timeout=0.05) as ac:
            await ac.job("q", 5)
            got_wait.clear()
            t0 = loop.time()
            task = asyncio.ensure_future(ac.wait("q", 77,
                                                 timeout=wait_timeout))
            assert await loop.run_in_executor(None, got_wait.wait, 30)
            end = loop.time() + 60
            while ac._conn.timeout != conn_timeout and loop.time() < end:
                await asyncio.sleep(0.01)
            during = ac._conn.timeout
            while loop.time() < t0 + 0.2:
                await asyncio.sleep(0.01)
            release.set()
            got = await task
            return during, got, ac._conn.timeout, (await ac.job("q", 5)).id
    assert asyncio.run(aiohold(None, None)) == (None, w, 0.05, 5)
    assert asyncio.run(aiohold(20, 20.05)) == (20.05, w, 0.05, 5)

    # A wait interrupted (a signal handler's exception, as
    # KeyboardInterrupt; a task cancelled) closes its connection: the
    # answer it would have had never comes to the next call.
    def interrupt(signum, frame):
        raise Interrupted()
    old = signal.signal(signal.SIGUSR1, interrupt)
    try:
        c = ps.Client(path)
        main = threading.main_thread().ident
        got_wait.clear()

        def poke():
            got_wait.wait(30)
            signal.pthread_kill(main, signal.SIGUSR1)
        threading.Thread(target=poke).start()
        expect(Interrupted, c.wait, "q", 77)
        assert c._conn is None or c._conn.sock is None
    finally:
        signal.signal(signal.SIGUSR1, old)
    release.set()
    j = c.job("q", 5)
    assert (j.id, j.state) == (5, "queued"), j
    c.close()

    async def aiocancel():
        loop = asyncio.get_running_loop()
        async with ps.AsyncClient(path) as ac:
            got_wait.clear()
            task = asyncio.ensure_future(ac.wait("q", 77))
            assert await loop.run_in_executor(None, got_wait.wait, 30)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            closed = not ac._conn.open_
            release.set()
            return closed, (await ac.job("q", 5)).id
    assert asyncio.run(aiocancel()) == (True, 5)
    f.close()
    # Exported.
    assert ps.WaitResult is _core.WaitResult and "WaitResult" in ps.__all__


class Waiter(threading.Thread):
    """Client.wait on a Client of its own, in a thread: result() gives
    what it returned, or raises what it raised."""

    def __init__(self, h, queue, id=None, **kw):
        super().__init__(daemon=True)
        self.c = kw.pop("client", None) or h.client()
        self.args = (queue, id)
        self.kw = kw
        self.out = None
        self.err = None
        self.start()

    def run(self):
        try:
            self.out = self.c.wait(*self.args, **self.kw)
        except BaseException as e:      # noqa: B902 (handed over)
            self.err = e
        finally:
            self.c.close()

    def result(self):
        self.join(60)
        assert not self.is_alive(), "the wait is not answered"
        if self.err is not None:
            raise self.err
        return self.out


def same_wait_as_pushctl(h, queue, w):
    """WaitResult w (a done or dead event's, answered at once) says what
    pushctl job wait --json says of the event, and pushctl exits 0 for
    done, 1 for dead."""
    r = h.pushctl("job", "wait", queue, str(w.id), "--json")
    assert r.returncode == (0 if w.done else 1), r
    js = json.loads(r.stdout.decode())
    u = lambda b: None if b is None else b.decode(errors="replace")  # noqa
    assert js == {"id": w.id, "state": w.state, "timed_out": w.timed_out,
                  "attempts": w.attempts,
                  "at": None if w.at is None else iso_ms(w.at),
                  "reason": w.reason, "result": u(w.result),
                  "error": w.error}, (js, w)


def case_py_results(h):
    """Results and waits against a real producerd: a worker's handler
    returns a value and Client.wait, waiting before the worker started,
    gets it as its result (bytes, str as UTF-8, JSON, None a plain ACK;
    a value that cannot be encoded, a result over the queue's
    max-result, an exception: the event nacked, dead, the wait told its
    error; the worker goes on); Client.job shows each done with its
    result on a queue with keep-done, as pushctl job show --json does,
    and a later wait is answered from the record, as pushctl job wait
    --json; Event.ack(result=) by hand, and one over max-result refused
    by the daemon; waits on cancelled events, timed out, unknown, of a
    group; a long wait outlives the client's own timeout; across a
    restart the wait raises DaemonGone and a wait again gets the
    result; the asyncio client, worker and consumer the same."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data)
    c = h.client()
    c.create("r", keep_done="1h", max_attempts=1, max_result=100)
    kinds = ["bytes", "str", "json", "none", "int", "empty", "at max",
             "over max", "nan", "object", "surrogate", "raise"]
    ids = dict(zip(kinds, c.enqueue("r", kinds)))
    waits = {k: Waiter(h, "r", i) for k, i in ids.items()}
    h.wait_for(lambda: c.stats("r")["waits"] == len(kinds), what="the waits")
    p, log = h.worker("answer", "--queue", "r", "-c", "2", "--backoff",
                      "none")
    done = {"bytes": b"\x00\xff raw", "str": "h\u00e9llo \u2713".encode(),
            "json": b'{"n":[1,2.5,null,true],"s":"\\u00e9"}', "none": b"",
            "int": b"42", "empty": b"", "at max": b"m" * 100}
    dead = {"over max": "ValueError: a result of 101 bytes: queue r takes "
            "at most 100 (max-result)\n\nTraceback",
            "nan": "ValueError: Out of range float values are not JSON "
            "compliant",
            "object": "TypeError: Object of type object is not JSON "
            "serializable",
            "surrogate": "UnicodeEncodeError: 'utf-8' codec can't encode "
            "character '\\ud800'",
            "raise": "RuntimeError: no answer\n\nTraceback"}
    t0 = time.time()
    for k, i in ids.items():
        w = waits[k].result()
        assert (w.id, w.timed_out, w.attempts) == (i, False, 1), (k, w)
        assert t0 - 1 <= w.at <= time.time() + 1, (k, w)
        if k in done:
            assert (w.state, w.state_code, w.result, w.error, w.reason,
                    w.done) == ("done", 9, done[k], None, None, True), (k, w)
        else:
            assert (w.state, w.state_code, w.result, w.reason, w.done) == \
                ("dead", 7, None, "nack", False), (k, w)
            assert w.error.startswith(dead[k]), (k, w.error)
    # Kept (keep-done): Client.job says done, its result, as pushctl;
    # a wait now is answered from the record, as pushctl's.
    for k in done:
        j = c.job("r", ids[k])
        assert (j.state, j.state_code, j.result, j.length, j.attempts,
                j.preview, j.failures) == ("done", 9, done[k], len(done[k]),
                                           1, b"", []), (k, j)
        assert abs(j.at - waits[k].out.at) <= AT_SLACK, (k, j)
        same_as_pushctl(h, "r", j)
        w = c.wait("r", ids[k])
        assert (w.state, w.result, w.attempts) == ("done", done[k], 1), w
        same_wait_as_pushctl(h, "r", w)
    for k in dead:
        j = c.job("r", ids[k])
        assert j.state == "dead" and j.result is None, j
        same_as_pushctl(h, "r", j)
        w = c.wait("r", ids[k], timeout=0)
        assert (w.state, w.reason, w.result) == ("dead", "nack", None), w
        assert w.error.startswith(dead[k]), w
        same_wait_as_pushctl(h, "r", w)
    s = c.stats("r")
    assert (s["done_kept"], s["waits"], s["acked_total"], s["dead"]) == \
        (len(done), 0, len(done), len(dead)), s
    # The worker went on, its connection never refused.
    text = open(log).read()
    assert p.poll() is None and "lost the daemon" not in text, text
    assert text.count("handler failed") == len(dead), text

    # By hand: Event.ack(result=), waited for by unique id.
    c.create("h", keep_done="1h", max_result=100)
    x = c.enqueue("h", "by hand", unique_id="hand-1")
    wx = Waiter(h, "h", unique_id="hand-1")
    h.wait_for(lambda: c.stats("h")["waits"] == 1, what="the wait")
    con = ps.Consumer("h", id="py-h", socket=h.sock)
    ev = next(con)
    assert ev.ack(result="by hand \u00e9")
    con.flush()
    w = wx.result()
    assert (w.id, w.state, w.result) == (x, "done", "by hand é".encode()), w
    assert c.wait("h", unique_id=b"hand-1") == w
    # Over the queue's max-result: the daemon refuses it and closes the
    # connection (Refused BAD_VALUE, naming max-result, at the next read).
    y = c.enqueue("h", "too big")
    ev = next(con)
    assert ev.id == y and ev.ack(result=b"z" * 101)
    e = expect(ps.Refused, con.get, timeout=30)
    assert e.code == 5 and "max-result" in e.message, e
    con.close()
    h.wait_for(lambda: c.job("h", y).state == "queued", what="y back")

    # Cancelled while it waited: "cancelled" (10).  In flight: a wait
    # that began after the cancel is answered at once, "cancelled in
    # flight" (8); one waiting as the cancel came is answered then
    # (this daemon says 10 there; protocol.md's 8 would do as well).
    c.create("cq", keep_done="1h")
    q1 = c.enqueue("cq", "queued")
    w1 = Waiter(h, "cq", q1)
    h.wait_for(lambda: c.stats("cq")["waits"] == 1, what="the wait")
    assert c.cancel("cq", q1)[0].outcome == "cancelled"
    w = w1.result()
    assert (w.id, w.state, w.state_code, w.timed_out, w.attempts,
            w.result, w.error) == (q1, "cancelled", 10, False, 0, None,
                                   None), w
    f1 = c.enqueue("cq", "flight")
    con = ps.Consumer("cq", id="py-cq", socket=h.sock)
    ev = next(con)
    w2 = Waiter(h, "cq", f1)
    h.wait_for(lambda: c.stats("cq")["waits"] == 1, what="the wait")
    assert c.cancel("cq", f1)[0].outcome == "cancelled in flight"
    w = w2.result()
    assert (w.id, w.timed_out, w.attempts) == (f1, False, 1) and \
        (w.state, w.state_code) in (("cancelled in flight", 8),
                                    ("cancelled", 10)), w
    w = c.wait("cq", f1)
    assert (w.id, w.state, w.state_code, w.timed_out, w.attempts) == \
        (f1, "cancelled in flight", 8, False, 1), w
    h.wait_for(lambda: con.get(timeout=0.01) is None and ev.cancelled,
               what="the CANCEL")
    assert ev.ack()
    con.flush()
    h.wait_for(lambda: c.job("cq", f1) is None, what="the cancelled one gone")
    assert c.wait("cq", f1) == ps.WaitResult(0, "unknown", 0, False, None,
                                             None, 0)
    con.close()
    # Timed out: where it is; 0: at once.  Unknown: at once.
    d = c.enqueue("cq", "later", delay=3600)
    for timeout in (0.05, 0):
        w = c.wait("cq", d, timeout=timeout)
        assert (w.id, w.state, w.state_code, w.timed_out, w.done,
                w.result) == (d, "delayed", 2, True, False, None), w
        assert t0 + 3600 - 5 <= w.at <= time.time() + 3600 + 5, w
    q = c.enqueue("cq", "queued now")
    w = c.wait("cq", q, timeout=0)
    assert (w.state, w.timed_out) == ("queued", True), w
    r = h.pushctl("job", "wait", "cq", str(q), "--timeout", "1ms")
    assert r.returncode == 75, r
    assert c.wait("cq", 10 ** 9) == ps.WaitResult(0, "unknown", 0, False,
                                                  None, None, 0)
    e = expect(ps.Refused, c.wait, "nope", 1)
    assert e.code == ps.errors.E_NO_QUEUE, e
    # A group's copy: done there, still queued in the shared group.
    c.create("g", keep_done="1h")
    gc = ps.Consumer("g", group="audit", id="py-g", socket=h.sock)
    h.wait_for(lambda: c.stats("g/audit")["consumers"] == 1, what="audit")
    gi = c.enqueue("g", "grouped")
    ev = next(gc)
    assert ev.id == gi and ev.ack(result="audit's")
    gc.flush()
    h.wait_for(lambda: not c.wait("g/audit", gi, timeout=0).timed_out,
               what="done in the group")
    w = c.wait("g/audit", gi)
    assert (w.state, w.result) == ("done", b"audit's"), w
    w = c.wait("g", gi, timeout=0)
    assert (w.state, w.timed_out) == ("queued", True), w
    gc.close()

    # A wait longer than the client's own timeout (0.1 s): not cut.
    # (The time that passes is the point: five times that timeout.)
    sl = c.enqueue("h", "slow")
    ws = Waiter(h, "h", sl, client=h.client(timeout=0.1))
    h.wait_for(lambda: c.stats("h")["waits"] == 1, what="the wait")
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        time.sleep(0.01)
    with ps.Consumer("h", id="py-slow", max_demand=2, socket=h.sock) as con:
        for ev in (next(con), next(con)):
            assert ev.ack(result=b"slow" if ev.id == sl else b"y")
    w = ws.result()
    assert (w.id, w.state, w.result) == (sl, "done", b"slow"), w

    # Across a restart (kill -9): the wait raises DaemonGone; asked again
    # it waits on; a queue with keep-done answers later waits from the
    # record, journaled.
    c.create("rr", keep_done="1h")
    k = c.enqueue("rr", "across", unique_id="rr-1")
    wk = Waiter(h, "rr", k)
    h.wait_for(lambda: c.stats("rr")["waits"] == 1, what="the wait")
    h.daemon.kill()
    h.daemon.wait()
    e = expect(ps.DaemonGone, wk.result)
    assert "closed the connection" in str(e), e
    h.start_daemon("--data-dir", data)
    c.close()
    wk = Waiter(h, "rr", unique_id="rr-1")
    h.wait_for(lambda: c.stats("rr")["waits"] == 1, what="the wait again")
    with ps.Consumer("rr", id="py-rr", socket=h.sock) as con:
        ev = next(con)
        assert ev.id == k and ev.ack(result=b"after the restart")
    w = wk.result()
    assert (w.id, w.state, w.result) == (k, "done", b"after the restart"), w
    h.daemon.kill()
    h.daemon.wait()
    h.start_daemon("--data-dir", data)
    c.close()
    w = c.wait("rr", k)
    assert (w.id, w.state, w.result) == (k, "done", b"after the restart"), w
    j = c.job("rr", k)
    assert (j.state, j.result) == ("done", b"after the restart"), j
    same_as_pushctl(h, "rr", j)

    # asyncio: AsyncClient.wait, the async worker's results, timed out,
    # a wait cancelled (its connection closed, the next call answered
    # right), AsyncEvent.ack(result=).
    c.create("ar", keep_done="1h", max_attempts=1, max_result=100)
    akinds = ["json", "bytes", "none", "nan", "over max"]
    aids = c.enqueue("ar", akinds)

    async def aio():
        loop = asyncio.get_running_loop()
        acs = [ps.AsyncClient(h.sock) for _ in akinds]
        tasks = [asyncio.ensure_future(ac.wait("ar", i))
                 for ac, i in zip(acs, aids)]
        async with ps.AsyncClient(h.sock) as ac:
            while (await ac.stats("ar"))["waits"] != len(akinds):
                await asyncio.sleep(0.02)
            h.worker("aanswer", "--queue", "ar", "-c", "2", "--backoff",
                     "none", name="aw")
            got = await asyncio.gather(*tasks)
            for a in acs:
                await a.close()
            d = await ac.enqueue("ar", "later", delay=3600)
            timed = await ac.wait("ar", d, timeout=0.05)
            try:
                await asyncio.wait_for(ac.wait("ar", d), 0.1)
            except asyncio.TimeoutError:
                pass
            closed = not ac._conn.open_
            job = await ac.job("ar", d)
            # AsyncEvent.ack(result=), waited for.
            async with ps.AsyncConsumer("ac", id="py-ac",
                                        socket=h.sock) as acon:
                i = await ac.enqueue("ac", "async")
                ev = await acon.get(timeout=30)
                async with ps.AsyncClient(h.sock) as ac2:
                    task = asyncio.ensure_future(ac2.wait("ac", i))
                    while (await ac.stats("ac"))["waits"] != 1:
                        await asyncio.sleep(0.02)
                    ok = await ev.ack(result="async \u00e9")
                    await acon.flush()
                    mine = await task
            return got, timed, closed, job, ok, i, mine
    got, timed, closed, job, ok, i, mine = asyncio.run(aio())
    states = [(w.id, w.state, w.result) for w in got]
    assert states[:3] == [(aids[0], "done", done["json"]),
                          (aids[1], "done", done["bytes"]),
                          (aids[2], "done", b"")], states
    assert [(w.id, w.state) for w in got[3:]] == [(aids[3], "dead"),
                                                  (aids[4], "dead")], got
    assert got[3].error.startswith(dead["nan"]) and \
        got[4].error.startswith(dead["over max"].replace("queue r ",
                                                         "queue ar ")), got
    assert (timed.state, timed.timed_out) == ("delayed", True), timed
    assert closed and job.state == "delayed", (closed, job)
    assert ok and (mine.id, mine.state, mine.result) == (
        i, "done", "async é".encode()), mine
    for k, i in zip(akinds[:3], aids):
        same_as_pushctl(h, "ar", c.job("ar", i))
    c.close()


# --- listing jobs (JOBS and JOBS_REPLY, protocol version 5) ----------------

def jobs_frame_spec(queue, state, limit, preview, cursor=bytes(16), filt=0,
                    fbody=b""):
    """A JOBS as protocol.md lays it out, apart from the package."""
    body = bytes([len(queue)]) + queue + struct.pack(
        ">BHH", state, limit, preview) + cursor + \
        struct.pack(">BH", filt, len(fbody)) + fbody
    return struct.pack(">IBBH", len(body), 32, 0, 0) + body


def jobs_entry_spec(eid, state=1, reason=0, attempts=0, at=0, length=None,
                    preview=b"", attrs=b""):
    """One JOBS_REPLY entry as protocol.md lays it out."""
    return struct.pack(">QBBIQIH", eid, state, reason, attempts, at,
                       len(preview) if length is None else length,
                       len(preview)) + preview + \
        struct.pack(">H", len(attrs)) + attrs


def jobs_reply_spec(nxt, entries, count=None):
    return nxt + struct.pack(">I", len(entries) if count is None else
                             count) + b"".join(entries)


# The bad arguments of Client.jobs: (args, keywords, exception, what its
# message says).
JOBS_BAD_ARGS = (
    (("q", "flying"), {}, ValueError,
     'state must be "queued", "delayed", "in-flight", "retrying", "dead" '
     'or "done", not \'flying\''),
    (("q", "in flight"), {}, ValueError, "state must be"),
    (("q", 5), {}, TypeError, "state must be a str, not int"),
    (("q",), {"limit": 0}, ValueError, "limit must be 1 to 1000, not 0"),
    (("q",), {"limit": 1001}, ValueError, "limit must be 1 to 1000"),
    (("q",), {"limit": "5"}, TypeError, "limit must be an int, not str"),
    (("q",), {"limit": True}, TypeError, "limit must be an int, not bool"),
    (("q",), {"preview": -1}, ValueError,
     "preview must be 0 to 1024 bytes, not -1"),
    (("q",), {"preview": 1025}, ValueError, "preview must be 0 to 1024"),
    (("q",), {"preview": 1.5}, TypeError, "preview must be an int"),
    (("q",), {"after": "00" * 15}, ValueError,
     "after must be a cursor: the 32 hex digits"),
    (("q",), {"after": "0x" + "0" * 30}, ValueError, "after must be"),
    (("q",), {"after": "00" * 16 + "\n"}, ValueError, "after must be"),
    (("q",), {"after": " " + "0" * 31}, ValueError, "after must be"),
    (("q",), {"after": bytes(15)}, ValueError,
     "after must be a cursor of 16 bytes, not 15"),
    (("q",), {"after": bytes(32)}, ValueError, "not 32"),
    (("q",), {"after": 7}, TypeError, "after must be a cursor, str or "
     "bytes, not int"),
    (("q",), {"key": "k" * 256}, ValueError,
     "key must be at most 255 bytes, not 256"),
    (("q",), {"key": 5}, TypeError, "key must be str or bytes, not int"),
    (("q",), {"header": ("Task", "x")}, ValueError,
     'header "Task": a name is 1 to 64 bytes of a-z 0-9 - _ .'),
    (("q",), {"header": ("", "x")}, ValueError, "a name is 1 to 64 bytes"),
    (("q",), {"header": ("n" * 65, "x")}, ValueError, "a name is 1 to 64"),
    (("q",), {"header": ("task", "v" * 1025)}, ValueError,
     'header "task": its value is 1025 bytes, over 1024'),
    (("q",), {"header": "task=x"}, TypeError,
     "header must be a (name, value) pair, not str"),
    (("q",), {"header": ("a", "b", "c")}, TypeError,
     "header must be a (name, value) pair"),
    (("q",), {"header": {"task": "x"}}, TypeError, "header must be a"),
    (("q",), {"header": (5, "x")}, TypeError,
     "a header's name is str or bytes, not int"),
    (("q",), {"header": ("task", 5)}, TypeError,
     'header "task": its value is str or bytes, not int'),
    (("q",), {"key": "k", "header": ("task", "x")}, ValueError,
     "give key or header, not both"),
    (("bad name!",), {}, ValueError, "bad queue name"),
    (("q/a/b",), {}, ValueError, "bad queue name"))


def case_py_jobs_proto(h):
    """The bytes of listing jobs, without a daemon and against fakes:
    JOBS built to the byte (each state, a cursor as hex or bytes, a key,
    a header, a group, the largest values); JOBS_REPLY read from
    hand-made bytes (a key, headers and unknown attributes, every state
    of a page, next as hex or None); a reply cut short, run long, with
    an entry of another state, out of id order or past the limit, a
    ProtocolError and the connection closed; bad arguments ValueError or
    TypeError naming them before any connect; daemons of version 4 and
    3: Unsupported, no JOBS sent, the connection still good; ERROR 5,
    16 Refused and a cluster's ERROR 6 a ProtocolError, sync and
    asyncio."""
    hx = bytes.fromhex
    # protocol.md's layout: queue, u8 state, u16 limit, u16 preview, the
    # cursor, u8 filter, u16 filter_len, the filter.
    assert _proto.jobs(b"q", 1, 50, 64) == hx(
        "0000001a" "20" "00" "0000" "0171" "01" "0032" "0040" + "00" * 16 +
        "00" "0000")
    cur = bytes(range(1, 17))
    assert _proto.jobs(b"q/g", 7, 1000, 1024, cur, key=b"") == \
        jobs_frame_spec(b"q/g", 7, 1000, 1024, cur, 1, b"")
    assert _proto.jobs(b"q", 9, 1, 0, key=b"k" * 255) == \
        jobs_frame_spec(b"q", 9, 1, 0, filt=1, fbody=b"k" * 255)
    assert _proto.jobs(b"q", 5, 3, 2, header=(b"n" * 64, b"v" * 1024)) == \
        jobs_frame_spec(b"q", 5, 3, 2, filt=2,
                        fbody=b"\x40" + b"n" * 64 + b"v" * 1024)
    for args, kw in (((b"q", 3, 1, 0), {}), ((b"q", 1, 0, 0), {}),
                     ((b"q", 1, 1001, 0), {}), ((b"q", 1, 1, 1025), {}),
                     ((b"q", 1, 1, 0, bytes(15)), {}),
                     ((b"q", 1, 1, 0), {"key": b"k" * 256}),
                     ((b"q", 1, 1, 0), {"key": b"", "header": (b"n", b"")}),
                     ((b"q", 1, 1, 0), {"header": (b"", b"v")}),
                     ((b"q", 1, 1, 0), {"header": (b"n", b"v" * 1025)})):
        expect(ValueError, _proto.jobs, *args, **kw)
    # The client's arguments as they go: each state's code, a cursor as
    # hex (either case) or bytes, a key, a header as str or bytes.
    for word, code in (("queued", 1), ("delayed", 2), ("in-flight", 5),
                       ("retrying", 6), ("dead", 7), ("done", 9)):
        a = _core.jobs_args("q", word, None, 50, 64, None, None)
        assert _core.jobs_frame(5, "q", a, 50, 64) == \
            jobs_frame_spec(b"q", code, 50, 64), word
    for after in (cur.hex(), cur.hex().upper(), cur, bytearray(cur),
                  memoryview(cur)):
        a = _core.jobs_args("q/g", "dead", after, 7, 0, None,
                            ("task", "é"))
        assert _core.jobs_frame(5, "q/g", a, 7, 0) == jobs_frame_spec(
            b"q/g", 7, 7, 0, cur, 2, b"\x04task" + "é".encode()), after
    a = _core.jobs_args("q", "queued", None, 1, 0, "ké", None)
    assert _core.jobs_frame(5, "q", a, 1, 0) == jobs_frame_spec(
        b"q", 1, 1, 0, filt=1, fbody="ké".encode())
    a = _core.jobs_args("q", "queued", None, 1, 0, b"", None)
    assert _core.jobs_frame(5, "q", a, 1, 0) == jobs_frame_spec(
        b"q", 1, 1, 0, filt=1)
    a = _core.jobs_args("q", "queued", None, 1, 0, None, [b"n", b"\xff"])
    assert _core.jobs_frame(5, "q", a, 1, 0) == jobs_frame_spec(
        b"q", 1, 1, 0, filt=2, fbody=b"\x01n\xff")
    e = expect(ps.Unsupported, _core.jobs_frame, 4, "q", a, 1, 0)
    assert "(JOBS) needs protocol version 5" in str(e), e

    # A reply: a queued page with an event behind its key, one waiting
    # for its partition (with a KEY, two HEADERs, one not UTF-8, and
    # tags it does not know), one with none.
    attrs = bytes([1, 2]) + b"k1" + bytes([9, 1, 0]) + \
        raw_header(b"task", b"resize") + bytes([200]) + \
        struct.pack(">H", 2) + b"??" + raw_header(b"n", b"\x01\xff")
    nxt = hx("00000000000000091122334455667788")
    body = jobs_reply_spec(nxt, [
        jobs_entry_spec(3, 3, 0, 0, 1700000000123, 5, b"hello", attrs),
        jobs_entry_spec(9, 4, 0, 2, 0, 2000, b"z" * 3),
        jobs_entry_spec(10, 1, 0, 0, 1, 0, b"", b"\x01\x00")])
    ents = _proto.parse_jobs_reply(body)
    assert ents == (nxt, [
        (3, 3, 0, 0, 1700000000123, 5, b"hello", b"k1",
         [("task", b"resize"), ("n", b"\x01\xff")]),
        (9, 4, 0, 2, 0, 2000, b"zzz", None, None),
        (10, 1, 0, 0, 1, 0, b"", b"", None)]), ents
    page = _core.jobs_result(body, 1, 3)
    assert page == ps.JobsPage([
        ps.Listed(3, "waiting behind its key", 3, None, 0, 1700000000.123,
                  5, b"hello", b"k1", {"task": "resize", "n": "\x01\ufffd"},
                  [("task", b"resize"), ("n", b"\x01\xff")]),
        ps.Listed(9, "waiting for its partition", 4, None, 2, None, 2000,
                  b"zzz", None, {}, []),
        ps.Listed(10, "queued", 1, None, 0, 0.001, 0, b"", b"", {}, [])],
        "00000000000000091122334455667788"), page
    e = expect(Exception, setattr, page, "next", None)
    assert type(e).__name__ == "FrozenInstanceError", e
    e = expect(Exception, setattr, page.events[0], "state", "dead")
    assert type(e).__name__ == "FrozenInstanceError", e
    # No more: next all 0 is None, on a page of entries or an empty one;
    # a page of one with a next gives it.
    assert _core.jobs_result(jobs_reply_spec(bytes(16), []), 7, 1) == \
        ps.JobsPage([], None)
    assert _core.jobs_result(jobs_reply_spec(bytes(16), [
        jobs_entry_spec(1), jobs_entry_spec(2)]), 1, 5).next is None
    assert _core.jobs_result(jobs_reply_spec(nxt, [jobs_entry_spec(1)]), 1,
                             1).next == "00000000000000091122334455667788"
    # Each page's states: in flight with cancelled in flight; dead with
    # its reason (as a Job's), the others without.
    page = _core.jobs_result(jobs_reply_spec(bytes(16), [
        jobs_entry_spec(1, 5, 0, 1, 5000), jobs_entry_spec(2, 8, 0, 1, 6000)
    ]), 5, 2)
    assert [(x.state, x.state_code, x.at) for x in page.events] == \
        [("in flight", 5, 5.0), ("cancelled in flight", 8, 6.0)], page
    for r, word in ((1, "nack"), (2, "timeout"), (3, "disconnect"),
                    (9, "reason 9")):
        (x,) = _core.jobs_result(jobs_reply_spec(bytes(16), [
            jobs_entry_spec(4, 7, r, 3)]), 7, 1).events
        assert (x.state, x.reason, x.attempts) == ("dead", word, 3), x
        (x,) = _core.jobs_result(jobs_reply_spec(bytes(16), [
            jobs_entry_spec(4, 6, r)]), 6, 1).events
        assert (x.state, x.reason) == ("waiting to retry", None), x
    (x,) = _core.jobs_result(jobs_reply_spec(bytes(16), [
        jobs_entry_spec(4, 9, 0, 1, 7, 100, b"res")]), 9, 1).events
    assert (x.state, x.state_code, x.length, x.preview) == \
        ("done", 9, 100, b"res"), x
    (x,) = _core.jobs_result(jobs_reply_spec(bytes(16), [
        jobs_entry_spec(4, 2, 0, 0, 9)]), 2, 1).events
    assert x.state == "delayed", x
    # Cut anywhere, a byte past the end, a count past its entries, a
    # HEADER past its length, a preview past the end: ProtocolError.
    for n in range(len(body)):
        expect(ps.ProtocolError, _proto.parse_jobs_reply, body[:n])
        expect(ps.ProtocolError, _core.jobs_result, body[:n], 1, 3)
    e = expect(ps.ProtocolError, _proto.parse_jobs_reply, body + b"\0")
    assert "JOBS_REPLY" in str(e), e
    e = expect(ps.ProtocolError, _proto.parse_jobs_reply,
               jobs_reply_spec(bytes(16), [jobs_entry_spec(1)], 2))
    assert "JOBS_REPLY" in str(e), e
    expect(ps.ProtocolError, _proto.parse_jobs_reply,
           jobs_reply_spec(bytes(16), [], 0xFFFFFFFF))
    e = expect(ps.ProtocolError, _proto.parse_jobs_reply, jobs_reply_spec(
        bytes(16), [jobs_entry_spec(1, attrs=bytes([128]) +
                                    struct.pack(">H", 2) + b"\x05n")]))
    assert "a JOBS_REPLY entry's HEADER" in str(e), e
    expect(ps.ProtocolError, _proto.parse_jobs_reply, bytes(20) +
           struct.pack(">QBBIQIH", 1, 1, 0, 0, 0, 9, 9) + b"x" * 4)
    # An entry of another state than the page's, ids not rising, more
    # than the limit: ProtocolError.
    for st, bad in ((1, 2), (1, 5), (5, 1), (7, 6), (9, 7), (2, 1), (6, 7)):
        e = expect(ps.ProtocolError, _core.jobs_result, jobs_reply_spec(
            bytes(16), [jobs_entry_spec(4, bad)]), st, 1)
        assert "event 4 in state %d on a page of state %d" % (bad, st) \
            in str(e), e
    for ids in ((5, 5), (6, 5), (0,)):
        e = expect(ps.ProtocolError, _core.jobs_result, jobs_reply_spec(
            bytes(16), [jobs_entry_spec(i) for i in ids]), 1, 5)
        assert "lowest ids first" in str(e), e
    e = expect(ps.ProtocolError, _core.jobs_result, jobs_reply_spec(
        nxt, [jobs_entry_spec(1), jobs_entry_spec(2)]), 1, 1)
    assert "2 entries for a page of 1" in str(e), e
    # The Reader takes JOBS_REPLY (type 33); 38 is past the last type.
    r = _proto.Reader()
    r.feed(_proto.frame(33, body))
    assert r.frames() == [(33, body, 0)]
    r.feed(_proto.frame(38, b""))
    expect(ps.ProtocolError, r.frames)
    # Exported.
    assert ps.JobsPage is _core.JobsPage and ps.Listed is _core.Listed
    assert "JobsPage" in ps.__all__ and "Listed" in ps.__all__

    # Bad arguments: ValueError (TypeError for a type) naming the
    # argument, before any connect (no daemon at this path), sync and
    # asyncio.
    nowhere = os.path.join(h.dir, "nowhere.sock")
    c = ps.Client(nowhere)
    for args, kw, exc, says in JOBS_BAD_ARGS:
        e = expect(exc, c.jobs, *args, **kw)
        assert says in str(e), (args, kw, e)

    async def abad():
        out = []
        async with ps.AsyncClient(nowhere) as ac:
            for args, kw, exc, says in JOBS_BAD_ARGS:
                try:
                    await ac.jobs(*args, **kw)
                except exc as x:
                    out.append(says in str(x))
                else:
                    out.append(False)
        return out
    assert asyncio.run(abad()) == [True] * len(JOBS_BAD_ARGS)
    # Good ones reach the socket (DaemonGone: nobody there).
    expect(ps.DaemonGone, c.jobs, "q/g", "done", after="AB" * 16, limit=1000,
           preview=1024, header=(b"n" * 64, b"v" * 1024))
    expect(ps.DaemonGone, c.jobs, "q", key="k" * 255, after=bytes(16))

    # Daemons of version 4 and 3: Unsupported, no JOBS sent, the
    # connection still good.
    for speaks in (4, 3):
        seen = []
        path = os.path.join(h.dir, "v%d.sock" % speaks)
        f = Fake(path, old_daemon(speaks, seen))
        c = ps.Client(path)
        e = expect(ps.Unsupported, c.jobs, "q")
        assert "listing jobs (JOBS) needs protocol version 5" in str(e) and \
            "speaks version %d" % speaks in str(e), e
        expect(ps.Unsupported, c.jobs, "q/g", "dead", key="k")
        assert all(s[0] == "HELLO" for s in seen), seen
        assert c.enqueue("q", "x") == 100       # the same connection
        c.close()

        async def aold():
            async with ps.AsyncClient(path) as ac:
                try:
                    await ac.jobs("q")
                except ps.Unsupported as x:
                    return str(x), await ac.enqueue("q", "y")
            return None
        said, eid = asyncio.run(aold())
        assert "needs protocol version 5" in said and eid == 100, said
        assert not [s for s in seen if s[0] == 32], seen
        f.close()

    # Version 5: the JOBS's bytes as sent, sync and asyncio; the reply
    # read.
    want = _core.jobs_result(body, 1, 3)
    seen = []
    path = os.path.join(h.dir, "v5.sock")
    f = Fake(path, job_daemon(seen, lambda t, b: _proto.frame(33, body)))
    c = ps.Client(path)
    assert c.jobs("q") == want
    assert c.jobs("q/g", after=nxt.hex(), limit=3, preview=0,
                  key=b"k1") == want
    assert c.jobs("q", "queued", after=nxt, limit=1000,
                  header=("task", "resize")) == want

    async def a5():
        async with ps.AsyncClient(path) as ac:
            return await ac.jobs("q", "queued", after=nxt.hex(), limit=7,
                                 preview=1024, key="é")
    assert asyncio.run(a5()) == want
    assert [_proto.frame(t, b) for t, b in seen] == [
        jobs_frame_spec(b"q", 1, 50, 64),
        jobs_frame_spec(b"q/g", 1, 3, 0, nxt, 1, b"k1"),
        jobs_frame_spec(b"q", 1, 1000, 64, nxt, 2, b"\x04taskresize"),
        jobs_frame_spec(b"q", 1, 7, 1024, nxt, 1, "é".encode())], seen
    c.close()
    f.close()

    # ERROR replies: BAD_VALUE (a cursor of another queue) and NO_QUEUE
    # Refused, a cluster's ERROR 6 a ProtocolError with its reason; each
    # closes the connection, the next call opens another.
    errors = [(5, b"JOBS: the cursor is of another queue, group or state "
               b"than q's queued events"),
              (16, b"no queue q"),
              (6, b"JOBS: a cluster does not list a queue's jobs yet")]
    seen = []
    path = os.path.join(h.dir, "err.sock")
    f = Fake(path, job_daemon(seen, lambda t, b: _proto.frame(
        9, struct.pack(">H", errors[len(seen) - 1][0]) +
        errors[len(seen) - 1][1]) if len(seen) <= 3 else
        _proto.frame(33, body)))
    c = ps.Client(path)
    e = expect(ps.Refused, c.jobs, "q", after=nxt)
    assert (e.code, e.name) == (5, "BAD_VALUE") and \
        "cursor is of another queue" in e.message, e
    assert c._conn is None or c._conn.sock is None
    e = expect(ps.Refused, c.jobs, "q")
    assert (e.code, e.name) == (16, "NO_QUEUE"), e
    e = expect(ps.ProtocolError, c.jobs, "q")
    assert e.code == 6 and "BAD_STATE" in str(e) and \
        "a cluster does not list" in str(e), e
    assert c.jobs("q") == want
    c.close()
    seen.clear()

    async def aerr():
        out = []
        async with ps.AsyncClient(path) as ac:
            for _ in range(3):
                try:
                    await ac.jobs("q")
                except (ps.Refused, ps.ProtocolError) as x:
                    out.append((type(x).__name__, x.code))
                    assert ac._conn is None or not ac._conn.open_
            out.append(await ac.jobs("q"))
        return out
    assert asyncio.run(aerr()) == [("Refused", 5), ("Refused", 16),
                                   ("ProtocolError", 6), want]
    f.close()

    # Bad replies: ProtocolError, the connection closed, the next call
    # on a new one.
    bads = [body[:-1], body + b"\0",
            jobs_reply_spec(bytes(16), [jobs_entry_spec(4, 7)]),
            jobs_reply_spec(bytes(16), [jobs_entry_spec(4),
                                        jobs_entry_spec(4)])]
    seen = []
    path = os.path.join(h.dir, "bad.sock")
    f = Fake(path, job_daemon(seen, lambda t, b: _proto.frame(
        33, bads[len(seen) - 1]) if len(seen) <= 4 else
        _proto.frame(17, b"\0\0\0\1") if len(seen) == 5 else
        _proto.frame(33, body)))
    c = ps.Client(path)
    for i in range(5):
        e = expect(ps.ProtocolError, c.jobs, "q", limit=3)
        assert c._conn is None or c._conn.sock is None, i
    assert "type 17, not 33" in str(e), e
    assert c.jobs("q", limit=3) == want
    c.close()
    seen.clear()

    async def abad_reply():
        async with ps.AsyncClient(path) as ac:
            for _ in range(5):
                try:
                    await ac.jobs("q", limit=3)
                except ps.ProtocolError:
                    assert ac._conn is None or not ac._conn.open_
                else:
                    raise AssertionError("a bad JOBS_REPLY was read")
            return await ac.jobs("q", limit=3)
    assert asyncio.run(abad_reply()) == want
    f.close()


def pushctl_jobs(h, queue, *args):
    """pushctl jobs -q QUEUE ... --json: its JSON."""
    r = h.pushctl("jobs", "-q", queue, *[a if isinstance(a, bytes) else str(a)
                                          for a in args], "--json")
    assert r.returncode == 0, r
    return json.loads(r.stdout.decode(errors="replace"))


def same_listed(a, b):
    """Two listings of one event say the same, at give or take AT_SLACK."""
    import dataclasses
    assert (a.at is None) == (b.at is None) and \
        (a.at is None or abs(a.at - b.at) <= AT_SLACK), (a, b)
    assert dataclasses.replace(a, at=b.at) == b, (a, b)


def same_pages(a, b):
    assert a.next == b.next and len(a.events) == len(b.events), (a, b)
    for x, y in zip(a.events, b.events):
        same_listed(x, y)


PUSHCTL_STATES = {8: "cancelled (in flight, its consumer told)"}


def same_page_as_pushctl(h, queue, page, *args):
    """A JobsPage says what pushctl jobs --json says with args: each
    event's fields by their names there (bytes as UTF-8, U+FFFD for a
    byte that is not; at give or take AT_SLACK), and next."""
    import datetime
    js = pushctl_jobs(h, queue, *args)
    u = lambda b: None if b is None else b.decode(errors="replace")  # noqa
    assert js["next"] == page.next, (js, page)
    assert len(js["events"]) == len(page.events), (js, page)
    for e, x in zip(js["events"], page.events):
        if e["at"] is not None and x.at is not None:
            t = datetime.datetime.strptime(e["at"], "%Y-%m-%dT%H:%M:%S.%fZ")
            t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
            assert abs(t - x.at) <= AT_SLACK, (e, x)
            e["at"] = iso_ms(x.at)
        # pushctl's words for state 8 are its own (README, Jobs).
        assert e == {"id": x.id, "state": PUSHCTL_STATES.get(x.state_code,
                                                             x.state),
                     "attempts": x.attempts,
                     "at": None if x.at is None else iso_ms(x.at),
                     "key": u(x.key), "bytes": x.length,
                     "preview": u(x.preview)}, (e, x)


def same_as_job(c, queue, x):
    """A Listed says what Client.job says of its event."""
    j = c.job(queue, x.id, preview=len(x.preview))
    assert j is not None, x
    assert (j.id, j.state, j.state_code, j.reason, j.attempts, j.length,
            j.key, j.headers, j.raw_headers) == \
        (x.id, x.state, x.state_code, x.reason, x.attempts, x.length,
         x.key, x.headers, x.raw_headers), (j, x)
    assert (j.at is None) == (x.at is None) and \
        (j.at is None or abs(j.at - x.at) <= AT_SLACK), (j, x)
    # Done: the page's preview is of its result (a Job's is empty).
    assert x.preview == (j.result[:len(x.preview)] if j.state_code == 9
                         else j.preview), (j, x)


def all_pages(h, c, queue, state="queued", limit=50, preview=64, key=None,
              header=None):
    """Client.jobs's pages from the first to one whose next is None,
    each the same as pushctl jobs --json's with the same arguments."""
    extra = ["--state", state, "--limit", limit, "--preview", preview]
    if key is not None:
        extra += ["--key", key]
    if header is not None:
        extra += ["--header", b"%s=%s" % tuple(
            v.encode() if isinstance(v, str) else v for v in header)]
    out, after = [], None
    while True:
        page = c.jobs(queue, state, after=after, limit=limit,
                      preview=preview, key=key, header=header)
        same_page_as_pushctl(h, queue, page, *extra +
                             (["--after", after] if after else []))
        out.append(page)
        if page.next is None:
            return out
        assert re.fullmatch("[0-9a-f]{32}", page.next), page
        assert len(out) < 100, "pages without end"
        after = page.next


def case_py_jobs(h):
    """Client.jobs (and AsyncClient.jobs) against a real producerd:
    paging through a queue a few events at a time, each page the same
    as pushctl jobs --json's, its next cursor too, to the last (a full
    page's next gives an empty one); the cursor as hex or bytes; key
    and header filters; each state (queued with one waiting behind its
    key, delayed, in flight with one cancelled in flight, retrying,
    dead, done on a keep-done queue with results as previews), each
    event as Client.job says; a cursor of another queue or state
    refused (BAD_VALUE), a queue that does not exist NO_QUEUE, and the
    next call good; the asyncio client the same."""
    h.start_daemon()
    c = h.client()
    # 20 events: keys a, b or none; headers task=resize or crop; one
    # payload not UTF-8.
    ids, keys, tasks, datas = [], [], [], []
    for i in range(20):
        key = ("a", "b", None)[i % 3]
        task = ("resize", "crop")[i % 2]
        data = b"event %d \xff" % i if i == 5 else b"event %d" % i
        ids.append(c.enqueue("p", data, key=key,
                             headers=[("task", task), ("n", str(i))]))
        keys.append(key)
        tasks.append(task)
        datas.append(data)
    # Pages of 6: 6, 6, 6, 2; every event once, in id order, as enqueued.
    pages = all_pages(h, c, "p", limit=6, preview=16)
    assert [len(p.events) for p in pages] == [6, 6, 6, 2], pages
    got = [x for p in pages for x in p.events]
    assert [x.id for x in got] == ids, got
    for i, x in enumerate(got):
        assert (x.state, x.state_code, x.reason, x.attempts, x.length,
                x.preview, x.key, x.raw_headers, x.headers) == \
            ("queued", 1, None, 0, len(datas[i]), datas[i][:16],
             None if keys[i] is None else keys[i].encode(),
             [("task", tasks[i].encode()), ("n", str(i).encode())],
             {"task": tasks[i], "n": str(i)}), (i, x)
        assert time.time() - 120 <= x.at <= time.time() + 1, x
    same_as_job(c, "p", got[5])
    # Pages of 5: four full ones, the last with a next that gives an
    # empty page.
    pages5 = all_pages(h, c, "p", limit=5, preview=0)
    assert [len(p.events) for p in pages5] == [5, 5, 5, 5, 0], pages5
    assert pages5[3].next is not None and pages5[4].next is None
    assert all(x.preview == b"" for p in pages5 for x in p.events)
    # The cursor as bytes, or hex in capitals: the same page.
    same_pages(c.jobs("p", limit=6, preview=16,
                      after=bytes.fromhex(pages[0].next)), pages[1])
    same_pages(c.jobs("p", limit=6, preview=16,
                      after=pages[0].next.upper()), pages[1])
    # One page of all.
    (whole,) = all_pages(h, c, "p", limit=1000, preview=1024)
    assert [x.id for x in whole.events] == ids

    # A key's events, a header's value's: their pages, as pushctl's.
    ka = all_pages(h, c, "p", limit=3, key="a")
    assert [len(p.events) for p in ka] == [3, 3, 1], ka
    assert [x.id for p in ka for x in p.events] == ids[0::3]
    assert {x.key for p in ka for x in p.events} == {b"a"}
    hr = all_pages(h, c, "p", limit=4, header=("task", "resize"))
    assert [len(p.events) for p in hr] == [4, 4, 2], hr
    assert [x.id for p in hr for x in p.events] == ids[0::2]
    (hc,) = all_pages(h, c, "p", header=(b"task", b"crop"))
    assert [x.id for x in hc.events] == ids[1::2], hc
    (one,) = all_pages(h, c, "p", header=("n", "7"))
    assert [x.id for x in one.events] == [ids[7]], one
    for kw in ({"key": "nobody"}, {"key": ""}, {"header": ("task", "")},
               {"header": ("nothing", "resize")}):
        assert c.jobs("p", **kw) == ps.JobsPage([], None), kw

    # A cursor is its queue's and state's: another's is BAD_VALUE; the
    # next call is good. A queue that does not exist: NO_QUEUE.
    c.enqueue("p2", "x")
    cur = pages[0].next
    for q, st in (("p2", "queued"), ("p", "dead"), ("p", "delayed")):
        e = expect(ps.Refused, c.jobs, q, st, after=cur)
        assert (e.code, e.name) == (5, "BAD_VALUE") and \
            "cursor is of another queue, group or state" in e.message, e
        r = h.pushctl("jobs", "-q", q, "--state", st, "--after", cur)
        assert r.returncode == 1 and b"cursor" in r.stderr, r
    same_pages(c.jobs("p", limit=6, preview=16, after=cur), pages[1])
    e = expect(ps.Refused, c.jobs, "nope")
    assert (e.code, e.name) == (16, "NO_QUEUE"), e
    # A group's events: the shared group's as the queue's.
    same_pages(c.jobs("p/", limit=6, preview=16), pages[0])

    # Each state, on a queue of dispatch key that backs off an hour and
    # takes two attempts.
    c.create("st", dispatch="key", max_attempts=2, retry_backoff="1h:1h")
    con = ps.Consumer("st", id="py-st", max_demand=1, socket=h.sock)
    d = c.enqueue("st", "dies")
    ev = next(con)
    assert ev.id == d and ev.nack(delay=0, error="first")
    ev = next(con)
    assert (ev.id, ev.attempt) == (d, 2) and ev.nack(error="second")
    con.flush()
    h.wait_for(lambda: [x.id for x in c.jobs("st", "dead").events] == [d],
               what="a dead letter")
    rt = c.enqueue("st", "retry")
    ev = next(con)
    assert ev.id == rt and ev.nack(error="later")
    con.flush()
    h.wait_for(lambda: [x.id for x in c.jobs("st", "retrying").events] ==
               [rt], what="an event held back")
    f1 = c.enqueue("st", "flight", key="a")
    held = next(con)
    assert held.id == f1, held
    con2 = ps.Consumer("st", id="py-st2", max_demand=1, socket=h.sock)
    f2 = c.enqueue("st", "flight 2", headers={"task": "t"})
    held2 = next(con2)
    assert held2.id == f2, held2
    assert c.cancel("st", f2)[0].outcome == "cancelled in flight"
    # An event of key a waits behind f1 once the dispatcher has demand
    # to look at it (with none, it is queued: the daemon's way); the
    # demand takes the event after it, and one more is queued.
    k = c.enqueue("st", "behind", key="a")
    taken = c.enqueue("st", "taken")
    con3 = ps.Consumer("st", id="py-st3", max_demand=1, socket=h.sock)
    held3 = next(con3)
    assert held3.id == taken, held3
    qd = c.enqueue("st", b"queued \xff")
    later = c.enqueue("st", "later", delay=3600)
    t0 = time.time()
    h.wait_for(lambda: [(x.id, x.state_code) for x in
                        c.jobs("st", "queued").events] == [(k, 3), (qd, 1)],
               what="one behind its key, one queued")
    expect_states = {
        "queued": [(k, "waiting behind its key", 3), (qd, "queued", 1)],
        "delayed": [(later, "delayed", 2)],
        "in-flight": [(f1, "in flight", 5), (f2, "cancelled in flight", 8),
                      (taken, "in flight", 5)],
        "retrying": [(rt, "waiting to retry", 6)],
        "dead": [(d, "dead", 7)],
        "done": []}
    for st, want in expect_states.items():
        (page,) = all_pages(h, c, "st", st, limit=10)
        assert [(x.id, x.state, x.state_code) for x in page.events] == \
            want, (st, page)
        for x in page.events:
            same_as_job(c, "st", x)
    (x,) = c.jobs("st", "dead").events
    assert (x.reason, x.attempts, x.at, x.preview) == \
        ("nack", 2, None, b"dies"), x
    (x,) = c.jobs("st", "retrying").events
    assert x.attempts == 1 and t0 + 2880 - 5 <= x.at <= t0 + 4320 + 5, x
    (x,) = c.jobs("st", "delayed").events
    assert t0 + 3600 - 60 <= x.at <= t0 + 3600 + 5, x
    x = c.jobs("st", "in-flight").events[1]
    assert x.headers == {"task": "t"} and x.attempts == 1, x
    # Filters on a state's page; two a page, in flight.
    assert [x.id for x in c.jobs("st", "in-flight", key="a").events] == [f1]
    assert [x.id for x in c.jobs("st", "queued", key="a").events] == [k]
    assert [x.id for x in c.jobs("st", "in-flight",
                                 header=("task", "t")).events] == [f2]
    fl = all_pages(h, c, "st", "in-flight", limit=1)
    assert [[x.id for x in p.events] for p in fl] == \
        [[f1], [f2], [taken], []], fl

    # Done: a keep-done queue's records, their results as previews.
    c.create("kd", keep_done="1h")
    results = [b"res \xff one", b"", b"r" * 100]
    dids = c.enqueue("kd", ["one", "two", "three"])
    with ps.Consumer("kd", id="py-kd", max_demand=3, socket=h.sock) as kc:
        for r in results:
            ev = next(kc)
            assert ev.ack(result=r) if r else ev.ack()
        kc.flush()
        h.wait_for(lambda: len(c.jobs("kd", "done").events) == 3,
                   what="three records kept")
    dp = all_pages(h, c, "kd", "done", limit=2, preview=50)
    assert [len(p.events) for p in dp] == [2, 1], dp
    for x, i, r in zip([x for p in dp for x in p.events], dids, results):
        assert (x.id, x.state, x.state_code, x.length, x.preview,
                x.attempts) == (i, "done", 9, len(r), r[:50], 1), x
        same_as_job(c, "kd", x)
    assert c.jobs("kd").events == []

    # The asyncio client: the same pages, the same refusal, the same
    # checks of its arguments.
    async def aio():
        async with ps.AsyncClient(h.sock) as ac:
            got, after = [], None
            while True:
                p = await ac.jobs("p", limit=6, preview=16, after=after)
                got.append(p)
                if p.next is None:
                    break
                after = p.next
            out = [got, await ac.jobs("st", "in-flight"),
                   await ac.jobs("kd", "done", limit=2, preview=50)]
            try:
                await ac.jobs("p2", after=got[0].next)
            except ps.Refused as x:
                out.append(x.code)
            try:
                await ac.jobs("p", "flying")
            except ValueError as x:
                out.append(str(x)[:16])
            out.append(await ac.jobs("p", key="b", limit=1000))
            return out
    got, infl, done, code, bad, kb = asyncio.run(aio())
    assert len(got) == len(pages), got
    for a, b in zip(got, pages):
        same_pages(a, b)
    same_pages(infl, c.jobs("st", "in-flight"))
    same_pages(done, dp[0])
    assert (code, bad) == (5, "state must be \"q"), (code, bad)
    assert [x.id for x in kb.events] == ids[1::3] and kb.next is None, kb
    assert held.ack() and held2.ack() and held3.ack()
    con.close()
    con2.close()
    con3.close()
    c.close()


def _mypy():
    """The command that runs mypy, or None."""
    r = subprocess.run([sys.executable, "-m", "mypy", "--version"],
                       capture_output=True)
    if r.returncode == 0:
        return [sys.executable, "-m", "mypy"]
    m = shutil.which("mypy")
    return [m] if m else None


def case_py_mypy(h):
    """The package ships py.typed: mypy --strict finds nothing in it, nor
    in a program using it (enqueue's one event and batch overloads,
    headers on enqueue and on an Event, Client.job's Job, Client.cancel's
    Cancelled and Event.cancelled, ack(result=), Client.wait's and
    AsyncClient.wait's WaitResult, Job.result, the worker's result_of,
    Client.jobs's and AsyncClient.jobs's JobsPage and Listed, the task
    worker's current_event and its exceptions, nack(dead=True))."""
    mypy = _mypy()
    if mypy is None:
        raise Skip("mypy is not installed (Debian: apt-get install mypy)")
    use = os.path.join(h.dir, "use.py")
    with open(use, "w") as f:
        f.write("from typing import Dict, List, Optional, Tuple\n"
                "from pushstage import AsyncClient, AsyncEvent, Cancelled, "
                "Client, Event, Failure, Job, JobsPage, Listed, Message, "
                "WaitResult, errors\n"
                "from pushstage.worker import result_of\n"
                "c = Client('/nowhere')\n"
                "one: Optional[int] = c.enqueue('q', 'x')\n"
                "many: List[int] = c.enqueue('q', ['x', Message(b'y')])\n"
                "code: int = errors.E_NO_QUEUE\n"
                "h1: Optional[int] = c.enqueue('q', 'x', headers={'t': 'v'})\n"
                "h2: List[int] = c.enqueue('q', [Message('x', headers="
                "[('a', b'b')])], headers={b'n': b'v'})\n"
                "def handle(ev: Event) -> None:\n"
                "    d: Dict[str, str] = ev.headers\n"
                "    r: List[Tuple[str, bytes]] = ev.raw_headers\n"
                "    c.enqueue('q', ev.data, headers=ev.raw_headers)\n"
                "    ok: bool = ev.nack(delay=1.5, error='why')\n"
                "    ok = ev.nack(error=b'why')\n"
                "    if ev.cancelled:\n"
                "        ok = ev.ack()\n"
                "cs: List[Cancelled] = c.cancel('q', [1, 2])\n"
                "cs = c.cancel('q', 5) + c.cancel('q', range(3, 9))\n"
                "cs = c.cancel('q', unique_id=b'u') + c.cancel('q', "
                "unique_id='u')\n"
                "oc: str = cs[0].outcome\n"
                "ci: int = cs[0].id + cs[0].outcome_code + errors.E_NO_EVENT\n"
                "e: Optional[str] = c.dead('q')[0].error\n"
                "j: Optional[Job] = c.job('q', 5)\n"
                "j = c.job('q/g', unique_id=b'u', preview=0)\n"
                "if j is not None:\n"
                "    s: str = j.state\n"
                "    at: Optional[float] = j.at\n"
                "    hd: Dict[str, str] = j.headers\n"
                "    fs: List[Failure] = j.failures\n"
                "    err: str = fs[0].error if fs else ''\n"
                "    k: Optional[bytes] = j.key\n"
                "    jr: Optional[bytes] = j.result\n"
                "def finish(ev: Event) -> bool:\n"
                "    return ev.ack(result='x') and ev.ack(result=b'y') and "
                "ev.ack(None)\n"
                "w: WaitResult = c.wait('q', 5, timeout=1.5)\n"
                "w = c.wait('q/g', unique_id=b'u') \n"
                "w = c.wait('q', 5, timeout=None)\n"
                "wr: Optional[bytes] = w.result\n"
                "we: Optional[str] = w.error\n"
                "wb: bool = w.timed_out or w.done\n"
                "wa: Optional[float] = w.at\n"
                "ws: str = w.state + w.reason if w.reason else w.state\n"
                "async def afinish(ac: AsyncClient, ev: AsyncEvent"
                ") -> WaitResult:\n"
                "    ok: bool = await ev.ack(result='r')\n"
                "    return await ac.wait('q', 1, timeout=2)\n"
                "rb: Optional[bytes] = result_of({'a': [1]})\n"
                "pg: JobsPage = c.jobs('q', 'dead', after=None, limit=10, "
                "preview=0, key='k')\n"
                "pg = c.jobs('q/g', after=pg.next, header=('task', b'v'))\n"
                "pg = c.jobs('q', after=bytes(16), key=b'k')\n"
                "nx: Optional[str] = pg.next\n"
                "ls: List[Listed] = pg.events\n"
                "la: Optional[float] = ls[0].at\n"
                "lk: Optional[bytes] = ls[0].key\n"
                "lr: Optional[str] = ls[0].reason\n"
                "async def alist(ac: AsyncClient) -> List[Listed]:\n"
                "    p: JobsPage = await ac.jobs('q', 'done', after=nx)\n"
                "    return p.events\n"
                "from pushstage.taskworker import (ChildEvent, "
                "SoftTimeLimitExceeded, TaskEvent, TimeLimitExceeded, "
                "current_event, parse_queues)\n"
                "def in_task() -> bool:\n"
                "    ev: TaskEvent = current_event()\n"
                "    i: int = ev.id + ev.attempt\n"
                "    hd: Dict[str, str] = ev.headers\n"
                "    try:\n"
                "        pass\n"
                "    except (SoftTimeLimitExceeded, TimeLimitExceeded):\n"
                "        pass\n"
                "    return ev.cancelled or isinstance(ev, ChildEvent)\n"
                "qs: List[Tuple[str, int]] = parse_queues('a,b:3')\n"
                "def give_up(ev: Event) -> bool:\n"
                "    return ev.nack(error=b'{}', dead=True)\n"
                "async def agive_up(ev: AsyncEvent) -> bool:\n"
                "    return await ev.nack(dead=True)\n")
    r = subprocess.run(mypy + ["--strict", "--no-incremental",
                               "--cache-dir", os.path.join(h.dir, "cache"),
                               os.path.join(PKG, "pushstage"), use],
                       capture_output=True, text=True, cwd=h.dir,
                       env=dict(os.environ, MYPYPATH=PKG), timeout=110)
    assert r.returncode == 0, r.stdout + r.stderr


def case_py_version(h):
    """One version: meson.build's project version is the package's
    __version__ (which its build backend reads) and pushctl's."""
    with open(os.path.join(HERE, "..", "meson.build")) as f:
        m = re.search(r"^project\([^)]*?version: '([^']+)'", f.read(),
                      re.M | re.S)
    assert m, "no version in meson.build"
    assert ps.__version__ == m.group(1), (ps.__version__, m.group(1))
    sys.path.insert(0, PKG)
    import _pushstage_build
    assert _pushstage_build.version() == m.group(1)
    r = subprocess.run([os.environ["PUSHCTL"], "--version"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and m.group(1) in r.stdout, r.stdout + r.stderr


def case_py_install_venv(h):
    """The README's install, in a venv of a Python that is not Debian's
    (no wheel, from 3.12 no setuptools) and offline: it builds with the
    standard library alone, with and without build isolation."""
    venv = os.path.join(h.dir, "venv")
    r = subprocess.run([sys.executable, "-m", "venv", venv],
                       capture_output=True, text=True, timeout=110)
    if r.returncode != 0:
        raise Skip("%s cannot make a venv: %s" % (sys.executable,
                                                  r.stderr.strip()))
    src = os.path.join(h.dir, "src")
    shutil.copytree(PKG, src, ignore=shutil.ignore_patterns(
        "__pycache__", "build", "*.egg-info"))
    py = os.path.join(venv, "bin", "python")
    h.start_daemon()
    for flags in (["--no-build-isolation"], []):
        r = subprocess.run([py, "-m", "pip", "install", "-q", "--no-index",
                            "--force-reinstall"] + flags + [src],
                           capture_output=True, text=True, cwd=h.dir,
                           timeout=110)
        assert r.returncode == 0, (flags, r.stdout + r.stderr)
        r = subprocess.run([py, "-c",
                            "import pushstage, sys; "
                            "print(pushstage.__file__, pushstage.__version__);"
                            "print(pushstage.Client(sys.argv[1])"
                            ".enqueue('q', 'x'))", h.sock],
                           capture_output=True, text=True, cwd=h.dir)
        assert r.returncode == 0, r.stderr
        where, v, eid = r.stdout.split()
        assert where.startswith(venv) and v == ps.__version__, r.stdout


def case_py_shared_runtime_dir(h):
    """As the C programs (cli_cases.py shared_runtime_dir_advice): a default
    socket in a shared directory is never advice to change it, but to
    set PUSHSTAGE_SOCKET or give socket=; the same words as pushctl's."""
    env = {k: v for k, v in os.environ.items() if k != "PUSHSTAGE_SOCKET"}
    env["PYTHONPATH"] = PKG
    mine = os.path.join(h.dir, "mine")
    os.mkdir(mine)
    os.chmod(mine, 0o750)
    for d, chmod in (("/tmp", False), (mine, True)):
        e = dict(env, XDG_RUNTIME_DIR=d)
        r = subprocess.run([sys.executable, "-c",
                            "import pushstage\n"
                            "try:\n"
                            "    pushstage.Client().stats()\n"
                            "except pushstage.PushstageError as e:\n"
                            "    print(e)\n"], capture_output=True,
                           text=True, env=e, timeout=60)
        assert r.returncode == 0 and d in r.stdout, (d, r)
        assert "PUSHSTAGE_SOCKET" in r.stdout and "socket=" in r.stdout, \
            (d, r.stdout)
        assert ("chmod 700 " + d in r.stdout) == chmod, (d, r.stdout)
        c = subprocess.run([os.environ["PUSHCTL"], "stats"],
                           capture_output=True, text=True, env=e, timeout=60)
        # The C text, with socket= for --socket, after "pushctl: error: ".
        same = c.stderr.strip().split(": ", 2)[-1].replace("--socket",
                                                         "socket=")
        assert same in r.stdout, (same, r.stdout)


class Skip(Exception):
    """A case that cannot run here (exit 77: meson's skip)."""


def run_case(globs, make, prog):
    """The case named by sys.argv[1] of the module whose globals are globs,
    on a harness make() gives: its logs shown if it fails, every process
    it started stopped; 0 passed, 1 failed, 2 usage, 77 skipped."""
    if len(sys.argv) != 2 or "case_" + sys.argv[1] not in globs:
        names = sorted(k[5:] for k in globs if k.startswith("case_"))
        print("usage: %s CASE\ncases: %s" % (prog, " ".join(names)))
        return 2
    h = make()
    skip = None
    try:
        globs["case_" + sys.argv[1]](h)
    except Skip as e:
        skip = e
    except Exception:
        for n in sorted(os.listdir(h.dir)):
            if n.endswith(".log"):
                sys.stderr.write("--- %s:\n%s" % (n, open(os.path.join(
                    h.dir, n), errors="replace").read()))
        raise
    finally:
        bad = h.cleanup()
    if bad:
        sys.stderr.write("\n".join(bad) + "\n")
        return 1
    if skip is not None:
        print("skip %s: %s" % (sys.argv[1], skip))
        return 77
    print("ok " + sys.argv[1])
    return 0


def main():
    return run_case(globals(), Py, "python_client.py")


if __name__ == "__main__":
    sys.exit(main())
