"""Deliberately broken autograds: the negative controls of the autograd grader.

A grader is only as good as the bugs it catches. Each defect below is a mistake students
make, installed temporarily into the real library (a backward rule swapped in
``BACKWARD_RULES``, a piece of the engine patched, or an op's forward replaced) by a context
manager that always restores the original. ``tests/test_gradcheck_negative_controls.py`` runs
the grader's properties against each one and fails unless the grader catches it.

>>> with broken_rule("mul", "wrong sign"):
...     ...  # every gradient of mul now has the wrong sign
"""

from __future__ import annotations

import contextlib

import numpy as np

import tinytorch
import tinytorch.autograd as autograd
from tinytorch import Tensor

SMALL_VALUE = 0.05
"""``zero gradient for small values`` zeroes the gradient where |input| is below this."""
SMALL_GRADIENT = 1e-3
"""``zero small gradients`` zeroes gradient entries whose magnitude is below this."""


# -- defects of one backward rule ---------------------------------------------------------------
def _ignores_incoming_gradient(rule):
    """Uses ones instead of the gradient flowing in (passes a grader that only sends ones)."""

    def broken(grad, out, *parents, **saved):
        return rule(np.ones_like(grad), out, *parents, **saved)

    return broken


def _wrong_sign(rule):
    def broken(grad, out, *parents, **saved):
        return tuple(None if g is None else -g for g in rule(grad, out, *parents, **saved))

    return broken


def _zero_for_small_inputs(rule):
    """Returns zero where the input is small, like ``relu`` written as ``x > 0.05``."""

    def broken(grad, out, *parents, **saved):
        results = []
        for g, parent in zip(rule(grad, out, *parents, **saved), parents):
            if g is not None:
                small = np.abs(parent.data) < SMALL_VALUE
                if np.broadcast_shapes(small.shape, np.shape(g)) == np.shape(g):
                    g = np.where(np.broadcast_to(small, np.shape(g)), 0.0, g).astype(np.asarray(g).dtype)
            results.append(g)
        return tuple(results)

    return broken


def _zero_small_gradients(rule):
    """Drops gradient entries below 1e-3 ("numerical noise"), which a loose tolerance passes."""

    def broken(grad, out, *parents, **saved):
        return tuple(
            None if g is None else np.where(np.abs(g) < SMALL_GRADIENT, 0.0, g).astype(np.asarray(g).dtype)
            for g in rule(grad, out, *parents, **saved)
        )

    return broken


def _writes_into_its_input(rule):
    """Computes the right gradient, then scribbles on the input's array (an in-place slip)."""

    def broken(grad, out, *parents, **saved):
        results = rule(grad, out, *parents, **saved)
        for parent in parents:
            if parent.data.size and parent.data.flags.writeable:
                parent.data[...] = parent.data * 0.5
        return results

    return broken


RULE_DEFECTS = {
    "ignores incoming gradient": _ignores_incoming_gradient,
    "wrong sign": _wrong_sign,
    "zero gradient for small values": _zero_for_small_inputs,
    "zero small gradients": _zero_small_gradients,
    "writes into its input": _writes_into_its_input,
}


@contextlib.contextmanager
def broken_rule(op: str, defect: str):
    """Within the block, the backward rule of ``op`` has ``defect`` (a key of RULE_DEFECTS)."""
    original = autograd.BACKWARD_RULES[op]
    autograd.BACKWARD_RULES[op] = RULE_DEFECTS[defect](original)
    try:
        yield
    finally:
        autograd.BACKWARD_RULES[op] = original


# -- defects of the engine ------------------------------------------------------------------------
def _no_unbroadcast(grad, shape):
    """Forgets to undo broadcasting: the gradient keeps the broadcast shape."""
    return grad


def _unbroadcast_leading_axes_only(grad, shape):
    """Sums the added leading axes but forgets the stretched size-1 axes (it asks the real
    ``unbroadcast`` for the trailing shape of ``grad`` instead of ``shape``)."""
    trailing = grad.shape[grad.ndim - len(shape):] if len(shape) else ()
    return _original["unbroadcast"](grad, trailing)


def _assign_leaf(leaf, grad, stored):
    """Assigns instead of accumulating: a second backward() replaces the first gradient."""
    leaf.grad = None
    _original["_accumulate_leaf"](leaf, grad, stored)


def _store_without_copy(leaf, grad, stored):
    """Stores the engine's array as .grad: two leaves (a + b) end up sharing one array."""
    leaf.grad = grad if leaf.grad is None else leaf.grad + grad


class _LastPathOnly(np.ndarray):
    """A gradient array for which ``a + b`` is ``b``: the engine's sum of two paths keeps
    only the last one, as an engine that writes ``grads[parent] = g`` instead of adding."""

    def __add__(self, other):
        return other

    def __radd__(self, other):
        return self


def _backward_overwriting_fan_out(root, gradient=None, retain_graph=False):
    """The real engine, with every rule's gradients wrapped in ``_LastPathOnly``."""
    rules = dict(autograd.BACKWARD_RULES)

    def last_path_only(rule):
        def wrapped(grad, out, *parents, **saved):
            return tuple(None if g is None else np.asarray(g).view(_LastPathOnly)
                         for g in rule(grad, out, *parents, **saved))
        return wrapped

    autograd.BACKWARD_RULES.update({op: last_path_only(rule) for op, rule in rules.items()})
    try:
        _original["backward"](root, gradient, retain_graph)
    finally:
        autograd.BACKWARD_RULES.update(rules)


_original = {name: getattr(autograd, name) for name in ("unbroadcast", "_accumulate_leaf", "backward")}
"""The engine's own functions, for defects that reuse them."""


ENGINE_DEFECTS = {
    "forgets to undo broadcasting": ("unbroadcast", _no_unbroadcast),
    "undoes broadcasting over leading axes only": ("unbroadcast", _unbroadcast_leading_axes_only),
    "assigns instead of accumulating": ("_accumulate_leaf", _assign_leaf),
    "overwrites the gradient of a tensor used twice": ("backward", _backward_overwriting_fan_out),
    "stores gradients without copying": ("_accumulate_leaf", _store_without_copy),
}


@contextlib.contextmanager
def broken_engine(defect: str):
    """Within the block, the autograd engine has ``defect`` (a key of ENGINE_DEFECTS)."""
    name, replacement = ENGINE_DEFECTS[defect]
    original = getattr(autograd, name)
    setattr(autograd, name, replacement)
    try:
        yield
    finally:
        setattr(autograd, name, original)


# -- forwards wrong in the same way as their backward ---------------------------------------------
# Each broken forward is built from the library's own (correct) ops, so its backward is exactly
# the derivative of the wrong forward: every gradient property passes, and only the comparison
# with the NumPy reference of the op's forward can catch it.
def _returns_its_input(original):
    """``abs`` or ``exp`` that returns x (as ``x * 1``): gradient 1, consistent with it."""
    return lambda self: self * 1.0


def _mean_instead_of_sum(original):
    """``sum`` that divides by the count: the mean's forward with the mean's backward."""
    return lambda self, axis=None, keepdims=False: _original_forward["mean"](self, axis, keepdims)


def _min_instead_of_max(original):
    return lambda self, axis=None, keepdims=False: _original_forward["min"](self, axis, keepdims)


def _ignores_keepdims(original):
    """A reduction that always drops the reduced axes (``keepdims`` forgotten)."""
    return lambda self, axis=None, keepdims=False: original(self, axis, False)


def _transpose_does_nothing(original):
    """``transpose`` that returns the values unmoved (as ``reshape`` to the same shape)."""
    return lambda self, *axes: self.reshape(self.shape)


def _concatenates_flattened(original):
    """``concatenate`` that lays the parts end to end and reshapes: right for axis 0 only."""

    def broken(tensors, axis=0):
        parts = list(tensors)
        joined = original([part.reshape(-1) for part in parts], axis=0)
        shape = list(parts[0].shape)
        shape[axis] = sum(part.shape[axis] for part in parts)
        return joined.reshape(tuple(shape))

    return broken


WRONG_ABOVE = 6
"""``wrong only for inputs above 6 elements`` is right for every input of up to this many
elements (all the fixed 2x3 examples of a unit test)."""


def _wrong_above_six_elements(original):
    """``abs`` that returns x for inputs of more than 6 elements, and |x| otherwise."""
    return lambda self: original(self) if self.size <= WRONG_ABOVE else self * 1.0


FORWARD_DEFECTS = {
    # defect: (op, owner of the patched attribute, attribute, make the broken one from the original)
    "abs returns its input": ("abs", Tensor, "abs", _returns_its_input),
    "exp returns its input": ("exp", Tensor, "exp", _returns_its_input),
    "sum computes the mean": ("sum", Tensor, "sum", _mean_instead_of_sum),
    "max computes the min": ("max", Tensor, "max", _min_instead_of_max),
    "sum ignores keepdims": ("sum", Tensor, "sum", _ignores_keepdims),
    "transpose does nothing": ("transpose", Tensor, "transpose", _transpose_does_nothing),
    "concatenate joins the flattened parts": ("concatenate", tinytorch, "concatenate", _concatenates_flattened),
    "abs is wrong only above 6 elements": ("abs", Tensor, "abs", _wrong_above_six_elements),
}

_original_forward = {name: getattr(Tensor, name) for name in ("mean", "min")}
"""The library's own forwards, for defects that compute another op instead."""


@contextlib.contextmanager
def broken_forward(defect: str):
    """Within the block, one op's forward (and so its backward) has ``defect`` (a key of
    FORWARD_DEFECTS); yields the name of the op."""
    op, owner, attribute, make_broken = FORWARD_DEFECTS[defect]
    original = getattr(owner, attribute)
    setattr(owner, attribute, make_broken(original))
    try:
        yield op
    finally:
        setattr(owner, attribute, original)
