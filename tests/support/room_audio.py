"""Real speech in a room, for testing and benchmarking the voice activity stage.

Utterances are synthesized by `espeak-ng` (several voices, male and female variants, several rates),
converted by `sox` to 16 kHz mono 16-bit, and cached on disk (`$ROOMSCRIBE_AUDIO_CACHE`, else a folder in
the temp dir), so only the first run pays for synthesis. They are mixed with room noise: fan hum, pink
noise, and babble made from other synthesized voices.

The truth comes from the clean speech, never from the mix: a 10 ms chunk is speech when the clean
utterance's RMS in it is within SPEECH_FLOOR_DB of the utterance's loudest chunk, and an utterance spans
its first to its last speech chunk. Levels are dBFS of RMS; an utterance's level is the RMS over its
speech chunks (its "active level"), and SNR is that level against the noise's RMS.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from roomscribe.core.audio_format import CHUNK_BYTES, CHUNK_MS, SAMPLE_RATE

CHUNK = SAMPLE_RATE * CHUNK_MS // 1000  # samples per 10 ms chunk
FULL_SCALE = 32768.0
SPEECH_FLOOR_DB = 40.0  # a chunk within this of the utterance's loudest chunk is speech
SPEECH_LEVEL_DBFS = -26.0  # typical active speech level of a room microphone

# espeak-ng voice variants: m* are male, f* female.
VOICES = ("en-us+m3", "en-us+f3", "en-gb+m1", "en-gb+f2", "en-us+m7", "en-us+f4", "en+m2", "en+f5",
          "en-gb-x-rp+m5", "en-us+f1")
BABBLE_VOICES = ("en-us+m4", "en-gb+f3", "en+m6", "en-us+f2", "en-gb+m2", "en+f4", "en-us+m1", "en-gb+f5")
RATES = (130, 155, 180)

SENTENCES = (
    "Yes.",
    "Okay, thanks.",
    "Can you hear me?",
    "Shall we start?",
    "Six sessions, fifty seats.",
    "The budget for next quarter looks fine.",
    "Travel costs rose since March, so please check the invoices.",
    "I will do it by Friday and send everyone a short summary.",
    "Let us move on to hiring, where we still have three open positions.",
    "Sorry, could you repeat the last figure, I think the line dropped for a second.",
    "Facilities said the office move is planned for the first week of September, "
    "so we should pack the archive before the summer holidays.",
    "First, the search for a new supplier; second, the shipping delays; "
    "and third, the question of whether we keep the warehouse in Hamburg at all.",
    "She thinks the forecast is too optimistic, and frankly I share some of her concerns, "
    "because the numbers from the last two months show a clear slowdown in every region except the north.",
    "If we approve this today, the team can start the pilot next Monday, hire two contractors for six weeks, "
    "and report back to this group with the first results before the board meeting at the end of October.",
    "Fine, then let's take a five minute break and continue with the sales figures afterwards.",
    "Hmm, what about the thirty thousand for software licences?",
)

BABBLE_SENTENCES = (
    "Did you see the game last night, it was unbelievable.",
    "The coffee machine on the third floor is broken again.",
    "We're going to the seaside for the long weekend.",
    "He told me the printer jammed twice this morning.",
    "Could you pass me that folder over there please.",
    "I really need to book a table for Saturday evening.",
)


def cache_dir() -> Path:
    path = Path(os.environ.get("ROOMSCRIBE_AUDIO_CACHE") or Path(tempfile.gettempdir()) / "roomscribe-room-audio")
    path.mkdir(parents=True, exist_ok=True)
    return path


def synthesize(text: str, voice: str, rate: int) -> np.ndarray:
    """Clean speech as float samples (full scale 1.0) at 16 kHz, espeak's own leading/trailing silence kept."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        raise RuntimeError("espeak-ng and sox are needed (apt-get install espeak-ng sox; scripts/test.sh does it)")
    key = hashlib.sha256(f"{voice}|{rate}|{text}".encode()).hexdigest()[:20]
    path = cache_dir() / f"{key}.raw"
    if not path.exists():
        with tempfile.TemporaryDirectory(prefix="espeak-") as tmp:
            wav = Path(tmp) / "speech.wav"
            raw = Path(tmp) / "speech.raw"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(wav), text], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            subprocess.run(["sox", str(wav), "-r", str(SAMPLE_RATE), "-b", "16", "-c", "1", "-e", "signed-integer",
                            "-t", "raw", str(raw)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            partial = path.with_suffix(f".{os.getpid()}.part")
            shutil.copyfile(raw, partial)
            partial.replace(path)  # atomic: parallel runs never read half a file
    return np.frombuffer(path.read_bytes(), dtype="<i2").astype(np.float32) / FULL_SCALE


def chunk_rms_db(samples: np.ndarray) -> np.ndarray:
    """RMS in dBFS of each whole 10 ms chunk."""
    n = samples.size // CHUNK * CHUNK
    frames = samples[:n].reshape(-1, CHUNK).astype(np.float64)
    return 10 * np.log10(np.mean(frames * frames, axis=1) + 1e-20)


def active_level_db(speech: np.ndarray) -> float:
    levels = chunk_rms_db(speech)
    active = levels >= levels.max() - SPEECH_FLOOR_DB
    power = np.mean(10 ** (levels[active] / 10))
    return float(10 * np.log10(power))


# -- noise --------------------------------------------------------------------------------------------


def _shaped(n: int, rng: np.random.Generator, gain) -> np.ndarray:
    """Gaussian noise with the amplitude spectrum gain(f), unit RMS; made in overlapping 8 s blocks."""
    block, fade = 8 * SAMPLE_RATE, SAMPLE_RATE // 20
    out = np.zeros(n + block, dtype=np.float32)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    freqs = np.fft.rfftfreq(block + fade, 1 / SAMPLE_RATE)
    shape = gain(np.maximum(freqs, 1.0))
    pos = 0
    while pos < n:
        spectrum = np.fft.rfft(rng.standard_normal(block + fade)) * shape
        piece = np.fft.irfft(spectrum, block + fade).astype(np.float32)
        piece[:fade] *= ramp  # crossfade with the previous block's tail: no clicks
        piece[-fade:] *= ramp[::-1]
        out[pos:pos + block + fade] += piece[: out.size - pos]
        pos += block
    out = out[:n]
    return out / max(float(np.sqrt(np.mean(out.astype(np.float64) ** 2))), 1e-12)


def pink_noise(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """1/f noise (-3 dB per octave) from 20 Hz up: air conditioning, traffic, the room's hiss."""
    return _shaped(int(seconds * SAMPLE_RATE), rng, lambda f: np.where(f < 20, 0.0, 1 / np.sqrt(f)))


def fan_hum(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A projector or ventilation fan: mains hum and blade harmonics, slowly wavering, over brown air noise."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    hum = np.zeros(n)
    blade = rng.uniform(90, 160)
    for freq, amp in [(50, 1.0), (100, 0.6), (150, 0.3), (blade, 0.8), (2 * blade, 0.4), (3 * blade, 0.2)]:
        wobble = 1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 6.3))
        hum += amp * wobble * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6.3))
    hum /= np.sqrt(np.mean(hum**2))
    air = _shaped(n, rng, lambda f: np.where(f < 30, 0.0, 1 / f) * (1 / (1 + (f / 1500) ** 2)))
    mix = 0.8 * hum + 0.6 * air
    return (mix / np.sqrt(np.mean(mix**2))).astype(np.float32)


def babble(seconds: float, rng: np.random.Generator, talkers: int = 8) -> np.ndarray:
    """Distant chatter: `talkers` other synthesized voices, each talking on and on, summed."""
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros(n, dtype=np.float32)
    for i in range(talkers):
        voice = BABBLE_VOICES[i % len(BABBLE_VOICES)]
        pos = -int(rng.integers(0, 3 * SAMPLE_RATE))
        while pos < n:
            clip = synthesize(str(rng.choice(BABBLE_SENTENCES)), voice, int(rng.choice(RATES)))
            start = max(pos, 0)
            piece = clip[start - pos: n - pos]
            out[start:start + piece.size] += piece
            pos += clip.size
    return out / max(float(np.sqrt(np.mean(out.astype(np.float64) ** 2))), 1e-12)


NOISES = {"pink": pink_noise, "fan": fan_hum, "babble": babble}


def room_noise(seconds: float, rng: np.random.Generator, kind: str = "room") -> np.ndarray:
    """Unit-RMS noise of one kind; "hvac": fan and pink noise; "room": hvac with babble 10 dB below it."""
    if kind in NOISES:
        return NOISES[kind](seconds, rng)
    if kind not in ("hvac", "room"):
        raise ValueError(f"unknown noise {kind!r}; one of {sorted(NOISES) + ['hvac', 'room']}")
    mix = 0.7 * fan_hum(seconds, rng) + 0.7 * pink_noise(seconds, rng)
    if kind == "room":
        mix = mix + 0.32 * babble(seconds, rng)
    return mix / np.sqrt(np.mean(mix.astype(np.float64) ** 2))


# -- scenes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    start_chunk: int  # first speech chunk
    end_chunk: int  # one past the last speech chunk
    voice: str
    rate: int
    text: str
    snr_db: float

    @property
    def start_s(self) -> float:
        return self.start_chunk * CHUNK_MS / 1000

    @property
    def end_s(self) -> float:
        return self.end_chunk * CHUNK_MS / 1000


@dataclass(frozen=True)
class RoomAudio:
    pcm: bytes  # 16 kHz 16-bit mono, a whole number of 10 ms chunks
    utterances: tuple[Utterance, ...]
    speech: np.ndarray  # bool per 10 ms chunk: clean speech is active there

    @property
    def chunks(self) -> int:
        return len(self.pcm) // CHUNK_BYTES

    @property
    def seconds(self) -> float:
        return self.chunks * CHUNK_MS / 1000

    def chunk(self, i: int) -> bytes:
        return self.pcm[i * CHUNK_BYTES:(i + 1) * CHUNK_BYTES]


@dataclass(frozen=True)
class Line:
    """One utterance to place in a scene: what, who, how fast, how loud against the noise, after what gap."""

    text: str
    voice: str
    rate: int = 155
    snr_db: float = 20.0
    gap_before_s: float = 1.0


def render(lines: list[Line], *, noise: str | None = "room", noise_dbfs: float = SPEECH_LEVEL_DBFS - 20,
           tail_s: float = 1.0, seed: int = 1) -> RoomAudio:
    """Lines one after another over a steady noise floor; each line's speech is scaled to its SNR over it.

    With noise=None the floor is digital silence and each line is at SPEECH_LEVEL_DBFS.
    """
    clips = [synthesize(line.text, line.voice, line.rate) for line in lines]
    starts, pos = [], 0
    for line, clip in zip(lines, clips):
        pos += int(round(line.gap_before_s * 1000 / CHUNK_MS)) * CHUNK  # utterance clips start on a chunk
        starts.append(pos)
        pos += -(-clip.size // CHUNK) * CHUNK
    total = pos + int(round(tail_s * 1000 / CHUNK_MS)) * CHUNK
    clean = np.zeros(total, dtype=np.float32)
    utterances = []
    speech = np.zeros(total // CHUNK, dtype=bool)
    for line, clip, start in zip(lines, clips, starts):
        level = (noise_dbfs + line.snr_db) if noise is not None else SPEECH_LEVEL_DBFS
        scaled = clip * np.float32(10 ** ((level - active_level_db(clip)) / 20))
        clean[start:start + scaled.size] = scaled
        levels = chunk_rms_db(np.pad(scaled, (0, -scaled.size % CHUNK)))
        active = np.flatnonzero(levels >= levels.max() - SPEECH_FLOOR_DB)
        first = start // CHUNK
        speech[first + active] = True
        utterances.append(Utterance(first + int(active[0]), first + int(active[-1]) + 1, line.voice, line.rate,
                                    line.text, line.snr_db))
    mix = clean
    if noise is not None:
        floor = room_noise(total / SAMPLE_RATE, np.random.default_rng(seed), noise)
        mix = clean + floor[:total] * np.float32(10 ** (noise_dbfs / 20))
    pcm = np.clip(np.round(mix * FULL_SCALE), -32768, 32767).astype("<i2").tobytes()
    return RoomAudio(pcm, tuple(utterances), speech)


def noise_only(seconds: float, *, kind: str = "room", dbfs: float = SPEECH_LEVEL_DBFS - 20, seed: int = 1) -> bytes:
    """An empty room: noise of one kind at `dbfs` (RMS), no speech."""
    floor = room_noise(seconds, np.random.default_rng(seed), kind) * np.float32(10 ** (dbfs / 20))
    n = int(seconds * 1000 / CHUNK_MS) * CHUNK
    return np.clip(np.round(floor[:n] * FULL_SCALE), -32768, 32767).astype("<i2").tobytes()


def tone(seconds: float, freq: float, dbfs: float = SPEECH_LEVEL_DBFS) -> bytes:
    n = int(seconds * 1000 / CHUNK_MS) * CHUNK
    amp = 10 ** (dbfs / 20) * np.sqrt(2)  # RMS of a sine is its amplitude / sqrt(2)
    wave = amp * np.sin(2 * np.pi * freq * np.arange(n) / SAMPLE_RATE)
    return np.round(wave * FULL_SCALE).astype("<i2").tobytes()


# pymicro-vad hears a leading "Hmm" late (docs/vad.md): tests of the clip limit use the other sentences, and a
# test of its own bounds what the filler loses.
FILLER_SENTENCE = SENTENCES[-1]
WORD_SENTENCES = SENTENCES[:-1]


def varied_lines(count: int, *, seed: int, snr_range=(5.0, 30.0), gap_range=(0.5, 3.0),
                 sentences=WORD_SENTENCES) -> list[Line]:
    """`count` lines cycling through the voices and rates, with random sentences, SNRs and gaps."""
    rng = np.random.default_rng(seed)
    return [Line(text=str(rng.choice(sentences)), voice=VOICES[i % len(VOICES)], rate=RATES[(i // 2) % len(RATES)],
                 snr_db=float(rng.uniform(*snr_range)), gap_before_s=float(rng.uniform(*gap_range)))
            for i in range(count)]


def utterance_pool(min_s: float = 1.0, max_s: float = 15.0) -> list[tuple[str, str, int, float]]:
    """Every (sentence, voice, rate) whose speech lasts min_s..max_s, with that duration: synthesized once."""
    pool = []
    for text in SENTENCES:
        for voice in VOICES:
            for rate in RATES:
                levels = chunk_rms_db(synthesize(text, voice, rate))
                active = np.flatnonzero(levels >= levels.max() - SPEECH_FLOOR_DB)
                span = (active[-1] + 1 - active[0]) * CHUNK_MS / 1000
                if min_s <= span <= max_s:
                    pool.append((text, voice, rate, span))
    return pool


def room_day(minutes: float, *, seed: int = 1, speech_fraction: float = 0.25, snr_range=(5.0, 30.0),
             gap_range=(0.3, 60.0), noise: str = "room") -> RoomAudio:
    """A day in a meeting room, compressed: utterances of 1-15 s from the pool, gaps of 0.3-60 s, SNR 5-30 dB.

    Gaps are log-uniform over gap_range (many short turns, some long silences), mixed with uniform long
    gaps (20 s up) in the share that brings speech to about `speech_fraction` of the time.
    """
    rng = np.random.default_rng(seed)
    pool = utterance_pool()
    mean_clip = float(np.mean([synthesize(t, v, r).size / SAMPLE_RATE for t, v, r, _ in pool]))
    mean_span = float(np.mean([span for *_, span in pool]))
    lo, hi = np.log(gap_range[0]), np.log(gap_range[1])
    log_mean = (gap_range[1] - gap_range[0]) / (hi - lo)
    long_lo = min(20.0, gap_range[1])
    long_mean = (long_lo + gap_range[1]) / 2
    wanted_gap = mean_span * (1 - speech_fraction) / speech_fraction - (mean_clip - mean_span)
    share_long = float(np.clip((wanted_gap - log_mean) / (long_mean - log_mean), 0.0, 1.0))
    lines, total = [], 0.0
    while total < minutes * 60:
        text, voice, rate, _ = pool[int(rng.integers(len(pool)))]
        if rng.random() < share_long:
            gap = float(rng.uniform(long_lo, gap_range[1]))
        else:
            gap = float(np.exp(rng.uniform(lo, hi)))
        lines.append(Line(text, voice, rate, snr_db=float(rng.uniform(*snr_range)), gap_before_s=gap))
        total += gap + synthesize(text, voice, rate).size / SAMPLE_RATE
    return render(lines, noise=noise, seed=seed, tail_s=2.0)
