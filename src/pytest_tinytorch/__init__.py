"""pytest_tinytorch: the pytest plugin and course tooling that grade TinyTorch.

Three sub-packages, one per reason to change:

* ``plugin/``  the pytest plugin proper (entry point ``pytest_tinytorch.plugin``): curriculum,
  test membership, recorded outcomes, progress state, fingerprints, gating, quiet re-runs,
  status, reports and badge;
* ``grader/``  the hypothesis autograd grader: op registry, graded ops, strategies, the
  autograd and optimizer properties, broken engines for negative controls;
* ``course/``  the course tooling behind ``tito``: release, grading, probes, submission scan,
  Gradescope and GitHub Classroom, milestone code, the validator and mutation testing.

``from pytest_tinytorch import milestone`` gives the ``@milestone("perceptron")`` marker. The
flat import paths of earlier versions (``pytest_tinytorch.curriculum`` …) still work
(``old_paths``).
"""

import pytest

from pytest_tinytorch import old_paths
from pytest_tinytorch.plugin.curriculum import Curriculum, default_curriculum

old_paths.install()

milestone = pytest.mark.milestone
"""``@milestone("perceptron", rubric="training")`` marks a milestone's validation test."""

__all__ = ["Curriculum", "default_curriculum", "milestone"]
