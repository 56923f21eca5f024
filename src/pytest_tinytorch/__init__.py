"""pytest_tinytorch: the pytest plugin and course tooling that grade TinyTorch.

``from pytest_tinytorch import milestone`` gives the ``@milestone("perceptron")`` marker.
"""

import pytest

from pytest_tinytorch.curriculum import Curriculum, default_curriculum

milestone = pytest.mark.milestone
"""``@milestone("perceptron", rubric="training")`` marks a milestone's validation test."""

__all__ = ["Curriculum", "default_curriculum", "milestone"]
