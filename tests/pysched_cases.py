#!/usr/bin/env python3
"""pysched_cases.py: schedules in the Python package (clients/python):
SCHEDULE and SCHEDULE_REPLY (docs/protocol.md) as the client builds and
reads them, byte for byte; Client's and AsyncClient's schedule calls
against fake daemons and a real producerd; and the task layer's
@app.periodic, defined by the task worker when it starts.  Each case
has its own daemon and directory (integration.py's Harness) and stops
every process it started, by its PID.  Tests wait for the state they
need (a schedule's fields, a line a task wrote), never for a stretch of
time.

usage: pysched_cases.py CASE   (PRODUCERD names the daemon)
"""

import asyncio
import datetime
import json
import os
import signal
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))

import pushstage as ps                                  # noqa: E402
from pushstage import _core, _proto, errors             # noqa: E402
from pushstage import envelope as E                     # noqa: E402
from python_client import (Fake, run_case, Skip, expect,         # noqa: E402
                           read_frame, welcome)
from taskworker_cases import Tw                         # noqa: E402

UTC = datetime.timezone.utc


def when(ms):
    return datetime.datetime(1970, 1, 1, tzinfo=UTC) + \
        datetime.timedelta(milliseconds=ms)


# --- the bytes, as protocol.md lays them out, apart from the package ------

def op_spec(op, name=b"", start=0):
    body = bytes([op, 0, len(name)]) + name + struct.pack(">I", start)
    return struct.pack(">IBBH", len(body), 36, 0, 0) + body


def add_spec(name, queue, settings, attrs=b"", data=b"", flags=0):
    body = bytes([1, flags, len(name)]) + name + struct.pack(">I", 0)
    body += bytes([len(queue)]) + queue + struct.pack(">H", len(settings))
    for s in settings:
        body += struct.pack(">H", len(s)) + s
    body += struct.pack(">IH", len(data), len(attrs)) + attrs + data
    return struct.pack(">IBBH", len(body), 36, 0, 0) + body


def header_attr(name, value):
    return bytes([128]) + struct.pack(">HB", 1 + len(name) + len(value),
                                      len(name)) + name + value


def entry_spec(name, queue, fields, attrs=b"", data=b""):
    b = bytes([len(name)]) + name + bytes([len(queue)]) + queue
    b += struct.pack(">H", len(fields))
    for f in fields:
        b += struct.pack(">H", len(f)) + f
    return b + struct.pack(">IH", len(data), len(attrs)) + attrs + data


def reply_spec(total, entries):
    return struct.pack(">II", total, len(entries)) + b"".join(entries)


FIELDS = [b"cron=0 6 * * *", b"tz=Europe/Berlin", b"catch-up=last",
          b"unique=no", b"paused=yes", b"created=1700000000123",
          b"last=1700003600000", b"last-id=42", b"fired=3", b"skipped=1",
          b"next=1700086400000,1700172800000", b"later-field=kept"]


def case_sched_proto(h):
    """The bytes of schedules, without a daemon: protocol.md's example
    of a LIST to the byte; each op and an ADD with every setting and
    attribute as the spec lays them out; the checks made before
    anything is sent; a SCHEDULE_REPLY read from hand-made bytes, and
    cut short or run long a ProtocolError; the error codes' names."""
    hx = bytes.fromhex
    # protocol.md: LIST of the schedule nightly.
    assert _proto.schedule(6, b"nightly") == hx(
        "0000000e24000000" "0600076e696768746c7900000000"), \
        _proto.schedule(6, b"nightly").hex()
    assert _core.schedule_frame(5, _proto.SCHED_LIST, b"nightly") == \
        op_spec(6, b"nightly")
    # LIST of all from the 7th; the other ops.
    assert _proto.schedule(6, b"", 7) == op_spec(6, b"", 7)
    for op in (2, 3, 4, 5):
        assert _proto.schedule(op, b"a.b:c-d_E9") == op_spec(op, b"a.b:c-d_E9")
    for args in ((1, b"x"), (7, b"x"), (2, b""), (2, b"x", 1), (6, b"x", 1),
                 (6, b"", 1 << 32), (2, b"a/b"), (2, b"n" * 65)):
        expect(ValueError, _proto.schedule, *args)
    # An ADD with every setting, a KEY, a PRIORITY and two HEADERs.
    args = _core.schedule_add_args(
        "nightly", "reports", cron="0 6 * * *", tz="Europe/Berlin",
        catch_up="all", unique=True, paused=False, payload=b'{"args":[]}',
        headers={"task": "report", "x": b"\x00"}, priority=7, key="k")
    attrs = b"\x01\x01k" + b"\x04\x02\x00\x07" + \
        header_attr(b"task", b"report") + header_attr(b"x", b"\x00")
    want = add_spec(b"nightly", b"reports",
                    [b"cron=0 6 * * *", b"tz=Europe/Berlin",
                     b"catch-up=all", b"unique=yes", b"paused=no"],
                    attrs, b'{"args":[]}')
    assert _core.schedule_add_frame(5, args, False) == want
    assert _core.schedule_add_frame(5, args, True) == \
        want[:9] + b"\x01" + want[10:]
    # The least: every, nothing else.
    assert _core.schedule_add_frame(5, _core.schedule_add_args(
        "s", "q", every="30s"), False) == add_spec(b"s", b"q", [b"every=30s"])
    # every as seconds or a timedelta: its terms, largest first.
    for v, text in ((30, "30s"), (5400, "1h30m"), (86400, "1d"),
                    (90061, "1d1h1m1s"), (datetime.timedelta(minutes=5), "5m"),
                    (3650 * 86400, "3650d"), ("1h30m", "1h30m")):
        assert _core.every_text(v) == text, (v, _core.every_text(v))
    for v in (0, 0.5, 1.5, 3650 * 86400 + 1, -1, ""):
        expect(ValueError, _core.every_text, v)
    expect(TypeError, _core.every_text, True)
    # Bad arguments, before anything is sent.
    A = _core.schedule_add_args
    for kw, exc, text in [
            ({}, ValueError, "one of them"),
            ({"cron": "@daily", "every": 5}, ValueError, "not both"),
            ({"every": 60, "tz": "UTC"}, ValueError, "tz goes with cron"),
            ({"cron": "@daily", "catch_up": "some"}, ValueError, "catch_up"),
            ({"cron": "@daily", "unique": "yes"}, TypeError, "unique"),
            ({"cron": "@daily", "paused": 1}, TypeError, "paused"),
            ({"cron": 5}, TypeError, "cron"),
            ({"cron": "x" * 1020}, ValueError, "at most 1024"),
            ({"cron": "0 6 * * *\n"}, ValueError, "printable ASCII"),
            ({"cron": "@daily", "headers": {"pushstage-x": "1"}},
             ValueError, "pushstage"),
            ({"cron": "@daily", "headers": [("h%d" % i, "v")
                                            for i in range(15)]},
             ValueError, "at most 14 headers"),
            ({"cron": "@daily", "headers": [("h%d" % i, "v" * 1000)
                                            for i in range(4)]},
             ValueError, "3980"),
            ({"cron": "@daily", "headers": {"Bad": "v"}}, ValueError,
             "a name is 1 to 64"),
            ({"cron": "@daily", "priority": 70000}, ValueError, "priority"),
            ({"cron": "@daily", "priority": True}, TypeError, "priority"),
            ({"cron": "@daily", "key": "k" * 256}, ValueError, "key"),
            ({"cron": "@daily", "key": 5}, TypeError, "key"),
            ({"cron": "@daily", "payload": 5}, TypeError, "payload")]:
        e = expect(exc, A, "n", "q", **kw)
        assert text in str(e), (kw, str(e))
    for name, queue in (("", "q"), ("a b", "q"), ("n" * 65, "q"),
                        ("n", "q/g"), ("n", "")):
        expect(ValueError, A, name, queue, cron="@daily")
    # Older daemons: Unsupported, nothing built.
    expect(ps.Unsupported, _core.schedule_add_frame, 4, args, False)
    expect(ps.Unsupported, _core.schedule_frame, 4, 6, b"")

    # A reply with every field, one this package does not know, and
    # an event's KEY, PRIORITY, HEADERs and a tag it does not know.
    attrs = b"\x01\x02k1" + b"\x09\x01\x00" + b"\x04\x02\x01\x00" + \
        header_attr(b"task", b"report") + bytes([200]) + \
        struct.pack(">H", 2) + b"??" + header_attr(b"n", b"\xff")
    e1 = entry_spec(b"nightly", b"reports", FIELDS, attrs, b"payload")
    e2 = entry_spec(b"tick", b"q", [b"every=30s", b"catch-up=none",
                                    b"unique=yes", b"paused=no",
                                    b"created=5", b"last=0", b"last-id=0",
                                    b"fired=0", b"skipped=0", b"next=",
                                    b"enqueued=0"])
    body = reply_spec(9, [e1, e2])
    total, got = _core.schedules_result(body)
    assert total == 9 and len(got) == 2, (total, got)
    s = got[0]
    assert s == ps.Schedule(
        name="nightly", queue="reports", cron="0 6 * * *", every=None,
        tz="Europe/Berlin", catch_up="last", unique=False, paused=True,
        created=when(1700000000123), last=when(1700003600000), last_id=42,
        fired=3, skipped=1, next=[when(1700086400000), when(1700172800000)],
        enqueued=None, payload=b"payload", key=b"k1", priority=256,
        headers={"task": "report", "n": "\ufffd"},
        raw_headers=[("task", b"report"), ("n", b"\xff")],
        fields=dict(f.decode().split("=", 1) for f in FIELDS)), s
    assert s.fields["later-field"] == "kept" and \
        s.fields["next"] == "1700086400000,1700172800000"
    assert s.created.tzinfo is UTC and s.created.microsecond == 123000
    t = got[1]
    assert (t.cron, t.every, t.tz, t.catch_up, t.unique, t.paused, t.last,
            t.last_id, t.next, t.enqueued, t.key, t.priority, t.headers,
            t.payload) == (None, "30s", None, "none", True, False, None, None,
                           [], 0, None, None, {}, b""), t
    # Frozen, hashable (lists and dicts left out of the hash).
    assert hash(s) == hash(_core.schedules_result(body)[1][0])
    e = expect(Exception, setattr, s, "paused", False)
    assert type(e).__name__ == "FrozenInstanceError", e
    # One op's answer: its one entry, of the name asked for.
    assert _core.schedule_result(reply_spec(1, [e2]), b"tick") == t
    for bad in (reply_spec(1, [e1]), reply_spec(1, []),
                reply_spec(2, [e2, e2])):
        expect(ps.ProtocolError, _core.schedule_result, bad, b"tick")
    # Cut anywhere, or a byte too many: ProtocolError.
    for n in range(len(body)):
        expect(ps.ProtocolError, _core.schedules_result, body[:n])
    e = expect(ps.ProtocolError, _core.schedules_result, body + b"\0")
    assert "SCHEDULE_REPLY" in str(e), e
    # A count past what the bytes can hold, an empty name, a field
    # without =, a time or count that is no number, a bad yes/no, a
    # PRIORITY of 3 bytes.
    for bad in (struct.pack(">II", 1, 1000) + bytes(100),
                reply_spec(1, [entry_spec(b"", b"q", [])]),
                reply_spec(1, [entry_spec(b"n", b"q", [b"fired"])]),
                reply_spec(1, [entry_spec(b"n", b"q", [b"fired=x"])]),
                reply_spec(1, [entry_spec(b"n", b"q", [b"next=1,x"])]),
                reply_spec(1, [entry_spec(b"n", b"q", [b"created=-1"])]),
                reply_spec(1, [entry_spec(b"n", b"q", [b"paused=maybe"])]),
                reply_spec(1, [entry_spec(b"n", b"q", [],
                                          b"\x04\x03\x00\x00\x00")]),
                reply_spec(1, [entry_spec(b"n", b"q", [],
                                          bytes([128, 0, 9, 1]))])):
        expect(ps.ProtocolError, _core.schedules_result, bad)
    # The Reader takes SCHEDULE_REPLY (37), nothing past it.
    r = _proto.Reader()
    r.feed(_proto.frame(37, body))
    assert r.frames() == [(37, body, 0)]
    r.feed(_proto.frame(38, b""))
    expect(ps.ProtocolError, r.frames)
    # The error codes, by name.
    assert (errors.E_NO_SCHEDULE, errors.E_EXISTS) == (20, 21)
    assert _proto.ERROR_NAMES[20] == "NO_SCHEDULE" and \
        _proto.ERROR_NAMES[21] == "EXISTS"
    err = _core.error_from(struct.pack(">H", 21) + b"schedule n exists")
    assert isinstance(err, ps.Refused) and (err.code, err.name) == \
        (21, "EXISTS"), err
    assert "Schedule" in ps.__all__ and "Periodic" in ps.__all__


def case_sched_periodic_defs(h):
    """@app.periodic without a daemon: the ADD it makes is the task's
    call as delay() would send it (envelope, task and content-type
    headers, key and priority), on the task's queue; default names, a
    stack of several on one task, names that cannot be a schedule's;
    bad arguments refused at the decorator."""
    app = ps.App(socket="/nowhere", default_queue="t")

    @app.periodic("0 6 * * *", tz="Europe/Berlin", args=(1,),
                  kwargs={"b": [2]}, catch_up="none")
    @app.periodic(every=3600, args=(2,), unique=True)
    @app.task(name="rep.build", priority=9, key=lambda a, **k: "k%d" % a)
    def build(a, b=None):
        return a

    assert isinstance(build, ps.Task) and build(5) == 5
    assert list(app.periodics) == ["rep.build", "rep.build:2"], \
        list(app.periodics)
    first, second = app.periodics["rep.build"], app.periodics["rep.build:2"]
    assert (first.every, first.cron, second.cron, second.tz) == \
        (3600, None, "0 6 * * *", "Europe/Berlin")
    kw = second.add_kwargs()
    frame = _core.schedule_add_frame(5, _core.schedule_add_args(**kw), True)
    sig = build.s(1, b=[2])
    attrs = b"\x01\x02k1" + b"\x04\x02\x00\x09" + \
        header_attr(b"task", b"rep.build") + \
        header_attr(b"content-type", b"application/json")
    assert frame == add_spec(b"rep.build:2", b"t",
                             [b"cron=0 6 * * *", b"tz=Europe/Berlin",
                              b"catch-up=none"], attrs, sig.payload, 1), \
        frame
    assert sig.payload == b'{"args":[1],"kwargs":{"b":[2]}}'
    assert _core.schedule_add_frame(5, _core.schedule_add_args(
        **first.add_kwargs()), True)[-len(b'{"args":[2],"kwargs":{}}'):] \
        == b'{"args":[2],"kwargs":{}}'
    assert b"every=1h" in _core.schedule_add_frame(
        5, _core.schedule_add_args(**first.add_kwargs()), True)

    # name= and queue=.
    @app.periodic(every="5m", name="five", queue="other")
    @app.task(name="ping")
    def ping():
        return "pong"
    assert isinstance(ping, ps.Task) and app.tasks[ping.name] is ping
    assert app.periodics["five"].queue == "other" and \
        app.periodics["five"].task is ping
    # A task's unique= is not its periodic's: each tick has the
    # daemon's unique id.
    @app.periodic(cron="@daily")
    @app.task(name="uniq", unique=True)
    def uniq():
        return None
    assert _core.schedule_add_args(**app.periodics["uniq"].add_kwargs())[3] \
        == header_attr(b"task", b"uniq") + \
        header_attr(b"content-type", b"application/json")
    # A task name that is no schedule name.
    @app.periodic(cron="@hourly")
    @app.periodic(cron="@daily")
    @app.task(name="mail send/é" + "x" * 80)
    def odd():
        return None
    names = [n for n, p in app.periodics.items() if p.task is odd]
    assert len(names) == 2 and all(
        len(n) <= 64 and _proto.schedule_name(n) for n in names), names
    assert names[0].startswith("mail_send__x") and names[1].endswith(":2"), \
        names
    # Refused at once.
    for kw, exc, text in [
            ({"args": (1,)}, ValueError, "one of them"),
            ({"cron": "@daily", "every": 5}, ValueError, "not both"),
            ({"every": 5, "tz": "UTC"}, ValueError, "tz goes with cron"),
            ({"cron": "@daily", "name": "a b"}, ValueError, "schedule name"),
            ({"cron": "@daily", "name": "five"}, ValueError, "twice"),
            ({"cron": "@daily", "queue": "a/b"}, ValueError, "queue name"),
            ({"cron": "@daily", "args": (object(),)}, TypeError,
             "argument 1"),
            ({"cron": "@daily", "catch_up": "x"}, ValueError, "catch_up")]:
        kw.setdefault("args", (1,))
        e = expect(exc, app.periodic(**kw), build)
        assert text in str(e), (kw, e)
    other = ps.App(socket="/nowhere")
    expect(ValueError, other.periodic(cron="@daily"), build)
    # On a plain function @app.periodic registers it as a task too; an
    # @app.task over it is said to be the wrong way round.
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # named after __main__

        def plain():
            return None
        t = app.periodic(cron="@daily", name="x1")(plain)
    assert isinstance(t, ps.Task) and app.tasks[t.name] is t and \
        app.periodics["x1"].task is t
    e = expect(TypeError, app.task, t)
    assert "@app.periodic above @app.task" in str(e), e


# --- fakes: what a real daemon may not show -------------------------------

def sched_daemon(speaks, seen, answer):
    """A fake daemon of protocol version `speaks`: WELCOME, then for each
    SCHEDULE it records its body in seen and sends what answer(body)
    gives (a frame, or None to close)."""
    def script(conn):
        t, body = read_frame(conn)
        if t != 1:
            return
        v = struct.unpack(">H", body[:2])[0]
        if v > speaks:
            conn.sendall(_proto.frame(9, struct.pack(">H", 7) + (
                "protocol version %d is not supported; this daemon speaks "
                "versions 1 to %d" % (v, speaks)).encode()))
            return
        conn.sendall(welcome(v))
        while True:
            t, body = read_frame(conn)
            if t is None:
                return
            seen.append((t, body))
            out = answer(body)
            if out is None:
                return
            conn.sendall(out)
    return script


def case_sched_fakes(h):
    """Client and AsyncClient against fake daemons: schedules() asks
    page after page from start + count until total (and stops on an
    empty page); NO_SCHEDULE and EXISTS are Refused with their codes; a
    reply of another name or entries a ProtocolError; a daemon of
    version 4 is sent nothing."""
    names = [b"s%d" % i for i in range(5)]

    def page(body):
        op, _, nl = body[0], body[1], body[2]
        if op == 6 and nl == 0:
            start = struct.unpack(">I", body[3:7])[0]
            got = names[start:start + 2]
            return _proto.frame(37, reply_spec(len(names), [
                entry_spec(n, b"q", [b"every=1m", b"fired=%d" % i])
                for i, n in enumerate(got, start)]))
        name = bytes(body[3:3 + nl])
        if name == b"gone":
            return _proto.frame(9, struct.pack(">H", 20) +
                                b"no schedule gone")
        if name == b"taken":
            return _proto.frame(9, struct.pack(">H", 21) +
                                b"schedule taken is defined otherwise")
        if name == b"liar":
            name = b"other"
        fields = [b"cron=@daily", b"tz=UTC"]
        if op == 5:
            fields.append(b"enqueued=77")
        return _proto.frame(37, reply_spec(1, [entry_spec(name, b"q",
                                                          fields)]))
    seen = []
    path = os.path.join(h.dir, "fake.sock")
    fake = Fake(path, sched_daemon(5, seen, page))
    c = ps.Client(path, timeout=10)
    got = c.schedules()
    assert [s.name for s in got] == ["s0", "s1", "s2", "s3", "s4"], got
    assert [s.fired for s in got] == [0, 1, 2, 3, 4]
    assert [b for _, b in seen] == [op_spec(6, b"", i)[8:] for i in
                                    (0, 2, 4)], seen
    seen.clear()
    s = c.schedule_run_now("job")
    assert (s.name, s.enqueued, s.cron, s.tz) == ("job", 77, "@daily",
                                                  "UTC"), s
    assert c.schedule("job").enqueued is None
    assert c.schedule_pause("job").name == "job"
    assert c.schedule_resume("job").name == "job"
    assert c.schedule_remove("job").name == "job"
    assert [b[0] for _, b in seen] == [5, 6, 3, 4, 2], seen
    e = expect(ps.Refused, c.schedule, "gone")
    assert (e.code, e.name) == (errors.E_NO_SCHEDULE, "NO_SCHEDULE"), e
    e = expect(ps.Refused, c.schedule_add, "taken", "q", cron="@daily")
    assert (e.code, e.name) == (errors.E_EXISTS, "EXISTS"), e
    assert "defined otherwise" in e.message
    e = expect(ps.ProtocolError, c.schedule_pause, "liar")
    assert "for schedule liar" in str(e), e
    # Nothing sent for a bad argument.
    n = len(seen)
    expect(ValueError, c.schedule_add, "bad name", "q", cron="@daily")
    expect(ValueError, c.schedule, "")
    assert len(seen) == n
    # A page that comes back empty before total ends the listing.
    names.append(b"s5")
    real = names[:]

    def shrinking(body):
        if body[0] == 6 and body[2] == 0 and \
                struct.unpack(">I", body[3:7])[0] >= 2:
            return _proto.frame(37, reply_spec(9, []))
        return page(body)
    fake.script = sched_daemon(5, seen, shrinking)
    assert [s.name for s in ps.Client(path).schedules()] == ["s0", "s1"]
    fake.script = sched_daemon(5, seen, page)
    names[:] = real

    async def aio():
        async with ps.AsyncClient(path, timeout=10) as a:
            got = await a.schedules()
            assert len(got) == 6, got
            s = await a.schedule_run_now("job")
            assert s.enqueued == 77, s
            for call in (a.schedule, a.schedule_pause, a.schedule_resume,
                         a.schedule_remove):
                assert (await call("job")).name == "job"
            s = await a.schedule_add("job", "q", every=60, replace=True)
            assert s.name == "job"
            try:
                await a.schedule("gone")
            except ps.Refused as e:
                assert e.code == errors.E_NO_SCHEDULE, e
            else:
                raise AssertionError("no NO_SCHEDULE")
    seen.clear()
    asyncio.run(aio())
    add = [b for _, b in seen if b[0] == 1]
    assert add == [add_spec(b"job", b"q", [b"every=1m"], flags=1)[8:]], add
    fake.srv.close()
    # A daemon of version 4 is sent nothing.
    seen4 = []
    path4 = os.path.join(h.dir, "fake4.sock")
    Fake(path4, sched_daemon(4, seen4, page))
    c4 = ps.Client(path4, timeout=10)
    for call, args, kw in ((c4.schedules, (), {}),
                           (c4.schedule, ("job",), {}),
                           (c4.schedule_add, ("job", "q"), {"every": 5})):
        e = expect(ps.Unsupported, call, *args, **kw)
        assert "version 5" in str(e), e
    assert seen4 == [], seen4


# --- a real producerd -----------------------------------------------------

def case_sched_client(h):
    """Client against a real producerd: add (its fields as the reply
    gives them), the same ADD again a no-op, another one EXISTS unless
    replace (its progress kept), show, list (in the order added, every
    page of a small max_frame), pause, resume, run-now (its event
    enqueued with the daemon's headers), remove; NO_SCHEDULE, a bad
    rule and time zone Refused with the daemon's words."""
    h.start_daemon("--max-frame", "4096")
    c = ps.Client(h.sock, timeout=30)
    c.create("rep", keep_done="1h")
    s = c.schedule_add("nightly", "rep", cron="0 6 * * *",
                       tz="Europe/Berlin", payload=b"run",
                       headers={"task": "report", "x": b"\x01"},
                       priority=3, key="k")
    assert (s.name, s.queue, s.cron, s.every, s.tz, s.catch_up, s.unique,
            s.paused, s.last, s.last_id, s.fired, s.skipped, s.enqueued) == \
        ("nightly", "rep", "0 6 * * *", None, "Europe/Berlin", "last",
         False, False, None, None, 0, 0, None), s
    assert (s.payload, s.key, s.priority, s.raw_headers) == \
        (b"run", b"k", 3, [("task", b"report"), ("x", b"\x01")]), s
    now = datetime.datetime.now(UTC)
    assert abs((s.created - now).total_seconds()) < 60, (s.created, now)
    assert 1 <= len(s.next) <= 5 and s.next == sorted(s.next) and \
        s.next[0] > now, s.next
    # 06:00 in Berlin each day.
    from zoneinfo import ZoneInfo
    for t in s.next:
        lt = t.astimezone(ZoneInfo("Europe/Berlin"))
        assert (lt.hour, lt.minute, lt.second) == (6, 0, 0), lt
    # The same again: nothing changes.
    again = c.schedule_add("nightly", "rep", cron="0 6 * * *",
                           tz="Europe/Berlin", payload=b"run",
                           headers={"task": "report", "x": b"\x01"},
                           priority=3, key="k")
    assert again == s, (again, s)
    # Another definition: EXISTS, nothing stored; with replace it is.
    e = expect(ps.Refused, c.schedule_add, "nightly", "rep", cron="@hourly")
    assert (e.code, e.name) == (errors.E_EXISTS, "EXISTS"), e
    assert c.schedule("nightly") == s
    r = c.schedule_add("nightly", "rep", every="1h", replace=True,
                       payload=b"new")
    assert (r.every, r.cron, r.tz, r.payload, r.headers, r.created) == \
        ("1h", None, None, b"new", {}, s.created), r
    assert r.next and all(t.minute == 0 and t.second == 0 and
                          t.microsecond == 0 for t in r.next), r.next
    # Several, listed in the order added, over pages of a 4096-byte
    # frame.
    big = b"p" * 1500
    for i in range(6):
        c.schedule_add("s%d" % i, "rep", every="%dd" % (i + 1), payload=big)
    got = c.schedules()
    assert [x.name for x in got] == ["nightly"] + ["s%d" % i
                                                   for i in range(6)], got
    assert all(x.payload == big for x in got[1:])
    # Pause, resume.
    p = c.schedule_pause("s0")
    assert p.paused and c.schedule("s0").paused
    assert c.schedule_add("s0", "rep", every="1d", payload=big).paused, \
        "an ADD without paused keeps the schedule's state"
    r = c.schedule_resume("s0")
    assert not r.paused and r.next, r
    # Run now: the event, with the daemon's headers and no unique id,
    # on the queue; twice is two events.
    n = c.schedule_run_now("nightly")
    assert n.enqueued and n.name == "nightly", n
    j = c.job("rep", n.enqueued, preview=100)
    assert j is not None and j.preview == b"new", j
    assert j.headers["pushstage-schedule"] == "nightly", j.headers
    tick = int(j.headers["pushstage-tick"])
    assert abs(tick / 1000 - now.timestamp()) < 120, tick
    n2 = c.schedule_run_now("nightly")
    assert n2.enqueued > n.enqueued, (n, n2)
    assert c.stats("rep")["queued"] == 2
    # A paused one runs now too.
    c.schedule_pause("s1")
    assert c.schedule_run_now("s1").enqueued
    # Remove: as it was; then NO_SCHEDULE for each op.
    gone = c.schedule_remove("s2")
    assert gone.name == "s2" and gone.every == "3d", gone
    for call in (c.schedule, c.schedule_pause, c.schedule_resume,
                 c.schedule_remove, c.schedule_run_now):
        e = expect(ps.Refused, call, "s2")
        assert (e.code, e.name) == (errors.E_NO_SCHEDULE, "NO_SCHEDULE"), e
    assert "s2" not in [x.name for x in c.schedules()]
    # The daemon's refusals, naming the field.
    e = expect(ps.Refused, c.schedule_add, "bad", "rep", cron="0 24 * * *")
    assert e.code == errors.E_BAD_VALUE and "cron" in e.message, e
    e = expect(ps.Refused, c.schedule_add, "bad", "rep", cron="@daily",
               tz="Mars/Olympus")
    assert e.code == errors.E_BAD_VALUE and "Mars/Olympus" in e.message, e
    e = expect(ps.Refused, c.schedule, "bad")
    assert e.code == errors.E_NO_SCHEDULE, e
    c.close()


# --- the task layer and the worker ----------------------------------------

PAPP = r'''
import json, os
import pushstage
from pushstage import current_event

OUT = os.environ["OUT_DIR"]
RULE = os.environ.get("RULE", "every=1s")
app = pushstage.App(socket=os.environ["PS_SOCK"], default_queue="pq")

def line(*parts):
    with open(os.path.join(OUT, "lines"), "a") as f:
        f.write(json.dumps(list(parts)) + "\n")

kind, _, value = RULE.partition("=")

@app.periodic(args=("tick",), kwargs={"n": 1}, **{kind: value})
@app.task(name="beat")
def beat(what, n=0):
    ev = current_event()
    line("beat", what, n, ev.id, ev.headers.get("pushstage-schedule"),
         ev.headers.get("task"))
    return [what, n]

@app.periodic(cron="@yearly", name="yearly-report", args=(7,))
@app.task(name="report", queue="rq")
def report(x):
    ev = current_event()
    line("report", x, ev.id, ev.headers.get("pushstage-schedule"))
    return x * 6
'''


def case_sched_worker(h):
    """@app.periodic against a real producerd and the task worker: the
    worker defines its app's schedules when it starts (its log says
    so), its events run the task with the arguments given (the task's
    envelope and headers, and the daemon's pushstage-schedule); a second
    start with the same rule changes nothing (created, fired, the
    definition); a start with another rule replaces it and keeps its
    progress (created, last, fired); run-now of a periodic task runs
    it in the worker, its result waited for; app.schedules() lists the
    app's."""
    h.start_daemon()
    with open(os.path.join(h.dir, "papp.py"), "w") as f:
        f.write(PAPP)
    c = ps.Client(h.sock, timeout=30)
    c.create("pq", keep_done="1h")
    c.create("rq", keep_done="1h")
    c.schedule_add("someone-else", "pq", cron="@yearly")
    # First start: every second.
    p, log = h.tworker("-Q", "pq,rq", app="papp", name="w1")
    h.wait_for(lambda: "schedules defined" in h.log_of(log),
               what="the worker defining its schedules")
    beat = c.schedule("beat")
    assert (beat.every, beat.queue, beat.paused) == ("1s", "pq", False), beat
    assert beat.headers == {"task": "beat",
                            "content-type": "application/json"}, beat
    assert beat.payload == E.encode_call(["tick"], {"n": 1}), beat.payload
    yr = c.schedule("yearly-report")
    assert (yr.cron, yr.queue, yr.payload) == \
        ("@yearly", "rq", b'{"args":[7],"kwargs":{}}'), yr
    # Its ticks run in the worker.
    got = h.wait_line("beat", n=2, what="two ticks run")
    assert all(x[1:3] == ["tick", 1] and x[4] == "beat" and x[5] == "beat"
               for x in got), got
    h.wait_for(lambda: c.schedule("beat").fired >= 2, what="fired >= 2")
    # app.schedules(): the app's, not someone else's.
    sys.path.insert(0, h.dir)
    os.environ["OUT_DIR"] = h.dir
    os.environ["PS_SOCK"] = h.sock
    import papp
    assert [s.name for s in papp.app.schedules()] == ["beat",
                                                      "yearly-report"]
    assert [s.name for s in c.schedules()] == ["someone-else", "beat",
                                               "yearly-report"]
    assert h.stop(p) == 0
    # Stopped: ticks are enqueued still; take their state as it is.
    before = c.schedule("beat")
    # Second start, the same rule: the same definition, its counts
    # going on from where they were.
    p, log = h.tworker("-Q", "pq,rq", app="papp", name="w2")
    h.wait_for(lambda: "schedules defined" in h.log_of(log),
               what="the second start defining its schedules")
    after = c.schedule("beat")
    assert (after.created, after.every, after.payload, after.headers) == \
        (before.created, "1s", before.payload, before.headers), after
    assert after.fired >= before.fired, (after.fired, before.fired)
    assert c.schedule("yearly-report") == yr
    # Nothing was replaced: the daemon took the same ADD as a no-op.
    daemon_log = os.path.join(h.dir, "producerd.log")
    assert h.log_of(daemon_log).count("schedule beat added") == 1 and \
        "replaced" not in h.log_of(daemon_log), h.log_of(daemon_log)
    assert h.stop(p) == 0
    # Third start, another rule: replaced, its progress kept.  @yearly
    # does not fire while the test runs: last and fired stay as they
    # were at the replace.
    before = c.schedule("beat")
    p, log = h.tworker("-Q", "pq,rq", app="papp", name="w3",
                       env={"RULE": "cron=@yearly"})
    h.wait_for(lambda: "schedules defined" in h.log_of(log),
               what="the third start defining its schedules")
    after = c.schedule("beat")
    assert (after.cron, after.every, after.tz) == ("@yearly", None, None), \
        after
    assert after.created == before.created, (after.created, before.created)
    assert after.fired >= before.fired >= 2 and after.last >= before.last, \
        (after, before)
    assert h.log_of(daemon_log).count("schedule beat replaced") == 1 and \
        "schedule yearly-report replaced" not in h.log_of(daemon_log)
    # Run now: the worker runs it; its result is waited for.
    n = papp.app.periodics["yearly-report"].run_now()
    assert n.enqueued, n
    got = h.wait_line("report", lambda x: x[2] == n.enqueued,
                      what="the run-now event run")
    assert got[0][1] == 7 and got[0][3] == "yearly-report", got
    w = c.wait("rq", n.enqueued, timeout=60)
    assert w.done and json.loads(w.result) == 42, w
    assert h.stop(p) == 0
    c.close()


def case_sched_worker_refused(h):
    """A rule the daemon refuses stops the worker (EX_CONFIG, 78), its
    log naming the schedule and the daemon's words; nothing is
    stored."""
    h.start_daemon()
    with open(os.path.join(h.dir, "papp.py"), "w") as f:
        f.write(PAPP)
    p, log = h.tworker("-Q", "pq,rq", app="papp", name="w",
                       env={"RULE": "cron=0 24 * * *"})
    assert p.wait(timeout=60) == 78, p.returncode
    text = h.log_of(log)
    assert "schedule beat" in text and "cron" in text, text
    e = expect(ps.Refused, ps.Client(h.sock).schedule, "beat")
    assert e.code == errors.E_NO_SCHEDULE, e


def case_sched_worker_redefines(h):
    """The worker defines the periodic tasks of the queues it serves
    alone, and defines them again when the daemon comes back after a
    restart that lost them (no --data-dir)."""
    h.start_daemon()
    with open(os.path.join(h.dir, "papp.py"), "w") as f:
        f.write(PAPP)
    p, log = h.tworker("-Q", "pq", app="papp", name="w",
                       env={"RULE": "cron=@yearly"})
    h.wait_for(lambda: "schedules defined" in h.log_of(log),
               what="the worker defining its schedules")
    c = ps.Client(h.sock, timeout=30)
    assert [s.name for s in c.schedules()] == ["beat"], c.schedules()
    c.close()
    d = h.daemon
    d.send_signal(signal.SIGTERM)
    assert d.wait(timeout=30) == 0
    h.procs.remove(d)
    h.wait_for(lambda: "lost the daemon" in h.log_of(log),
               what="the worker to see it go")
    h.start_daemon()
    h.wait_for(lambda: h.log_of(log).count("schedules defined") == 2,
               what="the worker defining its schedules again")
    c = ps.Client(h.sock, timeout=30)
    s = c.schedule("beat")
    assert (s.cron, s.queue, s.fired) == ("@yearly", "pq", 0), s
    c.close()
    assert h.stop(p) == 0


def case_sched_mypy(h):
    """A program using the schedule calls and @app.periodic passes mypy
    --strict against the package (py.typed), and a mistake is found."""
    import shutil
    import subprocess
    mypy = shutil.which("mypy")
    if mypy is None:
        raise Skip("mypy is not installed (Debian: apt-get install mypy)")
    use = os.path.join(h.dir, "use.py")
    with open(use, "w") as f:
        f.write("import datetime\n"
                "from typing import Dict, List, Optional\n"
                "from pushstage import (App, AsyncClient, Client, Periodic, "
                "Schedule, Task, errors)\n"
                "c = Client('/nowhere')\n"
                "s: Schedule = c.schedule_add('n', 'q', cron='@daily', "
                "tz='UTC', catch_up='all', unique=True, paused=False, "
                "replace=True, payload=b'x', headers={'a': 'b'}, "
                "priority=1, key='k')\n"
                "s = c.schedule_add('n', 'q', every=30)\n"
                "s = c.schedule_add('n', 'q', every='1h30m')\n"
                "s = c.schedule_add('n', 'q', "
                "every=datetime.timedelta(minutes=5))\n"
                "all_: List[Schedule] = c.schedules()\n"
                "s = c.schedule('n')\n"
                "s = c.schedule_pause('n')\n"
                "s = c.schedule_resume('n')\n"
                "s = c.schedule_remove('n')\n"
                "e: Optional[int] = c.schedule_run_now('n').enqueued\n"
                "nx: List[datetime.datetime] = s.next\n"
                "last: Optional[datetime.datetime] = s.last\n"
                "n: int = s.fired + s.skipped + errors.E_NO_SCHEDULE + "
                "errors.E_EXISTS\n"
                "rule: Optional[str] = s.cron or s.every\n"
                "hd: Dict[str, str] = s.headers\n"
                "f: Dict[str, str] = s.fields\n"
                "async def a() -> None:\n"
                "    ac = AsyncClient('/nowhere')\n"
                "    x: Schedule = await ac.schedule_add('n', 'q', "
                "cron='@daily')\n"
                "    xs: List[Schedule] = await ac.schedules()\n"
                "    x = await ac.schedule_run_now('n')\n"
                "app = App(socket='/nowhere')\n"
                "@app.periodic('0 6 * * *', tz='Europe/Berlin', args=(1,), "
                "kwargs={'b': 2}, name='rep', queue='q', catch_up='none', "
                "unique=True)\n"
                "@app.periodic(every=60)\n"
                "@app.task\n"
                "def rep(a: int, b: int = 0) -> int:\n"
                "    return a + b\n"
                "t: Task = rep\n"
                "p: Periodic = app.periodics['rep']\n"
                "s = p.run_now()\n"
                "mine: List[Schedule] = app.schedules() + "
                "app.register_schedules(['q'])\n")
    pkg = os.path.join(HERE, "..", "clients", "python")

    def run():
        return subprocess.run([mypy, "--strict", "--no-incremental",
                               "--cache-dir", os.path.join(h.dir, "cache"),
                               use], capture_output=True, text=True,
                              cwd=h.dir, env=dict(os.environ, MYPYPATH=pkg),
                              timeout=110)
    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    with open(use, "a") as f:
        f.write("bad: int = c.schedule('n').next\n")
    r = run()
    assert r.returncode != 0 and "List[datetime]" in r.stdout, r.stdout


def main():
    # taskworker_cases.py's harness: task workers and their lines.
    return run_case(globals(), Tw, "pysched_cases.py")

if __name__ == "__main__":
    sys.exit(main())
