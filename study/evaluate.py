"""`python -m study.evaluate NET [key=value ...] [--export model.pt] [--builder M:F]`
`python -m study.evaluate --import akamaster FILE [key=value ...] [--export model.pt]`

The test and training error of a trained net, overall and per class. NET is a run folder (its
newest usable checkpoint), a checkpoint file (in a run folder or on its own), or a net exported
by `--export` (study.nets.export). The net is rebuilt from what the file records; the data comes
from the run's stored config, changed by `key=value` (`data.root=/elsewhere` when the data moved;
a checkpoint or export alone needs `data.root=DIR` unless the copy is in ./data). A checkpoint
whose net disagrees with its run's config is refused.

`--export PATH` writes the net with the preprocessing it was trained with (the training images'
per-pixel mean), so that it takes ordinary images in [0, 1] or uint8 and needs neither Lightning
nor Hydra: `study.nets.export.load_export(PATH)`, or torch.hub's pretrained entries.

`--import NAME FILE` brings a published checkpoint into this project's net through its importer
(study.nets.imports: akamaster's CIFAR ResNets), with the preprocessing it was trained with, and
prints its test error; `--export` then writes it as ours, recording where it came from. A file
of another origin is never loaded by its tensors' names alone.

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
from study.data.stream import DataConfig, ImageDataModule
from study.fileio import load_tensors
from study.nets import NetConfig, build_net
from study.nets.export import FORMAT, ExportError, PreprocessedNet, load_export, save_export
from study.nets.imports import IMPORTERS, CheckpointImportError
from study.runs import checkpoints
from study.runs.folder import RunFolderError, check_output
from study.runs.summary import stored_config
from study.training.recipe import layer_response_std, misclassified
from study.training.run import write_responses

#: The data settings a checkpoint alone is evaluated with (conf/data/cifar10.yaml's own).
DEFAULT_DATA = {"name": "cifar10", "root": "data", "verify_checksums": True, "expected_counts": None}


class EvaluateError(Exception):
    """A run folder or checkpoint that cannot be evaluated; the message says why and what to do."""


def locate(path: Path) -> tuple[Path | None, Path, dict]:
    """(its run folder, or None for a checkpoint alone; the checkpoint's path; the checkpoint, as
    loaded) for what the user named."""
    if path.is_file():
        run_dir = path.parent.parent if path.parent.name == checkpoints.CHECKPOINTS else None
        loaded, why = checkpoints.load_checkpoint(path)
        if loaded is None:
            raise EvaluateError(f"checkpoint {path} is refused: {why}")
        return run_dir, path, loaded
    if not path.is_dir():
        raise EvaluateError(f"{path} is neither a run folder nor a checkpoint")
    newest, refused = checkpoints.newest_checkpoint(path)
    if newest is None:
        why = f" ({'; '.join(refused)})" if refused else ""
        raise EvaluateError(f"{path} has no usable checkpoint in {checkpoints.CHECKPOINTS}/{why}")
    return path, newest.path, newest.checkpoint


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
    if not isinstance(given.get("data") or {}, dict):
        raise EvaluateError(f"data={given['data']!r}: give the data's settings one by one, e.g. data.root=DIR")
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


def data_module(d: dict) -> ImageDataModule:
    """The data a net is measured on, as `d` (a data node) describes it; its mean image is that of
    the training images in use, as the run's was."""
    subset, val_split = d.get("train_subset"), d.get("val_split") or 0
    for key, value in (("train_subset", subset), ("val_split", val_split)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise EvaluateError(f"data.{key}={value!r} must be a whole number (give data.{key}=... yourself)")
    dm = ImageDataModule(
        DataConfig(
            name=d["name"],
            root=str(d["root"]),
            download=False,
            val_split=val_split,
            train_subset=subset,
            verify_checksums=bool(d.get("verify_checksums", True)),
            expected_counts=d.get("expected_counts"),
        )
    )
    dm.setup()
    return dm


def check_fits(net: PreprocessedNet, dm: ImageDataModule, what: Path) -> None:
    config = net.config
    if config.in_channels != dm.in_channels:
        raise EvaluateError(
            f"{what} holds a net for {config.in_channels}-channel images; {dm.config.name} has {dm.in_channels}"
        )
    if config.num_classes != dm.num_classes:
        raise EvaluateError(
            f"{what} holds a net for {config.num_classes} classes; {dm.config.name} has {dm.num_classes}: "
            "give the data it was trained on (data.name=..., data.root=...)"
        )


def file_kind(path: Path) -> str:
    """'export' (ours, with its preprocessing), 'checkpoint' (a run's), or 'other'."""
    try:
        loaded = load_tensors(path)
    except Exception:
        return "other"
    if isinstance(loaded, dict) and loaded.get("format") == FORMAT:
        return "export"
    return "checkpoint" if isinstance(loaded, dict) and "global_step" in loaded else "other"


def load(path: Path, overrides: list[str], builder: str | None = None):
    """(net with its weights and preprocessing, data module, where it came from) for a run folder,
    checkpoint or export; an EvaluateError / DataError otherwise."""
    kind = file_kind(path) if path.is_file() else None
    if kind == "export":
        try:
            net = load_export(path, builder)
        except ExportError as err:
            raise EvaluateError(str(err)) from None
        dm = data_module(data_settings(None, overrides, net.source.get("dataset")))
        check_fits(net, dm, path)
        return net, dm, {**net.source, "export": path.name}
    if kind == "other":
        raise EvaluateError(
            f"{path} is neither a run's checkpoint nor a net exported by this project; a published checkpoint "
            f"goes through its importer: --import {' | '.join(IMPORTERS)} FILE"
        )
    run_dir, checkpoint, loaded = locate(path)
    config = net_config(loaded, run_dir, checkpoint)
    if config.builder and config.builder != builder:
        raise EvaluateError(
            f"{checkpoint} holds a net of the builder {config.builder}: code is never imported on a file's word. "
            f"If you trust it, give --builder {config.builder}"
        )
    dm = data_module(data_settings(run_dir, overrides, (loaded.get(checkpoints.RECORD) or {}).get("dataset")))
    inner = build_net(config)
    state = loaded.get("state_dict") or {}
    try:
        inner.load_state_dict(
            {key.removeprefix("net."): value for key, value in state.items() if key.startswith("net.")}
        )
    except RuntimeError as err:  # a state_dict that does not fit the net the config describes
        raise EvaluateError(
            f"{checkpoint} does not fit a {config.describe()} net: {str(err).splitlines()[0]}"
        ) from None
    net = PreprocessedNet(inner, dm.mean)
    check_fits(net, dm, checkpoint)
    run = {"run": "/".join(run_dir.resolve().parts[-3:])} if run_dir else {}  # dataset/net/seed-hash
    return net, dm, {**run, "checkpoint": checkpoint.name, "step": int(loaded["global_step"])}


def imported(name: str, file: Path, overrides: list[str]):
    """(net, data module, where it came from) for a published checkpoint through its importer."""
    try:
        net = IMPORTERS[name](file)
    except CheckpointImportError as err:
        raise EvaluateError(str(err)) from None
    dm = data_module(data_settings(None, overrides))
    check_fits(net, dm, file)
    return net, dm, dict(net.source)


def measure_responses(net: PreprocessedNet, dm: ImageDataModule, path: Path) -> None:
    """Figure 7's per-layer response std on the test set, as a run measures it at its end, into `path`."""
    batches = (
        (net.preprocess(images), labels)
        for images, labels in dm.eval_batches("test", torch.device("cpu"), normalized=False)
    )
    rows = layer_response_std(net.net, batches)
    if not rows:
        raise EvaluateError(f"{net.config.describe()} exposes no 3x3 layer responses")
    write_responses(path, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, nargs="?", help="a run folder, a checkpoint, or an exported net")
    parser.add_argument("overrides", nargs="*", help="data.key=value changes to the run's config, e.g. data.root=DIR")
    parser.add_argument("--export", type=Path, help="write the net, with its preprocessing, here")
    parser.add_argument("--builder", help="the builder (module:function) of a net of yours, to import it")
    parser.add_argument(
        "--responses",
        type=Path,
        help="write the net's Figure 7 layer responses on the test set here (a run's layer_responses.csv columns)",
    )
    parser.add_argument(
        "--import",
        dest="importer",
        nargs=2,
        metavar=("NAME", "FILE"),
        help=f"a published checkpoint, through its importer ({', '.join(IMPORTERS)})",
    )
    args = parser.parse_args(argv)
    overrides = [*([str(args.run)] if args.importer and args.run else []), *args.overrides]
    if args.importer and args.importer[0] not in IMPORTERS:
        parser.error(f"--import {args.importer[0]}: no such importer; choose one of {', '.join(IMPORTERS)}")
    if not args.importer and args.run is None:
        parser.error("name a run folder, a checkpoint or an exported net (or --import NAME FILE)")
    for flag, path in (("--export", args.export), ("--responses", args.responses)):
        if path is None:
            continue
        if path.exists() and not path.is_file():
            parser.error(f"{flag} {path} is not a file: name the file to write")
        if not path.parent.is_dir():
            parser.error(f"{flag} {path}: the folder {path.parent} does not exist; make it first")
        try:
            check_output(path, flag)
        except RunFolderError as err:
            parser.error(str(err))
    try:
        if args.importer:
            net, dm, source = imported(args.importer[0], Path(args.importer[1]), overrides)
        else:
            net, dm, source = load(args.run, overrides, args.builder)
    except (EvaluateError, DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    net.eval()
    c = net.config
    names = (
        CIFAR_FORMATS[dm.config.name].classes
        if dm.config.name in CIFAR_FORMATS
        else [str(i) for i in range(c.num_classes)]
    )
    where = ", ".join(f"{k} {v}" for k, v in source.items())
    print(f"{c.describe()} ({where}); {len(dm.splits.test_images):,} test images")
    results = {}
    splits = ("test",) if args.importer else ("test", "train")  # a published net's published number is its test error
    for split in splits:
        wrong, seen = misclassified(net, dm.eval_batches(split, torch.device("cpu"), normalized=False))
        results[split] = (100.0 * (wrong.sum() / seen.sum()).item(), (100.0 * wrong / seen.clamp_min(1)).tolist())
    for split, (overall, _) in results.items():
        print(f"{split} error: {overall:.4f}%")
    print(f"per class ({' / '.join(results)} error, %):")
    for i, name in enumerate(names):
        print(f"  {name:>12}  " + "  ".join(f"{results[split][1][i]:6.2f}" for split in results))
    if args.responses:
        try:
            measure_responses(net, dm, args.responses)
        except EvaluateError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"layer responses: {args.responses} (python -m study.report RUNS --published 'LABEL={args.responses}')")
    if args.export:
        save_export(net, args.export, {**source, "dataset": dm.config.name})
        print(f"exported: {args.export} (study.nets.export.load_export reads it; it takes images in [0, 1] or uint8)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
