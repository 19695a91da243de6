"""The Azure adapter's phrase list, language identification and profanity on the wire: the real SDK
(speech/azure.py's AzureSpeechSession) against the emulator, which reads them from speech.context as
SDK 1.53 sends them (docs/emulator.md) and answers as docs/words.md describes.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from roomscribe.emulator import EmulatorThread
from roomscribe.emulator.script import parse_script, synthesize
from roomscribe.speech.azure import AzureSpeechSession
from roomscribe.speech.session import SpeechTarget, Transcribed

KEY = "test-key"
MIXED = """\
Anna: Good morning, welcome to {Contoso}.
Ben: <de-DE> Guten Morgen, hier ist {Fabrikam}.
Anna: Shall we begin?
Ben: <de-DE> Ja, gerne.
"""


class Session:
    """An AzureSpeechSession and what it emitted (SDK threads append; list.append is atomic)."""

    def __init__(self, emu: EmulatorThread, *, candidates=(), mode="continuous", phrases=(), profanity="masked"):
        target = SpeechTarget(key=KEY, region="westeurope", host=emu.host_url,
                              language=candidates[0] if candidates else "en-US", segmentation_silence_ms=500,
                              diarize_intermediates=False, candidates=tuple(candidates), language_id_mode=mode,
                              profanity=profanity)
        self.events: list = []
        self.changed = threading.Event()
        self.session = AzureSpeechSession(target, self._emit, epoch=1)
        self.session.set_phrases(tuple(phrases))
        self.session.start()

    def _emit(self, event) -> None:
        self.events.append(event)
        self.changed.set()

    def finals(self) -> list[Transcribed]:
        return [e for e in self.events if isinstance(e, Transcribed)]

    def say(self, script: str, *, then=None) -> list[Transcribed]:
        """Write the script's audio; `then(done)` runs once `done` phrases came, before the rest is awaited."""
        pcm, planned = synthesize(parse_script(script), lead_in=0.3, tail=1.2, default_gap=0.8)
        audio = pcm.tobytes()
        audio += bytes(-len(audio) % 3200)  # the SDK sends whole 100 ms reads: no remainder left behind
        before = len(self.finals())
        self.session.write(audio)
        self.wait(lambda: len(self.finals()) >= before + len(planned), f"{len(planned)} phrases")
        return self.finals()[before:]

    def wait(self, predicate, what: str, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; events {self.events[-5:]}"
            self.changed.wait(0.1)
            self.changed.clear()

    def finish(self) -> None:
        self.session.finish(graceful=True)


def spoken(finals: list[Transcribed]) -> list[tuple[str, str | None]]:
    return [(f.text, f.language) for f in finals]


@pytest.fixture
def emu():
    with EmulatorThread(key=KEY) as emulator:
        yield emulator


def test_the_phrase_list_is_on_the_wire_in_every_turn_and_changes_the_transcript(emu):
    first = Session(emu, phrases=("Contoso", "Jessie Irwin"))
    assert spoken(first.say("Anna: Welcome to {Contoso}, {Jessie Irwin}.\nBen: Hello {Fabrikam}.")) == [
        ("Welcome to Contoso, Jessie Irwin.", None), ("Hello fab rikam.", None)]
    emu.close_connections(1000, "Exceeded maximum websocket connection idle duration(> 300000ms)")
    assert spoken(first.say("Anna: Back at {Contoso}.")) == [("Back at Contoso.", None)]  # after the reconnect
    first.finish()
    second = Session(emu, phrases=("Contoso", "Jessie Irwin"))  # a new session: a new transcriber
    assert spoken(second.say("Ben: {Contoso} again.")) == [("Contoso again.", None)]
    second.finish()
    turns = emu.record.turns
    assert len({t.connection for t in turns}) >= 3 and len({t.audio_session_id for t in turns}) == 2
    assert {t.phrase_list for t in turns} == {("Contoso", "Jessie Irwin")}
    # As SDK 1.53 puts it in speech.context (docs/emulator.md).
    assert turns[0].context["dgi"] == {"Groups": [{"Type": "Generic", "Items": [{"Text": "Contoso"},
                                                                               {"Text": "Jessie Irwin"}]}],
                                       "bias": 1.0}


def test_without_a_list_a_term_is_misheard(emu):
    plain = Session(emu)
    assert spoken(plain.say("Anna: Welcome to {Contoso}.")) == [("Welcome to kon toso.", None)]
    plain.finish()
    assert "dgi" not in emu.record.turns[0].context


def test_a_list_changed_mid_session_goes_out_with_the_next_turn_not_before(emu):
    session = Session(emu, phrases=("Contoso",))
    assert spoken(session.say("Anna: {Fabrikam} first.")) == [("fab rikam first.", None)]
    session.session.set_phrases(("Contoso", "Fabrikam"))
    assert spoken(session.say("Anna: {Fabrikam} second.")) == [("fab rikam second.", None)]
    assert len(emu.record.turns) == 1  # the SDK sent nothing for the change: the turn goes on with the old list
    emu.end_turns()  # the service ends the turn (as it does every 10 minutes): the SDK opens the next one
    assert spoken(session.say("Anna: {Fabrikam} third.")) == [("Fabrikam third.", None)]
    session.finish()
    assert [t.phrase_list for t in emu.record.turns] == [("Contoso",), ("Contoso", "Fabrikam")]


def test_continuous_language_identification_names_each_utterances_language(emu):
    session = Session(emu, candidates=("en-US", "de-DE"), phrases=("Contoso", "Fabrikam"))
    assert spoken(session.say(MIXED)) == [
        ("Good morning, welcome to Contoso.", "en-US"), ("Guten Morgen, hier ist Fabrikam.", "de-DE"),
        ("Shall we begin?", "en-US"), ("Ja, gerne.", "de-DE")]
    session.finish()
    (turn,) = emu.record.turns
    assert (turn.candidates, turn.language_id_mode) == (("en-US", "de-DE"), "DetectContinuous")
    assert turn.context["languageId"]["languages"] == ["en-US", "de-DE"] and "language" not in turn.context[
        "phraseDetection"]
    assert parse_qs(urlsplit(emu.record.connections[0].path).query)["language"] == ["en-us"]  # the SDK's own default


def test_at_start_identification_keeps_the_first_language_for_the_session(emu):
    """What the first utterance is in decides, not the order of the candidates; the rest is heard in it."""
    session = Session(emu, candidates=("en-US", "de-DE"), mode="at_start")
    german_first = "\n".join(reversed(MIXED.splitlines()))
    assert spoken(session.say(german_first)) == [
        ("Ja, gerne.", "de-DE"), ("shalle ve beg in?", "de-DE"), ("Guten Morgen, hier ist fab rikam.", "de-DE"),
        ("goot mor ning, vel kome toe kon toso.", "de-DE")]
    session.finish()
    assert emu.record.turns[0].language_id_mode == "DetectAtAudioStart"


def test_a_fixed_language_hears_another_language_as_noise_and_profanity_goes_in_the_url(emu):
    session = Session(emu, candidates=(), profanity="removed")
    assert spoken(session.say("Ben: <de-DE> Ja, gerne.")) == [("jae, ger ne.", None)]
    session.finish()
    query = parse_qs(urlsplit(emu.record.connections[0].path).query)
    assert query == {"language": ["en-US"], "profanity": ["removed"]}
    assert emu.record.turns[0].context["phraseDetection"]["enrichment"] == {"profanity": "removed"}
