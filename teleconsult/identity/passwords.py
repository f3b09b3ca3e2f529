"""argon2id password hashing, off the event loop: one hash costs tens of milliseconds of CPU by design."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Hashes and verifies passwords. ``offload=False`` hashes on the loop: only the benchmark wants that."""

    def __init__(self, *, fast: bool = False, offload: bool = True) -> None:
        # The default profile is argon2-cffi's (RFC 9106 low-memory). ``fast`` is for the test suite only.
        if fast:
            self._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
        else:
            self._hasher = PasswordHasher(type=Type.ID)
        self._offload = offload
        # Verified when the login is unknown, so that an unknown login costs as long as a wrong password.
        self._dummy_hash = self._hasher.hash("not a real password, only here to spend the same time")

    def hash_now(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify_now(self, password_hash: str | None, password: str) -> bool:
        try:
            return (
                self._hasher.verify(password_hash or self._dummy_hash, password) and password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    async def hash(self, password: str) -> str:
        if not self._offload:
            return self.hash_now(password)
        return await asyncio.to_thread(self.hash_now, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        if not self._offload:
            return self.verify_now(password_hash, password)
        return await asyncio.to_thread(self.verify_now, password_hash, password)
