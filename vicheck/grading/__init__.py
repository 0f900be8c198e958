"""Grading: per-property results, reports (JSON, Gradescope, markdown), rubric, batch runs."""
