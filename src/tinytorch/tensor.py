"""Module 01 — Tensor: an n-dimensional array that remembers how it was made.

A ``Tensor`` wraps a NumPy array (``.data``) and, when gradients are wanted, records the
operation that produced it (``_op``), its inputs (``_parents``) and any settings the
derivative will need (``_saved``). Recording is given to you: every op below ends with
``Tensor._result(data, op_name, parents, ...)``. Your work in this module is the forward
computation of each op; module 05 (autograd) adds the matching derivative rules.

Conventions, as in PyTorch:
- floating-point data is float32 unless you ask for another dtype (``dtype=np.float64`` is
  kept, and gradient checks use it); integer and boolean data (labels, masks) keep their kind;
- binary ops broadcast with NumPy's rules; Python numbers and arrays are lifted to tensors;
- comparisons return boolean tensors that carry no gradient.
"""

from __future__ import annotations

import numpy as np

DEFAULT_DTYPE = np.float32


class GradMode:
    """Whether new results record their graph. ``tinytorch.autograd.no_grad`` switches it off."""

    enabled = True


def _as_array(data, dtype=None) -> np.ndarray:
    """Convert ``data`` to an array: float32 by default for floating data, ``dtype`` if given."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    array = np.asarray(data)
    if array.dtype.kind == "f" and array.dtype != DEFAULT_DTYPE:
        return array.astype(DEFAULT_DTYPE)
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"Tensor got data of dtype {array.dtype}: expected numbers (float, int or bool)"
        )
    return array


def _keep_default_float(array: np.ndarray, inputs: tuple) -> np.ndarray:
    """float64 only when an input was float64: NumPy turns int64 with float32 into float64."""
    if array.dtype == np.float64 and not any(t.data.dtype == np.float64 for t in inputs):
        return array.astype(DEFAULT_DTYPE)
    return array


def _lift(value, like: "Tensor") -> "Tensor":
    """Turn a Python number or array into a constant tensor that combines with ``like``."""
    if isinstance(value, Tensor):
        return value
    array = np.asarray(value)
    if like.data.dtype.kind == "f" and array.dtype.kind in "fiub":
        array = array.astype(like.data.dtype, copy=False)
    elif array.dtype.kind == "f" and array.dtype != DEFAULT_DTYPE:
        array = array.astype(DEFAULT_DTYPE)
    return Tensor._constant(array)


def _normalize_axis(axis, ndim: int):
    """``axis`` as a tuple of non-negative ints (``None`` means every axis)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for ax in axes:
        if not -ndim <= ax < max(ndim, 1):
            raise ValueError(f"axis {ax} is out of range for a tensor with {ndim} dimensions")
    return tuple(int(ax) % max(ndim, 1) for ax in axes)


def _checked_axis(op: str, axis, ndim: int) -> int:
    """One axis as a non-negative int; a clear error when it is not an axis of ``ndim`` dims."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op} axis {axis!r} is not an integer; expected {_axis_range(ndim)}")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{op} axis {axis} is out of range for a tensor with {ndim} dimensions; expected {_axis_range(ndim)}"
        )
    return int(axis) % ndim


def _axis_range(ndim: int) -> str:
    """The axes a tensor of ``ndim`` dimensions has, for error messages."""
    return f"an int in [{-ndim}, {ndim - 1}]" if ndim else "none: a 0-d tensor has no axes"


def _permutation(axes: tuple, ndim: int) -> tuple:
    """``axes`` as non-negative ints, checked to be an order of all ``ndim`` axes."""
    if len(axes) != ndim or not all(isinstance(ax, (int, np.integer)) and -ndim <= ax < ndim for ax in axes):
        raise ValueError(f"transpose axes {axes} are not a permutation of {ndim} dimensions")
    order = tuple(int(ax) % ndim for ax in axes)
    if sorted(order) != list(range(ndim)):
        raise ValueError(f"transpose axes {axes} are not a permutation of {ndim} dimensions")
    return order


def _broadcast_clash(left: tuple, right: tuple) -> str | None:
    """Why NumPy cannot broadcast ``left`` with ``right`` (None if it can)."""
    for position, (a, b) in enumerate(zip(reversed(left), reversed(right)), start=1):
        if a != b and 1 not in (a, b):
            return (
                f"aligned from the last axis, sizes must be equal or 1, but axis -{position} "
                f"has {a} vs {b}"
            )
    return None


def _broadcast_error(op: str, left: "Tensor", right: "Tensor", error: ValueError) -> ValueError:
    """NumPy's broadcasting ValueError, retold with the op and both shapes (any other is kept)."""
    clash = _broadcast_clash(left.shape, right.shape)
    if clash is None:
        return error
    return ValueError(f"{op}: shapes {left.shape} and {right.shape} cannot be broadcast: {clash}")


class Tensor:
    """An n-dimensional array with optional gradient tracking.

    >>> x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> (x * x).sum().backward()      # needs module 05
    >>> x.grad
    array([[2., 4.],
           [6., 8.]], dtype=float32)
    """

    __slots__ = ("data", "grad", "requires_grad", "_op", "_parents", "_saved", "__weakref__")
    __array_ufunc__ = None  # make ``ndarray * Tensor`` call Tensor.__rmul__

    def __init__(self, data, dtype=None, requires_grad: bool = False):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients; got dtype {self.data.dtype}"
            )
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._op = None
        self._parents = ()
        self._saved = None

    # -- graph recording (given) --------------------------------------------------------
    @staticmethod
    def _constant(array: np.ndarray) -> "Tensor":
        """A tensor around ``array`` as it is (no conversion, no gradient)."""
        tensor = Tensor.__new__(Tensor)
        tensor.data, tensor.grad, tensor.requires_grad = array, None, False
        tensor._op, tensor._parents, tensor._saved = None, (), None
        return tensor

    @staticmethod
    def _result(data, op: str, parents: tuple, saved: dict | None = None) -> "Tensor":
        """Wrap an op's output; record ``op`` and ``parents`` when a gradient can flow."""
        out = Tensor._constant(_keep_default_float(np.asarray(data), parents))
        if GradMode.enabled:
            for parent in parents:
                if parent.requires_grad:
                    out.requires_grad = True
                    out._op, out._parents, out._saved = op, parents, saved
                    break
        return out

    # -- properties ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors you made yourself (parameters, inputs), False for op results."""
        return self._op is None

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self):
        """The single value of a one-element tensor, as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element; this one has shape {self.shape}")
        return self.data.item()

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(", precision=4)
        extras = [f"shape={self.shape}", f"dtype={self.dtype}"]
        if self._op is not None:
            extras.append(f"op={self._op}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"Tensor({body}, {', '.join(extras)})"

    __hash__ = object.__hash__  # tensors are identities, even though == is elementwise

    # -- arithmetic: four primitives; subtraction and division are built from them -------
    def __add__(self, other) -> "Tensor":
        other = _lift(other, self)
        try:
            # BEGIN SOLUTION
            data = self.data + other.data
            # END SOLUTION
        except ValueError as error:
            raise _broadcast_error("add", self, other, error) from None
        return Tensor._result(data, "add", (self, other))

    def __mul__(self, other) -> "Tensor":
        other = _lift(other, self)
        try:
            # BEGIN SOLUTION
            data = self.data * other.data
            # END SOLUTION
        except ValueError as error:
            raise _broadcast_error("mul", self, other, error) from None
        return Tensor._result(data, "mul", (self, other))

    def __pow__(self, exponent) -> "Tensor":
        exponent = _lift(exponent, self)
        try:
            # BEGIN SOLUTION
            data = self.data**exponent.data
            # END SOLUTION
        except ValueError as error:
            raise _broadcast_error("pow", self, exponent, error) from None
        return Tensor._result(data, "pow", (self, exponent))

    def __neg__(self) -> "Tensor":
        # BEGIN SOLUTION
        data = -self.data
        # END SOLUTION
        return Tensor._result(data, "neg", (self,))

    def __sub__(self, other) -> "Tensor":
        return self + (-_lift(other, self))

    def __truediv__(self, other) -> "Tensor":
        return self * _lift(other, self) ** -1.0

    def __radd__(self, other) -> "Tensor":
        return _lift(other, self) + self

    def __rsub__(self, other) -> "Tensor":
        return _lift(other, self) - self

    def __rmul__(self, other) -> "Tensor":
        return _lift(other, self) * self

    def __rtruediv__(self, other) -> "Tensor":
        return _lift(other, self) / self

    def __rpow__(self, base) -> "Tensor":
        return _lift(base, self) ** self

    def __matmul__(self, other) -> "Tensor":
        other = _lift(other, self)
        left_shape, right_shape = self.data.shape, other.data.shape
        if not left_shape or not right_shape:
            raise ValueError(
                f"matmul needs tensors with at least 1 dimension; got shapes {self.shape} and {other.shape}"
            )
        inner_left = left_shape[-1]
        inner_right = right_shape[-2] if len(right_shape) > 1 else right_shape[0]
        if inner_left != inner_right:
            raise ValueError(
                f"matmul of shapes {self.shape} and {other.shape}: inner dimensions differ "
                f"({inner_left} vs {inner_right}); expected (..., n, k) @ (..., k, m)"
            )
        try:
            # BEGIN SOLUTION
            data = np.matmul(self.data, other.data)
            # END SOLUTION
        except ValueError as error:
            batch_left, batch_right = self.shape[:-2], other.shape[:-2]
            clash = _broadcast_clash(batch_left, batch_right)
            if clash is None:
                raise
            raise ValueError(
                f"matmul of shapes {self.shape} and {other.shape}: batch dimensions {batch_left} "
                f"and {batch_right} cannot be broadcast ({clash}); expected (..., n, k) @ (..., k, m) "
                "with batch dimensions that broadcast"
            ) from None
        return Tensor._result(data, "matmul", (self, other))

    def __rmatmul__(self, other) -> "Tensor":
        return _lift(other, self) @ self

    # -- comparisons: boolean results, no gradient ----------------------------------------
    def _compare(self, other, ufunc) -> "Tensor":
        other = other if isinstance(other, Tensor) else Tensor._constant(np.asarray(other))
        try:
            return Tensor._constant(ufunc(self.data, other.data))
        except ValueError as error:
            raise _broadcast_error(ufunc.__name__, self, other, error) from None

    def __eq__(self, other) -> "Tensor":  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other) -> "Tensor":  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def __lt__(self, other) -> "Tensor":
        return self._compare(other, np.less)

    def __le__(self, other) -> "Tensor":
        return self._compare(other, np.less_equal)

    def __gt__(self, other) -> "Tensor":
        return self._compare(other, np.greater)

    def __ge__(self, other) -> "Tensor":
        return self._compare(other, np.greater_equal)

    # -- reductions -----------------------------------------------------------------------
    def sum(self, axis=None, keepdims: bool = False) -> "Tensor":
        axis = _normalize_axis(axis, self.ndim)
        # BEGIN SOLUTION
        data = np.sum(self.data, axis=axis, keepdims=keepdims)
        # END SOLUTION
        return Tensor._result(data, "sum", (self,), {"axis": axis, "keepdims": keepdims})

    def mean(self, axis=None, keepdims: bool = False) -> "Tensor":
        axis = _normalize_axis(axis, self.ndim)
        # BEGIN SOLUTION
        data = np.mean(self.data, axis=axis, keepdims=keepdims)
        # END SOLUTION
        return Tensor._result(data, "mean", (self,), {"axis": axis, "keepdims": keepdims})

    def max(self, axis=None, keepdims: bool = False) -> "Tensor":
        axis = _normalize_axis(axis, self.ndim)
        self._check_not_empty("max", axis)
        # BEGIN SOLUTION
        data = np.max(self.data, axis=axis, keepdims=keepdims)
        # END SOLUTION
        return Tensor._result(data, "max", (self,), {"axis": axis, "keepdims": keepdims})

    def min(self, axis=None, keepdims: bool = False) -> "Tensor":
        axis = _normalize_axis(axis, self.ndim)
        self._check_not_empty("min", axis)
        # BEGIN SOLUTION
        data = np.min(self.data, axis=axis, keepdims=keepdims)
        # END SOLUTION
        return Tensor._result(data, "min", (self,), {"axis": axis, "keepdims": keepdims})

    def _check_not_empty(self, op: str, axis: tuple) -> None:
        if any(self.shape[ax] == 0 for ax in axis) or self.size == 0:
            raise ValueError(f"{op}() of an empty tensor of shape {self.shape} has no value")

    # -- shape ----------------------------------------------------------------------------
    def reshape(self, *shape) -> "Tensor":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            # BEGIN SOLUTION
            data = self.data.reshape(shape)
            # END SOLUTION
        except ValueError:
            raise ValueError(
                f"cannot reshape a tensor of shape {self.shape} ({self.size} elements) into {shape}"
            ) from None
        return Tensor._result(data, "reshape", (self,))

    def transpose(self, *axes) -> "Tensor":
        """Swap two axes, as in PyTorch; also reverse them all, or permute them, as in NumPy.

        - ``x.transpose(dim0, dim1)``: swap axes ``dim0`` and ``dim1`` (negative axes count
          from the end), so ``x.transpose(0, 1)`` and ``x.transpose(-2, -1)`` of a matrix
          are its transpose;
        - ``x.transpose()`` (and ``x.T``): reverse the order of all axes;
        - ``x.transpose((2, 0, 1))`` or ``x.transpose(2, 0, 1)``: put the axes in this order
          (a full permutation, as ``np.transpose`` and ``permute``).
        """
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = _permutation(tuple(axes[0]), self.ndim)
        elif len(axes) == 2:
            first = _checked_axis("transpose", axes[0], self.ndim)
            second = _checked_axis("transpose", axes[1], self.ndim)
            order = list(range(self.ndim))
            order[first], order[second] = order[second], order[first]
            axes = tuple(order)
        elif not axes:
            axes = tuple(reversed(range(self.ndim)))
        else:
            axes = _permutation(axes, self.ndim)
        # BEGIN SOLUTION
        data = self.data.transpose(axes)
        # END SOLUTION
        return Tensor._result(data, "transpose", (self,), {"axes": axes})

    def permute(self, *axes) -> "Tensor":
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if len(axes) != self.ndim:
            raise ValueError(f"permute needs {self.ndim} axes for shape {self.shape}; got {axes}")
        return self.transpose(axes)

    @property
    def T(self) -> "Tensor":
        return self.transpose()

    def __getitem__(self, index) -> "Tensor":
        index = _index_arrays(index)
        # BEGIN SOLUTION
        data = self.data[index]
        # END SOLUTION
        return Tensor._result(data, "getitem", (self,), {"index": index})

    # -- elementwise functions --------------------------------------------------------------
    def exp(self) -> "Tensor":
        # BEGIN SOLUTION
        data = np.exp(self.data)
        # END SOLUTION
        return Tensor._result(data, "exp", (self,))

    def log(self) -> "Tensor":
        # BEGIN SOLUTION
        data = np.log(self.data)
        # END SOLUTION
        return Tensor._result(data, "log", (self,))

    def sqrt(self) -> "Tensor":
        # BEGIN SOLUTION
        data = np.sqrt(self.data)
        # END SOLUTION
        return Tensor._result(data, "sqrt", (self,))

    def abs(self) -> "Tensor":
        # BEGIN SOLUTION
        data = np.abs(self.data)
        # END SOLUTION
        return Tensor._result(data, "abs", (self,))

    def clip(self, low=None, high=None) -> "Tensor":
        if low is None and high is None:
            raise ValueError("clip needs at least one of low and high")
        # BEGIN SOLUTION
        data = np.clip(self.data, low, high)
        # END SOLUTION
        return Tensor._result(data, "clip", (self,), {"low": low, "high": high})

    # -- gradients (the engine is module 05) ---------------------------------------------------
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Add to ``.grad`` of every leaf this tensor depends on (see ``tinytorch.autograd``).

        The pass uses the graph up, as in PyTorch: a second ``backward`` through it raises,
        unless the first one was given ``retain_graph=True``.
        """
        from tinytorch.autograd import backward

        backward(self, gradient, retain_graph)

    def zero_grad(self) -> None:
        self.grad = None

    def detach(self) -> "Tensor":
        """The same data, cut from the graph: no gradient flows through the result."""
        return Tensor._constant(self.data)


def as_tensor(value) -> Tensor:
    """``value`` itself if it is a Tensor (graph kept), else a new Tensor of it (lists, arrays)."""
    return value if isinstance(value, Tensor) else Tensor(value)


def _index_arrays(index):
    """Replace tensors inside an index by their arrays, so NumPy indexing rules apply."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(item.data if isinstance(item, Tensor) else item for item in index)
    return index


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (``np.concatenate``)."""
    tensors = _check_joinable("concatenate", tensors)
    axis = _normalize_axis(axis, tensors[0].ndim)[0]
    # BEGIN SOLUTION
    data = np.concatenate([t.data for t in tensors], axis=axis)
    # END SOLUTION
    return Tensor._result(data, "concatenate", tuple(tensors), {"axis": axis})


def stack(tensors, axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis (``np.stack``)."""
    tensors = _check_joinable("stack", tensors)
    axis = _normalize_axis(axis, tensors[0].ndim + 1)[0]
    # BEGIN SOLUTION
    data = np.stack([t.data for t in tensors], axis=axis)
    # END SOLUTION
    return Tensor._result(data, "stack", tuple(tensors), {"axis": axis})


def _check_joinable(op: str, tensors) -> list:
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError(f"{op} needs at least one tensor")
    return tensors
