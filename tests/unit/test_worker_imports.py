"""``meridian worker`` starts without the web app, the other commands or the PDF press.

A worker process is started on every host and after every deploy (and by the kill tests once
per SIGKILL); the import-linter contract in ``pyproject.toml`` keeps ``meridian.web``,
``meridian.api``, ``meridian.app`` and ``meridian.cli.main`` out of its imports, and this test
checks the packages outside Meridian a fresh interpreter loads for it.
"""

from __future__ import annotations

import subprocess
import sys

from meridian.documents import batches
from meridian.documents import plugin as documents_plugin

HEAVY = (
    "meridian.web",
    "meridian.api",
    "meridian.app",
    "meridian.cli.main",
    "uvicorn",
    "weasyprint",
    "pyhanko",
    "meridian.solutions",
)


def test_the_worker_command_loads_none_of_the_heavy_packages() -> None:
    probe = (
        "import sys, meridian.cli.worker; "
        f"print(','.join(name for name in {HEAVY!r} if name in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert loaded == ""


def test_the_batch_job_is_registered_under_the_name_batches_enqueue() -> None:
    assert documents_plugin.BATCH == batches.RUN
