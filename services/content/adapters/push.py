"""Web Push: a notice sent to a browser's push service (RFC 8030), its payload encrypted for
that browser alone (RFC 8291, aes128gcm) and signed as ours (VAPID, RFC 8292), both by
pywebpush and py_vapid.

A subscription's endpoint is an address a browser chose, handed to us by whoever calls the
API: content would POST to it. So, as for feeds (adapters/egress.py), it is outside input:
- only the push services of SOTAY_PUSH_HOSTS (the processors docs/personal-data.md names),
  over https; an operator may trust a network all the same (SOTAY_PUSH_ALLOW_NETWORKS, where
  plain http is allowed: a local push service in tests, named in SOTAY_PUSH_HOSTS too);
- every connection goes through the egress guard: a push host that resolves to a loopback,
  private or link-local address is refused when connecting.
The endpoint and keys are personal data held for sending only: never logged.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import Literal

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPusher

from services.content.adapters.egress import (
    AddressRefused,
    EgressPolicy,
    GuardedTransport,
    parse_hosts,
    parse_networks,
)
from sotay.kit.keys import unb64url, vapid_private_key, vapid_public_key

SENDS_AT_ONCE = 32  # connections to push services, per replica


@dataclass(frozen=True)
class PushPolicy:
    egress: EgressPolicy  # its hosts are SOTAY_PUSH_HOSTS, its trusted networks SOTAY_PUSH_ALLOW_NETWORKS

    @classmethod
    def from_settings(cls, settings) -> PushPolicy:
        return cls(EgressPolicy(hosts=parse_hosts(settings.push_hosts),
                                trusted=parse_networks(settings.push_allow_networks)))

    def refusal(self, endpoint: str) -> str | None:
        """Why content will not send to this endpoint, in a few words; None when it will."""
        try:
            url = self.egress.check_url(endpoint)
        except AddressRefused:
            return "is not a push service this system sends to"
        if url.scheme != "https" and not self._trusted(url.host):
            return "must be an https address"
        return None

    def _trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        return any(address.version == n.version and address in n for n in self.egress.trusted)


def keys_problem(p256dh: str, auth: str) -> list[tuple[str, str]]:
    """What is wrong with a subscription's keys: the browser's P-256 public point and its
    16-byte authentication secret, both base64url."""
    problems = []
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(p256dh))
    except ValueError:
        problems.append(("keys.p256dh", "is not a P-256 public key (65 bytes, base64url)"))
    try:
        if len(unb64url(auth)) != 16:
            problems.append(("keys.auth", "must be 16 bytes, base64url"))
    except ValueError:
        problems.append(("keys.auth", "must be 16 bytes, base64url"))
    return problems


@dataclass(frozen=True)
class Subscription:
    id: int
    endpoint: str
    p256dh: str
    auth: str


Outcome = Literal["sent", "gone", "failed"]


class Pusher:
    """Sends notices' payloads to subscriptions. One per replica (its connections are pooled)."""

    def __init__(self, private_key: str, subject: str, policy: PushPolicy) -> None:
        self.vapid = Vapid.from_string(private_key=private_key)
        self.public_key = vapid_public_key(private_key)
        self.subject = subject
        self.policy = policy
        self.client = httpx.AsyncClient(transport=GuardedTransport(policy.egress, max_connections=SENDS_AT_ONCE),
                                        timeout=10.0, follow_redirects=False)
        self._signed: dict[str, tuple[float, dict[str, str]]] = {}  # VAPID headers per push service

    @classmethod
    def from_settings(cls, settings) -> Pusher | None:
        """The replica's pusher, or None when push is off: no push service is named
        (SOTAY_PUSH_HOSTS empty: the office uses none)."""
        if not parse_hosts(settings.push_hosts):
            return None
        return cls(vapid_private_key(settings), settings.vapid_subject, PushPolicy.from_settings(settings))

    def _vapid_headers(self, endpoint: httpx.URL) -> dict[str, str]:
        audience = f"{endpoint.scheme}://{endpoint.netloc.decode()}"
        now = time.time()
        kept = self._signed.get(audience)
        if kept is None or kept[0] < now + 3600:  # a signature lives 12 hours; one is made an hour before
            expires = now + 12 * 3600
            kept = (expires, self.vapid.sign({"sub": self.subject, "aud": audience, "exp": int(expires)}))
            self._signed[audience] = kept
        return kept[1]

    async def send(self, subscription: Subscription, payload: bytes, ttl_s: int) -> tuple[Outcome, str | None]:
        """Send one payload: "sent", "gone" (the push service forgot the subscription: drop it) or
        "failed" with a short reason (kept on the subscription; the endpoint itself never is)."""
        reason = self.policy.refusal(subscription.endpoint)
        if reason:
            return "failed", f"endpoint {reason}"
        url = httpx.URL(subscription.endpoint)
        try:
            encrypted = WebPusher({"endpoint": subscription.endpoint,
                                   "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}
                                  ).encode(payload, "aes128gcm")["body"]
        except ValueError:
            return "gone", None  # keys nothing can be encrypted for: it can never be sent to
        headers = {**self._vapid_headers(url), "Content-Encoding": "aes128gcm", "TTL": str(max(ttl_s, 0)),
                   "Content-Type": "application/octet-stream", "Urgency": "normal"}
        try:
            response = await self.client.post(url, content=encrypted, headers=headers)
        except (httpx.HTTPError, AddressRefused, OSError) as exc:
            return "failed", type(exc).__name__
        if response.status_code in (200, 201, 202):
            return "sent", None
        if response.status_code in (404, 410):
            return "gone", None
        return "failed", f"HTTP {response.status_code}"

    async def close(self) -> None:
        await self.client.aclose()
