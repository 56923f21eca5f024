"""Probes: the grader's own check of a submission's library, judged outside its process.

pytest's verdict comes from the process that imported the student's code, and code in a
process can rewrite what that process reports. So after the pytest run, ``tito grade`` runs a
*probe child*: a plain ``python`` process (not pytest) with the submission's ``src`` first on
its path, the same isolation and limits as the pytest child, that imports the student's
``tinytorch`` and answers a battery of small computations (tensor ops and reductions,
activations, a Linear layer, losses, gradients, optimizer steps, a scheduler, clipping, a few
Trainer steps) on inputs drawn from a seed the *parent* picks at grading time. The child
writes its answers as arrays to ``answers.npz`` and never sees the expected values.

The parent computes the same probes with the reference library, in its own process when the
instructor's ``src/tinytorch`` is the ``tinytorch`` it imports (otherwise in a child that runs
only the instructor's code), and judges each probe with ``numpy.allclose`` at the probe's
stated tolerances. A milestone whose required groups fail a probe scores 0 (``grading``).

The table is extensible: a later module adds its probes with ``@probe("dataloader", "...")``.
A probe whose module's group is not built, or not required by any milestone, is not run; a
probe the reference itself cannot answer (a course whose library has another API) is skipped.

A student whose code detects the probe child and answers every probe correctly has computed
what the reference computes on inputs it could not know in advance: in effect, it has
implemented the library.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import threading
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from pytest_tinytorch.plugin.state import write_json_atomically

ANSWERS_ARRAYS = "answers.npz"
ANSWERS_INDEX = "answers.json"
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class Probe:
    """One computation of the battery: which module it checks, what it computes, how close is close."""

    module: str  # curriculum module name, e.g. "tensor"
    name: str  # what it computes, e.g. "tensor.sum(axis=1)"
    compute: Callable  # (library, rng) -> tuple of array-likes
    rtol: float = 1e-4
    atol: float = 1e-5

    @property
    def key(self) -> str:
        return f"{self.module}: {self.name}"


PROBES: list[Probe] = []


def probe(module: str, name: str, rtol: float = 1e-4, atol: float = 1e-5):
    """Register the decorated function ``(library, rng) -> tuple of arrays`` as a probe."""

    def register(compute: Callable) -> Callable:
        PROBES.append(Probe(module, name, compute, rtol, atol))
        return compute

    return register


class Library:
    """``library.tensor`` is ``tinytorch.tensor`` of whichever ``tinytorch`` this process imports."""

    def __getattr__(self, name: str):
        return importlib.import_module(f"tinytorch.{name}")


def values(x) -> np.ndarray:
    """A Tensor's (or anything's) values as a float64 array."""
    return np.array(getattr(x, "data", x), dtype=np.float64)


def normal(rng: np.random.Generator, *shape, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _layer(library, rng, fan_in: int, fan_out: int):
    """A Linear layer with weights drawn from ``rng`` (not from the library's own generator)."""
    layer = library.layers.Linear(fan_in, fan_out)
    layer.weight.data = normal(rng, fan_in, fan_out, scale=0.5)
    layer.bias.data = normal(rng, fan_out, scale=0.5)
    return layer


# -- 01 tensor -------------------------------------------------------------------------------


@probe("tensor", "tensor arithmetic with broadcasting (+, -, *, /)")
def _arithmetic(library, rng):
    Tensor = library.tensor.Tensor
    a, b = Tensor(normal(rng, 3, 4)), Tensor(normal(rng, 4))
    divisor = Tensor(np.abs(normal(rng, 3, 1)) + 0.5)
    return values(a + b), values(a - b), values(a * b), values(a / divisor)


@probe("tensor", "tensor.matmul")
def _matmul(library, rng):
    Tensor = library.tensor.Tensor
    return (values(Tensor(normal(rng, 3, 4)) @ Tensor(normal(rng, 4, 2))),)


@probe("tensor", "tensor.sum(axis=1)")
def _sum(library, rng):
    x = library.tensor.Tensor(normal(rng, 3, 5))
    return values(x.sum(axis=1)), values(x.sum(axis=0, keepdims=True)), values(x.sum())


@probe("tensor", "tensor.mean/max/min with axes")
def _reductions(library, rng):
    x = library.tensor.Tensor(normal(rng, 4, 3))
    return values(x.mean(axis=0)), values(x.max(axis=1)), values(x.min(axis=0, keepdims=True)), values(x.mean())


@probe("tensor", "tensor reshape and transpose")
def _shapes(library, rng):
    x = library.tensor.Tensor(normal(rng, 2, 3, 4))
    return values(x.reshape(6, 4)), values(x.transpose(2, 0, 1)), values(x.reshape(4, -1).transpose())


@probe("tensor", "tensor exp/log/sqrt/abs/clip")
def _elementwise(library, rng):
    Tensor = library.tensor.Tensor
    x, positive = Tensor(normal(rng, 3, 3)), Tensor(np.abs(normal(rng, 3, 3)) + 0.1)
    return values(x.exp()), values(positive.log()), values(positive.sqrt()), values(x.abs()), values(x.clip(-0.5, 0.5))


# -- 02 activations --------------------------------------------------------------------------


@probe("activations", "activations relu/sigmoid/tanh/gelu", atol=1e-4)
def _activations(library, rng):
    functions = library.activations
    x = library.tensor.Tensor(normal(rng, 3, 5, scale=3.0))
    return tuple(values(f(x)) for f in (functions.relu, functions.sigmoid, functions.tanh, functions.gelu))


@probe("activations", "softmax and log_softmax over the last axis")
def _softmax(library, rng):
    x = library.tensor.Tensor(normal(rng, 3, 5, scale=3.0))
    return values(library.activations.softmax(x, dim=-1)), values(library.activations.log_softmax(x, dim=-1))


# -- 03 layers -------------------------------------------------------------------------------


@probe("layers", "Linear forward")
def _linear(library, rng):
    layer = _layer(library, rng, 4, 3)
    return (values(layer(library.tensor.Tensor(normal(rng, 5, 4)))),)


@probe("layers", "Sequential(Linear, ReLU, Linear) forward")
def _sequential(library, rng):
    model = library.layers.Sequential(_layer(library, rng, 4, 6), library.activations.ReLU(), _layer(library, rng, 6, 2))
    return (values(model(library.tensor.Tensor(normal(rng, 5, 4)))),)


# -- 04 losses -------------------------------------------------------------------------------


@probe("losses", "mse_loss and cross_entropy")
def _losses(library, rng):
    Tensor, losses = library.tensor.Tensor, library.losses
    prediction, target = Tensor(normal(rng, 4, 3)), Tensor(normal(rng, 4, 3))
    logits, classes = Tensor(normal(rng, 5, 4, scale=2.0)), rng.integers(0, 4, 5)
    return values(losses.mse_loss(prediction, target)), values(losses.cross_entropy(logits, classes))


@probe("losses", "binary cross-entropy (probabilities and logits)")
def _binary_losses(library, rng):
    Tensor, losses = library.tensor.Tensor, library.losses
    logits = normal(rng, 6, scale=2.0)
    target = rng.integers(0, 2, 6).astype(np.float32)
    probabilities = Tensor((1 / (1 + np.exp(-logits))).astype(np.float32))
    return (values(losses.binary_cross_entropy(probabilities, Tensor(target))),
            values(losses.binary_cross_entropy_with_logits(Tensor(logits), Tensor(target))))


# -- 05 autograd -----------------------------------------------------------------------------


@probe("autograd", "backward of a composite (matmul, broadcast add, relu, exp, mean)", atol=1e-4)
def _composite_gradients(library, rng):
    Tensor = library.tensor.Tensor
    x = Tensor(normal(rng, 3, 4), requires_grad=True)
    w = Tensor(normal(rng, 4, 2), requires_grad=True)
    b = Tensor(normal(rng, 2), requires_grad=True)
    weights = Tensor(normal(rng, 3, 2))
    hidden = library.activations.relu(x @ w + b)
    loss = (hidden * weights).sum() + (x * 0.5).exp().mean(axis=0).sum()
    loss.backward()
    return values(loss), values(x.grad), values(w.grad), values(b.grad)


@probe("autograd", "backward of cross_entropy through Linear, tensor used twice", atol=1e-4)
def _network_gradients(library, rng):
    Tensor = library.tensor.Tensor
    layer = _layer(library, rng, 4, 3)
    x = Tensor(normal(rng, 5, 4), requires_grad=True)
    loss = library.losses.cross_entropy(layer(x) * 2.0 - layer(x), rng.integers(0, 3, 5))
    loss.backward()
    return values(layer.weight.grad), values(layer.bias.grad), values(x.grad)


# -- 06 optimizers ---------------------------------------------------------------------------


def _optimizer_steps(library, rng, make, steps: int = 2):
    """Parameters after ``steps`` updates with fixed gradients drawn from ``rng``."""
    param = library.layers.Parameter(normal(rng, 3, 2))
    optimizer = make([param])
    for _ in range(steps):
        param.grad = normal(rng, 3, 2)
        optimizer.step()
    return values(param)


@probe("optimizers", "SGD steps with momentum, nesterov and weight decay")
def _sgd(library, rng):
    SGD = library.optimizers.SGD
    return (_optimizer_steps(library, rng, lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01)),
            _optimizer_steps(library, rng, lambda p: SGD(p, lr=0.05, momentum=0.5, nesterov=True)))


@probe("optimizers", "Adam and AdamW steps", atol=1e-4)
def _adam(library, rng):
    optimizers = library.optimizers
    return (_optimizer_steps(library, rng, lambda p: optimizers.Adam(p, lr=0.01, weight_decay=0.1), steps=3),
            _optimizer_steps(library, rng, lambda p: optimizers.AdamW(p, lr=0.01, weight_decay=0.1), steps=3))


@probe("optimizers", "StepLR and CosineAnnealingLR schedules")
def _schedulers(library, rng):
    optimizers = library.optimizers
    rates = []
    for make in (lambda o: optimizers.StepLR(o, step_size=2, gamma=0.5),
                 lambda o: optimizers.CosineAnnealingLR(o, T_max=5, eta_min=0.01)):
        optimizer = optimizers.SGD([library.layers.Parameter(normal(rng, 2))], lr=float(rng.uniform(0.1, 1.0)))
        scheduler = make(optimizer)
        epochs = []
        for _ in range(6):
            scheduler.step()
            epochs.append(optimizer.lr)
        rates.append(np.array(epochs))
    return tuple(rates)


# -- 07 training -----------------------------------------------------------------------------


@probe("training", "clip_grad_norm")
def _clipping(library, rng):
    params = [library.layers.Parameter(normal(rng, 3, 2)), library.layers.Parameter(normal(rng, 4))]
    for param in params:
        param.grad = normal(rng, *param.shape, scale=3.0)
    norm = library.training.clip_grad_norm(params, max_norm=1.0)
    return values(norm), values(params[0].grad), values(params[1].grad)


@probe("training", "Trainer: three steps of a tiny classifier", rtol=1e-3, atol=1e-4)
def _trainer(library, rng):
    model = library.layers.Sequential(_layer(library, rng, 2, 4), library.activations.Tanh(), _layer(library, rng, 4, 2))
    optimizer = library.optimizers.SGD(model.parameters(), lr=0.5, momentum=0.5)
    trainer = library.training.Trainer(model, optimizer, library.losses.CrossEntropyLoss(), metrics={},
                                       clip_norm=5.0, progress=False)
    x, y = normal(rng, 8, 2), rng.integers(0, 2, 8)
    losses = [trainer.train_step(x, y)[0] for _ in range(3)]
    return (np.array(losses), *(values(param) for param in model.parameters()))


# -- running probes (in the probe child, or in the parent for the reference) -----------------


def probe_rng(seed: int, key: str) -> np.random.Generator:
    """The inputs of probe ``key`` under ``seed``: the same in every process."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def probes_by_key(keys) -> list[Probe]:
    known = {p.key: p for p in PROBES}
    unknown = [key for key in keys if key not in known]
    if unknown:
        raise ValueError(f"unknown probe {unknown[0]!r}; expected one of: {', '.join(known)}")
    return [known[key] for key in keys]


def compute_answers(seed: int, probes: list[Probe]) -> tuple[dict[str, list[np.ndarray]], dict[str, str]]:
    """(probe key -> its arrays, probe key -> the error it raised) with ``tinytorch`` as imported."""
    library, answers, errors = Library(), {}, {}
    for item in probes:
        try:
            answers[item.key] = [values(output) for output in item.compute(library, probe_rng(seed, item.key))]
        except BaseException as error:  # a student's SystemExit is an answer too: a wrong one
            if isinstance(error, KeyboardInterrupt):
                raise
            errors[item.key] = f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]
    return answers, errors


def write_answers(out_dir: Path, answers: dict, errors: dict) -> None:
    """``answers.npz`` (arrays named ``p<i>_<j>``) and ``answers.json`` (which arrays are whose)."""
    out_dir = Path(out_dir)
    arrays, index = {}, {}
    for number, (key, outputs) in enumerate(answers.items()):
        names = [f"p{number}_{part}" for part in range(len(outputs))]
        arrays.update(zip(names, outputs))
        index[key] = {"arrays": names}
    for key, error in errors.items():
        index[key] = {"error": error}
    partial = out_dir / (ANSWERS_ARRAYS + ".partial")
    with open(partial, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(partial, out_dir / ANSWERS_ARRAYS)
    write_json_atomically(out_dir / ANSWERS_INDEX, {"probes": index})


def read_answers(out_dir: Path) -> tuple[dict[str, list[np.ndarray]], dict[str, str]] | None:
    """What a probe child answered, or None when it wrote nothing readable. Never unpickles:
    the files come from the student's process."""
    try:
        index = json.loads((Path(out_dir) / ANSWERS_INDEX).read_text(encoding="utf-8"))["probes"]
        with np.load(Path(out_dir) / ANSWERS_ARRAYS, allow_pickle=False) as stored:
            answers = {key: [np.asarray(stored[name], dtype=np.float64) for name in entry["arrays"]]
                       for key, entry in index.items() if "arrays" in entry}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    errors = {key: str(entry.get("error"))[:MAX_ERROR_CHARS] for key, entry in index.items()
              if isinstance(entry, dict) and "arrays" not in entry}
    return answers, errors


# -- judging (in the parent) -----------------------------------------------------------------


@dataclass
class Verdict:
    """One probe's outcome: passed, failed (with the detail), or skipped (with why)."""

    probe: str  # the probe key
    group: str
    outcome: str  # passed | failed | skipped
    detail: str = ""

    def describe(self) -> str:
        name = self.probe.split(": ", 1)[-1]
        return f"probe {self.group} {name} {self.detail}"

    def to_json(self) -> dict:
        return asdict(self)


def _difference(got: np.ndarray, expected: np.ndarray, item: Probe) -> str | None:
    if got.shape != expected.shape:
        return f"has shape {got.shape} where the reference has {expected.shape}"
    if np.allclose(got, expected, rtol=item.rtol, atol=item.atol, equal_nan=True):
        return None
    error = np.abs(got - expected)
    error = np.where(np.isnan(error), np.inf, error)
    where = np.unravel_index(int(np.argmax(error)), error.shape) if error.ndim else ()
    position = f" at index {tuple(int(i) for i in where)}" if where else ""
    return (f"is {got[where]:.6g}{position} where the reference has {expected[where]:.6g} "
            f"(tolerance rtol {item.rtol:g}, atol {item.atol:g})")


def judge(item: Probe, group: str, reference, answer, reference_error: str | None,
          answer_error: str | None) -> Verdict:
    """Compare one probe's answer with the reference's."""
    if reference is None:
        return Verdict(item.key, group, "skipped", f"the reference cannot answer it ({reference_error})")
    if answer is None:
        return Verdict(item.key, group, "failed",
                       f"failed to answer: {answer_error}" if answer_error else "was not answered")
    if len(answer) != len(reference):
        return Verdict(item.key, group, "failed",
                       f"gave {len(answer)} outputs where the reference gives {len(reference)}")
    for number, (got, expected) in enumerate(zip(answer, reference), start=1):
        difference = _difference(got, expected, item)
        if difference:
            which = f" (output {number} of {len(reference)})" if len(reference) > 1 else ""
            return Verdict(item.key, group, "failed", f"differs from the reference{which}: it {difference}")
    return Verdict(item.key, group, "passed")


@dataclass
class ProbeReport:
    """What the probes found for one submission, as stored in its result JSON."""

    seed: int
    verdicts: list = field(default_factory=list)
    zeroed: dict = field(default_factory=dict)  # milestone name -> reason

    def to_json(self) -> dict:
        counts = {outcome: sum(v.outcome == outcome for v in self.verdicts) for outcome in ("passed", "failed", "skipped")}
        return {"seed": self.seed, **counts, "zeroed_milestones": dict(self.zeroed),
                "verdicts": [v.to_json() for v in self.verdicts]}


def probes_for_groups(curriculum, groups) -> dict[str, list[Probe]]:
    """group name -> the probes of its modules, for the groups named (in curriculum order)."""
    return {group.name: [p for p in PROBES if p.module in group.modules]
            for group in curriculum.groups if group.name in set(groups)}


def probe_command(seed: int, out_dir: Path, keys) -> list[str]:
    """The probe child's command line (run with the library under test first on the path)."""
    return [sys.executable, "-m", "pytest_tinytorch.course.probes", "--seed", str(seed), "--out", str(out_dir), *keys]


def _python_files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*.py")) if "__pycache__" not in path.parts}


def imported_library() -> Path | None:
    """The folder of the ``tinytorch`` this process imports (without importing it), or None."""
    spec = importlib.util.find_spec("tinytorch")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]).resolve() if locations else None


def is_imported_library(library_dir: Path) -> bool:
    """Is ``library_dir`` (the instructor's ``src/tinytorch``) the ``tinytorch`` this process
    imports: the same folder, or the same Python files byte for byte?"""
    here, library_dir = imported_library(), Path(library_dir).resolve()
    if here is None or not library_dir.is_dir():
        return False
    return here == library_dir or _python_files(here) == _python_files(library_dir)


_REFERENCE_LOCK = threading.Lock()


def reference_answers_here(seed: int, probes: list[Probe]):
    """The reference's answers computed in this process (one computation at a time: the
    library keeps global state such as the gradient mode, and ``--jobs`` grades in threads)."""
    with _REFERENCE_LOCK:
        return compute_answers(seed, probes)


def main(argv: list[str] | None = None) -> int:
    """The probe child: ``python -m pytest_tinytorch.course.probes --seed S --out DIR KEY...``."""
    parser = argparse.ArgumentParser(prog="python -m pytest_tinytorch.course.probes",
                                     description="Answer the grader's probes with the tinytorch on the path.")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for answers.npz and answers.json")
    parser.add_argument("keys", nargs="+", help="probe keys, e.g. 'tensor: tensor.sum(axis=1)'")
    options = parser.parse_args(argv)
    answers, errors = compute_answers(options.seed, probes_by_key(options.keys))
    write_answers(options.out, answers, errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
