"""An export column's memory of cells (issue 19): kept while its stored values repeat, dropped
for the bare step once it is full and three in four values were new."""

from __future__ import annotations

from datetime import date

from meridian.dataio import export
from meridian.dataio.export import REMEMBERED_CELLS, _Remembering


def test_a_repeating_column_keeps_remembering_and_a_unique_one_gives_up() -> None:
    asked: list[object] = []

    def step(value: object) -> str:
        asked.append(value)
        return f"<{value}>"

    repeating, unique = _Remembering(step), _Remembering(step)
    rows = 2 * REMEMBERED_CELLS
    for n in range(rows):
        assert (
            repeating.step_after(n)(date(2026, 1, 1 + n % 28)) == f"<{date(2026, 1, 1 + n % 28)}>"
        )
        assert unique.step_after(n)(n) == f"<{n}>"
    assert repeating.step_after(rows) == repeating.cell
    assert unique.step_after(rows) == step
    # Each distinct date was formatted once; each unique value once as well, never twice.
    assert len(asked) == 28 + rows
    assert len(unique.cells) == export.REMEMBERED_CELLS
