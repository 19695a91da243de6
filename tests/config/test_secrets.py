"""One lookup order for secrets: what the settings read and what check-config names always agree."""

from __future__ import annotations

import itertools

import pytest

from roomscribe.config import settings_from_data
from roomscribe.config.checkconfig import mqtt_password_source, speech_key_source

PLACES = ("config", "env", "file", "credential")


@pytest.mark.parametrize("present", [set(c) for n in range(5) for c in itertools.combinations(PLACES, n)],
                         ids=lambda present: "+".join(sorted(present)) or "nowhere")
def test_the_value_read_comes_from_the_place_check_config_names(present, tmp_path, monkeypatch):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    monkeypatch.delenv("AZURE_SPEECH_KEY", raising=False)
    monkeypatch.delenv("ROOMSCRIBE_MQTT_PASSWORD", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    speech, mqtt = {"host": "ws://127.0.0.1:9"}, {"username": "u"}
    if "config" in present:
        speech["key"], mqtt["password"] = "from-config", "from-config"
    if "env" in present:
        monkeypatch.setenv("AZURE_SPEECH_KEY", "from-env")
        monkeypatch.setenv("ROOMSCRIBE_MQTT_PASSWORD", "from-env")
    if "file" in present:
        (tmp_path / "key").write_text("from-file\n")
        speech["key_file"] = mqtt["password_file"] = str(tmp_path / "key")
    if "credential" in present:
        (credentials / "azure-speech-key").write_text("from-credential\n")
        (credentials / "mqtt-password").write_text("from-credential\n")
    settings = settings_from_data({"room": "r", "speech": speech, "mqtt": mqtt})
    for value, described in ((settings.speech_key(), speech_key_source(settings)),
                             (settings.mqtt_password(), mqtt_password_source(settings))):
        if value is None:
            assert described.startswith("none"), described
        else:
            place = value.removeprefix("from-")
            words = {"config": "configuration file", "env": "environment variable", "file": "the file",
                     "credential": "systemd credential"}[place]
            assert words in described, (value, described)
