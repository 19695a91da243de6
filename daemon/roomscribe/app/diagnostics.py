"""The owner's read-only snapshot: its state, the gate and the pause tail, the audio, the session, the
buffers, the stores and the outputs (`Daemon.diagnostics()`).

Tests and benchmarks read this instead of private attributes, and a person debugging can print it. It is
assembled from the owner's parts through their public properties and changes nothing. It may be taken on
any thread: each part is read as it is at that moment (the audio path's figures under its lock, each
output's by the output itself), so while audio flows two figures of one snapshot may be a few chunks
apart. Taken on the owner's loop, the owner's own figures (state, session, published) are consistent.
"""

from __future__ import annotations

from dataclasses import dataclass

from roomscribe.app.audio_path import AudioPath
from roomscribe.app.publisher import Publisher
from roomscribe.audio.source import AudioSource, SourceStatus
from roomscribe.core.gate import GateStats
from roomscribe.core.machine import MeetingMachine
from roomscribe.core.uplink import UplinkStatus
from roomscribe.outputs.base import Output, OutputDiagnostics
from roomscribe.speech.session import SpeechSession


@dataclass(frozen=True, slots=True)
class GateDiagnostics:
    open: bool
    stats: GateStats  # bytes passed live, written as silence, dropped (and of those, after a close); opens, closes
    tail_chunks: int  # a pause tail's length in 10 ms chunks of silence: the service's segmentation silence + a margin
    tail_pending: bool  # a paced tail still has silence to write


@dataclass(frozen=True, slots=True)
class AudioDiagnostics:
    source: SourceStatus | None  # the source's last report (None before its first)
    overflows: int  # times the source dropped samples because the owner's side fell behind
    sent_bytes: int  # every byte written to a push stream so far: speech, tails, keep-alives
    sending: bool  # speech is being sent right now


@dataclass(frozen=True, slots=True)
class SessionDiagnostics:
    epoch: int  # the speaker epoch it labels
    written_bytes: int  # its stream offset


@dataclass(frozen=True, slots=True)
class Diagnostics:
    state: str  # the machine's state (core/table.py State's value)
    meeting_id: str | None
    speaker_epoch: int
    gate: GateDiagnostics
    audio: AudioDiagnostics
    session: SessionDiagnostics | None  # the current cloud session, if any
    outage_buffer: UplinkStatus  # the audio kept for the service (core/uplink.py): its session, what waits, what was lost
    utterances_published: int  # handed to the output since start
    outputs: tuple[OutputDiagnostics, ...]  # each output's, in the owner's order: the stores (the journal) first

    def output(self, name: str) -> OutputDiagnostics:
        """The output called `name` ("journal", "web", "mqtt"); KeyError if there is none."""
        for entry in self.outputs:
            if entry.name == name:
                return entry
        raise KeyError(f"no output {name!r} among {[entry.name for entry in self.outputs]}")


def snapshot(*, machine: MeetingMachine, audio_path: AudioPath, session: SpeechSession | None, source: AudioSource,
             source_status: SourceStatus | None, publish: Publisher, output: Output) -> Diagnostics:
    """The owner (app/daemon.py) as it is now, through the public properties of its parts."""
    activity = audio_path.activity()
    return Diagnostics(
        state=machine.state.value,
        meeting_id=machine.meeting_id,
        speaker_epoch=machine.speaker_epoch,
        gate=GateDiagnostics(open=audio_path.is_open, stats=audio_path.stats, tail_chunks=audio_path.tail_chunks,
                             tail_pending=audio_path.tail_pending),
        audio=AudioDiagnostics(source=source_status, overflows=source.overflows, sent_bytes=activity.sent_bytes,
                               sending=activity.sending),
        session=None if session is None else SessionDiagnostics(session.epoch, session.written_bytes),
        outage_buffer=audio_path.outage_buffer(),
        utterances_published=publish.utterances_published,
        outputs=output.diagnostics(),
    )
