"""The README's install lines for the package, run as written in a fresh venv (slow: builds PyAudio).

What it covers: the Debian packages of the README's `apt-get install` line are installed on this machine
(it does not run apt-get: that needs root and changes the host), then `python3 -m venv` and the README's
`pip install '/path/to/roomscribe[microphone]'` with this checkout as the path, in a fresh venv, which builds
PyAudio from its source distribution against PortAudio with the compiler; then `import pyaudio` and
`roomscribe --version` from that venv. It does not cover Raspberry Pi OS itself, nor python3-dev of the
system Python when the python3 on PATH brings its own headers (pyenv).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()

pytestmark = pytest.mark.slow


def install_block() -> list[str]:
    section = README.split("## Install on a room device", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_names_the_build_packages():
    [apt] = [line for line in install_block() if "apt-get install" in line]
    assert {"portaudio19-dev", "build-essential", "python3-dev", "python3-venv"} <= set(apt.split())


@pytest.mark.timeout(900)
def test_the_readme_install_lines_work_in_a_fresh_venv(tmp_path):
    lines = install_block()
    [apt] = [line for line in lines if "apt-get install" in line]
    packages = apt.split("install", 1)[1].split()
    if shutil.which("dpkg-query") is None:
        pytest.skip("not a Debian system")
    missing = [p for p in packages
               if "install ok installed" not in subprocess.run(["dpkg-query", "-W", "-f=${Status}", p],
                                                              capture_output=True, text=True).stdout]
    assert not missing, f"the README's apt-get line is not satisfied here: {missing}"

    venv = tmp_path / "opt-roomscribe"
    [make_venv] = [line for line in lines if "-m venv" in line]
    [pip] = [line for line in lines if "bin/pip install" in line]
    assert re.fullmatch(r"sudo python3 -m venv /opt/roomscribe", make_venv)
    subprocess.run([shutil.which("python3"), "-m", "venv", str(venv)], check=True, timeout=120)
    spec = re.search(r"'(/path/to/roomscribe)(\[[a-z,]+\])'", pip)
    assert spec and spec.group(2) == "[microphone]", pip
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-cache-dir", "--no-binary", "pyaudio",
                           f"{REPO}{spec.group(2)}"], capture_output=True, text=True, timeout=840)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check = subprocess.run([str(venv / "bin" / "python"), "-c", "import pyaudio; print(pyaudio.get_portaudio_version_text())"],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "PortAudio" in check.stdout, check.stderr
    version = subprocess.run([str(venv / "bin" / "roomscribe"), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("roomscribe "), version.stderr
