"""Configuration: YAML read with pyyaml, validated by pydantic, unknown keys rejected.

Errors name the key path, the offending value, the reason and (when known) the line in the file.
Secrets can come from the file, the environment, a file of their own, or systemd's
$CREDENTIALS_DIRECTORY; they are SecretStr so they never print.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

DEFAULT_CONFIG_PATH = Path("/etc/roomscribe/config.yaml")
ROOM_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttTls(_Strict):
    ca_file: Path | None = Field(None, description="CA certificate (PEM) used to verify the broker")
    cert_file: Path | None = Field(None, description="client certificate (PEM) for mutual TLS")
    key_file: Path | None = Field(None, description="client private key (PEM) for mutual TLS")
    check_hostname: bool = Field(True, description="verify that the broker certificate names the host")

    @model_validator(mode="after")
    def _cert_needs_key(self) -> "MqttTls":
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self


class MqttSettings(_Strict):
    host: str = Field("localhost", description="broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="broker port (8883 is usual with TLS)")
    base_topic: str = Field("meeting", pattern=r"^[^#+\s][^#+]*$", description="prefix of every roomscribe topic")
    client_id: str | None = Field(None, description="MQTT client id; default roomscribe-<room>")
    protocol: Literal["3.1.1", "5"] = Field("3.1.1", description="MQTT protocol version")
    username: str | None = Field(None, description="user name for broker authentication")
    password: SecretStr | None = Field(None, description="password; or password_file, or credential mqtt-password")
    password_file: Path | None = Field(None, description="file holding the broker password")
    tls: MqttTls | None = Field(None, description="enable TLS (an empty mapping uses the system CAs)")
    keepalive: int = Field(30, ge=5, le=3600, description="seconds between MQTT keep-alive pings")
    reconnect_max_delay: float = Field(60.0, ge=1, le=3600, description="cap of the reconnect backoff, seconds")
    discovery: bool = Field(True, description="publish Home Assistant discovery")
    discovery_prefix: str = Field("homeassistant", description="Home Assistant discovery prefix")
    outbox_path: Path = Field(
        default_factory=lambda: _state_directory() / "outbox.sqlite3",
        description="SQLite file that keeps final utterances until the broker acknowledged them",
    )
    outbox_max_messages: int = Field(100_000, ge=10, description="oldest undelivered utterances are dropped beyond this")
    outbox_max_age_days: float = Field(7.0, gt=0, description="undelivered utterances older than this are dropped")

    @model_validator(mode="after")
    def _password_needs_user(self) -> "MqttSettings":
        if (self.password is not None or self.password_file is not None) and not self.username:
            raise ValueError("a password was given without a username")
        return self


class SpeechSettings(_Strict):
    key: SecretStr | None = Field(
        None, description="Azure Speech key; or env AZURE_SPEECH_KEY, key_file, or credential azure-speech-key"
    )
    key_file: Path | None = Field(None, description="file holding the Azure Speech key")
    region: str = Field("westeurope", pattern=r"^[a-z0-9]+$", description="Azure region of the Speech resource")
    host: str | None = Field(
        None,
        pattern=r"^wss?://",
        description="ws:// or wss:// host instead of the region: Speech containers, sovereign clouds, the emulator",
    )
    language: str = Field("en-US", pattern=r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$", description="recognition language")
    segmentation_silence_ms: int = Field(
        500, ge=100, le=5000, description="silence that ends a phrase; also the length of the pause tail"
    )
    diarize_intermediates: bool = Field(False, description="ask for speaker ids on partial results")
    release_after_minutes: float | None = Field(
        None, gt=0, description="end the cloud session after a pause this long (frees a concurrency slot)"
    )
    reconnect_max_delay: float = Field(60.0, ge=1, le=3600, description="cap of the session restart backoff, seconds")
    auth_retry_minutes: float = Field(10.0, gt=0, description="wait this long before retrying after an auth failure")


class AudioSettings(_Strict):
    source: Literal["microphone", "file"] = Field("microphone", description="where audio comes from")
    device: str | int = Field("default", description="capture device: name substring or PortAudio index")
    file: Path | None = Field(None, description="WAV file to play as the meeting (source: file)")
    speed: float = Field(
        1.0,
        gt=0,
        le=2.0,
        description="file playback pace; 1.0 is real time. At most 2: the Speech SDK sends at about twice real "
        "time and cancels once 66 s of written audio wait unsent",
    )
    loop: bool = Field(False, description="start the file again at its end")

    @model_validator(mode="after")
    def _file_needs_path(self) -> "AudioSettings":
        if self.source == "file" and self.file is None:
            raise ValueError("source is 'file' but no file is given")
        return self


class MeetingSettings(_Strict):
    autostart: bool = Field(True, description="transcribe from start-up; false waits for the start command")


class LogSettings(_Strict):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")


class Settings(_Strict):
    room: str = Field("room", pattern=ROOM_PATTERN, description="names this device in payloads, client ids, HA")
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    audio: AudioSettings = Field(default_factory=AudioSettings)
    meeting: MeetingSettings = Field(default_factory=MeetingSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    def speech_key(self) -> str | None:
        """The Azure key from (in order) the file, AZURE_SPEECH_KEY, key_file, $CREDENTIALS_DIRECTORY."""
        if self.speech.key is not None:
            return self.speech.key.get_secret_value()
        if os.environ.get("AZURE_SPEECH_KEY"):
            return os.environ["AZURE_SPEECH_KEY"]
        return _read_secret(self.speech.key_file, "azure-speech-key")

    def mqtt_password(self) -> str | None:
        if self.mqtt.username is None:
            return None
        if self.mqtt.password is not None:
            return self.mqtt.password.get_secret_value()
        if os.environ.get("ROOMSCRIBE_MQTT_PASSWORD"):
            return os.environ["ROOMSCRIBE_MQTT_PASSWORD"]
        return _read_secret(self.mqtt.password_file, "mqtt-password")

    def mqtt_client_id(self) -> str:
        return self.mqtt.client_id or f"roomscribe-{self.room}"


def _state_directory() -> Path:
    """systemd's StateDirectory= when set (first entry), else the conventional path."""
    return Path(os.environ.get("STATE_DIRECTORY", "/var/lib/roomscribe").split(":")[0])


def _read_secret(path: Path | None, credential: str) -> str | None:
    """A secret from its file or systemd credential; blank counts as absent (the unit's fallback is blank)."""
    if path is None:
        cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
        path = Path(cred_dir) / credential if cred_dir else None
        if path is None or not path.is_file():
            return None
    return path.read_text(encoding="utf-8").strip() or None


@dataclass(frozen=True)
class ConfigProblem:
    path: str
    value: Any
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        shown = "<missing>" if self.value is _MISSING else repr(self.value)
        return f"{self.path or '<top>'}{where}: {self.message} (got {shown})"


_MISSING = object()


class ConfigError(Exception):
    """Every problem found in a configuration file, each naming key path, value, reason and line."""

    def __init__(self, source: str, problems: list[ConfigProblem]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))


def default_config_path() -> Path:
    return Path(os.environ.get("ROOMSCRIBE_CONFIG", str(DEFAULT_CONFIG_PATH)))


def load_config(path: Path | str | None = None) -> Settings:
    path = Path(path) if path is not None else default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [ConfigProblem("", str(path), f"cannot read the file: {exc.strerror}")]) from exc
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "<config>") -> Settings:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        # Only the parser's reason: its default message quotes the line, which may hold a secret.
        reason = getattr(exc, "problem", None) or type(exc).__name__
        column = f" (column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(source, [ConfigProblem("", _MISSING, f"not valid YAML: {reason}{column}", line)]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigProblem("", data, "the file must hold a mapping of keys")])
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            value = err.get("input", _MISSING) if err["type"] != "missing" else _MISSING
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            else:
                message = err["msg"].removeprefix("Value error, ")
            problems.append(ConfigProblem(".".join(loc), _redact(loc, value), message, _line_of(node, loc)))
        raise ConfigError(source, problems) from None


SECRET_KEYS = {"key", "password"}


def _redact(loc: list[str], value: Any) -> Any:
    """Hide secrets in a problem's value, also inside a whole section a model check reports."""
    if loc and loc[-1] in SECRET_KEYS and value is not None and value is not _MISSING:
        return "***"
    if isinstance(value, dict):
        return {k: ("***" if k in SECRET_KEYS and v is not None else _redact([], v)) for k, v in value.items()}
    return value


def _line_of(node: yaml.Node | None, loc: list[str]) -> int | None:
    """The 1-based line of the deepest YAML node on the key path that exists."""
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if key_node.value == part:
                line = key_node.start_mark.line + 1
                node = value_node
                break
        else:
            break
    return line


def redacted_dump(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain data, secrets replaced by '***'."""
    data = settings.model_dump(mode="json")
    for section, key in (("speech", "key"), ("mqtt", "password")):
        if data[section].get(key) is not None:
            data[section][key] = "***"
    return data
