"""One settings object for the whole system, read from SOTAY_* variables."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOTAY_", extra="ignore")

    # "production": every key comes from the secret store (sotay/kit/keys.py) and nothing secret is
    # made up on disk; `sotay token` refuses to run.
    env: Literal["development", "production"] = "development"

    # Unset means: start the embedded server under data_dir.
    nats_url: str | None = None
    # The NATS user this process connects as (deploy/README.md, "Least privilege"); credentials
    # in SOTAY_NATS_URL (nats://user:password@host:4222) work too, these win over them.
    nats_user: str | None = None
    nats_password: str | None = None
    # TLS to NATS (deploy/README.md, "NATS over TLS"): on when SOTAY_NATS_URL names tls:// servers or a CA
    # is given. The CA file the servers' certificates are checked against (unset: the system's CAs), and
    # for servers that verify their clients, this client's certificate and key (PEM files).
    nats_tls_ca: str | None = None
    nats_tls_cert: str | None = None
    nats_tls_key: str | None = None
    database_url: str | None = None
    members_database_url: str | None = None
    identity_database_url: str | None = None
    content_database_url: str | None = None
    metrics_database_url: str | None = None
    webhooks_database_url: str | None = None

    data_dir: Path = Path(".sotay")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Addresses or CIDRs (comma-separated) of the reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed; empty: none, the peer is the client.
    trusted_proxies: str = ""

    # At start, a service applies its migrations and creates or updates the streams, buckets and its
    # consumers. False: it only checks they are there, and `sotay migrate` (as the owner role and
    # the NATS admin) sets them up, so the service runs with a role and a user that cannot.
    setup_on_start: bool = True
    # Committee codes, comma-separated, whose outside systems read their events through durable
    # consumers `district-<code>` on each stream, which `sotay migrate` creates.
    district_consumers: str = ""

    # Streams: 1 replica embedded, 3 in a cluster.
    stream_replicas: int = 1
    duplicate_window_s: float = 900.0

    # Consumers: deliveries before a message is dead-lettered, and the redelivery delay.
    max_deliver: int = 5
    nack_delay_s: float = 2.0
    ack_wait_s: float = 30.0
    consumer_batch: int = 200
    consumer_fetch_timeout_s: float = 2.0

    # Stopping on SIGTERM (docs/upgrades.md): /readyz answers 503 at once and requests are still served
    # for shutdown_drain_s, so a proxy stops sending; then the listener closes, the requests in flight
    # finish (at most shutdown_timeout_s), the consumers finish and ack their batch, the relay its publish.
    shutdown_drain_s: float = 3.0
    shutdown_timeout_s: float = 20.0

    # Keys (sotay/kit/keys.py says who holds which). In development each is made under data_dir/keys
    # when unset. Keyed hash of personal values in events (HMAC-SHA256): members and identity.
    pii_hmac_key: str | None = None
    # Identity's: the key-encryption key that seals its signing keys, and the root key that
    # signs the JWKS it publishes (base64url). Every other service: the root's public key.
    key_encryption_key: str | None = None
    # Members': the key-encryption key that wraps the data keys of its sealed columns (citizen IDs,
    # phones, dates of birth; services/members/adapters/sealed.py), base64url of 32 bytes; and,
    # while a new one is rolled out (`sotay keys rewrap-members`), the one it replaces.
    members_kek: str | None = None
    members_kek_previous: str | None = None
    # Members', identity's and content's: the key-encryption key that wraps each member's event key
    # (sotay/kit/member_keys.py: the personal part of member events, destroyed on erasure).
    events_kek: str | None = None
    jwks_root_key: str | None = None
    jwks_root_public_key: str | None = None
    # Development: the file of the data dir's signing key (sealed with the key-encryption key).
    signing_key_file: Path | None = None
    # Every service refuses a token that claims to live longer than this (exp - iat), and allows
    # this much disagreement between identity's clock and its own.
    token_max_lifetime_s: int = 3600
    token_clock_skew_s: int = 30

    # Members: a staff account that opens more full member records (identifiers in clear) than this
    # within an hour raises an UnusualRecordReads alert (docs/breach-runbook.md): a clerk opens
    # records one by one, a script or a stolen session opens hundreds.
    unusual_reads_per_hour: int = Field(200, ge=1)

    # Identity: a registration pending longer than this is flagged overdue and escalates to the unit
    # above (RegistrationEscalated), checked this often on one replica.
    approval_overdue_days: int = 7
    escalation_interval_s: float = Field(3600.0, gt=0)
    access_token_ttl_s: int = 900
    refresh_token_ttl_days: int = 30
    # Identity's throttles (sliding windows; deploy/README.md, "Security"): failed sign-ins per
    # account and per client address within the window, and registrations per address per hour.
    sign_in_window_s: int = 900
    sign_in_failures_per_account: int = 10
    sign_in_failures_per_address: int = 100
    registrations_per_address_per_hour: int = 120
    # Identity's password resets (issue 18): how long a reset code a cell secretary or unit admin
    # issues stays valid, and how many wrong codes tried against it void it.
    password_reset_code_ttl_s: int = 1800
    password_reset_code_attempts: int = 5
    # Password hashing: threads (default: one per core) and how many hashes may wait for one;
    # past that, registrations and sign-ins get 503 with Retry-After.
    password_workers: int | None = None
    password_queue: int = 64

    log_level: str = "INFO"
    # The bearer token Prometheus sends to each process's /metrics and to metrics' rollout gauges
    # (docs/operations.md, "Observability"). Unset: in development one is made under data_dir/keys;
    # in production scraping is off (404).
    metrics_token: str | None = None
    # Log lines as JSON (one object a line) or text; "auto": text on a terminal, JSON elsewhere (sotay/kit/logs.py).
    log_format: str = "auto"

    # --- outside input (issue 16, trust boundaries) ---------------------------------------------
    # Feed import fetches from public addresses only: never loopback, private, link-local, shared
    # (CGNAT), multicast or reserved ones (services/content/adapters/egress.py). SOTAY_FEED_HOSTS: host names,
    # comma-separated ("*.example.vn" for its subdomains), the only ones feeds may come from (empty:
    # any host on a public address). SOTAY_FEED_ALLOW_NETWORKS: networks (CIDRs, comma-separated)
    # trusted all the same, such as the city website's on an internal network.
    feed_hosts: str = ""
    feed_allow_networks: str = ""
    # The rollout stream (server-sent events): open streams per signed-in account and in all, per
    # process. A dashboard is one stream; a wall of them, or a few tabs, stays well within 5.
    sse_max_per_user: int = 5
    sse_max_streams: int = 1000
    # Web Push (content, services/content/adapters/push.py). SOTAY_VAPID_PRIVATE_KEY: the P-256 key
    # that signs what content sends to push services (base64url of its 32 bytes; `sotay vapid-key`
    # makes one). SOTAY_VAPID_SUBJECT: how a push service reaches the operator. SOTAY_PUSH_HOSTS:
    # the push services a browser's subscription may name (its endpoint's host; "*.x" for
    # subdomains), the processors listed in docs/personal-data.md; empty: push is off, and the
    # inbox alone tells members. SOTAY_PUSH_ALLOW_NETWORKS: networks trusted all the same, plain
    # http allowed (a local push service standing in for the gateway in tests).
    vapid_private_key: str | None = None
    vapid_subject: str = "mailto:sotay@localhost"
    push_hosts: str = ("fcm.googleapis.com,updates.push.services.mozilla.com,*.push.services.mozilla.com,"
                       "*.push.apple.com,*.notify.windows.com")
    push_allow_networks: str = ""
    # The webhook bridge (services/webhooks, docs/webhooks.md). SOTAY_WEBHOOKS_KEK: the key-encryption
    # key that seals each endpoint's signing secret at rest (base64url of 32 bytes). Endpoints are
    # https on public addresses only (the egress guard, sotay/kit/egress.py); SOTAY_WEBHOOK_ALLOW_NETWORKS:
    # networks trusted all the same, where plain http to an address in them is allowed too (a receiver
    # on loopback in tests and development). A delivery is tried at most SOTAY_WEBHOOK_MAX_ATTEMPTS
    # times, waiting between tries SOTAY_WEBHOOK_RETRY_BASE_S doubling up to SOTAY_WEBHOOK_RETRY_MAX_S
    # (each wait drawn between half and all of that: jitter), SOTAY_WEBHOOK_TIMEOUT_S a try.
    # SOTAY_WEBHOOK_HOSTS: host names endpoints may name ("*.x" for subdomains; empty: any public host).
    webhooks_kek: str | None = None
    webhook_hosts: str = ""
    webhook_allow_networks: str = ""
    webhook_max_attempts: int = Field(12, ge=1)
    webhook_retry_base_s: float = Field(10.0, gt=0)
    webhook_retry_max_s: float = Field(3600.0, gt=0)
    webhook_timeout_s: float = Field(10.0, gt=0)
    webhook_poll_s: float = Field(0.5, gt=0)
    # A cell's members are reminded of its meeting this many hours before it starts.
    meeting_reminder_hours: int = 24

    # --- retention (docs/personal-data.md, "Retention") -------------------------------------------
    # A member who died, was removed or transferred out this many years ago is minimised: their
    # citizen ID, phone and date of birth (and keyed hashes) are dropped, the membership facts kept.
    # Five years: a congress term (nhiệm kỳ), over which the unit's reports, complaints about a
    # removal and a re-admission may still need to identify the person; the paper file stays with
    # the organisation board under Party rules.
    retention_left_years: int = Field(5, ge=1)
    # A rejected registration is deleted this many days after its rejection (the registrant was
    # told, and may ask why or register again within it); its consent rows stay, naming its id only.
    retention_rejected_days: int = Field(90, ge=1)
    # Refresh tokens and password reset codes are deleted this many days after they expire, and an
    # address this many days after it stopped being known (KNOWN_ADDRESS_DAYS).
    retention_expired_days: int = Field(7, ge=0)
    # The retention job runs this often, on one replica of members and one of identity, in batches.
    retention_interval_hours: float = Field(24.0, gt=0)
    retention_batch: int = Field(500, ge=1)

    @field_validator("feed_allow_networks", "push_allow_networks", "webhook_allow_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in (i.strip() for i in value.split(",")):
            if item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"{item!r} is not a network (CIDR such as 10.20.0.0/16)") from None
        return value

    def database_url_for(self, service: str) -> str | None:
        return getattr(self, f"{service}_database_url", None) or self.database_url

    def district_codes(self) -> list[str]:
        return [code.strip() for code in self.district_consumers.split(",") if code.strip()]

    def signing_key(self) -> Ed25519PrivateKey:
        """The development data dir's token-signing key (sotay/kit/keys.py, development_signing_key)."""
        from sotay.kit.keys import development_signing_key

        return development_signing_key(self)

    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @cached_property
    def keys_dir(self) -> Path:
        path = self.data_dir / "keys"
        path.mkdir(parents=True, exist_ok=True)
        return path


def get_settings() -> Settings:
    return Settings()
