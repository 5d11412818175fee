#!/usr/bin/env python3
"""python.py: the Python client against redis-py, in the same run.

usage: bench/python.py [--build DIR] [--events N] [--size BYTES] [--runs R]
                       [--quick]

Two workloads, each for pushstage (clients/python, on a private
producerd) and for redis-py (Debian's python3-redis, on a private
redis-server over a Unix socket, no persistence), runs alternating:

  enqueue   N events of BYTES bytes in batches of 256: Client.enqueue of a
            list against LPUSH of 256 values.
  consume   N events already queued, taken by one consumer: a pushstage
            Consumer with max_demand 256 (min_demand 128, GenStage's
            default) iterated, each event acked with event.ack(), against
            BLMPOP ... LEFT COUNT 256 in a loop (Redis has no ack).
  batches   the same with Consumer.batch() and Consumer.ack(batch): every
            event acked, a batch at a time (Redis as in consume).

Prints events/s, the median of the runs and their range, and the ratio.
With --quick, small counts and one run, and it checks that every event
arrived once (the project's tests run it so); no timing is asserted.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
import pushstage as ps  # noqa: E402

try:
    import redis
except ImportError:
    # Debian's python3-redis, when this interpreter is not Debian's.
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import redis
    except ImportError:
        sys.exit("python.py: redis-py is missing: apt-get install "
                 "python3-redis (scripts/deps.sh installs it)")

BATCH = 256


def wait_path(path, proc, what):
    end = time.monotonic() + 20
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit("python.py: %s exited %d" % (what, proc.returncode))
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return
        except OSError:
            time.sleep(0.01)
        finally:
            s.close()
    sys.exit("python.py: %s did not listen at %s" % (what, path))


class Servers:
    def __init__(self, build):
        self.dir = tempfile.mkdtemp(prefix="pushstage-pybench-")
        self.ps_sock = os.path.join(self.dir, "ps.sock")
        self.redis_sock = os.path.join(self.dir, "redis.sock")
        prod = os.environ.get("PRODUCERD") or \
            os.path.join(build, "producerd", "producerd")
        self.procs = []
        p = subprocess.Popen([prod, "--socket", self.ps_sock,
                              "--max-queue", "0"],
                             stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.dir, "p.log"), "w"))
        self.procs.append(p)
        wait_path(self.ps_sock, p, "producerd")
        r = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket",
                              self.redis_sock, "--save", "", "--appendonly",
                              "no", "--dir", self.dir],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(r)
        wait_path(self.redis_sock, r, "redis-server")

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def batches(n, size, tag):
    pad = b"x" * max(0, size - 12)
    out = []
    for b in range(0, n, BATCH):
        out.append([b"%s%010d" % (tag, i) + pad
                    for i in range(b, min(n, b + BATCH))])
    return out


def ps_enqueue(srv, q, data):
    c = ps.Client(srv.ps_sock)
    c.version
    t = time.perf_counter()
    for b in data:
        c.enqueue(q, b)
    dt = time.perf_counter() - t
    c.close()
    return dt


def redis_enqueue(srv, key, data):
    r = redis.Redis(unix_socket_path=srv.redis_sock)
    r.ping()
    t = time.perf_counter()
    for b in data:
        r.lpush(key, *b)
    dt = time.perf_counter() - t
    r.close()
    return dt


def each_event(con, n, seen):
    """Iterate, event.ack() on each."""
    got = 0
    for ev in con:
        if seen is not None:
            seen.add(ev.data)
        ev.ack()
        got += 1
        if got == n:
            return


def by_batch(con, n, seen):
    """Consumer.batch(), and one Consumer.ack(batch) each."""
    got = 0
    while got < n:
        evs = con.batch()
        if seen is not None:
            seen.update(e.data for e in evs)
        con.ack(evs)
        got += len(evs)


def ps_consume(srv, q, n, check, take=each_event):
    """n queued events taken by one consumer (take says how), timed until
    the daemon has every ack."""
    c = ps.Client(srv.ps_sock)
    con = ps.Consumer(q, id="bench", max_demand=BATCH, socket=srv.ps_sock)
    seen = set() if check else None
    t = time.perf_counter()
    take(con, n, seen)
    con.flush()
    while c.stats(q)["acked_total"] < n:
        pass
    dt = time.perf_counter() - t
    con.close()
    if check:
        assert len(seen) == n, (len(seen), n)
        st = c.stats(q)
        assert st["queued"] == 0 and st["in_flight"] == 0, st
    c.delete(q, force=True)
    c.close()
    return dt


def redis_consume(srv, key, n, check):
    r = redis.Redis(unix_socket_path=srv.redis_sock)
    seen = set() if check else None
    got = 0
    t = time.perf_counter()
    while got < n:
        _, items = r.execute_command("BLMPOP", 0, 1, key, "LEFT", "COUNT",
                                     BATCH)
        got += len(items)
        if seen is not None:
            seen.update(items)
    dt = time.perf_counter() - t
    if check:
        assert len(seen) == n and r.llen(key) == 0, (len(seen), n)
    r.close()
    return dt


def fmt(x):
    return "{:,.0f}".format(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-rel"))
    ap.add_argument("--events", type=int, default=256000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.events, a.runs = 5000, 1
    if a.size < 12:
        ap.error("--size must be at least 12")
    srv = Servers(a.build)
    rates = {k: [] for k in ("ps_enq", "r_enq", "ps_con", "r_con", "ps_bat",
                             "r_bat")}
    try:
        for run in range(a.runs):
            q = "bench%d" % run
            data = batches(a.events, a.size, b"e")
            rates["ps_enq"].append(a.events / ps_enqueue(srv, q, data))
            rates["r_enq"].append(a.events / redis_enqueue(srv, q, data))
            rates["ps_con"].append(a.events / ps_consume(srv, q, a.events,
                                                         a.quick))
            rates["r_con"].append(a.events / redis_consume(srv, q, a.events,
                                                           a.quick))
            q = "batch%d" % run
            ps_enqueue(srv, q, data)
            redis_enqueue(srv, q, data)
            rates["ps_bat"].append(a.events / ps_consume(srv, q, a.events,
                                                         a.quick, by_batch))
            rates["r_bat"].append(a.events / redis_consume(srv, q, a.events,
                                                           a.quick))
    finally:
        srv.stop()
    print("python %s, %d events of %d bytes, batches and demand of %d, "
          "%d run%s" % (sys.version.split()[0], a.events, a.size, BATCH,
                        a.runs, "" if a.runs == 1 else "s"))
    print("%-8s %-10s %-30s %s" % ("workload", "system",
                                   "events/s (median, range)", "ratio"))
    for w, p, r in (("enqueue", "ps_enq", "r_enq"),
                    ("consume", "ps_con", "r_con"),
                    ("batches", "ps_bat", "r_bat")):
        mp, mr = statistics.median(rates[p]), statistics.median(rates[r])
        print("%-8s %-10s %-30s %.2f" % (w, "pushstage", "%s (%s-%s)" % (
            fmt(mp), fmt(min(rates[p])), fmt(max(rates[p]))), mp / mr))
        print("%-8s %-10s %-30s" % (w, "redis-py", "%s (%s-%s)" % (
            fmt(mr), fmt(min(rates[r])), fmt(max(rates[r])))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
