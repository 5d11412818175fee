#!/usr/bin/env python3
"""limits_cases.py: what producerd refuses, and the bounds it keeps, as a
user meets them: limits that hold when a waiting batch is taken again, a
refused HELLO that leaves nothing behind, the daemon-wide memory cap.

usage: limits_cases.py CASE   (as integration.py, whose harness it uses)
"""

import integration
from integration import *  # noqa: F401,F403


def case_block_resumes_within_bytes(h):
    """A batch blocked by --max-queue-bytes is taken again, when room
    comes, within the limit: however the stack was left by other clients'
    ENQUEUEs between its parts (the iterator it resumes carried a stale
    count of its bytes, and the whole rest went in at once)."""
    h.start_daemon("--max-queue-bytes", "1000", "--overflow", "block")
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    # 50 events of 100 bytes: 10 fit, the client waits with 40 to go.
    c.send(enqueue3(b"q", *[b"%-100d" % i for i in range(50)]))
    h.wait_for(lambda: h.stats()["blocked_clients"] == 1,
               what="the client to block")
    assert h.stats_of("q")["queued_bytes"] == 1000, h.stats_of("q")
    # Other clients' small batches, at the depth the waiting one is taken.
    for i in range(3):
        o = Raw(h.sock, version=3)
        o.send(hello3(CLIENT_ROLE))
        o.expect(WELCOME)
        o.send(enqueue3(b"other", b"x"))
        o.expect(ENQUEUED)
        o.close()
    # One consumer takes one event: room for one more, and no more.
    k = Raw(h.sock, version=3)
    k.send(hello3(CONSUMER_ROLE, b"q", 1, 0, b"k"))
    k.expect(WELCOME)
    k.send(demand(1))
    (first_id, _, _), = k.events_full(want=1)
    h.wait_for(lambda: h.stats_of("q")["enqueued_total"] >= 11,
               what="the waiting batch to go on")
    st = h.stats_of("q")
    assert st["queued_bytes"] <= 1000, st
    assert st["enqueued_total"] == 11 and h.stats()["blocked_clients"] == 1, st
    # And on to the end, never past the limit, one answer for all 50.
    k.send(ids(ACK, first_id))
    got = 1
    while got < 50:
        k.send(demand(1))
        (i, _, _), = k.events_full(want=1)
        k.send(ids(ACK, i))
        got += 1
        assert h.stats_of("q")["queued_bytes"] <= 1000
    first, n = struct.unpack(">QI", c.expect(ENQUEUED)[:12])
    assert (first, n) == (first_id, 50), (first, n)


def case_refused_hello_makes_nothing(h):
    """A consumer's HELLO that is refused (a partition the queue does not
    have, key order for a version 1 peer) leaves no queue or group behind:
    everything is checked before anything is made."""
    h.start_daemon()
    assert h.pushctl("queue", "create", "parts", "dispatch=partition:2",
                     ).returncode == 0
    assert h.pushctl("queue", "create", "keyed", "dispatch=key").returncode == 0
    for path, part, why in ((b"fresh", 1, "has no partitions"),
                            (b"fresh/g", 0, "has no partitions"),
                            (b"parts/newgroup", 7, "is not one of"),
                            (b"parts/other", None, "names one")):
        c = Raw(h.sock, version=3)
        c.send(hello3(CONSUMER_ROLE, path, 1, 0, b"k", partition=part))
        msg = c.expect_error(E_BAD_VALUE)
        assert why in msg, msg
        c.close()
    qs = queue_list(h)
    assert sorted(qs) == ["keyed", "parts"], sorted(qs)
    # A version 1 consumer of a keyed queue (the default made keyed):
    # refused, and the default queue not made by it.
    h2 = Harness()
    try:
        h2.start_daemon("--dispatch", "key")
        v1 = Raw(h2.sock, version=1)
        v1.send(hello(CONSUMER_ROLE, 1, 0, b"old", version=1))
        assert "keeps key order" in v1.expect_error(E_BAD_VALUE)
        assert queue_list(h2) == {}, queue_list(h2)
    finally:
        assert h2.cleanup() == []


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
