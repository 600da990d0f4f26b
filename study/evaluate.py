"""`python -m study.evaluate RUN_DIR_OR_CHECKPOINT [key=value ...] [--export model.pt] [--builder M:F]`

The test and training error of a trained net, overall and per class, from a run folder (its
newest usable checkpoint) or a checkpoint file, in a run folder or on its own. The net is rebuilt
from what the checkpoint records; the data comes from the run's stored config, changed by
`key=value` (`data.root=/elsewhere` when the data moved; a checkpoint alone needs `data.root=DIR`
unless the copy is in ./data). A checkpoint whose net disagrees with its run's config is refused.
`--export PATH` writes the net as a plain state_dict that `build_cifar_net(depth, residual,
shortcut)` loads without Lightning or Hydra:

    net = build_cifar_net(56, True, "A"); net.load_state_dict(torch.load("model.pt", weights_only=True))

A net of a user's builder is rebuilt only when the user names the same builder (`--builder
mynets:build`): code is never imported because a file says so.
"""

import argparse
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from study.data.cifar import CIFAR_FORMATS
from study.data.raw import DataError
from study.data.sources import LOADERS
from study.data.stream import ImageDataModule
from study.nets import NetConfig, build_net
from study.runs import checkpoints
from study.runs.summary import stored_config
from study.training.recipe import misclassified

#: The data settings a checkpoint alone is evaluated with (conf/data/cifar10.yaml's own).
DEFAULT_DATA = {"name": "cifar10", "root": "data", "verify_checksums": True, "expected_counts": None}


class EvaluateError(Exception):
    """A run folder or checkpoint that cannot be evaluated; the message says why and what to do."""


def locate(path: Path) -> tuple[Path | None, Path]:
    """(its run folder, or None for a checkpoint alone; the checkpoint) for what the user named."""
    if path.is_file():
        run_dir = path.parent.parent if path.parent.name == checkpoints.CHECKPOINTS else None
        return run_dir, path
    if not path.is_dir():
        raise EvaluateError(f"{path} is neither a run folder nor a checkpoint")
    newest, refused = checkpoints.newest_checkpoint(path)
    if newest is None:
        why = f" ({'; '.join(refused)})" if refused else ""
        raise EvaluateError(f"{path} has no usable checkpoint in {checkpoints.CHECKPOINTS}/{why}")
    return path, newest[0]


def data_settings(run_dir: Path | None, overrides: list[str], recorded_dataset=None) -> dict:
    """The data node to evaluate on: the run's stored one (or DEFAULT_DATA, for the dataset the
    checkpoint records), with the user's overrides. A stored config is data from someone else: an
    interpolation in it is refused, never resolved (it could read the environment)."""
    stored = (stored_config(run_dir) if run_dir else None) or {}
    data = stored.get("data") if isinstance(stored.get("data"), dict) else {}
    default = {**DEFAULT_DATA, **({"name": recorded_dataset} if recorded_dataset in LOADERS else {})}
    data = {**default, **data}
    try:
        given = OmegaConf.to_container(OmegaConf.from_dotlist(overrides), resolve=False)
    except OmegaConfBaseException as err:
        raise EvaluateError(f"cannot read the overrides {' '.join(overrides)}: {err}") from None
    unknown = [key for key in given if key != "data"]
    if unknown:
        raise EvaluateError(f"only data.* can be changed (got {', '.join(unknown)}); e.g. data.root=DIR")
    data.update(given.get("data") or {})
    for key, value in data.items():
        if isinstance(value, str) and "${" in value:
            raise EvaluateError(
                f"data.{key} is {value!r}, an interpolation; the stored config is not resolved, since it comes "
                f"from the folder. Give the value yourself: data.{key}=..."
            )
    return data


def net_config(loaded: dict, run_dir: Path | None, checkpoint: Path) -> NetConfig:
    """The net the checkpoint records, checked against its run's config; for an older checkpoint
    that records none, the run's config alone."""
    stored = (stored_config(run_dir) if run_dir else None) or {}
    model = stored.get("model") if isinstance(stored.get("model"), dict) else None
    try:
        recorded = checkpoints.net_of(loaded)
        from_run = NetConfig.of_model(model) if model else None
    except (ValueError, KeyError, TypeError) as err:
        raise EvaluateError(f"cannot tell which net {checkpoint} holds ({err})") from None
    if recorded is None and from_run is None:
        raise EvaluateError(
            f"{checkpoint} does not say which net it holds (it predates that record), and there is no run folder "
            "config beside it: evaluate it from its run folder"
        )
    if recorded is None:
        return from_run
    if from_run is not None and _net_fields(recorded) != _net_fields(from_run):
        raise EvaluateError(
            f"{checkpoint} holds a {recorded.describe()}, but its run folder's config is a {from_run.describe()}: "
            "it is not that run's checkpoint; nothing was evaluated"
        )
    return recorded


def _net_fields(config: NetConfig) -> tuple:
    return config.arch, config.depth, config.shortcut, config.unit, config.block, config.builder


def load(path: Path, overrides: list[str], builder: str | None = None):
    """(net with its weights, data module, checkpoint path, step) or an EvaluateError / DataError."""
    run_dir, checkpoint = locate(path)
    loaded, why = checkpoints.load_checkpoint(checkpoint)
    if loaded is None:
        raise EvaluateError(f"checkpoint {checkpoint} is refused: {why}")
    config = net_config(loaded, run_dir, checkpoint)
    if config.builder and config.builder != builder:
        raise EvaluateError(
            f"{checkpoint} holds a net of the builder {config.builder}: code is never imported on a file's word. "
            f"If you trust it, give --builder {config.builder}"
        )
    d = data_settings(run_dir, overrides, (loaded.get(checkpoints.RECORD) or {}).get("dataset"))
    dm = ImageDataModule(
        d["name"],
        str(d["root"]),
        False,
        verify_checksums=bool(d.get("verify_checksums", True)),
        expected_counts=d.get("expected_counts"),
    )
    dm.setup()
    if config.in_channels != dm.in_channels:
        raise EvaluateError(
            f"{checkpoint} holds a net for {config.in_channels}-channel images; {d['name']} has {dm.in_channels}"
        )
    if config.num_classes != dm.num_classes:
        raise EvaluateError(
            f"{checkpoint} holds a net for {config.num_classes} classes; {d['name']} has {dm.num_classes}: "
            "give the data it was trained on (data.name=..., data.root=...)"
        )
    net = build_net(config)
    state = loaded.get("state_dict") or {}
    try:
        net.load_state_dict({key.removeprefix("net."): value for key, value in state.items() if key.startswith("net.")})
    except RuntimeError as err:  # a state_dict that does not fit the net the config describes
        raise EvaluateError(
            f"{checkpoint} does not fit a {config.describe()} net: {str(err).splitlines()[0]}"
        ) from None
    return net, dm, checkpoint, int(loaded["global_step"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder, or a checkpoint file")
    parser.add_argument("overrides", nargs="*", help="data.key=value changes to the run's config, e.g. data.root=DIR")
    parser.add_argument("--export", type=Path, help="write the net's plain state_dict here")
    parser.add_argument("--builder", help="the builder (module:function) of a net of yours, to import it")
    args = parser.parse_args(argv)
    try:
        net, dm, checkpoint, step = load(args.run, args.overrides, args.builder)
    except (EvaluateError, DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    net.eval()
    c = net.config
    names = CIFAR_FORMATS[dm.name].classes if dm.name in CIFAR_FORMATS else [str(i) for i in range(c.num_classes)]
    print(f"{c.describe()} from {checkpoint} (step {step}); {len(dm.splits.test_images):,} test images")
    results = {}
    for split in ("test", "train"):
        wrong, seen = misclassified(net, dm.eval_batches(split, torch.device("cpu")))
        results[split] = (100.0 * (wrong.sum() / seen.sum()).item(), (100.0 * wrong / seen.clamp_min(1)).tolist())
    for split, (overall, _) in results.items():
        print(f"{split} error: {overall:.4f}%")
    print("per class (test / train error, %):")
    for i, name in enumerate(names):
        print(f"  {name:>12}  {results['test'][1][i]:6.2f}  {results['train'][1][i]:6.2f}")
    if args.export:
        torch.save(net.state_dict(), args.export)
        print(f"exported: {args.export} (build_net(NetConfig(**{c.as_dict()})) loads it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
