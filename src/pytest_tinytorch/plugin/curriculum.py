"""The TinyTorch curriculum as data: modules, integration groups, milestones, rubrics.

This table exists once. The pytest plugin, the ``tito`` CLI, the release tool and the docs
all read it from here; a course changes it from its ``conftest.py`` through the plugin hook
``pytest_tinytorch_modify_curriculum`` (see ``hookspecs.py``), never by editing copies.

A *module* is one curriculum unit and one file of ``src/tinytorch``. A *group* is a run of
consecutive modules whose integration tests live in one file under
``modules/tests/integration``. A *milestone* is unlocked when all the groups it requires
pass, and completed when its own validation tests pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Module:
    """One curriculum module, e.g. ``Module(1, "tensor", "Tensor")``."""

    number: int
    name: str
    title: str

    @property
    def key(self) -> str:
        """The directory-style key, e.g. ``01_tensor`` (as in ``modules/source/01_tensor``)."""
        return f"{self.number:02d}_{self.name}"

    @property
    def source_file(self) -> str:
        """The library file that holds this module, relative to ``src/tinytorch``."""
        return f"{self.name}.py"


@dataclass(frozen=True)
class Group:
    """Consecutive modules tested together by one integration-test file."""

    name: str  # "01_04"
    modules: tuple[str, ...]  # module names, in curriculum order

    @property
    def test_file(self) -> str:
        """Path of the group's integration tests, relative to the repository root."""
        return f"modules/tests/integration/test_modules_{self.name}.py"


@dataclass(frozen=True)
class Milestone:
    """An applied project unlocked by integration groups and graded by a rubric."""

    number: int
    name: str  # "perceptron"
    title: str  # "Perceptron"
    requires: tuple[str, ...]  # group names that must pass to unlock
    directory: str  # relative to the repository root
    rubric: dict[str, float] = field(default_factory=dict)  # category -> weight (sums to 1)
    starter: str = ""  # the student's notebook in ``directory``; default ``<name>_milestone.py``

    @property
    def label(self) -> str:
        return f"Milestone {self.number}: {self.title}"

    @property
    def starter_file(self) -> str:
        """The starter notebook's file name (the course plan names the capstone's
        ``systems_capstone.py``; every other milestone's is ``<name>_milestone.py``)."""
        return self.starter or f"{self.name}_milestone.py"

    @property
    def notebook_file(self) -> str:
        """The ``.ipynb`` that ``tito milestone start`` writes next to the starter."""
        return self.starter_file.removesuffix(".py") + ".ipynb"


PLAN_RUBRIC = {
    "model": 0.25,
    "training": 0.25,
    "visualization": 0.20,
    "systems": 0.20,
    "comparison": 0.10,
}
"""The course plan's rubric: Model Implementation 25%, Training Success 25%,
Visualization 20%, Systems Analysis 20%, Comparison Study 10%."""

RUBRIC_TITLES = {
    "model": "Model Implementation",
    "training": "Training Success",
    "visualization": "Visualization",
    "systems": "Systems Analysis",
    "comparison": "Comparison Study",
}


class CurriculumError(ValueError):
    """A name that the curriculum does not know, or a curriculum that contradicts itself."""


@dataclass
class Curriculum:
    """Modules, groups and milestones, with lookups that fail with the valid names."""

    modules: list[Module]
    groups: list[Group]
    milestones: list[Milestone]

    # -- lookups -------------------------------------------------------------------------
    def module(self, name: str) -> Module:
        """Find a module by name (``tensor``), key (``01_tensor``) or number (``1``/``"01"``)."""
        for module in self.modules:
            if name in (module.name, module.key) or str(name).lstrip("0") == str(module.number):
                return module
        raise CurriculumError(
            f"unknown module {name!r}; expected one of: {', '.join(m.key for m in self.modules)}"
        )

    def group(self, name: str) -> Group:
        for group in self.groups:
            if name == group.name:
                return group
        raise CurriculumError(
            f"unknown integration group {name!r}; expected one of: "
            f"{', '.join(g.name for g in self.groups)}"
        )

    def milestone(self, name: str | int) -> Milestone:
        """Find a milestone by name (``perceptron``), number (``1``/``"01"``), directory name
        (``01_perceptron``) or title (``Perceptron``), ignoring case. Callers that compare
        names use the ``.name`` of the result, the one canonical spelling."""
        wanted = str(name).strip().casefold()
        for milestone in self.milestones:
            spellings = (milestone.name, milestone.title, milestone.directory.rstrip("/").rsplit("/", 1)[-1])
            if wanted in (spelling.casefold() for spelling in spellings) or (
                wanted.isdigit() and int(wanted) == milestone.number
            ):
                return milestone
        raise CurriculumError(
            f"unknown milestone {name!r}; expected one of: "
            f"{', '.join(m.name for m in self.milestones)}"
        )

    def group_of_module(self, name: str) -> Group:
        module = self.module(name)
        for group in self.groups:
            if module.name in group.modules:
                return group
        raise CurriculumError(f"module {module.key} belongs to no integration group")

    def milestone_of_group(self, name: str) -> Milestone | None:
        """The milestone whose *last* prerequisite is this group, if any."""
        for milestone in self.milestones:
            if milestone.requires and milestone.requires[-1] == name:
                return milestone
        return None

    # -- edits, for the pytest_tinytorch_modify_curriculum hook ----------------------------
    def add_milestone(self, milestone: Milestone) -> None:
        if any(m.name == milestone.name for m in self.milestones):
            raise CurriculumError(f"milestone {milestone.name!r} already exists")
        self.milestones.append(milestone)
        self.validate()

    def set_requires(self, milestone: str, groups: tuple[str, ...] | list[str]) -> None:
        self._replace_milestone(milestone, requires=tuple(groups))

    def set_rubric(self, milestone: str, rubric: dict[str, float]) -> None:
        self._replace_milestone(milestone, rubric=dict(rubric))

    def _replace_milestone(self, name: str, **changes) -> None:
        old = self.milestone(name)
        self.milestones[self.milestones.index(old)] = replace(old, **changes)
        self.validate()

    def validate(self) -> None:
        """Check the curriculum is self-consistent; raise ``CurriculumError`` otherwise."""
        module_names = {m.name for m in self.modules}
        group_names = {g.name for g in self.groups}
        for group in self.groups:
            missing = [name for name in group.modules if name not in module_names]
            if missing:
                raise CurriculumError(f"group {group.name} names unknown modules {missing}")
        for milestone in self.milestones:
            missing = [name for name in milestone.requires if name not in group_names]
            if missing:
                raise CurriculumError(
                    f"milestone {milestone.name} requires unknown groups {missing}; "
                    f"expected some of: {', '.join(sorted(group_names))}"
                )
            if milestone.rubric and abs(sum(milestone.rubric.values()) - 1.0) > 1e-9:
                raise CurriculumError(
                    f"rubric of milestone {milestone.name} sums to "
                    f"{sum(milestone.rubric.values()):.3f}; expected 1.0"
                )


def _modules(*names_and_titles: tuple[str, str]) -> list[Module]:
    return [Module(i + 1, name, title) for i, (name, title) in enumerate(names_and_titles)]


def default_curriculum() -> Curriculum:
    """A fresh copy of the course as designed (safe to modify)."""
    modules = _modules(
        ("tensor", "Tensor"),
        ("activations", "Activations"),
        ("layers", "Layers"),
        ("losses", "Losses"),
        ("autograd", "Autograd"),
        ("optimizers", "Optimizers"),
        ("training", "Training"),
        ("dataloader", "DataLoader"),
        ("spatial", "Spatial (convolution and pooling)"),
        ("tokenization", "Tokenization"),
        ("embeddings", "Embeddings"),
        ("attention", "Attention"),
        ("transformers", "Transformers"),
        ("generation", "Generation (KV cache)"),
        ("profiling", "Profiling"),
        ("quantization", "Quantization"),
        ("compression", "Compression"),
        ("acceleration", "Acceleration"),
        ("benchmarking", "Benchmarking"),
    )

    def names(first: int, last: int) -> tuple[str, ...]:
        return tuple(m.name for m in modules[first - 1 : last])

    groups = [
        Group("01_04", names(1, 4)),
        Group("05_07", names(5, 7)),
        Group("08_09", names(8, 9)),
        Group("10_14", names(10, 14)),
        Group("15_19", names(15, 19)),
    ]
    milestones = [
        Milestone(1, "perceptron", "Perceptron", ("01_04",), "milestones/01_perceptron", dict(PLAN_RUBRIC)),
        Milestone(2, "mlp", "MLP", ("01_04", "05_07"), "milestones/02_mlp", dict(PLAN_RUBRIC)),
        Milestone(3, "cnn", "CNN", ("01_04", "05_07", "08_09"), "milestones/03_cnn", dict(PLAN_RUBRIC)),
        Milestone(
            4, "tinygpt", "TinyGPT", ("01_04", "05_07", "08_09", "10_14"),
            "milestones/04_tinygpt", dict(PLAN_RUBRIC),
        ),
        Milestone(
            5, "systems", "Systems Capstone", ("01_04", "05_07", "08_09", "10_14", "15_19"),
            "milestones/05_systems_capstone", dict(PLAN_RUBRIC), starter="systems_capstone.py",
        ),
    ]
    curriculum = Curriculum(modules, groups, milestones)
    curriculum.validate()
    return curriculum
