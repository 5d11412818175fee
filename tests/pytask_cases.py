#!/usr/bin/env python3
"""pytask_cases.py: the Python task layer's client side (pushstage.tasks,
pushstage.envelope; docs/tasks.md) against a real producerd: the
envelope's test vectors, calls and their options as the daemon stores
them, results, failures, cancels and waits through a TaskJob.  The
worker's cases are taskworker_cases.py.

usage: pytask_cases.py CASE   (PRODUCERD names the daemon)
"""

import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))

import pushstage as ps                       # noqa: E402
from pushstage import envelope as E          # noqa: E402
import integration                           # noqa: E402

VECTORS = os.path.join(HERE, "fixtures", "tasks", "vectors.json")


def vectors():
    with open(VECTORS, encoding="utf-8") as f:
        return json.load(f)


def expect(exc, text, fn, *args, **kw):
    """fn(*args, **kw) raises exc whose message holds text."""
    try:
        fn(*args, **kw)
    except exc as e:
        assert text in str(e), "%r not in %r" % (text, str(e))
        return e
    raise AssertionError("%s did not raise %s" % (fn, exc.__name__))


def app_of(h, queue="t", **kw):
    return ps.App(socket=h.sock, default_queue=queue, **kw)


def consume(h, queue, n, answer):
    """Take n events of queue on a consumer of our own and answer each
    with answer(event): the run a worker would do, by hand."""
    c = ps.Consumer(queue, id="by-hand", socket=h.sock, max_demand=n)
    try:
        got = 0
        for ev in c:
            answer(ev)
            got += 1
            if got == n:
                return
    finally:
        c.close()


def case_task_vectors(h):
    """pushstage.envelope against tests/fixtures/tasks/vectors.json:
    each call encodes to its payload byte for byte and decodes back;
    each decode case reads; each bad payload is refused saying why; each
    result and error encodes to its bytes and back."""
    v = vectors()
    for c in v["calls"]:
        args, kwargs = json.loads(c["args_json"]), json.loads(c["kwargs_json"])
        assert E.encode_call(args, kwargs).hex() == c["payload_hex"], c
        assert E.decode_call(bytes.fromhex(c["payload_hex"])) == \
            (args, kwargs), c
    for d in v["decode"]:
        assert E.decode_call(d["payload"].encode()) == \
            (json.loads(d["args_json"]), json.loads(d["kwargs_json"])), d
    for b in v["bad_payloads"]:
        expect(E.BadPayload, b["why"], E.decode_call,
               bytes.fromhex(b["payload_hex"]))
    for r in v["results"]:
        val = json.loads(r["value_json"])
        assert E.encode_result(val).hex() == r["result_hex"], r
        assert E.decode_result(bytes.fromhex(r["result_hex"])) == val, r
    for e in v["errors"]:
        assert E.encode_error(**e["error"]).hex() == e["error_hex"], e
        got = E.decode_error(bytes.fromhex(e["error_hex"]))
        assert (got.type, got.message, got.traceback) == \
            (e["error"]["type"], e["error"]["message"],
             e["error"]["traceback"]), e
    # The content types that say the envelope's encoding.
    for ct, ok in [(None, True), ("application/json", True),
                   ("Application/JSON; charset=utf-8", True),
                   (" application/json ;x", True), ("application/jsonx", False),
                   ("text/plain", False), ("", False)]:
        assert E.is_json_type(ct) is ok, ct
    # A plain ACK reads as null; a worker's plain-text error as a message.
    assert E.decode_result(None) is None and E.decode_result(b"") is None
    t = E.decode_error("exit status 3")
    assert (t.type, t.message) == ("Error", "exit status 3"), t
    # Errors are cut to 4096 bytes: the traceback from its start, then
    # the message at its end; escapes count.
    for args in [("X", "m" * 5000, "\x01\"\\" * 3000 + "END"),
                 ("Y", "é" * 5000, "t" * 10000 + "END"),
                 ("Z" * 300, "\x01" * 3000, "")]:
        b = E.encode_error(*args)
        assert len(b) <= 4096, len(b)
        d = json.loads(b)
        assert d["message"] and d["type"], d
        if args[2]:
            assert d["traceback"].endswith("END"), d["traceback"][-10:]
            assert len(b) > 4000, len(b)
    # An exception's error names it and keeps its traceback's end.
    try:
        raise ValueError("size must be positive")
    except ValueError as e:
        d = json.loads(E.error_of(e))
    assert d["type"] == "ValueError" and \
        d["message"] == "size must be positive", d
    assert d["traceback"].endswith("ValueError: size must be positive\n"), d


def case_task_enqueue(h):
    """A call as the daemon stores it: its task and content-type
    headers, the envelope payload, and each option of the task and of
    apply() (queue, delay, at, priority, key by rule, unique, headers)."""
    h.start_daemon()
    app = app_of(h, "t")

    @app.task
    def plain(x, y=1):
        return x + y

    @app.task(name="img.resize", queue="img", priority=7,
              key=lambda photo, **kw: "photo-%d" % photo, unique=True)
    def resize(photo, size=1):
        return None

    assert plain.name == "__main__.plain" or plain.name.endswith(".plain"), \
        plain.name
    assert plain(2, y=3) == 5                     # a call runs it here
    assert app.tasks["img.resize"] is resize and resize.queue == "img"
    c = ps.Client(h.sock)
    j = plain.delay(1, y=2)
    assert j.queue == "t" and j.id, j
    got = c.job("t", j.id, preview=1024)
    assert got.state == "queued", got
    assert got.headers == {"task": plain.name,
                           "content-type": "application/json"}, got.headers
    assert got.preview == b'{"args":[1],"kwargs":{"y":2}}', got.preview
    assert j.status().state == "queued"
    # The task's options.
    r = resize.delay(42, size=3)
    got = c.job("img", r.id)
    assert got.priority == 7 and got.key == b"photo-42", got
    assert r.unique_id and len(r.unique_id) == 64, r.unique_id
    # unique: the same call again is a duplicate standing for the first.
    again = resize.delay(42, size=3)
    assert again.duplicate and again.id == r.id, (again.id, r.id)
    other = resize.delay(42, size=4)
    assert not other.duplicate and other.id != r.id
    # apply()'s options over the task's.
    a = resize.apply((7,), {"size": 1}, priority=1, key="mine",
                     unique_id="u-7", headers={"traceparent": "00-ab"},
                     queue="img2", delay=3600)
    got = c.job("img2", a.id)
    assert got.state == "delayed" and got.priority == 1, got
    assert got.key == b"mine", got.key
    assert got.headers["traceparent"] == "00-ab" and \
        got.headers["task"] == "img.resize", got.headers
    assert c.job("img2", unique_id="u-7").id == a.id
    at = time.time() + 7200
    b = plain.apply((1,), at=at)
    got = c.job("t", b.id)
    assert got.state == "delayed" and abs(got.at - at) < 1.5, (got.at, at)
    c.close()
    app.close()


def case_task_bad_calls(h):
    """What cannot be sent is refused at the call, naming what is wrong,
    and nothing is stored: arguments JSON cannot encode, bad options,
    a header that would change the task, a name twice."""
    h.start_daemon()
    app = app_of(h, "t")

    @app.task
    def f(*a, **k):
        return None

    expect(TypeError, "argument 2", f.delay, 1, object())
    expect(TypeError, "argument size", f.delay, size=float("nan"))
    expect(TypeError, "argument 1", f.delay, b"bytes")
    expect(TypeError, "argument 1", f.delay, {1, 2})
    expect(TypeError, "argument 1", f.delay, "\ud800")
    expect(ValueError, "delay and at", f.apply, (), delay=1, at=5)
    expect(ValueError, "\"task\"", f.apply, (), headers={"task": "other"})
    expect(ValueError, "content-type", f.apply, (),
           headers={"content-type": "text/plain"})
    expect(TypeError, "Task.s", app.enqueue_many, [b"raw"])
    assert ps.Client(h.sock).stats("t")["queued"] == 0 \
        if _queue_exists(h, "t") else True
    # The decorator's options.
    for kw, text in [({"max_attempts": 0}, "max_attempts"),
                     ({"priority": 70000}, "priority"),
                     ({"time_limit": -1}, "time_limit"),
                     ({"soft_time_limit": 5, "time_limit": 2},
                      "soft_time_limit"),
                     ({"backoff": "x:y"}, "backoff"),
                     ({"backoff": (5, 1)}, "backoff"),
                     ({"name": ""}, "task name"),
                     ({"name": "a\nb"}, "control"),
                     ({"name": "n" * 256}, "256 bytes")]:
        expect(ValueError, text, app.task(**kw), lambda: None)

    @app.task(name="dup")
    def g():
        return None
    expect(ValueError, "registered twice", app.task(name="dup"),
           lambda: None)
    app.close()


def _queue_exists(h, q):
    return any(i.name == q for i in ps.Client(h.sock).queues())


def case_task_results(h):
    """TaskJob.result() is the daemon's WAIT: the return value once it is
    done (JSON), TaskFailed with the envelope's error once it is dead,
    TaskCancelled, TimeoutError while it runs, TaskGone when the queue
    keeps no record; status() follows it."""
    h.start_daemon()
    r = h.pushctl("queue", "create", "t", "keep-done=1h", "max-attempts=1")
    assert r.returncode == 0, r.stderr
    app = app_of(h, "t")

    @app.task
    def area(w, h):
        return {"area": w * h}

    ok = area.delay(3, 4)
    bad = area.delay(1, 0)
    expect(TimeoutError, "still queued", ok.result, timeout=0)
    # A result waited for from another thread is answered when it ends.
    box = {}
    t = threading.Thread(target=lambda: box.update(v=ok.result(timeout=60)))
    t.start()

    def answer(ev):
        args, kwargs = E.decode_call(ev.data)
        if args[1] == 0:
            try:
                raise ZeroDivisionError("h is 0")
            except ZeroDivisionError as e:
                ev.nack(error=E.error_of(e))
        else:
            ev.ack(result=E.encode_result(app.tasks[
                ev.headers["task"]](*args, **kwargs)))
    consume(h, "t", 2, answer)
    t.join(60)
    assert box.get("v") == {"area": 12}, box
    assert ok.result(timeout=5) == {"area": 12}
    assert ok.status().state == "done"
    e = expect(ps.TaskFailed, "ZeroDivisionError", bad.result, timeout=30)
    assert e.type == "ZeroDivisionError" and e.message == "h is 0", e
    assert "raise ZeroDivisionError" in e.traceback, e.traceback
    assert e.job is bad and bad.status().state == "dead"
    # Cancelled while a result is awaited: TaskCancelled; once gone, a
    # new wait cannot tell a cancel from a done task of a queue without
    # keep-done, and says so.
    gone = area.delay(2, 2)
    box = {}

    def waiting():
        try:
            gone.result(timeout=60)
        except ps.TaskCancelled as e:
            box["e"] = e
    t = threading.Thread(target=waiting)
    t.start()
    h.wait_for(lambda: ps.Client(h.sock).stats("t")["waits"] == 1,
               what="the wait registered")
    assert gone.cancel() is True
    t.join(60)
    assert "cancelled" in str(box.get("e")), box
    expect(ps.TaskGone, "cancelled", gone.result, timeout=5)
    expect(ps.PushstageError, "", gone.cancel)   # already ended
    # A queue that keeps no record: done and forgotten.
    r = h.pushctl("queue", "create", "nokeep")
    assert r.returncode == 0, r.stderr
    n = area.apply((1, 1), queue="nokeep")
    consume(h, "nokeep", 1, lambda ev: ev.ack(result=b"1"))
    expect(ps.TaskGone, "keep-done", n.result, timeout=5)
    assert n.status() is None
    app.close()


def case_task_enqueue_many(h):
    """App.enqueue_many sends one ENQUEUE a queue, and its TaskJobs come
    back in the calls' order, duplicates standing for the event that
    held their unique id."""
    h.start_daemon()
    app = app_of(h, "a")

    @app.task(unique=True)
    def one(n):
        return n

    @app.task(queue="b")
    def two(n):
        return n

    first = one.delay(0)
    calls = [one.s(1), two.s(1), one.s(0), one.s(2), two.s(2), one.s(1)]
    # Client.enqueue with a batch is one ENQUEUE frame: count the calls.
    sent = []
    real = ps.Client.enqueue

    def counting(self, queue, events, **kw):
        events = list(events)
        sent.append((queue, len(events)))
        return real(self, queue, events, **kw)
    ps.Client.enqueue = counting
    try:
        jobs = app.enqueue_many(calls)
    finally:
        ps.Client.enqueue = real
    assert sent == [("a", 4), ("b", 2)], sent
    assert [j.queue for j in jobs] == ["a", "b", "a", "a", "b", "a"], jobs
    assert jobs[2].duplicate and jobs[2].id == first.id, jobs[2].id
    assert jobs[5].duplicate and jobs[5].id == jobs[0].id, jobs
    assert not any(jobs[i].duplicate for i in (0, 1, 3, 4))
    assert jobs[0].id < jobs[3].id and jobs[1].id < jobs[4].id, jobs
    c = ps.Client(h.sock)
    for j, s in zip(jobs, calls):
        got = c.job(j.queue, j.id, preview=200)
        assert got.preview == s.payload, (got.preview, s.payload)
    assert c.stats("a")["queued"] == 3 and c.stats("b")["queued"] == 2
    # A signature sends itself too.
    j = two.s(9).delay()
    assert c.job("b", j.id, preview=200).preview == \
        b'{"args":[9],"kwargs":{}}'
    c.close()
    app.close()


def case_task_mypy(h):
    """A program using the task layer passes mypy --strict against the
    package (py.typed): the decorator with and without options, calls,
    TaskJob's methods, signatures, the envelope's functions."""
    import shutil
    import subprocess
    mypy = shutil.which("mypy")
    if mypy is None:
        print("skip task_mypy: mypy is not installed (apt-get install mypy)")
        sys.exit(77)
    use = os.path.join(h.dir, "use.py")
    with open(use, "w") as f:
        f.write("from typing import Any, List, Optional, Tuple, Dict\n"
                "import pushstage\n"
                "from pushstage import App, Job, Task, TaskJob, Signature\n"
                "from pushstage import envelope\n"
                "app = App(socket='/nowhere', default_queue='q')\n"
                "@app.task\n"
                "def plain(x: int) -> int:\n"
                "    return x\n"
                "@app.task(queue='img', max_attempts=3, backoff=(1, 60),\n"
                "          time_limit=30, soft_time_limit=20, priority=1,\n"
                "          key=lambda p, **k: str(p), unique=True)\n"
                "async def resize(p: int, size: int = 1) -> Dict[str, int]:\n"
                "    return {'w': p}\n"
                "t: Task = resize\n"
                "def use() -> None:\n"
                "    j: TaskJob = plain.delay(1)\n"
                "    j2: TaskJob = resize.apply((1,), {'size': 2}, delay=5,\n"
                "                               headers={'traceparent': 'x'})\n"
                "    i: Optional[int] = j.id\n"
                "    st: Optional[Job] = j.status()\n"
                "    v: Any = j2.result(timeout=1.5)\n"
                "    ok: bool = j.cancel()\n"
                "    s: Signature = plain.s(2)\n"
                "    many: List[TaskJob] = app.enqueue_many([s, resize.s(3)])\n"
                "    a: Tuple[List[Any], Dict[str, Any]] = "
                "envelope.decode_call(b'{}')\n"
                "    e: bytes = envelope.encode_error('T', 'm', 'tb')\n"
                "    err: pushstage.TaskError = envelope.decode_error(e)\n"
                "    try:\n"
                "        j.result()\n"
                "    except pushstage.TaskFailed as f:\n"
                "        tb: str = f.traceback\n"
                "    except (pushstage.TaskCancelled, pushstage.TaskGone):\n"
                "        pass\n")
    pkg = os.path.join(HERE, "..", "clients", "python")
    r = subprocess.run([mypy, "--strict", "--no-incremental", "--cache-dir",
                        os.path.join(h.dir, "cache"), use],
                       capture_output=True, text=True, cwd=h.dir,
                       env=dict(os.environ, MYPYPATH=pkg), timeout=110)
    assert r.returncode == 0, r.stdout + r.stderr
    # And it finds a mistake: a TaskJob is not an int.
    with open(use, "a") as f:
        f.write("bad: int = plain.delay(1)\n")
    r = subprocess.run([mypy, "--strict", "--no-incremental", "--cache-dir",
                        os.path.join(h.dir, "cache"), use],
                       capture_output=True, text=True, cwd=h.dir,
                       env=dict(os.environ, MYPYPATH=pkg), timeout=110)
    assert r.returncode != 0 and "TaskJob" in r.stdout, r.stdout


EXEC_TASK = r"""
import json, os, sys
call = json.load(sys.stdin)
task = os.environ["PUSHSTAGE_TASK"]
if task == "calc.add":
    json.dump(sum(call["args"]) + call["kwargs"].get("plus", 0), sys.stdout)
elif task == "calc.fail":
    sys.stderr.write("about to fail: %s\n" % call["args"][0])
    sys.exit(3)
else:
    sys.exit(9)
"""


def case_task_python_to_exec(h):
    """A task enqueued in Python runs in `consumer --exec` (another
    language, as far as the envelope goes): the command reads the
    payload and PUSHSTAGE_TASK, its stdout is the result TaskJob.result()
    and `pushctl job wait` read, and a command that fails gives the
    envelope's error (ExitStatus, the end of its stderr) to TaskFailed."""
    h.start_daemon()
    r = h.pushctl("queue", "create", "calc", "keep-done=1h", "max-attempts=1")
    assert r.returncode == 0, r.stderr
    script = os.path.join(h.dir, "task.py")
    with open(script, "w") as f:
        f.write(EXEC_TASK)
    app = app_of(h, "calc")

    @app.task(name="calc.add")
    def add(*a, plus=0):
        return sum(a) + plus

    @app.task(name="calc.fail")
    def fail(x):
        raise RuntimeError(x)

    ok = add.delay(2, 3, plus=10)
    bad = fail.delay("x-42")
    h.consumer("exec", "--queue", "calc", "--result", "stdout", "--exec",
               "%s %s" % (sys.executable, script))
    assert ok.result(timeout=60) == 15
    r = h.pushctl("job", "wait", "calc", str(ok.id), "--timeout", "30s")
    assert r.returncode == 0 and r.stdout.strip() == b"15", r
    e = expect(ps.TaskFailed, "exit status 3", bad.result, timeout=60)
    assert e.type == "ExitStatus" and e.message == "exit status 3", e
    assert "about to fail: x-42" in e.traceback, e.traceback
    app.close()


CALC_APP = """
import pushstage
app = pushstage.App(default_queue="calc")

@app.task(name="calc.add")
def add(*a, plus=0):
    return sum(a) + plus

@app.task(name="calc.fail", max_attempts=1)
def fail(x):
    raise ValueError("cannot do %s" % x)
"""


def case_task_pushctl_to_python(h):
    """A task enqueued by pushctl (another language, as far as the
    envelope goes) runs in the Python worker (--app), and its result is
    what `pushctl job wait` prints; a task that raises leaves the
    envelope's error, which `pushctl job show` shows whole."""
    import subprocess
    h.start_daemon()
    r = h.pushctl("queue", "create", "calc", "keep-done=1h")
    assert r.returncode == 0, r.stderr
    with open(os.path.join(h.dir, "calcapp.py"), "w") as f:
        f.write(CALC_APP)

    def enqueue(*args):
        r = h.pushctl("enqueue", "-q", "calc", *args)
        assert r.returncode == 0, r.stderr
        return r.stdout.decode().split()[-1]      # "... id N"
    ok = enqueue("--task", "calc.add", "--args", "[2,3]", "--kwargs",
                 '{"plus":10}')
    bad = enqueue("--task", "calc.fail", "--args", '["x-42"]')
    log = open(os.path.join(h.dir, "worker.log"), "ab")
    p = subprocess.Popen([sys.executable, "-m", "pushstage.worker", "--app",
                          "calcapp", "-Q", "calc", "--socket", h.sock],
                         stdout=log, stderr=log, cwd=h.dir,
                         env=dict(os.environ, PYTHONPATH=os.path.join(
                             HERE, "..", "clients", "python") + os.pathsep +
                             h.dir))
    h.procs.append(p)
    r = h.pushctl("job", "wait", "calc", ok, "--timeout", "60s")
    assert r.returncode == 0 and r.stdout.strip() == b"15", r
    r = h.pushctl("job", "wait", "calc", bad, "--timeout", "60s")
    assert r.returncode == 1, r
    r = h.pushctl("job", "show", "calc", bad, "--json")
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    err = E.decode_error(job["failures"][-1]["error"])
    assert err.type == "ValueError" and err.message == "cannot do x-42", err
    assert "raise ValueError" in err.traceback, err.traceback
    assert job["state"] == "dead" and job["reason"] == "rejected", job


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
