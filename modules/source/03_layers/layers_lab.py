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
# # Module 03 — Layers lab
#
# You implement the layers in `src/tinytorch/layers.py` (the `TODO (03_layers)` blocks). This
# lab builds a small model, looks inside it, and measures what the layers do to their inputs.
# The tests are the judge: `pytest modules/source/03_layers`.

# %%
import numpy as np

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import ReLU
from tinytorch.layers import Dropout, Flatten, Linear, Module, Parameter, Sequential

tinytorch.manual_seed(0)

# %% [markdown]
# ## 1. A model is a tree; its parameters are found, not listed
#
# Assigning a `Module` or a `Parameter` to an attribute registers it. Names are dotted paths.

# %%
class Net(Module):
    def __init__(self):
        super().__init__()
        self.body = Sequential(Flatten(), Linear(16, 8), ReLU(), Dropout(0.2))
        self.head = Linear(8, 3)
        self.scale = Parameter(np.ones(3))

    def forward(self, x):
        return self.head(self.body(x)) * self.scale


net = Net()
print(net)
for name, parameter in net.named_parameters():
    print(f"{name:15s} {parameter.shape}")
print("parameters:", sum(p.size for p in net.parameters()))

# %% [markdown]
# ## 2. Linear is `x @ W + b`, on any batch shape

# %%
images = Tensor(np.random.default_rng(1).standard_normal((5, 1, 4, 4)))
net.eval()
logits = net(images)
print("logits:", logits.shape)
layer = net.body[1]
by_hand = images.numpy().reshape(5, 16) @ layer.weight.numpy() + layer.bias.numpy()
print("first layer equals NumPy:", np.allclose(net.body[1](net.body[0](images)).numpy(), by_hand, atol=1e-6))
try:
    layer(Tensor(np.ones((5, 15))))
except ValueError as error:
    print("error:", error)

# %% [markdown]
# ## 3. What the default initialisation does to the scale
#
# Weights uniform in ±1/√in keep about a third of the input's variance, whatever the width.
# Stack layers without anything else and the signal fades.

# %%
x = Tensor(np.random.default_rng(2).standard_normal((512, 256)))
h = x
for depth in range(1, 6):
    h = Linear(256, 256)(h)
    print(f"after {depth} layer(s): variance {h.numpy().var():.4f}")

# %% [markdown]
# ## 4. Dropout: noisy in training, silent in evaluation

# %%
dropout = Dropout(0.5)
ones = Tensor(np.ones((1, 10)))
print("train:", dropout(ones).numpy())
print("train:", dropout(ones).numpy())
print("mean over a million:", dropout(Tensor(np.ones(1_000_000))).numpy().mean())
dropout.eval()
print("eval: ", dropout(ones).numpy())

# %% [markdown]
# ## 5. Saving and loading weights

# %%
state = net.state_dict()
copy = Net().eval()
print("before loading, same output:", np.allclose(copy(images).numpy(), logits.numpy()))
copy.load_state_dict(state)
print("after loading, same output: ", np.allclose(copy(images).numpy(), logits.numpy()))

# %% [markdown]
# ## 6. Check yourself
#
# - If two layers share one weight (`decoder.weight = encoder.weight`), how many times does it
#   appear in `parameters()`, and why does that matter for an optimizer?
# - How many bytes does `Linear(4096, 4096)` take in float32? With a gradient and Adam's state?
# - Why is dropout's output scaled by `1 / (1 - p)` during training and not at evaluation?
