#!/usr/bin/env python3
"""tasks.py: pushstage's task layer beside Celery and RQ, in one run.

usage: bench/tasks.py [--producerd PATH] [--n N] [--rounds R] [--json]
                      [--workloads noop,sleep,kill] [--systems ...]

Three workloads (issue 34, "Against the peers"), each system on its own
private server started for the cell and stopped after it (producerd on
a Unix socket in a temporary directory; redis-server on a Unix socket
there, port 0, no persistence: no RDB, no AOF, as producerd without
--data-dir), every worker and enqueuer a separate process of this same
interpreter:

  noop   N no-op tasks (default 100,000) enqueued from one process while
         a worker of 4, started and ready (it has run a probe task), runs
         them (--order backlog: the worker stopped with SIGSTOP while all
         N go in, then let go).  pushstage: App.enqueue_many in
         batches of 256, and Task.delay() one at a time; Celery 5.2
         (Redis broker, acks_late=True, otherwise its defaults: prefetch
         multiplier 4, no result backend, gossip/mingle/heartbeat on):
         .delay() and group(...).apply_async() of 256; RQ 1.13:
         Queue.enqueue and Queue.enqueue_many of 256.  Workers:
         `python3 -m pushstage.worker --app tb_ps -Q QUEUE -c 4 --pool
         thread`; `celery -A tb_celery worker --pool threads -c 4`; RQ,
         which runs one job at a time a worker, with 4 worker processes:
         of its default Worker (a fork a job, logging each job at INFO
         as `rq worker` does; Queue.enqueue, and at most --fork-n tasks,
         as it runs tens a second) and, its fastest mode, of SimpleWorker
         (no fork, logging at WARNING), after both ways of enqueueing.
         Every worker process imports the task module before it forks
         or runs a task (RQ's documented advice for speed).
  sleep  10,000 tasks that sleep 1 ms, 16 at a time (16 threads; RQ 16
         processes), each system's batch enqueue (enqueue_many, group,
         enqueue_many).
  kill   --kill-n tasks (default 10,000) queued, a worker of 4 started,
         killed with SIGKILL (its whole process group) once half have
         started, a fresh one started; counts the tasks that ran at
         least once, those never run (lost), and those run twice or more
         (duplicates).  Celery's acks_late messages a killed worker held
         come back only after the transport's visibility_timeout (3600 s
         by default): they are counted as held, not run; a row with
         visibility_timeout=5 s, its fresh worker started 6 s after the
         kill, shows them coming back.  RQ's job that a killed worker
         was running stays in its StartedJobRegistry, and is moved to
         the FailedJobRegistry (not run again) once its timeout passes.

Each task is the same Python body in every system: it records, in a
file every worker maps (MAP_SHARED, so a SIGKILL loses nothing written),
its start time, its end time and a count of its runs; the enqueue time
(time.time() when the call was made) travels in the task's arguments.
Reported: enqueue rate (the enqueuing process's N over its time); run
rate (N over the first task's start to the last one's end); p50/p99
from enqueue to start; CPU (user + system, /proc/PID/stat fields 14 and
15, as bench/procstat.c) of the broker (producerd, redis-server) and of
the worker's process group (fields 14 and 15 of each live process, with
16 and 17, the children it has reaped, of its leaders: RQ's forks) from
just before the enqueue starts to the last task's end, and the enqueuing
process's own (getrusage); with --order backlog, the broker's over the
enqueue and the run, the worker's over the run.  Rounds are interleaved (each round runs
every cell, in an order rotated each round); medians of the rounds are
reported.  The pushstage worker is the one a user runs; with
--ps-worker mini (or before the task worker exists) a minimal runner in
this file on pushstage.Consumer stands in, for smoke tests only.

The peers are not needed to build or test pushstage, and the tests do not
install them: `sh scripts/deps.sh python3-celery python3-rq` (redis-server
is already among its packages) or `apt-get install python3-celery
python3-rq redis-server` does.
"""

import argparse
import array
import json
import mmap
import os
import resource
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(
    __file__)), ".."))
PYCLIENT = os.path.join(ROOT, "clients", "python")
DIST = "/usr/lib/python3/dist-packages"   # Debian's python3-celery, -rq
PROBES = 16                                # slots past N for probe tasks
CLK = os.sysconf("SC_CLK_TCK")
INSTALL = ("sh scripts/deps.sh python3-celery python3-rq (or apt-get "
           "install python3-celery python3-rq redis-server)")

# --- the task modules the workers import ----------------------------------

# The one body every system's tasks run: marks in a shared file.
COMMON = r'''
import mmap, os, struct, time
_N = int(os.environ["TASKBENCH_SLOTS"])
_fd = os.open(os.environ["TASKBENCH_MARKS"], os.O_RDWR)
_mm = mmap.mmap(_fd, 0, mmap.MAP_SHARED)
os.close(_fd)
_T = (2 * _N + 7) // 8 * 8
_pack = struct.Struct("d").pack_into

def start(seq, t_enq):
    """A run of task seq starts (t_enq: when it was enqueued)."""
    t = time.time()
    if _mm[seq] == 0:
        _pack(_mm, _T + 8 * seq, t_enq)
        _pack(_mm, _T + 8 * (_N + seq), t)
    if _mm[seq] < 255:
        _mm[seq] += 1

def end(seq):
    _pack(_mm, _T + 8 * (2 * _N + seq), time.time())
    if _mm[_N + seq] < 255:
        _mm[_N + seq] += 1

def noop(seq, t_enq):
    start(seq, t_enq)
    end(seq)

def sleep1(seq, t_enq):
    start(seq, t_enq)
    time.sleep(0.001)
    end(seq)
'''

TB_PS = r'''
import os, time
import pushstage
import tb_common

app = pushstage.App(socket=os.environ["PUSHSTAGE_SOCKET"],
                    default_queue=os.environ["TASKBENCH_QUEUE"])

@app.task(name="tb.noop")
def noop(seq, t_enq):
    tb_common.noop(seq, t_enq)

@app.task(name="tb.sleep1")
def sleep1(seq, t_enq):
    tb_common.sleep1(seq, t_enq)

def enqueue(mode, fn, lo, hi, batch):
    t = noop if fn == "noop" else sleep1
    if mode == "delay":
        for i in range(lo, hi):
            t.delay(i, time.time())
    else:
        for b in range(lo, hi, batch):
            app.enqueue_many([t.s(i, time.time())
                              for i in range(b, min(hi, b + batch))])
    app.close()
'''

TB_CELERY = r'''
import os, time
from celery import Celery, group
import tb_common

app = Celery("tb_celery", broker="redis+socket://" +
             os.environ["TASKBENCH_REDIS"])
app.conf.task_acks_late = True
app.conf.task_default_queue = os.environ["TASKBENCH_QUEUE"]
if os.environ.get("TASKBENCH_VT"):
    app.conf.broker_transport_options = {
        "visibility_timeout": float(os.environ["TASKBENCH_VT"])}

@app.task(name="tb.noop")
def noop(seq, t_enq):
    tb_common.noop(seq, t_enq)

@app.task(name="tb.sleep1")
def sleep1(seq, t_enq):
    tb_common.sleep1(seq, t_enq)

def enqueue(mode, fn, lo, hi, batch):
    t = noop if fn == "noop" else sleep1
    if mode == "delay":
        for i in range(lo, hi):
            t.delay(i, time.time())
    else:
        for b in range(lo, hi, batch):
            group(t.s(i, time.time())
                  for i in range(b, min(hi, b + batch))).apply_async()
'''

TB_RQ = r'''
import logging, os, sys, time
from redis import Redis
from rq import Queue, Worker, SimpleWorker
import tb_common

noop = tb_common.noop
sleep1 = tb_common.sleep1

def conn():
    return Redis(unix_socket_path=os.environ["TASKBENCH_REDIS"])

def enqueue(mode, fn, lo, hi, batch):
    f = noop if fn == "noop" else sleep1
    q = Queue(os.environ["TASKBENCH_QUEUE"], connection=conn())
    if mode == "delay":
        for i in range(lo, hi):
            q.enqueue(f, i, time.time())
    else:
        for b in range(lo, hi, batch):
            q.enqueue_many([Queue.prepare_data(f, (i, time.time()))
                            for i in range(b, min(hi, b + batch))])

def work(kind):
    """As `rq worker QUEUE`, with this module imported before the fork
    (RQ's documented performance advice); SimpleWorker at WARNING."""
    cls = SimpleWorker if kind == "simple" else Worker
    q = Queue(os.environ["TASKBENCH_QUEUE"], connection=conn())
    w = cls([q], connection=q.connection)
    w.work(logging_level="WARNING" if kind == "simple" else "INFO")
'''


# --- processes, CPU ---------------------------------------------------------

def stat_fields(pid):
    """/proc/PID/stat's fields after the command, numbered as proc(5):
    {3: state, 4: ppid, 5: pgrp, ..., 14: utime, ...}; None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            line = f.read()
    except OSError:
        return None
    rest = line[line.rindex(")") + 2:].split()
    return {i + 3: v for i, v in enumerate(rest)}


def pid_cpu(pid):
    """User and system seconds of one process (fields 14 and 15)."""
    s = stat_fields(pid)
    if s is None:
        return 0.0, 0.0
    return int(s[14]) / CLK, int(s[15]) / CLK


def group_cpu(pgids):
    """User and system seconds of every live process in these process
    groups, plus what the groups' leaders have reaped of their children
    (fields 16 and 17): RQ's forks, done and waited for."""
    u = s = 0.0
    want = set(pgids)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        f = stat_fields(int(name))
        if f is None or int(f[5]) not in want:
            continue
        u += int(f[14]) / CLK
        s += int(f[15]) / CLK
        if int(name) in want:
            u += int(f[16]) / CLK
            s += int(f[17]) / CLK
    return u, s


def wait_socket(path, proc, what, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("%s exited %d" % (what, proc.returncode))
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return
        except OSError:
            time.sleep(0.01)
        finally:
            s.close()
    raise RuntimeError("%s did not listen at %s" % (what, path))


def stop(proc, sig=signal.SIGTERM, timeout=10):
    """Stop one process we started, and its process group when it leads
    one of its own (workers): by its PID, never by name."""
    if proc is None or proc.poll() is not None:
        if proc is not None:
            _killpg(proc, signal.SIGKILL)
        return
    try:
        if getattr(proc, "own_group", False):
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        proc.wait(timeout=timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        pass
    if proc.poll() is None:
        _killpg(proc, signal.SIGKILL)
        proc.kill()
        proc.wait()
    _killpg(proc, signal.SIGKILL)


def _killpg(proc, sig):
    """What is left of a worker's group (an RQ fork) after its leader."""
    if getattr(proc, "own_group", False):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


# --- one cell ---------------------------------------------------------------

class Marks:
    """The shared file: started[S] and done[S] counts (bytes), then
    t_enq[S], t_start[S], t_end[S] (doubles), S = N + PROBES."""

    def __init__(self, path, n):
        self.n = n
        self.s = n + PROBES
        self.t = (2 * self.s + 7) // 8 * 8
        size = self.t + 24 * self.s
        with open(path, "wb") as f:
            f.truncate(size)
        fd = os.open(path, os.O_RDWR)
        self.mm = mmap.mmap(fd, size, mmap.MAP_SHARED)
        os.close(fd)
        self.path = path

    def close(self):
        self.mm.close()

    def started(self, lo=0, hi=None):
        """How many of tasks lo..hi have started at least once."""
        hi = self.n if hi is None else hi
        return (hi - lo) - self.mm[lo:hi].count(0)

    def done(self):
        return self.n - self.mm[self.s:self.s + self.n].count(0)

    def probe_done(self, j):
        return self.mm[self.s + self.n + j] != 0

    def runs(self):
        return self.mm[0:self.n]

    def times(self, which):
        a = array.array("d")
        off = self.t + 8 * self.s * which
        a.frombytes(self.mm[off:off + 8 * self.n])
        return a


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


class Cell:
    """One system, one way of enqueueing, one kind of worker, one
    workload: its servers, workers and numbers."""

    def __init__(self, h, system, enq, worker, fn, n, conc, label,
                 vt=None):
        self.h, self.system, self.enq, self.worker = h, system, enq, worker
        self.fn, self.n, self.conc, self.label, self.vt = \
            fn, n, conc, label, vt
        self.procs = []
        self.workers = []
        self.broker = None

    # servers
    def start_broker(self):
        d = self.dir = tempfile.mkdtemp(prefix="tb-", dir=self.h.tmp)
        self.env = dict(self.h.base_env)
        self.env["TASKBENCH_QUEUE"] = "tb"
        self.marks = Marks(os.path.join(d, "marks"), self.n)
        self.env["TASKBENCH_MARKS"] = self.marks.path
        self.env["TASKBENCH_SLOTS"] = str(self.marks.s)
        if self.vt:
            self.env["TASKBENCH_VT"] = str(self.vt)
        log = open(os.path.join(d, "broker.log"), "w")
        if self.system == "pushstage":
            sock = os.path.join(d, "ps.sock")
            self.env["PUSHSTAGE_SOCKET"] = sock
            p = subprocess.Popen([self.h.producerd, "--socket", sock,
                                  "--max-queue", "0"],
                                 stdout=subprocess.DEVNULL, stderr=log)
            self.broker = p
            log.close()
            wait_socket(sock, p, "producerd")
        else:
            sock = os.path.join(d, "redis.sock")
            self.env["TASKBENCH_REDIS"] = sock
            p = subprocess.Popen([self.h.redis_server, "--port", "0",
                                  "--unixsocket", sock, "--save", "",
                                  "--appendonly", "no", "--dir", d],
                                 stdout=log, stderr=subprocess.STDOUT)
            self.broker = p
            log.close()
            wait_socket(sock, p, "redis-server")
            self.env["PYTHONPATH"] += os.pathsep + DIST

    def start_workers(self, probe=True):
        """The worker (RQ: conc of them), each leading its own process
        group, then (probe) wait until they run tasks."""
        py = sys.executable
        n_proc = 1
        if self.system == "pushstage":
            if self.h.ps_worker == "mini":
                cmd = [py, os.path.abspath(__file__), "--_mini-worker",
                       "-c", str(self.conc)]
            else:
                cmd = [py, "-m", "pushstage.worker", "--app",
                       self.h.ps_app, "-Q", "tb", "-c", str(self.conc),
                       "--pool", "thread"] + self.h.ps_worker_args
        elif self.system == "celery":
            cmd = [py, "-m", "celery", "-A", "tb_celery", "worker",
                   "--pool", "threads", "-c", str(self.conc), "-Q", "tb",
                   "-n", "tb%d@%%h" % len(self.workers)]
        else:
            cmd = [py, "-c", "import tb_rq; tb_rq.work(%r)" % self.worker]
            n_proc = self.conc
        start = len(self.workers)
        for i in range(n_proc):
            log = open(os.path.join(self.dir, "worker%d.log"
                                    % (start + i)), "w")
            if self.system == "celery":
                cmd[-1] = "tb%d@%%h" % (start + i)
            p = subprocess.Popen(cmd, env=self.env, cwd=self.dir,
                                 stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT,
                                 start_new_session=True)
            log.close()
            p.own_group = True
            self.workers.append(p)
        if probe:
            self.wait_ready(self.workers[start:])

    def wait_ready(self, procs):
        """Ready: RQ's workers registered, then a probe task run."""
        end = time.monotonic() + 60
        if self.system == "rq":
            while self.rq_count("workers") < len(procs):
                self.check_alive(procs)
                if time.monotonic() > end:
                    raise RuntimeError("RQ workers did not register")
                time.sleep(0.05)
        j = self.probe_next = getattr(self, "probe_next", -1) + 1
        self.enqueue_sub("probe", self.n + j, self.n + j + 1)
        while not self.marks.probe_done(j):
            self.check_alive(procs)
            if time.monotonic() > end:
                raise RuntimeError("%s: the worker ran no probe task in 60 s"
                                   " (see %s)" % (self.label, self.dir))
            time.sleep(0.01)

    def check_alive(self, procs):
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError("%s: a worker exited %d (see %s)"
                                   % (self.label, p.returncode, self.dir))

    def rq_count(self, what):
        """Registered RQ workers, or jobs in RQ's started/failed
        registries, or Celery's unacked messages, by redis-cli."""
        cmds = {"workers": ["SCARD", "rq:workers:tb"],
                "started": ["ZCARD", "rq:wip:tb"],
                "failed": ["ZCARD", "rq:failed:tb"],
                "unacked": ["HLEN", "unacked"],
                "queued_rq": ["LLEN", "rq:queue:tb"],
                "queued_celery": ["LLEN", "tb"]}[what]
        out = subprocess.run(["redis-cli", "-s",
                              self.env["TASKBENCH_REDIS"]] + cmds,
                             capture_output=True, text=True)
        try:
            return int(out.stdout.strip())
        except ValueError:
            return -1

    def enqueue_sub(self, mode, lo, hi, wait=True):
        """Enqueue tasks lo..hi from a process of their own."""
        cmd = [sys.executable, os.path.abspath(__file__), "--_enqueue",
               self.system, "delay" if mode == "probe" else mode,
               "sleep1" if self.fn == "sleep1" else "noop",
               str(lo), str(hi), str(self.h.batch)]
        p = subprocess.Popen(cmd, env=self.env, cwd=self.dir,
                             stdout=subprocess.PIPE)
        if not wait:
            return p
        return self.enqueue_result(p)

    def enqueue_result(self, p):
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError("%s: enqueueing failed (exit %d)"
                               % (self.label, p.returncode))
        return json.loads(out.decode().strip().splitlines()[-1])

    def cpu(self):
        bu, bs = pid_cpu(self.broker.pid)
        wu, ws = group_cpu([p.pid for p in self.workers])
        return bu, bs, wu, ws

    def teardown(self):
        for p in self.workers:
            stop(p)
        stop(self.broker)
        self.marks.close()
        if not self.h.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    # workloads
    def run(self):
        self.start_broker()
        try:
            if self.fn == "kill":
                return self.run_kill()
            return self.run_throughput()
        finally:
            self.teardown()

    def wait_done(self, timeout):
        end = time.monotonic() + timeout
        while self.marks.done() < self.n:
            self.check_alive(self.workers)
            if time.monotonic() > end:
                raise RuntimeError("%s: %d of %d done after %ds"
                                   % (self.label, self.marks.done(), self.n,
                                      timeout))
            time.sleep(0.02)

    def run_throughput(self):
        self.start_workers()
        if self.h.order == "backlog":
            # The ready worker stopped (SIGSTOP, its process group) while
            # all N go in, then let go: the enqueue has both cores, and the
            # run drains a full queue.  CPU: the broker's while enqueueing
            # apart, then both over the run.
            for p in self.workers:
                os.killpg(p.pid, signal.SIGSTOP)
            b0 = pid_cpu(self.broker.pid)
            e = self.enqueue_sub(self.enq, 0, self.n)
            b1 = pid_cpu(self.broker.pid)
            c0 = self.cpu()
            for p in self.workers:
                os.killpg(p.pid, signal.SIGCONT)
        else:
            c0 = self.cpu()
            e = self.enqueue_sub(self.enq, 0, self.n)
        self.wait_done(self.h.timeout)
        c1 = self.cpu()
        m = self.marks
        t_enq, t_start, t_end = m.times(0), m.times(1), m.times(2)
        first, last = min(t_start), max(t_end)
        lat = [(s - q) * 1000 for q, s in zip(t_enq, t_start)]
        runs = m.runs()
        dup = sum(r - 1 for r in runs if r > 1)
        r = {
            "workload": "noop" if self.fn == "noop" else "sleep",
            "system": self.system, "label": self.label,
            "enqueue": self.enq, "worker": self.worker,
            "concurrency": self.conc, "n": self.n,
            "enqueue_per_s": self.n / (e["t1"] - e["t0"]),
            "run_per_s": self.n / (last - first),
            "total_per_s": self.n / (last - e["t0"]),
            "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
            "broker_cpu_s": (c1[0] - c0[0]) + (c1[1] - c0[1]),
            "broker_sys_s": c1[1] - c0[1],
            "worker_cpu_s": (c1[2] - c0[2]) + (c1[3] - c0[3]),
            "worker_sys_s": c1[3] - c0[3],
            "client_cpu_s": e["user"] + e["sys"],
            "duplicates": dup,
        }
        r["order"] = self.h.order
        if self.h.order == "backlog":
            r["broker_enqueue_cpu_s"] = sum(b1) - sum(b0)
            r["broker_cpu_s"] += r["broker_enqueue_cpu_s"]
            del r["total_per_s"]
        r["cpu_us_per_task"] = (r["broker_cpu_s"] + r["worker_cpu_s"] +
                                r["client_cpu_s"]) / self.n * 1e6
        if self.fn == "sleep1":
            # 1 ms each, conc at a time: the least the run can take.
            r["efficiency"] = (self.n * 0.001 / self.conc) / (last - first)
        return r

    def run_kill(self):
        n = self.n
        self.enqueue_sub(self.enq, 0, n)
        self.start_workers(probe=False)
        end = time.monotonic() + self.h.timeout
        while self.marks.started() < n // 2:
            self.check_alive(self.workers)
            if time.monotonic() > end:
                raise RuntimeError("%s: half never started" % self.label)
            time.sleep(0.002)
        for p in self.workers:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.workers:
            p.wait()
        at_kill = self.marks.started()
        done_at_kill = self.marks.done()
        t_kill = time.monotonic()
        if self.vt:
            # kombu restores the messages of a dead consumer older than
            # the visibility timeout when a worker starts polling, then
            # only every 100 s (restore_visible's every 10th call, called
            # every 10 s): the fresh worker starts once they are due.
            time.sleep(self.vt + 1)
        self.start_workers(probe=False)
        # Until every task ran, or nothing new ran for --settle seconds.
        settle = self.h.settle
        last, seen = time.monotonic(), -1
        while True:
            s = self.marks.started()
            if s >= n:
                break
            if s != seen:
                seen, last = s, time.monotonic()
            elif time.monotonic() - last > settle:
                break
            self.check_alive(self.workers[-(self.conc if self.system == "rq"
                                            else 1):])
            time.sleep(0.02)
        recovered = time.monotonic() - t_kill
        time.sleep(0.2)
        runs = self.marks.runs()
        ran = n - runs.count(0)
        r = {"workload": "kill", "system": self.system, "label": self.label,
             "worker": self.worker, "concurrency": self.conc, "n": n,
             "started_at_kill": at_kill, "done_at_kill": done_at_kill,
             "ran": ran, "lost": n - ran,
             "duplicates": sum(x - 1 for x in runs if x > 1),
             "seconds_after_kill": recovered}
        # Where the tasks not run are: still queued (they would run
        # later), held for a later redelivery, or nowhere.
        if self.system == "celery":
            r["queued"] = self.rq_count("queued_celery")
            r["held"] = self.rq_count("unacked")
            r["held_what"] = "unacked (visibility_timeout %ss)" % (
                self.vt or 3600)
        elif self.system == "rq":
            r["queued"] = self.rq_count("queued_rq")
            r["held"] = self.rq_count("started") + self.rq_count("failed")
            r["held_what"] = "StartedJobRegistry + FailedJobRegistry"
        else:
            r["queued"] = self.ps_queued()
        return r

    def ps_queued(self):
        """Events of the queue not yet done: queued plus in flight (by
        pushctl, when it was built beside producerd)."""
        pushctl = os.path.join(os.path.dirname(os.path.dirname(
            self.h.producerd)), "pushctl", "pushctl")
        if not os.access(pushctl, os.X_OK):
            return -1
        out = subprocess.run([pushctl, "--socket",
                              self.env["PUSHSTAGE_SOCKET"], "stats", "-q",
                              "tb", "--json"], capture_output=True, text=True)
        try:
            st = json.loads(out.stdout)
            return int(st["queued"]) + int(st["in_flight"])
        except (ValueError, KeyError, TypeError):
            return -1


# --- the internal roles: enqueuer, minimal pushstage runner -----------------

def role_enqueue(argv):
    system, mode, fn, lo, hi, batch = argv
    mod = __import__({"pushstage": "tb_ps", "celery": "tb_celery",
                      "rq": "tb_rq"}[system])
    lo, hi, batch = int(lo), int(hi), int(batch)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.time()
    mod.enqueue(mode, fn, lo, hi, batch)
    t1 = time.time()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"t0": t0, "t1": t1, "user": r1.ru_utime - r0.ru_utime,
                      "sys": r1.ru_stime - r0.ru_stime}))
    return 0


def role_mini_worker(argv):
    """A stand-in for `pushstage.worker --app` (smoke tests only): a
    Consumer, conc threads, the envelope decoded, the function called,
    its result acked."""
    import queue as Q
    import threading
    import tb_ps
    from pushstage import Consumer
    from pushstage import envelope as E
    conc = int(argv[argv.index("-c") + 1])
    app = tb_ps.app
    # As pushstage.worker --app: one event asked for as each starts.
    con = Consumer(app.default_queue, id="mini-%d" % os.getpid(),
                   max_demand=conc + 1, min_demand=conc, socket=app.socket)
    work = Q.SimpleQueue()

    def handle():
        while True:
            ev = work.get()
            name = dict(ev.raw_headers).get("task", b"").decode()
            args, kwargs = E.decode_call(ev.data)
            r = app.tasks[name].fn(*args, **kwargs)
            ev.ack(E.encode_result(r))

    for _ in range(conc):
        threading.Thread(target=handle, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    for ev in con:
        work.put(ev)
    return 0


# --- the harness ------------------------------------------------------------

class Harness:
    pass


def find_producerd(arg):
    for p in ([arg] if arg else []) + [
            os.path.join(ROOT, "build", "producerd", "producerd"),
            os.path.join(ROOT, "build-rel", "producerd", "producerd"),
            shutil.which("producerd") or ""]:
        if p and os.access(p, os.X_OK):
            return os.path.abspath(p)
    sys.exit("tasks.py: no producerd: build it (meson setup build "
             "-Dbuildtype=release && ninja -C build) or give --producerd")


def peers_missing():
    """{system: why} for the peers this machine lacks."""
    out = {}
    sys.path.append(DIST)
    have_redis = shutil.which("redis-server") and shutil.which("redis-cli")
    for system, mods in (("celery", ("celery", "redis")),
                         ("rq", ("rq", "redis"))):
        why = []
        if not have_redis:
            why.append("redis-server")
        for m in mods:
            try:
                __import__(m)
            except ImportError:
                why.append({"celery": "python3-celery", "rq": "python3-rq",
                            "redis": "python3-redis"}[m])
        if why:
            out[system] = ", ".join(why)
    return out


def landed_worker(pyclient):
    """Whether pushstage's task worker is here: pushstage/taskworker.py,
    or an --app option in pushstage/worker.py."""
    pkg = os.path.join(pyclient, "pushstage")
    if os.path.exists(os.path.join(pkg, "taskworker.py")):
        return True
    try:
        with open(os.path.join(pkg, "worker.py")) as f:
            return '"--app"' in f.read()
    except OSError:
        return False


def cells(h, a):
    """The cells of one round, in order."""
    out = []
    k = a.kill_n
    conc = 4
    if "noop" in a.workloads:
        if "pushstage" in h.systems:
            out.append(("pushstage", "enqueue_many", "thread", "noop", a.n,
                        conc, "pushstage enqueue_many, worker -c 4"))
            out.append(("pushstage", "delay", "thread", "noop", a.n, conc,
                        "pushstage delay, worker -c 4"))
        if "celery" in h.systems:
            out.append(("celery", "delay", "threads", "noop", a.n, conc,
                        "Celery delay, --pool threads -c 4"))
            out.append(("celery", "group", "threads", "noop", a.n, conc,
                        "Celery group of %d, --pool threads -c 4" % a.batch))
        if "rq" in h.systems:
            out.append(("rq", "delay", "fork", "noop", min(a.n, a.fork_n),
                        conc, "RQ enqueue, 4 x Worker (fork a job)"))
            out.append(("rq", "delay", "simple", "noop", a.n, conc,
                        "RQ enqueue, 4 x SimpleWorker"))
            out.append(("rq", "enqueue_many", "simple", "noop", a.n, conc,
                        "RQ enqueue_many, 4 x SimpleWorker"))
    if "sleep" in a.workloads:
        s = a.sleep_n
        if "pushstage" in h.systems:
            out.append(("pushstage", "enqueue_many", "thread", "sleep1", s,
                        16, "pushstage enqueue_many, worker -c 16"))
        if "celery" in h.systems:
            out.append(("celery", "group", "threads", "sleep1", s, 16,
                        "Celery group, --pool threads -c 16"))
        if "rq" in h.systems:
            out.append(("rq", "enqueue_many", "fork", "sleep1",
                        min(s, a.fork_n), 16,
                        "RQ enqueue_many, 16 x Worker (fork a job)"))
            out.append(("rq", "enqueue_many", "simple", "sleep1", s, 16,
                        "RQ enqueue_many, 16 x SimpleWorker"))
    if "kill" in a.workloads:
        if "pushstage" in h.systems:
            out.append(("pushstage", "enqueue_many", "thread", "kill", k,
                        conc, "pushstage, worker -c 4"))
        if "celery" in h.systems:
            out.append(("celery", "group", "threads", "kill", k, conc,
                        "Celery acks_late, --pool threads -c 4"))
            out.append(("celery", "group", "threads", "kill", k, conc,
                        "Celery acks_late, visibility_timeout=5s", 5))
        if "rq" in h.systems:
            out.append(("rq", "enqueue_many", "fork", "kill", min(k, a.fork_n),
                        conc, "RQ 4 x Worker (fork a job)"))
            out.append(("rq", "enqueue_many", "simple", "kill", k, conc,
                        "RQ 4 x SimpleWorker"))
    return out


def fmt_rate(x):
    if x >= 1e6:
        return "%.2fM" % (x / 1e6)
    if x >= 1e4:
        return "%.1fk" % (x / 1e3)
    return "{:,.0f}".format(x)


def med(rows, k):
    xs = [r[k] for r in rows if k in r]
    return statistics.median(xs) if xs else float("nan")


def rng(rows, k, f=fmt_rate):
    xs = [r[k] for r in rows if k in r]
    if len(xs) < 2:
        return ""
    return " (%s-%s)" % (f(min(xs)), f(max(xs)))


def summary(results):
    """The medians of each cell over the rounds (kill: each round's)."""
    by = {}
    for r in results:
        if "error" not in r:
            by.setdefault((r["workload"], r["label"]), []).append(r)
    out = []
    for (w, label), rs in by.items():
        o = {"workload": w, "label": label, "system": rs[0]["system"],
             "n": rs[0]["n"], "rounds": len(rs)}
        for k, v in rs[0].items():
            if k in o or not isinstance(v, (int, float)) or \
                    k in ("round", "concurrency"):
                continue
            if w == "kill":
                o[k] = [r[k] for r in rs]
            else:
                o[k] = med(rs, k)
                o[k + "_range"] = [min(r[k] for r in rs),
                                   max(r[k] for r in rs)]
        out.append(o)
    return out


def report(results, a, h):
    by = {}
    for r in results:
        by.setdefault((r["workload"], r["label"]), []).append(r)
    print("pushstage tasks against Celery and RQ: python %s, %d round%s, "
          "order %s, pushstage worker: %s" % (
              sys.version.split()[0], a.rounds, "" if a.rounds == 1 else "s",
              a.order, h.ps_worker_desc))
    for w, title in (("noop", "no-op tasks"), ("sleep", "tasks of 1 ms")):
        keys = [k for k in by if k[0] == w]
        if not keys:
            continue
        print()
        print("%s (medians; enqueue and run in tasks/s, latency enqueue to "
              "start in ms, CPU user+sys s over enqueue start to last end)"
              % title)
        print("%-44s %7s %-20s %-20s %8s %8s %7s %7s %7s %8s%s" % (
            "system", "n", "enqueue/s", "run/s", "p50 ms", "p99 ms",
            "broker", "worker", "client", "us/task",
            " effic." if w == "sleep" else ""))
        for k in keys:
            rs = by[k]
            print("%-44s %7d %-20s %-20s %8.1f %8.1f %7.2f %7.2f %7.2f "
                  "%8.0f%s" % (
                      k[1], rs[0]["n"],
                      fmt_rate(med(rs, "enqueue_per_s")) +
                      rng(rs, "enqueue_per_s"),
                      fmt_rate(med(rs, "run_per_s")) + rng(rs, "run_per_s"),
                      med(rs, "p50_ms"), med(rs, "p99_ms"),
                      med(rs, "broker_cpu_s"), med(rs, "worker_cpu_s"),
                      med(rs, "client_cpu_s"), med(rs, "cpu_us_per_task"),
                      " %5.0f%%" % (100 * med(rs, "efficiency"))
                      if w == "sleep" else ""))
        best = {}
        for k in keys:
            s = by[k][0]["system"]
            best[s] = max(best.get(s, 0), med(by[k], "run_per_s"))
        if "pushstage" in best:
            for s in ("celery", "rq"):
                if s in best:
                    print("  run rate, best pushstage / best %s: %.2fx"
                          % (s, best["pushstage"] / best[s]))
    keys = [k for k in by if k[0] == "kill"]
    if keys:
        print()
        print("killed with SIGKILL once half had started, a fresh worker "
              "started (each round's numbers)")
        print("%-44s %6s %-12s %-8s %-10s %-12s %-8s %s" % (
            "system", "n", "ran >= once", "lost", "duplicates",
            "started @kill", "queued", "held by the broker"))
        for k in keys:
            rs = by[k]
            j = lambda f: ",".join(str(r[f]) for r in rs)
            print("%-44s %6d %-12s %-8s %-10s %-12s %-8s %s" % (
                k[1], rs[0]["n"], j("ran"), j("lost"), j("duplicates"),
                j("started_at_kill"), j("queued"),
                ("%s: %s" % (rs[0]["held_what"], j("held")))
                if "held" in rs[0] else ""))
    errs = [r for r in results if "error" in r]
    for r in errs:
        print("FAILED: %s %s: %s" % (r["workload"], r["label"], r["error"]))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--_enqueue":
        return role_enqueue(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--_mini-worker":
        return role_mini_worker(sys.argv[2:])
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 5)[5])
    ap.add_argument("--producerd", help="producerd to run (default: "
                    "build/producerd/producerd, then build-rel's)")
    ap.add_argument("--n", type=int, default=100000,
                    help="no-op tasks a run (default 100000)")
    ap.add_argument("--sleep-n", type=int, default=10000,
                    help="1 ms tasks a run (default 10000)")
    ap.add_argument("--kill-n", type=int, default=10000,
                    help="tasks of the kill test (default 10000)")
    ap.add_argument("--fork-n", type=int, default=2000,
                    help="at most this many tasks for RQ's forking Worker, "
                    "which runs tens a second here (default 2000)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--order", choices=("live", "backlog"), default="live",
                    help="live (default): the worker is running, ready, "
                    "when the enqueue starts; backlog: it is stopped "
                    "(SIGSTOP) while all N go in, then let go (then the "
                    "latency is mostly the wait behind the backlog)")
    ap.add_argument("--batch", type=int, default=256,
                    help="enqueue_many / group / RQ enqueue_many size")
    ap.add_argument("--workloads", default="noop,sleep,kill")
    ap.add_argument("--systems", default="pushstage,celery,rq")
    ap.add_argument("--ps-worker", choices=("auto", "official", "mini"),
                    default="auto", help="official: python3 -m "
                    "pushstage.worker --app; mini: this file's stand-in, "
                    "for smoke tests (auto: official once it exists)")
    ap.add_argument("--ps-app", default="tb_ps",
                    help="what --app is given (default tb_ps)")
    ap.add_argument("--ps-worker-args", default="",
                    help="more arguments for pushstage.worker")
    ap.add_argument("--pyclient", default=PYCLIENT,
                    help="the directory holding the pushstage package the "
                    "enqueuers and workers import (default: clients/python "
                    "of this tree)")
    ap.add_argument("--settle", type=float, default=5.0,
                    help="kill test: seconds without a new task before "
                    "counting (default 5)")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--keep", action="store_true",
                    help="keep each cell's directory (logs) under /tmp")
    ap.add_argument("--json", action="store_true",
                    help="one JSON object per cell and round, then none "
                    "of the table")
    a = ap.parse_args()
    a.workloads = a.workloads.split(",")
    h = Harness()
    h.producerd = find_producerd(a.producerd)
    h.batch = a.batch
    h.keep = a.keep
    h.settle = a.settle
    h.timeout = a.timeout
    h.order = a.order
    h.ps_app = a.ps_app
    h.ps_worker_args = shlex.split(a.ps_worker_args)
    a.pyclient = os.path.abspath(a.pyclient)
    landed = landed_worker(a.pyclient)
    if a.ps_worker == "auto":
        h.ps_worker = "official" if landed else "mini"
    else:
        h.ps_worker = a.ps_worker
    if h.ps_worker == "official" and not landed:
        sys.exit("tasks.py: pushstage.worker has no --app here yet; "
                 "--ps-worker mini for a smoke test")
    h.ps_worker_desc = ("python3 -m pushstage.worker --app (the user's)"
                        if h.ps_worker == "official" else
                        "tasks.py's minimal stand-in: SMOKE TEST ONLY, "
                        "not pushstage.worker")
    if h.ps_worker == "mini":
        print("tasks.py: pushstage's task worker is not here: using the "
              "minimal stand-in (numbers for smoke tests only)",
              file=sys.stderr)
    h.systems = a.systems.split(",")
    missing = peers_missing()
    for s, why in missing.items():
        if s in h.systems:
            print("tasks.py: %s skipped: missing %s; install with: %s"
                  % ({"celery": "Celery", "rq": "RQ"}[s], why, INSTALL),
                  file=sys.stderr)
            h.systems.remove(s)
    h.redis_server = shutil.which("redis-server")
    h.tmp = tempfile.mkdtemp(prefix="pushstage-taskbench-")
    # Each interpreter finds the task modules (the cell's directory is
    # its cwd, where they are written) and the pushstage package.
    for name, src in (("tb_common", COMMON), ("tb_ps", TB_PS),
                      ("tb_celery", TB_CELERY), ("tb_rq", TB_RQ)):
        with open(os.path.join(h.tmp, name + ".py"), "w") as f:
            f.write(src)
    h.base_env = dict(os.environ)
    h.base_env["PYTHONPATH"] = os.pathsep.join(
        [h.tmp, a.pyclient] + ([os.environ["PYTHONPATH"]]
                             if os.environ.get("PYTHONPATH") else []))
    h.base_env.pop("PUSHSTAGE_SOCKET", None)
    plan = cells(h, a)
    results = []
    try:
        for rnd in range(a.rounds):
            k = rnd % len(plan) if plan else 0
            for c in plan[k:] + plan[:k]:
                cell = Cell(h, *c[:7], vt=c[7] if len(c) > 7 else None)
                print("round %d: %s: %s ..." % (rnd + 1, c[3], c[6]),
                      file=sys.stderr, flush=True)
                try:
                    r = cell.run()
                except RuntimeError as e:
                    r = {"workload": {"sleep1": "sleep"}.get(c[3], c[3]),
                         "label": c[6], "system": c[0], "error": str(e)}
                r["round"] = rnd + 1
                if a.json:
                    print(json.dumps(r), flush=True)
                results.append(r)
    finally:
        if not a.keep:
            shutil.rmtree(h.tmp, ignore_errors=True)
        else:
            print("tasks.py: kept %s" % h.tmp, file=sys.stderr)
    if a.json:
        print(json.dumps({"summary": summary(results), "python":
                          sys.version.split()[0], "rounds": a.rounds,
                          "pushstage_worker": h.ps_worker_desc}))
    else:
        report([r for r in results if "error" not in r] +
               [r for r in results if "error" in r], a, h)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
