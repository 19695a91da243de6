"""Without PyAudio a microphone cannot work: a configuration problem (exit 78), never a daemon that says
`transcribing` and retries an import forever."""

from __future__ import annotations

import subprocess
import sys

from roomscribe.system import exitcodes

WITHOUT_PYAUDIO = (
    "import sys; sys.modules['pyaudio'] = None; "  # `import pyaudio` now raises ImportError, as when not installed
    "from roomscribe.cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_run_with_a_microphone_but_no_pyaudio_exits_78_naming_the_install_command(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "room: boardroom\n"
        "mqtt: {host: 127.0.0.1, port: 1, outbox_path: " + str(tmp_path / "outbox.sqlite3") + "}\n"
        "speech: {host: 'ws://127.0.0.1:1', key: k}\n"
        "audio: {source: microphone, device: default}\n"
    )
    result = subprocess.run([sys.executable, "-c", WITHOUT_PYAUDIO, "run", "-c", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == exitcodes.CONFIG, result.stderr
    assert "PyAudio" in result.stderr and "pip install 'roomscribe[microphone]'" in result.stderr
    assert "portaudio19-dev" in result.stderr
    assert "Traceback" not in result.stderr
