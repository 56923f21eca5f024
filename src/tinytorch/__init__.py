"""TinyTorch: a deep-learning framework built from first principles on NumPy.

One file per curriculum module: ``tensor`` (01), ``activations`` (02), ``layers`` (03),
``losses`` (04), ``autograd`` (05), ``optimizers`` (06), ``training`` (07), and so on.
Import what you need from its module, e.g. ``from tinytorch.layers import Linear``.
"""

from tinytorch.rng import manual_seed
from tinytorch.tensor import Tensor, concatenate, stack

__version__ = "0.1.0"

__all__ = ["Tensor", "concatenate", "manual_seed", "stack", "__version__"]
