"""The link worker's promise, without a broker: `announced` (what `MqttLink.connected` reports) waits for
the broker's acknowledgement of `online`, not for paho to have taken it."""

from __future__ import annotations

import itertools

from roomscribe.config import settings_from_data
from roomscribe.outputs.journal.waiting import Deliveries, Waiting
from roomscribe.outputs.mqtt.topics import AVAILABLE, Topics
from roomscribe.outputs.mqtt.worker import LinkWorker


class Sent:
    def __init__(self, mid: int):
        self.mid = mid


class PahoStandIn:
    """Takes publishes as paho does: each gets a message id; the acknowledgements come later, if at all."""

    def __init__(self):
        self.published: list[tuple[str, bytes, int]] = []
        self._mids = itertools.count(1)

    def publish(self, topic, payload, qos=1, retain=False, properties=None):
        sent = Sent(next(self._mids))
        self.published.append((topic, payload, sent.mid))
        return sent

    def mid_of(self, topic: str, payload) -> int:
        return next(mid for t, p, mid in self.published if t == topic and p == payload)


def make_worker(tmp_path):
    settings = settings_from_data({"room": "r"})
    client = PahoStandIn()
    nothing_waits = Deliveries(tmp_path / "no-journal-yet.sqlite3", Waiting())
    worker = LinkWorker(settings, client, Topics("meeting"), nothing_waits, discovery=[],
                        on_connection_change=None, clock=lambda: 0.0)
    worker.link_up = True
    return worker, client


def test_the_link_is_announced_only_when_the_broker_acknowledged_online(tmp_path):
    worker, client = make_worker(tmp_path)
    worker.connected_job([], None)
    online = client.mid_of("meeting/availability", AVAILABLE)
    assert not worker.announced  # paho has it; the broker may not
    for topic, _, mid in client.published:
        if mid != online:
            worker.acked_job(mid, None)
    assert not worker.announced  # other acknowledgements do not count
    worker.acked_job(online, None)
    assert worker.announced


def test_a_late_acknowledgement_of_an_earlier_connection_announces_nothing(tmp_path):
    worker, client = make_worker(tmp_path)
    worker.connected_job([], None)
    first_online = client.mid_of("meeting/availability", AVAILABLE)
    worker.disconnected_job("test")
    worker.acked_job(first_online, None)
    assert not worker.announced
