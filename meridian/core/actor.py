"""Who is acting: passed explicitly into every service call."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TokenScope:
    """What an API token may do, narrower than its user: read only, or one app or form."""

    write: bool = True
    app_key: str | None = None
    form_key: str | None = None


@dataclass(frozen=True)
class Actor:
    """The user (or system process) on whose behalf a service call runs.

    :ivar user_id: the ``sys_user`` id; ``None`` for Meridian itself (demo loader, migrations).
    :ivar is_admin: administrators change schemas and see and change every record.
    :ivar roles: role keys; permissions per form come from these (``meridian.access``).
    :ivar department_ids: the main department first, then the others.
    :ivar can_build: may design apps and forms (administrators and builders).
    :ivar token: set when the call came with an API token that narrows the user's rights.
    :ivar locale: the language the user chose (``zh-CN``, ``en``); None when they chose none
        and each request's ``Accept-Language`` decides.
    """

    user_id: int | None
    is_admin: bool = False
    name: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    department_ids: tuple[int, ...] = ()
    can_build: bool = False
    token: TokenScope | None = None
    locale: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(user_id=None, is_admin=True, name="system", can_build=True)
