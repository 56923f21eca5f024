"""Grader declarations for the ops of module 01 (``tinytorch/tensor.py``).

Subtraction and division are not listed: they are built from add, neg, mul and pow, so
they are graded through those (and through the random compositions of the grader).

Each ``reference`` is the op's forward in plain NumPy, written from the definition: the
grader compares the library's forward values with it on every generated case. ``concatenate``
and ``stack`` are looked up on ``tinytorch`` at call time, so a test can patch them.
"""

import numpy as np

import tinytorch
from pytest_tinytorch.grader import strategies as cases
from pytest_tinytorch.grader.op_registry import register_op

MODULE = "tensor"

register_op("add", lambda a, b: a + b, arity=2, cases=cases.broadcast_cases(),
            domain="real, broadcast", module=MODULE, fan_out=True, reference=np.add)
register_op("mul", lambda a, b: a * b, arity=2, cases=cases.broadcast_cases(),
            domain="real, broadcast", module=MODULE, fan_out=True, reference=np.multiply)
register_op("pow", lambda base, exponent: base**exponent, arity=2,
            cases=cases.broadcast_cases(("positive", "real")),
            domain="positive base, real exponent, broadcast", module=MODULE, fan_out=True,
            reference=np.power)
register_op("neg", lambda a: -a, arity=1, cases=cases.elementwise_cases(), domain="real", module=MODULE,
            reference=np.negative)
register_op("matmul", lambda a, b: a @ b, arity=2, cases=cases.matmul_cases(),
            domain="real; vector and (batched) matrix products", module=MODULE, reference=np.matmul)

register_op("sum", lambda a, axis, keepdims: a.sum(axis=axis, keepdims=keepdims), arity=1,
            cases=cases.reduction_cases(), domain="real; any axis, keepdims", module=MODULE,
            reference=lambda a, axis, keepdims: np.sum(a, axis=axis, keepdims=keepdims))
register_op("mean", lambda a, axis, keepdims: a.mean(axis=axis, keepdims=keepdims), arity=1,
            cases=cases.reduction_cases(), domain="real; any axis, keepdims", module=MODULE,
            reference=lambda a, axis, keepdims: np.mean(a, axis=axis, keepdims=keepdims))
register_op("max", lambda a, axis, keepdims: a.max(axis=axis, keepdims=keepdims), arity=1,
            cases=cases.reduction_cases("distinct"), domain="distinct values (no ties)", module=MODULE,
            reference=lambda a, axis, keepdims: np.max(a, axis=axis, keepdims=keepdims))
register_op("min", lambda a, axis, keepdims: a.min(axis=axis, keepdims=keepdims), arity=1,
            cases=cases.reduction_cases("distinct"), domain="distinct values (no ties)", module=MODULE,
            reference=lambda a, axis, keepdims: np.min(a, axis=axis, keepdims=keepdims))

register_op("reshape", lambda a, shape: a.reshape(shape), arity=1, cases=cases.reshape_cases(),
            domain="real; any shape of the same size", module=MODULE,
            reference=lambda a, shape: np.reshape(a, shape))
register_op("transpose", lambda a, axes: a.transpose(axes), arity=1, cases=cases.transpose_cases(),
            domain="real; any permutation of the axes", module=MODULE,
            reference=lambda a, axes: np.transpose(a, axes))
register_op("getitem", lambda a, index: a[index], arity=1, cases=cases.getitem_cases(),
            domain="real; basic, integer-array (repeats) and boolean indices", module=MODULE,
            reference=lambda a, index: np.array(a[index]))

register_op("exp", lambda a: a.exp(), arity=1, cases=cases.elementwise_cases(), domain="real", module=MODULE,
            reference=np.exp)
register_op("log", lambda a: a.log(), arity=1, cases=cases.elementwise_cases("positive"),
            domain="positive", module=MODULE, reference=np.log)
register_op("sqrt", lambda a: a.sqrt(), arity=1, cases=cases.elementwise_cases("positive"),
            domain="positive", module=MODULE, reference=np.sqrt)
register_op("abs", lambda a: a.abs(), arity=1, cases=cases.elementwise_cases(),
            domain="real, never within 1e-3 of 0", module=MODULE, reference=np.abs)
register_op("clip", lambda a, low, high: a.clip(low, high), arity=1, cases=cases.clip_cases(),
            domain="real, never within 1e-3 of a bound", module=MODULE,
            reference=lambda a, low, high: np.clip(a, low, high))

register_op("concatenate", lambda *parts, axis: tinytorch.concatenate(parts, axis=axis), arity=None,
            cases=cases.concatenate_cases(), domain="real; 1 to 3 parts", module=MODULE, fan_out=True,
            reference=lambda *parts, axis: np.concatenate(parts, axis=axis))
register_op("stack", lambda *parts, axis: tinytorch.stack(parts, axis=axis), arity=None,
            cases=cases.stack_cases(), domain="real; 1 to 3 parts", module=MODULE, fan_out=True,
            reference=lambda *parts, axis: np.stack(parts, axis=axis))
