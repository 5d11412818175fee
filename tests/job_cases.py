#!/usr/bin/env python3
"""job_cases.py: events as jobs (issue 33): protocol version 5's headers,
each checked against a real producerd over a raw socket, written from
docs/protocol.md, and through pushctl, the consumer and a restart.

usage: job_cases.py CASE   (as integration.py, whose harness it shares)
"""

import sys

from integration import *
import integration

HEADER = 128


def header(name, value):
    """One HEADER attribute: tag 128, u16 length, u8 name length, name,
    value."""
    if isinstance(name, str):
        name = name.encode()
    if isinstance(value, str):
        value = value.encode()
    return bytes([HEADER]) + struct.pack(">H", 1 + len(name) + len(value)) + \
        bytes([len(name)]) + name + value


def attr(tag, value):
    return bytes([tag, len(value)]) + value


def enqueue5(queue, *events):
    """A version 5 ENQUEUE with attributes (flags 1): each event is
    (attribute bytes, payload)."""
    body = struct.pack(">I", len(events)) + bytes([len(queue)]) + queue
    for attrs, data in events:
        body += struct.pack(">IH", len(data), len(attrs)) + attrs + data
    return HDR.pack(len(body), ENQUEUE, 1, 0) + body


def hello5(role, queue=b"", max_demand=0, name=b""):
    return frame(HELLO, struct.pack(">HBBIIB", 5, role, 0, max_demand, 0,
                                    len(name)) + name + bytes([len(queue)]) +
                 queue)


def client5(h):
    c = Raw(h.sock, version=5)
    c.send(hello5(CLIENT_ROLE))
    w = c.expect(WELCOME)
    assert struct.unpack(">H", w[:2])[0] == 5, w
    return c


def consumer5(h, queue, n, version=5, name=b"w"):
    c = Raw(h.sock, version=version)
    c.send(frame(HELLO, struct.pack(">HBBIIB", version, CONSUMER_ROLE, 0, n,
                                    0, len(name)) + name + bytes([len(queue)]) +
                 queue))
    c.expect(WELCOME)
    c.send(demand(n))
    return c


def parse_event(body, flags, version=5):
    """An EVENT as protocol.md lays it out: (id, attempt, key, [(name,
    value)], payload); unknown attributes skipped."""
    i, a = struct.unpack(">QI", body[:12])
    key, headers, at = None, [], 12
    if flags & 1:
        (alen,) = struct.unpack(">H", body[12:14])
        block, at = body[14:14 + alen], 14 + alen
        p = 0
        while p < len(block):
            tag = block[p]
            if version >= 5 and tag >= 128:
                (n,) = struct.unpack(">H", block[p + 1:p + 3])
                v, p = block[p + 3:p + 3 + n], p + 3 + n
            else:
                n = block[p + 1]
                v, p = block[p + 2:p + 2 + n], p + 2 + n
            if tag == 1:
                key = v
            elif tag == HEADER:
                headers.append((v[1:1 + v[0]].decode(), v[1 + v[0]:]))
        assert p == len(block), block
    return i, a, key, headers, body[at:]


def events5(c, want, version=5):
    out = []
    while len(out) < want:
        got = c.recv(10)
        assert got is not None, "%d of %d events came" % (len(out), want)
        assert got[0] == EVENT, got
        out.append(parse_event(got[1], c.flags, version))
    return out


def case_headers_round_trip(h):
    """Version 5: an event's headers, in the order given, after its key,
    come out in its EVENT; a version 4 consumer gets the key alone, a
    version 3 one neither; a HEADER needs version 5."""
    h.start_daemon()
    c = client5(h)
    c.send(enqueue5(b"jobs",
                    (attr(1, b"user-9") + header("task", "resize") +
                     header("content-type", "application/json") +
                     header("empty", ""), b'{"args":[1]}'),
                    (header("traceparent", "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"),
                     b"plain"),
                    (b"", b"none")))
    r = c.expect(ENQUEUED)
    assert struct.unpack(">QI", r[:12]) == (1, 3), r
    w = consumer5(h, b"jobs", 3)
    got = events5(w, 3)
    assert got[0] == (1, 1, b"user-9", [("task", b"resize"),
                                       ("content-type", b"application/json"),
                                       ("empty", b"")], b'{"args":[1]}'), got[0]
    assert got[1][3] == [("traceparent", ("00-" + "ab" * 16 + "-" + "cd" * 8 +
                                          "-01").encode())] and got[1][2] is None, got[1]
    assert got[2] == (3, 1, None, [], b"none"), got[2]
    # The bytes of the first EVENT, as protocol.md's example shows them.
    w.close()
    v4 = consumer5(h, b"jobs", 3, version=4)
    got = events5(v4, 3, version=4)
    assert [(k, p) for _, _, k, _, p in got] == [
        (b"user-9", b'{"args":[1]}'), (None, b"plain"), (None, b"none")], got
    assert all(hd == [] for _, _, _, hd, _ in got), got
    v4.close()
    v3 = consumer5(h, b"jobs", 3, version=3)
    got = v3.events_full(want=3)
    assert [p for _, _, p in got] == [b'{"args":[1]}', b"plain", b"none"], got
    v3.close()
    # A HEADER in a version 4 ENQUEUE is an attribute it does not know.
    old = Raw(h.sock, version=4)
    old.send(frame(HELLO, struct.pack(">HBBIIB", 4, CLIENT_ROLE, 0, 0, 0, 0) +
                   b"\x00"))
    old.expect(WELCOME)
    old.send(enqueue5(b"jobs", (header("task", "x"), b"p")))
    assert "unknown tag" in old.expect_error(E_BAD_VALUE)


def case_headers_bad_input(h):
    """A bad header is an ERROR naming it and what is wrong, and nothing of
    its ENQUEUE is taken."""
    h.start_daemon()
    many = b"".join(header("h%02d" % i, "v") for i in range(17))
    big = b"".join(header("h%02d" % i, "v" * 1000) for i in range(5))
    cases = [
        (header("Task", "x"), E_BAD_VALUE,
         'header "Task": a name is 1 to 64 bytes of a-z 0-9 - _ .'),
        (header("a b\n", "x"), E_BAD_VALUE,
         'header "a b?": a name is 1 to 64 bytes'),
        (header("n" * 65, "x"), E_BAD_VALUE, 'a name is 1 to 64 bytes'),
        (header("", "x"), E_BAD_VALUE, 'header "": a name is'),
        (header("v", "x" * 1025), E_BAD_VALUE,
         'header "v": its value is 1025 bytes, over 1024'),
        (many, E_BAD_VALUE, "more than 16 headers"),
        (big, E_BAD_VALUE, "headers over 4096 bytes"),
        (header("task", "a") + header("task", "b"), E_BAD_VALUE,
         'header "task" given twice'),
        (header("task", "a") + attr(4, b"\x00\x01"), E_BAD_VALUE,
         "a HEADER comes after the event's other attributes"),
        (bytes([HEADER, 0, 9, 3]) + b"ab", E_BAD_LENGTH, "runs past"),
        (bytes([HEADER, 0, 2, 5]) + b"ab", E_BAD_LENGTH, "runs past"),
    ]
    for attrs, code, words in cases:
        c = client5(h)
        c.send(enqueue5(b"bad", (b"", b"fine"), (attrs, b"payload")))
        msg = c.expect_error(code)
        assert words in msg and msg.startswith("bad ENQUEUE: "), (words, msg)
    st = h.stats()
    assert st["enqueued_total"] == 0 and st["queued"] == 0, st
    # The log names it too.
    log = os.path.join(h.dir, "producerd.log")
    h.wait_for(lambda: "given twice" in open(log, errors="replace").read(),
               what="the log line")


def case_headers_survive_a_restart(h):
    """With --data-dir, an event's headers are journaled with it: ready,
    delayed, of a priority, in a group, and dead, each comes back with
    them after kill -9."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data, "--max-attempts", "1")
    c = client5(h)
    hd = header("task", "resize") + header("x-n", "1")
    c.send(enqueue5(b"r", (attr(1, b"k" * 255) + hd, b"ready"),
                    (attr(2, struct.pack(">Q", 1200)) + hd, b"delayed"),
                    (attr(4, struct.pack(">H", 7)) + hd, b"urgent"),
                    (hd, b"plain")))
    assert struct.unpack(">QI", c.expect(ENQUEUED)[:12]) == (1, 4)
    # The one of priority 7 goes first, and dies (max-attempts 1).
    w = consumer5(h, b"r", 1)
    (i, _, _, got_h, p), = events5(w, 1)
    assert p == b"urgent" and got_h == [("task", b"resize"), ("x-n", b"1")]
    w.send(ids(NACK, i))
    h.wait_for(lambda: h.stats_of("r")["dead"] == 1, what="one dead")
    w.close()
    h.daemon.kill()
    h.daemon.wait()
    h.start_daemon("--data-dir", data, "--max-attempts", "1")
    assert h.stats_of("r")["dead"] == 1
    assert h.pushctl("dead", "retry", "-q", "r").returncode == 0
    w = consumer5(h, b"r", 4)
    got = sorted(events5(w, 4), key=lambda e: e[4])
    want = [("task", b"resize"), ("x-n", b"1")]
    assert [(p, k, hh) for _, _, k, hh, p in got] == [
        (b"delayed", None, want), (b"plain", None, want),
        (b"ready", b"k" * 255, want), (b"urgent", None, want)], got


def case_headers_through_a_stage(h):
    """A stage (--upstream) passes each event's headers and key on."""
    h.start_daemon()
    proc, path = stage(h, "b", "--upstream", h.sock)
    h.wait_for(lambda: stats_at(h, path).get("upstream_connected") == 1,
               what="the stage linked")
    c = client5(h)
    c.send(enqueue5(b"default", (attr(1, b"kk") + header("task", "t1"), b"one")))
    c.expect(ENQUEUED)
    w = Raw(path, version=5)
    w.send(frame(HELLO, struct.pack(">HBBIIB", 5, CONSUMER_ROLE, 0, 1, 0, 1) +
                 b"w" + b"\x00"))
    w.expect(WELCOME)
    w.send(demand(1))
    (i, a, k, hd, p), = events5(w, 1)
    assert (k, hd, p) == (b"kk", [("task", b"t1")], b"one"), (k, hd, p)
    w.send(ids(ACK, i))
    h.wait_for(lambda: h.stats()["acked_total"] == 1, what="the ack upstream")


def case_headers_from_pushctl_to_exec(h):
    """pushctl enqueue --header gives each event its headers (bad ones
    refused before anything is sent, naming the header); consumer --exec
    hands them to the command as PUSHSTAGE_HEADER_* variables, for events
    taken many at a time too."""
    h.start_daemon()
    for bad, words in ((["--header", "Task=x"], 'header "Task": a name is'),
                       (["--header", "a=1", "--header", "a=2"],
                        'header "a" given twice'),
                       (["--header", "x"], '"x" is not NAME=VALUE'),
                       (["--header", "v=" + "x" * 1025],
                        "its value is 1025 bytes, over 1024")):
        r = h.pushctl("enqueue", "-q", "h", *bad, "e")
        assert r.returncode == 1 and words in r.stderr.decode(), (bad, r)
    assert h.stats()["enqueued_total"] == 0
    r = h.pushctl("enqueue", "-q", "h", "--header", "task=resize",
                  "--header", "content-type=application/json",
                  "--header", "x.trace-id=a=b", "one", "two")
    assert r.returncode == 0, r
    assert h.pushctl("enqueue", "-q", "h", "three").returncode == 0
    out = os.path.join(h.dir, "env.out")
    h.consumer("w", "-q", "h", "--max-demand", "3", "--exec",
               'echo "$(cat) ${PUSHSTAGE_HEADER_TASK:-none} '
               '${PUSHSTAGE_HEADER_CONTENT_TYPE:-none} '
               '${PUSHSTAGE_HEADER_X_TRACE_ID:-none}" >> %s' % out)
    h.wait_for(lambda: h.stats_of("h")["acked_total"] == 3, what="3 acked")
    with open(out) as f:
        lines = sorted(f.read().splitlines())
    assert lines == ["one resize application/json a=b",
                     "three none none none",
                     "two resize application/json a=b"], lines


NACK_ERROR = 23


def nack_error(i, error, delay=0xffffffff):
    """A NACK_ERROR: the id, when (0xffffffff: the queue's backoff), the
    error."""
    if isinstance(error, str):
        error = error.encode()
    return frame(NACK_ERROR, struct.pack(">QIH", i, delay, len(error)) + error)


def dead_json(h, queue):
    r = h.pushctl("dead", "list", "-q", queue, "--json")
    assert r.returncode == 0, r
    return json.loads(r.stdout)["events"]


def case_failures_kept_and_shown(h):
    """A consumer --exec that fails sends its exit status and the end of
    its stderr; the dead letter keeps the last error, which pushctl dead
    list, the HTTP API and a version 5 DEAD_LIST show; a NACK_ERROR is
    version 5's, checked, and its error at most 4096 bytes."""
    port = free_port()
    h.start_daemon("--max-attempts", "2", "--http", "127.0.0.1:%d" % port)
    assert h.pushctl("enqueue", "-q", "f", "job1").returncode == 0
    h.consumer("w", "-q", "f", "--exec",
               'cat >/dev/null; echo "Traceback (most recent call last):" >&2;'
               ' echo "ValueError: bad job" >&2; exit 3')
    h.wait_for(lambda: h.stats_of("f")["dead"] == 1, what="one dead")
    (d,) = dead_json(h, "f")
    assert d["error"] == ("exit status 3\nTraceback (most recent call last):\n"
                          "ValueError: bad job\n"), d
    r = h.pushctl("dead", "list", "-q", "f")
    assert "last error: exit status 3" in r.stdout.decode(), r
    st, _, doc = http_call(port, "GET", "/api/v1/queues/f/dead")
    assert st == 200 and doc["entries"][0]["error"] == d["error"], doc
    # A raw version 5 consumer: the last of its errors is shown; a plain
    # NACK after it says nothing, and the error before stays the last.
    assert h.pushctl("enqueue", "-q", "g", "job2").returncode == 0
    w = consumer5(h, b"g", 1)
    (i, a, _, _, _), = events5(w, 1)
    w.send(nack_error(i, "first", delay=0) + demand(1))
    (i, a, _, _, _), = events5(w, 1)
    assert a == 2
    w.send(ids(NACK, i) + demand(1))
    h.wait_for(lambda: h.stats_of("g")["dead"] == 1, what="g's dead")
    assert dead_json(h, "g")[0]["error"] == "first"
    # Too long an error, and a NACK_ERROR in version 4: refused.
    assert h.pushctl("enqueue", "-q", "g", "job3").returncode == 0
    (i, _, _, _, _), = events5(w, 1)
    w.send(HDR.pack(14 + 4097, NACK_ERROR, 0, 0) +
           struct.pack(">QIH", i, 0, 4097) + b"x" * 4097)
    assert "more than 4096 bytes" in w.expect_error(E_BAD_VALUE)
    v4 = consumer5(h, b"g", 1, version=4)
    (i, _, _, _, _), = events5(v4, 1, version=4)
    v4.send(nack_error(i, "x"))
    assert "not in protocol version 4" in v4.expect_error(E_BAD_STATE)


def case_failures_survive_restarts(h):
    """With --data-dir an event's failures are journaled: a failure before
    a kill -9 is still its last error when it dies after the restart, and
    still its dead letter's after another."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data, "--max-attempts", "2")
    assert h.pushctl("enqueue", "-q", "r", "job").returncode == 0
    w = consumer5(h, b"r", 1)
    (i, _, _, _, _), = events5(w, 1)
    w.send(nack_error(i, "Traceback: first", delay=3600000))
    h.wait_for(lambda: h.stats_of("r")["delayed"] == 1, what="held back")
    w.close()
    h.daemon.kill()
    h.daemon.wait()
    h.start_daemon("--data-dir", data, "--max-attempts", "2")
    w = consumer5(h, b"r", 1)
    (i, a, _, _, p), = events5(w, 1)
    assert (a, p) == (2, b"job"), (a, p)
    w.send(ids(NACK, i))
    h.wait_for(lambda: h.stats_of("r")["dead"] == 1, what="dead")
    assert dead_json(h, "r")[0]["error"] == "Traceback: first"
    h.daemon.kill()
    h.daemon.wait()
    h.start_daemon("--data-dir", data, "--max-attempts", "2")
    assert dead_json(h, "r")[0]["error"] == "Traceback: first"


def job(h, queue, *args):
    r = h.pushctl("job", "show", queue, *[str(a) for a in args], "--json")
    return r.returncode, (json.loads(r.stdout) if r.returncode == 0 else
                          r.stderr.decode())


def case_job_show_each_state(h):
    """pushctl job show (JOB, protocol 5) finds an event in each state,
    with its attempts, key, headers and failures, by id or unique id, in
    a group too, and the HTTP API the same; an id the queue does not have
    now is exit 1, and bad input is refused."""
    port = free_port()
    h.start_daemon("--max-attempts", "3", "--http", "127.0.0.1:%d" % port)
    assert h.pushctl("queue", "create", "k", "dispatch=key",
                     "retry-backoff=1h:1h").returncode == 0
    c = client5(h)
    c.send(enqueue5(b"k", (attr(1, b"a") + header("task", "t"), b"first"),
                    (attr(1, b"a") + attr(5, b"order-7"), b"second"),
                    (attr(2, struct.pack(">Q", 3600000)), b"later"),
                    (b"", b"plain"), (b"", b"fails")))
    assert struct.unpack(">QI", c.expect(ENQUEUED)[:12]) == (1, 5)
    rc, j = job(h, "k", 1)
    assert rc == 0 and j["state"] == "queued" and j["attempts"] == 0, j
    assert j["key"] == "a" and j["headers"] == {"task": "t"}, j
    assert j["preview"] == "first" and j["bytes"] == 5 and j["at"], j
    assert job(h, "k", 3)[1]["state"] == "delayed"
    # A consumer takes 1 (its key busy: 2 waits behind it), then 4 and 5.
    w = consumer5(h, b"k", 3, name=b"w1")
    got = events5(w, 3)
    assert [e[0] for e in got] == [1, 4, 5], got
    rc, j = job(h, "k", 1)
    assert j["state"] == "in flight" and j["consumer"] == "w1" and \
        j["attempts"] == 1, j
    assert job(h, "k", "--unique-id", "order-7")[1]["state"] == \
        "waiting behind its key"
    # 5 fails (the queue backs off an hour): waiting to retry, its error.
    w.send(nack_error(5, "Traceback: boom"))
    h.wait_for(lambda: job(h, "k", 5)[1]["state"] == "waiting to retry",
               what="5 held back")
    j = job(h, "k", 5)[1]
    assert [(f["attempt"], f["consumer"], f["error"]) for f in j["failures"]] == \
        [(1, "w1", "Traceback: boom")], j
    # 4 fails three times at once: dead, each failure kept.
    w.send(nack_error(4, "e1", delay=0) + demand(1))
    for n in (2, 3):
        (i, a, _, _, _), = events5(w, 1)
        assert (i, a) == (4, n)
        w.send(nack_error(4, "e%d" % n, delay=0) + demand(1))
    h.wait_for(lambda: h.stats_of("k")["dead"] == 1, what="4 dead")
    j = job(h, "k", 4)[1]
    assert j["state"] == "dead" and j["reason"] == "nack", j
    assert [f["error"] for f in j["failures"]] == ["e1", "e2", "e3"], j
    # The HTTP API says the same.
    st, _, doc = http_call(port, "GET", "/api/v1/queues/k/jobs/4")
    assert st == 200 and doc["state"] == "dead" and \
        [f["error"] for f in doc["failures"]] == ["e1", "e2", "e3"], doc
    st, _, doc = http_call(port, "GET", "/api/v1/queues/k/jobs/1")
    assert doc["headers"] == {"task": "t"} and doc["consumer"] == "w1", doc
    assert http_call(port, "GET", "/api/v1/queues/k/jobs/99")[0] == 404
    assert http_call(port, "GET", "/api/v1/queues/k/jobs/x")[0] == 400
    # Done with: unknown; no such queue, a bad id: refused.
    w.send(ids(ACK, 1))
    h.wait_for(lambda: h.stats_of("k")["acked_total"] == 1, what="1 acked")
    rc, err = job(h, "k", 1)
    assert rc == 1 and "k has no event 1 now" in err, err
    rc, err = job(h, "nope", 1)
    assert rc == 1 and "no queue nope" in err, err
    assert job(h, "k", "x")[0] == 1
    r = h.pushctl("job", "show", "k")
    assert r.returncode == 1 and b"give the queue" in r.stderr, r
    # A group's view: the event is its own copy there.
    assert h.pushctl("enqueue", "-q", "g", "one").returncode == 0
    g = consumer5(h, b"g/audit", 1)
    assert h.pushctl("enqueue", "-q", "g", "two").returncode == 0
    (i, _, _, _, p), = events5(g, 1)
    assert p == b"two"
    assert job(h, "g/audit", i)[1]["state"] == "in flight"
    assert job(h, "g", i)[1]["state"] == "queued"
    # A version 4 client has no JOB.
    old = Raw(h.sock, version=4)
    old.send(frame(HELLO, struct.pack(">HBBIIB", 4, CLIENT_ROLE, 0, 0, 0, 0) +
                   b"\x00"))
    old.expect(WELCOME)
    old.send(frame(24, b"\x01k" + struct.pack(">QHB", 1, 0, 0)))
    assert "not in protocol version 4" in old.expect_error(E_BAD_STATE)


def case_cluster_headers_and_errors(h):
    """Across hosts (--cluster): an event's headers travel as a NATS header
    to the host that delivers it; its dead letter keeps its headers and
    last error, listed on every host, and a retry brings the headers
    back."""
    if not built_with_cluster():
        return
    _, url = start_nats(h)
    args = ("--cluster", url, "--max-attempts", "1")
    h.start_daemon(*args)
    _, b = second_daemon(h, "b", *args)
    c = client5(h)
    c.send(enqueue5(b"default", (header("task", "resize") + header("n", "1"),
                                 b"job")))
    c.expect(ENQUEUED)
    w = Raw(b, version=5)
    w.send(hello5(CONSUMER_ROLE, b"default", 1, b"w") + demand(1))
    w.expect(WELCOME)
    (i, _, _, hd, p), = events5(w, 1)
    assert (hd, p) == ([("task", b"resize"), ("n", b"1")], b"job"), (hd, p)
    w.send(nack_error(i, "Traceback: across hosts"))
    for sock in (h.sock, b):
        h.wait_for(lambda: len(dead_json_at(h, sock)) == 1, what="the dead letter")
        assert dead_json_at(h, sock)[0]["error"] == "Traceback: across hosts"
    assert h.pushctl("dead", "retry", sock=b).returncode == 0
    w.send(demand(1))
    (i, _, _, hd, p), = events5(w, 1)
    assert (hd, p) == ([("task", b"resize"), ("n", b"1")], b"job"), (hd, p)
    # What a cluster does not serve yet is refused, with its reason.
    rc, err = cancel(h, "default", i)
    assert rc == 1 and "JOB_CANCEL: a cluster does not find an event" in err, err


def dead_json_at(h, sock):
    r = h.pushctl("dead", "list", "--json", sock=sock)
    assert r.returncode == 0, r
    return json.loads(r.stdout)["events"]


def kill_restart(h, *args):
    h.daemon.kill()
    h.daemon.wait()
    h.start_daemon(*args)


def case_failures_after_retry_and_restart(h):
    """A dead letter retried starts again without its failures, in any
    queue, across a restart; after a restart a group's JOB knows what that
    group is done with."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--max-attempts", "1")
    h.start_daemon(*args)
    assert h.pushctl("enqueue", "-q", "orders", "o").returncode == 0
    w = consumer5(h, b"orders", 1)
    (i, _, _, _, _), = events5(w, 1)
    w.send(nack_error(i, "boom"))
    h.wait_for(lambda: h.stats_of("orders")["dead"] == 1, what="dead")
    w.close()
    assert job(h, "orders", i)[1]["failures"][0]["error"] == "boom"
    assert h.pushctl("dead", "retry", "-q", "orders").returncode == 0
    assert job(h, "orders", i)[1]["failures"] == []
    kill_restart(h, *args)
    rc, j = job(h, "orders", i)
    assert rc == 0 and j["state"] == "queued" and j["failures"] == [], j
    # Two groups; a is done with the event, b (its consumer gone before)
    # not: so after a restart.
    b = consumer5(h, b"q/b", 1, name=b"b")
    b.close()
    h.wait_for(lambda: not h.stats_of("q/b")["consumers"], what="b gone")
    a = consumer5(h, b"q/a", 1)
    assert h.pushctl("enqueue", "-q", "q", "e").returncode == 0
    (k, _, _, _, _), = events5(a, 1)
    a.send(ids(ACK, k))
    h.wait_for(lambda: h.stats_of("q/a")["acked_total"] == 1, what="a's ack")
    a.close()
    kill_restart(h, *args)
    rc, err = job(h, "q/a", k)
    assert rc == 1 and "has no event" in err, (rc, err)
    rc, j = job(h, "q/b", k)
    assert rc == 0 and j["state"] == "queued" and j["attempts"] == 0, j


def roll_first_segment(h, data, compacted=True):
    """Events of another queue, done at once, until the journal's first
    segment is gone (and compaction has copied something forward)."""
    segs = lambda: sorted(f for f in os.listdir(data) if f.endswith(".seg"))
    first = segs()[0]
    c = consumer5(h, b"fill", 1000, version=3)
    n = 0
    while (compacted and h.stats()["journal_compacted_total"] == 0) or \
            segs()[0] == first:
        assert n < 40000, "the first segment still there after %d" % n
        assert h.pushctl("enqueue", "-q", "fill", *["x" * 200] * 50).returncode == 0
        n += 50
        got = c.events_full(want=50)
        c.send(ids(ACK, *[g[0] for g in got]) + demand(50))
    c.close()


def case_failures_carried_by_compaction(h):
    """An event read back at a start with its failures, pending while
    compaction copies it forward and its old segments go: its failures
    are still there after the next start."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--segment-size", "4096", "--max-attempts", "3")
    h.start_daemon(*args)
    assert h.pushctl("queue", "create", "r", "retry-backoff=1h:1h").returncode == 0
    assert h.pushctl("enqueue", "-q", "r", "kept").returncode == 0
    w = consumer5(h, b"r", 1)
    (i, _, _, _, _), = events5(w, 1)
    w.send(nack_error(i, "Traceback: before"))
    h.wait_for(lambda: job(h, "r", i)[1]["state"] == "waiting to retry",
               what="held back")
    w.close()
    kill_restart(h, *args)
    assert [f["error"] for f in job(h, "r", i)[1]["failures"]] == \
        ["Traceback: before"]
    # Roll segments with another queue's events, done at once, until
    # compaction has copied r's event forward and its first segment is
    # gone.
    roll_first_segment(h, data)
    kill_restart(h, *args)
    assert [f["error"] for f in job(h, "r", i)[1]["failures"]] == \
        ["Traceback: before"]


def case_failure_details(h):
    """consumer --exec keeps the end of a long stderr; a retry's latency
    counts from when its backoff ended; JOB_REPLY fits a small frame limit
    with long names; an unknown long tag is named so."""
    h.start_daemon("--max-attempts", "1", "--max-frame", "4096")
    # 100,000 bytes on stderr, then its last line.
    assert h.pushctl("enqueue", "-q", "x", "go").returncode == 0
    # Its stderr to a file: a pipe no one reads would stop it.
    h.spawn([CONSUMER, "--socket", h.sock, "--id", "w", "-q", "x", "--exec",
             "cat >/dev/null; head -c 100000 /dev/zero | tr '\\0' z >&2; "
             "echo THE-END >&2; exit 1"],
            out=os.path.join(h.dir, "w.out"), merge=True)
    h.wait_for(lambda: h.stats_of("x")["dead"] == 1, what="dead")
    err = job(h, "x", 1)[1]["failures"][0]["error"]
    assert err.startswith("exit status 1\n") and err.endswith("zzTHE-END\n"), err[-40:]
    # Long names everywhere on a 4096-byte frame limit: it still answers.
    hd = b"".join(header("h%02d" % n, "v" * 200) for n in range(16))
    c = client5(h)
    c.send(enqueue5(b"big", (attr(1, b"k" * 255) + hd, b"p")))
    c.expect(ENQUEUED)
    w = consumer5(h, b"big", 1, name=b"n" * 255)
    (i, _, _, _, _), = events5(w, 1)
    w.send(nack_error(i, "e" * 4000))
    h.wait_for(lambda: h.stats_of("big")["dead"] == 1, what="big dead")
    rc, j = job(h, "big", i)
    assert rc == 0 and j["state"] == "dead" and len(j["headers"]) == 16, (rc, j)
    # Tag 129 is an attribute no one knows.
    c = client5(h)
    c.send(enqueue5(b"x", (bytes([129, 0, 1]) + b"x", b"p")))
    assert "unknown tag" in c.expect_error(E_BAD_VALUE)


def case_latency_after_a_backoff(h):
    """A retry that waited out its backoff is ready from then: its JOB says
    so, and the queue's latency does not count the wait."""
    h.start_daemon()
    assert h.pushctl("queue", "create", "b", "retry-backoff=300ms:300ms").returncode == 0
    assert h.pushctl("enqueue", "-q", "b", "e").returncode == 0
    w = consumer5(h, b"b", 1)
    (i, _, _, _, _), = events5(w, 1)
    enq = job(h, "b", i)[1]["at"]         # in flight: when delivered
    w.send(nack_error(i, "again"))
    h.wait_for(lambda: job(h, "b", i)[1]["state"] == "queued",
               what="its backoff over")
    j = job(h, "b", i)[1]
    assert j["at"] > enq, (j["at"], enq)   # ready since the backoff ended


def case_stage_refuses_bad_headers(h):
    """A stage takes an upstream EVENT whose headers are not headers (a
    HEADER, then an attribute of another long tag) without them, and
    says so; the event itself goes on."""
    path = os.path.join(h.dir, "up.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def fake_upstream():
        conn, _ = srv.accept()
        peer = Raw.__new__(Raw)
        peer.s, peer.buf, peer.version = conn, b"", 5
        f = peer.recv(10)
        assert struct.unpack(">H", f[1][:2])[0] == 5, f
        conn.sendall(frame(WELCOME, struct.pack(">HHIIHBB", 5, 0, 1 << 20, 0,
                                                5, 1, 0)))
        assert peer.recv(10)[0] == DEMAND
        # A HEADER then 20,000 bytes of another long tag: the HEADER
        # alone is the headers.  Then a HEADER of a bad name: none.
        for n, attrs in ((1, header("task", "t") + bytes([129]) +
                          struct.pack(">H", 20000) + b"g" * 20000),
                         (2, header("Bad Name", "x"))):
            body = struct.pack(">QIH", n, 1, len(attrs)) + attrs + b"payload"
            conn.sendall(HDR.pack(len(body), EVENT, 1, 0) + body)
        while peer.recv(10) is not None:
            pass
    t = threading.Thread(target=fake_upstream, daemon=True)
    t.start()
    _, sock = stage(h, "s", "--upstream", path)
    w = Raw(sock, version=5)
    w.send(hello5(CONSUMER_ROLE, b"", 2, b"w") + demand(2))
    w.expect(WELCOME)
    got = sorted((k, hd, p) for _, _, k, hd, p in events5(w, 2))
    assert got == [(None, [], b"payload"), (None, [("task", b"t")], b"payload")], got
    log = os.path.join(h.dir, "s.log")
    assert "headers are not headers" in open(log).read()
    srv.close()



def cancel(h, queue, *args):
    r = h.pushctl("job", "cancel", queue, *[str(a) for a in args], "--json")
    return r.returncode, (json.loads(r.stdout) if r.returncode == 0 else
                          r.stderr.decode())


def case_cancel_each_state(h):
    """pushctl job cancel (JOB_CANCEL) in each state: queued, delayed,
    behind its key, waiting to retry, by unique id, and in flight (its
    consumer gets a CANCEL frame, its ACK is taken, nothing is sent
    again); an unknown id, a dead letter or a group cancels nothing; what
    was cancelled stays so after kill -9, and a unique id is free at
    once."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data)
    h.start_daemon(*args)
    assert h.pushctl("queue", "create", "k", "dispatch=key",
                     "retry-backoff=1h:1h").returncode == 0
    c = client5(h)
    c.send(enqueue5(b"k", (attr(1, b"a"), b"first"),
                    (attr(1, b"a") + attr(5, b"order-7"), b"second"),
                    (attr(2, struct.pack(">Q", 3600000)), b"later"),
                    (b"", b"plain"), (b"", b"fails"), (b"", b"queued")))
    assert struct.unpack(">QI", c.expect(ENQUEUED)[:12]) == (1, 6)
    w = consumer5(h, b"k", 3, name=b"w1")
    assert [e[0] for e in events5(w, 3)] == [1, 4, 5]
    w.send(nack_error(5, "boom"))
    h.wait_for(lambda: job(h, "k", 5)[1]["state"] == "waiting to retry",
               what="5 held back")
    states = {i: job(h, "k", i)[1]["state"] for i in (2, 3, 6)}
    assert states == {2: "waiting behind its key", 3: "delayed",
                      6: "queued"}, states
    # Refused whole: an unknown id among good ones, a group, no ids.
    rc, err = cancel(h, "k", 6, 99)
    assert rc == 1 and "no event 99" in err and "(error 19)" in err, err
    assert job(h, "k", 6)[1]["state"] == "queued"
    rc, err = cancel(h, "k/g", 6)
    assert rc == 1 and "is a group" in err, err
    r = h.pushctl("job", "cancel", "k")
    assert r.returncode == 1 and b"give the queue" in r.stderr, r
    rc, err = cancel(h, "nope", 1)
    assert rc == 1 and "no queue nope" in err, err
    assert h.stats_of("k")["cancelled_total"] == 0
    # Each waiting state, then the one in flight.
    rc, out = cancel(h, "k", 6, 3, 5)
    assert rc == 0 and [(o["id"], o["cancelled"]) for o in out] == \
        [(6, "cancelled"), (3, "cancelled"), (5, "cancelled")], out
    rc, out = cancel(h, "k", "--unique-id", "order-7")
    assert rc == 0 and out == [{"id": 2, "outcome": 1,
                                "cancelled": "cancelled"}], out
    rc, out = cancel(h, "k", 1)
    assert rc == 0 and out[0]["outcome"] == 2, out
    got = w.recv()
    assert got is not None and got[0] == 26 and \
        got[1] == struct.pack(">IQ", 1, 1), got
    assert job(h, "k", 1)[1]["state"] == \
        "cancelled (in flight, its consumer told)"
    rc, out = cancel(h, "k", 1)
    assert rc == 0 and out[0]["outcome"] == 3, out
    for i in (2, 3, 5, 6):
        assert job(h, "k", i)[0] == 1, i
    st = h.stats_of("k")
    assert (st["cancelled_total"], st["queued"], st["delayed"],
            st["key_waiting"], st["in_flight"]) == (5, 0, 0, 0, 2), st
    # Its ACK is taken; 4's too; nothing more comes, its key is free.
    w.send(ids(ACK, 1, 4) + demand(2))
    h.wait_for(lambda: h.stats_of("k")["acked_total"] == 2, what="acks")
    assert h.pushctl("enqueue", "-q", "k", "--key", "a", "next").returncode == 0
    (i, a, _, _, p), = events5(w, 1)
    assert (i, a, p) == (7, 1, b"next"), (i, a, p)
    st = h.stats_of("k")
    assert (st["delivered_total"], st["redelivered_total"]) == (4, 0), st
    # The unique id is free at once, not after the queue's window.
    r = h.pushctl("enqueue", "-q", "k", "--unique-id", "order-7", "again")
    assert r.returncode == 0 and b"id 8" in r.stdout, r
    # A dead letter is not cancelled (drop it).
    assert h.pushctl("queue", "create", "d", "max-attempts=1").returncode == 0
    assert h.pushctl("enqueue", "-q", "d", "x").returncode == 0
    dw = consumer5(h, b"d", 1)
    (di, _, _, _, _), = events5(dw, 1)
    dw.send(ids(NACK, di))
    h.wait_for(lambda: h.stats_of("d")["dead"] == 1, what="dead")
    rc, err = cancel(h, "d", di)
    assert rc == 1 and "is a dead letter" in err, err
    # Cancelled in flight, then kill -9 before its answer: still gone.
    w.send(ids(ACK, 7))
    (i8, _, _, _, _), = events5(w, 1)
    assert i8 == 8
    assert cancel(h, "k", 8)[0] == 0
    w.close()
    dw.close()
    kill_restart(h, *args)
    for i in range(1, 9):
        assert job(h, "k", i)[0] == 1, i
    st = h.stats_of("k")
    assert (st["queued"], st["delayed"]) == (0, 0), st
    assert job(h, "d", di)[1]["state"] == "dead"


def case_cancel_in_groups_and_old_consumers(h):
    """A job is cancelled in every group of its queue: in flight in one
    (a version 4 consumer, not told, whose ACK ends it), buffered in
    another (never sent), delayed for all; and a version 4 client has no
    JOB_CANCEL."""
    h.start_daemon()
    a = consumer5(h, b"q/a", 2, version=4, name=b"a")
    b = consumer5(h, b"q/b", 1, name=b"b")
    c = client5(h)
    c.send(enqueue5(b"q", (b"", b"one"), (b"", b"two"),
                    (attr(2, struct.pack(">Q", 3600000)), b"three")))
    c.expect(ENQUEUED)
    assert sorted(e[0] for e in events5(a, 2, version=4)) == [1, 2]
    (i, _, _, _, _), = events5(b, 1)
    assert i == 1
    # 2: in flight on a, buffered for b; 3: delayed for both.
    assert job(h, "q/b", 2)[1]["state"] == "queued"
    rc, out = cancel(h, "q", 2, 3)
    assert rc == 0 and [o["outcome"] for o in out] == [2, 1], out
    assert job(h, "q/a", 2)[1]["state"].startswith("cancelled")
    assert job(h, "q/b", 2)[0] == 1 and job(h, "q/a", 3)[0] == 1
    for g in ("q/a", "q/b"):
        st = h.stats_of(g)
        assert st["delayed"] == 0 and st["queued"] == 0, (g, st)
    # a (version 4) was not told: it answers as ever.
    a.send(ids(ACK, 1, 2))
    b.send(ids(ACK, 1) + demand(1))
    h.wait_for(lambda: h.stats_of("q/a")["acked_total"] == 2 and
               h.stats_of("q/b")["acked_total"] == 1, what="acks")
    assert h.pushctl("enqueue", "-q", "q", "four").returncode == 0
    (i, _, _, _, p), = events5(b, 1)
    assert (i, p) == (4, b"four"), (i, p)
    # Consumers cannot cancel; a version 4 client has no JOB_CANCEL.
    b.send(frame(27, b"\x01q\x00" + struct.pack(">IQ", 1, 4)))
    assert "only clients" in b.expect_error(E_BAD_STATE)
    old = Raw(h.sock, version=4)
    old.send(frame(HELLO, struct.pack(">HBBIIB", 4, CLIENT_ROLE, 0, 0, 0, 0) +
                   b"\x00"))
    old.expect(WELCOME)
    old.send(frame(27, b"\x01q\x00" + struct.pack(">IQ", 1, 4)))
    assert "not in protocol version 4" in old.expect_error(E_BAD_STATE)
    # Ids and a unique id both: a bad value.
    c.send(frame(27, b"\x01q\x01u" + struct.pack(">IQ", 1, 4)))
    assert "one of the two" in c.expect_error(E_BAD_VALUE)



def case_cancel_survives_compaction(h):
    """A buffered event cancelled, while compaction copies its queue's
    pending events forward and their first segment goes, is not copied:
    after a restart it is still gone and its neighbours still queued."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--segment-size", "4096")
    h.start_daemon(*args)
    assert h.pushctl("enqueue", "-q", "r", "a", "b", "c").returncode == 0
    assert cancel(h, "r", 2)[0] == 0
    roll_first_segment(h, data)
    kill_restart(h, *args)
    assert job(h, "r", 2)[0] == 1
    assert [job(h, "r", i)[1]["state"] for i in (1, 3)] == ["queued"] * 2
    assert h.stats_of("r")["queued"] == 2



def case_cancel_over_http(h):
    """POST /api/v1/queues/NAME/jobs/ID/cancel: behind the token, what was
    done; an unknown id 404, a dead letter 400, the wrong method 405."""
    port = free_port()
    tok = "t0ken-0123456789abcdef"
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--http-token-file",
                   token_file(h, tok), "--max-attempts", "1")
    auth = {"Authorization": "Bearer " + tok}
    assert h.pushctl("enqueue", "-q", "q", "a", "b").returncode == 0
    st, _, doc = http_call(port, "POST", "/api/v1/queues/q/jobs/1/cancel", b"")
    assert st == 401, (st, doc)
    assert job(h, "q", 1)[1]["state"] == "queued"
    st, _, doc = http_call(port, "POST", "/api/v1/queues/q/jobs/1/cancel",
                           b"", auth)
    assert st == 200 and doc == {"queue": "q", "id": 1, "outcome": 1,
                                 "cancelled": "cancelled"}, (st, doc)
    assert job(h, "q", 1)[0] == 1
    st, _, doc = http_call(port, "POST", "/api/v1/queues/q/jobs/1/cancel",
                           b"", auth)
    assert st == 404 and "no event 1" in doc["error"], (st, doc)
    assert http_call(port, "GET", "/api/v1/queues/q/jobs/2/cancel")[0] == 405
    assert http_call(port, "POST", "/api/v1/queues/q/jobs/2/stop", b"",
                     auth)[0] == 404
    assert http_call(port, "POST", "/api/v1/queues/q/jobs/x/cancel", b"",
                     auth)[0] == 400
    assert http_call(port, "POST", "/api/v1/queues/nope/jobs/2/cancel", b"",
                     auth)[0] == 404
    # In flight: its consumer is told.
    w = consumer5(h, b"q", 1)
    (i, _, _, _, _), = events5(w, 1)
    st, _, doc = http_call(port, "POST", "/api/v1/queues/q/jobs/%d/cancel" % i,
                           b"", auth)
    assert st == 200 and doc["outcome"] == 2, (st, doc)
    got = w.recv()
    assert got is not None and got[0] == 26, got
    # A dead letter is refused.
    assert h.pushctl("enqueue", "-q", "q", "c").returncode == 0
    w.send(ids(ACK, i) + demand(1))
    (k, _, _, _, _), = events5(w, 1)
    w.send(ids(NACK, k))
    h.wait_for(lambda: h.stats_of("q")["dead"] == 1, what="dead")
    st, _, doc = http_call(port, "POST", "/api/v1/queues/q/jobs/%d/cancel" % k,
                           b"", auth)
    assert st == 400 and "dead letter" in doc["error"], (st, doc)




def case_cancel_bounded_by_the_frame(h):
    """A JOB_CANCEL of more ids than max_frame / 9 (its reply would not
    fit a frame) is refused whole; as many as fit are cancelled."""
    h.start_daemon("--max-frame", "4096")
    assert h.pushctl("enqueue", "-q", "q", "-",
                     input=b"".join(b"e%d\n" % i for i in range(456))).returncode == 0
    c = client5(h)
    c.send(frame(27, b"\x01q\x00" + struct.pack(">I", 456) +
                 b"".join(struct.pack(">Q", i) for i in range(1, 457))))
    assert "at most 455 in one" in c.expect_error(E_BAD_VALUE)
    assert h.stats_of("q")["cancelled_total"] == 0
    r = h.pushctl("job", "cancel", "q", *[str(i) for i in range(1, 457)])
    assert r.returncode == 1 and b"at most 455 in one" in r.stderr, r
    rc, out = cancel(h, "q", *range(1, 456))
    assert rc == 0 and len(out) == 455, (rc, out)
    assert h.stats_of("q")["queued"] == 1

ACK_RESULT, WAIT = 29, 30


def ack_result(i, result):
    return frame(ACK_RESULT, struct.pack(">QI", i, len(result)) + result)


def waiter(h, queue, *args):
    """pushctl job wait, running: its Popen."""
    return subprocess.Popen([PUSHCTL, "--socket", h.sock, "job", "wait", queue] +
                            [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def case_results_kept_and_waited(h):
    """ACK_RESULT: a queue with keep-done keeps each done event's record
    with its result, shown by pushctl job show and answered to pushctl job
    wait as the event ends (done: the result; dead: the last error;
    cancelled), across kill -9; a result over max-result is refused; a
    wait times out with exit 75."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--max-attempts", "1")
    h.start_daemon(*args)
    assert h.pushctl("queue", "create", "r", "keep-done=1h",
                     "max-result=100").returncode == 0
    assert h.pushctl("enqueue", "-q", "r", "a", "b", "c", "d").returncode == 0
    w1 = waiter(h, "r", 1)
    w2 = waiter(h, "r", 2, "--json")
    w3 = waiter(h, "r", 3)
    h.wait_for(lambda: h.stats_of("r")["waits"] == 3, what="3 waits")
    c = consumer5(h, b"r", 4)
    assert [e[0] for e in events5(c, 4)] == [1, 2, 3, 4]
    c.send(ack_result(1, b"result of a") + nack_error(2, "Traceback: b"))
    out, err = w1.communicate(timeout=30)
    assert w1.returncode == 0 and out == b"result of a", (w1.returncode, out, err)
    out, err = w2.communicate(timeout=30)
    doc = json.loads(out)
    assert w2.returncode == 1 and doc["state"] == "dead" and \
        doc["error"] == "Traceback: b" and doc["reason"] == "nack", (out, err)
    assert cancel(h, "r", 3)[0] == 0
    assert c.recv() == (26, struct.pack(">IQ", 1, 3))
    out, err = w3.communicate(timeout=30)
    assert w3.returncode == 1 and b"was cancelled" in err, (out, err)
    rc, j = job(h, "r", 1)
    assert rc == 0 and j["state"] == "done" and j["result"] == "result of a" \
        and j["attempts"] == 1 and j["at"], j
    # A done job is not cancelled (the crash loop found it said so).
    rc, err = cancel(h, "r", 1)
    assert rc == 1 and "is done (acked)" in err and "(error 19)" in err, err
    assert job(h, "r", 1)[1]["state"] == "done"
    st = h.stats_of("r")
    assert (st["done_kept"], st["done_kept_bytes"], st["waits"]) == \
        (1, 40 + 16, 0), st        # 40 bytes and the result, to 8
    # Still going at the timeout: exit 75, where it is.
    r = h.pushctl("job", "wait", "r", "4", "--timeout", "50ms")
    assert r.returncode == 75 and b"still in flight" in r.stderr, r
    # Unknown: at once.
    r = h.pushctl("job", "wait", "r", "99")
    assert r.returncode == 1 and b"r has no event 99" in r.stderr, r
    # Over max-result: refused, naming it; the event stays in flight.
    c.send(ack_result(4, b"x" * 101))
    assert "max-result" in c.expect_error(E_BAD_VALUE)
    # kill -9: the record and its result stay; a wait is answered at once.
    kill_restart(h, *args)
    rc, j = job(h, "r", 1)
    assert rc == 0 and j["state"] == "done" and j["result"] == "result of a", j
    r = h.pushctl("job", "wait", "r", "1")
    assert r.returncode == 0 and r.stdout == b"result of a", r
    # (4, delivered once of max-attempts 1 when its consumer went, came
    # back dead.)  A wait across a restart: asked again once the daemon
    # is back.
    assert job(h, "r", 4)[1]["state"] == "dead"
    r = h.pushctl("enqueue", "-q", "r", "e")
    assert r.returncode == 0 and r.stdout.split()[-1] == b"5", r
    w4 = waiter(h, "r", 5, "--timeout", "60s")
    h.wait_for(lambda: h.stats_of("r")["waits"] == 1, what="the wait")
    kill_restart(h, *args)
    c = consumer5(h, b"r", 1)
    (i, _, _, _, _), = events5(c, 1)
    assert i == 5
    c.send(ack_result(5, b"d done"))
    out, err = w4.communicate(timeout=60)
    assert w4.returncode == 0 and out == b"d done", (w4.returncode, out, err)


def case_results_expire_and_are_bounded(h):
    """Kept records go after keep-done, and the oldest first past
    keep-done-bytes; a queue without keep-done keeps none (a wait still
    gets the result); carried forward when their segment goes."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--segment-size", "4096")
    h.start_daemon(*args)
    assert h.pushctl("queue", "create", "s", "keep-done=1s").returncode == 0
    assert h.pushctl("queue", "create", "b", "keep-done=1h",
                     "keep-done-bytes=1024").returncode == 0
    assert h.pushctl("enqueue", "-q", "s", "short").returncode == 0
    c = consumer5(h, b"s", 1)
    (i, _, _, _, _), = events5(c, 1)
    c.send(ack_result(i, b"soon gone"))
    h.wait_for(lambda: job(h, "s", i)[0] == 0, what="kept")
    h.wait_for(lambda: job(h, "s", i)[0] == 1, what="gone after 1 s")
    assert h.stats_of("s")["done_kept"] == 0
    # 1024 bytes: 2 records of 40 + 300 (to 8) at most; the oldest go.
    assert h.pushctl("enqueue", "-q", "b", *["e%d" % n for n in range(5)]).returncode == 0
    b = consumer5(h, b"b", 5)
    got = [e[0] for e in events5(b, 5)]
    for n in got:
        b.send(ack_result(n, b"%03d" % n + b"r" * 297))
    h.wait_for(lambda: h.stats_of("b")["acked_total"] == 5, what="acks")
    st = h.stats_of("b")
    assert st["done_kept"] == 2 and st["done_kept_bytes"] <= 1024, st
    assert [job(h, "b", n)[0] for n in got] == [1, 1, 1, 0, 0]
    # No keep-done: nothing kept, but a wait gets the result.
    r = h.pushctl("enqueue", "-q", "n", "x")
    assert r.returncode == 0, r
    w = waiter(h, "n", int(r.stdout.split()[-1]))
    h.wait_for(lambda: h.stats_of("n")["waits"] == 1, what="the wait")
    nc = consumer5(h, b"n", 1)
    (k, _, _, _, _), = events5(nc, 1)
    nc.send(ack_result(k, b"given"))
    out, err = w.communicate(timeout=30)
    assert w.returncode == 0 and out == b"given", (out, err)
    assert job(h, "n", k)[0] == 1 and h.stats_of("n")["done_kept"] == 0
    # Carried: roll segments until the first goes; the records stay.
    roll_first_segment(h, data, compacted=False)
    kill_restart(h, *args)
    for n in got[3:]:
        rc, j = job(h, "b", n)
        assert rc == 0 and j["result"] == "%03d" % n + "r" * 297, (n, j)
    assert h.stats_of("b")["done_kept"] == 2



def jobs(h, queue, *args):
    r = h.pushctl("jobs", "-q", queue, "--json", *[str(a) for a in args])
    return r.returncode, (json.loads(r.stdout) if r.returncode == 0 else
                          r.stderr.decode())


def ids_of(page):
    return [e["id"] for e in page["events"]]


def case_jobs_browse(h):
    """pushctl jobs (JOBS) and GET jobs: a page of a queue's events in
    each state, lowest ids first, with a cursor to the next page; by key
    or a header's value; a cursor of another queue or state, or a bad
    state or filter, is refused."""
    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--max-attempts", "2")
    assert h.pushctl("queue", "create", "b", "dispatch=key", "keep-done=1h",
                     "retry-backoff=1h:1h").returncode == 0
    c = client5(h)
    c.send(enqueue5(b"b", *[(attr(1, b"k%d" % (i % 2)) +
                             header("n", str(i)), b"p%d" % i)
                            for i in range(1, 8)] +
                    [(attr(2, struct.pack(">Q", 3600000)), b"later")]))
    assert struct.unpack(">QI", c.expect(ENQUEUED)[:12]) == (1, 8)
    rc, page = jobs(h, "b", "--limit", 3)
    assert rc == 0 and ids_of(page) == [1, 2, 3] and page["next"], page
    assert page["events"][0] == {"id": 1, "state": "queued", "attempts": 0,
                                 "at": page["events"][0]["at"], "key": "k1",
                                 "bytes": 2, "preview": "p1"}, page
    rc, page2 = jobs(h, "b", "--limit", 3, "--after", page["next"])
    assert ids_of(page2) == [4, 5, 6] and page2["next"], page2
    rc, page3 = jobs(h, "b", "--limit", 3, "--after", page2["next"])
    assert ids_of(page3) == [7] and page3["next"] is None, page3
    assert ids_of(jobs(h, "b", "--key", "k0")[1]) == [2, 4, 6]
    assert ids_of(jobs(h, "b", "--header", "n=5")[1]) == [5]
    assert ids_of(jobs(h, "b", "--state", "delayed")[1]) == [8]
    # A consumer takes 1 and 2 (then each key waits): 3..7 behind keys.
    w = consumer5(h, b"b", 10)
    assert [e[0] for e in events5(w, 2)] == [1, 2]
    h.wait_for(lambda: h.stats_of("b")["key_waiting"] == 5, what="keys wait")
    rc, page = jobs(h, "b")
    assert [(e["id"], e["state"]) for e in page["events"]] == \
        [(i, "waiting behind its key") for i in range(3, 8)], page
    assert ids_of(jobs(h, "b", "--state", "in-flight")[1]) == [1, 2]
    # 1 fails (an hour's backoff): retrying; 2 is done with a result.
    w.send(nack_error(1, "boom") + ack_result(2, b"two"))
    h.wait_for(lambda: jobs(h, "b", "--state", "retrying")[1]["events"],
               what="1 retrying")
    assert ids_of(jobs(h, "b", "--state", "retrying")[1]) == [1]
    (i, _, _, _, _), = events5(w, 1)
    assert i == 4
    rc, page = jobs(h, "b", "--state", "done")
    assert [(e["id"], e["preview"]) for e in page["events"]] == \
        [(2, "two")], page
    w.send(nack_error(4, "again at once", delay=0))
    (i, _, _, _, _), = events5(w, 1)
    assert i == 4
    w.send(nack_error(4, "and dead", delay=0))
    h.wait_for(lambda: h.stats_of("b")["dead"] == 1, what="4 dead")
    assert ids_of(jobs(h, "b", "--state", "dead")[1]) == [4]
    # Refused: a cursor of another state or queue, a bad state.
    rc, page = jobs(h, "b", "--limit", 1, "--state", "in-flight")
    assert page["next"], page
    rc, err = jobs(h, "b", "--after", page["next"])
    assert rc == 1 and "cursor is of another" in err, err
    assert h.pushctl("enqueue", "-q", "o", "x").returncode == 0
    rc, err = jobs(h, "o", "--after", page["next"], "--state", "in-flight")
    assert rc == 1 and "cursor is of another" in err, err
    r = h.pushctl("jobs", "-q", "b", "--state", "sleeping")
    assert r.returncode == 1 and b"--state" in r.stderr, r
    r = h.pushctl("jobs", "-q", "b", "--after", "xyz")
    assert r.returncode == 1 and b"not a cursor" in r.stderr, r
    r = h.pushctl("jobs", "-q", "b", "--key", "a", "--header", "n=1")
    assert r.returncode == 1 and b"not both" in r.stderr, r
    # The API: the same pages.
    st, _, doc = http_call(port, "GET", "/api/v1/queues/b/jobs?limit=2")
    assert st == 200 and ids_of(doc) == [3, 5] and doc["next"], (st, doc)
    st, _, doc2 = http_call(port, "GET", "/api/v1/queues/b/jobs?limit=2"
                            "&after=" + doc["next"])
    assert st == 200 and ids_of(doc2) == [7] and doc2["state"] == \
        "queued" and doc2["next"] is None, doc2     # 6 went when 4 died
    st, _, doc = http_call(port, "GET", "/api/v1/queues/b/jobs?state=done")
    assert st == 200 and doc["events"][0]["preview"] == "two", doc
    st, _, doc = http_call(port, "GET", "/api/v1/queues/b/jobs?header=n=7")
    assert st == 200 and ids_of(doc) == [7], doc
    for q, code in (("state=asleep", 400), ("after=12", 400),
                    ("limit=0", 400), ("key=a&header=n=1", 400)):
        assert http_call(port, "GET", "/api/v1/queues/b/jobs?" + q)[0] == \
            code, q
    assert http_call(port, "GET", "/api/v1/queues/nope/jobs")[0] == 404


def case_jobs_browse_ten_million(h):
    """Paging through 10 million queued events: the first page, one from
    a cursor in the middle and the last are the right ids (their cost,
    the same as of 100 events: docs/performance.md)."""
    h.start_daemon("--max-queue", "0")
    n = 10000000
    r = h.pushctl("enqueue", "-q", "big", "-", input=b"e\n" * n)
    assert r.returncode == 0 and b"ids 1-10000000" in r.stdout, r
    rc, page = jobs(h, "big", "--limit", 50)
    assert ids_of(page) == list(range(1, 51)), page
    tag = page["next"][16:]
    for start in (5000000, n - 50):
        rc, page = jobs(h, "big", "--limit", 50, "--after",
                        "%016x" % start + tag)
        assert ids_of(page) == list(range(start + 1, start + 51)), page
    assert page["next"] is not None
    rc, page = jobs(h, "big", "--limit", 50, "--after", page["next"])
    assert rc == 0 and page["events"] == [] and page["next"] is None, page

if __name__ == "__main__":
    sys.exit(integration.main(globals()))
