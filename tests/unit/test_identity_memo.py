"""What is worked out from an object is made once for that very object, never for another
object that equals it or took its place."""

from __future__ import annotations

from meridian.core.identity import ByIdentity


def test_made_once_per_object_and_again_for_an_equal_copy() -> None:
    made: list[list[int]] = []

    def total(values: list[int]) -> int:
        made.append(values)
        return sum(values)

    memo: ByIdentity[list[int], int] = ByIdentity(total)
    first, copy = [1, 2], [1, 2]
    assert memo(first) == 3 and memo(first) == 3
    assert memo(copy) == 3
    assert made == [first, copy] and made[0] is first and made[1] is copy


def test_a_full_memo_forgets_and_makes_again() -> None:
    memo: ByIdentity[tuple[int, ...], int] = ByIdentity(len, limit=2)
    kept = [(i,) * i for i in range(5)]
    assert [memo(item) for item in kept] == [0, 1, 2, 3, 4]
    assert [memo(item) for item in kept] == [0, 1, 2, 3, 4]
