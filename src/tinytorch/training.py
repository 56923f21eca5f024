"""Module 07 — Training: the loop that turns a model, a loss and an optimizer into learning.

Every training step is the same five moves: forward, loss, ``zero_grad``, ``backward``,
``step``. Around that core a usable training loop needs a few things more, and this module
builds them:

- ``Trainer.fit`` runs epochs over any re-iterable collection of ``(x, y)`` batches and keeps
  a ``history`` of the mean loss and metrics per epoch (and on validation batches);
- ``Trainer.evaluate`` measures without learning: no graph (``no_grad``), dropout off
  (``model.eval()``), and the model's previous mode restored afterwards;
- ``clip_grad_norm`` caps the size of one update, a guard against exploding gradients;
- ``TrainingDivergedError`` stops training the moment the loss is NaN or infinite, before the
  broken loss can update (and ruin) the weights, and says where and what to try;
- ``NonFiniteInputError`` stops it earlier, before the forward pass, when a batch's inputs
  hold NaN or inf, and says which batch: bad data is not a learning-rate problem;
- ``save_checkpoint`` / ``load_checkpoint`` store model, optimizer (moments, step counts) and
  schedule in one ``.npz`` file without pickle, so training resumes exactly where it stopped.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from tinytorch.autograd import no_grad
from tinytorch.optimizers import LRScheduler, Optimizer
from tinytorch.progress import ProgressBar
from tinytorch.tensor import Tensor, as_tensor

CHECKPOINT_FORMAT_VERSION = 1


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; ``epoch`` and ``batch`` (both from 1) say where."""

    def __init__(self, epoch: int, batch: int, loss: float, lr: float | None = None):
        self.epoch, self.batch, self.loss, self.lr = epoch, batch, loss, lr
        rate = f" (lr={lr:g})" if lr is not None else ""
        super().__init__(
            f"training diverged at epoch {epoch}, batch {batch}: the loss is {loss}, not a finite "
            f"number; training stopped before this batch could update the weights. Most often the "
            f"learning rate is too high{rate}: try one 10x smaller, or limit each update with "
            f"gradient clipping (Trainer(..., clip_norm=1.0))."
        )


class NonFiniteInputError(ValueError):
    """A batch's inputs hold NaN or inf: the data is at fault, not the training. ``epoch`` and
    ``batch`` (both from 1) say where, ``count`` how many values."""

    def __init__(self, epoch: int, batch: int, count: int, size: int):
        self.epoch, self.batch, self.count = epoch, batch, count
        super().__init__(
            f"epoch {epoch}, batch {batch}: the inputs hold {count} NaN or infinite value(s) "
            f"(of {size}); training stopped before this batch could update the weights. The data "
            f"is the cause, not the learning rate: drop or fill those values before training "
            f"(np.isfinite finds them, np.nan_to_num fills them)."
        )


def _plain_array(values) -> np.ndarray:
    """The NumPy array behind a Tensor, or ``values`` as an array (labels may be either)."""
    return values.data if isinstance(values, Tensor) else np.asarray(values)


def accuracy(outputs, targets) -> float:
    """Fraction of correct predictions, from raw model outputs.

    Outputs of shape (N, C) with C > 1 are class scores: the prediction is the arg-max,
    compared with integer targets of shape (N,). Outputs with one score per sample, (N,) or
    (N, 1), are binary *logits*: the prediction is ``logit > 0`` (that is, sigmoid > 0.5),
    compared with 0/1 targets of the same number of samples.
    """
    outputs, targets = _plain_array(outputs), _plain_array(targets)
    # BEGIN SOLUTION
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        predictions = outputs.argmax(axis=1)
    else:
        predictions = outputs.reshape(len(outputs)) > 0
        targets = targets.reshape(len(targets)) > 0.5
    return float(np.mean(predictions == targets))
    # END SOLUTION


def clip_grad_norm(params, max_norm: float) -> float:
    """Scale all gradients together so their joint L2 norm is at most ``max_norm``.

    The norm is taken over every gradient as if they were one long vector, so the direction
    of the update is kept and only its length is capped. Parameters without a gradient are
    ignored. Returns the norm *before* clipping (worth logging: a growing norm is an early
    sign of divergence).

    Gradients are scaled by ``max_norm / norm`` only when the norm exceeds ``max_norm``, so
    all-zero gradients (norm 0) are left alone, never divided by zero. The squares are summed
    again in float64 when float32 overflows (float32 gradients of 1e20 are finite, their
    squares are not). Non-finite gradients (NaN or inf) have no direction to keep: they raise
    ``FloatingPointError`` and are left as they are.
    """
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm max_norm={max_norm}: expected max_norm > 0")
    grads = [param.grad for param in params if param.grad is not None]
    # BEGIN SOLUTION
    squares = sum(float(np.vdot(grad, grad)) for grad in grads)
    if not math.isfinite(squares):  # a float32 square overflows above 1.8e19: redo in float64
        squares = sum(float(np.vdot(grad, grad)) for grad in (g.astype(np.float64) for g in grads))
    total_norm = math.sqrt(squares)
    # END SOLUTION
    if not math.isfinite(total_norm):
        raise FloatingPointError(
            f"clip_grad_norm: the gradients hold NaN or inf (joint norm {total_norm}), so there is "
            "no direction to keep; the forward or backward pass overflowed: try a smaller learning "
            "rate, and check the inputs for NaN or inf"
        )
    # BEGIN SOLUTION
    if total_norm > max_norm:
        scale = max_norm / total_norm
        for grad in grads:
            grad *= scale
    # END SOLUTION
    return total_norm


class _SampleMeans:
    """Sample-weighted means of per-batch measures: a batch of 10 samples counts 10 times."""

    def __init__(self):
        self.totals: dict[str, float] = {}
        self.count = 0

    def add(self, measures: dict, size: int) -> None:
        for name, value in measures.items():
            self.totals[name] = self.totals.get(name, 0.0) + value * size
        self.count += size

    def means(self, source: str) -> dict:
        if self.count == 0:
            raise ValueError(f"{source} yielded no batches: expected at least one (x, y) pair")
        return {name: total / self.count for name, total in self.totals.items()}


def _module_modes(model) -> list:
    """(module, training flag) for the model and everything inside it, to restore later."""
    if hasattr(model, "named_modules"):
        return [(module, module.training) for _, module in model.named_modules()]
    return [(model, model.training)] if hasattr(model, "training") else []


def _check_reiterable(name: str, batches, epochs: int) -> None:
    if epochs > 1 and iter(batches) is batches:
        raise TypeError(
            f"{name} is a one-shot iterator (e.g. a generator), which is exhausted after the first "
            f"epoch; expected something that can be iterated once per epoch, such as a list of "
            f"(x, y) batches or a DataLoader"
        )


class Trainer:
    """Train ``model`` with ``optimizer`` on ``loss_fn``, keeping per-epoch history.

    metrics: name -> function(outputs, targets) -> float computed on every batch and averaged
        over samples; default ``{"accuracy": accuracy}``. Pass ``{}`` for regression.
    scheduler: an ``LRScheduler`` stepped once after each epoch.
    clip_norm: if given, gradients are clipped to this joint norm before every update.
    progress: ``None`` draws a progress bar only when standard error is a terminal, ``True``
        always draws it (notebooks), ``False`` never writes anything.
    """

    def __init__(
        self,
        model,
        optimizer: Optimizer,
        loss_fn,
        metrics: dict | None = None,
        *,
        scheduler: LRScheduler | None = None,
        clip_norm: float | None = None,
        progress: bool | None = None,
        progress_stream=None,
    ):
        if not callable(model):
            raise TypeError(f"Trainer model must be callable (a Module); got {type(model).__name__}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"Trainer optimizer must be a tinytorch Optimizer; got {type(optimizer).__name__}")
        if not callable(loss_fn):
            raise TypeError(f"Trainer loss_fn must be callable, e.g. CrossEntropyLoss(); got {loss_fn!r}")
        if clip_norm is not None and not clip_norm > 0:
            raise ValueError(f"Trainer clip_norm={clip_norm}: expected a positive number or None")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.metrics = {"accuracy": accuracy} if metrics is None else dict(metrics)
        self.scheduler, self.clip_norm = scheduler, clip_norm
        self.progress, self.progress_stream = progress, progress_stream
        self.history: dict[str, list[float]] = {}
        self.epoch = 0  # completed epochs
        self.batch = 0  # position within the current epoch, from 1

    # -- one step ------------------------------------------------------------------------------
    def check_finite(self, loss_value: float) -> None:
        """Raise ``TrainingDivergedError`` if ``loss_value`` is NaN or infinite."""
        if not math.isfinite(loss_value):
            raise TrainingDivergedError(self.epoch + 1, self.batch, loss_value, self.optimizer.lr)

    def check_inputs(self, x: Tensor) -> None:
        """Raise ``NonFiniteInputError`` if the batch's inputs hold NaN or inf.

        Checked before the forward pass, so bad data is reported as bad data rather than as a
        diverging loss (which would blame the learning rate). Targets are not checked here: a
        non-finite target makes the loss non-finite, which ``check_finite`` reports.
        """
        values = x.data
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            count = values.size - int(np.count_nonzero(np.isfinite(values)))
            raise NonFiniteInputError(self.epoch + 1, self.batch, count, values.size)

    def train_step(self, x, y) -> tuple[float, Tensor]:
        """One update on one batch; returns the batch's loss (a float) and the model's outputs.

        The inputs are checked first (``check_inputs``, given). Then forward, loss, and
        ``check_finite`` on the loss *before* anything changes, then zero_grad, backward,
        optional clipping, and the optimizer step.
        """
        x = as_tensor(x)
        self.check_inputs(x)
        # BEGIN SOLUTION
        outputs = self.model(x)
        loss = self.loss_fn(outputs, y)
        loss_value = loss.item()
        self.check_finite(loss_value)
        self.optimizer.zero_grad()
        loss.backward()
        if self.clip_norm is not None:
            clip_grad_norm(self.optimizer.params, self.clip_norm)
        self.optimizer.step()
        return loss_value, outputs
        # END SOLUTION

    def _batch_measures(self, loss_value: float, outputs: Tensor, y) -> dict:
        measures = {"loss": loss_value}
        targets = _plain_array(y)
        for name, metric in self.metrics.items():
            measures[name] = metric(outputs.data, targets)
        return measures

    # -- whole passes over the data ---------------------------------------------------------------
    def train_epoch(self, batches, bar: ProgressBar | None = None) -> dict:
        """One pass of ``train_step`` over ``batches``; the sample-weighted mean loss and metrics."""
        self._set_training_mode(True)
        means = _SampleMeans()
        self.batch = 0
        for x, y in batches:
            self.batch += 1
            loss_value, outputs = self.train_step(x, y)
            means.add(self._batch_measures(loss_value, outputs, y), len(outputs.data))
            if bar is not None:
                bar.update(1, status=f"epoch {self.epoch + 1} loss {means.totals['loss'] / means.count:.4f}")
        return means.means("train_batches")

    def evaluate(self, batches) -> dict:
        """Mean loss and metrics over ``batches`` without learning (no graph, eval mode).

        Each batch's loss and metrics go into ``means`` (``self._batch_measures`` computes
        them). The model's modes (training or eval, for every sub-module) are restored
        afterwards, even if an error interrupts the evaluation.
        """
        modes = _module_modes(self.model)
        self._set_training_mode(False)
        means = _SampleMeans()
        try:
            with no_grad():
                # BEGIN SOLUTION
                for x, y in batches:
                    outputs = self.model(as_tensor(x))
                    loss_value = self.loss_fn(outputs, y).item()
                    means.add(self._batch_measures(loss_value, outputs, y), len(outputs.data))
                # END SOLUTION
        finally:
            for module, training in modes:
                object.__setattr__(module, "training", training)
        return means.means("evaluate() batches")

    def fit(self, train_batches, epochs: int, val_batches=None) -> dict:
        """Train for ``epochs`` more epochs; returns ``history`` (lists, one entry per epoch).

        ``history`` holds ``loss`` and each metric on the training batches (measured while
        training, as in Keras), and ``val_loss``, ``val_<metric>`` when ``val_batches`` is
        given. Calling ``fit`` again continues training and extends the same history.
        """
        if int(epochs) != epochs or epochs < 1:
            raise ValueError(f"fit epochs={epochs}: expected a positive whole number")
        epochs = int(epochs)
        _check_reiterable("train_batches", train_batches, epochs)
        if val_batches is not None:
            _check_reiterable("val_batches", val_batches, epochs)
        per_epoch = len(train_batches) if hasattr(train_batches, "__len__") else None
        bar = ProgressBar(
            total=per_epoch * epochs if per_epoch is not None else None,
            description="training",
            unit="batches",
            enabled=self.progress is not False,
            force=self.progress is True,
            stream=self.progress_stream,
        )
        # NumPy's overflow warnings would only precede, noisily, the clear error that the loss
        # check raises when training diverges.
        with bar, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for _ in range(epochs):
                measures = self.train_epoch(train_batches, bar)
                if val_batches is not None:
                    measures.update({f"val_{name}": value for name, value in self.evaluate(val_batches).items()})
                for name, value in measures.items():
                    self.history.setdefault(name, []).append(value)
                self.epoch += 1
                if self.scheduler is not None:
                    self.scheduler.step()
        return self.history

    def _set_training_mode(self, mode: bool) -> None:
        train = getattr(self.model, "train", None)
        if train is not None:
            train(mode)

    # -- checkpoints -----------------------------------------------------------------------------
    def save_checkpoint(self, path) -> None:
        """Save model, optimizer, scheduler, epoch count and history (see ``save_checkpoint``)."""
        save_checkpoint(path, self.model, self.optimizer, self.scheduler, epoch=self.epoch, history=self.history)

    def load_checkpoint(self, path) -> None:
        """Restore everything ``save_checkpoint`` saved; the next ``fit`` continues from there."""
        saved = load_checkpoint(path, self.model, self.optimizer, self.scheduler)
        self.epoch = saved["epoch"] or 0
        self.history = saved["history"]


def fit(model, optimizer, loss_fn, train_batches, epochs: int, val_batches=None, **trainer_options) -> dict:
    """Functional form: ``Trainer(model, optimizer, loss_fn, **trainer_options).fit(...)``."""
    return Trainer(model, optimizer, loss_fn, **trainer_options).fit(train_batches, epochs, val_batches)


# -- checkpoints: one .npz file of named arrays, no pickle ---------------------------------------
def save_checkpoint(path, model, optimizer=None, scheduler=None, *, epoch: int | None = None, history=None) -> None:
    """Write model (and optimizer, scheduler, epoch, history) to ``path`` as an ``.npz`` file.

    Every value becomes a named NumPy array: ``model/<parameter name>``, ``optimizer/<key of
    optimizer.state_dict()>``, ``scheduler/<key>``, ``history/<name>``, ``epoch``. No Python
    objects are pickled, so loading a checkpoint cannot run code. The file is written to a
    temporary name and then renamed, so a crash mid-write never leaves a half checkpoint.
    """
    arrays = {"format_version": np.array(CHECKPOINT_FORMAT_VERSION)}
    # BEGIN SOLUTION
    for name, value in model.state_dict().items():
        arrays[f"model/{name}"] = np.asarray(value)
    if optimizer is not None:
        arrays["optimizer_class"] = np.array(type(optimizer).__name__)
        for key, value in optimizer.state_dict().items():
            arrays[f"optimizer/{key}"] = np.asarray(value)
    if scheduler is not None:
        for key, value in scheduler.state_dict().items():
            arrays[f"scheduler/{key}"] = np.asarray(value)
    if epoch is not None:
        arrays["epoch"] = np.array(int(epoch))
    for name, values in (history or {}).items():
        arrays[f"history/{name}"] = np.asarray(values, dtype=np.float64)
    # END SOLUTION
    _write_atomically(Path(path), arrays)


def _write_atomically(path: Path, arrays: dict) -> None:
    handle = tempfile.NamedTemporaryFile(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _section(archive: dict, prefix: str) -> dict:
    return {key[len(prefix) :]: value for key, value in archive.items() if key.startswith(prefix)}


def load_checkpoint(path, model, optimizer=None, scheduler=None) -> dict:
    """Load what ``save_checkpoint`` wrote into ``model`` (and optimizer, scheduler) in place.

    Returns ``{"epoch": int or None, "history": dict of lists}``. Raises ``ValueError`` when
    an optimizer or scheduler is asked for but the file holds none, or holds another kind.
    """
    with np.load(path, allow_pickle=False) as npz:
        archive = {key: npz[key] for key in npz.files}
    version = int(archive.get("format_version", -1))
    if version != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(
            f"{path} is not a TinyTorch checkpoint of format {CHECKPOINT_FORMAT_VERSION} "
            f"(format_version={version}); expected a file written by save_checkpoint"
        )
    if optimizer is not None:
        saved_class = str(archive.get("optimizer_class", "nothing"))
        if saved_class != type(optimizer).__name__:
            raise ValueError(
                f"{path} holds optimizer state of {saved_class}, but a {type(optimizer).__name__} "
                f"was given to restore; expected the same optimizer class as when saving"
            )
    scheduler_state = _section(archive, "scheduler/")
    if scheduler is not None and not scheduler_state:
        raise ValueError(f"{path} holds no scheduler state; save it with save_checkpoint(..., scheduler=...)")
    # BEGIN SOLUTION
    model.load_state_dict(_section(archive, "model/"))
    if optimizer is not None:
        optimizer.load_state_dict(_section(archive, "optimizer/"))
    if scheduler is not None:
        scheduler.load_state_dict(scheduler_state)
    epoch = int(archive["epoch"]) if "epoch" in archive else None
    history = {name: values.tolist() for name, values in _section(archive, "history/").items()}
    # END SOLUTION
    return {"epoch": epoch, "history": history}


__all__ = [
    "NonFiniteInputError", "Trainer", "TrainingDivergedError", "accuracy", "clip_grad_norm", "fit",
    "load_checkpoint", "save_checkpoint",
]
