"""Password hashing with argon2 (pwdlib); never store or log a plain password."""

from __future__ import annotations

import functools

from pwdlib import PasswordHash


@functools.cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _hasher().verify(password, password_hash)
