"""Key files on disk: ``teleconsult keys generate | rotate | status``.

Written atomically (temp file in the same directory with mode 0600, fsync, rename, fsync of the directory),
so a crash leaves either the old file or the new one, never half of one, and never a file others can read.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from records.crypto.errors import KeyFileError
from records.crypto.keyring import KeyringStatus, LocalKeyring


def generate_key_file(path: Path, *, now: datetime | None = None, demo: bool = False) -> KeyringStatus:
    """Write a new key file at ``path`` (mode 0600); refuses to overwrite an existing one."""
    keyring = LocalKeyring.generate(now=now, demo=demo)
    _write_atomically(path, keyring.to_bytes(), overwrite=False)
    return keyring.status()


def rotate_key_file(path: Path, *, now: datetime | None = None) -> KeyringStatus:
    """Add a new KEK to the key file and make it current; older KEKs stay for unwrapping.
    Not safe against two rotations of the same file at once (an operator command, run by one person)."""
    keyring = LocalKeyring.from_file(path).rotated(now=now)
    _write_atomically(path, keyring.to_bytes(), overwrite=True)
    return keyring.status()


def status(path: Path) -> KeyringStatus:
    """Ids, versions and the current KEK of a key file."""
    return LocalKeyring.from_file(path).status()


def _write_atomically(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Temp file in the same directory (0600), fsync, then rename (or hard link when refusing to
    overwrite, which fails if the name exists even if created meanwhile), then fsync the directory."""
    if not overwrite and path.exists():
        raise KeyFileError(f"le fichier de clés existe déjà, il ne sera pas écrasé : {path}")
    directory = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise KeyFileError(f"impossible d'écrire dans {directory} ({exc.strerror})") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except FileExistsError as exc:
        raise KeyFileError(f"le fichier de clés existe déjà, il ne sera pas écrasé : {path}") from exc
    except OSError as exc:
        raise KeyFileError(f"écriture du fichier de clés impossible : {path} ({exc.strerror})") from exc
    finally:
        tmp.unlink(missing_ok=True)
