"""Shared fixtures. Real parts only: the Speech SDK, Mosquitto and PortAudio are the real ones."""

import logging

import pytest

from tests.support.mosquitto import mosquitto  # noqa: F401  (fixture: a real broker per test)


@pytest.fixture(autouse=True)
def _fail_on_swallowed_callback_errors(caplog):
    """A library callback that raised is logged by our guards; a test that saw one fails."""
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR and getattr(r, "callback_guard", False)]
    if errors:
        pytest.fail("a guarded callback raised: " + "; ".join(r.getMessage() for r in errors))


@pytest.fixture(autouse=True)
def _private_state_directory(tmp_path, monkeypatch):
    """The default state directory (outbox, archive) of every daemon a test starts is the test's own."""
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("STATE_DIRECTORY", str(state))  # as systemd's StateDirectory= would (tests run as root too)


@pytest.fixture
def emulator():
    """The Speech service emulator on a free port, checking the key 'test-key'."""
    from roomscribe.emulator.thread import EmulatorThread

    with EmulatorThread(key="test-key") as emu:
        yield emu
