#!/usr/bin/env python3
"""journal_cases.py: the journal's bound on disk use and its unique ids,
against the real daemon (issue 30, items 2 and 8); the harness is
integration.py's.

usage: journal_cases.py CASE
"""

import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from integration import *  # noqa: E402,F401,F403
import integration  # noqa: E402
import journal_fixture  # noqa: E402

SEGMENT = 4096
PAYLOAD = 60
LIVE = PAYLOAD + 16         # a live event's bytes, as docs/journal.md counts them


def seg_bytes(data):
    """The segment files on disk, as the bound counts them."""
    return sum(os.stat(os.path.join(data, n)).st_size
               for n in os.listdir(data) if n.endswith(".seg"))


def client(h):
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    return c


def put(c, queue, events):
    """One ENQUEUE of (payload, attrs) pairs; how many were accepted and
    how many were duplicates."""
    c.send(attr_enqueue3(queue, *events))
    body = c.expect(ENQUEUED)
    _, acc = struct.unpack_from(">QI", body)
    ndup = struct.unpack_from(">I", body, 24)[0] if len(body) >= 28 else 0
    return acc, ndup


def fill(h, c, rounds):
    """Events on queue fill, consumed and acked as they come: they roll
    the small segments and leave them dead."""
    total = queue_list(h).get("fill", {}).get("acked_total", 0)
    for i in range(rounds):
        acc, _ = put(c, b"fill", [((b"f%d-%d" % (i, k)).ljust(100, b"."), b"")
                                  for k in range(40)])
        assert acc == 40
    total += 40 * rounds
    h.wait_for(lambda: queue_list(h)["fill"]["acked_total"] == total,
               what="the filler to be acked")


def within_bound(h, data, held):
    bound = 2 * held * LIVE + 2 * SEGMENT
    h.wait_for(lambda: seg_bytes(data) <= bound, what="the journal (%d bytes) "
               "to come within 2 x live + 2 segments (%d bytes)" % (seg_bytes(data), bound))
    assert h.stats()["journal_compacted_total"] >= held, h.stats()


def held_long(h, held_queue, attrs):
    """300 events held long (attrs), then 30 segments' worth consumed and
    acked: the held ones fill the oldest segments whole, yet the journal
    comes within its bound, and after a restart each is as it was."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--segment-size", str(SEGMENT))
    h.start_daemon(*args)
    _, out = h.consumer("f", "--queue", "fill", "--max-demand", "50")
    c = client(h)
    for i in range(10):
        acc, _ = put(c, held_queue, [((b"h%03d" % (30 * i + k)).ljust(PAYLOAD, b"."), attrs)
                                     for k in range(30)])
        assert acc == 30
    fill(h, c, 30)
    within_bound(h, data, 300)
    # More traffic: it stays within, compacting again as it must.
    fill(h, c, 30)
    within_bound(h, data, 300)
    c.close()
    crash(h)
    h.start_daemon(*args)
    return queue_list(h)[held_queue.decode()]


def case_journal_bound_with_delayed_events(h):
    """Events delayed an hour fill the oldest segments: compaction copies
    them forward though they are all live, and the acked segments behind
    them go."""
    q = held_long(h, b"later", delay_attr(3600 * 1000))
    assert q["delayed"] == 300 and q["queued"] == 0, q


def case_journal_bound_with_a_backlog(h):
    """A backlog nobody consumes fills the oldest segments: the same."""
    q = held_long(h, b"backlog", b"")
    assert q["queued"] == 300, q
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"backlog", 300, 0, b"w") + demand(300))
    raw.expect(WELCOME)
    got = raw.events_full(want=300, timeout=10)
    assert [p[:4] for _, _, p in got] == [b"h%03d" % i for i in range(300)], got[:3]


def uid(u):
    return bytes([5, len(u)]) + u


def case_unique_ids_outlive_their_segment(h):
    """--dedup-window 1h: ids of events acked, and of a dead letter, are
    still held after a kill -9 once the segment of their events' records
    is gone, and after a second restart."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--segment-size", str(SEGMENT), "--dedup-window", "1h")
    h.start_daemon(*args)
    assert h.pushctl("queue", "create", "jobs", "max-attempts=1").returncode == 0
    raw = Raw(h.sock, version=3)
    raw.send(hello3(CONSUMER_ROLE, b"jobs", 100, 0, b"w") + demand(100))
    raw.expect(WELCOME)
    h.wait_consumers(1, total_demand=100)
    _, out = h.consumer("f", "--queue", "fill", "--max-demand", "50")
    c = client(h)
    ids = [b"u%02d" % i for i in range(50)]
    assert put(c, b"jobs", [(b"job " + u, uid(u)) for u in ids]) == (50, 0)
    got = raw.events_full(want=50, timeout=10)
    dead = [i for i, _, p in got if p == b"job u00"]
    raw.send(ids_frame(ACK, [i for i, _, p in got if p != b"job u00"]) +
             ids_frame(NACK, dead))
    h.wait_for(lambda: queue_list(h)["jobs"]["acked_total"] == 49 and
               queue_list(h)["jobs"]["dead"] == 1, what="the acks and the dead letter")
    # Segment 1 held their XENQUEUE: wait for it to go.
    first = os.path.join(data, "00000001.seg")
    for _ in range(30):
        if not os.path.exists(first):
            break
        fill(h, c, 5)
    assert not os.path.exists(first), sorted(os.listdir(data))
    c.close()
    raw.close()
    crash(h)
    h.start_daemon(*args)
    c = client(h)
    acc, ndup = put(c, b"jobs", [(b"again " + u, uid(u)) for u in ids])
    assert (acc, ndup) == (0, 50), (acc, ndup)
    assert put(c, b"jobs", [(b"new", uid(b"fresh"))]) == (1, 0)
    c.close()
    crash(h)
    h.start_daemon(*args)
    c = client(h)
    acc, ndup = put(c, b"jobs", [(b"again " + u, uid(u)) for u in ids + [b"fresh"]])
    assert (acc, ndup) == (0, 51), (acc, ndup)
    assert queue_list(h)["jobs"]["dead"] == 1


def case_unique_ids_across_kills(h):
    """Six rounds of: new unique ids enqueued and acked, every id
    confirmed so far sent again (each a duplicate), segments rolled and
    deleted by acked filler (the UIDS records carried again from segments
    that held earlier ones), kill -9, restart."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--segment-size", str(SEGMENT), "--dedup-window", "1h")
    confirmed = []
    for rnd in range(6):
        h.start_daemon(*args)
        raw = Raw(h.sock, version=3)
        raw.send(hello3(CONSUMER_ROLE, b"jobs", 100, 0, b"w") + demand(100))
        raw.expect(WELCOME)
        h.wait_consumers(1, total_demand=100)
        h.consumer("f%d" % rnd, "--queue", "fill", "--max-demand", "50")
        c = client(h)
        if confirmed:
            acc, ndup = put(c, b"jobs", [(b"again " + u, uid(u)) for u in confirmed])
            assert (acc, ndup) == (0, len(confirmed)), (rnd, acc, ndup)
        new = [b"r%d-%02d" % (rnd, i) for i in range(30)]
        assert put(c, b"jobs", [(b"job " + u, uid(u)) for u in new]) == (30, 0)
        got = raw.events_full(want=30, timeout=10)
        raw.send(ids_frame(ACK, [i for i, _, _ in got]))
        h.wait_for(lambda: queue_list(h)["jobs"]["acked_total"] == 30, what="the acks")
        confirmed += new
        fill(h, c, 8)
        c.close()
        raw.close()
        crash(h)
    h.start_daemon(*args)
    c = client(h)
    acc, ndup = put(c, b"jobs", [(b"again " + u, uid(u)) for u in confirmed])
    assert (acc, ndup) == (0, len(confirmed)), (acc, ndup)
    # Only the newest segments are left: the ids' first records are gone.
    assert not os.path.exists(os.path.join(data, "00000001.seg"))


def case_unique_ids_in_groups_outlive_their_segment(h):
    """A queue with its shared group and two named ones: ids acked in
    all three, and one still in flight in one named group (compaction
    copies it, GKEEP), are held after a kill -9 once segment 1 is
    gone."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--segment-size", str(SEGMENT), "--dedup-window", "1h")
    h.start_daemon(*args)
    gs = []
    for g in (b"", b"/g1", b"/g2"):
        raw = Raw(h.sock, version=3)
        raw.send(hello3(CONSUMER_ROLE, b"fan" + g, 20, 0, b"c" + g) + demand(20))
        raw.expect(WELCOME)
        gs.append(raw)
    h.wait_consumers(3, total_demand=60)
    h.consumer("f", "--queue", "fill", "--max-demand", "50")
    c = client(h)
    ids = [b"g%02d" % i for i in range(20)]
    assert put(c, b"fan", [(b"job " + u, uid(u)) for u in ids]) == (20, 0)
    for n, raw in enumerate(gs):
        got = raw.events_full(want=20, timeout=10)
        # g2 keeps g00 in flight.
        raw.send(ids_frame(ACK, [i for i, _, p in got if n != 2 or p != b"job g00"]))
    h.wait_for(lambda: queue_list(h)["fan"]["acked_total"] == 20 and
               queue_list(h)["fan/g1"]["acked_total"] == 20 and
               queue_list(h)["fan/g2"]["acked_total"] == 19, what="the acks")
    first = os.path.join(data, "00000001.seg")
    for _ in range(30):
        if not os.path.exists(first):
            break
        fill(h, c, 5)
    assert not os.path.exists(first), sorted(os.listdir(data))
    c.close()
    for raw in gs:
        raw.close()
    crash(h)
    h.start_daemon(*args)
    c = client(h)
    acc, ndup = put(c, b"fan", [(b"again " + u, uid(u)) for u in ids])
    assert (acc, ndup) == (0, 20), (acc, ndup)


def case_journal_fixture_replays(h):
    """A journal written by the daemon of commit eef6bed, before the
    records had a codec of their own (tests/journal_fixture.py made it,
    with every record type, 1 to 20), reads back to exactly what that
    daemon read back from it: queues, dead letters, the events each queue
    and group delivers, with their ids and attempts, and the unique ids
    held.  Its delayed events are due in 2036."""
    fixture = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "fixtures", "journal-eef6bed")
    types = journal_fixture.record_types(os.path.join(fixture, "data"))
    assert types == set(journal_fixture.TYPES), sorted(types)
    with open(os.path.join(fixture, "expected.json")) as f:
        want = json.load(f)
    got = journal_fixture.replay(h, fixture)
    for k in want:
        assert got.get(k) == want[k], (k, got.get(k), want[k])
    assert got == want


def ids_frame(ftype, idlist):
    return integration.ids(ftype, *idlist)


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
