"""TLS (test CA, wrong CA, host name check, client certificates) and username/password, on a real Mosquitto."""

from __future__ import annotations

import logging
import time

import pytest

from roomscribe.config import ConfigError
from roomscribe.outputs.mqtt.link import MqttLink
from roomscribe.outputs.journal.journal import Journal
from tests.outputs.mqtt.conftest import make_settings
from tests.support.mosquitto import retained


@pytest.fixture
def tls_broker(brokers):
    return brokers(tls=True).start()


def stays_disconnected(item, seconds: float = 1.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if item.link.connected:
            return False
        time.sleep(0.05)
    return True


def test_tls_with_the_test_ca(tls_broker, tmp_path, links):
    settings = make_settings(tls_broker, tmp_path, host="localhost", tls={"ca_file": str(tls_broker.pki.ca_cert)})
    item = links(settings).start()
    item.wait_connected()
    assert item.link.socket_info().tls_version.startswith("TLS")
    assert retained(tls_broker, "meeting/availability") == b"online"


def test_tls_refuses_a_broker_that_the_ca_did_not_sign(tls_broker, tmp_path, links, caplog):
    settings = make_settings(tls_broker, tmp_path, host="localhost",
                             tls={"ca_file": str(tls_broker.pki.other_ca_cert)})
    item = links(settings).start()
    assert stays_disconnected(item)
    assert "certificate verify failed" in caplog.text
    warnings = [r for r in caplog.records if r.name == "roomscribe.outputs.mqtt.worker" and r.levelno == logging.WARNING]
    assert len(warnings) == 1  # said once, not on every retry


def test_tls_checks_the_host_name_unless_told_not_to(tmp_path, brokers, links, caplog):
    broker = brokers(tls=True, server_names=("localhost",)).start()  # not valid for 127.0.0.1
    strict = links(make_settings(broker, tmp_path, host="127.0.0.1", tls={"ca_file": str(broker.pki.ca_cert)}))
    strict.start()
    assert stays_disconnected(strict)
    assert "certificate is not valid for '127.0.0.1'" in caplog.text
    lax = links(make_settings(broker, tmp_path, host="127.0.0.1", room="lax",
                              tls={"ca_file": str(broker.pki.ca_cert), "check_hostname": False}))
    lax.start()
    lax.wait_connected()


def test_tls_with_a_client_certificate(tmp_path, brokers, links):
    broker = brokers(tls=True, require_client_cert=True).start()
    pki = broker.pki
    without = links(make_settings(broker, tmp_path, host="localhost", room="anon", tls={"ca_file": str(pki.ca_cert)}))
    without.start()
    assert stays_disconnected(without)
    with_cert = links(make_settings(broker, tmp_path, host="localhost", tls={
        "ca_file": str(pki.ca_cert), "cert_file": str(pki.client_cert), "key_file": str(pki.client_key)}))
    with_cert.start()
    with_cert.wait_connected()


def test_a_missing_ca_file_is_a_configuration_error(tls_broker, tmp_path):
    settings = make_settings(tls_broker, tmp_path, tls={"ca_file": str(tmp_path / "nope.pem")})
    with pytest.raises(ConfigError) as caught:
        MqttLink(settings, on_command=lambda c: None, transcripts=Journal(tmp_path / "j.sqlite3").deliveries)
    assert caught.value.problems[0].path == "mqtt.tls.ca_file"


@pytest.fixture
def auth_broker(brokers):
    return brokers(users={"room-1": "correct horse"}).start()


def test_username_and_password(auth_broker, tmp_path, links):
    item = links(make_settings(auth_broker, tmp_path, username="room-1", password="correct horse")).start()
    item.wait_connected()
    auth = {"username": "room-1", "password": "correct horse"}
    assert retained(auth_broker, "meeting/availability", **auth) == b"online"


def test_password_from_a_file_and_from_the_credentials_directory(auth_broker, tmp_path, links, monkeypatch):
    (tmp_path / "pw").write_text("correct horse\n")
    from_file = links(make_settings(auth_broker, tmp_path, username="room-1", password_file=str(tmp_path / "pw")))
    from_file.start()
    from_file.wait_connected()
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "mqtt-password").write_text("correct horse")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    from_systemd = links(make_settings(auth_broker, tmp_path, room="other", username="room-1"))
    from_systemd.start()
    from_systemd.wait_connected()


def test_a_wrong_password_gives_one_clear_error_and_no_hot_retry_loop(auth_broker, tmp_path, links, caplog):
    settings = make_settings(auth_broker, tmp_path, username="room-1", password="wrong", reconnect_max_delay=2)
    item = links(settings).start()
    assert stays_disconnected(item, 3.2)
    errors = [r for r in caplog.records if r.name == "roomscribe.outputs.mqtt.worker" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert "refused" in message and "password" in message and "wrong" not in message  # no secret in logs
    # At 0 and 2 s: the first retry already waits the whole cap (paho's usual backoff would retry at 1 s, 3 s).
    # A busy machine only makes attempts later, never more.
    attempts = auth_broker.log().count("disconnected, not authorised")
    assert 1 <= attempts <= 2, f"{attempts} connection attempts in 3.2 s with a 2 s cap"


def test_an_unreadable_password_file_is_a_configuration_error(auth_broker, tmp_path):
    settings = make_settings(auth_broker, tmp_path, username="room-1", password_file=str(tmp_path / "missing"))
    with pytest.raises(ConfigError) as caught:
        MqttLink(settings, on_command=lambda c: None, transcripts=Journal(tmp_path / "j.sqlite3").deliveries)
    assert caught.value.problems[0].path == "mqtt.password_file"
