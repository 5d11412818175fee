#!/usr/bin/env python3
"""soak-compaction.py: journal bytes over time when a few events are held
long (docs/journal.md, "Compaction").

    python3 bench/soak-compaction.py BUILD [--events N] [--delayed-every K]
        [--delay-s S] [--segment-size BYTES] [--system pushstage|beanstalkd|both]
        [--scenario mixed|delayed-first|backlog] [--held N] [--payload BYTES]

N events of 64 bytes (default 2,000,000) go in, in batches of 256; every
K-th (default 100: 1 %) is delayed by S seconds (default 3600), the rest
are consumed and acked as they come. Every half second the size of the
journal directory is sampled, with how many events are live (enqueued and
not yet acked: the delayed ones and those on their way). It prints one line
per sample and a summary: the largest journal seen, the journal at the end,
and the live data then. With --system beanstalkd (or both) the same
workload runs on beanstalkd with its binlog (-b), put with a delay, reserve
and delete, for the failure mode its users report: a delayed job keeps its
binlog file, and every later one.

Two more scenarios (issue 30), pushstage only, where the oldest segments
are all live, so that "mostly dead weight" never holds for them:
--scenario delayed-first enqueues --held events of 64 bytes (default
200,000) delayed by S seconds first, then N events of --payload bytes
(default 200) consumed and acked as they come; --scenario backlog puts
the --held events in a queue nobody consumes instead. Live data is the
held events plus those on their way, each its payload + 16 bytes.
"""
import argparse
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ENQUEUE, ENQUEUED, DEMAND, EVENT, ACK, HELLO, WELCOME = 3, 4, 5, 6, 10, 1, 2
HDR = struct.Struct(">IBBH")
PAYLOAD = 64
RECORD = PAYLOAD + 16       # a live event's bytes on disk, about: payload, length, id, attrs


def dir_bytes(path):
    total = 0
    for name in os.listdir(path):
        if name.endswith(".seg") or name.startswith("binlog."):
            try:
                total += os.stat(os.path.join(path, name)).st_size
            except FileNotFoundError:
                pass
    return total


def segments(path):
    return sum(1 for n in os.listdir(path) if n.endswith(".seg") or n.startswith("binlog."))


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = bytearray()

    def frame(self):
        while True:
            if len(self.buf) >= 8:
                n, t, _, _ = HDR.unpack_from(self.buf)
                if len(self.buf) >= 8 + n:
                    body = bytes(self.buf[8:8 + n])
                    del self.buf[:8 + n]
                    return t, body
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("producerd closed")
            self.buf += chunk


def hello(role, queue, name, max_demand=0):
    """A version 3 HELLO: a consumer names its queue, a client none."""
    return frame(HELLO, struct.pack(">HBBIIB", 3, role, 0, max_demand, 0, len(name)) +
                 name + bytes([len(queue)]) + queue)


def frame(t, body, flags=0):
    return HDR.pack(len(body), t, flags, 0) + body


def pushstage_producer(sock, n, every, delay_ms, done, sent_out):
    c = Conn(sock)
    c.s.sendall(hello(2, b"", b"p"))
    assert c.frame()[0] == WELCOME
    sent = 0
    pending = 0
    while sent < n:
        k = min(256, n - sent)
        body = struct.pack(">I", k) + bytes([4]) + b"soak"
        for i in range(sent, sent + k):
            data = (b"%012d" % i).ljust(PAYLOAD, b".")
            attrs = b"\x02\x08" + struct.pack(">Q", delay_ms) if i % every == every - 1 else b""
            body += struct.pack(">IH", len(data), len(attrs)) + attrs + data
        c.s.sendall(frame(ENQUEUE, body, 1))
        sent += k
        pending += 1
        while pending > 4:
            t, _ = c.frame()
            assert t == ENQUEUED, t
            pending -= 1
            sent_out[0] = sent - 256 * pending
    while pending:
        assert c.frame()[0] == ENQUEUED
        pending -= 1
    sent_out[0] = sent
    done.set()


def phased_producer(sock, held, held_queue, held_attrs, n, payload, done, sent_out):
    """held events of 64 bytes into held_queue (with held_attrs), then n of
    payload bytes into soak; sent_out counts the latter, confirmed."""
    c = Conn(sock)
    c.s.sendall(hello(2, b"", b"p"))
    assert c.frame()[0] == WELCOME
    pending = 0
    for queue, total, size, attrs, count in ((held_queue, held, PAYLOAD, held_attrs, False),
                                             (b"soak", n, payload, b"", True)):
        sent = 0
        while sent < total:
            k = min(256, total - sent)
            body = struct.pack(">I", k) + bytes([len(queue)]) + queue
            for i in range(sent, sent + k):
                data = (b"%012d" % i).ljust(size, b".")
                body += struct.pack(">IH", len(data), len(attrs)) + attrs + data
            c.s.sendall(frame(ENQUEUE, body, 1))
            sent += k
            pending += 1
            while pending > 4:
                t, _ = c.frame()
                assert t == ENQUEUED, t
                pending -= 1
                sent_out[0 if count else 1] = max(sent - 256 * pending, 0)
        while pending:
            assert c.frame()[0] == ENQUEUED
            pending -= 1
        sent_out[0 if count else 1] = total
    done.set()


def pushstage_consumer(sock, want, got):
    c = Conn(sock)
    c.s.sendall(hello(1, b"soak", b"c", 1000) + frame(DEMAND, struct.pack(">I", 1000)))
    assert c.frame()[0] == WELCOME
    while got[0] < want:
        ids = []
        t, body = c.frame()
        assert t == EVENT, t
        ids.append(struct.unpack(">Q", body[:8])[0])
        while len(c.buf) >= 8:
            n, t, _, _ = HDR.unpack_from(c.buf)
            if len(c.buf) < 8 + n:
                break
            t, body = c.frame()
            ids.append(struct.unpack(">Q", body[:8])[0])
        c.s.sendall(frame(ACK, struct.pack(">I", len(ids)) +
                          b"".join(struct.pack(">Q", i) for i in ids)) +
                    frame(DEMAND, struct.pack(">I", len(ids))))
        got[0] += len(ids)


def beanstalk_producer(port, n, every, delay_s, done, sent_out):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    s.sendall(b"use soak\r\n")
    assert f.readline().startswith(b"USING")
    sent = 0
    while sent < n:
        k = min(256, n - sent)
        out = bytearray()
        for i in range(sent, sent + k):
            data = (b"%012d" % i).ljust(PAYLOAD, b".")
            d = delay_s if i % every == every - 1 else 0
            out += b"put 1024 %d 60 %d\r\n%s\r\n" % (d, len(data), data)
        s.sendall(out)
        for _ in range(k):
            line = f.readline()
            assert line.startswith(b"INSERTED"), line
        sent += k
        sent_out[0] = sent
    done.set()


def beanstalk_consumer(port, want, got):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    s.sendall(b"watch soak\r\nignore default\r\n")
    f.readline()
    f.readline()
    while got[0] < want:
        # Up to 64 at once, none waited for: nothing ready is no error.
        s.sendall(b"reserve-with-timeout 0\r\n" * 64)
        ids = []
        for _ in range(64):
            line = f.readline()
            if line.startswith(b"RESERVED"):
                _, jid, size = line.split()
                f.read(int(size) + 2)
                ids.append(jid)
            else:
                assert line.startswith((b"TIMED_OUT", b"DEADLINE_SOON")), line
        if not ids:
            time.sleep(0.001)
            continue
        s.sendall(b"".join(b"delete %s\r\n" % j for j in ids))
        for _ in ids:
            assert f.readline().startswith(b"DELETED")
        got[0] += len(ids)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(system, args):
    work = tempfile.mkdtemp(prefix="soak-%s." % system)
    data = os.path.join(work, "data")
    os.mkdir(data)
    want = args.events - args.events // args.delayed_every
    phased = args.scenario != "mixed"
    if phased:
        want = args.events
    if system == "pushstage":
        sock = os.path.join(work, "sock")
        proc = subprocess.Popen([os.path.join(args.build, "producerd", "producerd"),
                                 "--socket", sock, "--data-dir", data,
                                 "--segment-size", str(args.segment_size),
                                 "--max-queue", "0", "--log-level", args.log_level])
        while not os.path.exists(sock):
            time.sleep(0.01)
        if phased:
            delay = b"\x02\x08" + struct.pack(">Q", args.delay_s * 1000)
            prod = (phased_producer, (sock, args.held, b"soak" if args.scenario ==
                                      "delayed-first" else b"backlog",
                                      delay if args.scenario == "delayed-first" else b"",
                                      args.events, args.payload))
        else:
            prod = (pushstage_producer, (sock, args.events, args.delayed_every,
                                         args.delay_s * 1000))
        cons = (pushstage_consumer, (sock, want))
    else:
        port = free_port()
        proc = subprocess.Popen(["beanstalkd", "-l", "127.0.0.1", "-p", str(port),
                                 "-b", data, "-s", str(args.segment_size), "-f", "0"])
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.01)
        prod = (beanstalk_producer, (port, args.events, args.delayed_every, args.delay_s))
        cons = (beanstalk_consumer, (port, want))
    done = threading.Event()
    got = [0]
    sent = [0, 0]            # confirmed: the flow's, the held ones'
    tp = threading.Thread(target=prod[0], args=prod[1] + (done, sent), daemon=True)
    tc = threading.Thread(target=cons[0], args=cons[1] + (got,), daemon=True)
    t0 = time.monotonic()
    tc.start()
    tp.start()
    peak = 0
    worst = 0.0
    samples = []
    settled = None
    every = args.delayed_every
    while True:
        time.sleep(0.5)
        if not tc.is_alive() and got[0] < want or not tp.is_alive() and not done.is_set():
            proc.kill()
            proc.wait()
            sys.exit("%s: a client failed (above)" % system)
        b = dir_bytes(data)
        peak = max(peak, b)
        now = time.monotonic() - t0
        # Live: confirmed and not yet consumed (the delayed among them).
        live = max(sent[0] - got[0], 0)
        live_bytes = live * RECORD
        if phased:
            live_bytes = live * (args.payload + 16) + sent[1] * RECORD
            live += sent[1]
        bound = 2 * live_bytes + 2 * args.segment_size
        worst = max(worst, b / bound)
        samples.append((now, b, live))
        print("%s t=%6.1fs journal %8.1f MiB in %2d files; live %7d events "
              "(%5.1f MiB); 2 x live + 2 segments %6.1f MiB" % (
                  system, now, b / 1048576, segments(data), live,
                  live_bytes / 1048576, bound / 1048576), flush=True)
        if got[0] >= want and settled is None:
            settled = now
        # After the last ack, give the daemon time to write and trim.
        if settled is not None and now - settled >= args.settle_s:
            break
    end = dir_bytes(data)
    delayed = args.held if phased else args.events // every
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    shutil.rmtree(work)
    how = "in a backlog" if args.scenario == "backlog" else "delayed %d s" % args.delay_s
    print("%s: %d events (%d %s), all others consumed in %.1f s: "
          "journal at most %.1f MiB, at most %.2f x (2 x live + 2 segments); "
          "%.1f MiB at the end for %d live events (%.1f MiB)" % (
              system, args.events, delayed, how, settled,
              peak / 1048576, worst, end / 1048576, delayed,
              delayed * RECORD / 1048576), flush=True)
    return samples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--events", type=int, default=2000000)
    ap.add_argument("--delayed-every", type=int, default=100)
    ap.add_argument("--delay-s", type=int, default=3600)
    ap.add_argument("--segment-size", type=int, default=8 << 20)
    ap.add_argument("--settle-s", type=float, default=3.0)
    ap.add_argument("--log-level", default="warning")
    ap.add_argument("--system", default="both", choices=["pushstage", "beanstalkd", "both"])
    ap.add_argument("--scenario", default="mixed", choices=["mixed", "delayed-first", "backlog"])
    ap.add_argument("--held", type=int, default=200000)
    ap.add_argument("--payload", type=int, default=200)
    args = ap.parse_args()
    if args.scenario != "mixed":
        args.system = "pushstage"
    for system in (["pushstage", "beanstalkd"] if args.system == "both" else [args.system]):
        if system == "beanstalkd" and shutil.which("beanstalkd") is None:
            print("beanstalkd: not installed (apt-get install beanstalkd)")
            continue
        run(system, args)


if __name__ == "__main__":
    sys.exit(main())
