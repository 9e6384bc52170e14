"""Values worked out from an immutable object, found again by the object's identity.

A per-process cache hands out one form object per revision, and a write asks for what is
derived from it (its plan, its parser's shape) a dozen times: hashing and comparing a form by
value walks every field of it each time, while its ``id`` is one lookup. An entry holds the
object itself, so the id cannot be reused by another object while the entry lives; nothing is
ever kept *on* the object (pydantic's ``model_copy`` would carry it into copies with other
fields).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")


class ByIdentity(Generic[Key, Value]):
    """``make(obj)`` for each object, made once while at most ``limit`` objects are kept
    (then forgotten all at once: the objects a process uses are few)."""

    def __init__(self, make: Callable[[Key], Value], limit: int = 512) -> None:
        self._make = make
        self._limit = limit
        self._kept: dict[int, tuple[Key, Value]] = {}

    def __call__(self, obj: Key) -> Value:
        kept = self._kept.get(id(obj))
        if kept is not None and kept[0] is obj:
            return kept[1]
        value = self._make(obj)
        if len(self._kept) >= self._limit:
            self._kept.clear()
        self._kept[id(obj)] = (obj, value)
        return value
