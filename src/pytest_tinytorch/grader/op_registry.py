"""The registry of differentiable ops that the autograd grader checks.

Every op with a backward rule in ``tinytorch.autograd.BACKWARD_RULES`` is declared here once:
its name (the ``_op`` its results record), how many tensors it takes, how to call it, a
hypothesis strategy of valid inputs (``pytest_tinytorch.grader.strategies``) and a plain-NumPy
reference of its forward (the grader checks forward values against it, so an op whose
forward and backward are wrong in the same consistent way cannot pass on its gradients
alone). The property tests in ``modules/tests/integration/test_autograd_properties.py`` run
over every registered op, so an op added by a later module is graded as soon as it is
declared, and a test of the grader fails while some op with a backward rule is not declared.

Where declarations live:

- ``pytest_tinytorch/grader/graded_ops/<module>.py``, one file per curriculum module, named like the
  library file (``tensor.py`` declares the ops of ``tinytorch/tensor.py``). A later module adds
  its own file, e.g. ``graded_ops/spatial.py`` declaring ``conv2d``; it is found by name.
- ``register_op(...)`` from a course's ``conftest.py``, for ops a course adds itself.

``registered_ops()`` imports every library module that exists (so all backward rules are
registered) and every declaration file, then returns the ops sorted by name.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Callable

from hypothesis.strategies import SearchStrategy

from pytest_tinytorch.plugin.curriculum import default_curriculum

DECLARATIONS_PACKAGE = "pytest_tinytorch.grader.graded_ops"
AUTOGRAD_GROUP = "05_07"
"""The integration group of module 05 (autograd): where the backward rules of ops 01-05 are graded."""


@dataclass(frozen=True)
class DifferentiableOp:
    """One differentiable op as the grader sees it.

    ``call(*tensors, **case.params)`` computes the op on tensors built from a case's inputs;
    ``cases`` is a strategy of ``OpCase`` (or a function returning one, so a declaration need
    not build strategies at import); ``domain`` says in words which inputs are valid;
    ``arity`` is the number of tensor inputs (None: any number, as for ``concatenate``);
    ``fan_out`` says the op accepts the same tensor in every input slot (``x * x``), which the
    grader uses to check that a tensor used twice accumulates both gradients.
    ``reference(*arrays, **case.params)`` computes the same forward in plain NumPy (float64
    arrays in, an array out): the grader compares the op's forward values with it on the same
    generated inputs as the gradients, so an op whose forward and backward are wrong in the same
    consistent way still fails.
    """

    name: str
    call: Callable
    cases: object
    arity: int | None
    domain: str
    module: str
    fan_out: bool = False
    reference: Callable | None = None

    def strategy(self):
        """The hypothesis strategy of this op's cases."""
        return self.cases if isinstance(self.cases, SearchStrategy) else self.cases()

    def __repr__(self) -> str:  # short: it appears in test ids and falsifying examples
        return f"<op {self.name}>"

    def _repr_pretty_(self, printer, cycle) -> None:  # hypothesis' falsifying-example printer
        printer.text(repr(self))


_REGISTRY: dict[str, DifferentiableOp] = {}


class RegistryError(ValueError):
    """An op declared twice, or declared with impossible settings."""


def register_op(
    name: str,
    call: Callable,
    *,
    cases,
    arity: int | None,
    domain: str,
    module: str,
    fan_out: bool = False,
    reference: Callable | None = None,
    replace: bool = False,
) -> DifferentiableOp:
    """Declare a differentiable op for the autograd grader (see the module docstring).

    ``reference`` is required (a keyword so that it reads as what it is): ``reference(*arrays,
    **case.params)`` takes the case's float64 arrays and returns the expected forward as an
    ndarray, computed with NumPy from the op's definition, never by calling tinytorch.
    ``replace=True`` lets a course swap the declaration of an op that is already registered.
    """
    if reference is None or not callable(reference):
        raise RegistryError(
            f"op {name!r} has no forward reference: pass reference=..., a function of the case's "
            "float64 arrays and params that computes the op's forward with plain NumPy (e.g. "
            f"reference=np.exp for exp); got {reference!r}"
        )
    if name in _REGISTRY and not replace:
        raise RegistryError(
            f"op {name!r} is already registered (by module {_REGISTRY[name].module!r}); "
            "pass replace=True to change its declaration"
        )
    if arity is not None and arity < 1:
        raise RegistryError(f"op {name!r}: arity must be a positive number of tensors or None; got {arity}")
    module = default_curriculum().module(module).name  # unknown names raise, listing the valid ones
    op = DifferentiableOp(name, call, cases, arity, domain, module, fan_out, reference)
    _REGISTRY[name] = op
    return op


def unregister_op(name: str) -> None:
    """Remove a declaration (for tests of the grader)."""
    _REGISTRY.pop(name, None)


def _import_if_present(module_name: str) -> None:
    parent = module_name.rpartition(".")[0]
    if importlib.util.find_spec(parent) is None or importlib.util.find_spec(module_name) is None:
        return
    importlib.import_module(module_name)


def load_declarations() -> None:
    """Import each library module that exists (running its ``@backward_rule`` registrations)
    and each declaration file ``graded_ops/<module>.py``, in curriculum order."""
    importlib.import_module("tinytorch.autograd")
    for module in default_curriculum().modules:
        _import_if_present(f"tinytorch.{module.name}")
        _import_if_present(f"{DECLARATIONS_PACKAGE}.{module.name}")


def registered_ops() -> list[DifferentiableOp]:
    """Every declared op, sorted by name."""
    load_declarations()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def grading_group(op: DifferentiableOp) -> str:
    """The integration group whose tests grade ``op``'s gradient: 05_07 for the ops of modules
    01-05 (their backward rules are module 05 work), the op's own group for a later module's op
    (``conv2d`` of 09 spatial: 08_09), so that solving modules through group k passes group k
    without any later module's work."""
    curriculum = default_curriculum()
    order = [group.name for group in curriculum.groups]
    own = curriculum.group_of_module(op.module).name
    return max(own, AUTOGRAD_GROUP, key=order.index)


def get_op(name: str) -> DifferentiableOp:
    load_declarations()
    if name not in _REGISTRY:
        raise RegistryError(f"no op named {name!r} is registered; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def ops_with_backward_rules() -> set[str]:
    """Names of every op that has a backward rule, once every library module is imported."""
    load_declarations()
    from tinytorch.autograd import BACKWARD_RULES

    return set(BACKWARD_RULES)


def unregistered_ops() -> list[str]:
    """Ops with a backward rule but no declaration: the grader would not check them."""
    return sorted(ops_with_backward_rules() - set(_REGISTRY))
