"""The MQTT contract (docs/mqtt.md) end to end with the real daemon: remote control, Home Assistant, no loss.

Real parts throughout: the daemon (in a thread or as a `python -m roomscribe run` process) plays a tone-speech
WAV file at twice real time through the real Speech SDK to the emulator, and talks to a real Mosquitto that
each test starts on a free port. Every payload the daemon publishes is checked against its JSON Schema.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import paho.mqtt.client as mqtt
import pytest
import yaml

from roomscribe.system import exitcodes
from roomscribe.config import load_config
from roomscribe.core.records import from_iso_utc
from tests.support.daemon_harness import DaemonThread, write_script_wav, TONE_SPEECH
from tests.support.archive_check import assert_archive_holds_exactly, records
from tests.support.journal import waiting_on_disk
from tests.support.mosquitto import Mosquitto, Recorder, retained

SPEED = 2.0
ROOM = "e2e"
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "daemon" / "roomscribe" / "schemas"
# What the daemon publishes, and the schema each payload must satisfy.
DAEMON_TOPICS = {
    "meeting/state": "state",
    "meeting/availability": "availability",
    "meeting/transcript": "transcript",
    "meeting/transcript/partial": "partial",
    "meeting/event": "event",
    "meeting/speech_connection": "speech_connection",
    "meeting/meeting": "meeting",
    "meeting/speakers": "speakers",
    "meeting/response/transcript": "transcript_response",
    "meeting/request/transcript": "transcript_request",
}
# The Home Assistant entities of docs/mqtt.md, for room ROOM.
DISCOVERY_TOPICS = [
    f"homeassistant/switch/roomscribe_{ROOM}_paused/config",
    f"homeassistant/button/roomscribe_{ROOM}_start/config",
    f"homeassistant/button/roomscribe_{ROOM}_stop/config",
    f"homeassistant/sensor/roomscribe_{ROOM}_state/config",
    f"homeassistant/event/roomscribe_{ROOM}_utterance/config",
    f"homeassistant/binary_sensor/roomscribe_{ROOM}_speech_connection/config",
    f"homeassistant/sensor/roomscribe_{ROOM}_last_utterance/config",
    f"homeassistant/sensor/roomscribe_{ROOM}_last_meeting/config",
]


# -- helpers ------------------------------------------------------------------------------------------


@pytest.fixture
def recorders():
    """Builds Recorders (paho subscribers recording every message) and closes each after the test."""
    made: list[Recorder] = []

    def make(*args, **kwargs) -> Recorder:
        made.append(Recorder(*args, **kwargs))
        return made[-1]

    yield make
    for rec in made:
        rec.close()


def write_config(tmp_path: Path, broker: Mosquitto, emulator_url: str, wav: Path, *, name: str = "config",
                 autostart: bool = True) -> Path:
    """One file for the daemon and the remote commands, as on a real installation."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "room": ROOM,
        # A 30-second outage would grow the default backoff (up to 60 s) far past the broker's return.
        "mqtt": {"host": broker.host, "port": broker.port, "reconnect_max_delay": 1},
        "journal": {"path": str(tmp_path / "journal.sqlite3")},
        "speech": {"host": emulator_url, "key": "test-key"},
        "audio": {"source": "file", "file": str(wav), "speed": SPEED, **TONE_SPEECH},
        "meeting": {"autostart": autostart},
    }))
    return path


def roomscribe(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roomscribe", *args], capture_output=True, text=True,
                          timeout=timeout)


def transcripts(rec: Recorder) -> list[dict]:
    return rec.json_on("meeting/transcript")


def unique(items: list[dict]) -> list[dict]:
    """First copy of each utterance: QoS 1 is at least once, (meeting_id, seq) identifies an utterance."""
    seen, out = set(), []
    for item in items:
        key = (item["meeting_id"], item["seq"])
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def states(rec: Recorder) -> list[dict]:
    return rec.json_on("meeting/state")


def wait_state(rec: Recorder, state: str, timeout: float = 30.0) -> dict:
    """The latest state message, once it says `state` (an earlier one, e.g. the idle at start-up, does not count)."""
    return rec.wait_for(lambda: next((s for s in states(rec)[-1:] if s["state"] == state), None),
                        timeout, f"state {state}")


def assert_daemon_payloads_valid(*recs: Recorder) -> set[str]:
    """Validate every message on a daemon topic against its schema; return the schemas exercised."""
    used: set[str] = set()
    for rec in recs:
        for seen in rec.messages:
            name = DAEMON_TOPICS.get(seen.topic)
            if name is None or not seen.payload:
                continue  # commands and discovery: not in a schema; an empty payload clears a retained topic
            schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
            document = seen.payload.decode() if schema.get("type") == "string" else json.loads(seen.payload)
            try:
                jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(document)
            except jsonschema.ValidationError as exc:
                raise AssertionError(f"{seen.topic} payload {seen.payload[:200]!r}: {exc.message}") from None
            used.add(name)
    return used


def waiting_rows(path: Path) -> list[tuple[str, int]]:
    """(meeting_id, seq) the daemon's journal holds for the broker on disk, read-only while the daemon writes.
    (An acknowledgement is written with the journal's next commit: in memory until then.)"""
    return waiting_on_disk(path)


def wall_time(started_at: float, audio_seconds: float) -> float:
    return started_at + audio_seconds / SPEED


class StateProbe:
    """Records each meeting/state as it arrives, with whether the daemon's gate was open at that moment."""

    def __init__(self, broker: Mosquitto, runner: DaemonThread):
        self.seen: list[tuple[dict, bool]] = []
        self.errors: list[BaseException] = []
        self._runner = runner
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"state-probe-{time.monotonic_ns()}")
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe("meeting/state", qos=1)
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        assert self._subscribed.wait(10), "state probe did not subscribe"

    def _on_message(self, client, userdata, msg) -> None:
        try:
            gate_open = self._runner.daemon.diagnostics().gate.open  # read first: as close to arrival as possible
            with self._lock:
                self.seen.append((json.loads(msg.payload), gate_open))
        except Exception as exc:  # never into paho's thread
            self.errors.append(exc)

    def next(self, state: str, after: int = -1, timeout: float = 20.0) -> tuple[int, dict, bool]:
        """The first `state` seen after index `after`: (index, message, gate open at its arrival)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for index, (message, gate_open) in enumerate(self.seen):
                    if index > after and message["state"] == state:
                        return index, message, gate_open
            time.sleep(0.02)
        raise AssertionError(f"no {state} state after #{after}; seen {[m['state'] for m, _ in self.seen]}")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


# -- 1. remote control --------------------------------------------------------------------------------


def test_remote_commands_drive_a_running_daemon(tmp_path, mosquitto, emulator, recorders):
    wav, _ = write_script_wav(tmp_path, "Guest-1: Good morning everyone.\nGuest-2: Shall we start?\n[silence 40]\n")
    config = write_config(tmp_path, mosquitto, emulator.host_url, wav)
    rec = recorders(mosquitto)
    with DaemonThread(load_config(config)) as runner:
        rec.wait_for(lambda: len(transcripts(rec)) >= 2, 30, "the first two utterances")
        meeting_id = wait_state(rec, "transcribing")["meeting_id"]

        done = roomscribe("pause", "-c", str(config), "--request-id", "e2e-pause-1")
        assert done.returncode == exitcodes.OK, done.stderr
        assert "state: paused" in done.stdout and "request e2e-pause-1" in done.stdout, done.stdout
        assert f"meeting {meeting_id}" in done.stdout
        assert runner.daemon.diagnostics().gate.open is False

        done = roomscribe("status", "-c", str(config))
        assert done.returncode == exitcodes.OK, done.stderr
        assert "availability: online" in done.stdout and "state: paused" in done.stdout, done.stdout

        done = roomscribe("resume", "-c", str(config), "--json")
        assert done.returncode == exitcodes.OK, done.stderr
        answer = json.loads(done.stdout)
        assert answer["state"] == "transcribing" and answer["request_id"].startswith("cli-")
        assert answer["meeting_id"] == meeting_id and answer["speaker_epoch"] == 1  # the same cloud session
        assert runner.daemon.diagnostics().gate.open is True

        first = roomscribe("pause", "-c", str(config), "--request-id", "e2e-pause-2")
        again = roomscribe("pause", "-c", str(config), "--request-id", "e2e-pause-3")
        assert first.returncode == exitcodes.OK and "state: paused" in first.stdout, first.stderr
        # Asking for what is already true is acknowledged: the unchanged state with the new request_id.
        assert again.returncode == exitcodes.OK, again.stderr
        assert "state: paused" in again.stdout and "request e2e-pause-3" in again.stdout, again.stdout
        assert runner.daemon.diagnostics().gate.stats.closes == 2  # the second pause closed nothing

        done = roomscribe("stop", "-c", str(config))
        # The first state that echoes the request: the sentence in flight is being finished.
        assert done.returncode == exitcodes.OK and "state: stopping" in done.stdout, (done.stdout, done.stderr)
        wait_state(rec, "idle")

        done = roomscribe("resume", "-c", str(config), "--request-id", "e2e-resume-idle")
        assert done.returncode == exitcodes.FAILURE, (done.stdout, done.stderr)
        assert "refused resume: no meeting in progress" in done.stdout
        refusal = rec.wait_for(lambda: [e for e in rec.json_on("meeting/event")
                                        if e["kind"] == "command_refused" and e["request_id"] == "e2e-resume-idle"],
                               10, "the command_refused event")[0]
        assert refusal["detail"]["command"] == "resume" and refusal["level"] == "warning"
        assert states(rec)[-1]["state"] == "idle"
    rec.wait_for(lambda: rec.on("meeting/availability")[-1].payload == b"offline", 10, "offline on a clean stop")
    # The daemon answered each command with a state carrying its request_id, in the order they were sent.
    answered = [s["request_id"] for s in states(rec) if (s["request_id"] or "").startswith("e2e-")]
    assert list(dict.fromkeys(answered)) == ["e2e-pause-1", "e2e-pause-2", "e2e-pause-3"]
    used = assert_daemon_payloads_valid(rec)
    assert used >= {"state", "availability", "transcript", "partial", "event", "speech_connection"}, used


def test_partials_name_no_speaker_without_intermediate_diarization(tmp_path, mosquitto, emulator, recorders):
    wav, _ = write_script_wav(tmp_path, "Guest-1: Good morning everyone, let us begin.\n")
    rec = recorders(mosquitto, "meeting/transcript/#")
    with DaemonThread(load_config(write_config(tmp_path, mosquitto, emulator.host_url, wav))):
        rec.wait_for(lambda: transcripts(rec), 30, "the utterance")
    partials = rec.json_on("meeting/transcript/partial")
    assert_daemon_payloads_valid(rec)
    assert partials, "no partial was published"
    assert transcripts(rec)[0]["speaker"] == "Guest-1"
    assert {p["speaker"] for p in partials} == {None}, {p["speaker"] for p in partials}


# -- 2. Home Assistant --------------------------------------------------------------------------------


def test_home_assistant_switch_pauses_and_shows_paused_only_once_the_gate_is_closed(
    tmp_path, mosquitto, emulator, recorders
):
    wav, _ = write_script_wav(tmp_path, "Guest-1: Good morning everyone.\n[silence 30]\n")
    config = write_config(tmp_path, mosquitto, emulator.host_url, wav)
    rec = recorders(mosquitto, ["meeting/#", "homeassistant/#"])
    with DaemonThread(load_config(config)) as runner:
        probe = StateProbe(mosquitto, runner)
        try:
            rec.wait_for(lambda: transcripts(rec), 30, "the first utterance")
            wait_state(rec, "transcribing")

            # Discovery is retained: a Home Assistant that connects now still finds every entity.
            configs = {topic: retained(mosquitto, topic) for topic in DISCOVERY_TOPICS}
            assert all(configs.values()), [t for t, p in configs.items() if not p]
            switch = json.loads(configs[DISCOVERY_TOPICS[0]])
            assert switch["command_topic"] == "meeting/paused/set" and switch["state_topic"] == "meeting/state"
            assert (switch["payload_on"], switch["payload_off"], switch["optimistic"]) == ("ON", "OFF", False)
            assert "value_json.state == 'paused'" in switch["value_template"]
            assert switch["unique_id"] == f"roomscribe_{ROOM}_paused"
            assert switch["availability"][0]["topic"] == "meeting/availability"

            rec.publish("meeting/paused/set", "ON")
            at, paused, gate_open = probe.next("paused")
            assert gate_open is False, "meeting/state said paused while the gate was still open"
            assert runner.daemon.diagnostics().gate.stats.closes == 1

            rec.publish("meeting/paused/set", "OFF")
            _, resumed, gate_open = probe.next("transcribing", after=at)
            assert gate_open is True and resumed["since"] >= paused["since"]
            assert resumed["meeting_id"] == paused["meeting_id"] and resumed["speaker_epoch"] == paused["speaker_epoch"]

            # Home Assistant restarted: its birth message makes the daemon announce everything again.
            before = len(rec.messages)
            rec.publish("homeassistant/status", "online")
            wanted = {*DISCOVERY_TOPICS, "meeting/availability"}
            rec.wait_for(lambda: {m.topic for m in rec.messages[before:]} >= wanted, 10,
                         "discovery and availability published again")
            again = rec.messages[before:]
            order = [m.topic for m in again]
            assert order.index("meeting/availability") > max(order.index(t) for t in DISCOVERY_TOPICS)
            assert order.index("meeting/availability") > order.index("meeting/state")
            assert {m.payload for m in again if m.topic in DISCOVERY_TOPICS} == set(configs.values())
        finally:
            probe.close()
    assert not probe.errors, probe.errors
    # Every state on the way: paused only with the gate closed, transcribing only with it open.
    for message, gate_open in probe.seen:
        if message["state"] == "paused":
            assert gate_open is False
        elif message["state"] == "transcribing":
            assert gate_open is True
    used = assert_daemon_payloads_valid(rec)
    assert used >= {"state", "availability", "transcript", "event", "speech_connection"}, used
    # The archive: exactly what was published, the pause as its start and end (the state's `since`).
    assert_archive_holds_exactly(tmp_path / "journal.sqlite3", lambda: transcripts(rec))
    [record] = records(tmp_path / "journal.sqlite3")
    [pause] = record.pauses
    assert pause.start == pytest.approx(from_iso_utc(paused["since"]), abs=0.001)  # the payload has milliseconds
    assert pause.end == pytest.approx(from_iso_utc(resumed["since"]), abs=0.001)


# -- 3a. a 30-second broker outage in the middle of a meeting -----------------------------------------

OUTAGE_S = 30.0
OUTAGE_LINES = [
    "Guest-2: The broker is down while I say this.",
    "Guest-1: Then this waits in the journal.",
    "Guest-3: Item three is the budget for next year.",
    "Guest-2: We keep the order of what was said.",
    "Guest-1: Nothing may be lost in between.",
    "Guest-3: Sequence numbers have no gaps.",
    "Guest-2: The journal is on disk.",
    "Guest-1: Every line is stored first.",
    "Guest-3: Then it is published once the broker is back.",
    "Guest-2: This is the last line of the outage.",
]
OUTAGE_MEETING = "\n".join([
    "Guest-1: Good morning, the broker is up.",
    "Guest-2: Both of these arrive at once.",
    "[silence 6]",  # three seconds to take the broker down before the next line starts
    *"\n[silence 3]\n".join(OUTAGE_LINES).splitlines(),  # spread over the 30 seconds
    "[silence 12]",  # the broker comes back in here
    "Guest-1: The broker is back now.",
    "Guest-3: And the meeting goes on.",
]) + "\n"


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_30_second_broker_outage_mid_meeting_loses_no_utterance(tmp_path, emulator, recorders):
    wav, planned = write_script_wav(tmp_path, OUTAGE_MEETING)
    broker = Mosquitto(tmp_path, persistence=True).start()
    try:
        # A persistent session: what the daemon delivers before this subscriber is back waits at the broker.
        rec = recorders(broker, "meeting/#", client_id="e2e-dashboard", persistent_session=True)
        config = write_config(tmp_path, broker, emulator.host_url, wav)
        with DaemonThread(load_config(config)) as runner:
            rec.wait_for(lambda: len(transcripts(rec)) >= 2, 30, "the two utterances before the outage")
            started_at = runner.daemon.source.started_at
            broker.stop()
            outage_from = time.time()
            assert outage_from < wall_time(started_at, planned[2].start), "the test was too slow to start the outage"
            time.sleep(max(0.0, outage_from + OUTAGE_S - time.time()))
            held = waiting_rows(tmp_path / "journal.sqlite3")
            assert not runner.daemon.diagnostics().output("mqtt").working  # not announced to any broker
            broker.start()
            outage_to = time.time()
            got = rec.wait_for(lambda: (lambda u: u if len(u) >= len(planned) else None)(unique(transcripts(rec))),
                               40, "every utterance after the outage")
            reconnected = rec.wait_for(lambda: [e for e in rec.json_on("meeting/event")
                                                if e["kind"] == "mqtt_reconnected"], 10, "mqtt_reconnected")[0]
        inside = [p for p in planned if outage_from < wall_time(started_at, p.start)
                  and wall_time(started_at, p.end) + 0.5 < outage_to]
        assert len(inside) >= 8, f"only {len(inside)} utterances fell inside the outage"
        # Each one waited in the journal and reached the subscriber only once the broker was back.
        assert len(held) >= len(inside)
        assert reconnected["detail"]["pending_utterances"] >= len(inside)
        arrived = {}
        for seen in rec.on("meeting/transcript"):
            arrived.setdefault(json.loads(seen.payload)["text"], seen.at)
        assert all(arrived[p.text] > outage_to for p in inside)
        # Every utterance, in the order spoken, seq 1..N without a gap, one meeting.
        assert [u["text"] for u in got] == [p.text for p in planned]
        assert [u["seq"] for u in got] == list(range(1, len(planned) + 1))
        assert len({u["meeting_id"] for u in got}) == 1
        assert waiting_rows(tmp_path / "journal.sqlite3") == []  # the stop wrote the last acknowledgements
        used = assert_daemon_payloads_valid(rec)
        assert used >= {"state", "availability", "transcript", "event"}, used
        assert_archive_holds_exactly(tmp_path / "journal.sqlite3", lambda: transcripts(rec))
    finally:
        broker.stop()


# -- 3b. SIGKILL while the broker is down -------------------------------------------------------------

KILL_MEETING = """\
Guest-1: This one is delivered at once.
[silence 5]
Guest-2: The broker is down now.
Guest-1: This line waits on disk.
Guest-2: So does this one.
[silence 10]
"""


def start_daemon(config: Path) -> subprocess.Popen:
    """The daemon as a process; its log goes to a file next to the config (a pipe nobody reads could fill)."""
    log = open(config.with_suffix(".log"), "wb")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "roomscribe", "run", "-c", str(config)],
                                stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()
    proc.log_path = config.with_suffix(".log")
    return proc


def end(proc: subprocess.Popen, signum: int = signal.SIGTERM) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signum)
    try:
        code = proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait(5)
    return code, proc.log_path.read_text(errors="replace")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_utterances_stored_during_an_outage_survive_sigkill_and_keep_their_identity(tmp_path, emulator, recorders):
    wav, planned = write_script_wav(tmp_path, KILL_MEETING)
    journal = tmp_path / "journal.sqlite3"
    broker = Mosquitto(tmp_path).start()
    first = second = None
    try:
        before_kill = recorders(broker, "meeting/#")
        first = start_daemon(write_config(tmp_path, broker, emulator.host_url, wav))
        delivered = before_kill.wait_for(lambda: transcripts(before_kill), 40, "the first utterance")[0]
        meeting_id = delivered["meeting_id"]
        before_kill.close()
        broker.stop()

        during = [(meeting_id, 2), (meeting_id, 3), (meeting_id, 4)]
        deadline = time.monotonic() + 30
        while waiting_rows(journal)[-3:] != during:
            assert first.poll() is None, end(first)[1]
            assert time.monotonic() < deadline, f"the journal holds {waiting_rows(journal)} for the broker"
            time.sleep(0.1)
        code, output = end(first, signal.SIGKILL)
        assert code == -signal.SIGKILL, output
        # The first utterance's PUBACK rode on the next commit, unless the broker went away before it came:
        # then that one waits too. Whatever waits is sent again, and nothing else.
        stored = waiting_rows(journal)
        assert stored in (during, [(meeting_id, 1), *during])
        # One file holds both: whatever waits for the broker is in the record too, after SIGKILL.
        [killed] = records(journal)
        assert [(u.meeting_id, u.seq) for u in killed.utterances] == [(meeting_id, 1), *during]
        assert killed.meeting.end is None  # nobody ended it: the next start does
        sessions_before = len(emulator.record.accepted_connections())

        broker.start()
        rec = recorders(broker, "meeting/#")
        second = start_daemon(write_config(tmp_path, broker, emulator.host_url, wav, name="restart", autostart=False))
        got = rec.wait_for(lambda: (lambda t: t if len(t) >= len(stored) else None)(transcripts(rec)), 40,
                           "the stored utterances")
        # Delivered after the restart as they were stored: original meeting_id and seq, in order, with their text.
        assert [(u["meeting_id"], u["seq"]) for u in got] == stored
        assert [u["text"] for u in got] == [p.text for p in planned[4 - len(stored):4]]
        idle = wait_state(rec, "idle")
        assert idle["meeting_id"] is None  # no meeting was started: autostart is off
        time.sleep(0.5)
        assert len(transcripts(rec)) == len(stored), "an utterance was delivered twice"
        assert len(emulator.record.accepted_connections()) == sessions_before
        code, output = end(second)
        assert code == exitcodes.OK, output
        assert waiting_rows(journal) == []  # the clean stop wrote the acknowledgements
        rec.wait_for(lambda: rec.on("meeting/availability")[-1].payload == b"offline", 10, "offline")
        used = assert_daemon_payloads_valid(before_kill, rec)
        assert used >= {"state", "availability", "transcript", "partial", "event", "speech_connection"}, used
        assert_archive_holds_exactly(journal, lambda: transcripts(before_kill) + transcripts(rec))
        [ended] = records(journal)
        assert ended.meeting.end == max(u.end for u in ended.utterances)  # ended at its last known moment
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                end(proc, signal.SIGKILL)
        broker.stop()
