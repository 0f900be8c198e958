"""Hypothesis property tests of the lecture's contract, run against an implementation.

``pytest properties/`` checks the reference; ``pytest properties/ --impl PATH`` checks a submission.
Every property reaches the implementation through the ``impl`` fixture only.
"""
