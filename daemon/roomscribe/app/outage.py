"""The owner's part in an outage of the speech service: noticing a stall, saying what was lost, and
that what waited was sent.

Twice a second the owner asks the audio path (app/audio_path.py, core/uplink.py) how things stand. That
also sends what waits at real-time pace when no capture does (a paused or silent source). A session that
left speech unanswered past the bound (core/liveness.py) is stalled: the machine leaves `transcribing`,
the audio path holds what comes until the service answers, and `speech_connection` says `stalled`. Audio
the buffer had to drop, or gave up, is published as `audio_lost` events naming its capture span, on
the owner's wall clock of the moment it is reported (its monotonic capture times plus the offset the
clock watch accepted last, core/clock.py): a step of the wall clock while it waited, announced by a
`clock_stepped` before or after it, moves it exactly as the journal moves what it holds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from roomscribe.app.audio_path import AudioPath
from roomscribe.app.publisher import Publisher
from roomscribe.core.backlog import LostSpan
from roomscribe.core.effects import DiscardBacklog
from roomscribe.core.machine import MeetingMachine
from roomscribe.core.records import SPEECH_STALLED
from roomscribe.core.table import Session

log = logging.getLogger("roomscribe.app.daemon")  # the owner's log

# The stall bound (core/liveness.py) is met within this much more.
WATCH_SECONDS = 0.5


class OutageWatch:
    def __init__(self, audio_path: AudioPath, machine: MeetingMachine, publish: Publisher,
                 run_effects: Callable[[], None]):
        self._audio_path = audio_path
        self._machine = machine
        self._publish = publish
        self._run_effects = run_effects

    async def run(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                self.once()
            except Exception:  # noqa: BLE001  (the watch must outlive a bug in one round)
                log.exception("the speech watch failed")

    def once(self) -> None:
        report = self._audio_path.check()
        meeting_id = self._machine.meeting_id
        if report.stalled_for is not None and self._machine.session is Session.ALIVE:
            if self._machine.session_stalled(report.stalled_for):
                log.warning("the speech service left speech unanswered for %.1f s: keeping the audio until it answers",
                            report.stalled_for)
                self._audio_path.stall()
                self._publish.speech_connection(SPEECH_STALLED)
                self._run_effects()
        for span in report.lost:
            self._lost(meeting_id, span, "buffer_full")
        if report.caught_up is not None:
            caught = report.caught_up
            log.info("caught up: %.1f s of audio that waited were sent", caught.buffered_s)
            self._publish.event("speech_caught_up", {
                "meeting_id": meeting_id, "buffered_s": round(caught.buffered_s, 1),
                "outage_s": round(caught.outage_s, 1), "catch_up_s": round(caught.catch_up_s, 1),
                "kept_peak_mb": round(caught.kept_peak_bytes / 1e6, 1),
            })

    def discard(self, effect: DiscardBacklog) -> None:
        """The machine gives up what the buffer keeps: the meeting ended, or the service refused it."""
        earlier, dropped = self._audio_path.discard()
        for span in earlier:
            self._lost(effect.meeting_id, span, "buffer_full")
        if dropped is not None:
            self._lost(effect.meeting_id, dropped, effect.reason)
        if effect.reason == "meeting_ended":
            self._audio_path.new_meeting()

    def _lost(self, meeting_id: str | None, span: LostSpan, reason: str) -> None:
        start, end = self._audio_path.lost_times(span)
        self._publish.audio_lost(meeting_id, start, end, span.seconds, reason)
