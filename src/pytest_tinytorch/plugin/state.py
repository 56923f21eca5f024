"""The persisted progress: per-unit outcomes tied to fingerprints, milestone states, history.

The state is one JSON file in pytest's cache (``.pytest_cache/d/tinytorch/state.json``),
written only by the pytest controller (never by an xdist worker) and always atomically
(a temporary file, then ``os.replace``). A file that cannot be read as this plugin's state
(corrupt, written by something else, or breaking the schema: a field of the wrong type, an
outcome or milestone state outside the fixed sets, a timestamp that is not one) is reported
and rebuilt from the next run, keeping the history entries that are still valid.

``read_progress(rootdir)`` is the public reader, for ``tito checkpoint`` and scripts.
"""

from __future__ import annotations

import json
import os
import stat
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
        _check_schema_and_version(data)
        problems = schema_problems(data)
        if problems:
            shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            raise StateError(f"malformed TinyTorch state file: {shown}")
        history = {kind: dict(data["history"].get(kind, {})) for kind in HISTORY_KINDS}
        units = {key: UnitRecord(**record) for key, record in data["units"].items()}
        return cls(units, dict(data["milestone_states"]), history,
                   dict(data.get("scan_cache", {})), dict(data.get("learned_units", {})))

    # -- history --------------------------------------------------------------------------
    def record_first(self, kind: str, name: str, event: str | None = None, at: str | None = None) -> None:
        """Remember when ``name`` first passed (modules, groups) or first reached ``event``."""
        entries = self.history.setdefault(kind, {})
        if event is None:
            entries.setdefault(name, at or now())
        else:
            entries.setdefault(name, {}).setdefault(event, at or now())


UNIT_FIELDS = tuple(UnitRecord.__dataclass_fields__)
DOCUMENT_FIELDS = ("schema", "version", *ProgressState.__dataclass_fields__)

RECORDED_OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
"""Every outcome the plugin records for a test (``outcomes.TestResult.outcome``)."""
MILESTONE_STATES = ("LOCKED", "UNLOCKED", "COMPLETE")
DETAIL_KEYS = ("rubric", "op", "example", "message")
"""The per-test extras ``gating.merge_unit`` records; each a string (a rubric category
decides which rubric line a test counts for)."""
HISTORY_KINDS = ("modules", "groups", "milestones")
HISTORY_EVENTS = ("UNLOCKED", "COMPLETE")
"""What ``history["milestones"][name]`` may record the first time of."""


def _check_schema_and_version(data) -> None:
    """Refuse a document that is not this plugin's state, or of another version."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise StateError(f"not a TinyTorch state file (schema {found!r}; expected {SCHEMA!r})")
    if data.get("version") != VERSION:
        raise StateError(f"state version {data.get('version')!r}; expected {VERSION}")


def is_timestamp(value) -> bool:
    """True for an ISO 8601 date and time such as ``2026-03-01T12:00:00+00:00``."""
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_file_entry(value) -> bool:
    """``[mtime_ns, size, [unit, ...]]``, the shape of ``scan_cache`` and ``learned_units``."""
    return (isinstance(value, list) and len(value) == 3 and _is_integer(value[0]) and _is_integer(value[1])
            and isinstance(value[2], list) and all(isinstance(unit, str) for unit in value[2]))


def _unit_problems(key: str, record) -> list[str]:
    where = f"units[{key!r}]"
    if not isinstance(record, dict):
        return [f"{where} is {record!r}; expected an object"]
    problems = [f"{where}.{name} is an unknown field" for name in record if name not in UNIT_FIELDS]
    if not isinstance(record.get("fingerprint"), str):
        problems.append(f"{where}.fingerprint is {record.get('fingerprint')!r}; expected a string")
    tests = record.get("tests", {})
    if not isinstance(tests, dict):
        problems.append(f"{where}.tests is {tests!r}; expected an object")
    else:
        problems += [
            f"{where}.tests[{nodeid!r}] is {outcome!r}; expected one of {', '.join(RECORDED_OUTCOMES)}"
            for nodeid, outcome in tests.items() if outcome not in RECORDED_OUTCOMES
        ]
    files = record.get("complete_files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        problems.append(f"{where}.complete_files is {files!r}; expected a list of paths")
    details = record.get("details", {})
    if not isinstance(details, dict) or not all(isinstance(d, dict) for d in details.values()):
        problems.append(f"{where}.details is {details!r}; expected an object of objects")
    else:
        problems += [
            f"{where}.details[{nodeid!r}].{key} is {detail[key]!r}; expected a string"
            for nodeid, detail in details.items() for key in DETAIL_KEYS
            if key in detail and not isinstance(detail[key], str)
        ]
    updated = record.get("updated_at", "")
    if updated != "" and not is_timestamp(updated):
        problems.append(f"{where}.updated_at is {updated!r}; expected an ISO 8601 timestamp")
    return problems


def history_problems(history) -> tuple[dict, list[str]]:
    """The valid part of a saved ``history`` and what was wrong with the rest.

    Each entry stands alone: a bad timestamp drops that entry, not the others, so the record
    of when things first passed (``tito checkpoint``) survives a partly damaged file.
    """
    if not isinstance(history, dict):
        return {kind: {} for kind in HISTORY_KINDS}, [f"history is {history!r}; expected an object"]
    kept: dict[str, dict] = {kind: {} for kind in HISTORY_KINDS}
    problems = [f"history.{kind} is an unknown kind" for kind in history if kind not in HISTORY_KINDS]
    for kind in HISTORY_KINDS:
        entries = history.get(kind, {})
        if not isinstance(entries, dict):
            problems.append(f"history.{kind} is {entries!r}; expected an object")
            continue
        for name, value in entries.items():
            where = f"history.{kind}[{name!r}]"
            if kind != "milestones":
                if is_timestamp(value):
                    kept[kind][name] = value
                else:
                    problems.append(f"{where} is {value!r}; expected an ISO 8601 timestamp")
            elif not isinstance(value, dict):
                problems.append(f"{where} is {value!r}; expected an object of {' and '.join(HISTORY_EVENTS)} times")
            else:
                for event, at in value.items():
                    if event in HISTORY_EVENTS and is_timestamp(at):
                        kept[kind].setdefault(name, {})[event] = at
                    else:
                        problems.append(f"{where}[{event!r}] is {at!r}; expected an ISO 8601 timestamp "
                                        f"of {' or '.join(HISTORY_EVENTS)}")
    return kept, problems


def schema_problems(data: dict) -> list[str]:
    """Every way a state document of this schema and version breaks it: ``where is what;
    expected what``. An empty list means ``ProgressState.from_json`` can trust every field."""
    problems = [f"{name} is an unknown field" for name in data if name not in DOCUMENT_FIELDS]
    for name in ("units", "milestone_states", "history"):
        if name not in data:
            problems.append(f"{name} is missing")
    units = data.get("units", {})
    if not isinstance(units, dict):
        problems.append(f"units is {units!r}; expected an object")
    else:
        for key, record in units.items():
            problems += _unit_problems(key, record)
    states = data.get("milestone_states", {})
    if not isinstance(states, dict):
        problems.append(f"milestone_states is {states!r}; expected an object")
    else:
        problems += [
            f"milestone_states[{name!r}] is {value!r}; expected one of {', '.join(MILESTONE_STATES)}"
            for name, value in states.items() if value not in MILESTONE_STATES
        ]
    problems += history_problems(data.get("history", {}))[1]
    for name in ("scan_cache", "learned_units"):
        entries = data.get(name, {})
        if not isinstance(entries, dict):
            problems.append(f"{name} is {entries!r}; expected an object")
        else:
            problems += [f"{name}[{path!r}] is {entry!r}; expected [mtime_ns, size, [unit, ...]]"
                         for path, entry in entries.items() if not _is_file_entry(entry)]
    return problems


def current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """The permissions an ordinary ``open(path, "w")`` would leave: an existing file keeps its
    own, a new one gets ``0o666`` less the umask (``mkstemp`` alone would give ``0o600``)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` so that a reader never sees half a file: a temporary file, then replace.

    The temporary file sits beside ``path`` (``os.replace`` is atomic within one file system)
    and is removed if anything interrupts the write. The file ends up with the permissions an
    ordinary ``open()`` would give it, so a report or badge stays readable by a web server or
    a teaching assistant's account.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_json_atomically(path: Path, data, indent: int = 1) -> None:
    """``data`` as JSON, written atomically (see ``write_text_atomically``)."""
    write_text_atomically(path, json.dumps(data, indent=indent) + "\n")


class StateStore:
    """Loads and saves ``ProgressState`` at one path (or nowhere, without a cache).

    ``warning`` keeps the last ``load()``'s warning, for a caller that reports it later.
    """

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None
        self.warning: str | None = None

    def load(self) -> tuple[ProgressState, str | None]:
        """The saved state and a warning, if the file was unusable (then a fresh state).

        A file of this schema and version that breaks it (a wrong type, an unknown outcome or
        milestone state, a bad timestamp) is rebuilt too, but the history entries that are
        still valid are kept, and the warning lists the ones dropped.
        """
        self.warning = None
        if self.path is None or not self.path.exists():
            return ProgressState(), None
        data = None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return ProgressState.from_json(data), None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, StateError) as error:
            state, kept = ProgressState(), ""
            if isinstance(data, dict) and data.get("schema") == SCHEMA and data.get("version") == VERSION:
                state.history, dropped = history_problems(data.get("history", {}))
                count = sum(len(times) if isinstance(times, dict) else 1
                            for entries in state.history.values() for times in entries.values())
                kept = f"; kept {count} history entr{'y' if count == 1 else 'ies'}"
                if dropped:
                    kept += f", dropped {len(dropped)}: {'; '.join(dropped)}"
            self.warning = (
                f"TinyTorch state file {self.path} is unusable ({error}); "
                f"it will be rebuilt from this run's results{kept}"
            )
            return state, self.warning

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
