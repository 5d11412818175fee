#!/usr/bin/env python3
"""cli_cases.py CASE: pushctl as a new user meets it, beside
integration.py's cases and with its harness: dead letters looked for in
the wrong queue, queue create refused or repeated, global options after
the command, the advice on a shared runtime directory, and queue set's
keys as producerd's flags."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from integration import *  # noqa: E402,F401,F403
import integration  # noqa: E402
from integration import (NATS_SERVER, PRODUCERD, PUSHCTL,  # noqa: E402
                         built_with_cluster)

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def queue_names(h):
    r = h.pushctl("queues", "--json")
    assert r.returncode == 0, r.stderr
    return [json.loads(line)["name"] for line in r.stdout.splitlines()]


def case_dead_list_names_queues(h):
    """dead list of a queue never used (default, without -q) says which
    queues have dead letters, from the daemon's QUEUES list; so does one
    of a queue with none."""
    h.start_daemon("--max-attempts", "1")
    r = h.pushctl("dead", "list")
    assert r.returncode == 1 and b"no queue default" in r.stderr, r
    assert b"no queue has dead letters" in r.stderr, r
    assert h.pushctl("enqueue", "-q", "mail", "a", "b", "c").returncode == 0
    h.consumer("m", "--queue", "mail", "--exec", "false")
    h.wait_for(lambda: h.stats_of("mail")["dead"] == 3,
               what="three dead letters in mail")
    r = h.pushctl("dead", "list")
    assert r.returncode == 1, r
    assert b"no queue default" in r.stderr and b"mail (3)" in r.stderr, r
    assert b"-q QUEUE" in r.stderr, r
    r = h.pushctl("dead", "list", "-q", "nope")
    assert r.returncode == 1 and b"mail (3)" in r.stderr, r
    # The queue exists and has none: the same hint, beside the answer.
    assert h.pushctl("enqueue", "x").returncode == 0
    r = h.pushctl("dead", "list")
    assert r.returncode == 0 and r.stdout == b"no dead events\n", r
    assert b"mail (3)" in r.stderr, r
    r = h.pushctl("dead", "list", "-q", "mail")
    assert r.returncode == 0 and r.stdout.count(b"nack") == 3, r
    assert r.stderr == b"", r


def case_queue_create_refused_makes_nothing(h):
    """A CREATE or SET refused for a bad setting makes no queue; create of
    a queue that exists says so, exit 0, and sets what it is given."""
    h.start_daemon()
    before = h.stats()["queues_created_total"]
    r = h.pushctl("queue", "create", "foo", "dispatch=bogus")
    assert r.returncode == 1 and b"bogus" in r.stderr, r
    r = h.pushctl("queue", "create", "foo", "max-queue=5", "ack-timeout=x")
    assert r.returncode == 1 and b"ack-timeout" in r.stderr, r
    r = h.pushctl("queue", "set", "bar", "overflow=sometimes")
    assert r.returncode == 1 and b"overflow" in r.stderr, r
    # Settings good alone and bad together (key needs at-least-once).
    r = h.pushctl("queue", "create", "baz", "dispatch=key",
                  "delivery=at-most-once")
    assert r.returncode == 1, r
    names = queue_names(h)
    assert "foo" not in names and "bar" not in names and \
        "baz" not in names, names
    assert h.stats()["queues_created_total"] == before
    r = h.pushctl("queue", "create", "foo")
    assert r.returncode == 0 and r.stdout == b"queue foo created\n", r
    r = h.pushctl("queue", "create", "foo")
    assert r.returncode == 0 and \
        r.stdout == b"queue foo exists already\n", r
    r = h.pushctl("queue", "create", "foo", "max-queue=5")
    assert r.returncode == 0 and \
        r.stdout == b"queue foo exists already; its settings set\n", r
    assert h.stats_of("foo")["max_queue"] == 5
    assert h.stats()["queues_created_total"] == before + 1


def case_global_options_after_the_command(h):
    """--socket, -s, --log-level and --log-format go before the command or
    after it; enqueue's events end its options, as they always did."""
    h.start_daemon()

    def run(*args):
        return subprocess.run([PUSHCTL] + list(args), capture_output=True,
                              timeout=60)
    for args in (["stats", "--socket", h.sock, "--json"],
                 ["stats", "--json", "-s", h.sock],
                 ["stats", "-s" + h.sock, "--json"],
                 ["stats", "--socket=" + h.sock, "--json"],
                 ["--socket", "/nowhere/ps.sock", "stats", "--socket",
                  h.sock, "--json"],
                 ["queues", "--log-level", "error", "--socket", h.sock]):
        r = run(*args)
        assert r.returncode == 0, (args, r)
    assert json.loads(run("stats", "--socket", h.sock, "--json").stdout)
    r = run("queues", "--socket", os.path.join(h.dir, "none.sock"),
            "--log-format", "json")
    assert r.returncode == 69, r
    assert json.loads(r.stderr.splitlines()[0])["level"] == "error", r
    r = run("stats", "--socket")
    assert r.returncode == 1 and b"--socket" in r.stderr, r
    # A verb's option value is never taken for a global option.
    r = run("enqueue", "--key", "-s", "--socket", h.sock, "-q", "k", "ev")
    assert r.returncode == 0, r
    st = h.stats_of("k")
    assert st["enqueued_total"] == 1, st
    # After enqueue's first event, everything is an event.
    r = run("enqueue", "--socket", h.sock, "one", "--socket", "two")
    assert r.returncode == 0 and b"3 events" in r.stdout, r
    for verb in (["dead", "list"], ["consumers"], ["queue", "purge", "k"]):
        r = run(*(verb + ["--socket", h.sock]))
        assert r.returncode == 0, (verb, r)
    r = run("--help")
    assert b"before or after the command" in r.stdout, r


def case_shared_runtime_dir_advice(h):
    """A default socket in a shared directory (sticky or open to all, such
    as /tmp as XDG_RUNTIME_DIR) or one not the user's: never advice to
    change it, but PUSHSTAGE_SOCKET or --socket; a private directory of
    the user's, too open, is still told chmod 700."""
    env = {k: v for k, v in os.environ.items() if k != "PUSHSTAGE_SOCKET"}
    shared = os.path.join(h.dir, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    mine = os.path.join(h.dir, "mine")
    os.mkdir(mine)
    os.chmod(mine, 0o750)
    dirs = [("/tmp", False), (shared, False), (mine, True)]
    if os.getuid() == 0:
        other = os.path.join(h.dir, "other")
        os.mkdir(other, 0o700)
        os.chown(other, 65534, 65534)
        dirs.append((other, False))
    for d, chmod in dirs:
        e = dict(env, XDG_RUNTIME_DIR=d)
        for argv in ([PUSHCTL, "stats"], [PRODUCERD]):
            r = subprocess.run(argv, capture_output=True, env=e, timeout=60)
            err = r.stderr.decode()
            assert r.returncode != 0, (argv, d, r)
            assert d in err and "PUSHSTAGE_SOCKET" in err and \
                "--socket" in err, (argv, d, err)
            assert ("chmod 700 " + d in err) == chmod, (argv, d, err)
            assert "remove it" not in err, (argv, d, err)
        if d != mine:
            assert "chmod" not in err, (d, err)


def demo_tree(h):
    """A tree to run scripts/*demo.sh in: the scripts, deps.sh that
    installs nothing, and build/ the build these tests run from."""
    tree = os.path.join(h.dir, "tree")
    os.makedirs(os.path.join(tree, "scripts"))
    for name in ("demo.sh", "cluster-demo.sh"):
        shutil.copy(os.path.join(SRC, "scripts", name),
                    os.path.join(tree, "scripts", name))
    with open(os.path.join(tree, "scripts", "deps.sh"), "w") as f:
        f.write("exit 0\n")
    os.symlink(os.path.dirname(os.path.dirname(PRODUCERD)),
               os.path.join(tree, "build"))
    return tree


def case_demo_says_what_it_does(h):
    """scripts/demo.sh says what it does before it builds, and before it
    starts the programs; then the demo, whole."""
    tree = demo_tree(h)
    r = subprocess.run(["sh", os.path.join(tree, "scripts", "demo.sh")],
                       capture_output=True, timeout=110,
                       env=dict(os.environ, TMPDIR=h.dir))
    assert r.returncode == 0, r
    err = r.stderr.decode().splitlines()
    assert err and err[0].startswith("demo: checking"), err
    assert "demo: starting producerd and three consumers" in err, err
    assert b"$ pushctl stats" in r.stdout and b"acked_total" in r.stdout, r


def case_cluster_demo_prints_a_cluster(h):
    """The nats-server lines scripts/cluster-demo.sh prints are the ones it
    runs: copied and run again, they make one cluster (each node routes
    to the other two)."""
    if not built_with_cluster() or shutil.which(NATS_SERVER) is None:
        print("skip: needs producerd --cluster and nats-server")
        sys.exit(77)
    tree = demo_tree(h)
    r = subprocess.run(["sh", os.path.join(tree, "scripts",
                                           "cluster-demo.sh")],
                       capture_output=True, timeout=110,
                       env=dict(os.environ, TMPDIR=h.dir))
    assert r.returncode == 0, r
    lines = [shlex.split(line[2:-2]) for line in r.stdout.decode()
             .splitlines() if line.startswith("$ nats-server ")]
    assert len(lines) == 3, r.stdout
    routes = set()
    for argv in lines:
        assert "-routes" in argv and "-cluster" in argv, argv
        routes.add(argv[argv.index("-routes") + 1])
        assert argv[argv.index("-cluster") + 1] in \
            argv[argv.index("-routes") + 1].split(","), argv
    assert len(routes) == 1, routes
    # As a reader would: the three commands, copied.  Their ports were
    # free a moment ago; another process may have one now, which the
    # wait below would then say.
    logs = []
    for i, argv in enumerate(lines):
        argv[0] = NATS_SERVER
        log = os.path.join(h.dir, "copied-%d.log" % i)
        h.spawn(argv, out=log, merge=True)
        logs.append(log)

    def routed(log):
        with open(log, errors="replace") as f:
            return f.read().count("Route connection created") >= 2
    h.wait_for(lambda: all(routed(log) for log in logs),
               what="each copied node to route to the other two")


def case_queue_settings_are_flags(h):
    """Every key pushctl queue set takes is a producerd flag of the same
    name, parsed by the same code (the same message for a bad value) and
    listed in --help among the per-queue defaults; paused alone is not,
    being pushctl queue pause and resume's."""
    h.start_daemon()
    r = h.pushctl("queue", "set", "default", "no-such-key=1")
    m = re.search(r'"no-such-key" is not a queue setting \(([^)]*)\)',
                  r.stderr.decode())
    assert r.returncode == 1 and m, r
    keys = m.group(1).split(", ")
    assert "max-queue" in keys and "paused" in keys, keys
    usage = subprocess.run([PRODUCERD, "--help"], capture_output=True,
                           timeout=20).stdout.decode()
    defaults = usage[usage.index("Each queue's buffer, delivery"):
                     usage.index("Connections and access:")]
    flags = set(re.findall(r"^  --([a-z0-9-]+)", defaults, re.M))
    for key in keys:
        if key == "paused":
            assert "--paused" not in usage, usage
            continue
        assert key in flags, (key, sorted(flags))
        r = subprocess.run([PRODUCERD, "--socket", os.path.join(h.dir, "x"),
                            "--" + key, "?"], capture_output=True, timeout=20)
        said = r.stderr.decode().replace('\\"', '"')
        q = h.pushctl("queue", "set", "default", key + "=?")
        want = re.search(r"queue default: (.*) \(error 5\)",
                         q.stderr.decode()).group(1)
        assert r.returncode == 1 and "--" + want in said, (key, said, want)


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
