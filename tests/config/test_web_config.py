"""The `web:` section (config/web.py): defaults, what `run` and `check-config` refuse, tokens that never show."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from roomscribe.config import parse_config
from roomscribe.config.web import DEFAULT_PORT, is_loopback, web_problems
from roomscribe.system import exitcodes
from tests.config.test_checkconfig import check, write

ACCESS = "Zq3vJ8-readers-only-9XkP2"
COMMAND = "Hm7tR1-controls-only-4WbN6"
TOKEN_ENV = ("ROOMSCRIBE_WEB_ACCESS_TOKEN", "ROOMSCRIBE_WEB_COMMAND_TOKEN", "CREDENTIALS_DIRECTORY")


@pytest.fixture(autouse=True)
def _no_tokens_from_the_environment(monkeypatch):
    for name in TOKEN_ENV:
        monkeypatch.delenv(name, raising=False)


def problems(text: str) -> list[str]:
    return [str(p) for p in web_problems(parse_config(text))]


def test_on_by_default_on_this_device_only():
    web = parse_config("{}").web
    assert (web.enabled, web.host, web.port) == (True, "127.0.0.1", DEFAULT_PORT)
    assert problems("{}") == []
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.20", "room-pc.local", "localhost.evil"))


@pytest.mark.parametrize("text, key, words", [
    ("web: {host: 0.0.0.0}", "web.access_token", "not a loopback address"),
    ("web: {host: 192.168.1.20}", "web.access_token", "set web.access_token"),
    ("web: {host: room-pc.local}", "web.access_token", "not a loopback address"),
    ("web: {access_token: short}", "web.access_token", "too short"),
    ("web: {command_token: 'has spaces in it, and a comma'}", "web.command_token", "only letters, digits"),
    (f"web: {{access_token: {ACCESS}, command_token: {ACCESS}}}", "web.command_token", "must differ"),
])
def test_what_is_refused(text, key, words):
    found = problems(text)
    assert len(found) == 1 and found[0].startswith(f"{key}: ") and words in found[0], found


def test_a_lan_listener_with_a_token_and_a_page_switched_off_are_fine():
    assert problems(f"web: {{host: 0.0.0.0, access_token: {ACCESS}, command_token: {COMMAND}}}") == []
    assert problems("web: {enabled: false, host: 0.0.0.0}") == []


def test_run_and_check_config_refuse_a_lan_listener_without_a_token_with_exit_78(tmp_path):
    config = write(tmp_path, "web:\n  host: 0.0.0.0\n")
    env = {k: v for k, v in os.environ.items() if k not in TOKEN_ENV}
    for command in (["run"], ["check-config"]):
        done = subprocess.run([sys.executable, "-m", "roomscribe", *command, "-c", str(config)], capture_output=True,
                              text=True, timeout=60, env=env)
        assert done.returncode == exitcodes.CONFIG, (command, done.stderr)
        assert "web.access_token" in done.stderr and "not a loopback address" in done.stderr, done.stderr


def test_tokens_never_show_and_check_config_says_where_they_come_from(tmp_path, capsys, monkeypatch):
    token_file = write(tmp_path, COMMAND + "\n", "command-token")
    config = write(tmp_path, f"web:\n  host: 0.0.0.0\n  access_token: {ACCESS}\n  command_token_file: {token_file}\n")
    settings = parse_config(config.read_text())
    assert (settings.web_access_token(), settings.web_command_token()) == (ACCESS, COMMAND)
    code, out, err = check(config, capsys)
    assert code == exitcodes.OK, err
    assert ACCESS not in out + err and COMMAND not in out + err
    assert yaml.safe_load(out)["web"]["access_token"] == "***"
    assert (f"# web page: http://0.0.0.0:{DEFAULT_PORT}/; access token: the configuration file (web.access_token); "
            f"command token: the file {token_file} (web.command_token_file)") in out
    # From the environment and systemd's credentials, masked wherever they turn up.
    monkeypatch.setenv("ROOMSCRIBE_WEB_ACCESS_TOKEN", ACCESS)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "web-command-token").write_text(COMMAND)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    config = write(tmp_path, f"room: {ACCESS[:6]}\nweb:\n  host: 0.0.0.0\naudio:\n  device: {COMMAND}\n")
    code, out, err = check(config, capsys)
    assert code == exitcodes.OK, err
    assert ACCESS not in out + err and COMMAND not in out + err
    assert "access token: the environment variable ROOMSCRIBE_WEB_ACCESS_TOKEN" in out
    assert "command token: the systemd credential web-command-token" in out


def test_a_broken_file_with_a_token_in_it_does_not_show_the_token(tmp_path, capsys):
    code, out, err = check(write(tmp_path, f"web:\n  access_token: {ACCESS}\n  port: -1\n"), capsys)
    assert code == exitcodes.CONFIG and "web.port" in err
    assert ACCESS not in out + err
