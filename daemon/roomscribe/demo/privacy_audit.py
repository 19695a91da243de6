"""Account for every byte a speech service received against the audio that was captured.

The demo and the tests prove the pause by this accounting, not by assumptions about where the stream
begins: the received stream is cut into runs of exact digital silence (what the gate writes as the
pause tail; no microphone or synthesized file produces long runs of exact zeros) and runs of sound.
Each run of sound must be a piece of the captured audio, found at a capture offset; a run found
nowhere is unaccounted audio, and a run whose offset overlaps a span that must stay private is a
leak. A stream that starts late (a trimmed head), ends with a tail, or skips chunks at the edges of a
pause is accounted for all the same.

Tone speech repeats identical samples for identical characters, so a run is searched first at or
after where the previous run ended (a stream goes forward in capture time), and only then anywhere
(the Speech SDK replays unacknowledged audio after a reconnect).
"""

from __future__ import annotations

from dataclasses import dataclass

from roomscribe.core.audio_format import BYTES_PER_SECOND, SAMPLE_WIDTH

# Zero runs shorter than this are part of the sound around them (a waveform crosses zero).
MIN_SILENCE_BYTES = 16 * SAMPLE_WIDTH
# Shorter pieces prove nothing (a few samples match somewhere by chance); capture sources write whole
# 10 ms chunks, so every real piece is at least this long, but for the very end of a file.
MIN_PIECE_BYTES = 320


@dataclass(frozen=True, slots=True)
class Piece:
    """`length` bytes of the received stream from `received_at`: silence, or captured audio from `captured_at`."""

    received_at: int
    length: int
    captured_at: int | None  # None: exact silence (no captured sound)
    found: bool = True  # False: sound that is no piece of the captured audio


def account(received: bytes, captured: bytes) -> list[Piece]:
    """The received stream as silence and pieces of the captured audio, in order."""
    pieces: list[Piece] = []
    expected = 0  # capture offset where the stream would continue
    for start, end, silent in _runs(received):
        if silent:
            pieces.append(Piece(start, end - start, None))
            continue
        while start < end:
            at, length = _longest_piece(captured, received[start:end], expected)
            if at == -1:
                pieces.append(Piece(start, end - start, None, found=False))
                break
            pieces.append(Piece(start, length, at))
            expected = at + length
            start += length
    return pieces


def leak(received: bytes, captured: bytes, start_s: float, end_s: float) -> str | None:
    """Why the service got sound captured between start_s and end_s (seconds into the capture), or None."""
    first, last = _offset(start_s), _offset(end_s)
    for piece in account(received, captured):
        if not piece.found:
            return (f"{piece.length} bytes received at stream offset {piece.received_at} are no piece of the "
                    "captured audio (unaccounted sound)")
        if piece.captured_at is None:
            continue
        lo, hi = max(first, piece.captured_at), min(last, piece.captured_at + piece.length)
        if lo < hi and any(captured[lo:hi]):
            return (f"captured audio from {lo / BYTES_PER_SECOND:.3f} s to {hi / BYTES_PER_SECOND:.3f} s was sent "
                    f"(the private span is {start_s:.3f}-{end_s:.3f} s)")
    return None


def sent_seconds(received: bytes, captured: bytes) -> tuple[float, float]:
    """(captured sound, silence) in the received stream, in seconds."""
    pieces = account(received, captured)
    sound = sum(p.length for p in pieces if p.captured_at is not None)
    silence = sum(p.length for p in pieces if p.captured_at is None and p.found)
    return sound / BYTES_PER_SECOND, silence / BYTES_PER_SECOND


def _offset(seconds: float) -> int:
    return int(round(seconds * BYTES_PER_SECOND)) // SAMPLE_WIDTH * SAMPLE_WIDTH


def _runs(data: bytes):
    """(start, end, silent) runs of the sample-aligned stream: exact-zero runs of MIN_SILENCE_BYTES or more, and the rest."""
    end = len(data) - len(data) % SAMPLE_WIDTH
    zero_block = bytes(MIN_SILENCE_BYTES)
    position, sound_from = 0, 0
    while position < end:
        silence = data.find(zero_block, position, end)
        while silence != -1 and silence % SAMPLE_WIDTH:
            silence = data.find(zero_block, silence + 1, end)
        if silence == -1:
            break
        silence_end = silence + MIN_SILENCE_BYTES
        while silence_end + SAMPLE_WIDTH <= end and not any(data[silence_end : silence_end + SAMPLE_WIDTH]):
            silence_end += SAMPLE_WIDTH
        if silence > sound_from:
            yield sound_from, silence, False
        yield silence, silence_end, True
        position = sound_from = silence_end
    if sound_from < end:
        yield sound_from, end, False


def _longest_piece(captured: bytes, sound: bytes, expected: int) -> tuple[int, int]:
    """(capture offset, length) of the longest head of `sound` that is a piece of `captured`; (-1, 0) if
    not even MIN_PIECE_BYTES of it is (a stream that skips ahead at a pause without a tail between
    continues one run of sound with another piece)."""
    shortest = min(MIN_PIECE_BYTES, len(sound))
    best_at, best = -1, 0
    low, high = shortest // SAMPLE_WIDTH, len(sound) // SAMPLE_WIDTH  # in samples
    while low <= high:
        middle = (low + high) // 2
        head = sound[: middle * SAMPLE_WIDTH]
        at = _find_aligned(captured, head, expected)
        if at == -1:
            at = _find_aligned(captured, head, 0)
        if at == -1:
            high = middle - 1
        else:
            best_at, best, low = at, middle * SAMPLE_WIDTH, middle + 1
    return best_at, best


def _find_aligned(haystack: bytes, needle: bytes, start: int) -> int:
    found = haystack.find(needle, start)
    while found != -1 and found % SAMPLE_WIDTH:
        found = haystack.find(needle, found + 1)
    return found
