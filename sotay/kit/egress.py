"""Where the system may connect outward to: only the public internet.

Content's feed import and Web Push, and the webhook bridge, use it. Feed import downloads whatever address a chief editor types, and whatever that address
redirects to. Left alone it would fetch the cloud's metadata service (169.254.169.254), NATS
(127.0.0.1:4222), PostgreSQL or any other service of the cluster, and show what came back as
a feed error (server-side request forgery). So every address content connects to for a feed (or a
webhook) is checked when the connection is made, not only when the URL is read:

- the host name is resolved once, every address it resolves to is checked, and the connection
  goes to a checked address (TLS still verifies the certificate against the host name): DNS
  that answers one address to a check and another to the connection (rebinding) has nothing
  to slip through;
- loopback, private (RFC 1918, IPv6 ULA), link-local, shared (CGNAT), unspecified, multicast,
  documentation and other reserved addresses are refused, and so are IPv6 forms that carry an
  IPv4 address (IPv4-mapped, NAT64, 6to4) when the IPv4 address would be;
- an operator may trust some networks all the same (`SOTAY_FEED_ALLOW_NETWORKS`: the city
  website on an internal network), and may allow only some host names
  (`SOTAY_FEED_HOSTS`, empty: any host on a public address).

Redirects are followed by fetch_feed itself, one hop at a time, each through these checks.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Never fetched from (unless an operator trusts the network): what each range is, in a few words
# the feed's error shows. Checked in order: the first that holds the address names it.
_REFUSED: list[tuple[str, str]] = [
    ("0.0.0.0/8", "unspecified"), ("10.0.0.0/8", "private"), ("100.64.0.0/10", "shared (CGNAT)"),
    ("127.0.0.0/8", "loopback"), ("169.254.0.0/16", "link-local"), ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"), ("192.0.2.0/24", "documentation"), ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"), ("198.18.0.0/15", "reserved"), ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"), ("224.0.0.0/4", "multicast"), ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"), ("::1/128", "loopback"), ("64:ff9b:1::/48", "reserved"), ("100::/64", "reserved"),
    ("2001::/32", "reserved"), ("2001:db8::/32", "documentation"), ("fc00::/7", "private"),
    ("fe80::/10", "link-local"), ("fec0::/10", "private"), ("ff00::/8", "multicast"),
]
REFUSED_NETWORKS = [(ipaddress.ip_network(cidr), kind) for cidr, kind in _REFUSED]
# IPv6 outside the global unicast block 2000::/3 is not the public internet.
GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """An address or URL content will not fetch from; the message says why in a few words."""


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, NAT64, 6to4), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def kind_of(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is ("loopback", "private", …), or None for a public one."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return kind_of(inner)
    for network, kind in REFUSED_NETWORKS:
        if ip.version == network.version and ip in network:
            return kind
    if isinstance(ip, ipaddress.IPv6Address) and ip not in GLOBAL_UNICAST:
        return "reserved"
    return None


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs (a bare address is a network of one); ValueError names a bad one."""
    networks = []
    for item in (i.strip() for i in text.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not a network (CIDR such as 10.20.0.0/16)") from None
    return tuple(networks)


def parse_hosts(text: str) -> frozenset[str]:
    """Comma-separated host names, compared as a URL holds them (lowercase, IDNA-encoded)."""
    hosts = set()
    for item in (i.strip().lower().rstrip(".") for i in text.split(",")):
        if item:
            wildcard = item.startswith("*.")
            name = _ascii_host(httpx.URL(f"http://{item[2:] if wildcard else item}/"))
            hosts.add(f"*.{name}" if wildcard else name)
    return frozenset(hosts)


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system's resolver gives for `host`."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass(frozen=True)
class EgressPolicy:
    hosts: frozenset[str] = frozenset()  # empty: any host
    trusted: tuple[IPNetwork, ...] = ()  # networks fetched from although not public
    resolve: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_settings(cls, settings) -> EgressPolicy:
        """Feed import's policy (SOTAY_FEED_HOSTS, SOTAY_FEED_ALLOW_NETWORKS)."""
        return cls(hosts=parse_hosts(settings.feed_hosts), trusted=parse_networks(settings.feed_allow_networks))

    def trusts(self, host: str) -> bool:
        """Whether `host` is an address written in the URL inside a trusted network."""
        literal = _literal_address(host)
        if literal is None:
            return False
        plain = embedded_ipv4(literal) or literal
        return any(plain.version == n.version and plain in n for n in self.trusted)

    def check_address(self, ip: IPAddress, host: str) -> None:
        """Raise AddressRefused unless content may connect to `ip` (which `host` resolved to)."""
        plain = embedded_ipv4(ip) or ip
        if any(plain.version == n.version and plain in n for n in self.trusted):
            return
        kind = kind_of(ip)
        if kind is not None:
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise AddressRefused(f"refused address: {shown} is a {kind} address")

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """The URL, if its scheme, host name and (for an address written in it) address may be
        fetched; AddressRefused otherwise. Host names are resolved only when connecting."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise AddressRefused(f"invalid URL: {exc}") from None
        if parsed.scheme not in ("http", "https"):
            raise AddressRefused("only http and https feeds")
        host = parsed.host
        if not host:
            raise AddressRefused("invalid URL: no host")
        if self.hosts and not self._host_allowed(_ascii_host(parsed)):
            raise AddressRefused(f"refused host: {_ascii_host(parsed)} is not among the allowed feed hosts (SOTAY_FEED_HOSTS)")
        literal = _literal_address(host)
        if literal is not None:
            self.check_address(literal, host)
        return parsed

    def _host_allowed(self, host: str) -> bool:
        return host in self.hosts or any(
            entry.startswith("*.") and host.endswith(entry[1:]) for entry in self.hosts)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host` content may connect to: all it resolves to, each checked
        (one refused refuses the host: a public name has no business resolving inward)."""
        literal = _literal_address(host)
        if literal is not None:
            self.check_address(literal, host)
            return [str(literal)]
        try:
            found = await self.resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not found:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        for address in found:
            self.check_address(ipaddress.ip_address(address.split("%")[0]), host)
        return found

    async def check_before_saving(self, url: str) -> None:
        """For a feed being set up: the URL checked, and its host's addresses when it resolves now
        (one that does not may still be a good feed tomorrow: its polls will tell)."""
        parsed = self.check_url(url)
        try:
            await asyncio.wait_for(self.addresses(parsed.host, parsed.port or _default_port(parsed.scheme)), 5)
        except (httpcore.ConnectError, TimeoutError):
            pass


def _ascii_host(url: httpx.URL) -> str:
    """The URL's host as DNS knows it: IDNA-encoded, lowercase, without a final dot."""
    return url.raw_host.decode("ascii").lower().rstrip(".")


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows: the host is
    resolved here, each address checked, and the socket opened to a checked address. httpcore
    still starts TLS with the URL's host name, so certificates are verified against it."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable | None = None) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await self.policy.addresses(host, port):
            try:
                return await self.inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"cannot connect to {host}")

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable | None = None) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("refused address: a local socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over a connection pool that connects through GuardedBackend. No
    proxy from the environment: a proxy would make the connection, beyond the checks."""

    def __init__(self, policy: EgressPolicy, max_connections: int = 4) -> None:
        # httpx's transport keeps everything it needs in its pool (httpx 0.28: `_pool`); the pool is
        # built here rather than by httpx, which offers no way to hand it a network backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), max_connections=max_connections,
            network_backend=GuardedBackend(policy))
