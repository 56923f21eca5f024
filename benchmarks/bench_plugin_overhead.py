"""What the TinyTorch pytest plugin costs.

1. Overhead on a synthetic suite of 2,000 trivial tests (20 files of 100): median wall time
   of ``pytest -q`` with the plugin against ``pytest -q -p no:tinytorch``, run alternately
   in fresh subprocesses. Target: under 5 %.
2. Fingerprinting the installed ``tinytorch`` package. Target: under 50 ms.
3. ``pytest --tinytorch-status`` on this repository with a fresh state (an empty cache
   directory, so every group is re-run quietly), then again with the state it left.
   Target: under 3 s.

Run: ``python benchmarks/bench_plugin_overhead.py [--repeats 7]``. Prints the figures; the
machine is shared, so compare the ratio, not the absolute times.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_tinytorch.fingerprint import Fingerprinter, default_source_roots

REPOSITORY = Path(__file__).resolve().parents[1]
FILES, TESTS_PER_FILE = 20, 100


def write_trivial_suite(directory: Path) -> None:
    (directory / "pytest.ini").write_text("[pytest]\naddopts = -p no:randomly\n")
    body = "\n".join(f"def test_{i}():\n    assert {i} + 1 == {i + 1}\n" for i in range(TESTS_PER_FILE))
    for index in range(FILES):
        (directory / f"test_trivial_{index:02d}.py").write_text(body)


def _child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_seconds(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one command; CPU time is robust on a shared machine."""
    cpu, start = _child_cpu_seconds(), time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed, cpu = time.perf_counter() - start, _child_cpu_seconds() - cpu
    if completed.returncode not in (0,):
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stdout[-2000:]}{completed.stderr[-2000:]}")
    return elapsed, cpu


def overhead(repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds with and without the plugin."""
    with tempfile.TemporaryDirectory(prefix="tinytorch-bench-") as name:
        directory = Path(name)
        write_trivial_suite(directory)
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:benchmark"]
        runs: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
        run_seconds(base, directory)  # warm the file system cache and the pyc files
        for _ in range(repeats):
            runs["without"].append(run_seconds([*base, "-p", "no:tinytorch"], directory))
            runs["with"].append(run_seconds(base, directory))
        return {key: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
                for key, values in runs.items()}


def fingerprint_milliseconds(repeats: int = 20) -> float:
    roots = default_source_roots()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        Fingerprinter(REPOSITORY, roots)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def status_seconds() -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="tinytorch-status-") as cache:
        command = [sys.executable, "-m", "pytest", "--tinytorch-status", "-o", f"cache_dir={cache}"]
        fresh = run_seconds(command, REPOSITORY)
        current = run_seconds(command, REPOSITORY)
        return fresh, current


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args()
    figures = overhead(arguments.repeats)
    for index, kind in ((1, "CPU"), (0, "wall")):
        with_plugin, without_plugin = figures["with"][index], figures["without"][index]
        print(f"2,000 trivial tests, {kind} time: {with_plugin:.3f} s with the plugin, "
              f"{without_plugin:.3f} s without (-p no:tinytorch): overhead "
              f"{100 * (with_plugin / without_plugin - 1):+.1f}% ({1000 * (with_plugin - without_plugin):+.0f} ms), "
              f"median of {arguments.repeats}")
    print(f"fingerprint of the tinytorch sources: {fingerprint_milliseconds():.1f} ms (median of 20)")
    (fresh, fresh_cpu), (current, current_cpu) = status_seconds()
    print(f"pytest --tinytorch-status on this repository: {fresh:.2f} s wall with a fresh state "
          f"(re-runs every group, the autograd grader included), {current:.2f} s wall "
          f"({current_cpu:.2f} s CPU) with the state it left")


if __name__ == "__main__":
    main()
