#!/usr/bin/env python3
"""integration.py: pushstage's programs run as a user runs them.

Each case starts its own producerd on a socket in a fresh temporary
directory, drives it with real consumer and pushctl processes and with raw
protocol peers, and stops every process it started.

usage: integration.py CASE   (PRODUCERD, CONSUMER, PUSHCTL name the binaries)
"""

import json
import os
import random
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

PRODUCERD = os.environ.get("PRODUCERD", "build/producerd/producerd")
CONSUMER = os.environ.get("CONSUMER", "build/consumer/consumer")
PUSHCTL = os.environ.get("PUSHCTL", "build/pushctl/pushctl")
PUSHBENCH = os.environ.get("PUSHBENCH", "build/bench/pushbench")

# Frame types and error codes, from docs/protocol.md.
HELLO, WELCOME, ENQUEUE, ENQUEUED, DEMAND, EVENT, STATS, STATS_REPLY, ERROR = range(1, 10)
ACK, NACK, TOUCH, DEAD_LIST, DEAD_LIST_REPLY, DEAD_RETRY, DEAD_DROP, DEAD_DONE = range(10, 18)
CONSUMER_ROLE, CLIENT_ROLE = 1, 2
E_TOO_LARGE, E_BAD_HEADER, E_UNKNOWN_TYPE, E_BAD_LENGTH, E_BAD_VALUE = 1, 2, 3, 4, 5
E_BAD_STATE, E_VERSION, E_DEMAND, E_NOMEM, E_DRAINING = 6, 7, 8, 9, 10
E_NOT_IN_FLIGHT, E_FORBIDDEN, E_TOO_MANY, E_TIMEOUT = 11, 12, 13, 14
E_STORAGE, E_NO_QUEUE, E_QUEUE_LIMIT, E_QUEUE_BUSY = 15, 16, 17, 18
QUEUES, QUEUES_REPLY, QUEUE_ADMIN, QUEUE_DONE, NACK_LATER = range(18, 23)
HDR = struct.Struct(">IBBH")


def frame(ftype, body=b""):
    return HDR.pack(len(body), ftype, 0, 0) + body


def hello(role, max_demand=0, min_demand=0, name=b"", version=2):
    return frame(HELLO, struct.pack(">HBBIIB", version, role, 0, max_demand,
                                    min_demand, len(name)) + name)


def enqueue(*events):
    body = struct.pack(">I", len(events))
    for e in events:
        body += struct.pack(">I", len(e)) + e
    return frame(ENQUEUE, body)


def hello3(role, queue=b"", max_demand=0, min_demand=0, name=b"", partition=None):
    """A version 3 HELLO: version 2's, then the queue (u8 length, bytes),
    then for a consumer of a partition its number (u16)."""
    return frame(HELLO, struct.pack(">HBBIIB", 3, role, 0, max_demand, min_demand,
                                    len(name)) + name + bytes([len(queue)]) + queue +
                 (b"" if partition is None else struct.pack(">H", partition)))


def enqueue3(queue, *events):
    """A version 3 ENQUEUE: the count, the queue, then the events."""
    body = struct.pack(">I", len(events)) + bytes([len(queue)]) + queue
    for e in events:
        body += struct.pack(">I", len(e)) + e
    return frame(ENQUEUE, body)


def demand(n):
    return frame(DEMAND, struct.pack(">I", n))


def ids(ftype, *idlist):
    return frame(ftype, struct.pack(">I", len(idlist)) +
                 b"".join(struct.pack(">Q", i) for i in idlist))


class Raw:
    """A peer that speaks the protocol byte by byte, as a test needs."""

    def __init__(self, path, version=2):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        for _ in range(500):
            try:
                self.s.connect(path)
                break
            except BlockingIOError:          # the listen backlog is full
                time.sleep(0.01)
        else:
            raise AssertionError("cannot connect: the backlog stays full")
        self.buf = b""
        self.version = version

    def send(self, data):
        self.s.sendall(data)

    def recv(self, timeout=10):
        """The next (type, body), or None at EOF or when nothing comes."""
        self.s.settimeout(timeout)
        while True:
            if len(self.buf) >= HDR.size:
                length, ftype, self.flags, _ = HDR.unpack_from(self.buf)
                if len(self.buf) >= HDR.size + length:
                    body = self.buf[HDR.size:HDR.size + length]
                    self.buf = self.buf[HDR.size + length:]
                    return ftype, body
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def expect(self, ftype):
        got = self.recv()
        assert got is not None, "expected %d, got nothing" % ftype
        if got[0] == ERROR:
            raise AssertionError("daemon error %d: %s" % (
                struct.unpack(">H", got[1][:2])[0], got[1][2:].decode()))
        assert got[0] == ftype, "expected frame %d, got %d" % (ftype, got[0])
        return got[1]

    def expect_error(self, code):
        got = self.recv()
        while got is not None and got[0] == WELCOME:
            got = self.recv()
        assert got is not None, "no ERROR frame before close"
        assert got[0] == ERROR, "expected ERROR, got frame %d" % got[0]
        (got_code,) = struct.unpack(">H", got[1][:2])
        assert got_code == code, "error code %d, wanted %d (%s)" % (
            got_code, code, got[1][2:].decode(errors="replace"))
        assert self.recv() is None, "connection not closed after ERROR"
        return got[1][2:].decode()

    def events(self, timeout=0.3, want=0):
        """Every EVENT payload that arrives before the line goes quiet for
        timeout; the first want of them waited for as events_full waits
        (a loaded machine's slowness is not silence), then any more."""
        got = self.events_full(want=want) if want else []
        return [p for _, _, p in got + self.events_full(timeout)]

    def events_full(self, timeout=None, want=None):
        """(id, attempt, payload) of each EVENT until want have come, each
        waited for up to timeout (10 s unless told); with no want, until
        the line is quiet for timeout (0.3 s unless told)."""
        if timeout is None:
            timeout = 0.3 if want is None else 10
        out = []
        while want is None or len(out) < want:
            got = self.recv(timeout)
            if got is None:
                break
            assert got[0] == EVENT, "expected EVENT, got %d" % got[0]
            if self.version < 2:
                out.append((struct.unpack(">Q", got[1][:8])[0], 1, got[1][8:]))
            else:
                i, a = struct.unpack(">QI", got[1][:12])
                out.append((i, a, got[1][12:]))
        return out

    def close(self):
        self.s.close()


def consumer_hello(raw, name, max_demand, min_demand=0):
    raw.send(hello(CONSUMER_ROLE, max_demand, min_demand, name, raw.version))
    return raw.expect(WELCOME)


def client_hello(raw):
    raw.send(hello(CLIENT_ROLE, version=raw.version))
    return raw.expect(WELCOME)


class Harness:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pushstage-test-")
        self.sock = os.path.join(self.dir, "ps.sock")
        self.procs = []
        self.daemon = None
        self.mounts = []

    def spawn(self, argv, out=None, merge=False, **kw):
        """argv, its output to the file out; its errors read at the end, or
        with merge (a server that logs as it goes), into out too."""
        f = open(out, "wb") if out else subprocess.DEVNULL
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT if merge
                             else subprocess.PIPE, **kw)
        self.procs.append(p)
        return p

    def start_daemon(self, *args, wait=True):
        errlog = os.path.join(self.dir, "producerd.log")
        with open(errlog, "ab") as log:
            p = subprocess.Popen([PRODUCERD, "--socket", self.sock] + list(args),
                                 stdout=subprocess.DEVNULL, stderr=log)
        self.procs.append(p)
        if wait:
            self.wait_answering(self.sock, p, errlog)
        self.daemon = p
        return p

    def wait_answering(self, path, proc, errlog):
        """Until the producerd proc answers on path; at once if it exits,
        with its log.  Its socket takes connections from listen(), before
        its --http or --metrics port listens and its loop runs, so only an
        answer says it is up."""
        def up():
            if proc.poll() is not None:
                with open(errlog, errors="replace") as f:
                    raise AssertionError("producerd exited %d before answering "
                                         "on %s:\n%s" % (proc.returncode, path,
                                                         f.read()))
            return self.answering_at(path)
        self.wait_for(up, what="producerd to answer on " + path)

    @staticmethod
    def answering_at(path):
        """Does a daemon answer a HELLO on path (WELCOME, ERROR or a close:
        its loop runs)?"""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(path)
            s.sendall(hello(CLIENT_ROLE))
            s.recv(1)
            return True
        except ConnectionResetError:
            return True
        except OSError:
            return False
        finally:
            s.close()

    def connectable(self):
        return self.connectable_at(self.sock)

    @staticmethod
    def connectable_at(path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def consumer(self, cid, *args):
        out = os.path.join(self.dir, "consumer-%s.out" % cid)
        p = self.spawn([CONSUMER, "--socket", self.sock, "--id", str(cid)]
                       + list(args), out=out)
        return p, out

    def pushctl(self, *args, input=None, sock=None):
        return subprocess.run([PUSHCTL, "--socket", sock or self.sock]
                              + list(args), input=input, capture_output=True,
                              timeout=60)

    def stats(self):
        r = self.pushctl("stats", "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def stats_of(self, queue):
        r = self.pushctl("stats", "--queue", queue, "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def wait_consumers(self, n, total_demand=None):
        def ready():
            st = self.stats()
            if st["consumers_connected"] != n:
                return False
            return total_demand is None or \
                sum(c["demand"] for c in st["consumers"]) == total_demand
        self.wait_for(ready, what="%d consumers" % n)

    @staticmethod
    def wait_for(pred, timeout=60, what="condition"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return
            time.sleep(0.02)
        raise AssertionError("timed out waiting for " + what)

    def cleanup(self):
        """Stop every process; those still running must exit 0 on SIGTERM
        (under the sanitizers, a leak or error report fails the test)."""
        running = [p for p in self.procs if p.poll() is None]
        bad = []
        # Workers first, so that none sees its daemon go away; then the
        # daemons, the last started first (a pipeline's end before its
        # head, so that no stage drains waiting for the one after it).
        daemons = [p for p in self.procs if p.args[0] == PRODUCERD]
        workers = [p for p in self.procs if p not in daemons]
        for p in workers + daemons[::-1]:
            if p in running:
                # nats-server exits 0 on SIGINT (1 on SIGTERM).
                p.send_signal(signal.SIGINT if p.args[0] == NATS_SERVER
                              else signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                bad.append("%s did not stop on SIGTERM" % p.args[0])
            if p in running and p.returncode != 0:
                err = p.stderr.read().decode(errors="replace") if p.stderr else ""
                bad.append("%s exited %d on SIGTERM%s" % (p.args[0], p.returncode,
                                                          err and ":\n" + err))
            if p.stderr:
                p.stderr.close()
        log = os.path.join(self.dir, "producerd.log")
        if bad and os.path.exists(log):
            bad.append("producerd's log:\n" + open(log).read())
        for m in self.mounts:
            subprocess.run(["umount", m], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        return bad

    def mount_tmpfs(self, name, size):
        """A small file system of its own (root only), unmounted at the end."""
        path = os.path.join(self.dir, name)
        os.mkdir(path)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                       check=True)
        self.mounts.append(path)
        return path


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli), the checksum of the journal's records and of
    DIR/schedules' (docs/journal.md)."""
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff


# DIR/schedules as docs/journal.md ("Schedules") lays it out: its head,
# then records of u32 length, u32 CRC32C, u8 type and a body.
SCHED_HEAD = b"pushschd" + struct.pack(">II", 1, 0)


def srec(rtype, body):
    data = bytes([rtype]) + body
    return struct.pack(">II", len(data), crc32c(data)) + data


def sentry(name, queue, fields, payload=b"", attrs=b""):
    """A schedule whole, as an entry of SCHEDULE_REPLY (a DEF's body)."""
    out = bytes([len(name)]) + name + bytes([len(queue)]) + queue + \
        struct.pack(">H", len(fields))
    for f in fields:
        out += struct.pack(">H", len(f)) + f
    return out + struct.pack(">IH", len(payload), len(attrs)) + attrs + payload


def read_frame(conn):
    """The next (type, body) from a socket a fake daemon accepted, or
    (None, None) at its end."""
    head = b""
    while len(head) < 8:
        b = conn.recv(8 - len(head))
        if not b:
            return None, None
        head += b
    n, t, _, _ = HDR.unpack(head)
    body = b""
    while len(body) < n:
        b = conn.recv(n - len(body))
        if not b:
            return None, None
        body += b
    return t, body


def lines(path):
    """The complete lines so far: a line still being written is left out."""
    with open(path, "rb") as f:
        data = f.read()
    return data[:data.rfind(b"\n") + 1].decode("utf-8", "replace").splitlines()


def received(path):
    """(id, what, event) for each line a consumer printed."""
    out = []
    for line in lines(path):
        cid, rest = line.split(": ", 1)
        what, event = rest.split(" ", 1) if " " in rest else (rest, "")
        out.append((cid, what, event))
    return out


def check_window(path, max_demand):
    """A consumer never holds more events than it asked for."""
    held = 0
    for _, what, _ in received(path):
        held += 1 if what == "received" else -1
        assert 0 <= held <= max_demand, "%s held %d > %d" % (path, held, max_demand)


# ---------------------------------------------------------------- the cases


def case_seed_demo(h):
    """The seed's demo: 3 consumers of max-demand 1, hello, then 5 messages."""
    h.start_daemon()
    outs = [h.consumer(i, "--work-ms", "20-60")[1] for i in (1, 2, 3)]
    h.wait_consumers(3, total_demand=3)
    assert h.pushctl("enqueue", "hello").returncode == 0

    def finished(n):
        return sum(1 for o in outs for r in received(o) if r[1] == "finished") == n
    h.wait_for(lambda: finished(1), what="hello to be finished")
    h.wait_consumers(3, total_demand=3)
    msgs = ["message %d" % i for i in range(1, 6)]
    r = h.pushctl("enqueue", *msgs)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"enqueued 5 events: ids 2-6\n", r.stdout
    h.wait_for(lambda: finished(6), what="all 6 events to be finished")

    got = {}
    for o in outs:
        check_window(o, 1)
        for cid, what, ev in received(o):
            if what == "received":
                assert ev not in got, "%s delivered twice" % ev
                got[ev] = cid
    assert sorted(got) == sorted(["hello"] + msgs), got
    # Each consumer holds one at a time, so the first three spread out.
    assert len({got[m] for m in msgs[:3]}) == 3, got
    st = h.stats()
    assert st["delivered_total"] == 6 and st["queued"] == 0, st


def many(h, args, max_demand):
    h.start_daemon()
    outs = [h.consumer(i, *args)[1] for i in range(1, 5)]
    # Their demand, not just their connections: a consumer that has not
    # asked yet could find the 10,000 all taken by the other three.
    h.wait_consumers(4, total_demand=4 * max_demand)
    r = h.pushctl("enqueue", "-", input="".join("%d\n" % i for i in range(1, 10001)).encode())
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"enqueued 10000 events: ids 1-10000\n", r.stdout

    def done():
        return sum(1 for o in outs for r in received(o) if r[1] == "finished") == 10000
    h.wait_for(done, timeout=60, what="10,000 events to be finished")
    seen = []
    for o in outs:
        check_window(o, max_demand)
        mine = [int(ev) for _, what, ev in received(o) if what == "received"]
        assert mine == sorted(mine), "%s: not in FIFO order" % o
        assert mine, "%s got nothing" % o
        seen += mine
    assert sorted(seen) == list(range(1, 10001)), "not exactly once"
    st = h.stats()
    assert st["delivered_total"] == 10000 and st["queued"] == 0, st


def case_many_max_demand_1(h):
    """10,000 events across 4 consumers of max-demand 1: each exactly once."""
    many(h, [], 1)


def case_many_max_demand_100(h):
    """10,000 events across 4 consumers of max-demand 100, min-demand 50."""
    many(h, ["--max-demand", "100", "--min-demand", "50"], 100)


def case_events_before_consumers(h):
    """Events enqueued with no consumer wait, then go out in order."""
    h.start_daemon()
    r = h.pushctl("enqueue", "-", input=b"".join(b"%d\n" % i for i in range(1, 101)))
    assert r.returncode == 0, r.stderr
    st = h.stats()
    assert st["queued"] == 100 and st["consumers"] == [], st
    assert st["queued_bytes"] == sum(len(str(i)) for i in range(1, 101)), st
    _, out = h.consumer("late", "--max-demand", "10", "--min-demand", "5")
    h.wait_for(lambda: len(received(out)) == 200, what="100 events")
    evs = [int(e) for _, w, e in received(out) if w == "received"]
    assert evs == list(range(1, 101)), evs
    check_window(out, 10)
    assert h.stats()["queued"] == 0


def case_dispatch_rule(h):
    """The DemandDispatcher example through the daemon, with raw consumers."""
    h.start_daemon()
    a, b, c = Raw(h.sock), Raw(h.sock), Raw(h.sock)
    for raw, name in ((a, b"A"), (b, b"B")):
        consumer_hello(raw, name, 3)
        raw.send(demand(3) + frame(STATS))  # the reply orders A before B
        raw.expect(STATS_REPLY)
    client_hello(c)
    c.send(enqueue(b"a", b"b"))
    c.expect(ENQUEUED)
    assert a.events(want=2) == [b"a", b"b"]
    c.send(enqueue(b"c", b"d"))
    c.expect(ENQUEUED)
    assert b.events(want=2) == [b"c", b"d"]
    c.send(enqueue(b"e", b"f", b"g"))
    body = c.expect(ENQUEUED)
    assert struct.unpack(">QIIII", body) == (5, 3, 0, 0, 0), body
    assert a.events(want=1) == [b"e"]
    assert b.events(want=1) == [b"f"]
    st = h.stats()
    assert st["queued"] == 1, st
    # g is not stranded: new demand from anyone takes it at once.  (A acks
    # what it holds first: with acks, no consumer holds over max_demand.)
    a.send(ids(ACK, 1, 2, 5) + demand(1))
    assert a.events(want=1) == [b"g"]


def case_departed_consumer_strands_nothing(h):
    """Demand leaves with its consumer; buffered events go to new demand."""
    h.start_daemon()
    a = Raw(h.sock)
    consumer_hello(a, b"gone", 5)
    a.send(demand(5) + frame(STATS))
    a.expect(STATS_REPLY)
    a.close()
    h.wait_for(lambda: h.stats()["consumers_connected"] == 0, what="A to go")
    assert h.pushctl("enqueue", "x", "y").returncode == 0
    assert h.stats()["queued"] == 2
    b = Raw(h.sock)
    consumer_hello(b, b"new", 2)
    b.send(demand(2))
    assert b.events(want=2) == [b"x", b"y"]


BAD_CASES = [
    # (what a peer sends, the error code it must get)
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", E_TOO_LARGE),
    (b"\xff\xff\xff\xff" + b"\x03\x00\x00\x00", E_TOO_LARGE),
    (frame(0x42), E_UNKNOWN_TYPE),
    (HDR.pack(0, STATS, 1, 0), E_BAD_HEADER),
    (enqueue(b"early"), E_BAD_STATE),
    (hello(CLIENT_ROLE, version=99), E_VERSION),
    (hello(CLIENT_ROLE) + demand(1), E_BAD_STATE),
    (hello(CLIENT_ROLE) + hello(CLIENT_ROLE), E_BAD_STATE),
    (hello(CLIENT_ROLE) + frame(EVENT, b"\0" * 8), E_BAD_STATE),
    (hello(CLIENT_ROLE, 5, 0), E_BAD_VALUE),
    (hello(CLIENT_ROLE) + frame(ENQUEUE, struct.pack(">II", 2, 0)), E_BAD_LENGTH),
    (hello(CLIENT_ROLE) + frame(ENQUEUE, struct.pack(">I", 0)), E_BAD_VALUE),
    (hello(CONSUMER_ROLE, 1, 0, b"c") + enqueue(b"x"), E_BAD_STATE),
    (hello(CONSUMER_ROLE, 0, 0, b"c"), E_BAD_VALUE),
    (hello(CONSUMER_ROLE, 2, 2, b"c"), E_BAD_VALUE),
    (hello(CONSUMER_ROLE, 1, 0, b""), E_BAD_VALUE),
    (hello(CONSUMER_ROLE, 1, 0, b"a\nb"), E_BAD_VALUE),
    (hello(CONSUMER_ROLE, 2, 0, b"c") + demand(3), E_DEMAND),
    (hello(CONSUMER_ROLE, 2, 0, b"c") + demand(0), E_BAD_VALUE),
    (hello(CONSUMER_ROLE, 2, 0, b"c") + frame(DEMAND, b"\0\0\1"), E_BAD_LENGTH),
    (frame(HELLO, b"\0\1\2"), E_BAD_LENGTH),
    (frame(STATS, b"x"), E_BAD_STATE),
]


def case_bad_input_is_refused_and_harms_no_one(h):
    """Every bad frame gets its ERROR and a close; other work carries on."""
    h.start_daemon()
    outs = [h.consumer(i, "--max-demand", "10", "--min-demand", "5")[1] for i in (1, 2)]
    h.wait_consumers(2)
    good = Raw(h.sock)
    client_hello(good)
    sent = 0
    for data, code in BAD_CASES:
        good.send(enqueue(*[b"%d" % (sent + i) for i in range(50)]))
        sent += 50
        bad = Raw(h.sock)
        bad.send(data)
        msg = bad.expect_error(code)
        assert msg, "ERROR frame without a message"
        bad.close()
        good.expect(ENQUEUED)
    # A frame cut short by the peer's close: no reply possible, no harm.
    bad = Raw(h.sock)
    bad.send(hello(CLIENT_ROLE) + enqueue(b"whole")[:-3])
    bad.close()
    good.send(enqueue(b"last"))
    good.expect(ENQUEUED)
    sent += 1

    def done():
        return sum(1 for o in outs for r in received(o) if r[1] == "finished") == sent
    h.wait_for(done, what="the good client's events")
    evs = sorted(e for o in outs for _, w, e in received(o) if w == "received")
    assert evs == sorted([str(i) for i in range(sent - 1)] + ["last"]), "events lost"
    st = h.stats()
    assert st["protocol_errors_total"] == len(BAD_CASES), st
    assert st["enqueued_total"] == sent, st
    assert h.daemon.poll() is None, "producerd died"


def case_no_daemon(h):
    """No daemon: pushctl and consumer exit 69 and name the socket."""
    for args in (["stats"], ["enqueue", "x"]):
        r = h.pushctl(*args)
        assert r.returncode == 69, r
        assert h.sock.encode() in r.stderr, r.stderr
    p = subprocess.run([CONSUMER, "--socket", h.sock, "--id", "1"],
                       capture_output=True, timeout=10)
    assert p.returncode == 69, p
    assert h.sock.encode() in p.stderr, p.stderr


def case_daemon_lifecycle(h):
    """One daemon per socket; stale files replaced; clean exit on signals."""
    d = h.start_daemon()
    r = subprocess.run([PRODUCERD, "--socket", h.sock], capture_output=True,
                       timeout=10)
    assert r.returncode == 1, r
    assert b"already listening" in r.stderr and h.sock.encode() in r.stderr, r.stderr
    assert h.stats()["queued"] == 0, "first daemon disturbed"
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=10) == 0
    assert not os.path.exists(h.sock), "socket left behind"

    # A socket file nobody listens on: stale, replaced.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(h.sock)
    s.close()
    assert os.path.exists(h.sock)
    d = h.start_daemon()
    assert h.pushctl("enqueue", "after-stale").returncode == 0
    d.send_signal(signal.SIGINT)
    assert d.wait(timeout=10) == 0
    assert not os.path.exists(h.sock)

    # Something that is not a socket is never removed.
    with open(h.sock, "w") as f:
        f.write("keep me")
    r = subprocess.run([PRODUCERD, "--socket", h.sock], capture_output=True,
                       timeout=10)
    assert r.returncode == 1 and b"not a socket" in r.stderr, r
    with open(h.sock) as f:
        assert f.read() == "keep me"
    os.unlink(h.sock)

    long_path = os.path.join(h.dir, "x" * 120)
    r = subprocess.run([PRODUCERD, "--socket", long_path], capture_output=True,
                       timeout=10)
    assert r.returncode == 1 and b"too long" in r.stderr, r


def case_consumer_exit(h):
    """consumer: 0 on SIGTERM, even mid-work; non-zero when the daemon goes."""
    d = h.start_daemon()
    p1, _ = h.consumer(1, "--work-ms", "60000")
    h.wait_consumers(1)
    assert h.pushctl("enqueue", "slow").returncode == 0
    h.wait_for(lambda: any(c["in_flight"] for c in h.stats()["consumers"]),
               what="the slow event to be taken")
    p2, _ = h.consumer(2)
    h.wait_consumers(2)
    p1.send_signal(signal.SIGTERM)
    assert p1.wait(timeout=20) == 0
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=10) == 0
    assert p2.wait(timeout=20) == 1
    err = p2.stderr.read()
    assert b"closed the connection" in err and h.sock.encode() in err, err


def case_exec(h):
    """--exec: payload on stdin, ids in the environment; failures go on."""
    h.start_daemon("--max-attempts", "1")
    cmd = ('cat > "$OUT/$PUSHSTAGE_EVENT_ID.in"; '
           'echo "$PUSHSTAGE_CONSUMER_ID $PUSHSTAGE_ATTEMPT" > "$OUT/$PUSHSTAGE_EVENT_ID.who"; '
           'test "$(cat "$OUT/$PUSHSTAGE_EVENT_ID.in")" != fail')
    out = os.path.join(h.dir, "consumer-x.out")
    h.spawn([CONSUMER, "--socket", h.sock, "--id", "worker-7", "--exec", cmd],
            out=out, env=dict(os.environ, OUT=h.dir))
    h.wait_consumers(1)
    big = b"B" * 300000
    r = h.pushctl("enqueue", "-0", "-", input=b"line one\nline two\0fail\0" + big)
    assert r.returncode == 0, r.stderr
    h.wait_for(lambda: sum(1 for x in received(out) if x[1] == "finished") == 3,
               what="three commands")
    with open(os.path.join(h.dir, "1.in"), "rb") as f:
        assert f.read() == b"line one\nline two"
    with open(os.path.join(h.dir, "1.who")) as f:
        assert f.read() == "worker-7 1\n"
    with open(os.path.join(h.dir, "3.in"), "rb") as f:
        assert f.read() == big
    assert ("worker-7", "received", "line one\\nline two") in received(out)


def case_escaping(h):
    """One event prints as one line, bytes escaped C-style."""
    h.start_daemon()
    _, out = h.consumer(1)
    h.wait_consumers(1)
    r = h.pushctl("enqueue", "-0", "-", input=b"a\nb\tc\x01\\\xff\0plain\0")
    assert r.returncode == 0, r.stderr
    h.wait_for(lambda: len(lines(out)) == 4, what="two events")
    assert lines(out) == ["1: received a\\nb\\tc\\x01\\\\\\xff",
                          "1: finished a\\nb\\tc\\x01\\\\\\xff",
                          "1: received plain", "1: finished plain"], lines(out)


def case_stats(h):
    """stats: a table for people, one JSON object for scripts."""
    h.start_daemon()
    h.consumer("s1", "--max-demand", "4", "--min-demand", "1", "--work-ms", "60000")
    h.wait_consumers(1)
    assert h.pushctl("enqueue", "a", "b", "c", "d", "e", "f").returncode == 0
    st = h.stats()
    for key in ("queued", "enqueued_total", "delivered_total", "queued_bytes"):
        assert isinstance(st[key], int), key
    assert st["enqueued_total"] == 6 and st["delivered_total"] == 4, st
    assert st["queued"] == 2, st
    (c,) = st["consumers"]
    assert c["id"] == "s1" and c["demand"] == 0 and c["delivered"] == 4, c
    assert c["in_flight"] == 4 and c["max_demand"] == 4, c
    r = h.pushctl("stats")
    assert r.returncode == 0
    text = r.stdout.decode()
    assert "enqueued_total" in text and "s1" in text and "in_flight" in text, text
    assert h.pushctl("stats", "--bogus").returncode == 1


def case_slow_consumer_does_not_hold_others_up(h):
    """A stuck consumer holds only what it asked for; the rest flows on."""
    h.start_daemon()
    h.consumer("slow", "--work-ms", "60000")
    h.wait_consumers(1, total_demand=1)
    assert h.pushctl("enqueue", "stuck").returncode == 0
    _, fast = h.consumer("fast", "--max-demand", "8", "--min-demand", "4")
    h.wait_consumers(2)
    r = h.pushctl("enqueue", "-", input=b"".join(b"%d\n" % i for i in range(500)))
    assert r.returncode == 0
    h.wait_for(lambda: len(received(fast)) == 1000, what="the fast consumer")
    st = h.stats()
    slow = [c for c in st["consumers"] if c["id"] == "slow"][0]
    assert slow["delivered"] == 1, slow


def case_frame_limit(h):
    """--max-frame bounds events; big inputs are split into batches."""
    h.start_daemon("--max-frame", "4096")
    # The frame holds the count, the queue's name ("default") and the length.
    r = h.pushctl("enqueue", "x" * 4081)
    assert r.returncode == 1 and b"--max-frame" in r.stderr, r
    assert h.pushctl("enqueue", "x" * 4080).returncode == 0
    r = h.pushctl("enqueue", "-", input=b"".join(b"event-%04d\n" % i for i in range(1000)))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"enqueued 1000 events: ids 2-1001\n", r.stdout
    assert h.stats()["queued"] == 1001
    # A raw peer's frame over the limit is refused from its header.
    raw = Raw(h.sock)
    raw.send(hello(CLIENT_ROLE) + enqueue(b"y" * 4089))
    raw.expect(WELCOME)
    raw.expect_error(E_TOO_LARGE)
    # The largest event reaches a consumer: its EVENT is max_frame + 4.
    p, out = h.consumer("big", "--max-demand", "10")
    h.wait_for(lambda: len(received(out)) >= 2, what="the largest event")
    assert received(out)[0] == ("big", "received", "x" * 4080), received(out)[0][:2]
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0
    # And a stage whose upstream sends it passes it on.
    _, a_sock = stage(h, "a", "--max-frame", "4096")
    _, b_sock = stage(h, "b", "--upstream", a_sock, "--max-frame", "4096")
    end = Raw(b_sock)
    consumer_hello(end, b"end", 1)
    end.send(demand(1))
    # A version 2 client may send 8 bytes more: no queue name.
    v2 = Raw(a_sock)
    v2.send(hello(CLIENT_ROLE) + enqueue(b"z" * 4088))
    v2.expect(WELCOME)
    v2.expect(ENQUEUED)
    (eid, _, payload), = end.events_full(want=1, timeout=10)
    assert payload == b"z" * 4088
    end.send(ids(ACK, eid))
    h.wait_for(lambda: stats_at(h, a_sock)["acked_total"] == 1, what="the ack upstream")
    end.close()


def case_cli(h):
    """--help and --version everywhere; usage errors exit 1 and say why."""
    for prog in (PRODUCERD, CONSUMER, PUSHCTL, PUSHBENCH):
        r = subprocess.run([prog, "--help"], capture_output=True, timeout=10)
        assert r.returncode == 0 and r.stdout.startswith(b"usage:"), (prog, r)
        r = subprocess.run([prog, "--version"], capture_output=True, timeout=10)
        assert r.returncode == 0 and b"0." in r.stdout, (prog, r)
    for verb in ("enqueue", "stats", "consumers", "watch", "dead"):
        r = subprocess.run([PUSHCTL, verb, "--help"], capture_output=True, timeout=10)
        assert r.returncode == 0 and r.stdout.startswith(b"usage:"), (verb, r)
    bad = [
        ([PUSHCTL], b"usage"),
        ([PUSHCTL, "frobnicate"], b"unknown command"),
        ([PUSHCTL, "enqueue"], b"give the events"),
        ([PUSHCTL, "enqueue", "-0", "a"], b"-0 goes with -"),
        ([CONSUMER], b"--id is required"),
        ([CONSUMER, "--id", "1", "--max-demand", "0"], b"--max-demand"),
        ([CONSUMER, "--id", "1", "--max-demand", "5", "--min-demand", "5"], b"below"),
        ([CONSUMER, "--id", "1", "--work-ms", "9-3"], b"--work-ms"),
        ([CONSUMER, "--id", "1", "--max-demand", "12x"], b"12x"),
        ([PRODUCERD, "--max-frame", "abc"], b"--max-frame"),
        ([PRODUCERD, "--log-level", "loud"], b"--log-level"),
        ([PRODUCERD, "stray"], b"stray"),
        ([PUSHCTL, "enqueue", "--retry", "soon", "x"], b"--retry"),
        ([PUSHCTL, "dead"], b"usage"),
        ([PUSHCTL, "dead", "bury"], b"unknown command"),
        ([PUSHCTL, "dead", "retry", "abc"], b"not an event id"),
        ([PUSHCTL, "dead", "drop", "0"], b"not an event id"),
        ([PUSHCTL, "dead", "list", "--preview", "5000"], b"--preview"),
        ([PUSHBENCH, "--workload", "W9"], b"--workload"),
        ([PUSHBENCH, "--size", "8"], b"--size"),
        ([PUSHBENCH, "--delivery", "maybe"], b"--delivery"),
        ([PUSHBENCH, "--runs", "0"], b"--runs"),
        ([PUSHBENCH, "--fsync", "sometimes"], b"--fsync"),
        ([PUSHBENCH, "--window", "0"], b"--window"),
        ([PUSHBENCH, "--batch", "5000"], b"--batch"),
        ([PUSHBENCH, "--system", "kafka"], b"--system"),
    ]
    r = subprocess.run([PUSHBENCH, "--help"], capture_output=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith(b"usage:"), r
    for argv, what in bad:
        r = subprocess.run(argv, capture_output=True, timeout=10,
                           env=dict(os.environ, PUSHSTAGE_SOCKET=h.sock))
        assert r.returncode == 1, (argv, r)
        assert what in r.stderr, (argv, r.stderr)


def case_default_socket(h):
    """No --socket: $PUSHSTAGE_SOCKET, then $XDG_RUNTIME_DIR/pushstage.sock."""
    env = dict(os.environ, PUSHSTAGE_SOCKET=h.sock)
    d = subprocess.Popen([PRODUCERD], env=env, stderr=subprocess.DEVNULL)
    h.procs.append(d)
    h.wait_for(h.connectable, what="producerd on $PUSHSTAGE_SOCKET")
    r = subprocess.run([PUSHCTL, "enqueue", "via-env"], env=env,
                       capture_output=True, timeout=10)
    assert r.returncode == 0, r
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=10) == 0
    env = {k: v for k, v in os.environ.items() if k != "PUSHSTAGE_SOCKET"}
    env["XDG_RUNTIME_DIR"] = h.dir
    d = subprocess.Popen([PRODUCERD], env=env, stderr=subprocess.DEVNULL)
    h.procs.append(d)
    h.sock = os.path.join(h.dir, "pushstage.sock")
    h.wait_for(h.connectable, what="producerd in $XDG_RUNTIME_DIR")
    r = subprocess.run([PUSHCTL, "stats", "--json"], env=env,
                       capture_output=True, timeout=10)
    assert r.returncode == 0 and json.loads(r.stdout)["queued"] == 0, r


def case_socket_squatting(h):
    """The default per-user directory must be the user's alone, and the
    daemon answering there the user or root: another user can neither
    stand in for producerd nor keep it from starting unnoticed."""
    if os.geteuid() != 0:
        sys.exit(77)        # needs another uid to play the other user
    os.chmod(h.dir, 0o755)          # the other user must reach tmp
    tmp = os.path.join(h.dir, "tmp")
    os.mkdir(tmp)
    os.chmod(tmp, 0o1777)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PUSHSTAGE_SOCKET", "XDG_RUNTIME_DIR")}
    env["TMPDIR"] = tmp
    d = os.path.join(tmp, "pushstage-0")
    path = os.path.join(d, "pushstage.sock")

    def both_refuse(what):
        r = subprocess.run([PRODUCERD], env=env, capture_output=True, timeout=10)
        assert r.returncode == 1 and what in r.stderr, r
        r = subprocess.run([PUSHCTL, "stats"], env=env, capture_output=True, timeout=10)
        assert r.returncode == 69 and what in r.stderr, r
    os.mkdir(d)
    os.chown(d, 65534, 65534)
    both_refuse(b"belongs to uid 65534, not to you (uid 0)")
    os.chown(d, 0, 0)
    os.chmod(d, 0o777)
    both_refuse(b"has mode 0777: others may enter it")
    os.rmdir(d)
    open(d, "w").close()
    both_refuse(b"is not a directory")
    os.unlink(d)

    # Missing: producerd makes it, 0700; the tools find it.
    p = subprocess.Popen([PRODUCERD], env=env, stderr=subprocess.DEVNULL)
    h.procs.append(p)
    h.wait_for(lambda: h.connectable_at(path), what="producerd at the default")
    assert stat.S_IMODE(os.lstat(d).st_mode) == 0o700
    r = subprocess.run([PUSHCTL, "enqueue", "mine"], env=env, capture_output=True, timeout=10)
    assert r.returncode == 0, r
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0

    # Another user listening there: refused, and named; it hears nothing.
    os.chmod(d, 0o777)
    impostor = subprocess.Popen([sys.executable, "-c", """
import os, socket, sys
os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(5)
print("listening", flush=True)
c, _ = s.accept()
print(len(c.recv(100)), flush=True)
""", path], stdout=subprocess.PIPE)
    h.procs.append(impostor)
    assert impostor.stdout.readline() == b"listening\n"
    os.chmod(d, 0o700)
    r = subprocess.run([PUSHCTL, "enqueue", "secret"], env=env, capture_output=True, timeout=10)
    assert r.returncode == 69, r
    assert b"answered by pid %d of uid 65534" % impostor.pid in r.stderr, r.stderr
    assert impostor.stdout.readline() == b"0\n"
    assert impostor.wait(timeout=10) == 0

    # A --socket in a directory others can write: a warning at start.
    h.sock = os.path.join(tmp, "shared.sock")
    h.start_daemon()
    with open(os.path.join(h.dir, "producerd.log")) as f:
        assert "the socket's directory %s can be written by others (mode 1777)" % tmp in f.read()


# ------------------------------------------------- at-least-once delivery


def stats_of(h, cid):
    return [c for c in h.stats()["consumers"] if c["id"] == cid][0]


def case_kill9_mid_event_is_finished_by_another(h):
    """kill -9 a consumer mid-event: another consumer finishes it."""
    h.start_daemon()
    a, out_a = h.consumer("a", "--work-ms", "60000")
    h.wait_consumers(1)
    assert h.pushctl("enqueue", "precious").returncode == 0
    h.wait_for(lambda: ("a", "received", "precious") in received(out_a),
               what="a to take the event")
    a.kill()
    a.wait()
    out_b = os.path.join(h.dir, "consumer-b.out")
    h.spawn([CONSUMER, "--socket", h.sock, "--id", "b", "--exec",
             'echo "$PUSHSTAGE_EVENT_ID $PUSHSTAGE_ATTEMPT $(cat)" > "$OUT/b"'],
            out=out_b, env=dict(os.environ, OUT=h.dir))
    h.wait_for(lambda: ("b", "finished", "precious") in received(out_b),
               what="b to finish the event")
    with open(os.path.join(h.dir, "b")) as f:
        assert f.read() == "1 2 precious\n"
    st = h.stats()
    assert st["redelivered_total"] == 1 and st["acked_total"] == 1, st
    assert st["in_flight"] == 0 and st["queued"] == 0, st


def case_hundred_in_flight_come_back_in_order(h):
    """A consumer killed with 100 events in flight: all 100 redelivered, in
    order, ahead of newer events."""
    h.start_daemon()
    a, out_a = h.consumer("a", "--max-demand", "100", "--work-ms", "60000")
    h.wait_consumers(1, total_demand=100)
    r = h.pushctl("enqueue", "-", input=b"".join(b"%d\n" % i for i in range(1, 151)))
    assert r.returncode == 0, r.stderr
    h.wait_for(lambda: len(received(out_a)) >= 100, what="a to take 100")
    assert stats_of(h, "a")["in_flight"] == 100
    a.kill()
    a.wait()
    b = Raw(h.sock)
    consumer_hello(b, b"b", 200)
    b.send(demand(200))
    got = b.events_full(want=150)
    assert [i for i, _, _ in got] == list(range(1, 151)), [i for i, _, _ in got]
    assert all(att == 2 for _, att, _ in got[:100]), got[:3]
    assert all(att == 1 for _, att, _ in got[100:]), got[100:103]
    assert [p for _, _, p in got] == [b"%d" % i for i in range(1, 151)]
    st = h.stats()
    assert st["redelivered_total"] == 100 and st["in_flight"] == 150, st


def case_ack_timeout_redelivers_and_late_ack_is_counted(h):
    """--ack-timeout: an event not acked in time goes to another consumer;
    the late ACK is ignored and counted, and the connection stays."""
    h.start_daemon("--ack-timeout", "0.5")
    a = Raw(h.sock)
    w = consumer_hello(a, b"a", 1)
    assert struct.unpack(">HHIIHBB", w)[3] == 500, w
    a.send(demand(1))
    assert h.pushctl("enqueue", "slow").returncode == 0
    assert [(i, att) for i, att, _ in a.events_full(want=1)] == [(1, 1)]
    b = Raw(h.sock)
    consumer_hello(b, b"b", 1)
    b.send(demand(1))
    t0 = time.monotonic()
    got = b.events_full(timeout=3, want=1)
    assert [(i, att, p) for i, att, p in got] == [(1, 2, b"slow")], got
    assert time.monotonic() - t0 < 2
    a.send(ids(ACK, 1) + frame(STATS))
    a.expect(STATS_REPLY)
    b.send(ids(ACK, 1))
    h.wait_for(lambda: h.stats()["acked_total"] == 1, what="b's ack")
    st = h.stats()
    assert st["timed_out_total"] == 1 and st["late_acks_total"] == 1, st
    assert st["in_flight"] == 0, st


def case_touch_keeps_an_event(h):
    """TOUCH pushes an event's deadline on; it is not taken back."""
    # Touched every 0.2 s against a deadline of 2 s, for more than two
    # deadlines: at 0.6 s, one stall of a loaded machine between two
    # touches let the deadline pass.
    h.start_daemon("--ack-timeout", "2")
    a = Raw(h.sock)
    consumer_hello(a, b"a", 1)
    a.send(demand(1))
    b = Raw(h.sock)
    consumer_hello(b, b"b", 1)
    assert h.pushctl("enqueue", "long job").returncode == 0
    assert len(a.events_full(want=1)) == 1
    b.send(demand(1))
    end = time.monotonic() + 4.5
    while time.monotonic() < end:
        a.send(ids(TOUCH, 1))
        time.sleep(0.2)
    assert b.events(timeout=0.2) == [], "the touched event was taken back"
    a.send(ids(ACK, 1))
    h.wait_for(lambda: h.stats()["acked_total"] == 1, what="the ack")
    assert h.stats()["timed_out_total"] == 0


def case_nack_to_dead_letter_then_retry(h):
    """A failing command nacks; after --max-attempts the event is dead;
    dead list shows it; dead retry sends it round again."""
    h.start_daemon("--max-attempts", "3")
    cmd = 'echo "$PUSHSTAGE_ATTEMPT" >> "$OUT/attempts"; test -e "$OUT/fixed"'
    out = os.path.join(h.dir, "consumer-n.out")
    h.spawn([CONSUMER, "--socket", h.sock, "--id", "n", "--exec", cmd],
            out=out, env=dict(os.environ, OUT=h.dir))
    h.wait_consumers(1)
    assert h.pushctl("enqueue", "poison\x01pill").returncode == 0
    h.wait_for(lambda: h.stats()["dead"] == 1, what="the event to die")
    with open(os.path.join(h.dir, "attempts")) as f:
        assert f.read().split() == ["1", "2", "3"]
    r = h.pushctl("dead", "list", "--json")
    assert r.returncode == 0, r.stderr
    dl = json.loads(r.stdout)
    # Its last error: the command's exit status (it wrote no stderr).
    assert dl == {"dead": 1, "events": [{"id": 1, "attempts": 3, "reason": "nack",
                                         "bytes": 11, "preview": "poison\\x01pill",
                                         "error": "exit status 1\n"}]}, dl
    r = h.pushctl("dead", "list")
    assert b"poison\\x01pill" in r.stdout and b"nack" in r.stdout, r.stdout
    r = h.pushctl("dead", "retry", "77")
    assert r.returncode == 1 and b"not a dead event" in r.stderr, r
    open(os.path.join(h.dir, "fixed"), "w").close()
    r = h.pushctl("dead", "retry", "1")
    assert r.returncode == 0 and r.stdout == b"retried 1 dead event\n", r
    h.wait_for(lambda: h.stats()["acked_total"] == 1, what="the retried event")
    st = h.stats()
    assert st["dead"] == 0 and st["nacked_total"] == 3 and st["dead_total"] == 1, st
    with open(os.path.join(h.dir, "attempts")) as f:
        assert f.read().split() == ["1", "2", "3", "1"]
    # drop: by id, and all at once.
    os.unlink(os.path.join(h.dir, "fixed"))
    assert h.pushctl("enqueue", "x", "y").returncode == 0
    h.wait_for(lambda: h.stats()["dead"] == 2, what="two more dead")
    r = h.pushctl("dead", "drop", "2")
    assert r.returncode == 0 and h.stats()["dead"] == 1, r
    r = h.pushctl("dead", "drop")
    assert r.returncode == 0 and r.stdout == b"dropped 1 dead event\n", r
    assert h.pushctl("dead", "list").stdout == b"no dead events\n"


def case_at_most_once_keeps_genstage_semantics(h):
    """--delivery at-most-once: no acks; a killed consumer's event is gone."""
    h.start_daemon("--delivery", "at-most-once")
    a = Raw(h.sock)
    w = consumer_hello(a, b"a", 1)
    assert struct.unpack(">HHIIHBB", w)[5] == 2, w   # delivery: at-most-once
    a.send(demand(1))
    assert h.pushctl("enqueue", "once").returncode == 0
    assert a.events(want=1) == [b"once"]
    a.close()
    b = Raw(h.sock)
    consumer_hello(b, b"b", 1)
    b.send(demand(1))
    assert b.events() == []
    b.send(ids(ACK, 1))
    b.expect_error(E_BAD_STATE)
    st = h.stats()
    assert st["redelivered_total"] == 0 and st["in_flight"] == 0, st


def case_version_1_peers_still_work(h):
    """A version 1 consumer gets version 1 frames and at-most-once."""
    h.start_daemon()
    a = Raw(h.sock, version=1)
    w = consumer_hello(a, b"old", 2)
    assert len(w) == 8, w
    a.send(demand(2))
    assert h.pushctl("enqueue", "p", "q").returncode == 0
    assert a.events_full(want=2) + a.events_full() == [(1, 1, b"p"), (2, 1, b"q")]
    a.send(ids(ACK, 1))
    msg = a.expect_error(E_BAD_STATE)
    assert "version 1" in msg, msg


def queue_list(h, sock=None):
    r = h.pushctl("queues", "--json", sock=sock)
    assert r.returncode == 0, r.stderr
    return {q["name"]: q for q in map(json.loads, r.stdout.decode().splitlines())}


def case_queues_never_mix(h):
    """Two queues, a consumer on each: each gets its queue's events only."""
    h.start_daemon()
    _, a = h.consumer("wa", "--queue", "jobs.a", "--max-demand", "10")
    _, b = h.consumer("wb", "-q", "jobs:b", "--max-demand", "10")
    h.wait_consumers(2, total_demand=20)
    assert h.pushctl("enqueue", "-q", "jobs.a", "a1", "a2").returncode == 0
    assert h.pushctl("-q", "jobs:b", "enqueue", "b1").returncode == 0
    assert h.pushctl("enqueue", "d1").returncode == 0       # the queue default
    h.wait_for(lambda: len(received(a)) == 4 and len(received(b)) == 2,
               what="both consumers")
    assert [e for _, w, e in received(a) if w == "received"] == ["a1", "a2"]
    assert [e for _, w, e in received(b) if w == "received"] == ["b1"]
    qs = queue_list(h)
    assert set(qs) == {"jobs.a", "jobs:b", "default"}, qs
    assert qs["jobs.a"]["enqueued_total"] == 2 and qs["jobs.a"]["consumers"] == 1
    assert qs["default"]["queued"] == 1 and qs["default"]["consumers"] == 0
    r = h.pushctl("stats", "-q", "jobs:b", "--json")
    st = json.loads(r.stdout)
    assert st["queue"] == "jobs:b" and st["enqueued_total"] == 1, st
    assert [c["id"] for c in st["consumers"]] == ["wb"], st
    whole = h.stats()
    assert whole["enqueued_total"] == 4 and whole["queues"] == 3, whole
    assert len(whole["consumers"]) == 2
    r = h.pushctl("consumers", "-q", "jobs.a")
    assert r.returncode == 0 and b"wa" in r.stdout and b"wb" not in r.stdout, r
    # The rates: events of the last second, for each queue.
    h.wait_for(lambda: queue_list(h)["jobs.a"]["deliver_rate"] == 2 or
               queue_list(h)["jobs.a"]["delivered_total"] == 2, what="rates")
    # A queue that does not exist has no stats; a bad name is refused.
    r = h.pushctl("stats", "-q", "nope")
    assert r.returncode == 1 and b"no queue nope" in r.stderr, r
    r = h.pushctl("enqueue", "-q", "a b", "x")
    assert r.returncode == 1 and b'"a b" is not a queue name' in r.stderr, r
    r = h.pushctl("enqueue", "-q", "x" * 65, "x")
    assert r.returncode == 1, r
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CLIENT_ROLE) + enqueue3(b"bad/name", b"x"))
    raw.expect(WELCOME)
    msg = raw.expect_error(E_BAD_VALUE)
    assert "bad/name" in msg, msg
    assert h.stats()["queues"] == 3


def case_queue_limits_and_settings(h):
    """Per-queue limits and overflow; --max-queues; --no-auto-create."""
    h.start_daemon("--max-queues", "3")
    r = h.pushctl("queue", "set", "small", "max-queue=2", "overflow=reject")
    assert r.returncode == 0 and r.stdout == b"queue small set\n", r
    r = h.pushctl("enqueue", "-q", "small", "1", "2", "3")
    assert r.returncode == 75 and b"refused" in r.stderr, r
    assert h.pushctl("enqueue", "-q", "big", "1", "2", "3").returncode == 0
    qs = queue_list(h)
    assert qs["small"]["queued"] == 2 and qs["small"]["rejected_total"] == 1
    assert qs["small"]["max_queue"] == 2 and qs["big"]["max_queue"] == 1000000
    r = h.pushctl("queue", "set", "small", "overflow=drop-oldest")
    assert r.returncode == 0, r
    assert h.pushctl("enqueue", "-q", "small", "4").returncode == 0
    assert queue_list(h)["small"]["shed_total"] == 1
    # Bad settings name the key and the value; nothing changes.
    for kv, what in (("overflow=sideways", b'overflow: "sideways"'),
                     ("max-queue=-1", b'max-queue: "-1"'),
                     ("colour=red", b'"colour" is not a queue setting'),
                     ("novalue", b'"novalue" is not KEY=VALUE'),
                     ("delivery=at-most-once", None)):
        r = h.pushctl("queue", "set", "small", kv, "ack-timeout=5")
        assert r.returncode == 1, (kv, r)
        if what:
            assert what in r.stderr, (kv, r.stderr)
        else:
            assert b"ack-timeout needs delivery at-least-once" in r.stderr, r
    assert queue_list(h)["small"]["max_queue"] == 2
    # A fourth queue is one too many: refused, and nothing else changes.
    assert h.pushctl("enqueue", "-q", "third", "x").returncode == 0
    r = h.pushctl("enqueue", "-q", "fourth", "x")
    assert r.returncode == 1 and b"--max-queues" in r.stderr, r
    assert set(queue_list(h)) == {"small", "big", "third"}
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"fifth", 1, 0, b"w"))
    raw.expect_error(E_QUEUE_LIMIT)
    # Under --no-auto-create only the queues named exist.
    sock2 = h.sock + "2"
    h.spawn([PRODUCERD, "--socket", sock2, "--no-auto-create", "--queue", "only"])
    h.wait_for(lambda: h.connectable_at(sock2), what="the second daemon")
    assert h.pushctl("enqueue", "-q", "only", "x", sock=sock2).returncode == 0
    r = h.pushctl("enqueue", "-q", "other", "x", sock=sock2)
    assert r.returncode == 1 and b"no queue other" in r.stderr and \
        b"--no-auto-create" in r.stderr, r
    r = h.pushctl("enqueue", "x", sock=sock2)     # default does not exist either
    assert r.returncode == 1 and b"no queue default" in r.stderr, r
    assert h.pushctl("queue", "create", "later", sock=sock2).returncode == 0
    assert h.pushctl("enqueue", "-q", "later", "y", sock=sock2).returncode == 0
    assert set(queue_list(h, sock=sock2)) == {"only", "later"}
    r = subprocess.run([PRODUCERD, "--socket", sock2 + "x", "--no-auto-create"],
                       capture_output=True, timeout=10)
    assert r.returncode == 1 and b"--queue NAME" in r.stderr, r
    r = subprocess.run([PRODUCERD, "--socket", sock2 + "x", "--queue", "no way"],
                       capture_output=True, timeout=10)
    assert r.returncode == 1 and b'--queue: queue name \\"no way\\"' in r.stderr, r


def case_queue_purge_and_delete(h):
    """purge drops what is buffered; delete waits for no consumers or --force."""
    h.start_daemon()
    assert h.pushctl("enqueue", "-q", "q1", "a", "b", "c").returncode == 0
    r = h.pushctl("queue", "purge", "q1")
    assert r.returncode == 0 and r.stdout == b"purged 3 events from q1\n", r
    p, out = h.consumer("w", "--queue", "q1")
    h.wait_consumers(1, total_demand=1)
    r = h.pushctl("queue", "delete", "q1")
    assert r.returncode == 1 and b"has 1 consumer" in r.stderr, r
    r = h.pushctl("queue", "delete", "--force", "q1")
    assert r.returncode == 0, r
    assert p.wait(timeout=10) != 0            # told its queue was deleted
    assert "q1" not in queue_list(h)
    r = h.pushctl("queue", "purge", "q1")
    assert r.returncode == 1 and b"no queue q1" in r.stderr, r
    h.procs.remove(p)
    # A client waiting for room in a queue that goes is told so.
    assert h.pushctl("queue", "create", "full", "max-queue=1",
                     "overflow=block").returncode == 0
    assert h.pushctl("enqueue", "-q", "full", "one").returncode == 0
    waiting = subprocess.Popen([PUSHCTL, "--socket", h.sock, "enqueue", "-q", "full",
                                "two"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    h.procs.append(waiting)
    h.wait_for(lambda: queue_list(h)["full"]["blocked"] == 1, what="the client to wait")
    assert h.pushctl("queue", "delete", "full").returncode == 0   # no consumers
    out, err = waiting.communicate(timeout=10)
    assert waiting.returncode == 1 and b"queue full was deleted" in err, (out, err)
    h.procs.remove(waiting)
    assert h.stats()["blocked_clients"] == 0


def case_queues_survive_a_restart(h):
    """With --data-dir, queues, their settings and their events come back."""
    data = os.path.join(h.dir, "data")
    d = h.start_daemon("--data-dir", data, "--max-attempts", "1")
    assert h.pushctl("queue", "create", "kept", "max-queue=7").returncode == 0
    assert h.pushctl("enqueue", "-q", "mail", "m1", "m2").returncode == 0
    assert h.pushctl("enqueue", "d1").returncode == 0
    # A dead letter in a queue of its own.
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"jobs", 1, 0, b"w"))
    raw.expect(WELCOME)
    raw.send(demand(1))
    assert h.pushctl("enqueue", "-q", "jobs", "j1").returncode == 0
    ((eid, _, payload),) = raw.events_full(want=1, timeout=10)
    assert payload == b"j1"
    raw.send(ids(NACK, eid))
    h.wait_for(lambda: queue_list(h)["jobs"]["dead"] == 1, what="the dead letter")
    raw.close()
    d.kill()
    d.wait()
    h.procs.remove(d)
    h.start_daemon("--data-dir", data, "--max-attempts", "1")
    qs = queue_list(h)
    assert set(qs) == {"kept", "mail", "default", "jobs"}, qs
    assert qs["kept"]["max_queue"] == 7 and qs["mail"]["max_queue"] == 1000000
    assert qs["mail"]["queued"] == 2 and qs["default"]["queued"] == 1
    assert qs["jobs"]["dead"] == 1 and qs["jobs"]["queued"] == 0
    r = h.pushctl("dead", "list", "-q", "jobs", "--json")
    assert r.returncode == 0 and b'"j1"' in r.stdout, r
    assert h.pushctl("dead", "retry", "-q", "jobs").returncode == 0
    assert queue_list(h)["jobs"]["queued"] == 1
    _, out = h.consumer("wm", "-q", "mail", "--max-demand", "5")
    h.wait_for(lambda: len(received(out)) == 4, what="mail's events")
    assert [e for _, w, e in received(out) if w == "received"] == ["m1", "m2"]
    # Ids go on after the highest seen (j1's, 4), whatever the queue.
    r = h.pushctl("enqueue", "-q", "kept", "k")
    assert r.returncode == 0 and r.stdout == b"enqueued 1 event: id 5\n", r.stdout


def case_version_4_events_carry_keys(h):
    """A version 4 consumer sees each event's key (flags 1, an attribute
    block before the payload); a version 3 one the same events as ever."""
    h.start_daemon()
    new = Raw(h.sock, version=4)
    new.send(frame(HELLO, struct.pack(">HBBIIB", 4, CONSUMER_ROLE, 0, 4, 0,
                                      2) + b"v4" + b"\x01k"))
    w = new.expect(WELCOME)
    assert struct.unpack(">H", w[:2])[0] == 4 and len(w) == 16
    new.send(demand(2))
    h.wait_consumers(1, total_demand=2)
    assert h.pushctl("enqueue", "-q", "k", "--key", "user-9",
                     "keyed").returncode == 0
    assert h.pushctl("enqueue", "-q", "k", "plain").returncode == 0
    got = new.recv(10)
    assert got[0] == EVENT and new.flags == 1, (got, new.flags)
    assert got[1] == struct.pack(">QIH", 1, 1, 8) + bytes([1, 6]) + \
        b"user-9" + b"keyed", got[1]
    got = new.recv(10)
    assert got[0] == EVENT and new.flags == 0 and \
        got[1] == struct.pack(">QI", 2, 1) + b"plain", (got, new.flags)
    new.close()
    old = Raw(h.sock, version=3)
    old.send(hello3(CONSUMER_ROLE, b"k", 4, 0, b"v3"))
    old.expect(WELCOME)
    old.send(demand(4))
    # The two put back when v4 left: the keyed one without its key.
    got = old.recv(10)
    assert got[0] == EVENT and old.flags == 0 and \
        got[1] == struct.pack(">QI", 1, 2) + b"keyed", (got, old.flags)
    got = old.recv(10)
    assert got[1] == struct.pack(">QI", 2, 2) + b"plain", got
    bad = Raw(h.sock)
    bad.send(frame(HELLO, struct.pack(">HBBIIB", 6, CONSUMER_ROLE, 0, 4, 0,
                                      1) + b"x" + b"\x00"))
    assert "speaks versions 1 to 5" in bad.expect_error(E_VERSION)


def case_version_2_peers_use_default(h):
    """Version 2 clients and consumers share the queue default with v3."""
    h.start_daemon()
    old = Raw(h.sock)                         # version 2
    consumer_hello(old, b"old", 4)
    old.send(demand(4))
    h.wait_consumers(1, total_demand=4)
    assert h.pushctl("enqueue", "-q", "default", "from-v3").returncode == 0
    v2 = Raw(h.sock)
    client_hello(v2)
    v2.send(enqueue(b"from-v2"))
    v2.expect(ENQUEUED)
    got = old.events_full(want=2, timeout=10)
    assert [p for _, _, p in got] == [b"from-v3", b"from-v2"], got
    _, out = h.consumer("new", "--max-demand", "2")
    h.wait_consumers(2)
    v2.send(enqueue(b"x", b"y", b"z"))
    v2.expect(ENQUEUED)
    h.wait_for(lambda: h.stats()["delivered_total"] == 5, what="delivery")
    assert queue_list(h).keys() == {"default"}
    # A version 2 peer has no queue frames.
    v2.send(frame(QUEUES, struct.pack(">I", 0)))
    assert "not in protocol version 2" in v2.expect_error(E_BAD_STATE)


def case_pipeline_keys_cross_stages(h):
    """A stage asks its upstream in protocol version 4, so events keep
    their keys across it (key order holds at the stage); an upstream of
    version 3 is asked again in 3."""
    _, a = stage(h, "a")
    _, b = stage(h, "b", "--upstream", a, "--upstream-queue", "raw",
                 "--local-queue", "cooked")
    assert h.pushctl("queue", "set", "cooked", "dispatch=key",
                     sock=b).returncode == 0
    h.wait_for(lambda: stats_at(h, b)["upstream_connected"] == 1,
               what="the link")
    new = Raw(b, version=4)
    new.send(frame(HELLO, struct.pack(">HBBIIB", 4, CONSUMER_ROLE, 0, 3, 0,
                                      2) + b"v4" + b"\x06cooked"))
    new.expect(WELCOME)
    new.send(demand(3))
    h.wait_for(lambda: stats_at(h, b)["upstream_demand"] == 3,
               what="the demand upstream")
    # One ENQUEUE, so that the stage reads the three together.
    assert h.pushctl("enqueue", "-q", "raw", "--key", "k1", "e1", "e2",
                     sock=a).returncode == 0
    assert h.pushctl("enqueue", "-q", "raw", "--key", "k2", "f1",
                     sock=a).returncode == 0
    got = []
    for _ in range(2):
        f = new.recv(10)
        assert f is not None and f[0] == EVENT and new.flags == 1, f
        klen = f[1][15]
        got.append((f[1][16:16 + klen], f[1][16 + klen:]))
    # Key order at the stage: e2 waits behind e1, f1 goes past.
    assert got == [(b"k1", b"e1"), (b"k2", b"f1")], got
    assert new.recv(0.3) is None

    # An upstream that speaks version 3 at most.
    path = os.path.join(h.dir, "old.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    asked = []

    def old_daemon():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            peer = Raw.__new__(Raw)
            peer.s, peer.buf, peer.version = conn, b"", 3
            f = peer.recv(10)
            v = struct.unpack(">H", f[1][:2])[0]
            asked.append(v)
            if v != 3:
                conn.sendall(frame(ERROR, struct.pack(">H", E_VERSION) +
                                   b"protocol version 4 is not supported; "
                                   b"this daemon speaks versions 1 to 3"))
                conn.close()
                continue
            conn.sendall(frame(WELCOME, struct.pack(">HHIIHBB", 3, 0,
                                                    1 << 20, 0, 5, 1, 0)))
            assert peer.recv(10)[0] == DEMAND
            conn.sendall(frame(EVENT, struct.pack(">QI", 1, 1) + b"old"))
            f = peer.recv(10)
            assert f is not None and f[0] == ACK, f
            asked.append("acked")
            while peer.recv(10) is not None:
                pass
            return
    t = threading.Thread(target=old_daemon, daemon=True)
    t.start()
    _, c = stage(h, "c", "--upstream", path)
    h.wait_for(lambda: stats_at(h, c)["upstream_connected"] == 1,
               what="the link in version 3")
    assert asked[:3] == [5, 4, 3], asked
    log = open(os.path.join(h.dir, "c.log")).read()
    assert "speaks no protocol version 5" in log, log
    assert "speaks no protocol version 4" in log, log
    out = os.path.join(h.dir, "c-consumer.out")
    h.spawn([CONSUMER, "--socket", c, "--id", "c1"], out=out)
    h.wait_for(lambda: "acked" in asked, what="the ack upstream")
    srv.close()


def case_pipeline_between_named_queues(h):
    """A stage takes one queue upstream into one of its own."""
    _, a = stage(h, "a")
    _, b = stage(h, "b", "--upstream", a, "--upstream-queue", "raw",
                 "--local-queue", "cooked")
    h.wait_for(lambda: stats_at(h, b)["upstream_connected"] == 1, what="the link")
    outs = consumers_at(h, b, 2, "--queue", "cooked", "--max-demand", "5")
    assert h.pushctl("enqueue", "-q", "raw", *["e%d" % i for i in range(20)],
                     sock=a).returncode == 0
    assert h.pushctl("enqueue", "-q", "other", "stays", sock=a).returncode == 0
    h.wait_for(lambda: len(got(outs)) == 20, what="the events through the stage")
    assert sorted(got(outs)) == sorted("e%d" % i for i in range(20))
    h.wait_for(lambda: queue_list(h, sock=a)["raw"]["acked_total"] == 20,
               what="the acks upstream")
    qa = queue_list(h, sock=a)
    assert qa["other"]["queued"] == 1 and qa["raw"]["consumers"] == 1, qa
    qb = queue_list(h, sock=b)
    assert set(qb) == {"cooked"}, qb                  # nothing else was made
    # The stage's own queue is never deleted.
    r = h.pushctl("queue", "delete", "--force", "cooked", sock=b)
    assert r.returncode == 1 and b"--local-queue" in r.stderr, r
    for bad in (["--upstream-queue", "x"], ["--local-queue", "x"]):
        r = subprocess.run([PRODUCERD, "--socket", h.sock + "z"] + bad,
                           capture_output=True, timeout=10)
        assert r.returncode == 1 and b"give --upstream PATH too" in r.stderr, r
    r = subprocess.run([PRODUCERD, "--socket", h.sock + "z", "--upstream", a,
                        "--upstream-queue", "a b"], capture_output=True, timeout=10)
    assert r.returncode == 1 and b"--upstream-queue" in r.stderr, r


def group_got(outs):
    """The events a group's consumers finished, over all of them."""
    return sorted(e for o in outs for _, w, e in received(o) if w == "finished")


def case_groups_fan_out(h):
    """Every group gets every event once, shared among its consumers."""
    h.start_daemon()
    outs = {}
    for g in ("mail", "audit", "index"):
        outs[g] = [h.consumer("%s%d" % (g, i), "--queue", "jobs", "--group", g,
                              "--max-demand", "3")[1] for i in range(2)]
    h.wait_consumers(6, total_demand=18)
    events = ["e%03d" % i for i in range(300)]
    r = h.pushctl("enqueue", "-q", "jobs", "-", input="\n".join(events).encode() + b"\n")
    assert r.returncode == 0, r.stderr
    for g in outs:
        h.wait_for(lambda: len(group_got(outs[g])) >= 300, what="group " + g)
    for g in outs:
        assert group_got(outs[g]) == sorted(events), g   # once each, none lost
        # Shared among the group's two: both did some.
        assert all(len(received(o)) > 0 for o in outs[g]), g
    qs = queue_list(h)
    assert set(qs) == {"jobs", "jobs/mail", "jobs/audit", "jobs/index"}, qs
    for g in ("mail", "audit", "index"):
        st = qs["jobs/" + g]
        assert st["enqueued_total"] == 300 and st["acked_total"] == 300, st
        assert st["consumers"] == 2 and st["groups"] == 4, st
    # The shared group, with no consumer, holds them all.
    assert qs["jobs"]["queued"] == 300, qs["jobs"]
    r = h.pushctl("stats", "-q", "jobs/audit", "--json")
    st = json.loads(r.stdout)
    assert st["queue"] == "jobs/audit" and len(st["consumers"]) == 2, st
    # An ENQUEUE names a queue, not a group; a group must exist to be asked.
    r = h.pushctl("enqueue", "-q", "jobs/mail", "x")
    assert r.returncode == 1 and b"name the queue alone" in r.stderr, r
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CLIENT_ROLE) + enqueue3(b"jobs/mail", b"x"))
    raw.expect(WELCOME)
    assert "every group of it gets the events" in raw.expect_error(E_BAD_VALUE)
    r = h.pushctl("stats", "-q", "jobs/nope")
    assert r.returncode == 1 and b"queue jobs has no group nope" in r.stderr, r
    r = h.pushctl("stats", "-q", "jobs/no pe")
    assert r.returncode == 1 and b"is not a queue name" in r.stderr, r


def case_groups_keep_their_backlog(h):
    """A group with no consumer keeps its events; dropped, it is gone."""
    h.start_daemon("--max-groups", "3")
    p, _ = h.consumer("first", "--queue", "jobs", "--group", "late")
    h.wait_consumers(1)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0
    h.procs.remove(p)
    h.wait_consumers(0)
    assert h.pushctl("enqueue", "-q", "jobs", "a", "b", "c").returncode == 0
    assert queue_list(h)["jobs/late"]["queued"] == 3
    _, out = h.consumer("back", "--queue", "jobs", "--group", "late", "--max-demand", "5")
    h.wait_for(lambda: len(group_got([out])) == 3, what="the backlog")
    assert group_got([out]) == ["a", "b", "c"]
    # A group made now gets only what comes after.
    _, new = h.consumer("new", "--queue", "jobs", "--group", "new", "--max-demand", "5")
    h.wait_consumers(2)
    assert h.pushctl("enqueue", "-q", "jobs", "d").returncode == 0
    h.wait_for(lambda: group_got([new]) == ["d"] and len(group_got([out])) == 4,
               what="d in both groups")
    # --max-groups: the shared, late and new are 3.
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"jobs/fourth", 1, 0, b"w"))
    assert "--max-groups" in raw.expect_error(E_QUEUE_LIMIT)
    # Dropping a group with consumers needs --force; the shared one too.
    r = h.pushctl("queue", "drop-group", "jobs", "late")
    assert r.returncode == 1 and b"has 1 consumer" in r.stderr, r
    r = h.pushctl("queue", "drop-group", "--force", "jobs", "late")
    assert r.returncode == 0 and r.stdout == b"group jobs/late dropped\n", r
    r = h.pushctl("queue", "drop-group", "jobs", "--shared")
    assert r.returncode == 0, r
    assert set(queue_list(h)) == {"jobs/new"}
    # With no shared group, events go to the groups there are.
    assert h.pushctl("enqueue", "-q", "jobs", "e").returncode == 0
    h.wait_for(lambda: group_got([new]) == ["d", "e"], what="e in new")
    # A consumer of no group brings the shared group back, from now on.
    _, shared = h.consumer("plain", "--queue", "jobs", "--max-demand", "5")
    h.wait_consumers(2)
    assert h.pushctl("enqueue", "-q", "jobs", "f").returncode == 0
    h.wait_for(lambda: group_got([shared]) == ["f"], what="f in the shared group")
    for p in [q for q in h.procs if q.args[0] == CONSUMER and q.poll() is not None]:
        h.procs.remove(p)         # "back" was told its group went


def case_groups_fail_alone(h):
    """One group's NACKs and dead letters leave the others untouched."""
    h.start_daemon("--max-attempts", "2")
    _, bad = h.consumer("bad", "--queue", "jobs", "--group", "flaky", "--exec", "false",
                        "--max-demand", "4")
    _, good = h.consumer("good", "--queue", "jobs", "--group", "steady", "--max-demand", "4")
    h.wait_consumers(2, total_demand=8)
    assert h.pushctl("enqueue", "-q", "jobs", "x", "y").returncode == 0
    h.wait_for(lambda: queue_list(h)["jobs/flaky"]["dead"] == 2, what="two dead letters")
    qs = queue_list(h)
    assert qs["jobs/flaky"]["nacked_total"] == 4, qs["jobs/flaky"]
    assert qs["jobs/steady"]["acked_total"] == 2 and qs["jobs/steady"]["dead"] == 0
    assert qs["jobs/steady"]["redelivered_total"] == 0
    r = h.pushctl("dead", "list", "-q", "jobs/flaky", "--json")
    assert r.returncode == 0 and r.stdout.count(b'"id"') == 2, r
    r = h.pushctl("dead", "list", "-q", "jobs/steady", "--json")
    assert r.returncode == 0 and b'"dead":0' in r.stdout, r
    assert h.pushctl("dead", "drop", "-q", "jobs/flaky").returncode == 0
    assert queue_list(h)["jobs/flaky"]["dead"] == 0
    assert group_got([good]) == ["x", "y"]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def case_groups_store_a_payload_once(h):
    """Four groups holding 32 MiB of events: the daemon holds it once."""
    d = h.start_daemon("--max-queue", "0")
    for g in ("a", "b", "c"):                 # made, then left with no consumer
        p, _ = h.consumer("w" + g, "--queue", "big", "--group", g)
        h.wait_consumers(1)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0
        h.procs.remove(p)
        h.wait_consumers(0)
    assert len(queue_list(h)) == 4
    before = rss_kib(d.pid)
    payload = b"z" * 65000 + b"\n"
    r = h.pushctl("enqueue", "-q", "big", "-", input=payload * 512)
    assert r.returncode == 0, r.stderr
    grew = rss_kib(d.pid) - before
    qs = queue_list(h)
    assert all(q["queued"] == 512 for q in qs.values()), qs
    # 32.5 MiB of payload: once, not four times.
    assert 30000 < grew < 45000, grew


def case_groups_survive_a_restart(h):
    """Each group's events, attempts and dead letters come back."""
    data = os.path.join(h.dir, "data")
    d = h.start_daemon("--data-dir", data, "--max-attempts", "3")
    mail = Raw(h.sock, version=3)
    mail.send(hello3(CONSUMER_ROLE, b"jobs/mail", 2, 0, b"m"))
    mail.expect(WELCOME)
    audit = Raw(h.sock, version=3)
    audit.send(hello3(CONSUMER_ROLE, b"jobs/audit", 1, 0, b"a"))
    audit.expect(WELCOME)
    h.wait_consumers(2)
    assert h.pushctl("enqueue", "-q", "jobs", "e1", "e2", "e3", "e4").returncode == 0
    mail.send(demand(2))
    audit.send(demand(1))
    got = mail.events_full(want=2, timeout=10)
    assert [p for _, _, p in got] == [b"e1", b"e2"], got
    assert audit.events_full(want=1, timeout=10)[0][2] == b"e1"
    mail.send(ids(ACK, 1) + ids(NACK, 2))
    h.wait_for(lambda: queue_list(h)["jobs/mail"]["acked_total"] == 1, what="the ack")
    # The shared group is dropped: after the restart it stays so.
    assert h.pushctl("queue", "drop-group", "jobs", "--shared").returncode == 0
    d.kill()
    d.wait()
    h.procs.remove(d)
    mail.close()
    audit.close()
    h.start_daemon("--data-dir", data, "--max-attempts", "3")
    qs = queue_list(h)
    assert set(qs) == {"jobs/mail", "jobs/audit"}, qs     # no shared group
    assert qs["jobs/mail"]["queued"] == 3 and qs["jobs/audit"]["queued"] == 4, qs
    m = Raw(h.sock, version=3)
    m.send(hello3(CONSUMER_ROLE, b"jobs/mail", 10, 0, b"m") + demand(10))
    m.expect(WELCOME)
    assert m.events_full(want=3, timeout=10) == [(2, 2, b"e2"), (3, 1, b"e3"), (4, 1, b"e4")]
    a = Raw(h.sock, version=3)
    a.send(hello3(CONSUMER_ROLE, b"jobs/audit", 10, 0, b"a") + demand(10))
    a.expect(WELCOME)
    assert a.events_full(want=4, timeout=10) == [(1, 2, b"e1"), (2, 1, b"e2"),
                                                  (3, 1, b"e3"), (4, 1, b"e4")]
    # New events reach both; the shared group stays dropped.
    assert h.pushctl("enqueue", "-q", "jobs", "e5").returncode == 0
    assert m.events_full(want=1, timeout=10)[0][2] == b"e5"
    assert a.events_full(want=1, timeout=10)[0][2] == b"e5"
    assert "jobs" not in queue_list(h)


KEY_WORKER = r'''
import random, signal, struct, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sys.path.insert(0, sys.argv[1])
from integration import *
sock, queue, name, out = sys.argv[2], sys.argv[3].encode(), sys.argv[4].encode(), sys.argv[5]
random.seed(name)
raw = Raw(sock, version=3)
raw.send(hello3(CONSUMER_ROLE, queue, 4, 0, name) + demand(4))
raw.expect(WELCOME)
with open(out, "w", buffering=1) as log:
    while True:
        got = raw.recv(timeout=30)
        if got is None:
            break
        assert got[0] == EVENT, got
        eid, attempt = struct.unpack(">QI", got[1][:12])
        key, seq = got[1][12:].decode().split(":")
        log.write("R %s %s %d %f\n" % (key, seq, eid, time.monotonic()))
        time.sleep(random.random() * 0.002)
        log.write("A %s %s %d %f\n" % (key, seq, eid, time.monotonic()))
        raw.send(ids(ACK, eid) + demand(1))
'''


def case_key_order(h):
    """--dispatch key: per key, one event in flight at a time and strict
    order, across a kill -9; a slow key holds up only itself."""
    h.start_daemon("--dispatch", "key", "--max-queue", "0")
    worker = os.path.join(h.dir, "keyworker.py")
    with open(worker, "w") as f:
        f.write(KEY_WORKER)
    here = os.path.dirname(os.path.abspath(__file__))
    outs, procs = [], []
    for i in range(4):
        out = os.path.join(h.dir, "kw%d.log" % i)
        procs.append(h.spawn([sys.executable, worker, here, h.sock, "keys",
                              "kw%d" % i, out]))
        outs.append(out)
    h.wait_consumers(4, total_demand=16)
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    n, nkeys = 10000, 100
    rnd, seqs = random.Random(7), [0] * nkeys     # keys at random: neighbours too
    for start in range(0, n, 500):
        body = struct.pack(">I", 500) + bytes([4]) + b"keys"
        for i in range(start, start + 500):
            k = rnd.randrange(nkeys)
            key = b"k%d" % k
            data = key + b":%d" % seqs[k]
            seqs[k] += 1
            body += struct.pack(">IHBB", len(data), 2 + len(key), 1, len(key)) + key + data
        c.send(struct.pack(">IBBH", len(body), ENQUEUE, 1, 0) + body)
        c.expect(ENQUEUED)

    def log(o):
        with open(o) as f:
            return [l.split() for l in f.read().splitlines() if l.endswith(tuple("0123456789"))]
    h.wait_for(lambda: sum(1 for o in outs for l in log(o) if l[0] == "A") > 2000,
               what="work under way")
    killed_at = time.monotonic()
    procs[0].kill()                     # mid-event, as likely as not
    procs[0].wait()
    h.wait_for(lambda: len({(l[1], l[2]) for o in outs for l in log(o) if l[0] == "A"}) == n,
               timeout=60, what="every event acked")
    per_key = {}
    for i, o in enumerate(outs):
        open_r = {}
        for kind, key, seq, eid, t in log(o):
            if kind == "R":
                open_r[eid] = float(t)
            else:
                per_key.setdefault(key, []).append((open_r.pop(eid), float(t), int(seq)))
        for eid, t in open_r.items():      # the killed one's last events
            assert i == 0, (o, eid)
    for key, spans in per_key.items():
        spans.sort()
        for (r1, a1, s1), (r2, a2, s2) in zip(spans, spans[1:]):
            assert r2 >= a1, "key %s: %s and %s in flight at once" % (key, s1, s2)
            assert s2 >= s1, "key %s: %s after %s" % (key, s2, s1)
        assert sorted({s for _, _, s in spans}) == list(range(seqs[int(key[1:])])), key
    # The one killed held at most its window; its events came back first.
    st = queue_list(h)["keys"]
    assert st["redelivered_total"] <= 4 and st["key_waiting"] == 0, st
    assert st["queued"] == 0 and st["in_flight"] == 0, st
    h.procs.remove(procs[0])


def fnv_partition(key, n):
    """docs/dispatch.md's partition of a key: 32-bit FNV-1a, modulo n."""
    h = 2166136261
    for b in key:
        h = ((h ^ b) * 16777619) & 0xffffffff
    return h % n


def case_partitions(h):
    """dispatch=partition:4: each key's events go only to consumers of its
    partition, always; a partition nobody reads holds its events aside
    while the others flow; the setting survives a restart."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data, "--max-queue", "0")
    for bad in ("partition:0", "partition:1025", "partition:", "partition:x"):
        r = h.pushctl("queue", "create", "parts", "dispatch=" + bad)
        assert r.returncode == 1 and b"N from 1 to 1024" in r.stderr, r
    r = h.pushctl("queue", "create", "parts", "dispatch=partition:4")
    assert r.returncode == 0, r.stderr
    # A consumer of it names a partition in range; of another queue, none.
    for args, why in ((["--queue", "parts"], b"has 4 partitions: a consumer names one"),
                      (["--queue", "parts", "--partition", "4"], b"partition 4 is not one of queue parts's 4"),
                      (["--queue", "plain", "--partition", "1"], b"queue plain has no partitions")):
        p, _ = h.consumer("bad", *args)
        _, err = p.communicate(timeout=30)
        assert p.returncode == 1 and why in err, (args, err)
        h.procs.remove(p)
    for bad in ("1024", "-1", "x"):
        p, _ = h.consumer("bad", "--queue", "parts", "--partition", bad)
        _, err = p.communicate(timeout=30)
        assert p.returncode == 1 and b"--partition" in err and bad.encode() in err and \
            b"is not a whole number from 0 to 1023" in err, err
        h.procs.remove(p)
    outs = {}
    for cid, part in (("p0", 0), ("p1a", 1), ("p1b", 1), ("p2", 2)):
        outs[cid] = (part, h.consumer(cid, "--queue", "parts", "--partition", str(part),
                                      "--max-demand", "4")[1])
    h.wait_consumers(4, total_demand=16)
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    n, nkeys = 2000, 200
    rnd, sent = random.Random(11), {}
    for start in range(0, n, 500):
        body = struct.pack(">I", 500) + bytes([5]) + b"parts"
        for i in range(start, start + 500):
            key = b"k%d" % rnd.randrange(nkeys)
            ev = key + b":%d" % i
            sent[ev.decode()] = key
            body += struct.pack(">IHBB", len(ev), 2 + len(key), 1, len(key)) + key + ev
        c.send(struct.pack(">IBBH", len(body), ENQUEUE, 1, 0) + body)
        c.expect(ENQUEUED)
    # Keyless events are partition 0's; pushctl --key routes as the daemon does.
    assert h.pushctl("enqueue", "-q", "parts", "keyless").returncode == 0
    assert h.pushctl("enqueue", "-q", "parts", "--key", "user-42", "user-42:cli").returncode == 0
    sent["keyless"], sent["user-42:cli"] = None, b"user-42"
    aside = sorted(e for e, k in sent.items() if k is not None and fnv_partition(k, 4) == 3)
    flowing = len(sent) - len(aside)

    def got():
        return {cid: [e for _, w, e in received(o) if w == "finished"]
                for cid, (_, o) in outs.items()}
    h.wait_for(lambda: sum(map(len, got().values())) == flowing, timeout=60,
               what="partitions 0 to 2 done")
    st = queue_list(h)["parts"]
    assert st["partitions"] == 4 and st["dispatch"] == 2, st
    assert st["partition_waiting"] == len(aside) and st["queued"] == 0, st
    r = h.pushctl("consumers", "-q", "parts")
    assert r.returncode == 0 and b"PARTITION" in r.stdout, r
    outs["p3"] = (3, h.consumer("p3", "--queue", "parts", "--partition", "3",
                                "--max-demand", "4")[1])
    h.wait_for(lambda: sum(map(len, got().values())) == len(sent), timeout=60,
               what="partition 3 done")
    seen = {}
    for cid, evs in got().items():
        part = outs[cid][0]
        for e in evs:
            assert e not in seen, "%s twice" % e
            seen[e] = cid
            k = sent[e]
            assert (0 if k is None else fnv_partition(k, 4)) == part, (e, cid)
    assert sorted(seen) == sorted(sent)
    assert sorted(e for e in got()["p3"]) == aside
    # Both of partition 1's consumers took part: the demand rule inside it.
    assert got()["p1a"] and got()["p1b"]
    # Partitions change only while nobody is subscribed.
    r = h.pushctl("queue", "set", "parts", "dispatch=partition:8")
    assert r.returncode == 1 and b"partitions change only while no consumer" in r.stderr, r
    restart(h, "--data-dir", data, "--max-queue", "0")
    st = queue_list(h)["parts"]
    assert st["partitions"] == 4 and st["dispatch"] == 2, st


def queue_state(h, name):
    """The STATE column of pushctl queues for one queue."""
    r = h.pushctl("queues")
    assert r.returncode == 0, r.stderr
    for line in r.stdout.decode().splitlines()[1:]:
        if line.split()[0] == name:
            return line.split()[-1]
    raise AssertionError("no queue %s in %r" % (name, r.stdout))


def case_pause_and_resume(h):
    """A paused queue takes events and sends none, with its consumer
    connected; in-flight events complete; the pause outlives a restart;
    resume, or the end of --for, lets them go."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data)
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"jobs", 10, 0, b"w") + demand(10))
    raw.expect(WELCOME)
    h.wait_consumers(1, total_demand=10)
    assert h.pushctl("enqueue", "-q", "jobs", "e1").returncode == 0
    (first,) = raw.events_full(want=1)
    r = h.pushctl("queue", "pause", "jobs")
    assert r.returncode == 0 and b"queue jobs paused until resumed" in r.stdout, r
    assert h.pushctl("enqueue", "-q", "jobs", "e2", "e3").returncode == 0
    st = queue_list(h)["jobs"]
    assert st["queued"] == 2 and st["paused"] == 1 and st["in_flight"] == 1, st
    assert queue_state(h, "jobs") == "paused"
    raw.send(ids(ACK, first[0]))             # in flight completes
    h.wait_for(lambda: queue_list(h)["jobs"]["acked_total"] == 1, what="the ack")
    assert queue_list(h)["jobs"]["queued"] == 2
    raw.close()
    restart(h, "--data-dir", data)
    st = queue_list(h)["jobs"]
    assert st["paused"] == 1 and st["queued"] == 2, st
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"jobs", 10, 0, b"w") + demand(10))
    raw.expect(WELCOME)
    h.wait_consumers(1, total_demand=10)
    assert queue_list(h)["jobs"]["queued"] == 2
    r = h.pushctl("queue", "resume", "jobs")
    assert r.returncode == 0 and b"queue jobs resumed" in r.stdout, r
    assert [e for _, _, e in raw.events_full(want=2)] == [b"e2", b"e3"]
    assert queue_state(h, "jobs") == "-"
    # For a while: held, then it goes by itself.  Long enough that the
    # daemon still says paused when asked, on a loaded machine too (at
    # 300 ms, the pause could end before pushctl was run to ask).
    r = h.pushctl("queue", "pause", "jobs", "--for", "3s")
    assert r.returncode == 0 and r.stdout == b"queue jobs paused\n", r
    assert h.pushctl("enqueue", "-q", "jobs", "e4").returncode == 0
    st = queue_list(h)["jobs"]
    assert st["paused"] == 1 and st["queued"] == 1, st
    assert [e for _, _, e in raw.events_full(timeout=20, want=1)] == [b"e4"]
    assert queue_list(h)["jobs"]["paused"] == 0
    # Bad input: a usage error, nothing changed.
    for args, why in ((["--for", "0"], b"not a duration"),
                      (["--for", "soon"], b"not a duration"),
                      (["--for"], b"give --for DURATION"),
                      (["--for", "11y"], b"not a duration")):
        r = h.pushctl("queue", "pause", "jobs", *args)
        assert r.returncode == 1 and why in r.stderr, (args, r)
    r = h.pushctl("queue", "resume", "jobs", "now")
    assert r.returncode == 1 and b"unexpected argument" in r.stderr, r
    r = h.pushctl("queue", "set", "jobs", "paused=maybe")
    assert r.returncode == 1 and b'paused: "maybe" is not yes, no or until:MS' in r.stderr, r
    assert queue_list(h)["jobs"]["paused"] == 0


def case_retry_backoff(h):
    """retry-backoff: an --exec that exits 75 comes back after 100, 200, 400
    ms (no sooner; later is the machine's business), then is a dead
    letter; another failure comes back at once, toward the dead letters."""
    h.start_daemon()
    r = h.pushctl("queue", "create", "jobs", "retry-backoff=100ms:400ms", "max-attempts=4")
    assert r.returncode == 0, r.stderr
    times = os.path.join(h.dir, "times")
    cmd = "read x; date +%s.%N >> " + times + "; [ \"$x\" = temp ] && exit 75; exit 3"
    h.spawn([CONSUMER, "--socket", h.sock, "--id", "t", "--queue", "jobs", "--exec", cmd],
            out=os.path.join(h.dir, "t.out"))
    h.wait_consumers(1)
    assert h.pushctl("enqueue", "-q", "jobs", "temp").returncode == 0
    h.wait_for(lambda: queue_list(h)["jobs"]["dead"] == 1, what="the dead letter")
    with open(times) as f:
        t = [float(x) for x in f.read().split()]
    assert len(t) == 4, t
    for gap, least in zip([b - a for a, b in zip(t, t[1:])], (0.08, 0.16, 0.32)):
        assert gap >= least, (gap, least, t)
    st = queue_list(h)["jobs"]
    assert st["retries_scheduled_total"] == 3 and st["delayed"] == 0, st
    # exit 3: NACKed for at once, no backoff: four attempts, then dead.
    assert h.pushctl("enqueue", "-q", "jobs", "hard").returncode == 0
    h.wait_for(lambda: queue_list(h)["jobs"]["dead"] == 2, what="the second")
    assert queue_list(h)["jobs"]["retries_scheduled_total"] == 3
    for bad, why in (("retry-backoff=5s:1s", b"BASE no more than MAX"),
                     ("retry-backoff=0:1s", b"is not BASE:MAX"),
                     ("retry-backoff=1s", b"is not BASE:MAX"),
                     ("rate=0/1s", b"is not N/PERIOD"),
                     ("rate=10/0s", b"is not N/PERIOD"),
                     ("rate=10", b"is not N/PERIOD"),
                     ("rate=10/2d", b"is not N/PERIOD")):
        r = h.pushctl("queue", "set", "jobs", bad)
        assert r.returncode == 1 and why in r.stderr, (bad, r)


def case_nack_later(h):
    """NACK_LATER: again after its delay, whatever the backoff; not in
    version 2; a short body is BAD_LENGTH."""
    h.start_daemon()
    r = h.pushctl("queue", "create", "jobs", "retry-backoff=1h:1h")
    assert r.returncode == 0, r.stderr
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"jobs", 10, 0, b"w") + demand(10))
    raw.expect(WELCOME)
    h.wait_consumers(1, total_demand=10)
    assert h.pushctl("enqueue", "-q", "jobs", "a", "b").returncode == 0
    got = raw.events_full(want=2)
    sent = time.monotonic()
    body = struct.pack(">II", 200, 1) + struct.pack(">Q", got[0][0])
    raw.send(frame(NACK_LATER, body))
    # 0: at once, though the queue backs off an hour.
    raw.send(frame(NACK_LATER, struct.pack(">IIQ", 0, 1, got[1][0])))
    (again,) = raw.events_full(want=1)
    assert again[2] == b"b" and again[1] == 2, again
    (later,) = raw.events_full(timeout=20, want=1)
    assert later[2] == b"a" and time.monotonic() - sent >= 0.19, later
    raw.send(frame(NACK_LATER, struct.pack(">I", 5)))
    raw.expect_error(E_BAD_LENGTH)
    old = Raw(h.sock, version=2)
    consumer_hello(old, b"o", 1)
    old.send(frame(NACK_LATER, struct.pack(">IIQ", 0, 1, 1)))
    old.expect_error(E_BAD_STATE)


def case_rate_limit(h):
    """rate=50/1s: never more than the bucket (50) plus 50 a second since
    the enqueue; pushctl queues says throttled meanwhile."""
    h.start_daemon("--max-queue", "0")
    r = h.pushctl("queue", "create", "jobs", "rate=50/1s")
    assert r.returncode == 0, r.stderr
    times = os.path.join(h.dir, "times")
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"jobs", 1000, 0, b"w") + demand(1000))
    raw.expect(WELCOME)
    h.wait_consumers(1, total_demand=1000)
    start = time.monotonic()        # no event can go before this
    r = h.pushctl("enqueue", "-q", "jobs", *["e%d" % i for i in range(200)])
    assert r.returncode == 0, r.stderr
    assert queue_state(h, "jobs") == "throttled"
    stamps = []
    while len(stamps) < 200:
        got = raw.recv(timeout=20)
        assert got is not None and got[0] == EVENT, got
        stamps.append(time.monotonic())
        raw.send(ids(ACK, struct.unpack(">Q", got[1][:8])[0]))
    for i, t in enumerate(stamps):
        # Upper bounds only, from a clock that starts before the first
        # send: an event is read after it was sent, so a loaded reader only
        # lowers the count.  One event of slack for the daemon's whole ms.
        assert i + 1 <= 50 + 50 * (t - start) * 1.02 + 1, (i, t - start)
    # Nor faster overall: the 150 past the bucket take 3 s at least.
    assert stamps[-1] - start >= (200 - 50) / 50 * 0.98, stamps[-1] - start
    h.wait_for(lambda: queue_state(h, "jobs") == "-", what="no longer throttled")


def attr_enqueue3(queue, *events):
    """A version 3 ENQUEUE whose events carry attribute blocks: each event
    is (payload, attrs bytes)."""
    body = struct.pack(">I", len(events)) + bytes([len(queue)]) + queue
    for e, a in events:
        body += struct.pack(">IH", len(e), len(a)) + a + e
    return HDR.pack(len(body), ENQUEUE, 1, 0) + body


def delay_attr(ms):
    return bytes([2, 8]) + struct.pack(">Q", ms)


def case_delays_across_restart(h):
    """--delay and --at: held until their time (never sooner), counted as
    delayed, journaled: a delay still to come is held after a restart; one
    that fell due while the daemon was down goes at once."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data)
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"jobs", 10, 0, b"w") + demand(10))
    raw.expect(WELCOME)
    h.wait_consumers(1, total_demand=10)
    sent = time.monotonic()
    assert h.pushctl("enqueue", "-q", "jobs", "--delay", "1500ms", "d1").returncode == 0
    assert h.pushctl("enqueue", "-q", "jobs", "--delay", "1h", "d3600").returncode == 0
    assert h.pushctl("enqueue", "-q", "jobs", "--at", "2020-01-01T00:00:00Z",
                     "past").returncode == 0
    assert [p for _, _, p in raw.events_full(want=1)] == [b"past"]
    assert queue_list(h)["jobs"]["delayed"] == 2
    (got,) = raw.events_full(timeout=20, want=1)
    assert got[2] == b"d1" and time.monotonic() - sent >= 1.4, got
    raw.send(ids(ACK, got[0]))
    h.wait_for(lambda: queue_list(h)["jobs"]["delayed"] == 1, what="one left")
    # Due while the daemon is down: ready at once after the restart.
    due = time.time() + 0.5
    assert h.pushctl("enqueue", "-q", "jobs", "--at", "@%d" % int(due * 1000 + 1),
                     "while-down").returncode == 0
    raw.close()
    h.daemon.send_signal(signal.SIGTERM)
    assert h.daemon.wait(timeout=10) == 0
    while time.time() < due + 0.01:          # the state it needs: its time passed
        time.sleep(0.05)
    h.start_daemon("--data-dir", data)
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"jobs", 10, 0, b"w") + demand(10))
    raw.expect(WELCOME)
    got = [p for _, _, p in raw.events_full(want=2, timeout=10)]
    assert got == [b"past", b"while-down"], got     # past: delivered, unacked
    st = queue_list(h)["jobs"]
    assert st["delayed"] == 1 and st["queued"] == 0, st
    # Bad input: named, and nothing stored.
    for args, why in ((["--delay", "11y"], b"--delay"),
                      (["--delay", "4000d"], b"not a duration from 0 to 10 years"),
                      (["--at", "tomorrow"], b"not a UTC time"),
                      (["--at", "2099-01-01T00:00:00Z"], b"more than 10 years"),
                      (["--priority", "65536"], b"not a whole number from 0 to 65535"),
                      (["--unique-id", "u" * 129], b"a unique id is 1 to 128"),
                      (["--delay", "1s", "--at", "@1"], b"--delay and --at: give one")):
        r = h.pushctl("enqueue", "-q", "jobs", *args, "x")
        assert r.returncode == 1 and why in r.stderr, (args, r)
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    c.send(attr_enqueue3(b"jobs", (b"x", delay_attr(11 * 366 * 86400000))))
    assert "DELAY past 10 years" in c.expect_error(E_BAD_VALUE)
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    c.send(attr_enqueue3(b"jobs", (b"ok", b""), (b"x", bytes([4, 3, 0, 0, 1]))))
    assert "PRIORITY must be 2 bytes" in c.expect_error(E_BAD_LENGTH)
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    far = (int(time.time()) + 11 * 366 * 86400) * 1000
    c.send(attr_enqueue3(b"jobs", (b"x", bytes([3, 8]) + struct.pack(">Q", far))))
    assert "NOT_BEFORE" in c.expect_error(E_BAD_VALUE)
    st = queue_list(h)["jobs"]
    assert st["enqueued_total"] == 0 and st["delayed"] == 1, st


def case_priorities_under_contention(h):
    """400 events of random priorities, 4 consumers of 10 each: every round
    of 40 deliveries is the 40 best left (smaller first, then FIFO), and a
    NACKed event goes first within its priority."""
    import random
    rnd = random.Random(18)
    h.start_daemon()
    assert h.pushctl("queue", "create", "jobs", "paused=yes").returncode == 0
    events = []
    # One ENQUEUE per event, in order, as before; but from one client,
    # with pushctl for every 50th only: 400 pushctl runs took 200 s under
    # the sanitizers on a loaded machine, past the test's 120.
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    for i in range(400):
        pr = rnd.choice([0, 5, 100, 32768, 40000, 65535])
        if i % 50 == 0:
            r = h.pushctl("enqueue", "-q", "jobs", *([] if pr == 32768 else
                          ["--priority", str(pr)]), "%d:%d" % (pr, i))
            assert r.returncode == 0, r.stderr
        else:
            c.send(attr_enqueue3(b"jobs", (b"%d:%d" % (pr, i), b"" if pr == 32768
                                           else bytes([4, 2]) + struct.pack(">H", pr))))
            assert struct.unpack(">QIIII", c.expect(ENQUEUED))[1] == 1
        events.append((pr, i))
    c.close()
    raws = []
    for n in range(4):
        raw = Raw(h.sock, version=3)
        raw.send(hello3(CONSUMER_ROLE, b"jobs", 10, 0, b"w%d" % n) + demand(10))
        raw.expect(WELCOME)
        raws.append(raw)
    h.wait_consumers(4, total_demand=40)
    assert h.pushctl("queue", "resume", "jobs").returncode == 0
    order = sorted(events)
    for rnd_no in range(10):
        got = []
        for raw in raws:
            got += raw.events_full(want=10, timeout=10)
        assert len(got) == 40, (rnd_no, len(got))
        names = sorted(tuple(map(int, p.split(b":"))) for _, _, p in got)
        assert names == order[40 * rnd_no:40 * rnd_no + 40], (rnd_no, names)
        by_raw = {}
        for raw in raws:
            by_raw[raw] = []
        it = iter(got)
        for raw in raws:
            for _ in range(10):
                by_raw[raw].append(next(it)[0])
        for raw in raws:
            raw.send(ids(ACK, *by_raw[raw]) + demand(10))
    h.wait_for(lambda: queue_list(h)["jobs"]["acked_total"] == 400, what="all acked")


def case_unique_ids(h):
    """--unique-id: a duplicate while the event is queued, in flight, and
    for the dedup window after its ack, not after; across a restart too;
    ENQUEUED names each duplicate's index; counted in duplicates_total."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data)
    assert h.pushctl("queue", "create", "jobs", "dedup-window=1s").returncode == 0
    r = h.pushctl("enqueue", "-q", "jobs", "--unique-id", "job-1", "one")
    assert r.returncode == 0 and r.stdout == b"enqueued 1 event: id 1\n", r
    r = h.pushctl("enqueue", "-q", "jobs", "--unique-id", "job-1", "two")
    assert r.returncode == 0 and b"1 duplicate not enqueued" in r.stdout, r
    # In one batch: indexes 1 and 2 of three are duplicates.
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    uid = lambda u: bytes([5, len(u)]) + u
    c.send(attr_enqueue3(b"jobs", (b"a", uid(b"job-2")), (b"b", uid(b"job-2")),
                         (b"c", uid(b"job-1"))))
    body = c.expect(ENQUEUED)
    assert len(body) == 36, body
    first, acc, ref, sn, so, ndup, d0, d1 = struct.unpack(">QIIIIIII", body)
    assert (acc, ndup, d0, d1) == (1, 2, 1, 2), (acc, ndup, d0, d1)
    c.close()
    assert queue_list(h)["jobs"]["duplicates_total"] == 3
    # Across a restart: still queued, still held.
    restart(h, "--data-dir", data)
    r = h.pushctl("enqueue", "-q", "jobs", "--unique-id", "job-1", "three")
    assert b"1 duplicate not enqueued" in r.stdout, r
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"jobs", 10, 0, b"w") + demand(10))
    raw.expect(WELCOME)
    got = raw.events_full(want=2)
    assert [p for _, _, p in got] == [b"one", b"a"], got
    r = h.pushctl("enqueue", "-q", "jobs", "--unique-id", "job-1", "four")
    assert b"1 duplicate" in r.stdout, r         # in flight
    raw.send(ids(ACK, got[0][0], got[1][0]))
    h.wait_for(lambda: queue_list(h)["jobs"]["acked_total"] == 2, what="the acks")
    r = h.pushctl("enqueue", "-q", "jobs", "--unique-id", "job-1", "five")
    assert b"1 duplicate" in r.stdout, r         # in its window
    # The window ends: taken again.
    h.wait_for(lambda: b"enqueued 1 event" in h.pushctl(
        "enqueue", "-q", "jobs", "--unique-id", "job-1", "six").stdout,
        what="the window to end")
    assert [p for _, _, p in raw.events_full(want=1)] == [b"six"]


def case_compaction_keeps_everything_live(h):
    """Small segments, a few events held long (delayed an hour with a
    priority and a unique id, a dead letter, one in flight, one in a
    paused queue) and many consumed: compaction copies the held ones
    forward so the old segments go, and after a restart each is as it
    was."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data, "--segment-size", "4096")
    assert h.pushctl("queue", "create", "jobs", "max-attempts=2").returncode == 0
    assert h.pushctl("queue", "create", "held", "paused=yes").returncode == 0
    assert h.pushctl("enqueue", "-q", "held", "p1").returncode == 0
    assert h.pushctl("enqueue", "-q", "jobs", "--delay", "1h", "--priority", "5",
                     "--unique-id", "u-late", "late").returncode == 0
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"jobs", 1, 0, b"w") + demand(1))
    raw.expect(WELCOME)
    h.wait_consumers(1, total_demand=1)
    assert h.pushctl("enqueue", "-q", "jobs", "dead-one").returncode == 0
    (d1,) = raw.events_full(want=1)
    raw.send(ids(NACK, d1[0]) + demand(1))
    (d2,) = raw.events_full(want=1)
    assert d2[2] == b"dead-one" and d2[1] == 2, d2
    raw.send(ids(NACK, d2[0]) + demand(1))
    h.wait_for(lambda: queue_list(h)["jobs"]["dead"] == 1, what="the dead letter")
    assert h.pushctl("enqueue", "-q", "jobs", "flying").returncode == 0
    (fly,) = raw.events_full(want=1)
    assert fly[2] == b"flying", fly
    # Filler, consumed at once, rolls many segments.
    _, out = h.consumer("f", "--queue", "fill", "--max-demand", "50")
    for i in range(10):
        r = h.pushctl("enqueue", "-q", "fill", *[("x%d-%d-" % (i, k)) + "." * 80
                                                 for k in range(40)])
        assert r.returncode == 0, r.stderr
    h.wait_for(lambda: queue_list(h)["fill"]["acked_total"] == 400, what="the filler")
    st = lambda: h.stats()
    h.wait_for(lambda: st()["journal_compacted_total"] >= 4 and st()["segments"] <= 3,
               what="compaction to free the old segments")
    raw.close()                     # "flying" goes back: pending, attempts 1
    restart(h, "--data-dir", data, "--segment-size", "4096")
    jobs = queue_list(h)["jobs"]
    assert jobs["delayed"] == 1 and jobs["dead"] == 1 and jobs["queued"] == 1, jobs
    assert queue_list(h)["held"]["queued"] == 1
    r = h.pushctl("enqueue", "-q", "jobs", "--unique-id", "u-late", "again")
    assert b"1 duplicate" in r.stdout, r
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"jobs", 5, 0, b"w") + demand(5))
    raw.expect(WELCOME)
    (got,) = raw.events_full(want=1)
    assert got[2] == b"flying" and got[1] == 2, got     # its attempt kept
    r = h.pushctl("dead", "list", "-q", "jobs")
    assert r.returncode == 0 and b"dead-one" in r.stdout, r


def case_delayed_events_purged_and_grouped(h):
    """A purge drops delayed events too, and they do not come back after a
    restart (their DONE is journaled), nor hold their unique id past the
    window; a group made after an event was delayed does not get it, the
    groups before it do."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data)
    assert h.pushctl("queue", "create", "q", "dedup-window=0").returncode == 0
    assert h.pushctl("enqueue", "-q", "q", "--delay", "1h", "--unique-id", "u",
                     "a").returncode == 0
    assert h.pushctl("enqueue", "-q", "q", "b").returncode == 0
    r = h.pushctl("queue", "purge", "q")
    assert r.returncode == 0 and r.stdout == b"purged 2 events from q\n", r
    assert queue_list(h)["q"]["delayed"] == 0
    r = h.pushctl("enqueue", "-q", "q", "--unique-id", "u", "again")
    assert r.returncode == 0 and r.stdout.startswith(b"enqueued 1 event"), r
    assert h.pushctl("queue", "purge", "q").returncode == 0
    restart(h, "--data-dir", data)
    st = queue_list(h)["q"]
    assert st["delayed"] == 0 and st["queued"] == 0, st
    # Groups: g1 exists when the event is delayed, g2 is made after.
    g1 = Raw(h.sock, version=3)
    g1.send(hello3(CONSUMER_ROLE, b"f/g1", 5, 0, b"c1") + demand(5))
    g1.expect(WELCOME)
    h.wait_consumers(1, total_demand=5)
    assert h.pushctl("enqueue", "-q", "f", "--delay", "300ms", "late").returncode == 0
    g2 = Raw(h.sock, version=3)
    g2.send(hello3(CONSUMER_ROLE, b"f/g2", 5, 0, b"c2") + demand(5))
    g2.expect(WELCOME)
    # g2's demand, not the total: "late" may fall due and go to g1 before
    # g2's DEMAND is read (300 ms pass quickly on a loaded machine), and
    # then the total never comes to 10.
    h.wait_for(lambda: [c["demand"] for c in h.stats()["consumers"] if c["id"] == "c2"]
               == [5], what="g2's demand")
    assert [p for _, _, p in g1.events_full(want=1, timeout=20)] == [b"late"]
    # Had g2 got "late", it would be in its log before "now".
    assert h.pushctl("enqueue", "-q", "f", "now").returncode == 0
    assert [p for _, _, p in g2.events_full(want=1, timeout=10)] == [b"now"]


def case_compaction_keeps_groups_events(h):
    """A queue with groups: an event delayed an hour (every group's), one
    acked in one group and in flight in another, a dead letter in one
    group and pending in the other; filler rolls small segments until
    compaction has copied them forward (GKEEP) and the old segments went;
    after a crash each group holds each as before."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--segment-size", "4096", "--max-attempts", "2")
    d = h.start_daemon(*args)
    g1 = Raw(h.sock, version=3)
    g1.send(hello3(CONSUMER_ROLE, b"fan/g1", 1, 0, b"c1") + demand(1))
    g1.expect(WELCOME)
    g2 = Raw(h.sock, version=3)
    g2.send(hello3(CONSUMER_ROLE, b"fan/g2", 1, 0, b"c2") + demand(1))
    g2.expect(WELCOME)
    h.wait_consumers(2, total_demand=2)
    assert h.pushctl("enqueue", "-q", "fan", "--delay", "1h", "late").returncode == 0
    assert h.pushctl("enqueue", "-q", "fan", "e1", "e2").returncode == 0
    (a,) = g1.events_full(want=1)
    (b,) = g2.events_full(want=1)
    assert a[2] == b"e1" and b[2] == b"e1", (a, b)
    g1.send(ids(ACK, a[0]) + demand(1))          # g1: e1 done
    (c,) = g1.events_full(want=1)
    assert c[2] == b"e2", c
    g1.send(ids(NACK, c[0]) + demand(1))
    (c,) = g1.events_full(want=1)
    assert c[2] == b"e2" and c[1] == 2, c
    g1.send(ids(NACK, c[0]))                     # g1: e2 dead (2 attempts)
    h.wait_for(lambda: queue_list(h)["fan/g1"]["dead"] == 1, what="g1's dead letter")
    _, out = h.consumer("f", "--queue", "fill", "--max-demand", "50")
    for i in range(10):
        r = h.pushctl("enqueue", "-q", "fill", *[("x%d-%d-" % (i, k)) + "." * 80
                                                 for k in range(40)])
        assert r.returncode == 0, r.stderr
    h.wait_for(lambda: queue_list(h)["fill"]["acked_total"] == 400, what="the filler")
    h.wait_for(lambda: h.stats()["journal_compacted_total"] >= 3 and
               h.stats()["segments"] <= 3, what="compaction to free the old segments")
    d.kill()                                     # a crash: nothing more written
    d.wait()
    h.procs.remove(d)
    g1.close()
    g2.close()
    h.start_daemon(*args)
    qs = queue_list(h)
    assert qs["fan"]["queued"] == 2 and qs["fan"]["delayed"] == 1, qs["fan"]
    assert qs["fan/g1"]["queued"] == 0 and qs["fan/g1"]["dead"] == 1, qs["fan/g1"]
    assert qs["fan/g1"]["delayed"] == 1, qs["fan/g1"]
    assert qs["fan/g2"]["queued"] == 2 and qs["fan/g2"]["delayed"] == 1, qs["fan/g2"]
    g2 = Raw(h.sock, version=3)
    g2.send(hello3(CONSUMER_ROLE, b"fan/g2", 5, 0, b"c2") + demand(5))
    g2.expect(WELCOME)
    got = g2.events_full(want=2)
    assert [(p, n) for _, n, p in got] == [(b"e1", 2), (b"e2", 1)], got
    r = h.pushctl("dead", "list", "-q", "fan/g1")
    assert r.returncode == 0 and b"e2" in r.stdout, r


NATS_SERVER = os.environ.get("NATS_SERVER", "nats-server")


def built_with_cluster():
    r = subprocess.run([PRODUCERD, "--socket", "/nonexistent/x", "--cluster",
                        "nats://127.0.0.1:1", "--data-dir", "/nonexistent/d"],
                       capture_output=True)
    return r.returncode != 78


def start_nats(h, port=None, name="nats"):
    """A JetStream server of the test's own, on a loopback port, its store
    in the test's directory; waits until it takes connections."""
    port = port or free_port()
    store = os.path.join(h.dir, name)
    p = h.spawn([NATS_SERVER, "-js", "-n", server_name(h, name), "-a", "127.0.0.1",
                 "-p", str(port), "-sd", store],
                out=os.path.join(h.dir, name + ".out"), merge=True)
    wait_listening(h, port, server_name(h, name), p)
    return p, "nats://127.0.0.1:%d" % port


def server_name(h, name):
    """A name no other test's nats-server has: this test's directory's."""
    return "%s-%s" % (os.path.basename(h.dir), name)


def wait_listening(h, port, name, proc):
    """Until the nats-server proc, named name, takes connections on port:
    its INFO says its name, so that a port another process took after
    free_port gave it up is not mistaken for it."""
    def up():
        assert proc.poll() is None, "nats-server %s exited (%s): port %d taken?" % (
            name, proc.returncode, port)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.settimeout(2)
                info = b""
                while not info.endswith(b"\r\n") and len(info) < 65536:
                    got = c.recv(4096)
                    if not got:
                        break
                    info += got
        except OSError:
            return False
        if not info.startswith(b"INFO "):
            return False
        return json.loads(info[5:])["server_name"] == name
    h.wait_for(up, what="nats-server %s to listen on %d" % (name, port))


def start_nats_node(h, node, routes):
    """Node (client port, route port, name) of a three-node JetStream
    cluster; its store kept across a restart."""
    c, r, name = node
    p = h.spawn([NATS_SERVER, "-js", "-n", server_name(h, name), "--cluster_name", "ps",
                 "-a", "127.0.0.1", "-p", str(c), "-cluster", "nats://127.0.0.1:%d" % r,
                 "-routes", routes, "-sd", os.path.join(h.dir, name)],
                out=os.path.join(h.dir, name + ".out"), merge=True)
    wait_listening(h, c, server_name(h, name), p)
    return p


def nats_cluster(h):
    """Three nats-server -js on loopback ports, routed to each other: their
    processes, nodes and the URL list for --cluster."""
    nodes = [(free_port(), free_port(), "n%d" % i) for i in (1, 2, 3)]
    routes = ",".join("nats://127.0.0.1:%d" % r for _, r, _ in nodes)
    procs = [start_nats_node(h, n, routes) for n in nodes]
    return procs, nodes, routes, ",".join("nats://127.0.0.1:%d" % c for c, _, _ in nodes)


def second_daemon(h, name, *args):
    """Another producerd ("host"), on its own socket, logging to a file."""
    sock = os.path.join(h.dir, name + ".sock")
    errlog = os.path.join(h.dir, name + ".log")
    with open(errlog, "ab") as log:
        p = subprocess.Popen([PRODUCERD, "--socket", sock] + list(args),
                             stdout=subprocess.DEVNULL, stderr=log)
    h.procs.append(p)
    h.wait_answering(sock, p, errlog)
    return p, sock


def js_request(url, subject, body=b"", timeout=60):
    """One JetStream API request over NATS's text protocol: the reply.
    Asked again when no reply comes in 10 s or the server goes (just
    restarted, electing, or slow on a loaded machine: NATS drops a request
    nobody answers), for up to timeout; the API's requests are reads."""
    end = time.monotonic() + timeout
    while True:
        try:
            return js_request_once(url, subject, body)
        except (OSError, EOFError) as e:
            if time.monotonic() > end:
                raise AssertionError("no JetStream reply to %s in %d s: %s"
                                     % (subject, timeout, e))
            time.sleep(0.1)


def js_request_once(url, subject, body):
    host, port = url[len("nats://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as c:
        f = c.makefile("rb")
        f.readline()                            # INFO
        c.sendall(b'CONNECT {"verbose":false}\r\nSUB _T.r 1\r\n' +
                  b"PUB %s _T.r %d\r\n%s\r\n" % (subject.encode(), len(body), body))
        while True:
            line = f.readline()
            if not line:
                raise EOFError("nats-server closed the connection")
            if line.startswith(b"PING"):
                c.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG"):
                return json.loads(f.read(int(line.split()[-1]) + 2)[:-2])


def got_events(path):
    """The events a consumer printed as received, in order."""
    return [e for _, what, e in received(path) if what == "received"]


def cluster_stat(h, sock, name):
    r = h.pushctl("stats", "--json", sock=sock)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[name]


def case_cluster_two_hosts(h):
    """Two producerd in front of one JetStream: events enqueued on one host
    are consumed on the other, each exactly once; a host with no consumer
    pulls nothing; with consumers on both, they share the work."""
    if not built_with_cluster():
        r = subprocess.run([PRODUCERD, "--cluster", "nats://127.0.0.1:4222"],
                           capture_output=True)
        assert r.returncode == 78 and b"built without libnats" in r.stderr, r
        return
    _, url = start_nats(h)
    h.start_daemon("--cluster", url)
    _, b = second_daemon(h, "b", "--cluster", url)
    h.wait_for(lambda: cluster_stat(h, h.sock, "cluster_connected") == 1 and
               cluster_stat(h, b, "cluster_connected") == 1, what="both linked")
    out = os.path.join(h.dir, "cb.out")
    h.spawn([CONSUMER, "--socket", b, "--id", "cb", "--max-demand", "20"], out=out)
    events = ["e%03d" % i for i in range(200)]
    r = h.pushctl("enqueue", *events)
    assert r.returncode == 0 and r.stdout == b"enqueued 200 events\n", r
    h.wait_for(lambda: len(got_events(out)) == 200, what="200 events on host b")
    assert sorted(got_events(out)) == events
    assert cluster_stat(h, h.sock, "cluster_pulled_total") == 0    # nobody asked on a
    assert cluster_stat(h, h.sock, "cluster_published_total") == 200
    # Consumers on both hosts share what is enqueued on b.
    out_a = os.path.join(h.dir, "ca.out")
    h.spawn([CONSUMER, "--socket", h.sock, "--id", "ca", "--max-demand", "20"],
            out=out_a)
    h.wait_consumers(1)
    more = ["f%04d" % i for i in range(1000)]
    r = h.pushctl("enqueue", "-", input="\n".join(more).encode() + b"\n", sock=b)
    assert r.returncode == 0, r.stderr
    h.wait_for(lambda: len(got_events(out)) + len(got_events(out_a)) == 1200,
               timeout=60, what="1,200 deliveries")
    got = got_events(out) + got_events(out_a)
    assert sorted(got) == sorted(events + more), "lost or twice"
    # Each acked here was acked in JetStream: the work queue is empty.
    h.wait_for(lambda: js_request(url, "$JS.API.STREAM.INFO.PS_default")
               ["state"]["messages"] == 0, what="JetStream's acks")
    # What a cluster does not serve yet is refused, named.
    r = h.pushctl("queue", "set", "default", "dispatch=key")
    assert r.returncode == 1 and b"not served in a cluster" in r.stderr, r
    r = h.pushctl("enqueue", "--delay", "1s", "x")
    assert r.returncode == 1 and b"no DELAY" in r.stderr, r
    # Settings changed on a host reach JetStream's consumer: AckWait
    # 2 x ack-timeout + 1 s, MaxDeliver max-attempts + 1.
    r = h.pushctl("queue", "set", "default", "ack-timeout=3", "max-attempts=4", sock=b)
    assert r.returncode == 0, r
    info = lambda: js_request(url, "$JS.API.CONSUMER.INFO.PS_default.ps")["config"]
    h.wait_for(lambda: (info()["ack_wait"], info()["max_deliver"]) == (7 * 10 ** 9, 5),
               what="the consumer's new settings")
    # Pipelined ENQUEUEs are answered in order, an ERROR in its turn.
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CLIENT_ROLE))
    raw.expect(WELCOME)
    raw.send(enqueue3(b"default", b"p1", b"p2") +
             attr_enqueue3(b"default", (b"p3", delay_attr(1000))) +
             enqueue3(b"default", b"p4"))
    assert struct.unpack(">I", raw.expect(ENQUEUED)[8:12])[0] == 2
    assert "no DELAY" in raw.expect_error(E_BAD_VALUE)
    assert raw.recv(timeout=1) is None
    r = subprocess.run([PRODUCERD, "--socket", os.path.join(h.dir, "c.sock"),
                        "--cluster", url, "--data-dir", os.path.join(h.dir, "d")],
                       capture_output=True)
    assert r.returncode == 1 and b"--cluster with --data-dir" in r.stderr, r
    # Three copies on one node: JetStream says no, and the client hears it.
    _, c = second_daemon(h, "c", "--cluster", url, "--cluster-replicas", "3")
    r = h.pushctl("enqueue", "-q", "three", "x", sock=c)
    assert r.returncode == 75 and b"JetStream says: replicas > 1 not supported" in r.stderr, r


def next_event(raws, timeout=20):
    """(index of the raw it came on, (id, attempt, payload)) of the first
    EVENT on any of raws."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for i, r in enumerate(raws):
            got = r.events_full(timeout=0.05, want=1)
            if got:
                return i, got[0]
    raise AssertionError("no event in %d s" % timeout)


def case_cluster_nack_touch_dead(h):
    """Across hosts: a NACK with a delay gives the event back to JetStream,
    for any host, after the delay; a TOUCH outlives AckWait; the last
    attempt's NACK makes a dead letter here and in the stream; a unique id
    is unique across hosts."""
    if not built_with_cluster():
        return
    _, url = start_nats(h)
    # An ack timeout of 2 s, not 1: "live" is held in flight across three
    # pushctl runs, and the TOUCH loop's turn takes 0.5 s; on a loaded
    # machine 1 s passed and the event went back (the next event was
    # "live" again, not "long").
    args = ("--cluster", url, "--max-attempts", "3", "--ack-timeout", "2")
    h.start_daemon(*args)
    _, b = second_daemon(h, "b", *args)
    socks = [h.sock, b]
    raws = []
    for sock in socks:
        r = Raw(sock, version=3)
        r.send(hello3(CONSUMER_ROLE, b"default", 30, 0, b"w") + demand(10))
        r.expect(WELCOME)
        raws.append(r)
    assert h.pushctl("enqueue", "job", sock=b).returncode == 0
    at, (eid, attempt, p) = next_event(raws)
    assert (attempt, p) == (1, b"job"), (attempt, p)
    sent = time.monotonic()
    raws[at].send(frame(NACK_LATER, struct.pack(">IIQ", 700, 1, eid)))
    at, (eid, attempt, p) = next_event(raws)
    assert (attempt, p) == (2, b"job") and time.monotonic() - sent >= 0.69, (attempt, p)
    raws[at].send(ids(NACK, eid))
    at, (eid, attempt, p) = next_event(raws)
    assert (attempt, p) == (3, b"job"), (attempt, p)
    raws[at].send(ids(NACK, eid))
    # The dead letter is in the queue's dead-letter stream, and every host
    # lists it.
    stream = lambda: js_request(url, "$JS.API.STREAM.INFO.PS_default")["state"]
    dead_stream = lambda: js_request(url, "$JS.API.STREAM.INFO.PSD_default",
                                     b'{"subjects_filter":">"}')["state"]
    h.wait_for(lambda: dead_stream().get("subjects") == {"pushstage.default.dead": 1},
               what="the dead letter in the stream")
    h.wait_for(lambda: stream()["messages"] == 0, what="the dead event's +TERM")
    dead_seq = dead_stream()["last_seq"]
    want = {"dead": 1, "events": [{"id": dead_seq, "attempts": 3, "reason": "nack",
                                   "bytes": 3, "preview": "job", "error": None}]}
    # A cluster does not find an event by id yet: it says so.
    r = h.pushctl("job", "show", "default", "1", sock=socks[0])
    assert r.returncode == 1 and \
        b"a cluster does not find an event by its id yet" in r.stderr, r
    for sock in socks:
        r = h.pushctl("dead", "list", "--json", sock=sock)
        assert r.returncode == 0 and json.loads(r.stdout) == want, r
    # STATS' dead is JetStream's count, the same on both hosts; dead_total
    # counts those that died here.
    stats = lambda sock: json.loads(h.pushctl("stats", "--json", sock=sock).stdout)
    h.wait_for(lambda: [stats(s)["dead"] for s in socks] == [1, 1],
               what="dead 1 in both hosts' stats")
    assert stats(h.sock)["dead_total"] + stats(b)["dead_total"] == 1
    # Retried from the host where it did not die: a new event, attempt 1.
    r = h.pushctl("dead", "retry", str(dead_seq), sock=socks[1 - at])
    assert r.returncode == 0 and r.stdout == b"retried 1 dead event\n", r
    at, (eid, attempt, p) = next_event(raws)
    assert (attempt, p) == (1, b"job"), (attempt, p)
    raws[at].send(ids(ACK, eid))
    h.wait_for(lambda: stream()["messages"] == 0, what="the retried event's ack")
    assert dead_stream()["messages"] == 0
    for sock in socks:
        r = h.pushctl("dead", "list", sock=sock)
        assert r.returncode == 0 and r.stdout == b"no dead events\n", r
    h.wait_for(lambda: [stats(s)["dead"] for s in socks] == [0, 0],
               what="dead 0 in both hosts' stats")
    # Two more die; one is dropped by id, the other with all; an id that
    # is an event, not a dead letter, is not touched.
    for r in raws:
        r.send(demand(10))
    for payload in (b"bad1", b"bad2"):
        assert h.pushctl("enqueue", payload.decode()).returncode == 0
        for attempt_no in (1, 2, 3):
            at, (eid, attempt, p) = next_event(raws)
            assert (attempt, p) == (attempt_no, payload), (attempt, p)
            raws[at].send(ids(NACK, eid))
        h.wait_for(lambda: dead_stream().get("messages") == (1 if payload == b"bad1" else 2),
                   what="the dead letter %s" % payload)
    dead = json.loads(h.pushctl("dead", "list", "--json", sock=b).stdout)
    assert dead["dead"] == 2 and [e["preview"] for e in dead["events"]] == ["bad1", "bad2"], dead
    # An event in flight stays; an id that is no dead letter is skipped.
    assert h.pushctl("enqueue", "live").returncode == 0
    at, (eid, attempt, p) = next_event(raws)
    assert p == b"live", p
    r = h.pushctl("dead", "drop", str(dead["events"][0]["id"]), "999999")
    assert r.returncode == 1 and r.stdout == b"dropped 1 dead event\n" and \
        b"1 of the ids given is not a dead event" in r.stderr, r
    dead = json.loads(h.pushctl("dead", "list", "--json", sock=b).stdout)
    assert [e["preview"] for e in dead["events"]] == ["bad2"], dead
    r = h.pushctl("dead", "drop", sock=b)
    assert r.returncode == 0 and r.stdout == b"dropped 1 dead event\n", r
    assert dead_stream()["messages"] == 0 and stream()["messages"] == 1
    raws[at].send(ids(ACK, eid))
    h.wait_for(lambda: stream()["messages"] == 0, what="the last ack")
    # TOUCH: three times AckWait (2 x 2 s + 1 s) and nobody else gets it.
    assert h.pushctl("enqueue", "long", sock=b).returncode == 0
    at, (eid, attempt, p) = next_event(raws)
    assert p == b"long"
    end = time.monotonic() + 15
    while time.monotonic() < end:
        raws[at].send(ids(TOUCH, eid))
        assert all(r.events(timeout=0.25) == [] for r in raws), "taken back"
    raws[at].send(ids(ACK, eid))
    h.wait_for(lambda: stream()["messages"] == 0, what="the ack")
    # A unique id, on either host.
    r = h.pushctl("enqueue", "--unique-id", "u1", "one")
    assert r.returncode == 0 and b"1 event" in r.stdout, r
    r = h.pushctl("enqueue", "--unique-id", "u1", "one again", sock=b)
    assert r.returncode == 0 and b"1 duplicate not enqueued" in r.stdout, r
    at, (eid, attempt, p) = next_event(raws)
    assert p == b"one"
    raws[at].send(ids(ACK, eid))
    assert all(r.events(timeout=0.5) == [] for r in raws)


def case_cluster_groups_fan_out(h):
    """Groups across hosts: each named group is a JetStream consumer of its
    own that gets every event enqueued after it was made, on whichever host
    its consumers are; inside a group, hosts share. A group's dead letters
    are its own, and one retried goes back to that group alone. A dropped
    group lets go of the events; the shared group is not dropped."""
    if not built_with_cluster():
        return
    _, url = start_nats(h)
    args = ("--cluster", url, "--max-attempts", "2")
    h.start_daemon(*args)
    _, b = second_daemon(h, "b", *args)
    outs = {}
    for name, sock, queue in (("s1", h.sock, "jobs"), ("s2", b, "jobs"),
                              ("m1", h.sock, "jobs/mail"), ("m2", b, "jobs/mail"),
                              ("a2", b, "jobs/audit")):
        outs[name] = os.path.join(h.dir, name + ".out")
        h.spawn([CONSUMER, "--socket", sock, "--queue", queue, "--id", name,
                 "--max-demand", "16"], out=outs[name])
    consumers = lambda d: js_request(url, "$JS.API.CONSUMER.NAMES.PS_jobs")["consumers"]
    h.wait_for(lambda: sorted(consumers(0) or []) == ["g_audit", "g_mail", "ps"],
               what="a consumer for each group")
    group_of = lambda name: js_request(url, "$JS.API.CONSUMER.INFO.PS_jobs." + name)
    assert group_of("g_mail")["config"]["deliver_policy"] == "new"
    for name in ("ps", "g_mail", "g_audit"):
        h.wait_for(lambda: group_of(name).get("num_waiting", 0) >= 1,
                   what="group %s pulling" % name)
    events = ["e%03d" % i for i in range(300)]
    assert h.pushctl("enqueue", "-q", "jobs", *events[:150]).returncode == 0
    assert h.pushctl("enqueue", "-q", "jobs", *events[150:], sock=b).returncode == 0
    got = lambda *names: sorted(e for n in names for e in got_events(outs[n]))
    h.wait_for(lambda: len(got("s1", "s2")) == 300 and len(got("m1", "m2")) == 300
               and len(got("a2")) == 300, timeout=60, what="300 events in each group")
    for names in (("s1", "s2"), ("m1", "m2"), ("a2",)):
        assert got(*names) == events, names        # each exactly once
    assert got_events(outs["s1"]) and got_events(outs["s2"]), "hosts share a group"
    stream = lambda: js_request(url, "$JS.API.STREAM.INFO.PS_jobs")["state"]
    h.wait_for(lambda: stream()["messages"] == 0, what="every group's acks")
    # A group's dead letter is its own: listed for it, on either host.
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"jobs/fail", 10, 0, b"f") + demand(10))
    raw.expect(WELCOME)
    h.wait_for(lambda: group_of("g_fail").get("num_waiting", 0) >= 1,
               what="group fail pulling")
    assert h.pushctl("enqueue", "-q", "jobs", "poison", sock=b).returncode == 0
    for attempt_no in (1, 2):
        eid, attempt, p = raw.events_full(timeout=20, want=1)[0]
        assert (attempt, p) == (attempt_no, b"poison"), (attempt, p)
        raw.send(ids(NACK, eid))
    def dead(q, sock):
        r = h.pushctl("dead", "list", "--json", "-q", q, sock=sock)
        assert r.returncode == 0, r
        return json.loads(r.stdout)
    h.wait_for(lambda: dead("jobs/fail", b)["dead"] == 1, what="the group's dead letter")
    d = dead("jobs/fail", h.sock)
    assert d["events"][0]["preview"] == "poison" and d["events"][0]["attempts"] == 2, d
    assert dead("jobs", h.sock)["dead"] == 0 and dead("jobs/mail", b)["dead"] == 0
    r = h.pushctl("dead", "drop", "-q", "jobs", str(d["events"][0]["id"]))
    assert r.returncode == 1 and r.stdout == b"dropped 0 dead events\n", r
    assert dead("jobs/fail", b)["dead"] == 1
    h.wait_for(lambda: len(got("s1", "s2")) == 301 and len(got("m1", "m2")) == 301
               and len(got("a2")) == 301, what="poison in the other groups")
    # Retried on host b: back to group fail alone (attempt 1), no one else.
    r = h.pushctl("dead", "retry", "-q", "jobs/fail", str(d["events"][0]["id"]), sock=b)
    assert r.returncode == 0 and r.stdout == b"retried 1 dead event\n", r
    eid, attempt, p = raw.events_full(timeout=20, want=1)[0]
    assert (attempt, p) == (1, b"poison"), (attempt, p)
    raw.send(ids(ACK, eid))
    h.wait_for(lambda: stream()["messages"] == 0, what="the retried event's acks")
    assert len(got("s1", "s2")) == 301 and len(got("m1", "m2")) == 301
    assert dead("jobs/fail", b)["dead"] == 0
    # The shared group stays; a named one dropped lets go of the events.
    r = h.pushctl("queue", "drop-group", "jobs", "--shared")
    assert r.returncode == 1 and b"shared group is not dropped" in r.stderr, r
    r = h.pushctl("queue", "drop-group", "--force", "jobs", "audit", sock=b)
    assert r.returncode == 0, r
    h.wait_for(lambda: "g_audit" not in consumers(0), what="g_audit deleted")
    raw.close()
    r = h.pushctl("queue", "drop-group", "jobs", "fail")
    assert r.returncode == 0, r
    h.wait_for(lambda: "g_fail" not in consumers(0), what="g_fail deleted")
    assert h.pushctl("enqueue", "-q", "jobs", "after").returncode == 0
    h.wait_for(lambda: len(got("s1", "s2")) == 302 and len(got("m1", "m2")) == 302,
               what="the event after the drops")
    h.wait_for(lambda: stream()["messages"] == 0, what="no group holds it")
    assert len(got("a2")) == 301


def case_cluster_dead_over_http(h):
    """A cluster's dead letters through the HTTP API of a host that never
    used the queue: listed (escaped, limited), retried and dropped in
    JetStream, as pushctl dead does; bad input 4xx; NATS gone: 503."""
    if not built_with_cluster():
        return
    nats, url = start_nats(h)
    port = free_port()
    tok = "t0ken-0123456789abcdef"
    h.start_daemon("--cluster", url, "--http", "127.0.0.1:%d" % port,
                   "--http-token-file", token_file(h, tok))
    _, b = second_daemon(h, "b", "--cluster", url, "--max-attempts", "1")
    auth = {"Authorization": "Bearer " + tok}
    w = Raw(b, version=3)
    w.send(hello3(CONSUMER_ROLE, b"jobs", 10, 0, b"w") + demand(10))
    w.expect(WELCOME)
    payloads = [b"<script>alert(1)</script>", b"\x01\xff\x02", b"third"]
    assert h.pushctl("enqueue", "--queue", "jobs", "-", sock=b,
                     input=b"\n".join(payloads) + b"\n").returncode == 0
    for _ in payloads:
        (eid, _, _), = w.events_full(want=1, timeout=20)
        w.send(ids(NACK, eid))
    dead_stream = lambda: js_request(url, "$JS.API.STREAM.INFO.PSD_jobs")["state"]
    h.wait_for(lambda: dead_stream().get("messages") == 3, what="3 dead letters")
    # Counted in b's stats, where the queue is used.
    dead_b = lambda: json.loads(h.pushctl("stats", "--queue", "jobs", "--json",
                                          sock=b).stdout)["dead"]
    h.wait_for(lambda: dead_b() == 3, what="dead 3 in b's stats")
    api = "/api/v1/queues/jobs/dead"
    st, r, body = http_call(port, "GET", api, raw=True)
    assert st == 200 and b"<script>" not in body, (st, body)
    got = json.loads(body)
    assert got["queue"] == "jobs" and got["group"] == "" and got["dead"] == 3, got
    assert [e["attempts"] for e in got["entries"]] == [1, 1, 1], got
    assert got["entries"][0]["preview"] == "<script>alert(1)</script>", got
    assert got["entries"][1]["preview_encoding"] == "hex", got
    assert got["entries"][1]["preview"] == "01ff02", got
    seqs = [e["id"] for e in got["entries"]]
    # The same list pushctl shows.
    listed = json.loads(h.pushctl("dead", "list", "--queue", "jobs", "--json").stdout)
    assert [e["id"] for e in listed["events"]] == seqs, listed
    st, _, got = http_call(port, "GET", api + "?limit=1&preview=2")
    assert st == 200 and got["dead"] == 3 and len(got["entries"]) == 1, got
    assert got["entries"][0]["truncated"] is True, got
    # Bad input changes nothing.
    for method, path, body, hdrs, want in (
            ("POST", api + "/retry", b'{"ids":[%d]}' % seqs[0], {}, 401),
            ("POST", api + "/retry", b'{"ids":[x]}', auth, 400),
            ("GET", "/api/v1/queues/bad%20name/dead", None, {}, 400),
            ("GET", api + "?group=no%20good", None, {}, 400),
            ("GET", api + "?limit=5000", None, {}, 400),
            ("GET", api + "/retry", None, {}, 405)):
        st, _, got = http_call(port, method, path, body, hdrs)
        assert st == want and "error" in got, (path, st, got)
    assert dead_stream()["messages"] == 3
    # Retried: a new event at its consumer, attempt 1; the letter gone.
    st, _, got = http_call(port, "POST", api + "/retry",
                           b'{"ids":[%d]}' % seqs[2], auth)
    assert st == 200 and got == {"queue": "jobs", "group": "", "retried": 1}, got
    (eid, attempt, payload), = w.events_full(want=1, timeout=20)
    assert (attempt, payload) == (1, b"third"), (attempt, payload)
    w.send(ids(ACK, eid))
    # Dropped by id (an id that is none is skipped), then all.
    st, _, got = http_call(port, "POST", api + "/drop",
                           b'{"ids":[%d, 999999]}' % seqs[0], auth)
    assert st == 200 and got["dropped"] == 1, got
    st, _, got = http_call(port, "GET", api)
    assert [e["id"] for e in got["entries"]] == [seqs[1]], got
    st, _, got = http_call(port, "POST", api + "/drop", b"", auth)
    assert st == 200 and got["dropped"] == 1, got
    st, _, got = http_call(port, "GET", api)
    assert st == 200 and got["dead"] == 0 and got["entries"] == [], got
    h.wait_for(lambda: dead_b() == 0, what="dead 0 in b's stats")
    # NATS gone: the list cannot be had, and says why.
    nats.terminate()
    nats.wait(timeout=10)
    h.wait_for(lambda: http_call(port, "GET", api)[0] == 503, what="503 without NATS")
    st, _, got = http_call(port, "GET", api)
    assert "unreachable" in got["error"], got


def case_cluster_nats_down(h):
    """NATS down at start and mid-run: ENQUEUEs refused with a clear error
    (pushctl exits 75), no crash, and all works again when it is back."""
    if not built_with_cluster():
        return
    port = free_port()
    url = "nats://127.0.0.1:%d" % port
    h.start_daemon("--cluster", url)
    assert cluster_stat(h, h.sock, "cluster_connected") == 0
    r = h.pushctl("enqueue", "early")
    assert r.returncode == 75 and b"unreachable" in r.stderr, r
    r = h.pushctl("watch", "--count", "1")
    assert r.returncode == 0 and b"NATS UNREACHABLE (links 0," in r.stdout, r
    nats, _ = start_nats(h, port)
    h.wait_for(lambda: cluster_stat(h, h.sock, "cluster_connected") == 1,
               what="the link")
    assert h.pushctl("enqueue", "one").returncode == 0
    nats.send_signal(signal.SIGINT)
    nats.wait(timeout=10)
    h.procs.remove(nats)
    h.wait_for(lambda: cluster_stat(h, h.sock, "cluster_connected") == 0,
               what="the link to go")
    r = h.pushctl("enqueue", "lost")
    assert r.returncode == 75 and b"unreachable" in r.stderr, r
    r = h.pushctl("dead", "list")
    assert r.returncode == 75 and b"dead letters are kept there" in r.stderr, r
    nats, _ = start_nats(h, port)              # the same store: "one" kept
    h.wait_for(lambda: cluster_stat(h, h.sock, "cluster_connected") == 1,
               what="the link again")
    assert cluster_stat(h, h.sock, "cluster_links_total") == 2
    r = h.pushctl("watch", "--count", "1")
    assert r.returncode == 0 and b"NATS linked (links 2," in r.stdout, r
    assert h.pushctl("enqueue", "two").returncode == 0
    _, out = h.consumer("w", "--max-demand", "5")
    h.wait_for(lambda: sorted(got_events(out)) == ["one", "two"], what="both events")


def case_cluster_survives_kills(h):
    """Three JetStream nodes (R3), two hosts with a consumer each; 100,000
    events enqueued on both while a NATS node and then a producerd are
    killed with -9 and restarted: every event whose ENQUEUE was confirmed
    is handled at least once; duplicates are counted and reported."""
    if not built_with_cluster():
        return
    procs, nodes, routes, urls = nats_cluster(h)
    args = ("--cluster", urls, "--cluster-replicas", "3", "--ack-timeout", "2")
    h.start_daemon(*args)
    bproc, b = second_daemon(h, "b", *args)
    # The cluster has elected its leaders and made the stream.
    h.wait_for(lambda: h.pushctl("enqueue", "warm").returncode == 0, timeout=60,
               what="JetStream to store an event")
    outs = [os.path.join(h.dir, "ca.out"), os.path.join(h.dir, "cb.out")]
    h.spawn([CONSUMER, "--socket", h.sock, "--id", "ca", "--max-demand", "256"], out=outs[0])
    h.spawn([CONSUMER, "--socket", b, "--id", "cb", "--max-demand", "256"], out=outs[1])
    info = lambda: js_request(urls.split(",")[0], "$JS.API.CONSUMER.INFO.PS_default.ps")
    h.wait_for(lambda: info().get("num_waiting") == 2, what="both hosts to pull")
    confirmed, unconfirmed = [], 0
    for n in range(50):
        if n == 15:                     # a NATS node dies and comes back
            procs[1].kill()
            procs[1].wait()
            h.procs.remove(procs[1])
            procs[1] = start_nats_node(h, nodes[1], routes)
        if n == 30:                     # host b dies and comes back
            bproc.kill()
            bproc.wait()
            h.procs.remove(bproc)
            bproc, b = second_daemon(h, "b", *args)
            outs.append(os.path.join(h.dir, "cb2.out"))
            h.spawn([CONSUMER, "--socket", b, "--id", "cb2", "--max-demand", "256"],
                    out=outs[-1])
        batch = ["e%06d" % (n * 2000 + i) for i in range(2000)]
        # Refused for now (exit 75: a node or the host just came back and
        # JetStream is electing): sent again, as a user's script would.
        end = time.monotonic() + 60
        while True:
            r = h.pushctl("enqueue", "--retry", "30", "-",
                          input="\n".join(batch).encode() + b"\n",
                          sock=h.sock if n % 2 == 0 else b)
            if r.returncode != 75 or time.monotonic() > end:
                break
            print("batch %d again: %s" % (n, r.stderr.decode(errors="replace").strip()))
            time.sleep(0.5)
        if r.returncode == 0:
            confirmed += batch
        else:
            unconfirmed += len(batch)
            print("batch %d: %s" % (n, r.stderr.decode(errors="replace").strip()))
    assert len(confirmed) >= 90000, "only %d of 100,000 confirmed" % len(confirmed)

    def handled():
        seen = {}
        for o in outs:
            for _, what, e in received(o):
                if what == "finished":
                    seen[e] = seen.get(e, 0) + 1
        return seen
    h.wait_for(lambda: set(confirmed) <= handled().keys(), timeout=100,
               what="every confirmed event to be handled")
    seen = handled()
    dups = sum(c - 1 for c in seen.values() if c > 1)
    # Every event's ack, the unconfirmed ones' too: an event a killed host
    # held comes back only after JetStream's AckWait, perhaps more than
    # once on a loaded machine, so this is waited for as long as the rest.
    # An error reply (no stream leader for a moment) is asked again.
    stream = lambda: js_request(urls.split(",")[0], "$JS.API.STREAM.INFO.PS_default")

    def all_acked():
        """The stream empty, or its one consumer's ack floor at its last
        message with nothing pending: nats-server 2.9 can keep acked
        messages of an interest stream whose leader moved while they were
        acked (seen at load: 2,379 left, every one under the ack floor)."""
        st = stream().get("state", {})
        if st.get("messages") == 0:
            return True
        c = info()
        return (c.get("num_pending") == 0 and c.get("num_ack_pending") == 0 and
                c.get("ack_floor", {}).get("stream_seq") == st.get("last_seq"))
    try:
        h.wait_for(all_acked, timeout=100, what="JetStream's acks")
    except AssertionError as e:
        raise AssertionError("%s: stream %s; consumer %s" % (e, stream(), info())) from None
    # A host asking for other replicas than the stream has is refused.
    _, c = second_daemon(h, "c", "--cluster", urls, "--cluster-replicas", "1")
    r = h.pushctl("enqueue", "x", sock=c)
    assert r.returncode == 75 and b"stream PS_default exists made otherwise" in r.stderr, r
    print("cluster_survives_kills: %d confirmed, %d not, %d handled, %d twice or more "
          "(JetStream redelivered %d)" % (len(confirmed), unconfirmed, len(seen), dups,
                                           info().get("num_redelivered", 0)))


def case_key_order_slow_key(h):
    """A key whose event is not acked holds up only its own key."""
    h.start_daemon("--dispatch", "key")
    slow = Raw(h.sock, version=3)
    slow.send(hello3(CONSUMER_ROLE, b"k", 1, 0, b"slow") + demand(1))
    slow.expect(WELCOME)
    h.wait_consumers(1, total_demand=1)
    assert h.pushctl("enqueue", "-q", "k", "--key", "stuck", "s1", "s2", "s3").returncode == 0
    (sid, _, p), = slow.events_full(want=1, timeout=10)
    assert p == b"s1"
    _, out = h.consumer("fast", "--queue", "k", "--max-demand", "10")
    assert h.pushctl("enqueue", "-q", "k", "--key", "free", "f1", "f2").returncode == 0
    assert h.pushctl("enqueue", "-q", "k", "n1").returncode == 0
    h.wait_for(lambda: group_got([out]) == ["f1", "f2", "n1"], what="the other keys")
    st = queue_list(h)["k"]
    assert st["key_waiting"] == 2 and st["in_flight"] == 1, st   # s2, s3 wait
    slow.send(ids(ACK, sid))
    h.wait_for(lambda: group_got([out]) == ["f1", "f2", "n1", "s2", "s3"],
               what="the stuck key, in order, once freed")
    # Settings: key order needs acks; a version 1 consumer is refused.
    r = h.pushctl("queue", "set", "k", "delivery=at-most-once")
    assert r.returncode == 1 and b"dispatch key needs delivery at-least-once" in r.stderr, r
    old = Raw(h.sock, version=1)
    old.send(hello(CONSUMER_ROLE, 1, 0, b"old", version=1))
    assert "key order" in old.expect_error(E_BAD_VALUE)
    r = h.pushctl("queue", "set", "k", "dispatch=sideways")
    assert r.returncode == 1 and b'dispatch: "sideways" is not demand, key or partition:N' in r.stderr, r
    # A keyed batch that waits for room (block) goes on with its keys.
    assert h.pushctl("queue", "create", "kb", "max-queue=2", "overflow=block",
                     "dispatch=key").returncode == 0
    p = subprocess.Popen([PUSHCTL, "--socket", h.sock, "enqueue", "-q", "kb", "--key",
                          "K", "e1", "e2", "e3", "e4"], stdout=subprocess.PIPE)
    h.wait_for(lambda: queue_list(h)["kb"]["blocked"] == 1, what="the batch to wait")
    _, out = h.consumer("kbw", "--queue", "kb", "--max-demand", "3")
    assert p.wait(timeout=10) == 0
    h.wait_for(lambda: group_got([out]) == ["e1", "e2", "e3", "e4"], what="e1-e4")
    assert [e for _, w, e in received(out) if w == "received"] == ["e1", "e2", "e3", "e4"]
    assert queue_list(h)["kb"]["key_waiting"] == 0
    # A version 2 client may not send attributes.
    v2 = Raw(h.sock)
    v2.send(hello(CLIENT_ROLE) + struct.pack(">IBBH", 4, ENQUEUE, 1, 0) + b"\0\0\0\1")
    v2.expect(WELCOME)
    v2.expect_error(E_BAD_HEADER)


def case_sigterm_drains(h):
    """SIGTERM: no new connections or events, wait for acks, exit 0."""
    d = h.start_daemon()
    a = Raw(h.sock)
    consumer_hello(a, b"a", 2)
    a.send(demand(2))
    c = Raw(h.sock)
    client_hello(c)
    c.send(enqueue(b"one", b"two", b"three"))
    c.expect(ENQUEUED)
    assert len(a.events_full(want=2)) == 2
    d.send_signal(signal.SIGTERM)
    wait_draining(h)
    assert d.poll() is None, "exited with events in flight"
    late = Raw(h.sock)
    assert "draining" in late.expect_error(E_DRAINING)
    c.send(enqueue(b"four"))
    assert "draining" in c.expect_error(E_DRAINING)
    # Acks and new demand: nothing new goes out while draining.
    a.send(ids(ACK, 1) + demand(1))
    assert a.events(timeout=0.3) == []
    assert d.poll() is None
    a.send(ids(ACK, 2))
    assert d.wait(timeout=20) == 0
    assert not os.path.exists(h.sock)
    with open(os.path.join(h.dir, "producerd.log")) as f:
        log = f.read()
    assert "1 buffered" in log, log


def wait_draining(h):
    """Until the signalled daemon drains: a new peer's HELLO gets
    E_DRAINING.  A loaded machine may take a while to run its handler, so
    this is asked of the daemon, not assumed after a time."""
    def draining():
        # A draining daemon says so on accept and closes: listen first (a
        # HELLO sent into a closed socket can reset the line, and the
        # ERROR with it), then ask.
        r = Raw(h.sock)
        try:
            got = r.recv(timeout=0.2)
            if got is None:
                r.send(hello(CLIENT_ROLE))
                got = r.recv()
        except OSError:
            got = None
        finally:
            r.close()
        return got is not None and got[0] == ERROR and \
            struct.unpack(">H", got[1][:2])[0] == E_DRAINING
    h.wait_for(draining, what="the daemon to drain")


def case_drain_timeout_and_second_signal(h):
    """--drain-timeout bounds the wait; a second signal ends it at once."""
    d = h.start_daemon("--drain-timeout", "0.5")
    a = Raw(h.sock)
    consumer_hello(a, b"a", 1)
    a.send(demand(1))
    assert h.pushctl("enqueue", "held").returncode == 0
    assert a.events(want=1) == [b"held"]
    t0 = time.monotonic()
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=20) == 0
    assert 0.4 < time.monotonic() - t0 < 3
    with open(os.path.join(h.dir, "producerd.log")) as f:
        assert "1 event in flight" in f.read()
    d = h.start_daemon()
    a = Raw(h.sock)
    consumer_hello(a, b"a", 1)
    a.send(demand(1))
    assert h.pushctl("enqueue", "held").returncode == 0
    assert a.events(want=1) == [b"held"]
    d.send_signal(signal.SIGTERM)
    wait_draining(h)
    assert d.poll() is None
    d.send_signal(signal.SIGINT)
    assert d.wait(timeout=20) == 0


# ------------------------------------------------ hostile and broken peers


HOSTILE_CASES = [
    (hello(CONSUMER_ROLE, 2, 0, b"c") + ids(ACK, 1), E_NOT_IN_FLIGHT),
    (hello(CONSUMER_ROLE, 2, 0, b"c") + ids(NACK, 12345), E_NOT_IN_FLIGHT),
    (hello(CONSUMER_ROLE, 2, 0, b"c") + ids(TOUCH, 2 ** 64 - 1), E_NOT_IN_FLIGHT),
    (hello(CONSUMER_ROLE, 2, 0, b"c") + frame(ACK, struct.pack(">I", 0)), E_BAD_VALUE),
    (hello(CONSUMER_ROLE, 2, 0, b"c") + frame(ACK, struct.pack(">IQ", 2, 1)), E_BAD_LENGTH),
    (hello(CONSUMER_ROLE, 2, 0, b"c") + demand(1) + demand(2 ** 32 - 1), E_DEMAND),
    (hello(CONSUMER_ROLE, 2, 0, b"c") + frame(DEAD_LIST, struct.pack(">I", 0)), E_BAD_STATE),
    (hello(CLIENT_ROLE) + ids(ACK, 1), E_BAD_STATE),
    (hello(CLIENT_ROLE) + frame(DEAD_LIST, struct.pack(">I", 5000)), E_BAD_VALUE),
    (hello(CLIENT_ROLE) + frame(DEAD_DONE, struct.pack(">I", 0)), E_BAD_STATE),
    (hello(CLIENT_ROLE, version=1) + frame(DEAD_LIST, struct.pack(">I", 0)), E_BAD_STATE),
    (b"\x00\x00\x00\x00\x63\x00\x00\x00", E_UNKNOWN_TYPE),
    (os.urandom(0) + b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", E_TOO_LARGE),
]


def case_hostile_peers_harm_no_one(h):
    """Bad acks, overflowing demand, wrong-version frames: each gets its
    ERROR; the daemon logs the peer and goes on serving others."""
    h.start_daemon()
    _, out = h.consumer("w", "--max-demand", "4")
    h.wait_consumers(1)
    for data, code in HOSTILE_CASES:
        bad = Raw(h.sock)
        bad.send(data)
        bad.expect_error(code)
        bad.close()
        assert h.pushctl("enqueue", "ok").returncode == 0
    h.wait_for(lambda: sum(1 for r in received(out) if r[1] == "finished")
               == len(HOSTILE_CASES), what="the good events")
    # Random garbage, many times: never a crash.
    for i in range(200):
        bad = Raw(h.sock)
        try:
            bad.send(os.urandom(1 + i % 64))
        except OSError:
            pass
        bad.close()
    assert h.pushctl("enqueue", "still").returncode == 0
    h.wait_for(lambda: ("w", "finished", "still") in received(out), what="still")
    assert h.daemon.poll() is None
    with open(os.path.join(h.dir, "producerd.log")) as f:
        log = f.read()
    assert "(pid %d, uid %d)" % (os.getpid(), os.getuid()) in log, log


def case_handshake_timeout(h):
    """A connection without HELLO is dropped after --handshake-timeout."""
    h.start_daemon("--handshake-timeout", "0.3")
    idle = Raw(h.sock)
    slow = Raw(h.sock)
    slow.send(hello(CLIENT_ROLE)[:5])        # a HELLO that never ends
    t0 = time.monotonic()
    assert "HELLO" in idle.expect_error(E_TIMEOUT)
    slow.expect_error(E_TIMEOUT)
    assert time.monotonic() - t0 < 2
    ok = Raw(h.sock)
    client_hello(ok)
    time.sleep(0.5)                          # past the timeout: still open
    ok.send(frame(STATS))
    ok.expect(STATS_REPLY)


def case_consumer_that_stops_reading_gets_only_its_demand(h):
    """A consumer that never reads holds what it asked for and no more;
    the others get the rest.  Its ten are sent while it is alone: with
    another consumer beside it, who gets what is up to the dispatcher
    (largest demand first), and a quick one could take all 200."""
    h.start_daemon()
    stuck = Raw(h.sock)
    consumer_hello(stuck, b"stuck", 10)
    stuck.send(demand(10))
    h.wait_consumers(1, total_demand=10)
    payload = b"z" * 16384
    c = Raw(h.sock)
    client_hello(c)
    c.send(enqueue(*[payload] * 10))
    c.expect(ENQUEUED)
    h.wait_for(lambda: stats_of(h, "stuck")["in_flight"] == 10,
               what="stuck to be sent its ten")
    _, out = h.consumer("busy", "--max-demand", "50", "--min-demand", "25")
    h.wait_consumers(2, total_demand=50)
    for i in range(19):                      # 200 events, 3.3 MB in all
        c.send(enqueue(*[payload] * 10))
        c.expect(ENQUEUED)
    # Acked, the daemon's count, is cheap to poll; the 3 MB of output
    # is read once after.
    h.wait_for(lambda: h.stats()["acked_total"] == 190, timeout=60,
               what="busy to take the rest")
    h.wait_for(lambda: sum(1 for r in received(out) if r[1] == "finished") == 190,
               timeout=60, what="busy's output")
    s = stats_of(h, "stuck")
    assert s["delivered"] == 10 and s["in_flight"] == 10, s
    st = h.stats()
    assert st["queued"] == 0 and st["delivered_total"] == 200, st


def raise_fd_limit(n):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= n


def case_two_thousand_connections(h):
    """2,000 idle connections at once; work goes on; past the limit, a
    clear refusal."""
    assert raise_fd_limit(2200), "need 2200 descriptors"
    h.start_daemon("--max-connections", "2010")
    conns = []
    for i in range(2000):
        r = Raw(h.sock)
        r.send(hello(CLIENT_ROLE))
        conns.append(r)
    for r in conns:
        r.expect(WELCOME)
    _, out = h.consumer("w")
    h.wait_for(lambda: h.stats()["clients_connected"] >= 2000, what="2000 clients")
    assert h.pushctl("enqueue", "through").returncode == 0
    h.wait_for(lambda: ("w", "finished", "through") in received(out), what="the event")
    extra = [Raw(h.sock) for _ in range(12)]
    codes = []
    for r in extra:
        try:
            r.send(hello(CLIENT_ROLE))
        except OSError:
            pass                             # refused and closed already
        got = r.recv(timeout=10)
        assert got is not None, "neither WELCOME nor ERROR"
        if got[0] == ERROR:
            codes.append(struct.unpack(">H", got[1][:2])[0])
        else:
            assert got[0] == WELCOME, got
    assert codes and set(codes) == {E_TOO_MANY}, codes
    r = h.pushctl("stats")
    assert r.returncode == 1 and b"connections" in r.stderr, r
    for r in conns + extra:
        r.close()
    h.wait_for(lambda: h.connectable() and h.stats()["clients_connected"] == 1,
               what="the connections to go")
    assert h.stats()["refused_total"] >= len(codes)


def case_access_control(h):
    """Socket mode and group; --allow-uid and --allow-gid."""
    d = h.start_daemon()
    assert stat.S_IMODE(os.stat(h.sock).st_mode) == 0o660
    d.send_signal(signal.SIGTERM)
    d.wait(timeout=20)
    gid = os.getgroups()[-1] if os.getgroups() else os.getgid()
    d = h.start_daemon("--socket-mode", "0600", "--socket-group", str(gid))
    st = os.stat(h.sock)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_gid == gid, st
    d.send_signal(signal.SIGTERM)
    d.wait(timeout=20)
    other = 54321 if os.getuid() != 54321 else 54322
    d = h.start_daemon("--allow-uid", str(other))
    r = h.pushctl("stats")
    assert r.returncode == 1 and b"may not connect" in r.stderr, r
    raw = Raw(h.sock)
    raw.expect_error(E_FORBIDDEN)
    d.send_signal(signal.SIGTERM)
    d.wait(timeout=20)
    d = h.start_daemon("--allow-uid", "%d,%d" % (other, os.getuid()))
    assert h.pushctl("stats").returncode == 0
    d.send_signal(signal.SIGTERM)
    d.wait(timeout=20)
    d = h.start_daemon("--allow-uid", str(other), "--allow-gid", str(os.getgid()))
    assert h.pushctl("stats").returncode == 0
    for bad in (["--socket-mode", "999"], ["--allow-uid", "no-such-user-x"],
                ["--socket-group", "no-such-group-x"], ["--ack-timeout", "-1"],
                ["--delivery", "sometimes"], ["--max-connections", "0"]):
        r = subprocess.run([PRODUCERD, "--socket", h.sock + ".2"] + bad,
                           capture_output=True, timeout=10)
        assert r.returncode == 1 and bad[0].encode() in r.stderr, (bad, r)


# ----------------------------------------------- bounded buffer, overflow


def take_all(h, n):
    """Connect a consumer, take up to n buffered events, ack them."""
    r = Raw(h.sock)
    consumer_hello(r, b"taker", max(n, 1))
    r.send(demand(max(n, 1)))
    got = r.events_full(timeout=0.5)
    if got:
        r.send(ids(ACK, *[i for i, _, _ in got]))
    r.send(frame(STATS))
    while r.recv()[0] != STATS_REPLY:
        pass
    r.close()
    return [p.decode() for _, _, p in got]


def case_overflow_reject(h):
    """reject: what fits is taken in order, the rest refused; exit 75."""
    h.start_daemon("--max-queue", "5")
    assert h.pushctl("enqueue", "1", "2", "3").returncode == 0
    r = h.pushctl("enqueue", "a", "b", "c", "d")
    assert r.returncode == 75, r
    assert r.stdout == b"enqueued 2 events: ids 4-5\n", r.stdout
    assert b"refused 2 events" in r.stderr and b"--max-queue" in r.stderr, r.stderr
    st = h.stats()
    assert st["queued"] == 5 and st["rejected_total"] == 2, st
    assert st["shed_total"] == 0, st
    # A batch larger than the whole limit, into an empty buffer.
    assert take_all(h, 10) == ["1", "2", "3", "a", "b"]
    r = h.pushctl("enqueue", "-", input=b"".join(b"x%d\n" % i for i in range(7)))
    assert r.returncode == 75, r
    assert r.stdout == b"enqueued 5 events: ids 6-10\n", r.stdout
    assert b"refused 2 events" in r.stderr, r.stderr
    assert take_all(h, 10) == ["x0", "x1", "x2", "x3", "x4"]
    with open(os.path.join(h.dir, "producerd.log")) as f:
        assert "refused since the last report" in f.read()


def case_overflow_reject_retry(h):
    """pushctl enqueue --retry: the refused rest goes in once there is room."""
    h.start_daemon("--max-queue", "3")
    assert h.pushctl("enqueue", "1", "2", "3").returncode == 0
    p = subprocess.Popen([PUSHCTL, "--socket", h.sock, "enqueue", "--retry", "20",
                          "a", "b"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Refused once at least (it is retrying), and still at it.
    h.wait_for(lambda: h.stats()["rejected_total"] >= 1, what="pushctl's first try")
    assert p.poll() is None, "gave up while retrying"
    assert take_all(h, 2) == ["1", "2"]
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, (out, err)
    assert out.startswith(b"enqueued 2 events"), out
    assert take_all(h, 10) == ["3", "a", "b"]
    # Time up, still full: 75.
    assert h.pushctl("enqueue", "1", "2", "3").returncode == 0
    t0 = time.monotonic()
    r = h.pushctl("enqueue", "--retry", "0.3", "late")
    assert r.returncode == 75 and b"--retry ran out" in r.stderr, r
    assert 0.25 < time.monotonic() - t0 < 5


def case_overflow_drop_oldest(h):
    """drop-oldest: new events go in, the oldest buffered are shed."""
    h.start_daemon("--max-queue", "5", "--overflow", "drop-oldest")
    assert h.pushctl("enqueue", "1", "2", "3").returncode == 0
    r = h.pushctl("enqueue", "a", "b", "c", "d")
    assert r.returncode == 0, r
    assert r.stdout == b"enqueued 4 events: ids 4-7\n", r.stdout
    assert b"shed 2 older" in r.stderr, r.stderr
    assert h.stats()["shed_total"] == 2
    assert take_all(h, 10) == ["3", "a", "b", "c", "d"]
    # Larger than the limit: its newest five survive, and nothing older.
    assert h.pushctl("enqueue", "old").returncode == 0
    r = h.pushctl("enqueue", "p1", "p2", "p3", "p4", "p5", "p6", "p7")
    assert r.returncode == 0, r
    # The two shed from its front were never given ids.
    assert r.stdout == b"enqueued 5 events: ids 9-13\n", r.stdout
    assert b"shed 2 of the events sent" in r.stderr, r.stderr
    assert take_all(h, 10) == ["p3", "p4", "p5", "p6", "p7"]
    assert h.stats()["shed_total"] == 2 + 1 + 2
    with open(os.path.join(h.dir, "producerd.log")) as f:
        assert "shed" in f.read()


def case_overflow_drop_newest(h):
    """drop-newest: what is buffered stays, the new that do not fit are shed."""
    h.start_daemon("--max-queue", "5", "--overflow", "drop-newest")
    assert h.pushctl("enqueue", "1", "2", "3").returncode == 0
    r = h.pushctl("enqueue", "a", "b", "c", "d")
    assert r.returncode == 0, r
    assert r.stdout == b"enqueued 2 events: ids 4-5\n", r.stdout
    assert b"shed 2 of the events sent" in r.stderr, r.stderr
    st = h.stats()
    assert st["shed_total"] == 2 and st["rejected_total"] == 0, st
    assert take_all(h, 10) == ["1", "2", "3", "a", "b"]
    # The reply says it, byte for byte, to a raw client.
    c = Raw(h.sock)
    client_hello(c)
    c.send(enqueue(*[b"%d" % i for i in range(8)]))
    assert struct.unpack(">QIIII", c.expect(ENQUEUED)) == (6, 5, 0, 3, 0)
    # The queue is full again: pushctl's warning as a JSON line, or, at
    # --log-level error, not at all.
    r = h.pushctl("--log-format", "json", "enqueue", "x")
    assert r.returncode == 0 and r.stdout == b"enqueued 0 events\n", r
    rec = json.loads(r.stderr)
    assert rec["level"] == "warning" and rec["prog"] == "pushctl", rec
    assert rec["msg"].endswith("shed 1 of the events sent: its queue was full "
                               "(--overflow drop-newest)"), rec
    r = h.pushctl("--log-level", "error", "enqueue", "x")
    assert r.returncode == 0 and r.stderr == b"", r
    assert h.stats()["shed_total"] == 2 + 3 + 2


def case_overflow_block(h):
    """block: a full buffer stops reading the client, which waits; room
    lets it go on, in order; others are not held up."""
    h.start_daemon("--max-queue", "5", "--max-queue-bytes", "1000",
                   "--overflow", "block")
    assert h.pushctl("enqueue", "1", "2", "3", "4", "5").returncode == 0
    p = subprocess.Popen([PUSHCTL, "--socket", h.sock, "enqueue", "a", "b"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    h.wait_for(lambda: h.stats()["blocked_clients"] == 1, what="the client to block")
    assert p.poll() is None, "the blocked client finished"
    # One slot frees: a goes in, b still waits; the limit holds.
    assert take_all(h, 1) == ["1"]
    h.wait_for(lambda: h.stats()["enqueued_total"] == 6, what="a to go in")
    st = h.stats()
    assert st["queued"] == 5 and st["blocked_clients"] == 1, st
    assert p.poll() is None, "answered before b went in"
    assert take_all(h, 1) == ["2"]
    out, err = p.communicate(timeout=10)
    assert p.returncode == 0 and out == b"enqueued 2 events: ids 6-7\n", (out, err)
    st = h.stats()
    assert st["blocked_clients"] == 0 and st["rejected_total"] == 0, st
    assert st["shed_total"] == 0, st
    assert take_all(h, 10) == ["3", "4", "5", "a", "b"]
    # Larger than the limit: it goes in as room comes, never past 5.
    assert h.pushctl("enqueue", "x").returncode == 0
    p = subprocess.Popen([PUSHCTL, "--socket", h.sock, "enqueue", "-"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    p.stdin.write(b"".join(b"y%d\n" % i for i in range(7)))
    p.stdin.close()
    h.wait_for(lambda: h.stats()["blocked_clients"] == 1, what="the big batch to block")
    got = []
    while p.poll() is None or h.stats()["queued"] != 0:
        st = h.stats()
        assert st["queued"] <= 5, st
        if st["queued"] != 0:
            got += take_all(h, 2)
    assert p.wait(timeout=10) == 0
    assert p.stdout.read() == b"enqueued 7 events: ids 9-15\n"
    assert got == ["x"] + ["y%d" % i for i in range(7)], got
    # Draining: a blocked client is told, not left hanging.
    assert h.pushctl("enqueue", "1", "2", "3", "4", "5").returncode == 0
    c = Raw(h.sock)
    client_hello(c)
    c.send(enqueue(b"waits"))
    h.wait_for(lambda: h.stats()["blocked_clients"] == 1, what="c to block")
    h.daemon.send_signal(signal.SIGTERM)
    assert "draining" in c.expect_error(E_DRAINING)
    assert h.daemon.wait(timeout=10) == 0


def case_overflow_options(h):
    """Bad limits and policies are refused with the option named."""
    for bad, what in ((["--overflow", "sometimes"], b"--overflow"),
                      (["--max-queue", "-1"], b"--max-queue"),
                      (["--max-queue-bytes", "lots"], b"--max-queue-bytes"),
                      (["--map", "cat"], b"--upstream"),
                      (["--upstream", "/x", "--map", ""], b"--map"),
                      (["--upstream", "/x", "--upstream-max-demand", "0"],
                       b"--upstream-max-demand"),
                      (["--upstream", "/" + "x" * 1100], b"too long")):
        r = subprocess.run([PRODUCERD, "--socket", h.sock] + bad,
                           capture_output=True, timeout=10)
        assert r.returncode == 1 and what in r.stderr, (bad, r)
    # The byte limit defaults to a quarter of physical memory, said at start.
    h.start_daemon()
    quarter = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    st = h.stats()
    assert st["max_queue"] == 1000000 and st["max_queue_bytes"] == quarter, st
    with open(os.path.join(h.dir, "producerd.log")) as f:
        assert "%d payload bytes (a quarter of physical memory" % quarter in f.read()
    h.daemon.send_signal(signal.SIGTERM)
    assert h.daemon.wait(timeout=10) == 0
    h.start_daemon("--max-queue-bytes", "0", "--max-queue", "0")
    st = h.stats()
    assert st["max_queue"] == 0 and st["max_queue_bytes"] == 0, st


# ------------------------------------------------------------ pipelines


def stage(h, name, *args):
    """A producerd of its own socket in the test's directory."""
    sock = os.path.join(h.dir, name + ".sock")
    errlog = os.path.join(h.dir, name + ".log")
    with open(errlog, "ab") as log:
        p = subprocess.Popen([PRODUCERD, "--socket", sock] + list(args),
                             stdout=subprocess.DEVNULL, stderr=log)
    h.procs.append(p)
    h.wait_answering(sock, p, errlog)
    return p, sock


def stats_at(h, sock):
    r = h.pushctl("stats", "--json", sock=sock)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def consumers_at(h, sock, n, *args):
    outs = []
    for i in range(n):
        out = os.path.join(h.dir, "end-%d-%s.out" % (i, os.path.basename(sock)))
        h.spawn([CONSUMER, "--socket", sock, "--id", "end%d" % i] + list(args), out=out)
        outs.append(out)
    return outs


def got(outs):
    return [e for o in outs for _, w, e in received(o) if w == "finished"]


def chain(h):
    _, a = stage(h, "a")
    _, b = stage(h, "b", "--upstream", a)
    _, c = stage(h, "c", "--upstream", b)
    h.wait_for(lambda: stats_at(h, b)["upstream_connected"] == 1 and
               stats_at(h, c)["upstream_connected"] == 1, what="the chain")
    return a, b, c


def case_pipeline_upstream_batch_spreads_as_one(h):
    """A stage spreads one upstream batch as one ENQUEUE: A (demand 3)
    gets a, b, c and B (demand 2) gets d, e, as a single daemon gives."""
    a_sock = os.path.join(h.dir, "a.sock")
    _, b_sock = stage(h, "b", "--upstream", a_sock)
    a, b = Raw(b_sock), Raw(b_sock)
    for raw, name, n in ((a, b"A", 3), (b, b"B", 2)):
        consumer_hello(raw, name, n)
        raw.send(demand(n) + frame(STATS))
        raw.expect(STATS_REPLY)
    _, a_sock = stage(h, "a")
    assert h.pushctl("enqueue", "a", "b", "c", "d", "e", sock=a_sock).returncode == 0
    for raw, want in ((a, [b"a", b"b", b"c"]), (b, [b"d", b"e"])):
        evs = raw.events_full(want=len(want), timeout=10)
        assert [p for _, _, p in evs] == want, evs
        raw.send(ids(ACK, *[i for i, _, _ in evs]))
    # Acked here, so acked upstream: nothing is left in flight anywhere.
    h.wait_for(lambda: stats_at(h, a_sock)["acked_total"] == 5, what="acks upstream")


def case_pipeline_backlog_stays_upstream(h):
    """Slow ends: the backlog waits in the first daemon; the middle and the
    last hold no more than their consumers asked for."""
    a, b, c = chain(h)
    consumers_at(h, c, 2, "--max-demand", "2", "--work-ms", "100")
    h.wait_for(lambda: stats_at(h, c)["consumers_connected"] == 2, what="ends")
    r = h.pushctl("enqueue", "-", input=b"".join(b"%d\n" % i for i in range(300)), sock=a)
    assert r.returncode == 0, r.stderr
    time.sleep(1.5)
    sa, sb, sc = stats_at(h, a), stats_at(h, b), stats_at(h, c)
    assert sb["upstream"] == a and sc["upstream"] == b, (sb, sc)
    # The ends hold 4 at most; each stage holds what the next asked for.
    assert sc["queued"] + sc["in_flight"] <= 4, sc
    assert sb["queued"] + sb["in_flight"] <= 4 + 4, sb
    assert sc["upstream_demand"] + sc["queued"] + sc["in_flight"] <= 4 + 4, sc
    assert sa["queued"] >= 300 - 40, sa
    assert sa["queued"] + sa["in_flight"] + sa["acked_total"] == 300, sa


def case_pipeline_ten_thousand_exactly_once(h):
    """10,000 events through three stages, each exactly once at the end,
    and acked all the way back."""
    a, b, c = chain(h)
    outs = consumers_at(h, c, 4, "--max-demand", "100", "--min-demand", "50")
    h.wait_for(lambda: stats_at(h, c)["consumers_connected"] == 4, what="ends")
    r = h.pushctl("enqueue", "-", input=b"".join(b"e%d\n" % i for i in range(10000)), sock=a)
    assert r.returncode == 0, r.stderr
    h.wait_for(lambda: len(got(outs)) >= 10000, timeout=60, what="10,000 events")
    assert sorted(got(outs)) == sorted("e%d" % i for i in range(10000))
    h.wait_for(lambda: stats_at(h, a)["acked_total"] == 10000, what="acks upstream")
    for sock in (a, b, c):
        st = stats_at(h, sock)
        assert st["queued"] == 0 and st["in_flight"] == 0, (sock, st)
    assert stats_at(h, b)["upstream_received_total"] == 10000


def case_pipeline_middle_killed(h):
    """kill -9 the middle stage mid-stream and start it again: every event
    still arrives (at least once)."""
    _, a = stage(h, "a")
    mid, b = stage(h, "b", "--upstream", a)
    _, c = stage(h, "c", "--upstream", b)
    outs = consumers_at(h, c, 2, "--max-demand", "10", "--work-ms", "1")
    h.wait_for(lambda: stats_at(h, c)["consumers_connected"] == 2, what="ends")
    r = h.pushctl("enqueue", "-", input=b"".join(b"k%d\n" % i for i in range(2000)), sock=a)
    assert r.returncode == 0, r.stderr
    h.wait_for(lambda: len(got(outs)) >= 200, what="some to arrive")
    mid.kill()
    mid.wait()
    h.procs.remove(mid)
    stage(h, "b", "--upstream", a)
    h.wait_for(lambda: set(got(outs)) >= {"k%d" % i for i in range(2000)},
               timeout=90, what="all 2,000 after the restart")
    h.wait_for(lambda: stats_at(h, a)["in_flight"] == 0 and
               stats_at(h, a)["queued"] == 0, what="the first stage to empty")


def case_pipeline_upstream_restarts(h):
    """The upstream daemon goes away: the stage serves what it holds, takes
    direct ENQUEUEs, and reconnects when upstream is back."""
    first, a = stage(h, "a")
    _, b = stage(h, "b", "--upstream", a)
    outs = consumers_at(h, b, 1, "--max-demand", "5")
    h.wait_for(lambda: stats_at(h, b)["upstream_connected"] == 1, what="the link")
    assert h.pushctl("enqueue", "u1", "u2", sock=a).returncode == 0
    h.wait_for(lambda: set(got(outs)) >= {"u1", "u2"}, what="u1, u2")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=10) == 0
    h.procs.remove(first)
    h.wait_for(lambda: stats_at(h, b)["upstream_connected"] == 0, what="the link to drop")
    assert h.pushctl("enqueue", "direct", sock=b).returncode == 0
    h.wait_for(lambda: "direct" in got(outs), what="a direct event")
    stage(h, "a")
    h.wait_for(lambda: stats_at(h, b)["upstream_connected"] == 1,
               what="the link to come back")
    assert h.pushctl("enqueue", "u3", sock=a).returncode == 0
    h.wait_for(lambda: "u3" in got(outs), what="u3")
    with open(os.path.join(h.dir, "b.log")) as f:
        assert "connection lost" in f.read()


MAP_FILTER = "sed -u -e 's/^drop.*$//' -e 's/^keep/KEEP/'"


def case_pipeline_map_transform_and_filter(h):
    """--map: answers replace events; empty answers drop them; both count
    as done upstream."""
    _, a = stage(h, "a")
    _, b = stage(h, "b", "--upstream", a, "--map", MAP_FILTER)
    outs = consumers_at(h, b, 1, "--max-demand", "10")
    h.wait_for(lambda: stats_at(h, b)["upstream_connected"] == 1, what="the link")
    events = [b"keep-%d" % i if i % 3 else b"drop-%d" % i for i in range(300)]
    assert h.pushctl("enqueue", *[e.decode() for e in events], sock=a).returncode == 0
    want = sorted(e.decode().replace("keep", "KEEP") for e in events
                  if e.startswith(b"keep"))
    h.wait_for(lambda: sorted(got(outs)) == want, what="the mapped events")
    h.wait_for(lambda: stats_at(h, a)["acked_total"] == 300, what="acks upstream")
    sb = stats_at(h, b)
    assert sb["map"] == MAP_FILTER, sb
    assert sb["map_dropped_total"] == 100 and sb["map_mapped_total"] == 200, sb
    # A newline cannot go through a line map: it goes back upstream.
    assert h.pushctl("enqueue", "-0", "-", input=b"two\nlines\0", sock=a).returncode == 0
    h.wait_for(lambda: stats_at(h, b)["upstream_nacked_total"] >= 1, what="a NACK")


def case_pipeline_map0(h):
    """--map0: NUL-separated, so payloads may hold newlines."""
    _, a = stage(h, "a")
    _, b = stage(h, "b", "--upstream", a, "--map0", 'sed -u -z "s/^/z:/"')
    outs = consumers_at(h, b, 1)
    h.wait_for(lambda: stats_at(h, b)["upstream_connected"] == 1, what="the link")
    assert h.pushctl("enqueue", "-0", "-", input=b"two\nlines\0plain\0",
                     sock=a).returncode == 0
    h.wait_for(lambda: sorted(got(outs)) == ["z:plain", "z:two\\nlines"],
               what="the mapped events")


def case_pipeline_map_killed(h):
    """The map process killed mid-stream: restarted, nothing lost."""
    _, a = stage(h, "a")
    cmd = 'sed -u "s/^/m:/"'
    mid, b = stage(h, "b", "--upstream", a, "--map", cmd)
    outs = consumers_at(h, b, 2, "--max-demand", "5", "--work-ms", "2")
    h.wait_for(lambda: stats_at(h, b)["consumers_connected"] == 2, what="ends")
    r = h.pushctl("enqueue", "-", input=b"".join(b"v%d\n" % i for i in range(1000)), sock=a)
    assert r.returncode == 0, r.stderr
    h.wait_for(lambda: len(got(outs)) >= 100, what="some to arrive")
    # The map's sh is the stage's one child.
    assert subprocess.run(["pkill", "-9", "-P", str(mid.pid)]).returncode == 0
    h.wait_for(lambda: set(got(outs)) >= {"m:v%d" % i for i in range(1000)},
               timeout=60, what="all 1,000 after the map died")
    assert stats_at(h, b)["map_restarts_total"] >= 1


DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs",
                   "protocol.md")


# ---------------------------------------------------------------- the journal


def segments(data):
    return sorted(f for f in os.listdir(data) if f.endswith(".seg"))


def restart(h, *args):
    """SIGTERM the daemon (it must exit 0) and start it again with args."""
    h.daemon.send_signal(signal.SIGTERM)
    assert h.daemon.wait(timeout=10) == 0
    return h.start_daemon(*args)


def crash(h):
    h.daemon.kill()
    h.daemon.wait()
    # Its consumer processes exit 1, the daemon gone: waited for here, not
    # left to the cleanup's SIGTERM (under the sanitizers they take a
    # while to exit, and would still be running then).
    for p in [p for p in h.procs if p.args[0] == CONSUMER and
              h.sock in p.args and p is not h.daemon]:
        p.wait(timeout=60)
        h.procs.remove(p)
        if p.stderr:
            p.stderr.close()


def case_journal_restart_keeps_pending_in_order(h):
    """kill -9 with events buffered and in flight: after the restart the
    unacked ones come back in id order with their attempts, the acked do
    not, and ids go on where they were."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--drain-timeout", "0")
    h.start_daemon(*args)
    r = h.pushctl("enqueue", "-", input=b"".join(b"e%d\n" % i for i in range(1, 21)))
    assert r.returncode == 0 and r.stdout == b"enqueued 20 events: ids 1-20\n", r
    a = Raw(h.sock)
    consumer_hello(a, b"a", 5)
    a.send(demand(5))
    assert [i for i, _, _ in a.events_full(want=5)] == [1, 2, 3, 4, 5]
    a.send(ids(ACK, 1, 3))
    h.wait_for(lambda: h.stats()["acked_total"] == 2, what="two acks")
    crash(h)
    a.close()

    h.start_daemon(*args)
    st = h.stats()
    assert st["queued"] == 18 and st["journal_replayed"] == 18, st
    b = Raw(h.sock)
    consumer_hello(b, b"b", 100)
    b.send(demand(100))
    got = b.events_full(want=18)
    assert [i for i, _, _ in got] == [2, 4] + list(range(5, 21)), got
    assert [p for _, _, p in got] == [b"e%d" % i for i in [2, 4] + list(range(5, 21))]
    assert [att for _, att, _ in got] == [2, 2, 2] + [1] * 15, got
    b.send(ids(ACK, *[i for i, _, _ in got]))
    h.wait_for(lambda: h.stats()["acked_total"] == 18, what="18 acks")
    b.close()
    restart(h, *args)
    st = h.stats()
    assert st["queued"] == 0 and st["journal_replayed"] == 0, st
    r = h.pushctl("enqueue", "next")
    assert r.stdout == b"enqueued 1 event: id 21\n", r
    assert segments(data) == ["00000003.seg"], segments(data)


def case_journal_dead_letters_survive(h):
    """Dead letters are kept across a restart, payload and all, and can be
    retried after it."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data, "--max-attempts", "1")
    assert h.pushctl("enqueue", "poison").returncode == 0
    a = Raw(h.sock)
    consumer_hello(a, b"a", 1)
    a.send(demand(1))
    assert a.events(want=1) == [b"poison"]
    a.send(ids(NACK, 1))
    h.wait_for(lambda: h.stats()["dead"] == 1, what="the event to die")
    a.close()
    restart(h, "--data-dir", data, "--max-attempts", "1")
    r = h.pushctl("dead", "list", "--json")
    assert json.loads(r.stdout)["events"] == [
        {"id": 1, "attempts": 1, "reason": "nack", "bytes": 6,
         "preview": "poison", "error": None}], r.stdout
    assert h.pushctl("dead", "retry", "1").returncode == 0
    restart(h, "--data-dir", data, "--max-attempts", "1")
    st = h.stats()
    assert st["dead"] == 0 and st["queued"] == 1, st


def case_journal_torn_tail_and_corruption(h):
    """A record cut short at the end is cut off with a warning; a bad
    record in the middle stops the start naming file and offset, and
    --repair keeps the intact records."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data)
    for e in ("one", "two", "three"):      # a record each
        assert h.pushctl("enqueue", e).returncode == 0
    crash(h)
    seg = os.path.join(data, "00000001.seg")
    size = os.path.getsize(seg)
    os.truncate(seg, size - 2)
    h.start_daemon("--data-dir", data)
    st = h.stats()
    assert st["queued"] == 2, st
    log = open(os.path.join(h.dir, "producerd.log")).read()
    assert "00000001.seg: cut 31 bytes at offset %d" % (size - 33) in log, log
    crash(h)

    with open(seg, "r+b") as f:              # the first record's payload
        f.seek(40 + 16 + 8 + 4)
        f.write(b"X")
    r = subprocess.run([PRODUCERD, "--socket", h.sock, "--data-dir", data],
                       capture_output=True, timeout=10)
    assert r.returncode == 1, r
    assert (seg + ": bad record at offset 40: bad checksum").encode() in r.stderr, r.stderr
    assert b"--repair" in r.stderr, r.stderr
    h.start_daemon("--data-dir", data, "--repair")
    st = h.stats()
    assert st["queued"] == 1, st
    b = Raw(h.sock)
    consumer_hello(b, b"b", 10)
    b.send(demand(10))
    assert b.events(want=1) == [b"two"]
    log = open(os.path.join(h.dir, "producerd.log")).read()
    assert "--repair dropped 31 bytes at offset 40 (bad checksum)" in log, log
    b.close()

    # A flipped byte in the last record of the newest segment: corrupt,
    # not torn; an acknowledged event is never cut with a warning.
    crash(h)
    h.start_daemon("--data-dir", data)
    assert h.pushctl("enqueue", "last").returncode == 0
    crash(h)
    newest = os.path.join(data, sorted(f for f in os.listdir(data) if f.endswith(".seg"))[-1])
    with open(newest, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        f.write(b"X")
    r = subprocess.run([PRODUCERD, "--socket", h.sock, "--data-dir", data],
                       capture_output=True, timeout=10)
    assert r.returncode == 1 and b"bad checksum" in r.stderr, r


def fill(path):
    """Take every free byte of path's file system with one file."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            st = os.statvfs(path)
            free = st.f_bavail * st.f_frsize
            if free == 0:
                break
            try:
                os.posix_fallocate(fd, os.fstat(fd).st_size, free)
            except OSError:
                os.posix_fallocate(fd, os.fstat(fd).st_size, st.f_frsize)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def case_journal_disk_full(h):
    """A full disk: the daemon keeps serving, refuses ENQUEUEs with an
    ERROR naming the cause, takes acks, restarts in that state, and takes
    events again by itself once there is room."""
    if os.geteuid() != 0:
        sys.exit(77)        # mounting a small file system needs root
    disk = h.mount_tmpfs("disk", "16m")
    data = os.path.join(disk, "data")
    h.start_daemon("--data-dir", data)
    assert os.path.getsize(os.path.join(data, "reserve")) == 4 << 20
    filler = fill(disk)
    # The write (past the segment's last page) fails, the reserve is
    # given back, and x is kept: exit 0.
    r = h.pushctl("enqueue", "x" * 10000)
    assert r.returncode == 0, r
    st = h.stats()
    assert st["journal_full"] == 1 and st["journal_full_total"] == 1, st
    assert not os.path.exists(os.path.join(data, "reserve"))
    r = h.pushctl("enqueue", "y")
    assert r.returncode == 75, r
    assert b"journal: no space left on device in %s" % data.encode() in r.stderr, r.stderr
    assert h.stats()["rejected_total"] == 0
    # Consumers are served, and their acks are kept.
    c = Raw(h.sock)
    consumer_hello(c, b"drain", 10)
    c.send(demand(10))
    (eid, _, payload), = c.events_full(want=1, timeout=10)
    assert payload == b"x" * 10000
    c.send(ids(ACK, eid))
    h.wait_for(lambda: h.stats()["acked_total"] == 1, what="the ack")
    c.close()
    # Stopped and started while full: it starts, refusing events.
    h.daemon.send_signal(signal.SIGTERM)
    assert h.daemon.wait(timeout=10) == 0
    h.start_daemon("--data-dir", data)
    st = h.stats()
    assert st["journal_full"] == 1 and st["queued"] == 0, st
    assert h.pushctl("enqueue", "z").returncode == 75
    # Room again: the reserve is taken back and events go in.
    os.unlink(filler)
    h.wait_for(lambda: h.stats()["journal_full"] == 0, what="room again")
    assert os.path.getsize(os.path.join(data, "reserve")) == 4 << 20
    r = h.pushctl("enqueue", "after")
    assert r.returncode == 0, r
    log = open(os.path.join(h.dir, "producerd.log")).read()
    assert "journal: room again" in log, log


def case_journal_missing_segment(h):
    """A segment missing from the middle stops the start, naming it;
    --repair goes on and says which events were lost."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data, "--segment-size", "4096")
    for i in range(30):
        r = h.pushctl("enqueue", "-", input=b"".join(b"%d-%s\n" % (i, b"x" * 200) for _ in range(5)))
        assert r.returncode == 0, r
    crash(h)
    segs = sorted(f for f in os.listdir(data) if f.endswith(".seg"))
    assert len(segs) >= 4, segs
    os.unlink(os.path.join(data, segs[1]))
    r = subprocess.run([PRODUCERD, "--socket", h.sock, "--data-dir", data],
                       capture_output=True, timeout=10)
    assert r.returncode == 1, r
    assert ("segment %s is missing (between %s and %s)" % (segs[1], segs[0], segs[2])).encode() \
        in r.stderr, r.stderr
    assert b"--repair" in r.stderr
    h.start_daemon("--data-dir", data, "--repair")
    st = h.stats()
    assert 0 < st["queued"] < 150, st
    log = open(os.path.join(h.dir, "producerd.log")).read()
    assert "--repair went on without segments %s to %s, which are missing: events with ids" % (
        segs[1][:-4], segs[1][:-4]) in log, log


def case_journal_segments_are_deleted(h):
    """Segments roll at --segment-size and go once their events are acked:
    disk use follows live data."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data, "--segment-size", "4096")
    for k in range(10):
        r = h.pushctl("enqueue", "-", input=b"".join(
            b"%d-%s\n" % (k * 50 + i, b"x" * 90) for i in range(50)))
        assert r.returncode == 0, r
    st = h.stats()
    assert st["segments"] >= 5 and st["segments"] == len(segments(data)), st
    sizes = sum(os.path.getsize(os.path.join(data, f)) for f in segments(data))
    assert st["journal_bytes"] == sizes, (st, sizes)
    h.consumer("a", "--max-demand", "100")
    h.wait_for(lambda: h.stats()["acked_total"] == 500, what="500 acks")
    h.wait_for(lambda: len(segments(data)) == 1, what="old segments to go")
    st = h.stats()
    assert st["segments"] == 1 and st["fsyncs_total"] > 0, st
    assert st["journal_bytes"] == os.path.getsize(
        os.path.join(data, segments(data)[0])), st


def case_journal_options_and_lock(h):
    """One daemon per data directory; bad journal options are refused with
    the value at fault; --fsync never syncs nothing."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data)
    r = subprocess.run([PRODUCERD, "--socket", h.sock + "2", "--data-dir", data],
                       capture_output=True, timeout=10)
    assert r.returncode == 1 and b"in use by another producerd (pid %d)" % \
        h.daemon.pid in r.stderr, r
    # The lock is the directory's: deleting DIR/lock frees nothing.
    os.unlink(os.path.join(data, "lock"))
    r = subprocess.run([PRODUCERD, "--socket", h.sock + "2", "--data-dir", data],
                       capture_output=True, timeout=10)
    assert r.returncode == 1 and b"in use by another producerd" in r.stderr, r
    for args, msg in [
            (["--repair"], b"give --data-dir DIR too"),
            (["--data-dir", data, "--fsync", "sometimes"], b'sometimes\\" is not'),
            (["--data-dir", data, "--fsync", "interval:0"], b"interval:MS"),
            (["--data-dir", data, "--segment-size", "100"], b"--segment-size"),
            (["--data-dir", "/etc/passwd"], b"/etc/passwd"),
            (["--data-dir", data, "--upstream", h.sock], b"--upstream"),
            (["--data-dir", ""], b"--data-dir")]:
        r = subprocess.run([PRODUCERD, "--socket", h.sock + "3"] + args,
                           capture_output=True, timeout=10)
        assert r.returncode == 1 and msg in r.stderr, (args, r)
    assert h.pushctl("enqueue", "a").returncode == 0
    st = h.stats()
    assert st["fsyncs_total"] >= 2 and st["journal_bytes"] > 40, st
    restart(h, "--data-dir", data, "--fsync", "never")
    assert h.pushctl("enqueue", "b").returncode == 0
    st = h.stats()
    assert st["fsyncs_total"] == 0 and st["queued"] == 2, st
    restart(h, "--data-dir", data, "--fsync", "always")
    assert h.pushctl("enqueue", "c", "d").returncode == 0
    st = h.stats()
    assert st["fsyncs_total"] >= 2 and st["queued"] == 4, st


def case_pushctl_consumers(h):
    """consumers: who is connected, with pid, uid and since when."""
    h.start_daemon()
    r = h.pushctl("consumers")
    assert r.returncode == 0 and r.stdout == b"no consumers connected\n", r
    before = int(time.time())
    p1, _ = h.consumer("alpha", "--max-demand", "3", "--work-ms", "60000")
    p2, _ = h.consumer("beta-worker")
    h.wait_consumers(2, total_demand=4)
    assert h.pushctl("enqueue", "x").returncode == 0
    h.wait_for(lambda: h.stats()["in_flight"] == 1, what="one in flight")
    r = h.pushctl("consumers", "--json")
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["consumers_connected"] == 2, doc
    by = {c["id"]: c for c in doc["consumers"]}
    assert set(by) == {"alpha", "beta-worker"}, doc
    assert by["alpha"]["pid"] == p1.pid and by["beta-worker"]["pid"] == p2.pid
    for c in by.values():
        assert c["uid"] == os.getuid(), c
        assert before - 2 <= c["connected_since"] <= time.time() + 2, c
    assert sum(c["in_flight"] for c in by.values()) == 1, doc
    assert sum(c["delivered"] for c in by.values()) == 1, doc
    assert sum(c["demand"] for c in by.values()) == 3, doc
    r = h.pushctl("consumers")
    text = r.stdout.decode()
    head, *rows = text.splitlines()
    assert head.split() == ["ID", "PID", "UID", "DEMAND", "IN_FLIGHT",
                            "DELIVERED", "CONNECTED", "SINCE"], text
    row = next(x for x in rows if x.startswith("alpha "))
    assert row.split()[1] == str(p1.pid), text
    assert time.strftime("%Y-%m-%d", time.localtime(by["alpha"]["connected_since"])) in row
    assert h.pushctl("consumers", "extra").returncode == 1
    assert h.pushctl("--socket", os.path.join(h.dir, "none"), "consumers").returncode == 69


def watch_pty(h, *args, rows=None):
    """pushctl watch on a pseudo-terminal: (pid, master fd)."""
    import fcntl
    import pty
    import termios
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        if rows is not None:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, 80, 0, 0))
        os.execv(PUSHCTL, [PUSHCTL, "--socket", h.sock, "watch"] + list(args))
    return pid, fd


def read_until(fd, needle, timeout=10):
    import select
    out = b""
    end = time.monotonic() + timeout
    while needle not in out and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    assert needle in out, "no %r in %r" % (needle, out[-2000:])
    return out


def wait_exit(pid, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return status
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("pushctl watch did not exit")


def case_pushctl_watch(h):
    """watch: redraws every interval with rates; q and Ctrl-C quit."""
    h.start_daemon()
    h.consumer("slowpoke", "--max-demand", "2", "--work-ms", "60000")
    h.wait_consumers(1, total_demand=2)
    assert h.pushctl("enqueue", *["e%d" % i for i in range(7)]).returncode == 0
    # Not a terminal: one plain block per interval, --count of them.
    r = subprocess.run([PUSHCTL, "--socket", h.sock, "watch", "--interval",
                        "0.2", "--count", "3"], capture_output=True, timeout=20)
    assert r.returncode == 0, r
    out = r.stdout.decode()
    assert "\033" not in out, out
    assert out.count("producerd at " + h.sock) == 3, out
    assert "queued 5 (10 B)   in flight 2   dead 0" in out, out
    assert "enqueue 0/s   deliver 0/s   ack 0/s" in out, out
    assert re.search(r"^slowpoke +0 +2 +2 +0$", out, re.M), out
    # A terminal: the screen is cleared and redrawn; q quits at once.
    pid, fd = watch_pty(h, "--interval", "0.2")
    screen = read_until(fd, b"slowpoke")
    assert screen.startswith(b"\033[H\033[2J"), screen[:40]
    read_until(fd, b"\033[H\033[2J")          # a second screen came
    os.write(fd, b"q")
    status = wait_exit(pid)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    os.close(fd)
    # Ctrl-C (the terminal's interrupt character) quits too, with 0.
    pid, fd = watch_pty(h)
    read_until(fd, b"slowpoke")
    os.write(fd, b"\x03")
    status = wait_exit(pid)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    os.close(fd)
    # Rates: 1000 events enqueued between two screens are 1000/interval.
    pid, fd = watch_pty(h, "--interval", "1")
    read_until(fd, b"slowpoke")
    assert h.pushctl("enqueue", *["r%d" % i for i in range(1000)]).returncode == 0
    # On a busy machine the 1000 may fall across two screens: add the
    # rates up until a screen shows none again.
    screen, rates = b"", []
    while not rates or rates[-1] != 0:
        screen = read_until(fd, b"\033[H\033[2J", timeout=20)
        for r in re.findall(rb"enqueue (\d+)/s", screen):
            if rates or int(r) != 0:
                rates.append(int(r))
    assert 500 <= sum(rates) <= 1100, (rates, screen[-600:])
    os.write(fd, b"Q")
    assert wait_exit(pid) == 0
    os.close(fd)
    r = subprocess.run([PUSHCTL, "--socket", h.sock, "watch", "--interval",
                        "0.01"], capture_output=True, timeout=20)
    assert r.returncode == 1 and b"--interval" in r.stderr, r
    r = subprocess.run([PUSHCTL, "--socket", h.sock, "watch", "--count", "0"],
                       capture_output=True, timeout=20)
    assert r.returncode == 1 and b"--count" in r.stderr, r
    # A short terminal: the consumers that fit, then how many did not.
    for i in range(4):
        h.consumer("c%d" % i)
    h.wait_consumers(5)
    pid, fd = watch_pty(h, rows=12)
    screen = read_until(fd, b"more)")
    screen = screen[screen.rindex(b"\033[H\033[2J") + 7:].decode()
    lines = screen.replace("\r", "").splitlines()
    assert len(lines) <= 12 and lines[-1] == "(3 more)", lines
    assert len([x for x in lines if re.match(r"^(slowpoke|c\d) ", x)]) == 2, lines
    os.write(fd, b"q")
    assert wait_exit(pid) == 0
    os.close(fd)
    pid, fd = watch_pty(h, rows=6)              # not even the header fits
    screen = read_until(fd, b"more)")
    assert b"(5 more)" in screen and not re.search(rb"\nc\d ", screen), screen
    os.write(fd, b"q")
    assert wait_exit(pid) == 0
    os.close(fd)


def listening_at(path):
    """Whether a socket listens at path, read from /proc/net/unix (its
    flags hold __SO_ACCEPTCON), not by connecting: a connect to an
    activation socket starts the service.  The file exists from bind(),
    before listen(), so its existence is not the sign."""
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == path and int(fields[3], 16) & 0x10000:
                return True
    return False


def case_socket_activation(h):
    """systemd-socket-activate -l PATH producerd: it serves that socket."""
    activate = shutil.which("systemd-socket-activate")
    assert activate, "systemd-socket-activate is missing (apt-get install systemd)"
    log = os.path.join(h.dir, "producerd.log")
    with open(log, "ab") as f:
        p = subprocess.Popen([activate, "-l", h.sock, PRODUCERD, "--socket",
                              os.path.join(h.dir, "ignored.sock")],
                             stdout=subprocess.DEVNULL, stderr=f)
    h.procs.append(p)
    h.wait_for(lambda: listening_at(h.sock), what="the activation socket")
    # The first connection starts producerd on the socket it was given.
    r = h.pushctl("enqueue", "via", "systemd")
    assert r.returncode == 0 and b"ids 1-2" in r.stdout, r
    out = os.path.join(h.dir, "c.out")
    h.spawn([CONSUMER, "--socket", h.sock, "--id", "a", "--max-demand", "5"], out=out)
    h.wait_for(lambda: len(lines(out)) == 4, what="both events handled")
    assert [e for _, w, e in received(out) if w == "finished"] == ["via", "systemd"]
    text = open(log).read()
    assert "listening on %s (from systemd)" % h.sock in text, text
    assert not os.path.exists(os.path.join(h.dir, "ignored.sock"))
    for q in h.procs[1:]:
        q.send_signal(signal.SIGTERM)
        q.wait(timeout=10)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0
    # systemd made the socket file; producerd leaves it to systemd.
    assert stat.S_ISSOCK(os.stat(h.sock).st_mode)
    # LISTEN_FDS meant for another process is not ours.
    env = dict(os.environ, LISTEN_PID="1", LISTEN_FDS="1")
    d = subprocess.Popen([PRODUCERD, "--socket", h.sock + "2"], env=env,
                         stderr=subprocess.PIPE)
    h.procs.append(d)
    # Answered, not connectable: its socket listens before its signal
    # handlers are set, and a SIGTERM in between kills it (-15; seen
    # under the sanitizers beside stress-ng).
    h.wait_for(lambda: h.answering_at(h.sock + "2"), what="own socket")
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=10) == 0


def case_socket_activation_two_sockets(h):
    """Two sockets, or a datagram one, from systemd: a clear refusal, exit 1."""
    activate = shutil.which("systemd-socket-activate")
    assert activate, "systemd-socket-activate is missing (apt-get install systemd)"
    p = subprocess.Popen([activate, "-l", h.sock, "-l", h.sock + "b", PRODUCERD],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    h.wait_for(lambda: listening_at(h.sock) and listening_at(h.sock + "b"),
               what="the sockets")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(h.sock)
    assert p.wait(timeout=10) == 1
    err = p.stderr.read()
    p.stderr.close()
    s.close()
    assert b"LISTEN_FDS=2" in err and b"exactly one socket" in err, err
    # A datagram socket is not one producerd can serve.
    dg = h.sock + "d"
    p = subprocess.Popen([activate, "--datagram", "-l", dg, PRODUCERD],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    h.wait_for(lambda: os.path.exists(dg), what="the datagram socket")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"hello", dg)
    assert p.wait(timeout=10) == 1
    err = p.stderr.read()
    p.stderr.close()
    s.close()
    assert b"not a listening Unix stream socket" in err, err


def case_log_formats_and_reopen(h):
    """--log-format text|json, --log-file, and SIGHUP to reopen it."""
    logfile = os.path.join(h.dir, "d.log")
    p = subprocess.Popen([PRODUCERD, "--socket", h.sock, "--log-file", logfile,
                          "--log-format", "json", "--log-level", "debug"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    h.procs.append(p)
    h.wait_for(h.connectable, what="producerd")
    assert h.pushctl("enqueue", 'a "quoted"\nevent').returncode == 0
    h.wait_for(lambda: os.path.exists(logfile) and b"closed" in open(logfile, "rb").read(),
               what="log lines")
    recs = [json.loads(x) for x in open(logfile)]
    assert all(set(r) == {"time", "level", "prog", "pid", "msg"} for r in recs), recs
    assert recs[0]["level"] == "info" and recs[0]["prog"] == "producerd"
    assert recs[0]["pid"] == p.pid and "listening on " + h.sock in recs[0]["msg"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", recs[0]["time"])
    assert any(r["level"] == "debug" for r in recs), recs
    # logrotate moves the file, then sends SIGHUP: new lines, new file.
    os.rename(logfile, logfile + ".1")
    p.send_signal(signal.SIGHUP)
    h.wait_for(lambda: os.path.exists(logfile), what="the reopened log")
    assert h.pushctl("stats").returncode == 0
    h.wait_for(lambda: b"closed" in open(logfile, "rb").read(), what="lines in the new file")
    first = json.loads(open(logfile).readline())
    assert first["msg"] == "log file %s reopened" % logfile, first
    old = open(logfile + ".1").read()
    assert "reopened" not in old
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0
    assert p.stderr.read() == b""          # everything went to the file
    p.stderr.close()
    # text: key=value, the message quoted with \" and \n escaped.
    p = h.start_daemon("--log-format", "text", "--log-level", "debug")
    h.consumer("k", "--log-format", "json")
    h.wait_consumers(1)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0
    text = open(os.path.join(h.dir, "producerd.log")).read().splitlines()
    for line in text:
        assert re.match(r'^time=\S+ level=(error|warning|info|debug) '
                        r'prog=producerd pid=%d msg=".*"$' % p.pid, line), line
    assert any('msg="#' in x and "consumer k " in x for x in text), text
    # The consumer: its log lines to the file, SIGHUP reopens it there too.
    h.start_daemon()
    clog = os.path.join(h.dir, "c.log")
    c = h.spawn([CONSUMER, "--socket", h.sock, "--id", "c", "--log-file", clog,
                 "--exec", "exit 3"], out=os.path.join(h.dir, "c.out"))
    h.wait_consumers(1)
    assert h.pushctl("enqueue", "x").returncode == 0
    h.wait_for(lambda: os.path.exists(clog) and b"status 3" in open(clog, "rb").read(),
               what="the consumer's warning")
    assert re.match(r'^time=\S+ level=warning prog=consumer pid=%d msg="event 1 '
                    r'\(attempt 1\): command exited with status 3"$' % c.pid,
                    open(clog).readline()), open(clog).read()
    os.rename(clog, clog + ".1")
    c.send_signal(signal.SIGHUP)
    # The file is made before the line is written in it: wait for the line.
    h.wait_for(lambda: os.path.exists(clog) and
               "log file %s reopened" % clog in open(clog).read(),
               what="the consumer's new log to say it was reopened")
    c.send_signal(signal.SIGTERM)
    assert c.wait(timeout=10) == 0
    assert c.stderr.read() == b""
    for prog in (PRODUCERD, CONSUMER, PUSHCTL):
        bad = subprocess.run([prog, "--log-format", "xml"], capture_output=True)
        assert bad.returncode == 1 and b"--log-format: " in bad.stderr, bad
        assert b"xml" in bad.stderr, bad
        bad = subprocess.run([prog, "--log-level", "loud"], capture_output=True)
        assert bad.returncode == 1 and b"--log-level: " in bad.stderr, bad
        assert b"loud" in bad.stderr, bad
    bad = subprocess.run([PRODUCERD, "--socket", h.sock, "--log-file",
                          "/nonexistent/dir/log"], capture_output=True)
    assert bad.returncode == 1 and b"/nonexistent/dir/log" in bad.stderr, bad
    bad = subprocess.run([CONSUMER, "--id", "x", "--log-file", "/nonexistent/x.log"],
                         capture_output=True)
    assert bad.returncode == 1 and b"/nonexistent/x.log" in bad.stderr, bad


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def case_metrics(h):
    """--metrics serves /metrics in Prometheus text format."""
    import urllib.error
    import urllib.request
    port = free_port()
    h.start_daemon("--metrics", "127.0.0.1:%d" % port, "--max-queue", "3")
    h.consumer('odd"id', "--max-demand", "2", "--work-ms", "60000")
    h.wait_consumers(1, total_demand=2)
    assert h.pushctl("enqueue", "a", "b", "c", "d", "e", "f").returncode == 75
    url = "http://127.0.0.1:%d/metrics" % port
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        body = r.read().decode()
    values = {}
    for line in body.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) pushstage_\w+ ", line), line
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value) if "_seconds" in name else int(value)
    # Demand is served first (2 go out), then 3 fill the buffer; 1 refused.
    # A queue's counters carry its name; the daemon's have no label.
    q = '{queue="default"}'
    assert values["pushstage_enqueued_total" + q] == 5, body
    assert values["pushstage_queued" + q] == 3 and values["pushstage_in_flight" + q] == 2, body
    assert values["pushstage_rejected_total" + q] == 1, body
    assert values["pushstage_delivered_total" + q] == 2, body
    for n in ("acked_total", "redelivered_total", "shed_total", "dead_total", "dead"):
        assert "pushstage_" + n + q in values, n
    assert values["pushstage_consumers"] == 1
    assert values["pushstage_queue_consumers" + q] == 1
    assert values["pushstage_queues"] == 1
    # One table feeds both: every counter but the settings is a metric.
    renamed = {"consumers_connected": "consumers", "clients_connected": "clients",
               "refused_total": "refused_connections_total"}
    for name, value in h.stats().items():
        if isinstance(value, int) and name not in ("max_frame", "max_queue", "max_queues",
                                                   "max_queue_bytes", "max_memory",
                                                   "max_schedules", "uptime_seconds"):
            m = "pushstage_" + renamed.get(name, name)
            assert m in values or m + q in values, name
    (k,) = [k for k in values if k.startswith("pushstage_consumer_in_flight{")]
    assert k.startswith('pushstage_consumer_in_flight{queue="default",consumer="odd\\"id",conn="'), k
    assert values[k] == 2
    assert "# TYPE pushstage_enqueued_total counter" in body
    assert "# TYPE pushstage_queued gauge" in body
    for path, code in (("/nothing", 404), ("/metricsx", 404)):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5)
            raise AssertionError("no error for " + path)
        except urllib.error.HTTPError as e:
            assert e.code == code, (path, e.code)
    # A junk request harms nothing: the daemon still answers.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"\x00\xff" * 5000 + b"\r\n\r\n")
    s.close()
    assert h.stats()["queued"] == 3
    for bad in ("9464", "localhost:", "127.0.0.1:99999", "[::1:80"):
        r = subprocess.run([PRODUCERD, "--socket", h.sock + "2", "--metrics", bad],
                           capture_output=True, timeout=10)
        assert r.returncode == 1 and b"--metrics" in r.stderr, (bad, r)
    r = subprocess.run([PRODUCERD, "--socket", h.sock + "2", "--metrics",
                        "127.0.0.1:%d" % port], capture_output=True, timeout=10)
    assert r.returncode == 1 and b"cannot listen" in r.stderr, r
    assert not os.path.exists(h.sock + "2")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def case_out_of_descriptors(h):
    """At EMFILE the daemon sheds waiting peers and backs off: it does not
    spin, floods no log, and serves again once descriptors come back."""
    import resource
    import select

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))
    errlog = os.path.join(h.dir, "producerd.log")
    with open(errlog, "ab") as log:
        p = subprocess.Popen([PRODUCERD, "--socket", h.sock], stdout=subprocess.DEVNULL,
                             stderr=log, preexec_fn=low_limit)
    h.procs.append(p)
    h.daemon = p
    h.wait_for(h.connectable, what="producerd to listen")
    raws = [Raw(h.sock) for _ in range(60)]

    def closed():
        r, _, _ = select.select([x.s for x in raws], [], [], 0)
        return [x for x in raws if x.s in r and x.recv(0.1) is None]
    h.wait_for(lambda: len(closed()) >= 1, what="a peer to be shed")
    t0, c0 = time.monotonic(), cpu_seconds(p.pid)
    h.wait_for(lambda: len(closed()) >= 3, what="three peers to be shed")
    t1, c1 = time.monotonic(), cpu_seconds(p.pid)
    # Spinning on accept took a whole core; backing off takes next to none.
    assert c1 - c0 < 0.3 * (t1 - t0) + 0.05, (c1 - c0, t1 - t0)
    for x in raws:
        x.close()
    h.wait_for(lambda: h.pushctl("stats").returncode == 0, what="service again")
    st = h.stats()
    assert st["shed_connections_total"] >= 3, st
    with open(errlog) as f:
        warnings = [l for l in f if "accept: Too many open files" in l]
    assert 1 <= len(warnings) <= t1 - t0 + 3, len(warnings)
    assert "refusing connections for 100 ms" in warnings[0], warnings[0]


def case_metrics_connection_limit(h):
    """--metrics-max-connections: idle HTTP connections cannot hold more;
    a scrape waits for one to close, then is served."""
    import threading
    import urllib.request
    port = free_port()
    h.start_daemon("--metrics", "127.0.0.1:%d" % port, "--metrics-max-connections", "2")
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    h.wait_for(lambda: h.stats()["metrics_connections"] == 2, what="2 HTTP connections")
    done = []

    def scrape():
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30) as r:
            done.append(r.status)
    t = threading.Thread(target=scrape)
    t.start()
    assert h.stats()["metrics_connections"] == 2
    assert not done
    idle[0].close()
    t.join(timeout=30)
    assert done == [200], done
    idle[1].close()
    h.wait_for(lambda: h.stats()["metrics_connections"] == 0, what="all HTTP connections closed")
    with open(os.path.join(h.dir, "producerd.log")) as f:
        assert "at most 2 connections" in f.read()
    r = subprocess.run([PRODUCERD, "--socket", h.sock + "2", "--metrics-max-connections", "0"],
                       capture_output=True, timeout=10)
    assert r.returncode == 1 and b"--metrics-max-connections" in r.stderr, r


def http_call(port, method, path, body=None, headers=None, raw=False):
    """(status, headers, parsed JSON or bytes) of one HTTP request."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        ctype = r.getheader("Content-Type") or ""
        if not raw and ctype.startswith("application/json"):
            return r.status, r, json.loads(data)
        return r.status, r, data
    finally:
        c.close()


def token_file(h, token="t0ken-0123456789abcdef", mode=0o600):
    path = os.path.join(h.dir, "token")
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, mode)
    return path


def case_http_api(h):
    """--http: the JSON API lists queues, consumers and dead letters with
    every value escaped; changes need the token and a same-site Origin;
    bad requests get a JSON 4xx and change nothing."""
    port = free_port()
    tok = "t0ken-0123456789abcdef"
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--http-token-file",
                   token_file(h, tok), "--max-attempts", "1")
    auth = {"Authorization": "Bearer " + tok}
    evil = '"><img src=x onerror=alert(1)>'
    p, _ = h.consumer(evil, "--queue", "jobs", "--exec", "false")
    h.wait_consumers(1)
    payloads = [b"<script>alert(1)</script>", evil.encode(), b"\x01\xff\x02",
                "h\u00e9llo".encode()]
    r = h.pushctl("enqueue", "--queue", "jobs", "-", input=b"\n".join(payloads) + b"\n")
    assert r.returncode == 0, r
    h.wait_for(lambda: h.stats_of("jobs")["dead"] == 4, what="4 dead events")

    st, r, body = http_call(port, "GET", "/api/v1/queues", raw=True)
    assert st == 200 and r.getheader("Content-Type") == "application/json", (st, body)
    over = json.loads(body)
    (q,) = [q for q in over["queues"] if q["name"] == "jobs"]
    assert q["dead"] == 4 and q["consumers"] == 1 and q["dead_total"] == 4, q
    assert over["writable"] is True and over["daemon"]["consumers_connected"] == 1, over
    # The same numbers as STATS: one table behind both.
    for name, value in h.stats_of("jobs").items():
        # The API's "groups" is the list of names; the count is "ngroups".
        name_here = {"groups": "ngroups"}.get(name, name)
        if isinstance(value, int) and name not in ("uptime_seconds",) and name_here in q:
            assert q[name_here] == value, (name, q[name_here], value)
    st, _, sub = http_call(port, "GET", "/api/v1/queues?fields=queued,dead")
    assert st == 200 and set(sub["queues"][0]) == {"name", "groups", "queued", "dead"}, sub

    # Names and payloads come back intact, and no raw < in any body.
    st, _, raw = http_call(port, "GET", "/api/v1/consumers", raw=True)
    assert st == 200 and b"<" not in raw and b">" not in raw, raw
    (c,) = json.loads(raw)["consumers"]
    assert c["id"] == evil and c["queue"] == "jobs" and c["group"] == "", c
    assert c["pid"] == p.pid, c
    st, _, raw = http_call(port, "GET", "/api/v1/queues/jobs/dead", raw=True)
    assert st == 200 and b"<" not in raw, raw
    dead = json.loads(raw)
    assert dead["dead"] == 4, dead
    got = {e["id"]: e for e in dead["entries"]}
    previews = [(e["preview"], e["preview_encoding"]) for e in dead["entries"]]
    assert previews == [("<script>alert(1)</script>", "text"), (evil, "text"),
                        ("01ff02", "hex"), ("h\u00e9llo", "text")], previews
    assert all(e["reason"] == "nack" and e["attempts"] == 1 for e in got.values()), got
    st, _, d2 = http_call(port, "GET", "/api/v1/queues/jobs/dead?limit=1&preview=3")
    assert st == 200 and len(d2["entries"]) == 1 and d2["entries"][0]["preview"] == "<sc", d2
    assert d2["entries"][0]["truncated"] is True, d2
    st, _, qd = http_call(port, "GET", "/api/v1/queues/jobs")
    assert st == 200 and qd["settings"]["max-attempts"] == "1" and qd["consumers"][0]["id"] == evil, qd

    # Changes: no token, a wrong one, another site's page: refused.
    for hdrs, code in (({}, 401), ({"Authorization": "Bearer nope"}, 401),
                       ({"Authorization": "Basic " + tok}, 401),
                       (dict(auth, Origin="http://evil.example"), 403)):
        st, r, err = http_call(port, "POST", "/api/v1/queues/jobs/pause", b"", hdrs)
        assert st == code and "error" in err, (hdrs, st, err)
        if code == 401:
            assert r.getheader("WWW-Authenticate").startswith("Bearer"), hdrs
    assert h.stats_of("jobs")["paused"] == 0
    same = dict(auth, Origin="http://127.0.0.1:%d" % port)
    st, _, res = http_call(port, "POST", "/api/v1/queues/jobs/pause", b"", same)
    assert st == 200 and res == {"queue": "jobs", "paused": True}, res
    assert h.stats_of("jobs")["paused"] == 1
    st, _, res = http_call(port, "POST", "/api/v1/queues/jobs/resume", b"", auth)
    assert st == 200 and res["paused"] is False and h.stats_of("jobs")["paused"] == 0, res

    # Retry one dead letter (its consumer gone, it waits on the queue).
    p.kill()
    p.wait()
    h.wait_consumers(0)
    first = dead["entries"][0]["id"]
    st, _, res = http_call(port, "POST", "/api/v1/queues/jobs/dead/retry",
                           json.dumps({"ids": [first, 999999]}).encode(), auth)
    assert st == 200 and res == {"queue": "jobs", "group": "", "retried": 1}, res
    s = h.stats_of("jobs")
    assert s["dead"] == 3 and s["queued"] == 1, s
    r = h.pushctl("dead", "list", "--queue", "jobs", "--json")
    assert [e["id"] for e in json.loads(r.stdout)["events"]] == sorted(got)[1:], r.stdout

    # Bad requests: the right 4xx, a JSON error, and nothing changed.
    bad = [("GET", "/api/v1/nothing", None, 404), ("GET", "/api/v1/queues/nope", None, 404),
           ("GET", "/api/v1/queues/nope/dead", None, 404),
           ("GET", "/api/v1/queues/bad%20name", None, 400),
           ("GET", "/api/v1/queues/jobs/bogus", None, 404),
           ("POST", "/api/v1/queues", b"", 405), ("DELETE", "/api/v1/queues/jobs", None, 405),
           ("GET", "/api/v1/queues/jobs/purge", None, 405),
           ("PUT", "/api/v1/queues/jobs/purge", b"", 405),
           ("POST", "/api/v1/queues/jobs/dead/drop", b"{ids:[1]}", 400),
           ("POST", "/api/v1/queues/jobs/dead/drop", b'{"ids":[1,]}', 400),
           ("POST", "/api/v1/queues/jobs/dead/drop", b'{"ids":[1]} x', 400),
           ("POST", "/api/v1/queues/jobs/dead/drop", b'{"other":1}', 400),
           ("POST", "/api/v1/queues/jobs/dead/drop", b'{"ids":[99999999999999999999]}', 400),
           ("POST", "/api/v1/queues/jobs/dead/drop?group=nope", b"", 404),
           ("GET", "/api/v1/queues?fields=queued,bogus", None, 400),
           ("GET", "/api/v1/queues/jobs/dead?limit=x", None, 400),
           ("GET", "/api/v1/queues/jobs/dead?limit=100000", None, 400),
           ("POST", "/metrics", b"", 405), ("GET", "/nothing.js", None, 404)]
    for method, path, body, code in bad:
        st, r, err = http_call(port, method, path, body, auth)
        assert st == code and isinstance(err, dict) and err.get("error"), (method, path, st, err)
    st, _, _ = http_call(port, "POST", "/api/v1/queues/jobs/dead/drop",
                         b"[" + b"1," * 40000 + b"1]", auth)
    assert st == 413, st
    s = h.stats_of("jobs")
    assert s["dead"] == 3 and s["queued"] == 1 and s["paused"] == 0, s

    st, _, res = http_call(port, "POST", "/api/v1/queues/jobs/dead/drop", b"", auth)
    assert st == 200 and res["dropped"] == 3 and h.stats_of("jobs")["dead"] == 0, res
    st, _, res = http_call(port, "POST", "/api/v1/queues/jobs/purge", b"{}", auth)
    assert st == 200 and res == {"queue": "jobs", "purged": 1}, res
    assert h.stats_of("jobs")["queued"] == 0

    # The page, its script and style; then /metrics as before.
    st, r, page = http_call(port, "GET", "/")
    assert st == 200 and b"/app.js" in page and "script-src 'self'" in r.getheader(
        "Content-Security-Policy"), page[:200]
    for path in ("/app.js", "/style.css"):
        assert http_call(port, "GET", path)[0] == 200, path
    st, _, m = http_call(port, "GET", "/metrics")
    assert st == 200 and b'pushstage_dead_total{queue="jobs"} 4' in m, m[:300]
    # A Host not of loopback (DNS rebinding) is refused, even for reads.
    st, _, err = http_call(port, "GET", "/api/v1/queues", headers={"Host": "evil.example"})
    assert st == 403 and "Host" in err["error"], err
    # The ring of samples fills; an idle connection is closed after 10 s.
    idle = socket.create_connection(("127.0.0.1", port))
    idle.settimeout(30)
    start = time.monotonic()
    assert idle.recv(1) == b""
    assert 5 < time.monotonic() - start < 25
    idle.close()
    h.wait_for(lambda: len(http_call(port, "GET", "/api/v1/history")[2]["queues"][0]["queued"]) >= 1,
               timeout=30, what="a sample in the history ring")
    st, _, hist = http_call(port, "GET", "/api/v1/history?queue=jobs")
    assert hist["interval_ms"] == 10000 and [q["name"] for q in hist["queues"]] == ["jobs"], hist


def case_http_options(h):
    """--http is refused on a non-loopback address without a token, and a
    token file others may read, or too short, or missing, is refused."""
    port = free_port()
    sock = h.sock + "2"

    def run(*args):
        return subprocess.run([PRODUCERD, "--socket", sock] + list(args),
                              capture_output=True, timeout=10)
    r = run("--http", "0.0.0.0:%d" % port)
    assert r.returncode == 1 and b"not a loopback address" in r.stderr, r
    r = run("--http", "127.0.0.1:%d" % port, "--http-token-file", token_file(h, mode=0o644))
    assert r.returncode == 1 and b"chmod 600" in r.stderr and b"0644" not in r.stderr[:0], r
    r = run("--http", "127.0.0.1:%d" % port, "--http-token-file", token_file(h, "short"))
    assert r.returncode == 1 and b"16 to 256 bytes" in r.stderr, r
    missing = os.path.join(h.dir, "missing")
    r = run("--http", "127.0.0.1:%d" % port, "--http-token-file", missing)
    assert r.returncode == 1 and missing.encode() in r.stderr, r
    r = run("--http-token-file", token_file(h))
    assert r.returncode == 1 and b"give --http" in r.stderr, r
    r = run("--http", "nonsense")
    assert r.returncode == 1 and b"--http" in r.stderr and b"ADDRESS:PORT" in r.stderr, r
    r = run("--help")
    assert r.returncode == 0 and b"--http-token-file" in r.stdout, r
    # Without a token file the API is read-only, and says so.
    h.start_daemon("--http", "127.0.0.1:%d" % port)
    st, _, over = http_call(port, "GET", "/api/v1/queues")
    assert st == 200 and over["writable"] is False, over
    assert h.pushctl("enqueue", "x").returncode == 0
    st, _, err = http_call(port, "POST", "/api/v1/queues/default/purge", b"",
                           {"Authorization": "Bearer whatever-it-is-123"})
    assert st == 403 and "read-only" in err["error"], err
    assert h.stats()["queued"] == 1


def case_http_token_reload(h):
    """SIGHUP reads --http-token-file again: the new token works, the old
    one no longer does; a file no longer good is logged and the token in
    use stays."""
    port = free_port()
    old, new = "old-t0ken-0123456789", "new-t0ken-9876543210"
    path = token_file(h, old)
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--http-token-file", path)
    log = os.path.join(h.dir, "producerd.log")
    purge = lambda tok: http_call(port, "POST", "/api/v1/queues/default/purge", b"",
                                  {"Authorization": "Bearer " + tok})[0]
    assert h.pushctl("enqueue", "x").returncode == 0
    assert purge(old) == 200 and purge(new) == 401

    def hup_and_wait(line):
        seen = open(log, "rb").read().count(line)
        h.daemon.send_signal(signal.SIGHUP)
        h.wait_for(lambda: open(log, "rb").read().count(line) > seen, what=line)
    token_file(h, new)
    hup_and_wait(b"read again")
    assert purge(new) == 200 and purge(old) == 401
    os.chmod(path, 0o644)
    hup_and_wait(b"the token in use stays")
    assert purge(new) == 200 and purge(old) == 401
    with open(log, "rb") as f:
        assert b"chmod 600" in f.read()


def doc_exchange():
    """(peer, direction, bytes) for each line of protocol.md's exchange."""
    with open(DOC) as f:
        text = f.read()
    start = text.index("```exchange\n") + len("```exchange\n")
    steps = []
    for line in text[start:text.index("```", start)].splitlines():
        if line.startswith("#") or not line.strip():
            continue
        head, hexes = line.split(None, 1)
        steps.append((head[:-1], head[-1], bytes.fromhex(hexes)))
    return steps


def case_protocol_doc_example(h):
    """docs/protocol.md's hex exchange, replayed: the daemon answers it exactly."""
    h.start_daemon()
    steps = doc_exchange()
    assert len(steps) >= 10, steps
    peers = {}
    for who, way, data in steps:
        if who not in peers:
            peers[who] = Raw(h.sock)
        peer = peers[who]
        if way == ">":
            peer.send(data)
            continue
        want_len = HDR.unpack_from(data)[0] + HDR.size
        assert want_len == len(data), "doc frame length wrong: %s" % data.hex()
        got = peer.recv()
        assert got is not None, "%s: nothing where the doc shows %s" % (who, data.hex())
        got = HDR.pack(len(got[1]), got[0], 0, 0) + got[1]
        assert got == data, "%s got\n  %s\nthe doc shows\n  %s" % (
            who, got.hex(" "), data.hex(" "))
    assert peers["client"].recv() is None, "client not closed after ERROR"
    assert peers["consumer"].events() == [], "the consumer was sent more"
    st = h.stats()
    assert st["consumers"][0]["demand"] == 0, st
    assert st["acked_total"] == 3 and st["redelivered_total"] == 1, st
    assert st["in_flight"] == 0, st


def main(cases=None):
    """Run the case named in argv among cases (a module's globals(); this
    module's by default), so that other test files share the harness."""
    cases = globals() if cases is None else cases
    prog = os.path.basename(sys.argv[0])
    if len(sys.argv) != 2 or "case_" + sys.argv[1] not in cases:
        names = sorted(k[5:] for k in cases if k.startswith("case_"))
        print("usage: %s CASE\ncases: %s" % (prog, " ".join(names)))
        return 2
    h = Harness()
    try:
        cases["case_" + sys.argv[1]](h)
    except Exception:
        log = os.path.join(h.dir, "producerd.log")
        if os.path.exists(log):
            sys.stderr.write("--- producerd's log:\n" + open(log).read())
        raise
    finally:
        bad = h.cleanup()
    if bad:
        sys.stderr.write("\n".join(bad) + "\n")
        return 1
    print("ok " + sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
