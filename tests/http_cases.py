#!/usr/bin/env python3
"""http_cases.py CASE: producerd --http against real peers, beside
integration.py's cases and with its harness: slow and many peers, the
token file's type, the JSON's keys, the list of counters, and paging
dead letters."""
import os
import re
import resource
import select
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from integration import *  # noqa: E402,F401,F403
import integration  # noqa: E402
from integration import (PRODUCERD, Raw, built_with_cluster, free_port,  # noqa: E402
                         consumer_hello, demand, http_call, ids, start_nats,
                         token_file)


def log_text(h):
    with open(os.path.join(h.dir, "producerd.log"), "rb") as f:
        return f.read().decode(errors="replace")


def wait_log(h, text, count=1):
    h.wait_for(lambda: log_text(h).count(text) >= count, what="the log line " + text)


def case_http_request_deadline(h):
    """64 peers each sending a byte of a request every 0.3 s (never idle
    for evhttp) are closed when --http-request-timeout passes, and a probe
    waiting behind them is answered; a request finished in time is served
    and its connection kept alive for the next."""
    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--http-request-timeout", "2")
    start = time.monotonic()
    trick = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
    h.wait_for(lambda: h.stats()["metrics_connections"] == 64, what="64 HTTP connections")
    head = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000
    probe = []

    def ask():
        probe.append(http_call(port, "GET", "/api/v1/queues")[0])
    t = threading.Thread(target=ask)
    t.start()
    # Trickle until the daemon closes each one; a deadline of 2 s over 0.3 s
    # steps: without one they would trickle for as long as the wait allows.
    open_ = {s: 0 for s in trick}
    closed_at = []
    while open_ and time.monotonic() - start < 30:
        for s in list(open_):
            r, _, _ = select.select([s], [], [], 0)
            gone = False
            if r:
                try:
                    gone = s.recv(4096) == b""
                except ConnectionResetError:
                    gone = True
            if not gone:
                try:
                    s.send(head[open_[s]:open_[s] + 1])
                    open_[s] += 1
                except (BrokenPipeError, ConnectionResetError):
                    gone = True
            if gone:
                del open_[s]
                closed_at.append(time.monotonic() - start)
                s.close()
        time.sleep(0.3)
    assert not open_, "%d tricklers still open after 30 s" % len(open_)
    t.join(timeout=30)
    assert probe == [200], probe
    # Each had sent a byte in every 0.3 s: only the whole request's deadline
    # closes them, not evhttp's idle timeout of 2 s.
    assert min(closed_at) >= 1.8 and max(closed_at) < 15, closed_at
    # A whole request in time is answered, and the connection is kept for
    # another (its deadline starts again at each reply).
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    t0 = time.monotonic()
    for i in range(6):
        if i:
            time.sleep(0.6)     # well within the deadline of 2 s, loaded
        c.request("GET", "/metrics")
        r = c.getresponse()
        assert r.status == 200 and r.read(), r.status
    # The last came past the deadline counted from the accept.
    assert time.monotonic() - t0 > 2.5
    c.close()
    r = subprocess.run([PRODUCERD, "--socket", h.sock + "2", "--http", "127.0.0.1:1",
                        "--http-request-timeout", "0"], capture_output=True, timeout=10)
    assert r.returncode == 1 and b"--http-request-timeout" in r.stderr, r


def case_http_connections_leave_descriptors(h):
    """With ulimit -n 64, 150 peers at --http take at most a quarter of the
    descriptors (said at start, both numbers named): pushctl stats is
    served all the while."""
    port = free_port()

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    errlog = os.path.join(h.dir, "producerd.log")
    with open(errlog, "ab") as log:
        p = subprocess.Popen([PRODUCERD, "--socket", h.sock, "--http", "127.0.0.1:%d" % port],
                             stdout=subprocess.DEVNULL, stderr=log, preexec_fn=low_limit)
    h.procs.append(p)
    h.daemon = p
    h.wait_for(h.connectable, what="producerd to listen")
    # The line is written when the HTTP listener starts, which may come
    # after the socket takes connections: waited for, a record on disk.
    h.wait_for(lambda: "at most 16 HTTP connections" in log_text(h),
               what="the HTTP connection limit's line")
    text = log_text(h)
    assert "--http-max-connections 64" in text and "descriptor limit (64)" in text and \
        "at most 16 HTTP connections" in text, text
    assert "at most 16 connections" in text, text
    peers = []
    for _ in range(150):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        peers.append(s)
    h.wait_for(lambda: h.pushctl("stats", "--json").returncode == 0 and
               h.stats()["metrics_connections"] == 16, what="16 HTTP connections")
    for _ in range(3):
        r = h.pushctl("stats")
        assert r.returncode == 0, r
    assert h.stats()["metrics_connections"] == 16
    for s in peers:
        s.close()


def case_http_token_file_not_regular(h):
    """--http-token-file naming a FIFO (or a directory) is refused at once
    with its path, not waited on; at SIGHUP the token in use stays and the
    daemon goes on serving."""
    port = free_port()
    fifo = os.path.join(h.dir, "fifo")
    os.mkfifo(fifo, 0o600)
    for path, kind in ((fifo, b"FIFO"), (h.dir, b"directory")):
        r = subprocess.run([PRODUCERD, "--socket", h.sock + "2", "--http",
                            "127.0.0.1:%d" % port, "--http-token-file", path],
                           capture_output=True, timeout=10)
        assert r.returncode == 1 and path.encode() in r.stderr and \
            b"not a regular file" in r.stderr and kind in r.stderr, r
    tok = "t0ken-0123456789abcdef"
    path = token_file(h, tok)
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--http-token-file", path)
    os.unlink(path)
    os.mkfifo(path, 0o600)
    h.daemon.send_signal(integration.signal.SIGHUP)
    wait_log(h, "the token in use stays")
    assert "not a regular file (a FIFO)" in log_text(h)
    assert h.pushctl("enqueue", "x").returncode == 0
    st, _, res = http_call(port, "POST", "/api/v1/queues/default/purge", b"",
                           {"Authorization": "Bearer " + tok})
    assert st == 200 and res["purged"] == 1, (st, res)


def unique_keys(text):
    """text parsed, raising on an object with a key given twice."""
    def pairs(kv):
        seen = set()
        for k, _ in kv:
            assert k not in seen, "key %r twice in %r" % (k, kv)
            seen.add(k)
        return dict(kv)
    return json.loads(text, object_pairs_hook=pairs)


def case_http_json_keys_once(h):
    """Every object of every API reply names each key once: a queue's
    "groups" is the list of its groups' names, "ngroups" their count."""
    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--max-attempts", "1")
    h.consumer("a", "--queue", "jobs", "--group", "g1", "--exec", "false")
    h.consumer("b", "--queue", "jobs", "--exec", "false")
    h.wait_consumers(2)
    assert h.pushctl("enqueue", "--queue", "jobs", "x").returncode == 0
    h.wait_for(lambda: h.stats_of("jobs")["dead"] == 1, what="a dead letter")
    for path in ("/api/v1/queues", "/api/v1/queues/jobs", "/api/v1/consumers",
                 "/api/v1/history", "/api/v1/counters", "/api/v1/queues/jobs/dead",
                 "/api/v1/queues/jobs/dead?group=g1", "/api/v1/queues?fields=groups,queued"):
        st, _, raw = http_call(port, "GET", path, raw=True)
        assert st == 200, (path, st, raw)
        unique_keys(raw)
    over = unique_keys(http_call(port, "GET", "/api/v1/queues", raw=True)[2])
    (q,) = [q for q in over["queues"] if q["name"] == "jobs"]
    assert q["groups"] == ["", "g1"] and q["ngroups"] == 2, q


def case_http_counters_list(h):
    """GET counters lists the counters this daemon reports, by the names
    ?fields= takes: exactly the keys of the daemon's object and a queue's
    in GET queues, a part not run (the journal) left out, each with the
    help /metrics gives."""
    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port)
    assert h.pushctl("enqueue", "--queue", "jobs", "x").returncode == 0
    st, _, res = http_call(port, "GET", "/api/v1/counters")
    assert st == 200, (st, res)
    listed = res["counters"]
    names = [c["name"] for c in listed]
    assert len(names) == len(set(names)), names
    assert all(c["kind"] in ("gauge", "total", "setting") and c["help"] and
               (c["daemon"] or c["queue"]) for c in listed), listed
    daemon = {c["name"] for c in listed if c["daemon"]}
    queue = {"ngroups" if c["name"] == "groups" else c["name"]
             for c in listed if c["queue"]}
    st, _, over = http_call(port, "GET", "/api/v1/queues")
    assert st == 200, over
    assert set(over["daemon"]) == daemon, set(over["daemon"]) ^ daemon
    (q,) = [q for q in over["queues"] if q["name"] == "jobs"]
    assert set(q) - {"name", "groups"} == queue, (set(q) - {"name", "groups"}) ^ queue
    assert daemon <= set(h.stats()), daemon - set(h.stats())
    assert "journal_bytes" not in names and "cluster_connected" not in names
    # Every name is one ?fields= takes.
    st, _, some = http_call(port, "GET", "/api/v1/queues?fields=" + ",".join(names))
    assert st == 200 and set(some["daemon"]) == daemon, (st, some)
    _, _, metrics = http_call(port, "GET", "/metrics")
    for c in listed:
        if c["kind"] != "setting":
            assert (" %s\n# TYPE " % c["help"]).encode() in metrics, c
    st, _, _ = http_call(port, "POST", "/api/v1/counters")
    assert st == 405, st


def case_http_dead_pages(h):
    """GET queues/NAME/dead pages with a cursor: after=ID (the page
    before's "next") reaches every letter, past the 1,000 of one page;
    offset= is refused, not ignored; a cursor no longer dead is a 404."""
    port = free_port()
    tok = "t0ken-0123456789abcdef"
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--max-attempts", "1",
                   "--http-token-file", token_file(h, tok))
    n = 1234
    r = h.pushctl("enqueue", "-", input=b"".join(b"e%d\n" % i for i in range(n)))
    assert r.returncode == 0, r
    # A consumer takes them all and nacks each: n dead letters at once.
    w = Raw(h.sock)
    consumer_hello(w, b"w", n)
    w.send(demand(n))
    got = [i for i, _, _ in w.events_full(want=n)]
    w.send(ids(NACK, *got))
    h.wait_for(lambda: h.stats()["dead"] == n, what="%d dead" % n)
    seen, after, pages = [], None, 0
    while True:
        path = "/api/v1/queues/default/dead?limit=500&preview=8"
        if after is not None:
            path += "&after=%d" % after
        st, _, page = http_call(port, "GET", path)
        assert st == 200 and page["dead"] == n, (st, page)
        pages += 1
        seen += [e["id"] for e in page["entries"]]
        if page["next"] is None:
            break
        assert page["next"] == page["entries"][-1]["id"], page["next"]
        after = page["next"]
    assert pages == 3 and len(seen) == n and len(set(seen)) == n, (pages, len(seen))
    listed = h.pushctl("dead", "list", "--json")
    assert json.loads(listed.stdout)["events"][0]["id"] == seen[0]
    # Dropping a letter of page one shifts nothing on page two.
    st, _, two = http_call(port, "GET", "/api/v1/queues/default/dead?limit=500&after=%d" % seen[499])
    st, _, res = http_call(port, "POST", "/api/v1/queues/default/dead/drop",
                           json.dumps({"ids": seen[:10]}).encode(),
                           {"Authorization": "Bearer " + tok})
    assert st == 200 and res["dropped"] == 10, res
    st, _, again = http_call(port, "GET", "/api/v1/queues/default/dead?limit=500&after=%d" % seen[499])
    assert [e["id"] for e in again["entries"]] == [e["id"] for e in two["entries"]]
    for path, code in (("?offset=1000", 400), ("?after=x", 400),
                       ("?after=%d" % seen[0], 404), ("?after=99999999", 404)):
        st, _, err = http_call(port, "GET", "/api/v1/queues/default/dead" + path)
        assert st == code and err.get("error"), (path, st, err)
    # The last page: the few left, and no next.
    st, _, last = http_call(port, "GET", "/api/v1/queues/default/dead?after=%d" % seen[-2])
    assert [e["id"] for e in last["entries"]] == [seen[-1]] and last["next"] is None, last


def case_http_cluster_dead_pages(h):
    """--cluster: the dead letters kept in JetStream page the same way:
    after=ID (their stream sequence) and next."""
    if not built_with_cluster():
        return
    nats, url = start_nats(h)
    port = free_port()
    h.start_daemon("--cluster", url, "--http", "127.0.0.1:%d" % port, "--max-attempts", "1")
    h.consumer("w", "--queue", "jobs", "--exec", "false")
    h.wait_consumers(1)
    n = 25
    r = h.pushctl("enqueue", "--queue", "jobs", *["e%d" % i for i in range(n)])
    assert r.returncode == 0, r
    h.wait_for(lambda: http_call(port, "GET", "/api/v1/queues/jobs/dead?limit=1000")[2]
               .get("dead") == n, timeout=60, what="%d dead letters in JetStream" % n)
    seen, after = [], 0
    for _ in range(10):
        st, _, page = http_call(port, "GET", "/api/v1/queues/jobs/dead?limit=10&after=%d" % after)
        assert st == 200, (st, page)
        seen += [e["id"] for e in page["entries"]]
        if page["next"] is None:
            break
        after = page["next"]
    assert len(seen) == n and seen == sorted(set(seen)), seen
    st, _, err = http_call(port, "GET", "/api/v1/queues/jobs/dead?offset=10")
    assert st == 400 and "after=" in err["error"], err


def sched_http(port, method, path, body=None, tok=None):
    """(status, JSON) of a request under /api/v1/schedules."""
    headers = {"Authorization": "Bearer " + tok} if tok else {}
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    st, _, res = http_call(port, method, "/api/v1/schedules" + path, body, headers)
    return st, res


def case_http_schedules(h):
    """Every schedules route (docs/http.md): a schedule added (201, the
    same again 200, otherwise 409 unless replace), listed, read, paused,
    resumed, run now (its event in the queue, with the schedule's
    headers), removed; as the wire's SCHEDULE_REPLY says it; each change
    refused without the token; every error its status, the daemon's
    words naming the field."""
    from schedule_cases import LIST, client5, one, sched
    port = free_port()
    tok = "t0ken-0123456789abcdef"
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--http-token-file",
                   token_file(h, tok), "--max-schedules", "3")
    nightly = {"name": "nightly", "queue": "reports", "cron": "0 6 * * 1-5",
               "tz": "Europe/Berlin", "catch_up": "none", "unique": True,
               "payload": "r\u00e9port <b>", "headers": {"x-kind": "daily"},
               "priority": 7, "key": "k1"}
    st, res = sched_http(port, "POST", "", nightly)
    assert st == 401 and "Bearer" in res["error"], (st, res)
    st, res = sched_http(port, "GET", "")
    assert st == 200 and res == {"schedules": [], "total": 0}, (st, res)
    st, s = sched_http(port, "POST", "", nightly, tok)
    assert st == 201, (st, s)
    assert (s["name"], s["queue"], s["cron"], s["every"], s["tz"], s["catch_up"],
            s["unique"], s["paused"], s["fired"], s["skipped"], s["last_id"],
            s["last_ms"], s["last"], s["priority"], s["key"], s["headers"],
            s["payload"], s["payload_encoding"], s["bytes"]) == \
        ("nightly", "reports", "0 6 * * 1-5", None, "Europe/Berlin", "none", True,
         False, 0, 0, None, 0, None, 7, "k1", {"x-kind": "daily"}, "r\u00e9port <b>",
         "text", 11), s
    assert len(s["next_ms"]) == 5 and s["next_ms"] == sorted(s["next_ms"]), s
    for ms, iso in zip(s["next_ms"] + [s["created_ms"]], s["next"] + [s["created"]]):
        assert iso == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
            ".%03dZ" % (ms % 1000), (ms, iso)
    # The same again changes nothing (200); otherwise 409, or replaced.
    st, again = sched_http(port, "POST", "", nightly, tok)
    assert st == 200 and again == s, (st, again)
    st, res = sched_http(port, "POST", "", dict(nightly, cron="0 7 * * *"), tok)
    assert st == 409 and "defined otherwise" in res["error"], (st, res)
    st, rep = sched_http(port, "POST", "", dict(nightly, cron="0 7 * * *", replace=True), tok)
    assert st == 200 and rep["cron"] == "0 7 * * *" and rep["created_ms"] == s["created_ms"], rep
    # The wire's LIST says what HTTP does.
    c = client5(h)
    e = one(c, sched(LIST, b"nightly"))
    assert (e["cron"], e["tz"], e["catch-up"], e["unique"], int(e["created"]),
            [int(t) for t in e["next"].split(",")], e["payload"].decode()) == \
        (rep["cron"], rep["tz"], rep["catch_up"], "yes", rep["created_ms"], rep["next_ms"],
         rep["payload"]), (e, rep)
    c.close()
    # A binary payload, in hex both ways; paused from the start.
    st, b = sched_http(port, "POST", "", {"name": "bin", "queue": "raw", "every": "1h",
                                          "payload": "00ff7f", "payload_encoding": "hex",
                                          "paused": True}, tok)
    assert st == 201 and b["payload"] == "00ff7f" and b["payload_encoding"] == "hex" and \
        b["bytes"] == 3 and b["paused"] and b["every"] == "1h" and b["cron"] is None, b
    assert b["next_ms"][0] % 3600000 == 0, b
    st, res = sched_http(port, "GET", "")
    assert st == 200 and res["total"] == 2 and [x["name"] for x in res["schedules"]] == \
        ["nightly", "bin"], res
    st, one_ = sched_http(port, "GET", "/bin")
    assert st == 200 and one_ == b, one_
    # Pause, resume, run now: each needs the token.
    for tail in ("/nightly/pause", "/nightly/resume", "/nightly/run-now"):
        st, res = sched_http(port, "POST", tail)
        assert st == 401, (tail, st, res)
    st, res = sched_http(port, "DELETE", "/bin")
    assert st == 401, (st, res)
    st, res = sched_http(port, "POST", "/nightly/pause", None, tok)
    assert st == 200 and res["paused"] is True, res
    # Who did it is logged, as for a queue's changes.
    wait_log(h, ": schedule nightly: pause")
    assert re.search(r'msg="http 127\.0\.0\.1:\d+: schedule nightly: pause"', log_text(h))
    st, res = sched_http(port, "POST", "/nightly/resume", None, tok)
    assert st == 200 and res["paused"] is False, res
    st, res = sched_http(port, "POST", "/bin/run-now", None, tok)
    assert st == 200 and res["enqueued"] >= 1 and res["paused"], res
    h.wait_for(lambda: h.stats_of("raw")["queued"] == 1, what="the run-now's event")
    st, _, job = http_call(port, "GET", "/api/v1/queues/raw/jobs/%d" % res["enqueued"])
    assert st == 200 and job["headers"]["pushstage-schedule"] == "bin" and \
        job["preview_encoding"] == "hex" and job["preview"] == "00ff7f", job
    st, res = sched_http(port, "DELETE", "/bin", None, tok)
    assert st == 200 and res["name"] == "bin", res
    st, res = sched_http(port, "GET", "/bin")
    assert st == 404 and res["error"] == "no schedule bin", (st, res)
    # Each error its status, with the daemon's words.
    for body, code, words in (
            (dict(nightly, name="x", cron="0 24 * * *"), 400, "cron field 2 (hour)"),
            (dict(nightly, name="x", tz="Mars/Olympus"), 400, "tz: unknown time zone"),
            (dict(nightly, name="x", catch_up="most"), 400, "catch-up"),
            ({"name": "x", "queue": "q"}, 400, "needs a rule"),
            ({"name": "x", "queue": "q", "every": "0s"}, 400, "every \"0s\": a duration of 0"),
            ({"name": "x", "queue": "q", "every": "1h", "cron": "* * * * *"}, 400, "cron and every"),
            ({"name": "a b", "queue": "q", "every": "1h"}, 400, "schedule name"),
            ({"name": "x" * 65, "queue": "q", "every": "1h"}, 400, "schedule name"),
            ({"name": "x", "queue": "q/g", "every": "1h"}, 400, "a queue, every group"),
            ({"name": "x", "queue": "q", "every": "1h", "headers": {"pushstage-x": "1"}},
             400, "header"),
            ({"name": "x", "queue": "q", "every": "1h", "headers": {"Bad Name": "1"}},
             400, "headers"),
            ({"name": "x", "queue": "q", "every": "1h", "priority": 65536}, 400, "priority"),
            ({"name": "x", "queue": "q", "every": "1h", "priority": "1"}, 400, "priority"),
            ({"name": "x", "queue": "q", "every": "1h", "unique": "yes"}, 400, "unique"),
            ({"name": "x", "queue": "q", "every": "1h", "payload": "0g",
              "payload_encoding": "hex"}, 400, "hex"),
            ({"name": "x", "queue": "q", "every": "1h", "colour": "red"}, 400, "colour"),
            ({"name": "x", "every": "1h"}, 400, "a name and a queue"),
            (b'{"name": "x", "name": "y"}', 400, "twice"),
            (b'{"name": "x",', 400, "not a JSON object"),
            (b'[1]', 400, "not a JSON object"),
            (b'', 400, "not a JSON object"),
            (b'{"name": "\xff"}', 400, "UTF-8")):
        st, res = sched_http(port, "POST", "", body, tok)
        assert st == code and words in res["error"], (body, st, res)
    # The limit: 3 schedules at most.
    for name in ("a", "b"):
        st, res = sched_http(port, "POST", "", {"name": name, "queue": "q", "every": "1d"}, tok)
        assert st == 201, (st, res)
    st, res = sched_http(port, "POST", "", {"name": "c", "queue": "q", "every": "1d"}, tok)
    assert st == 409 and "--max-schedules" in res["error"], (st, res)
    st, res = sched_http(port, "GET", "")
    assert res["total"] == 3, res
    # No schedule 404, a bad name 400, a bad path 404, a method 405.
    for method, path, code in (("POST", "/nope/pause", 404), ("POST", "/nope/run-now", 404),
                               ("DELETE", "/nope", 404), ("POST", "/a%20b/pause", 400),
                               ("POST", "/a/bogus", 404), ("PUT", "/a", 405),
                               ("GET", "/a/pause", 405), ("DELETE", "", 405),
                               ("POST", "/a", 405)):
        st, res = sched_http(port, method, path, None, tok)
        assert st == code and res.get("error"), (method, path, st, res)
    # A body over 64 KiB: 413 before it is read.
    st, _ = sched_http(port, "POST", "", b"x" * 70000, tok)
    assert st == 413, st


def case_http_schedules_pages(h):
    """GET schedules lists every schedule, past what fits in one
    SCHEDULE_REPLY (a small --max-frame); under --no-auto-create a queue
    not made is a 404 in the daemon's words."""
    from schedule_cases import client5, one, sched_add
    port = free_port()
    tok = "t0ken-0123456789abcdef"
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--http-token-file",
                   token_file(h, tok), "--max-frame", "8192", "--no-auto-create",
                   "--queue", "q")
    c = client5(h)
    n = 20
    for i in range(n):
        e = one(c, sched_add(b"s%02d" % i, b"q", ["every=%dm" % (i + 1)], b"p" * 1000))
        assert e["name"] == "s%02d" % i, e
    c.close()
    st, res = sched_http(port, "GET", "")
    assert st == 200 and res["total"] == n, (st, res.get("total"))
    assert [s["name"] for s in res["schedules"]] == ["s%02d" % i for i in range(n)]
    assert all(s["every"] == "%dm" % (i + 1) and s["bytes"] == 1000
               for i, s in enumerate(res["schedules"])), res
    st, res = sched_http(port, "POST", "", {"name": "x", "queue": "nowhere",
                                            "every": "1h"}, tok)
    assert st == 404 and "no queue nowhere" in res["error"], (st, res)


def case_http_schedules_read_only(h):
    """Without --http-token-file schedules are read, and every change is
    403 (read-only), before its body is looked at."""
    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port)
    st, res = sched_http(port, "GET", "")
    assert st == 200 and res["total"] == 0, (st, res)
    for method, path in (("POST", ""), ("DELETE", "/a"), ("POST", "/a/pause"),
                         ("POST", "/a/resume"), ("POST", "/a/run-now")):
        st, res = sched_http(port, method, path, b"{not json")
        assert st == 403 and "read-only" in res["error"], (method, path, st, res)


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
