"""The libraries a process imports where it first uses them, one thread at a time.

WeasyPrint and pypdf (laying out and joining PDFs), pyHanko (signing them) and openpyxl
(writing workbooks) cost a process more than a second of CPU to import — a third of what
``import meridian.app`` cost — and most processes never make a PDF or a workbook: every server
worker, every command, every process a test starts. So the modules that use them import them
inside the function that does, holding :data:`IMPORTING`.

Python's per-module import locks make two threads importing one package the same way safe: the
second waits for the first. They do not make it safe for two threads to enter packages that
share modules through different doors (``weasyprint`` and ``weasyprint.text.fonts``; pypdf and
pyHanko both importing parts of ``cryptography``, pypdf and WeasyPrint parts of fontTools): each
holds the lock of the module it started with while it waits for the other's, and Python breaks
that cycle by raising in one of them or handing it a half-made module (what a job thread met
importing pypinyin while the process froze its heap, ``core/heap.py``). A request thread making
a PDF and a job thread running a batch can be the two, so every such import takes this lock;
after the first, an import inside it is a dictionary look-up.
"""

from __future__ import annotations

import threading

IMPORTING = threading.RLock()
"""Held while importing one of the libraries above (re-entrant: an import under it may import
another module that takes it)."""
