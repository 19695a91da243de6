"""`roomscribe demo`: the whole product offline, in under a minute.

It starts the Speech service emulator and an MQTT broker (Mosquitto when installed, else the embedded
pure-Python amqtt broker), synthesizes a two-speaker meeting in tone speech, runs the real daemon on it
through the file source, pauses and resumes it over MQTT around a "secret" sentence, prints what a
subscriber sees, and ends with proof that the secret never reached the speech service.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--speed", type=float, default=1.5, help="play the meeting this many times faster (default 1.5)")
    parser.add_argument("--keep", metavar="DIR", help="keep the meeting WAV, journal and emulator record in DIR")
    parser.add_argument("--broker", choices=("auto", "mosquitto", "embedded"), default="auto",
                        help="the MQTT broker: Mosquitto, the embedded amqtt broker, or Mosquitto when installed (default)")


def main(args: argparse.Namespace) -> int:
    import logging

    from roomscribe.demo.run import run_demo
    from roomscribe.system import logs

    # The demo prints what a subscriber sees; the daemon's own log would drown it (warnings still show),
    # unless --log-level or -v asked for it.
    if logs.cli_level(args) is None:
        logging.getLogger().setLevel(logging.WARNING)

    return run_demo(speed=args.speed, keep_dir=args.keep, broker=args.broker)
