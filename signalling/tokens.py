"""Join tokens: short-lived JWTs (PyJWT) that admit one participant to one room, once.

Signed with an Ed25519 key (EdDSA) named by a ``kid``; verification pins the algorithm and looks the key
up by its kid, so "alg: none", an HMAC token signed with the public key (algorithm confusion), an RSA or
ECDSA token and an unknown kid are all refused before any claim is read. The single use of the ``jti`` is
the service's business (it needs the database); everything else is checked here.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from signalling.model import JoinRefused, Seat

ALGORITHM = "EdDSA"
AUDIENCE = "teleconsult:call"
#: The longest a join token may live: it is fetched by the page and used at once.
MAX_LIFETIME = timedelta(minutes=2)
#: Clock difference tolerated between the signing and the checking processes.
LEEWAY = timedelta(seconds=5)
REQUIRED_CLAIMS = ("aud", "iss", "exp", "nbf", "iat", "sub", "jti", "room", "seat")


class SigningKeyError(RuntimeError):
    """The call signing key file is missing or is not an Ed25519 private key."""


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_signing_key(path: Path, generate: bool) -> Ed25519PrivateKey:
    """The PEM (PKCS#8) Ed25519 key at ``path``; when missing and ``generate`` (demo, tests), a new one is
    written there with mode 0600 first."""
    if generate and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process wrote it meanwhile: read that one
        else:
            with os.fdopen(descriptor, "wb") as file:
                file.write(pem)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"call signing key {path} unreadable: {type(exc).__name__}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"call signing key {path} is not an Ed25519 key")
    return key


@dataclass(frozen=True, slots=True)
class JoinClaims:
    participant_id: UUID
    room_id: UUID
    seat: Seat
    token_id: str
    expires_at: datetime
    #: An invited participant without an account: ``participant_id`` is then the invitation's id (the
    #: ``sub`` claim is ``guest:<id>``, which no user id can be mistaken for).
    is_guest: bool = False


#: The ``sub`` of a guest's token starts with this.
GUEST_SUBJECT = "guest:"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    claims: JoinClaims


class JoinTokens:
    """Signs join tokens with the current key; verifies them against the keys it knows, by kid."""

    def __init__(
        self,
        signing_key: Ed25519PrivateKey,
        issuer: str,
        lifetime: timedelta = MAX_LIFETIME,
        verifying_keys: Mapping[str, Ed25519PublicKey] | None = None,
    ) -> None:
        if not timedelta(0) < lifetime <= MAX_LIFETIME:
            raise ValueError("a join token lives two minutes at most")
        self._signing_key = signing_key
        self._kid = key_id(signing_key.public_key())
        self._issuer = issuer
        self._lifetime = lifetime
        self._keys = {self._kid: signing_key.public_key(), **(verifying_keys or {})}

    @property
    def kid(self) -> str:
        return self._kid

    def issue(
        self, participant_id: UUID, room_id: UUID, seat: Seat, now: datetime, *, guest: bool = False
    ) -> IssuedToken:
        expires_at = now + self._lifetime
        claims = JoinClaims(participant_id, room_id, seat, str(uuid.uuid4()), expires_at, guest)
        payload = {
            "iss": self._issuer,
            "aud": AUDIENCE,
            "sub": (GUEST_SUBJECT if guest else "") + str(participant_id),
            "room": str(room_id),
            "seat": seat.value,
            "jti": claims.token_id,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        token = jwt.encode(payload, self._signing_key, algorithm=ALGORITHM, headers={"kid": self._kid})
        return IssuedToken(token, claims)

    def verify(self, token: str, now: datetime) -> JoinClaims:
        """The claims of a valid token; :class:`JoinRefused` (with the reason) for anything else. The jti's
        single use is not checked here."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise JoinRefused("malformed") from exc
        if header.get("alg") != ALGORITHM:
            raise JoinRefused("algorithm")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise JoinRefused("unknown_kid")
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=self._issuer,
                leeway=LEEWAY,
                # The times are checked below against the injected clock, not PyJWT's reading of it.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.MissingRequiredClaimError as exc:
            raise JoinRefused(f"missing_{exc.claim}") from exc
        except jwt.InvalidAudienceError as exc:
            raise JoinRefused("audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise JoinRefused("issuer") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise JoinRefused("algorithm") from exc
        except jwt.PyJWTError as exc:
            raise JoinRefused("invalid") from exc
        return _claims(payload, now)


def _claims(payload: Mapping[str, Any], now: datetime) -> JoinClaims:
    exp, nbf = payload["exp"], payload["nbf"]
    if not isinstance(exp, int) or not isinstance(nbf, int):
        raise JoinRefused("invalid")
    if timedelta(seconds=exp - nbf) > MAX_LIFETIME:
        raise JoinRefused("lifetime")  # a token we did not issue, or issued with a longer life
    instant = now.timestamp()
    if instant >= exp + LEEWAY.total_seconds():
        raise JoinRefused("expired")
    if instant < nbf - LEEWAY.total_seconds():
        raise JoinRefused("not_yet_valid")
    subject = str(payload["sub"])
    is_guest = subject.startswith(GUEST_SUBJECT)
    try:
        participant_id = UUID(subject.removeprefix(GUEST_SUBJECT))
        room_id = UUID(str(payload["room"]))
        seat = Seat(str(payload["seat"]))
    except ValueError as exc:
        raise JoinRefused("invalid") from exc
    token_id = str(payload["jti"])
    if not 0 < len(token_id) <= 64:
        raise JoinRefused("invalid")
    expires_at = datetime.fromtimestamp(exp, tz=now.tzinfo)
    return JoinClaims(participant_id, room_id, seat, token_id, expires_at, is_guest)
