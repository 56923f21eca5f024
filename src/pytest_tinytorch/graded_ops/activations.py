"""Grader declarations for the ops of module 02 (``tinytorch/activations.py``)."""

from pytest_tinytorch import strategies as cases
from pytest_tinytorch.op_registry import register_op
from tinytorch import activations

MODULE = "activations"

register_op("relu", activations.relu, arity=1, cases=cases.elementwise_cases(),
            domain="real, never within 1e-3 of 0", module=MODULE)
register_op("sigmoid", activations.sigmoid, arity=1, cases=cases.elementwise_cases(), domain="real", module=MODULE)
register_op("tanh", activations.tanh, arity=1, cases=cases.elementwise_cases(), domain="real", module=MODULE)
register_op("gelu", activations.gelu, arity=1, cases=cases.elementwise_cases(), domain="real", module=MODULE)
register_op("softmax", lambda x, dim: activations.softmax(x, dim), arity=1, cases=cases.softmax_cases(),
            domain="real; any dim", module=MODULE)
register_op("log_softmax", lambda x, dim: activations.log_softmax(x, dim), arity=1,
            cases=cases.softmax_cases(), domain="real; any dim", module=MODULE)
