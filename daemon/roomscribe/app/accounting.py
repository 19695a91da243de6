"""What the service is sent: the cost of a meeting and of a day, the `sending` flag, the keep-alive.

Once a second the owner's loop reads the audio path's running byte count (one short lock, no per-chunk
hand-over) into the meter, and, with silence suppression on, writes a 100 ms keep-alive when nothing was
sent for `audio.vad.keepalive_seconds` (docs/vad.md: why a keep-alive and not a lost session). The
figures go to the outputs as `AudioStats` (retained `<base>/stats`) when `sending` changes and once a
minute: a flag that follows speech, not a state change per sentence.

A meeting's length and paused seconds are measured on the monotonic clock (core/clock.py
MeetingDurations), so a step of the wall clock during a meeting changes neither.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Callable

from roomscribe.app.audio_path import AudioPath
from roomscribe.audio.source import AudioSource
from roomscribe.config import Settings
from roomscribe.core.audio_meter import AudioMeter, AudioTotals
from roomscribe.core.clock import MeetingDurations, WallClock
from roomscribe.core.effects import EmitEvent
from roomscribe.core.records import AudioStats
from roomscribe.outputs.base import Output

log = logging.getLogger("roomscribe.app.daemon")

ACCOUNTING_SECONDS = 1.0
STATS_EVERY_SECONDS = 60.0


class AudioAccounting:
    def __init__(self, audio_path: AudioPath, settings: Settings, output: Output, source: AudioSource,
                 clock: WallClock, today: Callable[[], date] = date.today):
        vad = settings.audio.vad
        self._path = audio_path
        self._keepalive = (vad.keepalive_seconds or None) if vad.enabled else None
        self._room = settings.room
        self._output = output
        self._source = source
        self._clock = clock
        self._today = today
        self.meter = AudioMeter(today())
        self.sending = False
        self.waiting_s = 0.0
        self.durations = MeetingDurations(clock.monotonic)
        self._published_at: float | None = None  # monotonic

    async def run(self) -> None:
        while True:
            await asyncio.sleep(ACCOUNTING_SECONDS)
            if self._keepalive is not None and self._path.keep_alive(self._keepalive, self._clock.now()):
                log.debug("no speech for %.0f s: sent 100 ms of silence to keep the cloud session", self._keepalive)
            was_sending, was_waiting = self.sending, self.waiting_s > 0
            totals = self.take()
            now = self._clock.monotonic()
            if (self.sending != was_sending or (self.waiting_s > 0) != was_waiting or self._published_at is None
                    or now - self._published_at >= STATS_EVERY_SECONDS):
                self.publish(totals)

    def take(self) -> AudioTotals:
        activity = self._path.activity()
        self.sending, self.waiting_s = activity.sending, activity.waiting_s
        return self.meter.update(activity.sent_bytes, self._today())

    def publish(self, totals: AudioTotals | None = None) -> None:
        """The retained stats, from `totals` just taken or else from a fresh reading of the audio path."""
        totals = totals if totals is not None else self.take()
        self._published_at = self._clock.monotonic()
        self._output.publish_stats(AudioStats(
            sending=self.sending, sent_today_s=totals.today_s, sent_meeting_s=totals.meeting_s,
            audio_overflows=int(getattr(self._source, "overflows", 0)), at=self._clock.now(), room=self._room,
            waiting_s=self.waiting_s,
        ))

    def annotate(self, event: EmitEvent):
        """An event's detail, with what the meeting cost on `meeting_ended` (and the count reset on start)."""
        if event.kind == "meeting_started":
            self.meeting_started()
        elif event.kind == "meeting_ended":
            return {**event.detail, **self.meeting_ended()}
        return event.detail

    def meeting_started(self) -> None:
        if hasattr(self._source, "meeting_started"):
            self._source.meeting_started()  # the audio side of a meeting's start: a file plays from its start
        self.take()
        self.meter.meeting_started()
        self.durations.started()
        self.publish()

    def state_changed(self, paused: bool) -> None:
        """Every state the owner publishes: the meeting's pauses are the time spent in `paused`."""
        self.durations.paused(paused)

    def meeting_ended(self) -> dict:
        """What the meeting cost, for its `meeting_ended` event: audio sent, its length and its pauses, in seconds."""
        self.take()
        measured = self.durations.ended()
        cost = {"audio_sent_s": round(self.meter.meeting_ended(), 2),
                "duration_s": round(measured[0], 2) if measured is not None else None,
                "paused_s": round(measured[1], 2) if measured is not None else None}
        self.publish()
        return cost
