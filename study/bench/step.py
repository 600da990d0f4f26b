"""`make bench-step` (`python -m study.bench.step`): one training step of the paper's nets on this
machine in each precision, with and without `torch.compile`, at each thread count, and whether two
identical runs give bit-identical weights.

A bare step: batch 128 of random images, channels_last, SGD with the paper's settings, forward under
autocast where the precision asks for it; median of --steps timings after --warmup steps. The share
of peak is a step's FLOPs (3 x 2 x forward MACs x 128: forward, and a backward of about twice the
forward) over the step time, against `--peak-gflops` per core (default: AVX2 FMA, 32 fp32 FLOPs a
cycle, times the clock in /proc/cpuinfo), with the cores used being the threads.
"""

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from study import paper
from study.nets import build_cifar_net, forward_macs
from study.training.recipe import OptimConfig

BATCH = paper.RECIPE["batch_size"]
PRECISIONS = {"32-true": None, "bf16-mixed": torch.bfloat16}


def clock_ghz() -> float | None:
    try:
        mhz = [
            float(line.split(":")[1])
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("cpu MHz")
        ]
    except OSError:
        return None
    return max(mhz) / 1000 if mhz else None


def training_steps(depth: int, precision: str, compiled: bool, steps: int, seed: int = 0):
    """(step times in s, the net's weights after the steps) for one bare training of `steps` steps."""
    torch.manual_seed(seed)
    net = build_cifar_net(depth, True).to(memory_format=torch.channels_last)
    opt = OptimConfig().sgd(net.parameters())
    g = torch.Generator().manual_seed(seed)
    dtype = PRECISIONS[precision]
    forward = torch.compile(net) if compiled else net
    times = []
    for _ in range(steps):
        x = torch.randn(BATCH, 3, 32, 32, generator=g).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (BATCH,), generator=g)
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            loss = F.cross_entropy(forward(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return times, [p.detach().clone() for p in net.parameters()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depths", default="20,56")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    parser.add_argument("--compile", default="off,on", help="off, on, or both (off,on)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (median)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    parser.add_argument("--peak-gflops", type=float, default=None, help="one core's fp32 peak (GFLOP/s)")
    args = parser.parse_args(argv)
    ghz = clock_ghz()
    peak = args.peak_gflops or (32 * ghz if ghz else None)
    print(
        f"study.bench.step: torch {torch.__version__}, batch {BATCH}, median of {args.steps} steps after "
        f"{args.warmup}; peak {f'{peak:.0f} GFLOP/s a core' if peak else 'unknown'}"
    )
    print(
        f"{'depth':>5} {'precision':>10} {'compile':>7} {'threads':>7} {'ms/step':>8} {'img/s':>6} {'GFLOP/s':>8} "
        f"{'of peak':>7}"
    )
    for depth in [int(d) for d in args.depths.split(",")]:
        flops = 3 * 2 * forward_macs(build_cifar_net(depth, True)) * BATCH
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            for precision in args.precisions.split(","):
                for compiled in [c == "on" for c in args.compile.split(",")]:
                    times, _ = training_steps(depth, precision, compiled, args.warmup + args.steps)
                    step = statistics.median(times[args.warmup :])
                    share = f"{100 * flops / step / 1e9 / (peak * threads):.0f}%" if peak else "—"
                    print(
                        f"{depth:>5} {precision:>10} {'on' if compiled else 'off':>7} {threads:>7} {1000 * step:>8.0f} "
                        f"{BATCH / step:>6.0f} {flops / step / 1e9:>8.1f} {share:>7}",
                        flush=True,
                    )
    for precision in args.precisions.split(","):
        a, b = (training_steps(20, precision, False, 3)[1] for _ in range(2))
        same = all(torch.equal(p, q) for p, q in zip(a, b))
        print(
            f"two identical 3-step ResNet-20 trainings in {precision}: "
            f"{'bit-identical weights' if same else 'weights differ'}"
        )


if __name__ == "__main__":
    main()
