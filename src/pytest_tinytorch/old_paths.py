"""The import paths of before the three sub-packages keep working.

Until the plugin, the autograd grader and the course tooling got a sub-package each
(``plugin/``, ``grader/``, ``course/``), every module sat directly in ``pytest_tinytorch``.
Instructors' conftests, student notebooks and older copies of the docs import those paths
(``from pytest_tinytorch.curriculum import Milestone``, ``pytest_tinytorch.milestone_code``,
``pytest_tinytorch.op_registry``), so each old path stays an alias: importing it returns the
moved module itself (the same object, so monkeypatching either name patches both).

The aliases cost nothing until used: a finder at the end of ``sys.meta_path`` answers only
for the names in ``MOVED``, and only after the normal finders found no such file.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

FAMILIES = {
    "plugin": ("curriculum", "hookspecs", "membership", "outcomes", "state", "fingerprint", "gating",
               "rerun", "status", "reports", "badge", "course_integrity"),
    "grader": ("autograd_properties", "optimizer_properties", "strategies", "op_registry",
               "broken_autograd", "graded_ops"),
    "course": ("cli", "release", "grading", "gradescope", "gradescope_autograder", "classroom",
               "validator", "milestone_code", "submission_scan", "probes", "mutation",
               "mutation_operators", "mutation_equivalents"),
}
"""Which sub-package each moved module now lives in."""

MOVED = {f"pytest_tinytorch.{name}": f"pytest_tinytorch.{family}.{name}"
         for family, names in FAMILIES.items() for name in names}
"""Old dotted path -> new dotted path."""


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``pytest_tinytorch.<old>`` as the module now at ``pytest_tinytorch.<family>.<old>``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None  # a throwaway module; exec_module puts the real one in its place

    def exec_module(self, module):
        # The import system returns whatever sys.modules holds under the name once the
        # module has been executed, so the alias name ends up bound to the moved module.
        sys.modules[module.__name__] = importlib.import_module(MOVED[module.__name__])


def install() -> None:
    """Add the finder once (importing ``pytest_tinytorch`` calls this)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
