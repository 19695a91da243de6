"""`roomscribe pause|resume|start|stop|status`: drive a running daemon over MQTT.

A command is sent with a fresh request_id; the answer is the state message echoing it (the daemon
publishes it once the state is true, e.g. after the gate closed) or the event refusing it. Uses the
daemon's configuration file for broker, credentials and TLS, with a client id of its own.

Exit codes: 0 answered; 1 refused by the daemon; 69 (UNAVAILABLE) broker or daemon did not answer
in time; 78 (CONFIG) configuration unusable or credentials refused. Cheap to import: paho and the
configuration are imported only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from roomscribe.outputs.mqtt.payloads import PayloadRejected, parse_json
from roomscribe.system import exitcodes

DEFAULT_TIMEOUT_S = 10.0
MAX_ANSWER_BYTES = 64 * 1024  # a state or stats message is a few hundred bytes
STATUS_QUIET_S = 0.5  # retained messages follow SUBACK at once; this long without one means none


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help=f"seconds to wait for the answer (default {DEFAULT_TIMEOUT_S:.0f})")
    if not parser.prog.endswith(" status"):  # status sends no command, so there is nothing to tag
        parser.add_argument("--request-id", default=None, help="request_id to send (default: a fresh one)")
    if parser.prog.endswith(" start"):
        parser.add_argument("--phrase", action="append", dest="phrases", metavar="PHRASE",
                            help="a name or word this meeting uses, added to the room's phrase list for the "
                                 "meeting (repeat for more; a running meeting's list is replaced)")
    parser.add_argument("--json", action="store_true", help="print the answer as the JSON received")


def main(args: argparse.Namespace) -> int:
    from roomscribe.core.phrases import PhraseError, check_phrases

    extra = {}
    if getattr(args, "phrases", None) is not None:
        try:
            extra["phrases"] = list(check_phrases(args.phrases))
        except PhraseError as exc:
            print(f"roomscribe {args.command}: --phrase: {exc}", file=sys.stderr)
            return exitcodes.USAGE
    with connected(args.config, args.timeout) as session:
        if args.command == "status":
            return session.status(args.json)
        request_id = getattr(args, "request_id", None) or f"cli-{uuid.uuid4().hex[:12]}"
        return session.command(args.command, request_id, args.json, extra)


@contextmanager
def connected(config: str | None, timeout: float) -> Iterator[Session]:
    """A session with the broker of the daemon that `config` (or the default file) configures, connected,
    and closed on leaving; CommandExit once it has said why there is none."""
    from roomscribe.config import ConfigError
    from roomscribe.config.commandline import CommandExit, load_settings

    settings = load_settings(config)
    try:
        session = Session(settings, timeout)
    except ConfigError as exc:  # a password or certificate file the settings name cannot be read
        for problem in exc.problems:
            print(f"roomscribe: configuration error in {exc.source}: {problem}", file=sys.stderr)
        raise CommandExit(exitcodes.CONFIG) from None
    try:
        failure = session.connect()
        if failure is not None:
            raise CommandExit(failure)
        yield session
    finally:
        session.close()


class Session:
    """One short-lived MQTT connection; paho callbacks only put what they see on a queue."""

    def __init__(self, settings, timeout: float):
        from roomscribe.outputs.mqtt import connection
        from roomscribe.outputs.mqtt.topics import Topics

        self.settings = settings
        self.timeout = timeout
        self.topics = Topics(settings.mqtt.base_topic)
        self.inbox: queue.Queue = queue.Queue()
        self.client = connection.build_client(
            settings, client_id=f"{settings.mqtt_client_id()}-cli-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_socket_open = lambda client, userdata, sock: connection.set_nodelay(sock)
        self.client.on_connect = lambda c, u, flags, rc, props: self.inbox.put(("connect", rc))
        self.client.on_connect_fail = lambda c, u: self.inbox.put(("connect_fail", sys.exc_info()[1]))
        self.client.on_subscribe = lambda c, u, mid, codes, props: self.inbox.put(("subscribed", codes))
        self.client.on_message = lambda c, u, msg: self.inbox.put(("message", msg))

    def connect(self) -> int | None:
        from roomscribe.outputs.mqtt import connection

        cfg = self.settings.mqtt
        self.client.connect_async(cfg.host, cfg.port, keepalive=max(5, int(self.timeout) + 5))
        self.client.loop_start()
        kind, value = self._next({"connect", "connect_fail"}, self.timeout)
        where = f"{cfg.host}:{cfg.port}"
        if kind is None:
            print(f"roomscribe: no answer from the MQTT broker at {where} within {self.timeout:g} s", file=sys.stderr)
            return exitcodes.UNAVAILABLE
        if kind == "connect_fail":
            print(f"roomscribe: cannot connect to the MQTT broker at {where}: {value}", file=sys.stderr)
            return exitcodes.UNAVAILABLE
        if value.is_failure:
            print(f"roomscribe: the MQTT broker at {where} refused the connection: {connection.describe(value)}",
                  file=sys.stderr)
            return exitcodes.CONFIG if connection.is_auth_refusal(value) else exitcodes.UNAVAILABLE
        return None

    def command(self, name: str, request_id: str, as_json: bool, extra: dict | None = None) -> int:
        self._subscribe([self.topics.state, self.topics.event])
        self.client.publish(self.topics.command(name), json.dumps({"request_id": request_id, **(extra or {})}), qos=1)
        deadline = _Deadline(self.timeout)
        while not deadline.passed:
            kind, msg = self._next({"message"}, deadline.left)
            if kind is None:
                break
            answer = _json_object(msg.payload)
            if answer is None or answer.get("request_id") != request_id:
                continue  # an older retained state, or someone else's event
            if msg.topic == self.topics.state:
                print(msg.payload.decode() if as_json else _describe_state(answer))
                return exitcodes.OK
            if msg.topic == self.topics.event and answer.get("kind") == "command_refused":
                detail = answer.get("detail")
                reason = detail.get("reason") if isinstance(detail, dict) else detail
                print(msg.payload.decode() if as_json else f"refused {name}: {reason}")
                return exitcodes.FAILURE
        print(f"roomscribe: no answer to {name} (request_id {request_id}) within {self.timeout:g} s; "
              "is the daemon running and connected to this broker?", file=sys.stderr)
        return exitcodes.UNAVAILABLE

    def ask(self, topic: str, payload: bytes, request_id: str, kinds: set[str]) -> dict | None:
        """Publish a request and wait for the event of one of these kinds that echoes its request_id (or a
        `command_refused` one); the event's payload, or None when none came in time."""
        self._subscribe([self.topics.event])
        self.client.publish(topic, payload, qos=1)
        deadline = _Deadline(self.timeout)
        while not deadline.passed:
            kind, msg = self._next({"message"}, deadline.left)
            if kind is None:
                break
            answer = _json_object(msg.payload)
            if answer is not None and answer.get("request_id") == request_id and \
                    answer.get("kind") in kinds | {"command_refused"}:
                return answer
        return None

    def status(self, as_json: bool) -> int:
        self._subscribe([self.topics.state, self.topics.availability, self.topics.stats])
        seen: dict[str, bytes] = {}
        while len(seen) < 3:
            kind, msg = self._next({"message"}, STATUS_QUIET_S)
            if kind is None:
                break
            seen[msg.topic] = msg.payload
        availability = seen.get(self.topics.availability, b"").decode(errors="replace") or "unknown"
        state = _json_object(seen.get(self.topics.state, b""))
        stats = _json_object(seen.get(self.topics.stats, b""))
        if as_json:
            print(json.dumps({"availability": availability, "state": state, "stats": stats}))
        else:
            print(f"availability: {availability}")
            print(_describe_state(state) if state else "state: none published on this broker")
            if stats:
                print(_describe_stats(stats))
        return exitcodes.OK if state else exitcodes.UNAVAILABLE

    def _subscribe(self, topics: list[str]) -> None:
        self.client.subscribe([(topic, 1) for topic in topics])
        self._next({"subscribed"}, self.timeout)

    def _next(self, kinds: set[str], timeout: float):
        deadline = _Deadline(timeout)
        while not deadline.passed:
            try:
                kind, value = self.inbox.get(timeout=deadline.left)
            except queue.Empty:
                break
            if kind in kinds:
                return kind, value
        return None, None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class _Deadline:
    def __init__(self, seconds: float):
        import time

        self._clock = time.monotonic
        self._end = self._clock() + seconds

    @property
    def left(self) -> float:
        return max(0.0, self._end - self._clock())

    @property
    def passed(self) -> bool:
        return self.left <= 0


def _json_object(payload: bytes) -> dict | None:
    try:
        value = parse_json(payload, limit=MAX_ANSWER_BYTES)
    except PayloadRejected:
        return None
    return value if isinstance(value, dict) else None


def _describe_state(state: dict) -> str:
    parts = [f"state: {state.get('state')}", f"since {state.get('since')}"]
    if state.get("meeting_id"):
        parts.append(f"meeting {state['meeting_id']}")
    if state.get("request_id"):
        parts.append(f"request {state['request_id']}")
    if state.get("detail"):
        parts.append(f"({state['detail']})")
    return "  ".join(parts)


def _describe_stats(stats: dict) -> str:
    """What the service was sent (what Azure bills) and whether speech is being sent now."""
    parts = [f"audio sent: today {_minutes(stats.get('audio_sent_today_s'))}"]
    if stats.get("audio_sent_meeting_s") is not None:
        parts.append(f"this meeting {_minutes(stats['audio_sent_meeting_s'])}")
    parts.append("sending speech now" if stats.get("sending") else "no speech being sent")
    if stats.get("outbox_waiting"):
        parts.append(f"{stats['outbox_waiting']} utterances waiting for the broker")
    return "  ".join(parts)


def _minutes(seconds) -> str:
    return f"{seconds / 60:.1f} min" if isinstance(seconds, (int, float)) else "unknown"
