"""The services the system is made of, in start order."""

from importlib import import_module

from sotay.kit.service import ServiceDefinition

SERVICES = ("members", "identity", "content", "metrics", "webhooks")


def load(name: str) -> ServiceDefinition:
    if name not in SERVICES:
        raise KeyError(f"unknown service {name!r}: choose from {', '.join(SERVICES)}")
    return import_module(f"services.{name}").definition()
