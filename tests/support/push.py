"""A local push service standing in for the browser maker's (FCM, Mozilla's, Apple's): it takes
what content sends to a subscription's endpoint as a real one does (RFC 8030: 201 Created), keeps
it, and can decrypt it as the subscribed browser would, with the browser's own keys (RFC 8291)."""

from __future__ import annotations

import base64
import http.server
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Push:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Browser:
    """A subscribed browser: its keys, and the endpoint its push service gave it."""
    endpoint: str
    key: ec.EllipticCurvePrivateKey
    auth: bytes

    def subscription(self) -> dict[str, Any]:
        """As PushSubscription.toJSON() gives it."""
        point = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)}}

    def read(self, push: Push) -> dict[str, Any]:
        """The payload, decrypted as this browser would."""
        assert push.headers.get("content-encoding") == "aes128gcm"
        return json.loads(http_ece.decrypt(push.body, private_key=self.key, auth_secret=self.auth,
                                           version="aes128gcm"))


@dataclass
class LocalPushService:
    host: str = "127.0.0.1"
    received: list[Push] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)  # path: status (default 201)

    def __enter__(self) -> LocalPushService:
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                service.received.append(Push(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(service.answers.get(self.path, 201))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((self.host, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}"

    def browser(self) -> Browser:
        return Browser(f"{self.origin}/push/{secrets.token_urlsafe(12)}", ec.generate_private_key(ec.SECP256R1()),
                       secrets.token_bytes(16))

    def pushes_to(self, browser: Browser) -> list[Push]:
        path = browser.endpoint.removeprefix(self.origin)
        return [p for p in self.received if p.path == path]


def vapid_claims(push: Push, public_key: str) -> dict[str, Any]:
    """The VAPID token of a push (RFC 8292: `vapid t=<JWT>,k=<key>`), verified with the key
    content publishes at /push/key; raises when it was not signed with it."""
    scheme, _, params = push.headers["authorization"].partition(" ")
    assert scheme == "vapid", push.headers["authorization"]
    fields = dict(p.split("=", 1) for p in params.split(","))
    assert fields["k"] == public_key
    point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(public_key))
    return jwt.decode(fields["t"], point, algorithms=["ES256"], options={"verify_aud": False})


def a_device() -> dict[str, Any]:
    """A valid subscription of a real push service's (what a request must carry to be accepted),
    each its own device, for tests that push nothing to it."""
    return Browser(f"https://fcm.googleapis.com/fcm/send/{secrets.token_urlsafe(16)}",
                   ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(16)).subscription()
