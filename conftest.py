"""Project-wide pytest set-up: the grader's pytest plugin (``--impl``, ``--grade-report``, profiles), so that
``pytest properties/ --impl PATH`` checks PATH from a checkout."""

pytest_plugins = ["vicheck.grading.run.plugin"]
