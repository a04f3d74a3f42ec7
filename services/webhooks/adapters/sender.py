"""Sending an event to an endpoint over HTTP, through the egress guard (sotay/kit/egress.py).

An endpoint's URL is typed by an operator, and whatever it names the bridge would POST to: so,
as for feeds and push, every connection is checked when it is made (a name resolving to a
loopback, private, link-local or cluster address is refused; DNS rebinding has nothing to slip
through), only https is used but to an address of SOTAY_WEBHOOK_ALLOW_NETWORKS, and redirects
are not followed (a 3xx is a failed try: a redirect could point anywhere). What an endpoint
answers is kept as its status code only; its body is never read into logs or rows."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from services.webhooks.domain import SIGNATURE_HEADER, Mode, request_for, signature
from sotay.kit.egress import AddressRefused, EgressPolicy, GuardedTransport, parse_hosts, parse_networks

CONNECTIONS = 64  # to all endpoints together, per replica


def policy_from_settings(settings) -> EgressPolicy:
    return EgressPolicy(hosts=parse_hosts(settings.webhook_hosts),
                        trusted=parse_networks(settings.webhook_allow_networks))


def url_refusal(url: str, policy: EgressPolicy) -> str | None:
    """Why the bridge will not send to `url`, in a few words; None when it will (its host's
    addresses are checked again at every connection)."""
    try:
        parsed = policy.check_url(url)
    except AddressRefused as exc:
        return (str(exc).replace("only http and https feeds", "must be an https address")
                .replace("allowed feed hosts (SOTAY_FEED_HOSTS)", "allowed webhook hosts (SOTAY_WEBHOOK_HOSTS)"))
    if parsed.scheme != "https" and not policy.trusts(parsed.host):
        return "must be an https address"
    if parsed.userinfo:
        return "must not carry a user name or password"
    if parsed.fragment:
        return "must not have a fragment (#…)"
    return None


async def url_refusal_now(url: str, policy: EgressPolicy) -> str | None:
    """url_refusal, and the addresses its host resolves to now (when it resolves: one that does
    not may still be a good endpoint tomorrow; every connection is checked anyway)."""
    refusal = url_refusal(url, policy)
    if refusal is None:
        try:
            await policy.check_before_saving(url)
        except AddressRefused as exc:
            return str(exc)
    return refusal


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status_code: int | None
    error: str  # what went wrong, in a few words (never the answer's body)
    retry_after_s: float | None = None


class Sender:
    """One per replica: its connections are pooled across endpoints."""

    def __init__(self, policy: EgressPolicy, timeout_s: float) -> None:
        self.policy = policy
        self.client = httpx.AsyncClient(transport=GuardedTransport(policy, max_connections=CONNECTIONS),
                                        timeout=timeout_s, follow_redirects=False)

    async def close(self) -> None:
        await self.client.aclose()

    async def send(self, *, url: str, mode: Mode, secret: str, published: bytes, delivery_id: int, attempt: int,
                   endpoint_id: str, traceparent: str | None) -> Attempt:
        refusal = url_refusal(url, self.policy)
        if refusal is not None:
            return Attempt(False, None, f"refused: the URL {refusal}")
        headers, body = request_for(mode, published)
        headers[SIGNATURE_HEADER] = signature(secret, int(time.time()), body)
        headers.update({"Sotay-Delivery": str(delivery_id), "Sotay-Attempt": str(attempt),
                        "Sotay-Endpoint": endpoint_id, "User-Agent": "sotay-webhooks/1"})
        if traceparent:
            headers["traceparent"] = traceparent
        try:
            response = await self.client.post(url, content=body, headers=headers)
        except AddressRefused as exc:
            return Attempt(False, None, str(exc))
        except httpx.TimeoutException:
            return Attempt(False, None, "timed out")
        except httpx.HTTPError as exc:
            return Attempt(False, None, f"{type(exc).__name__}: {str(exc)[:200]}")
        await response.aclose()
        if 200 <= response.status_code < 300:
            return Attempt(True, response.status_code, "")
        return Attempt(False, response.status_code, f"answered {response.status_code}",
                       _retry_after(response.headers.get("retry-after")))


def _retry_after(value: str | None) -> float | None:
    """A Retry-After in seconds (the date form is not taken)."""
    if value and value.strip().isdigit():
        return float(value.strip())
    return None
