# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 05 — Autograd lab
#
# You implement the engine and the derivative rules in `src/tinytorch/autograd.py` (the
# `TODO (05_autograd)` blocks). This lab follows a gradient through a small graph, checks it
# against finite differences, and finally trains a network with nothing but `.grad`. The tests
# are the judge: `pytest modules/source/05_autograd`.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import tanh
from tinytorch.autograd import gradcheck, no_grad, topological_order
from tinytorch.layers import Linear
from tinytorch.losses import BCEWithLogitsLoss

# %% [markdown]
# ## 1. A gradient by hand and by backward
#
# `L = sum(x * y + x)`: `dL/dx = y + 1` (x is used twice: the two paths add up), `dL/dy = x`.

# %%
x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
y = Tensor([-1.0, 0.5, 4.0], requires_grad=True)
loss = (x * y + x).sum()
loss.backward()
print("x.grad", x.grad, "expected", y.numpy() + 1)
print("y.grad", y.grad, "expected", x.numpy())

# %% [markdown]
# The engine visits the graph in topological order, output first. Each node appears once.

# %%
print([node._op or "leaf" for node in topological_order(loss)])

# %% [markdown]
# A backward pass uses its graph up, as in PyTorch: a second `loss.backward()` raises and says
# what to do. A training loop runs the forward pass again every step; `retain_graph=True`
# keeps the graph for one more pass, which adds to `.grad` again.

# %%
try:
    loss.backward()
except RuntimeError as error:
    print("second backward:", str(error).split(":")[0])
x.zero_grad(), y.zero_grad()
loss = (x * y + x).sum()  # a new forward pass, a new graph
loss.backward(retain_graph=True)
loss.backward()
print("x.grad after two passes", x.grad, "expected", 2 * (y.numpy() + 1))

# %% [markdown]
# ## 2. Broadcasting is undone in one place
#
# `b` of shape (3,) was stretched to (4, 3) in the forward pass; its gradient is summed back.

# %%
a = Tensor(np.ones((4, 3)), requires_grad=True)
b = Tensor([1.0, 2.0, 3.0], requires_grad=True)
(a * b).sum().backward()
print("a.grad shape", a.grad.shape, "| b.grad", b.grad, "(each entry of b was used 4 times)")

# %% [markdown]
# ## 3. Check a gradient the way the grader does
#
# Central differences in float64 against `backward`, weighted by a random cotangent.

# %%
rng = np.random.default_rng(0)
print(gradcheck(lambda p, q: tanh(p @ q), [rng.standard_normal((2, 3)), rng.standard_normal((3, 4))]))

# %% [markdown]
# ## 4. The graph's memory, and `no_grad`
#
# Every intermediate stays alive until backward. Under `no_grad()` nothing is recorded.

# %%
big = Tensor(np.ones((1000, 1000)), requires_grad=True)
h = big
for _ in range(10):
    h = h * 1.0001
alive = {id(node): node.data.nbytes for node in topological_order(h)}
print(f"kept alive by the graph: {sum(alive.values()) / 1e6:.0f} MB in {len(alive)} tensors")
with no_grad():
    h = big * 1.0001
print("under no_grad: requires_grad =", h.requires_grad, "| parents:", h._parents)

# %% [markdown]
# ## 5. Depth without recursion
#
# A chain of 10,000 ops: a recursive backward would exceed Python's recursion limit (1,000).

# %%
start = time.perf_counter()
t = Tensor([1.0], dtype=np.float64, requires_grad=True)
h = t
for _ in range(10_000):
    h = h * 1.0001
h.sum().backward()
print(f"d/dt of t * 1.0001^10000 = {t.grad[0]:.6f} (exact {1.0001 ** 10_000:.6f}), "
      f"{(time.perf_counter() - start) * 1e3:.0f} ms")

# %% [markdown]
# ## 6. Learning XOR with nothing but `.grad`
#
# No optimizer yet (that is module 06): subtract `lr * grad` from each parameter's data.

# %%
tinytorch.manual_seed(0)
hidden, output = Linear(2, 8), Linear(8, 1)
parameters = hidden.parameters() + output.parameters()
inputs = Tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
targets = np.array([[0.0], [1.0], [1.0], [0.0]])
loss_function = BCEWithLogitsLoss()
losses = []
for step in range(300):
    loss = loss_function(output(tanh(hidden(inputs))), targets)
    for parameter in parameters:
        parameter.grad = None
    loss.backward()
    for parameter in parameters:
        parameter.data -= 1.0 * parameter.grad
    losses.append(loss.item())
with no_grad():
    predictions = (output(tanh(hidden(inputs))).numpy() > 0).astype(int)
print("predictions:", predictions.ravel(), "| targets:", targets.ravel().astype(int))
plt.figure(figsize=(5, 3))
plt.semilogy(losses)
plt.xlabel("step")
plt.ylabel("loss")
plt.title("XOR, plain gradient descent")
plt.show()

# %% [markdown]
# ## 7. Check yourself
#
# - Why does `mul`'s rule need the *other* input's data, and what must the graph keep for it?
# - `max` of `[1, 3, 3]`: where does the gradient go, and why is that a convention?
# - What goes wrong if two leaves share one `.grad` array and a clipping routine scales one?
