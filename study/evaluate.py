"""`python -m study.evaluate RUN_DIR_OR_CHECKPOINT [key=value ...] [--export model.pt]`

The test and training error of a trained net, overall and per class, from a run folder (its
newest usable checkpoint) or a checkpoint file in one. `key=value` overrides the run's stored
config (`data.root=/elsewhere` when the data moved). `--export PATH` writes the net as a plain
state_dict that `build_cifar_net(depth, residual, shortcut)` loads without Lightning or Hydra:

    net = build_cifar_net(56, True, "A"); net.load_state_dict(torch.load("model.pt", weights_only=True))
"""

import argparse
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from study import runs
from study.data import ImageDataModule
from study.datasets import CIFAR10_CLASSES, DataError
from study.models import build_cifar_net


class EvaluateError(Exception):
    """A run folder or checkpoint that cannot be evaluated; the message says why and what to do."""


def locate(path: Path) -> tuple[Path, Path]:
    """(run folder, checkpoint) for a run folder or a checkpoint file inside one."""
    if path.is_file():
        run_dir = path.parent.parent if path.parent.name == runs.CHECKPOINTS else path.parent
        return run_dir, path
    if not path.is_dir():
        raise EvaluateError(f"{path} is neither a run folder nor a checkpoint")
    newest, refused = runs.newest_checkpoint(path)
    if newest is None:
        why = f" ({'; '.join(refused)})" if refused else ""
        raise EvaluateError(f"{path} has no usable checkpoint in {runs.CHECKPOINTS}/{why}")
    return path, newest[0]


def load_net(run_dir: Path, checkpoint: Path, overrides: list[str]):
    config = runs.stored_config(run_dir)
    if config is None:
        raise EvaluateError(f"{run_dir} holds no summary.json or config.yaml saying how its net was built")
    cfg = OmegaConf.merge(OmegaConf.create(config), OmegaConf.from_dotlist(overrides))
    loaded, why = runs.load_checkpoint(checkpoint)
    if loaded is None:
        raise EvaluateError(f"checkpoint {checkpoint} is refused: {why}")
    state = loaded.get("state_dict") or {}
    net_state = {key.removeprefix("net."): value for key, value in state.items() if key.startswith("net.")}
    return cfg, net_state, int(loaded["global_step"])


@torch.no_grad()
def errors_by_class(net: torch.nn.Module, batches, num_classes: int) -> tuple[float, list[float]]:
    wrong, seen = torch.zeros(num_classes), torch.zeros(num_classes)
    for images, labels in batches:
        miss = (net(images).argmax(1) != labels).float()
        wrong.index_add_(0, labels, miss)
        seen.index_add_(0, labels, torch.ones_like(miss))
    return 100.0 * (wrong.sum() / seen.sum()).item(), (100.0 * wrong / seen.clamp_min(1)).tolist()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder, or a checkpoint file in one")
    parser.add_argument("overrides", nargs="*", help="key=value changes to the run's config, e.g. data.root=DIR")
    parser.add_argument("--export", type=Path, help="write the net's plain state_dict here")
    args = parser.parse_args(argv)
    try:
        run_dir, checkpoint = locate(args.run)
        cfg, state, step = load_net(run_dir, checkpoint, args.overrides)
        d, m = cfg.data, cfg.model
        dm = ImageDataModule(
            d.name,
            d.root,
            False,
            d.val_split,
            d.train_subset,
            d.batch_size,
            d.eval_batch_size,
            verify_checksums=d.get("verify_checksums", True),
            expected_counts=d.get("expected_counts"),
        )
        dm.setup()
        net = build_cifar_net(m.depth, m.arch == "resnet", m.shortcut, num_classes=10, in_channels=dm.in_channels)
        try:
            net.load_state_dict(state)
        except RuntimeError as err:  # a state_dict that does not fit the net the config describes
            raise EvaluateError(
                f"{checkpoint} does not fit a {m.arch}-{m.depth} (shortcut {m.shortcut}) net: "
                f"{str(err).splitlines()[0]}"
            ) from None
    except (EvaluateError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    net.eval()
    names = CIFAR10_CLASSES if d.name == "cifar10" else [str(i) for i in range(10)]
    print(f"{m.arch}-{m.depth} from {checkpoint} (step {step}); {len(dm.splits.test_images):,} test images")
    results = {
        split: errors_by_class(net, dm.eval_batches(split, torch.device("cpu")), len(names))
        for split in ("test", "train")
    }
    for split, (overall, _) in results.items():
        print(f"{split} error: {overall:.4f}%")
    print("per class (test / train error, %):")
    for i, name in enumerate(names):
        print(f"  {name:>12}  {results['test'][1][i]:6.2f}  {results['train'][1][i]:6.2f}")
    if args.export:
        torch.save(net.state_dict(), args.export)
        print(f"exported: {args.export} (build_cifar_net({m.depth}, {m.arch == 'resnet'}, {m.shortcut!r}) loads it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
