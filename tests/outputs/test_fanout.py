"""The fan-out: every output gets every record in the owner's order; one failing starves no other; the
outputs that keep something commit it before any output stops, and the link stops before the journal."""

from __future__ import annotations

from roomscribe.core.records import Event, SpeakerMap, StateMessage, Utterance
from roomscribe.outputs.base import OutputDiagnostics
from roomscribe.outputs.fanout import FanOut


def utterance(seq: int) -> Utterance:
    return Utterance("m1", seq, "Guest-1", 1, f"line {seq}", 100.0 + seq, 100.5 + seq, seq * 1000, 500, "en-US", "room")


def state(name: str) -> StateMessage:
    return StateMessage(state=name, since=1.0, meeting_id="m1", speaker_epoch=1, request_id=None, detail=name,
                        room="room")


class Recording:
    def __init__(self, name: str, log: list, flushes: bool = False, broken: bool = False):
        self.name, self.log, self.broken = name, log, broken
        if flushes:
            self.flush = lambda: self.log.append((self.name, "flush"))

    def _seen(self, what) -> None:
        self.log.append((self.name, what))
        if self.broken:
            raise RuntimeError(f"{self.name} is broken")

    def start(self): self._seen("start")
    def stop(self): self._seen("stop")
    def publish_state(self, msg): self._seen(("state", msg.state))
    def publish_event(self, event): self._seen(("event", event.kind))
    def publish_partial(self, partial): self._seen(("partial", partial.text))
    def set_speech_connected(self, connected): self._seen(("speech", connected))
    def publish_stats(self, stats): self._seen(("stats",))
    def submit_transcript(self, utt): self._seen(("utterance", utt.seq))
    def publish_speakers(self, speakers): self._seen(("speakers", speakers.meeting_id))
    def diagnostics(self): return (OutputDiagnostics(self.name, not self.broken),)


def test_every_output_gets_every_record_in_the_owners_order():
    log: list = []
    journal, link = Recording("journal", log), Recording("link", log)
    fan = FanOut([journal, link])
    fan.start()
    fan.submit_transcript(utterance(1))
    fan.publish_state(state("paused"))
    fan.publish_event(Event("x", {}, 1.0, "room"))
    fan.set_speech_connected(True)
    fan.publish_speakers(SpeakerMap("room", "m1", 1, ((1, "Guest-1", "Alice"),)))
    for name in ("journal", "link"):
        assert [what for who, what in log if who == name] == [
            "start", ("utterance", 1), ("state", "paused"), ("event", "x"), ("speech", True), ("speakers", "m1")]
    assert fan.diagnostics() == (OutputDiagnostics("journal", True), OutputDiagnostics("link", True))


def test_one_output_failing_starves_no_other(caplog):
    log: list = []
    fan = FanOut([Recording("journal", log, broken=True), Recording("link", log)])
    fan.submit_transcript(utterance(1))
    fan.publish_event(Event("x", {}, 1.0, "room"))
    assert [what for who, what in log if who == "link"] == [("utterance", 1), ("event", "x")]
    assert "journal is broken" in caplog.text


def test_stop_flushes_what_is_kept_first_then_stops_the_link_before_the_journal():
    log: list = []
    fan = FanOut([Recording("journal", log, flushes=True), Recording("link", log)])
    fan.stop()
    assert log == [("journal", "flush"), ("link", "stop"), ("journal", "stop")]
