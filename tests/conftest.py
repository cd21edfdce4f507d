"""Shared pytest setup: headless plotting, one torch thread, a fast hypothesis profile."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

torch.set_num_threads(1)

settings.register_profile(
    "snnkit", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("snnkit")


@pytest.fixture
def rng() -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(0)
    return gen


@pytest.fixture
def offline_data(monkeypatch, tmp_path):
    """No network, and no real $SNNKIT_DATA / cache / system locations unless a test puts them back."""
    from snnkit.data import root

    def no_network(url, dest, md5):
        raise AssertionError(f"test tried to download {url}")

    monkeypatch.setattr(root, "download_url", no_network)
    monkeypatch.delenv(root.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(root, "system_locations", lambda source: ())
