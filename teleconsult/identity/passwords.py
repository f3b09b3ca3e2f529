"""argon2id password hashing, off the event loop: one hash costs tens of milliseconds of CPU by design."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

#: Hashes computed at once. Each argon2id hash already runs its lanes (parallelism 4) in threads of its own:
#: more workers only take CPU from the event loop, which must keep answering other people meanwhile.
HASH_WORKERS = 2


def _lower_priority() -> None:
    # On Linux nice is per thread, and argon2's lane threads inherit it: logins queue a little longer under
    # load, while pages keep being served. Elsewhere this is a no-op.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class Passwords:
    """Hashes and verifies passwords. ``offload=False`` hashes on the loop: only the benchmark wants that."""

    def __init__(self, *, fast: bool = False, offload: bool = True) -> None:
        # The default profile is argon2-cffi's (RFC 9106 low-memory). ``fast`` is for the test suite only.
        if fast:
            self._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
        else:
            self._hasher = PasswordHasher(type=Type.ID)
        self._offload = offload
        self._executor: ThreadPoolExecutor | None = None
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

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(HASH_WORKERS, "argon2", initializer=_lower_priority)
        return self._executor

    async def hash(self, password: str) -> str:
        if not self._offload:
            return self.hash_now(password)
        return await asyncio.get_running_loop().run_in_executor(self._pool(), self.hash_now, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        if not self._offload:
            return self.verify_now(password_hash, password)
        return await asyncio.get_running_loop().run_in_executor(
            self._pool(), self.verify_now, password_hash, password
        )

    def close(self) -> None:
        """Stop the worker threads (the application does it on shutdown)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
