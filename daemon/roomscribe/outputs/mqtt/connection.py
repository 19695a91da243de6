"""A paho client configured from `mqtt` settings: protocol, credentials, TLS. Shared by the link and the CLI.

Everything that can be wrong in the configuration (unreadable password file, missing certificate)
surfaces here, before any connection, as a ConfigError naming the key.
"""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from roomscribe.config import ConfigError, ConfigProblem, Settings

log = logging.getLogger(__name__)

# CONNACK refusals that retrying soon cannot fix: bad user name or password, not authorized,
# banned, bad authentication method. MQTT 3.1.1's codes 4 and 5 arrive mapped to 134 and 135.
AUTH_REFUSALS = frozenset({134, 135, 138, 140})
MAX_INFLIGHT = 10  # the link's QoS 1 messages on the wire at once; within every broker's usual receive maximum


def build_client(settings: Settings, *, client_id: str) -> mqtt.Client:
    """A paho 2.x client with credentials and TLS applied; callbacks and will are the caller's."""
    cfg = settings.mqtt
    protocol = mqtt.MQTTv5 if cfg.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        clean_session=None if protocol == mqtt.MQTTv5 else True,  # MQTT 5 takes clean_start at connect time instead
    )
    try:
        password = settings.mqtt_password()
    except OSError as exc:
        raise ConfigError(
            "mqtt", [ConfigProblem("mqtt.password_file", str(cfg.password_file), f"cannot read it: {exc.strerror}")]
        ) from None
    if cfg.username:
        client.username_pw_set(cfg.username, password)
    if cfg.tls is not None:
        client.tls_set_context(_tls_context(settings))
    return client


def _tls_context(settings: Settings) -> ssl.SSLContext:
    tls = settings.mqtt.tls
    assert tls is not None
    try:
        # Verifies the broker's certificate and, unless switched off, that it names the host.
        context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("mqtt", [ConfigProblem("mqtt.tls.ca_file", str(tls.ca_file), f"unusable: {exc}")]) from None
    context.check_hostname = tls.check_hostname
    if tls.cert_file is not None:
        try:
            context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                "mqtt", [ConfigProblem("mqtt.tls.cert_file", str(tls.cert_file), f"unusable with key_file: {exc}")]
            ) from None
    return context


def is_auth_refusal(reason_code: ReasonCode) -> bool:
    return reason_code.value in AUTH_REFUSALS


def set_nodelay(sock) -> None:
    """paho leaves Nagle on; a small publish can then wait ~40 ms behind a delayed ACK."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not a TCP socket (e.g. a unix socket): nothing to tune


@dataclass(frozen=True, slots=True)
class SocketInfo:
    """What the connection to the broker runs on, as diagnostics and tests see it (read-only)."""

    tls_version: str | None  # "TLSv1.3"; None without TLS
    nodelay: bool  # Nagle switched off


def socket_info(sock) -> SocketInfo | None:
    """The socket's TLS version and TCP_NODELAY; None without a socket (not connected) or once it closed."""
    if sock is None:
        return None
    try:
        nodelay = bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        version = sock.version() if isinstance(sock, ssl.SSLSocket) else None
    except OSError:
        return None
    return SocketInfo(tls_version=version, nodelay=nodelay)


def response_properties(correlation_data: bytes | None) -> Properties | None:
    """MQTT 5 PUBLISH properties that carry a request's correlation data back with its answer."""
    if correlation_data is None:
        return None
    props = Properties(PacketTypes.PUBLISH)
    props.CorrelationData = correlation_data
    return props


def describe(reason_code: ReasonCode | int | None) -> str:
    if isinstance(reason_code, ReasonCode):
        return f"{reason_code.getName()} ({reason_code.value})"
    return str(reason_code)


def subscriptions(topics: Iterable[str], qos: int = 1) -> list[tuple[str, int]]:
    return [(topic, qos) for topic in topics]
