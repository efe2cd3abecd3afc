"""The machine's speed, timed on two fixed workloads at the start of a benchmark.

Figures of one benchmark on two sessions' machines differ with the machines (on 7 December
2026 the same code solved 1.7× slower on one 2-core machine than on another). Each benchmark
that judges a timing goal prints these two times first, so that a figure can be compared
with another machine's through their ratio:

- ``python``: a pure-Python loop of dictionary and string work, as the gallery's templates,
  Dagster's bookkeeping and the catalog's row handling do;
- ``extraction``: sep's extraction of a fixed synthetic 2000×2000 frame of 600 stars, as the
  solver's star finding does (C, memory-bound).

Best of five each, wall time, in milliseconds. Run alone: ``.venv/bin/python -m bench.machine``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPEATS = 5


def _best_ms(work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return 1000.0 * best


def _python_work() -> int:
    total = 0
    rows: list[dict[str, str]] = [
        {"id": str(i), "name": f"NGC {i}", "filter": "Ha" if i % 7 == 0 else "L"}
        for i in range(2000)
    ]
    for _ in range(20):
        for row in rows:
            label = f"{row['name']} ({row['filter']}) #{row['id']}"
            total += len(label)
    return total


def _frame() -> np.ndarray:
    rng = np.random.default_rng(2026)
    frame = rng.normal(0.0, 10.0, (2000, 2000)).astype(np.float32)
    yy, xx = np.mgrid[-6:7, -6:7]
    for _ in range(600):
        x, y = rng.uniform(10, 1990, 2)
        ix, iy = round(x), round(y)
        frame[iy - 6 : iy + 7, ix - 6 : ix + 7] += rng.uniform(100, 20_000) * np.exp(
            -((xx - (x - ix)) ** 2 + (yy - (y - iy)) ** 2) / (2 * 1.5**2)
        )
    return frame


def reference() -> dict[str, float]:
    """Milliseconds of each fixed workload (best of ``REPEATS``)."""
    import sep

    frame = _frame()
    sep.set_extract_pixstack(1_000_000)
    return {
        "python": _best_ms(_python_work),
        "extraction": _best_ms(lambda: sep.extract(frame, 5.0, err=10.0, minarea=5)),
    }


def describe() -> str:
    """One line for a benchmark's first output."""
    figures = reference()
    load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return (
        f"machine: python {figures['python']:.1f} ms, extraction {figures['extraction']:.1f} ms "
        f"(bench/machine.py, best of {REPEATS}; load {load})"
    )


if __name__ == "__main__":
    print(describe())
