"""A sequence whose length is known at once and whose items are found only when first read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar, overload

T = TypeVar("T")


class ReadWhenAsked(Sequence[T]):
    """Items that cost something to find (ids read back from the database, writes made from a
    batch) and that a caller often never reads: a subclass says how many there are
    (``__len__``) and finds them all at once (``_items``, kept by the subclass if it must be
    found once)."""

    def _items(self) -> Sequence[T]:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self._items()[index]

    def __iter__(self) -> Iterator[T]:
        return iter(self._items())
