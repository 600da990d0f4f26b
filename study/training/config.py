"""A run's config (conf/train.yaml): the resolvers it uses, the Trainer arguments the harness owns,
and the refusal of impossible settings before any data is read or any folder is made, in one
line that names the value and what is allowed. Whose a run folder is: study.runs.folder.
"""

import os

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from study.data.sources import DATASETS, SHAPES
from study.nets import ARCHS, BLOCKS, BUILDER_SIGNATURE, SHORTCUTS, UNITS, NetConfig, blocks_per_stage, build_net
from study.runs.identity import run_id, trainer_defaults
from study.training import loggers

#: Trainer arguments the harness sets itself; a config that sets them is refused (with the key
#: that does the job instead).
TRAINER_SET_BY_HARNESS = {
    "logger": "choose loggers with logger=csv|tensorboard|wandb or logger=[tensorboard,wandb]",
    "callbacks": "the run's callbacks are fixed (study/training/callbacks.py)",
    "enable_checkpointing": "checkpoints are taken every checkpoint_every steps",
    "default_root_dir": "the run folder is set by runs_root or hydra.run.dir",
    "max_epochs": "a run's length is trainer.max_steps",
    "min_epochs": "a run's length is trainer.max_steps",
    "min_steps": "a run's length is trainer.max_steps",
    "limit_val_batches": "validation and test errors are measured every eval_every steps",
    "val_check_interval": "validation and test errors are measured every eval_every steps",
    "check_val_every_n_epoch": "validation and test errors are measured every eval_every steps",
    "num_sanity_val_steps": "there is no sanity validation",
    "use_distributed_sampler": "the data stream shards itself",
}


def register_resolvers() -> None:
    """`${run_id:}` in conf/train.yaml: the run folder of the config it is resolved in; and, for
    conf/hydra/launcher/slurm.yaml, `${gpus_or_null:N}` (no GPU request on a CPU-only partition)
    and `${at_least_one:N}` (one task per GPU, one task without GPUs)."""
    resolvers = {
        "run_id": lambda *, _root_: run_id(_root_),
        "gpus_or_null": lambda n: int(n) or None,
        "at_least_one": lambda n: max(1, int(n)),
    }
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)


#: The Trainer arguments every run is built with (and the benchmark's harness column).
FIXED_TRAINER_ARGS = {
    "logger": False,
    "enable_checkpointing": False,
    "enable_model_summary": False,
    "limit_val_batches": 0,
    "num_sanity_val_steps": 0,
    "use_distributed_sampler": False,
}


class ConfigError(ValueError):
    """A config value that cannot work; the message names it and what is allowed."""


def check_user_net(cfg: DictConfig) -> None:
    """model=custom: the builder is imported and builds the net once, for the dataset's classes and
    channels, so a builder that cannot work is refused before any run folder is made."""
    if OmegaConf.is_missing(cfg.model, "builder"):
        raise ConfigError(
            "model=custom needs model.builder=package.module:function, a function "
            f"{BUILDER_SIGNATURE} (docs/nets.md, 'Any net of yours')"
        )
    try:
        net = build_net(NetConfig.of_model(cfg.model, *SHAPES[cfg.data.name]))
    except Exception as err:  # the user's code may raise anything: name it with the builder
        text = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
        where = "" if str(cfg.model.builder) in text else f"builder {cfg.model.builder}: "
        raise ConfigError(f"model.builder: {where}{text}") from None
    del net


def validate(cfg: DictConfig) -> None:
    """Refuse impossible settings before any data is loaded."""
    m, d = cfg.model, cfg.data
    if m.arch not in ARCHS:
        raise ConfigError(
            f"model.arch={m.arch!r} is unknown: choose one of {', '.join(ARCHS)} (model=plain or model=resnet)"
        )
    for key, allowed in (("unit", UNITS), ("block", BLOCKS)):
        if m.get(key, allowed[0]) not in allowed:
            raise ConfigError(f"model.{key}={m.get(key)!r} is unknown: choose one of {', '.join(allowed)}")
    if d.name not in DATASETS:
        raise ConfigError(
            f"data.name={d.name!r} is unknown: choose one of {', '.join(DATASETS)} (data=cifar10, data=cifar100 or "
            "data=fashion_mnist)"
        )
    if "builder" in m or OmegaConf.is_missing(m, "builder"):
        check_user_net(cfg)
    else:
        block = m.get("block", "basic")
        try:
            blocks_per_stage(m.depth, block)
        except ValueError as err:
            raise ConfigError(
                f"model.depth={m.depth}: {err}" + (" (model.block=bottleneck)" if block != "basic" else "")
            ) from None
    if m.depth > m.max_depth:
        raise ConfigError(
            f"model.depth={m.depth} is deeper than model.max_depth={m.max_depth}: ResNet-1202, the "
            "paper's deepest, already needs about 12.5 GiB to train at batch 128, so deeper nets are "
            "refused rather than run out of memory; raise model.max_depth to try one"
        )
    if m.shortcut not in SHORTCUTS:
        raise ConfigError(f"model.shortcut={m.shortcut!r} is unknown: choose one of {', '.join(SHORTCUTS)}")
    positive = {
        "data.batch_size": d.batch_size,
        "data.eval_batch_size": d.eval_batch_size,
        "trainer.max_steps": cfg.trainer.max_steps,
        "log_every": cfg.log_every,
        "eval_every": cfg.eval_every,
        "checkpoint_every": cfg.checkpoint_every,
    }
    for key, value in positive.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{key}={value!r} must be a positive whole number")
    diag_every = cfg.get("diag_every", 0)
    if isinstance(diag_every, bool) or not isinstance(diag_every, int) or diag_every < 0:
        raise ConfigError(f"diag_every={diag_every!r} must be 0 (no diagnostics) or a positive number of steps")
    seed = cfg.seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed={seed!r} must be a whole number from 0 to 2**32-1")
    o = cfg.optim
    real = {
        "optim.lr": (o.lr, "a positive number, the paper's is 0.1"),
        "optim.warmup_lr": (o.warmup_lr, "a positive number, the paper's is 0.01"),
        "optim.momentum": (o.momentum, "in [0, 1), the paper's is 0.9"),
        "optim.weight_decay": (o.weight_decay, "zero or positive, the paper's is 0.0001"),
        "optim.gamma": (o.gamma, "in (0, 1], the paper's is 0.1"),
    }
    for key, (value, allowed) in real.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ConfigError(f"{key}={value!r} must be {allowed}")
    for key, ok in (
        ("optim.lr", o.lr > 0),
        ("optim.warmup_lr", o.warmup_lr > 0),
        ("optim.momentum", 0 <= o.momentum < 1),
        ("optim.weight_decay", o.weight_decay >= 0),
        ("optim.gamma", 0 < o.gamma <= 1),
    ):
        if not ok:
            raise ConfigError(f"{key}={real[key][0]!r} must be {real[key][1]}")
    milestones = list(o.milestones)
    if any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in milestones) or milestones != sorted(
        milestones
    ):
        raise ConfigError(f"optim.milestones={milestones} must be rising step numbers, e.g. [32000, 48000]")
    if d.train_subset is not None and (not isinstance(d.train_subset, int) or d.train_subset <= 0):
        raise ConfigError(f"data.train_subset={d.train_subset!r} must be a positive whole number or null (all images)")
    if not isinstance(d.val_split, int) or d.val_split < 0:
        raise ConfigError(
            f"data.val_split={d.val_split!r} must be 0 (no validation split) or a positive number of images"
        )
    expected = d.get("expected_counts")
    available = d.train_subset or (expected[0] - d.val_split if expected else None)
    if available is not None and d.batch_size > available:
        raise ConfigError(
            f"data.batch_size={d.batch_size} is larger than the {available:,} training images in use; "
            "choose a smaller batch or a larger data.train_subset"
        )
    check_trainer(cfg.trainer)
    for problem in loggers.check(cfg):
        raise ConfigError(problem)
    devices = cfg.trainer.devices
    if isinstance(devices, int) and devices > 1:
        if d.batch_size % devices:
            raise ConfigError(f"data.batch_size={d.batch_size} must divide evenly over trainer.devices={devices}")
        if (
            HydraConfig.initialized()
            and HydraConfig.get().mode == RunMode.MULTIRUN
            and "SLURM_NTASKS" not in os.environ
        ):
            raise ConfigError(
                f"trainer.devices={devices} inside a local sweep: Lightning's DDP launcher would restart the whole "
                "sweep in each process. Run multi-GPU runs one at a time, or sweep with hydra/launcher=slurm "
                "(one task per GPU)."
            )


def check_trainer(trainer: DictConfig) -> None:
    """Every trainer.X must be an argument of lightning.Trainer that the harness leaves to the user."""
    known = trainer_defaults()
    for key in trainer:
        if key == "_target_":
            continue
        if key in TRAINER_SET_BY_HARNESS:
            raise ConfigError(f"trainer.{key} is set by the harness: {TRAINER_SET_BY_HARNESS[key]}")
        if key not in known:
            raise ConfigError(
                f"trainer.{key}: Trainer.__init__() got an unexpected keyword argument {key!r}. "
                "Any argument of lightning.Trainer can be set (+trainer.NAME=VALUE); see "
                "https://lightning.ai/docs/pytorch/stable/common/trainer.html#trainer-flags"
            )
    if trainer.get("benchmark") not in (None, True, False):
        raise ConfigError(
            f"trainer.benchmark={trainer.benchmark!r} must be true, false or null (on with a GPU "
            "unless trainer.deterministic=true)"
        )
