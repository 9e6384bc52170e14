"""Which id lists ``one_of`` may test as a range: at least ``RUN`` integers, each one more than
the last — a reserved batch's ids — and nothing that merely compares equal to them."""

from __future__ import annotations

from meridian.db.sets import RUN, consecutive


def test_a_run_of_reserved_ids_is_consecutive() -> None:
    assert consecutive(list(range(41, 41 + RUN)))
    assert consecutive(range(7, 1007))
    assert consecutive(tuple(range(1, 1001)))


def test_anything_else_is_not() -> None:
    ids = list(range(1, 1001))
    assert not consecutive(ids[: RUN - 1])  # too short to be worth a range
    assert not consecutive([*ids[:500], *ids[501:], 1001])  # a gap, the same ends
    assert not consecutive(ids[::-1])
    assert not consecutive(range(1, 2001, 2))
    swapped = [*ids]
    swapped[10], swapped[11] = swapped[11], swapped[10]
    assert not consecutive(swapped)
    assert not consecutive([True, *range(2, 2 + RUN)])  # equal to 1, not an id
    assert not consecutive([1, 2.0, *range(3, 3 + RUN)])
    assert not consecutive(["1", *range(2, 2 + RUN)])
