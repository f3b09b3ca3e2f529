"""The client address behind trusted reverse proxies, and only behind them."""

from __future__ import annotations

import pytest

from teleconsult.clients import client_address

PROXY = ("10.0.0.0/8", "127.0.0.1")


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address("203.0.113.7", "198.51.100.1", ()) == "203.0.113.7"


def test_a_forwarded_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("203.0.113.7", "198.51.100.1", PROXY) == "203.0.113.7"


def test_behind_a_trusted_proxy_the_last_untrusted_hop_is_the_client() -> None:
    # The client forged a first entry; the proxy appended the real address last.
    assert client_address("127.0.0.1", "6.6.6.6, 198.51.100.1", PROXY) == "198.51.100.1"
    assert client_address("10.1.2.3", "198.51.100.1, 10.9.9.9", PROXY) == "198.51.100.1"


@pytest.mark.parametrize("header", ["not-an-ip", "198.51.100.1, <script>", ""])
def test_a_garbled_header_falls_back_to_the_peer(header: str) -> None:
    assert client_address("127.0.0.1", header, PROXY) == "127.0.0.1"


def test_ipv6_proxies_and_clients_work() -> None:
    assert client_address("::1", "2001:db8::5", ("::1",)) == "2001:db8::5"


def test_ipv6_addresses_are_counted_by_their_slash_64() -> None:
    from teleconsult.clients import address_group

    assert address_group("2001:db8:1:2::5") == address_group("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_group("192.0.2.7") == "192.0.2.7"
    assert address_group("unknown") == "unknown"
