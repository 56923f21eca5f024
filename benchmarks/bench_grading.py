"""How long ``tito grade`` takes for a class: N copies of a student edition, J at a time.

    python benchmarks/bench_grading.py                      # 20 solved copies, --jobs 2
    python benchmarks/bench_grading.py --copies 20 --jobs 2 --solutions-through 0

Each copy is a student edition of this repository (by default with every solution kept and
each milestone starter replaced by the milestone's reference solution: a student who finished
everything, so that the whole suite really runs and scores full marks); the script grades
them with the same function ``tito grade`` uses and prints the wall-clock time, the time per
submission and the scores (which must all be equal: the copies are identical).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pytest_tinytorch import default_curriculum
from pytest_tinytorch.course.grading import Limits, grade_submissions
from pytest_tinytorch.course.release import release

REPOSITORY = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--solutions-through", type=int, default=19,
                        help="modules whose solutions the copies keep (19: all, 0: a fresh edition)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--memory-mb", type=int, default=4096)
    options = parser.parse_args()

    workspace = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        edition = workspace / "edition"
        release(REPOSITORY, edition, solutions_through=options.solutions_through)
        if options.solutions_through == 19:
            for milestone in default_curriculum().milestones:
                folder = Path(milestone.directory)
                shutil.copyfile(REPOSITORY / folder / f"{milestone.name}_solution.py",
                                edition / folder / milestone.starter_file)
        copies = []
        for index in range(options.copies):
            copy = workspace / "class" / f"student{index:02d}"
            shutil.copytree(edition, copy)
            copies.append(copy)
        started = time.perf_counter()
        results = grade_submissions(
            REPOSITORY, copies, workspace / "out", jobs=options.jobs,
            limits=Limits(options.timeout, options.memory_mb or None),
        )
        elapsed = time.perf_counter() - started
    finally:
        shutil.rmtree(workspace, ignore_errors=True)

    durations = [r.duration_s for r in results]
    scores = sorted({(r.status, r.score, r.max_score) for r in results})
    passed = statistics.mean(r.tests["passed"] for r in results)
    print(f"graded {len(results)} copies (solutions through {options.solutions_through:02d}) "
          f"with --jobs {options.jobs} on {sys.platform}")
    print(f"  wall clock: {elapsed:.1f} s  ({elapsed / len(results):.2f} s per submission)")
    print(f"  one submission's pytest run: median {statistics.median(durations):.1f} s, "
          f"max {max(durations):.1f} s")
    print(f"  tests passed per submission: {passed:.0f}")
    print(f"  (status, score, max score) seen: {scores}")
    return 0 if len(scores) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
