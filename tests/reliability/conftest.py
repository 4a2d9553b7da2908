"""Shared fixtures of the reliability suite: one trained home that every test copies, and the session's
Prefect API for the real `vigie` processes the tests start (so that they start no server of their own)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runs import copy_home, settings_for  # noqa: E402


@pytest.fixture(scope="session")
def api_url(prefect_harness) -> str:
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory, prefect_harness) -> Path:
    """A home whose champions were trained and whose last simulated week was published once (DuckDB store)."""
    from flows.weekly import weekly_flow

    home = tmp_path_factory.mktemp("trained") / "home"
    settings = settings_for(home)
    settings.ensure_dirs()
    weekly_flow(settings=settings, allow_simulated=True)
    return home


@pytest.fixture
def home(trained_home, tmp_path) -> Path:
    return copy_home(trained_home, tmp_path / "home")
