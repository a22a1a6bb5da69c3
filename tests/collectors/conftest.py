"""Fixtures of the collector tests: a scriptable estate over real HTTP, fresh circuits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collectors.circuit import reset_circuits
from tests.collectors.fake_estate import FakeEstate, serve


@pytest.fixture(autouse=True)
def _fresh_circuits() -> Iterator[None]:
    # circuits are per process; a source failing in one test must not open it for the next
    reset_circuits()
    yield
    reset_circuits()


@pytest.fixture
def estate() -> Iterator[FakeEstate]:
    """An empty fake estate served on a free loopback port (``estate.base_url``)."""
    fake = FakeEstate()
    with serve(fake):
        yield fake
