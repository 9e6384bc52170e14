"""No message is written as "English / 中文": a message is a catalog sentence (``Text``) and
each reader reads it in their language — at once, or later from what ``core.i18n.stored``
kept. A scan of every module of ``meridian`` refuses a string that joins an English and a
Chinese sentence with " / " (a literal, or any piece of an f-string), so a new path that
stores both languages fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import meridian

MERIDIAN = Path(meridian.__file__).resolve().parent
HAN = r"[\u3400-\u9fff]"
LATIN = r"[A-Za-z]{2,}"
NOT_HAN = r"[^\u3400-\u9fff/\n]"
NOT_LATIN = r"[^A-Za-z/\n]"
JOINED = re.compile(
    rf"{HAN}{NOT_LATIN}*\s/\s{NOT_HAN}*{LATIN}|{LATIN}{NOT_HAN}*\s/\s{NOT_LATIN}*{HAN}"
)
"""A Chinese sentence, " / ", an English one (or the other way round)."""

ALLOWED = {
    # Labels the reader's half is taken of where they are shown (``localized``), not messages
    # kept for later: the document designer's built-in placeholders.
    "documents/placeholders.py",
    # The report builder's system columns (the report engine's own labels).
    "reports/palette.py",
    # A group robot's message has no one reader: a WeCom/DingTalk/Feishu group reads both.
    "integrations/messaging.py",
    # Sample data of the IDC solution (reasons people typed, in the demo's stage history).
    "solutions/idc_crm/stage_history.py",
    # Written into a record field the builder chose (data, read by whoever reads the record).
    "rules/builtin_actions.py",
    "rules/territory.py",
    # An approval comment, in the trail beside people's own comments.
    "flows/approvals/timeouts.py",
}


def joined_strings(source: str) -> list[tuple[int, str]]:
    """Every string of ``source`` (not a docstring) that joins two languages with " / "."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings:
                continue
            text = node.value
        else:
            continue
        if JOINED.search(text):
            found.append((node.lineno, text))
    return found


def test_no_module_writes_a_message_in_two_languages_at_once() -> None:
    offenders = []
    for path in sorted(MERIDIAN.rglob("*.py")):
        relative = path.relative_to(MERIDIAN).as_posix()
        if relative in ALLOWED:
            continue
        offenders += [
            f"{relative}:{line}: {text!r}" for line, text in joined_strings(path.read_text())
        ]
    assert not offenders, (
        "say these once, as a catalog Text (core.i18n.stored keeps it for later readers):\n"
        + "\n".join(offenders)
    )


def test_the_scan_finds_both_languages_joined_and_passes_one() -> None:
    refused = [
        'title = f"待审批 / To approve: {label} #{id}"',
        'word = "已通过 / approved"',
        'error = "the receiver answered 500 / 接收方返回 500"',
        'note = "超时自动处理 / decided on timeout"',
        'x = f"colour must be #rgb; got " f"{c!r} / 选项 {v!r} 的颜色须为 #rgb"',
    ]
    passed = [
        'title = Text("To approve: {form} #{record_id}", form=label, record_id=id)',
        'path = "广东省 / 深圳市"',
        'ratio = "TCP / UDP"',
        'footer = "第 1 页 / 共 2 页 at the bottom right"',
        'def f():\n    """An ``"English / 中文"`` message, as it was stored before."""',
    ]
    assert all(joined_strings(line) for line in refused)
    assert not any(joined_strings(line) for line in passed)
