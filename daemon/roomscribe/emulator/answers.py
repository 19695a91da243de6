"""What the emulated service answers on a turn: start and hypotheses, phrases with speakers, and the
EndOfDictation acknowledgements that let the SDK free audio. A part of Connection (connection.py)."""

from __future__ import annotations

import logging
import time

from roomscribe.core.audio_format import SAMPLE_WIDTH
from roomscribe.emulator import usp
from roomscribe.emulator.hearing import Heard
from roomscribe.emulator.record import RecordedPhrase
from roomscribe.emulator.phrases import Hypothesis, Phrase, SpeechStart
from roomscribe.emulator.turns import (
    ACK_EVERY_SAMPLES,
    ACK_HEADER,
    DUPLICATE_TOLERANCE_SAMPLES,
    Send,
    Turn,
    ticks,
    whole_ms,
)

log = logging.getLogger("roomscribe.emulator.connection")  # one log for the connection and its parts


class TurnAnswers:
    """Connection's replies on a turn; uses its faults, outbox, id and failing flag."""

    def _answer(self, turn: Turn, events: list) -> None:
        if self.failing:
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
                if self.failing:
                    return

    def _send_phrase(self, turn: Turn, phrase: Phrase) -> None:
        if not self.faults.acknowledging:
            return  # the service has gone quiet: no result, no acknowledgement
        error = self.faults.take_phrase_error()
        if error is not None:
            log.info("connection %d: sending a phrase with status %s", self.id, error)
            self.failing = True
            self._send(turn, "speech.phrase", {"RecognitionStatus": error, "Offset": 0, "Duration": 0}, result=True)
            return
        speaker = turn.session.label(phrase.speaker)
        heard = turn.hearing.hear(phrase.text, final=True)
        end = max(whole_ms(phrase.offset + phrase.duration), phrase.offset + 1)  # the phrase acknowledges up to its end
        body = {"RecognitionStatus": "Success", "DisplayText": heard.text, "Offset": ticks(phrase.offset),
                "Duration": ticks(end - phrase.offset), "SpeakerId": speaker, "Channel": 0, **_language_of(heard)}
        start = turn.base_samples + phrase.offset
        recorded = RecordedPhrase(turn.session.audio_session_id, self.id, turn.request_id, heard.text, speaker,
                                  ticks(start), ticks(end - phrase.offset), 0.0, heard.language)
        turn.session.answered_until = max(turn.session.answered_until, turn.base_samples + end)
        turn.acked = max(turn.acked, end)
        self._send(turn, "speech.phrase", body, result=True, phrase=recorded, acknowledges=turn.base_samples + end)

    def _acknowledge_settled(self, turn: Turn) -> None:
        settled = turn.recognizer.settled_samples
        if settled - turn.acked >= ACK_EVERY_SAMPLES:
            self._acknowledge(turn, settled)

    def _acknowledge(self, turn: Turn, position: int) -> None:
        """An EndOfDictation phrase over audio that needs no answer: the SDK frees it and raises no event."""
        position = whole_ms(position)
        if position <= turn.acked or not self.faults.acknowledging or self.failing:
            return
        body = {"RecognitionStatus": "EndOfDictation", "Offset": ticks(turn.acked),
                "Duration": ticks(position - turn.acked)}
        turn.acked = position
        self._send(turn, "speech.phrase", body, result=True, extra=((ACK_HEADER, str(ticks(position))),),
                   acknowledges=turn.base_samples + position)

    def _send(self, turn: Turn, path: str, body: dict | None, *, result: bool = False,
              phrase: RecordedPhrase | None = None, extra: tuple = (), acknowledges: int | None = None) -> None:
        """Queue a reply; `acknowledges` is the session stream position (samples) it lets the SDK free."""
        delay = self.faults.network.one_way_seconds + (self.faults.result_delay if result else 0.0)
        message = usp.Outgoing(path, turn.request_id, body, extra)
        ack = None if acknowledges is None else (turn.session.audio_session_id, acknowledges * SAMPLE_WIDTH)
        self.outbox.put_nowait(Send(time.monotonic() + delay, message=message, phrase=phrase, acknowledges=ack))


def _language_of(heard: Heard) -> dict:
    """PrimaryLanguage, as the service sends it with language identification (the SDK reads its Language)."""
    if heard.language is None:
        return {}
    return {"PrimaryLanguage": {"Language": heard.language, "Confidence": "High" if heard.confident else "Low"}}
