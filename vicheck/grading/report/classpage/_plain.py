"""A property's docstring as the class page shows it: plain text without reStructuredText or LaTeX markup."""

from __future__ import annotations

import re

__all__ = ["first_sentence", "plain_math", "plain_rst"]

_MATH_SYMBOLS = {
    r"\mathcal N": "N",
    r"\mathbb E": "E",
    r"\varepsilon": "ε",
    r"\epsilon": "ε",
    r"\sigma": "σ",
    r"\mu": "μ",
    r"\theta": "θ",
    r"\delta": "δ",
    r"\Delta": "Δ",
    r"\int": "∫",
    r"\prod": "∏",
    r"\sum": "∑",
    r"\le": "≤",
    r"\ge": "≥",
    r"\pm": "±",
    r"\cdot": "·",
    r"\mid": " | ",
    r"\|": "‖",
    r"\ldots": "…",
    r"\infty": "∞",
    r"\in": "∈",
    r"\#": "#",
    r"\_": "_",
    r"\,": " ",
    r"\;": " ",
}


def plain_math(tex: str) -> str:
    """A LaTeX fragment as readable plain text (Greek letters and relations as characters)."""
    tex = re.sub(r"\\[td]?frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", tex)
    tex = re.sub(r"\\tfrac(\d)(\d)", r"\1/\2", tex)
    tex = re.sub(r"\\(?:mathrm|text|operatorname|mathbf|mathit)\{([^{}]*)\}", r"\1", tex)
    tex = re.sub(r"\\sqrt\{([^{}]*)\}", r"√(\1)", tex)
    for macro, char in sorted(_MATH_SYMBOLS.items(), key=lambda kv: -len(kv[0])):
        # \mu must not eat the start of \mult, but \, may stand right before a letter
        tail = r"(?![A-Za-z])" if macro[-1].isalpha() else ""
        tex = re.sub(re.escape(macro) + tail, char.replace("\\", "\\\\"), tex)
    tex = re.sub(r"\\([A-Za-z]+)", r"\1", tex)  # any other macro: its name
    tex = re.sub(r"\^\{?2\}?(?![0-9])", "²", tex)
    return tex.replace("{", "").replace("}", "")


def plain_rst(text: str) -> str:
    """A docstring paragraph without reStructuredText markup (``code``, :math:`x`, :func:`f`)."""
    text = re.sub(r":math:`([^`]*)`", lambda m: plain_math(m.group(1)), text)
    text = re.sub(r":[a-z]+:`~?([^`]*)`", r"\1", text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    return " ".join(text.split())


def first_sentence(description: str, limit: int = 180) -> str:
    """The concept a property checks: the first sentence of its description, at most ``limit`` characters."""
    plain = plain_rst(description)
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z])", plain, maxsplit=1)[0]
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"
