#!/usr/bin/env python3
"""journal_fixture.py: a journal written by a given producerd, to prove
that a later one replays it the same (docs/journal.md: the format).

usage: PRODUCERD=... PUSHCTL=... CONSUMER=... journal_fixture.py make OUTDIR

runs a scenario that writes every record type (1 to 20) with 4 KiB
segments, kills the daemon with SIGKILL, copies its data directory to
OUTDIR/data, then restarts it on a copy and writes what comes back
(queues, dead letters, the events each queue and group delivers, unique
ids still held) to OUTDIR/expected.json.  journal_cases.py's case
journal_fixture_replays replays the committed fixture with today's
daemon and compares.
"""

import json
import os
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from integration import *  # noqa: E402,F401,F403
import integration  # noqa: E402

SEGMENT = 4096
ARGS = ("--segment-size", str(SEGMENT), "--dedup-window", "1h", "--max-attempts", "1")

# Record types, as docs/journal.md numbers them.
TYPES = {1: "ENQUEUE", 2: "DELIVER", 3: "DONE", 4: "DEAD", 5: "RETRY", 6: "QENQUEUE",
         7: "QDEAD", 8: "GROUP", 9: "GROUP_DROP", 10: "GROUPS", 11: "GDELIVER",
         12: "GDONE", 13: "GRETRY", 14: "GDEAD", 15: "KENQUEUE", 16: "KDEAD",
         17: "XENQUEUE", 18: "KEEP", 19: "GKEEP", 20: "UIDS"}

# Where events are read back from: queues and groups.
PLACES = ["default", "jobs", "sched", "fan", "fan/g1", "fan/g2"]


def record_types(data):
    """The types of the records in data's segments, by a reader of its own."""
    seen = set()
    for name in sorted(os.listdir(data)):
        if not name.endswith(".seg"):
            continue
        with open(os.path.join(data, name), "rb") as f:
            b = f.read()
        off = 40
        while off + 16 <= len(b):
            length, rtype = struct.unpack_from(">IB", b, off)
            seen.add(rtype)
            off += 16 + length
    return seen


def consumer(h, place, n):
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, place.encode(), n, 0, b"c-" + place.encode()) +
             demand(n))
    raw.expect(WELCOME)
    return raw


def enqueue(h, *args):
    r = h.pushctl("enqueue", *args)
    assert r.returncode == 0, r.stderr


def dead_id(h, place, payload):
    r = h.pushctl("dead", "list", "-q", place, "--json")
    assert r.returncode == 0, r.stderr
    for e in json.loads(r.stdout)["events"]:
        if e["preview"] == payload:
            return e["id"]
    raise AssertionError("%s not dead in %s: %s" % (payload, place, r.stdout))


def answer(raw, got, ack=(), nack=()):
    """ACK and NACK the events of got whose payloads are named."""
    a = [i for i, _, p in got if p.decode() in ack]
    n = [i for i, _, p in got if p.decode() in nack]
    assert len(a) == len(ack) and len(n) == len(nack), (got, ack, nack)
    if a:
        raw.send(integration.ids(ACK, *a))
    if n:
        raw.send(integration.ids(NACK, *n))


def phase(h, t, keep):
    """Every kind of change, its events named after t; the consumers stay
    connected (in keep) so that what they hold stays in flight.  A
    second phase's consumers of default and fan/g1 get the first's
    retried event too, and keep it in flight."""
    again = 0 if t == "A" else 1
    enqueue(h, "%s-d1" % t, "%s-d2" % t, "%s-d3" % t, "%s-d4" % t)
    enqueue(h, "-q", "jobs", "%s-j1" % t, "%s-j2" % t)
    enqueue(h, "-q", "jobs", "--key", "k-" + t, "%s-k1" % t, "%s-k2" % t)
    enqueue(h, "-q", "sched", "--priority", "5", "%s-p5" % t)
    enqueue(h, "-q", "sched", "--at", "2036-01-01T00:00:00Z", "%s-later" % t)
    enqueue(h, "-q", "sched", "--unique-id", "%s-u1" % t, "%s-u1" % t)
    enqueue(h, "-q", "sched", "--key", "ks-" + t, "--priority", "7", "%s-kp" % t)
    # A dead letter with a unique id: UIDS carries it once its segment goes.
    enqueue(h, "-q", "sched", "--priority", "1", "--unique-id", "%s-ud" % t, "%s-ud" % t)

    raw = consumer(h, "default", 4 + again)
    keep.append(raw)
    got = raw.events_full(want=4 + again)
    answer(raw, got, ack=["%s-d1" % t], nack=["%s-d2" % t, "%s-d4" % t])
    h.wait_for(lambda: queue_list(h)["default"]["dead"] >= 2, what="default's dead")
    r = h.pushctl("dead", "retry", str(dead_id(h, "default", "%s-d4" % t)))
    assert r.returncode == 0, r.stderr

    raw = consumer(h, "jobs", 4)
    keep.append(raw)
    got = raw.events_full(want=3)
    answer(raw, got, ack=["%s-j1" % t], nack=["%s-j2" % t, "%s-k1" % t])
    got = raw.events_full(want=1)
    assert [p for _, _, p in got] == [("%s-k2" % t).encode()], got

    raw = consumer(h, "sched", 2)
    keep.append(raw)
    got = raw.events_full(want=2)
    assert [p for _, _, p in got] == [("%s-%s" % (t, x)).encode()
                                      for x in ("ud", "p5")], got
    answer(raw, got, nack=["%s-ud" % t])

    # Groups: the shared one, g1 and g2 stay; another is made and dropped.
    gs = {}
    for place in ("fan", "fan/g1", "fan/g2", "fan/x" + t):
        gs[place] = consumer(h, place, 3 + (again if place == "fan/g1" else 0))
        keep.append(gs[place])
    h.wait_for(lambda: "fan/x" + t in queue_list(h), what="the group x" + t)
    enqueue(h, "-q", "fan", "%s-f1" % t, "%s-f2" % t, "%s-f3" % t)
    f = ["%s-f%d" % (t, i) for i in (1, 2, 3)]
    answer(gs["fan"], gs["fan"].events_full(want=3), ack=f)
    answer(gs["fan/g1"], gs["fan/g1"].events_full(want=3 + again), ack=f[:1],
           nack=f[1:2])
    answer(gs["fan/g2"], gs["fan/g2"].events_full(want=3), ack=f[:1], nack=f[2:])
    gs["fan/x" + t].events_full(want=3)
    h.wait_for(lambda: queue_list(h)["fan/g1"]["dead"] >= 1 and
               queue_list(h)["fan/g2"]["dead"] >= 1, what="g1's and g2's dead")
    r = h.pushctl("dead", "retry", "-q", "fan/g1", str(dead_id(h, "fan/g1", f[1])))
    assert r.returncode == 0, r.stderr
    r = h.pushctl("queue", "drop-group", "--force", "fan", "x" + t)
    assert r.returncode == 0, r.stderr


def fill(h, rounds):
    """Events on queue fill, acked as they come: they roll segments."""
    total = queue_list(h).get("fill", {}).get("acked_total", 0)
    for i in range(rounds):
        enqueue(h, "-q", "fill", *[("f%d-%d" % (i, k)).ljust(100, ".") for k in range(30)])
    total += 30 * rounds
    h.wait_for(lambda: queue_list(h)["fill"]["acked_total"] == total,
               what="the filler to be acked")


def write(h, data):
    """The scenario: a phase, segments rolled until the first is gone
    (compaction: KEEP, GKEEP, UIDS; each new segment's GROUPS), then a
    second phase, then SIGKILL."""
    h.start_daemon("--data-dir", data, *ARGS)
    h.consumer("f", "--queue", "fill", "--max-demand", "50")
    keep = []
    phase(h, "A", keep)
    first = os.path.join(data, "00000001.seg")
    for _ in range(40):
        if not os.path.exists(first):
            break
        fill(h, 3)
    assert not os.path.exists(first), sorted(os.listdir(data))
    phase(h, "B", keep)
    h.daemon.kill()
    h.daemon.wait()
    for raw in keep:
        raw.close()


VOLATILE = ("rate", "_total", "consumers", "demand", "since", "uptime",
            "latency")


def snapshot(h):
    """What a daemon started on the journal has: every queue's and
    group's counts, dead letters and pending events as delivered (ids,
    attempts, payloads), and whether live unique ids are still held."""
    out = {"queues": {}, "dead": {}, "events": {}}
    for name, q in sorted(queue_list(h).items()):
        out["queues"][name] = {k: v for k, v in sorted(q.items())
                               if not any(x in k for x in VOLATILE)}
    for place in PLACES:
        r = h.pushctl("dead", "list", "-q", place, "--json")
        assert r.returncode == 0, r.stderr
        dead = json.loads(r.stdout)
        # Errors came after this fixture; it has none to show.
        for e in dead["events"]:
            assert e.pop("error", None) is None, e
        out["dead"][place] = dead
    for place in PLACES:
        raw = consumer(h, place, 100)
        out["events"][place] = [[i, a, p.decode()]
                                for i, a, p in raw.events_full(timeout=1.0)]
        raw.close()
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    # Ids of events pending or dead are held whatever the clock says.
    for u in (b"A-u1", b"A-ud", b"B-u1", b"B-ud", b"C-new"):
        c.send(attr_enqueue3(b"sched", (b"again", bytes([5, len(u)]) + u)))
        body = c.expect(ENQUEUED)
        out[u.decode() + " again"] = [struct.unpack_from(">I", body, 8)[0],
                                      struct.unpack_from(">I", body, 24)[0]
                                      if len(body) >= 28 else 0]
    c.close()
    return out


def replay(h, fixture):
    """The daemon started on a copy of fixture/data: its snapshot."""
    data = os.path.join(h.dir, "replayed")
    shutil.copytree(os.path.join(fixture, "data"), data)
    h.start_daemon("--data-dir", data, *ARGS)
    try:
        return snapshot(h)
    finally:
        h.daemon.kill()
        h.daemon.wait()


def make(out):
    h = Harness()
    try:
        data = os.path.join(h.dir, "data")
        write(h, data)
        seen = record_types(data)
        missing = sorted(set(TYPES) - seen)
        assert not missing, "no record of types %s" % [TYPES[t] for t in missing]
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        shutil.copytree(data, os.path.join(out, "data"),
                        ignore=shutil.ignore_patterns("lock", "reserve"))
        snap = replay(h, out)
        with open(os.path.join(out, "expected.json"), "w") as f:
            json.dump(snap, f, indent=1, sort_keys=True)
            f.write("\n")
    finally:
        h.cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "make":
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    make(sys.argv[2])
