#!/usr/bin/env python3
"""limits_cases.py: what producerd refuses, and the bounds it keeps, as a
user meets them: limits that hold when a waiting batch is taken again, a
refused HELLO that leaves nothing behind, the daemon-wide memory cap, one
message for a bad name at every door.

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


def case_memory_cap_across_queues(h):
    """--max-memory bounds what every queue together holds: a queue's own
    limits allow far more, yet a second queue's ENQUEUE past the cap is
    refused (exit 75); memory let go in one queue lets a client waiting
    under block in another go on; stats say both numbers."""
    h.start_daemon("--max-memory", "1000000")
    st = h.stats()
    assert st["max_memory"] == 1000000 and st["memory_bytes"] == 0, st
    big = b"".join(b"a%d-" % i + b"x" * 100000 + b"\n" for i in range(6))
    r = h.pushctl("enqueue", "-q", "a", "-", input=big)
    assert r.returncode == 0, r
    held = h.stats()["memory_bytes"]
    assert 600000 <= held <= 1000000, held
    r = h.pushctl("enqueue", "-q", "b", "-", input=big.replace(b"a", b"b"))
    assert r.returncode == 75 and b"refused" in r.stderr, r
    st = h.stats()
    assert st["memory_bytes"] <= 1000000, st
    assert h.stats_of("b")["enqueued_total"] < 6, h.stats_of("b")
    # Under block, c waits for memory that a's consumer lets go.
    assert h.pushctl("queue", "create", "c", "overflow=block").returncode == 0
    src = os.path.join(h.dir, "c.in")
    with open(src, "wb") as f:
        f.write(big.replace(b"a", b"c"))
    p = subprocess.Popen([PUSHCTL, "--socket", h.sock, "enqueue", "-q", "c",
                          "-"], stdin=open(src, "rb"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    h.wait_for(lambda: h.stats()["blocked_clients"] == 1,
               what="the client of c to wait for memory")
    h.consumer("ka", "--queue", "a", "--max-demand", "10")
    h.consumer("kb", "--queue", "b", "--max-demand", "10")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and b"enqueued 6 events" in out, (out, err)
    assert h.stats_of("c")["enqueued_total"] == 6
    assert h.stats()["memory_bytes"] <= 1000000


def case_memory_cap_follows_the_cgroup(h):
    """Without --max-memory the cap is half the smaller of physical memory
    and the cgroup's limit: started in a memory cgroup of 256 MiB (v1, as
    this machine has; made and removed by the test), 128 MiB."""
    line = [x for x in open("/proc/self/cgroup").read().splitlines()
            if ":memory:" in x]
    base = "/sys/fs/cgroup/memory" + (line[0].split(":", 2)[2] if line else "")
    if not line or not os.access(base, os.W_OK):
        print("no writable cgroup v1 memory hierarchy here: checked the "
              "physical-memory default only")
        h.start_daemon()
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        assert h.stats()["max_memory"] <= pages // 2
        return
    cg = os.path.join(base, "pushstage-" + os.path.basename(h.dir))
    os.mkdir(cg)
    try:
        with open(os.path.join(cg, "memory.limit_in_bytes"), "w") as f:
            f.write(str(256 << 20))

        def join():
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        errlog = open(os.path.join(h.dir, "producerd.log"), "ab")
        d = subprocess.Popen([PRODUCERD, "--socket", h.sock], stderr=errlog,
                             preexec_fn=join)
        h.procs.append(d)
        h.wait_for(h.connectable, what="producerd to listen")
        assert h.stats()["max_memory"] == 128 << 20, h.stats()["max_memory"]
        d.send_signal(signal.SIGTERM)
        assert d.wait(timeout=30) == 0
    finally:
        os.rmdir(cg)


NAME_RULE = "1 to 64 bytes of A-Z a-z 0-9 . _ : -"


def refusal(what, name):
    """The one message every door gives a bad name (a long one is quoted
    to its first 80 bytes)."""
    return '%s name "%s" is not %s' % (what, name[:80], NAME_RULE)


def logged(r):
    """A process's log on stderr, its messages' quotes unescaped."""
    return r.stderr.decode(errors="replace").replace('\\"', '"')


def case_refused_names_one_message(h):
    """Every door that refuses a queue or group name says so in the same
    words: the flags, DIR/queues, the wire's frames and the HTTP API
    (they were written eleven times, with two lengths of name quoted)."""
    long_name = "x" * 100
    for flag, name in (("--queue", "a b"), ("--queue", long_name),
                       ("--upstream-queue", "a!b"), ("--local-queue", "é")):
        r = subprocess.run([PRODUCERD, "--socket", os.path.join(h.dir, "x.sock"),
                            "--upstream", os.path.join(h.dir, "up.sock"),
                            flag, name], capture_output=True, timeout=20)
        want = "%s: %s" % (flag, refusal("queue", name))
        assert r.returncode == 1 and want in logged(r), (flag, r)
    data = os.path.join(h.dir, "data")
    os.mkdir(data)
    with open(os.path.join(data, "queues"), "w") as f:
        f.write("ok max-queue=5\nno:way! max-queue=5\n")
    r = subprocess.run([PRODUCERD, "--socket", os.path.join(h.dir, "y.sock"),
                        "--data-dir", data], capture_output=True, timeout=20)
    want = "queues:2: " + refusal("queue", "no:way!")
    assert r.returncode == 1 and want in logged(r), r

    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port)
    client, bad, bad_b = hello3(CLIENT_ROLE), "bad name", b"bad name"
    qname = lambda n: bytes([len(n)]) + n  # noqa: E731
    doors = [
        ("ENQUEUE", client + enqueue3(bad_b, b"x"), "", "queue"),
        ("STATS", client + frame(STATS, qname(bad_b)), "", "queue"),
        ("STATS of a group", client + frame(STATS, qname(b"q/" + bad_b)),
         "", "group"),
        ("DEAD_LIST", client + frame(DEAD_LIST, qname(bad_b) +
                                     struct.pack(">I", 0)), "DEAD_LIST: ",
         "queue"),
        ("DEAD_LIST of a group", client + frame(
            DEAD_LIST, qname(b"q/" + bad_b) + struct.pack(">I", 0)),
         "DEAD_LIST: ", "group"),
        ("a consumer's HELLO", hello3(CONSUMER_ROLE, bad_b, 1, 0, b"w"), "",
         "queue"),
        ("a group consumer's HELLO", hello3(CONSUMER_ROLE, b"q/" + bad_b, 1,
                                            0, b"w"), "", "group"),
    ]
    for op, path, what in ((1, bad_b, "queue"), (2, bad_b, "queue"),
                           (3, bad_b, "queue"), (5, b"q/" + bad_b, "group")):
        doors.append(("QUEUE_ADMIN op %d" % op, client + frame(
            QUEUE_ADMIN, bytes([op, 0]) + qname(path) + b"\0\0"), "", what))
    for door, frames, prefix, what in doors:
        r = Raw(h.sock, version=3)
        r.send(frames)
        got = r.recv()
        while got is not None and got[0] == WELCOME:
            got = r.recv()
        assert got is not None and got[0] == ERROR, (door, got)
        code, msg = struct.unpack(">H", got[1][:2])[0], got[1][2:].decode()
        r.close()
        assert code == E_BAD_VALUE, (door, code, msg)
        assert msg.endswith(refusal(what, bad)), (door, msg)
        assert msg.startswith(prefix), (door, msg)
    assert h.pushctl("enqueue", "-q", "q", "x").returncode == 0
    for path, what, name in (("/api/v1/queues/%s/dead" % long_name, "queue",
                              long_name),
                             ("/api/v1/queues/q/dead?group=no!", "group",
                              "no!"),
                             ("/api/v1/queues/q/dead?group=" + long_name, "group",
                              long_name)):
        st, _, err = http_call(port, "GET", path)
        assert st == 400 and err["error"] == refusal(what, name), (path, err)


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
