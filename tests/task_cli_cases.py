#!/usr/bin/env python3
"""task_cli_cases.py: the task envelope (docs/tasks.md, issue 34) from the
command line: pushctl enqueue --task against the test vectors, read back
byte for byte; consumer --exec running tasks, its environment, --result
stdout and the envelope's errors, against a real producerd.

usage: task_cli_cases.py CASE   (as integration.py, whose harness it shares)
"""

import sys

from integration import *
import integration
from job_cases import consumer5, dead_json, events5, job

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures",
                       "tasks", "vectors.json")


def vectors():
    with open(VECTORS, "rb") as f:
        return json.loads(f.read())


def enqueue_task(h, queue, *args):
    return h.pushctl("enqueue", "-q", queue, *args)


def script(h, name, text):
    """A Python script in the test's directory, as an --exec command (exec:
    a signal that kills it is the command's, not a shell's exit status)."""
    path = os.path.join(h.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return "exec %s %s" % (sys.executable, path)


def case_task_enqueue_vectors(h):
    """pushctl enqueue --task T --args A --kwargs K gives each call of the
    vectors exactly its payload_hex and its two headers, read back by a
    raw consumer and pushctl job show; --args and --kwargs left out are
    [] and {}; a --header content-type=application/json is not doubled,
    and the other headers follow the task's."""
    h.start_daemon()
    calls = vectors()["calls"]
    for c in calls:
        r = enqueue_task(h, "v", "--task", c["task"], "--args", c["args_json"],
                         "--kwargs", c["kwargs_json"])
        assert r.returncode == 0, r
    noop = [c for c in calls if c["task"] == "noop"][0]
    assert noop["args_json"] == "[]" and noop["kwargs_json"] == "{}"
    r = enqueue_task(h, "v", "--task", "noop")
    assert r.returncode == 0, r
    # Global options after --task's value, and a content-type given.
    r = h.pushctl("enqueue", "-q", "v", "--task", "resize", "--args", "[42]",
                  "--header", "content-type=application/json",
                  "--header", "x-user=ana", "--kwargs", '{"size":3}',
                  "--log-level", "error")
    assert r.returncode == 0, r
    want = [(c["headers"], bytes.fromhex(c["payload_hex"])) for c in calls]
    want.append((noop["headers"], bytes.fromhex(noop["payload_hex"])))
    want.append(([["task", "resize"], ["content-type", "application/json"],
                  ["x-user", "ana"]], bytes.fromhex(calls[0]["payload_hex"])))
    w = consumer5(h, b"v", len(want))
    got = events5(w, len(want))
    for (i, _, key, headers, payload), (hd, p) in zip(got, want):
        assert payload == p, (i, payload, p)
        assert [(n, v.decode()) for n, v in headers] == \
            [tuple(x) for x in hd], (i, headers, hd)
        assert key is None
    w.close()
    # pushctl job show says the same (the events are in flight again
    # once their consumer went: look at the first one).
    h.wait_for(lambda: job(h, "v", 1)[1]["state"] == "queued", what="queued")
    rc, j = job(h, "v", 1)
    assert rc == 0 and j["headers"] == {"task": "resize",
                                        "content-type": "application/json"}, j
    assert j["preview"] == calls[0]["payload"] and \
        j["bytes"] == len(bytes.fromhex(calls[0]["payload_hex"])), j


def case_task_enqueue_bad_input(h):
    """Bad --args, --kwargs and --task values are refused before anything
    is sent, naming the option (and the byte for JSON); so are an EVENT
    with --task, --args or --kwargs without it, and a header that
    contradicts it.  Nothing is enqueued."""
    h.start_daemon()
    cases = [
        (["--task", "t", "--args", "[1,]"],
         "--args: not JSON at byte 3: a value expected"),
        (["--task", "t", "--args", "[1] x"],
         "--args: not JSON at byte 4: more after the value"),
        (["--task", "t", "--args", ""],
         "--args: not JSON at byte 0: no value: the text is empty"),
        (["--task", "t", "--args", '["a\x01"]'],
         "--args: not JSON at byte 3: a control character in a string"),
        (["--task", "t", "--args", '["\\ud800"]'],
         "--args: not JSON at byte 2: \\u escape of a high surrogate"),
        (["--task", "t", "--args", '{"a":1}'],
         "--args must be a JSON array, not an object"),
        (["--task", "t", "--args", "42"],
         "--args must be a JSON array, not a number"),
        (["--task", "t", "--kwargs", "[1]"],
         "--kwargs must be a JSON object, not an array"),
        (["--task", "t", "--kwargs", "null"],
         "--kwargs must be a JSON object, not null"),
        (["--task", "t", "--kwargs", '{"a" 1}'],
         "--kwargs: not JSON at byte 5: ':' expected"),
        (["--task", "t", "--kwargs", "{" * 600 + "}" * 600],
         "--kwargs: not JSON at byte 1: a string expected"),
        (["--task", "t", "--args", "[" * 600 + "]" * 600],
         "--args: not JSON at byte 512: arrays and objects nested more "
         "than 512 deep"),
        (["--task", "", "--args", "[]"], "--task: 0 bytes"),
        (["--task", "x" * 256], "--task: 256 bytes: a task name is at most 255"),
        (["--task", "a\nb"], '--task "a\\nb": a control character at byte 1'),
        (["--task", "a\x7f"], "a control character at byte 1"),
        (["--args", "[1]"], "enqueue: --args goes with --task NAME"),
        (["--kwargs", "{}"], "enqueue: --kwargs goes with --task NAME"),
        (["--task", "t", "payload"],
         'enqueue: --task makes the payload from --args and --kwargs: leave '
         'out the event "payload"'),
        (["--task", "t", "-"], 'leave out the event "-"'),
        (["--task", "t", "--header", "content-type=text/plain"],
         "--header content-type=text/plain: a task's payload is "
         "application/json"),
        (["--task", "t", "--header", "task=u"],
         "--header task=u: --task names the task"),
        (["--task", "t"] + sum((["--header", "h%d=v" % i]
                                for i in range(15)), []),
         "--task: with its task and content-type headers, more than 16"),
    ]
    for args, words in cases:
        r = enqueue_task(h, "b", *args)
        err = r.stderr.decode(errors="replace")
        assert r.returncode == 1 and words in err and r.stdout == b"", \
            (args, r.returncode, err)
    # Not UTF-8, as bytes on the command line.
    r = subprocess.run([PUSHCTL, "--socket", h.sock, "enqueue", "-q", "b",
                        "--task", b"ok\xff"], capture_output=True, timeout=60)
    assert r.returncode == 1 and b"not UTF-8 at byte 2" in r.stderr, r
    r = subprocess.run([PUSHCTL, "--socket", h.sock, "enqueue", "-q", "b",
                        "--task", "t", "--args", b'["\xc3"]'],
                       capture_output=True, timeout=60)
    assert r.returncode == 1 and \
        b"--args: not JSON at byte 2: not UTF-8" in r.stderr, r
    st = h.stats()
    assert st["enqueued_total"] == 0, st
    # 255 bytes of name (3-byte characters) and 14 headers besides: fine.
    r = enqueue_task(h, "b", "--task", "\u20ac" * 85, *sum(
        (["--header", "h%d=v" % i] for i in range(14)), []))
    assert r.returncode == 0, r
    assert h.stats()["enqueued_total"] == 1


def exec_consumer(h, cid, queue, command, *args):
    """consumer --exec --result stdout; its output and its stderr (which
    passes on the command's) to a file: a pipe no one reads would stop
    it."""
    return h.spawn([CONSUMER, "--socket", h.sock, "--id", cid, "-q", queue,
                    "--result", "stdout", "--exec", command] + list(args),
                   out=os.path.join(h.dir, "consumer-%s.out" % cid), merge=True)


ENV_SCRIPT = r"""
import json, os, sys
payload = sys.stdin.buffer.read().decode()
env = {k: v for k, v in os.environ.items() if k.startswith("PUSHSTAGE_")
       and k != "PUSHSTAGE_SOCKET"}
task = os.environ.get("PUSHSTAGE_TASK")
if task == "raw":
    sys.stdout.write("raw bytes, not JSON: " + payload)
elif task == "quiet":
    sys.stdout.write(" \n")
elif task == "sized":
    n = json.loads(payload)["args"][0]
    sys.stdout.write(json.dumps("x" * (n - 2)))
elif task is None:
    sys.stdout.write("plain: " + payload)
else:
    # In pieces, as a slow command writes.
    out = json.dumps({"env": env, "payload": payload})
    for i in range(0, len(out), 7):
        sys.stdout.write(out[i:i + 7])
        sys.stdout.flush()
"""


def wait_result(h, queue, i):
    r = h.pushctl("job", "wait", queue, str(i), "--timeout", "60s")
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def case_task_exec_env_and_result(h):
    """consumer --exec --result stdout runs a task with PUSHSTAGE_TASK,
    PUSHSTAGE_QUEUE and the others set; its stdout is the result pushctl
    job wait prints and job show keeps (keep-done); a plain event's
    result is any bytes; a task's stdout of spaces only is no result; a
    result at the queue's max-result goes, one byte over fails the event
    (ResultTooLarge), as does a task's stdout that is not JSON."""
    h.start_daemon("--max-attempts", "1")
    assert h.pushctl("queue", "create", "t", "keep-done=1h",
                     "max-result=1000").returncode == 0
    cmd = script(h, "env.py", ENV_SCRIPT)
    assert enqueue_task(h, "t", "--task", "img.resize", "--args", "[42]",
                        "--kwargs", '{"size":3}').returncode == 0
    w1 = exec_consumer(h, "w1", "t", cmd)
    rc, out, err = wait_result(h, "t", 1)
    assert rc == 0, (rc, out, err)
    doc = json.loads(out)
    assert doc["payload"] == '{"args":[42],"kwargs":{"size":3}}', doc
    assert doc["env"] == {
        "PUSHSTAGE_TASK": "img.resize", "PUSHSTAGE_QUEUE": "t",
        "PUSHSTAGE_EVENT_ID": "1", "PUSHSTAGE_ATTEMPT": "1",
        "PUSHSTAGE_CONSUMER_ID": "w1",
        "PUSHSTAGE_HEADER_TASK": "img.resize",
        "PUSHSTAGE_HEADER_CONTENT_TYPE": "application/json"}, doc["env"]
    rc, j = job(h, "t", 1)
    assert rc == 0 and j["state"] == "done" and json.loads(j["result"]) == doc, j
    # A plain event: no PUSHSTAGE_TASK, any bytes as its result.
    assert h.pushctl("enqueue", "-q", "t", "hello").returncode == 0
    rc, out, err = wait_result(h, "t", 2)
    assert rc == 0 and out == b"plain: hello", (rc, out, err)
    # A task that prints only spaces: done, with no result (null).
    assert enqueue_task(h, "t", "--task", "quiet").returncode == 0
    rc, out, err = wait_result(h, "t", 3)
    assert rc == 0 and out == b"", (rc, out, err)
    # At max-result exactly (1000 bytes): taken; one over: the event
    # fails, and says why.
    assert enqueue_task(h, "t", "--task", "sized", "--args",
                        "[1000]").returncode == 0
    rc, out, err = wait_result(h, "t", 4)
    assert rc == 0 and out == b'"' + b"x" * 998 + b'"', (rc, len(out), err)
    assert enqueue_task(h, "t", "--task", "sized", "--args",
                        "[1001]").returncode == 0
    rc, out, err = wait_result(h, "t", 5)
    assert rc == 1 and "is dead" in err, (rc, out, err)
    rc, j = job(h, "t", 5)
    e = json.loads(j["failures"][0]["error"])
    assert e == {"type": "ResultTooLarge", "message":
                 "the command's standard output, 1001 bytes, is over queue "
                 "t's max-result (1000 bytes): not sent as its result",
                 "traceback": ""}, e
    # A task's stdout that is not JSON: BadResult.
    assert enqueue_task(h, "t", "--task", "raw").returncode == 0
    rc, out, err = wait_result(h, "t", 6)
    assert rc == 1, (rc, out, err)
    e = json.loads(job(h, "t", 6)[1]["failures"][0]["error"])
    assert e["type"] == "BadResult" and e["message"] == (
        "the command's standard output is not JSON: at byte 0: a value "
        "expected (an object, array, string, number, true, false or null)"), e
    # The consumer is still there: every answer was one it may send.
    assert w1.poll() is None and h.stats()["consumers_connected"] == 1
    # A group's consumer: PUSHSTAGE_GROUP too.
    exec_consumer(h, "w2", "t", cmd, "--group", "g")
    h.wait_consumers(2)
    assert enqueue_task(h, "t", "--task", "grouped").returncode == 0
    rc, out, err = wait_result(h, "t/g", 7)
    assert rc == 0, (rc, out, err)
    env = json.loads(out)["env"]
    assert (env["PUSHSTAGE_QUEUE"], env["PUSHSTAGE_GROUP"],
            env["PUSHSTAGE_CONSUMER_ID"]) == ("t", "g", "w2"), env


def case_task_exec_result_over_the_frame(h):
    """Under a daemon whose frame limit is below the queue's max-result, a
    result that one frame cannot hold fails the event (ResultTooLarge,
    in the library's words); one that fits goes."""
    h.start_daemon("--max-attempts", "1", "--max-frame", "4096")
    assert h.pushctl("queue", "create", "s", "keep-done=1h").returncode == 0
    cmd = script(h, "env.py", ENV_SCRIPT)
    w = exec_consumer(h, "w", "s", cmd)
    assert enqueue_task(h, "s", "--task", "sized", "--args",
                        "[4000]").returncode == 0
    rc, out, err = wait_result(h, "s", 1)
    assert rc == 0 and len(out) == 4000, (rc, len(out), err)
    assert enqueue_task(h, "s", "--task", "sized", "--args",
                        "[5000]").returncode == 0
    rc, out, err = wait_result(h, "s", 2)
    assert rc == 1 and "is dead" in err, (rc, out, err)
    e = json.loads(job(h, "s", 2)[1]["failures"][0]["error"])
    assert e["type"] == "ResultTooLarge" and e["message"].startswith(
        "a result of 5000 bytes: producerd at ") and \
        e["message"].endswith("takes frames of at most 4096"), e
    assert w.poll() is None


def case_task_exec_result_refused_at_start(h):
    """--result stdout is refused where no result can go: without
    --exec, on a queue with max-result=0 or delivered at most once; a bad
    --result value is named."""
    h.start_daemon()
    assert h.pushctl("queue", "create", "z", "max-result=0").returncode == 0
    assert h.pushctl("queue", "create", "o",
                     "delivery=at-most-once").returncode == 0
    for args, words in (
            (["-q", "z", "--result", "stdout", "--exec", "cat"],
             "--result stdout: queue z takes no results (max-result=0)"),
            (["-q", "o", "--result", "stdout", "--exec", "cat"],
             "--result stdout: queue o delivers at most once"),
            (["--result", "stdout"], "--result stdout goes with --exec CMD"),
            (["--result", "stderr", "--exec", "cat"],
             '--result: \\"stderr\\" is not none or stdout')):
        r = subprocess.run([CONSUMER, "--socket", h.sock, "--id", "c"] + args,
                           capture_output=True, timeout=60)
        assert r.returncode == 1 and words in r.stderr.decode(), (args, r)
    assert h.stats()["consumers_connected"] == 0


FAIL_SCRIPT = r"""
import os, signal, sys
sys.stdin.buffer.read()
task = os.environ.get("PUSHSTAGE_TASK", "")
err = sys.stderr.buffer
if task == "signal":
    err.write(b"about to die\n")
    err.flush()
    os.kill(os.getpid(), signal.SIGKILL)
if task == "long":
    # 100,000 bytes: quotes, backslashes, controls, UTF-8 and not UTF-8.
    piece = b'"q" \\b\x01\t\xc3\xa9\xff\n'
    err.write(piece * (100000 // len(piece)))
    err.write(b"Error: the end \xe2\x82\xac\n")
    err.flush()
    sys.exit(2)
if task == "later":
    err.write(b"busy\n")
    err.flush()
    sys.exit(75)
err.write(b'Traceback (most recent call last):\n  File "x", line 1\n'
          b'ValueError: "bad" \\ value\n')
err.flush()
sys.exit(3)
"""


def case_task_exec_errors(h):
    """A task's failure under consumer --exec is the envelope's error
    object: ExitStatus with the end of stderr as its traceback, Signal,
    escaped right and cut to 4096 bytes from the traceback's start (bytes
    not UTF-8 as U+FFFD), as pushctl job show and dead list show it; an
    event without a task header keeps the plain-text error."""
    port = free_port()
    h.start_daemon("--max-attempts", "1", "--http", "127.0.0.1:%d" % port)
    cmd = script(h, "fail.py", FAIL_SCRIPT)
    for task in ("boom", "signal", "long"):
        assert enqueue_task(h, "f", "--task", task).returncode == 0
    assert h.pushctl("enqueue", "-q", "f", "plain").returncode == 0
    exec_consumer(h, "w", "f", cmd)
    h.wait_for(lambda: h.stats_of("f")["dead"] == 4, what="4 dead")
    errors = {d["id"]: d["error"] for d in dead_json(h, "f")}
    e = json.loads(errors[1])
    assert e == {"type": "ExitStatus", "message": "exit status 3",
                 "traceback": 'Traceback (most recent call last):\n  File '
                 '"x", line 1\nValueError: "bad" \\ value\n'}, e
    # Byte for byte as docs/tasks.md's encoder writes it.
    assert errors[1] == json.dumps(e, ensure_ascii=False,
                                   separators=(",", ":")), errors[1]
    assert json.loads(errors[2]) == {"type": "Signal", "message":
                                     "killed by signal 9",
                                     "traceback": "about to die\n"}, errors[2]
    rc, j = job(h, "f", 3)
    long_err = j["failures"][0]["error"]
    assert len(long_err.encode()) <= 4096 and \
        len(long_err.encode()) > 4000, len(long_err.encode())
    e = json.loads(long_err)
    assert e["type"] == "ExitStatus" and e["message"] == "exit status 2", e
    assert e["traceback"].endswith('"q" \\b\x01\t\u00e9\ufffd\n'
                                   "Error: the end \u20ac\n"), e["traceback"][-80:]
    # Cut from its start at a whole character: it starts where a piece
    # of the stderr does, or inside one, never inside an escape.
    assert long_err == json.dumps(e, ensure_ascii=False,
                                  separators=(",", ":")), long_err[:120]
    # The plain event: its exit status, then its stderr, as before.
    assert errors[4] == ('exit status 3\nTraceback (most recent call last):'
                         '\n  File "x", line 1\nValueError: "bad" \\ value\n'), \
        errors[4]
    # The HTTP API shows the same text.
    st, _, doc = http_call(port, "GET", "/api/v1/queues/f/dead")
    assert st == 200 and {d["id"]: d["error"] for d in doc["entries"]} == \
        errors, doc
    # Exit 75: the task waits out the queue's backoff, with its error.
    assert h.pushctl("queue", "create", "r", "max-attempts=5",
                     "retry-backoff=1h:1h").returncode == 0
    r = enqueue_task(h, "r", "--task", "later")
    assert r.returncode == 0, r
    i = int(r.stdout.split()[-1])
    h.spawn([CONSUMER, "--socket", h.sock, "--id", "w2", "-q", "r", "--exec",
             cmd], out=os.path.join(h.dir, "w2.out"), merge=True)
    h.wait_for(lambda: job(h, "r", i)[1]["state"] == "waiting to retry",
               what="r's event waiting to retry")
    e = json.loads(job(h, "r", i)[1]["failures"][0]["error"])
    assert e == {"type": "ExitStatus", "message": "exit status 75",
                 "traceback": "busy\n"}, e


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
