"""The command line as a whole: sysexits codes, --help epilogs, global logging options, journald lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from roomscribe import cli
from roomscribe.system import exitcodes, logs


def roomscribe(*args: str, env: dict | None = None, stderr=None, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"{prelude}\nimport sys\nfrom roomscribe.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=stderr is None, stderr=stderr,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


# -- exit codes and help ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [*cli.SUBCOMMANDS, None])
def test_a_usage_error_exits_64_for_every_subcommand(command):
    args = [command, "--no-such-option"] if command else ["--no-such-option"]
    result = roomscribe(*args)
    assert result.returncode == exitcodes.USAGE == 64, result.stderr
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_emulator_action_and_a_missing_command_exit_64():
    assert roomscribe("emulator", "nonsense").returncode == 64
    assert roomscribe("emulator", "synth").returncode == 64  # the script argument is missing
    assert roomscribe().returncode == 64


@pytest.mark.parametrize("command", list(cli.SUBCOMMANDS))
def test_every_help_shows_an_example_and_the_exit_codes(command):
    result = roomscribe(command, "--help")
    assert result.returncode == 0
    assert "example" in result.stdout
    assert f"roomscribe {command}" in result.stdout.split("example", 1)[1]
    codes = result.stdout.split("exit codes:", 1)[1]
    assert "64" in codes and " 0 " in f" {codes} ".replace("\n", " ")


def test_status_offers_no_request_id_but_the_commands_do():
    assert "--request-id" not in roomscribe("status", "--help").stdout
    assert roomscribe("status", "--request-id", "x").returncode == 64
    assert "--request-id" in roomscribe("pause", "--help").stdout


def test_devices_without_pyaudio_prints_a_json_error_and_exits_69():
    result = roomscribe("devices", "--json", prelude="import sys; sys.modules['pyaudio'] = None")
    assert result.returncode == exitcodes.UNAVAILABLE == 69, result.stderr
    error = json.loads(result.stdout)
    assert error["error"] == "pyaudio_missing"
    assert "roomscribe[microphone]" in error["message"] and "portaudio19-dev" in error["message"]
    plain = roomscribe("devices", prelude="import sys; sys.modules['pyaudio'] = None")
    assert plain.returncode == 69 and plain.stdout == "" and "build-essential python3-dev" in plain.stderr


def test_the_command_is_found_after_a_global_option_with_a_value():
    assert cli._command_in(["--log-level", "debug", "status", "-c", "x"]) == "status"
    assert cli._command_in(["-v", "run"]) == "run"


# -- logging ----------------------------------------------------------------------------------------

LOGGING_CHILD = """
import logging, sys
from roomscribe.system import logs
from roomscribe.cli import build_parser
args = build_parser().parse_args(sys.argv[1:] + ['demo'])
logs.setup(logs.cli_level(args))
log = logging.getLogger('roomscribe.test')
log.debug('debug line')
log.info('info line')
log.warning('warning line')
log.error('error line')
log.critical('critical line')
try:
    1 / 0
except ZeroDivisionError:
    log.exception('it broke')
"""


def _log_lines(tmp_path: Path, journal: bool, *cli_args: str) -> list[str]:
    """Log of the child as written to a real stderr file; JOURNAL_STREAM is that file's device:inode."""
    stderr_path = tmp_path / "stderr.txt"
    with open(stderr_path, "w") as stderr:
        st = os.fstat(stderr.fileno())
        env = {**os.environ}
        env.pop("JOURNAL_STREAM", None)
        if journal:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        else:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino + 1}"  # another stream: not the journal
        subprocess.run([sys.executable, "-c", LOGGING_CHILD, *cli_args], stderr=stderr, env=env, timeout=60,
                       check=True)
    return stderr_path.read_text().splitlines()


def test_journal_lines_carry_syslog_priorities_and_no_time_stamps(tmp_path):
    lines = _log_lines(tmp_path, True)
    assert lines[:4] == [
        "<6>roomscribe.test: info line",
        "<4>roomscribe.test: warning line",
        "<3>roomscribe.test: error line",
        "<2>roomscribe.test: critical line",
    ]
    traceback = lines[4:]
    assert traceback[0] == "<3>roomscribe.test: it broke"
    assert len(traceback) > 2 and all(line.startswith("<3>") for line in traceback)  # each line an err entry
    assert traceback[-1] == "<3>ZeroDivisionError: division by zero"


def test_plain_lines_when_stderr_is_not_the_journal(tmp_path):
    lines = _log_lines(tmp_path, False)
    assert lines[:4] == [
        "INFO roomscribe.test: info line",
        "WARNING roomscribe.test: warning line",
        "ERROR roomscribe.test: error line",
        "CRITICAL roomscribe.test: critical line",
    ]
    assert not any(line.startswith("<") for line in lines)


@pytest.mark.parametrize("cli_args, first", [
    (["-v"], "<7>roomscribe.test: debug line"),
    (["--log-level", "DEBUG"], "<7>roomscribe.test: debug line"),
    (["--log-level", "error"], "<3>roomscribe.test: error line"),
])
def test_the_level_comes_from_the_command_line(tmp_path, cli_args, first):
    assert _log_lines(tmp_path, True, *cli_args)[0] == first


def test_config_level_applies_only_without_a_command_line_level(monkeypatch):
    import logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "level", root.level)  # restored after the test
    parser = cli.build_parser()
    logs.apply_config_level(parser.parse_args(["demo"]), "warning")
    assert root.level == logging.WARNING
    logs.apply_config_level(parser.parse_args(["--log-level", "debug", "demo"]), "error")
    assert root.level == logging.WARNING  # the command line's choice stands (setup() applied it)
    logs.apply_config_level(parser.parse_args(["demo", "-v"]), "error")
    assert root.level == logging.WARNING


def test_malformed_journal_stream_means_plain(tmp_path):
    with open(tmp_path / "f", "w") as stream:
        for value in ("", "abc", "1:2:3", "12"):
            assert not logs.is_journal(stream, value)
        st = os.fstat(stream.fileno())
        assert logs.is_journal(stream, f"{st.st_dev}:{st.st_ino}")
