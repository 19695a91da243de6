"""The link's routing table: every topic it subscribes, and the handler of a message there.

The worker (worker.py) subscribes the table's topics on every connect and hands each message to the
handler of its topic, on the worker's thread. A handler reads the payload (through the one parser of
inbound payloads, payloads.py) and says what follows through `Inbound`, the worker's side: a command for
the owner, an event to publish, the retained presence again, a topic to leave. Handlers hold no state.

Adding an inbound topic is one entry in `routing_table`. A command topic whose parsed `Command` goes to
the owner, as `<base>/phrases/set` does:

    topics.phrases_set: command(PHRASES, parse_phrases),

(its parser in commands.py, its topic in topics.py). Request topics, answered by another part (catch-up),
are added by the composition root with `MqttLink.add_request_handler(topic, submit)`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Callable, Protocol

from roomscribe.core.commands import NAME, PHRASES
from roomscribe.core.names import SpeakerNaming
from roomscribe.core.records import Event
from roomscribe.outputs.mqtt.commands import (
    Command,
    CommandRejected,
    parse_command,
    parse_naming,
    parse_phrases,
    parse_switch,
)
from roomscribe.outputs.mqtt.messages import Received
from roomscribe.outputs.mqtt.neighbours import shared_base_event
from roomscribe.outputs.mqtt.topics import Topics

log = logging.getLogger(__name__)


class Inbound(Protocol):
    """What a handler may do, on the link's worker thread (`LinkWorker` is it)."""

    def to_owner(self, command: Command | SpeakerNaming) -> None: ...

    def publish_event(self, event: Event) -> None: ...

    def publish_presence(self) -> None: ...

    def unsubscribe(self, topic: str) -> None: ...


Handler = Callable[[Received, Inbound], None]
Parser = Callable[[bytes], Command | SpeakerNaming]


@dataclass(frozen=True)
class CommandHandler:
    """A command topic. A valid command goes to the owner; anything else is refused with a `command_refused`
    event, a retained command too (it would act again on every connect)."""

    name: str  # the command, as its refusal names it
    parse: Parser
    room: str
    clock: Callable[[], float]

    def __call__(self, message: Received, inbound: Inbound) -> None:
        try:
            command = self.parse(message.payload)
            if message.retained:
                raise CommandRejected("retained commands are ignored: publish commands without the retain flag",
                                      command.request_id)
        except CommandRejected as exc:
            log.info("refused a command on %s: %s", message.topic, exc.reason)
            detail = {"command": self.name, "topic": message.topic, "reason": exc.reason,
                      "payload_bytes": len(message.payload)}
            inbound.publish_event(Event("command_refused", detail, self.clock(), self.room, exc.request_id, "warning"))
            return
        log.debug("command %s (request_id %s)", self.name, command.request_id)
        inbound.to_owner(command)


@dataclass(frozen=True)
class NeighbourCheck:
    """`<base>/state`, subscribed on every connect and left at its first message: the retained state the
    broker hands over first is the previous holder's (neighbours.py)."""

    room: str
    topics: Topics
    clock: Callable[[], float]

    def __call__(self, message: Received, inbound: Inbound) -> None:
        inbound.unsubscribe(message.topic)
        event = shared_base_event(message.payload, message.retained, self.room, self.topics, self.clock())
        if event is not None:
            inbound.publish_event(event)


def home_assistant_status(message: Received, inbound: Inbound) -> None:
    """`homeassistant/status`: Home Assistant (re)started and has forgotten what was announced."""
    if message.payload.strip() == b"online":
        log.info("Home Assistant came online: publishing discovery, state and availability again")
        inbound.publish_presence()


@dataclass(frozen=True)
class RequestHandler:
    """A request topic: the message goes to `submit(payload, retained=, response_topic=, correlation_data=)`,
    which only queues (catch-up: outputs/archive/responder.py)."""

    submit: Callable[..., None]

    def __call__(self, message: Received, inbound: Inbound) -> None:
        self.submit(message.payload, retained=message.retained, response_topic=message.response_topic,
                    correlation_data=message.correlation_data)


def routing_table(topics: Topics, *, room: str, clock: Callable[[], float],
                  home_assistant_status_topic: str | None) -> dict[str, Handler]:
    """Inbound topic → its handler: one entry per topic."""
    command = functools.partial(CommandHandler, room=room, clock=clock)
    table: dict[str, Handler] = {
        **{topic: command(name, functools.partial(parse_command, name)) for topic, name in topics.commands.items()},
        topics.paused_set: command("paused/set", parse_switch),
        topics.phrases_set: command(PHRASES, parse_phrases),
        topics.speakers_set: command(NAME, parse_naming),  # a name for a voice: core/names.py
        topics.state: NeighbourCheck(room, topics, clock),  # who held the retained state before us
    }
    if home_assistant_status_topic is not None:  # with discovery on
        table[home_assistant_status_topic] = home_assistant_status
    return table
