"""A run's config (conf/train.yaml, typed by study.training.schema): the resolvers it uses, the
Trainer arguments the harness owns, and the refusal of impossible settings before any data is read
or any folder is made, in one line that names the value and what is allowed: each node's
constructor checks its own ranges, `validate` what spans several keys. Whose a run folder is:
study.runs.folder.
"""

import os

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from study import paper
from study.data.sources import SHAPES
from study.nets import BUILDER_SIGNATURE, NetConfig, build_net
from study.runs.identity import run_id, trainer_defaults
from study.training import loggers
from study.training.schema import TrainConfig, store_schema

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


def register_config() -> None:
    """The schema (study.training.schema) and the resolvers conf/ uses: `${run_id:}`, the run
    folder of the config it is resolved in; `${dataset_shape:NAME,0|1}`, a dataset's classes or
    channels (the model node's num_classes and in_channels); `${recipe:KEY}`, a number of the
    paper's recipe (study.paper.RECIPE: trainer.max_steps); and, for conf/hydra/launcher/slurm.yaml,
    `${gpus_or_null:N}` (no GPU request on a CPU-only partition) and `${at_least_one:N}` (one task
    per GPU, one task without GPUs)."""
    store_schema()
    resolvers = {
        "run_id": lambda *, _root_: run_id(_root_),
        # an unknown dataset gets 0, never an error: the data node's check names it first
        "dataset_shape": lambda name, i: SHAPES[name][int(i)] if name in SHAPES else 0,
        "recipe": lambda key: paper.RECIPE[key],
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


def check_user_net(cfg: DictConfig, net_config: NetConfig) -> None:
    """model=custom: the builder is imported, builds the net once for the dataset's classes and
    channels, and the net takes two blank images, so a builder that cannot work (or whose net has
    nothing to train, or gives other than one score per class) is refused before any run folder is
    made."""
    builder = cfg.model.builder
    side = SHAPES[cfg.data.name][2]
    try:
        net = build_net(net_config)
        with torch.no_grad():
            out = net.eval()(torch.zeros(2, net_config.in_channels, side, side))
    except Exception as err:  # the user's code may raise anything: name it with the builder
        text = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
        where = "" if str(builder) in text else f"builder {builder}: "
        raise ConfigError(f"model.builder: {where}{text}") from None
    if not any(p.requires_grad for p in net.parameters()):
        raise ConfigError(f"model.builder: builder {builder} made a net with no parameters to train")
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != (2, net_config.num_classes):
        raise ConfigError(
            f"model.builder: builder {builder} made a net that gives {shape} for 2 images of "
            f"{net_config.in_channels}x{side}x{side}; it must give (2, {net_config.num_classes}), one score a class"
        )


def built(cfg: DictConfig, key: str | None = None):
    """The dataclass a node of the schema stands for (the whole config where key is None), built
    by its constructor, which refuses a value out of its range; the message names the key."""
    if key is None:  # Hydra's own node, present in its callbacks, is no part of the schema
        node = OmegaConf.merge(TrainConfig, OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))
    else:
        node = cfg[key]
    try:
        return OmegaConf.to_object(node)
    except ValueError as err:
        raise ConfigError(f"{key}.{err}" if key else str(err)) from None


def validate(cfg: DictConfig) -> TrainConfig:
    """Refuse impossible settings before any data is loaded, and hand back the config as the
    schema's dataclasses, each node built once. OmegaConf has checked each value's type at
    composition and each node's constructor checks its ranges; what is left here spans several
    keys."""
    data = built(cfg, "data")
    m = cfg.model
    if m.builder == "":  # conf/model/custom.yaml's placeholder
        raise ConfigError(
            "model=custom needs model.builder=package.module:function, a function "
            f"{BUILDER_SIGNATURE} (docs/nets.md, 'Any net of yours')"
        )
    for key, i in (("num_classes", 0), ("in_channels", 1)):
        if m[key] != SHAPES[data.name][i]:
            raise ConfigError(
                f"model.{key}={m[key]} but {data.name} has {SHAPES[data.name][i]}: leave model.{key} to the data"
            )
    net_config = built(cfg, "model")
    if net_config.depth > cfg.run.max_depth:
        raise ConfigError(
            f"model.depth={net_config.depth} is deeper than run.max_depth={cfg.run.max_depth}: ResNet-1202, the "
            "paper's deepest, already needs about 12.5 GiB to train at batch 128, so deeper nets are "
            "refused rather than run out of memory; raise run.max_depth to try one"
        )
    if net_config.builder is not None:
        check_user_net(cfg, net_config)
    built(cfg, "optim")  # each node alone first, so a refusal names its key
    settings = built(cfg)
    available = data.train_subset or (data.expected_counts[0] - data.val_split if data.expected_counts else None)
    if available is not None and data.batch_size > available:
        raise ConfigError(
            f"data.batch_size={data.batch_size} is larger than the {available:,} training images in use; "
            "choose a smaller batch or a larger data.train_subset"
        )
    check_trainer(cfg.trainer)
    for problem in loggers.check(cfg):
        raise ConfigError(problem)
    devices = cfg.trainer.devices
    if isinstance(devices, int) and devices > 1:
        if data.batch_size % devices:
            raise ConfigError(f"data.batch_size={data.batch_size} must divide evenly over trainer.devices={devices}")
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
    return settings


def check_trainer(trainer: DictConfig) -> None:
    """Every trainer.X must be an argument of lightning.Trainer that the harness leaves to the user."""
    known = trainer_defaults()
    steps = trainer.get("max_steps")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise ConfigError(f"trainer.max_steps={steps!r} must be a positive whole number")
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
