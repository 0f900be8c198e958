# Rehearsal submission: hangs at import (a busy loop), so that the grader's load limit must stop it.
# It caps itself at 300 s, so a broken limit cannot hold the machine for longer.
import time

_deadline = time.monotonic() + 300
while time.monotonic() < _deadline:
    pass
