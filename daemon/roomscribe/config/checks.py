"""Checks beyond the schema: what the configuration names must be usable by the user running the check.

* file_problems: the files a configuration names (WAV format, secret files, TLS CA, certificate and
  key), on plain data, so that `check-config` reports them in the same run as schema problems.
* state_directory_problems: the journal's directory exists (the default is created) and is writable.
* microphone_problems: PyAudio can be imported when audio.source is microphone.
* run_problems: what `roomscribe run` must refuse with exit 78 before it starts (the last two).

Each returns ConfigProblems (key path, value, reason, line), never raises.
"""

from __future__ import annotations

import errno
import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

from roomscribe.config.problems import ConfigProblem

PYAUDIO_INSTALL = ("pip install 'roomscribe[microphone]'; on Debian/Raspberry Pi OS PyAudio builds from source "
                   "and needs: apt-get install portaudio19-dev build-essential python3-dev")
WAVFILE_INSTALL = "pip install 'roomscribe[wavfile]'"
_PASSING = {errno.ENOSPC, errno.EDQUOT, errno.EIO}  # the disk, not the configuration: they pass


def file_problems(data: dict, lines: dict[str, int] | None = None, skip: set[str] | None = None) -> list[ConfigProblem]:
    """A problem for each file named in `data` (a parsed file or settings_to_data) the daemon could not use.

    Key paths in `skip` (already reported by the schema) and values that are not strings are left alone.
    """
    lines = lines or {}
    skip = skip or set()
    problems: list[ConfigProblem] = []

    def named(key_path: str) -> str | None:
        if key_path in skip:
            return None
        value: Any = data
        for part in key_path.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value if isinstance(value, str) and value else None

    def add(key_path: str, value: str, reason: str) -> None:
        problems.append(ConfigProblem(key_path, value, reason, lines.get(key_path)))

    for key_path in ("speech.key_file", "mqtt.password_file", "web.access_token_file", "web.command_token_file"):
        if (path := named(key_path)) is not None:
            if (reason := _secret_file_problem(Path(path))) is not None:
                add(key_path, path, reason)
    audio = found if isinstance(found := data.get("audio"), dict) else {}
    if audio.get("source") == "file" and (path := named("audio.file")) is not None:
        if (reason := _wav_problem(Path(path))) is not None:
            add("audio.file", path, reason)
    mqtt = found if isinstance(found := data.get("mqtt"), dict) else {}
    if isinstance(mqtt.get("tls"), dict):
        _check_tls(named, add)
    return problems


def state_directory_problems(journal_path: Path, create_user_default: bool = True,
                             key: str = "journal.path") -> list[ConfigProblem]:
    """The journal's directory must exist and be writable (SQLite adds -wal and -shm files beside it).

    The default outside systemd is created (0700) when missing: ~/.local/state/roomscribe, as the XDG
    spec asks, and /var/lib/roomscribe for root, as StateDirectory= would. $STATE_DIRECTORY and a
    configured path are not: systemd or whoever configured them makes them.
    A full disk (or an I/O error) is not a configuration problem: the daemon starts, keeps what it cannot
    store in memory and says so (docs/journal.md); exiting would only run into systemd's start limit.
    """
    from roomscribe.config.paths import default_state_directory

    directory = Path(journal_path).parent
    default = default_state_directory(os.environ, os.geteuid())
    if create_user_default and directory == default and "STATE_DIRECTORY" not in os.environ and not directory.exists():
        try:
            directory.mkdir(mode=0o700, parents=True)
            directory.chmod(0o700)  # whatever the umask: it holds the transcripts
        except FileExistsError:
            pass  # made meanwhile (another process): checked below like any other
        except OSError as exc:
            return [ConfigProblem(key, str(journal_path), f"cannot create the state directory {directory}: {exc.strerror}")]
    if not directory.exists():
        return [ConfigProblem(key, str(journal_path), f"the state directory {directory} does not exist (under systemd "
                              f"StateDirectory= creates it; elsewhere create it or set {key})")]
    if not directory.is_dir():
        return [ConfigProblem(key, str(journal_path), f"{directory} is not a directory")]
    try:
        fd, probe = tempfile.mkstemp(prefix=".roomscribe-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        if exc.errno in _PASSING:
            return []
        return [ConfigProblem(key, str(journal_path), f"the state directory {directory} is not writable: {exc.strerror}")]
    if Path(journal_path).exists() and not os.access(journal_path, os.R_OK | os.W_OK):
        return [ConfigProblem(key, str(journal_path), "the journal file is not readable and writable by this user")]
    return []


def microphone_problems(source: str) -> list[ConfigProblem]:
    """With audio.source microphone, PyAudio must be importable."""
    if source != "microphone":
        return []
    try:
        import pyaudio  # noqa: F401
    except ImportError as exc:
        return [ConfigProblem("audio.source", source, f"PyAudio cannot be imported ({exc}): {PYAUDIO_INSTALL}")]
    return []


def run_problems(settings) -> list[ConfigProblem]:
    """What `roomscribe run` refuses with exit 78 before it starts: a missing or unwritable state
    directory, a microphone source without PyAudio, and the page's problems (config/web.py)."""
    from roomscribe.config.storage import journal_path
    from roomscribe.config.web import web_problems

    return (state_directory_problems(journal_path(settings)) + microphone_problems(settings.audio.source)
            + web_problems(settings))


# -- the single checks -----------------------------------------------------------------------------


def _secret_file_problem(path: Path) -> str | None:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return "the file is not UTF-8 text"
    except IsADirectoryError:
        return "is a directory, not a file"
    except OSError as exc:
        return f"cannot read the file: {exc.strerror}"
    return None


def _wav_problem(path: Path) -> str | None:
    from roomscribe.audio.source import AudioSourceError
    from roomscribe.audio.wavfile import load_pcm

    try:
        load_pcm(path)
    except AudioSourceError as exc:
        return str(exc).removeprefix("audio.file: ")
    except ImportError as exc:
        return (f"the file is not 16 kHz mono, and converting it needs {exc.name or 'numpy and soxr'}: "
                f"{WAVFILE_INSTALL} (or convert it with sox to 16 kHz mono 16-bit)")
    return None


def _check_tls(named, add) -> None:
    before = []
    for key_path in ("mqtt.tls.ca_file", "mqtt.tls.cert_file", "mqtt.tls.key_file"):
        if (path := named(key_path)) is not None and (reason := _secret_file_problem(Path(path))) is not None:
            add(key_path, path, reason.replace("not UTF-8 text", "not PEM text"))
            before.append(key_path)
    ca = named("mqtt.tls.ca_file")
    if ca is not None and "mqtt.tls.ca_file" not in before:
        try:
            ssl.create_default_context(cafile=ca)
        except (ssl.SSLError, ValueError) as exc:
            add("mqtt.tls.ca_file", ca, f"not a PEM CA certificate the TLS library accepts ({_ssl_reason(exc)})")
    cert, key = named("mqtt.tls.cert_file"), named("mqtt.tls.key_file")
    if cert and key and not {"mqtt.tls.cert_file", "mqtt.tls.key_file"} & set(before):
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key, password=lambda: "")
        except (ssl.SSLError, ValueError) as exc:
            add("mqtt.tls.key_file", key, f"the certificate and key cannot be used together: {_ssl_reason(exc)} "
                "(a PEM certificate in cert_file and its unencrypted private key in key_file)")


def _ssl_reason(exc: Exception) -> str:
    return getattr(exc, "reason", None) or str(exc)
