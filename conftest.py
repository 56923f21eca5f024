"""Repository-wide test configuration: the hypothesis profiles.

- ``ci``: derandomized (the same examples on every run and every machine), no example
  database, no deadline (shared runners are slow and uneven), and the reproduce blob printed
  with each failure. Chosen automatically when the ``CI`` environment variable is set.
- ``dev``: the default elsewhere: random examples, failures remembered in ``.hypothesis/``
  and replayed first until fixed.
- ``thorough``: ten times the examples, for instructors checking the grader or a solution.
- ``smoke``: three derandomized examples per property, for tests *of the course* that only need
  to know whether a whole edition passes or fails its groups (``tests/test_progression.py``),
  not how hard the grader looks; never for grading.

Every profile reports one bug per test (``report_multiple_bugs=False``): a student sees one
smallest failing example, and the plugin finds it in the exception's ``__notes__`` rather
than inside an ``ExceptionGroup``.

``HYPOTHESIS_PROFILE=<name>`` selects a profile explicitly. Each property test runs
``max_examples`` examples per op (30 by default): enough to find the broken autograds of the
negative controls (``tests/test_gradcheck_negative_controls.py``) and keep the whole grader
under a minute on two cores.
"""

import os

from hypothesis import HealthCheck, settings

EXAMPLES_PER_PROPERTY = 30
BASE = settings.get_profile("default")  # not whatever is loaded: hypothesis loads its own under CI

settings.register_profile(
    "ci",
    parent=BASE,
    max_examples=EXAMPLES_PER_PROPERTY,
    report_multiple_bugs=False,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", parent=BASE, max_examples=EXAMPLES_PER_PROPERTY, report_multiple_bugs=False, deadline=None
)
settings.register_profile(
    "thorough",
    parent=BASE,
    max_examples=10 * EXAMPLES_PER_PROPERTY,
    report_multiple_bugs=False,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

settings.register_profile(
    "smoke",
    parent=BASE,
    max_examples=3,
    report_multiple_bugs=False,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def chosen_profile(environ=os.environ) -> str:
    """HYPOTHESIS_PROFILE if set, else ``ci`` under CI, else ``dev``."""
    if environ.get("HYPOTHESIS_PROFILE"):
        return environ["HYPOTHESIS_PROFILE"]
    return "ci" if environ.get("CI") else "dev"


settings.load_profile(chosen_profile())
