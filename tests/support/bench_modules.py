"""Makes the benchmark scripts under bench/ importable by tests (they import their helpers as `common`)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def add_bench_to_path() -> Path:
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    return BENCH_DIR
