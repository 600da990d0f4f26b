"""The config's schema: conf/train.yaml and its groups are merged onto these dataclasses (Hydra
structured configs), so a value of the wrong type or a key that does not exist is refused at
composition, by Hydra, with the key and the value named. Each group node is one constructor's
arguments: `model` is study.nets.NetConfig, `data` study.data.stream.DataConfig, `optim`
study.training.recipe.OptimConfig. Each constructor refuses a value out of its range;
study.training.config.validate adds the checks that span several nodes.

A new hyperparameter is one field in the dataclass of the node it belongs to (docs/runs.md,
"Adding a hyperparameter").
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from study.data.stream import DataConfig
from study.nets import NetConfig
from study.training.recipe import OptimConfig

__all__ = ["RunOptions", "TrainConfig", "store_schema"]


@dataclass
class RunOptions:
    """How a run executes, not what it trains: the config's `run` node."""

    channels_last: bool = True  # NHWC memory layout: faster on GPUs and, measured, on CPUs (1.2-1.3x)
    compile: bool = False  # torch.compile the net
    max_depth: int = 1202  # deeper nets are refused before they run out of memory; raise it to try one


@dataclass
class TrainConfig:
    """A run: conf/train.yaml. Steps are SGD iterations of one mini-batch."""

    model: NetConfig = MISSING  # a group: model=resnet|plain|custom
    data: DataConfig = MISSING  # a group: data=cifar10|cifar100|fashion_mnist
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunOptions = field(default_factory=RunOptions)
    trainer: Any = MISSING  # lightning.Trainer's arguments (conf/trainer/default.yaml), checked against it
    logger: Any = None  # a group: logger=csv|tensorboard|wandb, or a list of them
    seed: int = 0
    runs_root: str = "runs"  # run folders go below: <dataset>/<arch><depth>/seed<seed>-<hash>
    experiment_name: str = "single"  # names a sweep (its wandb group and progress file)
    log_every: int = 100  # steps between training-error/lr rows in metrics.csv
    eval_every: int = 1000  # steps between val/test evaluations (64 points over 64k steps)
    checkpoint_every: int = 2000  # steps between checkpoints (bounds what a crash loses)
    diag_every: int = 1000  # steps between signal diagnostics (diagnostics.csv); 0: none
    table6_run: list[int] | None = None  # experiment=table6's [depth, seed], one pair a job

    def __post_init__(self):
        for key in ("log_every", "eval_every", "checkpoint_every"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key}={getattr(self, key)!r} must be a positive whole number")
        if self.diag_every < 0:
            raise ValueError(f"diag_every={self.diag_every!r} must be 0 (no diagnostics) or a positive number of steps")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed={self.seed!r} must be a whole number from 0 to 2**32-1")


def store_schema() -> None:
    """Register the schema as `train_schema`, the first entry of conf/train.yaml's defaults list."""
    ConfigStore.instance().store(name="train_schema", node=TrainConfig)
