"""The owner of the daemon's state, and `roomscribe run`.

Everything that changes state runs on one asyncio loop: MQTT commands, Speech SDK events and the
audio source's status reports arrive from their library threads through `loop.call_soon_threadsafe`.
The state machine decides and returns effects; this module carries them out. Captured chunks are the
exception: they go through the gate to the push stream on the capture thread (audio_path.py), and
the owner only opens, closes and re-targets that path. Starting and finishing a cloud session block
for up to seconds, so they run in a worker thread and report back as events.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from dataclasses import dataclass
from typing import Callable

from roomscribe import exitcodes
from roomscribe.audio.source import AudioSource, AudioSourceError, SourceStatus
from roomscribe.audio_path import AudioPath
from roomscribe.config import Settings
from roomscribe.core import states
from roomscribe.core.backoff import Backoff
from roomscribe.core.gate import AudioGate
from roomscribe.core.records import Event, Partial, StateMessage, Utterance
from roomscribe.core.timeline import Timeline
from roomscribe.core.audio_meter import AudioMeter
from roomscribe.core.voice_filter import VoiceStage
from roomscribe.speech import session as sp

log = logging.getLogger(__name__)

# The pause tail: the segmentation silence that makes the service close the phrase in flight, plus
# a margin for the service's own framing.
TAIL_MARGIN_MS = 300
SHUTDOWN_SECONDS = 4.0
# While no audio is written, the service closes the idle socket (every 5 minutes) and the SDK
# reconnects; after 5 such closes in a row it stops silently and would never send audio again. The
# daemon releases the session before that, so a resume opens a working one.
IDLE_CLOSES_BEFORE_RELEASE = 3
READY_WAIT_SECONDS = 10.0
ACCOUNTING_SECONDS = 1.0


@dataclass
class _SessionBook:
    """What the owner keeps per cloud session: its timeline, meeting and whether it is still ours."""

    timeline: Timeline
    meeting_id: str
    closing: bool = False


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        source: AudioSource,
        link,
        session_factory: Callable,
        notifier=None,
        voice: VoiceStage | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.source = source
        self.link = link
        self.notifier = notifier
        self._session_factory = session_factory  # (emit, epoch) -> SpeechSession
        self._clock = clock
        speech = settings.speech
        self.machine = states.MeetingMachine(
            release_after_s=speech.release_after_minutes * 60 if speech.release_after_minutes else None,
            backoff=Backoff(initial=1.0, cap=speech.reconnect_max_delay),
            auth_retry_s=speech.auth_retry_minutes * 60,
            clock=clock,
        )
        self.audio_path = AudioPath(AudioGate(tail_ms=speech.segmentation_silence_ms + TAIL_MARGIN_MS), voice)
        self.meter = AudioMeter(date.today())
        self.sending = False
        self._meeting_began: float | None = None
        self.session = None
        self._books: dict[object, _SessionBook] = {}
        self._seq: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="speech-worker")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle = asyncio.Event()
        self._source_reported = asyncio.Event()
        self._speech_connected = False
        self._closes_while_paused = 0
        self.utterances_published = 0
        self.source_status: SourceStatus | None = None

    # -- hand-over from library threads ---------------------------------------------------------

    def _handover(self, handler: Callable) -> Callable:
        def from_thread(item) -> None:
            loop = self._loop
            if loop is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(handler, item)
                except RuntimeError:
                    pass  # the loop closed between the check and the call: we are shutting down

        return from_thread

    # -- main ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        self._loop = asyncio.get_running_loop()
        self.link.start()
        self.source.start(self.audio_path.feed, self._handover(self._on_source_status))
        self._publish_state()
        if self.settings.meeting.autostart:
            self._command("start", None)
        watchdog = asyncio.create_task(self._watchdog(), name="watchdog")
        accounting = asyncio.create_task(self._account(), name="audio-accounting")
        # Ready = the MQTT link is started, the first state is published and the audio source has
        # reported on its device (opened, or lost and being retried: the daemon then runs and says so).
        try:
            await asyncio.wait_for(self._source_reported.wait(), READY_WAIT_SECONDS)
        except asyncio.TimeoutError:
            log.warning("the audio source has not reported after %.0f s", READY_WAIT_SECONDS)
        if self.notifier:
            self.notifier.ready()
        try:
            await stop.wait()
        finally:
            await self._shutdown()
            watchdog.cancel()
            accounting.cancel()
        return exitcodes.OK

    async def _shutdown(self) -> None:
        if self.notifier:
            self.notifier.stopping()
        log.info("stopping: finishing the utterance in flight")
        self.source.stop()  # capture ends first: nothing new after the stop request
        if self.machine.state is not states.State.IDLE:
            self._idle.clear()
            self._command("stop", None)
            try:
                await asyncio.wait_for(self._idle.wait(), SHUTDOWN_SECONDS)
            except asyncio.TimeoutError:
                log.warning("the speech session did not finish within %.0f s", SHUTDOWN_SECONDS)
        for timer in self._timers.values():
            timer.cancel()
        await asyncio.to_thread(self.link.stop)
        self._workers.shutdown(wait=False, cancel_futures=True)

    async def _account(self) -> None:
        """Once a second: what went to the service (cost), whether speech is being sent, the keep-alive."""
        vad = self.settings.audio.vad
        keepalive = vad.keepalive_seconds if vad.enabled and vad.keepalive_seconds else None
        while True:
            await asyncio.sleep(ACCOUNTING_SECONDS)
            self._take_account()
            if keepalive is not None and self.audio_path.keep_alive(keepalive, self._clock()):
                log.debug("no speech for %.0f s: sent 100 ms of silence to keep the cloud session", keepalive)

    def _take_account(self) -> None:
        activity = self.audio_path.activity()
        self.meter.update(activity.sent_bytes, date.today())
        self.sending = activity.sending

    async def _watchdog(self) -> None:
        interval = self.notifier.watchdog_interval() if self.notifier else None
        if not interval:
            return
        while True:
            self.notifier.watchdog()  # from the loop that does the work: a blocked loop stops the pings
            await asyncio.sleep(interval / 2)

    # -- inputs --------------------------------------------------------------------------------

    def on_command(self, command) -> None:
        """For the MQTT link (paho's thread)."""
        self._handover(lambda cmd: self._command(cmd.name, cmd.request_id))(command)

    def _command(self, name: str, request_id: str | None) -> None:
        result = self.machine.command(name, request_id)
        if not result.accepted:
            log.info("refused %s: %s", name, result.reason)
            self._event("command_refused", {"command": name, "reason": result.reason}, request_id, "warning")
        self._run_effects()
        if result.accepted and not result.changed:
            self._publish_state(request_id=request_id)  # acknowledged: the state is already what was asked

    def _on_source_status(self, status: SourceStatus) -> None:
        self.source_status = status
        self._source_reported.set()
        if status.kind == "opened":
            log.info("audio source opened: %s", status.detail)
            self._event("audio_source_opened", {"detail": status.detail})
            self._audio_changed(states.AudioStatus.WAITING, f"{status.detail} is open; no audio delivered yet")
        elif status.kind == "flowing":
            log.info("audio flows from %s", status.detail)
            self._audio_changed(states.AudioStatus.FLOWING, f"{status.detail} delivers audio")
        elif status.kind == "lost":
            log.error("audio source lost: %s", status.detail)
            self._event("audio_source_lost", {"detail": status.detail}, level="error")
            self._audio_changed(states.AudioStatus.LOST, status.detail)
        elif status.kind == "overflow":
            log.warning("audio overflow: %s", status.detail)
            self._event("audio_overflow", {"detail": status.detail}, level="warning")
        elif status.kind == "ended":
            log.info("audio source ended: %s", status.detail)
            self._event("audio_source_ended", {"detail": status.detail})
            self._audio_changed(states.AudioStatus.ENDED, f"{status.detail} played to its end")

    def _audio_changed(self, status: states.AudioStatus, detail: str) -> None:
        self.machine.audio_changed(status, detail)
        self._run_effects()

    def _on_speech_event(self, event) -> None:
        book = self._books.get(event.session)
        if book is None:
            return  # a session we already closed: late events mean nothing now
        if isinstance(event, sp.Transcribed):
            self._publish_utterance(event, book)
        elif isinstance(event, sp.Transcribing):
            self._publish_partial(event, book)
        elif isinstance(event, sp.Canceled):
            if event.reason == "EndOfStream" or book.closing or event.session is not self.session:
                return
            log.warning("speech session canceled: %s %s", event.code, event.details)
            self.machine.session_lost(code=event.code, reason=event.details, retryable=event.retryable)
            self._run_effects()
        elif isinstance(event, sp.ConnectionChanged):
            if event.session is self.session:
                self._set_speech_connected(event.connected)
                if not event.connected:
                    self._count_close_while_paused()

    def _count_close_while_paused(self) -> None:
        if self.machine.state not in (states.State.PAUSED, states.State.NO_AUDIO):
            return
        self._closes_while_paused += 1
        if self._closes_while_paused >= IDLE_CLOSES_BEFORE_RELEASE:
            log.warning("the service closed the idle connection %d times during the pause; releasing the session",
                        self._closes_while_paused)
            self.machine.release_due(reason=f"the service closed the idle connection {self._closes_while_paused} times",
                                     from_timer=False)
            self._run_effects()

    # -- effects -------------------------------------------------------------------------------

    def _run_effects(self) -> None:
        for effect in self.machine.drain_effects():
            handler = getattr(self, "_do_" + type(effect).__name__, None)
            if handler is None:
                log.error("no handler for effect %r", effect)
                continue
            handler(effect)

    def _do_OpenSession(self, effect) -> None:
        key = self.settings.speech_key()
        if key is None and self.settings.speech.host is None:
            self.machine.session_lost(
                code="NoKey",
                reason="no Azure Speech key: set speech.key, AZURE_SPEECH_KEY, speech.key_file or the "
                "azure-speech-key credential",
                retryable=False,
            )
            return self._run_effects()
        try:
            session = self._session_factory(self._handover(self._on_speech_event), effect.speaker_epoch)
        except Exception as exc:
            log.exception("could not create the speech session")
            self.machine.session_lost(code="RuntimeError", reason=str(exc), retryable=True)
            return self._run_effects()
        self.session = session
        book = self._books[session] = _SessionBook(Timeline(), self.machine.meeting_id)
        self.audio_path.attach(session, book.timeline)
        future = self._loop.run_in_executor(self._workers, session.start)
        future.add_done_callback(lambda f: self._session_started(session, f))

    def _session_started(self, session, future) -> None:
        if session is not self.session:
            return
        exc = future.exception()
        if exc is not None:
            log.error("speech session did not start: %s", exc)
            self.machine.session_lost(code="RuntimeError", reason=str(exc), retryable=True)
        else:
            self.machine.session_ready()
        self._run_effects()

    def _do_CloseSession(self, effect) -> None:
        session, self.session = self.session, None
        self.audio_path.detach(finish_tail=effect.graceful)
        self._set_speech_connected(False)
        if session is None:
            self._loop.call_soon(self._session_closed, None)
            return
        self._books[session].closing = True
        future = self._loop.run_in_executor(self._workers, lambda: session.finish(graceful=effect.graceful))
        future.add_done_callback(lambda f: self._session_closed(session))

    def _session_closed(self, session) -> None:
        if session is not None:
            # Drop the book only after the events the SDK queued before finishing were handled.
            self._loop.call_soon(self._books.pop, session, None)
        self.machine.session_stopped()
        self._run_effects()

    def _do_GateOpen(self, effect) -> None:
        self._closes_while_paused = 0
        self.audio_path.open()

    def _do_GateClose(self, effect) -> None:
        self.audio_path.close(tail=effect.tail, at_once=effect.at_once)

    def _do_ScheduleRetry(self, effect) -> None:
        self._schedule("retry", effect.delay_s, self.machine.retry_due)

    def _do_CancelRetry(self, effect) -> None:
        self._cancel("retry")

    def _do_ScheduleRelease(self, effect) -> None:
        self._schedule("release", effect.delay_s, self.machine.release_due)

    def _do_CancelRelease(self, effect) -> None:
        self._cancel("release")

    def _do_PublishState(self, effect) -> None:
        self._publish_state()

    def _do_EmitEvent(self, effect) -> None:
        detail = effect.detail
        if effect.kind == "meeting_started":
            self._take_account()
            self.meter.meeting_started()
            self._meeting_began = self._clock()
        elif effect.kind == "meeting_ended":  # what the meeting cost: the audio the service was sent
            self._take_account()
            began, self._meeting_began = self._meeting_began, None
            detail = {**detail, "audio_sent_s": round(self.meter.meeting_ended(), 2),
                      "duration_s": round(self._clock() - began, 2) if began is not None else None}
        self._event(effect.kind, detail, self.machine.request_id, getattr(effect, "level", "info"))

    def _schedule(self, name: str, delay: float, trigger: Callable[[], None]) -> None:
        self._cancel(name)

        def fire() -> None:
            self._timers.pop(name, None)
            trigger()
            self._run_effects()

        self._timers[name] = self._loop.call_later(delay, fire)

    def _cancel(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    # -- outputs -------------------------------------------------------------------------------

    def _publish_state(self, request_id: str | None = None) -> None:
        m = self.machine
        message = StateMessage(
            state=m.state.value,
            since=m.since,
            meeting_id=m.meeting_id,
            speaker_epoch=m.speaker_epoch,
            request_id=request_id or m.request_id,
            detail=m.detail,
            room=self.settings.room,
            audio=m.audio.value,
            audio_detail=m.audio_detail,
        )
        self.link.publish_state(message)
        if m.state is states.State.IDLE:
            self._idle.set()
        if self.notifier:
            self.notifier.status(f"{m.state.value}: {m.detail}" if m.detail and m.detail != m.state.value else m.state.value)

    def _event(self, kind: str, detail, request_id: str | None = None, level: str = "info") -> None:
        self.link.publish_event(
            Event(kind=kind, detail=detail, at=self._clock(), room=self.settings.room, request_id=request_id, level=level)
        )

    def _set_speech_connected(self, connected: bool) -> None:
        if connected != self._speech_connected:
            self._speech_connected = connected
            self.link.set_speech_connected(connected)

    def _publish_utterance(self, event, book: _SessionBook) -> None:
        start, end = self.audio_path.wall_span(book.timeline, event.offset_ticks, event.duration_ticks)
        seq = self._seq.get(book.meeting_id, 0) + 1
        self._seq[book.meeting_id] = seq
        utterance = Utterance(
            meeting_id=book.meeting_id,
            seq=seq,
            speaker=event.speaker,
            speaker_epoch=event.session.epoch,
            text=event.text,
            start=start,
            end=end,
            offset_ms=event.offset_ticks // 10_000,
            duration_ms=event.duration_ticks // 10_000,
            language=self.settings.speech.language,
            room=self.settings.room,
        )
        log.info("utterance %d %s: %s", seq, event.speaker, event.text)
        self.link.submit_transcript(utterance)
        self.utterances_published += 1

    def _publish_partial(self, event, book: _SessionBook) -> None:
        start, _ = self.audio_path.wall_span(book.timeline, event.offset_ticks, 0)
        # The SDK says "Unknown" while it has no speaker for the words so far (always without
        # intermediate diarization); the contract says null then.
        speaker = None if event.speaker == "Unknown" else event.speaker
        self.link.publish_partial(
            Partial(meeting_id=book.meeting_id, speaker=speaker, text=event.text, start=start, room=self.settings.room)
        )


# -- `roomscribe run` ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", help="configuration file (default: $ROOMSCRIBE_CONFIG or /etc/roomscribe/config.yaml)")


def main(args: argparse.Namespace) -> int:
    from roomscribe import logs
    from roomscribe.checkconfig import describe_problem
    from roomscribe.config import ConfigError, default_config_path, load_config
    from roomscribe.config_checks import run_problems

    try:
        settings = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("configuration error in %s: %s", exc.source, problem)
        return exitcodes.CONFIG
    logs.apply_config_level(args, settings.log.level)
    problems = run_problems(settings)  # a state directory it cannot write, a microphone without PyAudio
    if problems:
        for problem in problems:
            log.error("configuration error in %s: %s", args.config or default_config_path(), describe_problem(problem))
        return exitcodes.CONFIG
    try:
        return asyncio.run(run_daemon(settings))
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("configuration error: %s", problem)
        return exitcodes.CONFIG


def build_source(settings: Settings) -> AudioSource:
    audio = settings.audio
    if audio.source == "file":
        from roomscribe.audio.wavfile import WavFileSource

        return WavFileSource(audio.file, speed=audio.speed, loop=audio.loop)
    from roomscribe.audio.microphone import MicrophoneSource
    from roomscribe.config import ConfigError
    from roomscribe.config_checks import microphone_problems

    problems = microphone_problems(audio.source)
    if problems:  # not a device outage to retry forever: nothing could ever be captured
        raise ConfigError("audio", problems)
    return MicrophoneSource(audio.device)


def build_voice_stage(settings: Settings) -> VoiceStage | None:
    """The silence-suppressing stage, or None when `audio.vad.enabled` is false."""
    vad = settings.audio.vad
    if not vad.enabled:
        return None
    from roomscribe.audio.vad import make_speech_detector
    from roomscribe.core.voice_filter import VoiceFilterSettings

    return VoiceStage(make_speech_detector(), VoiceFilterSettings(
        threshold=vad.threshold, pre_roll_ms=vad.pre_roll_ms, hangover_ms=vad.hangover_ms, onset_frames=vad.onset_frames))


def session_factory_for(settings: Settings) -> Callable:
    def make(emit, epoch: int):
        key = settings.speech_key() or "emulator"  # a host without a key: the emulator or a container
        return sp.SpeechSession(sp.target_from_settings(settings.speech, key), emit, epoch=epoch)

    return make


async def run_daemon(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    notifier=None,
    on_built: Callable[[Daemon], None] | None = None,
) -> int:
    """Build the adapters from the settings and run until SIGTERM/SIGINT (or `stop`)."""
    from roomscribe.config import ConfigError, ConfigProblem
    from roomscribe.mqtt.link import MqttLink
    from roomscribe.mqtt.outbox import Outbox
    from roomscribe.systemd import Notifier

    try:
        source = build_source(settings)
    except AudioSourceError as exc:
        key, value = ("audio.file", str(settings.audio.file)) if settings.audio.source == "file" else (
            "audio.source", settings.audio.source)
        message = str(exc).removeprefix(f"{key}: ")  # the problem names the key already
        raise ConfigError("audio", [ConfigProblem(key, value, message)]) from None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):
            pass  # not the main thread (tests run the daemon in one)
    outbox = Outbox(settings.mqtt.outbox_path, max_messages=settings.mqtt.outbox_max_messages,
                    max_age_s=settings.mqtt.outbox_max_age_days * 86400)
    holder: dict[str, Daemon] = {}
    link = MqttLink(settings, on_command=lambda cmd: holder["daemon"].on_command(cmd), outbox=outbox)
    daemon = Daemon(
        settings,
        source=source,
        link=link,
        session_factory=session_factory_for(settings),
        notifier=notifier or Notifier(),
        voice=build_voice_stage(settings),
    )
    holder["daemon"] = daemon
    if on_built is not None:
        on_built(daemon)  # tests and the demo look inside (audio_path counters, the loop)
    try:
        return await daemon.run(stop)
    finally:
        outbox.close()
