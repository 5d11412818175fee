#!/usr/bin/env python3
"""make_corpus.py: write the fuzzers' seed corpora (fuzz/corpus/*).

Each seed is a real exchange, so the fuzzers start from inputs that reach
deep into the state machines.  Run it again after a protocol change.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from integration import (ACK, CLIENT_ROLE, CONSUMER_ROLE, DEAD_DROP,  # noqa: E402
                         SCHED_HEAD, crc32c, sentry, srec,
                         DEAD_LIST, DEAD_RETRY, EVENT, NACK, NACK_LATER, QUEUE_ADMIN, QUEUES,
                         STATS, TOUCH, WELCOME, demand, enqueue, enqueue3, frame,
                         hello, hello3, ids)

HERE = os.path.dirname(os.path.abspath(__file__))


def write(kind, name, data):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def steps(*pairs):
    """(connection 0..2 or 3 for the clock, bytes) -> fuzz_conn's input."""
    out = b""
    for k, data in pairs:
        for i in range(0, max(len(data), 1), 255):
            chunk = data[i:i + 255]
            out += bytes([k, len(chunk)]) + chunk
    return out


consumer = hello(CONSUMER_ROLE, 4, 1, b"c1")
client = hello(CLIENT_ROLE)
stream = (consumer + frame(WELCOME, struct.pack(">HHIIHBB", 2, 0, 4096, 1000, 5, 1, 0)) +
          demand(4) + enqueue(b"a", b"", b"ccc") +
          frame(EVENT, struct.pack(">QI", 1, 1) + b"a") + ids(ACK, 1, 2) +
          ids(NACK, 3) + ids(TOUCH, 4) + frame(STATS) +
          frame(DEAD_LIST, struct.pack(">I", 40)) + ids(DEAD_RETRY) + ids(DEAD_DROP, 9))
stream += (hello3(CONSUMER_ROLE, b"q", 1, 0, b"c3") +
           hello3(CONSUMER_ROLE, b"q", 1, 0, b"c4", partition=2) + enqueue3(b"q", b"x") +
           frame(STATS, b"\x01q") + frame(QUEUES, b"\0\0\0\0") +
           frame(QUEUE_ADMIN, b"\x01\0\x01q\0\x01\0\x0bmax-queue=1") +
           frame(NACK_LATER, struct.pack(">IIQ", 250, 1, 7)))
stream += bytes.fromhex("0000001303010000") + struct.pack(">I", 1) + b"\x01q" + \
    struct.pack(">IH", 2, 5) + b"\x01\x03key" + b"hi"
# Version 5's own: an ENQUEUE with headers, an EVENT with a key and
# headers, a NACK_ERROR, a JOB and its JOB_REPLY with two failures.
hdr5 = bytes([128, 0, 11, 4]) + b"taskresize"
v5 = (struct.pack(">IBBH", 6 + 6 + len(hdr5) + 2, 3, 1, 0) +
      struct.pack(">IB", 1, 1) + b"q" + struct.pack(">IH", 2, len(hdr5)) + hdr5 + b"hi" +
      struct.pack(">IBBH", 12 + 2 + 3 + len(hdr5) + 2, 6, 1, 0) +
      struct.pack(">QIH", 7, 1, 3 + len(hdr5)) + bytes([1, 1]) + b"k" + hdr5 + b"hi" +
      frame(23, struct.pack(">QIH", 7, 0xffffffff, 4) + b"boom") +
      frame(24, b"\x01q" + struct.pack(">QHB", 7, 16, 0)) +
      frame(25, struct.pack(">QBBIQHIH", 7, 6, 0, 2, 1800000000000, 32768, 2, 2) +
            b"hi" + b"\x01w" + struct.pack(">H", 3 + len(hdr5)) + bytes([1, 1]) + b"k" +
            hdr5 + b"\x02" +
            struct.pack(">QIB", 1, 1, 1) + b"w" + struct.pack(">H", 1) + b"x" +
            struct.pack(">QIB", 2, 2, 0) + struct.pack(">H", 0)))
v5 += (frame(26, struct.pack(">IQQ", 2, 7, 8)) +
       frame(27, b"\x01q\x00" + struct.pack(">IQ", 1, 7)) +
       frame(27, b"\x01q\x02u1" + struct.pack(">I", 0)) +
       frame(28, struct.pack(">IQBQB", 2, 7, 1, 8, 2)))
v5 += (frame(29, struct.pack(">QI", 7, 2) + b"ok") +
       frame(30, b"\x01q" + struct.pack(">QIB", 7, 1000, 0)) +
       frame(31, struct.pack(">QBBBBQII", 7, 9, 0, 0, 0, 1800000000000, 1, 2) + b"ok") +
       frame(25, struct.pack(">QBBIQHIH", 7, 9, 0, 1, 1800000000000, 32768, 2, 0) +
             b"\x00" + struct.pack(">H", 0) + b"\x00" + struct.pack(">I", 2) + b"ok"))
v5 += (frame(32, b"\x01q" + struct.pack(">BHH", 1, 50, 8) + bytes(16) +
             struct.pack(">BH", 2, 5) + b"\x01nv12") +
       frame(33, bytes(16) + struct.pack(">I", 1) +
             struct.pack(">QBBIQIH", 7, 1, 0, 0, 1800000000000, 2, 2) + b"hi" +
             struct.pack(">H", 3 + len(hdr5)) + bytes([1, 1]) + b"k" + hdr5))
# TASK_STATS and its reply: two rows, one with two named fields.
v5 += (frame(34, b"\x01q" + struct.pack(">I", 0)) +
       frame(35, struct.pack(">II", 3, 2) + b"\x06resize\x02" +
             b"\x04done" + struct.pack(">Q", 5) +
             b"\x0fhandling_p99_ms" + struct.pack(">Q", 70) +
             b"\x05other\x00"))
write("decoder", "version-5-frames", bytes([255]) + v5)
write("decoder", "all-frames-whole", bytes([255]) + stream)
write("decoder", "all-frames-bytewise", bytes([0]) + stream)
write("decoder", "all-frames-by-7", bytes([6]) + stream)

write("conn", "enqueue-then-demand", steps(
    (1, client + enqueue(b"one", b"two", b"three")),
    (0, consumer + demand(4)),
    (0, ids(ACK, 1, 2) + ids(NACK, 3)),
    (1, frame(STATS))))
write("conn", "timeout-and-late-ack", steps(
    (0, consumer + demand(2)),
    (1, client + enqueue(b"x", b"y")),
    (3, b"\0" * 20),
    (2, hello(CONSUMER_ROLE, 2, 0, b"c2") + demand(2)),
    (0, ids(ACK, 1) + ids(TOUCH, 2)),
    (2, ids(ACK, 1, 2))))
write("conn", "dead-letters", steps(
    (0, hello(CONSUMER_ROLE, 1, 0, b"n") + demand(1)),
    (1, client + enqueue(b"poison")),
    (0, ids(NACK, 1) + demand(1)),
    (0, ids(NACK, 1) + demand(1)),
    (0, ids(NACK, 1) + demand(1)),
    (1, frame(DEAD_LIST, struct.pack(">I", 8)) + ids(DEAD_RETRY, 1)),
    (1, ids(DEAD_DROP))))
def admin(op, queue, *settings, flags=0):
    body = bytes([op, flags, len(queue)]) + queue + struct.pack(">H", len(settings))
    for kv in settings:
        body += struct.pack(">H", len(kv)) + kv
    return frame(QUEUE_ADMIN, body)


def qbody(queue, rest=b""):
    return bytes([len(queue)]) + queue + rest


write("conn", "version-3-queues", steps(
    (0, hello3(CONSUMER_ROLE, b"jobs", 2, 0, b"w") + demand(2)),
    (1, hello3(CLIENT_ROLE) + enqueue3(b"jobs", b"j1", b"j2") + enqueue3(b"mail", b"m")),
    (0, ids(NACK, 1) + ids(ACK, 2) + demand(2)),
    (1, frame(STATS, qbody(b"jobs")) + frame(QUEUES, struct.pack(">I", 0)) +
     admin(1, b"mail", b"max-queue=1", b"overflow=drop-oldest") + enqueue3(b"mail", b"m2")),
    (2, hello3(CLIENT_ROLE) + frame(DEAD_LIST, qbody(b"jobs", struct.pack(">I", 8))) +
     frame(DEAD_RETRY, qbody(b"jobs", struct.pack(">I", 0))) + admin(2, b"mail") +
     admin(3, b"jobs", flags=1) + admin(4, b"new", b"delivery=at-most-once")),
    (3, b"\0" * 20)))
write("conn", "groups", steps(
    (0, hello3(CONSUMER_ROLE, b"jobs/mail", 2, 0, b"m") + demand(2)),
    (2, hello3(CONSUMER_ROLE, b"jobs/audit", 1, 0, b"a") + demand(1)),
    (1, hello3(CLIENT_ROLE) + enqueue3(b"jobs", b"x", b"y", b"z")),
    (0, ids(ACK, 1) + ids(NACK, 2) + demand(2)),
    (1, frame(STATS, qbody(b"jobs/mail")) + frame(DEAD_LIST, qbody(b"jobs/audit",
     struct.pack(">I", 4))) + admin(5, b"jobs/", flags=1) + admin(5, b"jobs/mail")),
    (3, b"\0" * 30),
    (2, ids(ACK, 1))))
def keyed(queue, *pairs):
    """A version 3 ENQUEUE whose events carry attributes (flag 1)."""
    body = struct.pack(">I", len(pairs)) + bytes([len(queue)]) + queue
    for key, data in pairs:
        attrs = b"" if key is None else bytes([1, len(key)]) + key
        body += struct.pack(">IH", len(data), len(attrs)) + attrs + data
    return struct.pack(">IBBH", len(body), 3, 1, 0) + body


write("conn", "keys", steps(
    (1, hello3(CLIENT_ROLE) + admin(4, b"k", b"dispatch=key")),
    (0, hello3(CONSUMER_ROLE, b"k", 3, 0, b"w") + demand(3)),
    (1, keyed(b"k", (b"a", b"1"), (b"a", b"2"), (None, b"3"), (b"", b"4"), (b"b", b"5"))),
    (0, ids(NACK, 1) + ids(ACK, 3) + demand(2)),
    (2, hello3(CONSUMER_ROLE, b"k", 2, 0, b"v") + demand(2)),
    (3, b"\0" * 20),
    (1, admin(2, b"k") + admin(1, b"k", b"dispatch=demand"))))
write("conn", "partitions", steps(
    (1, hello3(CLIENT_ROLE) + admin(4, b"p", b"dispatch=partition:3")),
    (0, hello3(CONSUMER_ROLE, b"p", 3, 0, b"w", partition=1) + demand(3)),
    (2, hello3(CONSUMER_ROLE, b"p", 2, 0, b"v", partition=2) + demand(2)),
    (1, keyed(b"p", (b"a", b"1"), (b"b", b"2"), (None, b"3"), (b"user-42", b"4"),
              (b"c", b"5"))),
    (0, ids(NACK, 1) + ids(ACK, 2) + demand(2)),
    (3, b"\0" * 20),
    (1, frame(STATS, qbody(b"p")) + admin(2, b"p") +
     admin(1, b"p", b"dispatch=partition:2"))))
write("conn", "schedule", steps(
    (1, hello3(CLIENT_ROLE) + admin(4, b"s", b"rate=2/100ms", b"retry-backoff=10ms:40ms",
                                    b"max-attempts=3")),
    (0, hello3(CONSUMER_ROLE, b"s", 4, 0, b"w") + demand(4)),
    (1, enqueue3(b"s", b"1", b"2", b"3", b"4", b"5")),
    (0, ids(NACK, 1) + frame(NACK_LATER, struct.pack(">IIQ", 5, 1, 2)) + ids(ACK, 3) +
     demand(3)),
    (3, b"\0" * 20),
    (1, admin(1, b"s", b"paused=yes") + enqueue3(b"s", b"6") + admin(1, b"s", b"paused=no") +
     admin(1, b"s", b"paused=until:99999999999999", b"rate=none") + admin(2, b"s")),
    (3, b"\0" * 20),
    (0, frame(NACK_LATER, struct.pack(">I", 1)))))


def attrs(queue, *pairs):
    """A version 3 ENQUEUE of (attribute bytes, payload) pairs."""
    body = struct.pack(">I", len(pairs)) + bytes([len(queue)]) + queue
    for a, data in pairs:
        body += struct.pack(">IH", len(data), len(a)) + a + data
    return struct.pack(">IBBH", len(body), 3, 1, 0) + body


DELAY = lambda ms: bytes([2, 8]) + struct.pack(">Q", ms)
PRIO = lambda p: bytes([4, 2]) + struct.pack(">H", p)
UID = lambda u: bytes([5, len(u)]) + u
write("conn", "delays-priorities-unique", steps(
    (1, hello3(CLIENT_ROLE) + admin(4, b"d", b"dedup-window=50ms")),
    (1, attrs(b"d", (DELAY(30), b"1"), (PRIO(1), b"2"), (UID(b"u") + PRIO(9), b"3"),
              (UID(b"u"), b"4"), (DELAY(5) + UID(b"v") + bytes([1, 1]) + b"k", b"5"),
              (bytes([3, 8]) + struct.pack(">Q", 1), b"6"))),
    (0, hello3(CONSUMER_ROLE, b"d", 4, 0, b"w") + demand(4)),
    (3, b"\0" * 20),
    (0, ids(NACK, 2) + ids(ACK, 1, 3) + demand(2)),
    (1, attrs(b"d", (UID(b"u"), b"7"), (PRIO(65535), b"8")) + admin(3, b"d", flags=1)),
    (3, b"\0" * 20),
    (1, attrs(b"d", (PRIO(1) + PRIO(2), b"bad")))))
def hello5(role, queue=b"", max_demand=0, name=b""):
    return frame(1, struct.pack(">HBBIIB", 5, role, 0, max_demand, 0, len(name)) + name +
                 bytes([len(queue)]) + queue)


NACK_ERROR = 23
write("conn", "version-5-headers-and-failures", steps(
    (1, hello5(CLIENT_ROLE)),
    (0, hello5(CONSUMER_ROLE, b"h", 3, b"w") + demand(3)),
    (1, attrs(b"h", (bytes([1, 1]) + b"k" + bytes([128, 0, 11, 4]) + b"taskresize", b"1"),
              (bytes([128, 0, 3, 1]) + b"n1" + bytes([128, 0, 3, 1]) + b"m2", b"2"))),
    (0, frame(NACK_ERROR, struct.pack(">QIH", 1, 0xffffffff, 5) + b"boom!") +
     frame(NACK_ERROR, struct.pack(">QIH", 2, 0, 0)) + demand(2)),
    # 2 again, given up on at once (0xfffffffe): dead, reason 4.
    (0, frame(NACK_ERROR, struct.pack(">QIH", 2, 0xfffffffe, 11) + b"UnknownTask")),
    (2, hello3(CONSUMER_ROLE, b"h", 2, 0, b"old") + demand(2)),
    (3, b"\0" * 20),
    (1, frame(DEAD_LIST, qbody(b"h", struct.pack(">I", 16))) +
     attrs(b"h", (bytes([128, 0, 3, 1]) + b"n1" + bytes([128, 0, 3, 1]) + b"n2", b"dup")))))
JOB_CANCEL = 27
write("conn", "version-5-cancel", steps(
    (1, hello5(CLIENT_ROLE)),
    (0, hello5(CONSUMER_ROLE, b"c", 2, b"w") + demand(2)),
    (1, enqueue3(b"c", b"a", b"b", b"c", b"d") +
     attrs(b"c", (UID(b"u1"), b"e"), (DELAY(60000), b"f"))),
    (3, b"\0" * 4),
    (1, frame(JOB_CANCEL, b"\x01c\x00" + struct.pack(">IQQ", 2, 1, 3)) +
     frame(JOB_CANCEL, b"\x01c\x02u1" + struct.pack(">I", 0)) +
     frame(JOB_CANCEL, b"\x01c\x00" + struct.pack(">IQ", 1, 6))),
    (0, ids(ACK, 1) + ids(NACK, 2) + demand(2)),
    (2, hello5(CLIENT_ROLE) + frame(JOB_CANCEL, b"\x01c\x00" + struct.pack(">IQ", 1, 99)))))
write("conn", "version-5-results-and-waits", steps(
    (1, hello5(CLIENT_ROLE)),
    (0, hello5(CONSUMER_ROLE, b"r", 3, b"w") + demand(3)),
    (1, admin(4, b"r", b"keep-done=1h") + enqueue3(b"r", b"a", b"b", b"c")),
    (2, hello5(CLIENT_ROLE) + frame(30, b"\x01r" + struct.pack(">QIB", 2, 0xffffffff, 0))),
    (0, frame(29, struct.pack(">QI", 1, 3) + b"one") + frame(29, struct.pack(">QI", 2, 0))),
    (3, b"\0" * 4),
    (1, frame(30, b"\x01r" + struct.pack(">QIB", 1, 0, 0)) +
     frame(24, b"\x01r" + struct.pack(">QHB", 1, 16, 0)) +
     frame(30, b"\x01r" + struct.pack(">QIB", 3, 5, 0))),
    (3, b"\0" * 20),
    (0, ids(NACK, 3) + frame(29, struct.pack(">QI", 9, 1) + b"x"))))
TASK_STATS = 34
task = lambda name: bytes([128, 0, 5 + len(name), 4]) + b"task" + name
write("conn", "version-5-task-stats", steps(
    (1, hello5(CLIENT_ROLE) + admin(4, b"t", b"max-task-stats=2")),
    (0, hello5(CONSUMER_ROLE, b"t", 6, b"w") + demand(6)),
    (1, attrs(b"t", (task(b"resize"), b"1"), (task(b"a\"<\\"), b"2"),
              (task(b"third"), b"3"), (task(b"other"), b"4"),
              (bytes([128, 0, 5, 4]) + b"task", b"5"), (b"", b"6"))),
    (0, ids(ACK, 1, 5, 6) + ids(NACK, 2) +
     frame(NACK_ERROR, struct.pack(">QIH", 3, 0xfffffffe, 2) + b"no") +
     frame(NACK_ERROR, struct.pack(">QIH", 4, 0, 0)) + demand(3)),
    (3, b"\0" * 20),
    (1, frame(TASK_STATS, qbody(b"t", struct.pack(">I", 0))) +
     frame(TASK_STATS, qbody(b"t", struct.pack(">I", 2))) +
     frame(TASK_STATS, qbody(b"t/g", struct.pack(">I", 0)))),
    (2, hello5(CLIENT_ROLE) + frame(TASK_STATS, qbody(b"t", b"\0")))))
write("conn", "version-5-jobs", steps(
    (1, hello5(CLIENT_ROLE) + enqueue3(b"j", b"a", b"b", b"c", b"d")),
    (0, hello5(CONSUMER_ROLE, b"j", 1, b"w") + demand(1)),
    (1, frame(32, b"\x01j" + struct.pack(">BHH", 1, 2, 4) + bytes(16) + struct.pack(">BH", 0, 0)) +
     frame(32, b"\x01j" + struct.pack(">BHH", 5, 10, 4) + bytes(16) + struct.pack(">BH", 1, 0)) +
     frame(32, b"\x01j" + struct.pack(">BHH", 1, 2, 4) + struct.pack(">QQ", 2, 99) +
           struct.pack(">BH", 0, 0)))))
write("conn", "version-1-and-errors", steps(
    (0, hello(CONSUMER_ROLE, 3, 0, b"old", version=1) + demand(3)),
    (1, hello(CLIENT_ROLE, version=1) + enqueue(b"p") + ids(ACK, 1)),
    (2, b"GET / HTTP/1.1\r\n\r\n")))


# ------------------------------------------------ journal segments (replay)

assert crc32c(b"123456789") == 0xe3069283


def segment(seq, first_id, *records):
    """A segment as docs/journal.md lays it out: header, then records."""
    head = b"pushstgj" + struct.pack(">II", 1, 0) + struct.pack(">QQ", seq, first_id)
    out = head + struct.pack(">I", crc32c(head)) + b"\0" * 4
    for rtype, body in records:
        h = struct.pack(">IBBHI", len(body), rtype, 0, 0, crc32c(body))
        out += h + struct.pack(">I", crc32c(h)) + body
    return out


def rec_enqueue(first, *events):
    return 1, struct.pack(">Q", first) + b"".join(struct.pack(">I", len(e)) + e for e in events)


def rec_ids(rtype, *idlist):
    return rtype, b"".join(struct.pack(">Q", i) for i in idlist)


def rec_dead(*entries):
    return 4, b"".join(struct.pack(">QIIB", i, a, len(e), r) + e for i, a, r, e in entries)


def files(flags, *segs):
    return bytes([flags]) + b"".join(struct.pack(">H", len(s)) + s for s in segs)


DELIVER, DONE, RETRY = 2, 3, 5
seg1 = segment(1, 1, rec_enqueue(1, b"a", b"bb", b"ccc"), rec_ids(DELIVER, 1, 2),
               rec_ids(DONE, 1), rec_dead((2, 5, 1, b"bb")))
seg2 = segment(2, 4, rec_enqueue(4, b"d" * 40), rec_ids(RETRY, 2), rec_ids(DELIVER, 3, 3, 3))
seg3 = segment(3, 5, rec_enqueue(5, b"e", b"f"), rec_ids(DONE, 4))
write("replay", "three-segments", files(0, seg1, seg2, seg3))
write("replay", "three-segments-repair-fixed", files(3, seg1, seg2, seg3))
write("replay", "gap", files(5, seg1, seg2, seg3))
write("replay", "torn-tail", files(0, seg1, seg2[:-5]))
write("replay", "flipped-byte", files(1, seg1[:50] + b"X" + seg1[51:], seg2))
QENQUEUE, QDEAD = 6, 7
seg4 = segment(4, 7, (QENQUEUE, b"\x04jobs" + rec_enqueue(7, b"j", b"k")[1]),
               rec_ids(DELIVER, 7), (QDEAD, b"\x04jobs" + rec_dead((7, 1, 1, b"j"))[1]),
               rec_enqueue(9, b"d"))
write("replay", "named-queues", files(0, seg1, seg2, seg3, seg4))


def gname(queue, group):
    return bytes([len(queue)]) + queue + bytes([len(group)]) + group


GROUP, GROUP_DROP, GROUPS, GDELIVER, GDONE, GRETRY, GDEAD = range(8, 15)
seg5 = segment(5, 10, (GROUP, gname(b"jobs", b"mail") + struct.pack(">Q", 10)),
               (QENQUEUE, b"\x04jobs" + rec_enqueue(10, b"p", b"q", b"r")[1]),
               (GDELIVER, gname(b"jobs", b"mail") + struct.pack(">QQ", 10, 11)),
               (GDONE, gname(b"jobs", b"mail") + struct.pack(">Q", 10)),
               (GDEAD, gname(b"jobs", b"mail") + struct.pack(">QIB", 11, 1, 1)),
               (GRETRY, gname(b"jobs", b"mail") + struct.pack(">Q", 11)),
               (GROUP_DROP, gname(b"jobs", b"")),
               (GROUPS, b"\x04jobs\x02" + b"\x04mail" + struct.pack(">Q", 10) +
                b"\x00" + struct.pack(">Q", 12)))
write("replay", "groups", files(0, seg1, seg2, seg3, seg4, seg5))
KENQUEUE, KDEAD = 15, 16
seg6 = segment(6, 20, (KENQUEUE, b"\x01k" + struct.pack(">Q", 20) +
                        struct.pack(">IB", 1, 2) + b"a" + b"x" +
                        struct.pack(">IB", 1, 0) + b"y" + struct.pack(">IB", 1, 1) + b"z"),
               rec_ids(DELIVER, 20),
               (KDEAD, b"\x01k" + struct.pack(">QIIBB", 20, 1, 1, 1, 2) + b"a" + b"x"))
write("replay", "keys", files(0, seg1, seg2, seg3, seg4, seg5, seg6))

# Events with a due time, a priority or a unique id (XENQUEUE, 17): one due
# long ago, one far ahead, one prioritised and unique, done; in a queue
# with a group too.
XENQUEUE = 17


def xevent(data, attrs):
    return struct.pack(">IH", len(data), len(attrs)) + attrs + data


seg8 = segment(1, 1, (XENQUEUE, b"\x01x" + struct.pack(">Q", 1) +
                      xevent(b"old", bytes([3, 8]) + struct.pack(">Q", 1)) +
                      xevent(b"far", bytes([3, 8]) + struct.pack(">Q", 1 << 60)) +
                      xevent(b"pri", bytes([4, 2, 0, 7, 5, 2]) + b"id") +
                      xevent(b"key", bytes([1, 1]) + b"k" + bytes([5, 1]) + b"j")),
               rec_ids(DONE, 3),
               (GROUP, gname(b"x", b"g") + struct.pack(">Q", 1)),
               (GDONE, gname(b"x", b"g") + struct.pack(">Q", 4)))
write("replay", "scheduled-events", files(0, seg8))

# Compaction's copies (KEEP, 18): an event copied forward with its
# attempts and attributes, over its ENQUEUE, then done; one whose ENQUEUE
# segment is gone.
KEEP = 18


def keep_entry(i, attempts, data, attrs=b""):
    return struct.pack(">QIIH", i, attempts, len(data), len(attrs)) + attrs + data


seg9 = segment(1, 1, rec_enqueue(1, b"a", b"b"), rec_ids(DELIVER, 1),
               (KEEP, b"\x07default" + keep_entry(1, 3, b"a") +
                keep_entry(7, 0, b"far", bytes([3, 8]) + struct.pack(">Q", 1 << 60) +
                           bytes([4, 2, 0, 1]))),
               rec_ids(DONE, 2), rec_ids(DELIVER, 1, 7))
write("replay", "compacted", files(0, seg9))

# GKEEP (19): events of a queue with groups, each with the groups' holds.
GKEEP = 19


def gkeep_entry(i, data, attrs, *holds):
    out = struct.pack(">QIH", i, len(data), len(attrs)) + attrs + data + bytes([len(holds)])
    for name, attempts, dead, reason in holds:
        out += bytes([len(name)]) + name + struct.pack(">IBB", attempts, dead, reason)
    return out


seg10 = segment(1, 1, (GROUP, gname(b"g", b"a") + struct.pack(">Q", 1)),
                (QENQUEUE, b"\x01g" + rec_enqueue(1, b"p", b"q")[1]),
                (GKEEP, b"\x01g" + gkeep_entry(1, b"p", b"", (b"", 1, 0, 0), (b"a", 2, 1, 1)) +
                 gkeep_entry(5, b"late", bytes([3, 8]) + struct.pack(">Q", 1 << 60), (b"a", 0, 0, 0))),
                (GDONE, gname(b"g", b"a") + struct.pack(">Q", 2)))
write("replay", "compacted-groups", files(0, seg10))

# UIDS (20): unique ids carried forward from a deleted segment: one whose
# window runs (its event done, its records gone), one of an event live
# when carried and done since, one given to a dead letter whose own
# record went, one over long ago; and a queue with groups.
UIDS = 20


def uids_entry(i, expires, uid):
    return struct.pack(">QQB", i, expires, len(uid)) + uid


seg11 = segment(3, 40, (UIDS, b"\x04jobs" + uids_entry(7, 1 << 60, b"done-1") +
                        uids_entry(8, 0, b"live-then") + uids_entry(41, 0, b"dead-1") +
                        uids_entry(9, 1, b"over")),
                (QDEAD, b"\x04jobs" + rec_dead((41, 1, 1, b"d"))[1]),
                (GROUP, gname(b"g", b"a") + struct.pack(">Q", 1)),
                (UIDS, b"\x01g" + uids_entry(3, 1 << 60, b"grouped")))
write("replay", "carried-uids", files(0, seg11))


def renumbered(seg, seq):
    """A segment file with another number, its header's checksum again."""
    head = seg[:16] + struct.pack(">Q", seq) + seg[24:32]
    return head + struct.pack(">I", crc32c(head)) + seg[36:]


# Version 5 (XDEAD, 21; FAIL, 22): events with headers, pending and dead,
# and their failures, the newest of each saying; a retry ending them.
XDEAD, FAIL = 21, 22


def header(name, value):
    return bytes([128]) + struct.pack(">H", 1 + len(name) + len(value)) + \
        bytes([len(name)]) + name + value


def fail_entry(i, *fails):
    out = struct.pack(">QB", i, len(fails))
    for at, attempt, who, err in fails:
        out += struct.pack(">QIB", at, attempt, len(who)) + who + \
            struct.pack(">H", len(err)) + err
    return out


hd = header(b"task", b"resize") + header(b"content-type", b"application/json")
seg12 = segment(1, 1, (XENQUEUE, b"\x01h" + struct.pack(">Q", 1) + xevent(b"one", hd) +
                       xevent(b"two", bytes([1, 1]) + b"k" + hd)),
                rec_ids(DELIVER, 1, 2),
                (FAIL, gname(b"h", b"") + fail_entry(1, (1800000000000, 1, b"w", b"boom"))),
                (FAIL, gname(b"h", b"") + fail_entry(2, (1800000000001, 1, b"w", b"x"),
                                                      (1800000000002, 2, b"", b""))),
                (XDEAD, b"\x01h" + struct.pack(">QIBIH", 2, 2, 1, 3, 3 + len(hd)) +
                 bytes([1, 1]) + b"k" + hd + b"two"),
                (FAIL, gname(b"h", b"") + fail_entry(2, (1800000000002, 2, b"w", b"last"))),
                (GROUP, gname(b"h", b"g") + struct.pack(">Q", 1)),
                (FAIL, gname(b"h", b"g") + fail_entry(1, (1800000000003, 1, b"v", b"g's"))),
                rec_ids(RETRY, 2))
write("replay", "headers-and-failures", files(0, seg12))

# KEPT (23): done events' records with their results, in two groups, one
# carried forward (an older copy of it too).
KEPT = 23


def kept_entry(i, at, attempts, result):
    return struct.pack(">QQII", i, at, attempts, len(result)) + result


seg13 = segment(1, 1, rec_enqueue(1, b"a", b"b", b"c"), rec_ids(DELIVER, 1, 2, 3),
                rec_ids(DONE, 1, 2, 3),
                (KEPT, gname(b"default", b"") + kept_entry(1, 1800000000000, 1, b"r1") +
                 kept_entry(2, 1800000000001, 2, b"")),
                (KEPT, gname(b"default", b"g") + kept_entry(3, 1800000000002, 1, b"x" * 300)))
seg14 = segment(2, 4, (KEPT, gname(b"default", b"") + kept_entry(1, 1800000000000, 1, b"r1")))
write("replay", "kept-results", files(0, seg13, seg14))

# A journal producerd wrote before the records had a codec of their own
# (tests/fixtures): every record type, 1 to 20, as the daemon writes them.
with open(os.path.join(HERE, "..", "tests", "fixtures", "journal-eef6bed", "data",
                       "00000003.seg"), "rb") as f:
    write("replay", "every-record-type", files(0, renumbered(f.read(), 1)))

# fuzz_json: a first byte (the ids' limit, the preview's length), then an
# HTTP API body, or a JetStream reply or NATS header block as libnats
# hands it over.
write("json", "ids", b"\x05" + b'{"ids":[1,2,3]}')
write("json", "empty", b"\x00{}")
write("json", "big", b"\x10" + b'{"ids": [18446744073709551615, 0]}')
write("json", "msg", b"\x07" + b'{"type":"io.nats.jetstream.api.v1.stream_msg_get_response",'
      b'"message":{"subject":"pushstage.jobs.dead","seq":3,'
      b'"hdrs":"TkFUUy8xLjANClB1c2hzdGFnZS1BdHRlbXB0czogMw0KDQo=",'
      b'"data":"PHNjcmlwdD4=","time":"2026-12-02T01:00:00Z"}}')
write("json", "error", b"\x01" + b'{"type":"io.nats.jetstream.api.v1.stream_info_response",'
      b'"error":{"code":404,"err_code":10059,'
      b'"description":"stream \\u003cPSD_x\\u003e not found"}}')
write("json", "header", b"\x02NATS/1.0\r\nPushstage-Attempts: 3\r\nStatus: 408\r\n\r\n")
write("json", "bytes", b"\x03h\xc3\xa9llo <b>\x01\xff")
write("json", "schedule", b"\x07" + b'{"name":"nightly","queue":"reports","cron":"0 6 * * *",'
      b'"unique":true,"paused":null,"priority":7,"headers":{"x-a":"\\u00e9\\ud83d\\ude00"},'
      b'"payload":"a\\"b\\n"}')

# SCHEDULE (36) from a version 5 client: ADDs good and bad, LIST, PAUSE,
# RESUME, RUN_NOW with a consumer of its queue, REMOVE, a name it lacks.
def sched(op, name=b"", start=0, flags=0):
    return frame(36, bytes([op, flags, len(name)]) + name + struct.pack(">I", start))


def sched_add(name, queue, settings, payload=b"", attrs=b"", flags=0):
    body = bytes([1, flags, len(name)]) + name + struct.pack(">I", 0) + \
        bytes([len(queue)]) + queue + struct.pack(">H", len(settings))
    for s in settings:
        body += struct.pack(">H", len(s)) + s
    return frame(36, body + struct.pack(">IH", len(payload), len(attrs)) + attrs + payload)


client5 = frame(1, struct.pack(">HBBIIB", 5, CLIENT_ROLE, 0, 0, 0, 0) + b"\0")
write("conn", "schedules", steps(
    (1, client5 + sched_add(b"beat", b"t", [b"every=1s", b"catch-up=all"], b"x",
                            bytes([4, 2, 0, 9]) + hdr5) +
     sched_add(b"n", b"t", [b"cron=0 6 * * mon-fri", b"tz=UTC", b"unique=yes"]) +
     sched(6) + sched(6, b"beat") + sched(3, b"beat") + sched(4, b"beat")),
    (0, frame(1, struct.pack(">HBBIIB", 5, CONSUMER_ROLE, 0, 4, 0, 1) + b"w\x01t") +
     demand(4)),
    (1, sched(5, b"beat") + sched(2, b"n") + sched(6, b"", 1) +
     sched_add(b"beat", b"t", [b"every=2s"], flags=1)),
    (3, b"\0" * 20),
    (2, client5 + sched_add(b"x", b"t", [b"cron=61 * * * *"])),
    (1, sched(3, b"gone"))))

# fuzz_task: a first byte (where the input splits into an error's message
# and traceback, and the error's room), then JSON text, a task's name or
# stderr: docs/tasks.md's vectors, and the near misses a validator meets.
with open(os.path.join(HERE, "..", "tests", "fixtures", "tasks", "vectors.json"),
          "rb") as f:
    write("task", "vectors", b"\xff" + f.read())
write("task", "payload", b"\x10" + b'{"args":[42],"kwargs":{"size":3}}')
write("task", "escapes", b"\x07" + b'["line\\nbreak \\"q\\" \\\\ \\t\\u0001 \\ud83d\\ude00"]')
write("task", "numbers", b"\x03" + b"[0,-0,1.5e+10,-2E-3,123456789012345678901234567890]")
write("task", "deep", b"\x40" + b"[" * 600 + b"]" * 600)
write("task", "stderr", b"\x20" + b"Traceback:\n  \"x\" \\ \x01\x7f h\xc3\xa9 \xff\xc0\xaf\xed\xa0\x80")
write("task", "bad", b"\x02" + b'{"args":[1,],"kwargs":{"a" 1}} tru \\ud800')

# fuzz_schedules: DIR/schedules as producerd writes it (docs/journal.md,
# Schedules): its head, then records of u32 length, u32 CRC32C, u8 type
# and a body: DEFs (a SCHEDULE_REPLY entry), a TICK, a GONE; then one cut.
shead = SCHED_HEAD
prog = [b"created=1796677881000", b"last=1796677941000", b"last-id=7",
        b"fired=3", b"skipped=1", b"after=1796677941000"]
sdefs = (srec(1, sentry(b"beat", b"t", [b"every=1s", b"catch-up=all"] + prog, b"x")) +
         srec(1, sentry(b"n", b"t", [b"cron=30 2 * * *", b"tz=Europe/Berlin",
                                     b"paused=yes", b"unique=yes"] + prog, b"{}",
                        bytes([4, 2, 0, 9]) + hdr5)) +
         srec(3, b"\x04beat" + struct.pack(">QQQQQB", 1796678000000, 1796678000000,
                                           9, 4, 1, 0)))
write("schedules", "three-records", shead + sdefs)
write("schedules", "gone-and-cut", shead + sdefs + srec(2, b"\x01n") + srec(2, b"\x04beat")[:7])
write("schedules", "empty", shead)
