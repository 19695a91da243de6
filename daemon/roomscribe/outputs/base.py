"""The output seam: what the owner hands its records to.

The owner (app/daemon.py) is typed against `Output`; outputs/mqtt/link.py (MqttLink) implements it.
Every method is called on the owner's loop and must not block it: an output queues the work for its
own thread. `submit_transcript` is the exception that proves the rule: the outbox write is on disk
when it returns (a local SQLite commit, not the network).
"""

from __future__ import annotations

from typing import Protocol

from roomscribe.core.records import AudioStats, Event, Partial, StateMessage, Utterance


class Output(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def publish_state(self, msg: StateMessage) -> None: ...

    def publish_event(self, event: Event) -> None: ...

    def publish_partial(self, partial: Partial) -> None: ...

    def submit_transcript(self, utt: Utterance) -> None: ...

    def set_speech_connected(self, connected: bool | str) -> None:
        """The speech connection: True/False, or a value of its own (core.records: connected, stalled,
        disconnected)."""

    def publish_stats(self, stats: AudioStats) -> None: ...
