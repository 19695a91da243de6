"""The owner's phrase lists: the room's words and the meeting's, and the one list every session gets.

Two lists make the one the speech service is sent (core/phrases.combined): the room's (`speech.phrases`,
replaced at run time by `<base>/phrases/set`) and the meeting's (the `start` command's `phrases`, for the
meeting it started or the one already running; they end with that meeting). A change goes to the
current session at once, and the SDK sends it with its next turn's speech.context: not mid-turn, but at
its next reconnect or turn (docs/words.md). Every new session gets the list before it starts.

Owner's loop only. Each change is answered by a `phrases_changed` event; a list that does not fit beside
the other is refused with a `command_refused` event, and nothing changes.
"""

from __future__ import annotations

import logging

from roomscribe.app.publisher import Publisher
from roomscribe.app.sessions import SessionKeeper
from roomscribe.core.commands import PHRASES
from roomscribe.core.phrases import PhraseError, check_phrases, combined

log = logging.getLogger(__name__)


class PhraseKeeper:
    def __init__(self, room: list[str] | tuple[str, ...], publish: Publisher, sessions: SessionKeeper):
        self._room = check_phrases(list(room))  # the settings were checked: this only strips them
        self._meeting_id: str | None = None
        self._meeting: tuple[str, ...] = ()
        self._event = publish.event
        self._sessions = sessions

    def current(self, meeting_id: str | None) -> tuple[str, ...]:
        """The list a session of this meeting is sent: the room's, then the meeting's."""
        return combined(self._room, self._meeting_of(meeting_id))

    def takes(self, name: str, phrases: tuple[str, ...] | None, request_id: str | None,
              meeting_id: str | None) -> bool:
        """True when the command ends here: the room's list (set, or refused), or a start whose phrases do
        not fit beside the room's (refused). A start that fits goes on to the machine."""
        if name == PHRASES:
            self._change(phrases or (), meeting_id, self._meeting_of(meeting_id), name, request_id)
            return True
        if phrases is not None:
            try:
                combined(self._room, phrases)
            except PhraseError as exc:
                self._refuse(name, str(exc), request_id)
                return True
        return False

    def meeting_phrases(self, meeting_id: str | None, phrases: tuple[str, ...], request_id: str | None) -> None:
        """An accepted start carried phrases: they are this meeting's, replacing any it had."""
        self._change(self._room, meeting_id, phrases, "start", request_id)

    def _meeting_of(self, meeting_id: str | None) -> tuple[str, ...]:
        return self._meeting if meeting_id is not None and meeting_id == self._meeting_id else ()

    def _change(self, room: tuple[str, ...], meeting_id: str | None, meeting: tuple[str, ...], command: str,
                request_id: str | None) -> None:
        try:
            phrases = combined(room, meeting)
        except PhraseError as exc:
            return self._refuse(command, str(exc), request_id)
        self._room, self._meeting_id, self._meeting = room, meeting_id, meeting
        session, applies = self._sessions.current, "next_session"
        if session is not None:
            try:
                session.set_phrases(phrases)
                applies = "next_turn"
            except Exception:  # noqa: BLE001  (the SDK refusing a list is no reason to stop transcribing)
                log.exception("the speech session did not take the phrase list; the next session will")
        self._event("phrases_changed", {
            "meeting_id": meeting_id, "room_phrases": list(room), "meeting_phrases": list(meeting),
            "phrases": len(phrases),
            # The SDK sends a phrase list only at the start of a turn (docs/words.md): never mid-turn.
            "applies": applies,
        }, request_id)

    def _refuse(self, command: str, reason: str, request_id: str | None) -> None:
        self._event("command_refused", {"command": command, "reason": reason}, request_id, "warning")
