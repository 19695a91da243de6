"""`roomscribe demo` runs to the end, and its privacy check can tell a leak from none."""

from __future__ import annotations

import random
import subprocess
import sys

from roomscribe.demo_run import sent_from


def test_demo_runs_to_the_end_and_shows_the_secret_stayed_home():
    result = subprocess.run(
        [sys.executable, "-m", "roomscribe", "demo", "--speed", "2"], capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "publishes meeting/pause" in out and "publishes meeting/resume" in out
    assert "state        paused" in out
    assert "utterances published:             5 of 6" in out
    assert "secret sentence reached service:  no" in out
    assert "SECRET" not in out.split("summary")[0].split("resumes after it")[1]


def test_privacy_check_sees_a_leak():
    rng = random.Random(7)
    captured = bytes(rng.randrange(1, 256) for _ in range(32000))  # 1 s of non-silent "audio"
    start, end = 0.25, 0.5
    a, b = int(start * 32000), int(end * 32000)
    clean = captured[:a] + bytes(800) + captured[b:]
    assert not sent_from(clean, captured, start, end)
    assert sent_from(captured[: a + 640] + bytes(800) + captured[b:], captured, start, end)  # 20 ms too much before
    assert sent_from(captured[:a] + bytes(800) + captured[b - 640 :], captured, start, end)  # resumed too early
    assert sent_from(captured, captured, start, end)  # no pause at all
