"""Who is acting: passed explicitly into every service call."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """The user (or system process) on whose behalf a service call runs.

    :ivar user_id: the ``sys_user`` id; ``None`` for Meridian itself (demo loader, migrations).
    :ivar is_admin: administrators may change schemas and see every record.
    """

    user_id: int | None
    is_admin: bool = False
    name: str = ""

    @classmethod
    def system(cls) -> Actor:
        return cls(user_id=None, is_admin=True, name="system")
