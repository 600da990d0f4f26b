"""Runs of a few steps on the fixture data, and what they write."""

import csv
from pathlib import Path

from commands import REPO


def read_rows(path: Path) -> list[dict]:
    """The rows of a CSV a run wrote (metrics.csv, diagnostics.csv, layer_responses.csv)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def tiny_run_args(cifar_root: Path, runs_root: Path, *extra: str) -> list[str]:
    """A run of a few steps on the fixture, small enough for the CPU in seconds."""
    return [
        f"data.root={cifar_root}",
        "data.download=false",
        "data.verify_checksums=false",
        "data.expected_counts=null",
        f"runs_root={runs_root}",
        "data.batch_size=32",
        "trainer.max_steps=6",
        "log_every=2",
        "eval_every=3",
        "checkpoint_every=3",
        "optim.milestones=[4,5]",
        "trainer.enable_progress_bar=false",
        *extra,
    ]


def compose_config(*overrides: str):
    """The app's config for these overrides, composed as `python -m study.train` would."""
    from hydra import compose, initialize_config_dir

    from study.training.config import register_config

    register_config()
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return compose("train", list(overrides))


def stopped_at_step(step: int):
    """A StopOnSignal that acts as if SIGTERM came at `step` (monkeypatch it into study.training.run)."""
    import signal

    from study.training.callbacks import StopOnSignal

    class StopAtStep(StopOnSignal):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == step:
                self.signum = signal.SIGTERM
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    return StopAtStep


def train_in_process(cifar_root: Path, runs_root: Path, *extra: str) -> tuple[str, Path]:
    """(status, run folder) of a tiny run trained in this process by `study.train.train`."""
    from study.runs.identity import run_id
    from study.training.run import train

    cfg = compose_config(*tiny_run_args(cifar_root, runs_root, *extra))
    run_dir = Path(runs_root) / run_id(cfg)
    return train(cfg, run_dir), run_dir
