"""Record values as people read them: option labels in their colours, names instead of ids,
amounts grouped by the user's locale, times in the workspace zone."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from markupsafe import Markup, escape

from meridian.schema.colors import DEFAULT_COLOR, safe_color
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import Field, Form
from meridian.schema.values.region import region_label
from meridian.web.numbers import currency_format, decimal_format

USER_FIELDS = ("owner_id", "created_by", "updated_by")


def mentioned_users(form: Form, records: Sequence[Mapping[str, Any]]) -> set[Any]:
    named = (f.key for f in form.active_fields if field_type(f).references_users)
    keys = [*USER_FIELDS, *named]
    return {record.get(key) for record in records for key in keys}


class Presenter:
    """Formats one page's values; built per request with the names it needs."""

    def __init__(self, locale: str, tz: ZoneInfo, names: Mapping[int, str]) -> None:
        self.locale = locale.replace("-", "_")
        self.tz = tz
        self.names = names
        self._decimal = decimal_format(self.locale)

    def text(self, field: Field | None, value: Any) -> str:
        """Plain text, for titles, cards and exports."""
        shown = self.html(field, value)
        if "<" in shown or "&" in shown:
            return str(Markup(shown).striptags())
        # What striptags leaves of text without markup; str's split, as Markup's makes a Markup
        # of every word.
        return " ".join(str.split(shown))

    def html(self, field: Field | None, value: Any) -> Markup:
        """The value as a page shows it: the type's own text (``FieldType.display``), else
        the rendering its type asks for (``FieldType.presentation``)."""
        if value is None or value == "" or value == []:
            return Markup("")
        if field is None:
            return self._name(field, value)
        kind = field_type(field)
        shown = kind.display(field, value)
        if shown is not None:
            return escape(shown)
        render = self._renderings.get(kind.presentation(field), Presenter._text)
        return render(self, field, value)

    def number(self, field: Field, value: Any) -> str:
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        style = field_type(field).number_style(field)
        if style == "currency":
            return currency_format(self.locale, field.currency)(amount)
        text = self._decimal(amount)
        return text + "%" if style == "percent" else text

    def _name(self, field: Field | None, value: Any) -> Markup:
        return escape(self.names.get(value, f"#{value}") if isinstance(value, int) else value)

    def _chips(self, field: Field, value: Any) -> Markup:
        chosen = value if isinstance(value, list) else [value]
        options = {option.value: option for option in field.options}
        return Markup(" ").join(self._chip(options.get(v), v) for v in chosen)

    def _check(self, field: Field, value: Any) -> Markup:
        return Markup("✓") if value else Markup("—")

    def _links(self, field: Field, value: Any) -> Markup:
        if not isinstance(value, list):
            return self._link(field, value)  # most links are one; a join costs a Markup per part
        return Markup(", ").join(self._link(field, link) for link in value)

    def _number(self, field: Field, value: Any) -> Markup:
        return escape(self.number(field, value))

    def _date(self, field: Field, value: Any) -> Markup:
        return escape(format_date(date.fromisoformat(value), "medium", locale=self.locale))

    def _datetime(self, field: Field, value: Any) -> Markup:
        moment = datetime.fromisoformat(value)
        # A time as typed in a form (an edit conflict shows it) is in the workspace zone.
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=self.tz)).astimezone(self.tz)
        return escape(format_datetime(moment, "short", tzinfo=self.tz, locale=self.locale))

    def _region(self, field: Field, value: Any) -> Markup:
        return escape(region_label(value))

    def _url(self, field: Field, value: Any) -> Markup:
        return Markup('<a href="{0}" rel="noopener noreferrer" target="_blank">{0}</a>').format(
            value
        )

    def _email(self, field: Field, value: Any) -> Markup:
        return Markup('<a href="mailto:{0}">{0}</a>').format(value)

    def _count(self, field: Field, value: Any) -> Markup:
        return escape(f"{len(value)} ×")

    def _files(self, field: Field, value: Any) -> Markup:
        return escape(f"📎 {len(value)}")

    def _text(self, field: Field, value: Any) -> Markup:
        if isinstance(value, list):
            return escape(", ".join(str(v) for v in value))
        return escape(value)

    _renderings: ClassVar[dict[str, Callable[[Presenter, Field, Any], Markup]]] = {
        "name": _name,
        "chips": _chips,
        "check": _check,
        "links": _links,
        "number": _number,
        "date": _date,
        "datetime": _datetime,
        "region": _region,
        "url": _url,
        "email": _email,
        "count": _count,
        "files": _files,
        "text": _text,
    }
    """``FieldType.presentation`` → how it is rendered; an unknown name shows plain text."""

    def local_input(self, value: Any) -> Any:
        """A stored UTC time as a ``datetime-local`` input shows it, in the workspace zone."""
        if not isinstance(value, str):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value  # what the user typed, shown back with its error
        if moment.tzinfo is not None:
            moment = moment.astimezone(self.tz)
        return moment.strftime("%Y-%m-%dT%H:%M")

    def when(self, moment: datetime | str) -> str:
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        return format_datetime(
            moment.astimezone(self.tz), "short", tzinfo=self.tz, locale=self.locale
        )

    def _chip(self, option: Any, value: str) -> Markup:
        color = safe_color(option.color) if option is not None else DEFAULT_COLOR
        label = option.label if option is not None else value
        # f-strings of escaped parts: Markup.format cost a kanban of 300 cards a fifth of
        # its rendering time, for the same text.
        return Markup(f'<span class="chip" style="--chip:{escape(color)}">{escape(label)}</span>')

    def _link(self, field: Field, link: Any) -> Markup:
        if isinstance(link, dict):
            title = link.get("title") or f"#{link['id']}"
            target, record = escape(field.target), int(link["id"])
            return Markup(f'<a href="/forms/{target}/records/{record}">{escape(title)}</a>')
        return escape(f"#{link}")


def record_title(form: Form, record: Mapping[str, Any], presenter: Presenter) -> str:
    """The record's title field as text, or its number."""
    key = form.title_field
    field = form.get_field(key) if key else None
    if field is not None and record.get(field.key) not in (None, ""):
        return presenter.text(field, record[field.key])
    return f"#{record['id']}"
