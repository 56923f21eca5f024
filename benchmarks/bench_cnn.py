"""The ``cnn`` workload (README.md, "Performance"): TinyTorch against hand-written NumPy and PyTorch.

input (32, 3, 32, 32) -> Conv2d 3->16 k3 pad1 -> ReLU -> MaxPool 2 -> Conv2d 16->32 k3 pad1
-> ReLU -> MaxPool 2 -> flatten (2048) -> Linear 10, softmax cross-entropy on integer labels,
SGD lr 0.01. A step is forward + loss + backward + update.

    python benchmarks/bench_cnn.py [--rounds 100]            # one BLAS thread, then the defaults
    python benchmarks/bench_cnn.py --threads 1 [--rounds 100]  # one configuration only

The contenders run in one process, after checking that all compute the same losses from the
same weights, and are timed one step each in turn (A B C A B C ...), so that a busy patch of a
shared machine slows all of them alike; the medians are compared. The BLAS thread count is
fixed before NumPy starts, so each configuration runs in a child process of its own.

Targets: TinyTorch within 1.3x of hand-written NumPy and within 2x of PyTorch CPU.
"""

from __future__ import annotations

import argparse
import os
import sys

from sgd_step import tinytorch_sgd_step  # benchmarks/sgd_step.py, beside this file
from thread_settings import run_each_thread_setting, set_torch_threads  # benchmarks/thread_settings.py

BATCH, CHANNELS, SIDE, CLASSES, LR = 32, (3, 16, 32), 32, 10, 0.01
KERNEL = 3
FLAT = CHANNELS[2] * (SIDE // 4) ** 2  # 2048


def make_data(seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, CHANNELS[0], SIDE, SIDE)).astype(np.float32)
    return x, rng.integers(0, CLASSES, BATCH)


def initial_weights(seed: int = 1) -> list:
    """conv1 weight and bias, conv2 weight and bias, linear weight (in, out) and bias: uniform
    in +-1/sqrt(fan_in), float32, in TinyTorch's (and PyTorch's conv) layouts."""
    import numpy as np

    rng = np.random.default_rng(seed)
    shapes = [((CHANNELS[1], CHANNELS[0], KERNEL, KERNEL), CHANNELS[0] * KERNEL**2),
              ((CHANNELS[2], CHANNELS[1], KERNEL, KERNEL), CHANNELS[1] * KERNEL**2),
              ((FLAT, CLASSES), FLAT)]
    weights = []
    for shape, fan_in in shapes:
        bound = 1 / np.sqrt(fan_in)
        weights.append(rng.uniform(-bound, bound, shape).astype(np.float32))
        weights.append(rng.uniform(-bound, bound, shape[0] if len(shape) == 4 else shape[1]).astype(np.float32))
    return weights


# -- hand-written NumPy: forward and backward by hand ---------------------------------------------
def numpy_step_fn(x, y, weights):
    """The same maths with NumPy arrays and nothing else: the practical limit for a NumPy
    framework. Convolutions as one matmul per image over as_strided patches (im2col), their
    input gradient folded back with one strided add per kernel offset; 2x2 pooling by a
    fixed loop over the four corners of the 2x2 windows, which only works because the sides are
    even and the windows do not overlap."""
    import numpy as np
    from numpy.lib.stride_tricks import as_strided

    k1, c1, k2, c2, lin_w, lin_b = [w.copy() for w in weights]
    rows = np.arange(len(y))

    def with_border(a):
        framed = np.zeros((a.shape[0], a.shape[1], a.shape[2] + 2, a.shape[3] + 2), a.dtype)
        framed[:, :, 1:-1, 1:-1] = a
        return framed

    def patches(framed):
        """(n, c, h+2, w+2) -> (n, c*9, h*w) for a 3x3 kernel, stride 1."""
        n, c, fh, fw = framed.shape
        sn, sc, sh, sw = framed.strides
        h, w = fh - 2, fw - 2
        view = as_strided(framed, (n, c, 3, 3, h, w), (sn, sc, sh, sw, sh, sw))
        return view.reshape(n, c * 9, h * w)

    def conv_forward(a, kernel, bias):
        cols = patches(with_border(a))
        out = np.matmul(kernel.reshape(len(kernel), -1), cols)
        out += bias[:, None]
        return out.reshape(a.shape[0], len(kernel), a.shape[2], a.shape[3]), cols

    def conv_backward(d_out, a_shape, kernel, cols, need_input_grad):
        n, c, h, w = a_shape
        d_rows = d_out.reshape(n, len(kernel), h * w)
        d_kernel = np.matmul(cols, d_rows.transpose(0, 2, 1)).sum(axis=0).T.reshape(kernel.shape)
        d_bias = d_rows.sum(axis=(0, 2))
        if not need_input_grad:
            return None, d_kernel, d_bias
        d_cols = np.matmul(kernel.reshape(len(kernel), -1).T, d_rows).reshape(n, c, 3, 3, h, w)
        d_framed = np.zeros((n, c, h + 2, w + 2), d_out.dtype)
        for u in range(3):
            for v in range(3):
                d_framed[:, :, u:u + h, v:v + w] += d_cols[:, :, u, v]
        return d_framed[:, :, 1:-1, 1:-1], d_kernel, d_bias

    corners = [(0, 0), (0, 1), (1, 0), (1, 1)]

    def pool_forward(a):
        pooled = a[:, :, 0::2, 0::2].copy()
        for u, v in corners[1:]:
            np.maximum(pooled, a[:, :, u::2, v::2], out=pooled)
        return pooled

    def pool_backward(d_pooled, pooled, a):
        # ties inside a window only happen between zeros from the ReLU below, whose gradient
        # the ReLU then zeroes, so sending the gradient to every maximum is exact here
        d_a = np.empty_like(a)
        for u, v in corners:
            d_a[:, :, u::2, v::2] = d_pooled * (a[:, :, u::2, v::2] == pooled)
        return d_a

    def step():
        h1, cols1 = conv_forward(x, k1, c1)
        r1 = np.maximum(h1, 0)
        p1 = pool_forward(r1)
        h2, cols2 = conv_forward(p1, k2, c2)
        r2 = np.maximum(h2, 0)
        p2 = pool_forward(r2)
        flat = p2.reshape(len(x), -1)
        logits = flat @ lin_w + lin_b
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[rows, y].mean()

        d_logits = np.exp(log_probs)
        d_logits[rows, y] -= 1
        d_logits /= len(y)
        d_lin_w, d_lin_b = flat.T @ d_logits, d_logits.sum(axis=0)
        d_p2 = (d_logits @ lin_w.T).reshape(p2.shape)
        d_h2 = pool_backward(d_p2, p2, r2) * (h2 > 0)
        d_p1, d_k2, d_c2 = conv_backward(d_h2, p1.shape, k2, cols2, True)
        d_h1 = pool_backward(d_p1, p1, r1) * (h1 > 0)
        _, d_k1, d_c1 = conv_backward(d_h1, x.shape, k1, cols1, False)
        for value, grad in ((k1, d_k1), (c1, d_c1), (k2, d_k2), (c2, d_c2), (lin_w, d_lin_w), (lin_b, d_lin_b)):
            value -= LR * grad
        return loss

    return step


# -- TinyTorch ---------------------------------------------------------------------------------------
def tinytorch_model():
    from tinytorch.activations import ReLU
    from tinytorch.layers import Flatten, Linear, Sequential
    from tinytorch.spatial import Conv2d, MaxPool2d

    return Sequential(
        Conv2d(CHANNELS[0], CHANNELS[1], KERNEL, padding=1), ReLU(), MaxPool2d(2),
        Conv2d(CHANNELS[1], CHANNELS[2], KERNEL, padding=1), ReLU(), MaxPool2d(2),
        Flatten(), Linear(FLAT, CLASSES),
    )


def tinytorch_step_fn(x, y, weights):
    return tinytorch_sgd_step(tinytorch_model(), weights, x, y, LR)


# -- PyTorch -----------------------------------------------------------------------------------------
def torch_step_fn(x, y, weights):
    try:
        import torch
    except ImportError:
        return None
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(CHANNELS[0], CHANNELS[1], KERNEL, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(CHANNELS[1], CHANNELS[2], KERNEL, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(FLAT, CLASSES),
    )
    with torch.no_grad():
        for parameter, value in zip(model.parameters(), weights):
            parameter.copy_(torch.from_numpy(value.T.copy() if value.shape == (FLAT, CLASSES) else value))
    optimizer, loss_fn = torch.optim.SGD(model.parameters(), lr=LR), nn.CrossEntropyLoss()
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss

    return step


# -- one configuration -------------------------------------------------------------------------------
def run(threads: str, rounds: int) -> int:
    """Time the contenders in this process (its BLAS thread count is already fixed)."""
    import numpy as np

    from tinytorch.benchmarking import compare

    torch_threads = set_torch_threads(threads)

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
    print(f"same losses from the same weights, first 3 steps: {[round(v, 5) for v in reference]}")

    steps = {name: make(x, y, weights) for name, make in makers.items()}
    steps = {name: step for name, step in steps.items() if step is not None}
    comparison = compare(steps, baseline="numpy (by hand)", warmup=5, rounds=rounds)  # one step per turn
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(comparison.report(f"cnn workload (batch {BATCH}, 3x32x32, conv16-pool-conv32-pool-linear10, SGD), "
                            f"BLAS threads {blas}, torch threads {torch_threads}, load average "
                            f"{os.getloadavg()[0]:.1f}"))
    ratio = comparison.ratio("tinytorch")
    print(f"tinytorch / hand-written NumPy = {ratio:.2f}x ({'meets' if ratio <= 1.3 else 'MISSES'} the 1.3x target)")
    if "pytorch" in comparison.summaries:
        ratio = comparison.ratio("tinytorch", to="pytorch")
        print(f"tinytorch / PyTorch = {ratio:.2f}x ({'meets' if ratio <= 2.0 else 'MISSES'} the 2x target)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100, help="timed steps per implementation (after 5 warm-up)")
    parser.add_argument("--threads", choices=["1", "default"],
                        help="run one configuration in this process; without it, both run in child processes")
    args = parser.parse_args(argv)
    if args.threads is not None:
        return run(args.threads, args.rounds)
    return run_each_thread_setting(__file__, ["--rounds", str(args.rounds)])


if __name__ == "__main__":
    sys.exit(main())
