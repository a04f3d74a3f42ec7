"""Where content may fetch from: only the public internet. The guard itself is the kit's
(sotay/kit/egress.py), shared with the webhook bridge; content's feeds and push use it from here."""

from sotay.kit.egress import (  # noqa: F401
    GLOBAL_UNICAST,
    NAT64,
    REFUSED_NETWORKS,
    AddressRefused,
    EgressPolicy,
    GuardedBackend,
    GuardedTransport,
    embedded_ipv4,
    kind_of,
    parse_hosts,
    parse_networks,
    system_resolver,
)
