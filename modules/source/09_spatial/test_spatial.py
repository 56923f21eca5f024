"""Unit tests of module 09 (spatial): convolution, pooling and batch normalisation.

Forward values against hand-computed cases, against the direct loop definitions (the grader's
NumPy references) and against PyTorch when it is installed; gradients against hand-computed
cases and finite differences; shapes for stride and padding; BatchNorm's training and
evaluation modes; error messages.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor, layers
from tinytorch.activations import ReLU
from tinytorch.autograd import gradcheck, no_grad
from tinytorch.layers import Linear, Sequential
from tinytorch.losses import cross_entropy
from tinytorch.optimizers import SGD
from tinytorch.spatial import (
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    Flatten,
    MaxPool2d,
    avg_pool2d,
    batch_norm2d,
    col2im,
    conv2d,
    im2col,
    max_pool2d,
)
from pytest_tinytorch.grader.graded_ops.spatial import (
    avg_pool2d_reference,
    batch_norm2d_reference,
    conv2d_reference,
    max_pool2d_reference,
)

pytestmark = pytest.mark.module("spatial")

NINE = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
"""[[1, 2, 3], [4, 5, 6], [7, 8, 9]] as one image with one channel."""
KERNEL = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2)


def leaf(values, dtype=np.float64):
    return Tensor(np.asarray(values, dtype=dtype), dtype=dtype, requires_grad=True)


# -- convolution by hand ---------------------------------------------------------------------------
def test_conv2d_of_a_3x3_image_with_a_2x2_kernel():
    """out[r, c] = 1 x[r, c] + 2 x[r, c+1] + 3 x[r+1, c] + 4 x[r+1, c+1] (no flip, as PyTorch)."""
    out = conv2d(Tensor(NINE), Tensor(KERNEL), Tensor([0.5]))
    assert out.shape == (1, 1, 2, 2)
    assert out.data.tolist() == [[[[37.5, 47.5], [67.5, 77.5]]]]


def test_conv2d_with_padding_1_and_stride_2():
    """The padded image is 5x5 with a zero border; windows start at rows and columns 0 and 2."""
    out = conv2d(Tensor(NINE), Tensor(KERNEL), stride=2, padding=1)
    assert out.data.tolist() == [[[[4.0, 18.0], [36.0, 77.0]]]]


def test_conv2d_gradients_by_hand():
    """With an upstream gradient of ones: each input collects the kernel weights of the windows
    covering it, each weight the sum of the inputs it touched, the bias the number of outputs."""
    x, weight, bias = leaf(NINE), leaf(KERNEL), leaf([0.0])
    conv2d(x, weight, bias).sum().backward()
    assert x.grad[0, 0].tolist() == [[1, 3, 2], [4, 10, 6], [3, 7, 4]]
    assert weight.grad[0, 0].tolist() == [[12, 16], [24, 28]]
    assert bias.grad.tolist() == [4]


def test_conv2d_mixes_channels_with_one_weight_per_pair():
    """Two input channels, three output channels: output o is the sum over input channels."""
    x = np.stack([NINE[0, 0], -NINE[0, 0]])[None]  # (1, 2, 3, 3)
    weight = np.zeros((3, 2, 1, 1))
    weight[0, 0], weight[1, 1], weight[2] = 1.0, 1.0, 1.0  # copy channel 0, copy channel 1, add both
    out = conv2d(Tensor(x), Tensor(weight)).data
    assert np.array_equal(out[0, 0], NINE[0, 0]) and np.array_equal(out[0, 1], -NINE[0, 0])
    assert np.array_equal(out[0, 2], np.zeros((3, 3)))


# -- convolution against the loop definition and PyTorch ---------------------------------------------
CONV_SETTINGS = [
    # (N, C_in, H, W), C_out, kernel, stride, padding
    ((2, 3, 7, 6), 4, 3, 1, 0),
    ((2, 3, 7, 6), 4, 3, 2, 1),
    ((1, 2, 8, 8), 3, 2, 2, 0),
    ((1, 1, 5, 5), 2, 5, 1, 0),
    ((2, 2, 6, 5), 3, (3, 1), (1, 2), (0, 1)),
    ((1, 3, 4, 4), 2, 1, 3, 2),
    ((3, 1, 9, 7), 1, 3, 3, 2),
]


@pytest.mark.parametrize("shape, out_channels, kernel, stride, padding", CONV_SETTINGS)
def test_conv2d_matches_the_six_loop_definition(shape, out_channels, kernel, stride, padding):
    rng = np.random.default_rng(0)
    kernel_shape = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = rng.standard_normal(shape)
    weight = rng.standard_normal((out_channels, shape[1], *kernel_shape))
    bias = rng.standard_normal(out_channels)
    got = conv2d(Tensor(x, dtype=np.float64), Tensor(weight, dtype=np.float64), Tensor(bias, dtype=np.float64),
                 stride, padding)
    expected = conv2d_reference(x, weight, bias, stride, padding)
    assert got.shape == expected.shape
    assert np.allclose(got.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, out_channels, kernel, stride, padding", CONV_SETTINGS)
def test_conv2d_forward_and_backward_match_pytorch(shape, out_channels, kernel, stride, padding):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    kernel_shape = (kernel, kernel) if isinstance(kernel, int) else kernel
    arrays = [rng.standard_normal(shape), rng.standard_normal((out_channels, shape[1], *kernel_shape)),
              rng.standard_normal(out_channels)]
    ours = [leaf(a) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = conv2d(*ours, stride=stride, padding=padding)
    expected = torch.nn.functional.conv2d(*theirs, stride=stride, padding=padding)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    assert np.allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    for mine, reference in zip(ours, theirs):
        assert np.allclose(mine.grad, reference.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size, kernel, stride, padding, expected", [
    (32, 3, 1, 1, 32),   # "same" convolution
    (32, 2, 2, 0, 16),   # halving
    (7, 3, 2, 1, 4),     # odd size: (7 + 2 - 3) // 2 + 1
    (8, 3, 3, 0, 2),     # the last 2 pixels fit no window and are dropped
    (5, 5, 1, 0, 1),     # kernel as large as the image
    (1, 3, 1, 1, 1),     # a 1x1 image, padded to 3x3
    (6, 1, 1, 2, 10),    # padding larger than the kernel
])
def test_output_size_for_stride_and_padding(size, kernel, stride, padding, expected):
    x = Tensor(np.ones((2, 1, size, size + 1)))
    out = conv2d(x, Tensor(np.ones((3, 1, kernel, kernel))), stride=stride, padding=padding)
    columns = (size + 1 + 2 * padding - kernel) // stride + 1
    assert out.shape == (2, 3, expected, columns)


def test_conv2d_gradients_pass_gradcheck_with_stride_and_padding():
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)]
    assert gradcheck(lambda x, w, b: conv2d(x, w, b, stride=(2, 1), padding=1), arrays)
    assert gradcheck(lambda x, w: conv2d(x, w, stride=3), arrays[:2])


def test_im2col_and_col2im_are_adjoint():
    """<im2col(x), c> == <x, col2im(c)>: col2im is exactly what the backward of im2col needs."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 6))
    columns = im2col(x, (3, 2), (2, 1))
    assert columns.shape == (2, 3 * 3 * 2, 3 * 5)
    other = rng.standard_normal(columns.shape)
    assert np.isclose(np.sum(columns * other), np.sum(x * col2im(other, x.shape, (3, 2), (2, 1))), rtol=1e-12)


def test_float32_in_float32_out_and_gradients():
    x = Tensor(np.ones((1, 2, 4, 4)), requires_grad=True)
    layer = Conv2d(2, 3, 3, padding=1)
    out = layer(x)
    out.sum().backward()
    assert out.dtype == np.float32
    assert {x.grad.dtype, layer.weight.grad.dtype, layer.bias.grad.dtype} == {np.dtype(np.float32)}


# -- the Conv2d layer ------------------------------------------------------------------------------
def test_conv2d_layer_parameters_are_named_and_shaped_as_in_pytorch():
    layer = Conv2d(3, 16, kernel_size=3, padding=1)
    assert [(name, p.shape) for name, p in layer.named_parameters()] == [
        ("weight", (16, 3, 3, 3)), ("bias", (16,))
    ]
    assert [name for name, _ in Conv2d(3, 16, 3, bias=False).named_parameters()] == ["weight"]
    assert Conv2d(3, 16, 3, bias=False).bias is None


def test_conv2d_layer_initialisation_is_uniform_in_one_over_root_fan_in():
    """Kaiming-uniform with a = sqrt(5): bound = sqrt(6 / ((1 + 5) fan_in)) = 1 / sqrt(fan_in)."""
    tinytorch.manual_seed(0)
    layer = Conv2d(16, 32, kernel_size=3)
    bound = 1.0 / np.sqrt(16 * 3 * 3)
    for values in (layer.weight.data, layer.bias.data):
        assert values.min() >= -bound and values.max() <= bound
        assert values.max() > 0.9 * bound and values.min() < -0.9 * bound
    assert abs(layer.weight.data.std() - bound / np.sqrt(3)) < 0.05 * bound  # uniform: bound / sqrt(3)


def test_conv2d_layer_is_repeatable_with_manual_seed():
    tinytorch.manual_seed(5)
    first = Conv2d(2, 4, 3).weight.data.copy()
    tinytorch.manual_seed(5)
    assert np.array_equal(Conv2d(2, 4, 3).weight.data, first)


def test_conv2d_layer_computes_the_functional_form():
    tinytorch.manual_seed(1)
    layer = Conv2d(2, 3, (3, 2), stride=2, padding=(1, 0))
    x = np.random.default_rng(4).standard_normal((2, 2, 7, 6)).astype(np.float32)
    expected = conv2d_reference(x.astype(np.float64), layer.weight.data.astype(np.float64),
                                layer.bias.data.astype(np.float64), (2, 2), (1, 0))
    assert np.allclose(layer(Tensor(x)).data, expected, rtol=1e-5, atol=1e-5)


def test_layer_reprs():
    assert repr(Conv2d(3, 16, 3)) == "Conv2d(3, 16, kernel_size=3)"
    assert repr(Conv2d(3, 16, (3, 1), stride=2, padding=1, bias=False)) == (
        "Conv2d(3, 16, kernel_size=(3, 1), stride=2, padding=1, bias=False)"
    )
    assert repr(MaxPool2d(2)) == "MaxPool2d(kernel_size=2)"
    assert repr(AvgPool2d(3, stride=1)) == "AvgPool2d(kernel_size=3, stride=1)"
    assert repr(BatchNorm2d(8)) == "BatchNorm2d(8, eps=1e-05, momentum=0.1)"


# -- pooling ---------------------------------------------------------------------------------------
FOUR_BY_FOUR = np.array([[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 2]], dtype=np.float64)[None, None]


def test_max_pool_takes_each_window_maximum_and_routes_the_gradient_there():
    x = leaf(FOUR_BY_FOUR)
    out = max_pool2d(x, 2)
    assert out.data.tolist() == [[[[5, 8], [9, 7]]]]
    out.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert x.grad[0, 0].tolist() == [[0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 4], [3, 0, 0, 0]]


def test_max_pool_gives_a_tie_to_the_first_maximum_only():
    """As PyTorch: one winner per window, so the gradient is never counted twice."""
    x = leaf(np.full((1, 1, 2, 2), 2.0))
    max_pool2d(x, 2).backward(np.array([[[[6.0]]]]))
    assert x.grad[0, 0].tolist() == [[6, 0], [0, 0]]


def test_overlapping_max_pool_windows_add_their_gradients():
    """Kernel 3, stride 1: the 9 in the centre is the maximum of all four windows."""
    image = np.zeros((1, 1, 4, 4))
    image[0, 0, 1, 1] = 9.0
    x = leaf(image)
    out = max_pool2d(x, 3, stride=1)
    assert out.data.tolist() == [[[[9, 9], [9, 9]]]]
    out.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = np.zeros((4, 4))
    expected[1, 1] = 1.0 + 2.0 + 3.0 + 4.0
    assert x.grad[0, 0].tolist() == expected.tolist()


def test_avg_pool_averages_each_window_and_shares_the_gradient():
    x = leaf(FOUR_BY_FOUR)
    out = avg_pool2d(x, 2)
    assert out.data.tolist() == [[[[3.25, 2.75], [3.0, 4.5]]]]
    out.backward(np.array([[[[4.0, 8.0], [12.0, 16.0]]]]))
    assert x.grad[0, 0].tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]


POOL_SETTINGS = [((2, 3, 8, 8), 2, None), ((1, 2, 7, 5), 3, 2), ((2, 1, 6, 6), (2, 3), 1),
                 ((1, 1, 5, 5), 5, None), ((1, 2, 9, 7), 2, 3), ((1, 1, 4, 6), 1, (2, 1))]


@pytest.mark.parametrize("shape, kernel, stride", POOL_SETTINGS)
def test_pools_match_the_loop_definitions(shape, kernel, stride):
    x = np.random.default_rng(5).standard_normal(shape)
    tensor = Tensor(x, dtype=np.float64)
    assert np.array_equal(max_pool2d(tensor, kernel, stride).data, max_pool2d_reference(x, kernel, stride))
    assert np.allclose(avg_pool2d(tensor, kernel, stride).data, avg_pool2d_reference(x, kernel, stride),
                       rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape, kernel, stride", POOL_SETTINGS)
def test_pools_forward_and_backward_match_pytorch(shape, kernel, stride):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(6).standard_normal(shape)
    for ours, theirs in ((max_pool2d, torch.nn.functional.max_pool2d), (avg_pool2d, torch.nn.functional.avg_pool2d)):
        mine, reference = leaf(x), torch.tensor(x, requires_grad=True)
        out, expected = ours(mine, kernel, stride), theirs(reference, kernel, stride)
        upstream = np.random.default_rng(7).standard_normal(out.shape)
        out.backward(upstream)
        expected.backward(torch.tensor(upstream))
        assert np.allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-15), ours.__name__
        assert np.allclose(mine.grad, reference.grad.numpy(), rtol=1e-12, atol=1e-15), ours.__name__


@pytest.mark.parametrize("shape, kernel", [((1, 2, 3, 6), (2, 3)), ((1, 2, 6, 3), (3, 2)), ((2, 1, 4, 6), (2, 3))])
def test_max_pool_gradient_with_a_rectangular_kernel_that_tiles_only_one_side(shape, kernel):
    """Non-overlapping windows that tile the width but not the height (or the reverse): the
    rows left over at the bottom get no window and no gradient (found by ``tito mutate``: a
    tiling test that checked the height against the kernel's width passed every square case)."""
    size = int(np.prod(shape))
    x = np.random.default_rng(9).permutation(size).reshape(shape) / 10.0  # no ties
    tensor = leaf(x)
    out = max_pool2d(tensor, kernel, stride=kernel)
    out.backward(np.ones(out.shape))
    expected = np.zeros(shape)
    for n, c, i, j in np.ndindex(out.shape):
        window = x[n, c, i * kernel[0]:(i + 1) * kernel[0], j * kernel[1]:(j + 1) * kernel[1]]
        row, column = np.unravel_index(np.argmax(window), window.shape)
        expected[n, c, i * kernel[0] + row, j * kernel[1] + column] += 1.0
    assert np.array_equal(tensor.grad, expected)
    assert gradcheck(lambda t: max_pool2d(t, kernel, stride=kernel), [x])


def test_pool_gradients_pass_gradcheck():
    x = np.random.default_rng(8).permutation(2 * 2 * 5 * 5).reshape(2, 2, 5, 5) / 10.0  # no ties
    assert gradcheck(lambda t: max_pool2d(t, 3, stride=2), [x])
    assert gradcheck(lambda t: avg_pool2d(t, (2, 3), stride=1), [x])


def test_pool_layers_call_the_functional_forms_with_their_settings():
    x = Tensor(np.random.default_rng(9).standard_normal((1, 2, 6, 6)))
    assert np.array_equal(MaxPool2d(3, stride=2)(x).data, max_pool2d(x, 3, 2).data)
    assert np.array_equal(AvgPool2d(2)(x).data, avg_pool2d(x, 2).data)
    assert MaxPool2d(2)(x).shape == (1, 2, 3, 3) and MaxPool2d(2).parameters() == []


# -- batch normalisation ---------------------------------------------------------------------------
def test_batch_norm_in_training_normalises_each_channel_with_the_batch_statistics():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((4, 3, 5, 5)) * np.array([1.0, 5.0, 0.1])[:, None, None] + np.array([0, -2, 7])[:, None, None]
    layer = BatchNorm2d(3)
    out = layer(Tensor(x, dtype=np.float64)).data
    assert np.allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    assert np.allclose(out.var(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)) / (x.var(axis=(0, 2, 3)) + 1e-5), rtol=1e-10)
    weight, bias = rng.standard_normal(3), rng.standard_normal(3)
    got = batch_norm2d(Tensor(x, dtype=np.float64), Tensor(weight), Tensor(bias), training=True).data
    expected = batch_norm2d_reference(x, weight.astype(np.float32), bias.astype(np.float32), True, 1e-5)
    assert np.allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_batch_norm_running_statistics_after_three_batches():
    """running = 0.9 running + 0.1 batch, with the unbiased variance (n / (n - 1))."""
    rng = np.random.default_rng(11)
    layer = BatchNorm2d(2, momentum=0.1)
    mean, var = np.zeros(2), np.ones(2)
    for _ in range(3):
        x = rng.standard_normal((3, 2, 2, 2)) * 2.0 + 1.0
        layer(Tensor(x, dtype=np.float64))
        count = 3 * 2 * 2
        mean = 0.9 * mean + 0.1 * x.mean(axis=(0, 2, 3))
        var = 0.9 * var + 0.1 * x.var(axis=(0, 2, 3)) * count / (count - 1)
    assert np.allclose(layer.running_mean, mean, rtol=1e-6) and np.allclose(layer.running_var, var, rtol=1e-6)
    assert layer.num_batches_tracked == 3 and layer.running_mean.dtype == np.float32


def test_batch_norm_in_eval_uses_the_running_statistics_and_updates_nothing():
    layer = BatchNorm2d(2)
    layer.running_mean[...] = [1.0, -2.0]
    layer.running_var[...] = [4.0, 0.25]
    layer.weight.data[...] = [2.0, 1.0]
    layer.bias.data[...] = [0.5, 0.0]
    x = np.array([3.0, 0.0]).reshape(1, 2, 1, 1)  # one value per channel: fine in evaluation
    out = layer.eval()(Tensor(x, dtype=np.float64))
    expected = [2.0 * (3.0 - 1.0) / np.sqrt(4.0 + 1e-5) + 0.5, (0.0 + 2.0) / np.sqrt(0.25 + 1e-5)]
    assert np.allclose(out.data.ravel(), expected, rtol=1e-6)
    assert layer.running_mean.tolist() == [1.0, -2.0] and layer.num_batches_tracked == 0


def test_batch_norm_train_and_eval_differ_until_the_running_statistics_converge():
    rng = np.random.default_rng(12)
    x = Tensor(rng.standard_normal((8, 1, 4, 4)) * 3.0 + 5.0, dtype=np.float64)
    layer = BatchNorm2d(1, momentum=0.5)
    first_eval = layer.eval()(x).data.copy()
    for _ in range(40):
        layer.train()(x)
    trained_eval = layer.eval()(x).data
    training_output = layer.train()(x).data
    assert not np.allclose(first_eval, training_output, atol=0.1)
    unbiased = x.data.size / (x.data.size - 1)  # the running variance is the unbiased one
    assert np.allclose(trained_eval, training_output / np.sqrt(unbiased), atol=1e-4)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_pytorch(training):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(13)
    ours, theirs = BatchNorm2d(3, momentum=0.2), torch.nn.BatchNorm2d(3, momentum=0.2).double()
    weight, bias = rng.standard_normal(3), rng.standard_normal(3)
    for parameters in (ours, theirs):
        parameters.weight.data[...] = torch.tensor(weight) if parameters is theirs else weight
        parameters.bias.data[...] = torch.tensor(bias) if parameters is theirs else bias
    for _ in range(3):  # running statistics from three training batches
        batch = rng.standard_normal((4, 3, 3, 3)) * 2.0 - 1.0
        ours(Tensor(batch, dtype=np.float64))
        theirs(torch.tensor(batch))
    ours.train(training)
    theirs.train(training)
    x = rng.standard_normal((2, 3, 4, 4))
    mine, reference = leaf(x), torch.tensor(x, requires_grad=True)
    out, expected = ours(mine), theirs(reference)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    assert np.allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-6)
    assert np.allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-6)
    assert np.allclose(out.data, expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert np.allclose(mine.grad, reference.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert np.allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert np.allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_pass_gradcheck(training):
    rng = np.random.default_rng(14)
    arrays = [rng.standard_normal((3, 2, 2, 3)), rng.standard_normal(2), rng.standard_normal(2)]
    running_mean, running_var = rng.standard_normal(2), rng.uniform(0.5, 2.0, 2)
    assert gradcheck(lambda x, w, b: batch_norm2d(x, w, b, running_mean, running_var, training=training), arrays)


def test_batch_norm_parameters_and_running_buffers():
    layer = BatchNorm2d(4)
    assert [(name, p.data.tolist()) for name, p in layer.named_parameters()] == [
        ("weight", [1.0] * 4), ("bias", [0.0] * 4)
    ]
    assert layer.running_mean.tolist() == [0.0] * 4 and layer.running_var.tolist() == [1.0] * 4


def test_batch_norm_under_no_grad_still_updates_running_statistics_in_training():
    """As PyTorch: the mode (train/eval), not gradient recording, decides."""
    layer = BatchNorm2d(1)
    with no_grad():
        layer(Tensor(np.full((2, 1, 1, 1), 3.0)) + Tensor(np.array([-1.0, 1.0]).reshape(2, 1, 1, 1)))
    assert np.allclose(layer.running_mean, [0.3]) and layer.num_batches_tracked == 1


# -- errors ----------------------------------------------------------------------------------------
def test_conv2d_layer_names_the_shape_it_expected():
    with pytest.raises(ValueError) as error:
        Conv2d(3, 16, kernel_size=3)(Tensor(np.zeros((2, 4, 8, 8))))
    assert str(error.value) == "Conv2d(3, 16, kernel_size=3) got input of shape (2, 4, 8, 8): expected (N, 3, H, W)"
    with pytest.raises(ValueError) as error:
        Conv2d(3, 16, kernel_size=3)(Tensor(np.zeros((3, 8, 8))))
    assert str(error.value) == "Conv2d(3, 16, kernel_size=3) got input of shape (3, 8, 8): expected (N, 3, H, W)"


def test_a_kernel_larger_than_the_padded_input_is_refused():
    with pytest.raises(ValueError) as error:
        Conv2d(3, 16, kernel_size=5, padding=1)(Tensor(np.zeros((1, 3, 2, 8))))
    assert str(error.value) == (
        "Conv2d(3, 16, kernel_size=5, padding=1) got input of shape (1, 3, 2, 8): the padded input "
        "is 4x10 (padding=1), smaller than the 5x5 kernel"
    )
    with pytest.raises(ValueError) as error:
        MaxPool2d(3)(Tensor(np.zeros((1, 1, 2, 2))))
    assert str(error.value) == (
        "MaxPool2d(kernel_size=3) got input of shape (1, 1, 2, 2): the padded input is 2x2 "
        "(padding=0), smaller than the 3x3 kernel"
    )


def test_functional_conv2d_checks_weight_and_bias():
    x = Tensor(np.zeros((1, 2, 4, 4)))
    with pytest.raises(ValueError) as error:
        conv2d(x, Tensor(np.zeros((3, 2, 3))))
    assert str(error.value) == "conv2d got weight of shape (3, 2, 3): expected (out_channels, in_channels, kh, kw)"
    with pytest.raises(ValueError) as error:
        conv2d(x, Tensor(np.zeros((3, 1, 3, 3))))
    assert str(error.value) == (
        "conv2d with weight of shape (3, 1, 3, 3) got input of shape (1, 2, 4, 4): expected (N, 1, H, W)"
    )
    with pytest.raises(ValueError) as error:
        conv2d(x, Tensor(np.zeros((3, 2, 3, 3))), Tensor(np.zeros(2)))
    assert str(error.value) == "conv2d with weight of shape (3, 2, 3, 3) got bias of shape (2,): expected (3,)"


def test_layers_and_functions_take_plain_arrays_as_every_other_op():
    """A NumPy array (or a list) is an input like a Tensor: the same numbers come out."""
    images = np.random.default_rng(3).normal(size=(2, 1, 6, 6)).astype(np.float32)
    conv, norm = Conv2d(1, 2, 3), BatchNorm2d(1)
    np.testing.assert_array_equal(conv(images).data, conv(Tensor(images)).data)
    np.testing.assert_array_equal(
        conv2d(images, conv.weight.data, conv.bias.data).data, conv(Tensor(images)).data)
    for pool in (MaxPool2d(2), AvgPool2d(2)):
        np.testing.assert_array_equal(pool(images).data, pool(Tensor(images)).data)
    np.testing.assert_array_equal(max_pool2d(images.tolist(), 3).data, max_pool2d(Tensor(images), 3).data)
    norm.eval()
    np.testing.assert_array_equal(norm(images).data, norm(Tensor(images)).data)


def test_pool_and_batch_norm_errors_name_the_layer():
    with pytest.raises(ValueError) as error:
        AvgPool2d(2, stride=1)(Tensor(np.zeros((4, 4))))
    assert str(error.value) == "AvgPool2d(kernel_size=2, stride=1) got input of shape (4, 4): expected (N, C, H, W)"
    with pytest.raises(ValueError) as error:
        BatchNorm2d(3)(Tensor(np.zeros((2, 4, 5, 5))))
    assert str(error.value) == "BatchNorm2d(3, eps=1e-05, momentum=0.1) got input of shape (2, 4, 5, 5): expected (N, 3, H, W)"
    with pytest.raises(ValueError) as error:
        BatchNorm2d(3)(Tensor(np.zeros((1, 3, 1, 1))))
    assert str(error.value) == (
        "BatchNorm2d(3, eps=1e-05, momentum=0.1) got input of shape (1, 3, 1, 1) while training: expected "
        "more than one value per channel (N * H * W > 1); call eval() to use the running statistics"
    )
    with pytest.raises(ValueError, match=r"batch_norm2d in evaluation \(training=False\) needs running_mean"):
        batch_norm2d(Tensor(np.zeros((2, 1, 2, 2))), Tensor(np.ones(1)), Tensor(np.zeros(1)), training=False)


@pytest.mark.parametrize("make, message", [
    (lambda: Conv2d(0, 4, 3), "Conv2d(0, 4, ...): channel counts must be positive integers"),
    (lambda: Conv2d(3, 4, 0), "kernel_size=0: expected an int >= 1 or a pair of them"),
    (lambda: Conv2d(3, 4, 3, stride=(1, 0)), "stride=(1, 0): expected an int >= 1 or a pair of them"),
    (lambda: Conv2d(3, 4, 3, padding=-1), "padding=-1: expected an int >= 0 or a pair of them"),
    (lambda: MaxPool2d((2, 2, 2)), "kernel_size=(2, 2, 2): expected an int >= 1 or a pair of them"),
    (lambda: BatchNorm2d(0), "BatchNorm2d(0): num_features must be a positive integer"),
    (lambda: BatchNorm2d(3, momentum=1.5), "BatchNorm2d momentum=1.5: expected 0 <= momentum <= 1"),
])
def test_bad_settings_fail_at_construction(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value) == message


# -- a small CNN learns --------------------------------------------------------------------------
def bars(count: int, rng):
    """8x8 images of one horizontal (label 0) or vertical (label 1) bar on noise."""
    images = rng.normal(0.0, 0.1, (count, 1, 8, 8)).astype(np.float32)
    labels = rng.integers(0, 2, count)
    positions = rng.integers(1, 7, count)
    for index, (label, position) in enumerate(zip(labels, positions)):
        if label == 0:
            images[index, 0, position, :] += 1.0
        else:
            images[index, 0, :, position] += 1.0
    return images, labels


def test_a_small_cnn_learns_horizontal_against_vertical_bars():
    tinytorch.manual_seed(0)
    rng = np.random.default_rng(15)
    model = Sequential(Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), ReLU(), MaxPool2d(2),
                       Conv2d(4, 8, 3, padding=1), ReLU(), AvgPool2d(2), Flatten(), Linear(8 * 2 * 2, 2))
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    images, labels = bars(64, rng)
    for _ in range(30):
        optimizer.zero_grad()
        loss = cross_entropy(model(Tensor(images)), labels)
        loss.backward()
        optimizer.step()
    test_images, test_labels = bars(200, rng)
    model.eval()
    accuracy = (model(Tensor(test_images)).data.argmax(axis=1) == test_labels).mean()
    assert loss.item() < 0.1 and accuracy >= 0.95


def test_flatten_is_the_layers_flatten():
    assert Flatten is layers.Flatten
    assert Flatten()(Tensor(np.zeros((2, 32, 8, 8)))).shape == (2, 2048)
