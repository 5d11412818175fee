#!/usr/bin/env python3
"""schedule_cli_cases.py: schedules (issue 35) from the command line:
pushctl schedule add, list, show, pause, resume, remove and run-now
against a real producerd (their events consumed and read back), the
mistakes pushctl catches itself, the daemon's refusals as pushctl says
them, and the SCHEDULE frames pushctl sends, read byte for byte by a
fake daemon written from docs/protocol.md.

usage: schedule_cli_cases.py CASE   (as integration.py, whose harness it
shares)
"""

import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from integration import *
import integration
from job_cases import attr, consumer5, events5, header, job

SCHEDULE, SCHEDULE_REPLY = 36, 37
E_NO_SCHEDULE, E_EXISTS = 20, 21
ADD, REMOVE, PAUSE, RESUME, RUN_NOW, LIST = range(1, 7)

# Ticks no test waits for: 00:00 on 1 January in Berlin.
NEW_YEAR = "0 0 1 1 *"


def sched(h, *args):
    r = h.pushctl("schedule", *args)
    return r.returncode, r.stdout.decode(), r.stderr.decode(errors="replace")


def show(h, name):
    rc, out, err = sched(h, "show", name, "--json")
    assert rc == 0, (name, rc, err)
    return json.loads(out)


def listed(h):
    rc, out, err = sched(h, "list", "--json")
    assert rc == 0, (rc, err)
    return [json.loads(line) for line in out.splitlines()]


def iso(ms):
    t = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_years(zone, n=5):
    """The next n 1 January 00:00 of zone, after now, as ISO 8601 UTC."""
    now = datetime.now(timezone.utc)
    out, year = [], now.year
    while len(out) < n:
        t = datetime(year, 1, 1, tzinfo=ZoneInfo(zone))
        if t > now:
            out.append(t.astimezone(timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"))
        year += 1
    return out


def refused(h, args, words, rc=1):
    got, out, err = sched(h, *args)
    assert got == rc and words in err and out == "", (args, got, out, err)


def case_schedule_cli_usage(h):
    """What pushctl catches before it connects (no daemon runs: a connect
    would be exit 69): no name, a bad one, no queue, a group, --cron and
    --every, neither, --tz without --cron, two payloads, a payload with
    --task, --args without it, the event's options' own mistakes, an
    unknown command; and --help for the command and each subcommand."""
    h.sock = os.path.join(h.dir, "none.sock")
    every = ["-q", "q", "--every", "1m"]
    cases = [
        (["add"], "schedule add: name the schedule"),
        (["add", "-q", "q", "--every", "1m"], "schedule add: name the schedule"),
        (["add", "no way"] + every,
         'schedule add: "no way" is not a schedule name: 1 to 64 bytes'),
        (["add", "x" * 65] + every, "is not a schedule name"),
        (["add", "x", "--every", "1m"],
         "schedule add: -q QUEUE: name the queue its events go to"),
        (["add", "x", "-q", "q/g", "--every", "1m"],
         "schedule add: -q q/g: its events go to a queue"),
        (["add", "x", "-q", "bad queue", "--every", "1m"],
         '-q: "bad queue" is not a queue name'),
        (["add", "x", "-q", "q", "--cron", "0 6 * * *", "--every", "1m"],
         "schedule add: --cron and --every: give one"),
        (["add", "x", "-q", "q"],
         "schedule add: give --cron RULE or --every DURATION"),
        (["add", "x", "-q", "q", "--tz", "UTC"],
         "schedule add: give --cron RULE or --every DURATION"),
        (["add", "x", "--tz", "Europe/Berlin"] + every,
         "schedule add: --tz goes with --cron"),
        (["add", "x", "a", "b"] + every,
         'schedule add: one payload; "a" and "b" given'),
        (["add", "x", "--task", "t", "p"] + every,
         "schedule add: --task makes the payload from --args and --kwargs: "
         'leave out the payload "p"'),
        (["add", "x", "--args", "[1]"] + every,
         "schedule add: --args goes with --task NAME"),
        (["add", "x", "--kwargs", "{}"] + every,
         "schedule add: --kwargs goes with --task NAME"),
        (["add", "x", "--task", "t", "--args", "{}"] + every,
         "--args must be a JSON array, not an object"),
        (["add", "x", "--task", "t", "--header", "task=u"] + every,
         "--header task=u: --task names the task"),
        (["add", "x", "--header", "novalue"] + every,
         '--header: "novalue" is not NAME=VALUE'),
        (["add", "x", "--header", "Bad=1"] + every,
         '--header Bad=1: header "Bad": a name is 1 to 64 bytes'),
        (["add", "x", "--header", "a=1", "--header", "a=2"] + every,
         'header "a" given twice'),
        (["add", "x", "--priority", "65536"] + every,
         '--priority: "65536" is not a whole number from 0 to 65535'),
        (["add", "x", "--key", "k" * 256] + every,
         "--key: 256 bytes; a key is at most 255"),
        (["add", "x", "--delay", "5s"] + every, "unrecognized option"),
        (["add", "x", "--unique-id", "u"] + every, "unrecognized option"),
        (["show"], "schedule show: name the schedule"),
        (["show", "a", "b"], 'schedule show: unexpected argument "b"'),
        (["show", "a b"], '"a b" is not a schedule name'),
        (["pause"], "schedule pause: name the schedule"),
        (["resume"], "schedule resume: name the schedule"),
        (["remove"], "schedule remove: name the schedule"),
        (["run-now"], "schedule run-now: name the schedule"),
        (["run-now", "a", "--json"], "usage: pushctl schedule run-now NAME"),
        (["pause", "a", "--json"], "usage: pushctl schedule pause NAME"),
        (["list", "a"], 'schedule list: unexpected argument "a"'),
        (["frob"], 'schedule: "frob" is not add, list, show, pause, resume, '
         'remove or run-now'),
        ([], "usage: pushctl schedule add NAME"),
    ]
    for args, words in cases:
        refused(h, args, words)
    # Help: on stdout, exit 0, naming the subcommand.
    for args, words in [
            (["--help"], "pushctl schedule run-now NAME"),
            (["-h"], "pushctl schedule list [--json]"),
            (["add", "--help"], "--catch-up WHICH"),
            (["list", "--help"], "usage: pushctl schedule list [--json]"),
            (["show", "--help"], "usage: pushctl schedule show NAME [--json]"),
            (["pause", "--help"], "usage: pushctl schedule pause NAME"),
            (["resume", "--help"], "usage: pushctl schedule resume NAME"),
            (["remove", "--help"], "usage: pushctl schedule remove NAME"),
            (["run-now", "--help"], "usage: pushctl schedule run-now NAME")]:
        rc, out, err = sched(h, *args)
        assert rc == 0 and words in out and err == "", (args, rc, out, err)
    r = h.pushctl("--help")
    assert r.returncode == 0 and b"schedule add NAME -q QUEUE" in r.stdout, r
    # Well formed, it connects: no daemon there.
    rc, out, err = sched(h, "add", "x", "-q", "q", "--cron", NEW_YEAR,
                         "--tz", "Europe/Berlin")
    assert rc == 69 and "no producerd at" in err, (rc, err)


def case_schedule_cli_round_trip(h):
    """add, list, show, pause, resume, run-now and remove, each read back:
    the rule with its zone, the next five fire times (UTC), the counts,
    the event's key, priority, headers and payload; the same ADD again
    changes nothing, another is refused (EXISTS) until --replace, which
    keeps the schedule's place; remove forgets it."""
    h.start_daemon()
    rc, out, err = sched(h, "list")
    assert rc == 0 and out == "no schedules\n", (rc, out, err)
    assert listed(h) == []
    nexts = new_years("Europe/Berlin")
    add = ["add", "nightly", "-q", "reports", "--cron", NEW_YEAR, "--tz",
           "Europe/Berlin", "--catch-up", "none", "--key", "user-1",
           "--priority", "7", "--header", "x-team=ops", "--header",
           "x-empty=", "payload 1"]
    rc, out, err = sched(h, *add)
    assert rc == 0, (rc, err)
    assert out == ("schedule nightly: %s (Europe/Berlin), to queue reports; "
                   "next %s\n" % (NEW_YEAR, nexts[0])), out
    rc, out, err = sched(h, "add", "hourly", "-q", "reports", "--every", "1h",
                         "--paused", "--unique")
    assert rc == 0 and "every 1h, to queue reports; paused, next tick" in \
        out, (rc, out, err)

    s = show(h, "nightly")
    assert s["name"] == "nightly" and s["queue"] == "reports", s
    assert s["cron"] == NEW_YEAR and s["tz"] == "Europe/Berlin", s
    assert s["catch-up"] == "none" and s["unique"] is False and \
        s["paused"] is False, s
    assert s["fired"] == 0 and s["skipped"] == 0 and s["last"] is None, s
    assert s["last-id"] == 0 and s["created"].endswith("Z"), s
    assert s["next"] == nexts, (s["next"], nexts)
    assert s["key"] == "user-1" and s["priority"] == 7, s
    assert s["headers"] == {"x-team": "ops", "x-empty": ""}, s
    assert s["payload"] == "payload 1", s
    assert "every" not in s, s
    hourly = show(h, "hourly")
    assert hourly["every"] == "1h" and "cron" not in hourly and \
        "tz" not in hourly, hourly
    assert hourly["paused"] is True and hourly["unique"] is True, hourly
    assert hourly["catch-up"] == "last", hourly
    assert hourly["key"] is None and hourly["priority"] == 32768, hourly
    assert hourly["headers"] == {} and hourly["payload"] == "", hourly
    # Each next fire time of every=1h is on the hour, an hour apart.
    ms = [datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc).timestamp() for t in hourly["next"]]
    assert len(ms) == 5 and all(t % 3600 == 0 for t in ms) and \
        all(b - a == 3600 for a, b in zip(ms, ms[1:])), hourly["next"]

    # show as text: a field a line, every next fire time.
    rc, out, err = sched(h, "show", "nightly")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "schedule nightly", lines
    assert "  queue        reports" in lines, lines
    assert "  cron         " + NEW_YEAR in lines, lines
    assert "  tz           Europe/Berlin" in lines, lines
    assert "  next         " + nexts[0] in lines, lines
    for t in nexts[1:]:
        assert "               " + t in lines, (t, lines)
    assert "  last         -" in lines and "  fired        0" in lines, lines
    assert "  key          user-1" in lines, lines
    assert "  priority     7" in lines, lines
    assert "  headers      x-team: ops" in lines, lines
    assert "               x-empty: " in lines, lines
    assert "  payload      9 bytes: payload 1" in lines, lines

    # The list: in the order added, a row each.
    assert [s["name"] for s in listed(h)] == ["nightly", "hourly"]
    rc, out, err = sched(h, "list")
    assert rc == 0, err
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["NAME", "QUEUE", "RULE", "NEXT", "LAST", "FIRED",
                       "SKIPPED", "PAUSED"], rows
    assert rows[1] == ["nightly", "reports"] + NEW_YEAR.split() + \
        ["(Europe/Berlin)", nexts[0], "-", "0", "0", "no"], rows
    assert rows[2][:4] == ["hourly", "reports", "every", "1h"] and \
        rows[2][5:] == ["-", "0", "0", "yes"], rows
    # The columns line up under their titles.
    at = out.splitlines()[0].index("NEXT")
    assert out.splitlines()[1][at:].startswith(nexts[0]), out

    # The same definition again: nothing changes.  Another: EXISTS.
    created = s["created"]
    rc, out, err = sched(h, *add)
    assert rc == 0, err
    assert show(h, "nightly")["created"] == created
    other = add[:-1] + ["payload 2"]
    refused(h, other, 'schedule "nightly" exists, defined otherwise '
            '(--replace replaces')
    assert show(h, "nightly")["payload"] == "payload 1"
    rc, out, err = sched(h, *(other + ["--replace"]))
    assert rc == 0, err
    s = show(h, "nightly")
    assert s["payload"] == "payload 2" and s["created"] == created, s
    assert [s["name"] for s in listed(h)] == ["nightly", "hourly"]

    # pause and resume.
    rc, out, err = sched(h, "pause", "nightly")
    assert (rc, out) == (0, "schedule nightly paused\n"), (rc, out, err)
    assert show(h, "nightly")["paused"] is True
    assert [s["paused"] for s in listed(h)] == [True, True]
    # A replace that does not say paused keeps it paused.
    rc, out, err = sched(h, *(add + ["--replace"]))
    assert rc == 0 and "paused, next tick" in out, (out, err)
    rc, out, err = sched(h, "resume", "nightly")
    assert (rc, out) == (0, "schedule nightly resumed; next %s\n" %
                         nexts[0]), (rc, out, err)
    assert show(h, "nightly")["paused"] is False

    # run-now, paused or not: an event now, its id said.
    rc, out, err = sched(h, "run-now", "hourly")
    m = re.fullmatch(r"enqueued 1 event: id (\d+)\n", out)
    assert rc == 0 and m, (rc, out, err)
    assert show(h, "hourly")["paused"] is True

    # remove: gone from the list; its event stays.
    rc, out, err = sched(h, "remove", "hourly")
    assert (rc, out) == (0, "schedule hourly removed\n"), (rc, out, err)
    refused(h, ["show", "hourly"], 'schedule "hourly": no such schedule')
    assert [s["name"] for s in listed(h)] == ["nightly"]
    assert job(h, "reports", int(m.group(1)))[1]["state"] == "queued"


def case_schedule_cli_run_now_arrives(h):
    """run-now's event reaches a consumer of the queue with the payload,
    the key, the schedule's own headers and then the daemon's two,
    pushstage-schedule: NAME and pushstage-tick: the time now in ms; job
    show sees its priority; a schedule's event is refused when the queue
    is full (exit 75, said)."""
    h.start_daemon()
    rc, out, err = sched(h, "add", "ping", "-q", "pings", "--cron", NEW_YEAR,
                         "--key", "k-1", "--priority", "9", "--header",
                         "x-a=1", "--header", "x-b=two", "hello there")
    assert rc == 0, err
    before = int(time.time() * 1000)
    rc, out, err = sched(h, "run-now", "ping")
    after = int(time.time() * 1000)
    m = re.fullmatch(r"enqueued 1 event: id (\d+)\n", out)
    assert rc == 0 and m, (rc, out, err)
    eid = int(m.group(1))
    rc, j = job(h, "pings", eid)
    assert rc == 0 and j["priority"] == 9 and j["key"] == "k-1", j
    w = consumer5(h, b"pings", 1)
    (i, attempt, key, headers, payload), = events5(w, 1)
    assert (i, attempt, key, payload) == (eid, 1, b"k-1", b"hello there"), \
        (i, attempt, key, payload)
    names = [n for n, _ in headers]
    assert names == ["x-a", "x-b", "pushstage-schedule", "pushstage-tick"], \
        headers
    hv = dict(headers)
    assert hv["x-a"] == b"1" and hv["x-b"] == b"two", headers
    assert hv["pushstage-schedule"] == b"ping", headers
    tick = int(hv["pushstage-tick"])
    assert before - 1000 <= tick <= after + 1000, (before, tick, after)
    w.close()
    # fired counts ticks, not run-now.
    assert show(h, "ping")["fired"] == 0

    # A full queue takes nothing: exit 75, said.
    assert h.pushctl("queue", "create", "full", "max-queue=1").returncode == 0
    assert h.pushctl("enqueue", "-q", "full", "x").returncode == 0
    rc, out, err = sched(h, "add", "f", "-q", "full", "--every", "1h")
    assert rc == 0, err
    rc, out, err = sched(h, "run-now", "f")
    assert rc == 75 and out == "" and \
        'schedule "f": queue full did not take the event' in err, \
        (rc, out, err)


def case_schedule_cli_task(h):
    """--task, --args and --kwargs make the schedule's event the task
    envelope enqueue --task makes: the same payload bytes, headers task
    and content-type first, then --header's, then the daemon's two."""
    h.start_daemon()
    rc, out, err = sched(h, "add", "report", "-q", "tasks", "--every", "1h",
                         "--task", "reports.build", "--args", '[1, "two"]',
                         "--kwargs", '{"full": true}', "--header",
                         "x-who=cron")
    assert rc == 0, err
    s = show(h, "report")
    assert s["headers"] == {"task": "reports.build",
                            "content-type": "application/json",
                            "x-who": "cron"}, s
    rc, out, err = sched(h, "run-now", "report")
    assert rc == 0, err
    # The same task through enqueue, for its bytes.
    r = h.pushctl("enqueue", "-q", "tasks", "--task", "reports.build",
                  "--args", '[1, "two"]', "--kwargs", '{"full": true}',
                  "--header", "x-who=cron")
    assert r.returncode == 0, r
    w = consumer5(h, b"tasks", 2)
    scheduled, enqueued = events5(w, 2)
    assert scheduled[4] == enqueued[4] == \
        b'{"args":[1, "two"],"kwargs":{"full": true}}', (scheduled, enqueued)
    assert scheduled[3][:3] == enqueued[3], (scheduled[3], enqueued[3])
    assert [n for n, _ in scheduled[3][3:]] == ["pushstage-schedule",
                                                "pushstage-tick"], scheduled
    w.close()
    # No --args or --kwargs: [] and {}.
    rc, out, err = sched(h, "add", "noop", "-q", "tasks", "--every", "1h",
                         "--task", "noop")
    assert rc == 0, err
    assert show(h, "noop")["payload"] == '{"args":[],"kwargs":{}}'


def case_schedule_cli_daemon_errors(h):
    """What only the daemon checks comes back in its words, exit 1: a bad
    cron field, an unknown zone, a duration out of range, a bad catch-up;
    an unknown name for every command is 'no such schedule'; a queue
    that may not be made (--no-auto-create) is ERROR 16's text.  Nothing
    refused is stored."""
    h.start_daemon("--no-auto-create", "--queue", "q")
    base = ["add", "x", "-q", "q"]
    for args, words in [
            (["--cron", "0 24 * * *"],
             "bad SCHEDULE: cron: cron field 2 (hour): 24 is out of range "
             "0-23"),
            (["--cron", "0 6 * * *", "--tz", "Mars/Olympus"],
             'bad SCHEDULE: tz: unknown time zone "Mars/Olympus"'),
            (["--every", "0s"],
             "bad SCHEDULE: every \"0s\": a duration of 0"),
            (["--every", "3651d"],
             "bad SCHEDULE: every \"3651d\": longer than"),
            (["--every", "1m", "--catch-up", "some"],
             'bad SCHEDULE: catch-up: "some" is not none, last or all'),
            (["--every", "1m", "--header", "pushstage-x=1"],
             'header "pushstage-x"')]:
        rc, out, err = sched(h, *(base + args))
        assert rc == 1 and words in err and "(error 5)" in err and \
            out == "", (args, rc, out, err)
    rc, out, err = sched(h, "add", "x", "-q", "nope", "--every", "1m")
    assert rc == 1 and "no queue nope" in err and "(error 16)" in err, \
        (rc, err)
    for verb in ("show", "pause", "resume", "remove", "run-now"):
        refused(h, [verb, "ghost"], 'schedule "ghost": no such schedule')
    assert listed(h) == []


def case_schedule_cli_every_fires(h):
    """--every 1s fires: the schedule's fired count and last tick grow
    (waited for, not slept for), each event arrives with its tick, a
    multiple of the interval, and list shows the tick as LAST."""
    h.start_daemon()
    rc, out, err = sched(h, "add", "tick", "-q", "ticks", "--every", "1s",
                         "tock")
    assert rc == 0, err
    h.wait_for(lambda: show(h, "tick")["fired"] >= 2, what="two ticks")
    s = show(h, "tick")
    assert s["last"] is not None and s["last-id"] >= 1, s
    w = consumer5(h, b"ticks", 2)
    got = events5(w, 2)
    ticks = []
    for i, _, _, headers, payload in got:
        hv = dict(headers)
        assert payload == b"tock" and hv["pushstage-schedule"] == b"tick", \
            headers
        ticks.append(int(hv["pushstage-tick"]))
    assert all(t % 1000 == 0 for t in ticks) and ticks[1] > ticks[0], ticks
    w.close()
    rc, out, err = sched(h, "pause", "tick")
    assert rc == 0, err
    s = show(h, "tick")
    rc, out, err = sched(h, "list")
    row = out.splitlines()[1].split()
    assert row[0] == "tick" and row[5] == iso_text(s["last"]) and \
        row[6] == str(s["fired"]) and row[8] == "yes", (row, s)


def iso_text(t):
    return t if t is not None else "-"


def case_schedule_cli_list_pages(h):
    """More schedules than one SCHEDULE_REPLY holds (a 4 KiB frame
    limit): list and list --json page through them from start until
    total, each once, in the order added."""
    h.start_daemon("--max-frame", "4096")
    names = ["s%03d-%s" % (i, "x" * 50) for i in range(120)]
    for n in names:
        rc, out, err = sched(h, "add", n, "-q", "q", "--cron", NEW_YEAR,
                             "p" * 40)
        assert rc == 0, (n, err)
    assert [s["name"] for s in listed(h)] == names
    rc, out, err = sched(h, "list")
    assert rc == 0, err
    assert [line.split()[0] for line in out.splitlines()[1:]] == names


# A fake daemon, for the frames pushctl sends and what it makes of
# answers no real daemon gives on demand.

class Fake:
    """A version 5 daemon on a Unix socket: WELCOME to each HELLO, then
    answer(type, body) for each frame, whose bytes are sent back."""

    def __init__(self, path, answer):
        self.seen = []
        self.answer = answer
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            with conn:
                try:
                    t, body = read_frame(conn)
                    assert t == HELLO and body[:2] == b"\x00\x05", body
                    conn.sendall(frame(WELCOME, struct.pack(
                        ">HHIIHBB", 5, 0, 1 << 20, 0, 5, 1, 0)))
                    while True:
                        t, body = read_frame(conn)
                        if t is None:
                            break
                        self.seen.append((t, body))
                        conn.sendall(self.answer(t, body))
                except OSError:
                    pass

    def close(self):
        self.srv.close()


def kvs(*texts):
    out = struct.pack(">H", len(texts))
    for t in texts:
        out += struct.pack(">H", len(t)) + t.encode()
    return out


def entry(name, queue, fields, attrs=b"", data=b""):
    return (bytes([len(name)]) + name.encode() + bytes([len(queue)]) +
            queue.encode() + kvs(*fields) +
            struct.pack(">IH", len(data), len(attrs)) + attrs + data)


def reply(total, *entries):
    return frame(SCHEDULE_REPLY, struct.pack(">II", total, len(entries)) +
                 b"".join(entries))


def error(code, text):
    return frame(ERROR, struct.pack(">H", code) + text.encode())


def head(op, name="", start=0, flags=0):
    return bytes([op, flags, len(name)]) + name.encode() + \
        struct.pack(">I", start)


FIELDS = ["cron=0 6 * * *", "tz=Europe/Berlin", "catch-up=all",
          "unique=yes", "paused=yes", "created=1796720000123", "last=0",
          "last-id=0", "fired=0", "skipped=0",
          "next=1796706000000,1796792400000", "new-field=kept"]


def case_schedule_cli_fake_daemon(h):
    """The SCHEDULE frames pushctl sends, byte for byte as protocol.md
    lays them out (ADD: flags, settings in order, the attribute block:
    KEY, PRIORITY, then HEADERs; payload), and what it makes of answers:
    a list paged by start until total, fields it does not know shown as
    given, run-now's enqueued 0 (exit 75), ERROR 20 and 21 in pushctl's
    words, another ERROR in the daemon's, and a reply cut short."""
    path = os.path.join(h.dir, "fake.sock")
    rows = [entry("a", "q1", ["every=1m", "fired=3", "skipped=1",
                              "last=1796705940000", "paused=no",
                              "next=1796706000000"]),
            entry("b", "q2", FIELDS, attr(1, b"k") + header("h", "v"), b"pl"),
            entry("c", "q3", ["every=5s", "next="])]

    def answer(t, body):
        assert t == SCHEDULE, t
        op, name = body[0], body[3:3 + body[2]].decode()
        if name == "ghost":
            return error(E_NO_SCHEDULE, "no schedule ghost")
        if name == "twin":
            return error(E_EXISTS, "schedule twin is defined otherwise")
        if name == "bad":
            return error(E_BAD_VALUE, "bad SCHEDULE: cron: it is wrong")
        if name == "short":
            return reply(1)
        if op == ADD:
            return reply(1, entry(name, "reports", FIELDS))
        if op == LIST and name == "":
            start = struct.unpack(">I", body[3:7])[0]
            return reply(3, rows[start])          # one a frame
        if op == RUN_NOW:
            return reply(1, entry(name, "q", ["every=1m", "enqueued=" + (
                "42" if name == "go" else "0")]))
        return reply(1, rows[1])

    f = Fake(path, answer)
    h.sock = path
    rc, out, err = sched(h, "add", "nightly", "-q", "reports", "--cron",
                         "0 6 * * *", "--tz", "Europe/Berlin", "--catch-up",
                         "all", "--unique", "--paused", "--replace", "--key",
                         "user-1", "--priority", "7", "--header", "x-a=1",
                         "payload")
    assert rc == 0, err
    assert out == "schedule nightly: 0 6 * * * (Europe/Berlin), to queue " \
        "reports; paused, next tick 2026-12-08T05:00:00Z\n", out
    want = (head(ADD, "nightly", flags=1) + bytes([7]) + b"reports" +
            kvs("cron=0 6 * * *", "tz=Europe/Berlin", "catch-up=all",
                "unique=yes", "paused=yes") +
            struct.pack(">I", 7) +
            struct.pack(">H", len(attr(1, b"user-1") + attr(4, b"\x00\x07") +
                                  header("x-a", "1"))) +
            attr(1, b"user-1") + attr(4, b"\x00\x07") + header("x-a", "1") +
            b"payload")
    assert f.seen[-1] == (SCHEDULE, want), (f.seen[-1][1].hex(" "),
                                            want.hex(" "))
    # No event options, no payload: an empty block and payload.
    rc, out, err = sched(h, "add", "plain", "-q", "reports", "--every", "1m")
    assert rc == 0, err
    assert f.seen[-1][1] == head(ADD, "plain") + bytes([7]) + b"reports" + \
        kvs("every=1m") + struct.pack(">IH", 0, 0), f.seen[-1][1].hex(" ")

    # Each op but ADD: the head alone.
    for verb, op in (("show", LIST), ("pause", PAUSE), ("resume", RESUME),
                     ("remove", REMOVE)):
        n = len(f.seen)
        rc, out, err = sched(h, verb, "b")
        assert rc == 0, (verb, err)
        assert f.seen[n:] == [(SCHEDULE, head(op, "b"))], (verb, f.seen[n:])
    rc, out, err = sched(h, "show", "b")
    assert "  new-field    kept" in out.splitlines(), out
    assert "  next         2026-12-08T05:00:00Z" in out.splitlines(), out
    assert "               2026-12-09T05:00:00Z" in out.splitlines(), out
    assert "  created      2026-12-08T08:53:20.123Z" in out.splitlines(), out
    s = show(h, "b")
    assert s["new-field"] == "kept" and s["key"] == "k" and \
        s["headers"] == {"h": "v"} and s["payload"] == "pl", s
    assert s["next"] == ["2026-12-08T05:00:00Z", "2026-12-09T05:00:00Z"], s
    assert s["created"] == "2026-12-08T08:53:20.123Z", s

    # The list: LIST of all from 0, then from 1 and 2, until total.
    n = len(f.seen)
    rc, out, err = sched(h, "list")
    assert rc == 0, err
    assert f.seen[n:] == [(SCHEDULE, head(LIST, start=i)) for i in range(3)], \
        f.seen[n:]
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["NAME", "a", "b", "c"], out
    assert lines[1].split() == ["a", "q1", "every", "1m",
                                "2026-12-08T05:00:00Z",
                                "2026-12-08T04:59:00Z", "3", "1", "no"], lines
    assert lines[3].split() == ["c", "q3", "every", "5s", "-", "-", "0", "0",
                                "no"], lines
    assert [s["name"] for s in listed(h)] == ["a", "b", "c"]
    assert listed(h)[2]["next"] == []

    rc, out, err = sched(h, "run-now", "go")
    assert (rc, out) == (0, "enqueued 1 event: id 42\n"), (rc, out, err)
    rc, out, err = sched(h, "run-now", "stop")
    assert rc == 75 and 'schedule "stop": queue q did not take the event' \
        in err, (rc, out, err)
    refused(h, ["pause", "ghost"], 'schedule "ghost": no such schedule')
    refused(h, ["add", "twin", "-q", "q", "--every", "1m"],
            'schedule "twin" exists, defined otherwise')
    refused(h, ["show", "bad"], "bad SCHEDULE: cron: it is wrong (error 5)")
    refused(h, ["show", "short"], "answered SCHEDULE with 0 schedules, not 1")
    f.close()


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
