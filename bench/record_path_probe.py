"""`roomscribe run` with one probe: the moment the Speech SDK hands over each final result.

    STAMPS=127.0.0.1:PORT python bench/record_path_probe.py -c CONFIG

Started by bench_record_path.py, with PYTHONPATH naming the roomscribe to measure (this checkout, or an
older one). The session factory of the composition root (app/run.py `session_factory_for`, there in
both) is wrapped so that each final result is stamped on the SDK's callback thread, before the daemon
sees it, and the stamp goes out as a UDP datagram: nothing of the probe touches the disk the benchmark
measures.
"""

from __future__ import annotations

import os
import socket
import sys
import time

import roomscribe.app.run as composition
from roomscribe.speech.session import Transcribed

host, port = os.environ["STAMPS"].rsplit(":", 1)
_out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
_make_factory = composition.session_factory_for


def stamped_factory(settings):
    make = _make_factory(settings)

    def factory(emit, epoch):
        def stamped(event) -> None:
            if isinstance(event, Transcribed):
                _out.sendto(f"{time.time()!r}\t{event.text}".encode(), (host, int(port)))
            emit(event)

        return make(stamped, epoch)

    return factory


composition.session_factory_for = stamped_factory

if __name__ == "__main__":
    from roomscribe.cli import main

    sys.exit(main(["run", *sys.argv[1:]]))
