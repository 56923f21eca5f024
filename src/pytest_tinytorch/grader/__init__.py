"""The autograd grader: every op a module adds is registered (``op_registry``) with its
generated cases (``strategies``, ``graded_ops/``) and a plain-NumPy reference, and checked by
hypothesis properties (``autograd_properties``, ``optimizer_properties``); ``broken_autograd``
holds the deliberately broken engines the grader must catch. docs/autograd-grading.md."""
