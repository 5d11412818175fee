#!/usr/bin/env python3
"""cluster_cases.py: producerd --cluster against what a hostile or hurried
client sends: attributes a cluster does not serve, in every place of a
batch and from every client; a client that pipelines far ahead while
JetStream does not answer.  Each case starts its own nats-server.

usage: cluster_cases.py CASE   (as integration.py, whose harness it uses)
"""

import threading

import integration
from integration import *  # noqa: F401,F403

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "clients", "python"))
import pushstage  # noqa: E402


def priority_attr(p):
    return bytes([4, 2]) + struct.pack(">H", p)


def not_before_attr(ms):
    return bytes([3, 8]) + struct.pack(">Q", ms)


def cluster_host(h):
    """A nats-server and one producerd --cluster linked to it, or None when
    producerd was built without libnats."""
    if not built_with_cluster():
        return None
    nats, url = start_nats(h)
    h.start_daemon("--cluster", url)
    h.wait_for(lambda: cluster_stat(h, h.sock, "cluster_connected") == 1,
               what="the link to NATS")
    return nats, url


def case_cluster_refuses_unserved_attributes(h):
    """PRIORITY, DELAY and NOT_BEFORE, which a cluster does not serve, are
    refused with ERROR 5 naming the attribute, whole batch and nothing
    published, wherever in the batch they stand; the host lives on (one
    PRIORITY once made it answer, read the same frame again, and die of a
    stack overflow).  pushctl and the Python client say so too."""
    if cluster_host(h) is None:
        return
    attrs = {"PRIORITY": priority_attr(0), "DELAY": delay_attr(5000),
             "NOT_BEFORE": not_before_attr(int(time.time() * 1000) + 60000)}
    for name, attr in attrs.items():
        for where in range(3):
            events = [(b"e%d" % i, attr if i == where else b"") for i in range(3)]
            c = Raw(h.sock, version=3)
            c.send(hello3(CLIENT_ROLE))
            c.expect(WELCOME)
            # Pipelined behind it: a good batch, never taken.
            c.send(attr_enqueue3(b"default", *events) + enqueue3(b"default", b"ok"))
            why = c.expect_error(E_BAD_VALUE)
            assert "takes no " + name in why and "refused whole" in why, why
            c.close()
    assert h.daemon.poll() is None, "producerd died"
    assert cluster_stat(h, h.sock, "cluster_published_total") == 0
    for args, name in ((["--priority", "0"], b"PRIORITY"),
                       (["--delay", "5s"], b"DELAY"),
                       (["--at", "2030-01-01T00:00:00Z"], b"NOT_BEFORE")):
        r = h.pushctl("enqueue", *args, "a", "b")
        assert r.returncode == 1 and b"takes no " + name in r.stderr, r
    py = pushstage.Client(h.sock)
    for kw in ({"priority": 0}, {"delay": 5}):
        try:
            py.enqueue("default", [b"a", b"b", b"c"], **kw)
        except pushstage.Refused as e:
            assert e.code == E_BAD_VALUE and "takes no" in str(e), e
        else:
            raise AssertionError("%s was taken by a cluster" % kw)
    msgs = [pushstage.Message(b"a"), pushstage.Message(b"b"),
            pushstage.Message(b"c", priority=1)]
    try:
        py.enqueue("default", msgs)
    except pushstage.Refused as e:
        assert "PRIORITY" in str(e), e
    else:
        raise AssertionError("a last event's PRIORITY was taken by a cluster")
    py.close()
    # Still serving: a plain batch is stored.
    r = h.pushctl("enqueue", "a", "b")
    assert r.returncode == 0 and r.stdout == b"enqueued 2 events\n", r
    assert h.daemon.poll() is None


def case_cluster_unserved_settings(h):
    """max-queue, max-queue-bytes and overflow are not applied to what
    JetStream keeps: refused at start and by `queue set`, named, rather than
    taken and ignored."""
    if not built_with_cluster():
        return
    _, url = start_nats(h)
    for flag, value in (("--max-queue", "100"), ("--max-queue-bytes", "1000"),
                        ("--overflow", "block")):
        r = subprocess.run([PRODUCERD, "--socket", h.sock + "x", "--cluster",
                            url, flag, value], capture_output=True, timeout=30)
        assert r.returncode == 1 and b"not served in a cluster" in r.stderr, r
        assert b"max-queue, max-queue-bytes or overflow" in r.stderr, r
    h.start_daemon("--cluster", url)
    for kv in ("max-queue=5", "overflow=drop-oldest", "max-queue-bytes=9"):
        r = h.pushctl("queue", "set", "default", kv)
        assert r.returncode == 1 and b"not served in a cluster" in r.stderr, r
    r = h.pushctl("queue", "set", "default", "max-attempts=3")
    assert r.returncode == 0, r


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def case_cluster_held_client_is_not_read(h):
    """While JetStream does not answer (its server stopped), a client
    pipelining 300 MB of ENQUEUEs is not read past its 16 ENQUEUEs at
    JetStream: the daemon's memory stays under 64 MB (it read and kept
    everything: 300 MB)."""
    host = cluster_host(h)
    if host is None:
        return
    nats, _ = host
    c = Raw(h.sock, version=3)
    c.send(hello3(CLIENT_ROLE))
    c.expect(WELCOME)
    c.send(enqueue3(b"big", b"first"))          # the stream made, and used
    c.expect(ENQUEUED)
    base = rss_bytes(h.daemon.pid)
    frame_ = enqueue3(b"big", b"x" * (1000 * 1000))
    sent = [0]
    done = threading.Event()

    def writer():
        try:
            c.s.settimeout(None)
            for _ in range(300):
                c.s.sendall(frame_)
                sent[0] += len(frame_)
        except OSError:
            pass
        done.set()

    nats.send_signal(signal.SIGSTOP)
    try:
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        # Until the writer has sent it all, or the daemon stopped reading it
        # (no progress for a second); the daemon's memory all the while.
        peak, last, still = 0, -1, 0
        while not done.is_set() and still < 20:
            peak = max(peak, rss_bytes(h.daemon.pid))
            still = still + 1 if sent[0] == last else 0
            last = sent[0]
            time.sleep(0.05)
        peak = max(peak, rss_bytes(h.daemon.pid))
        assert not done.is_set(), "all 300 MB were read while JetStream slept"
        # AddressSanitizer keeps what is freed in quarantine, and its
        # shadow: the bound is for a plain build, a looser one under it.
        bound = (160 if "ASAN_OPTIONS" in os.environ else 64) << 20
        print("producerd grew %.1f MB for the held client; %d MB sent" % ((peak - base) / 1048576, sent[0] >> 20))
        assert peak - base < bound, (
            "producerd grew %d MB for a held client" % ((peak - base) >> 20))
        assert sent[0] < 100 << 20, sent[0]
    finally:
        nats.send_signal(signal.SIGCONT)
    c.s.shutdown(socket.SHUT_RDWR)
    c.close()
    t.join(timeout=30)
    # Still serving others.
    assert h.stats()["cluster_connected"] in (0, 1)
    assert h.daemon.poll() is None


def case_cluster_batch_failure_said_once(h):
    """A batch JetStream does not store (its stream gone: a 503 for every
    event) is answered with every event refused and said in one log line,
    not one per event (6,000 identical lines in 1 ms, once)."""
    host = cluster_host(h)
    if host is None:
        return
    _, url = host
    r = h.pushctl("enqueue", "-q", "gone", "first")
    assert r.returncode == 0, r
    reply = js_request(url, "$JS.API.STREAM.DELETE.PS_gone")
    assert reply.get("success"), reply
    r = h.pushctl("enqueue", "-q", "gone", "-", input=b"x\n" * 2000)
    assert r.returncode == 75 and b"refused 2000" in r.stderr, r
    with open(os.path.join(h.dir, "producerd.log")) as f:
        said = [line for line in f if "not stored" in line]
    assert len(said) == 1, said[:5]
    assert "2000 of a batch of 2000 events not stored" in said[0], said


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
