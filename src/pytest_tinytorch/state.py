"""The persisted progress: per-unit outcomes tied to fingerprints, milestone states, history.

The state is one JSON file in pytest's cache (``.pytest_cache/d/tinytorch/state.json``),
written only by the pytest controller (never by an xdist worker) and always atomically
(a temporary file, then ``os.replace``). A file that cannot be read as this plugin's state
(corrupt, or written by something else) is reported and rebuilt from the next run.

``read_progress(rootdir)`` is the public reader, for ``tito checkpoint`` and scripts.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = "tinytorch-state"
VERSION = 1
STATE_FILE = "state.json"
CACHE_SUBDIRECTORY = "tinytorch"


class StateError(ValueError):
    """A state file that is not (or no longer) this plugin's state."""


def now() -> str:
    """An ISO 8601 UTC timestamp, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class UnitRecord:
    """Outcomes of one unit's tests against one fingerprint.

    ``complete_files`` are the unit's test files whose tests of this unit all ran (no
    ``-k``, no deselection, no single node id) against this fingerprint. ``details`` keeps
    per-test extras: the rubric category of a milestone test, the op and the falsifying
    example of an autograd test.
    """

    fingerprint: str
    tests: dict[str, str] = field(default_factory=dict)  # nodeid (or file) -> outcome
    complete_files: list[str] = field(default_factory=list)
    details: dict[str, dict] = field(default_factory=dict)
    updated_at: str = ""


@dataclass
class ProgressState:
    """Everything the plugin remembers between runs."""

    units: dict[str, UnitRecord] = field(default_factory=dict)
    milestone_states: dict[str, str] = field(default_factory=dict)  # last announced state
    history: dict[str, dict] = field(
        default_factory=lambda: {"modules": {}, "groups": {}, "milestones": {}}
    )
    scan_cache: dict[str, list] = field(default_factory=dict)  # file -> [mtime_ns, size, units]
    learned_units: dict[str, list] = field(default_factory=dict)  # same, from collected markers

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "version": VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data) -> "ProgressState":
        """Parse a state document; ``StateError`` says what is wrong with a bad one."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise StateError(f"not a TinyTorch state file (schema {found!r}; expected {SCHEMA!r})")
        if data.get("version") != VERSION:
            raise StateError(f"state version {data.get('version')!r}; expected {VERSION}")
        try:
            units = {key: UnitRecord(**record) for key, record in data["units"].items()}
            state = cls(units, dict(data["milestone_states"]), dict(data["history"]),
                        dict(data.get("scan_cache", {})), dict(data.get("learned_units", {})))
            for kind in ("modules", "groups", "milestones"):
                if not isinstance(state.history.setdefault(kind, {}), dict):
                    raise TypeError(f"history.{kind} is not an object")
            for record in units.values():
                if not isinstance(record.tests, dict) or not isinstance(record.complete_files, list):
                    raise TypeError("unit record has the wrong shape")
        except (KeyError, TypeError, AttributeError) as error:
            raise StateError(f"malformed TinyTorch state file: {error}") from error
        return state

    # -- history --------------------------------------------------------------------------
    def record_first(self, kind: str, name: str, event: str | None = None, at: str | None = None) -> None:
        """Remember when ``name`` first passed (modules, groups) or first reached ``event``."""
        entries = self.history.setdefault(kind, {})
        if event is None:
            entries.setdefault(name, at or now())
        else:
            entries.setdefault(name, {}).setdefault(event, at or now())


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` so that a reader never sees half a file: a temporary file, then replace.

    The temporary file sits beside ``path`` (``os.replace`` is atomic within one file system)
    and is removed if anything interrupts the write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_json_atomically(path: Path, data, indent: int = 1) -> None:
    """``data`` as JSON, written atomically (see ``write_text_atomically``)."""
    write_text_atomically(path, json.dumps(data, indent=indent) + "\n")


class StateStore:
    """Loads and saves ``ProgressState`` at one path (or nowhere, without a cache)."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None

    def load(self) -> tuple[ProgressState, str | None]:
        """The saved state and a warning, if the file was unusable (then a fresh state)."""
        if self.path is None or not self.path.exists():
            return ProgressState(), None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return ProgressState.from_json(data), None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, StateError) as error:
            return ProgressState(), (
                f"TinyTorch state file {self.path} is unusable ({error}); "
                "it will be rebuilt from this run's results"
            )

    def save(self, state: ProgressState) -> None:
        if self.path is not None:
            write_json_atomically(self.path, state.to_json())


def state_path(rootdir, cache_dir: str | os.PathLike = ".pytest_cache") -> Path:
    """Where pytest's cache keeps the state for a project at ``rootdir``."""
    return Path(rootdir) / cache_dir / "d" / CACHE_SUBDIRECTORY / STATE_FILE


def read_progress(rootdir, cache_dir: str | os.PathLike = ".pytest_cache") -> ProgressState:
    """The saved progress of the project at ``rootdir`` (fresh if none or unusable).

    ``state.history`` answers "when did it first pass": ``{"modules": {name: timestamp},
    "groups": {name: timestamp}, "milestones": {name: {"UNLOCKED": ts, "COMPLETE": ts}}}``;
    ``state.milestone_states`` holds the last announced state of each milestone. Pass
    ``cache_dir`` when the project sets pytest's ``cache_dir`` ini option.
    """
    state, _warning = StateStore(state_path(rootdir, cache_dir)).load()
    return state
