"""What the TinyTorch pytest plugin costs.

1. Overhead on a synthetic suite of 2,000 trivial tests (20 files of 100): median wall time
   of ``pytest -q`` with the plugin against ``pytest -q -p no:tinytorch``, run alternately
   in fresh subprocesses. Target: under 5 %.
2. Fingerprinting the installed ``tinytorch`` package, and every unit of the curriculum
   (warm and cold test-file scan). Target: under 50 ms.
3. ``pytest --tinytorch-status`` on this repository with a fresh state (an empty cache
   directory, so every group is re-run quietly), then again with the state it left.
   Target: under 3 s.
4. ``pytest --tinytorch-status`` in a fresh student edition (every TODO unwritten: all five
   groups re-run quietly and fail), then after a comment added to module 01 (nothing re-run)
   and after a one-line code change in module 01 (the groups it feeds re-run). Target: every
   one under 10 s (issue #10).

Run: ``python benchmarks/bench_plugin_overhead.py [--repeats 7] [--edition-only]``. Prints the figures; the
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

from pytest_tinytorch.course.release import release
from pytest_tinytorch.plugin.curriculum import default_curriculum
from pytest_tinytorch.plugin.fingerprint import Fingerprinter, default_source_roots
from pytest_tinytorch.plugin.gating import Course
from pytest_tinytorch.plugin.membership import TestIndex

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


def fingerprint_milliseconds(repeats: int = 20) -> tuple[float, float, float]:
    """Median ms to fingerprint the sources alone, then every unit of the curriculum with a
    cold test-file index (a syntax-tree scan of every test file that may call a marker) and
    with a warm one (the scan cache kept in the state: only changed files are parsed)."""
    roots = default_source_roots()
    sources, cold, warm = [], [], []
    curriculum = default_curriculum()
    testpaths = [REPOSITORY / name for name in ("modules", "milestones", "tests")]

    def every_unit(cache: dict) -> float:
        start = time.perf_counter()
        index = TestIndex(REPOSITORY, testpaths, ["test_*.py"], curriculum, cache)
        course = Course(curriculum, REPOSITORY, index, Fingerprinter(REPOSITORY, roots))
        for unit in course.units():
            course.fingerprint(unit)
        return 1000 * (time.perf_counter() - start)

    for _ in range(repeats):
        start = time.perf_counter()
        Fingerprinter(REPOSITORY, roots)
        sources.append(1000 * (time.perf_counter() - start))
        cache: dict = {}
        cold.append(every_unit(cache))
        warm.append(every_unit(cache))
    return statistics.median(sources), statistics.median(cold), statistics.median(warm)


def status_seconds() -> tuple[tuple[float, float], ...]:
    """(wall, CPU) of: status with a fresh state, status with the state it left, and
    pytest's own start-up on this repository (``--markers`` without the plugin) to compare."""
    with tempfile.TemporaryDirectory(prefix="tinytorch-status-") as cache:
        command = [sys.executable, "-m", "pytest", "--tinytorch-status", "-o", f"cache_dir={cache}"]
        fresh = run_seconds(command, REPOSITORY)
        current = run_seconds(command, REPOSITORY)
        startup = run_seconds([sys.executable, "-m", "pytest", "--markers", "-p", "no:tinytorch"], REPOSITORY)
        return fresh, current, startup


def edition_status_seconds(repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) of status in a fresh student edition, after a comment edit and after
    a one-line code edit in module 01; each repeat starts from a new state."""
    runs: dict[str, list[tuple[float, float]]] = {"fresh": [], "comment": [], "code": []}
    with tempfile.TemporaryDirectory(prefix="tinytorch-edition-") as name:
        edition = Path(name) / "edition"
        release(REPOSITORY, edition)
        tensor = edition / "src/tinytorch/tensor.py"
        original = tensor.read_text()
        # the edition's own library, as in a student's venv (the plugin refuses another one)
        command = ["env", f"PYTHONPATH={edition / 'src'}", sys.executable, "-m", "pytest", "--tinytorch-status"]
        for repeat in range(repeats):
            tensor.write_text(original)
            cache = Path(name) / f"cache{repeat}"
            runs["fresh"].append(run_seconds([*command, "-o", f"cache_dir={cache}"], edition))
            tensor.write_text(original + "# a student's note\n")
            runs["comment"].append(run_seconds([*command, "-o", f"cache_dir={cache}"], edition))
            todo = 'raise NotImplementedError("TODO (01_tensor): Tensor.__neg__")'
            assert todo in original, "the edition's module 01 changed: pick another line to edit"
            tensor.write_text(original.replace(todo, todo.replace("__neg__", "__neg__ (edited)")))
            runs["code"].append(run_seconds([*command, "-o", f"cache_dir={cache}"], edition))
    return {key: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
            for key, values in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--edition-only", action="store_true", help="only part 4 (status in an edition)")
    arguments = parser.parse_args()
    edition = edition_status_seconds(max(1, arguments.repeats // 2))
    print("pytest --tinytorch-status in a fresh student edition: "
          + "; ".join(f"{what} {wall:.2f} s wall ({cpu:.2f} s CPU)" for what, (wall, cpu) in (
              ("fresh", edition["fresh"]), ("after a comment in module 01", edition["comment"]),
              ("after a one-line code edit in module 01", edition["code"])))
          + f" (medians of {max(1, arguments.repeats // 2)})")
    if arguments.edition_only:
        return
    figures = overhead(arguments.repeats)
    for index, kind in ((1, "CPU"), (0, "wall")):
        with_plugin, without_plugin = figures["with"][index], figures["without"][index]
        print(f"2,000 trivial tests, {kind} time: {with_plugin:.3f} s with the plugin, "
              f"{without_plugin:.3f} s without (-p no:tinytorch): overhead "
              f"{100 * (with_plugin / without_plugin - 1):+.1f}% ({1000 * (with_plugin - without_plugin):+.0f} ms), "
              f"median of {arguments.repeats}")
    sources, cold, warm = fingerprint_milliseconds()
    print(f"fingerprint of the tinytorch sources: {sources:.1f} ms; of every unit: {warm:.1f} ms "
          f"with the scan cache of the state, {cold:.1f} ms with a cold scan (first run) (medians of 20)")
    (fresh, fresh_cpu), (current, current_cpu), (startup, startup_cpu) = status_seconds()
    print(f"pytest --tinytorch-status on this repository: {fresh:.2f} s wall ({fresh_cpu:.2f} s CPU) "
          f"with a fresh state (re-runs every group, the autograd grader included); "
          f"{current:.2f} s wall ({current_cpu:.2f} s CPU) with the state it left; "
          f"pytest's own start-up (--markers -p no:tinytorch): {startup:.2f} s wall ({startup_cpu:.2f} s CPU)")


if __name__ == "__main__":
    main()
