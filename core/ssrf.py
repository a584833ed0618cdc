"""Where a client's webhook receiver may be, and a connection that goes only there (SSRF guard).

Two rules make the guard hold:

- **Only globally routable addresses.** ``ipaddress``'s ``is_global``, plus explicit refusals for
  ranges that are "global" on paper or that reach an internal address through a translator:
  CGNAT 100.64.0.0/10 (cloud metadata services live there, e.g. 100.100.100.200), 6to4 2002::/16
  (``2002:a9fe:a9fe::`` *is* 169.254.169.254), NAT64 64:ff9b::/96 and 64:ff9b:1::/48, and every
  IPv4-mapped IPv6 address. Loopback and private networks only when the operator allows them.
- **Resolve once, connect to what was checked.** A separate look-up for the check and for the
  connection lets a rebinding DNS server answer a public address first and 127.0.0.1 next. So the
  name is resolved once, every answer is checked, and :class:`PinnedTransport` connects to that IP
  while the request keeps its original ``Host`` header and TLS SNI / certificate name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.config import Settings
from core.errors import Unprocessable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, in the resolver's order.
Resolver = Callable[[str, int], list[str]]

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})
CGNAT = ipaddress.ip_network("100.64.0.0/10")
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# What "private" means for ``webhook_allow_private``: RFC 1918 and IPv6 unique-local, nothing wider
# (``is_private`` also covers documentation, benchmarking and reserved ranges).
PRIVATE = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("172.16.0.0/12"),
           ipaddress.ip_network("192.168.0.0/16"), ipaddress.ip_network("fc00::/7"))


def system_resolver(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def refusal(address: Address, settings: Settings) -> str | None:
    """Why a receiver may not be at ``address`` (``None``: it may)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        if address in SIX_TO_FOUR:
            return "a 6to4 address (it embeds an IPv4 address)"
        if any(address in net for net in NAT64):
            return "a NAT64 address (it embeds an IPv4 address)"
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return "a carrier-grade NAT address (100.64.0.0/10, where cloud metadata services live)"
    if address.is_loopback:
        return None if settings.webhook_allow_loopback else "a loopback address"
    if any(address.version == net.version and address in net for net in PRIVATE):
        return None if settings.webhook_allow_private else "a private address"
    if not address.is_global or address.is_multicast:
        return "a non-routable address (not globally routable)"
    return None


@dataclass(frozen=True)
class Target:
    """A receiver URL and the one address it was checked at (the connection goes there)."""

    url: str
    host: str
    address: str


def resolve_target(url: str, settings: Settings, resolver: Resolver | None = None) -> Target:
    """Check ``url`` and pin it to one of its addresses; :class:`Unprocessable` names what is wrong."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unprocessable(f"webhook url must be an http(s) URL with a host, not {url!r}", details={"param": "url"})
    host = parts.hostname
    if host.lower() in METADATA_HOSTS:
        raise Unprocessable(f"webhook url host {host!r} is a cloud metadata service", details={"param": "url"})
    try:
        answers = (resolver or system_resolver)(host, port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError) as exc:
        raise Unprocessable(f"webhook url host {host!r} does not resolve", details={"param": "url"}) from exc
    if not answers:
        raise Unprocessable(f"webhook url host {host!r} does not resolve", details={"param": "url"})
    for answer in answers:  # every answer, so a name that also points inside is refused outright
        address = ipaddress.ip_address(answer.split("%", 1)[0])
        reason = refusal(address, settings)
        if reason is not None:
            raise Unprocessable(f"webhook url {url!r} resolves to {address}, {reason}", details={"param": "url"})
    return Target(url=url, host=host, address=answers[0].split("%", 1)[0])


class PinnedTransport(httpx.HTTPTransport):
    """Connects to the checked address whatever the URL's host resolves to now; ``Host`` and SNI
    (and so certificate checks) still name the original host."""

    def __init__(self, target: Target, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != self.target.host:  # a redirect elsewhere was not checked: never follow it
            raise httpx.ConnectError(f"refusing to connect to unchecked host {request.url.host!r}", request=request)
        request.url = request.url.copy_with(host=self.target.address)
        request.extensions = {**request.extensions, "sni_hostname": self.target.host}
        return super().handle_request(request)


def post_checked(url: str, *, content: bytes, headers: dict[str, str], timeout: float, settings: Settings,
                 resolver: Resolver | None = None) -> httpx.Response:
    """POST to a receiver after checking where it is, over a connection to exactly that address."""
    target = resolve_target(url, settings, resolver)
    with httpx.Client(transport=PinnedTransport(target), timeout=timeout, follow_redirects=False) as client:
        return client.post(url, content=content, headers=headers)
