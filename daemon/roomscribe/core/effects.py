"""What the machine asks the owner to do, as values; the owner carries them out in order.

app/daemon.py dispatches them by type through a table (`Daemon._handlers`), one handler per class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class OpenSession:
    speaker_epoch: int


@dataclass(frozen=True)
class CloseSession:
    graceful: bool  # True: let the service finish what it was sent; False: it is already gone


@dataclass(frozen=True)
class GateOpen:
    pass


@dataclass(frozen=True)
class GateClose:
    tail: bool  # write the tail silence that makes the service close the phrase in flight
    at_once: bool = False  # the tail goes out now (a stop, a source that stopped), not paced in real time


@dataclass(frozen=True)
class ScheduleRetry:
    delay_s: float


@dataclass(frozen=True)
class CancelRetry:
    pass


@dataclass(frozen=True)
class ScheduleRelease:
    delay_s: float


@dataclass(frozen=True)
class CancelRelease:
    pass


@dataclass(frozen=True)
class PublishState:
    pass


@dataclass(frozen=True)
class DiscardBacklog:
    """Give up the audio the outage buffer keeps (core/uplink.py): report it as lost with this reason."""

    meeting_id: str | None
    reason: str  # "meeting_ended" (it was never sent), "service_refused" (the service would not take it)


@dataclass(frozen=True)
class EmitEvent:
    kind: str
    detail: dict
    level: str = "info"


Effect = Union[
    OpenSession, CloseSession, GateOpen, GateClose, ScheduleRetry, CancelRetry,
    ScheduleRelease, CancelRelease, PublishState, EmitEvent, DiscardBacklog,
]


@dataclass(frozen=True)
class CommandResult:
    accepted: bool
    changed: bool
    reason: str | None  # why it was refused, or a note on an acknowledgement
