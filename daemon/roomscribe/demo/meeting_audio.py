"""The demo meeting as voiced tone speech, shipped as package data so the demo needs no espeak-ng.

Rendered once by scripts/render_demo_meeting.py from demo/script.py's MEETING with
emulator/voiced.py; a test checks that it still says exactly what MEETING says. Voiced, so the demo
runs with silence suppression on, as users get it: the voice stage hears speech, the emulator decodes
the tones under it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from roomscribe.demo.script import MEETING
from roomscribe.emulator.script import PlannedUtterance, parse_script, read_wav, synthesize

DEMO_WAV = Path(__file__).with_name("data") / "demo_meeting.wav"


def demo_meeting() -> tuple[np.ndarray, list[PlannedUtterance]]:
    """The packaged voiced demo meeting and its plan (from MEETING, with synthesize's defaults)."""
    pcm, rate = read_wav(DEMO_WAV)
    plain, plan = synthesize(parse_script(MEETING), sample_rate=rate)
    if pcm.size != plain.size:
        raise ValueError(f"{DEMO_WAV} does not match the demo script: run scripts/render_demo_meeting.py")
    return pcm, plan
