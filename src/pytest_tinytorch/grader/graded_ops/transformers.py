"""Grader declarations for the ops of module 13 (``tinytorch/transformers.py``).

The reference normalises each vector with the textbook formula, one vector at a time, so a
slip shared by the library's forward and backward (the unbiased variance, eps outside the
square root, the mean over the wrong axis) shows up as a wrong forward value. Graded in
integration group 10_14 (``grading_group``).
"""

import numpy as np

from pytest_tinytorch.grader import strategies as cases
from pytest_tinytorch.grader.op_registry import register_op
from tinytorch import transformers

MODULE = "transformers"


def layer_norm_reference(x, weight, bias, eps):
    """(v - mean(v)) / sqrt(var(v) + eps) * weight + bias for every vector v along the last axis,
    with the biased variance (divided by the number of features), as PyTorch."""
    out = np.empty_like(x)
    for index in np.ndindex(*x.shape[:-1]):
        vector = x[index]
        variance = np.sum((vector - np.mean(vector)) ** 2) / vector.size
        out[index] = (vector - np.mean(vector)) / np.sqrt(variance + eps) * weight + bias
    return out


register_op("layer_norm", lambda x, weight, bias, eps: transformers.layer_norm(x, weight, bias, eps), arity=3,
            cases=cases.layer_norm_cases, reference=layer_norm_reference,
            domain="spread-out vectors of 2-4 features (a shuffled ladder), real weight and bias; eps 1e-5 to 0.1",
            module=MODULE)
