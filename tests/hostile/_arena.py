"""Shared by the attack fixtures (copied beside them into each attack file by the test): the safety guard.

Every attack acts only on paths that contain ``hostile-arena`` (the test's own throw-away folder), and
signals only processes whose command line names it or that are the jail's own: if the jail under test
fails, the attack still cannot touch anything of the machine's or of another test's.
"""

import ctypes
import os

MARKER = "hostile-arena"


def name_process():
    """Call this process ``vchk-hostile`` (its comm), so the test can find any that survives grading."""
    try:
        ctypes.CDLL(None).prctl(15, b"vchk-hostile", 0, 0, 0)  # PR_SET_NAME
    except Exception:
        pass


def command_lines():
    """``(pid, argv)`` of every process this one can see whose command line names the arena."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if any(MARKER in a for a in argv):
            found.append((int(pid), argv))
    return found


def option_values(option):
    """Every value given to ``option`` on a visible command line that names the arena."""
    values = []
    for _, argv in command_lines():
        for i, a in enumerate(argv[:-1]):
            if a == option and MARKER in argv[i + 1]:
                values.append(argv[i + 1])
    return values
