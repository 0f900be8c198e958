"""Project-wide pytest set-up: the property-suite plugin (``--impl``, ``--grade-report``, profiles)."""

pytest_plugins = ["properties.plugin"]
