"""The output seam: what the owner hands its records to.

The owner (app/daemon.py) is typed against `Output`; the composition root (app/run.py) gives it a
`FanOut` (outputs/fanout.py), which has no thread of its own and hands each record, on the owner's loop,
to the journal's output (outputs/journal/output.py), the live page's (outputs/web/output.py, with
`web.enabled`) and the MQTT link (outputs/mqtt/link.py). Every method is called on the owner's loop and
must not block it: an output only queues the work for a thread of its own. The journal's `journal-writer`
thread commits (no output touches the disk on the owner's loop); the page's `web` thread serves it; the
link's `mqtt-link` worker publishes, and paho's network thread carries it. A final utterance reaches the
link through the journal: the writer wakes the link once its commit returned, and the worker reads it
from the journal (the link's own `submit_transcript` does nothing).

`StorageReport` is what the journal tells the owner about the disk (`Daemon.storage_report`, from the
journal's writer thread): whether it stores, and an event (`storage_failed` …) when there is one.

`SpeakerRecord` is the owner's way to the record of past meetings: the owner names the voices of the
running meeting itself (it heard them), and asks the record to name one of a meeting that ended; the
answer comes back on a future (from the journal's writer thread), which the owner hands over to its loop.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from roomscribe.core.names import SpeakerNaming
from roomscribe.core.records import AudioStats, Event, Partial, SpeakerMap, StateMessage, Utterance


class Output(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def publish_state(self, msg: StateMessage) -> None: ...

    def publish_event(self, event: Event) -> None: ...

    def publish_partial(self, partial: Partial) -> None: ...

    def submit_transcript(self, utt: Utterance) -> None: ...

    def set_speech_connected(self, value: str) -> None:
        """The speech connection: connected, stalled or disconnected (core/records.py SPEECH_*)."""

    def publish_stats(self, stats: AudioStats) -> None: ...

    def publish_speakers(self, speakers: SpeakerMap) -> None: ...


class SpeakerRecord(Protocol):
    def name_speaker(self, naming: SpeakerNaming, running: str | None) -> Future:
        """Name a voice of a meeting in the record; the result is a core.names.NamingResult (IsRunning when
        the meeting meant is `running`, which the owner names itself)."""
        ...


@dataclass(frozen=True, slots=True)
class StorageReport:
    ok: bool  # records are being stored
    detail: str = ""  # why not: "database or disk is full (SQLITE_FULL)"
    event: Event | None = None  # to publish (storage_failed, storage_recovered, storage_dropped …)
