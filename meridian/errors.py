"""Meridian's exception hierarchy.

Every error a user can cause carries a stable ``code`` (used by the API's RFC 9457 problem
details) and enough context to act on it: the field, the reason and the offending value.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

SHORT_VALUE = 60
"""Characters of an offending value that an error shows; the rest is cut (issue 13: a 13 MB
value came back three times over in its own error)."""
SHORT_TEXT = 500
"""Characters of any other text in an error (a message may quote the value it refuses)."""
_MAX_ID_BITS = 63


@dataclass(frozen=True)
class FieldError:
    """One problem with one input value.

    :ivar field: the field key (or a dotted path such as ``items.2.qty``).
    :ivar code: a stable machine-readable reason, e.g. ``required`` or ``invalid_phone``.
    :ivar message: a human sentence naming the reason.
    :ivar value: the offending value, as given.
    :ivar detail: more for the client, e.g. an expression error's ``position`` and ``message_zh``.
    """

    field: str
    code: str
    message: str
    value: Any = None
    detail: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.detail,
            "field": self.field,
            "code": self.code,
            "message": self.message,
            "value": self.value,
        }


class InvalidValue(ValueError):
    """One value failed a field type's check; the records service turns it into a FieldError.

    :ivar code: a stable reason such as ``invalid_phone``.
    :ivar message: an English sentence naming the reason and the value.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PluginError(Exception):
    """The plugins cannot be assembled: two register the same name (a field type, an action,
    a job kind …), or a plugin named to load is not installed. Meridian refuses to start
    rather than let one silently replace another."""


class MeridianError(Exception):
    """Base of every error Meridian raises on purpose."""

    code = "error"
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class ValidationFailed(MeridianError):
    """The input broke one or more rules; nothing was written."""

    code = "validation_failed"
    status = 422
    title = "Validation failed"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        self.errors = errors
        summary = detail or "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        super().__init__(summary, errors=[e.as_dict() for e in errors])


class NotFound(MeridianError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(MeridianError):
    code = "conflict"
    status = 409
    title = "Conflict"


class StaleVersion(MeridianError):
    """An optimistic-lock check failed: someone else changed the record first."""

    code = "stale_version"
    status = 412
    title = "Precondition failed"


class SchemaChangeRefused(MeridianError):
    """A schema change would lose or corrupt data; the offending records are listed."""

    code = "schema_change_refused"
    status = 409
    title = "Schema change refused"

    def __init__(self, detail: str, offenders: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, offenders=offenders or [])
        self.offenders = offenders or []


class UnsupportedMediaType(MeridianError):
    """A body in a format the endpoint does not read (a JSON endpoint sent form data, text…)."""

    code = "unsupported_media_type"
    status = 415
    title = "Unsupported media type"


class Unauthenticated(MeridianError):
    code = "unauthenticated"
    status = 401
    title = "Unauthenticated"


class PermissionDenied(MeridianError):
    code = "permission_denied"
    status = 403
    title = "Forbidden"


class AuditKeyProblem(MeridianError):
    """The audit trail's secret key is missing, unsafe, or not the one the trail is made with;
    the process refuses to start rather than write entries nobody could verify."""

    code = "audit_key"
    status = 500
    title = "Audit key problem"


@dataclass
class ErrorCollector:
    """Collects field errors so every problem is reported at once."""

    errors: list[FieldError] = field(default_factory=list)

    def add(self, field_key: str, code: str, message: str, value: Any = None) -> None:
        self.errors.append(FieldError(field_key, code, message, value))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def short_text(text: str, limit: int = SHORT_TEXT) -> str:
    """``text`` cut to ``limit`` characters plus "…", with lone surrogates replaced, so that it
    can always be written as UTF-8."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    if cut.isascii():
        return cut
    return cut.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def short_value(value: Any, limit: int = SHORT_VALUE) -> Any:
    """An offending value as an error may show it: small, and writable as JSON.

    Small JSON values stay as they are; a long string is cut; a large list or object becomes
    the start of its JSON text; anything else (bytes, ``NaN``, a huge integer) becomes text.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= _MAX_ID_BITS else _integer_text(value, limit)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return short_text(value, limit)
    if isinstance(value, bytes | bytearray):
        return short_text(bytes(value[: limit * 4]).decode("utf-8", "replace"), limit)
    if isinstance(value, list | tuple | dict):
        preview, complete = _preview(value, limit)
        if not complete:
            return short_text(preview) + "…"
        if isinstance(value, dict):
            return {short_text(str(k), limit): short_value(v, limit) for k, v in value.items()}
        return [short_value(item, limit) for item in value]
    return short_text(str(value), limit)


def _integer_text(value: int, limit: int) -> str:
    if value.bit_length() > 4 * limit:  # str() of a very long integer is slow, or refused
        return f"an integer of {value.bit_length()} bits"
    return short_text(str(value), limit)


def _preview(value: Any, limit: int) -> tuple[str, bool]:
    """The first ``limit`` characters of ``value`` as compact JSON, and whether that is all of
    it; built piece by piece, so a huge value costs no more than its first pieces."""
    pieces: list[str] = []
    length = 0
    for piece in _json_pieces(value, depth=0):
        pieces.append(piece)
        length += len(piece)
        if length > limit:
            return "".join(pieces)[:limit], False
    return "".join(pieces), True


def _json_pieces(value: Any, depth: int) -> Iterator[str]:
    if depth > 16:
        yield "…" * (SHORT_VALUE + 1)
    elif isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield ("," if index else "") + json.dumps(short_text(str(key), SHORT_VALUE)) + ":"
            yield from _json_pieces(item, depth + 1)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield from _json_pieces(item, depth + 1)
        yield "]"
    else:
        yield json.dumps(short_value(value, SHORT_VALUE), ensure_ascii=False)
