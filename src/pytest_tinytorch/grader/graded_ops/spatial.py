"""Grader declarations for the ops of module 09 (``tinytorch/spatial.py``).

The references are the direct definitions, written as loops over output positions: slow,
but a different code path from the library's im2col and kernel-offset loops, so a mistake
shared by a forward and its backward (a flipped kernel, a wrong window origin) shows up as a
wrong forward value. Each op is graded in integration group 08_09 (``grading_group``).
"""

import numpy as np

from pytest_tinytorch.grader import strategies as cases
from pytest_tinytorch.grader.op_registry import register_op
from tinytorch import spatial

MODULE = "spatial"


def _pair(value) -> tuple:
    return (value, value) if isinstance(value, (int, np.integer)) else tuple(value)


def _windows(images, kernel, stride, padding=0):
    """Yield (row, column, window) for every output position, windows of shape (N, C, kh, kw)."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(padding)
    padded = np.pad(images, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    for row in range((padded.shape[2] - kh) // sh + 1):
        for column in range((padded.shape[3] - kw) // sw + 1):
            yield row, column, padded[:, :, row * sh:row * sh + kh, column * sw:column * sw + kw]


def _pooled(images, kernel_size, stride, reduce):
    stride = kernel_size if stride is None else stride
    positions = list(_windows(images, kernel_size, stride))
    out = np.zeros(images.shape[:2] + (positions[-1][0] + 1, positions[-1][1] + 1))
    for row, column, window in positions:
        out[:, :, row, column] = reduce(window, axis=(2, 3))
    return out


def conv2d_reference(images, weight, bias=None, stride=1, padding=0):
    """out[n, o, r, c] = bias[o] + sum(window(r, c)[n] * weight[o]) at every position."""
    positions = list(_windows(images, weight.shape[2:], stride, padding))
    out = np.zeros((images.shape[0], weight.shape[0], positions[-1][0] + 1, positions[-1][1] + 1))
    for row, column, window in positions:
        for image in range(images.shape[0]):
            for channel in range(weight.shape[0]):
                out[image, channel, row, column] = np.sum(window[image] * weight[channel])
    return out if bias is None else out + bias[:, None, None]


def max_pool2d_reference(images, kernel_size, stride=None):
    return _pooled(images, kernel_size, stride, np.max)


def avg_pool2d_reference(images, kernel_size, stride=None):
    return _pooled(images, kernel_size, stride, np.mean)


def batch_norm2d_reference(images, weight, bias, training, eps, running_mean=None, running_var=None):
    """(x - mean) / sqrt(var + eps) * weight + bias per channel: the batch's mean and biased
    variance in training, the running ones in evaluation."""
    out = np.empty_like(images)
    for channel in range(images.shape[1]):
        values = images[:, channel]
        if training:
            mean, variance = values.mean(), ((values - values.mean()) ** 2).mean()
        else:
            mean, variance = running_mean[channel], running_var[channel]
        out[:, channel] = (values - mean) / np.sqrt(variance + eps) * weight[channel] + bias[channel]
    return out


register_op("conv2d", lambda *tensors, stride, padding: spatial.conv2d(*tensors, stride=stride, padding=padding),
            arity=None, cases=cases.conv2d_cases(), reference=conv2d_reference,
            domain="real images, weight and optional bias; kernel 1-3, stride 1-3, padding 0-2", module=MODULE)
register_op("max_pool2d", lambda x, kernel_size, stride: spatial.max_pool2d(x, kernel_size, stride), arity=1,
            cases=cases.pool_cases("distinct"), reference=max_pool2d_reference,
            domain="distinct values (no ties in a window); kernel 1-3, stride 1-3 or None", module=MODULE)
register_op("avg_pool2d", lambda x, kernel_size, stride: spatial.avg_pool2d(x, kernel_size, stride), arity=1,
            cases=cases.pool_cases(), reference=avg_pool2d_reference,
            domain="real; kernel 1-3, stride 1-3 or None", module=MODULE)
register_op("batch_norm2d",
            lambda x, weight, bias, training, eps, running_mean=None, running_var=None: spatial.batch_norm2d(
                x, weight, bias, running_mean, running_var, training=training, eps=eps),
            arity=3, cases=cases.batch_norm2d_cases(), reference=batch_norm2d_reference,
            domain="spread-out images, real weight and bias; training (batch statistics) or evaluation "
                   "(positive running variance)", module=MODULE)
