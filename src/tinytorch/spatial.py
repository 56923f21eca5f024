"""Module 09 — Spatial: convolution, pooling and batch normalisation for images.

Images are tensors of shape (N, C, H, W): a batch of N images with C channels each. A
convolution slides a small kernel over every position of the image and takes the same
weighted sum everywhere, so a 3x3 kernel learns one local pattern (an edge, a corner) and
finds it anywhere, with 9 weights per channel pair instead of one weight per pixel pair.

Written directly, a convolution is six nested loops (batch, output channel, row, column,
input channel, kernel offset), and in Python that takes minutes for one CIFAR batch. The
fast way is **im2col**: copy every kernel-sized window of the (padded) input into one column
of a matrix, so that the whole convolution becomes ONE matrix product with the weights,
which BLAS computes at full speed. The price is memory: each input value is copied once for
every window that covers it (about k*k times for stride 1).

The backward pass is the same idea in reverse. The gradient of the columns comes from one
matrix product; **col2im** then adds each column's values back to the input positions they
were read from, with a loop over the k*k kernel offsets (each step adds one strided slice for
all images, channels and positions at once), never a loop over pixels.

Pooling reads the same windows: max pooling keeps the largest value (and routes the gradient
to it), average pooling keeps the mean (and shares the gradient evenly). Batch normalisation
rescales each channel to zero mean and unit variance using the statistics of the batch while
training, and the running averages of those statistics in evaluation.

Each op has a functional form (``conv2d``, ``max_pool2d``, ``avg_pool2d``, ``batch_norm2d``)
whose backward rule sits right after it, and a layer (``Conv2d``, ``MaxPool2d``,
``AvgPool2d``, ``BatchNorm2d``) that holds the parameters and settings, as in PyTorch.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinytorch.autograd import backward_rule
from tinytorch.layers import Flatten, Module, Parameter
from tinytorch.rng import generator
from tinytorch.tensor import Tensor, as_tensor

CHANNEL_AXES = (0, 2, 3)
"""Batch normalisation of images averages over the batch and both spatial axes."""


# -- settings and shape checks (given) -----------------------------------------------------------
def _pair(value, what: str, minimum: int) -> tuple:
    """An int or a pair of ints (rows, columns) as a pair, each at least ``minimum``."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= minimum for v in pair):
        raise ValueError(f"{what}={value!r}: expected an int >= {minimum} or a pair of them")
    return int(pair[0]), int(pair[1])


def _show(pair: tuple):
    """A pair as a user writes it: ``3`` for (3, 3), ``(1, 2)`` otherwise."""
    return pair[0] if pair[0] == pair[1] else pair


def _check_images(name: str, x: Tensor, channels: int | None = None) -> None:
    """Refuse anything but a batch of images (N, C, H, W) with the expected channel count."""
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        expected = f"(N, {channels}, H, W)" if channels is not None else "(N, C, H, W)"
        raise ValueError(f"{name} got input of shape {x.shape}: expected {expected}")


def _output_size(name: str, shape: tuple, kernel: tuple, stride: tuple, padding: tuple) -> tuple:
    """Rows and columns of the output: (size + 2 padding - kernel) // stride + 1 per axis."""
    padded = (shape[2] + 2 * padding[0], shape[3] + 2 * padding[1])
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        raise ValueError(
            f"{name} got input of shape {shape}: the padded input is {padded[0]}x{padded[1]} "
            f"(padding={_show(padding)}), smaller than the {kernel[0]}x{kernel[1]} kernel"
        )
    return tuple((size - k) // s + 1 for size, k, s in zip(padded, kernel, stride))


def pad_images(images: np.ndarray, padding: tuple) -> np.ndarray:
    """Zeros around the two spatial axes of (N, C, H, W) (one allocation and one copy)."""
    rows, columns = padding
    if rows == 0 and columns == 0:
        return images
    n, c, h, w = images.shape
    padded = np.zeros((n, c, h + 2 * rows, w + 2 * columns), dtype=images.dtype)
    padded[:, :, rows:rows + h, columns:columns + w] = images
    return padded


def crop_images(images: np.ndarray, padding: tuple) -> np.ndarray:
    """The inverse of ``pad_images``: the interior of a padded (N, C, H, W) array."""
    rows, columns = padding
    h, w = images.shape[2:]
    return images[:, :, rows:h - rows, columns:w - columns]


# -- windows: the one idea behind convolution and pooling -------------------------------------
def kernel_offset_view(images: np.ndarray, offset: tuple, stride: tuple, out_size: tuple) -> np.ndarray:
    """The element at kernel offset (i, j) of every window, as one strided view (N, C, OH, OW).

    Window (r, c) starts at row ``r * stride_rows`` and column ``c * stride_columns``, so its
    element (i, j) is ``images[:, :, i + r * stride_rows, j + c * stride_columns]``. A loop over
    the k*k offsets therefore visits every window element of every image and channel at once.
    No data is copied: writing into the view writes into ``images``.
    """
    # BEGIN SOLUTION
    (i, j), (stride_rows, stride_columns), (rows, columns) = offset, stride, out_size
    return images[:, :, i:i + stride_rows * rows:stride_rows, j:j + stride_columns * columns:stride_columns]
    # END SOLUTION


def im2col(padded: np.ndarray, kernel: tuple, stride: tuple) -> np.ndarray:
    """(N, C, H, W) -> columns (N, C*kh*kw, OH*OW): column p holds the window under output p.

    ``sliding_window_view`` gives every window as a view (N, C, H-kh+1, W-kw+1, kh, kw) without
    copying; keeping every ``stride``-th window and reordering the axes to (N, C, kh, kw, OH, OW)
    before the reshape makes the one copy, in the row order of ``weight.reshape(C_out, -1)``.
    """
    # BEGIN SOLUTION
    windows = sliding_window_view(padded, kernel, axis=(2, 3))[:, :, ::stride[0], ::stride[1]]
    n, c, rows, columns, kh, kw = windows.shape
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, rows * columns)
    # END SOLUTION


def col2im(columns: np.ndarray, padded_shape: tuple, kernel: tuple, stride: tuple) -> np.ndarray:
    """The adjoint of ``im2col``: add every column entry back where it was read from.

    A value read by several windows receives the sum of their gradients. One strided add per
    kernel offset (k*k of them) covers all images, channels and windows at once.
    """
    # BEGIN SOLUTION
    n, c, height, width = padded_shape
    out_size = ((height - kernel[0]) // stride[0] + 1, (width - kernel[1]) // stride[1] + 1)
    per_offset = columns.reshape(n, c, kernel[0], kernel[1], *out_size)
    images = np.zeros(padded_shape, dtype=columns.dtype)
    for i, j in np.ndindex(*kernel):
        kernel_offset_view(images, (i, j), stride, out_size)[...] += per_offset[:, :, i, j]
    return images
    # END SOLUTION


# -- convolution ---------------------------------------------------------------------------------
def _check_conv_arguments(x: Tensor, weight: Tensor, bias) -> str:
    """Shapes of conv2d's tensors; returns the name used in error messages."""
    if weight.ndim != 4:
        raise ValueError(
            f"conv2d got weight of shape {weight.shape}: expected (out_channels, in_channels, kh, kw)"
        )
    out_channels, in_channels = weight.shape[:2]
    name = f"conv2d with weight of shape {weight.shape}"
    _check_images(name, x, in_channels)
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{name} got bias of shape {bias.shape}: expected ({out_channels},)")
    return name


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) of images (N, C_in, H, W) with
    ``weight`` (C_out, C_in, kh, kw) and an optional ``bias`` (C_out,): (N, C_out, OH, OW).

    out[n, o, r, c] = bias[o] + sum over (i, kh, kw) of
                      weight[o, i, kh, kw] * padded[n, i, r * stride + kh, c * stride + kw]
    """
    x, weight = as_tensor(x), as_tensor(weight)  # arrays and lists too, as every other op
    bias = None if bias is None else as_tensor(bias)
    stride, padding = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    name = _check_conv_arguments(x, weight, bias)
    kernel = weight.shape[2:]
    out_size = _output_size(name, x.shape, kernel, stride, padding)
    parents = (x, weight) if bias is None else (x, weight, bias)
    # BEGIN SOLUTION
    columns = im2col(pad_images(x.data, padding), kernel, stride)
    weight_rows = weight.data.reshape(weight.shape[0], -1)  # (C_out, C_in*kh*kw)
    data = np.matmul(weight_rows, columns).reshape(x.shape[0], weight.shape[0], *out_size)
    if bias is not None:
        data += bias.data.reshape(-1, 1, 1)
    # END SOLUTION
    saved = {"stride": stride, "padding": padding, "columns": columns}
    return Tensor._result(data, "conv2d", parents, saved)


@backward_rule("conv2d")
def conv2d_backward(grad, out, x, weight, bias=None, *, stride, padding, columns):
    """The forward is ``weight_rows @ columns`` per image, so (per image) the weight's gradient
    is ``grad @ columns.T``, the columns' gradient is ``weight_rows.T @ grad`` (then col2im),
    and the bias collects ``grad`` summed over the batch and every position."""
    # BEGIN SOLUTION
    n, out_channels = grad.shape[:2]
    grad_rows = grad.reshape(n, out_channels, -1)  # (N, C_out, OH*OW)
    grad_x = grad_weight = grad_bias = None
    if weight.requires_grad:  # (columns @ grad.T).T: NumPy runs this layout several times faster
        per_image = np.matmul(columns, grad_rows.transpose(0, 2, 1))  # (N, C_in*kh*kw, C_out)
        grad_weight = per_image.sum(axis=0).T.reshape(weight.shape)
    if bias is not None and bias.requires_grad:
        grad_bias = grad_rows.sum(axis=(0, 2))
    if x.requires_grad:
        grad_columns = np.matmul(weight.data.reshape(out_channels, -1).T, grad_rows)
        padded_shape = (n, x.shape[1], x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
        grad_x = crop_images(col2im(grad_columns, padded_shape, weight.shape[2:], stride), padding)
    return grad_x, grad_weight, grad_bias
    # END SOLUTION


# -- pooling -------------------------------------------------------------------------------------
def _pool_settings(layer: str, x: Tensor, kernel_size, stride) -> tuple:
    """Kernel, stride (the kernel size when None, as in PyTorch) and output size of a pool."""
    kernel = _pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None else _pair(stride, "stride", 1)
    name = f"{layer}(kernel_size={_show(kernel)}" + (f", stride={_show(stride)})" if stride != kernel else ")")
    _check_images(name, x)
    return kernel, stride, _output_size(name, x.shape, kernel, stride, (0, 0))


def max_pool2d(x: Tensor, kernel_size, stride=None) -> Tensor:
    """The largest value of each kernel-sized window: (N, C, H, W) -> (N, C, OH, OW)."""
    x = as_tensor(x)
    kernel, stride, out_size = _pool_settings("max_pool2d", x, kernel_size, stride)
    # BEGIN SOLUTION
    data = None
    for offset in np.ndindex(*kernel):
        candidates = kernel_offset_view(x.data, offset, stride, out_size)
        data = candidates.copy() if data is None else np.maximum(data, candidates, out=data)
    # END SOLUTION
    return Tensor._result(data, "max_pool2d", (x,), {"kernel": kernel, "stride": stride})


@backward_rule("max_pool2d")
def max_pool2d_backward(grad, out, x, kernel, stride):
    """Each window's gradient goes to the position of its maximum; on a tie, to the first one
    in row-major order (as PyTorch), so the gradient is never counted twice."""
    # BEGIN SOLUTION
    overlapping = stride[0] < kernel[0] or stride[1] < kernel[1]
    tiled = stride == kernel and x.shape[2] % kernel[0] == 0 and x.shape[3] % kernel[1] == 0
    grad_x = np.empty(x.shape, grad.dtype) if tiled else np.zeros(x.shape, grad.dtype)  # tiled: all written
    unclaimed = np.array(grad)  # what each window has not yet handed to a winner
    offsets = list(np.ndindex(*kernel))
    for offset in offsets:
        is_max = kernel_offset_view(x.data, offset, stride, out.shape[2:]) == out.data
        target = kernel_offset_view(grad_x, offset, stride, out.shape[2:])
        if overlapping:  # a pixel may win several windows: add
            handed = unclaimed * is_max
            target += handed
        else:  # each pixel is in one window at most: write in place, no temporary
            handed = np.multiply(unclaimed, is_max, out=target)
        if offset != offsets[-1]:
            unclaimed -= handed
    return (grad_x,)
    # END SOLUTION


def avg_pool2d(x: Tensor, kernel_size, stride=None) -> Tensor:
    """The mean of each kernel-sized window: (N, C, H, W) -> (N, C, OH, OW)."""
    x = as_tensor(x)
    kernel, stride, out_size = _pool_settings("avg_pool2d", x, kernel_size, stride)
    # BEGIN SOLUTION
    total = sum(kernel_offset_view(x.data, offset, stride, out_size) for offset in np.ndindex(*kernel))
    data = total / (kernel[0] * kernel[1])
    # END SOLUTION
    return Tensor._result(data, "avg_pool2d", (x,), {"kernel": kernel, "stride": stride})


@backward_rule("avg_pool2d")
def avg_pool2d_backward(grad, out, x, kernel, stride):
    """Every element of a window receives the window's gradient divided by the window size."""
    # BEGIN SOLUTION
    share = grad / (kernel[0] * kernel[1])
    grad_x = np.zeros(x.shape, dtype=grad.dtype)
    for offset in np.ndindex(*kernel):
        kernel_offset_view(grad_x, offset, stride, out.shape[2:])[...] += share
    return (grad_x,)
    # END SOLUTION


# -- batch normalisation -----------------------------------------------------------------------
def _check_batch_norm_arguments(x, weight, bias, running_mean, running_var, training, momentum) -> None:
    channels = weight.shape[0] if weight.ndim == 1 else None
    _check_images(f"batch_norm2d with weight of shape {weight.shape}", x, channels)
    channels = x.shape[1]
    for what, value in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                        ("running_var", running_var)):
        if value is not None and np.shape(value) != (channels,):
            raise ValueError(
                f"batch_norm2d got {what} of shape {np.shape(value)} for input of shape {x.shape}: "
                f"expected ({channels},)"
            )
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm2d in evaluation (training=False) needs running_mean and running_var")
    if training and x.size // max(channels, 1) < 2:
        raise ValueError(
            f"batch_norm2d got input of shape {x.shape} while training: expected more than one "
            "value per channel (N * H * W > 1), or the variance is undefined"
        )
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"batch_norm2d momentum={momentum}: expected 0 <= momentum <= 1")


def batch_norm2d(x: Tensor, weight: Tensor, bias: Tensor, running_mean=None, running_var=None,
                 training: bool = True, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of (N, C, H, W), then scale by ``weight`` and shift by ``bias``.

    Training: the mean and (biased) variance of the batch over N, H and W; ``running_mean`` and
    ``running_var`` (arrays, when given) move towards them in place,
    ``running = (1 - momentum) * running + momentum * batch``, with the *unbiased* variance
    (times n / (n - 1)), as PyTorch. Evaluation: the running statistics instead, so an image's
    output no longer depends on the rest of its batch.
    """
    x = as_tensor(x)
    _check_batch_norm_arguments(x, weight, bias, running_mean, running_var, training, momentum)
    # BEGIN SOLUTION
    if training:
        mean, variance = x.data.mean(axis=CHANNEL_AXES), x.data.var(axis=CHANNEL_AXES)
        if running_mean is not None and running_var is not None:
            count = x.size // x.shape[1]
            running_mean *= 1.0 - momentum
            running_mean += momentum * mean
            running_var *= 1.0 - momentum
            running_var += momentum * variance * (count / (count - 1))
    else:
        mean, variance = np.asarray(running_mean), np.asarray(running_var)
    inverse_std = 1.0 / np.sqrt(variance + eps)
    normalized = (x.data - mean.reshape(-1, 1, 1)) * inverse_std.reshape(-1, 1, 1)
    data = normalized * weight.data.reshape(-1, 1, 1) + bias.data.reshape(-1, 1, 1)
    # END SOLUTION
    saved = {"normalized": normalized, "inverse_std": inverse_std, "training": training}
    return Tensor._result(data, "batch_norm2d", (x, weight, bias), saved)


@backward_rule("batch_norm2d")
def batch_norm2d_backward(grad, out, x, weight, bias, normalized, inverse_std, training):
    """With y = weight * x_hat + bias and x_hat = (x - mean) / std over m = N*H*W values:
    dweight = sum(g * x_hat), dbias = sum(g), and, in training, where mean and std depend on x,
    dx = weight / std * (g - mean(g) - x_hat * mean(g * x_hat)); in evaluation the statistics
    are constants and dx = weight / std * g."""
    # BEGIN SOLUTION
    grad_weight = (grad * normalized).sum(axis=CHANNEL_AXES)
    grad_bias = grad.sum(axis=CHANNEL_AXES)
    scale = (weight.data * inverse_std).reshape(-1, 1, 1)
    if training:
        count = grad.size // grad.shape[1]
        mean_grad = (grad_bias / count).reshape(-1, 1, 1)
        mean_grad_normalized = (grad_weight / count).reshape(-1, 1, 1)
        grad_x = scale * (grad - mean_grad - normalized * mean_grad_normalized)
    else:
        grad_x = scale * grad
    return grad_x, grad_weight, grad_bias
    # END SOLUTION


# -- layers ------------------------------------------------------------------------------------
class Conv2d(Module):
    """A convolution layer with ``weight`` (out, in, kh, kw) and ``bias`` (out,), as PyTorch.

    Initialisation (PyTorch's default, kaiming-uniform with a = sqrt(5)): weight and bias
    uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)] with fan_in = in_channels * kh * kw, the
    number of inputs each output sums (the same rule as ``Linear``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True):
        super().__init__()
        if not (isinstance(in_channels, int) and isinstance(out_channels, int)) or min(in_channels, out_channels) < 1:
            raise ValueError(
                f"Conv2d({in_channels}, {out_channels}, ...): channel counts must be positive integers"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        bound = 1.0 / math.sqrt(in_channels * self.kernel_size[0] * self.kernel_size[1])
        rng = generator()
        self.weight = Parameter(rng.uniform(-bound, bound, (out_channels, in_channels, *self.kernel_size)))
        self.bias = Parameter(rng.uniform(-bound, bound, out_channels)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        name = repr(self)
        _check_images(name, x, self.in_channels)
        _output_size(name, x.shape, self.kernel_size, self.stride, self.padding)
        # BEGIN SOLUTION
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)
        # END SOLUTION

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={_show(self.kernel_size)}"
        if self.stride != (1, 1):
            text += f", stride={_show(self.stride)}"
        if self.padding != (0, 0):
            text += f", padding={_show(self.padding)}"
        return text + ("" if self.bias is not None else ", bias=False")


class _Pool2d(Module):
    """Settings shared by the pooling layers; ``stride`` defaults to the kernel size."""

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", 1)

    def _check(self, x: Tensor) -> None:
        _check_images(repr(self), x)
        _output_size(repr(self), x.shape, self.kernel_size, self.stride, (0, 0))

    def extra_repr(self) -> str:
        text = f"kernel_size={_show(self.kernel_size)}"
        return text + (f", stride={_show(self.stride)}" if self.stride != self.kernel_size else "")


class MaxPool2d(_Pool2d):
    """The largest value of each window: ``MaxPool2d(2)`` halves the height and the width."""

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        # BEGIN SOLUTION
        return max_pool2d(x, self.kernel_size, self.stride)
        # END SOLUTION


class AvgPool2d(_Pool2d):
    """The mean of each window."""

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        # BEGIN SOLUTION
        return avg_pool2d(x, self.kernel_size, self.stride)
        # END SOLUTION


class BatchNorm2d(Module):
    """Per-channel normalisation with a learned scale ``weight`` (ones) and shift ``bias``
    (zeros). ``running_mean`` (zeros) and ``running_var`` (ones) are plain float32 arrays, not
    parameters: the optimizer never touches them; each training forward updates them in place
    and counts ``num_batches_tracked``. ``eval()`` switches to them, ``train()`` back."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"BatchNorm2d({num_features}): num_features must be a positive integer")
        if eps <= 0:
            raise ValueError(f"BatchNorm2d eps={eps}: expected eps > 0")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm2d momentum={momentum}: expected 0 <= momentum <= 1")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(np.ones(num_features))
        self.bias = Parameter(np.zeros(num_features))
        self.running_mean = np.zeros(num_features, dtype=np.float32)
        self.running_var = np.ones(num_features, dtype=np.float32)
        self.num_batches_tracked = 0

    def forward(self, x: Tensor) -> Tensor:
        _check_images(repr(self), x, self.num_features)
        if self.training and x.size // self.num_features < 2:
            raise ValueError(
                f"{self!r} got input of shape {x.shape} while training: expected more than one "
                "value per channel (N * H * W > 1); call eval() to use the running statistics"
            )
        if self.training:
            self.num_batches_tracked += 1
        # BEGIN SOLUTION
        return batch_norm2d(x, self.weight, self.bias, self.running_mean, self.running_var,
                            self.training, self.momentum, self.eps)
        # END SOLUTION

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


__all__ = [
    "AvgPool2d", "BatchNorm2d", "Conv2d", "Flatten", "MaxPool2d", "avg_pool2d", "batch_norm2d",
    "col2im", "conv2d", "im2col", "kernel_offset_view", "max_pool2d",
]
