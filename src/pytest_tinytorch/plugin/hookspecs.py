"""The plugin's own hooks, for a course's ``conftest.py``.

A course changes the curriculum (add a milestone, move a prerequisite, re-weight a rubric)
without copying it, and reacts when a milestone changes state (post to a chat, log to a
gradebook). Both are ordinary pluggy hooks, registered with ``pytest_addhooks``::

    # conftest.py (at the rootdir, so that it is loaded before collection starts)
    def pytest_tinytorch_modify_curriculum(curriculum, config):
        curriculum.set_rubric("perceptron", {"model": 0.5, "training": 0.5})

    def pytest_tinytorch_milestone_changed(milestone, old_state, new_state, config):
        print(f"{milestone.label}: {old_state} -> {new_state}")
"""

import pytest


@pytest.hookspec
def pytest_tinytorch_modify_curriculum(curriculum, config):
    """Change ``curriculum`` (a ``pytest_tinytorch.plugin.curriculum.Curriculum``) in place.

    Called once per process before collection, in every xdist worker as well as on the
    controller, so the change must not depend on which process runs it. Use
    ``curriculum.add_milestone``, ``set_requires`` and ``set_rubric`` or edit its lists;
    the curriculum is validated after the hook.
    """


@pytest.hookspec
def pytest_tinytorch_milestone_changed(milestone, old_state, new_state, config):
    """A milestone's state changed at the end of a run (controller only).

    ``milestone`` is the ``curriculum.Milestone``; the states are ``"LOCKED"``,
    ``"UNLOCKED"`` or ``"COMPLETE"``. Called once per change, after the state is saved.
    """
