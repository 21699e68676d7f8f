"""Fixtures of the counters tests: the 手続ナビ seed on top of the starter forms."""

from __future__ import annotations

import pytest

from counters.navigation import navigation_seed_load


@pytest.fixture
def navigation(starter_forms: None) -> dict[str, int]:
    """The starter forms and the 手続ナビ seed (counters/navigation.json); returns what the seed created."""
    return navigation_seed_load()
