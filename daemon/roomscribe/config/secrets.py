"""Where a secret is looked for, in order: the one lookup the settings (schema.py) read secrets by
and check-config (checkconfig.py) describes them by.

1. the configuration file (`speech.key`, `mqtt.password`, `web.access_token`, `web.command_token`),
2. the environment (`AZURE_SPEECH_KEY`, `ROOMSCRIBE_MQTT_PASSWORD`, `ROOMSCRIBE_WEB_ACCESS_TOKEN`,
   `ROOMSCRIBE_WEB_COMMAND_TOKEN`), when not empty,
3. a file of its own (`speech.key_file`, `mqtt.password_file`, `web.access_token_file`, …), when one is configured,
4. else systemd's credential (`$CREDENTIALS_DIRECTORY/azure-speech-key`, `…/mqtt-password`,
   `…/web-access-token`, `…/web-command-token`).

`Secret` (config/fields.py) is how a secret value is held once read: it never prints.

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
# The live page's tokens (docs/security.md): one to read it, one to command from it.
WEB_ACCESS_TOKEN = SecretSpec("web.access_token", "ROOMSCRIBE_WEB_ACCESS_TOKEN", "web.access_token_file",
                              "web-access-token")
WEB_COMMAND_TOKEN = SecretSpec("web.command_token", "ROOMSCRIBE_WEB_COMMAND_TOKEN", "web.command_token_file",
                               "web-command-token")
SECRETS = (SPEECH_KEY, MQTT_PASSWORD, WEB_ACCESS_TOKEN, WEB_COMMAND_TOKEN)


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
