"""Fixtures for the network tests: a throwaway Ethernet segment per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.net.netns import Lan, unavailable


@pytest.fixture(scope="session")
def netns_unavailable() -> str | None:
    return unavailable()


@pytest.fixture
def lan(netns_unavailable: str | None) -> Iterator[Lan]:
    """A bridge in its own namespace; add hosts with ``lan.host(name, "10.9.0.1/24", ...)``."""
    if netns_unavailable:
        pytest.skip(netns_unavailable)
    segment = Lan()
    try:
        yield segment
    finally:
        segment.close()
