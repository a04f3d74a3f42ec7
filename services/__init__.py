"""The services: members, identity, content and metrics, each its own package with the same
rooms (domain, handlers, adapters, entrypoints). sotay/system/registry.py lists them."""
