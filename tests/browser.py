#!/usr/bin/env python3
"""browser.py CASE [--screenshots DIR]: the dashboard (producerd --http)
in a real browser: Debian's chromium, headless, driven over the DevTools
protocol on a pipe (--remote-debugging-pipe: JSON messages ending in NUL
on descriptors 3 and 4), so no websocket library and no Node are needed.
Each case runs producerd on a private socket and port (integration.py's
Harness) and stops chromium's whole process group, by its PID, at the end.
With --screenshots DIR the overview and a queue page are saved there as
PNG (docs/ holds the ones the README shows)."""
import base64
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from integration import (ACK, CONSUMER, NACK, Harness, Raw, built_with_cluster,  # noqa: E402
                         consumer_hello, demand, free_port, ids, start_nats,
                         token_file)
from job_cases import consumer5, events5, ack_result, nack_error  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "chromium"
TOKEN = "dashboard-token-0123456789"


def high(fd):
    """fd moved to a number of 10 or more (close-on-exec)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Chromium:
    """One headless chromium and one page, over the DevTools protocol."""

    def __init__(self, tmp):
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        # Above 10 first, so that neither is 3 or 4 when those are made.
        to_r, from_w = [high(fd) for fd in (to_r, from_w)]
        args = [CHROMIUM, "--headless=new", "--remote-debugging-pipe",
                "--user-data-dir=" + os.path.join(tmp, "chromium"),
                "--no-first-run", "--no-default-browser-check", "--disable-gpu",
                "--disable-extensions", "--disable-background-networking",
                "--disable-sync", "--disable-dev-shm-usage", "--mute-audio",
                "--window-size=1280,900", "about:blank"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")     # chromium's sandbox refuses root

        def fds():
            # The pipe's ends become the browser's descriptors 3 and 4
            # (dup2 leaves them open across exec; Python's own are not).
            os.dup2(to_r, 3)
            os.dup2(from_w, 4)
        self.p = subprocess.Popen(args, preexec_fn=fds, close_fds=False,
                                  start_new_session=True, stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(tmp, "chromium.log"), "wb"))
        os.close(to_r)
        os.close(from_w)
        self.buf = b""
        self.next_id = 0
        self.session = None
        self.dialogs = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def _read(self, deadline):
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError("chromium did not answer")
            chunk = os.read(self.from_r, 65536)
            if not chunk:
                raise AssertionError("chromium exited %s" % self.p.poll())
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def _event(self, msg):
        # A confirm() asked by a button: answered yes, and kept to check.
        if msg.get("method") == "Page.javascriptDialogOpening":
            self.dialogs.append(msg["params"]["message"])
            self.send("Page.handleJavaScriptDialog", {"accept": True})

    def send(self, method, params=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session is not None:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self.to_w, data):]
        return self.next_id

    def call(self, method, params=None, timeout=30):
        want = self.send(method, params)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == want:
                if "error" in msg:
                    raise AssertionError("%s: %s" % (method, msg["error"]))
                return msg["result"]
            self._event(msg)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise AssertionError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def wait(self, expr, what, timeout=30):
        """Until expr is true in the page (the state, not a time)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.eval(expr)
            if last:
                return last
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %s (%r)" % (what, last))

    def goto(self, url):
        self.call("Page.navigate", {"url": url})

    def click(self, selector):
        """A real mouse click at the middle of the element."""
        box = self.wait("(() => { const e = document.querySelector(%s); if (!e || e.disabled) "
                        "return null; e.scrollIntoView({block: 'center'}); const r = "
                        "e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + "
                        "r.height / 2]; })()" % json.dumps(selector), "button " + selector)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1],
                                                   "button": "left", "clickCount": 1})

    def type(self, selector, text):
        self.click(selector)
        self.call("Input.insertText", {"text": text})

    def screenshot(self, path):
        """The whole page, however long, at 1280 wide."""
        height = self.eval("document.documentElement.scrollHeight")
        self.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": height,
                                                         "deviceScaleFactor": 1, "mobile": False})
        data = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])
        self.call("Emulation.clearDeviceMetricsOverride")
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), data[:8]
        with open(path, "wb") as f:
            f.write(data)

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except (AssertionError, OSError):
            pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        # Its renderers and helpers are in its process group.
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait()
        os.close(self.to_w)
        os.close(self.from_r)


def text(b, selector):
    return "(document.querySelector(%s) || {}).textContent" % json.dumps(selector)


def case_dashboard(h, shots=None):
    """The overview lists a running daemon's queues with the right counts,
    which change as events flow; a queue page shows dead letters escaped;
    a change without the token is refused, with it done (checked with
    pushctl); the page fits a phone."""
    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--http-token-file",
                   token_file(h, TOKEN), "--max-attempts", "1")
    r = h.pushctl("enqueue", "--queue", "jobs", "a", "b", "c")
    assert r.returncode == 0, r
    assert h.pushctl("enqueue", "--queue", "mail", "x", "y").returncode == 0
    b = Chromium(h.dir)
    try:
        b.goto("http://127.0.0.1:%d/" % port)
        cell = 'tr[data-queue="%s"] td.%s'
        b.wait(text(b, cell % ("jobs", "queued")) + " === '3'", "jobs queued 3")
        # Their latency: the age of the oldest, shown as a duration once it
        # has grown (the page refreshes); 0 once a consumer took them.
        lat = text(b, cell % ("jobs", "latency"))
        b.wait("/^[1-9][0-9]* ms$|^[0-9.]+ s$/.test(%s)" % lat, "jobs latency shown")
        assert b.eval(text(b, cell % ("mail", "queued"))) == "2"
        assert b.eval(text(b, cell % ("jobs", "consumers"))) == "0"
        assert b.eval(text(b, '[data-card="queues"] .v')) == "2"
        assert b.eval(text(b, '[data-card="queued"] .v')) == "5"
        assert "Read-only" not in b.eval("document.getElementById('banner').textContent")
        # Counts follow the events: 4 more, then a consumer takes them all.
        assert h.pushctl("enqueue", "--queue", "jobs", "d", "e", "f", "g").returncode == 0
        b.wait(text(b, cell % ("jobs", "queued")) + " === '7'", "jobs queued 7")
        h.consumer("worker-1", "--queue", "jobs")
        b.wait(text(b, cell % ("jobs", "queued")) + " === '0'", "jobs drained")
        b.wait(text(b, cell % ("jobs", "consumers")) + " === '1'", "jobs consumer 1")
        b.wait(lat + " === '0 ms'", "jobs latency 0 once drained")
        assert b.eval("document.querySelectorAll('#queues svg.spark polyline').length") >= 4

        # Dead letters whose payloads (and a consumer whose name) are markup.
        evil = '"><img src=x onerror="window.__xss=1">'
        # Its command fails writing markup to stderr: the error shows it, escaped.
        bad, _ = h.consumer(evil, "--queue", "dlq", "--exec",
                            "cat >/dev/null; echo '<img src=x onerror=\"window.__xss=1\">' >&2; false")
        h.wait_consumers(2)
        payloads = ["<script>window.__xss=1</script>", "<img src=x onerror=\"window.__xss=1\">"]
        r = h.pushctl("enqueue", "--queue", "dlq", "-", input="\n".join(payloads).encode() + b"\n")
        assert r.returncode == 0, r
        h.wait_for(lambda: h.stats_of("dlq")["dead"] == 2, what="2 dead letters")
        b.goto("http://127.0.0.1:%d/#/queue/dlq" % port)
        b.wait("document.querySelectorAll('#dead tbody tr[data-id]').length === 2", "2 dead rows")
        b.wait("document.querySelectorAll('#consumers tbody tr[data-conn]').length === 1",
               "the consumer listed")
        previews = b.eval("[...document.querySelectorAll('#dead td.preview code')]"
                          ".map(e => e.textContent)")
        assert previews == payloads, previews
        errors = b.eval("[...document.querySelectorAll('#dead td.error code')]"
                        ".map(e => e.textContent)")
        assert errors == ["exit status 1"] * 2, errors
        titles = b.eval("[...document.querySelectorAll('#dead td.error')].map(e => e.title)")
        assert titles == ['exit status 1\n<img src=x onerror="window.__xss=1">\n'] * 2, titles
        # A dead letter's job page: its state and each failure, escaped.
        first_dead = b.eval("document.querySelector('#dead tbody tr[data-id]').dataset.id")
        b.click('#dead tbody tr[data-id="%s"] a' % first_dead)
        b.wait("document.querySelector('#job dd[data-field=\"state\"]') !== null", "the job page")
        assert b.eval(text(b, '#job dd[data-field="state"]')) == "dead (nack)"
        errs = b.eval("[...document.querySelectorAll('#failures pre.error')].map(e => e.textContent)")
        assert errs == ['exit status 1\n<img src=x onerror="window.__xss=1">\n'], errs
        assert b.eval("document.querySelectorAll('main img, main script').length") == 0
        # A queued job with headers of markup, found by its id.
        r = h.pushctl("enqueue", "-q", "jq", "--header", "x-evil=<b>bold</b>", "<i>payload</i>")
        jid = r.stdout.decode().rsplit(" ", 1)[1].strip()
        b.goto("http://127.0.0.1:%d/#/queue/jq" % port)
        b.wait("document.querySelector('#findjob input') !== null", "the find form")
        b.type("#findjob input", jid)
        b.click("#findjob button")
        b.wait(text(b, '#job dd[data-field="state"]') + " === 'queued'", "the queued job")
        assert b.eval(text(b, "#headers td:nth-child(2)")) == "<b>bold</b>"
        assert b.eval(text(b, "#job-preview")) == "<i>payload</i>"
        assert b.eval("document.querySelectorAll('main b, main i').length") == 0
        b.goto("http://127.0.0.1:%d/#/queue/jq/job/999999" % port)
        b.wait("document.getElementById('job-missing') !== null", "no such job")
        assert "no event 999999" in b.eval(text(b, "#job-missing"))
        b.goto("http://127.0.0.1:%d/#/queue/dlq" % port)
        b.wait("document.querySelectorAll('#dead tbody tr[data-id]').length === 2", "back to dlq")
        assert b.eval(text(b, "#consumers tbody td.text")) == evil
        settings = b.eval("Object.fromEntries([...document.querySelectorAll('dl.settings dt')]"
                          ".map(e => [e.textContent, e.nextElementSibling.textContent]))")
        assert settings["max-attempts"] == "1" and settings["paused"] == "no", settings
        assert b.eval("document.documentElement.scrollWidth <= window.innerWidth")
        assert b.eval("document.querySelectorAll('main img, main script').length") == 0
        assert b.eval("window.__xss === undefined")
        if shots:
            b.screenshot(os.path.join(shots, "dashboard-queue.png"))
        bad.kill()
        bad.wait()
        h.wait_consumers(1)

        # Without the token: the click is confirmed, sent, and refused.
        b.click('#dead tbody tr[data-id] button')
        b.wait("document.getElementById('status').textContent.startsWith('Refused')",
               "the refusal shown")
        assert b.dialogs and b.dialogs[-1].startswith("Retry dead event"), b.dialogs
        assert "Authorization" in b.eval("document.getElementById('status').textContent")
        assert h.stats_of("dlq")["dead"] == 2
        # With it: retried, and the event is back on its queue.
        b.type("#token", TOKEN)
        b.click("#tokenform button")
        first = b.eval("document.querySelector('#dead tbody tr[data-id]').dataset.id")
        b.click('#dead tbody tr[data-id="%s"] button' % first)
        b.wait("document.getElementById('status').textContent === 'Retried 1 event'",
               "the retry done")
        s = h.stats_of("dlq")
        assert s["dead"] == 1 and s["queued"] == 1, s
        r = h.pushctl("dead", "list", "--queue", "dlq", "--json")
        assert [str(e["id"]) for e in json.loads(r.stdout)["events"]] != [first], r.stdout
        b.wait("document.querySelectorAll('#dead tbody tr[data-id]').length === 1", "1 dead row")
        # Cancel the queued job from its page: gone, and the page says so.
        b.goto("http://127.0.0.1:%d/#/queue/jq/job/%s" % (port, jid))
        b.wait(text(b, '#job dd[data-field="state"]') + " === 'queued'", "the job again")
        b.click(".actions button")
        b.wait("document.getElementById('status').textContent === 'Job %s: cancelled'" % jid,
               "the cancel done")
        assert b.dialogs[-1].startswith("Cancel job %s of jq" % jid), b.dialogs
        b.wait("document.getElementById('job-missing') !== null", "the job gone")
        assert h.pushctl("job", "show", "jq", jid).returncode == 1
        assert h.stats_of("jq")["cancelled_total"] == 1
        # A done job's result (keep-done), escaped.
        assert h.pushctl("queue", "create", "kq", "keep-done=1h").returncode == 0
        r = h.pushctl("enqueue", "-q", "kq", "x")
        kid = int(r.stdout.split()[-1])
        kc = consumer5(h, b"kq", 1)
        events5(kc, 1)
        kc.send(ack_result(kid, b"<b>result</b>"))
        h.wait_for(lambda: h.stats_of("kq")["done_kept"] == 1, what="kept")
        b.goto("http://127.0.0.1:%d/#/queue/kq/job/%d" % (port, kid))
        b.wait("document.getElementById('job-result') !== null", "the result")
        assert b.eval(text(b, "#job-result")) == "<b>result</b>"
        assert b.eval(text(b, '#job dd[data-field="state"]')) == "done"
        assert b.eval("document.querySelectorAll('main b').length") == 0
        assert b.eval("document.querySelectorAll('.actions button').length") == 0
        kc.close()
        b.goto("http://127.0.0.1:%d/#/queue/kq" % port)
        b.wait("document.querySelector('#jobtabs button[data-state=\"done\"]') !== null", "tabs")
        b.click('#jobtabs button[data-state="done"]')
        b.wait("document.querySelector('#jobs tbody tr[data-id=\"%d\"]') !== null" % kid,
               "the done tab")
        assert b.eval(text(b, "#jobs td.preview code")) == "<b>result</b>"
        # The Queued tab pages 20 at a time; a key, a unique id, found.
        assert h.pushctl("enqueue", "-q", "tq", "-", input=b"".join(
            b"<i>job %d</i>\n" % i for i in range(24))).returncode == 0
        r = h.pushctl("enqueue", "-q", "tq", "--key", "<k>", "--unique-id", "u<1>", "keyed")
        uid_id = int(r.stdout.split()[-1])
        assert h.pushctl("enqueue", "-q", "tq", "--delay", "1h", "later").returncode == 0
        b.goto("http://127.0.0.1:%d/#/queue/tq" % port)
        b.wait("document.querySelectorAll('#jobs tbody tr[data-id]').length === 20", "20 rows")
        assert b.eval("document.querySelectorAll('main i').length") == 0
        b.click("#jobs-next")
        b.wait("document.querySelectorAll('#jobs tbody tr[data-id]').length === 5", "page 2")
        b.click("#jobs-first")
        b.wait("document.querySelectorAll('#jobs tbody tr[data-id]').length === 20", "page 1")
        b.click('#jobtabs button[data-state="delayed"]')
        b.wait("document.querySelectorAll('#jobs tbody tr[data-id]').length === 1", "scheduled")
        b.click('#jobtabs button[data-state="queued"]')
        b.wait("document.querySelectorAll('#jobs tbody tr[data-id]').length === 20", "queued")
        b.eval("document.querySelector('#findjob select').value = 'key'")
        b.type("#findjob input", "<k>")
        b.click("#findjob button")
        b.wait("document.querySelectorAll('#jobs tbody tr[data-id]').length === 1", "the key's")
        assert b.eval(text(b, "#jobs-key code")) == "<k>"
        b.goto("http://127.0.0.1:%d/#/queue/tq" % port)
        b.wait("document.querySelector('#findjob select') !== null", "the form")
        b.eval("document.querySelector('#findjob select').value = 'unique id'")
        b.type("#findjob input", "u<1>")
        b.click("#findjob button")
        b.wait(text(b, '#job dd[data-field="key"]') + " === '<k>'", "found by unique id")
        assert ("Job %d of tq" % uid_id) in b.eval(text(b, "h1"))
        b.goto("http://127.0.0.1:%d/#/queue/dlq" % port)
        b.wait("document.querySelectorAll('#dead tbody tr[data-id]').length === 1", "dlq again")
        # Pause from its button; pushctl sees it.
        b.click(".actions button")
        b.wait("document.querySelector('h1 .tag.paused') !== null", "the paused tag")
        assert h.stats_of("dlq")["paused"] == 1
        assert b.dialogs[-1].startswith("Pause queue dlq"), b.dialogs

        # A phone: nothing wider than its screen but the tables' own scroll.
        b.call("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844,
                                                      "deviceScaleFactor": 2, "mobile": True})
        b.goto("http://127.0.0.1:%d/" % port)
        b.wait(text(b, cell % ("jobs", "queued")) + " === '0'", "the overview on a phone")
        assert b.eval("document.documentElement.scrollWidth") <= 390
        b.call("Emulation.clearDeviceMetricsOverride")
        if shots:
            b.goto("http://127.0.0.1:%d/" % port)
            b.wait(text(b, cell % ("jobs", "queued")) + " === '0'", "the overview")
            b.screenshot(os.path.join(shots, "dashboard-overview.png"))
    finally:
        b.close()


def case_dashboard_read_only(h):
    """Without --http-token-file the page says it is read-only and its
    buttons are off."""
    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port)
    assert h.pushctl("enqueue", "--queue", "jobs", "a").returncode == 0
    b = Chromium(h.dir)
    try:
        b.goto("http://127.0.0.1:%d/#/queue/jobs" % port)
        b.wait("document.querySelector('h1') && document.querySelector('h1').textContent === 'jobs'",
               "the queue page")
        assert b.eval("document.getElementById('banner').textContent").startswith("Read-only")
        assert b.eval("[...document.querySelectorAll('.actions button')].every(e => e.disabled)")
    finally:
        b.close()


def case_dashboard_cluster(h):
    """--cluster: the banner says the cluster is linked; the queue page
    lists the dead letters kept in JetStream and counts them in the
    overview; Retry from its button sends one back
    (pushctl agrees); with NATS gone the page says why it cannot list
    them, and keeps showing the rest."""
    if not built_with_cluster():
        return
    nats, url = start_nats(h)
    port = free_port()
    h.start_daemon("--cluster", url, "--http", "127.0.0.1:%d" % port,
                   "--http-token-file", token_file(h, TOKEN), "--max-attempts", "1")
    h.consumer("w", "--queue", "jobs", "--exec", "false")
    h.wait_consumers(1)
    assert h.pushctl("enqueue", "--queue", "jobs", "one", "two").returncode == 0
    dead = lambda: json.loads(h.pushctl("dead", "list", "--queue", "jobs",
                                        "--json").stdout)["events"]
    h.wait_for(lambda: len(dead()) == 2, what="2 dead letters in JetStream")
    b = Chromium(h.dir)
    try:
        b.goto("http://127.0.0.1:%d/" % port)
        b.wait(text(b, 'tr[data-queue="jobs"] td.dead') + " === '2'", "dead 2 in the overview")
        # The banner reads cluster_connected, which the overview asks for.
        assert "cluster linked" in b.eval("document.getElementById('daemon').textContent")
        b.goto("http://127.0.0.1:%d/#/queue/jobs" % port)
        b.wait("document.querySelectorAll('#dead tbody tr[data-id]').length === 2", "2 dead rows")
        ids = b.eval("[...document.querySelectorAll('#dead tbody tr[data-id]')]"
                     ".map(e => Number(e.dataset.id))")
        assert ids == [e["id"] for e in dead()], ids
        previews = b.eval("[...document.querySelectorAll('#dead td.preview code')]"
                          ".map(e => e.textContent)")
        assert sorted(previews) == ["one", "two"], previews
        b.type("#token", TOKEN)
        b.click("#tokenform button")
        b.click('#dead tbody tr[data-id="%d"] button' % ids[0])
        b.wait("document.getElementById('status').textContent === 'Retried 1 event'",
               "the retry done")
        # Retried: a new event, which its consumer fails again, a new letter.
        assert ids[0] not in [e["id"] for e in dead()]
        h.wait_for(lambda: len(dead()) == 2, what="the retried event dead again")
        b.wait("!Array.from(document.querySelectorAll('#dead tbody tr[data-id]'))"
               ".some(e => e.dataset.id === '%d')" % ids[0], "its row gone")
        # NATS gone: the list cannot be had, and the page says so.
        nats.terminate()
        nats.wait(timeout=10)
        b.wait("document.getElementById('dead').textContent.includes("
               "'Cannot list the dead letters')", "the reason shown")
        assert "unreachable" in b.eval("document.getElementById('dead').textContent")
        assert b.eval("document.querySelector('h1').textContent") == "jobs"
    finally:
        b.close()


def case_dashboard_tasks(h):
    """A queue page's table of counts per task name: a row per task with
    done, failed, retried, dead and the handling-time percentiles, as the
    API gives them; a name of markup, quotes and backslashes shown as
    text; a group's page shows the group's."""
    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--max-attempts", "2")
    evil = '<img src=x onerror="window.__xss=1">\\"'
    for name, payload in (("resize", "r1"), ("resize", "r2"), (evil, "e1")):
        r = h.pushctl("enqueue", "-q", "tq", "--header", "task=" + name, payload)
        assert r.returncode == 0, r
    w = consumer5(h, b"tq", 3)
    got = {p: i for i, _, _, _, p in events5(w, 3)}
    w.send(ids(NACK, got[b"r2"]) + nack_error(got[b"e1"], "UnknownTask",
                                               delay=0xfffffffe) + demand(1))
    (i, a, _, _, p), = events5(w, 1)
    assert (p, a) == (b"r2", 2), (p, a)
    w.send(ids(ACK, got[b"r1"], i))
    h.wait_for(lambda: h.stats_of("tq")["acked_total"] == 2, what="2 acks")
    b = Chromium(h.dir)
    try:
        b.goto("http://127.0.0.1:%d/#/queue/tq" % port)
        rows = "document.querySelectorAll('#tasks tbody tr[data-task]')"
        b.wait(rows + ".length === 2", "2 task rows")
        cells = b.eval("[...%s].map(r => [...r.children].map(td => td.textContent))" % rows)
        assert cells[0][:5] == ["resize", "2", "1", "1", "0"], cells
        assert cells[1][:5] == [evil, "0", "1", "0", "1"], cells
        assert all(c.endswith(" ms") or c.endswith(" s") for c in cells[0][5:]), cells
        assert b.eval("[...document.querySelectorAll('#tasks thead th')].map(e => e.textContent)"
                      ) == ["task", "done", "failed", "retried", "dead", "p50", "p90", "p99"]
        assert b.eval("document.querySelectorAll('main img, main script').length") == 0
        assert b.eval("window.__xss === undefined")
        # A group with no task answered yet: the table says so.
        g = consumer5(h, b"tq/audit", 1, name=b"g")
        b.goto("http://127.0.0.1:%d/#/queue/tq/audit" % port)
        b.wait("document.querySelector('#tasks tbody td.muted') !== null", "the group's empty table")
        assert "No event with a task header" in b.eval(text(b, "#tasks tbody"))
        g.close()
    finally:
        b.close()


def case_dashboard_pages(h):
    """The sparklines share one scale, stated in a legend; dead letters
    page 100 at a time past the first 100, with a note of which are shown;
    settings are in units; at 390 px wide no table cell or button is off
    the screen."""
    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--max-attempts", "1",
                   "--max-queue-bytes", "1073741824", "--ack-timeout", "30")
    n = 150
    assert h.pushctl("enqueue", "-", input=b"".join(b"letter-%d\n" % i
                                                   for i in range(n))).returncode == 0
    w = Raw(h.sock)
    consumer_hello(w, b"w", n)
    w.send(demand(n))
    got = [i for i, _, _ in w.events_full(want=n)]
    w.send(ids(NACK, *got))
    h.wait_for(lambda: h.stats()["dead"] == n, what="%d dead letters" % n)
    assert h.pushctl("enqueue", "--queue", "jobs", *"abcdefg").returncode == 0
    assert h.pushctl("enqueue", "--queue", "mail", "x", "y").returncode == 0
    b = Chromium(h.dir)
    try:
        # One scale for every row: the deepest queue's 7, rounded up to 10.
        b.goto("http://127.0.0.1:%d/" % port)
        b.wait(text(b, 'tr[data-queue="jobs"] td.queued') + " === '7'", "jobs queued 7")
        b.wait(text(b, "#legend .depth-max") + " === '10'", "the legend's depth scale")
        assert b.eval("[...document.querySelectorAll('svg.spark')].map(e => e.dataset.depthMax)"
                      ) == ["10", "10", "10"]
        legend = b.eval(text(b, "#legend"))
        assert "depth, 0 to 10 events" in legend and "enqueue rate, 0 to" in legend, legend
        # Every row's line ends at its depth on that scale: mail's 2 at a
        # fifth of jobs' 7's height above the floor, not at the top.
        ends = b.eval("Object.fromEntries([...document.querySelectorAll('tr[data-queue]')].map("
                      "r => [r.dataset.queue, Number(r.querySelector('polyline.depth')"
                      ".getAttribute('points').split(' ').pop().split(',')[1])]))")
        floor = ends["default"]
        assert floor > ends["mail"] > ends["jobs"], ends
        assert abs((floor - ends["mail"]) / (floor - ends["jobs"]) - 2 / 7) < 0.02, ends

        # The dead letters, a page at a time.
        b.goto("http://127.0.0.1:%d/#/queue/default" % port)
        rows = "document.querySelectorAll('#dead tbody tr[data-id]')"
        b.wait(rows + ".length === 100", "100 dead rows")
        assert b.eval(text(b, "#dead-shown")) == "Showing 1–100 of 150, oldest first."
        assert b.eval("document.getElementById('dead-first').disabled")
        first = b.eval("[...%s].map(e => Number(e.dataset.id))" % rows)
        assert first == got[:100], first[:5]
        b.click("#dead-next")
        b.wait(rows + ".length === 50", "the next 50 dead rows")
        assert b.eval("[...%s].map(e => Number(e.dataset.id))" % rows) == got[100:]
        assert b.eval(text(b, "#dead-shown")) == "Showing 101–150 of 150, oldest first."
        assert b.eval("document.getElementById('dead-next').disabled")
        b.click("#dead-first")
        b.wait(rows + ".length === 100", "the first page again")
        # Settings in units; the raw form in the tooltip.
        settings = b.eval("Object.fromEntries([...document.querySelectorAll('dl.settings dt')]"
                          ".map(e => [e.textContent, e.nextElementSibling.textContent]))")
        assert settings["max-queue-bytes"] == "1 GiB" and settings["ack-timeout"] == "30 s" and \
            settings["dedup-window"] == "2 min" and settings["max-queue"] == "1,000,000 events" and \
            settings["rate"] == "none", settings
        assert b.eval("document.querySelector('dl.settings dd').title").startswith("max-queue=")

        # A phone: every cell and button within the screen's 390 px.
        b.call("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844,
                                                      "deviceScaleFactor": 2, "mobile": True})
        for url, ready in (("/#/queue/default", rows + ".length === 100"),
                           ("/", text(b, 'tr[data-queue="jobs"] td.queued') + " === '7'")):
            b.goto("http://127.0.0.1:%d%s" % (port, url))
            b.wait(ready, "the page at 390 px")
            assert b.eval("document.documentElement.scrollWidth") <= 390
            off = b.eval("[...document.querySelectorAll('main button, main td, main th')]"
                         ".filter(e => e.getClientRects().length).map(e => e.getBoundingClientRect())"
                         ".filter(r => r.left < 0 || r.right > 390).length")
            assert off == 0, (url, off)
    finally:
        b.close()


def case_dashboard_schedules(h):
    """The Schedules page lists the daemon's schedules: queue, rule (cron
    and zone, or every), the next fire times in the browser's time with
    UTC on hover, fired and skipped, paused; Run now without the token is
    refused, with it enqueues the event (in the queue, with the
    schedule's header); Pause pauses it."""
    from integration import http_call
    port = free_port()
    h.start_daemon("--http", "127.0.0.1:%d" % port, "--http-token-file",
                   token_file(h, TOKEN))
    auth = {"Authorization": "Bearer " + TOKEN}
    for body in ({"name": "daily", "queue": "reports", "every": "1d", "payload": "go"},
                 {"name": "berlin", "queue": "mail", "cron": "0 6 * * 1-5",
                  "tz": "Europe/Berlin", "paused": True}):
        st, _, res = http_call(port, "POST", "/api/v1/schedules", json.dumps(body).encode(), auth)
        assert st == 201, (st, res)
    st, _, daily = http_call(port, "GET", "/api/v1/schedules/daily")
    b = Chromium(h.dir)
    try:
        b.goto("http://127.0.0.1:%d/" % port)
        # The overview first, then the link in the header to the schedules.
        b.wait("document.querySelector('#queues') !== null", "the overview")
        b.click('#nav a[href="#/schedules"]')
        b.wait("location.hash === '#/schedules'", "the schedules' page asked for")
        row = 'tr[data-schedule="%s"] td.%s'
        b.wait("document.querySelectorAll('#schedules tbody tr[data-schedule]').length === 2",
               "2 schedule rows")
        assert b.eval("document.querySelector('#nav a[aria-current=\"true\"]').textContent"
                      ) == "Schedules"
        assert b.eval(text(b, row % ("daily", "queue"))) == "reports"
        assert b.eval(text(b, row % ("daily", "rule"))) == "every 1d"
        assert b.eval(text(b, row % ("berlin", "rule"))) == "0 6 * * 1-5 (Europe/Berlin)"
        assert b.eval(text(b, row % ("berlin", "paused"))) == "paused"
        assert b.eval(text(b, row % ("daily", "paused"))) == "no"
        assert b.eval(text(b, row % ("daily", "fired"))) == "0"
        assert b.eval(text(b, row % ("daily", "last"))) == "–"
        # The next three, local; each one's UTC in its tooltip.
        nexts = b.eval("[...document.querySelectorAll('%s li')].map(e => [e.textContent, "
                       "e.title])" % (row % ("daily", "next")))
        assert [t for _, t in nexts] == daily["next"][:3], (nexts, daily["next"])
        assert [t for t, _ in nexts] == b.eval("%s.map(ms => new Date(ms).toLocaleString())"
                                               % json.dumps(daily["next_ms"][:3])), nexts
        # Run now without the token: confirmed, sent, refused; nothing enqueued.
        run = 'tr[data-schedule="daily"] button[data-act="run-now"]'
        b.click(run)
        b.wait("document.getElementById('status').textContent.startsWith('Refused')",
               "the refusal shown")
        assert b.dialogs[-1].startswith("Enqueue the event of schedule daily"), b.dialogs
        assert "Authorization" in b.eval("document.getElementById('status').textContent")
        # (The ADD made the queue, as a HELLO would; it holds nothing.)
        assert h.stats_of("reports")["enqueued_total"] == 0
        # With it: the event is in the queue, with the schedule's header.
        b.type("#token", TOKEN)
        b.click("#tokenform button")
        b.click(run)
        b.wait("document.getElementById('status').textContent.startsWith('Enqueued event ')",
               "the run-now done")
        eid = b.eval("document.getElementById('status').textContent").split()[2]
        h.wait_for(lambda: h.stats_of("reports")["queued"] == 1, what="the event enqueued")
        st, _, job = http_call(port, "GET", "/api/v1/queues/reports/jobs/" + eid)
        assert st == 200 and job["headers"]["pushstage-schedule"] == "daily" and \
            job["preview"] == "go", job
        # Pause: the row says so, and so does the API.
        b.click('tr[data-schedule="daily"] button[data-act="pause"]')
        b.wait(text(b, row % ("daily", "paused")) + " === 'paused'", "daily paused")
        assert http_call(port, "GET", "/api/v1/schedules/daily")[2]["paused"] is True
        b.wait("document.querySelector('tr[data-schedule=\"daily\"] button[data-act=\"resume\"]')"
               " !== null", "its Resume button")
        assert b.eval("document.querySelectorAll('main img, main script').length") == 0
        # A phone: every cell and button within the screen's 390 px.
        b.call("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844,
                                                      "deviceScaleFactor": 2, "mobile": True})
        b.goto("http://127.0.0.1:%d/#/schedules" % port)
        b.wait("document.querySelectorAll('#schedules tbody tr[data-schedule]').length === 2",
               "the schedules at 390 px")
        assert b.eval("document.documentElement.scrollWidth") <= 390
        off = b.eval("[...document.querySelectorAll('main button, main td, main th, header a')]"
                     ".filter(e => e.getClientRects().length).map(e => e.getBoundingClientRect())"
                     ".filter(r => r.left < 0 || r.right > 390).length")
        assert off == 0, off
    finally:
        b.close()


def main():
    args = sys.argv[1:]
    shots = None
    if "--screenshots" in args:
        i = args.index("--screenshots")
        shots = os.path.abspath(args[i + 1])
        del args[i:i + 2]
    if len(args) != 1 or "case_" + args[0] not in globals():
        print("usage: browser.py CASE [--screenshots DIR]\ncases: " +
              " ".join(sorted(k[5:] for k in globals() if k.startswith("case_"))))
        return 2
    h = Harness()
    try:
        if shots:
            globals()["case_" + args[0]](h, shots)
        else:
            globals()["case_" + args[0]](h)
    except Exception:
        for log in ("producerd.log", "chromium.log"):
            path = os.path.join(h.dir, log)
            if os.path.exists(path):
                sys.stderr.write("--- %s:\n%s" % (log, open(path, errors="replace").read()[-4000:]))
        raise
    finally:
        bad = h.cleanup()
    if bad:
        sys.stderr.write("\n".join(bad) + "\n")
        return 1
    print("ok " + args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
