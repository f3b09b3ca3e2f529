"""ICE servers for a participant: STUN, and TURN with short-lived credentials.

The credentials follow the "TURN REST API" scheme that coturn accepts with ``use-auth-secret`` and
``static-auth-secret``: the username is ``<expiry unix time>:<user>``, the password is
base64(HMAC-SHA1(secret, username)). The TURN server checks the HMAC and the expiry itself, so the secret
never leaves the two servers and a leaked credential dies within the TTL (an hour at most).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

#: coturn's REST credentials should not outlive a call by much.
MAX_TTL = timedelta(hours=1)


def turn_credentials(secret: str, user: str, now: datetime, ttl: timedelta) -> tuple[str, str]:
    """(username, password) valid until ``now + ttl``."""
    if not timedelta(0) < ttl <= MAX_TTL:
        raise ValueError("TURN credentials live an hour at most")
    if ":" in user:
        raise ValueError("the TURN user must not contain ':'")
    username = f"{int((now + ttl).timestamp())}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(
    stun_urls: Sequence[str],
    turn_urls: Sequence[str],
    turn_secret: str,
    user: str,
    now: datetime,
    ttl: timedelta,
) -> list[dict[str, Any]]:
    """The ``iceServers`` of an RTCPeerConnection's configuration. Empty lists (the demo): none, so the
    browsers use their host candidates only (enough on one machine or one network)."""
    servers: list[dict[str, Any]] = []
    if stun_urls:
        servers.append({"urls": list(stun_urls)})
    if turn_urls and turn_secret:
        username, credential = turn_credentials(turn_secret, user, now, ttl)
        servers.append({"urls": list(turn_urls), "username": username, "credential": credential})
    return servers
