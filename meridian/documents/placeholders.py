"""The placeholders a template editor offers, picked from a list rather than typed: every
field of the form (with the formatter its type wants), the fields of each linked record, a
child table as a whole table with its loop, the document's number and date, the seal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form


@dataclass(frozen=True)
class Placeholder:
    """One entry of the editor's list: ``snippet`` is inserted at the cursor."""

    group: str
    label: str
    snippet: str


def placeholders(form: Form, target_of: Callable[[str], Form | None]) -> list[Placeholder]:
    """The form's placeholders; ``target_of`` gives a link's target form (None: unreadable)."""
    found = [
        Placeholder("document", "文件编号 / Number", "{{ document.number }}"),
        Placeholder("document", "生成日期 / Date", "{{ document.date | cn_date }}"),
        Placeholder("document", "版本 / Version", "{{ document.version }}"),
        Placeholder("document", "公司印章 / Seal", "{{ seal() }}"),
        Placeholder("document", "公司标志 / Logo", "{{ logo() }}"),
    ]
    for f in form.active_fields:
        if field_type(f).holds_lines:
            found.append(Placeholder(form.label, f"{f.label}（表格）", _table(f)))
            continue
        found.append(Placeholder(form.label, f.label, _value("record", f)))
        if field_type(f).number_style(f) == "currency":
            found.append(
                Placeholder(
                    form.label, f"{f.label}（大写）", f"{{{{ record.{f.key} | rmb_upper }}}}"
                )
            )
        if field_type(f).links_records and not f.many and f.target:
            target = target_of(f.target)
            for linked in target.active_fields if target is not None else ():
                if field_type(linked).holds_lines or field_type(linked).links_records:
                    continue
                found.append(Placeholder(f.label, linked.label, _value(f"record.{f.key}", linked)))
    return found


def _value(owner: str, f: Field) -> str:
    return f"{{{{ {owner}.{f.key}{field_type(f).print_filter(f)} }}}}"


def _table(table: Field) -> str:
    """The lines as an HTML table with a row per line, and the total of a money column."""
    columns = [f for f in table.fields if not f.archived]
    head = "".join(f"<th>{f.label}</th>" for f in columns)
    cells = "".join(
        ('<td class="num">' if field_type(f).numeric_cell else "<td>") + _value("line", f) + "</td>"
        for f in columns
    )
    return (
        f"<table>\n  <thead><tr><th>#</th>{head}</tr></thead>\n  <tbody>\n"
        f'  {{% for line in record["{table.key}"] %}}\n'
        f"    <tr><td>{{{{ loop.index }}}}</td>{cells}</tr>\n"
        "  {% endfor %}\n  </tbody>\n</table>"
    )
