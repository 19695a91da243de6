"""Where a secret is looked for, in order: the one lookup the settings (schema.py) read secrets by
and check-config (checkconfig.py) describes them by.

1. the configuration file (`speech.key`, `mqtt.password`),
2. the environment (`AZURE_SPEECH_KEY`, `ROOMSCRIBE_MQTT_PASSWORD`), when not empty,
3. a file of its own (`speech.key_file`, `mqtt.password_file`), when one is configured,
4. else systemd's credential (`$CREDENTIALS_DIRECTORY/azure-speech-key`, `…/mqtt-password`).

`Secret` is how a secret value is held once read: it never prints.

Standard library only: check-config imports it before anything heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping


@dataclass(frozen=True)
class SecretSpec:
    key: str  # its key in the configuration file
    env: str  # the environment variable
    file_key: str  # the key naming a file that holds it
    credential: str  # the systemd credential's name


SPEECH_KEY = SecretSpec("speech.key", "AZURE_SPEECH_KEY", "speech.key_file", "azure-speech-key")
MQTT_PASSWORD = SecretSpec("mqtt.password", "ROOMSCRIBE_MQTT_PASSWORD", "mqtt.password_file", "mqtt-password")
SECRETS = (SPEECH_KEY, MQTT_PASSWORD)


@dataclass(frozen=True)
class Source:
    kind: Literal["config", "env", "file", "credential"]
    path: Path | None = None  # for "file" and "credential"


def lookup_order(spec: SecretSpec, *, configured: bool, file: Path | None, environ: Mapping[str, str]) -> list[Source]:
    """The places that may hold the secret, first one first; the first that holds it wins."""
    order = []
    if configured:
        order.append(Source("config"))
    if environ.get(spec.env):
        order.append(Source("env"))
    if file is not None:
        order.append(Source("file", file))
    elif environ.get("CREDENTIALS_DIRECTORY"):
        order.append(Source("credential", Path(environ["CREDENTIALS_DIRECTORY"]) / spec.credential))
    return order


class Secret:
    """A key or password: its value only through get_secret_value(), never in a repr, a log or a dump."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
