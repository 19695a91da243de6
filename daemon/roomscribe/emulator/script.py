"""Meeting scripts: a few lines of text that become a tone-speech recording and the plan of what it says.

    # comments and blank lines are ignored
    Guest-1: Good morning everyone
    [silence 2.5]
    Guest-2: Morning!

A line is "SPEAKER: TEXT" (the speaker is everything before the first colon) or "[silence SECONDS]".
Cheap to import: numpy and the codec load only when audio is made.
"""

from __future__ import annotations

import re
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import numpy as np

MAX_SPEAKER_NAME = 32
_SILENCE = re.compile(r"^\[\s*silence\s+(?P<seconds>\S+?)\s*s?\s*\]$", re.IGNORECASE)


@dataclass(frozen=True)
class ScriptLine:
    speaker: str
    text: str


@dataclass(frozen=True)
class ScriptGap:
    seconds: float


@dataclass(frozen=True)
class PlannedUtterance:
    speaker: str
    speaker_index: int
    text: str
    start: float  # seconds from the start of the audio
    end: float


def parse_script(text: str) -> list[ScriptLine | ScriptGap]:
    """The script's lines in order; ValueError("line N: ...") names the first bad line."""
    from roomscribe.emulator.tonespeech import ALPHABET

    items: list[ScriptLine | ScriptGap] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            items.append(_parse_line(line, ALPHABET))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
    return items


def _parse_line(line: str, alphabet: str) -> ScriptLine | ScriptGap:
    if line.startswith("["):
        match = _SILENCE.match(line)
        if match is None:
            raise ValueError(f"expected [silence SECONDS], got {line!r}")
        try:
            seconds = float(match["seconds"])
        except ValueError:
            raise ValueError(f"silence needs a number of seconds, got {match['seconds']!r}") from None
        if not 0 <= seconds < 3600:
            raise ValueError(f"silence must be 0 to 3600 seconds, got {match['seconds']}")
        return ScriptGap(seconds)
    speaker, colon, spoken = line.partition(":")
    speaker, spoken = speaker.strip(), spoken.strip()
    if not colon:
        raise ValueError(f"expected 'SPEAKER: text' or [silence SECONDS], got {line!r}")
    if not speaker:
        raise ValueError("the speaker name before ':' is empty")
    if len(speaker) > MAX_SPEAKER_NAME:
        raise ValueError(f"speaker name longer than {MAX_SPEAKER_NAME} characters: {speaker!r}")
    if not spoken:
        raise ValueError(f"{speaker} says nothing")
    unsupported = sorted({char for char in spoken if char not in alphabet})
    if unsupported:
        shown = ", ".join(repr(char) for char in unsupported)
        raise ValueError(f"tone speech cannot say {shown} (printable ASCII only)")
    return ScriptLine(speaker, spoken)


def synthesize(
    items: Iterable[ScriptLine | ScriptGap],
    *,
    default_gap: float = 1.0,
    lead_in: float = 0.5,
    tail: float = 1.0,
    sample_rate: int = 16000,
) -> tuple[np.ndarray, list[PlannedUtterance]]:
    """The script as int16 mono PCM, and where each line is in it.

    Speakers get voices 0, 1, … in order of first appearance. Lines are default_gap apart unless
    [silence] lines stand between them; their seconds then replace the default (several add up).
    Silence before the first line adds to lead_in, silence after the last adds to tail.
    """
    import numpy as np

    from roomscribe.emulator.tonespeech import MAX_SPEAKERS, encode

    for name, value in (("default_gap", default_gap), ("lead_in", lead_in), ("tail", tail)):
        if not 0 <= value < 3600:
            raise ValueError(f"{name} must be 0 to 3600 seconds, got {value}")
    voices: dict[str, int] = {}
    pieces: list[np.ndarray] = []
    plan: list[PlannedUtterance] = []
    position = 0  # samples
    silence: float | None = None  # seconds of [silence] lines since the last spoken line
    for item in items:
        if isinstance(item, ScriptGap):
            silence = (silence or 0.0) + item.seconds
            continue
        if item.speaker not in voices:
            if len(voices) == MAX_SPEAKERS:
                raise ValueError(f"tone speech has {MAX_SPEAKERS} voices; {item.speaker!r} would be one more")
            voices[item.speaker] = len(voices)
        gap = lead_in + (silence or 0.0) if not plan else (default_gap if silence is None else silence)
        silence = None
        pieces.append(np.zeros(int(round(gap * sample_rate)), dtype=np.int16))
        position += pieces[-1].size
        voiced = encode(item.text, voices[item.speaker], sample_rate=sample_rate)
        pieces.append(voiced)
        plan.append(
            PlannedUtterance(
                item.speaker,
                voices[item.speaker],
                item.text,
                position / sample_rate,
                (position + voiced.size) / sample_rate,
            )
        )
        position += voiced.size
    ending = tail + (silence or 0.0) if plan else lead_in + (silence or 0.0) + tail
    pieces.append(np.zeros(int(round(ending * sample_rate)), dtype=np.int16))
    return np.concatenate(pieces), plan


def write_wav(path: str | Path | BinaryIO, pcm: np.ndarray, sample_rate: int = 16000) -> None:
    """16-bit mono PCM WAV."""
    import numpy as np

    samples = np.asarray(pcm)
    if samples.ndim != 1 or samples.dtype != np.int16:
        raise ValueError(f"write_wav needs mono int16 samples, got {samples.dtype} with shape {samples.shape}")
    with wave.open(str(path) if isinstance(path, (str, Path)) else path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(samples.astype("<i2", copy=False).tobytes())


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples and rate of a 16-bit mono PCM WAV; ValueError says what else the file is."""
    import numpy as np

    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{path} is not a PCM WAV file ({exc})") from None
    if width != 2:
        raise ValueError(f"{path} has {width * 8}-bit samples; 16-bit PCM is needed")
    if channels != 1:
        raise ValueError(f"{path} has {channels} channels; mono is needed")
    return np.frombuffer(frames, dtype="<i2").astype(np.int16), rate
