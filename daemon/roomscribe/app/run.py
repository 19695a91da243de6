"""The composition root of `roomscribe run`: builds the real adapters and hands them to the owner.

This is the one module that knows them all: the audio sources (audio/), the Azure speech session
(speech/azure.py, which imports the SDK), the MQTT link and its outbox (outputs/mqtt/), systemd's
notifier (system/systemd.py). The owner (app/daemon.py) sees only their protocols.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Callable

from roomscribe.app.daemon import Daemon
from roomscribe.audio.source import AudioSource, AudioSourceError
from roomscribe.config import ConfigError, ConfigProblem, Settings, default_config_path, load_config
from roomscribe.config.checkconfig import describe_problem
from roomscribe.config.checks import microphone_problems, run_problems
from roomscribe.core.records import encode
from roomscribe.core.voice_filter import VoiceFilterSettings, VoiceStage
from roomscribe.outputs.archive.responder import CatchUpResponder
from roomscribe.outputs.base import Output
from roomscribe.outputs.fanout import FanOut
from roomscribe.outputs.mqtt.link import MqttLink
from roomscribe.outputs.mqtt.outbox import Outbox
from roomscribe.speech.azure import AzureSpeechSession
from roomscribe.speech.session import SessionFactory, SpeechSession, target_from_settings
from roomscribe.system import exitcodes, logs, memory
from roomscribe.system.systemd import Notifier

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", help="configuration file (default: $ROOMSCRIBE_CONFIG or /etc/roomscribe/config.yaml)")


def main(args: argparse.Namespace) -> int:
    memory.limit_malloc_arenas()  # before the first thread (docs/ARCHITECTURE.md, the outage buffer)
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


def session_factory_for(settings: Settings) -> SessionFactory:
    def make(emit, epoch: int) -> SpeechSession:
        key = settings.speech_key() or "emulator"  # a host without a key: the emulator or a container
        return AzureSpeechSession(target_from_settings(settings.speech, key), emit, epoch=epoch)

    return make


def build_archive(settings: Settings, link: MqttLink) -> Output | None:
    """The archive's output with its writer started, or None (switched off, or it cannot be opened:
    the daemon runs on without it and says so in the log)."""
    if not settings.archive.enabled:
        return None
    from roomscribe.outputs.archive.output import ArchiveOutput
    from roomscribe.outputs.archive.writer import ArchiveWriter

    writer = ArchiveWriter(settings.archive.path, retention_days=settings.archive.retention_days)
    try:
        writer.start()
    except Exception as exc:  # noqa: BLE001  (the archive is not a reason to stop transcribing)
        log.error("the meeting archive %s cannot be opened (%s: %s); running without it",
                  settings.archive.path, type(exc).__name__, exc)
        return None
    # The summary goes out once the meeting's end is durable (on the writer's thread: the link only queues).
    return ArchiveOutput(writer, settings.room, on_meeting_ended=lambda meeting: link.publish_retained(
        link.topics.meeting, encode(meeting.to_json())))


async def run_daemon(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    notifier=None,
    on_built: Callable[[Daemon], None] | None = None,
) -> int:
    """Build the adapters from the settings and run until SIGTERM/SIGINT (or `stop`)."""
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
    link = MqttLink(settings, outbox=outbox)
    archive = build_archive(settings, link)
    responder = CatchUpResponder(
        settings.archive.path if archive is not None else None, room=settings.room,
        base_topic=settings.mqtt.base_topic, publish=link.publish_response,
        reserved_prefixes=(f"{settings.mqtt.discovery_prefix}/",)).start()
    link.add_request_handler(responder.request_topic, responder.submit)
    outputs: list[Output] = [archive, link] if archive is not None else [link]
    daemon = Daemon(
        settings,
        source=source,
        output=FanOut(outputs),
        session_factory=session_factory_for(settings),
        notifier=notifier or Notifier(),
        voice=build_voice_stage(settings),
    )
    link.set_command_handler(daemon.on_command)  # after both exist: no construction cycle
    if on_built is not None:
        on_built(daemon)  # tests and the demo look inside (audio_path counters, the loop)
    try:
        return await daemon.run(stop)
    finally:
        await asyncio.to_thread(responder.stop)
        outbox.close()
