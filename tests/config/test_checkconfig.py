"""`roomscribe check-config`: broken files, config.yaml.example, and secrets that never show."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import msgspec
import pytest
import yaml

from roomscribe import cli
from roomscribe.config import checkconfig
from roomscribe.system import exitcodes
from roomscribe.config import Settings, parse_config, redacted_dump

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.yaml.example"
SPEECH_KEY = "9f3c0ffee4b1d2a7c6e5f4a3b2c1d0e9"
MQTT_PASSWORD = "correct-horse-battery-staple"
# A switched-off option: '#' directly followed by the key at its YAML indentation ("  #host: x").
SWITCHED_OFF = re.compile(r"(?m)^(\s*)#((?:  )*[a-z_]+:(?:\s|$))")


@pytest.fixture(autouse=True)
def _no_secrets_from_the_environment(monkeypatch):
    for name in ("AZURE_SPEECH_KEY", "ROOMSCRIBE_MQTT_PASSWORD", "CREDENTIALS_DIRECTORY", "ROOMSCRIBE_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def check(path: Path, capsys, *extra: str) -> tuple[int, str, str]:
    code = cli.main(["check-config", "-c", str(path), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def field_paths(model: type[msgspec.Struct], prefix: str = "") -> set[str]:
    """Every option of the settings model as a dotted path, nested sections included."""
    paths = set()
    for field in msgspec.structs.fields(model):
        path = prefix + field.name
        kind = field.type
        if typing.get_origin(kind) is typing.Annotated:
            kind = typing.get_args(kind)[0]
        nested = [t for t in typing.get_args(kind) or (kind,)
                  if isinstance(t, type) and issubclass(t, msgspec.Struct)]
        if nested:
            paths |= field_paths(nested[0], path + ".")
        else:
            paths.add(path)
    return paths


def key_paths(node: yaml.Node, prefix: str = "") -> list[str]:
    found = []
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            inner = key_paths(value_node, f"{prefix}{key_node.value}.")
            found += inner or [prefix + key_node.value]
    return found


# -- config.yaml.example ---------------------------------------------------------------------------


def test_the_example_holds_exactly_the_defaults():
    assert parse_config(EXAMPLE.read_text(), source=str(EXAMPLE)) == Settings()


def test_the_example_names_every_option_and_switched_on_it_validates():
    text = EXAMPLE.read_text()
    everything_on = SWITCHED_OFF.sub(r"\1\2", text)
    paths = key_paths(yaml.compose(everything_on, Loader=yaml.SafeLoader))
    assert len(paths) == len(set(paths)), "an option appears twice"
    missing = field_paths(Settings) - set(paths)
    assert not missing, f"config.yaml.example does not mention {sorted(missing)}"
    assert set(paths) <= field_paths(Settings)
    settings = parse_config(everything_on, source="example with every option on")
    assert settings.mqtt.tls is not None and settings.mqtt.username is not None


def test_check_config_prints_the_example_as_the_effective_configuration(capsys):
    code, out, err = check(EXAMPLE, capsys)
    assert code == exitcodes.OK, err
    assert err == ""
    assert out.startswith(f"# {EXAMPLE}: valid.")
    assert "# azure speech key: none: demo/emulator only" in out
    printed = yaml.safe_load(out)
    assert printed == redacted_dump(Settings())
    assert parse_config(out) == Settings()  # the output is a valid configuration itself


def test_json_format(capsys):
    code, out, err = check(EXAMPLE, capsys, "--format", "json")
    assert code == exitcodes.OK
    assert json.loads(out) == redacted_dump(Settings())
    assert "azure speech key:" in err


# -- broken files ----------------------------------------------------------------------------------

BROKEN = {
    "unknown key": ("mqtt:\n  host: broker\n  hots: x\n", "mqtt.hots (line 3): unknown key; did you mean 'host'? (got 'x')"),
    "wrong type": ("mqtt:\n  keepalive: often\n", "mqtt.keepalive (line 2): Input should be a valid integer"),
    "bad port": ("mqtt:\n  port: 70000\n", "mqtt.port (line 2): Input should be less than or equal to 65535 (got 70000)"),
    "bad yaml": ("room: a\nmqtt:\n  host: a\n   port: 1\n", "<top> (line 4): not valid YAML: mapping values are not allowed here"),
    "not a mapping": ("- one\n- two\n", "<top>: the file must hold a mapping of keys (got ['one', 'two'])"),
    "password without username": (
        "mqtt:\n  host: b\n  password: x-y-z\n",
        "mqtt (line 1): a password was given without a username (got {'host': 'b', 'password': '***'})",
    ),
    "file source without file": ("audio:\n  source: file\n", "audio (line 1): source is 'file' but no file is given"),
    "cert without key": (
        "mqtt:\n  tls:\n    cert_file: /dev/null\n",
        "mqtt.tls (line 2): cert_file and key_file must be given together",
    ),
    "bad region": ("speech:\n  region: West Europe\n", "speech.region (line 2): should be an Azure region in lower case without spaces (e.g. westeurope) (got 'West Europe')"),
    "bad room": ("room: conference room 1\n", "room (line 1): should be 1 to 64 letters, digits, '_' or '-', without spaces (e.g. boardroom) (got 'conference room 1')"),
    "bad protocol": ("mqtt:\n  protocol: 4\n", "mqtt.protocol (line 2): Input should be '3.1.1' or '5' (got 4)"),
    "bad host": ("speech:\n  host: http://speech.local\n", "speech.host (line 2): should start with ws:// or wss:// (e.g. ws://127.0.0.1:5000) (got 'http://speech.local')"),
    "bad level": ("log:\n  level: verbose\n", "log.level (line 2): Input should be 'debug', 'info', 'warning' or 'error'"),
    "section not a mapping": ("speech: westeurope\n", "speech (line 1): Input should be a valid dictionary"),
    "no close key": ("mqtt:\n  colour: red\n", "mqtt.colour (line 2): unknown key (got 'red')"),
    "duplicate key": ("mqtt:\n  host: a\n  port: 1884\n  host: b\n",
                      "mqtt.host (line 4): given twice, on line 2 and on line 4: keep one"),
    "duplicate section": ("room: a\nmqtt: {}\nroom: b\n", "room (line 3): given twice, on line 1 and on line 3: keep one"),
    "empty tls": ("mqtt:\n  tls:\n", "mqtt.tls (line 2): empty: write `tls: {}` for TLS with the system's CAs"),
    "unreadable key file": (
        "speech:\n  region: westeurope\n  key_file: /nonexistent/azure-speech-key\n",
        "speech.key_file (line 3): cannot read the file: No such file or directory (got '/nonexistent/azure-speech-key')",
    ),
    "missing audio file": (
        "audio:\n  source: file\n  file: /nonexistent/meeting.wav\n",
        "audio.file (line 3): /nonexistent/meeting.wav does not exist (got '/nonexistent/meeting.wav')",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_file_is_reported_with_path_line_and_value_and_exit_78(case, tmp_path, capsys):
    text, expected = BROKEN[case]
    path = write(tmp_path, text)
    code, out, err = check(path, capsys)
    assert code == exitcodes.CONFIG == 78
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == f"{path}: 1 configuration problem"
    assert lines[1].startswith(f"{path}: {expected}"), err


def test_every_problem_of_a_file_is_reported(tmp_path, capsys):
    path = write(tmp_path, "rooms: a\nmqtt:\n  port: 0\nspeech:\n  region: West Europe\nlog:\n  level: loud\n")
    code, _, err = check(path, capsys)
    assert code == exitcodes.CONFIG
    assert err.splitlines()[0] == f"{path}: 4 configuration problems"
    for where in ("rooms (line 1)", "mqtt.port (line 3)", "speech.region (line 5)", "log.level (line 7)"):
        assert f"{path}: {where}: " in err


def test_a_missing_file(tmp_path, capsys):
    code, _, err = check(tmp_path / "nope.yaml", capsys)
    assert code == exitcodes.CONFIG
    assert "cannot read the file: No such file or directory" in err


# -- secrets ---------------------------------------------------------------------------------------

WITH_SECRETS = f"room: r1\nmqtt:\n  username: rs\n  password: {MQTT_PASSWORD}\nspeech:\n  key: {SPEECH_KEY}\n"
BROKEN_WITH_SECRETS = {
    "password without username": f"mqtt:\n  password: {MQTT_PASSWORD}\nspeech:\n  key: {SPEECH_KEY}\n",
    "key of the wrong type": "speech:\n  key: 123456789012345\n",
    "key in a list": f"speech:\n  key: [{SPEECH_KEY}]\n",
    "unclosed quote": f'mqtt:\n  username: rs\n  password: "{MQTT_PASSWORD}\n',
    "colon in the value": f"speech:\n  key: {SPEECH_KEY}: x\n",
    "secret next to an error": f"speech:\n  key: {SPEECH_KEY}\n  region: West Europe\nmqtt:\n  port: -1\n",
}


def assert_secret_free(*texts: str) -> None:
    for text in texts:
        for secret in (SPEECH_KEY, MQTT_PASSWORD, "123456789012345"):
            assert secret not in text, f"a secret leaked into:\n{text}"


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_secrets_in_the_file_never_show(fmt, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    code, out, err = check(write(tmp_path, WITH_SECRETS), capsys, "--format", fmt)
    assert code == exitcodes.OK
    assert_secret_free(out, err, caplog.text)
    assert "azure speech key: the configuration file (speech.key)" in out + err
    assert "mqtt password: the configuration file (mqtt.password)" in out + err
    shown = yaml.safe_load(out)  # JSON is YAML too
    assert shown["speech"]["key"] == "***" and shown["mqtt"]["password"] == "***"


@pytest.mark.parametrize("case", list(BROKEN_WITH_SECRETS))
def test_secrets_never_show_in_problems(case, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    code, out, err = check(write(tmp_path, BROKEN_WITH_SECRETS[case]), capsys)
    assert code == exitcodes.CONFIG
    assert err.count(": ") >= 2, err  # the problem itself is still reported
    assert_secret_free(out, err, caplog.text)


def test_secrets_from_systemd_credentials_never_show(tmp_path, capsys, monkeypatch):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "azure-speech-key").write_text(SPEECH_KEY + "\n")
    (credentials / "mqtt-password").write_text(MQTT_PASSWORD)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    # The daemon's own view of the same setup: the secrets are there.
    config = write(tmp_path, f"mqtt:\n  username: rs\naudio:\n  device: {MQTT_PASSWORD}\n")
    settings = parse_config(config.read_text())
    assert (settings.speech_key(), settings.mqtt_password()) == (SPEECH_KEY, MQTT_PASSWORD)

    code, out, err = check(config, capsys)
    assert code == exitcodes.OK
    assert_secret_free(out, err)
    assert f"azure speech key: the systemd credential azure-speech-key ({credentials / 'azure-speech-key'})" in out
    assert "mqtt password: the systemd credential mqtt-password" in out
    assert "device: '***'" in out  # even a secret pasted into the wrong option is masked


@pytest.mark.parametrize(
    "config, environment, credential, expected",
    [
        ("{}", {}, None, "none: demo/emulator only; Azure will refuse the connection"),
        ("speech:\n  host: ws://127.0.0.1:5000\n", {}, None,
         "none: demo/emulator only (a service at ws://127.0.0.1:5000 that asks for no key)"),
        ("{}", {"AZURE_SPEECH_KEY": SPEECH_KEY}, None, "the environment variable AZURE_SPEECH_KEY"),
        ("speech:\n  key_file: KEYFILE\n", {}, None, "the file KEYFILE (speech.key_file)"),
        ("{}", {}, SPEECH_KEY, "the systemd credential azure-speech-key"),
        ("{}", {}, "\n", "none: demo/emulator only"),  # the unit's SetCredential= fallback
    ],
)
def test_where_the_azure_key_comes_from(config, environment, credential, expected, tmp_path, capsys, monkeypatch):
    key_file = write(tmp_path, SPEECH_KEY, "key")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    if credential is not None:
        (tmp_path / "azure-speech-key").write_text(credential)
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    code, out, err = check(write(tmp_path, config.replace("KEYFILE", str(key_file))), capsys)
    assert code == exitcodes.OK, err
    assert f"# azure speech key: {expected.replace('KEYFILE', str(key_file))}" in out
    assert_secret_free(out, err)


def test_where_the_mqtt_password_comes_from(tmp_path, capsys, monkeypatch):
    code, out, _ = check(write(tmp_path, "mqtt:\n  username: rs\n"), capsys)
    assert code == exitcodes.OK
    assert "# mqtt password: none: user 'rs' logs in without a password" in out
    monkeypatch.setenv("ROOMSCRIBE_MQTT_PASSWORD", MQTT_PASSWORD)
    code, out, err = check(write(tmp_path, "mqtt:\n  username: rs\n"), capsys)
    assert "# mqtt password: the environment variable ROOMSCRIBE_MQTT_PASSWORD" in out
    assert_secret_free(out, err)


# -- the command as a process ----------------------------------------------------------------------


def test_importing_the_subcommand_is_cheap():
    probe = "import sys, roomscribe.config.checkconfig; print([m for m in ('msgspec', 'yaml', 'numpy', 'azure', 'paho') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


LAUNCHER = """
import sys
from roomscribe.cli import main
sys.exit(main(["check-config", *sys.argv[1:]]))
"""


def test_the_cli_routes_check_config_here():
    from roomscribe.cli import SUBCOMMANDS

    assert SUBCOMMANDS["check-config"][0] == "roomscribe.config.checkconfig"


def test_as_a_process_it_exits_0_on_the_example_and_78_on_a_broken_file(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("AZURE_SPEECH_KEY", "CREDENTIALS_DIRECTORY")}
    good = subprocess.run([sys.executable, "-c", LAUNCHER, "-c", str(EXAMPLE)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert good.returncode == 0, good.stderr
    assert good.stderr == ""
    assert yaml.safe_load(good.stdout) == redacted_dump(Settings())
    broken = write(tmp_path, "mqtt:\n  port: 70000\n")
    bad = subprocess.run([sys.executable, "-c", LAUNCHER, "-c", str(broken), "--format", "json"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 78, bad.stderr
    assert bad.stdout == ""
    assert f"{broken}: mqtt.port (line 2)" in bad.stderr


def test_a_configuration_of_the_outbox_and_archive_days_still_validates_and_names_what_replaces_it(tmp_path, capsys):
    old = write(tmp_path, "mqtt:\n  outbox_path: /var/lib/rs/outbox.sqlite3\n  outbox_max_messages: 5000\n"
                          "archive:\n  path: /var/lib/rs/archive.sqlite3\n")
    code, out, err = check(old, capsys)
    assert code == exitcodes.OK, err
    notes = [line for line in out.splitlines() if line.startswith("# ")]
    assert "# journal: /var/lib/rs/journal.sqlite3 (its directory is checked by `run` when it starts: systemd " \
           "creates its StateDirectory= then, and `run` the default outside systemd)" in notes
    assert sum("deprecated" in line for line in notes) == 3
    assert any("mqtt.outbox_max_messages is deprecated: use journal.max_waiting" in line for line in notes)
