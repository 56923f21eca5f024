"""Data for TinyTorch's milestones, as NumPy arrays ``(X, y)``.

- ``make_spiral_data``, ``make_moons``: generated two-dimensional toy problems (``toy.py``).
- ``load_digits``: 8x8 handwritten digits bundled with the package, offline (``digits.py``).
- ``load_mnist``: MNIST's 28x28 digits, downloaded once with checksums and cached
  (``mnist.py`` on top of the generic downloader in ``download.py``).

Everything returns plain arrays (float32 features, int64 labels) and needs nothing else of
the library, so the data works before a single module is built; wrap it in ``Tensor`` where
a model needs it.
"""

from tinytorch.datasets.digits import load_digits
from tinytorch.datasets.download import ChecksumError, DownloadError, default_cache_dir
from tinytorch.datasets.mnist import load_mnist
from tinytorch.datasets.toy import make_moons, make_spiral_data

__all__ = [
    "ChecksumError",
    "DownloadError",
    "default_cache_dir",
    "load_digits",
    "load_mnist",
    "make_moons",
    "make_spiral_data",
]
