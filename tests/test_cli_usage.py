"""tito's command line: every command has --help, wrong names and paths are usage errors."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_tinytorch.course.cli import main
from pytest_tinytorch.plugin.curriculum import CurriculumError, default_curriculum

REPOSITORY = Path(__file__).resolve().parents[1]

COMMANDS = [
    ["milestone"], ["milestone", "status"], ["milestone", "start"], ["milestone", "submit"],
    ["module"], ["module", "complete"], ["checkpoint"], ["release"], ["grade"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: tito {' '.join(command)}" in capsys.readouterr().out


def test_grade_help_names_its_limits(capsys):
    with pytest.raises(SystemExit):
        main(["grade", "--help"])
    text = capsys.readouterr().out
    for option in ("--jobs", "--timeout", "--memory-mb", "--out", "SUBMISSION_DIR"):
        assert option in text


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["milestone", "start", "resnet"], "unknown milestone 'resnet'; expected one of: perceptron, mlp, cnn, tinygpt, systems"),
        (["milestone", "submit", "gpt"], "unknown milestone 'gpt'"),
        (["module", "complete", "42_magic"], "unknown module '42_magic'; expected one of: 01_tensor"),
        (["grade", "no/such/folder", "--out", "x"], "no such submission directory: no/such/folder"),
    ],
)
def test_wrong_names_and_paths_are_usage_errors(arguments, message, capsys):
    assert main(["--root", str(REPOSITORY), *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("tito: error: ") and message in error


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["release", "out", "--solutions-through", "four"], "expected a module number such as 04, got 'four'"),
        (["grade", "a", "--out", "x", "--jobs", "0"], "expected a positive number, got '0'"),
        (["grade", "a", "--out", "x", "--timeout", "-5"], "expected a positive number, got '-5'"),
        (["grade", "a"], "the following arguments are required: --out"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_malformed_options_exit_2_with_the_reason(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("spelling", ["perceptron", "1", "01", "01_perceptron", "Perceptron", "PERCEPTRON", 1])
def test_a_milestone_is_found_by_number_directory_name_or_title(spelling):
    assert default_curriculum().milestone(spelling).name == "perceptron"


def test_milestone_spellings_stay_distinct_and_unknown_ones_list_the_names():
    curriculum = default_curriculum()
    assert [curriculum.milestone(s).name for s in ("5", "05_systems_capstone", "systems capstone", "TinyGPT")] == [
        "systems", "systems", "systems", "tinygpt"]
    for wrong in ("0", "6", "01_mlp", "percepton"):
        with pytest.raises(CurriculumError) as error:
            curriculum.milestone(wrong)
        assert str(error.value) == f"unknown milestone {wrong!r}; expected one of: perceptron, mlp, cnn, tinygpt, systems"


def test_outside_a_repository_tito_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["checkpoint"]) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path} is not inside a TinyTorch repository" in error and "--root" in error
    assert main(["--root", str(tmp_path), "milestone", "status"]) == 2
    assert "is not a TinyTorch repository: expected src/tinytorch/" in capsys.readouterr().err


def test_release_writes_an_edition_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "edition"
    assert main(["--root", str(REPOSITORY), "release", str(out), "--solutions-through", "02"]) == 0
    printed = capsys.readouterr().out
    assert f"student edition written to {out}" in printed
    assert "solutions kept through module: 02" in printed
    assert (out / "src/tinytorch/tensor.py").is_file() and (out / "EDITION.json").is_file()
    assert main(["--root", str(REPOSITORY), "release", str(out)]) == 1
    assert "is not empty; remove it or pass --overwrite" in capsys.readouterr().err
    shutil.rmtree(out)


def test_release_into_the_folder_that_holds_the_repository_is_refused(tmp_path, capsys):
    """`tito release .. --overwrite` once deleted the repository it was run from. The repository
    here is a small copy in a temporary folder: were the guard ever lost, this test must not
    delete the folder that holds the real one."""
    course = tmp_path / "course"
    (course / "src/tinytorch").mkdir(parents=True)
    (course / "pyproject.toml").write_text("[project]\nname = 'tinytorch'\n")
    (course / "src/tinytorch/__init__.py").write_text("")
    (tmp_path / "notes.txt").write_text("a sibling of the repository")
    assert main(["--root", str(course), "release", str(course / ".."), "--overwrite"]) == 1
    assert capsys.readouterr().err == (
        f"tito: output directory {tmp_path} contains the repository {course}; choose a folder "
        f"outside it, e.g. {tmp_path / 'course-student'}\n"
    )
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "course", "course/pyproject.toml", "course/src", "course/src/tinytorch",
        "course/src/tinytorch/__init__.py", "notes.txt"]


def test_the_console_script_is_installed_and_runs():
    tito = shutil.which("tito")
    command = [tito] if tito else [sys.executable, "-m", "pytest_tinytorch.course.cli"]
    completed = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0
    assert "milestone" in completed.stdout and "grade" in completed.stdout
    completed = subprocess.run([*command, "milestone", "start", "nope"], capture_output=True, text=True,
                               cwd=REPOSITORY, timeout=60)
    assert completed.returncode == 2 and "unknown milestone 'nope'" in completed.stderr
