"""No English sentence reaches a user without being marked for the catalog.

The catalog test (``tests/unit/web/test_catalogs.py``) checks the messages that are marked —
``_()``, ``N_()``, ``Text()`` — have zh-CN text; a sentence written as a bare literal is never
extracted, so it would reach a Chinese reader in English and no test would notice. This scan
reads meridian/ as syntax trees and refuses a bare sentence (a string literal, an f-string,
``"…".format()``, ``"…" % x`` or a concatenation of them) where a user reads it:

- the message of ``ErrorCollector.add(field, code, message)`` and of ``FieldError(…)``;
- the detail of every error class whose problem a user reads (every subclass of
  ``MeridianError``, ``InvalidValue``, ``RefusedJSON``, a write guard's ``Refusal``, the
  framework's ``HTTPException``…), found by walking the class hierarchy of meridian/;
- the title and detail of ``problem_response(…)`` and a ``"message"``/``"detail"``/``"title"``
  entry of a problem's ``errors``.

A value that is not a literal (a variable, a ``Text``, a call) passes: the scan is about what
is written in the source, where a translator's tool would look.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "meridian"

ROOT_ERRORS = frozenset(
    {
        "MeridianError",
        "InvalidValue",
        "RefusedJSON",
        "HTTPException",
        "StarletteHTTPException",
        "FieldError",
        "Refusal",
        "FormulaError",
        "NoWorkTime",
    }
)
"""Classes whose words a user reads; their subclasses in meridian/ are found by the scan."""

OPERATOR_ERRORS: dict[str, str] = {
    "AuditKeyProblem": "said to the operator starting a process (the CLI speaks English)",
    "BadAnchorFile": "said to the operator by 'meridian audit verify' (the CLI speaks English)",
}
"""Error classes a user of the pages and the API never reads, each with the reason."""

MESSAGE_KEYWORDS = frozenset({"message", "detail", "title", "reason"})
"""Keyword arguments that carry the words of an error."""

MESSAGE_POSITIONS: dict[str, tuple[int, ...]] = {
    "InvalidValue": (1,),
    "RefusedJSON": (2,),
    "FieldError": (2,),
    "Refusal": (5,),
    "HTTPException": (1,),
    "StarletteHTTPException": (1,),
}
"""Positional arguments holding the words, by class; other error classes take them first."""

EXCEPTIONS: dict[str, str] = {
    "meridian/db/migrations/": "a migration is frozen history and says nothing to a user",
    "meridian/access/throttle.py": "its Refusal is a login counter (scope, until), no words",
}
"""Files (or folders) the scan skips, each with the reason."""

COVERED = (
    "flows",
    "reports",
    "dataio",
    "documents",
    "rules",
    "records",
    "api",
    "web",
)
"""Folders of meridian/ the scan must reach (held by a test, so a move cannot hide one)."""


@dataclass(frozen=True)
class Hit:
    path: str
    line: int
    call: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.call}(… {self.text!r} …)"


def _sentence(text: str) -> bool:
    """English words a reader would read: two words or more (a code such as ``invalid_json``
    or a path such as ``items.0`` is not a sentence)."""
    return len(re.findall(r"[A-Za-z]{2,}", text)) >= 2 and " " in text.strip()


def bare_sentence(node: ast.AST) -> str | None:
    """The English of ``node`` if it is written as a bare literal sentence, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if _sentence(node.value) else None
    if isinstance(node, ast.JoinedStr):
        parts = "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
        return parts if _sentence(parts.replace("{}", " x ")) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return bare_sentence(node.left) or (
            bare_sentence(node.right) if isinstance(node.op, ast.Add) else None
        )
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        return bare_sentence(node.func.value)
    if isinstance(node, ast.IfExp):
        return bare_sentence(node.body) or bare_sentence(node.orelse)
    return None


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _files() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if any(relative.startswith(prefix) for prefix in EXCEPTIONS):
            continue
        yield relative, ast.parse(path.read_text(encoding="utf-8"), filename=relative)


def error_classes(
    trees: list[tuple[str, ast.Module]], seeds: frozenset[str] = ROOT_ERRORS
) -> set[str]:
    """The names of every class in ``trees`` that derives from one of :data:`ROOT_ERRORS`."""
    bases: dict[str, set[str]] = {}
    for _, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(_base_name(b) for b in node.bases)
    found = set(seeds)
    grew = True
    while grew:
        grew = False
        for name, parents in bases.items():
            if name not in found and parents & found:
                found.add(name)
                grew = True
    return found - set(OPERATOR_ERRORS)


def _call_hits(node: ast.Call, errors: set[str]) -> Iterator[tuple[str, ast.AST]]:
    name = _base_name(node.func)
    if name == "add" and isinstance(node.func, ast.Attribute) and len(node.args) >= 3:
        yield "ErrorCollector.add", node.args[2]
    elif name in errors:
        positions = MESSAGE_POSITIONS.get(name, (0,))
        for position in positions:
            if position < len(node.args):
                yield name, node.args[position]
    elif name == "problem_response":
        yield from ((name, arg) for arg in node.args[2:4])
    if name in errors or name in ("add", "problem_response", "Refusal"):
        for keyword in node.keywords:
            if keyword.arg in MESSAGE_KEYWORDS:
                yield name, keyword.value


def _dict_hits(node: ast.Dict) -> Iterator[tuple[str, ast.AST]]:
    keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
    if "field" in keys or "code" in keys:
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value in ("message", "detail", "title"):
                yield "problem entry", value


def scan(trees: list[tuple[str, ast.Module]], known: set[str] | None = None) -> list[Hit]:
    """Every bare sentence in ``trees``; error classes are those of ``trees`` and ``known``."""
    errors = error_classes(trees, ROOT_ERRORS | frozenset(known or ()))
    hits = []
    for relative, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                found = _call_hits(node, errors)
            elif isinstance(node, ast.Dict):
                found = _dict_hits(node)
            else:
                continue
            for call, argument in found:
                text = bare_sentence(argument)
                if text is not None:
                    hits.append(Hit(relative, argument.lineno, call, text))
    return hits


def test_no_user_visible_sentence_is_left_unmarked() -> None:
    hits = scan(_trees())
    assert not hits, "mark these for translation (Text/_/N_ and the catalogs):\n" + "\n".join(
        map(str, hits)
    )


def test_the_scan_reaches_every_engine() -> None:
    scanned = {relative for relative, _ in _trees()}
    for folder in COVERED:
        assert any(path.startswith(f"meridian/{folder}/") for path in scanned), folder


@functools.cache
def _trees() -> list[tuple[str, ast.Module]]:
    return list(_files())


def _hits_in(source: str) -> list[Hit]:
    return scan([("example.py", ast.parse(source))], known=error_classes(_trees()))


def test_the_scan_catches_each_way_of_writing_a_bare_sentence() -> None:
    """Each pattern it must refuse, and the marked forms it must let through (so the scan
    above could fail, and does not refuse the right way to write a message)."""
    refused = [
        'errors.add("name", "required", "a name is required")',
        'errors.add("name", "required", f"{value!r} is not a name")',
        'errors.add(key, "too_long", "at most %d characters" % n)',
        'errors.add(key, "x", message="the value is not allowed")',
        'raise NotFound(f"no form {key}")',
        'raise Conflict("someone saved " + "first")',
        'raise ValidationFailed([], detail="nothing to save here")',
        'raise InvalidValue("invalid_phone", "not a phone number")',
        'raise RefusedJSON("", "too_deep", "JSON nests too deep")',
        'FieldError("a", "b", "the message here")',
        'raise HTTPException(404, "no such page")',
        'problem_response(400, "bad", "Bad request", "the body is wrong")',
        '{"field": "a", "code": "b", "message": "that is not right"}',
        "class Refused(PermissionDenied):\n    pass\nraise Refused('you may not do this')",
        'raise NotFound("no form {key}".format(key=key))',
    ]
    for source in refused:
        assert _hits_in(source), source
    allowed = [
        'errors.add("name", "required", Text("a name is required"))',
        'errors.add("name", "required", _("a name is required"))',
        'errors.add(key, "x", message)',
        'raise NotFound(Text("no form {key}", key=key))',
        'raise InvalidValue("invalid_phone", Text("not a phone number"))',
        'seen.add("two words")',
        'raise KeyError("not a user error")',
        'errors.add("name", "required", "items.0")',
    ]
    for source in allowed:
        assert not _hits_in(source), source
