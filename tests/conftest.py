"""Shared fixtures; the helpers they use live beside this file, one module a job: fixture_data.py
(tiny datasets), commands.py (the real commands), tiny_runs.py, fake_runs.py, wandb_files.py."""

from pathlib import Path

import pytest

from fixture_data import make_fake_cifar10
from study.training.config import register_config
from tiny_runs import compose_config

register_config()  # ${run_id:}, for tests that compose the app's config themselves


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory) -> Path:
    return make_fake_cifar10(tmp_path_factory.mktemp("cifar"))


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path, monkeypatch):
    """Decoded-layout caches that cannot go beside the data go here, not into ~/.cache."""
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "cache-home"))


@pytest.fixture(scope="session")
def default_config():
    """The app's default config, composed once as `python -m study.train` composes it."""
    return compose_config()
