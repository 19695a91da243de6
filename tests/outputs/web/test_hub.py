"""The page's live picture and its feeds (outputs/web/hub.py), on a plain asyncio loop."""

from __future__ import annotations

import asyncio

import pytest

from roomscribe.core.records import AudioStats, Event, Partial, StateMessage, Utterance
from roomscribe.outputs.web.hub import FeedClosed, LiveHub


def state(name: str, meeting_id: str | None = "m1", request_id: str | None = None) -> StateMessage:
    return StateMessage(state=name, since=10.0, meeting_id=meeting_id, speaker_epoch=1, request_id=request_id,
                        detail="", room="r", audio="flowing")


def utterance(seq: int, meeting_id: str = "m1") -> Utterance:
    return Utterance(meeting_id=meeting_id, seq=seq, speaker="Guest-1", speaker_epoch=1, text=f"line {seq}",
                     start=10.0 + seq, end=11.0 + seq, offset_ms=0, duration_ms=1000, language="en-US", room="r")


def run(coroutine):
    return asyncio.run(coroutine)


def test_hello_has_the_whole_picture():
    async def body():
        hub = LiveHub("boardroom", clock=lambda: 99.0)
        hub.event(Event("meeting_started", {"meeting_id": "m1"}, at=5.0, room="r"))
        hub.state(state("transcribing"))
        hub.speech_connection(True)
        hub.stats(AudioStats(sending=True, sent_today_s=3, sent_meeting_s=2, audio_overflows=0, at=9, room="r"))
        hub.partial(Partial("m1", "Guest-2", "the numbers", 12.0, "r"))
        hello = hub.hello(history=True)
        assert hello["room"] == "boardroom" and hello["history"] is True
        assert hello["status"]["meeting"] == {"id": "m1", "start": 5.0}
        assert hello["status"]["banner"]["kind"] == "live" and hello["status"]["now"] == 99.0
        assert hello["partial"]["text"] == "the numbers" and hello["stats"]["audio_sent_meeting_s"] == 2
        hub.utterance(utterance(1))  # the final replaces the line in flight
        assert hub.hello()["partial"] is None
        hub.state(state("idle", None))
        status = hub.hello()["status"]
        assert status["meeting"] is None and status["banner"]["kind"] == "not_transcribing"

    run(body())


def test_feeds_get_every_record_in_order_and_a_slow_one_is_closed():
    async def body():
        hub = LiveHub("r", backlog=5)
        fast, slow = hub.subscribe(), hub.subscribe()
        got = []
        for seq in range(1, 9):
            hub.utterance(utterance(seq))
            got.append(await fast.next(1))
        assert [(i.kind, i.seq) for i in got] == [("utterance", s) for s in range(1, 9)]
        assert slow.closed and slow.overflowed and hub.feeds == 1  # it fell 5 behind: closed, not grown
        for _ in range(5):
            assert (await slow.next(1)).kind == "utterance"
        with pytest.raises(FeedClosed):
            await slow.next(1)
        assert await fast.next(0.01) is None  # nothing more: a timeout, which the feed turns into a ping
        hub.close_all()
        with pytest.raises(FeedClosed):
            await fast.next(1)

    run(body())


def test_a_command_is_answered_by_its_state_or_its_refusal():
    async def body():
        hub = LiveHub("r")
        paused, refused = hub.expect("web-1"), hub.expect("web-2")
        hub.state(state("transcribing", request_id="someone-else"))
        assert not paused.done()
        hub.state(state("paused", request_id="web-1"))
        hub.event(Event("command_refused", {"command": "resume", "reason": "no meeting"}, at=1.0, room="r",
                        request_id="web-2", level="warning"))
        assert paused.result() == ("state", state("paused", request_id="web-1").to_payload())
        kind, payload = refused.result()
        assert kind == "refused" and payload["detail"]["reason"] == "no meeting"

    run(body())


def test_names_are_kept_for_the_meeting_and_sent():
    async def body():
        hub = LiveHub("r")
        hub.state(state("transcribing"))
        feed = hub.subscribe()
        names = [{"speaker_epoch": 1, "speaker": "Guest-1", "name": "Alice"}]
        hub.speakers("m1", names)
        item = await feed.next(1)
        assert item.kind == "speakers" and item.data == {"meeting_id": "m1", "speakers": names}
        assert hub.hello()["speakers"] == names

    run(body())


def test_a_stalled_speech_connection_is_kept_as_said_and_shown_as_unreachable():
    hub = LiveHub("r")
    hub.state(state("transcribing"))
    hub.speech_connection("stalled")
    status = hub.status()
    assert status["speech_connection"] == "stalled" and status["banner"]["kind"] == "speech"
