#!/usr/bin/env python3
"""stats_cases.py: STATS as a client written from docs/protocol.md sees it,
what pushctl shows of it, and the answers that page promises, each checked
against a real producerd over a raw socket.

usage: stats_cases.py CASE   (as integration.py, whose harness it shares)
"""

import sys

from integration import *
import integration


def parse_stats(body, version=3):
    """STATS_REPLY: (counters, [(id, fields)], [(name, text)])."""
    at = 0

    def take(n):
        nonlocal at
        assert at + n <= len(body), "STATS_REPLY cut short at %d" % at
        at += n
        return body[at - n:at]

    def name():
        return take(take(1)[0]).decode()

    def stat():
        n = name()
        return n, struct.unpack(">Q", take(8))[0]

    (ncounters,) = struct.unpack(">H", take(2))
    counters = dict(stat() for _ in range(ncounters))
    (nconsumers,) = struct.unpack(">I", take(4))
    consumers = []
    for _ in range(nconsumers):
        cid = name()
        consumers.append((cid, dict(stat() for _ in range(take(1)[0]))))
    texts = []
    if version >= 2:
        (ntexts,) = struct.unpack(">H", take(2))
        for _ in range(ntexts):
            n = name()
            (vlen,) = struct.unpack(">H", take(2))
            texts.append((n, take(vlen).decode()))
    assert at == len(body), "%d bytes after the texts" % (len(body) - at)
    return counters, consumers, texts


def raw_stats(h, queue=b"", version=3):
    """One STATS over a fresh raw client: (header length, parsed reply)."""
    r = Raw(h.sock, version=version)
    if version >= 3:
        r.send(hello3(CLIENT_ROLE))
    else:
        r.send(hello(CLIENT_ROLE, version=version))
    r.expect(WELCOME)
    r.send(frame(STATS, bytes([len(queue)]) + queue if queue else b""))
    body = r.expect(STATS_REPLY)
    r.close()
    return len(body), parse_stats(body, version)


def raw_consumer(h, name, queue, max_demand=1):
    """A version 3 consumer of queue (or QUEUE/GROUP), with its demand."""
    r = Raw(h.sock, version=3)
    r.send(hello3(CONSUMER_ROLE, queue, max_demand, 0, name))
    r.expect(WELCOME)
    r.send(demand(max_demand))
    return r


def error_of(r):
    """The ERROR that ends r: (code, message); after it, the close."""
    got = r.recv()
    while got is not None and got[0] == WELCOME:
        got = r.recv()
    assert got is not None and got[0] == ERROR, got
    code = struct.unpack(">H", got[1][:2])[0]
    assert r.recv() is None, "not closed after ERROR"
    return code, got[1][2:].decode()


def case_stats_small_frame_lists_consumers(h):
    """At the smallest max_frame a plain daemon's STATS_REPLY lists its
    consumers, and is never over max_frame however many there are."""
    h.start_daemon("--max-frame", "4096")
    peers = [raw_consumer(h, b"w%d" % i, b"jobs") for i in range(3)]
    h.wait_for(lambda: raw_stats(h)[1][0]["consumers_connected"] == 3,
               what="3 consumers")
    length, (counters, consumers, texts) = raw_stats(h)
    assert length <= 4096, length
    assert sorted(c for c, _ in consumers) == ["w0", "w1", "w2"], consumers
    assert len(h.stats()["consumers"]) == 3
    # A queue's reply too, with its text "queue".
    length, (counters, consumers, texts) = raw_stats(h, b"jobs")
    assert len(consumers) == 3 and ("queue", "jobs") in texts, texts
    # Many, with the longest ids: cut short, within the frame, and the
    # count still says how many there are.
    peers += [raw_consumer(h, b"x" * 250 + b"%03d" % i, b"jobs/" + b"g" * 64)
              for i in range(40)]
    h.wait_for(lambda: raw_stats(h)[1][0]["consumers_connected"] == 43,
               what="43 consumers")
    for version in (1, 2, 3):
        length, (counters, consumers, texts) = raw_stats(h, version=version)
        assert length <= 4096, (version, length)
        assert 3 < len(consumers) < 43, (version, len(consumers))
        assert counters["consumers_connected"] == 43
    for p in peers:
        p.close()


def case_stats_consumer_queue(h):
    """Each consumer's queue and group: a text "consumer_queue" per
    consumer entry, in order; pushctl consumers, stats and watch show it."""
    h.start_daemon()
    peers = [raw_consumer(h, b"plain", b""), raw_consumer(h, b"j", b"jobs"),
             raw_consumer(h, b"g1", b"jobs/g1")]
    h.wait_for(lambda: h.stats()["consumers_connected"] == 3, what="3 consumers")
    _, (_, consumers, texts) = raw_stats(h)
    queues = [v for n, v in texts if n == "consumer_queue"]
    assert [c for c, _ in consumers] == ["plain", "j", "g1"], consumers
    assert queues == ["default", "jobs", "jobs/g1"], texts
    # A version 2 peer gets them too (texts are version 2 on); version 1
    # has no texts.
    _, (_, consumers2, texts2) = raw_stats(h, version=2)
    assert [v for n, v in texts2 if n == "consumer_queue"] == queues, texts2
    _, (_, consumers1, _) = raw_stats(h, version=1)
    assert len(consumers1) == 3
    # A group's reply: its consumers, and theirs only.
    _, (_, consumers, texts) = raw_stats(h, b"jobs/g1")
    assert [c for c, _ in consumers] == ["g1"], consumers
    assert texts == [("queue", "jobs/g1"), ("consumer_queue", "jobs/g1")], texts

    r = h.pushctl("consumers", "--json")
    assert r.returncode == 0, r
    by = {c["id"]: c["queue"] for c in json.loads(r.stdout)["consumers"]}
    assert by == {"plain": "default", "j": "jobs", "g1": "jobs/g1"}, by
    r = h.pushctl("consumers")
    text = r.stdout.decode()
    assert text.splitlines()[0].split()[:3] == ["ID", "QUEUE", "PID"], text
    assert re.search(r"^g1 +jobs/g1 +%d " % os.getpid(), text, re.M), text
    st = h.stats()
    assert "consumer_queue" not in st, st
    assert {c["id"]: c["queue"] for c in st["consumers"]} == by, st
    r = h.pushctl("stats")
    assert re.search(r"^j +jobs +", r.stdout.decode(), re.M), r.stdout
    assert b"consumer_queue" not in r.stdout, r.stdout
    r = h.pushctl("watch", "--count", "1")
    assert r.returncode == 0, r
    out = r.stdout.decode()
    assert re.search(r"^CONSUMER +QUEUE +DEMAND", out, re.M), out
    assert re.search(r"^g1 +jobs/g1 +1 +0 +0 ", out, re.M), out
    for p in peers:
        p.close()


def case_watch_queue_uptime(h):
    """watch -q Q shows the daemon's uptime and the queue's consumers,
    though a queue's reply carries neither."""
    h.start_daemon()
    peer = raw_consumer(h, b"w", b"jobs")
    h.wait_for(lambda: h.stats()["uptime_seconds"] >= 2, what="2 s of uptime")
    r = h.pushctl("watch", "-q", "jobs", "--count", "1")
    assert r.returncode == 0, r
    out = r.stdout.decode()
    m = re.search(r"queue jobs   up (\d\d):(\d\d):(\d\d) ", out)
    assert m, out
    up = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
    assert 2 <= up <= h.stats()["uptime_seconds"], out
    assert re.search(r"^consumers 1   clients \d+$", out, re.M), out
    peer.close()


def case_stats_counts_events_once(h):
    """The whole daemon's counters count an event once per queue however
    many groups get it; what each group does with its copy adds up."""
    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--max-queue", "2")
    g1 = raw_consumer(h, b"c1", b"q/g1")
    g2 = raw_consumer(h, b"c2", b"q/g2")
    h.wait_for(lambda: h.stats()["consumers_connected"] == 2, what="2 consumers")
    assert h.pushctl("enqueue", "-q", "q", "one").returncode == 0
    (i1, _, p1), = g1.events_full(want=1, timeout=5)
    (i2, _, p2), = g2.events_full(want=1, timeout=5)
    assert p1 == p2 == b"one" and i1 == i2
    g1.send(ids(ACK, i1))
    g2.send(ids(ACK, i2))
    h.wait_for(lambda: h.stats()["acked_total"] == 2, what="2 acks")
    st = h.stats()
    # Three groups (the shared one, g1, g2) hold the event; one enqueue.
    assert st["enqueued_total"] == 1, st
    assert st["delivered_total"] == 2 and st["in_flight"] == 0, st
    assert st["queued"] == 1, st       # the shared group's copy waits
    # A refusal is one too: 3 more into groups that hold 2 at most.
    r = h.pushctl("enqueue", "-q", "q", "a", "b", "c")
    assert r.returncode == 75, r
    st = h.stats()
    assert st["enqueued_total"] == 2 and st["rejected_total"] == 2, st
    # A group's own view counts what it got.
    assert h.stats_of("q/g1")["enqueued_total"] == 2
    # The HTTP API's daemon object reads the same table.
    status, _, doc = http_call(port, "GET", "/api/v1/queues")
    assert status == 200, doc
    d = doc["daemon"]
    assert d["enqueued_total"] == 2 and d["rejected_total"] == 2, d
    assert d["delivered_total"] == st["delivered_total"], (d, st)
    # /api/v1/consumers is an object holding the list (http.md).
    status, _, doc = http_call(port, "GET", "/api/v1/consumers")
    assert status == 200 and set(doc) == {"consumers"}, doc
    assert sorted((c["queue"], c["group"]) for c in doc["consumers"]) == \
        [("q", "g1"), ("q", "g2")], doc
    g1.close()
    g2.close()


def case_enqueue_attribute_twice_named(h):
    """An attribute given twice is ERROR 5 naming it, and producerd's log
    says which."""
    h.start_daemon()
    for tag, value, want in ((1, b"k", "KEY given twice"),
                             (4, b"\0\1", "PRIORITY given twice")):
        attr = bytes([tag, len(value)]) + value
        attrs = attr + attr
        body = struct.pack(">I", 1) + bytes([1]) + b"q" + \
            struct.pack(">IH", 1, len(attrs)) + attrs + b"x"
        r = Raw(h.sock, version=3)
        r.send(hello3(CLIENT_ROLE))
        r.send(HDR.pack(len(body), ENQUEUE, 1, 0) + body)
        code, msg = error_of(r)
        assert code == E_BAD_VALUE and want in msg, (code, msg)
        r.close()
    log = os.path.join(h.dir, "producerd.log")
    h.wait_for(lambda: "KEY given twice" in open(log).read(),
               what="the log to name KEY")


def answer(h, *frames, version=3):
    """The ERROR (code, message) that frames sent on a new connection get."""
    r = Raw(h.sock, version=version)
    r.send(b"".join(frames))
    try:
        return error_of(r)
    finally:
        r.close()


def case_protocol_doc_answers(h):
    """What protocol.md says a stranger's client gets, over a raw socket:
    an unknown version's HELLO, bad queue names, ids of count 0, the type
    range, and --no-auto-create without a --queue."""
    h.start_daemon()

    def hello_v(v, tail=b"", reserved=0):
        return frame(HELLO, struct.pack(">HBBIIB", v, CLIENT_ROLE, reserved,
                                        0, 0, 0) + tail)
    # Version 6 (or 0) in version 2's or 3's shape: ERROR 7, and the
    # message names what is spoken; another shape is ERROR 4 first, and a
    # reserved byte ERROR 5.
    for v, tail in ((6, b""), (6, b"\0"), (0, b""), (9, b"\0\0\1")):
        code, msg = answer(h, hello_v(v, tail))
        assert code == E_VERSION, (v, tail, code, msg)
        assert msg == "protocol version %d is not supported; this daemon " \
            "speaks versions 1 to 5" % v, msg
    assert answer(h, hello_v(6, b"\0" * 5))[0] == E_BAD_LENGTH
    assert answer(h, hello_v(6, reserved=1))[0] == E_BAD_VALUE
    # Version 3 and 4 HELLOs end with their queue byte.
    for v in (3, 4, 5):
        assert answer(h, frame(HELLO, struct.pack(">HBBIIB", v, CLIENT_ROLE,
                                                  0, 0, 0, 0)))[0] == E_BAD_LENGTH

    # Queue names: length 0 or over 129 is ERROR 4, 65 to 129 ERROR 5.
    client = hello3(CLIENT_ROLE)

    def enq(name):
        return frame(ENQUEUE, struct.pack(">I", 1) + bytes([len(name)]) + name +
                     struct.pack(">I", 1) + b"x")
    for name, code in ((b"", E_BAD_LENGTH), (b"a" * 65, E_BAD_VALUE),
                       (b"a" * 129, E_BAD_VALUE), (b"a" * 130, E_BAD_LENGTH),
                       (b"a/b", E_BAD_VALUE)):
        assert answer(h, client, enq(name))[0] == code, (len(name), code)
    for body, code in ((bytes([0]), E_BAD_LENGTH),
                       (bytes([65]) + b"a" * 65, E_BAD_VALUE)):
        assert answer(h, client, frame(STATS, body))[0] == code, (body, code)
        dead = frame(DEAD_LIST, body + struct.pack(">I", 0))
        assert answer(h, client, dead)[0] == code, (body, code)
    code, msg = answer(h, hello3(CONSUMER_ROLE, b"a" * 65, 1, 0, b"w"))
    assert code == E_BAD_VALUE and "1 to 64 bytes" in msg, (code, msg)

    # ACK, NACK, TOUCH and NACK_LATER need an id; type 37 is known, 38 not.
    cons = hello3(CONSUMER_ROLE, b"jobs", 1, 0, b"w")
    for t in (ACK, NACK, TOUCH):
        assert answer(h, cons, frame(t, struct.pack(">I", 0)))[0] == E_BAD_VALUE
    nl = frame(NACK_LATER, struct.pack(">II", 10, 0))
    assert answer(h, cons, nl)[0] == E_BAD_VALUE
    nl = frame(NACK_LATER, struct.pack(">IIQ", 10, 1, 12345))
    assert answer(h, cons, nl)[0] == E_NOT_IN_FLIGHT
    assert answer(h, client, frame(38))[0] == E_UNKNOWN_TYPE

    # --no-auto-create needs a --queue.
    r = subprocess.run([PRODUCERD, "--socket", os.path.join(h.dir, "x.sock"),
                        "--no-auto-create"], capture_output=True, timeout=20)
    assert r.returncode != 0 and b"--queue NAME" in r.stderr, r


def case_delayed_events_due_together(h):
    """Delayed events that fall due together go in id order, to the groups
    the queue had when they were enqueued; a rate's bucket starts full."""
    h.start_daemon()
    early = raw_consumer(h, b"early", b"q/early", max_demand=100)
    h.wait_for(lambda: h.stats()["consumers_connected"] == 1, what="a consumer")
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    at = int(time.time() * 1000) + 1500
    nb = bytes([3, 8]) + struct.pack(">Q", at)
    ids_sent = []
    for batch in (range(0, 10), range(10, 20)):
        c.send(attr_enqueue3(b"q", *[(b"e%02d" % i, nb) for i in batch]))
        first, accepted = struct.unpack(">QI", c.expect(ENQUEUED)[:12])
        assert accepted == 10, accepted
        ids_sent += range(first, first + accepted)
    # A group made after the ENQUEUEs, before their time: not its events.
    late = raw_consumer(h, b"late", b"q/late", max_demand=100)
    h.wait_for(lambda: h.stats()["consumers_connected"] == 2, what="2 consumers")
    assert h.stats_of("q/late")["delayed"] == 0
    got = early.events_full(want=20, timeout=20)
    assert [i for i, _, _ in got] == ids_sent, got
    assert [p for _, _, p in got] == [b"e%02d" % i for i in range(20)], got
    assert int(time.time() * 1000) >= at
    st = h.stats_of("q/late")
    assert st["delivered_total"] == 0 and st["queued"] == 0, st
    assert st["delayed"] == 0 and st["enqueued_total"] == 0, st
    # rate=5/1h: a full bucket, 5 go at once and the rest wait.
    r = h.pushctl("queue", "set", "q", "rate=5/1h")
    assert r.returncode == 0, r
    assert h.pushctl("enqueue", "-q", "q", *["r%d" % i for i in range(8)]).returncode == 0
    got = early.events_full(want=5, timeout=20)
    assert [p for _, _, p in got] == [b"r%d" % i for i in range(5)], got
    h.wait_for(lambda: h.stats_of("q/early")["throttled"] == 1, what="throttled")
    st = h.stats_of("q/early")
    assert st["queued"] == 3 and st["delivered_total"] == 25, st
    for p in (c, early, late):
        p.close()


def metric_lines(port, family):
    """{labels text: value} of one /metrics family's lines."""
    st, _, m = http_call(port, "GET", "/metrics", raw=True)
    assert st == 200, m
    out = {}
    for line in m.decode().splitlines():
        if line.startswith(family + "{"):
            labels, value = line[len(family) + 1:].rsplit("} ", 1)
            out[labels] = float(value)
    return out


def case_queue_latency_and_histograms(h):
    """A queue's latency is the age of its oldest ready event (a delayed
    one is not ready), the daemon's the largest, in STATS, pushctl queues,
    the API and /metrics; 0 once drained.  /metrics' histograms count each
    first delivery's wait and each ACK's handling time."""
    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port)
    assert h.pushctl("enqueue", "-q", "lat", "a", "b", "c").returncode == 0
    assert h.pushctl("enqueue", "-q", "later", "--delay", "1h", "x").returncode == 0
    h.wait_for(lambda: h.stats_of("lat")["latency_ms"] >= 50, what="latency grows")
    later = h.stats_of("later")
    assert later["delayed"] == 1 and later["latency_ms"] == 0, later
    assert h.stats()["latency_ms"] >= 50
    r = h.pushctl("queues")
    out = r.stdout.decode()
    assert r.returncode == 0 and "LATENCY MS" in out, r
    row = [l.split() for l in out.splitlines() if l.startswith("lat ")][0]
    assert int(row[6]) >= 50, out       # queued delayed ... latency
    r = h.pushctl("queues", "--json")
    rows = {q["name"]: q for q in map(json.loads, r.stdout.decode().splitlines())}
    assert rows["lat"]["latency_ms"] >= 50 and rows["later"]["latency_ms"] == 0, rows
    st, _, doc = http_call(port, "GET", "/api/v1/queues")
    assert st == 200, doc
    assert [q["latency_ms"] for q in doc["queues"] if q["name"] == "lat"][0] >= 50, doc
    assert metric_lines(port, "pushstage_latency_ms")['queue="lat"'] >= 50
    # A consumer takes the three and acks them: nothing waits.
    c = raw_consumer(h, b"w", b"lat", max_demand=3)
    got = c.events_full(want=3, timeout=10)
    c.send(ids(ACK, *[i for i, _, _ in got]))
    h.wait_for(lambda: h.stats_of("lat")["acked_total"] == 3, what="3 acks")
    assert h.stats_of("lat")["latency_ms"] == 0
    for family, n in (("wait", 3), ("handling", 3)):
        buckets = metric_lines(port, "pushstage_%s_seconds_bucket" % family)
        mine = [(k, v) for k, v in buckets.items() if k.startswith('queue="lat",')]
        assert len(mine) == 16, mine
        counts = [v for _, v in mine]
        assert counts == sorted(counts) and counts[-1] == n, mine
        assert mine[-1][0] == 'queue="lat",le="+Inf"', mine
        assert metric_lines(port, "pushstage_%s_seconds_count" % family)['queue="lat"'] == n
    # Each waited at least the 50 ms seen above.
    assert metric_lines(port, "pushstage_wait_seconds_sum")['queue="lat"'] >= 0.15
    assert metric_lines(port, "pushstage_wait_seconds_bucket")['queue="lat",le="0.025"'] == 0
    c.close()


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
