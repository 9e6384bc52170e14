"""Password hashing with argon2id (pwdlib); never store or log a plain password.

How much a hash costs is a setting (``password_hashing``), held by the workspace: deployments
use argon2id at pwdlib's recommended cost (64 MiB, 3 passes, 4 lanes — about 0.1 s of a core per
hash, which is what makes a stolen table slow to guess). A test suite hashes thousands of
passwords nobody will ever steal, so it may choose the least cost argon2id allows. Checking a
password always reads the cost from the stored hash, so either hasher verifies the other's hashes.
"""

from __future__ import annotations

import functools
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from meridian.settings import PasswordHashing


class Passwords:
    """Hashes and checks passwords at the cost the workspace's settings chose."""

    def __init__(self, *, hashing: PasswordHashing) -> None:
        if hashing == "argon2":
            hasher = Argon2Hasher()  # pwdlib's recommended argon2id parameters
        else:
            hasher = Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1)
        self.hashing = hashing
        self._hash = PasswordHash((hasher,))

    def hash(self, password: str) -> str:
        return self._hash.hash(password)

    def verify(self, password: str, password_hash: str) -> bool:
        return self._hash.verify(password, password_hash)

    def verify_for_nobody(self, password: str) -> None:
        """Spend what checking a real account's password costs, so an unknown email cannot be
        told from a wrong password by the time the answer takes."""
        self._hash.verify(password, self._decoy)

    @functools.cached_property
    def _decoy(self) -> str:
        """A hash of a random password no one knows, made once per hasher."""
        return self.hash(secrets.token_urlsafe(16))
