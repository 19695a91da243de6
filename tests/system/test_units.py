"""The systemd units: `systemd-analyze verify` and `security` on them, and what they promise the daemon.

verify needs ExecStart= to exist and every unit the service depends on, so it runs on a temporary
root: the host's own unit directory, the two units installed in /etc/systemd/system, and an
/opt/roomscribe/bin/roomscribe that runs the roomscribe installed here (standing in for the venv the
README installs). Both commands' output is printed so that CI logs show the figures.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from roomscribe.system import exitcodes
from roomscribe.config import settings_from_data

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
MAX_EXPOSURE = 2.0
INSTANCE = "lobby"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
HOST_UNITS = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()), None)

needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None or HOST_UNITS is None,
    reason="systemd-analyze is not installed (scripts/test.sh installs the systemd package)",
)


def directives(unit: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) in file order; repeated keys stay separate, as systemd reads them."""
    found, section = [], ""
    for line in unit.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def values(unit: Path, key: str) -> list[str]:
    return [v for _, k, v in directives(unit) if k == key]


def show(title: str, text: str, capsys) -> None:
    with capsys.disabled():
        print(f"\n--- {title} ---\n{text.rstrip()}\n")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in ("roomscribe.service", "roomscribe@.service"):
        shutil.copy(UNITS / unit, root / "etc/systemd/system" / unit)
    launcher = root / "opt/roomscribe/bin/roomscribe"
    launcher.parent.mkdir(parents=True)
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m roomscribe "$@"\n')
    launcher.chmod(0o755)
    return root


# -- systemd-analyze -------------------------------------------------------------------------------


@needs_systemd_analyze
@pytest.mark.parametrize("unit", ["roomscribe.service", f"roomscribe@{INSTANCE}.service"])
def test_systemd_analyze_verify_is_clean(unit, root, capsys):
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", f"--root={root}", "--man=false", unit],
                            capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    show(f"systemd-analyze verify {unit} (exit {result.returncode})", output or "(no findings)", capsys)
    assert result.returncode == 0, output
    assert output.strip() == "", f"verify reported findings (ignored lines count too):\n{output}"


@needs_systemd_analyze
@pytest.mark.parametrize("unit", ["roomscribe.service", f"roomscribe@{INSTANCE}.service"])
def test_systemd_analyze_security_rates_the_unit_2_or_better(unit, root, capsys):
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", f"--root={root}", "--no-pager", unit],
        capture_output=True, text=True, timeout=120,
    )
    output = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", output)
    assert match, f"no overall exposure in the output (exit {result.returncode}):\n{output}"
    exposure = float(match.group(1))
    show(f"systemd-analyze security {unit}: exposure {exposure}", output, capsys)
    assert exposure <= MAX_EXPOSURE, f"{unit}: exposure {exposure} > {MAX_EXPOSURE}\n{output}"


# -- what the units promise ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["roomscribe.service", "roomscribe@.service"])
def test_the_unit_runs_the_daemon_as_the_docs_say(name):
    unit = UNITS / name
    one = {k: v for _, k, v in directives(unit)}
    config = "/etc/roomscribe/%i.yaml" if "@" in name else "/etc/roomscribe/config.yaml"
    assert one["ExecStart"] == f"/opt/roomscribe/bin/roomscribe run -c {config}"
    assert (one["Type"], one["NotifyAccess"], one["WatchdogSec"]) == ("notify", "main", "30s")
    assert one["Restart"] == "on-failure"
    assert values(unit, "RestartPreventExitStatus") == [str(exitcodes.CONFIG)]
    assert (one["DynamicUser"], one["SupplementaryGroups"]) == ("yes", "audio")
    assert one["StateDirectory"] == ("roomscribe/%i" if "@" in name else "roomscribe")
    assert one["DeviceAllow"] == "char-alsa rw" and one["DevicePolicy"] == "closed"
    assert set(one["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges", "SystemCallFilter"):
        assert key in one
    assert "MemoryDenyWriteExecute" not in one  # see docs/systemd.md: ctypes needs W+X pages
    # Ordered after the clock is set (where a wait-for-sync service makes time-sync.target mean that).
    assert "time-sync.target" in values(unit, "Wants") and "time-sync.target" in values(unit, "After")


@pytest.mark.parametrize("name", ["roomscribe.service", "roomscribe@.service"])
def test_each_credential_has_an_empty_fallback_and_the_config_reads_it(name, tmp_path, monkeypatch):
    unit = UNITS / name
    loaded = dict(v.split(":", 1) for v in values(unit, "LoadCredential"))
    fallbacks = dict(v.split(":", 1) for v in values(unit, "SetCredential"))
    assert set(loaded) == set(fallbacks) == {"azure-speech-key", "mqtt-password", "web-access-token",
                                             "web-command-token"}
    prefix = "/etc/roomscribe/%i/" if "@" in name else "/etc/roomscribe/"
    assert loaded == {cred: prefix + cred for cred in loaded}
    assert set(fallbacks.values()) == {r"\n"}  # a lone newline: "no secret" once stripped

    # The same ids are the file names the configuration reads from $CREDENTIALS_DIRECTORY.
    for cred in loaded:
        (tmp_path / cred).write_text(f"secret-of-{cred}\n")
    for name_ in ("AZURE_SPEECH_KEY", "ROOMSCRIBE_MQTT_PASSWORD", "ROOMSCRIBE_WEB_ACCESS_TOKEN",
                  "ROOMSCRIBE_WEB_COMMAND_TOKEN"):
        monkeypatch.delenv(name_, raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    settings = settings_from_data({"mqtt": {"username": "rs"}})
    readers = (settings.speech_key, settings.mqtt_password, settings.web_access_token, settings.web_command_token)
    assert [read() for read in readers] == [f"secret-of-{cred}" for cred in (
        "azure-speech-key", "mqtt-password", "web-access-token", "web-command-token")]

    # The fallback, as systemd writes it when a file is missing, counts as no secret.
    for cred in loaded:
        (tmp_path / cred).write_text("\n")
    assert not any(read() for read in readers)


def test_the_template_differs_from_the_unit_only_by_instance():
    def normalised(name: str) -> list[tuple[str, str, str]]:
        found = []
        for section, key, value in directives(UNITS / name):
            value = value.replace("/etc/roomscribe/%i.yaml", "/etc/roomscribe/config.yaml")
            value = value.replace("/etc/roomscribe/%i/", "/etc/roomscribe/").replace("roomscribe/%i", "roomscribe")
            value = value.replace(", room %i", "")
            found.append((section, key, value))
        return found

    assert normalised("roomscribe@.service") == normalised("roomscribe.service")
