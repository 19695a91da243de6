"""A small filesystem of its own for a test: a tmpfs of a few hundred KiB, filled to the last byte and freed.

Mounting needs root (the tests run as root here and in CI); `needs_root` skips a test elsewhere, and says so.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs the tests as root)")


class Tmpfs:
    def __init__(self, path: Path, size_kib: int = 512):
        self.path = Path(path)
        self.size_kib = size_kib
        self._filler = self.path / ".filler"

    def __enter__(self) -> "Tmpfs":
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_kib}k,mode=0700", "tmpfs", str(self.path)],
                       check=True)
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)

    def fill(self) -> int:
        """Take every byte that is left (a file that grows until ENOSPC); the bytes taken."""
        taken = 0
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for block in (65536, 4096, 512, 1):
                while True:
                    try:
                        taken += os.write(fd, b"\0" * block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        return taken

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize
