"""`python -m study.dataloader_check DATA_DIR --out DIR`: a second opinion on the harness's numbers.

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
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from study import paper
from study.bench import ArrayImages
from study.data import load_splits
from study.models import build_cifar_net

CHANNEL_MEAN, CHANNEL_STD = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)  # the common choice


@torch.no_grad()
def test_error(net: torch.nn.Module, loader) -> float:
    net.eval()
    wrong = seen = 0
    for x, y in loader:
        wrong += (net(x.contiguous(memory_format=torch.channels_last)).argmax(1) != y).sum().item()
        seen += len(y)
    net.train()
    return 100.0 * wrong / seen


def main(argv: list[str] | None = None) -> int:
    from torchvision import transforms

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", help="a CIFAR-10 copy, any layout study.datasets reads")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--plain", action="store_true", help="the plain net instead of the ResNet")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--milestones", default="4000,6000")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    splits = load_splits("cifar10", args.data_dir, False, 0, None, verify_checksums=False)
    normalize = [transforms.ToTensor(), transforms.Normalize(CHANNEL_MEAN, CHANNEL_STD)]
    train_set = ArrayImages(
        splits.train_images,
        splits.train_labels,
        transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), *normalize]),
    )
    test_set = ArrayImages(splits.test_images, splits.test_labels, transforms.Compose(normalize))
    workers = os.cpu_count() or 1
    train_loader = torch.utils.data.DataLoader(
        train_set,
        batch_size=paper.RECIPE["batch_size"],
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        persistent_workers=True,
    )
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000, num_workers=workers)

    net = build_cifar_net(args.depth, not args.plain).to(memory_format=torch.channels_last)
    r = paper.RECIPE
    opt = torch.optim.SGD(net.parameters(), lr=r["lr"], momentum=r["momentum"], weight_decay=r["weight_decay"])
    milestones = [int(m) for m in args.milestones.split(",")]
    schedule = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=r["lr_gamma"])
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
        "milestones": milestones,
        "final_test_error": float(rows[-1].split(",")[-1]),
        "wall_time_s": round(time.time() - started, 1),
        "data": splits.source,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("arch", "depth", "final_test_error", "wall_time_s")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
