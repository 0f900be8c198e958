"""The older name of the grader's pytest plugin, kept so that the command lines earlier grading runs wrote
in their logs (``pytest -p properties.plugin --pyargs properties --impl ...``) replay as they were.

The plugin is the grader's (:mod:`vicheck.grading.run.plugin`): the suite itself imports nothing of the
grader. pytest loads a plugin named in a plugin's ``pytest_plugins`` by name, once, however many times it
is named (the project's ``conftest.py`` and ``vicheck grade`` name it too).
"""

pytest_plugins = ["vicheck.grading.run.plugin"]
