"""The owner's test rig (app/daemon.py on its protocols alone): a recording output, a source driven by hand,
the commands an output hands over, and a way to run the owner around a test's body."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from roomscribe.app.daemon import Daemon
from roomscribe.audio.source import SourceStatus
from roomscribe.config import settings_from_data
from roomscribe.core.audio_format import CHUNK_BYTES, AudioChunk
from roomscribe.outputs.base import OutputDiagnostics

T = TypeVar("T")


@dataclass(frozen=True)
class Cmd:
    """What an output's command channel hands the owner: a name, a request id, a meeting's phrases."""

    name: str
    request_id: str | None = None
    phrases: tuple[str, ...] | None = None


class RecordingOutput:
    """outputs.base.Output, keeping everything it is handed."""

    def __init__(self) -> None:
        self.states, self.events, self.utterances, self.partials, self.speech, self.stats = [], [], [], [], [], []
        self.speakers = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def publish_state(self, msg) -> None:
        self.states.append(msg)

    def publish_event(self, event) -> None:
        self.events.append(event)

    def publish_partial(self, partial) -> None:
        self.partials.append(partial)

    def submit_transcript(self, utt) -> None:
        self.utterances.append(utt)

    def set_speech_connected(self, connected) -> None:
        self.speech.append(connected)

    def publish_stats(self, stats) -> None:
        self.stats.append(stats)

    def publish_speakers(self, speakers) -> None:
        self.speakers.append(speakers)

    def diagnostics(self):
        return (OutputDiagnostics("recording", True, figures={"utterances": len(self.utterances)}),)


class HandSource:
    """audio.source.AudioSource: reports and chunks come when the test says."""

    overflows = 0

    def start(self, on_chunk, on_status) -> None:
        self.on_chunk, self.on_status = on_chunk, on_status

    def stop(self) -> None:
        pass

    def meeting_started(self) -> None:
        pass

    def chunks(self, n: int) -> None:
        for _ in range(n):
            self.on_chunk(AudioChunk(b"\x01\x00" * (CHUNK_BYTES // 2), time.time()))


def settings(tmp_path):
    return settings_from_data({
        "room": "hall",
        "mqtt": {"outbox_path": str(tmp_path / "outbox.sqlite3")},
        "speech": {"host": "ws://127.0.0.1:9", "key": "k"},
        "audio": {"source": "file", "file": str(tmp_path / "unused.wav")},
    })


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def run_with(daemon: Daemon, source: HandSource, body: Callable[[], Awaitable[T]]) -> T:
    """Runs the owner until `body` is done, its source opened and flowing first; the owner must end with 0.
    What `body` returns."""

    async def main() -> T:
        stop = asyncio.Event()
        run = asyncio.create_task(daemon.run(stop))
        await until(lambda: hasattr(source, "on_status"))
        source.on_status(SourceStatus("opened", "hand"))
        source.on_status(SourceStatus("flowing", "hand"))
        result = await body()
        stop.set()
        assert await run == 0
        return result

    return asyncio.run(main())
