"""Where feed import may fetch from (services/content/adapters/egress.py): public addresses only, in
every form an address can be written, checked when connecting (DNS rebinding), with the
operator's trusted networks and allowed host names."""

from __future__ import annotations

import functools
import ipaddress
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from services.content.adapters.egress import AddressRefused, EgressPolicy, kind_of, parse_hosts, parse_networks
from services.content.adapters.feeds import fetch_feed
from services.content.domain.feeds import FeedError
from sotay.kit.settings import Settings

FEEDS = Path(__file__).parents[1] / "feeds"


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"), ("192.168.1.1", "private"),
    ("fd12:3456::1", "private"), ("fc00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("100.64.0.1", "shared (CGNAT)"), ("100.127.255.254", "shared (CGNAT)"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("198.18.0.1", "reserved"),
    ("192.0.2.1", "documentation"), ("2001:db8::1", "documentation"),
    # IPv6 forms of an IPv4 address are what the IPv4 address is.
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "link-local"), ("::ffff:10.0.0.1", "private"),
    ("64:ff9b::a9fe:a9fe", "link-local"), ("2002:7f00:1::1", "loopback"), ("2002:0a00:0001::1", "private"),
    # Outside IPv6's global unicast block, or a tunnel: not the public internet.
    ("::127.0.0.1", "reserved"), ("100::1", "reserved"), ("2001::1", "reserved"), ("4000::1", "reserved"),
])
def test_non_public_addresses_are_named(address, kind):
    assert kind_of(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["1.1.1.1", "203.113.131.1", "100.63.255.255", "172.32.0.1",
                                     "2001:4860:4860::8888", "::ffff:1.1.1.1", "2002:0101:0101::1"])
def test_public_addresses_are_not(address):
    assert kind_of(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:4222/", "http://169.254.169.254/latest/meta-data/",
                                 "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[fd00::1]/",
                                 "http://10.96.0.1/", "http://0.0.0.0:8000/", "https://100.100.100.200/"])
def test_urls_with_a_non_public_address_are_refused_before_any_connection(url):
    with pytest.raises(AddressRefused, match="^refused address: "):
        EgressPolicy().check_url(url)


def test_a_trusted_network_is_fetched_from_and_its_mapped_form_too():
    policy = EgressPolicy(trusted=parse_networks("10.20.0.0/16, 127.0.0.2"))
    for url in ("http://10.20.3.4/rss", "http://127.0.0.2:8080/rss", "http://[::ffff:10.20.0.1]/rss"):
        policy.check_url(url)
    with pytest.raises(AddressRefused):
        policy.check_url("http://10.21.0.1/rss")
    with pytest.raises(AddressRefused):
        policy.check_url("http://127.0.0.1/rss")


def test_the_allowed_hosts_are_the_only_ones_when_set():
    policy = EgressPolicy(hosts=parse_hosts("hanoi.dcs.vn, *.thanhuy.hanoi.vn, Hànội.vn"))
    for url in ("https://hanoi.dcs.vn/rss", "https://HANOI.DCS.VN./rss", "https://tin.thanhuy.hanoi.vn/rss",
                "https://xn--hni-9ka0849a.vn/rss", "https://hànội.vn/rss"):
        policy.check_url(url)
    for url in ("https://evil.vn/rss", "https://thanhuy.hanoi.vn.evil.vn/rss", "https://xhanoi.dcs.vn/rss",
                "https://8.8.8.8/rss"):
        with pytest.raises(AddressRefused, match="^refused host: "):
            policy.check_url(url)


def test_settings_read_the_lists_and_refuse_a_bad_network():
    settings = Settings(feed_hosts="hanoi.dcs.vn", feed_allow_networks="10.0.0.0/8,fd00::/8")
    policy = EgressPolicy.from_settings(settings)
    assert policy.hosts == {"hanoi.dcs.vn"}
    assert policy.trusted == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
    with pytest.raises(ValueError, match="not a network"):
        Settings(feed_allow_networks="10.0.0.0/8, intranet")


@pytest.fixture(scope="module")
def loopback_server():
    handler = functools.partial(_Quiet, directory=str(FEEDS))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def resolver(*answers: list[str]):
    """A DNS that gives each answer in turn (the last one again once they run out)."""
    given = []

    async def resolve(host: str, port: int) -> list[str]:
        given.append(host)
        return answers[min(len(given), len(answers)) - 1]
    return resolve, given


async def test_the_connection_goes_to_the_address_that_was_checked(loopback_server):
    resolve, asked = resolver(["127.0.0.1"])
    policy = EgressPolicy(trusted=parse_networks("127.0.0.1"), resolve=resolve)
    result = await fetch_feed(f"http://feeds.example.vn:{loopback_server}/rss2.xml", etag=None, modified=None,
                              policy=policy)
    assert result.data == (FEEDS / "rss2.xml").read_bytes() and asked == ["feeds.example.vn"]


async def test_dns_rebinding_is_refused_when_connecting(loopback_server):
    # The name looks public when the feed is set up, then answers loopback: the connection is refused.
    resolve, asked = resolver(["93.184.216.34"], ["127.0.0.1"])
    policy = EgressPolicy(resolve=resolve)
    url = f"http://rebind.example.vn:{loopback_server}/rss2.xml"
    await policy.check_before_saving(url)
    with pytest.raises(FeedError, match=r"^refused address: rebind\.example\.vn \(127\.0\.0\.1\) is a loopback"):
        await fetch_feed(url, etag=None, modified=None, policy=policy)
    assert asked == ["rebind.example.vn", "rebind.example.vn"]


async def test_a_name_resolving_to_one_inward_address_among_public_ones_is_refused():
    resolve, _ = resolver(["93.184.216.34", "10.0.0.7"])
    with pytest.raises(FeedError, match=r"is a private address$"):
        await fetch_feed("https://mixed.example.vn/rss", etag=None, modified=None,
                         policy=EgressPolicy(resolve=resolve))
