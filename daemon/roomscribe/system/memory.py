"""Fewer malloc arenas, so memory freed after a speech-service outage goes back to the system.

glibc gives threads their own malloc arenas (up to eight per core). The Speech SDK starts threads for
each transcriber, and an outage that fails to reconnect a few times leaves memory scattered over
arenas that are never returned. Two arenas are plenty for a daemon whose threads mostly wait, and keep
its RSS within a few MB of where it was after a five-minute outage (docs/BENCHMARKS.md, outage). Not
glibc (musl, another OS): nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Before any thread starts; True if glibc took it."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = mallopt(M_ARENA_MAX, arenas) == 1
    log.debug("malloc arenas limited to %d: %s", arenas, done)
    return done
