"""pushstage.envelope: the task envelope of docs/tasks.md.

A task is an event whose `task` header names it, whose `content-type`
header is application/json (or absent), and whose payload is the JSON
object {"args": [...], "kwargs": {...}}.  Its result is the JSON of the
return value; its error the JSON object {"type", "message",
"traceback"}, at most 4096 bytes.  Every client of pushstage writes and
reads the same bytes (tests/fixtures/tasks/vectors.json).
"""

from __future__ import annotations

import json
import traceback as _tb
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

CONTENT_TYPE = "application/json"
TASK_HEADER = "task"
TYPE_HEADER = "content-type"
NAME_MAX = 255
ERROR_MAX = 4096       # a NACK_ERROR's error, docs/protocol.md
MESSAGE_MAX = 1024     # an error's message, before its traceback is cut

# The error types the pushstage programs send (docs/tasks.md).
UNKNOWN_TASK = "UnknownTask"
BAD_PAYLOAD = "BadPayload"
UNSUPPORTED_CONTENT_TYPE = "UnsupportedContentType"
TIME_LIMIT_EXCEEDED = "TimeLimitExceeded"
SIGNAL = "Signal"
EXIT_STATUS = "ExitStatus"


class BadPayload(ValueError):
    """A payload that is not the envelope: not UTF-8, not JSON, not an
    object, args not an array or kwargs not an object."""


class TaskError(Exception):
    """A task's error as its NACK carried it (or a worker said it):
    .type, .message and .traceback, as docs/tasks.md's error object."""

    def __init__(self, type: str, message: str, traceback: str = "") -> None:
        super().__init__("%s: %s" % (type, message) if message else type)
        self.type = type
        self.message = message
        self.traceback = traceback


def is_json_type(content_type: Optional[str]) -> bool:
    """Does a content-type header say the envelope's encoding?  None
    (no header) does; so does application/json in any letter case, with
    parameters or without ("application/json; charset=utf-8")."""
    if content_type is None:
        return True
    return content_type.split(";")[0].strip().lower() == CONTENT_TYPE


def check_name(name: str) -> str:
    """name if it can be a task's name (1 to 255 bytes of UTF-8 without
    control characters), else ValueError saying why."""
    if not isinstance(name, str):
        raise TypeError("a task's name is a str, not %s"
                        % type(name).__name__)
    try:
        n = len(name.encode())
    except UnicodeEncodeError:
        raise ValueError("task name %r: not valid UTF-8" % name) from None
    if not 1 <= n <= NAME_MAX:
        raise ValueError("task name %r: %d bytes, must be 1 to %d"
                         % (name[:40], n, NAME_MAX))
    for ch in name:
        if ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0:
            raise ValueError("task name %r: a control character" % name)
    return name


def _dumps(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def _check_value(what: str, v: Any) -> None:
    """TypeError naming what when v has no JSON encoding."""
    try:
        _dumps(v)
    except (TypeError, ValueError) as e:
        raise TypeError("%s: %r cannot be sent as JSON (%s)"
                        % (what, v, e)) from None
    if isinstance(v, str):
        try:
            v.encode()
        except UnicodeEncodeError:
            raise TypeError("%s: %r is not valid UTF-8 (a lone surrogate)"
                            % (what, v)) from None


def encode_call(args: Sequence[Any] = (),
                kwargs: Optional[Mapping[str, Any]] = None) -> bytes:
    """The payload of a call: {"args":[...],"kwargs":{...}}, compact, in
    UTF-8.  An argument that JSON cannot encode (an object, a set, NaN,
    bytes) is a TypeError naming it: "argument 2", "argument size"."""
    a = list(args)
    k = dict(kwargs or {})
    for i, v in enumerate(a):
        _check_value("argument %d" % (i + 1), v)
    for name, v in k.items():
        if not isinstance(name, str):
            raise TypeError("keyword argument %r: a name is a str" % (name,))
        _check_value("argument %s" % name, v)
    try:
        return _dumps({"args": a, "kwargs": k}).encode()
    except UnicodeEncodeError as e:
        raise TypeError("arguments: not valid UTF-8 (%s)" % e) from None


def decode_call(payload: Union[bytes, bytearray, memoryview]
                ) -> Tuple[List[Any], Dict[str, Any]]:
    """(args, kwargs) of a task's payload; BadPayload when it is not the
    envelope, its message saying how."""
    try:
        text = bytes(payload).decode()
    except UnicodeDecodeError as e:
        raise BadPayload("the payload is not UTF-8 (byte %d)"
                         % e.start) from None
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except ValueError as e:
        raise BadPayload("the payload is not JSON: %s" % e) from None
    if not isinstance(obj, dict):
        raise BadPayload("the payload is not a JSON object")
    args = obj.get("args", [])
    kwargs = obj.get("kwargs", {})
    if not isinstance(args, list):
        raise BadPayload("args is not an array")
    if not isinstance(kwargs, dict):
        raise BadPayload("kwargs is not an object")
    return args, kwargs


def _no_constant(s: str) -> Any:
    raise ValueError("%s is not JSON" % s)


def encode_result(value: Any) -> bytes:
    """A return value as its ACK's result: its JSON, compact, in UTF-8
    (None: null).  TypeError when JSON cannot encode it."""
    _check_value("the result", value)
    return _dumps(value).encode()


def decode_result(result: Optional[bytes]) -> Any:
    """A result as the value it encodes; no result (a plain ACK) or an
    empty one is None.  BadPayload when it is not JSON."""
    if not result:
        return None
    try:
        return json.loads(bytes(result).decode(),
                          parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadPayload("the result is not JSON: %s" % e) from None


def _head(s: str, n: int) -> str:
    """s cut to at most n bytes of UTF-8, at a character's end."""
    b = s.encode(errors="replace")
    if len(b) <= n:
        return s
    return b[:n].decode(errors="ignore")


def _tail(s: str, n: int) -> str:
    """The last n bytes (at most) of s in UTF-8, from a character's
    start."""
    b = s.encode(errors="replace")
    if len(b) <= n:
        return s
    return b[len(b) - n:].decode(errors="ignore")


def encode_error(type: str, message: str, traceback: str = "",
                 limit: int = ERROR_MAX) -> bytes:
    """The error object {"type","message","traceback"} in at most limit
    bytes: the traceback is cut from its start first, then the message
    at its end (to MESSAGE_MAX, then less), then the type."""
    type = _head(type, 256)
    message = _head(message, MESSAGE_MAX)

    def enc(t: str, m: str, tb: str) -> bytes:
        return _dumps({"type": t, "message": m,
                       "traceback": tb}).encode(errors="replace")

    out = enc(type, message, traceback)
    if len(out) <= limit:
        return out
    # Escapes make the JSON longer than the text: find the longest end
    # of the traceback that fits, then of the message's head, by halves.
    traceback = _longest(lambda t: enc(type, message, t), traceback,
                         _tail, limit)
    out = enc(type, message, traceback)
    if len(out) > limit:
        message = _longest(lambda m: enc(type, m, ""), message, _head,
                           limit)
        type = _longest(lambda t: enc(t, message, ""), type, _head, limit)
        out = enc(type, message, traceback)
    return out


def _longest(enc: Any, s: str, cut: Any, limit: int) -> str:
    """cut(s, n) for the largest n whose enc(...) is at most limit
    bytes (n 0, the empty string, when none is)."""
    lo, hi = 0, len(s.encode(errors="replace"))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(enc(cut(s, mid))) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return str(cut(s, lo))


def error_of(e: BaseException, limit: int = ERROR_MAX) -> bytes:
    """An exception as the envelope's error: its class name, its str and
    its whole traceback (chained exceptions too), cut to limit bytes."""
    try:
        msg = str(e)
    except Exception:
        msg = "<exception str() failed>"
    tb = "".join(_tb.format_exception(type(e), e, e.__traceback__))
    return encode_error(type(e).__name__, msg, tb, limit)


def decode_error(error: Union[str, bytes, None]) -> TaskError:
    """A NACK's error as a TaskError.  One that is not the envelope's
    object (a worker that does not speak it) is a TaskError whose type
    is "Error" and whose message is the text."""
    if error is None:
        return TaskError("Error", "")
    text = error.decode(errors="replace") if isinstance(
        error, (bytes, bytearray)) else error
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if (isinstance(obj, dict) and isinstance(obj.get("type"), str) and
            isinstance(obj.get("message", ""), str)):
        tb = obj.get("traceback", "")
        return TaskError(obj["type"], obj.get("message", ""),
                         tb if isinstance(tb, str) else "")
    return TaskError("Error", text)
