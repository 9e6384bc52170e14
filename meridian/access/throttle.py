"""Login throttling: accounts are locked, addresses are slowed, and neither resets the other.

Three counters live in ``sys_login_throttle``:

- ``account``: failed logins against one account from anywhere. At ``max_failures`` the account
  is locked for ``lock_minutes``: even the right password is refused, so guessing one account is
  slowed to a crawl however many addresses the guesser uses.
- ``address``: failed logins from one client address, against any account. An address is never
  locked — the office behind one NAT address must still be able to work while someone there is
  being guessed — but past ``max_failures`` each further attempt from it must wait a delay that
  doubles with each failure, up to ``address_max_delay_seconds``. The count fades once the address
  has been quiet for ``lock_minutes``.
- ``pair``: failures of one address against one account (keyed by a digest of both). When the
  account's owner then logs in from that address, exactly these failures — their own typos — are
  taken off the address's count. A login to account A never clears failures against account B,
  so an attacker who logs into their own account between guesses gains nothing (issue 13).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from meridian.db.tables import login_throttle

ACCOUNT = "account"
ADDRESS = "address"
PAIR = "pair"
_FIRST_DELAY_SECONDS = 2


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures are free, how long a lock lasts, how slow an address may become."""

    max_failures: int = 20
    lock_minutes: int = 15
    address_max_delay_seconds: int = 60


@dataclass(frozen=True)
class Refusal:
    """A login refused before its password was checked: which counter, and until when."""

    scope: str
    until: datetime


def _pair_key(address: str, account: str) -> str:
    return hashlib.sha256(f"{address}\n{account}".encode()).hexdigest()


def _keys(address: str, account: str) -> dict[str, str]:
    return {ACCOUNT: account[:254], ADDRESS: address[:254], PAIR: _pair_key(address, account)}


def refusal(conn: Connection, *, address: str, account: str, now: datetime) -> Refusal | None:
    """Why a login may not even be tried now, or None. The rows read are locked (PostgreSQL)
    so concurrent guesses from one address queue behind each other instead of all passing."""
    keys = _keys(address, account)
    rows = conn.execute(
        sa.select(login_throttle.c.scope, login_throttle.c.locked_until)
        .where(
            sa.tuple_(login_throttle.c.scope, login_throttle.c.key).in_(
                [(ACCOUNT, keys[ACCOUNT]), (ADDRESS, keys[ADDRESS])]
            )
        )
        .order_by(login_throttle.c.scope)
        .with_for_update()
    ).all()
    waits = [
        Refusal(row.scope, row.locked_until)
        for row in rows
        if row.locked_until is not None and row.locked_until > now
    ]
    return max(waits, key=lambda wait: wait.until) if waits else None


def count_failure(
    conn: Connection, *, address: str, account: str, now: datetime, policy: ThrottlePolicy
) -> None:
    """One more failed login of ``address`` against ``account``: lock or slow as due."""
    keys = _keys(address, account)
    quiet_since = now - timedelta(minutes=policy.lock_minutes)
    for scope in (ACCOUNT, ADDRESS, PAIR):
        # An account's count never fades: only its owner's login or a lock ends it.
        fade = quiet_since if scope != ACCOUNT else now - timedelta(days=36500)
        failures = _increment(conn, scope, keys[scope], now, fade_before=fade)
        until: datetime | None = None
        if scope == ACCOUNT and failures >= policy.max_failures:
            until = now + timedelta(minutes=policy.lock_minutes)
            failures = 0  # after the lock, a fresh run of failures is needed to lock again
        elif scope == ADDRESS and failures >= policy.max_failures:
            excess = min(failures - policy.max_failures, 16)
            delay = min(_FIRST_DELAY_SECONDS << excess, policy.address_max_delay_seconds)
            until = now + timedelta(seconds=delay)
        if scope != PAIR:
            conn.execute(
                login_throttle.update()
                .where(login_throttle.c.scope == scope, login_throttle.c.key == keys[scope])
                .values(failures=failures, locked_until=until)
            )


def _increment(
    conn: Connection, scope: str, key: str, now: datetime, *, fade_before: datetime
) -> int:
    """Add one failure in one statement (no lost count under concurrent guesses); a count
    untouched since ``fade_before`` starts again from one."""
    insert_of = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    insert = insert_of(login_throttle).values(
        scope=scope, key=key, failures=1, locked_until=None, updated_at=now
    )
    statement = insert.on_conflict_do_update(
        index_elements=[login_throttle.c.scope, login_throttle.c.key],
        set_={
            "failures": sa.case(
                (login_throttle.c.updated_at < fade_before, 1),
                else_=login_throttle.c.failures + 1,
            ),
            "updated_at": now,
        },
    ).returning(login_throttle.c.failures)
    return int(conn.execute(statement).scalar_one())


def clear_success(conn: Connection, *, address: str, account: str) -> None:
    """The owner logged in: their account's count ends, and their own failures from this
    address come off the address's count — nobody else's."""
    keys = _keys(address, account)
    own = conn.execute(
        login_throttle.delete()
        .where(login_throttle.c.scope == PAIR, login_throttle.c.key == keys[PAIR])
        .returning(login_throttle.c.failures)
    ).scalar()
    conn.execute(
        login_throttle.delete().where(
            login_throttle.c.scope == ACCOUNT, login_throttle.c.key == keys[ACCOUNT]
        )
    )
    if own:
        conn.execute(
            login_throttle.update()
            .where(login_throttle.c.scope == ADDRESS, login_throttle.c.key == keys[ADDRESS])
            .values(
                failures=sa.case(
                    (login_throttle.c.failures > own, login_throttle.c.failures - own), else_=0
                )
            )
        )


LINK = "link"
"""Failed uses of approval links (unknown tokens, forged forms), per client address."""


def address_wait(conn: Connection, *, scope: str, address: str, now: datetime) -> Refusal | None:
    """Whether ``address`` must wait before trying ``scope`` again (an address counter only:
    such a scope has no account to lock)."""
    row = conn.execute(
        sa.select(login_throttle.c.locked_until)
        .where(login_throttle.c.scope == scope, login_throttle.c.key == address[:254])
        .with_for_update()
    ).first()
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return Refusal(scope, row.locked_until)


def count_address_failure(
    conn: Connection, *, scope: str, address: str, now: datetime, policy: ThrottlePolicy
) -> None:
    """One more failure of ``address`` in ``scope``: past ``max_failures`` each next try must
    wait a doubling delay, as a login's address does; quiet for ``lock_minutes``, it fades."""
    key = address[:254]
    fade = now - timedelta(minutes=policy.lock_minutes)
    failures = _increment(conn, scope, key, now, fade_before=fade)
    if failures >= policy.max_failures:
        excess = min(failures - policy.max_failures, 16)
        delay = min(_FIRST_DELAY_SECONDS << excess, policy.address_max_delay_seconds)
        conn.execute(
            login_throttle.update()
            .where(login_throttle.c.scope == scope, login_throttle.c.key == key)
            .values(locked_until=now + timedelta(seconds=delay))
        )
