"""Configuration: YAML read with pyyaml, validated by msgspec, unknown keys rejected.

msgspec rather than pydantic: the same strict, declarative validation (types, bounds, patterns, a
description on every field) for a tenth of the memory. Importing pydantic and building these models
cost the daemon about 11 MB of its resident memory, msgspec about 1 MB (docs/BENCHMARKS.md, footprint).

Errors name the key path, the offending value, the reason and (when known) the line in the file;
every problem of a file is reported at once (problems.py). Secrets can come from the file,
the environment, a file of their own, or systemd's $CREDENTIALS_DIRECTORY; they are `Secret`s, which
never print.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from roomscribe.config.fields import Secret, Section as _Section, option as _option
from roomscribe.config.problems import MISSING, SECRET_KEYS, ConfigError, ConfigProblem, validate_all
from roomscribe.config.paths import default_config_path
from roomscribe.config.yaml_checks import duplicate_keys, empty_tls
from roomscribe.core.locales import LOCALE_PATTERN, locale_problems
from roomscribe.core.phrases import MAX_PHRASE_CHARS, MAX_PHRASES, PhraseError, check_phrases
from roomscribe.config.secrets import (MQTT_PASSWORD, SPEECH_KEY, WEB_ACCESS_TOKEN, WEB_COMMAND_TOKEN, SecretSpec,
                                       lookup_order)
from roomscribe.config.web import WebSettings

__all__ = ["ConfigError", "ConfigProblem", "Settings", "load_config", "parse_config", "settings_from_data",
           "settings_to_data", "redacted_dump", "default_config_path", "SECRET_KEYS"]

ROOM_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"


class MqttTls(_Section):
    ca_file: _option(Path | None, "CA certificate (PEM) used to verify the broker") = None
    cert_file: _option(Path | None, "client certificate (PEM) for mutual TLS") = None
    key_file: _option(Path | None, "client private key (PEM) for mutual TLS") = None
    check_hostname: _option(bool, "verify that the broker certificate names the host") = True

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")


class MqttSettings(_Section):
    host: _option(str, "broker host name or address") = "localhost"
    port: _option(int, "broker port (8883 is usual with TLS)", ge=1, le=65535) = 1883
    base_topic: _option(str, "prefix of every roomscribe topic", pattern=r"^[^#+\s][^#+]*$") = "meeting"
    client_id: _option(str | None, "MQTT client id; default roomscribe-<room>") = None
    protocol: _option(Literal["3.1.1", "5"], "MQTT protocol version") = "3.1.1"
    username: _option(str | None, "user name for broker authentication") = None
    password: _option(Secret | None, "password; or password_file, or credential mqtt-password") = None
    password_file: _option(Path | None, "file holding the broker password") = None
    tls: _option(MqttTls | None, "enable TLS (an empty mapping uses the system CAs)") = None
    keepalive: _option(int, "seconds between MQTT keep-alive pings", ge=5, le=3600) = 30
    reconnect_max_delay: _option(float, "cap of the reconnect backoff, seconds", ge=1, le=3600) = 60.0
    discovery: _option(bool, "publish Home Assistant discovery") = True
    discovery_prefix: _option(str, "Home Assistant discovery prefix") = "homeassistant"
    # Deprecated (the outbox is part of the journal now): an old outbox here is migrated, and the bounds used.
    outbox_path: _option(Path | None, "deprecated: the outbox of an older roomscribe, migrated into the journal") = None
    outbox_max_messages: _option(int, "deprecated: journal.max_waiting", ge=10) | None = None
    outbox_max_age_days: _option(float, "deprecated: journal.max_waiting_days", gt=0) | None = None

    def __post_init__(self) -> None:
        if (self.password is not None or self.password_file is not None) and not self.username:
            raise ValueError("a password was given without a username")


class SpeechSettings(_Section):
    key: _option(Secret | None, "Azure Speech key; or env AZURE_SPEECH_KEY, key_file, or credential azure-speech-key") = None
    key_file: _option(Path | None, "file holding the Azure Speech key") = None
    region: _option(str, "Azure region of the Speech resource", pattern=r"^[a-z0-9]+$") = "westeurope"
    host: _option(
        str,
        "ws:// or wss:// host instead of the region: Speech containers, sovereign clouds, the emulator",
        pattern=r"^wss?://",
    ) | None = None
    language: _option(str, "recognition language, unless `languages` is given", pattern=LOCALE_PATTERN) = "en-US"
    languages: _option(str | list[str], "one locale, or 2-10 candidates for language identification; replaces "
                       "`language`") | None = None
    language_id_mode: _option(Literal["continuous", "at_start"], "with candidates: identify the language of every "
                              "utterance (continuous, up to 10) or once at the start (at_start, up to 4)") = "continuous"
    profanity: _option(Literal["masked", "removed", "raw"], "profanity in transcripts: masked (Azure's default, "
                       "***), removed, or raw") = "masked"
    phrases: _option(list[str], "names and words the service should hear as written, applied to every session "
                     f"(at most {MAX_PHRASES}, each at most {MAX_PHRASE_CHARS} characters)") = msgspec.field(
        default_factory=list)
    segmentation_silence_ms: _option(
        int, "silence that ends a phrase; also the length of the pause tail", ge=100, le=5000
    ) = 500
    diarize_intermediates: _option(bool, "ask for speaker ids on partial results") = False
    release_after_minutes: _option(
        float, "end the cloud session after a pause this long (frees a concurrency slot)", gt=0
    ) | None = None
    reconnect_max_delay: _option(float, "cap of the session restart backoff, seconds", ge=1, le=3600) = 60.0
    auth_retry_minutes: _option(float, "wait this long before retrying after an auth failure", gt=0) = 10.0
    outage_buffer_minutes: _option(
        float, "audio kept in memory (never on disk) while the speech service does not answer, sent when it does; "
        "1.92 MB a minute while in use; past it the oldest goes first and an audio_lost event says what",
        ge=1.5, le=240,
    ) = 10.0
    catch_up_speed: _option(
        float, "how many times faster than real time audio that waited may be sent once the service answers "
        "(the Speech SDK's own pace is 2)", ge=1, le=20,
    ) = 4.0

    @property
    def locales(self) -> tuple[str, ...]:
        """One locale to recognize, or the candidates for language identification."""
        if self.languages is None:
            return (self.language,)
        return (self.languages,) if isinstance(self.languages, str) else tuple(self.languages)

    def __post_init__(self) -> None:  # messages start with their key: problems.py reports them there
        if self.languages is not None:
            if problems := locale_problems(self.locales, self.language_id_mode):
                raise ValueError("languages: " + "; ".join(problems))
            if self.language != "en-US" and self.language not in self.locales:
                raise ValueError(f"languages: given with language {self.language}, which is not one of them: give one")
        try:
            check_phrases(self.phrases)
        except PhraseError as exc:
            raise ValueError(f"phrases: {exc}") from None


class VadSettings(_Section):
    enabled: _option(bool, "send only speech, with a little before and after it: Azure bills every second streamed") = True
    threshold: _option(float, "speech probability (0-1) from which a 10 ms chunk counts as speech", gt=0, lt=1) = 0.5
    pre_roll_ms: _option(
        int, "audio kept in memory (never on disk) before speech starts and sent with it; a multiple of 10", ge=0, le=2000
    ) = 400
    hangover_ms: _option(
        int, "audio still sent after the last speech: trailing words and the silence that ends the phrase; "
        "a multiple of 10", ge=0, le=5000
    ) = 300
    onset_frames: _option(int, "speech chunks (10 ms) in a row that start sending", ge=1, le=50) = 3
    keepalive_seconds: _option(
        float, "while no speech is sent, 100 ms of silence this often keeps the cloud session and its speaker "
        "labels (the service closes connections idle for 300 s); 0 = never", ge=0, le=290
    ) = 240.0

    def __post_init__(self) -> None:
        for name in ("pre_roll_ms", "hangover_ms"):
            if getattr(self, name) % 10:
                raise ValueError(f"{name} must be a multiple of 10 ms, the chunk length")


class AudioSettings(_Section):
    source: _option(Literal["microphone", "file"], "where audio comes from") = "microphone"
    device: _option(str | int, "capture device: name substring or PortAudio index") = "default"
    file: _option(Path | None, "WAV file to play as the meeting (source: file)") = None
    speed: _option(
        float,
        "file playback pace; 1.0 is real time. At most 2: the Speech SDK sends at about twice real time and "
        "cancels once 66 s of written audio wait unsent",
        gt=0,
        le=2.0,
    ) = 1.0
    loop: _option(bool, "start the file again at its end") = False
    vad: VadSettings = msgspec.field(default_factory=VadSettings)

    def __post_init__(self) -> None:
        if self.source == "file" and self.file is None:
            raise ValueError("source is 'file' but no file is given")


class MeetingSettings(_Section):
    autostart: _option(bool, "transcribe from start-up; false waits for the start command") = True


class ArchiveSettings(_Section):
    enabled: _option(bool, "keep the meeting record (meetings, pauses, final utterances; never audio)") = True
    path: _option(Path | None, "deprecated: the archive of an older roomscribe, migrated into the journal") = None
    retention_days: _option(float, "meetings that ended longer ago are deleted, at start and daily", gt=0) = 30.0


class JournalSettings(_Section):
    path: _option(Path | None, "the SQLite journal (record and delivery state); default journal.sqlite3 in the "
                  "state directory") = None
    max_waiting: _option(int, "beyond this many undelivered utterances the oldest are no longer sent", ge=10) = 100_000
    max_waiting_days: _option(float, "undelivered utterances older than this are no longer sent", gt=0) = 7.0
    memory_backlog: _option(int, "records kept in memory while the disk refuses writes", ge=100) = 5000
    retry_seconds: _option(float, "how often writes the disk refused are tried again", ge=0.1, le=300) = 5.0


class LogSettings(_Section):
    level: _option(Literal["debug", "info", "warning", "error"], "log level") = "info"


class Settings(_Section):
    room: _option(str, "names this device in payloads, client ids, HA", pattern=ROOM_PATTERN) = "room"
    mqtt: MqttSettings = msgspec.field(default_factory=MqttSettings)
    speech: SpeechSettings = msgspec.field(default_factory=SpeechSettings)
    audio: AudioSettings = msgspec.field(default_factory=AudioSettings)
    meeting: MeetingSettings = msgspec.field(default_factory=MeetingSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)
    archive: ArchiveSettings = msgspec.field(default_factory=ArchiveSettings)
    web: WebSettings = msgspec.field(default_factory=WebSettings)
    journal: JournalSettings = msgspec.field(default_factory=JournalSettings)

    def speech_key(self) -> str | None:
        """The Azure key from the first place that holds it (config/secrets.py has the order)."""
        return _read_secret(SPEECH_KEY, self.speech.key, self.speech.key_file)

    def mqtt_password(self) -> str | None:
        if self.mqtt.username is None:
            return None
        return _read_secret(MQTT_PASSWORD, self.mqtt.password, self.mqtt.password_file)

    def web_access_token(self) -> str | None:
        return _read_secret(WEB_ACCESS_TOKEN, self.web.access_token, self.web.access_token_file)

    def web_command_token(self) -> str | None:
        return _read_secret(WEB_COMMAND_TOKEN, self.web.command_token, self.web.command_token_file)

    def mqtt_client_id(self) -> str:
        return self.mqtt.client_id or f"roomscribe-{self.room}"


def _read_secret(spec: SecretSpec, configured: Secret | None, file: Path | None) -> str | None:
    """A secret from the first place in the lookup order; blank counts as absent (the unit's fallback is blank)."""
    for source in lookup_order(spec, configured=configured is not None, file=file, environ=os.environ):
        if source.kind == "config":
            return configured.get_secret_value()
        if source.kind == "env":
            return os.environ[spec.env]
        if source.kind == "credential" and not source.path.is_file():
            return None
        return source.path.read_text(encoding="utf-8").strip() or None
    return None


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
        raise ConfigError(source, [ConfigProblem("", MISSING, f"not valid YAML: {reason}{column}", line)]) from None
    problems = duplicate_keys(node) + empty_tls(node)
    try:
        settings = settings_from_data({} if data is None else data, source=source, node=node)
    except ConfigError as exc:
        raise ConfigError(source, problems + exc.problems) from None
    if problems:
        raise ConfigError(source, problems)
    return settings


def settings_from_data(data: Any, source: str = "<data>", node: yaml.Node | None = None) -> Settings:
    """Validated Settings from plain data (a parsed file, or settings_to_data's output); ConfigError if not."""
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigProblem("", data, "the file must hold a mapping of keys")])
    return validate_all(data, lambda d: msgspec.convert(d, Settings, dec_hook=_decode), Settings, node, source)


def _decode(kind: type, value: Any) -> Any:
    if kind is Secret:
        if isinstance(value, str):
            return Secret(value)
        raise TypeError("Input should be a valid string")
    if kind is Path:
        if isinstance(value, str) and value:
            return Path(value)
        raise TypeError("Input should be a valid path")
    raise NotImplementedError(kind)


def settings_to_data(settings: Settings) -> dict[str, Any]:
    """Plain JSON-able data, secrets in clear (to hand settings to a child process); see redacted_dump."""
    return msgspec.to_builtins(settings, enc_hook=_encode)


def _encode(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    raise NotImplementedError(type(value))


def redacted_dump(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain data, secrets replaced by '***'."""
    data = settings_to_data(settings)
    for section, key in (("speech", "key"), ("mqtt", "password"), ("web", "access_token"), ("web", "command_token")):
        if data[section].get(key) is not None:
            data[section][key] = "***"
    return data
