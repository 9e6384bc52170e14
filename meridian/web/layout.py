"""A form's fields as record pages lay them out: the designer's sections, then the rest."""

from __future__ import annotations

from dataclasses import dataclass

from meridian.schema.model import Field, Form


@dataclass(frozen=True)
class PlacedSection:
    title: str
    columns: int
    fields: tuple[Field, ...]


def sections_of(form: Form) -> list[PlacedSection]:
    """Only the fields of ``form`` (the viewer's visible form), so a hidden field has no place."""
    live = {f.key: f for f in form.active_fields}
    placed: set[str] = set()
    result = []
    for section in form.sections:
        fields = tuple(live[key] for key in section.fields if key in live)
        placed.update(f.key for f in fields)
        if fields:
            result.append(PlacedSection(section.title, section.columns, fields))
    rest = tuple(f for f in form.active_fields if f.key not in placed)
    if rest:
        result.append(PlacedSection("", 2, rest))
    return result
