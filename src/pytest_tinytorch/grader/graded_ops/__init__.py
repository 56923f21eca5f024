"""Declarations of the differentiable ops, one file per curriculum module.

``graded_ops/tensor.py`` declares the ops of ``tinytorch/tensor.py``, and so on; the registry
(``pytest_tinytorch.grader.op_registry``) imports the file named after each curriculum module when
it exists. A module that adds a differentiable op adds its declarations in a file here.
"""
