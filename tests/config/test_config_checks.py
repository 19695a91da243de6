"""Checks beyond the schema (config_checks.py) and what check-config and `run` make of them."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from roomscribe.config.storage import LegacyStores, deprecations, journal_path, legacy_stores, max_waiting, max_waiting_s
from roomscribe.config import checkconfig, checks as config_checks
from roomscribe.system import exitcodes
from roomscribe.config import MISSING, ConfigError, ConfigProblem, default_state_directory, parse_config


def check(path: Path, capsys) -> tuple[int, str, str]:
    code = checkconfig.main(checkconfig.argparse.Namespace(config=str(path), format="yaml"))
    out, err = capsys.readouterr()
    return code, out, err


def wav(path: Path, *, tag: int = 1, bits: int = 16, rate: int = 16000, channels: int = 1, frames: int = 1600) -> Path:
    data = b"\0" * (frames * channels * bits // 8)
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE"
                     + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    return path


# -- files in the same run as the schema -----------------------------------------------------------


def test_file_problems_come_with_the_schema_problems_in_one_run(tmp_path, capsys):
    float_wav = wav(tmp_path / "float.wav", tag=3, bits=32)
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    config = tmp_path / "config.yaml"
    config.write_text(f"romo: x\naudio:\n  source: file\n  file: {float_wav}\n"
                      f"mqtt:\n  tls:\n    ca_file: {ca}\n  password_file: {tmp_path / 'none'}\n")
    code, out, err = check(config, capsys)
    assert code == exitcodes.CONFIG and out == ""
    lines = err.splitlines()
    assert lines[0].endswith("5 configuration problems"), err
    body = "\n".join(lines[1:])
    assert "romo (line 1): unknown key; did you mean 'room'?" in body
    assert f"audio.file (line 4): {float_wav} has 32-bit float samples" in body
    assert "audio.file: audio.file" not in body
    assert "mqtt.tls.ca_file (line 7): not a PEM CA certificate" in body
    assert "mqtt.password_file (line 8): cannot read the file: No such file or directory" in body
    assert "mqtt (line 5): a password was given without a username" in body  # the schema's, same run


def test_a_good_wav_and_a_good_cert_pass(tmp_path, capsys):
    key, cert = tmp_path / "client.key", tmp_path / "client.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=roomscribe-test"], check=True, capture_output=True, timeout=60)
    config = tmp_path / "config.yaml"
    config.write_text(f"audio:\n  source: file\n  file: {wav(tmp_path / 'm.wav')}\nmqtt:\n  tls:\n"
                      f"    ca_file: {cert}\n    cert_file: {cert}\n    key_file: {key}\n")
    code, out, err = check(config, capsys)
    assert code == exitcodes.OK, err

    other_key = tmp_path / "other.key"
    subprocess.run(["openssl", "genrsa", "-out", str(other_key), "2048"], check=True, capture_output=True, timeout=60)
    config.write_text(config.read_text().replace(str(key), str(other_key)))
    code, out, err = check(config, capsys)
    assert code == exitcodes.CONFIG
    assert "mqtt.tls.key_file (line 8): the certificate and key cannot be used together" in err


def test_a_wav_that_needs_converting_without_numpy_names_the_extra(tmp_path):
    path = wav(tmp_path / "cd.wav", rate=44100, channels=2)
    code = ("import sys; sys.modules['numpy'] = None; sys.modules['soxr'] = None\n"
            "from pathlib import Path\nfrom roomscribe.config.checks import file_problems\n"
            f"print(file_problems({{'audio': {{'source': 'file', 'file': {str(path)!r}}}}})[0].message)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "pip install 'roomscribe[wavfile]'" in out


# -- duplicate keys, empty tls, wording --------------------------------------------------------------


def test_problem_text_has_no_missing_marker_and_no_doubled_key():
    with pytest.raises(ConfigError) as caught:
        parse_config("room: a\nmqtt:\n  host: [\n")
    text = str(caught.value.problems[0])
    assert "not valid YAML" in text and "<missing>" not in text and "(got" not in text
    problem = ConfigProblem("audio.file", "/x.wav", "audio.file: /x.wav does not exist")
    assert str(problem) == "audio.file: /x.wav does not exist (got '/x.wav')"
    assert "got" not in str(ConfigProblem("mqtt.tls", MISSING, "empty"))


def test_tls_empty_mapping_and_null_are_still_accepted():
    assert parse_config("mqtt:\n  tls: {}\n").mqtt.tls is not None
    assert parse_config("mqtt:\n  tls: null\n").mqtt.tls is None


def test_every_pattern_of_the_settings_has_words():
    import re

    from roomscribe.config import schema as config
    from roomscribe.config.problems import PATTERN_TEXTS

    source = Path(config.__file__).read_text()
    patterns = set(re.findall(r'pattern=r"([^"]+)"', source)) | {config.ROOM_PATTERN}
    assert patterns <= set(PATTERN_TEXTS), patterns - set(PATTERN_TEXTS)


# -- PyAudio ----------------------------------------------------------------------------------------


def test_microphone_without_pyaudio_is_a_problem_naming_the_install(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("room: r\naudio:\n  source: microphone\n")
    code = ("import sys; sys.modules['pyaudio'] = None\nfrom roomscribe.cli import main\n"
            f"sys.exit(main(['check-config', '-c', {str(config)!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 78, result.stderr
    assert "audio.source" in result.stderr
    for needed in ("pip install 'roomscribe[microphone]'", "portaudio19-dev build-essential python3-dev"):
        assert needed in result.stderr
    assert config_checks.microphone_problems("file") == []


# -- the state directory ---------------------------------------------------------------------------


@pytest.mark.parametrize("environ, euid, expected", [
    ({"STATE_DIRECTORY": "/var/lib/roomscribe/lobby:/var/lib/other"}, 0, "/var/lib/roomscribe/lobby"),
    ({"STATE_DIRECTORY": "/var/lib/roomscribe"}, 1000, "/var/lib/roomscribe"),
    ({}, 0, "/var/lib/roomscribe"),
    ({"HOME": "/home/ann"}, 1000, "/home/ann/.local/state/roomscribe"),
    ({"HOME": "/home/ann", "XDG_STATE_HOME": "/srv/state"}, 1000, "/srv/state/roomscribe"),
    ({"HOME": "/home/ann", "XDG_STATE_HOME": "relative"}, 1000, "/home/ann/.local/state/roomscribe"),
])
def test_default_state_directory(environ, euid, expected):
    assert default_state_directory(environ, euid) == Path(expected)


def test_the_journal_default_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    assert journal_path(parse_config("room: r\n")) == tmp_path / "journal.sqlite3"
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert journal_path(parse_config("room: r\n")) == tmp_path / "xdg" / "roomscribe" / "journal.sqlite3"


def test_the_deprecated_store_keys_still_load_and_say_what_replaces_them(monkeypatch, tmp_path):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    old = parse_config("mqtt:\n  outbox_path: /data/rs/outbox.sqlite3\n  outbox_max_messages: 500\n"
                       "  outbox_max_age_days: 2\narchive:\n  path: /data/rs/archive.sqlite3\n")
    assert journal_path(old) == Path("/data/rs/journal.sqlite3")  # where the installation keeps its state
    assert legacy_stores(old) == LegacyStores(Path("/data/rs/outbox.sqlite3"), Path("/data/rs/archive.sqlite3"))
    assert (max_waiting(old), max_waiting_s(old)) == (500, 2 * 86400)
    said = deprecations(old)
    assert len(said) == 4 and all("deprecated" in line for line in said)
    assert any("journal.max_waiting" in line for line in said)
    new = parse_config("journal:\n  path: /srv/j.sqlite3\n  max_waiting: 50\n")
    assert (journal_path(new), max_waiting(new), deprecations(new)) == (Path("/srv/j.sqlite3"), 50, [])
    assert legacy_stores(new).outbox == tmp_path / "state" / "outbox.sqlite3"  # the old default place


def test_the_per_user_default_is_created_and_others_are_not(monkeypatch, tmp_path):
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    journal = journal_path(parse_config("room: r\n"))
    assert config_checks.state_directory_problems(journal) == []
    assert (journal.parent.stat().st_mode & 0o777) == 0o700

    missing = tmp_path / "nope" / "journal.sqlite3"
    [problem] = config_checks.state_directory_problems(missing)
    assert problem.path == "journal.path" and f"{missing.parent} does not exist" in problem.message


def test_an_unwritable_state_directory_is_named_with_the_reason(monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", "/sys/kernel")  # not writable, not even for root
    settings = parse_config("room: r\naudio:\n  source: file\n  file: /x.wav\n")
    [problem] = config_checks.run_problems(settings)
    assert str(problem) == ("journal.path: the state directory /sys/kernel is not writable: Permission denied "
                            "(got '/sys/kernel/journal.sqlite3')")


def test_a_full_state_directory_is_no_configuration_problem(monkeypatch, tmp_path):
    """ENOSPC when probing: the daemon must start (and say the disk is full), not exit 78 into systemd's limit."""
    import errno
    import tempfile

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    assert config_checks.state_directory_problems(tmp_path / "journal.sqlite3") == []


def test_roots_default_outside_systemd_is_created_private(monkeypatch, tmp_path):
    """`roomscribe run` as root without $STATE_DIRECTORY: /var/lib/roomscribe is made (0700), as StateDirectory= would."""
    from roomscribe.config import paths

    default = tmp_path / "var" / "lib" / "roomscribe"
    monkeypatch.setattr(paths, "ROOT_STATE_DIRECTORY", default)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    old = os.umask(0o022)
    try:
        from roomscribe.config.storage import journal_path

        journal = journal_path(parse_config("room: r\n"))
        assert journal == default / "journal.sqlite3"
        assert config_checks.state_directory_problems(journal) == []
    finally:
        os.umask(old)
    assert default.is_dir() and (default.stat().st_mode & 0o777) == 0o700
    default.chmod(0o755)  # made by someone else: left as it is, only checked
    assert config_checks.state_directory_problems(journal) == []
    assert (default.stat().st_mode & 0o777) == 0o755
