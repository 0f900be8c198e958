"""What ``vicheck grade`` shows while it works: a one-line progress bar on a terminal, a plain line per
finished submission otherwise."""

from __future__ import annotations

import shutil
import time
from typing import TextIO

from vicheck.grading.submissions import Outcome

__all__ = ["Progress"]


class Progress:
    """A one-line progress bar on a terminal; a plain line per finished submission otherwise."""

    def __init__(self, total: int, stream: TextIO, quiet: bool) -> None:
        self.total, self.stream, self.quiet = total, stream, quiet
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.done = 0
        self.start = time.monotonic()
        self.width = 0

    def _elapsed(self) -> str:
        s = int(time.monotonic() - self.start)
        return f"{s // 60}:{s % 60:02d}"

    def tick(self, running: list[str]) -> None:
        if self.quiet or not self.tty:
            return
        filled = int(20 * self.done / self.total) if self.total else 20
        now = ", ".join(running[:3]) + (f" +{len(running) - 3}" if len(running) > 3 else "")
        line = f"[{'#' * filled}{'-' * (20 - filled)}] {self.done}/{self.total} {self._elapsed()}  {now}"
        cols = shutil.get_terminal_size((100, 20)).columns - 1
        line = line[:cols]
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def finished(self, o: Outcome) -> None:
        self.done += 1
        if self.quiet:
            return
        r = o.report
        text = f"[{self.done}/{self.total}] {o.name}: {r.score:g}/{r.max_score:g} ({o.state}"
        text += f", {o.seconds:.1f} s)" if o.state != "skipped" else ")"
        if o.detail:
            text += f" - {o.detail}"
        if self.tty:
            self.stream.write("\r" + " " * self.width + "\r" + text + "\n")
            self.width = 0
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and not self.quiet and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
