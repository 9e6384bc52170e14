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


PINYIN_PROBE = """
import gc
from meridian.core.heap import freeze_started
from meridian.core.pinyin import search_text

freeze_started()
walked = len(gc.get_objects())
search_text("中国银行股份有限公司")  # the first Chinese text a server process writes
print(len(gc.get_objects()) - walked)
"""


def test_the_pinyin_dictionary_is_frozen_before_the_first_chinese_text() -> None:
    """Loaded after the freeze, its ~200,000 lists would be walked by every full collection:
    the 150-200 ms a create in the server once spent collecting inside its write lock."""
    grown = subprocess.run(
        [sys.executable, "-c", PINYIN_PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert int(grown) < 1_000
