"""Gradescope ``results.json`` from a TinyTorch JSON report (the plugin and ``tito grade``).

Scores follow the milestone rubrics: each milestone is worth 100 points split by its rubric
weights, and a category's points are shared equally by its tests. A test earns its share
when it passed and its milestone is not locked. Module and integration tests carry no
points (``max_score`` 0) but are listed so that students see them. Tests marked ``hidden``
get ``"visibility": "hidden"``.
"""

from __future__ import annotations

from pytest_tinytorch.plugin.state import write_json_atomically

PASSING = {"passed", "xfailed", "xpassed"}


def gradescope_results(report: dict, points_per_milestone: float = 100.0) -> dict:
    """Build the Gradescope document from a report dict (``reports.build_report`` output)."""
    milestones = report.get("milestones", {})
    category_sizes: dict[tuple[str, str], int] = {}
    for test in report.get("tests", []):
        if test.get("milestone") and test.get("rubric"):
            key = (test["milestone"], test["rubric"])
            category_sizes[key] = category_sizes.get(key, 0) + 1
    tests = []
    for test in report.get("tests", []):
        milestone, category = test.get("milestone"), test.get("rubric")
        max_score = 0.0
        if milestone in milestones and category:
            weight = milestones[milestone]["rubric"].get(category, {}).get("weight", 0.0)
            max_score = points_per_milestone * weight / category_sizes[(milestone, category)]
        earned = test["outcome"] in PASSING and milestones.get(milestone, {}).get("state") in ("UNLOCKED", "COMPLETE")
        entry = {  # exact shares (25 / 3 points each): rounding each would make 3 of them 24.9999
            "name": test["nodeid"],
            "score": max_score if earned else 0.0,
            "max_score": max_score,
            "status": "passed" if test["outcome"] in PASSING else "failed",
            "visibility": "hidden" if test.get("hidden") else "visible",
        }
        if test.get("message"):
            entry["output"] = test["message"]
        tests.append(entry)
    summary = ", ".join(f"{name}: {entry['state']}" for name, entry in milestones.items())
    return {
        "score": round(sum(t["score"] for t in tests), 4),
        "visibility": "visible",
        "output": f"Milestones: {summary}",
        "tests": tests,
    }


def write_gradescope(report: dict, path) -> None:
    write_json_atomically(path, gradescope_results(report))
