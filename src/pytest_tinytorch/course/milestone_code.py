"""Load the code a milestone's validation tests grade, and check the plots it draws.

In the instructor's repository a milestone directory holds the reference solution
``<name>_solution.py`` next to the student's starter (``<name>_milestone.py``; the
capstone's is ``systems_capstone.py``, ``Milestone.starter_file``). The student
edition leaves the solution out, so there the starter (filled in by the student) is what
gets graded. ``load_milestone("perceptron")`` imports whichever of the two is there,
solution first, so one validation file grades both:

    from pytest_tinytorch.course.milestone_code import load_milestone

    perceptron = load_milestone("perceptron")
    model = perceptron.Perceptron(hidden_dim=16)

The milestone's directory comes from the curriculum (``milestones/01_perceptron``), found
under the repository root: pytest's rootdir when a ``config`` is given, otherwise the first
directory that contains it, searching upwards from the calling file and from the working
directory. Importing a milestone notebook runs its top-level cells, so a notebook keeps its
demonstrations and training under ``if __name__ == "__main__":``; those run in Jupyter and
``python <file>``, never on import.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import sys
from pathlib import Path
from types import ModuleType

from pytest_tinytorch.plugin.curriculum import Curriculum, Milestone, default_curriculum

VARIANTS = ("auto", "solution", "starter")
"""``auto`` = the solution when it exists, else the starter; or ask for one explicitly."""

VARIANT_VARIABLE = "TINYTORCH_MILESTONE_VARIANT"
"""Set it to ``starter`` to grade the starters in the instructor's repository, as a student
edition would (every validation test should then fail on a TODO)."""

_loaded: dict[Path, tuple[int, ModuleType]] = {}
"""Imported milestone files by path, with the modification time they were imported at."""


class MilestoneCodeError(LookupError):
    """A milestone's directory or file cannot be found; the message says where it looked."""


def solution_path(directory: Path, milestone: Milestone) -> Path:
    return Path(directory) / f"{milestone.name}_solution.py"


def starter_path(directory: Path, milestone: Milestone) -> Path:
    return Path(directory) / milestone.starter_file


def milestone_directory(name: str, config=None, start: Path | str | None = None) -> Path:
    """The directory of milestone ``name`` (e.g. ``<root>/milestones/01_perceptron``).

    ``config`` (a pytest config) gives the curriculum the course runs with and the rootdir;
    ``start`` is where to begin the upward search (default: the calling file's directory).
    """
    milestone = _curriculum(config).milestone(name)
    roots = [Path(config.rootpath)] if config is not None else []
    if start is not None:
        roots += _upwards(Path(start))
    else:
        roots += _upwards(_caller_directory())
    roots += _upwards(Path.cwd())
    for root in roots:
        candidate = root / milestone.directory
        if candidate.is_dir():
            return candidate.resolve()
    searched = ", ".join(dict.fromkeys(str(root) for root in roots[:3]))
    raise MilestoneCodeError(
        f"{milestone.label}: no directory {milestone.directory!r} under the repository root; "
        f"searched upwards from {searched}. Expected the repository layout "
        f"'{milestone.directory}/{milestone.starter_file}'"
    )


def milestone_file(name: str, variant: str = "auto", config=None, start: Path | str | None = None) -> Path:
    """The file ``load_milestone`` would import (see ``VARIANTS``)."""
    if variant == "auto":
        variant = os.environ.get(VARIANT_VARIABLE) or "auto"
    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r}: expected one of {', '.join(VARIANTS)}")
    milestone = _curriculum(config).milestone(name)
    directory = milestone_directory(name, config, start if start is not None else _caller_directory())
    solution, starter = solution_path(directory, milestone), starter_path(directory, milestone)
    if variant == "solution" or (variant == "auto" and solution.is_file()):
        chosen = solution
    else:
        chosen = starter
    if not chosen.is_file():
        raise MilestoneCodeError(f"{milestone.label}: {chosen} does not exist")
    return chosen


def load_milestone(name: str, variant: str = "auto", config=None, start: Path | str | None = None) -> ModuleType:
    """Import a milestone's notebook as a module (once per file version) and return it.

    ``variant="auto"`` grades the reference solution when present, else the student's starter
    (or what the environment variable ``TINYTORCH_MILESTONE_VARIANT`` asks for).
    """
    path = milestone_file(name, variant, config, start if start is not None else _caller_directory())
    return import_notebook(path, f"tinytorch_milestone_{path.stem}")


def import_notebook(path: Path | str, module_name: str) -> ModuleType:
    """Import a jupytext ``.py`` notebook from its path; re-import only when the file changed."""
    path = Path(path).resolve()
    version = path.stat().st_mtime_ns
    cached = _loaded.get(path)
    if cached is not None and cached[0] == version:
        return cached[1]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickle look their module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    _loaded[path] = (version, module)
    return module


def starter_from_solution(solution_text: str, path: str = "<solution>") -> str:
    """The starter notebook a milestone solution implies: each solution block becomes a TODO.

    A milestone solution marks the student's work as the library does, with
    ``# BEGIN SOLUTION: <task>`` ... ``# END SOLUTION`` inside the function it belongs to.
    Each block turns into ``raise NotImplementedError("TODO: <task>")`` at its indentation;
    everything else (hints, scaffolding, demonstrations) is shared word for word, which is
    what keeps starter and solution from drifting apart.
    """
    from pytest_tinytorch.course.release import find_solution_blocks

    lines = solution_text.splitlines(keepends=True)
    blocks = find_solution_blocks(solution_text, path)
    for block in reversed(blocks):
        label = BLOCK_LABEL.search(lines[block.begin_line - 1])
        if label is None:
            raise ValueError(
                f"{path}:{block.begin_line}: a milestone solution block needs a task, as in "
                "'# BEGIN SOLUTION: Part 2, train - one gradient-descent step'"
            )
        message = json.dumps("TODO: " + label.group(1), ensure_ascii=False)
        todo = f"{block.indent}raise NotImplementedError({message})\n"
        lines[block.begin_line - 1 : block.end_line] = [todo]
    return "".join(lines)


BLOCK_LABEL = re.compile(r"#\s*BEGIN SOLUTION:\s*(\S.*?)\s*$")


def assert_png_has_content(path: Path | str, min_width: int = 200, min_height: int = 150,
                           min_colours: int = 8) -> tuple[int, int]:
    """Check that ``path`` is a real PNG with a drawing in it; return its (width, height).

    A plot passes when matplotlib decodes it as PNG, it is at least ``min_width`` x
    ``min_height`` pixels, it has at least ``min_colours`` distinct colours and no single
    colour covers more than 98% of it (a blank canvas or a lone title does not pass).
    """
    import numpy as np
    from matplotlib import image

    path = Path(path)
    assert path.is_file(), f"expected a plot at {path}; no file was written there"
    with open(path, "rb") as file:
        signature = file.read(8)
    assert signature == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file (starts with {signature!r})"
    pixels = image.imread(path)
    height, width = pixels.shape[:2]
    assert width >= min_width and height >= min_height, (
        f"{path.name} is {width}x{height} pixels; expected at least {min_width}x{min_height}"
    )
    flat = pixels.reshape(height * width, -1)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    assert len(colours) >= min_colours, (
        f"{path.name} has {len(colours)} distinct colours; expected at least {min_colours} "
        "(is the figure empty?)"
    )
    dominant = counts.max() / counts.sum()
    assert dominant <= 0.98, (
        f"{path.name} is {dominant:.1%} one colour; expected a drawing, not a blank canvas"
    )
    return width, height


def _curriculum(config) -> Curriculum:
    if config is not None:
        plugin = config.pluginmanager.get_plugin("tinytorch-session")
        if plugin is not None:
            return plugin.curriculum
    return default_curriculum()


def _upwards(directory: Path) -> list[Path]:
    directory = directory.resolve()
    return [directory, *directory.parents]


def _caller_directory() -> Path:
    """The directory of the first calling file outside this module."""
    here = Path(__file__).resolve()
    frame = inspect.currentframe()
    while frame is not None:
        filename = Path(frame.f_code.co_filename)
        if filename.is_file() and filename.resolve() != here:
            return filename.resolve().parent
        frame = frame.f_back
    return Path.cwd()
