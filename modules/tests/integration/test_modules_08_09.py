"""Integration of modules 08-09: the DataLoader feeding convolutional networks.

Passing this group unlocks milestone 3 (CNN). What it proves: batches from a shuffling,
augmenting ``DataLoader`` train a small CNN end to end on images where position varies
(``load_shifted_digits``, offline): the loss falls, the first layer's filters move, and on
held-out digits the CNN beats chance by far and an MLP of the same size by a wide margin.
Around that: shapes through a conv/pool stack, gradients of a whole CNN against finite
differences, BatchNorm's training and evaluation modes as the Trainer switches them, and
transforms applied inside the loader exactly as when applied by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import ReLU
from tinytorch.dataloader import Compose, DataLoader, Normalize, RandomCrop, RandomHorizontalFlip, TensorDataset
from tinytorch.datasets import load_shifted_digits
from tinytorch.layers import Flatten, Linear, Sequential
from tinytorch.losses import CrossEntropyLoss
from tinytorch.optimizers import Adam
from tinytorch.spatial import AvgPool2d, BatchNorm2d, Conv2d, MaxPool2d
from tinytorch.training import Trainer

pytestmark = pytest.mark.integration("08_09")

EPOCHS = 4


def small_cnn() -> Sequential:
    """3,818 parameters: two 3x3 convolutions (8 and 16 filters), each followed by 2x2 max pooling."""
    return Sequential(
        Conv2d(1, 8, 3, padding=1), ReLU(), MaxPool2d(2),
        Conv2d(8, 16, 3, padding=1), ReLU(), MaxPool2d(2),
        Flatten(), Linear(16 * 4 * 4, 10),
    )


def same_size_mlp() -> Sequential:
    """3,748 parameters: 256 pixels, 14 hidden units, 10 classes."""
    return Sequential(Flatten(), Linear(256, 14), ReLU(), Linear(14, 10))


def parameter_count(model) -> int:
    return sum(param.data.size for param in model.parameters())


@pytest.fixture(scope="module")
def digits():
    train_x, train_y = load_shifted_digits("train")
    test_x, test_y = load_shifted_digits("test")
    return train_x, train_y, test_x, test_y


def train(make_model, digits, transform=None, test_transform=None):
    """Train with Adam on shuffled loader batches; return model, history, held-out accuracy, first weights."""
    train_x, train_y, test_x, test_y = digits
    tinytorch.manual_seed(0)
    model = make_model()
    first_weights = model.parameters()[0].data.copy()
    trainer = Trainer(model, Adam(model.parameters(), lr=3e-3), CrossEntropyLoss(), progress=False)
    loader = DataLoader(TensorDataset(train_x, train_y), batch_size=32, shuffle=True, seed=0, transform=transform)
    history = trainer.fit(loader, epochs=EPOCHS)
    held_out = trainer.evaluate(DataLoader(TensorDataset(test_x, test_y), batch_size=256, transform=test_transform))
    return model, history, held_out["accuracy"], first_weights


MEAN, STD = 0.0763, 0.2299  # of the default shifted-digits training images, rounded
NORMALIZE = Normalize([MEAN], [STD])


def augmentation() -> Compose:
    """Shift by up to one pixel, then normalize: the same seeded pipeline for every model."""
    return Compose([RandomCrop(16, padding=1, seed=0), NORMALIZE])


@pytest.fixture(scope="module")
def trained_cnn(digits):
    return train(small_cnn, digits, transform=augmentation(), test_transform=NORMALIZE)


def test_a_loader_fed_cnn_learns_the_shifted_digits(trained_cnn):
    model, history, held_out_accuracy, first_weights = trained_cnn
    assert parameter_count(model) == 3818
    assert history["loss"][-1] < 0.4 * history["loss"][0], history["loss"]
    assert held_out_accuracy > 0.7, "chance is 0.1 (measured: 0.82)"
    moved = np.abs(model.parameters()[0].data - first_weights).mean() / np.abs(first_weights).mean()
    assert moved > 0.2, "the first layer's filters must learn, not only the classifier on top"


def test_the_cnn_beats_an_mlp_of_the_same_size_on_held_out_digits(digits, trained_cnn):
    _, _, cnn_accuracy, _ = trained_cnn
    mlp, mlp_history, mlp_accuracy, _ = train(same_size_mlp, digits, transform=augmentation(), test_transform=NORMALIZE)
    assert abs(parameter_count(mlp) - 3818) < 100
    assert mlp_history["loss"][-1] < 0.95 * mlp_history["loss"][0], "the MLP learns too, only less"
    # measured: CNN 0.82, MLP 0.25 after the same 4 epochs on the same batches
    assert cnn_accuracy > mlp_accuracy + 0.35, (cnn_accuracy, mlp_accuracy)


def test_shapes_through_a_conv_pool_stack_on_loader_batches():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(10, 3, 32, 32), dtype=np.uint8)
    loader = DataLoader(TensorDataset(images, rng.integers(0, 10, 10)), batch_size=4,
                        transform=Compose([RandomCrop(32, padding=4, seed=1), RandomHorizontalFlip(seed=2),
                                           Normalize([125.0, 125.0, 125.0], [64.0, 64.0, 64.0])]))
    tinytorch.manual_seed(0)
    stack = [Conv2d(3, 4, 3, padding=1), MaxPool2d(2), Conv2d(4, 8, 5, stride=2), AvgPool2d(3), Flatten(), Linear(32, 10)]
    # 32 -> 32 (padding 1 keeps the size) -> 16 -> (16 - 5) // 2 + 1 = 6 -> 6 // 3 = 2 -> 8 * 2 * 2
    expected = [(4, 4, 32, 32), (4, 4, 16, 16), (4, 8, 6, 6), (4, 8, 2, 2), (4, 32), (4, 10)]
    activations, labels = next(iter(loader))
    assert activations.shape == (4, 3, 32, 32) and activations.dtype == np.float32
    for layer, shape in zip(stack, expected):
        activations = layer(activations)
        assert activations.shape == shape, (layer, activations.shape)
    CrossEntropyLoss()(activations, labels).backward()
    for layer in stack:
        for param in layer.parameters():
            assert param.grad is not None and param.grad.shape == param.shape
            assert np.abs(param.grad).sum() > 0
    assert [len(labels) for _, labels in loader] == [4, 4, 2]


def network_in_float64():
    tinytorch.manual_seed(3)
    model = Sequential(Conv2d(2, 3, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(3, 2, 2), Flatten(), Linear(2, 3))
    for param in model.parameters():
        param.data = param.data.astype(np.float64)
    return model


def test_whole_cnn_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    loader = DataLoader(TensorDataset(rng.standard_normal((5, 2, 4, 4)), rng.integers(0, 3, 5)), batch_size=3)
    x, y = next(iter(loader))
    x = Tensor(x.data.astype(np.float64), dtype=np.float64)
    model, loss_fn = network_in_float64(), CrossEntropyLoss()
    loss_fn(model(x), y).backward()
    step, worst = 1e-6, 0.0
    for param in model.parameters():
        numeric = np.zeros_like(param.data)
        for index in np.ndindex(param.shape):
            original = param.data[index]
            param.data[index] = original + step
            upper = loss_fn(model(x), y).item()
            param.data[index] = original - step
            lower = loss_fn(model(x), y).item()
            param.data[index] = original
            numeric[index] = (upper - lower) / (2 * step)
        worst = max(worst, np.abs(param.grad - numeric).max() / max(np.abs(numeric).max(), 1e-3))
    assert worst < 1e-5


def test_batchnorm_learns_the_loader_statistics_in_training_and_uses_them_in_evaluation():
    rng = np.random.default_rng(0)
    means, stds = np.array([3.0, -2.0]), np.array([2.0, 0.5])
    images = (rng.standard_normal((256, 2, 4, 4)) * stds[:, None, None] + means[:, None, None]).astype(np.float32)
    loader = DataLoader(TensorDataset(images, rng.integers(0, 2, 256)), batch_size=32, shuffle=True, seed=0)
    tinytorch.manual_seed(0)
    norm = BatchNorm2d(2)
    model = Sequential(norm, Flatten(), Linear(32, 2))
    trainer = Trainer(model, Adam(model.parameters(), lr=1e-3), CrossEntropyLoss(), progress=False)
    trainer.fit(loader, epochs=3)  # 24 batches of training forwards
    assert norm.num_batches_tracked == 24
    # The running statistics, by hand over the same batches (same seed): momentum 0.1, and the
    # unbiased variance of each batch's 32 * 4 * 4 values per channel, as PyTorch.
    running_mean, running_var = np.zeros(2), np.ones(2)
    same_batches = DataLoader(TensorDataset(images, np.zeros(256)), batch_size=32, shuffle=True, seed=0)
    for _ in range(3):
        for batch, _ in same_batches:
            running_mean = 0.9 * running_mean + 0.1 * batch.data.mean(axis=(0, 2, 3))
            running_var = 0.9 * running_var + 0.1 * batch.data.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(norm.running_mean, running_mean, rtol=1e-5)
    np.testing.assert_allclose(norm.running_var, running_var, rtol=1e-5)
    np.testing.assert_allclose(norm.running_mean, 0.92 * means, rtol=0.05)  # 1 - 0.9**24 of the way

    x, _ = next(iter(loader))
    train_out = norm(x).data  # training mode: this batch's own statistics
    np.testing.assert_allclose(train_out.mean(axis=(0, 2, 3)), norm.bias.data, atol=1e-4)
    running_mean, running_var = norm.running_mean.copy(), norm.running_var.copy()

    trainer.evaluate(loader)  # evaluation mode: running statistics used, never updated
    np.testing.assert_array_equal(norm.running_mean, running_mean)
    np.testing.assert_array_equal(norm.running_var, running_var)
    assert norm.training, "evaluate() restores training mode"

    model.eval()
    expected = (x.data - running_mean[:, None, None]) / np.sqrt(running_var[:, None, None] + norm.eps)
    expected = expected * norm.weight.data[:, None, None] + norm.bias.data[:, None, None]
    np.testing.assert_allclose(norm(x).data, expected, rtol=1e-5, atol=1e-5)


def test_transforms_inside_the_loader_are_the_transforms_applied_by_hand(digits):
    train_x, train_y, _, _ = digits
    subset = TensorDataset(train_x[:100], train_y[:100])
    pipeline = Compose([RandomCrop(16, padding=2, seed=5), NORMALIZE])
    by_hand_crop = RandomCrop(16, padding=2, seed=5)
    order = np.random.default_rng(9)
    loader = DataLoader(subset, batch_size=40, shuffle=True, seed=9, transform=pipeline)
    for _ in range(2):  # two epochs: new orders, new crops
        permutation = order.permutation(100)
        for batch, (x, y) in enumerate(loader):
            indices = permutation[batch * 40 : (batch + 1) * 40]
            expected = (by_hand_crop(train_x[indices]) - np.float32(MEAN)) / np.float32(STD)
            np.testing.assert_allclose(x.data, expected, rtol=1e-6, atol=1e-6)
            np.testing.assert_array_equal(y.data, train_y[indices])
    mean, std = train_x.mean(), train_x.std()
    assert round(float(mean), 4) == MEAN and round(float(std), 4) == STD
