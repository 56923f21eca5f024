"""The ``mlp`` workload (README.md, "Performance"): TinyTorch against hand-written NumPy and PyTorch.

input (128, 784) -> Linear 256 -> ReLU -> Linear 128 -> ReLU -> Linear 10, softmax
cross-entropy on integer labels, SGD lr 0.01. A step is forward + loss + backward + update.

    python benchmarks/bench_mlp.py [--repeats 60]

Target: TinyTorch within 1.3x of hand-written NumPy (the gap is pure framework overhead).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from sgd_step import tinytorch_sgd_step  # benchmarks/sgd_step.py, beside this file
from tinytorch.benchmarking import compare

BATCH, SIZES, CLASSES, LR = 128, (784, 256, 128, 10), 10, 0.01


def make_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, CLASSES, BATCH)
    return x, y


def initial_weights(seed: int = 1):
    rng = np.random.default_rng(seed)
    weights = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
        weights.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return weights


def numpy_step_fn(x, y, weights):
    """Forward and backward written out by hand: the practical limit for a NumPy framework."""
    w1, b1, w2, b2, w3, b3 = [w.copy() for w in weights]
    rows = np.arange(len(y))

    def step():  # the weights are updated in place (w -= ...), so no rebinding
        h1 = x @ w1 + b1
        a1 = np.maximum(h1, 0)
        h2 = a1 @ w2 + b2
        a2 = np.maximum(h2, 0)
        logits = a2 @ w3 + b3
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[rows, y].mean()
        d_logits = np.exp(log_probs)
        d_logits[rows, y] -= 1
        d_logits /= len(y)
        d_w3, d_b3 = a2.T @ d_logits, d_logits.sum(0)
        d_a2 = d_logits @ w3.T
        d_h2 = d_a2 * (h2 > 0)
        d_w2, d_b2 = a1.T @ d_h2, d_h2.sum(0)
        d_a1 = d_h2 @ w2.T
        d_h1 = d_a1 * (h1 > 0)
        d_w1, d_b1 = x.T @ d_h1, d_h1.sum(0)
        for w, g in ((w1, d_w1), (b1, d_b1), (w2, d_w2), (b2, d_b2), (w3, d_w3), (b3, d_b3)):
            w -= LR * g
        return loss

    return step


def tinytorch_step_fn(x, y, weights):
    from tinytorch.activations import ReLU
    from tinytorch.layers import Linear, Sequential

    model = Sequential(Linear(784, 256), ReLU(), Linear(256, 128), ReLU(), Linear(128, 10))
    return tinytorch_sgd_step(model, weights, x, y, LR)


def torch_step_fn(x, y, weights):
    try:
        import torch
    except ImportError:
        return None
    layers = [torch.nn.Linear(a, b) for a, b in zip(SIZES[:-1], SIZES[1:])]
    with torch.no_grad():
        for layer, (w, b) in zip(layers, zip(weights[::2], weights[1::2])):
            layer.weight.copy_(torch.from_numpy(w.T.copy()))
            layer.bias.copy_(torch.from_numpy(b))
    model = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2])
    optimizer, loss_fn = torch.optim.SGD(model.parameters(), lr=LR), torch.nn.CrossEntropyLoss()
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss

    return step


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=60, help="timed steps per implementation")
    args = parser.parse_args(argv)

    x, y = make_data()
    weights = initial_weights()
    makers = {"numpy (by hand)": numpy_step_fn, "tinytorch": tinytorch_step_fn, "pytorch": torch_step_fn}
    first_losses = {}
    for name, make in makers.items():
        step = make(x, y, weights)
        if step is not None:
            first_losses[name] = [float(np.asarray(step().item())) for _ in range(3)]
    reference = first_losses["numpy (by hand)"]
    for name, losses in first_losses.items():
        if not np.allclose(losses, reference, rtol=1e-4):
            print(f"error: {name} losses {losses} differ from hand-written NumPy {reference}")
            return 1
    steps = {name: make(x, y, weights) for name, make in makers.items()}
    steps = {name: step for name, step in steps.items() if step is not None}
    comparison = compare(steps, baseline="numpy (by hand)", warmup=5, rounds=args.repeats)  # one step per turn
    print(comparison.report(f"mlp workload (batch {BATCH}, 784-256-128-10, SGD)"))
    ratio = comparison.ratio("tinytorch")
    verdict = "meets" if ratio <= 1.3 else "MISSES"
    print(f"tinytorch / hand-written NumPy = {ratio:.2f}x ({verdict} the 1.3x target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
