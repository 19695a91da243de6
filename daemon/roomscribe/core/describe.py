"""The one line for people that the retained state carries as `detail`, for each state."""

from __future__ import annotations

from roomscribe.core.table import Session, State

S = State


def describe(meeting) -> str:
    """`meeting` is core.meeting.MeetingModel (not imported: it imports this module)."""
    state = meeting.state
    if state is S.IDLE:
        return "no meeting"
    if state is S.STARTING:
        if meeting.lost_in_meeting:
            return "connecting to the speech service; captured audio is kept in memory and sent once it answers"
        return "connecting to the speech service"
    if state is S.TRANSCRIBING:
        return "transcribing"
    if state is S.NO_AUDIO:
        session = "" if meeting.session is not Session.NONE else "; cloud session released, a new one opens when audio flows"
        return f"no audio: {meeting.audio_detail}{session}"
    if state is S.STOPPING:
        return "finishing the last utterance"
    if state is S.RECOVERING:
        kept = "captured audio is kept in memory and sent once it answers"
        if meeting.session is Session.STALLED:
            return (f"the speech service stopped answering ({meeting.loss_reason}); {kept}; "
                    f"a new connection is tried in {meeting.retry_delay:.0f} s")
        return f"speech session lost ({meeting.error_code}: {meeting.loss_reason}); {kept}; retrying in {meeting.retry_delay:.1f} s"
    if state is S.FAILED:
        return (f"the speech service refused the session ({meeting.error_code}: {meeting.loss_reason}); "
                f"retrying in {meeting.retry_delay / 60:g} min, or send start")
    session = {
        Session.ALIVE: "cloud session kept",
        Session.STALLED: "the speech service stopped answering; a new session opens on resume if it stays silent",
        Session.OPENING: "cloud session still connecting",
        Session.NONE: "cloud session released; a new one opens on resume" if meeting.released
        else "no cloud session; a new one opens on resume",
    }[meeting.session]
    return f"paused: no audio leaves the room; {session}"
