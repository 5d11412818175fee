#!/usr/bin/env python3
"""backpressure.py: producerd's memory while a fast client pushes into a
slow consumer, with --overflow block and without a limit to compare.

usage: bench/backpressure.py [BUILD_DIR] [EVENTS]   (default: build 1000000)

Prints, per run: events, seconds, and the daemon's resident memory (VmRSS)
sampled every 100 ms: first, peak and last.  A benchmark to run and record
(docs/overflow.md has the figures), not a test.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
EVENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
PAYLOAD = b"x" * 100


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stats(sock):
    out = subprocess.run([os.path.join(BUILD, "pushctl/pushctl"), "--socket", sock,
                          "stats", "--json"], capture_output=True).stdout
    import json
    return json.loads(out)


def run(label, *daemon_args):
    d = tempfile.mkdtemp(prefix="pushstage-bench-")
    sock = os.path.join(d, "ps.sock")
    daemon = subprocess.Popen([os.path.join(BUILD, "producerd/producerd"),
                               "--socket", sock, "--log-level", "error"]
                              + list(daemon_args))
    while not os.path.exists(sock):
        if daemon.poll() is not None:
            sys.exit("producerd exited %d" % daemon.returncode)
        time.sleep(0.01)
    consumer = subprocess.Popen([os.path.join(BUILD, "consumer/consumer"),
                                 "--socket", sock, "--id", "slow",
                                 "--max-demand", "10"], stdout=subprocess.DEVNULL)
    samples = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            samples.append(rss_kb(daemon.pid))
            time.sleep(0.1)
    t = threading.Thread(target=sample)
    t0 = time.monotonic()
    t.start()
    push = subprocess.Popen([os.path.join(BUILD, "pushctl/pushctl"), "--socket", sock,
                             "enqueue", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    line = PAYLOAD + b"\n"
    chunk = line * 10000
    for _ in range(EVENTS // 10000):
        push.stdin.write(chunk)
    push.stdin.close()
    push.wait()
    pushed = time.monotonic() - t0
    while stats(sock)["acked_total"] < EVENTS:
        time.sleep(0.05)
    total = time.monotonic() - t0
    done.set()
    t.join()
    consumer.terminate()
    consumer.wait()
    daemon.terminate()
    daemon.wait()
    shutil.rmtree(d)
    print("%-34s %d events of %d bytes: pushed in %.1f s, all acked in %.1f s; "
          "daemon RSS first %d KiB, peak %d KiB, last %d KiB"
          % (label, EVENTS, len(PAYLOAD), pushed, total, samples[0], max(samples),
             samples[-1]))


run("--overflow block --max-queue 10000", "--overflow", "block", "--max-queue", "10000")
run("--overflow block --max-queue 100000", "--overflow", "block", "--max-queue", "100000")
run("--max-queue 0 (no limit)", "--max-queue", "0")
