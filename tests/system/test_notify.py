"""roomscribe.system.systemd.Notifier against a real AF_UNIX datagram socket, as systemd provides it."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from roomscribe.system.systemd import STATUS_MAX_CHARS, Notifier
from tests.support.notify_socket import NotifySocket, notify_socket  # noqa: F401  (fixture)

CHILD = """
from roomscribe.system.systemd import Notifier
n = Notifier()
n.status("starting")
n.ready()
n.status("recording: Raum S\\u00fcd\\nREADY=0")
n.watchdog()
n.stopping()
print(n.watchdog_interval())
"""


def _clear_systemd_env(monkeypatch) -> None:
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)


def test_without_notify_socket_every_call_is_a_silent_no_op(monkeypatch, caplog):
    _clear_systemd_env(monkeypatch)
    notifier = Notifier()
    notifier.ready()
    notifier.status("recording")
    notifier.watchdog()
    notifier.stopping()
    assert not notifier.enabled
    assert notifier.watchdog_interval() is None
    assert [r for r in caplog.records if r.name == "roomscribe.system.systemd"] == []


def test_a_child_process_reports_in_order_from_its_own_pid(notify_socket):
    # `exec` keeps the shell's pid, so WATCHDOG_PID names the python process, as systemd's would.
    env = {**os.environ, **notify_socket.env(watchdog_sec=30)}
    proc = subprocess.Popen(
        ["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" -c "$1"', sys.executable, CHILD],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert stdout.strip() == "30.0"  # WATCHDOG_PID matched the process: the watchdog is its job
    notify_socket.wait_for("STOPPING", "1", timeout=10)
    messages = notify_socket.messages()
    assert [m.raw for m in messages] == [
        b"STATUS=starting",
        b"READY=1",
        "STATUS=recording: Raum Süd READY=0".encode(),  # UTF-8 on the wire; the newline cannot inject READY=0
        b"WATCHDOG=1",
        b"STOPPING=1",
    ]
    assert {m.sender_pid for m in messages} == {proc.pid}  # what NotifyAccess=main checks
    assert [m.received_at for m in messages] == sorted(m.received_at for m in messages)


def test_abstract_socket_address(monkeypatch):
    _clear_systemd_env(monkeypatch)
    with NotifySocket(abstract=True) as sock:
        assert sock.address.startswith("@")
        monkeypatch.setenv("NOTIFY_SOCKET", sock.address)
        notifier = Notifier()
        notifier.ready()
        assert sock.wait_for("READY", timeout=10).sender_pid == os.getpid()


def test_status_is_one_bounded_line(notify_socket, monkeypatch):
    _clear_systemd_env(monkeypatch)
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.address)
    Notifier().status("error:\r\n" + "x" * 5000)
    message = notify_socket.wait_for("STATUS", timeout=10)
    assert list(message.fields) == ["STATUS"]
    assert message.fields["STATUS"].startswith("error: xxx")
    assert len(message.fields["STATUS"]) == STATUS_MAX_CHARS


@pytest.mark.parametrize(
    "usec, pid, expected",
    [
        ("30000000", "own", 30.0),
        ("30000000", None, 30.0),
        ("5000000", "other", None),  # meant for another process (WATCHDOG_PID)
        ("0", "own", None),
        ("thirty", "own", None),
        (None, None, None),
    ],
)
def test_watchdog_interval_from_the_environment(monkeypatch, usec, pid, expected):
    _clear_systemd_env(monkeypatch)
    if usec is not None:
        monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid is not None:
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() if pid == "own" else os.getpid() + 1))
    assert Notifier().watchdog_interval() == expected


def test_a_vanished_socket_warns_once_and_a_new_one_is_used(monkeypatch, caplog):
    _clear_systemd_env(monkeypatch)
    directory = Path(tempfile.mkdtemp(prefix="rs-notify-"))
    path = directory / "notify.sock"
    try:
        first = _bound(path)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        notifier = Notifier()
        notifier.ready()
        assert first.recv(100) == b"READY=1"

        first.close()
        path.unlink()
        with caplog.at_level(logging.DEBUG, logger="roomscribe.system.systemd"):
            for _ in range(5):
                notifier.watchdog()  # must not raise
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "roomscribe.system.systemd"]
        assert len(warnings) == 1, [r.getMessage() for r in caplog.records]

        second = _bound(path)  # as after `systemctl daemon-reexec`
        notifier.status("back")
        assert second.recv(100) == b"STATUS=back"
        second.close()
    finally:
        path.unlink(missing_ok=True)
        directory.rmdir()


def _bound(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    return sock


def test_abstract_socket_from_a_child_with_utf8_and_watchdog(monkeypatch):
    # The whole exchange of a Type=notify service, over an abstract name ('@…'), from a process of its own.
    _clear_systemd_env(monkeypatch)
    with NotifySocket(abstract=True) as sock:
        env = {**os.environ, **sock.env(watchdog_sec=4)}
        proc = subprocess.Popen(
            ["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" -c "$1"', sys.executable, CHILD],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        assert stdout.strip() == "4.0"
        sock.wait_for("STOPPING", "1", timeout=10)
        assert [m.raw for m in sock.messages()][2] == "STATUS=recording: Raum Süd READY=0".encode()
        assert {m.sender_pid for m in sock.messages()} == {proc.pid}


def test_works_without_the_sdnotify_package(notify_socket):
    # The stdlib implementation must not need sdnotify: an import of it fails in this child.
    child = "import sys; sys.modules['sdnotify'] = None\n" + CHILD
    env = {**os.environ, **notify_socket.env()}
    proc = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    notify_socket.wait_for("STOPPING", "1", timeout=10)
    assert len(notify_socket.messages()) == 5


@pytest.mark.parametrize("value", ["relative/notify.sock", "vsock:2:1234", "@"])
def test_an_unusable_notify_socket_value_never_raises(monkeypatch, caplog, value):
    _clear_systemd_env(monkeypatch)
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    notifier = Notifier()
    assert notifier.enabled
    with caplog.at_level(logging.DEBUG, logger="roomscribe.system.systemd"):
        notifier.ready()
        notifier.watchdog()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "roomscribe.system.systemd"]
    assert len(warnings) == 1


def test_abstract_names_map_to_a_leading_nul():
    from roomscribe.system.systemd import socket_address

    assert socket_address("@sd-notify/1") == b"\0sd-notify/1"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("") is None
