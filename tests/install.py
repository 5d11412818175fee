#!/usr/bin/env python3
"""install.py: `meson install` into a DESTDIR, as a packager runs it.

Checks the installed layout, that the man pages format without a warning,
that the systemd units parse, that the installed tools are built on the
installed libpushstage, and that examples/roundtrip.c builds against the
installed pkg-config file and runs against the installed producerd.

usage: install.py BUILD-DIR SOURCE-DIR   (PREFIX, BINDIR, SBINDIR, LIBDIR,
       INCLUDEDIR, MANDIR name the install directories; EXAMPLE_CFLAGS adds
       the build's sanitizer flags)
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, timeout=120, **kw)
    assert r.returncode == 0, (argv, r.stdout.decode(), r.stderr.decode())
    return r


def main():
    build, source = sys.argv[1], sys.argv[2]
    d = {k: os.environ[k] for k in ("PREFIX", "BINDIR", "SBINDIR", "LIBDIR",
                                    "INCLUDEDIR", "MANDIR")}
    dest = tempfile.mkdtemp(prefix="pushstage-install-")
    daemon = None
    try:
        run(["meson", "install", "-C", build, "--destdir", dest,
             "--no-rebuild", "--quiet"])

        def at(*parts):
            path = os.path.join(d["PREFIX"], *parts)
            return os.path.join(dest, path.lstrip("/"))

        want = {
            at(d["BINDIR"], "pushctl"), at(d["BINDIR"], "consumer"),
            at(d["SBINDIR"], "producerd"),
            at(d["INCLUDEDIR"], "pushstage.h"),
            at(d["LIBDIR"], "libpushstage.so"),
            at(d["LIBDIR"], "libpushstage.so.1"),
            at(d["LIBDIR"], "libpushstage.so.1.0.0"),
            at(d["LIBDIR"], "pkgconfig", "libpushstage.pc"),
            at(d["MANDIR"], "man8", "producerd.8"),
            at(d["MANDIR"], "man1", "consumer.1"),
            at(d["MANDIR"], "man1", "pushctl.1"),
            at("lib", "systemd", "system", "producerd.service"),
            at("lib", "systemd", "system", "producerd.socket"),
            at("lib", "sysusers.d", "pushstage.conf"),
        }
        have = set()
        for root, _, files in os.walk(dest):
            have.update(os.path.join(root, f) for f in files)
        assert have == want, ("missing", sorted(want - have),
                              "unexpected", sorted(have - want))
        for prog in (at(d["BINDIR"], "pushctl"), at(d["BINDIR"], "consumer"),
                     at(d["SBINDIR"], "producerd")):
            assert os.access(prog, os.X_OK), prog
        assert os.readlink(at(d["LIBDIR"], "libpushstage.so.1")) == \
            "libpushstage.so.1.0.0"

        # Only the public names leave the library.
        syms = run(["nm", "-D", "--defined-only",
                    at(d["LIBDIR"], "libpushstage.so.1.0.0")]).stdout.decode()
        names = [line.split()[-1] for line in syms.splitlines()
                 if line.split()[1] == "T"]
        assert names and all(n.startswith("pushstage_") for n in names), names

        # man --warnings: groff's warnings on stderr, and none allowed.
        for page in sorted(p for p in want if "/man/" in p):
            r = run(["man", "--warnings", "-l", page],
                    env=dict(os.environ, MANWIDTH="80"))
            assert r.stderr == b"", (page, r.stderr.decode())
            assert b"EXIT STATUS" in r.stdout and b"EXAMPLES" in r.stdout, page

        # The units parse; ExecStart names the installed producerd.
        unit = open(at("lib", "systemd", "system", "producerd.service")).read()
        exec_start = os.path.join(d["PREFIX"], d["SBINDIR"], "producerd")
        assert "ExecStart=%s " % exec_start in unit, unit
        if shutil.which("systemd-analyze"):
            r = subprocess.run(
                ["systemd-analyze", "verify", "--man=no",
                 at("lib", "systemd", "system", "producerd.socket"),
                 at("lib", "systemd", "system", "producerd.service")],
                capture_output=True, timeout=60)
            for line in r.stderr.decode().splitlines():
                # The binary is in DESTDIR, not yet at its path: expected.
                assert "is not executable" in line, line

        # The installed tools run on the installed library.
        env = dict(os.environ, LD_LIBRARY_PATH=at(d["LIBDIR"]))
        for prog in (at(d["BINDIR"], "pushctl"), at(d["BINDIR"], "consumer")):
            ldd = run(["ldd", prog], env=env).stdout.decode()
            assert at(d["LIBDIR"], "libpushstage.so.1") in ldd, ldd
            r = run([prog, "--version"], env=env)
            assert b"libpushstage " in r.stdout, r.stdout

        # The example, built as a user builds it: cc and pkg-config.
        pc_env = dict(os.environ, PKG_CONFIG_PATH=at(d["LIBDIR"], "pkgconfig"),
                      PKG_CONFIG_SYSROOT_DIR=dest)
        flags = run(["pkg-config", "--cflags", "--libs", "libpushstage"],
                    env=pc_env).stdout.decode().split()
        exe = os.path.join(dest, "roundtrip")
        cc = os.environ.get("CC", "cc")
        run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", exe,
             os.path.join(source, "examples", "roundtrip.c")] + flags +
            os.environ.get("EXAMPLE_CFLAGS", "").split())
        sock = os.path.join(dest, "ps.sock")
        # Frames of 4 KiB: 2,000 events take several batches.
        daemon = subprocess.Popen([at(d["SBINDIR"], "producerd"), "--socket",
                                   sock, "--log-level", "warning",
                                   "--max-frame", "4096"], env=env)
        for _ in range(500):
            if os.path.exists(sock):
                break
            time.sleep(0.01)
        r = run([exe, sock, "25"], env=env)
        out = r.stdout.decode().splitlines()
        assert out[0] == "enqueued 25 events, ids 1-25", out
        assert out[1:26] == ["got %d: event %d" % (i, i) for i in range(1, 26)], out
        assert out[26] == "queued now: 0", out
        r = run([exe, sock, "2000"], env=env)
        out = r.stdout.decode().splitlines()
        assert out[0] == "enqueued 2000 events, ids 26-2025", out
        assert out[1:2001] == ["got %d: event %d" % (i + 25, i)
                               for i in range(1, 2001)], out[:5]
        assert out[2001:] == ["queued now: 0"], out[2001:]
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0
        daemon = None
    finally:
        if daemon is not None:
            daemon.kill()
            daemon.wait()
        shutil.rmtree(dest, ignore_errors=True)
    print("ok install")
    return 0


if __name__ == "__main__":
    sys.exit(main())
