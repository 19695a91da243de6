"""Voiced tone speech: a meeting script as audio that a voice activity detector hears as speech where the
script speaks, and that the emulator still decodes to the exact text and speaker.

Tone speech alone is tones, which a real VAD (pymicro-vad) hears late or not at all. Here each line gets
espeak-ng saying its text, fitted in time to the line (espeak's rate picked to come close, then a small
resampling to fit exactly):

* inside the tone band (275-3194 Hz) the speech stays 17 dB under the tones in every 32 ms window, so the
  decoder's share and dominance tests still pass; outside the band it is about as loud as the tones;
* the tones follow the speech's loudness (down to -10 dB), so the mix rises and falls like speech;
* the voice starts 0.35 s before the tones, with only its out-of-band part (which cannot form a symbol),
  so the detector has heard some voice by the time the tones begin; a line under 0.9 s goes on after its
  tones the same way, as the detector needs that long to be sure.

Levels and figures: docs/tonespeech.md, "Voiced tone speech".

espeak-ng is a Debian package (`apt-get install espeak-ng`), needed only to render new audio; renders are
cached by text, voice and rate. numpy is the only Python dependency.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from roomscribe.emulator.script import PlannedUtterance, parse_script, synthesize
from roomscribe.emulator.tonespeech import COLUMN_HZ, PILOT_HZ, symbol_samples

# One espeak-ng voice per tone-speech speaker index, male and female alternating, all distinct (in espeak-ng
# 1.51 "en-gb+VARIANT" ignores the variant). Chosen for how early pymicro-vad hears them (docs/tonespeech.md).
VOICES = ("en+m2", "en+f3", "en-gb-x-rp+m5", "en+f5", "en+m7", "en+f2", "en+m1", "en-gb-scotland+f2", "en-us+m7",
          "en+m6")
BASE_RATE = 160  # words per minute of the first render, from which the fitting rate is estimated
MIN_RATE, MAX_RATE = 80, 450  # espeak-ng's usable range
ACTIVE_FLOOR_DB = 40.0  # espeak's leading/trailing silence: 10 ms chunks this far below the loudest

# The tone band: where the decoder looks (every tone's FFT bin and both neighbours, 344-3125 Hz), with a
# margin for the analysis window's main lobe. Speech there competes with the tones; speech outside it only
# adds energy to a frame.
BAND_LOW_HZ = float(PILOT_HZ[0]) - 100.0
BAND_HIGH_HZ = float(COLUMN_HZ[-1]) + 100.0
_WINDOW = 512  # samples at 16 kHz: the decoder's 32 ms analysis window


@dataclass(frozen=True)
class VoicedSettings:
    """How the speech is laid over the tones. Levels are dB of short-term power against the tones.

    The defaults are measured (docs/tonespeech.md, "Voiced tone speech"); the tests hold them to it.
    """

    lead_s: float = 0.35  # the voice starts this long before the tones (at most half the silence before)
    min_voice_s: float = 0.9  # a shorter line's voice goes on after its tones (at most half the silence after)
    in_band_db: float = -17.0  # speech inside the tone band, against the tones, in every 32 ms window
    out_band_db: float = -1.0  # speech outside the tone band, against the tones, in every 32 ms window
    envelope_floor_db: float = -10.0  # the tones follow the speech's loudness, down to this far below its peak
    peak: float = 0.5  # the meeting's loudest sample, of full scale (room for +6 dB of gain)

    def __post_init__(self) -> None:
        for name in ("lead_s", "min_voice_s"):
            if not 0.0 <= getattr(self, name) <= 2.0:
                raise ValueError(f"{name} must be 0 to 2 seconds, got {getattr(self, name)}")
        if not 0.0 < self.peak <= 1.0:
            raise ValueError(f"peak must be in (0, 1], got {self.peak}")
        if self.envelope_floor_db > 0:
            raise ValueError(f"envelope_floor_db must be 0 or below, got {self.envelope_floor_db}")


class EspeakMissing(RuntimeError):
    pass


def _cache_dir() -> Path:
    path = Path(os.environ.get("ROOMSCRIBE_VOICED_CACHE") or Path(tempfile.gettempdir()) / "roomscribe-voiced")
    path.mkdir(parents=True, exist_ok=True)
    return path


def espeak(text: str, voice: str, rate: int) -> tuple[np.ndarray, int]:
    """espeak-ng's rendering of `text` as float samples (full scale 1.0) and their rate; cached on disk."""
    key = hashlib.sha256(f"{voice}|{rate}|{text}".encode()).hexdigest()[:24]
    path = _cache_dir() / f"{key}.wav"
    if not path.exists():
        if shutil.which("espeak-ng") is None:
            raise EspeakMissing("voiced tone speech needs espeak-ng to render new text: apt-get install espeak-ng")
        with tempfile.TemporaryDirectory(prefix="roomscribe-espeak-") as tmp:
            out = Path(tmp) / "speech.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(out), "--", text],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            partial = path.with_suffix(f".{os.getpid()}.part")
            shutil.copyfile(out, partial)
            partial.replace(path)  # atomic: parallel runs never read half a file
    with wave.open(str(path), "rb") as wav:
        rate_hz, frames = wav.getframerate(), wav.readframes(wav.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0, rate_hz


def resample(samples: np.ndarray, length: int) -> np.ndarray:
    """`samples` stretched or squeezed to `length` samples (FFT method; the ends should be quiet)."""
    if length == samples.size:
        return samples.copy()
    spectrum = np.fft.rfft(samples)
    keep = min(spectrum.size, length // 2 + 1)
    return np.fft.irfft(spectrum[:keep], length) * (length / samples.size)


def active_span(samples: np.ndarray, sample_rate: int) -> tuple[int, int]:
    """First and one-past-last sample of the 10 ms chunks within ACTIVE_FLOOR_DB of the loudest."""
    chunk = sample_rate // 100
    n = samples.size // chunk * chunk
    power = np.mean(samples[:n].reshape(-1, chunk) ** 2, axis=1)
    active = np.flatnonzero(10 * np.log10(power + 1e-20) >= 10 * np.log10(power.max() + 1e-20) - ACTIVE_FLOOR_DB)
    return int(active[0]) * chunk, (int(active[-1]) + 1) * chunk


def fitted_speech(text: str, voice: str, length: int, sample_rate: int = 16000) -> np.ndarray:
    """espeak-ng saying `text`, its active part stretched to exactly `length` samples at `sample_rate`."""
    rate = BASE_RATE
    for _ in range(2):  # the second render is at the rate that fits; espeak's timing is not quite linear
        raw, raw_rate = espeak(text, voice, rate)
        first, last = active_span(raw, raw_rate)
        seconds = (last - first) / raw_rate
        wanted = int(np.clip(round(rate * seconds * sample_rate / length), MIN_RATE, MAX_RATE))
        if wanted == rate:
            break
        rate = wanted
    raw, raw_rate = espeak(text, voice, rate)
    first, last = active_span(raw, raw_rate)
    return resample(raw[first:last], length)


def _band_split(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """`samples` split into the tone band and the rest (brick-wall, one FFT over the whole clip)."""
    spectrum = np.fft.rfft(samples)
    freqs = np.fft.rfftfreq(samples.size, 1 / sample_rate)
    inside = (freqs >= BAND_LOW_HZ) & (freqs <= BAND_HIGH_HZ)
    in_band = np.fft.irfft(np.where(inside, spectrum, 0), samples.size)
    return in_band, samples - in_band


def _short_term_power(samples: np.ndarray, window: int) -> np.ndarray:
    weights = np.hanning(window)
    return np.convolve(samples * samples, weights / weights.sum(), mode="same") + 1e-18


def _window_min(values: np.ndarray, window: int) -> np.ndarray:
    padded = np.pad(values, window // 2, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, window + 1).min(axis=1)[: values.size]


def _follow(part: np.ndarray, reference_power: np.ndarray, db: float, window: int) -> tuple[np.ndarray, float]:
    """`part` with its short-term power held `db` against the reference's; and its median gain.

    The gain is the minimum over a window around each sample, so no analysis window of the decoder sees
    the part louder than that; it is capped at 10 dB over its median, so pauses are not pumped up to speech.
    """
    gain = np.sqrt(10 ** (db / 10) * reference_power / _short_term_power(part, window))
    median = float(np.median(gain))
    gain = _window_min(np.minimum(gain, median * 10 ** 0.5), window)
    smooth = np.hanning(window // 3)
    gain = np.convolve(gain, smooth / smooth.sum(), mode="same")
    return part * gain, median


def voice_utterance(
    tones: np.ndarray, speech: np.ndarray, lead: int, settings: VoicedSettings, sample_rate: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One utterance voiced: (the lead, the span, the trail), floats.

    `tones` is the utterance's tone speech; `speech` is the voice, `lead` samples longer before the tones
    and the rest longer after them (the trail). In the span the tones follow the speech's loudness and the
    speech's two bands follow the tones, each at its level. The lead and the trail hold only the speech
    outside the tone band, so the decoder hears nothing there.
    """
    window = round(_WINDOW * sample_rate / 16000)
    end = lead + tones.size
    in_band, out_band = _band_split(speech, sample_rate)
    envelope = np.sqrt(_short_term_power(speech[lead:end], window))
    envelope /= max(float(np.percentile(envelope, 99)), 1e-12)
    envelope = np.clip(envelope, 10 ** (settings.envelope_floor_db / 20), 1.0)
    # The first and last character stay at full level: the decoder finds an utterance's edges where its
    # first and last symbol reach half their peak, so a rising or falling envelope there would move them.
    edge = min(symbol_samples(1, sample_rate), envelope.size // 2)
    envelope[:edge] = envelope[-edge:] = 1.0
    tones = tones * envelope
    reference = _short_term_power(tones, window)
    inside, _ = _follow(in_band[lead:end], reference, settings.in_band_db, window)
    outside, gain = _follow(out_band[lead:end], reference, settings.out_band_db, window)
    # A word starting or ending with a burst of low or high sound must not be louder there than in the span.
    ceiling = float(np.max(_short_term_power(outside, window)))
    ends = []
    for part in (slice(0, lead), slice(end, speech.size)):
        outer = out_band[part] * gain
        if outer.size:
            outer *= min(1.0, float(np.sqrt(ceiling / np.max(_short_term_power(outer, window)))))
        ends.append(outer)
    return ends[0], tones + inside + outside, ends[1]


def voiced_meeting(
    script_text: str,
    *,
    settings: VoicedSettings | None = None,
    voices: tuple[str, ...] = VOICES,
    sample_rate: int = 16000,
    **synthesize_options: float,
) -> tuple[np.ndarray, list[PlannedUtterance]]:
    """The script as voiced tone speech: int16 mono PCM and the plan, as `synthesize(parse_script(...))`.

    `synthesize_options` (default_gap, lead_in, tail) go to `synthesize`; the plan is exactly its plan: the
    tone spans. Each voice starts up to `settings.lead_s` before its tones, and a short line's voice goes
    on after them up to `settings.min_voice_s` in all (see VoicedSettings); both take at most half the
    silence on their side.
    """
    settings = settings or VoicedSettings()
    pcm, plan = synthesize(parse_script(script_text), sample_rate=sample_rate, **synthesize_options)
    mix = pcm.astype(np.float64) / 32768.0
    bounds = [0] + [round(t * sample_rate) for u in plan for t in (u.start, u.end)] + [mix.size]
    for k, utterance in enumerate(plan):
        before, start, end, after = bounds[2 * k:2 * k + 4]
        lead = min(round(settings.lead_s * sample_rate), (start - before) // (2 if k else 1))
        trail = max(0, round(settings.min_voice_s * sample_rate) - lead - (end - start))
        trail = min(trail, (after - end) // (2 if k + 1 < len(plan) else 1))
        voice = voices[utterance.speaker_index % len(voices)]
        speech = fitted_speech(utterance.text, voice, lead + end - start + trail, sample_rate)
        head, span, tail = voice_utterance(mix[start:end], speech, lead, settings, sample_rate)
        mix[start - lead:start] += head
        mix[start:end] = span
        mix[end:end + trail] += tail
    peak = float(np.max(np.abs(mix))) if mix.size else 0.0
    if peak > 0:
        mix *= settings.peak / peak
    return np.round(mix * 32767).astype(np.int16), plan
