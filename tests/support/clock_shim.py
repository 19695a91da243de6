"""A process whose wall clock a test steps while it runs: an LD_PRELOAD shim built with gcc (clock_shim.c).

    shim = ClockShim.build(tmp_path, offset_s=-3 * 86400, synchronized=False)
    subprocess.Popen(cmd, env={**os.environ, **shim.env()})   # its CLOCK_REALTIME is 3 days back
    shim.set(offset_s=0, synchronized=True)                     # NTP steps it, in the running process

Only the wall clock moves (clock_gettime(CLOCK_REALTIME), gettimeofday, time); the monotonic clock does
not, and waits on absolute wall-clock deadlines are translated, so the process runs normally.
"""

from __future__ import annotations

import mmap
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).with_name("clock_shim.c")
GCC = shutil.which("gcc")
_STATE = struct.Struct("<qq")  # offset in ns, synchronized (1, 0, -1 the kernel's answer, -2 refused)
REFUSED = -2

needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc is not installed (scripts/test.sh installs it)")


class ClockShim:
    def __init__(self, library: Path, state: Path):
        self.library = library
        self.state = state
        self._file = open(state, "r+b")
        self._map = mmap.mmap(self._file.fileno(), _STATE.size)

    @classmethod
    def build(cls, directory: Path, *, offset_s: float = 0.0, synchronized: bool | int = -1) -> "ClockShim":
        library, state = directory / "clock_shim.so", directory / "clock_shim.state"
        subprocess.run([GCC, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", str(library), str(SOURCE), "-ldl"],
                       check=True, capture_output=True)
        state.write_bytes(_STATE.pack(0, -1))
        shim = cls(library, state)
        shim.set(offset_s=offset_s, synchronized=synchronized)
        return shim

    def env(self) -> dict[str, str]:
        return {"LD_PRELOAD": str(self.library), "ROOMSCRIBE_CLOCK_SHIM": str(self.state)}

    def set(self, *, offset_s: float | None = None, synchronized: bool | int | None = None) -> None:
        """Step the process's wall clock to `offset_s` from the real one; set what adjtimex answers."""
        old_offset, old_sync = _STATE.unpack(self._map[:])
        offset = old_offset if offset_s is None else round(offset_s * 1e9)
        sync = old_sync if synchronized is None else int(synchronized)
        # Two aligned 8-byte stores: each is read whole by the shim; the offset goes first.
        self._map[0:8] = struct.pack("<q", offset)
        self._map[8:16] = struct.pack("<q", sync)

    def close(self) -> None:
        self._map.close()
        self._file.close()
