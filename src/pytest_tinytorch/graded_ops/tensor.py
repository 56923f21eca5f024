"""Grader declarations for the ops of module 01 (``tinytorch/tensor.py``).

Subtraction and division are not listed: they are built from add, neg, mul and pow, so
they are graded through those (and through the random compositions of the grader).
"""

from pytest_tinytorch import strategies as cases
from pytest_tinytorch.op_registry import register_op
from tinytorch import concatenate, stack

MODULE = "tensor"

register_op("add", lambda a, b: a + b, arity=2, cases=cases.broadcast_cases(),
            domain="real, broadcast", module=MODULE, fan_out=True)
register_op("mul", lambda a, b: a * b, arity=2, cases=cases.broadcast_cases(),
            domain="real, broadcast", module=MODULE, fan_out=True)
register_op("pow", lambda base, exponent: base**exponent, arity=2,
            cases=cases.broadcast_cases(("positive", "real")),
            domain="positive base, real exponent, broadcast", module=MODULE, fan_out=True)
register_op("neg", lambda a: -a, arity=1, cases=cases.elementwise_cases(), domain="real", module=MODULE)
register_op("matmul", lambda a, b: a @ b, arity=2, cases=cases.matmul_cases(),
            domain="real; vector and (batched) matrix products", module=MODULE)

register_op("sum", lambda a, axis, keepdims: a.sum(axis=axis, keepdims=keepdims), arity=1,
            cases=cases.reduction_cases(), domain="real; any axis, keepdims", module=MODULE)
register_op("mean", lambda a, axis, keepdims: a.mean(axis=axis, keepdims=keepdims), arity=1,
            cases=cases.reduction_cases(), domain="real; any axis, keepdims", module=MODULE)
register_op("max", lambda a, axis, keepdims: a.max(axis=axis, keepdims=keepdims), arity=1,
            cases=cases.reduction_cases("distinct"), domain="distinct values (no ties)", module=MODULE)
register_op("min", lambda a, axis, keepdims: a.min(axis=axis, keepdims=keepdims), arity=1,
            cases=cases.reduction_cases("distinct"), domain="distinct values (no ties)", module=MODULE)

register_op("reshape", lambda a, shape: a.reshape(shape), arity=1, cases=cases.reshape_cases(),
            domain="real; any shape of the same size", module=MODULE)
register_op("transpose", lambda a, axes: a.transpose(axes), arity=1, cases=cases.transpose_cases(),
            domain="real; any permutation of the axes", module=MODULE)
register_op("getitem", lambda a, index: a[index], arity=1, cases=cases.getitem_cases(),
            domain="real; basic, integer-array (repeats) and boolean indices", module=MODULE)

register_op("exp", lambda a: a.exp(), arity=1, cases=cases.elementwise_cases(), domain="real", module=MODULE)
register_op("log", lambda a: a.log(), arity=1, cases=cases.elementwise_cases("positive"),
            domain="positive", module=MODULE)
register_op("sqrt", lambda a: a.sqrt(), arity=1, cases=cases.elementwise_cases("positive"),
            domain="positive", module=MODULE)
register_op("abs", lambda a: a.abs(), arity=1, cases=cases.elementwise_cases(),
            domain="real, never within 1e-3 of 0", module=MODULE)
register_op("clip", lambda a, low, high: a.clip(low, high), arity=1, cases=cases.clip_cases(),
            domain="real, never within 1e-3 of a bound", module=MODULE)

register_op("concatenate", lambda *parts, axis: concatenate(parts, axis=axis), arity=None,
            cases=cases.concatenate_cases(), domain="real; 1 to 3 parts", module=MODULE, fan_out=True)
register_op("stack", lambda *parts, axis: stack(parts, axis=axis), arity=None,
            cases=cases.stack_cases(), domain="real; 1 to 3 parts", module=MODULE, fan_out=True)
