"""Run a voice stage over room audio and score what it sent against the clean-speech truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from roomscribe.core.audio_format import CHUNK_BYTES, CHUNK_MS, AudioChunk

from .room_audio import RoomAudio

CHUNK_S = CHUNK_MS / 1000
T0 = 1_800_000_000.0  # capture time of chunk 0


@dataclass(frozen=True)
class Run:
    sent: np.ndarray  # bool per chunk: the stage handed this chunk on
    emitted_at: np.ndarray  # int per chunk: index of the input chunk at which it was handed on (-1: never)


def run_stage(pcm: bytes, stage, first_chunk: int = 0) -> Run:
    """Feed `pcm` chunk by chunk to `stage.process`; which chunks came out, and when (by input chunk)."""
    n = len(pcm) // CHUNK_BYTES
    sent = np.zeros(n, dtype=bool)
    emitted_at = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        for out in stage.process(AudioChunk(pcm[i * CHUNK_BYTES:(i + 1) * CHUNK_BYTES], T0 + (first_chunk + i) * CHUNK_S)):
            j = int(round((out.captured_at - T0) / CHUNK_S)) - first_chunk
            if sent[j]:
                raise AssertionError(f"chunk {j} was sent twice")
            sent[j] = True
            emitted_at[j] = i
    return Run(sent, emitted_at)


@dataclass(frozen=True)
class Score:
    speech_chunks: int
    speech_chunks_sent: int
    sent_chunks: int
    span_chunks: int  # sum of the utterances' spans, first to last speech chunk
    clip_start_ms: np.ndarray  # per utterance: speech before the first chunk sent in its span
    clip_end_ms: np.ndarray  # per utterance: speech after the last chunk sent in its span
    trailing_ms: np.ndarray  # per utterance followed by a gap of 2 s or more: audio sent right after its end
    onset_delay_ms: np.ndarray  # per utterance: its first speech chunk's time until the stage handed it on

    @property
    def kept(self) -> float:
        return self.speech_chunks_sent / max(self.speech_chunks, 1)

    @property
    def sent_seconds(self) -> float:
        return self.sent_chunks * CHUNK_S

    @property
    def span_seconds(self) -> float:
        return self.span_chunks * CHUNK_S

    @property
    def max_clip_ms(self) -> float:
        return float(max(self.clip_start_ms.max(initial=0), self.clip_end_ms.max(initial=0)))


def score(audio: RoomAudio, run: Run) -> Score:
    sent = run.sent
    clip_start, clip_end, trailing, onset = [], [], [], []
    utterances = audio.utterances
    for k, u in enumerate(utterances):
        inside = np.flatnonzero(sent[u.start_chunk:u.end_chunk])
        span = u.end_chunk - u.start_chunk
        clip_start.append((inside[0] if inside.size else span) * CHUNK_MS)
        clip_end.append((span - 1 - inside[-1] if inside.size else span) * CHUNK_MS)
        following = utterances[k + 1].start_chunk if k + 1 < len(utterances) else audio.chunks
        if following - u.end_chunk >= 2000 // CHUNK_MS:
            after = sent[u.end_chunk:following]
            unsent = np.flatnonzero(~after)
            trailing.append((unsent[0] if unsent.size else after.size) * CHUNK_MS)
        at = run.emitted_at[u.start_chunk]
        onset.append((at - u.start_chunk) * CHUNK_MS if at >= 0 else np.nan)
    return Score(
        speech_chunks=int(audio.speech.sum()),
        speech_chunks_sent=int((audio.speech & sent).sum()),
        sent_chunks=int(sent.sum()),
        span_chunks=sum(u.end_chunk - u.start_chunk for u in utterances),
        clip_start_ms=np.array(clip_start, dtype=float),
        clip_end_ms=np.array(clip_end, dtype=float),
        trailing_ms=np.array(trailing, dtype=float),
        onset_delay_ms=np.array(onset, dtype=float),
    )
