"""The visitor's address behind a reverse proxy: ``X-Forwarded-For``, read as addresses.

A connection from one of ``[web] trusted_proxies`` may name the visitor in
``X-Forwarded-For``. Each proxy appends the address it was connected from, so the list is
walked from the right, skipping trusted proxies: the first other hop is the visitor. That
hop must be an IP address (``ip``, ``ip:port`` or ``[ipv6]:port``; only the address is
kept), or the header is not believed at all and the connection's own address is used:
text such as ``8.8.8.8 (verified by admin)`` never reaches the rate limit or the consent
trail. ``X-Forwarded-Proto`` from a trusted proxy sets the scheme (``http`` or ``https``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_HOPS = 32  # a longer chain is not read (nobody runs 32 proxies in a row)


def parse_address(text: str) -> IPAddress | None:
    """The IP address of one ``X-Forwarded-For`` entry, or None if it is not one."""
    text = text.strip()
    if text.startswith("["):  # [v6] or [v6]:port
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not (rest[:1] == ":" and rest[1:].isdigit())):
            return None
        text = host
    elif text.count(":") == 1:  # v4:port
        text, _, port = text.partition(":")
        if not port.isdigit():
            return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return None
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
    return address


class Trusted:
    """The trusted proxies: addresses and networks."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def __contains__(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in net for net in self.networks)


def forwarded_client(peer: str, forwarded: list[str], trusted: Trusted) -> str:
    """The visitor's address: the right-most hop that is not a trusted proxy, when the
    connection comes from one; else (or when that hop is not an address) ``peer``."""
    if not forwarded or parse_address(peer) not in trusted:
        return peer
    hops = [hop for value in forwarded for hop in value.split(",")]
    if len(hops) > MAX_HOPS:
        return peer
    found: IPAddress | None = None
    for hop in reversed(hops):
        found = parse_address(hop)
        if found is None:
            return peer
        if found not in trusted:
            return str(found)
    # Every hop is a trusted proxy: the left-most is where the request started.
    return str(found) if found is not None else peer


class ProxyHeaders:
    """ASGI middleware: ``scope["client"]`` (and the scheme) as a trusted proxy reports them."""

    def __init__(self, app: ASGIApp, *, trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted = Trusted(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client:
            forwarded, proto = [], None
            for name, value in scope["headers"]:
                if name == b"x-forwarded-for":
                    forwarded.append(value.decode("latin-1"))
                elif name == b"x-forwarded-proto":
                    proto = value.decode("latin-1").strip().lower()
            peer = str(client[0])
            # In place, as uvicorn's own middleware does: its access log reads this scope.
            host = forwarded_client(peer, forwarded, self.trusted)
            if host != peer:
                scope["client"] = (host, 0)
            if proto in ("http", "https") and parse_address(peer) in self.trusted:
                scope["scheme"] = proto
        await self.app(scope, receive, send)
