"""Cells that name something else: a linked record by one of its fields, a user by name or
email, an option by its label or a synonym — turned into the ids and values the write path takes.

A file says 腾讯科技（深圳）有限公司 where the contact's customer link wants a record id, and 张伟
where the owner wants a user id. The import's mapping chooses, per link column, the target field
to look the record up by (``name``, ``uscc``, any unique field, or ``id``). Lookups are
set-based: every cell of a batch that names a record of one form is looked up by one query (in
chunks of at most :data:`CHUNK` values), limited to the records the importing actor may read.
The target's title (a company name) is matched by :func:`~meridian.dataio.cleansing.company_key`, so
有限责任公司 / 有限公司, full-width brackets and spaces do not matter; the query asks for the
spellings that differ only in those ways and keeps the rows whose key is the cell's key.

Users are few; they are read once per run and matched by display name, by e-mail or by the
e-mail's part before the ``@`` (the user name people type). A cell that matches nothing, or more
than one record or user, rejects its row with the field, the reason and the value.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.permissions import form_access
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.dataio.cleansing import clean_text, company_key, to_half_width
from meridian.dataio.converting import CellReport, convert_cell
from meridian.db.sets import one_of
from meridian.db.tables import users
from meridian.records.plan import plan_for
from meridian.schema.catalog import get_form
from meridian.schema.fieldtypes import ValueContext, field_type
from meridian.schema.fieldtypes.base import CELL_SEPARATOR, split_cell
from meridian.schema.model import Field, Form

CHUNK = 900
"""Values per IN list (SQLite allows 999 parameters in old builds)."""
OWNER = "owner_id"
"""The record's owner: not a field of the form, yet a column a file often fills (负责人)."""
BY_ID = "id"


@dataclass(frozen=True)
class Reference:
    """A cell to look up: the field it fills, the names it holds (one, or several for a
    many-link) and the cell as the file held it."""

    field: str
    names: tuple[str, ...]
    cell: Any


@dataclass(frozen=True)
class Resolved:
    """A reference looked up: the value for the write path (an id, or a list for a
    many-link) or the cell's refusal."""

    value: Any = None
    refusal: CellReport | None = None


def reference_of(field_key: str, many: bool, cell: Any) -> Reference | CellReport | None:
    """A cell as a reference to look up; None when blank. The names are tidied as any text
    cell (half-width, trimmed); a number cell (an id, a code) is read as its digits."""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    outcome = clean_text(cell if isinstance(cell, str) else None if cell is None else str(cell))
    if outcome.value is None:
        return None
    names = tuple(split_cell(outcome.value)) if many else (outcome.value,)
    return Reference(field_key, names, cell) if names else None


class Resolver:
    """Looks up the references of a batch, for one form and the mapping's key choices.

    :param keys: per link field, the target field its cells name (``id`` for record ids);
        a link field not given is looked up by its target form's title field, else by id.
    """

    def __init__(
        self,
        conn: Connection,
        actor: Actor,
        form: Form,
        keys: Mapping[str, str],
        tz: ZoneInfo,
    ) -> None:
        self.actor = actor
        self.ctx = ValueContext(tz)
        self.tz = tz
        self.links: dict[str, _LinkLookup] = {}
        for field in form.active_fields:
            if field_type(field).links_records and field.target:
                target = get_form(conn, field.target)
                key = keys.get(field.key) or target.title_field or BY_ID
                self.links[field.key] = _LinkLookup(field, target, key)
        self.user_fields = {f.key for f in form.active_fields if field_type(f).references_users} | {
            OWNER
        }
        self._users: _Users | None = None

    def looks_up(self, field_key: str) -> bool:
        """Whether cells of this field are names to look up (not values to parse)."""
        return field_key in self.user_fields or field_key in self.links

    def many(self, field_key: str) -> bool:
        link = self.links.get(field_key)
        return link is not None and link.field.many

    def resolve(self, conn: Connection, references: Sequence[Reference]) -> list[Resolved]:
        """Each reference's id(s) or refusal, in order: one query per linked form."""
        results: list[Resolved | None] = [None] * len(references)
        by_field: dict[str, list[int]] = defaultdict(list)
        for position, reference in enumerate(references):
            by_field[reference.field].append(position)
        for key, positions in by_field.items():
            chosen = [references[p] for p in positions]
            if key in self.links:
                found = self.links[key].resolve(conn, self.actor, self.ctx, self.tz, chosen)
            else:
                found = self._people(conn).resolve(chosen)
            for position, resolved in zip(positions, found, strict=True):
                results[position] = resolved
        return [r if r is not None else Resolved() for r in results]

    def _people(self, conn: Connection) -> _Users:
        if self._users is None:
            self._users = _Users(conn)
        return self._users


class _LinkLookup:
    """Records of one target form looked up by one of its fields."""

    def __init__(self, field: Field, target: Form, key: str) -> None:
        self.field = field
        self.target = target
        self.key = key
        self.key_field = None if key == BY_ID else target.get_field(key)
        # The title (a company's or a person's name) is matched as names are spelled; any
        # other key (统一社会信用代码, a code) exactly, as its field type reads it.
        self.by_company = self.key_field is not None and key == target.title_field

    def resolve(
        self,
        conn: Connection,
        actor: Actor,
        ctx: ValueContext,
        tz: ZoneInfo,
        references: Sequence[Reference],
    ) -> list[Resolved]:
        wanted: dict[str, Any] = {}  # a name → what it is looked up by
        refused: dict[str, CellReport] = {}
        for reference in references:
            for name in reference.names:
                if name in wanted or name in refused:
                    continue
                looked = self._lookup_value(name, reference, ctx)
                if isinstance(looked, CellReport):
                    refused[name] = looked
                else:
                    wanted[name] = looked
        found = self._query(conn, actor, tz, wanted)
        results = []
        for reference in references:
            ids: list[int] = []
            refusal = None
            for name in reference.names:
                if name in refused:
                    refusal = refused[name]
                    break
                matches = found.get(self._match_key(wanted[name]), [])
                if len(matches) != 1:
                    refusal = self._refusal(reference, name, matches)
                    break
                ids.append(matches[0])
            if refusal is not None:
                results.append(Resolved(refusal=refusal))
            else:
                results.append(Resolved(value=ids if self.field.many else ids[0]))
        return results

    def _lookup_value(self, name: str, reference: Reference, ctx: ValueContext) -> Any:
        """What ``name`` is compared with: an id, the key field's stored value, or for a
        text key the company key (case, width, brackets and 有限公司 alike)."""
        if self.key_field is None:
            if name.isdecimal() and len(name) <= 18:
                return int(name)
            return CellReport(
                self.field.key,
                reference.cell,
                refusal="invalid_reference",
                reason=Text("expected a record id, got {value!r}", value=name),
            )
        if self.by_company:
            return name
        report = convert_cell(self.key_field, name, ctx)
        if report.refusal is not None:
            return CellReport(
                self.field.key, reference.cell, None, (), report.refusal, report.reason
            )
        kind = field_type(self.key_field)
        return kind.parse(self.key_field, report.value, ctx)

    def _match_key(self, looked: Any) -> Any:
        return company_key(looked) if self.by_company else looked

    def _query(
        self, conn: Connection, actor: Actor, tz: ZoneInfo, wanted: Mapping[str, Any]
    ) -> dict[Any, list[int]]:
        """Matching key → ids of the readable live records, one query (per chunk)."""
        if not wanted:
            return {}
        table = plan_for(self.target).tables.main
        column = table.c.id if self.key_field is None else table.c[self.key]
        candidates: set[Any] = set()
        for looked in wanted.values():
            candidates.update(_spellings(looked) if self.by_company else (looked,))
        readable = form_access(conn, actor, self.target).rows(conn, table, "read", tz)
        found: dict[Any, list[int]] = defaultdict(list)
        values = sorted(candidates, key=str)
        for start in range(0, len(values), CHUNK):
            query = sa.select(table.c.id, column).where(
                one_of(conn, column, values[start : start + CHUNK]), table.c.deleted_at.is_(None)
            )
            if readable is not None:
                query = query.where(readable)
            for record_id, value in conn.execute(query):
                ids = found[self._match_key(value)]
                if record_id not in ids:
                    ids.append(record_id)
        return found

    def _refusal(self, reference: Reference, name: str, matches: Sequence[int]) -> CellReport:
        label = self.target.label
        if not matches:
            reason = Text(
                "no {form} has {key} {value!r}", form=label, key=self._key_label, value=name
            )
            return CellReport(self.field.key, reference.cell, None, (), "not_found", reason)
        reason = Text(
            "{count} records of {form} have {key} {value!r} (records {ids}); choose a unique key",
            count=len(matches),
            form=label,
            key=self._key_label,
            value=name,
            ids=", ".join(str(i) for i in sorted(matches)[:5]),
        )
        return CellReport(self.field.key, reference.cell, None, (), "ambiguous", reason)

    @property
    def _key_label(self) -> str:
        return self.key_field.label if self.key_field is not None else "id"


_SUFFIX_FORMS = ("有限公司", "有限责任公司")


def _spellings(name: str) -> set[str]:
    """The spellings of a company name that share its key and differ only in width, brackets,
    spaces and 有限公司 / 有限责任公司 — what the stored names may be, so an IN list can find
    them by the index. (A stored name with other spacing or letter case is missed by the
    query; the keys compared afterwards decide what matches.)"""
    base = to_half_width(name).value.replace(" ", "").replace("\u3000", "")
    forms = {name, name.strip(), base}
    for suffix_from, suffix_to in itertools.permutations(_SUFFIX_FORMS, 2):
        if base.endswith(suffix_from) and not base.endswith("股份" + suffix_from):
            forms.add(base[: -len(suffix_from)] + suffix_to)
    for spelled in list(forms):
        full = spelled.replace("(", "（").replace(")", "）")
        forms.update({full, spelled.replace("（", "(").replace("）", ")")})
        forms.add(spelled.replace("(", " (").replace(")", ") ").strip())
    return forms


class _Users:
    """Every user, read once per run, by display name, e-mail and the e-mail's local part."""

    def __init__(self, conn: Connection) -> None:
        self.by_name: dict[str, list[tuple[int, bool]]] = defaultdict(list)
        self.by_email: dict[str, tuple[int, bool]] = {}
        self.by_login: dict[str, list[tuple[int, bool]]] = defaultdict(list)
        query = sa.select(users.c.id, users.c.name, users.c.email, users.c.is_active)
        for user_id, name, email, active in conn.execute(query):
            entry = (user_id, bool(active))
            self.by_name[_folded(name)].append(entry)
            self.by_email[email.lower()] = entry
            self.by_login[email.lower().partition("@")[0]].append(entry)

    def resolve(self, references: Sequence[Reference]) -> list[Resolved]:
        results = []
        for reference in references:
            name = reference.names[0]
            folded = _folded(name)
            if "@" in name:
                email = self.by_email.get(name.lower())
                matches = [email] if email else []
            else:
                matches = self.by_name.get(folded) or self.by_login.get(name.lower(), [])
            results.append(self._one(reference, name, matches))
        return results

    @staticmethod
    def _one(reference: Reference, name: str, matches: Sequence[tuple[int, bool]]) -> Resolved:
        field = reference.field
        if len(matches) == 1 and matches[0][1]:
            return Resolved(value=matches[0][0])
        if not matches:
            code, reason = "unknown_user", Text("no user is named {value!r}", value=name)
        elif len(matches) > 1:
            code = "ambiguous"
            reason = Text(
                "{count} users are named {value!r}; give the e-mail", count=len(matches), value=name
            )
        else:
            code, reason = "inactive_user", Text("user {value!r} is deactivated", value=name)
        return Resolved(refusal=CellReport(field, reference.cell, None, (), code, reason))


def _folded(text: str) -> str:
    half: str = to_half_width(text).value
    return half.replace(" ", "").casefold()


class OptionMatcher:
    """A select cell's text → the option's value, by the option's value, its label or a
    synonym the mapping gives (``{"互联网行业": "internet"}``), compared without case, width or
    spaces. Text matching nothing is passed on unchanged, for the field type to refuse with
    the list of options."""

    def __init__(self, field: Field, synonyms: Mapping[str, str] | None = None) -> None:
        self.many = field_type(field).list_valued
        self.table: dict[str, str] = {}
        by_label = {_folded(o.label): o.value for o in field.options}
        for option in field.options:
            self.table[_folded(option.value)] = option.value
            self.table[_folded(option.label)] = option.value
        for synonym, meant in (synonyms or {}).items():
            value = self.table.get(_folded(meant), by_label.get(_folded(meant)))
            if value is not None:
                self.table[_folded(synonym)] = value

    def __call__(self, cell: Any) -> Any:
        if not isinstance(cell, str):
            return cell
        if self.many:
            return CELL_SEPARATOR.join(self.table.get(_folded(p), p) for p in split_cell(cell))
        return self.table.get(_folded(cell), cell)
