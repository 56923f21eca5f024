"""Grader declarations for the ops of module 04 (``tinytorch/losses.py``).

Only the logits are differentiable; targets and the reduction are the case's parameters.
"""

from pytest_tinytorch import strategies as cases
from pytest_tinytorch.op_registry import register_op
from tinytorch import losses

MODULE = "losses"

register_op("cross_entropy", lambda logits, targets, reduction: losses.cross_entropy(logits, targets, reduction),
            arity=1, cases=cases.cross_entropy_cases(),
            domain="real logits (N, C), integer targets, any reduction", module=MODULE)
register_op("bce_with_logits",
            lambda logits, targets, reduction: losses.binary_cross_entropy_with_logits(logits, targets, reduction),
            arity=1, cases=cases.bce_with_logits_cases(),
            domain="real logits, targets in [0, 1], any reduction", module=MODULE)
