"""`roomscribe demo` runs to the end (its privacy accounting is tested in test_privacy_audit.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.contention
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
