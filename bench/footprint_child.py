"""Runs a footprint benchmark's child (the daemon or the bare script) and notes which thread is which.

    python bench/footprint_child.py --threads-file F [--snapshot-after S --snapshot-file G] -- roomscribe run -c C
    python bench/footprint_child.py --threads-file F -- bench/bare_push.py --wav W --host H

Python 3.11 does not give its threads an operating-system name (every task of the process is `python` in
/proc), so each Python thread writes its native id and its `threading` name to --threads-file when it
starts (through `threading.setprofile`, the public hook every new thread runs once; it removes itself).
A task of /proc/PID/task that is not in the file is a native thread: the Speech SDK's.

With --snapshot-after, tracemalloc runs from the first import (one frame per allocation) and a snapshot of
what is allocated at that moment is written to --snapshot-file, grouped by file, for
`bench_footprint.py --anatomy`. Used only for the anatomy: it slows the process and doubles its memory.
"""

from __future__ import annotations

import argparse
import runpy
import sys
import threading


def note_threads(path: str) -> None:
    out = open(path, "a", buffering=1)  # one line per thread, flushed at once
    lock = threading.Lock()

    def note(thread: threading.Thread) -> None:
        with lock:
            out.write(f"{thread.native_id}\t{thread.name}\n")

    def first_call(frame, event, arg) -> None:  # noqa: ARG001  (sys.setprofile's signature)
        sys.setprofile(None)  # once per thread, then no profiling cost at all
        note(threading.current_thread())

    note(threading.main_thread())
    threading.setprofile(first_call)


def snapshot_later(seconds: float, path: str) -> None:
    import time
    import tracemalloc

    def take() -> None:
        time.sleep(seconds)
        snapshot = tracemalloc.take_snapshot()
        with open(path, "w") as out:
            for stat in snapshot.statistics("filename"):
                out.write(f"{stat.size}\t{stat.count}\t{stat.traceback[0].filename}\n")

    threading.Thread(target=take, name="bench-snapshot", daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads-file", required=True)
    parser.add_argument("--snapshot-after", type=float)
    parser.add_argument("--snapshot-file")
    parser.add_argument("target", nargs=argparse.REMAINDER, help="-- roomscribe ARGS, or -- SCRIPT.py ARGS")
    args = parser.parse_args()
    target = args.target[1:] if args.target[:1] == ["--"] else args.target
    if args.snapshot_after is not None:
        import tracemalloc

        tracemalloc.start(1)
        snapshot_later(args.snapshot_after, args.snapshot_file)
    note_threads(args.threads_file)
    if target[0] == "roomscribe":
        from roomscribe.cli import main as roomscribe_main

        sys.argv = ["roomscribe", *target[1:]]
        raise SystemExit(roomscribe_main())
    sys.argv = target
    runpy.run_path(target[0], run_name="__main__")


if __name__ == "__main__":
    main()
