"""Unit tests of module 07 (training): history numbers, evaluate, divergence, clipping, checkpoints.

The history test follows a one-weight regression by hand for two epochs; the checkpoint tests
demand bit-identical continuation, not "close". Checks that a broken implementation could
slip past are also run on such an implementation (a negative control) to show they catch it.
"""

from __future__ import annotations

import io
import math
import os
import zipfile

import numpy as np
import pytest

import tinytorch
import tinytorch.training as training
from tinytorch import Tensor
from tinytorch.activations import ReLU
from tinytorch.layers import Dropout, Linear, Sequential
from tinytorch.losses import CrossEntropyLoss, MSELoss
from tinytorch.optimizers import SGD, Adam, CosineAnnealingLR, StepLR
from tinytorch.training import (
    Trainer,
    TrainingDivergedError,
    accuracy,
    clip_grad_norm,
    fit,
    load_checkpoint,
    save_checkpoint,
)

pytestmark = pytest.mark.module("training")

# y = 2x + 1 in two batches of sizes 2 and 1.
LINE_BATCHES = [
    (np.array([[1.0], [2.0]], dtype=np.float32), np.array([[3.0], [5.0]], dtype=np.float32)),
    (np.array([[3.0]], dtype=np.float32), np.array([[7.0]], dtype=np.float32)),
]


def line_model(weight: float = 0.0, bias: float = 0.0) -> Linear:
    model = Linear(1, 1)
    model.weight.data[...] = weight
    model.bias.data[...] = bias
    return model


def blobs(seed: int = 0, per_class: int = 48, classes: int = 3):
    """Well-separated Gaussian blobs in 2-D, as float32 inputs and integer labels, shuffled."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])[:classes]
    x = np.concatenate([rng.normal(c, 0.6, (per_class, 2)) for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(classes), per_class)
    order = rng.permutation(len(y))
    return x[order], y[order]


def batched(x, y, size: int = 16) -> list:
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(y), size)]


def classifier(seed: int = 0, dropout: float = 0.0) -> Sequential:
    tinytorch.manual_seed(seed)
    return Sequential(Linear(2, 16), ReLU(), Dropout(dropout), Linear(16, 3))


def weights(model) -> list:
    return [p.data.copy() for p in model.parameters()]


# -- metrics and clipping -----------------------------------------------------------------------
def test_accuracy_of_class_scores_and_of_binary_logits():
    scores = np.array([[2.0, 1.0, 0.0], [0.0, 0.1, 3.0], [5.0, 6.0, 1.0], [1.0, 0.0, 0.0]])
    assert accuracy(scores, np.array([0, 2, 0, 1])) == 0.5
    assert accuracy(Tensor(scores), Tensor(np.array([0, 2, 1, 0]))) == 1.0
    logits = np.array([[2.0], [-1.0], [0.5], [-3.0]])
    assert accuracy(logits, np.array([[1.0], [0.0], [0.0], [0.0]])) == 0.75
    assert accuracy(logits[:, 0], np.array([1, 1, 1, 1])) == 0.5


def test_a_binary_logit_of_exactly_zero_predicts_the_negative_class():
    """logit > 0 is sigmoid > 0.5: at exactly 0 (probability 0.5) the prediction is 0, as documented."""
    logits = np.array([0.0, 0.0, 1e-6, -1e-6])
    assert accuracy(logits, np.array([0, 0, 1, 0])) == 1.0
    assert accuracy(logits, np.array([1, 1, 1, 0])) == 0.5


def check_clip(clip) -> None:
    """``clip`` must scale gradients 3-4 and 12 (joint norm 13) together to norm 6.5."""
    a, b = Tensor([0.0, 0.0], requires_grad=True), Tensor([0.0], requires_grad=True)
    untouched = Tensor([0.0], requires_grad=True)  # no gradient: ignored
    a.grad, b.grad = np.array([3.0, 4.0], dtype=np.float32), np.array([12.0], dtype=np.float32)
    total = clip([a, b, untouched], 6.5)
    assert total == pytest.approx(13.0)
    np.testing.assert_allclose(a.grad, [1.5, 2.0], rtol=1e-5)
    np.testing.assert_allclose(b.grad, [6.0], rtol=1e-5)
    assert untouched.grad is None


def test_clip_grad_norm_scales_all_gradients_together():
    check_clip(clip_grad_norm)


@pytest.mark.hidden  # negative control: instructors only
def test_the_clip_check_rejects_clipping_each_gradient_separately():
    def clip_each_gradient_separately(params, max_norm):
        """Broken on purpose: clipping per tensor changes the direction of the update."""
        norms = []
        for param in params:
            if param.grad is not None:
                norms.append(float(np.linalg.norm(param.grad)))
                param.grad *= min(1.0, max_norm / norms[-1])
        return math.sqrt(sum(n * n for n in norms))

    with pytest.raises(AssertionError):
        check_clip(clip_each_gradient_separately)


def test_clip_grad_norm_leaves_small_gradients_alone_and_refuses_bad_limits():
    param = Tensor([0.0, 0.0], requires_grad=True)
    param.grad = np.array([0.3, 0.4], dtype=np.float32)
    assert clip_grad_norm([param], 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(param.grad, np.array([0.3, 0.4], dtype=np.float32))
    with pytest.raises(ValueError, match="max_norm=0: expected max_norm > 0"):
        clip_grad_norm([param], 0)


def check_clip_of_zero_gradients(clip):
    """All-zero gradients (norm 0) must come back as zeros, with norm 0, for any limit."""
    for max_norm in (1.0, 1e-12):
        param = Tensor([0.0, 0.0, 0.0], requires_grad=True)
        param.grad = np.zeros(3, dtype=np.float32)
        try:
            total = clip([param], max_norm)
        except ArithmeticError as error:
            raise AssertionError(
                f"clipping all-zero gradients to {max_norm} raised {type(error).__name__}: {error} "
                "(a norm of 0 needs no scaling; divide only when the norm exceeds max_norm)"
            ) from error
        assert total == 0.0, f"the norm of all-zero gradients is 0, got {total}"
        np.testing.assert_array_equal(param.grad, np.zeros(3, dtype=np.float32))


def test_clip_grad_norm_of_all_zero_gradients_changes_nothing():
    check_clip_of_zero_gradients(clip_grad_norm)


@pytest.mark.hidden  # negative control: instructors only
def test_the_zero_gradient_check_rejects_dividing_by_the_norm():
    def divide_by_the_norm(params, max_norm):
        """Broken on purpose: max_norm / norm with norm 0 raises ZeroDivisionError."""
        grads = [param.grad for param in params if param.grad is not None]
        total = math.sqrt(sum(float(np.sum(grad * grad)) for grad in grads))
        for grad in grads:
            grad *= min(1.0, max_norm / total)
        return total

    with pytest.raises(AssertionError, match="raised ZeroDivisionError"):
        check_clip_of_zero_gradients(divide_by_the_norm)


def test_clip_grad_norm_of_huge_float32_gradients_scales_them_instead_of_zeroing_them():
    """1e20 is a finite float32 but its square is not: summed in float32 the norm was inf,
    and the gradients were scaled by 1 / inf, to zero."""
    param = Tensor([0.0, 0.0], requires_grad=True)
    param.grad = np.array([3e20, 4e20], dtype=np.float32)
    assert clip_grad_norm([param], 1.0) == pytest.approx(5e20, rel=1e-6)
    np.testing.assert_allclose(param.grad, [0.6, 0.8], rtol=1e-6)
    assert param.grad.dtype == np.float32


def test_clip_grad_norm_of_non_finite_gradients_is_refused_and_changes_nothing():
    param = Tensor([0.0, 0.0], requires_grad=True)
    param.grad = np.array([np.inf, 1.0], dtype=np.float32)
    with pytest.raises(FloatingPointError) as error:
        clip_grad_norm([param], 1.0)
    assert str(error.value) == (
        "clip_grad_norm: the gradients hold NaN or inf (joint norm inf), so there is no direction "
        "to keep; the forward or backward pass overflowed: try a smaller learning rate, and check "
        "the inputs for NaN or inf"
    )
    np.testing.assert_array_equal(param.grad, np.array([np.inf, 1.0], dtype=np.float32))


# -- history ------------------------------------------------------------------------------------
def test_history_follows_the_hand_worked_regression():
    # Epoch 1: batch losses 17 (on 2 samples) and 5.29 (on 1) -> (34 + 5.29) / 3; w, b move to
    # 1.3, 0.8 then 2.68, 1.26. Epoch 2: 1.754 and 0.6241 -> 1.3773667; w, b end at 1.788, 0.846.
    model = line_model()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), MSELoss(), metrics={})
    history = trainer.fit(LINE_BATCHES, epochs=2)
    assert history.keys() == {"loss"}
    np.testing.assert_allclose(history["loss"], [39.29 / 3, 4.1321 / 3], rtol=1e-5)
    assert model.weight.data.item() == pytest.approx(1.788, rel=1e-5)
    assert model.bias.data.item() == pytest.approx(0.846, rel=1e-5)
    assert trainer.epoch == 2


def test_history_with_validation_and_metrics_when_nothing_learns():
    # With lr = 0 the weights stay put, so the training loss and accuracy of every epoch equal
    # those of evaluate() on the same batches.
    x, y = blobs()
    batches = batched(x, y)
    model = classifier()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.0), CrossEntropyLoss())
    history = trainer.fit(batches, epochs=2, val_batches=batches[:2])
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 2 for values in history.values())
    full, part = trainer.evaluate(batches), trainer.evaluate(batches[:2])
    logits = model(Tensor(x)).data
    expected_loss = float(np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(len(y)), y]))
    assert full["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert full["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == y))
    np.testing.assert_allclose(history["loss"], [full["loss"]] * 2, rtol=1e-6)
    np.testing.assert_allclose(history["accuracy"], [full["accuracy"]] * 2)
    np.testing.assert_allclose(history["val_loss"], [part["loss"]] * 2, rtol=1e-6)


def test_fit_learns_and_continues_the_same_history():
    x, y = blobs()
    model = classifier()
    trainer = Trainer(model, Adam(model.parameters(), lr=0.05), CrossEntropyLoss())
    trainer.fit(batched(x, y), epochs=3)
    history = trainer.fit(batched(x, y), epochs=2)
    assert len(history["loss"]) == 5 and trainer.epoch == 5
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] > 0.95


def test_functional_fit_equals_the_trainer():
    x, y = blobs()
    first, second = classifier(seed=3), classifier(seed=3)
    history = fit(first, SGD(first.parameters(), lr=0.1), CrossEntropyLoss(), batched(x, y), epochs=2, metrics={})
    expected = Trainer(second, SGD(second.parameters(), lr=0.1), CrossEntropyLoss(), metrics={}).fit(batched(x, y), 2)
    assert history == expected
    for got, want in zip(weights(first), weights(second)):
        np.testing.assert_array_equal(got, want)


def test_scheduler_steps_once_per_epoch_and_clip_norm_limits_each_update():
    model = line_model()
    optimizer = SGD(model.parameters(), lr=1.0)
    trainer = Trainer(model, optimizer, MSELoss(), metrics={}, scheduler=StepLR(optimizer, 1, 0.5), clip_norm=0.01)
    trainer.fit(LINE_BATCHES[:1], epochs=3)
    assert optimizer.lr == 0.125
    # Each update is lr * (clipped gradient of norm 0.01): 0.01 + 0.005 + 0.0025 in total length.
    moved = math.hypot(model.weight.data.item(), model.bias.data.item())
    assert moved == pytest.approx(0.0175, rel=1e-3)


def test_one_shot_iterators_and_empty_epochs_are_refused():
    model = line_model()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), MSELoss(), metrics={})
    with pytest.raises(TypeError, match="one-shot iterator"):
        trainer.fit((batch for batch in LINE_BATCHES), epochs=2)
    with pytest.raises(ValueError, match="no batches"):
        trainer.fit([], epochs=1)
    with pytest.raises(ValueError, match="epochs=0"):
        trainer.fit(LINE_BATCHES, epochs=0)
    assert trainer.fit(iter(LINE_BATCHES), epochs=1)["loss"] == [pytest.approx(39.29 / 3, rel=1e-5)]


# -- evaluate -----------------------------------------------------------------------------------
class RecordingLoss(CrossEntropyLoss):
    """Cross-entropy that remembers whether its inputs carried a graph."""

    def __init__(self):
        super().__init__()
        self.saw_graph = []

    def forward(self, logits, targets):
        self.saw_graph.append(logits.requires_grad)
        return super().forward(logits, targets)


def check_evaluate(trainer_class) -> None:
    """evaluate: same weights, no graph, dropout off, every sub-module's mode restored."""
    x, y = blobs()
    model = classifier(dropout=0.5)
    loss_fn = RecordingLoss()
    trainer = trainer_class(model, SGD(model.parameters(), lr=0.5), loss_fn)
    before = weights(model)
    model.train()
    model[2].eval()  # a mixed state, which must come back exactly
    first, second = trainer.evaluate(batched(x, y)), trainer.evaluate(batched(x, y))
    assert first == second, "dropout must be off during evaluate"
    assert loss_fn.saw_graph == [False] * (2 * len(batched(x, y)))
    assert all(p.grad is None for p in model.parameters())
    for got, want in zip(weights(model), before):
        np.testing.assert_array_equal(got, want)
    assert [m.training for _, m in model.named_modules()] == [True, True, False, True]  # Sequential, Linear, Dropout, Linear


def test_evaluate_changes_nothing_and_restores_the_modes():
    check_evaluate(Trainer)


@pytest.mark.hidden  # negative control: instructors only
def test_the_evaluate_check_rejects_a_trainer_that_stays_in_eval_mode():
    class TrainerThatStaysInEval(Trainer):
        """Broken on purpose: evaluation switches to eval mode and never switches back."""

        def evaluate(self, batches):
            self.model.eval()
            with tinytorch.autograd.no_grad():
                losses = [self.loss_fn(self.model(Tensor(x)), y).item() for x, y in batches]
            return {"loss": float(np.mean(losses))}

    with pytest.raises(AssertionError):
        check_evaluate(TrainerThatStaysInEval)


def test_evaluate_restores_the_modes_even_when_it_fails():
    model = classifier(dropout=0.5)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), CrossEntropyLoss())
    with pytest.raises(ValueError, match="targets"):
        trainer.evaluate([(np.zeros((2, 2), dtype=np.float32), np.array([0, 7]))])
    assert all(m.training for _, m in model.named_modules())


# -- divergence ---------------------------------------------------------------------------------
def check_divergence_stops_before_the_update(trainer_class) -> None:
    x, y = blobs()
    batches = batched(x, y)
    overflowing = batches[2][0].copy()
    overflowing[0] = 3e38  # finite float32, but the forward pass overflows: the loss is NaN
    batches[2] = (overflowing, batches[2][1])
    model = classifier()
    trainer = trainer_class(model, SGD(model.parameters(), lr=0.1), CrossEntropyLoss())
    trainer.fit(batches[:2], epochs=1)
    with pytest.raises(TrainingDivergedError) as error:
        trainer.fit(batches, epochs=3)
    assert (error.value.epoch, error.value.batch) == (2, 3)
    assert math.isnan(error.value.loss)
    message = str(error.value)
    assert "epoch 2, batch 3" in message and "nan" in message
    assert "learning rate" in message and "lr=0.1" in message
    assert all(np.isfinite(p.data).all() for p in model.parameters()), "the NaN loss reached the weights"


def test_a_nan_loss_stops_training_before_it_touches_the_weights():
    check_divergence_stops_before_the_update(Trainer)


@pytest.mark.hidden  # negative control, close to a solution: instructors only
def test_the_divergence_check_rejects_a_trainer_that_checks_after_the_update():
    class TrainerThatChecksTooLate(Trainer):
        """Broken on purpose: it notices the NaN only after it has updated the weights."""

        def train_step(self, x, y):
            outputs = self.model(Tensor(x))
            loss = self.loss_fn(outputs, y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.check_finite(loss.item())
            return loss.item(), outputs

    with pytest.raises(AssertionError):
        check_divergence_stops_before_the_update(TrainerThatChecksTooLate)


def test_nan_in_an_input_batch_is_reported_as_bad_data_not_as_divergence():
    """A NaN in the inputs used to surface as a NaN loss, blamed on the learning rate."""
    model = line_model(weight=1.0)
    batches = [(x.copy(), y.copy()) for x, y in LINE_BATCHES + LINE_BATCHES]
    batches[3][0][0, 0] = np.nan
    trainer = Trainer(model, SGD(model.parameters(), lr=0.01), MSELoss(), metrics={})
    with pytest.raises(training.NonFiniteInputError) as error:
        trainer.fit(batches, epochs=1)
    assert str(error.value) == (
        "epoch 1, batch 4: the inputs hold 1 NaN or infinite value(s) (of 1); training stopped "
        "before this batch could update the weights. The data is the cause, not the learning rate: "
        "drop or fill those values before training (np.isfinite finds them, np.nan_to_num fills them)."
    )
    assert (error.value.epoch, error.value.batch, error.value.count) == (1, 4, 1)
    assert isinstance(error.value, ValueError) and not isinstance(error.value, TrainingDivergedError)
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_the_batch_check_counts_infinities_and_ignores_integer_labels():
    model = classifier()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), CrossEntropyLoss())
    x = np.zeros((4, 2), dtype=np.float32)
    x[1] = [np.inf, -np.inf]
    with pytest.raises(training.NonFiniteInputError, match=r"epoch 1, batch 0: the inputs hold 2 NaN or infinite value\(s\) \(of 8\)"):
        trainer.train_step(x, np.array([0, 1, 2, 0]))
    before = weights(model)
    loss, _ = trainer.train_step(np.ones((4, 2), dtype=np.float32), np.array([0, 1, 2, 0]))
    assert math.isfinite(loss) and not all(np.array_equal(a, b) for a, b in zip(weights(model), before))


def test_a_too_high_learning_rate_is_reported_as_divergence():
    model = line_model(weight=1.0)
    trainer = Trainer(model, SGD(model.parameters(), lr=1e4), MSELoss(), metrics={})
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch \d+: the loss is (inf|nan)") as error:
        trainer.fit(LINE_BATCHES * 20, epochs=1)
    assert "lr=10000" in str(error.value)


# -- progress -----------------------------------------------------------------------------------
@pytest.mark.parametrize("progress, drawn", [(True, True), (False, False), (None, False)])
def test_progress_bar_draws_only_when_asked_or_on_a_terminal(progress, drawn, capsys):
    stream = io.StringIO()  # not a terminal: the automatic setting (None) stays quiet
    model = line_model()
    trainer = Trainer(
        model, SGD(model.parameters(), lr=0.01), MSELoss(), metrics={}, progress=progress, progress_stream=stream
    )
    trainer.fit(LINE_BATCHES, epochs=3)
    output = stream.getvalue()
    if drawn:
        assert "training" in output and "6/6 batches" in output and "epoch 3 loss" in output
    else:
        assert output == ""
    assert capsys.readouterr() == ("", "")


# -- checkpoints --------------------------------------------------------------------------------
def make_run(seed: int, kind: str):
    model = classifier(seed=seed)
    if kind == "adam":
        optimizer = Adam(model.parameters(), lr=0.02)
        scheduler = CosineAnnealingLR(optimizer, T_max=6, eta_min=0.001)
    else:
        optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
        scheduler = StepLR(optimizer, 2, 0.5)
    return Trainer(model, optimizer, CrossEntropyLoss(), scheduler=scheduler)


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_checkpoint_resumes_bit_identically(tmp_path, kind):
    x, y = blobs()
    batches = batched(x, y)
    reference = make_run(seed=0, kind=kind)
    reference.fit(batches, epochs=3)
    path = tmp_path / "run.npz"
    reference.save_checkpoint(path)
    reference.fit(batches, epochs=3)

    resumed = make_run(seed=99, kind=kind)  # different initial weights, fresh optimizer state
    resumed.load_checkpoint(path)
    assert resumed.epoch == 3 and len(resumed.history["loss"]) == 3
    resumed.fit(batches, epochs=3)
    for got, want in zip(weights(resumed.model), weights(reference.model)):
        np.testing.assert_array_equal(got, want)
    assert resumed.history == reference.history
    assert resumed.optimizer.lr == reference.optimizer.lr


def test_checkpoint_holds_plain_arrays_only(tmp_path):
    trainer = make_run(seed=0, kind="adam")
    x, y = blobs()
    trainer.fit(batched(x, y), epochs=1)
    path = tmp_path / "run.npz"
    trainer.save_checkpoint(path)
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            header = archive.read(name)[:128]
            assert b"'descr': '|O'" not in header, f"{name} is an object array (pickled)"
    with np.load(path, allow_pickle=False) as data:
        assert data["optimizer/state.0.step"] == 9  # 144 samples in batches of 16: 9 Adam steps
        assert data["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["run.npz"], "no temporary files may be left behind"


def test_loading_never_unpickles(tmp_path):
    model = line_model()
    path = tmp_path / "evil.npz"
    np.savez(path, format_version=np.array(1), **{"model/weight": np.array([[object()]], dtype=object)})
    with pytest.raises(ValueError, match="allow_pickle"):
        load_checkpoint(path, model)


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = line_model(weight=2.0)
    path = tmp_path / "model.npz"
    save_checkpoint(path, model, epoch=1)

    def crash_mid_write(file, **arrays):
        file.write(b"PK half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(training.np, "savez", crash_mid_write)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, line_model(weight=5.0), epoch=2)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    restored = line_model()
    assert load_checkpoint(path, restored)["epoch"] == 1
    assert restored.weight.data.item() == 2.0


def test_checkpoint_errors_name_what_is_missing(tmp_path):
    model = line_model()
    path = tmp_path / "model.npz"
    save_checkpoint(path, model, SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="holds optimizer state of SGD, but a Adam"):
        load_checkpoint(path, model, Adam(model.parameters()))
    optimizer = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="no scheduler state"):
        load_checkpoint(path, model, optimizer, StepLR(optimizer, 1))
    save_checkpoint(path, model)
    with pytest.raises(ValueError, match="holds optimizer state of nothing"):
        load_checkpoint(path, model, optimizer)
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a TinyTorch checkpoint"):
        load_checkpoint(tmp_path / "other.npz", model)
    assert load_checkpoint(path, model) == {"epoch": None, "history": {}}
