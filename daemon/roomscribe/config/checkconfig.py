"""`roomscribe check-config`: validate a configuration file and show it as the daemon will use it.

Valid: the effective configuration (every default filled in, secrets as ***) on stdout, with where
each secret will come from; exit 0. Invalid: every problem (key path, line, reason, value) on stderr;
exit 78 (EX_CONFIG), the status systemd's RestartPreventExitStatus= and install scripts look for.
Files the configuration names are checked too, as the user running the check: run it as the
service's user (or root) to see what the daemon will see.

Nothing secret is printed: values under `key`/`password` are redacted wherever they occur, YAML
error snippets (which quote the offending line) are dropped, and as a last guard every secret known
from the file, the environment or $CREDENTIALS_DIRECTORY is masked in the final text.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from roomscribe.config.secrets import (MQTT_PASSWORD, SECRETS, SPEECH_KEY, WEB_ACCESS_TOKEN, WEB_COMMAND_TOKEN,
                                       SecretSpec, lookup_order)
from roomscribe.system import exitcodes

REDACTED = "***"
SECRET_KEYS = frozenset({"key", "password", "access_token", "command_token"})
SECRET_ENV = tuple(spec.env for spec in SECRETS)
CREDENTIALS = tuple(spec.credential for spec in SECRETS)
MIN_MASKED_LENGTH = 4  # shorter strings are masked structurally only: masking "on" everywhere helps nobody

_YAML_NULLS = frozenset({"null", "~", "''", '""'})
_SECRET_LINE = re.compile(r"^\s*(?:-\s*)?(?:key|password|access_token|command_token)\s*:\s*(.+?)\s*$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml", help="output format (default: yaml)")


def main(args: argparse.Namespace) -> int:
    from roomscribe import config as cfg
    from roomscribe.config.checks import file_problems, microphone_problems

    path = Path(args.config) if args.config else cfg.default_config_path()
    text = _read_or_empty(path)
    masker = _Masker(_secrets_in_text(text) + _secrets_outside_the_file())
    settings = None
    try:
        settings = cfg.load_config(path)
        problems: list = []
        data = cfg.settings_to_data(settings)
    except cfg.ConfigError as exc:
        problems = list(exc.problems)
        data = _raw_data(text)
    # The files the configuration names are checked in the same run as the schema: one round of fixes.
    problems += file_problems(data, key_lines(text), skip={p.path for p in problems})
    if isinstance(data, dict) and data:
        audio = found if isinstance(found := data.get("audio"), dict) else {}
        source = audio.get("source", "microphone")
        problems += microphone_problems(source) if "audio.source" not in {p.path for p in problems} else []
    if settings is not None and not problems:
        from roomscribe.config.web import web_problems

        problems += web_problems(settings)
    if problems:
        return _report(path, sorted(problems, key=lambda p: p.line or 0), masker)
    masker.add(_secrets_of(settings))
    _print_effective(path, settings, args.format, masker)
    return exitcodes.OK


def _raw_data(text: str) -> dict:
    """The file as plain data even when it does not validate ({} when it is not YAML or not a mapping)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _report(path: Path, problems: list, masker: "_Masker") -> int:
    """Every problem on stderr, one line each, in the daemon's own wording."""
    count = f"{len(problems)} configuration problem{'s' if len(problems) > 1 else ''}"
    print(masker(f"{path}: {count}"), file=sys.stderr)
    for problem in problems:
        print(masker(f"{path}: {describe_problem(problem)}"), file=sys.stderr)
    return exitcodes.CONFIG


def _print_effective(path: Path, settings, output_format: str, masker: "_Masker") -> None:
    from roomscribe.config import redacted_dump
    from roomscribe.config.storage import deprecations, journal_path

    notes = [
        f"{path}: valid. Effective configuration (defaults filled in, secrets shown as {REDACTED}):",
        f"azure speech key: {speech_key_source(settings)}",
        f"mqtt password: {mqtt_password_source(settings)}",
        f"journal: {journal_path(settings)} (its directory is checked by `run` when it starts: systemd creates "
        "its StateDirectory= then, and `run` the default outside systemd)",
        f"record: meetings kept {settings.archive.retention_days:g} days after they ended" if settings.archive.enabled
        else "record: off (utterances are kept until the broker has them; catch-up is answered `unavailable`)",
        web_page_note(settings),
        *deprecations(settings),
    ]
    data = masker.within(redacted_dump(settings))  # inside the data, so that the YAML stays valid
    if output_format == "json":
        for note in notes:
            print(masker(note), file=sys.stderr)
        print(masker(json.dumps(data, indent=2)))
    else:
        import yaml

        comments = "".join(f"# {note}\n" for note in notes)
        print(masker(comments + yaml.safe_dump(data, sort_keys=False)), end="")


# -- where the secrets come from (the order of Settings.speech_key / mqtt_password) ----------------


def speech_key_source(settings) -> str:
    speech = settings.speech
    found = _source_text(SPEECH_KEY, speech.key is not None, speech.key_file)
    if found:
        return found
    if speech.host:
        return f"none: demo/emulator only (a service at {speech.host} that asks for no key)"
    return "none: demo/emulator only; Azure will refuse the connection"


def mqtt_password_source(settings) -> str:
    mqtt = settings.mqtt
    if mqtt.username is None:  # Settings.mqtt_password() looks for no password without a username
        return "none: no username, the broker is used without authentication"
    found = _source_text(MQTT_PASSWORD, mqtt.password is not None, mqtt.password_file)
    return found or f"none: user {mqtt.username!r} logs in without a password"


def web_page_note(settings) -> str:
    web = settings.web
    if not web.enabled:
        return "web page: off"
    host = f"[{web.host}]" if ":" in web.host else web.host
    access = _source_text(WEB_ACCESS_TOKEN, web.access_token is not None, web.access_token_file)
    command = _source_text(WEB_COMMAND_TOKEN, web.command_token is not None, web.command_token_file)
    return (f"web page: http://{host}:{web.port}/; access token: {access or 'none (this device only)'}; "
            f"command token: {command or 'none (the page is read-only)'}")


def _source_text(spec: SecretSpec, configured: bool, file: Path | None) -> str | None:
    """Where the settings will read the secret from: the first place of the one lookup order that holds it."""
    for source in lookup_order(spec, configured=configured, file=file, environ=os.environ):
        if source.kind == "config":
            return f"the configuration file ({spec.key})"
        if source.kind == "env":
            return f"the environment variable {spec.env}"
        if source.kind == "file":
            return f"the file {source.path} ({spec.file_key})"
        if source.path is not None and _holds_something(source.path):
            return f"the systemd credential {spec.credential} ({source.path})"
    return None


def _holds_something(path: Path) -> bool:
    """A credential counts when it holds something (the unit's SetCredential= fallback is a lone newline)."""
    try:
        return bool(path.read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        return False


# -- files the configuration names -----------------------------------------------------------------


def key_lines(text: str) -> dict[str, int]:
    """Dotted key path -> 1-based line, for every mapping key in the YAML text."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    found: dict[str, int] = {}
    pending = [("", root)]
    while pending:
        prefix, node = pending.pop()
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key_path = f"{prefix}{key_node.value}"
                found.setdefault(key_path, key_node.start_mark.line + 1)
                pending.append((key_path + ".", value_node))
    return found


# -- keeping secrets out of the output -------------------------------------------------------------


def describe_problem(problem) -> str:
    """A ConfigProblem as one line, secret values redacted and YAML's quoted source lines dropped.

    For anything that prints or logs configuration problems (the daemon's `run` too).
    """
    value = problem.value
    if problem.path.rsplit(".", 1)[-1] in SECRET_KEYS and _is_data(value):
        value = REDACTED
    else:
        value = _redact(value)
    message = problem.message
    if message.startswith("not valid YAML"):
        message = _without_snippets(message)
    return str(dataclasses.replace(problem, value=value, message=message))


def _is_data(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, list, dict)) and value is not None


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if str(k) in SECRET_KEYS and v is not None else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _without_snippets(message: str) -> str:
    """pyyaml quotes the offending source line (indented, with a ^ under it); keep the rest, on one line."""
    kept = [line.strip().rstrip(":") for line in message.splitlines() if line.strip() and not line.startswith("    ")]
    return " ".join(kept).replace('in "<unicode string>", ', "at ")


def _read_or_empty(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _secrets_in_text(text: str) -> list[str]:
    """Values on `key:`/`password:` lines, even in a file that does not parse."""
    found = []
    for line in text.splitlines():
        match = _SECRET_LINE.match(line)
        if match:
            value = match.group(1).split(" #", 1)[0].strip()
            if value.lower() not in _YAML_NULLS:
                found += [value, value.strip("'\"")]
    return found


def _secrets_outside_the_file() -> list[str]:
    found = [os.environ.get(name, "") for name in SECRET_ENV]
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return found
    for name in CREDENTIALS:
        try:
            found.append((Path(directory) / name).read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError):
            pass
    return found


def _secrets_of(settings) -> list[str]:
    found = []
    for read in (settings.speech_key, settings.mqtt_password, settings.web_access_token, settings.web_command_token):
        try:
            found.append(read() or "")
        except (OSError, UnicodeDecodeError):
            pass  # an unreadable secret file was reported as a problem already
    return found


class _Masker:
    """Replaces every known secret in a text by ***; the last guard before anything is printed."""

    def __init__(self, secrets: list[str]):
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: list[str]) -> None:
        self._secrets |= {s for s in secrets if len(s) >= MIN_MASKED_LENGTH}

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text

    def within(self, data: Any) -> Any:
        """The same masking applied to every string inside plain data."""
        if isinstance(data, dict):
            return {key: self.within(value) for key, value in data.items()}
        if isinstance(data, list):
            return [self.within(value) for value in data]
        return self(data) if isinstance(data, str) else data
