"""Who is on the other end: the client's address, seen through the reverse proxies we trust.

Behind a TLS reverse proxy every connection comes from the proxy, so the per-address login throttle would
count all users together (and lock them out together). When the direct peer is a trusted proxy, the
address it appended to X-Forwarded-For is used instead: walking the header from the right, the first hop
that is not itself a trusted proxy. An untrusted peer's X-Forwarded-For is ignored: anyone can write one.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def parse_networks(specs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(spec.strip(), strict=False) for spec in specs if spec.strip())


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: tuple[str, ...]) -> str:
    peer = peer or "unknown"
    trusted = parse_networks(trusted_proxies)
    if not trusted or not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a garbled header: fall back to what we know for sure
        if not _is_trusted(hop, trusted):
            return hop
    return peer


def address_group(address: str) -> str:
    """The unit the per-address login throttle counts: the address itself for IPv4, its /64 for IPv6
    (one household or host gets a whole /64, so counting single IPv6 addresses would throttle nothing)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
