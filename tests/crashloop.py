#!/usr/bin/env python3
"""crashloop.py: kill -9 a journaled producerd at random moments while a
client enqueues and a consumer acks, start it again on the same directory,
round after round; then take everything left.  Every event whose ENQUEUE
reply the client saw must have been delivered at least once, and nothing
delivered may be an event that was never sent.

usage: crashloop.py [--rounds N] [--seed S] [--fsync MODE]
       (PRODUCERD names the daemon; CI runs 20 rounds, scripts/soak-journal.sh
       as many as asked)
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
from integration import (ACK, ENQUEUED, EVENT, PRODUCERD, Harness, Raw,  # noqa: E402
                         client_hello, consumer_hello, demand, enqueue, ids)

# pushctl asks the daemon what it holds: the one built beside PRODUCERD
# unless PUSHCTL says (scripts/soak-journal.sh names only PRODUCERD).
PUSHCTL = os.environ.get("PUSHCTL") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(PRODUCERD))), "pushctl", "pushctl")


class Loop:
    def __init__(self, args):
        self.dir = tempfile.mkdtemp(prefix="pushstage-crash-")
        self.sock = os.path.join(self.dir, "ps.sock")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "producerd.log")
        self.args = args
        self.sent = set()
        self.confirmed = set()
        self.received = set()
        self.deliveries = 0
        self.seq = 0
        self.lock = threading.Lock()
        self.daemon = None

    def start(self):
        with open(self.log, "ab") as log:
            self.daemon = subprocess.Popen(
                [PRODUCERD, "--socket", self.sock, "--data-dir", self.data,
                 "--fsync", self.args.fsync, "--segment-size", "65536",
                 "--log-level", "warning"],
                stdout=subprocess.DEVNULL, stderr=log)
        # Answered, not connectable: the socket file of the daemon killed
        # before stays, and a socket takes connects before the loop runs.
        Harness.wait_for(lambda: Harness.answering_at(self.sock) or
                         self.daemon.poll() is not None, what="producerd")
        assert self.daemon.poll() is None, "producerd did not start:\n" + \
            open(self.log).read()

    def producer(self, stop):
        try:
            c = Raw(self.sock)
            client_hello(c)
            while not stop.is_set():
                with self.lock:
                    batch = [b"e%d" % (self.seq + i)
                             for i in range(random.randint(1, 20))]
                    self.seq += len(batch)
                    self.sent.update(batch)
                c.send(enqueue(*batch))
                got = c.recv(2)
                if got is None:
                    return
                assert got[0] == ENQUEUED, got
                accepted = struct.unpack(">QIIII", got[1])[1]
                assert accepted == len(batch), got
                with self.lock:
                    self.confirmed.update(batch)
                time.sleep(0.002)   # a backlog, not a flood
        except OSError:
            return

    def consumer(self, stop, until_quiet=False):
        try:
            c = Raw(self.sock)
            consumer_hello(c, b"crash", 50)
            c.send(demand(50))
            while not stop.is_set():
                # One event, then whatever else has already arrived.
                got = c.events_full(timeout=1.0 if until_quiet else 0.05,
                                    want=1)
                if not got:
                    if until_quiet:
                        return
                    continue
                got += c.events_full(timeout=0.001, want=49)
                with self.lock:
                    self.received.update(p for _, _, p in got)
                    self.deliveries += len(got)
                c.send(ids(ACK, *[i for i, _, _ in got]) + demand(len(got)))
                if not until_quiet:
                    # Slower than the client: a backlog lives across crashes.
                    time.sleep(random.uniform(0, 0.03))
        except (OSError, AssertionError):
            return

    def round(self):
        self.start()
        stop = threading.Event()
        threads = [threading.Thread(target=self.producer, args=(stop,)),
                   threading.Thread(target=self.consumer, args=(stop,))]
        for t in threads:
            t.start()
        time.sleep(random.uniform(0.02, 0.4))
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()
        stop.set()
        for t in threads:
            t.join()

    def held(self):
        """Events the daemon still holds, queued or in flight."""
        r = subprocess.run([PUSHCTL, "--socket", self.sock, "stats", "--json"],
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        st = json.loads(r.stdout)
        return st["queued"] + st["in_flight"]

    def finish(self):
        """Start once more and take all that is left; then stop cleanly.
        A second quiet is no proof that all is taken on a loaded machine
        (a replay, a slow delivery): take until the daemon holds nothing."""
        self.start()
        Harness.wait_for(lambda: self.consumer(threading.Event(), until_quiet=True)
                         or self.held() == 0, timeout=120, what="all events taken")
        self.daemon.send_signal(signal.SIGTERM)
        rc = self.daemon.wait(timeout=10)
        assert rc == 0, "producerd exited %d:\n%s" % (rc, open(self.log).read())

    def check(self):
        lost = self.confirmed - self.received
        invented = self.received - self.sent
        assert not lost, "%d confirmed events never delivered, e.g. %r" % (
            len(lost), sorted(lost)[:5])
        assert not invented, "delivered but never sent: %r" % sorted(invented)[:5]
        assert self.confirmed, "the client saw no ENQUEUED reply at all"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--fsync", default="batch")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    random.seed(seed)
    loop = Loop(args)
    try:
        t0 = time.monotonic()
        for _ in range(args.rounds):
            loop.round()
        loop.finish()
        loop.check()
        print("ok crash loop: %d rounds (seed %d, --fsync %s): %d sent, %d "
              "confirmed, %d delivered (%d deliveries), none lost, none "
              "invented, %.1f s" % (args.rounds, seed, args.fsync,
                                   len(loop.sent), len(loop.confirmed),
                                   len(loop.received), loop.deliveries,
                                   time.monotonic() - t0))
    except BaseException:
        sys.stderr.write("crash loop failed (seed %d); producerd's log:\n%s\n"
                         % (seed, open(loop.log).read()
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
