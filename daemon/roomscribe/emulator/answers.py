"""What the emulated service answers on a turn: turn.start, the recognizer's start, hypotheses and phrases
(with speakers, in the words the turn hears), the EndOfDictation acknowledgements that let the SDK free audio,
and the turn's end. One `TurnAnswers` per connection; it hands each reply to the connection's `Sender`."""

from __future__ import annotations

import logging
import secrets

from roomscribe.core.audio_format import SAMPLE_WIDTH
from roomscribe.emulator import usp
from roomscribe.emulator.faults import FaultState
from roomscribe.emulator.hearing import Heard
from roomscribe.emulator.phrases import Event, Hypothesis, Phrase, SpeechStart
from roomscribe.emulator.record import RecordedPhrase
from roomscribe.emulator.sender import Sender
from roomscribe.emulator.turns import (
    ACK_EVERY_SAMPLES,
    ACK_HEADER,
    DUPLICATE_TOLERANCE_SAMPLES,
    Turn,
    ticks,
    whole_ms,
)

log = logging.getLogger(__name__)


class TurnAnswers:
    """The service's side of a connection's turns, in order, through its sender.

    After an error phrase it says nothing more on the connection: the SDK drops the socket and reconnects.
    """

    def __init__(self, sender: Sender, faults: FaultState, connection_id: int):
        self._sender = sender
        self._faults = faults
        self._id = connection_id
        self._failing = False  # an error phrase went out: the SDK will drop this socket, say nothing more

    def start(self, turn: Turn) -> None:
        """turn.start, answering the turn's speech.context."""
        self._send(turn, "turn.start", {"context": {"serviceTag": secrets.token_hex(16)}})

    def answer(self, turn: Turn, events: list[Event]) -> None:
        """The recognizer's events, except what a replay already answered in this diarization session."""
        if self._failing:
            return
        for event in events:
            start = turn.base_samples + event.offset
            if start < turn.session.answered_until - DUPLICATE_TOLERANCE_SAMPLES:
                continue  # replayed audio whose phrase was already sent
            if isinstance(event, SpeechStart):
                self._send(turn, "speech.startDetected", {"Offset": ticks(event.offset)}, result=True)
            elif isinstance(event, Hypothesis):
                if turn.hearing.holds_partial(event.duration):
                    continue  # language identification is still deciding
                heard = turn.hearing.hear(event.text, final=False)
                if not heard.text:
                    continue
                speaker = turn.session.label(event.speaker) if turn.diarize_intermediates else "Unknown"
                body = {"Text": heard.text, "Offset": ticks(event.offset), "Duration": ticks(event.duration),
                        "SpeakerId": speaker, "Channel": 0, **_language_of(heard)}
                self._send(turn, "speech.hypothesis", body, result=True)
            elif isinstance(event, Phrase):
                self._send_phrase(turn, event)
                if self._failing:
                    return

    def acknowledge_settled(self, turn: Turn) -> None:
        """Every 2 s of settled audio with nothing to say, an acknowledgement."""
        settled = turn.recognizer.settled_samples
        if settled - turn.acked >= ACK_EVERY_SAMPLES:
            self.acknowledge(turn, settled)

    def acknowledge(self, turn: Turn, position: int) -> None:
        """An EndOfDictation phrase over audio that needs no answer: the SDK frees it and raises no event."""
        position = whole_ms(position)
        if position <= turn.acked or not self._faults.acknowledging or self._failing:
            return
        body = {"RecognitionStatus": "EndOfDictation", "Offset": ticks(turn.acked),
                "Duration": ticks(position - turn.acked)}
        turn.acked = position
        self._send(turn, "speech.phrase", body, result=True, extra=((ACK_HEADER, str(ticks(position))),),
                   acknowledges=turn.base_samples + position)

    def end(self, turn: Turn) -> None:
        """speech.endDetected at the end of the turn's audio, then turn.end."""
        self._send(turn, "speech.endDetected", {"Offset": ticks(turn.recognizer.samples_fed)}, result=True)
        self._send(turn, "turn.end", {})

    def _send_phrase(self, turn: Turn, phrase: Phrase) -> None:
        if not self._faults.acknowledging:
            return  # the service has gone quiet: no result, no acknowledgement
        error = self._faults.take_phrase_error()
        if error is not None:
            log.info("connection %d: sending a phrase with status %s", self._id, error)
            self._failing = True
            self._send(turn, "speech.phrase", {"RecognitionStatus": error, "Offset": 0, "Duration": 0}, result=True)
            return
        speaker = turn.session.label(phrase.speaker)
        heard = turn.hearing.hear(phrase.text, final=True)
        end = max(whole_ms(phrase.offset + phrase.duration), phrase.offset + 1)  # the phrase acknowledges up to its end
        body = {"RecognitionStatus": "Success", "DisplayText": heard.text, "Offset": ticks(phrase.offset),
                "Duration": ticks(end - phrase.offset), "SpeakerId": speaker, "Channel": 0, **_language_of(heard)}
        start = turn.base_samples + phrase.offset
        recorded = RecordedPhrase(turn.session.audio_session_id, self._id, turn.request_id, heard.text, speaker,
                                  ticks(start), ticks(end - phrase.offset), 0.0, heard.language)
        turn.session.answered_until = max(turn.session.answered_until, turn.base_samples + end)
        turn.acked = max(turn.acked, end)
        self._send(turn, "speech.phrase", body, result=True, phrase=recorded, acknowledges=turn.base_samples + end)

    def _send(self, turn: Turn, path: str, body: dict | None, *, result: bool = False,
              phrase: RecordedPhrase | None = None, extra: tuple = (), acknowledges: int | None = None) -> None:
        """Queue a reply; `acknowledges` is the session stream position (samples) it lets the SDK free."""
        message = usp.Outgoing(path, turn.request_id, body, extra)
        ack = None if acknowledges is None else (turn.session.audio_session_id, acknowledges * SAMPLE_WIDTH)
        self._sender.send(message, result=result, phrase=phrase, acknowledges=ack)


def _language_of(heard: Heard) -> dict:
    """PrimaryLanguage, as the service sends it with language identification (the SDK reads its Language)."""
    if heard.language is None:
        return {}
    return {"PrimaryLanguage": {"Language": heard.language, "Confidence": "High" if heard.confident else "Low"}}
