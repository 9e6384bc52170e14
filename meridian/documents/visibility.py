"""Who may see a generated document: a reader who sees at least what its generator saw.

A document is the record as its generator read it, frozen into a file. Reading the record
is not enough to be shown that file: a field hidden from the reader (a floor price, a
margin) may be printed in it. So each document keeps, per form its template could read (the
record's form and the forms its visible links reach), the field keys hidden from its
generator then; a reader sees the document only when, on each of those forms, every field
hidden from them was hidden from the generator too. Documents kept from before (no keys
stored) count as made by someone who saw everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.schema.catalog import find_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Form

Hidden = dict[str, list[str]]
"""Field keys hidden from a document's generator, by form key."""


def hidden_from(conn: Connection, *, actor: Actor, form: Form) -> Hidden:
    """What ``actor`` cannot see of ``form`` and of the forms its visible links reach —
    everything a template reading the record as ``actor`` could not print."""
    access = form_access(conn, actor, form)
    hidden: Hidden = {form.key: sorted(access.hidden)}
    for f in access.visible.active_fields:
        if not field_type(f).links_records or not f.target or f.target in hidden:
            continue
        target = find_form(conn, f.target)
        if target is not None:
            hidden[f.target] = sorted(form_access(conn, actor, target).hidden)
    return hidden


class Sight:
    """One reader's hidden fields, looked up once per form, against documents' generators."""

    def __init__(self, conn: Connection, *, actor: Actor) -> None:
        self._conn = conn
        self._actor = actor
        self._hidden: dict[str, frozenset[str] | None] = {}

    def sees(self, generated: Mapping[str, Any] | None) -> bool:
        """Whether the reader sees everything the generator of a document saw."""
        if generated is None:
            return True
        return all(
            (mine := self._hidden_on(form_key)) is not None and mine <= set(keys)
            for form_key, keys in generated.items()
        )

    def sees_all(self, generated: Iterable[Mapping[str, Any] | None]) -> bool:
        return all(self.sees(one) for one in generated)

    def _hidden_on(self, form_key: str) -> frozenset[str] | None:
        """The reader's hidden fields on the form; None for a form gone since (nothing of it
        is readable now, so only an administrator signed in sees it)."""
        if form_key not in self._hidden:
            form = find_form(self._conn, form_key)
            if form is None:
                unrestricted = self._actor.is_admin and self._actor.token is None
                self._hidden[form_key] = frozenset() if unrestricted else None
            else:
                self._hidden[form_key] = form_access(self._conn, self._actor, form).hidden
        return self._hidden[form_key]
