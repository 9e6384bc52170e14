"""The template language: sandboxed Jinja whose only data is what the caller puts in.

Templates are written by builders, not by the project, so they run in Jinja's immutable
sandbox: no attribute starting with ``_``, no changing the values handed in, no loader (so no
``include``, ``import`` or ``extends`` of anything else), and ``range`` capped. The context a
document gets (``meridian.documents.context``) holds the record, its links and its lines and
nothing else, so nothing else can be reached.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import ChainableUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from meridian.core.i18n import Text
from meridian.documents.amounts import (
    format_cn_date,
    format_money,
    format_number,
    rmb_capital,
    to_decimal,
)
from meridian.errors import FieldError, ValidationFailed


class Values:
    """A record (or a line) as templates see it: ``record.customer``, ``record["items"]``.

    A plain dict would let a field called ``items``, ``keys`` or ``values`` be shadowed by the
    dict method of that name; this has no public attributes of its own, and an empty one
    (a link the reader may not read) is falsy and yields empty values all the way down.
    """

    __slots__ = ("_data", "_title")

    def __init__(self, data: Mapping[str, Any], title: str | None = None) -> None:
        self._data = dict(data)
        self._title = title

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def __str__(self) -> str:
        """A linked record prints as its title."""
        return self._title or ""

    def __repr__(self) -> str:
        return f"Values({sorted(self._data)})"


def total(lines: Iterable[Any], *keys: str) -> Decimal:
    """The sum over ``lines`` of the product of their ``keys``: ``record.items |
    total("quantity", "unit_price", "months")``; a line missing one of them counts 0."""
    result = Decimal(0)
    for line in lines or ():
        product = Decimal(1)
        for key in keys:
            value = line[key] if key in line else None
            if value is None or value == "":
                product = Decimal(0)
                break
            product *= to_decimal(value)
        result += product
    return result


def times(*values: Any) -> Decimal:
    """The product of the values (a line's amount: ``times(line.quantity, line.unit_price)``);
    0 when one is empty."""
    product = Decimal(1)
    for value in values:
        if value is None or value == "":
            return Decimal(0)
        product *= to_decimal(value)
    return product


def _capital(value: Any) -> str:
    """A blank amount prints blank, as ``money`` does."""
    return "" if value is None or value == "" else rmb_capital(value)


@functools.lru_cache(maxsize=32)
def environment(time_zone: str) -> ImmutableSandboxedEnvironment:
    """The sandbox with the document formatters, one per time zone (dates are shown in it)."""
    tz = ZoneInfo(time_zone)
    env = ImmutableSandboxedEnvironment(
        autoescape=True, undefined=ChainableUndefined, loader=None, auto_reload=False
    )
    env.filters.update(
        money=format_money,
        number=format_number,
        rmb_upper=_capital,
        cn_date=lambda value: format_cn_date(value, tz),
        total=total,
    )
    env.globals.clear()
    env.globals.update(times=times, range=range)
    return env


@functools.lru_cache(maxsize=256)
def compile_template(body: str, time_zone: str) -> Template:
    """The template compiled once per text, or ``ValidationFailed`` naming the line."""
    try:
        return environment(time_zone).from_string(body)
    except TemplateSyntaxError as exc:
        raise ValidationFailed(
            [
                FieldError(
                    "body",
                    "template_syntax",
                    Text("line {lineno}: {message}", lineno=exc.lineno, message=exc.message),
                    body.splitlines()[exc.lineno - 1][:80] if exc.lineno else None,
                )
            ]
        ) from None


def render(body: str, context: Mapping[str, Any], time_zone: str) -> str:
    """The template's HTML for ``context``; a template that fails at run time (a formatter
    given text, a call the sandbox refuses) is ``ValidationFailed``, never a server error."""
    template = compile_template(body, time_zone)
    try:
        return template.render(context)
    except (TemplateError, ValueError, TypeError, ArithmeticError) as exc:
        message = str(exc) or type(exc).__name__
        raise ValidationFailed(
            [
                FieldError(
                    "template",
                    "template_failed",
                    Text("the template failed: {message}", message=message),
                    message[:80],
                )
            ]
        ) from None
