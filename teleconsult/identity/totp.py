"""TOTP second factor (RFC 6238 through pyotp), with the shared secret encrypted at rest.

The secret is sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the service secret, and the
user's id is the associated data, so a secret copied onto another account does not decrypt.
"""

from __future__ import annotations

import hmac
import os
from datetime import datetime
from uuid import UUID

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ISSUER = "teleconsult"
_VERSION = b"\x01"


class TotpBox:
    def __init__(self, service_secret: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"teleconsult totp secret v1"
        ).derive(service_secret.encode())
        self._aead = AESGCM(key)

    @staticmethod
    def new_secret() -> str:
        return pyotp.random_base32()

    def seal(self, user_id: UUID, secret: str) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, secret.encode(), user_id.bytes)

    def open(self, user_id: UUID, sealed: bytes) -> str:
        if sealed[:1] != _VERSION:
            raise ValueError("unknown TOTP secret format")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], user_id.bytes).decode()
        except InvalidTag as exc:
            raise ValueError("TOTP secret does not belong to this account") from exc


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """An inline SVG QR code (no script, no image from elsewhere: the CSP allows it)."""
    qr = segno.make(uri, error="m")
    svg: str = qr.svg_inline(scale=5, dark="#111", light="#fff", title="QR code")
    return svg


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code equals ``code`` (now, or one step either side for clock drift), else None."""
    code = code.strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
