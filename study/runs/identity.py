"""Which run a config is: the folder it trains in, and the study it belongs to.

    RUN_ROOT/<dataset>/[<builder>-]<arch><depth>[-<shortcut>][-<unit>][-<block>]/seed<seed>-<hash>/

The folder is a pure function of the config (`run_id`), so a rerun of the same command finds,
skips or resumes its run, and a run shared by two experiments is trained once. The hash covers
the config without the keys of NOT_IDENTITY (where data and logs live, how a run is watched).
"""

import functools
import hashlib
import json
import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from study import paper
from study.runs.summary import stored_config

__all__ = [
    "identity",
    "study_identity",
    "study_of",
    "run_id",
    "net_label",
    "model_label",
    "identity_differences",
    "flat_items",
]


#: Keys that say where data and logs live or how a run is watched, not what is trained: runs that
#: differ only in these share one folder.
NOT_IDENTITY = (
    "runs_root",
    "experiment_name",
    "table6_run",
    "data.root",
    "data.download",
    "data.eval_batch_size",
    "data.verify_checksums",
    "data.expected_counts",
    "logger",
    "checkpoint_every",
    "model.compile",
    "model.max_depth",
    "model.num_classes",  # set by data.name
    "model.in_channels",
    "run",  # how a run executes (its channels_last counts, as model.channels_last: MOVED_KEYS)
    "trainer.accelerator",
    "trainer.enable_progress_bar",
    "trainer._target_",
    "trainer.benchmark",
    "trainer.log_every_n_steps",
    "trainer.enable_model_summary",
    "trainer.profiler",
    "diag_every",
)


#: Keys that came after runs were made, with their defaults: at its default such a key is left out
#: of a run's identity, so the folders of runs made before it existed keep their names.
ADDED_KEYS = {
    "data.eval_subset": None,
    "model.unit": "original",
    "model.block": "basic",
    "model.builder": None,
    "model.norm": "batch",
    "model.init": "he",
}

#: Keys that moved, from their place now to their place when runs were first made: a run's identity
#: names them where they were, so the folders of earlier runs keep their names.
MOVED_KEYS = {"run.channels_last": "model.channels_last"}


#: Trainer keys the harness gives its own meaning (precision null: bf16 on a GPU, else 32-true;
#: benchmark null: on with a GPU unless deterministic). Every other `trainer.X` goes to
#: `lightning.Trainer` as given, and counts in a run's identity only where it differs from
#: Lightning's default: spelling out a default changes nothing that is trained.
TRAINER_HARNESS_KEYS = (
    "max_steps",
    "accelerator",
    "devices",
    "strategy",
    "precision",
    "deterministic",
    "enable_progress_bar",
    "benchmark",
)


@functools.cache
def trainer_defaults() -> dict:
    """lightning.Trainer's arguments and their defaults (read once: identity() asks for every run)."""
    import inspect

    import lightning

    return {
        name: p.default
        for name, p in inspect.signature(lightning.Trainer.__init__).parameters.items()
        if name != "self"
    }


#: Keys of a run's identity that vary inside one study (its figures and tables span them).
WITHIN_STUDY = ("seed", "model.arch", "model.depth")


def _drop(plain: dict, keys) -> dict:
    for key in keys:
        *parents, leaf = key.split(".")
        node = plain
        for p in parents:
            node = node.get(p, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return plain


def identity(cfg: DictConfig | dict) -> dict:
    """What a run trains: its resolved config without the keys of NOT_IDENTITY."""
    if isinstance(cfg, dict):
        plain = json.loads(json.dumps(cfg))
        plain.pop("hydra", None)
    else:  # Hydra's own section is not resolvable before a job runs, and names no training choice
        plain = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    for now, before in MOVED_KEYS.items():
        (section, leaf), (old_section, old_leaf) = now.split("."), before.split(".")
        if isinstance(plain.get(section), dict) and leaf in plain[section] and isinstance(plain.get(old_section), dict):
            plain[old_section][old_leaf] = plain[section].pop(leaf)
            if not plain[section]:
                del plain[section]
    for key, default in ADDED_KEYS.items():
        section, leaf = key.split(".")
        if isinstance(plain.get(section), dict) and plain[section].get(leaf, default) == default:
            plain[section].pop(leaf, None)
    trainer = plain.get("trainer")
    if isinstance(trainer, dict):
        defaults = trainer_defaults()
        for key in [k for k in trainer if k not in TRAINER_HARNESS_KEYS and k in defaults]:
            if trainer[key] == defaults[key]:
                del trainer[key]
    return _drop(plain, NOT_IDENTITY)


def study_identity(config: dict) -> dict:
    """What a run's study shares: its identity without seed, arch and depth. Runs pool into one row
    of a table only when this, their arch and depth, and their data copy are equal."""
    return _drop(identity(config), WITHIN_STUDY)


def study_of(summary: dict, data: dict) -> tuple[str, dict]:
    """(id, what is shared) of the study a run belongs to: its run identity without seed, arch and
    depth (study_identity, the same keys that name its folder), and the copy of the
    data it was trained on. Runs of different studies are never pooled."""
    config = summary.get("config") if isinstance(summary.get("config"), dict) else {}
    precision = (summary.get("provenance") or {}).get("precision")  # the effective one: null in a config means auto
    shared = {
        "dataset": summary.get("dataset"),
        "config": {**study_identity(config), "precision": precision},
        "data": {
            k: data.get(k) for k in ("layout", "image_format", "content", "reencoded", "checksums_verified", "folder")
        },
    }
    key = json.dumps([shared["dataset"], shared["config"], shared["data"]["content"]], sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:8], shared


def flat_items(tree, prefix: str = "") -> dict:
    if not isinstance(tree, dict):
        return {prefix.rstrip("."): tree}
    out = {}
    for key, value in tree.items():
        out.update(flat_items(value, f"{prefix}{key}."))
    return out


def identity_differences(run_dir: Path, cfg: DictConfig | dict) -> list[str]:
    """'key: folder has X, this config Y' for each key of a run's identity on which the run stored
    in `run_dir` differs from `cfg` (none when the folder holds no run)."""
    stored = stored_config(run_dir)
    if stored is None:
        return []
    before, now = flat_items(identity(stored)), flat_items(identity(cfg))
    return [
        f"{key}: the folder has {before.get(key, '(unset)')!r}, this config {now.get(key, '(unset)')!r}"
        for key in sorted(set(before) | set(now))
        if before.get(key) != now.get(key)
    ]


UNSAFE = re.compile(r"[^\w.]")  # what a folder name never takes from a builder's name


def net_label(
    arch: str,
    depth: int,
    shortcut: str,
    sep: str = "",
    unit: str = "original",
    block: str = "basic",
    builder: str | None = None,
    named: bool = False,
    norm: str = "batch",
    init: str = "he",
) -> str:
    """`resnet20`, `plain56`, `resnet20-B`, `resnet164-preact-bottleneck`, `resnet56-nonorm-fixup`
    (sep="-": `resnet-20-B`), `mynets.build-resnet8` for a net of the builder `mynets:build`: a
    run's net as its folder and its sweep's progress lines name it; the shortcut, unit, block,
    norm and init appear only where they are not the paper's (A, original, basic, batch, he).
    named=True starts from paper.net_name (`ResNet-20-B`), as reports name a net."""
    base = paper.net_name(arch, depth) if named else f"{arch}{sep}{depth}"
    if builder:  # checked later (study.nets.load_builder); a folder name never takes a path's characters
        return f"{UNSAFE.sub('_', str(builder).replace(':', '.'))}-{base}"
    return base + "".join(f"-{choice}" for choice in paper.departures(arch, shortcut, unit, block, norm, init).values())


def model_label(model: DictConfig, sep: str = "") -> str:
    """net_label of a config's model node."""
    return net_label(
        model.arch,
        model.depth,
        model.shortcut,
        sep,
        model.get("unit", "original"),
        model.get("block", "basic"),
        OmegaConf.select(model, "builder"),  # None where unset, or still ??? (refused later)
        norm=model.get("norm", "batch"),
        init=model.get("init", "he"),
    )


def run_id(cfg: DictConfig) -> str:
    digest = hashlib.sha256(json.dumps(identity(cfg), sort_keys=True).encode()).hexdigest()[:10]
    return f"{cfg.data.name}/{model_label(cfg.model)}/seed{cfg.seed}-{digest}"


def run_label(config: DictConfig) -> str:
    """`resnet-20 seed 0`: a run as its progress lines and its sweep's lines name it."""
    return f"{model_label(config.model, '-')} seed {config.seed}"
