"""The course tooling behind ``tito``: the student edition (``release``), grading a class
(``grading``, ``submission_scan``, ``probes``, ``validator``), the platforms that run it
(``gradescope``, ``gradescope_autograder``, ``classroom``), the code milestones grade
(``milestone_code``) and mutation testing of the grader (``mutation*``).
docs/instructor-guide.md."""
