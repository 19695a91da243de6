"""What every audio source promises the owner: chunks with capture times, and status reports.

Both callbacks are called from the source's own thread; the owner hands them over to its loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from roomscribe.core.audio_format import AudioChunk


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """What happened to the source, for the owner to log and publish.

    opened   the device or file is open (again); audio is not flowing yet: detail names it
    flowing  audio is being delivered (the first chunk after opening arrived; a file delivers on demand)
    lost     the device failed or cannot be found; the source retries by itself until stopped. A
             failure that repeats is reported once, so detail says what is wrong right now
    ended    a file source reached its end (never after stop(), never for a looped file)
    overflow samples were dropped because the consumer fell behind; rate-limited, capture goes on
    """

    kind: str  # "opened", "flowing", "lost", "ended", "overflow"
    detail: str = ""


# Returns True if the chunk went out live; a file source holds its first chunk until one does.
ChunkSink = Callable[[AudioChunk], bool | None]
StatusSink = Callable[[SourceStatus], None]


class AudioSource(Protocol):
    # Times captured samples were dropped because the consumer fell behind (the retained stats say it).
    overflows: int

    def start(self, on_chunk: ChunkSink, on_status: StatusSink) -> None: ...

    def stop(self) -> None: ...

    def meeting_started(self) -> None:
        """The owner tells it a meeting starts: a file source plays again from its start (audio/wavfile.py);
        a microphone, which captures all the time, does nothing."""
        ...


class AudioSourceError(Exception):
    """The source cannot be used as configured (file unreadable, unsupported format, no such device)."""
