"""Rubrics the tests grade with."""

#: only the sigmoid properties visible (a self-check runs them alone: quick), two minutes per submission
SIGMOID_SELF_CHECK = """[grading]
default_visibility = "hidden"
[visibility]
visible = ["sigmoid_*"]
[limits]
submission_seconds = 120
"""
