"""No code outside ``meridian/schema/fieldtypes/`` decides by a built-in field type's name.

A field type carries its behaviour (its widget, its filter operators, its expression type, how
pages show it …), so a plugin's type works on every surface. A comparison such as
``field.type == "money"``, ``f.type in ("date", "datetime")`` or a table keyed by type names
would quietly give a plugin's type a worse path; this scan refuses one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from meridian.schema.model import FIELD_TYPES

ROOT = Path(__file__).resolve().parents[2] / "meridian"
BUILTIN = frozenset(FIELD_TYPES)

REPORT_KINDS = "compares a report term's kind (FieldType.report_kind): the report's vocabulary"

EXCEPTIONS: dict[str, str] = {
    "meridian/db/migrations/": "a migration is frozen history: it reads stored definitions "
    "as they were, without today's code",
    "meridian/solutions/": "solution packages are data: their form definitions name the "
    "types their fields have",
    "meridian/web/pages/designer.py": "the designer's palette lists each built-in type with "
    "its label, as data",
    "meridian/reports/compiler.py": REPORT_KINDS,
    "meridian/web/static/reports.js": REPORT_KINDS,
    "meridian/reports/results.py": REPORT_KINDS,
    "meridian/reports/buckets.py": REPORT_KINDS,
    "meridian/reports/drill.py": REPORT_KINDS,
    "meridian/reports/filters.py": REPORT_KINDS,
    "meridian/reports/related.py": REPORT_KINDS,
    "meridian/reports/palette.py": REPORT_KINDS,
    "meridian/reports/model.py": "a report's bucket kinds (date, owner, department, region)",
}
"""Whole files (or folders) the scan skips, each with the reason."""

SNIPPET_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("meridian/schema/model.py", "('text', 'long_text', 'integer'"): "FieldTypeName declares "
    "the built-in names",
    ("meridian/schema/model.py", "('number', 'text', 'boolean'"): "a formula's result types, "
    "which read like type names",
    ("meridian/web/display.py", "'name': _name"): "the names are FieldType.presentation "
    "values (how a value is rendered), some of which read like type names",
    ("meridian/integrations/messaging.py", "'tag': 'button'"): "a chat robot's message format",
    ("meridian/web/pages/record.py", "('user', 'department')"): "who a record is shared with",
    ("meridian/reports/terms.py", "frozenset({'number', 'date', 'datetime'})"): "report term "
    "kinds that have an order (FieldType.report_kind)",
    ("meridian/flows/approvals/assignees.py", "kind == 'user'"): "an approver named as users",
    ("meridian/flows/approvals/definitions.py", "kind == 'user'"): "an approver named as users",
    ("meridian/web/templates/approval_designer_body.html", 'spec.type == "user"'): "an "
    "approver named as users",
    ("meridian/web/approval_node_form.py", "kind == 'user'"): "an approver named as users",
    ("meridian/web/hook_form.py", "kind == 'user'"): "an inbound hook's owner given as a user",
}
"""One reported line each (path, a piece of it), with the reason."""


def _exempt(relative: str) -> bool:
    return any(relative.startswith(prefix) for prefix in EXCEPTIONS)


def _names_in(node: ast.AST) -> set[str]:
    """Built-in type names written as string constants directly in ``node`` (a constant, or a
    tuple, list, set or ``frozenset(...)`` of constants)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value} & BUILTIN
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("frozenset", "set"):
        return set().union(*(_names_in(arg) for arg in node.args)) if node.args else set()
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        found: set[str] = set()
        for element in node.elts:
            if isinstance(element, ast.Constant) and isinstance(element.value, str):
                found |= {element.value} & BUILTIN
        return found
    return set()


def _mentions_type(node: ast.AST) -> bool:
    text = ast.unparse(node)
    return bool(re.search(r"\btype\b|\.type\b|_type\b|\bkind\b", text))


def python_switches(path: Path) -> list[str]:
    """Comparisons of something named like a type with built-in names, and collections or
    dictionaries holding two or more built-in names (a lookup table by type)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = set().union(*(_names_in(side) for side in sides))
            if named and any(_mentions_type(side) for side in sides if not _names_in(side)):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)} & BUILTIN
            if len(keys) >= 2:
                found.append(f"{node.lineno}: {ast.unparse(node)[:100]}")
        elif isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Call):
            if len(_names_in(node)) >= 2:
                found.append(f"{node.lineno}: {ast.unparse(node)[:100]}")
    by_line: dict[int, str] = {}
    for entry in found:  # one report a line: the outermost node on it, found first
        by_line.setdefault(int(entry.split(":")[0]), entry)
    return [by_line[line] for line in sorted(by_line)]


_QUOTED = "|".join(sorted(BUILTIN, key=len, reverse=True))
_NAME = rf"""["']({_QUOTED})["']"""
_TEMPLATE_SWITCH = re.compile(
    # field.type == "x", t == 'x', f.type === "x", selected.type !== 'x'
    rf"""(\.type|\btype|\bt|\bkind)\s*(==|!=)=?\s*{_NAME}"""
    # .type in ("x", …), [...].includes(f.type), selectattr("type", …)
    rf"""|\.type\s+(not\s+)?in\s*[\(\[]\s*{_NAME}"""
    rf"""|\[\s*{_NAME}[^\]]*\]\s*\.includes\(\s*[\w.]*type\s*\)"""
    r"""|selectattr\(\s*["']type["']"""
    # a list or a table of two or more built-in names: ["integer", "decimal"], {"date": …}
    rf"""|{_NAME}\s*,\s*{_NAME}|{_NAME}\s*:\s*[^,{{}}]+,\s*{_NAME}\s*:"""
)


def template_switches(path: Path) -> list[str]:
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if _TEMPLATE_SWITCH.search(line):
            found.append(f"{number}: {line.strip()[:120]}")
    return found


def all_switches() -> dict[str, list[str]]:
    result = {}
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT.parent).as_posix()
        if relative.startswith("meridian/schema/fieldtypes/") or _exempt(relative):
            continue
        if "/vendor/" in relative:
            continue
        if path.suffix == ".py":
            found = python_switches(path)
        elif path.suffix in (".html", ".js"):
            found = template_switches(path)
        else:
            continue
        found = [
            line
            for line in dict.fromkeys(found)
            if not any(
                path_ == relative and snippet in line for path_, snippet in SNIPPET_EXCEPTIONS
            )
        ]
        if found:
            result[relative] = found
    return result


def test_no_code_outside_the_field_types_switches_on_a_builtin_type_name() -> None:
    switches = all_switches()
    assert switches == {}, "ask the field type instead:\n" + "\n".join(
        f"{path}:{line}" for path, lines in switches.items() for line in lines
    )


def test_the_scan_finds_a_switch_on_a_type_name(tmp_path: Path) -> None:
    code = tmp_path / "sample.py"
    code.write_text(
        'def f(field):\n    if field.type == "money":\n        return 1\n'
        '    return field.type in ("date", "datetime")\n'
        'NUMERIC = frozenset({"integer", "decimal"})\n'
        'FORMAT = {"money": " | money", "date": " | cn_date"}\n'
    )
    assert len(python_switches(code)) == 4
    page = tmp_path / "page.html"
    page.write_text(
        "{% if t == \"long_text\" %}\n<div x-show=\"['select','multi_select'].includes(f.type)\">\n"
        '{{ fields|selectattr("type", "equalto", "select") }}\n'
        'const NUMERIC = ["integer", "decimal"];\n'
        '<input type="text">\n{% if w == "textarea" %}\n'
    )
    assert [line.split(":")[0] for line in template_switches(page)] == ["1", "2", "3", "4"]
