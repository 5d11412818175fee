#!/usr/bin/env python3
"""schedules.py: 100,000 schedules firing every minute, measured.

usage: bench/schedules.py [BUILD_DIR] [N] [--data-dir] [--celery]
       (default: build-rel 100000, schedules in memory only)

With --celery the peer instead: Celery beat (Debian's python3-celery:
sh scripts/deps.sh python3-celery) with N entries of crontab() (every
minute) sending a task of a 16-byte argument to a redis-server on a Unix
socket; the same figures for the beat process (memory per entry, the
time until the N messages are in Redis, its CPU for the minute).

A private producerd (--max-queue 0); N schedules every=1m into one queue,
each with a 16-byte payload, added over one connection in pipelined
batches of 1000 SCHEDULE ADDs.  It reports:
  - the time to add them, and the daemon's memory per schedule: its RSS
    before and after, and its own count (schedules_bytes);
  - for the next minute's tick: how long after the minute every one of
    the N events was enqueued (enqueued_total reaching N), and the
    daemon's user and system CPU for the whole minute around it (from 5 s
    after one minute to 5 s after the next).
A benchmark to run and record (docs/performance.md), not a test.
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

args = [a for a in sys.argv[1:] if not a.startswith("--")]
BUILD = args[0] if args else "build-rel"
N = int(args[1]) if len(args) > 1 else 100000
DATA = "--data-dir" in sys.argv
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu(pid):
    """The process's user and system CPU so far, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def rss(pid):
    with open("/proc/%d/statm" % pid) as f:
        return int(f.read().split()[1]) * PAGE


def sched_add(name, queue, settings, payload):
    body = bytes([1, 0, len(name)]) + name + struct.pack(">I", 0) + \
        bytes([len(queue)]) + queue + struct.pack(">H", len(settings))
    for s in settings:
        body += struct.pack(">H", len(s)) + s
    body += struct.pack(">IH", len(payload), 0) + payload
    return it.frame(36, body)


def stats(sock, queue=None):
    import json
    a = [os.path.join(BUILD, "pushctl", "pushctl"), "--socket", sock,
         "stats", "--json"] + (["--queue", queue] if queue else [])
    r = subprocess.run(a, capture_output=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def measure_minute(pid, what, count, target, m0):
    """The minute m0 + 60 of process pid: from 5 s after m0, its user and
    system CPU until 5 s after m0 + 60, and when count() reached target
    after that minute (polled every 10 ms); both printed."""
    while time.time() < m0 + 5:
        time.sleep(0.2)
    u0, s0 = cpu(pid)
    m1 = m0 + 60
    while time.time() < m1:
        time.sleep(0.05)
    while count() < target:
        assert time.time() < m1 + 55, "%s: not all in time" % what
        time.sleep(0.01)
    fired_at = time.time()
    while time.time() < m1 + 5:
        time.sleep(0.2)
    u1, s1 = cpu(pid)
    print("tick at %s: every %s %.3f s after the minute (polled every "
          "10 ms)" % (time.strftime("%H:%M:%S", time.gmtime(m1)), what,
                      fired_at - m1))
    print("CPU for the minute around it: user %.2f s, system %.2f s "
          "(%.2f µs a tick)" % (u1 - u0, s1 - s0,
                                (u1 - u0 + s1 - s0) / N * 1e6))


BEAT = r'''
import os
from celery import Celery
from celery.schedules import crontab

app = Celery("tb_beat", broker="redis+socket://" + os.environ["BEAT_REDIS"])
app.conf.beat_schedule = dict(
    ("s%06d" % i, {"task": "tb.noop", "schedule": crontab(),
                   "args": ("p" * 16,)})
    for i in range(int(os.environ["BEAT_N"])))
'''


def redis_llen(cli, sock):
    r = subprocess.run([cli, "-s", sock, "llen", "celery"],
                       capture_output=True, text=True)
    return int(r.stdout.strip() or 0)


def celery_main():
    d = tempfile.mkdtemp(prefix="pushstage-beat.")
    rsock = os.path.join(d, "redis.sock")
    with open(os.path.join(d, "tb_beat.py"), "w") as f:
        f.write(BEAT)
    redis = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket",
                              rsock, "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL)
    env = dict(os.environ, BEAT_REDIS=rsock, BEAT_N=str(N),
               PYTHONPATH=d + ":/usr/lib/python3/dist-packages")
    beat = None
    try:
        while not os.path.exists(rsock):
            time.sleep(0.02)
        t0 = time.monotonic()
        beat = subprocess.Popen(["python3", "-m", "celery", "-A", "tb_beat",
                                 "beat", "-s", os.path.join(d, "beat-db"),
                                 "--loglevel", "WARNING"], cwd=d, env=env)
        # Up once its schedule file has every entry: its first tick sent.
        now = time.time()
        m0 = (int(now) // 60 + 1) * 60
        while redis_llen("redis-cli", rsock) < N:
            assert beat.poll() is None, "celery beat exited"
            time.sleep(0.1)
        print("beat up with %d entries, its first tick sent, %.1f s after "
              "its start" % (N, time.monotonic() - t0))
        mem = rss(beat.pid)
        print("memory: beat's RSS %.1f MiB, %.0f bytes an entry (the "
              "interpreter's ~25 MiB included)" % (mem / 2**20, mem / N))
        while time.time() < m0 + 5:
            time.sleep(0.2)
        subprocess.run(["redis-cli", "-s", rsock, "del", "celery"],
                       capture_output=True)
        measure_minute(beat.pid, "message in Redis",
                       lambda: redis_llen("redis-cli", rsock), N,
                       (int(time.time()) // 60) * 60)
    finally:
        if beat is not None:
            beat.terminate()
            beat.wait()
        redis.terminate()
        redis.wait()
        shutil.rmtree(d, ignore_errors=True)


def main():
    d = tempfile.mkdtemp(prefix="pushstage-sched.")
    sock = os.path.join(d, "sock")
    argv = [os.path.join(BUILD, "producerd", "producerd"), "--socket", sock,
            "--max-queue", "0", "--max-schedules", str(max(N, 1)),
            "--log-level", "error"]
    if DATA:
        argv += ["--data-dir", os.path.join(d, "data")]
    daemon = subprocess.Popen(argv)
    try:
        while not it.Harness.answering_at(sock):
            time.sleep(0.02)
        c = it.Raw(sock, version=5)
        c.send(it.frame(it.HELLO, struct.pack(">HBBIIB", 5, it.CLIENT_ROLE,
                                              0, 0, 0, 0) + b"\0"))
        c.expect(it.WELCOME)
        base = rss(daemon.pid)
        t0 = time.monotonic()
        for start in range(0, N, 1000):
            n = min(1000, N - start)
            c.send(b"".join(sched_add(b"s%06d" % i, b"q", [b"every=1m"],
                                      b"p" * 16)
                            for i in range(start, start + n)))
            for _ in range(n):
                c.expect(37)
        added = time.monotonic() - t0
        st = stats(sock)
        mem = rss(daemon.pid) - base
        print("%d schedules added in %.2f s (%.0f/s)" % (N, added,
                                                          N / added))
        print("memory: RSS +%.1f MiB, %.0f bytes a schedule; "
              "schedules_bytes %d, %.0f a schedule (16-byte payload "
              "included)" % (mem / 2**20, mem / N, st["schedules_bytes"],
                             st["schedules_bytes"] / N))
        # The next minute but one, so that the measured minute is whole.
        m0 = (int(time.time()) // 60 + 1) * 60
        while time.time() < m0 + 4:
            time.sleep(0.2)
        e0 = stats(sock, "q")["enqueued_total"]
        measure_minute(daemon.pid, "event enqueued",
                       lambda: stats(sock, "q")["enqueued_total"], e0 + N,
                       m0)
        st = stats(sock)
        print("schedule_fired_total %d, schedule_skipped_total %d" %
              (st["schedule_fired_total"], st["schedule_skipped_total"]))
    finally:
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    celery_main() if "--celery" in sys.argv else main()
