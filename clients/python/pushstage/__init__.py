"""pushstage: a client for producerd, the pushstage work dispatcher.

    from pushstage import Client, Consumer
    Client().enqueue("jobs", b"hello")
    for event in Consumer("jobs", id="w1"):
        print(event.data); event.ack()

The protocol is docs/protocol.md of pushstage; this package speaks its
versions 2 to 5 (5: headers on events, failures, job lookup and
cancelling, results and waiting, listing jobs, schedules) with the
standard library only; and a task layer (App, @app.task, @app.periodic,
docs/tasks.md).
"""

from .client import Client, Consumer, Event
from ._core import (Cancelled, ConsumerInfo, DeadEvent, DeadList, Enqueued,
                    Failure, Job, JobsPage, Listed, Message, QueueInfo,
                    Schedule, Stats, WaitResult, default_socket)
from .errors import (DaemonGone, ProtocolError, PushstageError, QueueFull,
                     Refused, Unsupported)
from .aio import AsyncClient, AsyncConsumer, AsyncEvent
from .envelope import BadPayload, TaskError
from .tasks import (App, Periodic, Signature, Task, TaskCancelled, TaskFailed,
                    TaskGone, TaskJob)
from .taskctx import SoftTimeLimitExceeded, TimeLimitExceeded, current_event

__version__ = "0.3.0"

__all__ = [
    "Client", "Consumer", "Event", "AsyncClient", "AsyncConsumer",
    "AsyncEvent", "Message", "Stats", "QueueInfo", "ConsumerInfo",
    "DeadEvent", "DeadList", "Enqueued", "Job", "Failure", "Cancelled",
    "WaitResult", "JobsPage", "Listed", "Schedule", "default_socket",
    "App", "Task", "Periodic", "Signature", "TaskJob", "TaskError",
    "TaskFailed", "TaskCancelled", "TaskGone", "BadPayload",
    "SoftTimeLimitExceeded", "TimeLimitExceeded", "current_event",
    "PushstageError",
    "DaemonGone", "ProtocolError", "QueueFull", "Refused", "Unsupported",
]
