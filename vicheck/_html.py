"""The one way vicheck draws HTML: Jinja2 with autoescaping on, so that a report's text (student text, untrusted)
is escaped by construction, and with an undefined name an error rather than an empty string."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

__all__ = ["html_environment"]


def html_environment(templates: Path, *, finalize: Callable[[object], object]) -> Environment:
    """An environment loading from ``templates``; ``finalize`` escapes each printed value (and may spell an
    entity as the page always has). A block tag on a line of its own leaves no blank line, so that the
    templates read like the page they draw."""
    return Environment(
        loader=FileSystemLoader(templates),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
    )
