#!/usr/bin/env python3
"""task_daemon_cases.py: tasks (docs/tasks.md) as the daemon sees them: giving up
at once (a NACK_ERROR whose delay_ms is 0xfffffffe), and the counts per
task name, checked against a real producerd over a raw socket, pushctl,
/metrics and the HTTP API.

usage: task_daemon_cases.py CASE   (as integration.py, whose harness it shares)
"""

import sys

from integration import *
import integration
from job_cases import (client5, consumer5, dead_json, enqueue5, events5,
                       header, attr, job, kill_restart, nack_error,
                       roll_first_segment)

NACK_DEAD = 0xfffffffe
REJECTED = 4


def dead_list5(h, queue):
    """A version 5 DEAD_LIST of queue, read byte by byte: [(id, attempts,
    reason, error)]."""
    c = client5(h)
    c.send(frame(DEAD_LIST, bytes([len(queue)]) + queue +
                 struct.pack(">I", 0)))
    body = c.expect(DEAD_LIST_REPLY)
    c.close()
    total, count = struct.unpack(">II", body[:8])
    out, p = [], 8
    for _ in range(count):
        i, a, reason, _, n, plen = struct.unpack(">QIBBIH", body[p:p + 20])
        p += 20 + plen
        (elen,) = struct.unpack(">H", body[p:p + 2])
        out.append((i, a, reason, body[p + 2:p + 2 + elen]))
        p += 2 + elen
    assert p == len(body) and total == count, body
    return out


def case_give_up_at_once(h):
    """A NACK_ERROR with delay_ms 0xfffffffe sends its event to the dead
    letters after one attempt on a queue of five, reason 4 (rejected),
    its error kept; counted as a NACK and never redelivered; in key order
    the next of its key goes; pushctl, the HTTP API and a version 5
    DEAD_LIST say so, and after a kill -9 and a restart on the same
    --data-dir still do."""
    data = os.path.join(h.dir, "data")
    port = free_port()
    args = ("--data-dir", data, "--http", "127.0.0.1:%d" % port)
    h.start_daemon(*args)
    assert h.pushctl("queue", "create", "t", "max-attempts=5",
                     "dispatch=key").returncode == 0
    c = client5(h)
    err = '{"type":"UnknownTask","message":"no task resize","traceback":""}'
    c.send(enqueue5(b"t", (attr(1, b"k") + header("task", "resize"), b"one"),
                    (attr(1, b"k") + header("task", "resize"), b"two")))
    c.expect(ENQUEUED)
    w = consumer5(h, b"t", 2)
    (i, a, _, _, p), = events5(w, 1)
    assert (a, p) == (1, b"one"), (a, p)
    w.send(nack_error(i, err, delay=NACK_DEAD))
    # Key order: "two" was behind "one", and goes once "one" is dead.
    (j, a, _, _, p), = events5(w, 1)
    assert (a, p) == (1, b"two"), (a, p)
    st = h.stats_of("t")
    assert (st["dead"], st["dead_total"], st["nacked_total"],
            st["redelivered_total"], st["delivered_total"]) == \
        (1, 1, 1, 0, 2), st
    w.send(ids(ACK, j))
    w.close()

    def said(where):
        (d,) = dead_json(h, "t")
        assert (d["id"], d["attempts"], d["reason"], d["error"]) == \
            (i, 1, "rejected", err), (where, d)
        assert dead_list5(h, b"t") == [(i, 1, REJECTED, err.encode())], where
        rc, jb = job(h, "t", i)
        assert rc == 0 and jb["state"] == "dead" and \
            jb["reason"] == "rejected" and jb["attempts"] == 1, (where, jb)
        assert [f["error"] for f in jb["failures"]] == [err], (where, jb)
        s, _, doc = http_call(port, "GET", "/api/v1/queues/t/dead")
        assert s == 200 and doc["entries"][0]["reason"] == "rejected" and \
            doc["entries"][0]["error"] == err, (where, doc)
        r = h.pushctl("dead", "list", "-q", "t")
        assert b"rejected" in r.stdout, (where, r)

    said("before the restart")
    h.daemon.kill()
    h.daemon.wait()
    h.start_daemon(*args)
    said("after a kill -9")
    # Retried, it starts again from attempt 1, and a plain NACK_ERROR
    # (the queue's backoff) does not give up.
    assert h.pushctl("dead", "retry", "-q", "t").returncode == 0
    w = consumer5(h, b"t", 1)
    (k, a, _, _, _), = events5(w, 1)
    assert (k, a) == (i, 1), (k, a)
    w.send(nack_error(k, "again") + demand(1))
    (k, a, _, _, _), = events5(w, 1)
    assert (k, a) == (i, 2), (k, a)
    assert h.stats_of("t")["dead"] == 0
    w.close()
    h.daemon.send_signal(signal.SIGTERM)
    assert h.daemon.wait(timeout=30) == 0




def case_rejected_carried_by_compaction(h):
    """A dead letter given up at once, copied forward by compaction when
    its segment goes: still reason rejected, with its error, after the
    next start."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--segment-size", "4096")
    h.start_daemon(*args)
    assert h.pushctl("enqueue", "-q", "r", "never").returncode == 0
    w = consumer5(h, b"r", 1)
    (i, _, _, _, _), = events5(w, 1)
    w.send(nack_error(i, "BadPayload", delay=NACK_DEAD))
    h.wait_for(lambda: h.stats_of("r")["dead"] == 1, what="dead")
    w.close()
    roll_first_segment(h, data)
    kill_restart(h, *args)
    (d,) = dead_json(h, "r")
    assert (d["id"], d["attempts"], d["reason"], d["error"]) == \
        (i, 1, "rejected", "BadPayload"), d

def tasks_json(h, queue):
    r = h.pushctl("tasks", "-q", queue, "--json")
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["queue"] == queue, doc
    return {t["task"]: t for t in doc["tasks"]}


def metric_lines(port):
    s, _, body = http_call(port, "GET", "/metrics", raw=True)
    assert s == 200, s
    return body.decode().splitlines()


def metric(lines, name, labels):
    """The value of the sample name{labels} (labels as written)."""
    want = "%s{%s} " % (name, labels)
    got = [ln[len(want):] for ln in lines if ln.startswith(want)]
    assert len(got) == 1, (want, [ln for ln in lines if name in ln])
    return float(got[0])


def case_task_counts(h):
    """Counts per task name (the task header): done, failed, retried and
    dead, and the handling-time percentiles, the same in pushctl tasks,
    a version 5 TASK_STATS, the HTTP API and /metrics (names with quotes,
    < and backslashes escaped); an event without a task counts in no row;
    past max-task-stats names count in "other"; a bad request is refused
    naming what is wrong."""
    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port)
    assert h.pushctl("queue", "create", "t", "max-attempts=2").returncode == 0
    odd = 'a"b<c\\d'
    c = client5(h)
    c.send(enqueue5(b"t", (header("task", "resize"), b"r1"),
                    (header("task", "resize"), b"r2"),
                    (header("task", "resize"), b"r3"),
                    (header("task", odd), b"odd"),
                    (header("trace", "x"), b"plain"),
                    (b"", b"bare")))
    c.expect(ENQUEUED)
    w = consumer5(h, b"t", 10)
    got = {p: (i, a) for i, a, _, _, p in events5(w, 6)}
    # r1 is held while the rest are answered: its handling time is the
    # longest, and at least what this side measures.
    held_from = time.monotonic()
    w.send(ids(ACK, got[b"r2"][0], got[b"plain"][0], got[b"bare"][0]) +
           ids(NACK, got[b"r3"][0]) +
           nack_error(got[b"odd"][0], "UnknownTask", delay=0xfffffffe))
    (i, a, _, _, p), = events5(w, 1)
    assert (p, a) == (b"r3", 2), (p, a)
    w.send(ids(ACK, i))
    h.wait_for(lambda: h.stats_of("t")["acked_total"] == 4, what="4 acks")
    t = tasks_json(h, "t")
    assert set(t) == {"resize", odd}, t      # no row for "plain", "bare"
    assert (t["resize"]["done"], t["resize"]["failed"],
            t["resize"]["retried"], t["resize"]["dead"]) == (2, 1, 1, 0), t
    assert (t[odd]["done"], t[odd]["failed"], t[odd]["retried"],
            t[odd]["dead"]) == (0, 1, 0, 1), t
    held = (time.monotonic() - held_from) * 1000
    w.send(ids(ACK, got[b"r1"][0]))
    h.wait_for(lambda: tasks_json(h, "t")["resize"]["done"] == 3,
               what="r1's ack")
    r = tasks_json(h, "t")["resize"]
    assert r["handling_p50_ms"] <= r["handling_p90_ms"] <= \
        r["handling_p99_ms"], r
    # The longest of three is the 99th percentile, exactly (the bucket
    # that holds it is clamped to the largest time seen).
    assert r["handling_p99_ms"] >= int(held) - 1, (r, held)
    assert r["handling_p50_ms"] < r["handling_p99_ms"], r

    # A version 5 TASK_STATS, byte by byte: total, count, then each row's
    # name and its fields by name.
    c.send(frame(34, b"\x01t" + struct.pack(">I", 0)))
    body = c.expect(35)
    total, count = struct.unpack(">II", body[:8])
    assert (total, count) == (2, 2), body
    rows, p = {}, 8
    for _ in range(count):
        n = body[p]
        name, p = body[p + 1:p + 1 + n].decode(), p + 1 + n
        fields, p = {}, p + 1
        for _ in range(body[p - 1]):
            k = body[p]
            fname = body[p + 1:p + 1 + k].decode()
            (v,) = struct.unpack(">Q", body[p + 1 + k:p + 9 + k])
            fields[fname], p = v, p + 9 + k
        rows[name] = fields
    assert p == len(body), body
    assert rows["resize"]["done"] == 3 and rows[odd]["dead"] == 1, rows
    assert rows["resize"]["handling_p99_ms"] == r["handling_p99_ms"], rows
    # From the start-th row: the second alone.
    c.send(frame(34, b"\x01t" + struct.pack(">I", 1)))
    body = c.expect(35)
    assert struct.unpack(">II", body[:8]) == (2, 1), body
    assert body[9:9 + body[8]] == odd.encode(), body

    # The HTTP API: the same rows, the name escaped as JSON.
    s, _, doc = http_call(port, "GET", "/api/v1/queues/t/tasks")
    assert s == 200 and doc["queue"] == "t" and doc["group"] == "" and \
        doc["max_task_stats"] == 32, doc
    api = {x["task"]: x for x in doc["tasks"]}
    assert api["resize"]["done"] == 3 and api[odd]["dead"] == 1, doc
    assert api["resize"]["handling_p99_ms"] == r["handling_p99_ms"], doc
    s, _, raw = http_call(port, "GET", "/api/v1/queues/t/tasks", raw=True)
    assert b"<" not in raw and b'a\\"b\\u003cc\\\\d' in raw, raw
    assert http_call(port, "GET", "/api/v1/queues/nope/tasks")[0] == 404
    assert http_call(port, "POST", "/api/v1/queues/t/tasks")[0] == 405

    # /metrics: a family per count, a histogram per task; the label escaped.
    lines = metric_lines(port)
    lab = 'queue="t",task="resize"'
    assert metric(lines, "pushstage_task_done_total", lab) == 3
    assert metric(lines, "pushstage_task_failed_total", lab) == 1
    assert metric(lines, "pushstage_task_retried_total", lab) == 1
    assert metric(lines, "pushstage_task_dead_total", lab) == 0
    assert metric(lines, "pushstage_task_handling_seconds_count", lab) == 3
    assert metric(lines, "pushstage_task_handling_seconds_sum", lab) >= \
        held / 1000 - 0.002
    assert metric(lines, "pushstage_task_handling_seconds_bucket",
                  lab + ',le="+Inf"') == 3
    assert metric(lines, "pushstage_task_dead_total",
                  'queue="t",task="a\\"b<c\\\\d"') == 1
    assert "# TYPE pushstage_task_done_total counter" in lines

    # pushctl tasks: a table with a row per task.
    out = h.pushctl("tasks", "-q", "t")
    assert out.returncode == 0, out
    text = out.stdout.decode().splitlines()
    assert text[0].split()[:5] == ["TASK", "DONE", "FAILED", "RETRIED",
                                   "DEAD"], text
    assert text[1].split()[:5] == ["resize", "3", "1", "1", "0"], text
    assert text[2].startswith(odd), text
    out = h.pushctl("tasks", "-q", "nope")
    assert out.returncode == 1 and b"no queue nope" in out.stderr, out
    out = h.pushctl("tasks", "-q", "t/" + "g" * 70)
    assert out.returncode == 1 and b"not" in out.stderr, out

    # Bounded: max-task-stats 2 keeps two names' rows; the rest, and a
    # task named "other", count in "other".
    assert h.pushctl("queue", "create", "b",
                     "max-task-stats=2").returncode == 0
    names = ["t1", "t2", "t3", "other", "t1", "t4"]
    c.send(enqueue5(b"b", *[(header("task", n), n.encode()) for n in names]))
    c.expect(ENQUEUED)
    wb = consumer5(h, b"b", 10)
    wb.send(ids(ACK, *[i for i, _, _, _, _ in events5(wb, len(names))]))
    h.wait_for(lambda: h.stats_of("b")["acked_total"] == 6, what="b acked")
    tb = tasks_json(h, "b")
    assert [(k, v["done"]) for k, v in tb.items()] == \
        [("t1", 2), ("t2", 1), ("other", 3)], tb
    r = h.pushctl("queue", "set", "b", "max-task-stats=1025")
    assert r.returncode == 1 and b"max-task-stats" in r.stderr and \
        b"1025" in r.stderr, r
    # A version 4 client has no TASK_STATS; a consumer may not ask.
    old = Raw(h.sock, version=4)
    old.send(frame(HELLO, struct.pack(">HBBIIB", 4, CLIENT_ROLE, 0, 0, 0, 0) +
                   b"\x00"))
    old.expect(WELCOME)
    old.send(frame(34, b"\x01t" + struct.pack(">I", 0)))
    assert "not in protocol version 4" in old.expect_error(E_BAD_STATE)
    wb.send(frame(34, b"\x01t" + struct.pack(">I", 0)))
    assert "only clients" in wb.expect_error(E_BAD_STATE)
    bad = client5(h)
    bad.send(frame(34, b"\x01t" + struct.pack(">H", 0)))
    assert "TASK_STATS" in bad.expect_error(E_BAD_LENGTH)



def case_cluster_give_up_at_once(h):
    """In a cluster a NACK_ERROR that gives up makes a JetStream dead
    letter after one attempt of five, reason rejected, its error kept, as
    pushctl dead list and the HTTP API show it on another host."""
    if not integration.built_with_cluster():
        return
    nats, url = integration.start_nats(h)
    port = free_port()
    h.start_daemon("--cluster", url, "--http", "127.0.0.1:%d" % port)
    _, b = integration.second_daemon(h, "b", "--cluster", url,
                                     "--max-attempts", "5")
    w = Raw(b, version=5)
    w.send(frame(HELLO, struct.pack(">HBBIIB", 5, CONSUMER_ROLE, 0, 1, 0, 1) +
                 b"w" + b"\x04jobs") + demand(1))
    w.expect(WELCOME)
    assert h.pushctl("enqueue", "--queue", "jobs", "never",
                     sock=b).returncode == 0
    got = w.recv(20)
    assert got is not None and got[0] == EVENT, got
    i, a = struct.unpack(">QI", got[1][:12])
    assert a == 1, a
    w.send(nack_error(i, "UnknownTask: never", delay=NACK_DEAD))

    def dead():
        r = h.pushctl("dead", "list", "--queue", "jobs", "--json")
        return r.returncode == 0 and json.loads(r.stdout)["events"]
    h.wait_for(dead, what="a dead letter in JetStream")
    (d,) = dead()
    assert (d["attempts"], d["reason"], d["error"]) == \
        (1, "rejected", "UnknownTask: never"), d
    s, _, doc = http_call(port, "GET", "/api/v1/queues/jobs/dead")
    assert s == 200 and doc["entries"][0]["reason"] == "rejected", doc


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
