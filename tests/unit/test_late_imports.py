"""WeasyPrint, pypdf, pyHanko and openpyxl are imported where a PDF or a workbook is made
(``core/late_imports.py``), not by every process that starts the app or a command; and each
is first imported holding the one lock that keeps two threads from opening them at once.

Each probe runs in a fresh interpreter: the test process has imported everything long ago.
"""

from __future__ import annotations

import subprocess
import sys

LATE = ("weasyprint", "pypdf", "pyhanko", "openpyxl", "fontTools", "aiohttp")

# Every first import of those libraries must happen holding ``IMPORTING``: two threads opening
# one package through different doors (``weasyprint`` and ``weasyprint.text.fonts``, as a
# request laying out a document and the batch job's press do) without it met
# ``_DeadlockError`` or a half-made module in 6 of 12 processes tried. The probe watches the
# lock and every import of the libraries, then makes what Meridian makes with them: a document
# laid out, the batch job started (its press), a PDF's signatures checked, an import report
# and a chart's workbook begun.
GUARDED = f"""
import sys, tempfile, threading
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import meridian.core.late_imports as late

LATE = {LATE!r}


class Watched:
    def __init__(self):
        self.lock = threading.RLock()
        self.depth = threading.local()

    def __enter__(self):
        self.lock.acquire()
        self.depth.value = getattr(self.depth, "value", 0) + 1

    def __exit__(self, *exc):
        self.depth.value -= 1
        self.lock.release()


watched = late.IMPORTING = Watched()
unguarded = set()


# Notes a Meridian module importing one of the libraries without the lock (the libraries' own
# imports of their parts, at import or when called, are theirs).
class Finder:

    def find_spec(self, name, path=None, target=None):
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith("importlib"):
            frame = frame.f_back
        importer = frame.f_globals.get("__name__", "") if frame is not None else ""
        if (
            name.split(".")[0] in LATE
            and importer.startswith("meridian")
            and not getattr(watched.depth, "value", 0)
        ):
            unguarded.add(importer + " -> " + name)
        return None


sys.meta_path.insert(0, Finder())

from meridian.dataio.run_report import ReportWriter
from meridian.documents import generate, signing
from meridian.documents import plugin as documents_plugin
from meridian.reports.export import workbook
from meridian.settings import Settings


class Started(Exception):
    pass


class Context:
    @property
    def engine(self):
        raise Started


template = {{"kind": "html", "label": "Quote", "body": "<p>{{{{ document.number }}}}</p>",
            "page": {{}}}}
prepared = generate.Prepared("f", 1, template, {{}}, {{}}, None, {{}})
rendered = generate.render_content(
    prepared, number="Q-1", version=1, issued=datetime.now(UTC), tz=ZoneInfo("UTC")
)
assert rendered.content.startswith(b"%PDF"), rendered.content[:10]
workspace = type("Workspace", (), {{"settings": Settings()}})()
try:
    documents_plugin.register_job_handlers(meridian=workspace)[documents_plugin.BATCH](Context())
except Started:
    pass
assert "meridian.documents.press" in sys.modules
assert signing.verify_pdf(b"%PDF-1.7 no signature").intact is False
assert ReportWriter(["name"]).save(Path(tempfile.mkdtemp()) / "report.xlsx") == 0
assert workbook("chart", {{"columns": [], "rows": []}}, {{}})[:2] == b"PK"
assert all(name in sys.modules for name in LATE), [n for n in LATE if n not in sys.modules]
print(",".join(sorted(unguarded)) or "ok")
"""


def _probe(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


def test_the_app_and_the_commands_start_without_the_pdf_and_workbook_libraries() -> None:
    loaded = _probe(
        "import sys, meridian.app, meridian.cli.main; "
        f"print(','.join(name for name in {LATE!r} if name in sys.modules))"
    )
    assert loaded == ""


def test_every_first_import_of_the_libraries_holds_the_one_lock() -> None:
    assert _probe(GUARDED) == "ok"
