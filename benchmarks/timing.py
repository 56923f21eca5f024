"""Timing shared by the benchmarks: median milliseconds per step after warm-up.

The machines are shared and noisy, so every figure is reported next to a baseline timed in
the same run, interleaved round by round so that a slow patch hits both alike.
"""

from __future__ import annotations

import statistics
import time


def median_ms(step, warmup: int = 5, repeats: int = 20) -> float:
    """Median wall time of ``step()`` in milliseconds (``warmup`` untimed calls first)."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def interleaved_medians(steps: dict, warmup: int = 5, repeats: int = 20, rounds: int = 5) -> dict:
    """Median ms per step of each named step function, timed in alternating rounds."""
    samples = {name: [] for name in steps}
    for step in steps.values():
        for _ in range(warmup):
            step()
    per_round = max(1, repeats // rounds)
    for _ in range(rounds):
        for name, step in steps.items():
            for _ in range(per_round):
                start = time.perf_counter()
                step()
                samples[name].append(time.perf_counter() - start)
    return {name: 1000.0 * statistics.median(times) for name, times in samples.items()}


def report(title: str, medians: dict, baseline: str) -> str:
    """A small table: name, ms per step, ratio against ``baseline``."""
    lines = [title, f"{'implementation':<22}{'ms/step':>10}{'ratio':>10}"]
    for name, ms in medians.items():
        lines.append(f"{name:<22}{ms:>10.3f}{ms / medians[baseline]:>9.2f}x")
    return "\n".join(lines)
