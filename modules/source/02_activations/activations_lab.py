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
# # Module 02 — Activations lab
#
# You implement the activations in `src/tinytorch/activations.py` (the `TODO (02_activations)`
# blocks). This lab looks at their shapes and at the numerical traps they avoid. The tests are
# the judge: `pytest modules/source/02_activations`.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np

from tinytorch import Tensor
from tinytorch.activations import GELU, ReLU, Sigmoid, Tanh, log_softmax, sigmoid, softmax
from tinytorch.layers import Linear

# %% [markdown]
# ## 1. Four curves

# %%
grid = Tensor(np.linspace(-4, 4, 201))
figure, axes = plt.subplots(figsize=(6, 3.5))
for activation in (ReLU(), Sigmoid(), Tanh(), GELU()):
    axes.plot(grid.numpy(), activation(grid).numpy(), label=repr(activation))
axes.axhline(0, color="lightgrey", linewidth=0.8)
axes.legend()
axes.set_title("activations")
plt.show()

# %% [markdown]
# ## 2. Without a nonlinearity, depth buys nothing
#
# Two Linear layers in a row equal one Linear layer with weight `W1 @ W2`. With a ReLU between
# them they do not.

# %%
first, second = Linear(3, 5), Linear(5, 2)
x = Tensor(np.random.default_rng(0).standard_normal((4, 3)))
merged_weight = first.weight.numpy() @ second.weight.numpy()
merged_bias = first.bias.numpy() @ second.weight.numpy() + second.bias.numpy()
stacked = second(first(x)).numpy()
print("two linear layers == one:", np.allclose(stacked, x.numpy() @ merged_weight + merged_bias, atol=1e-6))
print("with a ReLU between them:", np.allclose(second(ReLU()(first(x))).numpy(), stacked, atol=1e-6))

# %% [markdown]
# ## 3. The overflow trap
#
# `1 / (1 + exp(-x))` at x = -1000 takes `exp(1000)`, which is `inf` in float32 (anything
# above 88.7 is). It lands on 0 by luck, with a warning. Your `sigmoid` never overflows.

# %%
extreme = np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0], dtype=np.float32)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    naive = 1 / (1 + np.exp(-extreme))
print("naive: ", naive, "| warnings:", [str(w.message) for w in caught])
print("stable:", sigmoid(Tensor(extreme)).numpy())

# %% [markdown]
# ## 4. Softmax: shift first
#
# Softmax does not change when every logit moves by the same amount, so subtract the largest
# before `exp`. Then the biggest term is `e^0 = 1` and nothing overflows.

# %%
logits = Tensor([[1.0, 2.0, 3.0]])
print(softmax(logits).numpy(), softmax(logits + 1000.0).numpy())

# %% [markdown]
# When one logit is 1000 above another, the small probability underflows to exactly 0, and
# `log(0)` is `-inf`. `log_softmax` computes `x - logsumexp(x)` directly and stays exact.

# %%
far_apart = Tensor([[0.0, -1000.0]])
with np.errstate(divide="ignore"):
    print("log(softmax):", np.log(softmax(far_apart).numpy()))
print("log_softmax: ", log_softmax(far_apart).numpy())

# %% [markdown]
# ## 5. Check yourself
#
# - Which activations can reuse their *output* to compute their derivative (module 05)?
# - Why is GELU's `x * x * x` faster than `x ** 3` in NumPy? (Time both on a 256×1000 array.)
# - What is `softmax(x, dim=0)` of a (3, 4) tensor: which axis sums to one?
