"""Module 05 — Autograd: reverse-mode differentiation over the recorded graph.

Modules 01–04 made every op record its inputs. This module adds the two halves that turn the
record into gradients:

1. the **rules**: for each op, how a gradient flowing into its output becomes gradients for its
   inputs (the vector–Jacobian product). They read like a table, one short function per op;
2. the **engine**: ``backward`` visits the graph from the output back to the leaves in
   topological order (iteratively, so a chain of 10,000 ops needs no recursion), sums the
   gradients of a tensor used twice, and undoes broadcasting in exactly one place.

Ops introduced from module 05 on register their rule with ``@backward_rule("name")`` right next
to their forward code, and are then differentiated (and graded) like the ops below.
"""

from __future__ import annotations

import contextlib

import numpy as np

from tinytorch.tensor import GradMode, Tensor

BACKWARD_RULES: dict = {}
"""op name -> rule(grad, out, *parents, **saved) returning one gradient (or None) per parent."""


def backward_rule(op: str):
    """Register the derivative rule of ``op`` (a decorator)."""

    def register(rule):
        BACKWARD_RULES[op] = rule
        return rule

    return register


# -- gradient mode -------------------------------------------------------------------------
class no_grad(contextlib.ContextDecorator):
    """Within ``with no_grad():`` (or a function decorated with it) ops record no graph."""

    def __enter__(self):
        self._previous = GradMode.enabled
        GradMode.enabled = False
        return self

    def __exit__(self, *exc_info):
        GradMode.enabled = self._previous
        return False


def is_grad_enabled() -> bool:
    return GradMode.enabled


# -- broadcasting, undone in one place -----------------------------------------------------
def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the adjoint of NumPy broadcasting ``shape`` up to grad's."""
    # BEGIN SOLUTION
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(ax for ax, size in enumerate(shape) if size == 1 and grad.shape[ax] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad
    # END SOLUTION


# -- the engine ----------------------------------------------------------------------------
def topological_order(root: Tensor) -> list:
    """Every tensor that ``root`` depends on through gradient-carrying ops, root first.

    Iterative depth-first search: each tensor is visited once, so a graph in which a tensor
    is reused many times (``h = h + h`` twenty times) costs linear, not exponential, time.
    """
    # BEGIN SOLUTION
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order
    # END SOLUTION


def backward(root: Tensor, gradient=None, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf), weighted by ``gradient``, into ``leaf.grad`` for every leaf.

    ``gradient`` defaults to 1 for a one-element ``root``; any other root needs one of its
    own shape. As in PyTorch, a backward pass uses the graph up: afterwards every op node it
    went through has released what its rule saved (``_saved``), and a second ``backward``
    through any of those nodes raises ``RuntimeError`` before touching a gradient. Pass
    ``retain_graph=True`` to keep the graph for another pass (which then adds its gradients
    to ``.grad`` again). Leaves are never used up: separate graphs (a new forward pass for
    every step) keep accumulating into the same ``.grad`` until ``zero_grad()``.
    """
    if not root.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require gradients: create a leaf with "
            "Tensor(..., requires_grad=True) and compute from it (outside no_grad())"
        )
    if gradient is None:
        if root.size != 1:
            raise RuntimeError(
                f"backward() on a tensor of shape {root.shape} needs a gradient of that shape: "
                "call loss.backward() on a scalar loss, or pass tensor.backward(gradient)"
            )
        seed = np.ones_like(root.data)
    else:
        seed = np.array(gradient.data if isinstance(gradient, Tensor) else gradient, dtype=root.dtype)
        if seed.shape != root.shape:
            raise ValueError(
                f"backward() got a gradient of shape {seed.shape} for a tensor of shape {root.shape}"
            )
    order = topological_order(root)
    _check_not_freed(order)
    # BEGIN SOLUTION
    grads = {id(root): seed}
    stored = set()  # ids of arrays already handed to a leaf's .grad (no two leaves share one)
    for node in order:
        grad = grads.pop(id(node), None)
        if grad is None:
            continue
        if node._op is None:
            _accumulate_leaf(node, grad, stored)
            continue
        rule = BACKWARD_RULES.get(node._op)
        if rule is None:
            raise NotImplementedError(f"no backward rule registered for op {node._op!r}")
        saved = node._saved or {}
        parent_grads = rule(grad, node, *node._parents, **saved)
        for parent, parent_grad in zip(node._parents, parent_grads):
            if parent_grad is None or not parent.requires_grad:
                continue
            if parent_grad.shape != parent.shape:
                parent_grad = unbroadcast(parent_grad, parent.shape)
            key = id(parent)
            grads[key] = parent_grad if key not in grads else grads[key] + parent_grad
    # END SOLUTION
    if not retain_graph:
        _free_graph(order)


# -- a graph is used up by its backward pass (given) ----------------------------------------
class _Freed:
    """Stands in an op node's ``_saved`` once a backward pass without retain_graph used it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<freed by backward()>"


FREED = _Freed()


def _free_graph(order: list) -> None:
    """Release what the rules saved and mark every op node of ``order`` as used up."""
    for node in order:
        if node._op is not None:
            node._saved = FREED


def _check_not_freed(order: list) -> None:
    """Refuse a second pass through nodes an earlier backward used up (PyTorch's error)."""
    for node in order:
        if node._saved is FREED:
            raise RuntimeError(
                "Trying to backward through the graph a second time: an earlier backward() "
                f"already went through this graph (the {node._op!r} op that made a tensor of "
                f"shape {node.shape}) and freed what it saved. Either recompute the forward pass "
                "before each backward() (loss = loss_fn(model(x), y); loss.backward()), or call "
                "the first backward(retain_graph=True) to keep the graph for another pass "
                "(gradients then add up in .grad)."
            )


def _accumulate_leaf(leaf: Tensor, grad: np.ndarray, stored: set) -> None:
    """Add ``grad`` into ``leaf.grad`` without letting two tensors share one array."""
    if grad.dtype != leaf.data.dtype:
        grad = grad.astype(leaf.data.dtype)
    if leaf.grad is not None:
        leaf.grad = leaf.grad + grad
        return
    if id(grad) in stored or grad.base is not None or not grad.flags.writeable:
        grad = np.array(grad)
    stored.add(id(grad))
    leaf.grad = grad


# -- rules for the ops of module 01 (tensor) -------------------------------------------------
# Each rule returns d(loss)/d(input) given grad = d(loss)/d(out). Shapes may still be
# broadcast; the engine sums them back with ``unbroadcast``.


@backward_rule("add")
def add_backward(grad, out, a, b):
    # BEGIN SOLUTION
    return grad, grad
    # END SOLUTION


@backward_rule("mul")
def mul_backward(grad, out, a, b):
    # BEGIN SOLUTION
    return (
        grad * b.data if a.requires_grad else None,
        grad * a.data if b.requires_grad else None,
    )
    # END SOLUTION


@backward_rule("neg")
def neg_backward(grad, out, a):
    # BEGIN SOLUTION
    return (-grad,)
    # END SOLUTION


@backward_rule("pow")
def pow_backward(grad, out, base, exponent):
    """d(x**y)/dx = y x**(y-1) and d(x**y)/dy = x**y log(x), with PyTorch's values at x = 0.

    The formulas give 0 * inf = NaN where PyTorch (and the limit) gives 0:
    - d/dx is 0 wherever y == 0 (x**0 is the constant 1, even at x = 0);
    - d/dy is 0 wherever x == 0 and y >= 0 (0**y is constant there; log(0) = -inf would
      otherwise multiply 0).
    Elsewhere the formulas stand, infinities included (d/dx of x**0.5 at 0 is inf, of
    x**-1 at 0 is -inf; log of a negative base is NaN), as in PyTorch.
    """
    # BEGIN SOLUTION
    x, y = base.data, exponent.data
    zero = np.zeros((), dtype=grad.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        grad_base = grad_exponent = None
        if base.requires_grad:
            grad_base = np.where(y == 0, zero, grad * y * x ** (y - 1))
        if exponent.requires_grad:
            grad_exponent = np.where((x == 0) & (y >= 0), zero, grad * out.data * np.log(x))
    return grad_base, grad_exponent
    # END SOLUTION


@backward_rule("matmul")
def matmul_backward(grad, out, a, b):
    # BEGIN SOLUTION
    left, right = a.data, b.data
    if left.ndim == 1 and right.ndim == 1:  # dot product
        return grad * right, grad * left
    if left.ndim == 1:  # (k,) @ (..., k, m): treat left as a (1, k) matrix
        left, grad = left[None, :], grad[..., None, :]
        grad_a = np.matmul(grad, np.swapaxes(right, -1, -2))[..., 0, :]
        grad_b = np.matmul(np.swapaxes(left, -1, -2), grad)
        return grad_a, grad_b
    if right.ndim == 1:  # (..., n, k) @ (k,): treat right as a (k, 1) matrix
        right, grad = right[:, None], grad[..., None]
        grad_a = np.matmul(grad, np.swapaxes(right, -1, -2))
        grad_b = np.matmul(np.swapaxes(left, -1, -2), grad)[..., 0]
        return grad_a, grad_b
    grad_a = np.matmul(grad, np.swapaxes(right, -1, -2)) if a.requires_grad else None
    grad_b = np.matmul(np.swapaxes(left, -1, -2), grad) if b.requires_grad else None
    return grad_a, grad_b
    # END SOLUTION


def _expand_reduced(grad, axis, keepdims):
    """Give a reduction's gradient back the reduced axes (as size 1) so it broadcasts."""
    return grad if keepdims else np.expand_dims(grad, axis)


@backward_rule("sum")
def sum_backward(grad, out, a, axis, keepdims):
    # BEGIN SOLUTION
    return (np.broadcast_to(_expand_reduced(grad, axis, keepdims), a.shape),)
    # END SOLUTION


@backward_rule("mean")
def mean_backward(grad, out, a, axis, keepdims):
    # BEGIN SOLUTION
    count = int(np.prod([a.shape[ax] for ax in axis]))
    return (np.broadcast_to(_expand_reduced(grad, axis, keepdims) / count, a.shape),)
    # END SOLUTION


def _extremum_backward(grad, out, a, axis, keepdims):
    """max/min: the gradient goes to the winning entries, split evenly between ties."""
    # BEGIN SOLUTION
    winners = a.data == _expand_reduced(out.data, axis, keepdims)
    share = _expand_reduced(grad, axis, keepdims) / winners.sum(axis=axis, keepdims=True, dtype=grad.dtype)
    return (winners * share,)
    # END SOLUTION


backward_rule("max")(_extremum_backward)
backward_rule("min")(_extremum_backward)


@backward_rule("reshape")
def reshape_backward(grad, out, a):
    # BEGIN SOLUTION
    return (grad.reshape(a.shape),)
    # END SOLUTION


@backward_rule("transpose")
def transpose_backward(grad, out, a, axes):
    # BEGIN SOLUTION
    return (np.transpose(grad, np.argsort(axes)),)
    # END SOLUTION


@backward_rule("getitem")
def getitem_backward(grad, out, a, index):
    # BEGIN SOLUTION
    full = np.zeros_like(a.data)
    np.add.at(full, index, grad)  # add.at sums repeated indices, plain += would not
    return (full,)
    # END SOLUTION


@backward_rule("exp")
def exp_backward(grad, out, a):
    # BEGIN SOLUTION
    return (grad * out.data,)
    # END SOLUTION


@backward_rule("log")
def log_backward(grad, out, a):
    # BEGIN SOLUTION
    return (grad / a.data,)
    # END SOLUTION


@backward_rule("sqrt")
def sqrt_backward(grad, out, a):
    # BEGIN SOLUTION
    return (grad * 0.5 / out.data,)
    # END SOLUTION


@backward_rule("abs")
def abs_backward(grad, out, a):
    """sign(x): at the kink x = 0 the gradient is 0, as in PyTorch."""
    # BEGIN SOLUTION
    return (grad * np.sign(a.data),)
    # END SOLUTION


@backward_rule("clip")
def clip_backward(grad, out, a, low, high):
    """The gradient passes where low <= x <= high, bounds included, as in PyTorch's clamp;
    elsewhere the output is a constant bound and the gradient is 0."""
    # BEGIN SOLUTION
    inside = np.ones(a.shape, dtype=bool)
    if low is not None:
        inside &= a.data >= low
    if high is not None:
        inside &= a.data <= high
    return (grad * inside,)
    # END SOLUTION


@backward_rule("concatenate")
def concatenate_backward(grad, out, *parts, axis):
    # BEGIN SOLUTION
    boundaries = np.cumsum([part.shape[axis] for part in parts])[:-1]
    return tuple(np.split(grad, boundaries, axis=axis))
    # END SOLUTION


@backward_rule("stack")
def stack_backward(grad, out, *parts, axis):
    # BEGIN SOLUTION
    return tuple(np.moveaxis(grad, axis, 0))
    # END SOLUTION


# -- rules for the ops of module 02 (activations) --------------------------------------------
@backward_rule("relu")
def relu_backward(grad, out, x):
    # BEGIN SOLUTION
    return (grad * (x.data > 0),)
    # END SOLUTION


@backward_rule("sigmoid")
def sigmoid_backward(grad, out, x):
    # BEGIN SOLUTION
    s = out.data
    return (grad * s * (1 - s),)
    # END SOLUTION


@backward_rule("tanh")
def tanh_backward(grad, out, x):
    # BEGIN SOLUTION
    return (grad * (1 - out.data**2),)
    # END SOLUTION


@backward_rule("gelu")
def gelu_backward(grad, out, x):
    """Derivative of the tanh approximation used by ``activations.gelu``."""
    # BEGIN SOLUTION
    from tinytorch.activations import GELU_CUBIC, GELU_SCALE

    v = x.data
    inner = GELU_SCALE * (v + GELU_CUBIC * v * v * v)
    t = np.tanh(inner)
    d_inner = GELU_SCALE * (1 + 3 * GELU_CUBIC * v**2)
    return (grad * (0.5 * (1 + t) + 0.5 * v * (1 - t**2) * d_inner),)
    # END SOLUTION


@backward_rule("softmax")
def softmax_backward(grad, out, x, dim):
    # BEGIN SOLUTION
    s = out.data
    return (s * (grad - np.sum(grad * s, axis=dim, keepdims=True)),)
    # END SOLUTION


@backward_rule("log_softmax")
def log_softmax_backward(grad, out, x, dim):
    # BEGIN SOLUTION
    return (grad - np.exp(out.data) * np.sum(grad, axis=dim, keepdims=True),)
    # END SOLUTION


# -- rules for the ops of module 04 (losses) --------------------------------------------------
@backward_rule("cross_entropy")
def cross_entropy_backward(grad, out, logits, targets, reduction, log_probs):
    """d/dlogits of -log softmax(logits)[target] is softmax(logits) - one_hot(target)."""
    # BEGIN SOLUTION
    dlogits = np.exp(log_probs)
    dlogits[np.arange(len(targets)), targets] -= 1
    if reduction == "mean":
        dlogits *= grad / len(targets)
    elif reduction == "sum":
        dlogits *= grad
    else:  # "none": one gradient per sample
        dlogits *= grad[:, None]
    return (dlogits,)
    # END SOLUTION


@backward_rule("bce_with_logits")
def bce_with_logits_backward(grad, out, logits, targets, reduction):
    """d/dx of the per-element loss is sigmoid(x) - y."""
    # BEGIN SOLUTION
    from tinytorch.activations import stable_sigmoid

    delta = stable_sigmoid(logits.data) - targets
    scale = grad / delta.size if reduction == "mean" else grad
    return (delta * scale,)
    # END SOLUTION


from tinytorch.gradcheck import gradcheck  # noqa: E402  (public: tinytorch.autograd.gradcheck)
