#!/usr/bin/env python3
"""Render the demo meeting (roomscribe.demo.MEETING) as voiced tone speech into the package's data folder.

Needs espeak-ng (apt-get install espeak-ng). Run it after changing demo.MEETING or roomscribe.emulator.voiced;
tests/emulator/test_voiced.py fails while the committed WAV no longer says what the script says.

    PYTHONPATH=daemon python scripts/render_demo_meeting.py
"""

from roomscribe.demo.meeting_audio import DEMO_WAV
from roomscribe.demo.script import MEETING
from roomscribe.emulator.script import write_wav
from roomscribe.emulator.decode import decode
from roomscribe.emulator.voiced import voiced_meeting


def main() -> int:
    pcm, plan = voiced_meeting(MEETING)
    heard = [(p.text, p.speaker) for p in decode(pcm)]
    if heard != [(u.text, u.speaker_index) for u in plan]:
        print(f"the rendering does not decode to the script: {heard}")
        return 1
    DEMO_WAV.parent.mkdir(parents=True, exist_ok=True)
    write_wav(DEMO_WAV, pcm)
    print(f"{DEMO_WAV}: {pcm.size / 16000:.1f} s, {len(plan)} utterances, {DEMO_WAV.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
