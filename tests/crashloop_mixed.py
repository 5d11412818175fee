#!/usr/bin/env python3
"""crashloop_mixed.py: the crash loop with what a real load mixes in.  A
journaled producerd is killed (-9) at random while a client enqueues to
three queues (one in key order) with keys, delays, priorities, a header
and a unique id on every event, and consumers that vanish mid-event (their
sockets cut with events unacked, as a kill -9 of a consumer does) take
them: most are acked with a result (the queues keep done events' records,
keep-done), some failed with an error (NACK_ERROR: delivered again), some
acked plainly; another client cancels events by their unique ids.  The
client sends a batch it saw no answer to again, with the same unique ids.
Protocol version 5 throughout.

After the last round: every event whose ENQUEUE was answered was delivered
at least once, with its header, unless it was cancelled (its cancel
answered, or sent and its answer lost to a kill: the daemon journals a
cancel before it answers, so such an event may be cancelled); nothing
delivered was never sent; no delayed event came before its time; each
key's events were first delivered in the order they were sent; no event
whose cancel was answered is delivered in a later round (a crash does not
undo a cancel); and every event delivered and not cancelled is done with
its own result, as JOB tells by its unique id.

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
                         ERROR, EVENT, PRODUCERD, PUSHCTL, WELCOME, Harness,
                         Raw, attr_enqueue3, demand, frame, ids)
from job_cases import (ack_result, header, hello5, nack_error,  # noqa: E402
                       parse_event)

CANCEL, JOB, JOB_REPLY, JOB_CANCEL, JOB_CANCEL_REPLY = 26, 24, 25, 27, 28

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
    return a + bytes([5, len(uid)]) + uid + header("n", uid[1:])


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
        self.recent = []        # the newest confirmed, for the canceller
        self.first = {}         # payload -> time of its first delivery
        self.key_order = {}     # key -> payloads in order of first delivery
        self.deliveries = 0
        self.pending = None     # a batch sent, its answer not seen
        self.daemon = None
        self.round_no = 0
        self.delivered_in = {}  # payload -> the last round it was delivered
        self.cancelled = {}     # payload -> the round its cancel was answered
        self.results = {}       # payload -> results it was acked with
        self.errors = 0         # NACK_ERRORs sent
        self.cancels = 0        # JOB_CANCELs sent
        self.unanswered = set()  # cancels sent whose answer a crash took:
                                 # the event may be cancelled, or not

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
            c = Raw(self.sock, version=5)
            c.send(hello5(CLIENT_ROLE))
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
                    self.recent = (self.recent + [p for p, _ in evs])[-40:]
                    self.pending = None
                time.sleep(0.002)
        except OSError:
            return

    @staticmethod
    def events(c, timeout, want):
        """(id, payload, headers) of each EVENT, until want or a quiet
        timeout; a CANCEL between them is skipped (the event is acked all
        the same)."""
        out = []
        while len(out) < want:
            got = c.recv(timeout)
            if got is None:
                break
            if got[0] == CANCEL:
                continue
            assert got[0] == EVENT, got
            i, _, _, hd, p = parse_event(got[1], c.flags)
            out.append((i, p, hd))
        return out

    def consumer(self, queue, stop, until_quiet=False):
        """Takes events of queue, answering each (a result, an error, or a
        plain ACK; finishing, always a result); unless until_quiet,
        vanishes at random with what it holds unanswered, then comes
        back."""
        while not stop.is_set():
            try:
                c = Raw(self.sock, version=5)
                c.send(hello5(CONSUMER_ROLE, queue, 20, b"c-" + queue) +
                       demand(20))
                c.expect(WELCOME)
                life = time.monotonic() + random.uniform(0.05, 0.5)
                while not stop.is_set():
                    got = self.events(c, 1.0 if until_quiet else 0.05, 1)
                    if not got:
                        if until_quiet:
                            return
                        continue
                    got += self.events(c, 0.001, 19)
                    now = time.time()
                    out = b""
                    with self.lock:
                        self.deliveries += len(got)
                        for i, p, hd in got:
                            assert hd == [("n", p)], (p, hd)
                            self.delivered_in[p] = self.round_no
                            if p in self.first:
                                continue
                            self.first[p] = now
                            key = self.sent.get(p, (None, None))[1]
                            if key is not None:
                                self.key_order.setdefault(key, []).append(p)
                    if not until_quiet and time.monotonic() > life:
                        c.s.close()             # gone, unacked: kill -9
                        break
                    for i, p, _ in got:
                        how = 0 if until_quiet else random.randrange(20)
                        if how == 0 or how > 2:
                            out += ack_result(i, b"r" + p)
                            self.results.setdefault(p, set()).add(b"r" + p)
                        elif how == 1:
                            out += nack_error(i, "Traceback: " + p.decode(),
                                              delay=0)
                            self.errors += 1
                        else:
                            out += ids(ACK, i)
                            self.results.setdefault(p, set()).add(b"")
                    c.send(out + demand(len(got)))
            except (OSError, AssertionError) as e:
                if until_quiet or (isinstance(e, AssertionError) and
                                   "hd ==" in str(e)):
                    raise
                time.sleep(0.01)

    def canceller(self, stop):
        """Cancels a confirmed event now and then, by its unique id; an
        answer says it is cancelled (an ERROR: done with, or cancelled
        before)."""
        while not stop.is_set():
            try:
                c = Raw(self.sock, version=5)
                c.send(hello5(CLIENT_ROLE))
                c.expect(WELCOME)
                while not stop.is_set():
                    time.sleep(random.uniform(0.005, 0.03))
                    with self.lock:
                        if not self.recent:
                            continue
                        # The newest: waiting, delayed or in flight.
                        p = random.choice(self.recent[-40:])
                    q = self.sent[p][0]
                    uid = b"u" + p
                    c.send(frame(JOB_CANCEL, bytes([len(q)]) + q +
                                 bytes([len(uid)]) + uid +
                                 struct.pack(">I", 0)))
                    self.cancels += 1
                    with self.lock:
                        self.unanswered.add(p)
                    got = c.recv(2)
                    if got is None:
                        return
                    with self.lock:
                        self.unanswered.discard(p)
                    if got[0] == ERROR:
                        break                   # not there: a new client
                    assert got[0] == JOB_CANCEL_REPLY, got
                    with self.lock:
                        self.cancelled.setdefault(p, self.round_no)
            except (OSError, AssertionError):
                time.sleep(0.01)           # the daemon killed meanwhile

    def round(self):
        self.start()
        stop = threading.Event()
        self.round_no += 1
        threads = [threading.Thread(target=self.producer, args=(stop,)),
                   threading.Thread(target=self.canceller, args=(stop,))]
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
        self.round_no += 1
        # Until the daemon holds nothing more (a delayed event goes when
        # its time comes, and its queue is read).
        for _ in range(20):
            for q in QUEUES:
                self.consumer(q, threading.Event(), until_quiet=True)
            if left() == 0:
                break
        assert left() == 0, "events left in the daemon"
        self.jobs()
        self.daemon.send_signal(signal.SIGTERM)
        rc = self.daemon.wait(timeout=30)
        assert rc == 0, "producerd exited %d" % rc

    def jobs(self):
        """Each event delivered, by its unique id: JOB says done, with a
        result it was acked with (a plain ACK's is empty); one cancelled
        may be anything."""
        c = Raw(self.sock, version=5)
        c.send(hello5(CLIENT_ROLE))
        c.expect(WELCOME)
        self.done = {}
        for p in sorted(self.first):
            q, uid = self.sent[p][0], b"u" + p
            c.send(frame(JOB, bytes([len(q)]) + q +
                         struct.pack(">QHB", 0, 0, len(uid)) + uid))
            t, body = c.recv(10)
            assert t == JOB_REPLY, (t, body)
            state, result = body[8], None
            if state == 9:
                # protocol.md's JOB_REPLY: preview, consumer, attributes,
                # failures, then (done) the result.
                o = 30 + struct.unpack(">H", body[28:30])[0]
                o += 1 + body[o]
                o += 2 + struct.unpack(">H", body[o:o + 2])[0]
                assert body[o] == 0, "a done record keeps no failures"
                (rlen,) = struct.unpack(">I", body[o + 1:o + 5])
                result = body[o + 5:o + 5 + rlen]
                assert o + 5 + rlen == len(body), body
            self.done[p] = (state, result)
        c.close()

    def check(self):
        got = set(self.first)
        invented = got - set(self.sent)
        assert not invented, "delivered but never sent: %r" % sorted(invented)[:5]
        early = [p for p, t in self.first.items()
                 if len(self.sent[p]) == 4 and t < self.sent[p][3] - 0.001]
        assert not early, "delivered before their time: %r" % early[:5]
        undone = [p for p, r in self.cancelled.items()
                  if self.delivered_in.get(p, 0) > r]
        assert not undone, "delivered after their cancel and a crash: %r" % (
            undone[:5],)
        for p, (state, result) in self.done.items():
            if p in self.cancelled or p in self.unanswered:
                continue
            assert state == 9 and result in self.results.get(p, ()), (
                "event %r not done with a result it was acked with: state "
                "%d, %r" % (p, state, result))
        # A cancel the daemon journaled before a kill that took its answer
        # cancels its event as well: such an event may go undelivered.
        lost = self.confirmed - got - set(self.cancelled) - self.unanswered
        assert not lost, "%d confirmed events never delivered, e.g. %r" % (
            len(lost), sorted(lost)[:5])
        for key, order in self.key_order.items():
            seqs = [int(p) for p in order]
            bad = next((i for i in range(1, len(seqs))
                        if seqs[i] < seqs[i - 1]), None)
            assert bad is None, "key %r out of order at %d: %r" % (
                key, bad, seqs[max(0, bad - 5):bad + 5])
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
                                "create", q.decode(), "max-attempts=1000",
                                "keep-done=1h"] + how, capture_output=True)
            assert r.returncode == 0, r
        loop.daemon.send_signal(signal.SIGTERM)
        loop.daemon.wait(timeout=30)
        for _ in range(args.rounds):
            loop.round()
        loop.finish()
        loop.check()
        print("ok mixed crash loop: %d rounds (seed %d): %d sent, %d "
              "confirmed, %d delivered (%d deliveries), %d keys in order, "
              "%d errors, %d cancels sent and %d answered (%d answers lost "
              "to a kill), %d done with "
              "their results; none lost, none early, none invented, no "
              "cancel undone, %.1f s" % (
                  args.rounds, seed, len(loop.sent), len(loop.confirmed),
                  len(loop.first), loop.deliveries, len(loop.key_order),
                  loop.errors, loop.cancels, len(loop.cancelled),
                  len(loop.unanswered),
                  sum(1 for s, _ in loop.done.values() if s == 9),
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
