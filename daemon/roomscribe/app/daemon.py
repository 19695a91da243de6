"""The owner of the daemon's state.

Everything that changes state runs on one asyncio loop: MQTT commands, speech session events and the
audio source's status reports arrive from their library threads through `loop.call_soon_threadsafe`.
The state machine decides and returns effects; this module carries them out, each effect type by its
handler in `Daemon._handlers`. Captured chunks are the exception: they go through the gate to the push
stream on the capture thread (audio_path.py), and the owner only opens, closes and re-targets that
path. Starting and finishing a cloud session block for up to seconds, so they run in a worker thread
and report back as events.

Every time the owner stamps (a state's `since`, an event's `at`, an utterance's start and end) is on its
wall clock, the monotonic clock plus the offset accepted at the last check (core/clock.py, app/clockwatch.py).

The owner knows its adapters only by their protocols: AudioSource (audio/source.py), SpeechSession
and its events (speech/session.py), Output, SpeakerRecord and StorageReport (outputs/base.py),
ServiceNotifier (system/notifier.py).
The composition root (app/run.py) builds the real ones.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from roomscribe.app.accounting import AudioAccounting
from roomscribe.app.audio_path import AudioPath
from roomscribe.app.clockwatch import ClockWatch
from roomscribe.app.outage import OutageWatch
from roomscribe.app.phrases import PhraseKeeper
from roomscribe.app.publisher import Publisher
from roomscribe.app.sessions import SessionKeeper
from roomscribe.app.speakers import Naming
from roomscribe.app.speech_events import SpeechEvents
from roomscribe.app.sources import SourceReports
from roomscribe.app.timers import Timers
from roomscribe.audio.source import AudioSource, SourceStatus
from roomscribe.config import Settings
from roomscribe.core.audio_format import BYTES_PER_SECOND
from roomscribe.core.backoff import Backoff
from roomscribe.core.clock import SYSTEM_CLOCK, Clock, WallClock
from roomscribe.core.effects import (
    CancelRelease,
    CancelRetry,
    CloseSession,
    DiscardBacklog,
    Effect,
    EmitEvent,
    GateClose,
    GateOpen,
    OpenSession,
    PublishState,
    ScheduleRelease,
    ScheduleRetry,
)
from roomscribe.core.gate import AudioGate
from roomscribe.core.machine import MeetingMachine
from roomscribe.core.names import SpeakerNaming
from roomscribe.core.records import SPEECH_DISCONNECTED
from roomscribe.core.table import State
from roomscribe.core.voice_filter import VoiceStage
from roomscribe.outputs.base import Output, SpeakerRecord
from roomscribe.speech.session import SessionFactory, SpeechSession
from roomscribe.system import exitcodes
from roomscribe.system.notifier import ServiceNotifier
from roomscribe.system.timesync import ClockSync, check_clock_sync

log = logging.getLogger(__name__)

# The pause tail: the segmentation silence that makes the service close the phrase in flight, plus
# a margin for the service's own framing.
TAIL_MARGIN_MS = 300
SHUTDOWN_SECONDS = 4.0
READY_WAIT_SECONDS = 10.0


def hand_over(loop_now: Callable[[], asyncio.AbstractEventLoop | None], handler: Callable) -> Callable:
    """A callback for a library thread that runs `handler(item)` on the owner's loop, if it still runs."""

    def from_thread(item) -> None:
        loop = loop_now()
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(handler, item)
            except RuntimeError:
                pass  # the loop closed between the check and the call: we are shutting down

    return from_thread


async def watchdog_pings(notifier: ServiceNotifier | None) -> None:
    """WATCHDOG=1 every half interval, from the owner's loop, the loop that does the work: a blocked loop stops the pings."""
    interval = notifier.watchdog_interval() if notifier else None
    if not interval:
        return
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval / 2)


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        source: AudioSource,
        output: Output,
        session_factory: SessionFactory,
        notifier: ServiceNotifier | None = None,
        voice: VoiceStage | None = None,
        clock: Clock = SYSTEM_CLOCK,
        clock_sync: Callable[[], ClockSync] = check_clock_sync,
        record: SpeakerRecord | None = None,
    ):
        """`record`: where voices of past meetings are named (the journal's output); None: nowhere."""
        self.settings = settings
        self.source = source
        self.output = output
        self.notifier = notifier
        self._session_factory = session_factory
        speech = settings.speech
        self.wall_clock = WallClock(clock)
        self.machine = MeetingMachine(
            release_after_s=speech.release_after_minutes * 60 if speech.release_after_minutes else None,
            backoff=Backoff(initial=1.0, cap=speech.reconnect_max_delay),
            auth_retry_s=speech.auth_retry_minutes * 60,
            clock=self.wall_clock.now,
        )
        self.audio_path = AudioPath(AudioGate(tail_ms=speech.segmentation_silence_ms + TAIL_MARGIN_MS), voice,
                                    clock=clock.monotonic, wall_offset=lambda: self.wall_clock.offset,
                                    buffer_bytes=round(speech.outage_buffer_minutes * 60) * BYTES_PER_SECOND)
        self.accounting = AudioAccounting(self.audio_path, settings, output, source, self.wall_clock)
        self.publish = Publisher(settings, output, notifier, self.wall_clock.now)
        self.clock_watch = ClockWatch(self.wall_clock, clock_sync, self.publish, self.machine, self._publish_state)
        self.sessions = SessionKeeper(self.audio_path)
        self.words = PhraseKeeper(speech.phrases, self.publish, self.sessions)
        self.naming = Naming(self.publish.speakers, output, record, self.publish.event, self._handover)
        self._timers = Timers()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle = asyncio.Event()
        self._sources = SourceReports(self.publish.event, self._audio_changed)
        # For the journal's writer thread: whether records are stored (outputs/base.py StorageReport).
        self.storage_report = self._handover(lambda report: self.publish.storage(report, self.machine))
        self._speech_events = SpeechEvents(self.sessions, self.audio_path, self.publish, self.machine,
                                           self._run_effects)
        self.outage = OutageWatch(self.audio_path, self.machine, self.publish, self._run_effects)
        # Effects by type: each class of core/effects.py has exactly one handler (a test checks).
        self._handlers: dict[type[Effect], Callable] = {
            OpenSession: self._open_session,
            CloseSession: self._close_session,
            GateOpen: self._gate_open,
            GateClose: lambda e: self.audio_path.close(tail=e.tail, at_once=e.at_once),
            ScheduleRetry: lambda e: self._schedule("retry", e.delay_s, self.machine.retry_due),
            CancelRetry: lambda e: self._timers.cancel("retry"),
            ScheduleRelease: lambda e: self._schedule("release", e.delay_s, self.machine.release_due),
            CancelRelease: lambda e: self._timers.cancel("release"),
            PublishState: lambda e: self._publish_state(),
            EmitEvent: lambda e: self.publish.event(e.kind, self.accounting.annotate(e), self.machine.request_id, e.level),
            DiscardBacklog: self.outage.discard,
        }

    @property
    def session(self) -> SpeechSession | None:
        return self.sessions.current

    @property
    def source_status(self) -> SourceStatus | None:
        return self._sources.last

    # -- hand-over from library threads ---------------------------------------------------------

    def _handover(self, handler: Callable) -> Callable:
        return hand_over(lambda: self._loop, handler)

    # -- main ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        self._loop = asyncio.get_running_loop()
        self.output.start()
        self.source.start(self.audio_path.feed, self._handover(self._sources.report))
        self._publish_state()
        self.publish.speech_connection(SPEECH_DISCONNECTED)  # replaces what an earlier run left retained
        if self.settings.meeting.autostart:
            self._command("start", None)
        tasks = [asyncio.create_task(work, name=name) for name, work in (
            ("watchdog", watchdog_pings(self.notifier)), ("audio-accounting", self.accounting.run()),
            ("clock-watch", self.clock_watch.run()), ("speech-watch", self.outage.run()))]
        # Ready = the MQTT link is started, the first state is published and the audio source has
        # reported on its device (opened, or lost and being retried: the daemon then runs and says so).
        try:
            await asyncio.wait_for(self._sources.reported.wait(), READY_WAIT_SECONDS)
        except asyncio.TimeoutError:
            log.warning("the audio source has not reported after %.0f s", READY_WAIT_SECONDS)
        if self.notifier:
            self.notifier.ready()
        try:
            await stop.wait()
        finally:
            await self._shutdown()
            for task in tasks:
                task.cancel()
        return exitcodes.OK

    async def _shutdown(self) -> None:
        if self.notifier:
            self.notifier.stopping()
        log.info("stopping: finishing the utterance in flight")
        self.source.stop()  # capture ends first: nothing new after the stop request
        if self.machine.state is not State.IDLE:
            self._idle.clear()
            self._command("stop", None)
            try:
                await asyncio.wait_for(self._idle.wait(), SHUTDOWN_SECONDS)
            except asyncio.TimeoutError:
                log.warning("the speech session did not finish within %.0f s", SHUTDOWN_SECONDS)
        self._timers.cancel_all()
        await asyncio.to_thread(self.output.stop)
        self.sessions.shutdown()

    # -- inputs --------------------------------------------------------------------------------

    def on_command(self, command) -> None:
        """For the outputs' command channels (the MQTT link's worker thread, the page's thread): a parsed
        command with name, request_id, phrases, or a name for a voice (core.names.SpeakerNaming). Only hands
        it over to the loop."""
        if isinstance(command, SpeakerNaming):
            return self._handover(self.naming.take)(command)
        self._handover(lambda cmd: self._command(cmd.name, cmd.request_id, getattr(cmd, "phrases", None)))(command)

    def _command(self, name: str, request_id: str | None, phrases: tuple[str, ...] | None = None) -> None:
        if self.words.takes(name, phrases, request_id, self.machine.meeting_id):
            return  # the room's phrase list, or a start whose phrases do not fit: answered there
        result = self.machine.command(name, request_id)
        if not result.accepted:
            log.info("refused %s: %s", name, result.reason)
            self.publish.event("command_refused", {"command": name, "reason": result.reason}, request_id, "warning")
        elif phrases is not None:  # before the effects: a session this start opens gets them
            self.words.meeting_phrases(self.machine.meeting_id, phrases, request_id)
        self._run_effects()
        if result.accepted and not result.changed:
            self._publish_state(request_id=request_id)  # acknowledged: the state is already what was asked

    def _audio_changed(self, status, detail: str) -> None:
        self.machine.audio_changed(status, detail)
        self._run_effects()

    # -- effects -------------------------------------------------------------------------------

    def _run_effects(self) -> None:
        for effect in self.machine.drain_effects():
            handler = self._handlers.get(type(effect))
            if handler is None:
                log.error("no handler for effect %r", effect)
                continue
            handler(effect)
        self.audio_path.pause(self.machine.state is State.PAUSED)  # what an outage kept waits out a pause

    def _open_session(self, effect: OpenSession) -> None:
        key = self.settings.speech_key()
        if key is None and self.settings.speech.host is None:
            self.machine.session_lost(
                code="NoKey", retryable=False,
                reason="no Azure Speech key: set speech.key, AZURE_SPEECH_KEY, speech.key_file or the azure-speech-key credential")
            return self._run_effects()
        try:
            session = self._session_factory(self._handover(self._speech_events.handle), effect.speaker_epoch)
            session.set_phrases(self.words.current(self.machine.meeting_id))
        except Exception as exc:
            log.exception("could not create the speech session")
            self.machine.session_lost(code="RuntimeError", reason=str(exc), retryable=True)
            return self._run_effects()
        self.sessions.open(self._loop, session, self.machine.meeting_id, self._session_started)

    def _session_started(self, session: SpeechSession, future) -> None:
        # Started is not ready: it is ready once its service answers (speech_events.py). Only a failure counts.
        exc = future.exception()
        if session is self.session and exc is not None:
            log.error("speech session did not start: %s", exc)
            self.machine.session_lost(code="RuntimeError", reason=str(exc), retryable=True)
            self._run_effects()

    def _close_session(self, effect: CloseSession) -> None:
        session = self.sessions.detach(graceful=effect.graceful, ending=self.machine.state is State.STOPPING)
        self.publish.speech_connection(SPEECH_DISCONNECTED)
        self.sessions.finish(self._loop, session, graceful=effect.graceful, on_closed=self._session_closed)

    def _session_closed(self, session: SpeechSession | None) -> None:
        if session is not None:
            self.sessions.forget(self._loop, session)
        self.machine.session_stopped()
        self._run_effects()

    def _gate_open(self, effect: GateOpen) -> None:
        self._speech_events.closes_while_paused = 0
        self.audio_path.open()

    def _schedule(self, name: str, delay: float, trigger: Callable[[], None]) -> None:
        def fire() -> None:
            trigger()
            self._run_effects()

        self._timers.schedule(self._loop, name, delay, fire)

    def _publish_state(self, request_id: str | None = None) -> None:
        self.accounting.state_changed(self.machine.state is State.PAUSED)
        self.publish.state(self.machine, request_id)
        if self.machine.state is State.IDLE:
            self._idle.set()
