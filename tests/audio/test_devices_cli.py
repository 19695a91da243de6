"""`roomscribe devices` as a user runs it, against a private PulseAudio (the real PortAudio device list)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.support.pulse import pulse_available, running_pulse

pytestmark = pytest.mark.skipif(not pulse_available(), reason="PulseAudio tools are not installed")


@pytest.fixture(scope="module")
def pulse():
    with running_pulse() as server:
        yield server


def roomscribe(pulse, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "roomscribe", "devices", *args],
        env=pulse.env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_json_lists_each_capture_device_with_index_name_channels_and_rate(pulse):
    devices = json.loads(roomscribe(pulse, "--json"))
    by_name = {d["name"]: d for d in devices}
    assert {"pulse", "default"} <= set(by_name)
    for device in devices:
        assert set(device) == {"index", "name", "channels", "default_rate", "default"}
        assert isinstance(device["index"], int) and device["channels"] > 0 and device["default_rate"] >= 8000
    assert len({d["index"] for d in devices}) == len(devices)
    assert [d["name"] for d in devices if d["default"]] == ["default"]  # ALSA's default goes to PulseAudio


def test_the_table_shows_the_same_devices(pulse):
    devices = json.loads(roomscribe(pulse, "--json"))
    table = roomscribe(pulse).splitlines()
    assert table[0].split() == ["index", "channels", "rate", "name"]
    rows = [re.match(r"\s*(\d+)\s+(\d+)\s+(\d+)\s+(.*)$", line).groups() for line in table[1:]]
    expected = [
        (str(d["index"]), str(d["channels"]), str(d["default_rate"]), d["name"] + ("  (default)" if d["default"] else ""))
        for d in devices
    ]
    assert rows == expected
    assert any(row[3] == "pulse" for row in rows)
