"""10,000 random and malformed payloads on the command topics, through a real Mosquitto.

Each one must be refused with an event, none may reach the owner, the retained state must stay as
it was, and the link must still work afterwards.
"""

from __future__ import annotations

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomscribe.core.records import StateMessage
from roomscribe.outputs.mqtt.commands import Command
from tests.outputs.mqtt.conftest import ROOM, make_settings
from tests.outputs.mqtt.test_mqtt_commands import MALFORMED, valid_by_schema
from tests.support.mosquitto import Recorder, retained

TOPICS = ["meeting/start", "meeting/stop", "meeting/pause", "meeting/resume", "meeting/paused/set"]
PAYLOADS = 10_000
BATCH = 100


def malformed(topic: str, payload: bytes) -> bool:
    if topic == "meeting/paused/set":
        return payload.strip(b" \t\r\n") not in (b"ON", b"OFF")
    return not valid_by_schema(payload)


def test_10000_malformed_payloads_change_nothing_and_crash_nothing(mosquitto, tmp_path, links):
    item = links(make_settings(mosquitto, tmp_path)).start()
    item.wait_connected()
    item.link.publish_state(StateMessage("transcribing", time.time(), "m1", 1, "before", "", ROOM))
    events = Recorder(mosquitto, "meeting/event")
    sender = Recorder(mosquitto, "nothing/here")
    sent: list[tuple[str, bytes]] = []

    # Drawn in batches (Hypothesis spends about 2 ms on each example); about 2/3 of MALFORMED is malformed.
    @settings(max_examples=PAYLOADS * 18 // (10 * BATCH), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(st.tuples(st.sampled_from(TOPICS), MALFORMED), min_size=BATCH, max_size=BATCH))
    def publish(batch: list[tuple[str, bytes]]) -> None:
        for topic, payload in batch:
            if len(sent) == PAYLOADS or not malformed(topic, payload):
                continue
            sender.client.publish(topic, payload, qos=1)  # no wait: the flood arrives as fast as paho sends it
            sent.append((topic, payload))
        # Mosquitto queues at most 1000 messages per client (max_queued_messages) and drops the rest:
        # keep the flood within that, or the broker, not roomscribe, would lose payloads.
        events.wait_for(lambda: len(events.on("meeting/event")) >= len(sent) - 400, timeout=60, what="the link")

    publish()
    assert len(sent) == PAYLOADS
    events.wait_for(lambda: len(events.on("meeting/event")) >= len(sent), timeout=90, what="one refusal each")
    refusals = events.json_on("meeting/event")
    assert len(refusals) == len(sent)
    assert {r["kind"] for r in refusals} == {"command_refused"}
    assert [r["detail"]["topic"] for r in refusals] == [topic for topic, _ in sent]  # in order, one each
    assert item.commands == []
    assert json.loads(retained(mosquitto, "meeting/state"))["request_id"] == "before"
    assert item.link.connected and item.connection_changes == [True]

    sender.publish("meeting/pause", json.dumps({"request_id": "after-the-flood"}))
    events.wait_for(lambda: item.commands, what="a valid command after the flood")
    assert item.commands == [Command("pause", "after-the-flood")]
    events.close()
    sender.close()
