"""A stand-in daemon process for the MQTT tests that need one to die: an MqttLink and its journal, nothing else.

    python -m tests.support.mqtt_link_process SETTINGS_JSON [--utterances N --meeting-id ID]

Prints `connected` once the link is connected (with --wait-connected), waits for a line on stdin
(with --go-on-stdin), stores N utterances of meeting ID in the journal, prints `stored N` once they
are committed, and waits to be killed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from roomscribe.config import settings_from_data
from roomscribe.core.records import Utterance
from roomscribe.outputs.journal.journal import Journal
from roomscribe.outputs.mqtt.link import MqttLink


def utterance(meeting_id: str, seq: int, room: str, at: float) -> Utterance:
    return Utterance(
        meeting_id=meeting_id, seq=seq, speaker=f"Guest-{seq % 2 + 1}", speaker_epoch=1,
        text=f"utterance number {seq}", start=at, end=at + 1.5, offset_ms=seq * 2000, duration_ms=1500,
        language="en-US", room=room,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("settings")
    parser.add_argument("--utterances", type=int, default=0)
    parser.add_argument("--meeting-id", default="m-killed")
    parser.add_argument("--wait-connected", action="store_true")
    parser.add_argument("--go-on-stdin", action="store_true", help="store the utterances after a line on stdin")
    args = parser.parse_args()
    settings = settings_from_data(json.loads(args.settings))
    connected = threading.Event()
    journal = Journal.from_settings(settings).start()
    link = MqttLink(settings, on_command=lambda c: None, transcripts=journal.deliveries,
                    on_connection_change=lambda up: connected.set() if up else None)
    journal.writer.on_stored = link.wake
    link.start()
    if args.wait_connected:
        if not connected.wait(20):
            sys.exit("no connection")
        print("connected", flush=True)
    if args.go_on_stdin:
        sys.stdin.readline()
    stored = [journal.writer.utterance(utterance(args.meeting_id, seq, settings.room, time.time()))
              for seq in range(1, args.utterances + 1)]
    for future in stored:
        future.result(30)  # durable, as the daemon's own utterances are before anything is published
    print(f"stored {args.utterances}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
