"""Fixtures of the attack suite (tests/attacks/world.py); its summary of what was tried is
printed by tests/conftest.py."""

from __future__ import annotations

import pytest

from tests.attacks.world import world_on


@pytest.fixture(scope="module")
def world(tmp_path_factory, postgres_server):
    with world_on(tmp_path_factory, postgres_server) as world:
        yield world

