#!/usr/bin/env python3
"""crashloop_mixed.py: the crash loop with what a real load mixes in.  A
journaled producerd is killed (-9) at random while a client enqueues to
three queues (one in key order) with keys, delays, priorities and a unique
id on every event, and consumers that vanish mid-event (their sockets cut
with events unacked, as a kill -9 of a consumer does) take them.  The
client sends a batch it saw no answer to again, with the same unique ids.

After the last round: every event whose ENQUEUE was answered was delivered
at least once; nothing delivered was never sent; no delayed event came
before its time; each key's events were first delivered in the order they
were sent.

usage: crashloop_mixed.py [--rounds N] [--seed S]   (PRODUCERD names the
daemon, PUSHCTL the command line)
"""

import argparse
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from integration import (ACK, CLIENT_ROLE, CONSUMER_ROLE, ENQUEUED,  # noqa: E402
                         PRODUCERD, PUSHCTL, WELCOME, Harness, Raw,
                         attr_enqueue3, demand, hello3, ids)

QUEUES = (b"plain", b"keyed", b"prio")
KEYS = 8


def attrs(queue, key, delay_ms, prio, uid):
    a = b""
    if key is not None:
        a += bytes([1, len(key)]) + key
    if delay_ms:
        a += bytes([2, 8]) + struct.pack(">Q", delay_ms)
    if prio is not None:
        a += bytes([4, 2]) + struct.pack(">H", prio)
    return a + bytes([5, len(uid)]) + uid


class Loop:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pushstage-crashmix-")
        self.sock = os.path.join(self.dir, "ps.sock")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "producerd.log")
        self.lock = threading.Lock()
        self.seq = 0
        self.sent = {}          # payload -> (queue, key, not before: s)
        self.confirmed = set()
        self.first = {}         # payload -> time of its first delivery
        self.key_order = {}     # key -> payloads in order of first delivery
        self.deliveries = 0
        self.pending = None     # a batch sent, its answer not seen
        self.daemon = None

    def start(self):
        with open(self.log, "ab") as log:
            self.daemon = subprocess.Popen(
                [PRODUCERD, "--socket", self.sock, "--data-dir", self.data,
                 "--segment-size", "65536", "--log-level", "warning"],
                stdout=subprocess.DEVNULL, stderr=log)
        Harness.wait_for(lambda: Harness.connectable_at(self.sock) or
                         self.daemon.poll() is not None, what="producerd")
        assert self.daemon.poll() is None, "producerd did not start:\n" + \
            open(self.log).read()

    def batch(self):
        """A new batch for one queue: (queue, [(payload, attrs)])."""
        q = random.choice(QUEUES)
        out = []
        for _ in range(random.randint(1, 20)):
            self.seq += 1
            p = b"%d" % self.seq
            key = b"k%d" % random.randrange(KEYS) if q == b"keyed" else None
            # Key order is by when events join the buffer: no delays there.
            delay = random.choice((0, 0, 0, 50, 300)) if q != b"keyed" else 0
            prio = random.randrange(4) * 100 if q == b"prio" else None
            out.append((p, attrs(q, key, delay, prio, b"u" + p)))
            self.sent[p] = (q, key, delay / 1000.0)
        return q, out

    def producer(self, stop):
        try:
            c = Raw(self.sock, version=3)
            c.send(hello3(CLIENT_ROLE))
            c.expect(WELCOME)
            while not stop.is_set():
                with self.lock:
                    if self.pending is None:
                        self.pending = self.batch()
                    q, evs = self.pending
                    # Not before: from when it was first sent (a copy sent
                    # again may be a duplicate of that one).
                    now = time.time()
                    for p, _ in evs:
                        if self.sent[p][2] and len(self.sent[p]) == 3:
                            self.sent[p] += (now + self.sent[p][2],)
                c.send(attr_enqueue3(q, *evs))
                got = c.recv(2)
                if got is None:
                    return
                assert got[0] == ENQUEUED, got
                acc, ref, snew, _ = struct.unpack(">IIII", got[1][8:24])
                dups = struct.unpack(">I", got[1][24:28])[0] \
                    if len(got[1]) > 24 else 0
                assert acc + dups == len(evs) and ref == snew == 0, got
                with self.lock:
                    self.confirmed.update(p for p, _ in evs)
                    self.pending = None
                time.sleep(0.002)
        except OSError:
            return

    def consumer(self, queue, stop, until_quiet=False):
        """Takes events of queue; unless until_quiet, vanishes at random
        with what it holds unacked, then comes back."""
        while not stop.is_set():
            try:
                c = Raw(self.sock, version=3)
                c.send(hello3(CONSUMER_ROLE, queue, 20, 0, b"c-" + queue) +
                       demand(20))
                c.expect(WELCOME)
                life = time.monotonic() + random.uniform(0.05, 0.5)
                while not stop.is_set():
                    got = c.events_full(timeout=1.0 if until_quiet else 0.05,
                                        want=1)
                    if not got:
                        if until_quiet:
                            return
                        continue
                    got += c.events_full(timeout=0.001, want=19)
                    now = time.time()
                    with self.lock:
                        self.deliveries += len(got)
                        for _, _, p in got:
                            if p in self.first:
                                continue
                            self.first[p] = now
                            key = self.sent.get(p, (None, None))[1]
                            if key is not None:
                                self.key_order.setdefault(key, []).append(p)
                    if not until_quiet and time.monotonic() > life:
                        c.s.close()             # gone, unacked: kill -9
                        break
                    c.send(ids(ACK, *[i for i, _, _ in got]) +
                           demand(len(got)))
            except (OSError, AssertionError):
                if until_quiet:
                    raise
                time.sleep(0.01)

    def round(self):
        self.start()
        stop = threading.Event()
        threads = [threading.Thread(target=self.producer, args=(stop,))]
        threads += [threading.Thread(target=self.consumer, args=(q, stop))
                    for q in QUEUES]
        for t in threads:
            t.start()
        time.sleep(random.uniform(0.05, 0.5))
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()
        stop.set()
        for t in threads:
            t.join()

    def finish(self):
        """Once more, every delay passed, and take all that is left."""
        self.start()

        def left():
            r = subprocess.run([PUSHCTL, "--socket", self.sock, "queues",
                                "--json"], capture_output=True, timeout=30)
            assert r.returncode == 0, r
            qs = [json.loads(x) for x in r.stdout.decode().splitlines()]
            return sum(q["queued"] + q["delayed"] + q["in_flight"]
                       for q in qs)
        # Until the daemon holds nothing more (a delayed event goes when
        # its time comes, and its queue is read).
        for _ in range(20):
            for q in QUEUES:
                self.consumer(q, threading.Event(), until_quiet=True)
            if left() == 0:
                break
        assert left() == 0, "events left in the daemon"
        self.daemon.send_signal(signal.SIGTERM)
        rc = self.daemon.wait(timeout=30)
        assert rc == 0, "producerd exited %d" % rc

    def check(self):
        got = set(self.first)
        lost = self.confirmed - got
        invented = got - set(self.sent)
        assert not lost, "%d confirmed events never delivered, e.g. %r" % (
            len(lost), sorted(lost)[:5])
        assert not invented, "delivered but never sent: %r" % sorted(invented)[:5]
        early = [p for p, t in self.first.items()
                 if len(self.sent[p]) == 4 and t < self.sent[p][3] - 0.001]
        assert not early, "delivered before their time: %r" % early[:5]
        for key, order in self.key_order.items():
            seqs = [int(p) for p in order]
            assert seqs == sorted(seqs), "key %r out of order: %r" % (
                key, seqs[:20])
        assert self.confirmed, "the client saw no ENQUEUED reply at all"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    random.seed(seed)
    loop = Loop()
    try:
        t0 = time.monotonic()
        loop.start()
        # Consumers that vanish make many attempts: none dies of them.
        for q in QUEUES:
            how = ["dispatch=key"] if q == b"keyed" else []
            r = subprocess.run([PUSHCTL, "--socket", loop.sock, "queue",
                                "create", q.decode(), "max-attempts=1000"] +
                               how, capture_output=True)
            assert r.returncode == 0, r
        loop.daemon.send_signal(signal.SIGTERM)
        loop.daemon.wait(timeout=30)
        for _ in range(args.rounds):
            loop.round()
        loop.finish()
        loop.check()
        print("ok mixed crash loop: %d rounds (seed %d): %d sent, %d "
              "confirmed, %d delivered (%d deliveries), %d keys in order, "
              "none lost, none early, none invented, %.1f s" % (
                  args.rounds, seed, len(loop.sent), len(loop.confirmed),
                  len(loop.first), loop.deliveries, len(loop.key_order),
                  time.monotonic() - t0))
    except BaseException:
        sys.stderr.write("mixed crash loop failed (seed %d); producerd's "
                         "log:\n%s\n" % (seed, open(loop.log).read()
                                         if os.path.exists(loop.log) else ""))
        raise
    finally:
        if loop.daemon and loop.daemon.poll() is None:
            loop.daemon.kill()
            loop.daemon.wait()
        shutil.rmtree(loop.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
