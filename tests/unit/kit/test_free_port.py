"""free_port stays out of the kernel's ephemeral range, where an outgoing connection could
take the port between the check and the server's bind (or while a server restarts on it)."""

from __future__ import annotations

import socket

from sotay.kit import embedded
from sotay.kit.embedded import free_port


def test_a_free_port_is_below_the_ephemeral_range_and_bindable():
    low, _ = embedded._ephemeral_range()
    ports = {free_port() for _ in range(20)}
    assert all(1024 <= port < low for port in ports), ports
    assert len(ports) > 1  # random, so two workers seldom meet on one
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.pop()))


def test_a_preferred_port_is_kept_when_free_and_replaced_when_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        assert free_port(busy) != busy
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        idle = probe.getsockname()[1]
    assert free_port(idle) == idle


def test_without_the_kernel_s_range_it_falls_back_to_linux_s_default(monkeypatch):
    def no_proc(_path):
        raise OSError("no /proc")
    monkeypatch.setattr(embedded, "Path", no_proc)
    assert embedded._ephemeral_range() == (32768, 60999)
