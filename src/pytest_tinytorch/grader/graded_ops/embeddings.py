"""Grader declarations for the op of module 11 (``tinytorch/embeddings.py``).

The reference looks each id up on its own, one output row at a time: slow, but a different code
path from the library's single fancy-index gather, so a gather that reads the wrong rows (off
by one, say) shows up as a wrong forward value even when its backward matches it. The op is
graded in integration group 10_14 (``grading_group``).
"""

import numpy as np

from pytest_tinytorch.grader import strategies as cases
from pytest_tinytorch.grader.op_registry import register_op
from tinytorch import embeddings

MODULE = "embeddings"


def embedding_reference(weight, indices):
    """out[position] = weight[indices[position]] for every position of the ids."""
    out = np.empty(np.shape(indices) + weight.shape[1:], dtype=weight.dtype)
    for position in np.ndindex(*np.shape(indices)):
        out[position] = weight[int(indices[position])]
    return out


register_op("embedding", lambda weight, indices: embeddings.embedding(weight, indices), arity=1,
            cases=cases.embedding_cases, reference=embedding_reference,
            domain="a real table (1-5 rows, 1-4 columns) and integer ids of 0-2 dimensions, often repeated",
            module=MODULE)
