#!/usr/bin/env python3
"""schedule_cases.py: schedules (issue 35), each checked against a real
producerd over a raw socket, written from docs/protocol.md (SCHEDULE and
SCHEDULE_REPLY): their frames, their bad input, ticks fired once each, the
catch-up policies across a stop, and exactly once under kill -9 at random
moments.

usage: schedule_cases.py CASE   (as integration.py, whose harness it shares)
"""

import sys

from integration import *
import integration
from job_cases import client5, consumer5, header, hello5, parse_event

SCHEDULE, SCHEDULE_REPLY = 36, 37
ADD, REMOVE, PAUSE, RESUME, RUN_NOW, LIST = range(1, 7)
REPLACE = 1
E_NO_SCHEDULE, E_EXISTS = 20, 21
PRIORITY, UNIQUE_ID = 4, 5


def kv(items):
    out = struct.pack(">H", len(items))
    for s in items:
        s = s.encode() if isinstance(s, str) else s
        out += struct.pack(">H", len(s)) + s
    return out


def sched(op, name=b"", start=0, flags=0):
    return frame(SCHEDULE, bytes([op, flags, len(name)]) + name +
                 struct.pack(">I", start))


def sched_add(name, queue, settings, payload=b"", attrs=b"", flags=0):
    body = bytes([ADD, flags, len(name)]) + name + struct.pack(">I", 0) + \
        bytes([len(queue)]) + queue + kv(settings) + \
        struct.pack(">IH", len(payload), len(attrs)) + attrs + payload
    return frame(SCHEDULE, body)


def parse_reply(body):
    """(total, [entry]) where an entry is a dict of its fields, with
    name, queue, payload and attrs."""
    total, count = struct.unpack(">II", body[:8])
    at, out = 8, []
    for _ in range(count):
        e = {}
        n = body[at]
        e["name"] = body[at + 1:at + 1 + n].decode()
        at += 1 + n
        n = body[at]
        e["queue"] = body[at + 1:at + 1 + n].decode()
        at += 1 + n
        (nf,) = struct.unpack(">H", body[at:at + 2])
        at += 2
        for _ in range(nf):
            (ln,) = struct.unpack(">H", body[at:at + 2])
            k, _, v = body[at + 2:at + 2 + ln].decode().partition("=")
            e[k] = v
            at += 2 + ln
        plen, alen = struct.unpack(">IH", body[at:at + 6])
        e["attrs"] = body[at + 6:at + 6 + alen]
        e["payload"] = body[at + 6 + alen:at + 6 + alen + plen]
        at += 6 + alen + plen
        out.append(e)
    assert at == len(body), "a SCHEDULE_REPLY with bytes left over"
    return total, out


def ask(c, f):
    c.send(f)
    return parse_reply(c.expect(SCHEDULE_REPLY))


def one(c, f):
    total, es = ask(c, f)
    assert total == 1 and len(es) == 1, (total, es)
    return es[0]


def headers_of(ev):
    return dict((k if isinstance(k, str) else k.decode(),
                 v if isinstance(v, str) else v.decode()) for k, v in ev[3])


def take(c, want, timeout=30):
    """want EVENTs from consumer c, acked as they come: (id, headers,
    payload) each."""
    out = []
    end = time.monotonic() + timeout
    while len(out) < want:
        assert time.monotonic() < end, "got %d of %d events" % (len(out),
                                                               want)
        got = c.recv(1)
        if got is None:
            continue
        assert got[0] == EVENT, got
        ev = parse_event(got[1], c.flags)
        out.append((ev[0], headers_of(ev), ev[4]))
        c.send(ids(ACK, ev[0]))
        c.send(demand(1))
    return out


def case_schedule_frames(h):
    """Every op of SCHEDULE against a daemon: ADD (again, identical: no
    change; otherwise EXISTS unless REPLACE), LIST one and all with
    paging, PAUSE, RESUME, RUN_NOW (its event arrives with the headers),
    REMOVE, and NO_SCHEDULE for a name it does not have."""
    h.start_daemon()
    c = client5(h)
    attrs = bytes([PRIORITY, 2, 0, 7]) + header("task", "report")
    e = one(c, sched_add(b"nightly", b"reports", ["cron=0 6 * * *",
                                                  "tz=Europe/Berlin"],
                         b"{}", attrs))
    assert e["name"] == "nightly" and e["queue"] == "reports", e
    assert e["cron"] == "0 6 * * *" and e["tz"] == "Europe/Berlin", e
    assert e["catch-up"] == "last" and e["unique"] == "no", e
    assert e["paused"] == "no" and e["fired"] == "0" and e["last"] == "0", e
    nxt = [int(x) for x in e["next"].split(",")]
    assert len(nxt) == 5 and nxt == sorted(nxt), e
    # 06:00 in Berlin is 05:00 UTC in winter, 04:00 in summer.
    for t in nxt:
        assert time.gmtime(t // 1000).tm_hour in (4, 5), e
        assert t % 3600000 == 0, e
    assert e["attrs"] == attrs and e["payload"] == b"{}", e
    # The same again: nothing changes; another rule: EXISTS.
    again = one(c, sched_add(b"nightly", b"reports", ["cron=0 6 * * *",
                                                      "tz=Europe/Berlin"],
                             b"{}", attrs))
    assert again["created"] == e["created"], again
    c.send(sched_add(b"nightly", b"reports", ["cron=0 7 * * *"]))
    msg = c.expect_error(E_EXISTS)
    assert "nightly" in msg and "REPLACE" in msg, msg
    c = client5(h)
    r = one(c, sched_add(b"nightly", b"reports", ["cron=0 7 * * *"],
                         flags=REPLACE))
    assert r["cron"] == "0 7 * * *" and "tz" not in r, r
    assert r["created"] == e["created"], r
    one(c, sched_add(b"often", b"ticks", ["every=1h30m", "unique=yes",
                                          "catch-up=none", "paused=yes"]))
    for i in range(3):
        one(c, sched_add(b"s%d" % i, b"q", ["every=1d"]))
    # All five, in the order added; then from the fourth.
    total, es = ask(c, sched(LIST))
    assert total == 5 and [x["name"] for x in es] == \
        ["nightly", "often", "s0", "s1", "s2"], es
    total, es = ask(c, sched(LIST, start=3))
    assert total == 5 and [x["name"] for x in es] == ["s1", "s2"], es
    total, es = ask(c, sched(LIST, start=9))
    assert total == 5 and es == [], es
    o = one(c, sched(LIST, b"often"))
    assert o["every"] == "1h30m" and o["paused"] == "yes", o
    assert o["unique"] == "yes" and o["catch-up"] == "none", o
    assert all(int(t) % 5400000 == 0 for t in o["next"].split(",")), o
    assert one(c, sched(RESUME, b"often"))["paused"] == "no"
    assert one(c, sched(PAUSE, b"often"))["paused"] == "yes"
    # RUN_NOW, paused or not: its event, with the headers, at once.
    w = consumer5(h, b"ticks", 1)
    r = one(c, sched(RUN_NOW, b"often"))
    (ev,) = take(w, 1)
    assert int(r["enqueued"]) == ev[0], (r, ev)
    assert ev[1]["pushstage-schedule"] == "often", ev
    assert abs(int(ev[1]["pushstage-tick"]) - time.time() * 1000) < 60000, ev
    assert one(c, sched(REMOVE, b"s1"))["name"] == "s1"
    total, es = ask(c, sched(LIST))
    assert total == 4, es
    for op in (REMOVE, PAUSE, RESUME, RUN_NOW, LIST):
        c.send(sched(op, b"s1"))
        msg = c.expect_error(E_NO_SCHEDULE)
        assert "s1" in msg, msg
        c = client5(h)
    # A consumer may not; nor a version 4 peer.
    w.send(sched(LIST))
    w.expect_error(E_BAD_STATE)
    old = Raw(h.sock, version=4)
    old.send(frame(HELLO, struct.pack(">HBBIIB", 4, CLIENT_ROLE, 0, 0, 0, 0)
                   + b"\0"))
    old.expect(WELCOME)
    old.send(sched(LIST))
    old.expect_error(E_BAD_STATE)


def case_schedule_bad_input(h):
    """A bad field is ERROR 5 (4 for lengths) naming it, and nothing is
    stored."""
    h.start_daemon("--max-schedules", "2", "--max-frame", "4096")
    bad = [
        (["cron=0 24 * * *"], b"", "cron field 2 (hour)"),
        (["cron=0 6 * *"], b"", "cron"),
        (["cron=@daily", "tz=Mars/Olympus"], b"", "unknown time zone"),
        (["cron=@daily", "tz=../../etc/passwd"], b"", "tz: "),
        (["every=0s"], b"", "every \"0s\": a duration of 0"),
        (["every=0"], b"", "every \"0\": "),
        (["every=1m", "tz=UTC"], b"", "tz: a zone is for a cron rule"),
        (["every=1m", "cron=@daily"], b"", "cron and every"),
        ([], b"", "needs a rule"),
        (["every=1m", "colour=red"], b"", "unknown setting \"colour\""),
        (["every=1m", "catch-up=some"], b"", "catch-up"),
        (["every=1m", "unique=y\x01s"], b"", "printable ASCII"),
        (["every=1m"], bytes([UNIQUE_ID, 1, 0x75]), "UNIQUE_ID"),
        (["every=1m"], header("pushstage-tick", "1"), "pushstage-tick"),
    ]
    for settings, attrs, want in bad:
        c = client5(h)
        c.send(sched_add(b"x", b"never", settings, b"", attrs))
        msg = c.expect_error(E_BAD_VALUE)
        assert msg.startswith("bad SCHEDULE: ") and want in msg, \
            (settings, msg)
    for name, queue, want in ((b"a b", b"q", "schedule name"),
                              (b"x", b"q/g", "queue name")):
        c = client5(h)
        c.send(sched_add(name, queue, ["every=1m"]))
        msg = c.expect_error(E_BAD_VALUE)
        assert want in msg, msg
    c = client5(h)
    c.send(frame(SCHEDULE, bytes([ADD, 0, 1]) + b"x" + b"\0\0\0\0\1q"))
    c.expect_error(E_BAD_LENGTH)
    c = client5(h)
    c.send(sched(9, b"x"))
    msg = c.expect_error(E_BAD_VALUE)
    assert "op is 1 (ADD) to 6 (LIST)" in msg, msg
    c = client5(h)
    c.send(sched(LIST, b"x", start=3))
    msg = c.expect_error(E_BAD_VALUE)
    assert "start is for a LIST of every schedule" in msg, msg
    # An event that would not fit a frame as a tick or an entry.
    c = client5(h)
    c.send(sched_add(b"big", b"q", ["every=1m"], b"x" * 3100))
    msg = c.expect_error(E_BAD_VALUE)
    assert "must fit --max-frame 4096: at most 3066" in msg, msg
    c = client5(h)
    one(c, sched_add(b"big", b"q", ["every=1m"], b"x" * 3066))
    one(c, sched(REMOVE, b"big"))
    c = client5(h)
    assert ask(c, sched(LIST)) == (0, [])
    # A refused ADD makes no queue.
    assert b"never" not in h.pushctl("queues").stdout
    # --max-schedules 2: the third is refused.
    one(c, sched_add(b"a", b"q", ["every=1m"]))
    one(c, sched_add(b"b", b"q", ["every=1m"]))
    c.send(sched_add(b"c", b"q", ["every=1m"]))
    msg = c.expect_error(E_QUEUE_LIMIT)
    assert "--max-schedules" in msg, msg
    # Under --no-auto-create its queue must exist.
    h2 = Harness()
    try:
        h2.start_daemon("--no-auto-create", "--queue", "jobs")
        c = client5(h2)
        one(c, sched_add(b"a", b"jobs", ["every=1m"]))
        c.send(sched_add(b"b", b"nope", ["every=1m"]))
        msg = c.expect_error(E_NO_QUEUE)
        assert "nope" in msg, msg
    finally:
        assert not h2.cleanup()


def ticks_of(events):
    return sorted(int(e[1]["pushstage-tick"]) for e in events)


def case_schedule_fires_each_tick(h):
    """every=1s: one event a second, on the second, each with its own
    unique id, counted in fired."""
    h.start_daemon()
    c = client5(h)
    w = consumer5(h, b"ticks", 1)
    one(c, sched_add(b"sec", b"ticks", ["every=1s"], b"beat"))
    got = take(w, 4)
    ts = ticks_of(got)
    assert all(t % 1000 == 0 for t in ts), ts
    assert ts == list(range(ts[0], ts[0] + 4000, 1000)), ts
    assert all(e[2] == b"beat" for e in got), got
    assert len(set(e[0] for e in got)) == 4, got
    e = one(c, sched(LIST, b"sec"))
    assert int(e["fired"]) >= 4 and int(e["last"]) >= ts[-1], e
    assert int(e["next"].split(",")[0]) > int(e["last"]), e
    assert int(e["last-id"]) >= got[-1][0], e
    # Paused, it fires nothing; its ticks are skipped.
    one(c, sched(PAUSE, b"sec"))
    before = one(c, sched(LIST, b"sec"))
    h.wait_for(lambda: int(one(c, sched(LIST, b"sec"))["skipped"]) >= 2,
               what="two ticks skipped while paused")
    assert int(one(c, sched(LIST, b"sec"))["fired"]) == int(before["fired"])


def ticks_until(w, t_ms, timeout=30):
    """Every EVENT, acked, until one of a tick past t_ms has come."""
    out = []
    end = time.monotonic() + timeout
    while not out or int(out[-1][1]["pushstage-tick"]) <= t_ms:
        assert time.monotonic() < end, "no tick past %d" % t_ms
        got = w.recv(1)
        if got is None:
            continue
        ev = parse_event(got[1], w.flags)
        out.append((ev[0], headers_of(ev), ev[4]))
        w.send(ids(ACK, ev[0]))
        w.send(demand(1))
    return out


def case_schedule_catch_up_after_a_stop(h):
    """With --data-dir the schedules come back after kill -9; the ticks
    missed while the daemon was down fire by each one's catch-up: none
    skips them, last fires the latest, all fires every one, once."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data)
    c = client5(h)
    for name, cu in ((b"none", "none"), (b"last", "last"), (b"all", "all")):
        one(c, sched_add(name, name, ["every=1s", "catch-up=" + cu]))
    ws = dict((q, consumer5(h, q, 1000)) for q in (b"none", b"last", b"all"))
    first = dict((q, take(w, 1)) for q, w in ws.items())
    h.daemon.kill()
    h.daemon.wait()
    down = time.time()
    # Down for three ticks and more: the state this case needs.
    h.wait_for(lambda: time.time() > down + 3.5, what="three ticks missed")
    restart = time.time()
    h.start_daemon("--data-dir", data)
    c = client5(h)
    total, es = ask(c, sched(LIST))
    assert total == 3, es
    back = time.time()
    ws = dict((q, consumer5(h, q, 1000)) for q in (b"none", b"last", b"all"))
    got = dict((q, ticks_until(w, back * 1000 + 1000))
               for q, w in ws.items())
    # What was fired and acked before the kill may come once more (it
    # was delivered, not yet journaled as acked); a tick's event, never
    # twice under two ids.
    for q in ws:
        byid = {}
        for ev in first[q] + got[q]:
            byid.setdefault(int(ev[1]["pushstage-tick"]), set()).add(ev[0])
        assert all(len(v) == 1 for v in byid.values()), (q, byid)
    def within(q, a, b):
        return [t for t in ticks_of(got[q]) if a * 1000 < t <= b * 1000]

    # all: every second of the stop, in order.
    ta = sorted(set(ticks_of(first[b"all"] + got[b"all"])))
    assert ta == list(range(ta[0], ta[-1] + 1000, 1000)), ta
    assert len(within(b"all", down, restart)) >= 3, ta
    # last: the latest tick missed alone (the one at or after the
    # restart's start, or the last second before it); none: none.
    assert within(b"last", down, restart - 1) == [], ticks_of(got[b"last"])
    assert len(within(b"last", down, back)) >= 1, ticks_of(got[b"last"])
    assert within(b"none", down, restart) == [], ticks_of(got[b"none"])
    e = one(c, sched(LIST, b"none"))
    assert int(e["skipped"]) >= 3, e


def case_schedule_exactly_once_under_kill9(h):
    """every=1s, catch-up=all, and producerd killed with -9 at random
    moments eight times: every tick from the first to the last is
    enqueued exactly once (one event id per tick), none lost."""
    data = os.path.join(h.dir, "data")
    h.start_daemon("--data-dir", data)
    c = client5(h)
    one(c, sched_add(b"beat", b"beats", ["every=1s", "catch-up=all"]))
    seen = {}
    rnd = random.Random(35)

    def collect(w, until):
        while time.time() < until:
            got = w.recv(0.1)
            if got is None:
                continue
            ev = parse_event(got[1], w.flags)
            t = int(headers_of(ev)["pushstage-tick"])
            seen.setdefault(t, set()).add(ev[0])
            w.send(ids(ACK, ev[0]))
            w.send(demand(1))

    for _ in range(8):
        w = consumer5(h, b"beats", 64)
        collect(w, time.time() + rnd.uniform(0.3, 2.5))
        h.daemon.kill()
        h.daemon.wait()
        h.start_daemon("--data-dir", data)
    w = consumer5(h, b"beats", 64)
    c = client5(h)
    last = int(one(c, sched(LIST, b"beat"))["last"])
    h.wait_for(lambda: (collect(w, time.time() + 0.2), last in seen)[1],
               what="the last tick's event")
    collect(w, time.time() + 1)
    ts = sorted(seen)
    dup = dict((t, v) for t, v in seen.items() if len(v) != 1)
    assert not dup, "ticks enqueued twice: %r" % dup
    assert ts == list(range(ts[0], ts[-1] + 1000, 1000)), \
        "ticks lost: %r" % sorted(set(range(ts[0], ts[-1], 1000)) - set(ts))
    assert len(ts) >= 10, ts


def case_schedule_file_damage(h):
    """DIR/schedules read back at start: a whole record that cannot be
    applied (a refused setting, progress a year ahead, a removal cut
    short) is logged and left out, the records after it kept; a field a
    later version added is skipped; a torn tail ends the reading.  Each
    said in the log with its byte."""
    data = os.path.join(h.dir, "data")
    os.mkdir(data)
    now = int(time.time() * 1000)
    prog = [b"created=%d" % now, b"last=0", b"last-id=0", b"fired=0",
            b"skipped=0", b"after=%d" % now]
    ahead = [b"after=%d" % (now + 366 * 86400000) if f.startswith(b"after")
             else f for f in prog]
    recs = [
        srec(1, sentry(b"a", b"q", [b"every=1h"] + prog)),
        srec(1, sentry(b"bad", b"q", [b"cron=61 * * * *"] + prog)),
        srec(1, sentry(b"ahead", b"q", [b"every=1h"] + ahead)),
        srec(2, b"\x05ab"),
        srec(1, sentry(b"later", b"q", [b"every=1d", b"colour=red"] +
                       prog)),
        srec(1, sentry(b"c", b"q", [b"cron=0 6 * * *",
                                    b"tz=Europe/Berlin"] + prog)),
    ]
    torn = srec(1, sentry(b"torn", b"q", [b"every=1h"] + prog))[:-3]
    with open(os.path.join(data, "schedules"), "wb") as f:
        f.write(SCHED_HEAD + b"".join(recs) + torn)
    h.start_daemon("--data-dir", data)
    c = client5(h)
    total, es = ask(c, sched(LIST))
    assert [e["name"] for e in es] == ["a", "later", "c"], es
    assert es[2]["tz"] == "Europe/Berlin", es
    log = open(os.path.join(h.dir, "producerd.log")).read()
    for want in ("a definition's setting is refused at byte",
                 "a definition's progress is in the future at byte",
                 "a removal does not parse at byte",
                 "a record cut short or damaged at byte"):
        assert want in log, (want, log)
    # Written again whole: a restart reads it back clean, the same.
    h.daemon.terminate()
    h.daemon.wait()
    h.start_daemon("--data-dir", data)
    c = client5(h)
    total, es = ask(c, sched(LIST))
    assert [e["name"] for e in es] == ["a", "later", "c"], es
    log = open(os.path.join(h.dir, "producerd.log")).read()
    assert log.count("at byte") == 4, log


def case_schedule_cluster_fires_once(h):
    """Two producerd --cluster hosts on one NATS, each with the same
    schedule: both enqueue every tick, with the same unique id as the
    message's Nats-Msg-Id, and JetStream keeps one: each tick's event
    comes once."""
    if not integration.built_with_cluster():
        return
    nats, url = integration.start_nats(h)
    h.start_daemon("--cluster", url)
    _, b = integration.second_daemon(h, "b", "--cluster", url)
    for sock in (h.sock, b):
        c = Raw(sock, version=5)
        c.send(hello5(CLIENT_ROLE))
        c.expect(WELCOME)
        one(c, sched_add(b"beat", b"beats", ["every=1s"], b"x"))
    w = consumer5(h, b"beats", 64)
    seen = {}
    end = time.monotonic() + 60
    while len(seen) < 6:
        assert time.monotonic() < end, seen
        got = w.recv(1)
        if got is None:
            continue
        ev = parse_event(got[1], w.flags)
        t = int(headers_of(ev)["pushstage-tick"])
        seen.setdefault(t, []).append(ev[0])
        w.send(ids(ACK, ev[0]))
        w.send(demand(1))
    # The first tick may have been added on one host only; the others
    # were ticked by both.
    ts = sorted(seen)[1:]
    assert all(len(seen[t]) == 1 for t in ts), seen
    assert ts == list(range(ts[0], ts[-1] + 1000, 1000)), ts
    for sock in (h.sock, b):
        c = Raw(sock, version=5)
        c.send(hello5(CLIENT_ROLE))
        c.expect(WELCOME)
        assert int(one(c, sched(LIST, b"beat"))["fired"]) >= 5


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
