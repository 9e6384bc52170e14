"""The ``meridian`` command line.

``run`` is the console script: ``meridian worker`` goes to ``cli/worker.py`` alone, every
other command to the full command line in ``cli/main.py`` (which imports the web app, the
solutions and every engine's commands).
"""

from __future__ import annotations

import sys


def run() -> None:
    if sys.argv[1:2] == ["worker"]:
        from meridian.cli.worker import run_worker

        run_worker(sys.argv[2:])
        return
    from meridian.cli.main import main

    main()
