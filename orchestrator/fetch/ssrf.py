"""SSRF guard: which addresses a user-supplied URL may make the service connect to.

``check_address`` is pure (ipaddress only). ``resolve_and_check`` is the edge: it resolves a host
once, checks *every* address, and returns the vetted addresses — the fetchers then connect to
those very addresses (never re-resolving the name), so a DNS answer that changes between check
and connect (DNS rebinding) cannot slip an internal address through.

Refused unless allow-listed: unspecified, "this network" 0/8, loopback, private (RFC 1918, ULA
fc00::/7), shared CGNAT 100.64/10, link-local (169.254/16 incl. the cloud metadata address
169.254.169.254, fe80::/10), multicast, reserved/broadcast, documentation and benchmarking ranges,
deprecated site-local fec0::/10, and anything else Python does not consider globally routable.
IPv6 forms that embed an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4
2002::/16) are judged by the embedded IPv4 address as well.

Allow-list entries (operator config) are CIDRs / single addresses, or host names; a host name
entry allows that exact name (case-insensitive, trailing dot ignored) whatever it resolves to.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from orchestrator.fetch.errors import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_METADATA = ipaddress.ip_address("169.254.169.254")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# (network, why) — checked in order; the first match names the reason.
_RULES: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), why)
    for net, why in (
        ("0.0.0.0/8", "an unspecified / 'this network' address"),
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("169.254.0.0/16", "a link-local address"),
        ("192.0.0.0/24", "an IETF protocol-assignment address"),
        ("192.0.2.0/24", "a documentation address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("::/96", "an IPv4-compatible (deprecated) address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local (deprecated) address"),
        ("ff00::/8", "a multicast address"),
        ("2001:db8::/32", "a documentation address"),
        ("100::/64", "a discard-only address"),
    )
)


@dataclass(frozen=True)
class Allowlist:
    """Parsed operator allow-list: networks and exact host names."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    def allows_host(self, host: str) -> bool:
        """True if the host *name* is allow-listed."""
        return _norm_host(host) in self.hosts

    def allows_ip(self, ip: IPAddress) -> bool:
        """True if ``ip`` lies in an allow-listed network."""
        return any(ip.version == net.version and ip in net for net in self.networks)


def _norm_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def parse_allowlist(entries: Iterable[str] | Allowlist | None) -> Allowlist:
    """Parse config entries (``"127.0.0.1/32"``, ``"10.1.2.3"``, ``"data.internal"``) into an Allowlist."""
    if isinstance(entries, Allowlist):
        return entries
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for raw in entries or ():
        entry = str(raw).strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            hosts.add(_norm_host(entry))
    return Allowlist(tuple(networks), frozenset(hosts))


def _as_ip(ip: str | IPAddress) -> IPAddress:
    if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return ip
    text = str(ip).strip().strip("[]").split("%", 1)[0]  # drop an IPv6 zone id (fe80::1%eth0)
    return ipaddress.ip_address(text)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def check_address(ip: str | IPAddress, allowlist: Iterable[str] | Allowlist | None = None) -> str | None:
    """Return None if connecting to ``ip`` is allowed, else the reason it is refused (a sentence). Pure."""
    allow = parse_allowlist(allowlist)
    try:
        addr = _as_ip(ip)
    except ValueError:
        return f"{ip!r} is not an IP address"
    candidates: list[IPAddress] = [addr]
    if isinstance(addr, ipaddress.IPv6Address):
        v4 = _embedded_v4(addr)
        if v4 is not None:
            candidates.insert(0, v4)  # judge (and name) the embedded IPv4 address first
    if any(allow.allows_ip(c) for c in candidates):
        return None
    for cand in candidates:
        if cand == _METADATA:
            return f"{addr} is the cloud metadata address (link-local)"
        for net, why in _RULES:
            if cand.version == net.version and cand in net:
                shown = f"{addr}" if cand == addr else f"{addr} (embedding {cand})"
                return f"{shown} is {why}"
        if not cand.is_global:
            return f"{addr} is not a globally routable address"
    return None


def resolve_and_check(host: str, port: int, allowlist: Iterable[str] | Allowlist | None = None) -> list[str]:
    """Resolve ``host`` once and vet every address; return the vetted IPs (as strings) to connect to.

    Raises ``FetchError("address_not_allowed")`` if any address is refused (naming it and why) and
    ``FetchError("resolve_failed")`` if the name does not resolve. An allow-listed host name skips
    the address checks (the operator vouched for it) but is still resolved here, once.
    """
    allow = parse_allowlist(allowlist)
    name = _norm_host(host)
    if not name:
        raise FetchError("bad_url", "the URL has no host")
    try:
        literal: IPAddress | None = _as_ip(name)
    except ValueError:
        literal = None
    if literal is not None:
        reason = None if allow.allows_host(name) else check_address(literal, allow)
        if reason:
            raise FetchError("address_not_allowed", f"refusing to connect to {host}: {reason}")
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError("resolve_failed", f"cannot resolve host {host!r}: {exc}") from None
    vetted: list[str] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = str(sockaddr[0]).split("%", 1)[0]
        if not allow.allows_host(name):
            reason = check_address(ip, allow)
            if reason:
                raise FetchError("address_not_allowed", f"refusing to connect to {host}: it resolves to {reason}")
        if ip not in vetted:
            vetted.append(ip)
    if not vetted:
        raise FetchError("resolve_failed", f"host {host!r} has no IPv4/IPv6 address")
    return vetted
