"""The emulator's language model (emulator/hearing.py): language marks, terms and the phrase list, language
identification, and what it reads from speech.context as SDK 1.53 sends it. Pure; the SDK on the wire is in
tests/speech/test_azure_words.py."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from roomscribe.emulator.decode import decode
from roomscribe.emulator.hearing import LANGUAGE_DECISION_SAMPLES, Hearing, Listening, mishear
from roomscribe.emulator.script import parse_script, synthesize

# speech.context bodies as SDK 1.53 sent them (ids shortened): docs/emulator.md.
PLAIN = {"phraseDetection": {"mode": "Conversation", "language": "en-US",
                             "speakerDiarization": {"mode": "Anonymous", "audioSessionId": "a1", "audioOffsetMS": 0,
                                                    "identityProvider": None}}, "audio": {"streams": {"1": None}}}
WITH_LIST_AND_LID = {
    "phraseDetection": {"mode": "Conversation", "onSuccess": {"action": "None"}, "onInterim": {"action": "None"},
                        "speakerDiarization": {"mode": "Anonymous", "audioSessionId": "a2", "audioOffsetMS": 0,
                                               "identityProvider": None}},
    "dgi": {"Groups": [{"Type": "Generic", "Items": [{"Text": "Contoso"}, {"Text": "Jessie Irwin"}]}], "bias": 1.0},
    "languageId": {"languages": ["en-US", "de-DE"], "onSuccess": {"action": "Recognize"},
                   "onUnknown": {"action": "None"}, "mode": "DetectContinuous", "Priority": "PrioritizeLatency"},
    "phraseOutput": {"interimResults": {"resultType": "Auto"}, "phraseResults": {"resultType": "Always"}},
    "audio": {"streams": {"1": None}}}


def test_what_a_turn_listens_for_comes_from_speech_context():
    assert Listening.from_context(PLAIN, "en-US") == Listening("en-US")
    assert Listening.from_context(WITH_LIST_AND_LID, "en-us") == Listening(
        "en-us", ("en-US", "de-DE"), True, ("Contoso", "Jessie Irwin"))
    at_start = {**WITH_LIST_AND_LID, "languageId": {**WITH_LIST_AND_LID["languageId"], "mode": "DetectAtAudioStart"}}
    assert Listening.from_context(at_start, None).continuous is False
    off = {**WITH_LIST_AND_LID, "dgi": {**WITH_LIST_AND_LID["dgi"], "bias": 0.0}}  # setWeight(0): the list is off
    assert Listening.from_context(off, None).phrases == ()


def test_a_term_is_itself_only_when_the_list_carries_it():
    listed = Hearing(Listening("en-US", phrases=("contoso", "Jessie Irwin")))
    assert listed.hear("Hi {Jessie}, welcome to {Contoso}.", final=True).text == "Hi Jessie, welcome to contoso."
    assert listed.hear("{Jessie Irwin} and {Irwin} from {Fabrikam}", final=True).text == \
        "Jessie Irwin and Irwin from fab rikam"
    unlisted = Hearing(Listening("en-US"))
    assert unlisted.hear("Welcome to {Contoso}.", final=True).text == "Welcome to kon toso."


def test_a_partial_shows_no_half_spoken_mark():
    hearing = Hearing(Listening("en-US", ("en-US", "de-DE"), True))
    assert hearing.hear("<de-", final=False).text == ""
    assert hearing.hear("<de-DE> Guten Tag bei {Cont", final=False).text == "Guten Tag bei"
    assert hearing.hear("<de-DE> Guten Tag bei {Cont", final=True).text == "Guten Tag bei kont"


def test_language_identification_continuous_and_at_start():
    continuous = Hearing(Listening("en-us", ("en-US", "de-DE"), True))
    heard = [continuous.hear(t, final=True) for t in ("Hello.", "<de-DE> Hallo.", "<de-AT> Servus.", "<fr-FR> Salut.")]
    assert [(h.text, h.language, h.confident) for h in heard] == [
        ("Hello.", "en-US", True), ("Hallo.", "de-DE", True), ("Servus.", "de-DE", True),
        ("sal ut.", "en-US", False)]  # not a candidate: one of them anyway, and heard through its model
    at_start = Hearing(Listening("en-us", ("en-US", "de-DE"), False))
    assert [(h.text, h.language) for h in (at_start.hear(t, final=True) for t in ("<de-DE> Hallo.", "Hello."))] == [
        ("Hallo.", "de-DE"), ("hel lo.", "de-DE")]


def test_without_identification_another_language_is_misheard_and_unlabelled():
    heard = Hearing(Listening("en-US")).hear("<de-DE> Guten Morgen", final=True)
    assert (heard.text, heard.language) == ("gut en mor gen", None)


def test_identification_holds_partials_for_its_decision():
    continuous = Hearing(Listening("en-US", ("en-US", "de-DE"), True))
    assert continuous.holds_partial(LANGUAGE_DECISION_SAMPLES - 1) and not continuous.holds_partial(LANGUAGE_DECISION_SAMPLES)
    at_start = Hearing(Listening("en-US", ("en-US", "de-DE"), False))
    assert at_start.holds_partial(0)
    at_start.hear("Hello.", final=True)
    assert not at_start.holds_partial(0)  # decided for the turn
    assert not Hearing(Listening("en-US")).holds_partial(0)


@given(st.from_regex(r"[A-Za-z][a-z']{0,11}", fullmatch=True))
def test_a_mishearing_is_never_the_word(word):
    assert mishear(word).casefold() != word.casefold()


def test_the_codec_carries_the_marks_exactly():
    pcm, planned = synthesize(parse_script("Ben: <de-DE> Guten Tag, {Contoso}!\nAnna: {Jessie Irwin}?"))
    assert [p.text for p in decode(pcm.tobytes())] == ["<de-DE> Guten Tag, {Contoso}!", "{Jessie Irwin}?"]
