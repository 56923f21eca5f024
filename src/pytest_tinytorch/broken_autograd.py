"""Deliberately broken autograds: the negative controls of the autograd grader.

A grader is only as good as the bugs it catches. Each defect below is a mistake students
make, installed temporarily into the real library (a backward rule swapped in
``BACKWARD_RULES``, or a piece of the engine patched) by a context manager that always
restores the original. ``tests/test_gradcheck_negative_controls.py`` runs the grader's
properties against each one and fails unless the grader catches it.

>>> with broken_rule("mul", "wrong sign"):
...     ...  # every gradient of mul now has the wrong sign
"""

from __future__ import annotations

import contextlib

import numpy as np

import tinytorch.autograd as autograd

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


def _backward_overwriting_fan_out(root, gradient=None):
    """The real engine, with every rule's gradients wrapped in ``_LastPathOnly``."""
    rules = dict(autograd.BACKWARD_RULES)

    def last_path_only(rule):
        def wrapped(grad, out, *parents, **saved):
            return tuple(None if g is None else np.asarray(g).view(_LastPathOnly)
                         for g in rule(grad, out, *parents, **saved))
        return wrapped

    autograd.BACKWARD_RULES.update({op: last_path_only(rule) for op, rule in rules.items()})
    try:
        _original["backward"](root, gradient)
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
