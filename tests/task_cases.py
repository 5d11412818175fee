#!/usr/bin/env python3
"""task_cases.py: tasks (docs/tasks.md) as the daemon sees them: giving up
at once (a NACK_ERROR whose delay_ms is 0xfffffffe), and the counts per
task name, checked against a real producerd over a raw socket, pushctl,
/metrics and the HTTP API.

usage: task_cases.py CASE   (as integration.py, whose harness it shares)
"""

import sys

from integration import *
import integration
from job_cases import (client5, consumer5, dead_json, enqueue5, events5,
                       header, attr, job, nack_error)

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


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
