"""A private PulseAudio with a null sink whose monitor is the default capture source.

What is played into the sink (paplay) is what PortAudio captures, at real-time pace: the real
microphone path without sound hardware. HOME and XDG_RUNTIME_DIR are private to the test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV_KEYS = ("XDG_RUNTIME_DIR", "HOME", "PULSE_RUNTIME_PATH", "PULSE_CLIENTCONFIG")


class PulseServer:
    def __init__(self, rate: int = 16000, channels: int = 1) -> None:
        self.rate, self.channels = rate, channels  # of the null sink, and so of the capture source
        self.root = Path(tempfile.mkdtemp(prefix="rs-pulse-"))
        self.runtime = self.root / "run"
        self.home = self.root / "home"
        self.runtime.mkdir(mode=0o700)
        self.home.mkdir()
        (self.home / ".asoundrc").write_text("pcm.!default { type pulse }\nctl.!default { type pulse }\n")
        # No autospawn: a client that finds the server gone (the device-loss tests kill it) must not
        # start a stray PulseAudio of its own that no test would stop.
        client_conf = self.root / "client.conf"
        client_conf.write_text("autospawn = no\n")
        self.env = dict(
            os.environ,
            XDG_RUNTIME_DIR=str(self.runtime),
            HOME=str(self.home),
            PULSE_RUNTIME_PATH=str(self.runtime / "pulse"),
            PULSE_CLIENTCONFIG=str(client_conf),
        )

    def start(self) -> "PulseServer":
        cmd = [
            "pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n", "--use-pid-file=yes",
            "--load=module-native-protocol-unix",
            f"--load=module-null-sink sink_name=room rate={self.rate} channels={self.channels}",
            "--load=module-always-sink",
        ]
        if os.geteuid() == 0:
            cmd.insert(1, "--system=no")
        subprocess.run(cmd, env=self.env, check=True, capture_output=True, timeout=20)
        deadline = time.monotonic() + 10
        while subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("PulseAudio did not come up")
            time.sleep(0.1)
        subprocess.run(["pactl", "set-default-source", "room.monitor"], env=self.env, check=True, timeout=10)
        return self

    def kill(self) -> None:
        pid = self._pid()
        subprocess.run(["pulseaudio", "--kill"], env=self.env, capture_output=True, timeout=10)
        deadline = time.monotonic() + 5
        while subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode == 0:
            if time.monotonic() > deadline:
                if pid is not None:  # it ignored the polite request
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                break
            time.sleep(0.1)

    def _pid(self) -> int | None:
        try:
            return int((self.runtime / "pulse" / "pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def play(self, wav: Path) -> subprocess.Popen:
        return subprocess.Popen(["paplay", "--device=room", str(wav)], env=self.env)

    def apply_env(self, monkeypatch) -> None:
        for key in ENV_KEYS:
            monkeypatch.setenv(key, self.env[key])

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def pulse_available() -> bool:
    return all(shutil.which(tool) for tool in ("pulseaudio", "pactl", "paplay"))


@contextlib.contextmanager
def running_pulse() -> Iterator[PulseServer]:
    """A started PulseServer that is killed and removed however the block ends."""
    server = PulseServer()
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture
def pulse(monkeypatch) -> Iterator[PulseServer]:
    """A started PulseServer for one test, its environment applied (import it into a test module to use it)."""
    server = PulseServer().start()
    server.apply_env(monkeypatch)
    try:
        yield server
    finally:
        server.close()

