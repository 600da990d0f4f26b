"""`python -m study.bench.dataloader_check DATA_DIR --out DIR`: a second opinion on the harness's numbers.

Trains a net with the same recipe as `experiment=recipe_check` (SGD, momentum 0.9, weight decay
1e-4, batch 128, lr 0.1 divided by 10 at 4,000 and 6,000 steps, 8,000 steps by default) but
through the pipeline most public reproductions use, the one of `make bench`'s column (c):
images served as PIL images, torchvision's RandomCrop(32, padding=4), RandomHorizontalFlip,
ToTensor and a per-channel Normalize, a shuffling DataLoader with worker processes, and a plain
PyTorch loop. If its test error matches the harness's on the same data, the harness's data path
is not what separates our numbers from the paper's.

Writes DIR/metrics.csv (step, train_error, test_error in %) and DIR/summary.json.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from study import paper
from study.data import common_pipeline
from study.data.raw import DataError
from study.data.stream import load_splits
from study.nets import build_cifar_net
from study.runs.folder import RunFolderError, check_output
from study.training.recipe import OptimConfig, error_rate


def test_error(net: torch.nn.Module, loader) -> float:
    net.eval()
    try:
        return error_rate(net, ((x.contiguous(memory_format=torch.channels_last), y) for x, y in loader))
    finally:
        net.train()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", help="a CIFAR-10 copy, any layout study.data.sources reads")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--plain", action="store_true", help="the plain net instead of the ResNet")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--milestones", default="4000,6000")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for flag, value in (("--steps", args.steps), ("--eval-every", args.eval_every), ("--depth", args.depth)):
        if value <= 0:
            parser.error(f"{flag} {value}: give a positive whole number")
    try:
        check_output(args.out, "--out")
    except RunFolderError as err:
        parser.error(str(err))
    torch.manual_seed(args.seed)
    try:
        splits = load_splits("cifar10", args.data_dir, False, 0, None, verify_checksums=False)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    pipeline = common_pipeline
    train_set = pipeline.ArrayImages(splits.train_images, splits.train_labels, pipeline.transform(train=True))
    test_set = pipeline.ArrayImages(splits.test_images, splits.test_labels, pipeline.transform(train=False))
    train_loader = pipeline.loader(train_set, paper.RECIPE["batch_size"], train=True)
    test_loader = pipeline.loader(test_set, 1000, train=False)

    net = build_cifar_net(args.depth, not args.plain).to(memory_format=torch.channels_last)
    optim = OptimConfig(milestones=[int(m) for m in args.milestones.split(",")])
    opt = optim.sgd(net.parameters())
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: optim.lr_at(step) / optim.lr)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, step, wrong, seen, started = ["step,lr,train_error,test_error"], 0, 0, 0, time.time()
    while step < args.steps:
        for x, y in train_loader:
            lr = opt.param_groups[0]["lr"]
            logits = net(x.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            wrong, seen, step = wrong + (logits.argmax(1) != y).sum().item(), seen + len(y), step + 1
            if step % args.eval_every == 0 or step == args.steps:
                rows.append(f"{step},{lr},{100.0 * wrong / seen:.4f},{test_error(net, test_loader):.4f}")
                wrong = seen = 0
                print(f"step {step}/{args.steps}: {rows[-1]} ({time.time() - started:.0f} s)", flush=True)
                (args.out / "metrics.csv").write_text("\n".join(rows) + "\n")
            if step == args.steps:
                break
    summary = {
        "pipeline": "torchvision transforms + DataLoader",
        "arch": "plain" if args.plain else "resnet",
        "depth": args.depth,
        "seed": args.seed,
        "steps": step,
        "milestones": optim.milestones,
        "final_test_error": float(rows[-1].split(",")[-1]),
        "wall_time_s": round(time.time() - started, 1),
        "data": splits.source,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("arch", "depth", "final_test_error", "wall_time_s")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
