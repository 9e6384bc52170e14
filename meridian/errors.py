"""Meridian's exception hierarchy.

Every error a user can cause carries a stable ``code`` (used by the API's RFC 9457 problem
details) and enough context to act on it: the field, the reason and the offending value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


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
