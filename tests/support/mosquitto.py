"""A real Mosquitto for tests: its own config in a temp dir, a free loopback port, TLS and passwords on demand.

    broker = Mosquitto(tmp_path).start()                       # plain, anonymous
    broker = Mosquitto(tmp_path, tls=True).start()             # TLS with a test CA (broker.pki.ca_cert)
    broker = Mosquitto(tmp_path, users={"room": "secret"}).start()   # mosquitto_passwd, no anonymous
    broker = Mosquitto(tmp_path, auth_config=["password_file …", "acl_file …"]).start()  # your own auth lines
    broker.stop(); broker.start()                              # an outage: same port, same config
    broker.kill()                                              # SIGKILL
    broker.freeze(); broker.thaw()                             # SIGSTOP / SIGCONT: a hung broker

The `mosquitto` fixture gives a started plain broker and stops it afterwards; `Recorder` is a paho
client that records every message it sees. Certificates come from the `openssl` command line.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- a test PKI -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestPki:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_cert: Path  # a CA that signed nothing here: verifying the broker with it must fail


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN=roomscribe test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    return cert, key


def _sign(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.crt"
    ext = directory / f"{name}.ext"
    ext.write_text(extensions + "\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}", cwd=directory)
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
             "-out", str(cert), "-days", "2", "-extfile", str(ext), cwd=directory)
    return cert, key


def make_pki(directory: Path, server_names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> TestPki:
    """A CA, a broker certificate for `server_names`, a client certificate, and a stranger CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _make_ca(directory, "ca")
    names = ",".join(f"IP:{n}" if n.replace(".", "").isdigit() else f"DNS:{n}" for n in server_names)
    server = _sign(directory, "localhost", ca, f"subjectAltName={names}\nextendedKeyUsage=serverAuth")
    client = _sign(directory, "client", ca, "extendedKeyUsage=clientAuth")
    other_ca, _ = _make_ca(directory, "other-ca")
    return TestPki(ca[0], server[0], server[1], client[0], client[1], other_ca)


# -- the broker -------------------------------------------------------------------------------------


class Mosquitto:
    def __init__(
        self,
        directory: Path,
        *,
        tls: bool = False,
        require_client_cert: bool = False,
        server_names: tuple[str, ...] = ("localhost", "127.0.0.1"),
        users: dict[str, str] | None = None,
        persistence: bool = False,
        host: str = "127.0.0.1",
        auth_config: list[str] | None = None,
        extra_config: tuple[str, ...] = (),
    ):
        self.dir = Path(directory) / f"mosquitto-{free_port()}"
        self.dir.mkdir(parents=True)
        self.host = host
        self.port = free_port()
        self.users = users
        self.auth_config = auth_config  # replaces the lines `users` would write (password_file, acl_file, …)
        self.extra_config = extra_config  # more lines of mosquitto.conf (benchmarks: `max_queued_messages 0`)
        self.pki = make_pki(self.dir / "pki", server_names) if tls else None
        self.log_file = self.dir / "mosquitto.log"
        self.config_file = self.dir / "mosquitto.conf"
        self._process: subprocess.Popen | None = None
        self._write_config(require_client_cert, persistence)

    def _write_config(self, require_client_cert: bool, persistence: bool) -> None:
        lines = [
            # Started as root, Mosquitto would switch to the `mosquitto` user, which cannot read the temp dir.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            f"listener {self.port} {self.host}",
            f"log_dest file {self.log_file}",
            "log_type all",
            "connection_messages true",
        ]
        if persistence:
            lines += ["persistence true", f"persistence_location {self.dir}/", "autosave_interval 1"]
        else:
            lines.append("persistence false")
        if self.auth_config is not None:
            lines += self.auth_config
        elif self.users is not None:
            passwords = self.dir / "passwords"
            passwords.touch(mode=0o600)
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password],
                               check=True, capture_output=True)
            lines += [f"password_file {passwords}", "allow_anonymous false"]
        else:
            lines.append("allow_anonymous true")
        if self.pki is not None:
            lines += [
                f"cafile {self.pki.ca_cert}",
                f"certfile {self.pki.server_cert}",
                f"keyfile {self.pki.server_key}",
                f"require_certificate {'true' if require_client_cert else 'false'}",
            ]
        lines += self.extra_config
        self.config_file.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 15.0) -> "Mosquitto":
        assert self._process is None, "already running"
        self._process = subprocess.Popen([MOSQUITTO, "-c", str(self.config_file)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace")
                self._process = None
                raise RuntimeError(f"mosquitto exited at start: {err}\n{self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port}\n{self.log()}")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """SIGTERM: the broker closes every client connection."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered (a hung broker)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def _end(self, signum: int) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signum)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process.stderr:
            process.stderr.close()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def __enter__(self) -> "Mosquitto":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture
def mosquitto(tmp_path):
    """A started, plain, anonymous Mosquitto on a free loopback port; stopped after the test."""
    broker = Mosquitto(tmp_path).start()
    try:
        yield broker
    finally:
        broker.stop()


# -- a recording client -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    at: float
    topic: str
    payload: bytes
    retain: bool
    qos: int

    def json(self):
        return json.loads(self.payload)


class Recorder:
    """Subscribes (QoS 1) and records every message in arrival order; `wait_for` polls a condition."""

    def __init__(self, broker: Mosquitto, topics: str | list[str] = "#", *, username: str | None = None,
                 password: str | None = None, client_id: str | None = None, persistent_session: bool = False):
        self.messages: list[Seen] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._topics = [topics] if isinstance(topics, str) else topics
        # A persistent session makes the broker keep QoS 1 messages for it while it is disconnected.
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"recorder-{time.monotonic_ns()}",
                                  clean_session=not persistent_session)
        self.client.reconnect_delay_set(0.2, 1)
        if username:
            self.client.username_pw_set(username, password)
        if broker.pki is not None:
            self.client.tls_set(ca_certs=str(broker.pki.ca_cert))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host if broker.pki is None else "localhost", broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "recorder did not subscribe"

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe([(topic, 1) for topic in self._topics])

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append(Seen(time.time(), msg.topic, msg.payload, msg.retain, msg.qos))

    def on(self, topic: str) -> list[Seen]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def json_on(self, topic: str) -> list:
        return [m.json() for m in self.on(topic) if m.payload]

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "a condition"):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                with self._lock:
                    seen = [(m.topic, m.payload[:80]) for m in self.messages[-20:]]
                raise AssertionError(f"timed out waiting for {what}; last messages: {seen}")
            time.sleep(0.02)

    def publish(self, topic: str, payload: bytes | str = b"", *, retain: bool = False, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained(broker: Mosquitto, topic: str, timeout: float = 5.0, **auth) -> bytes | None:
    """The retained payload on `topic` as a fresh subscriber sees it (None if there is none)."""
    rec = Recorder(broker, topic, **auth)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [m for m in rec.on(topic) if m.retain]
            if got:
                return got[-1].payload
            # Retained messages arrive right after SUBACK; a short quiet period means none.
            if time.monotonic() > deadline - timeout + 0.5:
                return None
            time.sleep(0.02)
        return None
    finally:
        rec.close()
