"""`roomscribe emulator serve|synth`: run the Speech service emulator, or turn a meeting script into tone speech.

Cheap to import (argparse only): the server, numpy and the codec load inside main.
"""

from __future__ import annotations

import argparse
import sys

from roomscribe.system import exitcodes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="emulator_command", metavar="ACTION", required=True)

    serve = actions.add_parser("serve", help="run the emulator until interrupted; one line per recognized utterance",
                               description="Run the Speech service emulator. Point a Speech SDK program at it with "
                               "SpeechConfig(host='ws://HOST:PORT', subscription=KEY), or the daemon with "
                               "speech.host: ws://HOST:PORT.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=5000, help="port to listen on; 0 picks a free one (default 5000)")
    serve.add_argument("--key", help="subscription key to require (Ocp-Apim-Subscription-Key); default: accept any")
    serve.add_argument("--record-json", metavar="PATH", help="write the record of every connection here on exit")
    faults = serve.add_argument_group("faults (docs/emulator.md)")
    add = faults.add_argument
    add("--idle-timeout", type=float, default=300.0, metavar="S",
        help="close (1000, the service's idle reason) after S seconds without audio; 0 = never (default 300)")
    add("--reconnect-every", type=float, default=600.0, metavar="S",
        help="close every connection S seconds after it opened; 0 = never (default 600)")
    add("--close-after", type=float, metavar="S", help="close the first connection after S seconds")
    add("--close-every-connection", action="store_true", help="--close-after applies to every connection")
    add("--close-code", type=int, default=1000, help="close code for --close-after (default 1000)")
    add("--close-reason", default="", help="close reason for --close-after")
    add("--refuse", type=int, metavar="STATUS", help="answer upgrades with this HTTP status (401, 429, 503, …)")
    add("--refuse-count", type=int, metavar="K", help="refuse only the next K upgrades (default: all)")
    add("--result-delay-ms", type=float, default=0.0, help="hold every recognition result this long")
    add("--no-ack", action="store_true", help="send no phrases or acknowledgements (the SDK's buffer fills)")
    add("--phrase-error", metavar="STATUS", help="send phrases with this RecognitionStatus (Error, …)")
    add("--phrase-error-count", type=int, default=1, help="how many phrases --phrase-error spoils")
    add("--handshake-delay-ms", type=float, default=0.0, help="network distance: delay before the upgrade answer")
    add("--one-way-delay-ms", type=float, default=0.0, help="network distance: delay of every message, each way")
    serve.set_defaults(emulator_main=_serve)

    synth = actions.add_parser("synth", help="turn a meeting script into a tone-speech WAV (docs/tonespeech.md)",
                               description="Turn a meeting script (lines 'Speaker: text' and '[silence S]') into a "
                               "16 kHz mono WAV the emulator can transcribe.")
    synth.add_argument("script", help="the script file ('-' for standard input)")
    synth.add_argument("-o", "--output", required=True, help="WAV file to write")
    synth.add_argument("--gap", type=float, default=1.0, help="silence between lines, seconds (default 1.0)")
    synth.add_argument("--lead-in", type=float, default=0.5, help="silence before the first line (default 0.5)")
    synth.add_argument("--tail", type=float, default=1.0, help="silence after the last line (default 1.0)")
    synth.set_defaults(emulator_main=_synth)


# Imported by the emulator and the synthesizer, installed with `pip install 'roomscribe[emulator]'`.
EXTRA_MODULES = frozenset({"websockets", "numpy"})


def main(args: argparse.Namespace) -> int:
    try:
        return args.emulator_main(args)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in EXTRA_MODULES:
            raise
        print(f"roomscribe emulator: the Python package {exc.name!r} is not installed; the emulator needs "
              "the 'emulator' extra: pip install 'roomscribe[emulator]'", file=sys.stderr)
        return exitcodes.UNAVAILABLE


def plan_from_args(args: argparse.Namespace):
    from roomscribe.emulator.faults import FaultPlan

    return FaultPlan(
        idle_timeout_seconds=args.idle_timeout or None,
        reconnect_every_seconds=args.reconnect_every or None,
        close_after_seconds=args.close_after,
        close_code=args.close_code,
        close_reason=args.close_reason,
        close_every_connection=args.close_every_connection,
        refuse_status=args.refuse,
        refuse_count=args.refuse_count,
        result_delay_ms=args.result_delay_ms,
        acknowledge=not args.no_ack,
        phrase_error_status=args.phrase_error,
        phrase_error_count=args.phrase_error_count,
        handshake_delay_ms=args.handshake_delay_ms,
        one_way_delay_ms=args.one_way_delay_ms,
    )


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    from datetime import datetime

    from roomscribe.emulator.server import Emulator

    try:
        plan = plan_from_args(args)
    except ValueError as exc:
        print(f"roomscribe emulator serve: {exc}", file=sys.stderr)
        return exitcodes.USAGE

    def print_phrase(phrase) -> None:
        clock = datetime.fromtimestamp(phrase.sent_at).strftime("%H:%M:%S.%f")[:-3]
        language = f" [{phrase.language}]" if phrase.language else ""
        print(f"{clock} {phrase.speaker:<8} {phrase.offset_ticks / 1e7:9.2f}s{language}  {phrase.text}", flush=True)

    emulator = Emulator(plan, key=args.key, host=args.host, port=args.port, on_phrase=print_phrase)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, emulator.mute_connections)  # a fault from outside, now
        await emulator.start()
        print(f"speech emulator listening on {emulator.host_url}", flush=True)
        try:
            await stop.wait()
        finally:
            await emulator.stop()

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"roomscribe emulator serve: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return exitcodes.FAILURE
    finally:
        if args.record_json:
            emulator.record.dump(args.record_json)
    return exitcodes.OK


def _synth(args: argparse.Namespace) -> int:
    from roomscribe.emulator.script import parse_script, synthesize, write_wav

    try:
        text = sys.stdin.read() if args.script == "-" else open(args.script, encoding="utf-8").read()
        pcm, planned = synthesize(parse_script(text), default_gap=args.gap, lead_in=args.lead_in, tail=args.tail)
    except OSError as exc:
        print(f"roomscribe emulator synth: cannot read {args.script}: {exc.strerror}", file=sys.stderr)
        return exitcodes.USAGE
    except ValueError as exc:
        print(f"roomscribe emulator synth: {args.script}: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        with open(args.output, "wb") as output:  # opened here: wave.open on a bad path spills a traceback
            write_wav(output, pcm)
    except OSError as exc:
        print(f"roomscribe emulator synth: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return exitcodes.CANT_CREATE
    for utterance in planned:
        print(f"{utterance.start:8.2f}-{utterance.end:8.2f}s  {utterance.speaker:<10} {utterance.text}")
    print(f"wrote {args.output}: {len(pcm) / 16000:.1f} s, {len(planned)} utterances")
    return exitcodes.OK
