"""``freeze_started``: the start's garbage is freed, everything left is frozen.

In a process of its own: a freeze lasts as long as the process, and a test process must go on
freeing what its tests build."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc, weakref
from meridian.core.heap import freeze_started

class Quote:
    pass

garbage = Quote()
garbage.itself = garbage          # a cycle only the collector frees
freed = weakref.ref(garbage)
del garbage
kept = [Quote() for _ in range(1000)]
frozen = freeze_started()
print(freed() is None, frozen >= 1000, frozen == gc.get_freeze_count())
"""


def test_freeze_started_frees_the_start_garbage_then_freezes_the_rest() -> None:
    shown = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert shown == ["True", "True", "True"]
