"""Which addresses a remote source may reach: the SSRF guard of remote feeds.

A feed URL (or a redirect it answers with) must not make the reader fetch from this machine,
the local network or a cloud metadata service. Host names are resolved here, every address
is checked, and the fetch then connects to exactly an address that passed: a second DNS
answer (DNS rebinding) is never asked for. ``resolve`` is the one place that asks DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from syndicate.text import one_line

IPAddress = IPv4Address | IPv6Address

SHARED = IPv4Network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
NAT64 = IPv6Network("64:ff9b::/96")  # the IPv4 address sits in the last 32 bits
ALLOW_HINT = "set allow_private = true on this source to allow it"


class AddressError(Exception):
    """A host that does not resolve, or resolves only to addresses a source may not reach."""


def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` as the system resolver gives them, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is, or None for a public one."""
    if isinstance(address, IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in NAT64:
            inner = IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None and (why := refusal(inner)):
            return f"{why}, as {inner} inside IPv6"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local, where cloud metadata services live"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, IPv4Address) and address in SHARED:
        return "shared carrier-grade NAT range 100.64.0.0/10"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private network"
    if not address.is_global:
        return "not a public address"
    return None


async def addresses_for(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses of ``host`` the fetch may connect to, best first.

    Raises ``AddressError`` with a message to show when the host does not resolve, or
    naming the refused address when none of them is public (unless ``allow_private``).
    """
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        found = [str(literal)]
    else:
        try:
            found = await _resolve_in_thread(host, port)
        except (OSError, UnicodeError) as exc:
            raise AddressError(f"could not resolve {host}: {one_line(str(exc), 200)}") from None
        if not found:
            raise AddressError(f"could not resolve {host}: no address")
    if allow_private:
        return found
    allowed: list[str] = []
    refused: list[tuple[str, str]] = []
    for text in found:
        try:
            why = refusal(ipaddress.ip_address(text))
        except ValueError:
            why = "not an IP address"
        if why is None:
            allowed.append(text)
        else:
            refused.append((text, why))
    if not allowed:
        shown, why = refused[0]
        via = "" if literal is not None else f"{host} resolves to "
        raise AddressError(
            f"refused to connect: {via}{shown} ({why}), not a public address; {ALLOW_HINT}"
        )
    return allowed


async def _resolve_in_thread(host: str, port: int) -> list[str]:
    """Run the resolver in a daemon thread: a hung lookup must not outlive the deadline.

    ``asyncio.to_thread`` would use the loop's default executor, which ``asyncio.run``
    waits for on exit: a resolver stuck past the fetch's deadline would hold the fetch.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[list[str]] = loop.create_future()

    def settle(result: list[str] | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result or [])

    def work() -> None:
        result: list[str] | None = None
        error: BaseException | None = None
        try:
            result = resolve(host, port)  # looked up at call time, so tests can replace it
        except BaseException as exc:  # handed to the waiting fetch, never lost in the thread
            error = exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:
            pass  # the fetch gave up (deadline) and its loop is closed: nobody waits

    threading.Thread(target=work, name="syndicate-resolve", daemon=True).start()
    return await done
