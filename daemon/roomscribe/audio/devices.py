"""`roomscribe devices`: the capture devices PortAudio sees, to pick `audio.device`."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


PYAUDIO_MISSING = ("PyAudio is not installed: pip install 'roomscribe[microphone]' (on Debian/Raspberry Pi OS "
                   "it builds from source: apt-get install portaudio19-dev build-essential python3-dev)")


def main(args: argparse.Namespace) -> int:
    import json
    import sys

    from roomscribe.system import exitcodes

    try:
        import pyaudio
    except ImportError as exc:
        # 69 (EX_UNAVAILABLE): a part of the program is not installed. --json callers get JSON even so.
        if args.json:
            print(json.dumps({"error": "pyaudio_missing", "message": PYAUDIO_MISSING, "detail": str(exc)}))
        else:
            print(f"roomscribe devices: {PYAUDIO_MISSING}", file=sys.stderr)
        return exitcodes.UNAVAILABLE
    from roomscribe.audio.microphone import capture_devices

    pa = pyaudio.PyAudio()
    try:
        devices = capture_devices(pa)
        try:
            default = int(pa.get_default_input_device_info()["index"])
        except OSError:
            default = None
    finally:
        pa.terminate()
    if args.json:
        print(json.dumps([dict(d, default=d["index"] == default) for d in devices], indent=2))
        return 0
    if not devices:
        print("no capture devices found")
        return 0
    print(f"{'index':>5}  {'channels':>8}  {'rate':>6}  name")
    for d in devices:
        mark = "  (default)" if d["index"] == default else ""
        print(f"{d['index']:>5}  {d['channels']:>8}  {d['default_rate']:>6}  {d['name']}{mark}")
    return 0
