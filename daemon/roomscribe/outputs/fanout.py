"""The owner's one output, made of many: each record goes to every output in the list, in the owner's order.

The owner (app/daemon.py) is typed against `Output` and holds one; the composition root (app/run.py)
builds a `FanOut` of the real ones (the journal, the MQTT link). Adding an output is a line there.
Every output only queues for a thread of its own, so the fan-out has no thread and waits for nothing:
"stored before published" is the journal's business (its writer commits, then the link reads what was
committed), not the fan-out's. One output failing never starves the others.

Stopping: outputs that keep something (`flush()`, the journal) first commit what they were handed, so
that the others still deliver it; then the outputs stop in reverse order (the link before the journal,
which writes the link's last acknowledgements).
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence, TypeVar

from roomscribe.core.records import AudioStats, Event, Partial, SpeakerMap, StateMessage, Utterance
from roomscribe.outputs.base import Output

log = logging.getLogger(__name__)
T = TypeVar("T")


class FanOut:
    def __init__(self, outputs: Sequence[Output]):
        self.outputs = list(outputs)

    def find(self, kind: type[T]) -> T | None:
        """The first output of this type (the demo and tests look for the MQTT link)."""
        return next((o for o in self.outputs if isinstance(o, kind)), None)

    def start(self) -> None:
        self._each(lambda o: o.start(), "start")

    def stop(self) -> None:
        for output in self.outputs:
            flush = getattr(output, "flush", None)
            if callable(flush):
                _call(output, "flush", lambda o: flush())
        for output in reversed(self.outputs):
            _call(output, "stop", lambda o: o.stop())

    def publish_state(self, msg: StateMessage) -> None:
        self._each(lambda o: o.publish_state(msg), "publish_state")

    def publish_event(self, event: Event) -> None:
        self._each(lambda o: o.publish_event(event), "publish_event")

    def publish_partial(self, partial: Partial) -> None:
        self._each(lambda o: o.publish_partial(partial), "publish_partial")

    def set_speech_connected(self, value: str) -> None:
        self._each(lambda o: o.set_speech_connected(value), "set_speech_connected")

    def publish_stats(self, stats: AudioStats) -> None:
        self._each(lambda o: o.publish_stats(stats), "publish_stats")

    def submit_transcript(self, utt: Utterance) -> None:
        self._each(lambda o: o.submit_transcript(utt), "submit_transcript")

    def publish_speakers(self, speakers: SpeakerMap) -> None:
        self._each(lambda o: o.publish_speakers(speakers), "publish_speakers")

    def _each(self, call: Callable[[Output], None], name: str) -> None:
        for output in self.outputs:
            _call(output, name, call)


def _call(output: Output, name: str, call: Callable[[Output], None]) -> None:
    try:
        call(output)
    except Exception:  # noqa: BLE001  (one output failing must not starve the others)
        log.exception("output %s failed in %s", type(output).__name__, name)
