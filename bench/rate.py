#!/usr/bin/env python3
"""rate.py: how closely a queue's rate=N/1s holds over 3 s.

usage: bench/rate.py [BUILD_DIR] [N ...]   (default: build 100 1000 10000)

For each N: a private producerd, a queue made with rate=N/1s, six seconds'
worth of 16-byte events enqueued at once, and one consumer that acks each
event and asks for one more.  It counts the events that arrive in the 3 s
after the first: the bucket (N) plus 3 s at the rate (3N) is the most the
rate allows.  A benchmark to run and record (docs/scheduling.md has the
figures), not a test: a busy machine delivers fewer, never more.
"""

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests"))
import integration as it  # noqa: E402

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
RATES = [int(x) for x in sys.argv[2:]] or [100, 1000, 10000]


def run(rate):
    d = tempfile.mkdtemp(prefix="pushstage-rate.")
    sock = os.path.join(d, "sock")
    daemon = subprocess.Popen([os.path.join(BUILD, "producerd", "producerd"),
                               "--socket", sock, "--max-queue", "0",
                               "--log-level", "error"])
    try:
        while not os.path.exists(sock):
            time.sleep(0.02)
        r = subprocess.run([os.path.join(BUILD, "pushctl", "pushctl"), "--socket",
                            sock, "queue", "create", "r", "rate=%d/1s" % rate],
                           capture_output=True)
        assert r.returncode == 0, r.stderr
        w = it.Raw(sock, version=3)
        w.send(it.hello3(it.CONSUMER_ROLE, b"r", 4096, 0, b"w") + it.demand(4096))
        w.expect(it.WELCOME)
        c = it.Raw(sock, version=3)
        c.send(it.hello3(it.CLIENT_ROLE))
        c.expect(it.WELCOME)
        for _ in range(0, rate * 6, 1000):
            c.send(it.enqueue3(b"r", *[b"x" * 16] * 1000))
            c.expect(it.ENQUEUED)
        got, first = 0, None
        while True:
            f = w.recv(timeout=5)
            if f is None:
                break
            now = time.monotonic()
            first = first or now
            if now - first > 3.0:
                break
            got += 1
            w.send(it.ids(it.ACK, struct.unpack(">Q", f[1][:8])[0]) + it.demand(1))
        most = rate * 4
        print("rate=%d/1s: %d events in the first 3 s; at most %d (bucket %d + 3 s "
              "at the rate): %.2f %%" % (rate, got, most, rate, 100.0 * got / most))
    finally:
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(d, ignore_errors=True)


for n in RATES:
    run(n)
