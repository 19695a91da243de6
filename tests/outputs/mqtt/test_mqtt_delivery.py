"""Journal -> broker bookkeeping, with a recording publish function in place of paho (the broker tests
in test_mqtt_link.py and test_mqtt_outage.py cover the same path end to end)."""

from __future__ import annotations

import json

import pytest

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from roomscribe.outputs.mqtt.delivery import WINDOW, TranscriptDelivery
from tests.support.journal import JournalUnderTest
from tests.support.mqtt_link_process import utterance

OK = ReasonCode(PacketTypes.PUBACK, "Success")
NOT_AUTHORIZED = ReasonCode(PacketTypes.PUBACK, "Not authorized")


class Wire:
    def __init__(self):
        self.sent: list[tuple[int, int]] = []  # (mid, seq)
        self.online = True

    def publish(self, payload: bytes) -> int | None:
        if not self.online:
            return None
        mid = len(self.sent) + 1
        self.sent.append((mid, json.loads(payload)["seq"]))
        return mid


@pytest.fixture
def filled(tmp_path):
    """The journal's delivery view with n utterances stored and waiting."""
    made = []

    def fill(n: int):
        journal = JournalUnderTest(tmp_path / f"j{len(made)}.sqlite3", wait=False)
        made.append(journal)
        for seq in range(1, n + 1):
            journal.add_utterance(utterance("m", seq, "r", 1.0))
        journal.flush()
        return journal.journal.deliveries

    yield fill
    for journal in made:
        journal.close()


def test_sends_in_order_within_the_window_and_forgets_on_ack(filled):
    box, wire = filled(WINDOW + 20), Wire()
    delivery = TranscriptDelivery(box, wire.publish)
    delivery.pump()
    assert [seq for _, seq in wire.sent] == list(range(1, WINDOW + 1))
    for mid, _ in wire.sent[:10]:
        delivery.acknowledged(mid, OK)
    delivery.flush()
    delivery.pump()
    assert [seq for _, seq in wire.sent] == list(range(1, WINDOW + 11))
    assert len(box) == WINDOW + 10 and delivery.in_flight == WINDOW


def test_after_a_reconnect_the_unacknowledged_go_again_oldest_first(filled):
    box, wire = filled(5), Wire()
    delivery = TranscriptDelivery(box, wire.publish)
    delivery.pump()
    delivery.acknowledged(2, OK)  # only seq 2 made it
    delivery.flush()
    wire.sent.clear()
    delivery.restart()
    delivery.pump()
    assert [seq for _, seq in wire.sent] == [1, 3, 4, 5]
    assert delivery.acknowledged(999, OK) is None  # a stale mid changes nothing


def test_offline_stops_the_pump_without_losing_its_place(filled):
    box, wire = filled(3), Wire()
    wire.online = False
    delivery = TranscriptDelivery(box, wire.publish)
    delivery.pump()
    assert wire.sent == [] and delivery.in_flight == 0
    wire.online = True
    delivery.pump()
    assert [seq for _, seq in wire.sent] == [1, 2, 3]


def test_a_refused_transcript_is_held_until_the_next_connection(filled):
    box, wire = filled(3), Wire()
    delivery = TranscriptDelivery(box, wire.publish)
    delivery.pump()
    assert delivery.acknowledged(1, NOT_AUTHORIZED) == "Not authorized (135)"
    delivery.flush()
    delivery.pump()
    assert len(wire.sent) == 3 and len(box) == 3  # not re-sent at once, not forgotten
    delivery.restart()
    delivery.pump()
    assert [seq for _, seq in wire.sent[3:]] == [1, 2, 3]
