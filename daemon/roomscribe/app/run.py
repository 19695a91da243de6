"""The composition root of `roomscribe run`: builds the real adapters and hands them to the owner.

This is the one module that knows them all: the audio sources (audio/), the Azure speech session
(speech/azure.py, which imports the SDK), the journal (outputs/journal/), the MQTT link that delivers
from it (outputs/mqtt/), systemd's notifier (system/systemd.py). The owner (app/daemon.py) sees only
their protocols.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Callable

from roomscribe.app.daemon import Daemon
from roomscribe.audio.source import AudioSource, AudioSourceError
from roomscribe.config import ConfigError, ConfigProblem, Settings, SpeechSettings, default_config_path
from roomscribe.config.commandline import load_settings, report_problems
from roomscribe.config.checks import microphone_problems, run_problems
from roomscribe.config.storage import deprecations
from roomscribe.core.records import encode
from roomscribe.core.voice_filter import VoiceFilterSettings, VoiceStage
from roomscribe.outputs.archive.responder import CatchUpResponder
from roomscribe.outputs.base import Output
from roomscribe.outputs.fanout import FanOut
from roomscribe.outputs.journal.journal import Journal
from roomscribe.outputs.journal.output import JournalOutput
from roomscribe.outputs.mqtt.link import MqttLink
from roomscribe.speech.azure import AzureSpeechSession
from roomscribe.speech.session import EmitSpeechEvent, SessionFactory, SpeechSession, SpeechTarget
from roomscribe.system import exitcodes, logs, memory
from roomscribe.system.notifier import ServiceNotifier
from roomscribe.system.systemd import Notifier

if TYPE_CHECKING:
    from roomscribe.outputs.web.output import WebOutput

log = logging.getLogger(__name__)


def main(args: argparse.Namespace) -> int:
    memory.limit_malloc_arenas()  # before the first thread (docs/ARCHITECTURE.md, the outage buffer)
    settings = load_settings(args.config)
    logs.apply_config_level(args, settings.log.level)
    for deprecated in deprecations(settings):
        log.warning("configuration: %s", deprecated)
    problems = run_problems(settings)  # a state directory it cannot write, a microphone without PyAudio
    if problems:
        from roomscribe.config.checkconfig import describe_problem  # check-config's wording, for errors only

        report_problems(args.config or default_config_path(), problems, describe_problem)
        return exitcodes.CONFIG
    try:
        return asyncio.run(run_daemon(settings))
    except ConfigError as exc:  # found while building the adapters (an audio file, the page's address)
        from roomscribe.config.checkconfig import describe_problem

        report_problems(exc.source, exc.problems, describe_problem)
        return exitcodes.CONFIG


def build_source(settings: Settings) -> AudioSource:
    audio = settings.audio
    if audio.source == "file":
        from roomscribe.audio.wavfile import WavFileSource

        return WavFileSource(audio.file, speed=audio.speed, loop=audio.loop)
    from roomscribe.audio.microphone import MicrophoneSource  # PyAudio: only for a microphone

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

    return VoiceStage(make_speech_detector(vad.threshold), VoiceFilterSettings(
        threshold=vad.threshold, pre_roll_ms=vad.pre_roll_ms, hangover_ms=vad.hangover_ms, onset_frames=vad.onset_frames))


def target_from_settings(speech: SpeechSettings, key: str) -> SpeechTarget:
    """Where and how a session connects, from the speech settings; the key is resolved by Settings.speech_key()."""
    locales = speech.locales
    return SpeechTarget(
        key=key,
        region=speech.region,
        host=speech.host,
        language=locales[0],
        segmentation_silence_ms=speech.segmentation_silence_ms,
        diarize_intermediates=speech.diarize_intermediates,
        candidates=locales if len(locales) > 1 else (),
        language_id_mode=speech.language_id_mode,
        profanity=speech.profanity,
        catch_up_speed=speech.catch_up_speed,
    )


def session_factory_for(settings: Settings) -> SessionFactory:
    def make(emit: EmitSpeechEvent, epoch: int) -> SpeechSession:
        key = settings.speech_key() or "emulator"  # a host without a key: the emulator or a container
        return AzureSpeechSession(target_from_settings(settings.speech, key), emit, epoch=epoch)

    return make


def build_journal(settings: Settings, link: MqttLink, journal: Journal) -> JournalOutput:
    """The journal's output. The meeting summary goes out once a meeting's end is stored (on the writer's
    thread: the link only queues), and every commit that stored utterances wakes the link."""
    journal.writer.on_stored = link.wake
    return JournalOutput(journal, settings.room, on_meeting_ended=lambda meeting: link.publish_retained(
        link.topics.meeting, encode(meeting.to_json())))


def build_web(settings: Settings, journal: Journal) -> WebOutput | None:
    """The live page's output, or None with `web.enabled: false`. The output binds its address at start and
    imports aiohttp (about 12 MB of memory, docs/BENCHMARKS.md) only when someone opens the page. It gets the
    final utterances from the journal's writer once they are stored (or held in memory on a full disk), and
    a page's catch-up reads the same (the file and what is held): no gap between the two."""
    if not settings.web.enabled:
        return None
    from roomscribe.config.web import web_problems

    problems = web_problems(settings)  # `run` checked already; the daemon on a thread (tests, demo) did not
    if problems:
        raise ConfigError("web", problems)
    from roomscribe.outputs.web.auth import Tokens
    from roomscribe.outputs.web.history import JournalHistory
    from roomscribe.outputs.web.output import WebOutput

    web = WebOutput(room=settings.room, host=settings.web.host, port=settings.web.port,
                    tokens=Tokens(settings.web_access_token(), settings.web_command_token()),
                    history=JournalHistory(journal.path, held=journal.waiting.held_of)
                    if settings.archive.enabled else None)
    journal.writer.on_utterances = web.stored
    return web


async def run_daemon(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    notifier: ServiceNotifier | None = None,
    on_built: Callable[[Daemon], None] | None = None,
    session_factory: SessionFactory | None = None,
) -> int:
    """Build the adapters from the settings and run until SIGTERM/SIGINT (or `stop`).

    `on_built(daemon)` is called with the owner once it is built, before it runs (on the loop's thread): a
    caller that runs the daemon beside its own work (the demo, the tests' harness) keeps it to read
    `diagnostics()` and to hand it commands (`on_command`). `session_factory` replaces the one made from the
    settings (`session_factory_for`), e.g. by one that wraps it to time its events (bench/bench_latency.py).
    """
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
    journal = Journal.from_settings(settings)  # nothing touches the disk until the writer's thread starts
    link = MqttLink(settings, transcripts=journal.deliveries)
    responder = CatchUpResponder(
        journal.path if settings.archive.enabled else None, room=settings.room,
        base_topic=settings.mqtt.base_topic, publish=link.publish_response,
        reserved_prefixes=(f"{settings.mqtt.discovery_prefix}/",)).start()
    link.add_request_handler(responder.request_topic, responder.submit)
    web = build_web(settings, journal)
    record = build_journal(settings, link, journal)
    outputs: list[Output] = [o for o in (record, web, link) if o is not None]
    daemon = Daemon(
        settings,
        source=source,
        output=FanOut(outputs),
        session_factory=session_factory or session_factory_for(settings),
        notifier=notifier or Notifier(),
        voice=build_voice_stage(settings),
        record=record,  # voices of past meetings are named in the journal
    )
    link.set_command_handler(daemon.on_command)  # after both exist: no construction cycle
    if web is not None:
        web.set_command_handler(daemon.on_command)  # the page's commands take the MQTT commands' path
    journal.set_health_handler(daemon.storage_report)
    if on_built is not None:
        on_built(daemon)
    try:
        return await daemon.run(stop)
    finally:
        await asyncio.to_thread(responder.stop)
