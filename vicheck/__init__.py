"""vicheck: reference, property suite, grader and benchmarks for the lecture on variational inference."""

__version__ = "0.1.0"
