"""Downloading a feed over HTTP(S): `fetch_feed` only downloads bytes, from public addresses only
(services/content/adapters/egress.py), following redirects itself, each hop checked. Parsing what it
brings is services/content/domain/feeds.py `parse_feed`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from services.content.adapters.egress import AddressRefused, EgressPolicy, GuardedTransport
from services.content.domain.feeds import FeedError

USER_AGENT = "sotay-feed-import/1.0"
MAX_REDIRECTS = 5


@dataclass
class FetchResult:
    status: int
    data: bytes | None  # None when the server answered 304 Not Modified
    etag: str | None
    modified: str | None


async def fetch_feed(
    url: str,
    *,
    etag: str | None,
    modified: str | None,
    policy: EgressPolicy | None = None,
    timeout: float = 15.0,
    max_bytes: int = 5_000_000,
) -> FetchResult:
    """Download a feed over http or https, conditionally when `etag`/`modified` from the last fetch are given.

    Returns status 304 with `data=None` when the feed has not changed. Raises FeedError when the feed is
    unreachable, its address (or one it redirects to) is not one `policy` lets content fetch from (by
    default: public addresses only), the server answers with an error status, or the body is larger than
    `max_bytes`. `timeout` bounds the whole download, redirects included, not just each network read.
    """
    policy = policy or EgressPolicy()
    headers = {"User-Agent": USER_AGENT}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified

    try:
        async with asyncio.timeout(timeout):
            async with httpx.AsyncClient(transport=GuardedTransport(policy), follow_redirects=False,
                                         timeout=timeout, headers=headers, trust_env=False) as client:
                return await _follow(client, policy, url, etag, modified, max_bytes)
    except AddressRefused as exc:
        raise FeedError(str(exc))
    except TimeoutError:
        raise FeedError(f"unreachable: TimeoutError: no complete answer within {timeout} s")
    except httpx.HTTPError as exc:
        raise FeedError(f"unreachable: {type(exc).__name__}: {exc}")
    except httpx.InvalidURL as exc:
        raise FeedError(f"invalid URL: {exc}")


async def _follow(client: httpx.AsyncClient, policy: EgressPolicy, url: str, etag: str | None,
                  modified: str | None, max_bytes: int) -> FetchResult:
    """GET `url`, following up to MAX_REDIRECTS redirects, each hop's URL checked by `policy`
    (and its address when connecting)."""
    for _ in range(MAX_REDIRECTS + 1):
        target = policy.check_url(url)
        async with client.stream("GET", target) as response:
            location = response.headers.get("Location")
            if response.is_redirect and location:
                url = str(response.url.join(location))
                continue
            return await _read_response(response, etag, modified, max_bytes)
    raise FeedError(f"too many redirects (more than {MAX_REDIRECTS})")


async def _read_response(
    response: httpx.Response, etag: str | None, modified: str | None, max_bytes: int
) -> FetchResult:
    new_etag = response.headers.get("ETag")
    new_modified = response.headers.get("Last-Modified")
    if response.status_code == 304:
        # Nothing changed: the validators we sent stay valid unless the server sent fresh ones.
        return FetchResult(status=304, data=None, etag=new_etag or etag, modified=new_modified or modified)
    if response.status_code >= 400:
        raise FeedError(f"HTTP {response.status_code}")

    too_large = FeedError(f"larger than {max_bytes} bytes")
    declared_length = response.headers.get("Content-Length", "")
    if declared_length.isdigit() and int(declared_length) > max_bytes:
        raise too_large
    # Content-Length may be missing or wrong, so count what actually arrives (after decompression).
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise too_large
    return FetchResult(status=response.status_code, data=bytes(body), etag=new_etag, modified=new_modified)
