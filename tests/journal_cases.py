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
        f, _ = h.consumer("f%d" % rnd, "--queue", "fill", "--max-demand", "50")
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
        assert f.returncode == 1, f.returncode  # its daemon gone
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


def case_blocked_batch_across_a_segment_roll(h):
    blocked_batch_across_a_segment_roll(h, b"A")
    # The same with the batch's queue read by a named group too, whose
    # charges are counted apart (journal.c's gmoved).
    h2 = Harness()
    try:
        blocked_batch_across_a_segment_roll(h2, b"A/g")
    finally:
        assert h2.cleanup() == []


def blocked_batch_across_a_segment_roll(h, reader):
    """A batch that waits under block has the ids of its rest set aside;
    when they are taken after the journal rolled to a new segment, their
    copies and charges are in the new one, not in the segment their
    numbers fall in: the old one, holding other queues' live events,
    stays (it was deleted, and B's two confirmed events were lost at the
    next kill -9)."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--segment-size", "4096")
    d = h.start_daemon(*args)
    for q, how in (("A", ["max-queue=1", "overflow=block"]), ("B", []),
                   ("C", [])):
        assert h.pushctl("queue", "create", q, *how).returncode == 0
    if reader != b"A":                  # the group made, before the batch
        g = Raw(h.sock, version=3)
        g.send(hello3(CONSUMER_ROLE, reader, 1, 0, b"g0"))
        g.expect(WELCOME)
        g.close()
        h.wait_for(lambda: h.stats()["consumers_connected"] == 0,
                   what="the group's first consumer to go")
    assert h.pushctl("enqueue", "-q", "B", "b1", "b2").returncode == 0
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    c.send(enqueue3(b"A", b"a1", b"a2", b"a3"))
    h.wait_for(lambda: h.stats()["blocked_clients"] == 1,
               what="A's client to wait")
    for i in range(20):
        assert h.pushctl("enqueue", "-q", "C", "x" * 1000).returncode == 0
    assert h.stats()["segments"] > 2, h.stats()["segments"]
    # Each of A's groups takes the three, and acks them: all at once, as
    # room in every group lets the next in.
    ks = []
    for path in sorted({b"A", reader}):
        k = Raw(h.sock, version=3)
        k.send(hello3(CONSUMER_ROLE, path, 1, 0, b"k") + demand(1))
        k.expect(WELCOME)
        ks.append((path, k))
    for _ in range(3):
        for path, k in ks:
            (i, _, _), = k.events_full(want=1)
            k.send(ids(ACK, i) + demand(1))
    got = [i - 2, i - 1, i]
    for path, k in ks:
        h.wait_for(lambda: h.stats_of(path.decode())["acked_total"] == 3,
                   what="%s's acks" % path)
    first, n = struct.unpack(">QI", c.expect(ENQUEUED)[:12])
    assert n == 3 and got == [first, first + 1, first + 2], (first, n, got)
    for _ in range(4):
        r = h.pushctl("queue", "purge", "C")
        assert r.returncode == 0, r
        assert h.pushctl("enqueue", "-q", "C", "y" * 1000).returncode == 0
    r = h.pushctl("queue", "purge", "C")
    assert r.returncode == 0, r
    assert h.stats_of("B")["queued"] == 2
    d.kill()
    d.wait()
    h.procs.remove(d)
    h.start_daemon(*args)
    assert h.stats_of("B")["queued"] == 2, h.stats_of("B")


def case_held_ids_larger_than_a_segment(h):
    """Unique ids held in their window that fill more than a segment: a
    segment of them goes only when the journal passes its bound, counting
    them; each one deleted at once wrote them again into a segment that
    went in its turn, a roll at nearly every commit.  The ids still hold
    after a kill -9."""
    data = os.path.join(h.dir, "data")
    args = ("--data-dir", data, "--segment-size", "8192",
            "--dedup-window", "1h")
    d = h.start_daemon(*args)
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    uid = [b"%032d" % i for i in range(400)]
    for i in range(0, 400, 50):
        c.send(attr_enqueue3(b"u", *[(b"e", bytes([5, 32]) + u)
                                     for u in uid[i:i + 50]]))
        c.expect(ENQUEUED)
    k = Raw(h.sock, version=3)
    k.send(hello3(CONSUMER_ROLE, b"u", 100, 0, b"k") + demand(100))
    k.expect(WELCOME)
    n = 0
    while n < 400:
        got = k.events_full(want=1) + k.events_full(timeout=0.01, want=99)
        k.send(ids(ACK, *[i for i, _, _ in got]) + demand(len(got)))
        n += len(got)
    h.wait_for(lambda: h.stats_of("u")["acked_total"] == 400, what="the acks")

    def last_seq():
        return max(int(f.split(".")[0]) for f in os.listdir(data)
                   if f.endswith(".seg"))
    before = last_seq()
    for _ in range(40):
        c.send(enqueue3(b"u", b"tick"))
        c.expect(ENQUEUED)
        (i, _, _), = k.events_full(want=1)
        k.send(ids(ACK, i) + demand(1))
    h.wait_for(lambda: h.stats_of("u")["acked_total"] == 440, what="the ticks")
    assert last_seq() - before <= 2, (before, last_seq())
    k.close()
    c.close()
    d.kill()
    d.wait()
    h.procs.remove(d)
    h.start_daemon(*args)
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    c.send(attr_enqueue3(b"u", *[(b"again", bytes([5, 32]) + u)
                                 for u in uid[::40]]))
    body = c.expect(ENQUEUED)
    accepted, dups = struct.unpack(">I", body[8:12])[0], \
        struct.unpack(">I", body[24:28])[0]
    assert accepted == 0 and dups == 10, (accepted, dups)


def case_longest_keys_survive_a_restart(h):
    """Events with a key of 255 bytes, the protocol's longest, are kept by
    the journal in a form it reads back (KENQUEUE keeps a key's length + 1
    in a byte: the daemon could not start again), pending with their key,
    and a dead letter's too, without its key."""
    data = os.path.join(h.dir, "data")
    d = h.start_daemon("--data-dir", data, "--max-attempts", "1")
    key = b"k" * 255
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    kattr = bytes([1, 255]) + key
    c.send(attr_enqueue3(b"keys", (b"dies", kattr), (b"stays", kattr),
                         (b"short", bytes([1, 254]) + key[:254])))
    c.expect(ENQUEUED)
    k = Raw(h.sock, version=3)
    k.send(hello3(CONSUMER_ROLE, b"keys", 1, 0, b"k") + demand(1))
    k.expect(WELCOME)
    (i, _, p), = k.events_full(want=1)
    assert p == b"dies", p
    k.send(ids(NACK, i))                        # its only attempt: dead
    h.wait_for(lambda: h.stats_of("keys")["dead"] == 1, what="the dead letter")
    k.close()
    d.kill()
    d.wait()
    h.procs.remove(d)
    h.start_daemon("--data-dir", data, "--max-attempts", "1")
    st = h.stats_of("keys")
    assert st["queued"] == 2 and st["dead"] == 1, st
    # A version 4 consumer sees the keys (flags 1: u8 length, key).
    k = Raw(h.sock, version=4)
    k.send(frame(HELLO, struct.pack(">HBBIIB", 4, CONSUMER_ROLE, 0, 2, 0, 2) +
                 b"k4" + b"\x04keys") + demand(2))
    k.expect(WELCOME)
    got = []
    while len(got) < 2:
        f = k.recv(10)
        assert f is not None and f[0] == EVENT and k.flags == 1, f
        body = f[1]
        alen = struct.unpack(">H", body[12:14])[0]
        assert body[14] == 1, body[:20]                 # KEY
        got.append((body[16:16 + body[15]], body[14 + alen:]))
    assert sorted(got) == sorted([(key, b"stays"), (key[:254], b"short")]), got


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
