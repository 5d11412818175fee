#!/usr/bin/env python3
"""bench_cases.py CASE: pushbench's own options and figures, beside
integration.py's cases and with its harness: --window's list of depths,
a row for each, and the servers' CPU, user and system, with their page
faults.  Quick counts only: no timing is asserted."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from integration import *  # noqa: E402,F401,F403
import integration  # noqa: E402
from integration import PUSHBENCH  # noqa: E402


def bench(*args, timeout=120):
    """pushbench's JSON rows, and its exit status and errors."""
    r = subprocess.run([PUSHBENCH, "--quick", "--json"] + list(args),
                       capture_output=True, timeout=timeout)
    rows = [json.loads(line) for line in r.stdout.decode().splitlines()]
    return r.returncode, rows, r.stderr


def case_bench_window_list(h):
    """--window 1,4,16 runs the workload at each depth, a row for each
    carrying it; --window N still gives one row; a depth out of 1..1024,
    an empty one or a 17th is refused, naming it."""
    code, rows, err = bench("--workload", "W1", "--delivery", "at-most-once",
                            "--window", "1,4,16")
    assert code == 0, err
    assert [r["in_flight_batches"] for r in rows] == [1, 4, 16], rows
    assert all(r["workload"] == "W1" and r["exactly_once"] for r in rows), rows
    code, rows, err = bench("--workload", "W2", "--delivery", "at-least-once",
                            "--window", "8")
    assert code == 0, err
    assert [r["in_flight_batches"] for r in rows] == [8], rows
    # The table says each row's depth too.
    r = subprocess.run([PUSHBENCH, "--quick", "--workload", "W2", "--delivery",
                        "at-most-once", "--window", "2,3"],
                       capture_output=True, timeout=120)
    lines = r.stdout.decode().splitlines()
    assert r.returncode == 0 and "depth" in lines[0].split(), lines
    assert [line.split()[2] for line in lines[1:]] == ["2", "3"], lines
    for value, named in (("1,2000", b'"2000" in "1,2000"'),
                         ("0", b'"0" is not'),
                         ("4,,8", b'"" in "4,,8"'),
                         ("2,x", b'"x" in "2,x"'),
                         ("1025", b'"1025"'),
                         (",".join(["1"] * 17), b"more than 16")):
        r = subprocess.run([PUSHBENCH, "--quick", "--window", value],
                           capture_output=True, timeout=10)
        assert r.returncode == 1 and named in r.stderr, (value, r)
        assert r.stdout == b"", (value, r.stdout)


def case_bench_cpu_fields(h):
    """Every row of a W2 --compare has the server's user and system CPU,
    which add up to its CPU, its page faults and its CPU per event; a
    server's CPU is not more than two cores for the run's span.  With
    Redis, its reliable queue (BLMOVE then LREM) runs too, acked and
    exactly once."""
    code, rows, err = bench("--workload", "W2", "--compare")
    assert code == 0, err
    assert rows, err
    for r in rows:
        for k in ("daemon_cpu_s", "daemon_user_s", "daemon_sys_s",
                  "daemon_faults", "daemon_ns_per_event"):
            assert k in r and r[k] >= 0, (k, r)
        assert isinstance(r["daemon_faults"], int), r
        # Three decimals each: the sum may be off by their rounding.
        assert abs(r["daemon_user_s"] + r["daemon_sys_s"] -
                   r["daemon_cpu_s"]) <= 0.0015, r
        per = r["daemon_cpu_s"] * 1e9 / r["events"]
        assert abs(r["daemon_ns_per_event"] - per) <= 0.0005e9 / r["events"] + 1, r
        span = r["events"] / r["events_per_s"]
        assert r["daemon_cpu_s"] <= (span + 0.5) * os.cpu_count(), r
    modes = [r["mode"] for r in rows]
    assert "at-least-once" in modes and "at-most-once" in modes, modes
    # Built with hiredis and redis-server there: the pop and the reliable queue.
    if "redis BRPOP" in modes:
        rel = [r for r in rows if r["mode"] == "redis BLMOVE+LREM"]
        assert len(rel) == 1 and rel[0]["acks"] and rel[0]["exactly_once"], rows
        code, alone, err = bench("--workload", "W2", "--system",
                                 "redis-reliable")
        assert code == 0, err
        assert [r["mode"] for r in alone] == ["redis BLMOVE+LREM"], alone


if __name__ == "__main__":
    sys.exit(integration.main(globals()))
