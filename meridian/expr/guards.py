"""Guards: a conjunct of a condition that pins one field to one value.

``stage = "won" and amount > 100000`` cannot be true while ``stage`` holds anything but
"won". Many conditions over one form share such a conjunct, so a caller that checks many of
them against the same record (a save checks every rule of its form) can test each distinct
guard once and skip every condition behind a guard that fails.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass

from meridian.expr.compiled import CompiledExpression
from meridian.expr.evaluate import Closure, compile_python
from meridian.expr.nodes import Comparison, FieldValue, Literal, Logic, Node


@dataclass(frozen=True)
class Guard:
    """``field = value`` at the top of a condition's ``and`` chain.

    :ivar key: what identifies the guard among others (field and value).
    :ivar check: evaluates the conjunct itself, with the language's own semantics; the
        condition can be true only where this is True.
    """

    key: tuple[str, Hashable]
    check: Closure


def guard_of(condition: CompiledExpression) -> Guard | None:
    """The first ``field = literal`` conjunct of ``condition``, or None."""
    for node in _conjuncts(condition.tree):
        if not (isinstance(node, Comparison) and node.op == "=="):
            continue
        sides = (node.left, node.right)
        field = next((s for s in sides if isinstance(s, FieldValue)), None)
        literal = next((s for s in sides if isinstance(s, Literal)), None)
        if field is None or literal is None or not isinstance(literal.value, Hashable):
            continue
        return Guard((field.info.key, literal.value), compile_python(node))
    return None


def _conjuncts(node: Node) -> Iterator[Node]:
    if isinstance(node, Logic) and node.op == "and":
        yield from _conjuncts(node.left)
        yield from _conjuncts(node.right)
    else:
        yield node
