"""`make bench` (`python -m study.bench`): training throughput of the harness against a bare
PyTorch loop and against the DataLoader pipeline most reproductions use.

    (a) harness     ImageClassifier + ImageDataModule under a Lightning Trainer, as study.train runs them
    (b) bare        the same net, batches and augmentation in a plain PyTorch loop
    (c) dataloader  torchvision CIFAR10 + RandomCrop(32, 4), RandomHorizontalFlip, ToTensor, Normalize,
                    DataLoader with one worker per core

Images/s are medians over --repeats timings of --steps steps each, after --warmup steps. Data: the
CIFAR-10 copy under --data-dir if present, else random images of the same shape (said in the output).
The last line reads `harness/bare = X.XX, harness/dataloader = Y.YY` for ResNet-20.
"""

import argparse
import logging
import os
import statistics
import time

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from study import paper
from study.data import common_pipeline
from study.data.raw import DataError
from study.data.stream import DataConfig, ImageDataModule, ImageSplits, load_splits
from study.nets import build_cifar_net
from study.training.callbacks import quiet_library_chatter
from study.training.config import FIXED_TRAINER_ARGS
from study.training.diagnostics import measure
from study.training.recipe import ImageClassifier, OptimConfig

BATCH = paper.RECIPE["batch_size"]


def bench_images(data_dir: str | None, quiet: bool = False) -> tuple[ImageSplits, str]:
    if data_dir:
        try:
            return load_splits("cifar10", data_dir, False, 0, None), f"CIFAR-10 from {data_dir}"
        except DataError as err:
            if not quiet:
                print(f"note: {err}")
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (50_000, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (50_000,), generator=g)
    source = {"dataset": "random", "layout": "random images"}
    return ImageSplits(
        images, labels, None, None, images[:10_000], labels[:10_000], source, 10
    ), "random images (no CIFAR-10 found)"


def rates(step_times: list[float], warmup: int, steps: int, repeats: int) -> float:
    """Median images/s over `repeats` windows of `steps` steps after `warmup` steps."""
    windows = [step_times[warmup + i * steps : warmup + (i + 1) * steps + 1] for i in range(repeats)]
    return statistics.median(BATCH * steps / (w[-1] - w[0]) for w in windows)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class StepClock(L.Callback):
    def __init__(self):
        self.times: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if not self.times:
            self._stamp(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._stamp(pl_module)

    def _stamp(self, pl_module):
        synchronize(pl_module.device)
        self.times.append(time.perf_counter())


def bench_harness(splits, depth, residual, total_steps, device) -> float:
    clock = StepClock()
    dm = ImageDataModule(DataConfig(download=False), splits=splits)
    precision = "bf16-mixed" if device.type == "cuda" else "32-true"
    trainer = L.Trainer(
        max_steps=total_steps,
        accelerator=device.type,
        devices=1,
        precision=precision,
        callbacks=[clock],
        enable_progress_bar=False,
        benchmark=device.type == "cuda",
        **FIXED_TRAINER_ARGS,
    )
    trainer.fit(
        ImageClassifier(build_cifar_net(depth, residual), log_every=10**9, eval_every=10**9),
        datamodule=dm,
    )
    return clock.times


def timed_training(depth: int, residual: bool, next_batch, total_steps: int, device: torch.device) -> list[float]:
    """A plain PyTorch training loop: the time after each of `total_steps` steps."""
    net = build_cifar_net(depth, residual).to(device, memory_format=torch.channels_last)
    opt = OptimConfig().sgd(net.parameters())
    times = [time.perf_counter()]
    for _ in range(total_steps):
        x, y = next_batch()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        synchronize(device)
        times.append(time.perf_counter())
    return times


def bench_bare(splits, depth, residual, total_steps, device) -> list[float]:
    dm = ImageDataModule(DataConfig(download=False), splits=splits)
    dm.setup()
    stream = iter(dm.train_stream(lambda: 0))

    def next_batch():
        return dm.training_batch({k: v.to(device, non_blocking=True) for k, v in next(stream).items()})

    return timed_training(depth, residual, next_batch, total_steps, device)


def bench_dataloader(splits, depth, residual, total_steps, device, data_dir) -> list[float]:
    from torchvision import datasets

    transform = common_pipeline.transform(train=True)
    try:
        dataset = datasets.CIFAR10(data_dir, train=True, transform=transform) if data_dir else None
    except RuntimeError:
        dataset = None
    dataset = dataset or common_pipeline.ArrayImages(splits.train_images, splits.train_labels, transform)
    loader = common_pipeline.loader(dataset, BATCH, train=True, pin_memory=device.type == "cuda")
    batches = iter(loader)

    def next_batch():
        nonlocal batches
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            x, y = next(batches)
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    return timed_training(depth, residual, next_batch, total_steps, device)


def _concurrent_worker(barrier, queue, data_dir, depth, total_steps, warmup, steps, repeats, threads):
    torch.set_num_threads(threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    splits, _ = bench_images(data_dir, quiet=True)
    barrier.wait()
    queue.put(rates(bench_bare(splits, depth, True, total_steps, device), warmup, steps, repeats))


def concurrent_throughput(jobs: int, data_dir, depth, total_steps, warmup, steps, repeats) -> float:
    """Aggregate images/s of `jobs` ResNet trainings at once on this device (JOBS=N in a sweep)."""
    ctx = torch.multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(jobs), ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    workers = [
        ctx.Process(
            target=_concurrent_worker,
            args=(barrier, queue, data_dir, depth, total_steps, warmup, steps, repeats, threads),
        )
        for _ in range(jobs)
    ]
    for w in workers:
        w.start()
    total = sum(queue.get() for _ in workers)
    for w in workers:
        w.join()
    return total


def diagnostics_share(splits, depth: int, device: torch.device, harness_rate: float, every: int) -> tuple[float, float]:
    """(seconds per diagnostics measurement, its share of training time at one every `every` steps)
    for a ResNet of `depth`: the measurement (study/diagnostics.py) timed on its own, median of 3
    after one warm-up, against the harness's step time."""
    net = build_cifar_net(depth, True).to(device, memory_format=torch.channels_last)
    dm = ImageDataModule(DataConfig(download=False), splits=splits)
    dm.setup()
    images, labels = dm.fixed_training_batch(BATCH, device)
    images = images.contiguous(memory_format=torch.channels_last)
    times = []
    for _ in range(4):
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            measure(net, images, labels)
        synchronize(device)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times[1:])
    return seconds, seconds / (every * BATCH / harness_rate)


def projected_study_hours(throughput: dict[int, float]) -> float:
    """The paper's CIFAR study (plain 20-110, ResNet 20-56, ResNet-110 x5, ResNet-1202) at 64k steps,
    with seconds per image fitted linearly in depth from the measured ResNets (proportional to
    depth from a single one); evaluation not counted."""
    depths = sorted(throughput)
    if len(depths) > 1:
        fit = np.polyfit(depths, [1 / throughput[d] for d in depths], 1)
    else:
        fit = [1 / (throughput[depths[0]] * depths[0]), 0.0]
    runs = list(paper.DEPTHS_TO_110) + list(paper.DEPTHS_TO_110[:-1]) + [110] * 5 + [1202]
    images = paper.RECIPE["max_steps"] * BATCH
    return sum(images * max(np.polyval(fit, d), 1e-9) for d in runs) / 3600


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("STUDY_DATA_DIR", "data"))
    parser.add_argument("--depths", default=None, help="comma-separated; default 20,56,110 (and 1202 on a GPU)")
    parser.add_argument("--steps", type=int, default=None, help="steps per timing (default 20 on CPU, 100 on GPU)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5 on CPU, 30 on GPU)")
    parser.add_argument(
        "--concurrency",
        default=None,
        help="also measure N ResNet-20 runs at once, e.g. 1,2,4,8 (default on a GPU: 1,2,4,8)",
    )
    args = parser.parse_args(argv)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no per-run banners in the table
    quiet_library_chatter()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gpu = device.type == "cuda"
    depths = (
        [int(d) for d in args.depths.split(",")] if args.depths else ([20, 56, 110, 1202] if gpu else [20, 56, 110])
    )
    steps, warmup = args.steps or (100 if gpu else 20), args.warmup or (30 if gpu else 5)
    total = warmup + steps * args.repeats
    if gpu:
        torch.backends.cudnn.benchmark = True
    splits, source = bench_images(args.data_dir)
    hardware = torch.cuda.get_device_name() if gpu else f"CPU, {os.cpu_count()} cores"
    print(f"study.bench on {hardware}, torch {torch.__version__}; data: {source}")
    print(f"batch {BATCH}; median of {args.repeats} timings of {steps} steps after {warmup} warm-up steps; images/s")
    print(
        f"{'depth':>6} {'arch':>7} {'(a) harness':>12} {'(b) bare':>10} {'(c) loader':>11} {'a/b':>6} {'a/c':>6} "
        f"{'peak MiB':>9}"
    )
    resnet_rate, ratios = {}, {}
    for depth in depths:
        for arch in ("plain", "resnet"):
            residual = arch == "resnet"
            if gpu:
                torch.cuda.reset_peak_memory_stats()
            a = rates(bench_harness(splits, depth, residual, total, device), warmup, steps, args.repeats)
            peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if gpu else "—"
            b = rates(bench_bare(splits, depth, residual, total, device), warmup, steps, args.repeats)
            c = rates(
                bench_dataloader(splits, depth, residual, total, device, args.data_dir), warmup, steps, args.repeats
            )
            print(
                f"{depth:>6} {arch:>7} {a:>12.0f} {b:>10.0f} {c:>11.0f} {a / b:>6.2f} {a / c:>6.2f} {peak:>9}",
                flush=True,
            )
            if residual:
                resnet_rate[depth] = a
                ratios[depth] = (a / b, a / c)
    every = 1000  # conf/train.yaml's diag_every
    for depth, rate in resnet_rate.items():
        seconds, share = diagnostics_share(splits, depth, device, rate, every)
        print(
            f"diagnostics, ResNet-{depth}: {seconds * 1000:.0f} ms a measurement ({seconds * rate / BATCH:.1f} steps); "
            f"at diag_every={every}: +{100 * share:.2f}% of training time",
            flush=True,
        )
    concurrency = args.concurrency or ("1,2,4,8" if gpu else "")
    for jobs in [int(n) for n in concurrency.split(",") if n]:
        rate = concurrent_throughput(jobs, args.data_dir, 20, total, warmup, steps, args.repeats)
        print(f"{jobs} ResNet-20 runs at once: {rate:.0f} images/s in all", flush=True)
    print(
        f"projected wall time of the whole study at the paper's length on this device: "
        f"{projected_study_hours(resnet_rate):.1f} h of training (one run at a time)"
    )
    if 20 in ratios:
        print(f"harness/bare = {ratios[20][0]:.2f}, harness/dataloader = {ratios[20][1]:.2f}")


if __name__ == "__main__":
    main()
