"""Unit tests of module 17 (compression): pruning, low-rank factorisation, distillation.

Magnitude pruning removes exactly the requested fraction, the smallest weights, per layer or
under one global threshold, and the pruned weights stay exactly 0 through optimizer steps
(SGD with momentum and weight decay, Adam with moments from before the pruning). Structured
pruning shrinks a Linear -> ReLU -> Linear pair and computes what the masked pair computes.
Low-rank factors reach the Eckart-Young error. The distillation loss matches a NumPy
reference and passes gradcheck.

The checks (``check_pruned_weights_stay_zero``, ``check_same_as_masked``) are functions used on
the real code and, in the negative controls at the end, on broken versions they must reject.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import ReLU, Sigmoid
from tinytorch.autograd import no_grad
from tinytorch.compression import (
    PruningMasks,
    distillation_loss,
    low_rank_error,
    low_rank_linear,
    magnitude_prune,
    neuron_importance,
    prunable_weights,
    channel_importance,
    prune_channels,
    prune_mlp_neurons,
    prune_neurons,
    smallest_magnitude_mask,
)
from tinytorch.datasets import load_digits
from tinytorch.gradcheck import gradcheck
from tinytorch.layers import Linear, Sequential
from tinytorch.losses import cross_entropy
from tinytorch.optimizers import SGD, Adam
from tinytorch.spatial import Conv2d, Flatten, MaxPool2d
from tinytorch.training import Trainer, accuracy

pytestmark = pytest.mark.module("compression")


def mlp(seed=0, sizes=(8, 16, 12, 4), activation=ReLU):
    tinytorch.manual_seed(seed)
    layers = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        layers += [Linear(fan_in, fan_out), activation()]
    return Sequential(*layers[:-1])


def training_steps(model, optimizer, steps, seed=0):
    """Steps of cross-entropy on random data: every weight receives a gradient."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = Tensor(rng.standard_normal((16, model[0].in_features)))
        y = rng.integers(0, model[-1].out_features, 16)
        optimizer.zero_grad()
        cross_entropy(model(x), y).backward()
        optimizer.step()


# -- checks, used on the real code and on the broken versions at the end -------------------------------
def check_pruned_weights_stay_zero(model, masks, optimizer, steps=5) -> None:
    """After ``steps`` optimizer steps every pruned weight is exactly 0 and every kept one moved."""
    before = {name: weight.data.copy() for name, weight in masks.weights.items()}
    training_steps(model, optimizer, steps)
    for name, mask in masks.masks.items():
        weight = masks.weights[name].data
        assert np.all(weight[~mask] == 0.0), f"{name}: {np.count_nonzero(weight[~mask])} pruned weights revived"
        assert np.all(weight[mask] != before[name][mask]), f"{name}: kept weights did not train"


def check_same_as_masked(first, second, small_first, small_second, kept) -> None:
    """The smaller pair computes what the original pair computes with only ``kept`` neurons alive."""
    x = Tensor(np.random.default_rng(4).standard_normal((10, first.in_features)))
    alive = np.zeros(first.out_features)
    alive[kept] = 1.0
    with no_grad():
        masked = second(ReLU()(first(x)) * Tensor(alive))
        smaller = small_second(ReLU()(small_first(x)))
    assert smaller.shape == masked.shape
    assert np.abs(smaller.data - masked.data).max() <= 1e-12


# -- magnitude masks -----------------------------------------------------------------------------------
def test_the_mask_removes_the_smallest_magnitudes_by_hand():
    values = np.array([3.0, -1.0, 0.5, -4.0, 2.0])
    assert smallest_magnitude_mask(values, 2).tolist() == [True, False, False, True, True]
    assert smallest_magnitude_mask(values, 0).all()
    assert smallest_magnitude_mask(values.reshape(5, 1), 4).ravel().tolist() == [False, False, False, True, False]


def test_pruning_a_single_weight_removes_exactly_the_smallest():
    values = np.array([[0.3, -0.2], [0.25, 0.9]])
    assert smallest_magnitude_mask(values, 1).tolist() == [[True, False], [True, True]]


def test_ties_never_change_how_many_weights_are_removed():
    values = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 1.0]])
    mask = smallest_magnitude_mask(values, 3)
    assert np.count_nonzero(~mask) == 3 and mask[1, 1]


def test_per_layer_pruning_removes_the_same_fraction_of_every_layer():
    model = mlp()
    masks = magnitude_prune(model, 0.75, scope="layer")
    for name, weight in prunable_weights(model).items():
        mask = masks.masks[name]
        assert np.count_nonzero(~mask) == round(0.75 * weight.size)
        assert np.all(weight.data[~mask] == 0)
        assert np.abs(weight.data[mask]).min() > 0
    assert masks.layer_sparsity() == pytest.approx({"0.weight": 0.75, "2.weight": 0.75, "4.weight": 0.75})
    assert masks.sparsity() == pytest.approx(0.75)


def test_global_pruning_uses_one_threshold_across_layers():
    model = mlp()
    original = {name: w.data.copy() for name, w in prunable_weights(model).items()}
    model[2].weight.data *= 10.0  # one layer of large weights
    original["2.weight"] *= 10.0
    masks = magnitude_prune(model, 0.6, scope="global")
    pruned = np.concatenate([np.abs(original[n][~m]) for n, m in masks.masks.items()])
    kept = np.concatenate([np.abs(original[n][m]) for n, m in masks.masks.items()])
    assert pruned.size == round(0.6 * (pruned.size + kept.size))
    assert pruned.max() <= kept.min()
    per_layer = masks.layer_sparsity()
    assert per_layer["2.weight"] < 0.3  # the large layer keeps most of its weights ...
    assert per_layer["0.weight"] == per_layer["4.weight"] == 1.0  # ... the small ones lose all (a hazard)


def test_pruning_finds_conv_weights_and_leaves_biases():
    tinytorch.manual_seed(0)
    model = Sequential(Conv2d(1, 4, 3), ReLU(), Flatten(), Linear(16, 3))
    biases = [model[0].bias.data.copy(), model[3].bias.data.copy()]
    masks = magnitude_prune(model, 0.5)
    assert set(masks.masks) == {"0.weight", "3.weight"}
    assert np.array_equal(model[0].bias.data, biases[0]) and np.array_equal(model[3].bias.data, biases[1])
    assert masks.sparsity() == pytest.approx(42 / 84)


def test_bad_pruning_settings_are_refused():
    with pytest.raises(ValueError, match="expected the fraction of weights to remove"):
        magnitude_prune(mlp(), 1.0)
    with pytest.raises(ValueError, match="expected 'global'"):
        magnitude_prune(mlp(), 0.5, scope="row")
    with pytest.raises(ValueError, match="no Linear or Conv2d weight"):
        magnitude_prune(Sequential(ReLU()), 0.5)


# -- masks that survive training -------------------------------------------------------------------------
@pytest.mark.parametrize("make_optimizer", [
    lambda params: SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01),
    lambda params: Adam(params, lr=0.01, weight_decay=0.01),
], ids=["sgd-momentum-decay", "adam"])
def test_pruned_weights_stay_exactly_zero_through_optimizer_steps(make_optimizer):
    model = mlp()
    optimizer = make_optimizer(model.parameters())
    training_steps(model, optimizer, 3, seed=1)  # momentum and moments from before pruning
    masks = magnitude_prune(model, 0.8)
    masks.attach(optimizer)
    check_pruned_weights_stay_zero(model, masks, optimizer, steps=10)
    assert masks.sparsity() == round(0.8 * 368) / 368  # 8*16 + 16*12 + 12*4 = 368 weights


def test_pruned_entries_of_the_gradient_are_zeroed_so_momentum_never_grows_there():
    """attach zeroes the pruned entries of each gradient before the update (the docstring's
    'momentum and Adam's moments stop growing there'), not only the weights after it."""
    model = mlp()
    masks = magnitude_prune(model, 0.5)
    optimizer = masks.attach(SGD(model.parameters(), lr=0.1, momentum=0.9))
    training_steps(model, optimizer, 3, seed=2)
    for name, mask in masks.masks.items():
        weight = masks.weights[name]
        index = next(i for i, param in enumerate(optimizer.params) if param is weight)
        assert np.all(weight.grad[~mask] == 0), f"{name}: pruned entries of the gradient after step()"
        assert np.all(optimizer.state[index]["velocity"][~mask] == 0), f"{name}: momentum at pruned entries"
        assert np.any(optimizer.state[index]["velocity"][mask] != 0)


def test_the_masks_hold_inside_a_trainer_and_attach_checks_its_optimizer():
    model = mlp()
    masks = magnitude_prune(model, 0.5, scope="layer")
    optimizer = masks.attach(SGD(model.parameters(), lr=0.5, momentum=0.9))
    rng = np.random.default_rng(0)
    batches = [(Tensor(rng.standard_normal((8, 8))), rng.integers(0, 4, 8)) for _ in range(4)]
    Trainer(model, optimizer, cross_entropy, progress=False).fit(batches, epochs=2)
    for name, weight in masks.weights.items():
        assert np.all(weight.data[~masks.masks[name]] == 0)
    with pytest.raises(ValueError, match="does not update"):
        masks.attach(SGD(mlp(1).parameters(), lr=0.1))
    with pytest.raises(ValueError, match="expected a boolean array of shape"):
        PruningMasks(prunable_weights(model), {"0.weight": np.ones((2, 2), bool)})


def test_pruning_and_fine_tuning_a_digits_mlp_recovers_its_accuracy():
    (X, y), (X_test, y_test) = load_digits("train"), load_digits("test")
    mean, spread = X.mean(axis=0), X.std(axis=0) + 0.1
    X, X_test = ((X - mean) / spread).astype(np.float32), ((X_test - mean) / spread).astype(np.float32)
    model = mlp(0, sizes=(64, 64, 10))
    optimizer = Adam(model.parameters(), lr=0.01)
    batches = [(Tensor(X[i:i + 64]), y[i:i + 64]) for i in range(0, len(X), 64)]
    trainer = Trainer(model, optimizer, cross_entropy, progress=False)
    trainer.fit(batches, epochs=3)
    dense = accuracy(model(Tensor(X_test)).data, y_test)
    masks = magnitude_prune(model, 0.9)
    pruned = accuracy(model(Tensor(X_test)).data, y_test)
    masks.attach(optimizer)
    trainer.fit(batches, epochs=2)
    tuned = accuracy(model(Tensor(X_test)).data, y_test)
    assert dense > 0.9
    assert pruned < dense - 0.05  # 90% of the weights gone hurts ...
    assert tuned > pruned + 0.03 and tuned > dense - 0.06  # ... and fine-tuning wins most of it back
    assert masks.sparsity() == pytest.approx(0.9, abs=1e-3)
    assert all(np.all(w.data[~masks.masks[n]] == 0) for n, w in masks.weights.items())


# -- structured pruning ----------------------------------------------------------------------------------
def test_neuron_importance_is_the_norm_of_incoming_weights_and_bias():
    first = Linear(2, 3)
    first.weight.data[...] = [[3.0, 0.0, 1.0], [0.0, 0.1, 1.0]]
    first.bias.data[...] = [4.0, 0.0, 1.0]
    assert neuron_importance(first) == pytest.approx([5.0, 0.1, np.sqrt(3.0)])
    small_first, small_second = prune_neurons(first, Linear(3, 2), keep=2)
    assert small_first.weight.data.tolist() == [[3.0, 1.0], [0.0, 1.0]]  # neurons 0 and 2, in order
    assert small_first.bias.data.tolist() == [4.0, 1.0]


def float64_pair(seed):
    """Linear(6, 10) and Linear(10, 3) in float64, so that 'the same' means to 1e-12."""
    tinytorch.manual_seed(seed)
    first, second = Linear(6, 10), Linear(10, 3)
    for layer in (first, second):
        layer.weight.data = layer.weight.data.astype(np.float64)
        layer.bias.data = layer.bias.data.astype(np.float64)
    return first, second


def test_channel_importance_is_the_norm_of_each_filter_and_its_bias_by_hand():
    conv = Conv2d(2, 3, 1)
    conv.weight.data = np.array([[3.0, 0.0], [1.0, 2.0], [0.0, 0.0]]).reshape(3, 2, 1, 1)
    conv.bias.data = np.array([4.0, 2.0, 0.5])
    np.testing.assert_allclose(channel_importance(conv), [5.0, 3.0, 0.5], rtol=1e-12)
    no_bias = Conv2d(2, 3, 1, bias=False)
    no_bias.weight.data = conv.weight.data.copy()
    np.testing.assert_allclose(channel_importance(no_bias), [3.0, np.sqrt(5.0), 0.0], rtol=1e-12)


def test_removing_neurons_shrinks_both_layers_and_computes_the_masked_pair():
    first, second = float64_pair(0)
    small_first, small_second = prune_neurons(first, second, keep=4)
    assert small_first.weight.shape == (6, 4) and small_first.bias.shape == (4,)
    assert small_second.weight.shape == (4, 3) and small_second.bias.shape == (3,)
    kept = np.sort(np.argsort(-neuron_importance(first))[:4])
    assert np.array_equal(small_second.weight.data, second.weight.data[kept])
    check_same_as_masked(first, second, small_first, small_second, kept)


def test_prune_mlp_neurons_shrinks_every_hidden_layer_and_keeps_the_original():
    model = mlp(0, sizes=(8, 20, 10, 4))
    before = model.state_dict()
    smaller = prune_mlp_neurons(model, 0.5)
    assert [(layer.in_features, layer.out_features) for layer in smaller.layers if isinstance(layer, Linear)] == [
        (8, 10), (10, 5), (5, 4)]
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    assert sum(p.size for p in smaller.parameters()) == 8 * 10 + 10 + 10 * 5 + 5 + 5 * 4 + 4
    x = Tensor(np.random.default_rng(0).standard_normal((5, 8)))
    with no_grad():
        assert np.abs(smaller(x).data - model(x).data).max() < np.abs(model(x).data).max()  # close, not equal


def test_removing_channels_shrinks_both_convolutions_and_computes_the_masked_pair():
    """Conv -> ReLU -> MaxPool -> Conv: a removed channel is a filter of the first and an input
    channel of the second; with the channel masked to zero both compute the same (float64)."""
    tinytorch.manual_seed(0)
    first, second = Conv2d(2, 6, 3, padding=1), Conv2d(6, 3, 3, stride=2)
    for layer in (first, second):
        layer.weight.data = layer.weight.data.astype(np.float64)
        layer.bias.data = layer.bias.data.astype(np.float64)
    first.weight.data[4] *= 0.01  # a channel of tiny filters: the first to go
    small_first, small_second = prune_channels(first, second, keep=4)
    kept = np.sort(np.argsort(-channel_importance(first))[:4])
    assert 4 not in kept
    assert small_first.weight.shape == (4, 2, 3, 3) and small_first.bias.shape == (4,)
    assert small_second.weight.shape == (3, 4, 3, 3) and small_second.in_channels == 4
    assert repr(small_first) == "Conv2d(2, 4, kernel_size=3, padding=1)"
    alive = np.zeros((1, 6, 1, 1))
    alive[0, kept] = 1.0
    x = Tensor(np.random.default_rng(0).standard_normal((2, 2, 12, 12)))
    pool = MaxPool2d(2)
    with no_grad():
        masked = second(pool(ReLU()(first(x)) * Tensor(alive)))
        smaller = small_second(pool(ReLU()(small_first(x))))
    assert smaller.shape == masked.shape == (2, 3, 2, 2)
    assert np.abs(smaller.data - masked.data).max() <= 1e-12
    with pytest.raises(ValueError, match="expected consecutive layers"):
        prune_channels(first, Conv2d(5, 1, 1), 2)


def test_structured_pruning_refuses_what_it_cannot_remove_exactly():
    with pytest.raises(ValueError, match="maps 0 to"):
        prune_mlp_neurons(mlp(0, activation=Sigmoid), 0.5)
    with pytest.raises(ValueError, match="expected consecutive layers"):
        prune_neurons(Linear(2, 3), Linear(4, 1), 2)
    with pytest.raises(ValueError, match="expected a whole number of neurons from 1 to 3"):
        prune_neurons(Linear(2, 3), Linear(3, 1), 0)
    with pytest.raises(ValueError, match="no Linear -> activation -> Linear pair"):
        prune_mlp_neurons(Sequential(Linear(2, 3)), 0.5)


# -- low rank --------------------------------------------------------------------------------------------
def test_low_rank_factors_reach_the_eckart_young_error():
    tinytorch.manual_seed(0)
    linear = Linear(12, 8)
    weight = linear.weight.data.astype(np.float64)
    singular_values = np.linalg.svd(weight, compute_uv=False)
    x = Tensor(np.random.default_rng(1).standard_normal((5, 12)))
    errors = []
    for rank in (1, 3, 8):
        factored = low_rank_linear(linear, rank)
        assert [layer.weight.shape for layer in factored.layers] == [(12, rank), (rank, 8)]
        assert factored[0].bias is None and np.array_equal(factored[1].bias.data, linear.bias.data)
        product = factored[0].weight.data.astype(np.float64) @ factored[1].weight.data
        error = np.linalg.norm(product - weight) / np.linalg.norm(weight)
        assert error == pytest.approx(np.sqrt(np.sum(singular_values[rank:] ** 2) / np.sum(singular_values**2)),
                                      abs=1e-6)
        assert error == pytest.approx(low_rank_error(weight, rank), abs=1e-6)
        with no_grad():
            assert np.allclose(factored(x).data, x.data @ product + linear.bias.data, atol=1e-5)
        errors.append(error)
    assert errors[0] > errors[1] > 0.1 and errors[2] < 1e-6  # full rank is exact


def test_low_rank_of_a_linear_without_bias_adds_no_bias():
    tinytorch.manual_seed(1)
    linear = Linear(6, 4, bias=False)
    factored = low_rank_linear(linear, 2)
    assert factored[0].bias is None and factored[1].bias is None
    assert sum(param.data.size for param in factored.parameters()) == 2 * (6 + 4)


def test_low_rank_rank_is_checked():
    with pytest.raises(ValueError, match="expected a whole number from 1 to 3"):
        low_rank_linear(Linear(5, 3), 4)


# -- distillation ----------------------------------------------------------------------------------------
def numpy_distillation(student, teacher, targets, temperature, alpha):
    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    p_teacher = np.exp(log_softmax(teacher / temperature))
    kl = np.sum(p_teacher * (log_softmax(teacher / temperature) - log_softmax(student / temperature)), axis=1)
    hard = -log_softmax(student)[np.arange(len(targets)), targets]
    return alpha * hard.mean() + (1 - alpha) * temperature**2 * kl.mean()


LOGITS = np.random.default_rng(7).standard_normal((2, 5, 6)) * 3
TARGETS = np.array([0, 3, 5, 1, 2])


@pytest.mark.parametrize("temperature, alpha", [(1.0, 0.5), (4.0, 0.1), (2.5, 1.0), (0.5, 0.0)])
def test_distillation_loss_matches_numpy(temperature, alpha):
    student, teacher = LOGITS
    got = distillation_loss(Tensor(student, dtype=np.float64), Tensor(teacher, dtype=np.float64), TARGETS,
                            temperature, alpha)
    assert got.item() == pytest.approx(numpy_distillation(student, teacher, TARGETS, temperature, alpha), rel=1e-10)


def test_distillation_is_zero_soft_loss_for_a_perfect_copy_and_the_labels_alone_at_alpha_1():
    student = Tensor(LOGITS[0], dtype=np.float64)
    assert distillation_loss(student, LOGITS[0], TARGETS, 3.0, alpha=0.0).item() == pytest.approx(0.0, abs=1e-12)
    assert distillation_loss(student, LOGITS[1], TARGETS, 3.0, alpha=1.0).item() == pytest.approx(
        cross_entropy(student, TARGETS).item())


@pytest.mark.parametrize("temperature, alpha", [(1.0, 0.5), (4.0, 0.3)])
def test_distillation_gradients_pass_gradcheck_and_leave_the_teacher_alone(temperature, alpha):
    teacher = Tensor(LOGITS[1], dtype=np.float64)
    gradcheck(lambda s: distillation_loss(s, teacher, Tensor(TARGETS), temperature, alpha), [LOGITS[0]])
    teacher_leaf = Tensor(LOGITS[1], dtype=np.float64, requires_grad=True)
    student = Tensor(LOGITS[0], dtype=np.float64, requires_grad=True)
    distillation_loss(student, teacher_leaf, TARGETS, temperature, alpha).backward()
    assert teacher_leaf.grad is None and np.abs(student.grad).max() > 1e-3


def test_the_soft_gradient_is_p_student_minus_p_teacher_times_t():
    """d/dz of T^2 KL(p_t || softmax(z / T)) averaged over N rows is T (p_s - p_t) / N."""
    temperature = 3.0
    student = Tensor(LOGITS[0], dtype=np.float64, requires_grad=True)
    distillation_loss(student, LOGITS[1], TARGETS, temperature, alpha=0.0).backward()

    def softened(z):
        e = np.exp(z / temperature - (z / temperature).max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    expected = temperature * (softened(LOGITS[0]) - softened(LOGITS[1])) / len(TARGETS)
    assert np.allclose(student.grad, expected, atol=1e-12)


def test_distillation_settings_are_checked():
    student = Tensor(LOGITS[0])
    with pytest.raises(ValueError, match="expected T > 0"):
        distillation_loss(student, LOGITS[1], TARGETS, temperature=0.0)
    with pytest.raises(ValueError, match="expected 0 <= alpha <= 1"):
        distillation_loss(student, LOGITS[1], TARGETS, alpha=1.5)
    with pytest.raises(ValueError, match="expected the same shape"):
        distillation_loss(student, LOGITS[1][:, :4], TARGETS)


# -- negative controls: the checks above reject broken compression -------------------------------------
def attach_masking_only_gradients(masks, optimizer):
    """A tempting shortcut: zero the pruned gradients, never the weights after the step."""
    update = optimizer.step

    def step():
        for name, mask in masks.masks.items():
            if masks.weights[name].grad is not None:
                masks.weights[name].grad *= mask
        update()

    optimizer.step = step
    return optimizer


@pytest.mark.parametrize("make_optimizer", [
    lambda params: SGD(params, lr=0.1, momentum=0.9),
    lambda params: Adam(params, lr=0.01),
], ids=["sgd-momentum", "adam"])
def test_control_masking_only_the_gradients_lets_pruned_weights_revive(make_optimizer):
    """Velocity and moments gathered before pruning keep moving the pruned weights."""
    model = mlp()
    optimizer = make_optimizer(model.parameters())
    training_steps(model, optimizer, 3, seed=1)
    masks = magnitude_prune(model, 0.8)
    attach_masking_only_gradients(masks, optimizer)
    with pytest.raises(AssertionError, match="pruned weights revived"):
        check_pruned_weights_stay_zero(model, masks, optimizer)


def test_control_without_attach_fine_tuning_revives_every_pruned_weight():
    model = mlp()
    optimizer = SGD(model.parameters(), lr=0.1)
    masks = magnitude_prune(model, 0.5)
    with pytest.raises(AssertionError, match="pruned weights revived"):
        check_pruned_weights_stay_zero(model, masks, optimizer)


def test_control_keeping_the_wrong_neurons_or_cutting_the_wrong_axis_fails_the_masked_check():
    first, second = float64_pair(3)
    kept = np.sort(np.argsort(-neuron_importance(first))[:4])
    wrong = np.sort(np.argsort(neuron_importance(first))[:4])  # the least important instead
    small_first, small_second = prune_neurons(first, second, keep=4)
    small_first.weight.data[...] = first.weight.data[:, wrong]
    small_first.bias.data[...] = first.bias.data[wrong]
    small_second.weight.data[...] = second.weight.data[wrong]
    check_same_as_masked(first, second, *prune_neurons(first, second, keep=4), kept)  # the real one passes
    with pytest.raises(AssertionError):
        check_same_as_masked(first, second, small_first, small_second, kept)
    small_second.weight.data[...] = second.weight.data[kept]  # rows right, first layer still wrong
    with pytest.raises(AssertionError):
        check_same_as_masked(first, second, small_first, small_second, kept)
