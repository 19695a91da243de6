"""Two rooms on one base topic: found on connect, said once.

Two daemons with the README's minimal configuration share `meeting/...`: each obeys the other's commands
and overwrites the other's retained state. `meeting` stays the default (room controllers expect it), so
the link looks at the retained state it finds when it connects. One connection is ordered: the broker
answers the subscription before it takes this daemon's own state, so what comes back is the previous
holder's.
"""

from __future__ import annotations

import logging

from roomscribe.core.records import Event
from roomscribe.outputs.mqtt.payloads import PayloadRejected, parse_json
from roomscribe.outputs.mqtt.topics import Topics

log = logging.getLogger(__name__)

MAX_STATE_BYTES = 64 * 1024  # a state message is a few hundred bytes; anything this large is no roomscribe's


def shared_base_event(payload: bytes, retained: bool, room: str, topics: Topics, now: float) -> Event | None:
    """A `base_topic_shared` warning if the retained state found on connect belongs to another room."""
    if not retained:
        return None
    try:
        document = parse_json(payload, limit=MAX_STATE_BYTES)
    except PayloadRejected:
        return None
    other = document.get("room") if isinstance(document, dict) else None
    if not isinstance(other, str) or other == room:
        return None
    log.warning("another roomscribe (room %r) holds the retained state of %s: two rooms on one base topic share "
                "their commands and overwrite each other's state; give each room its own mqtt.base_topic "
                "(e.g. meeting/%s)", other, topics.state, room)
    detail = {"other_room": other, "base_topic": topics.base,
              "advice": f"set mqtt.base_topic to a topic of this room's own, e.g. meeting/{room}"}
    return Event("base_topic_shared", detail, now, room, None, "warning")
