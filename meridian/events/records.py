"""Past-tense events the records service publishes to the outbox, in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DomainEvent:
    """Something that happened, named in the past tense; its class name is its type."""

    @property
    def event_type(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class RecordEvent(DomainEvent):
    """Something happened to one record.

    :ivar form: the form key.
    :ivar record_id: the record's id.
    :ivar actor_id: the user who did it (``None`` for Meridian itself).
    :ivar version: the record's ``_version`` after the change.
    """

    form: str
    record_id: int
    actor_id: int | None
    version: int


@dataclass(frozen=True)
class RecordCreated(RecordEvent):
    """A record was created."""


@dataclass(frozen=True)
class RecordUpdated(RecordEvent):
    """A record's fields changed.

    :ivar changes: ``{field key: [old, new]}`` in API representation.
    """

    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordDeleted(RecordEvent):
    """A record was moved to the trash (soft delete)."""


@dataclass(frozen=True)
class RecordRestored(RecordEvent):
    """A record was brought back from the trash."""
