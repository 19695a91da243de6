"""Settings validation: every problem reported, secrets hidden, plain data round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from roomscribe.config import ConfigError, Settings, parse_config, settings_from_data, settings_to_data

KEY = "9f3c0ffee4b1d2a7c6e5f4a3b2c1d0e9"


def problems_of(text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return {p.path: str(p) for p in caught.value.problems}


def test_several_problems_in_one_section_are_all_reported_with_their_lines():
    found = problems_of("mqtt:\n  host: b\n  port: 0\n  keepalive: 1\n  protocol: '4'\n  hots: x\n")
    assert set(found) == {"mqtt.port", "mqtt.keepalive", "mqtt.protocol", "mqtt.hots"}
    assert found["mqtt.port"].startswith("mqtt.port (line 3): Input should be greater than or equal to 1")
    assert found["mqtt.keepalive"].startswith("mqtt.keepalive (line 4): Input should be greater than or equal to 5")
    assert found["mqtt.protocol"] == "mqtt.protocol (line 5): Input should be '3.1.1' or '5' (got '4')"
    assert found["mqtt.hots"] == "mqtt.hots (line 6): unknown key; did you mean 'host'? (got 'x')"


def test_a_section_check_that_fails_only_because_a_key_was_set_aside_is_not_reported():
    # The username is wrong; "a password was given without a username" would follow from it alone.
    found = problems_of("mqtt:\n  username: [rs]\n  password: pw-123\n")
    assert list(found) == ["mqtt.username"]


def test_a_section_check_is_reported_when_it_fails_on_its_own():
    found = problems_of("mqtt:\n  port: 0\n  password: pw-123\n")
    assert set(found) == {"mqtt.port", "mqtt"}
    assert "a password was given without a username" in found["mqtt"] and "pw-123" not in found["mqtt"]


def test_a_secret_never_shows_in_settings_or_problems():
    settings = parse_config(f"speech:\n  key: {KEY}\nmqtt:\n  username: rs\n  password: {KEY}\n")
    assert KEY not in repr(settings) and KEY not in str(settings.speech.key)
    assert settings.speech_key() == KEY and settings.mqtt_password() == KEY
    with pytest.raises(ConfigError) as caught:
        parse_config(f"speech:\n  key: {KEY}\n  region: West Europe\nmqtt:\n  password: {KEY}\n")
    assert KEY not in str(caught.value) and KEY not in repr(caught.value.problems)


def test_plain_data_round_trips_with_secrets_and_paths():
    settings = parse_config(
        f"room: r1\nspeech:\n  key: {KEY}\n  host: ws://127.0.0.1:5000\n  release_after_minutes: 2\n"
        "mqtt:\n  username: rs\n  password_file: /run/pw\n  tls: {}\naudio:\n  source: file\n  file: /m.wav\n  device: 3\n"
    )
    data = settings_to_data(settings)
    assert data["speech"]["key"] == KEY and data["audio"]["file"] == "/m.wav"
    again = settings_from_data(data)
    assert again == settings
    assert again.mqtt.password_file == Path("/run/pw") and again.mqtt.tls is not None and again.audio.device == 3


def test_defaults_need_no_file():
    assert parse_config("") == Settings()
    assert Settings().mqtt.port == 1883 and Settings().audio.source == "microphone"


def test_an_empty_path_is_refused():
    assert "audio.file" in problems_of("audio:\n  source: file\n  file: ''\n")
