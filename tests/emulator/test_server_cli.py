"""`roomscribe emulator serve|synth` as a user runs them: real processes, the real SDK as the client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import wave

from tests.support.emulator_sdk import SdkTranscriber, script_pcm

SCRIPT = "Alice: Hello from the command line\n[silence 0.5]\nBob: And hello back\n"


def run_cli(*args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roomscribe", "emulator", *args], capture_output=True, text=True,
                          timeout=60, **options)


def test_the_cli_module_is_cheap_to_import():
    code = ("import sys, roomscribe.emulator.cli; "
            "heavy = {'numpy', 'websockets', 'azure.cognitiveservices.speech'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_serve_prints_each_utterance_and_writes_the_record(tmp_path):
    record_path = tmp_path / "record.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "roomscribe", "emulator", "serve", "--port", "0", "--key", "cli-key",
         "--record-json", str(record_path), "--one-way-delay-ms", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        first = server.stdout.readline()
        assert first.startswith("speech emulator listening on ws://127.0.0.1:"), first
        host_url = first.split()[-1]
        pcm, planned = script_pcm(SCRIPT)
        with SdkTranscriber(host_url, "cli-key") as sdk:
            sdk.start()
            sdk.push(pcm)
            sdk.close_stream()
            sdk.wait_for(lambda s: s.events("session_stopped"), 30, "session_stopped")
            assert [e.text for e in sdk.transcribed()] == [p.text for p in planned]
        lines = [server.stdout.readline().rstrip("\n") for _ in planned]
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert "Guest-1" in lines[0] and lines[0].endswith(planned[0].text)
    assert "Guest-2" in lines[1] and lines[1].endswith(planned[1].text)
    record = json.loads(record_path.read_text())
    assert [p["text"] for p in record["phrases"]] == [p.text for p in planned]
    assert "cli-key" not in record_path.read_text()


def test_serve_refuses_a_bad_fault_option():
    result = run_cli("serve", "--port", "0", "--refuse", "302")
    assert result.returncode == 64 and "refuse_status" in result.stderr


def test_synth_writes_a_wav_the_emulator_can_hear(tmp_path):
    script = tmp_path / "meeting.txt"
    script.write_text(SCRIPT)
    out = tmp_path / "meeting.wav"
    result = run_cli("synth", str(script), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "Alice" in result.stdout and "And hello back" in result.stdout
    with wave.open(str(out)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        samples = wav.readframes(wav.getnframes())
    assert samples == script_pcm(SCRIPT)[0]


def test_synth_names_the_bad_line(tmp_path):
    script = tmp_path / "bad.txt"
    script.write_text("Alice: fine\nno colon here\n")
    result = run_cli("synth", str(script), "-o", str(tmp_path / "x.wav"))
    assert result.returncode == 64 and "line 2" in result.stderr


def test_synth_to_an_unwritable_path_is_a_clear_error(tmp_path):
    script = tmp_path / "meeting.txt"
    script.write_text(SCRIPT)
    result = run_cli("synth", str(script), "-o", str(tmp_path / "no" / "such" / "dir" / "out.wav"))
    assert result.returncode == 73, result.stderr
    assert "Traceback" not in result.stderr
    assert "cannot write" in result.stderr and "out.wav" in result.stderr


def test_without_the_emulator_extra_the_cli_says_what_to_install(tmp_path):
    # An import of websockets (serve) or numpy (synth) fails, as in an install without [emulator].
    script = tmp_path / "meeting.txt"
    script.write_text(SCRIPT)
    for blocked, args in (("websockets", ["serve", "--port", "0"]), ("numpy", ["synth", str(script), "-o", str(tmp_path / "o.wav")])):
        code = (f"import sys; sys.modules[{blocked!r}] = None; from roomscribe.cli import main; "
                f"sys.exit(main(['emulator', *{args!r}]))")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert result.returncode == 69, result.stderr
        assert "Traceback" not in result.stderr
        assert "pip install 'roomscribe[emulator]'" in result.stderr
