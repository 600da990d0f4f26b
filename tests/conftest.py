"""Shared fixtures: a tiny CIFAR-10 in torchvision's own on-disk format, and a way to run the real
CLI on it. Its md5s cannot match the real files', so torchvision's integrity check, and nothing
else, is patched to load it."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from study.runs import register_configs

register_configs()  # the `data` config group, for tests that compose the app's config themselves

REPO = Path(__file__).resolve().parents[1]

# Put first on PYTHONPATH, it patches torchvision's md5 check in every Python process a test
# starts, the workers of a parallel sweep included.
SITECUSTOMIZE = "import torchvision.datasets.cifar as c\nc.check_integrity = lambda *a, **k: True\n"


def class_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """32x32 RGB images whose class shows as a colour and a stripe, plus noise: learnable in a few steps."""
    n = len(labels)
    images = rng.integers(0, 200, size=(n, 3, 32, 32), dtype=np.int64)
    for i, label in enumerate(labels):
        images[i, label % 3] += 30
        images[i, :, 3 * label : 3 * label + 3, :] += 25
    return np.clip(images, 0, 255).astype(np.uint8)


def make_fake_cifar10(root: Path, n_train: int = 500, n_test: int = 200, seed: int = 0) -> Path:
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def dump(name: str, n: int) -> None:
        labels = rng.integers(0, 10, size=n)
        entry = {"data": class_images(labels, rng).reshape(n, -1), "labels": labels.tolist(), "batch_label": name}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f)

    for i in range(1, 6):
        dump(f"data_batch_{i}", n_train // 5)
    dump("test_batch", n_test)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    return Path(root)


@pytest.fixture
def no_md5(monkeypatch):
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda *a, **k: True)


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory) -> Path:
    return make_fake_cifar10(tmp_path_factory.mktemp("cifar"))


@pytest.fixture(scope="session")
def md5_patch_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("md5patch")
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder


def cli_env(patch_dir: Path | None, extra: dict | None = None) -> dict:
    path = os.pathsep.join(p for p in (str(patch_dir or ""), str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    # One thread a process: the tiny nets gain nothing from more, and parallel test runs stay fast.
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline",
            "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1", **(extra or {})}


def run_cli(module: str, *args: str, patch_dir: Path | None = None, cwd: Path | None = None, timeout: int = 600,
            check: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m module args` in a subprocess (with the md5 patch when `patch_dir` is given)."""
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd or REPO, env=cli_env(patch_dir, env),
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{module} {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def tiny_run_args(cifar_root: Path, runs_root: Path, *extra: str) -> list[str]:
    """A run of a few steps on the fixture, small enough for the CPU in seconds."""
    return [f"data.root={cifar_root}", "data.download=false", f"runs_root={runs_root}", "data.batch_size=32",
            "trainer.max_steps=6", "log_every=2", "eval_every=3", "checkpoint_every=3",
            "optim.milestones=[4,5]", "trainer.enable_progress_bar=false", *extra]
