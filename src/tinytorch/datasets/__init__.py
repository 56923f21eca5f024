"""Data for TinyTorch's milestones, as NumPy arrays ``(X, y)``.

- ``make_spiral_data``, ``make_moons``: generated two-dimensional toy problems (``toy.py``).
- ``load_digits``: 8x8 handwritten digits bundled with the package, offline (``digits.py``).
- ``load_mnist``: MNIST's 28x28 digits, downloaded once with checksums and cached
  (``mnist.py`` on top of the generic downloader in ``download.py``).
- ``load_shifted_digits``: the bundled digits at random places on a larger canvas, an
  offline image dataset on which a CNN beats an MLP (``shifted_digits.py``).
- ``load_cifar10``: CIFAR-10's 32x32 colour images, downloaded once, read without
  extracting or trusting the archive, cached as arrays (``cifar.py``).
- ``load_shakespeare``: the tiny-Shakespeare corpus (1.1 M characters) bundled, as a str,
  with a fixed train/validation split; ``load_text`` downloads any other UTF-8 text
  once (``shakespeare.py``).

Everything returns plain arrays (float32 features, except CIFAR-10's uint8 images unless
asked to normalize; int64 labels) and needs nothing else of the library, so the data works before a single module is built; wrap it in ``Tensor`` where
a model needs it.
"""

from tinytorch.datasets.cifar import CIFAR10_CLASSES, load_cifar10
from tinytorch.datasets.digits import load_digits
from tinytorch.datasets.download import ChecksumError, DownloadError, default_cache_dir
from tinytorch.datasets.mnist import load_mnist
from tinytorch.datasets.shakespeare import load_shakespeare, load_text
from tinytorch.datasets.shifted_digits import load_shifted_digits
from tinytorch.datasets.toy import make_moons, make_spiral_data

__all__ = [
    "CIFAR10_CLASSES",
    "ChecksumError",
    "DownloadError",
    "default_cache_dir",
    "load_cifar10",
    "load_digits",
    "load_mnist",
    "load_shakespeare",
    "load_shifted_digits",
    "load_text",
    "make_moons",
    "make_spiral_data",
]
