"""`make reproduce-cifar`: every sweep of the paper's CIFAR-10 study, then the report.

    python -m study.reproduce [--scale paper|mini] [--data cifar10|cifar100|fashion_mnist] [--jobs N]
                              [--seeds 0,1,2] [--data-dir DIR] [--launcher slurm] [--runs DIR] [--results DIR]

Each sweep is `python -m study.train -m experiment=NAME ...`; a run two sweeps share is trained
once (its folder is a function of its config, and completed runs are skipped). A failed sweep
does not stop the others, and the report is written from whatever runs exist. SIGTERM or Ctrl-C
stops the running sweep as it stops itself (each run checkpoints its step), and then this command,
without a report: the same command goes on from there.
"""

import argparse
import re
import signal
import subprocess
import sys

from study.data.sources import DATASETS

EXPERIMENTS = {"paper": ["fig6_plain", "fig6_resnet", "resnet1202", "table6"], "mini": ["mini"]}
FIXED_SEEDS = {"table6"}  # sweeps whose seeds are part of the experiment (ResNet-110 x 5)


def hydra_value(text: str) -> str:
    """`text` quoted as one value of a Hydra override, whatever it holds (commas, spaces, quotes,
    brackets): never a sweep, a list or an interpolation. Hydra's quoted strings take a backslash
    as an escape only before a quote or at the end."""
    if "${" in text:
        raise ValueError(f"{text!r} holds '${{', which Hydra would expand as an interpolation: rename the folder")
    return "'" + re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, text).replace("'", "\\'") + "'"


def sweep_command(experiment: str, args: argparse.Namespace) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "study.train",
        "-m",
        f"experiment={experiment}",
        f"data={args.data}",
        f"runs_root={hydra_value(args.runs)}",
    ]
    if experiment not in FIXED_SEEDS:
        cmd.append(f"seed={args.seeds}")
    if args.data_dir:
        cmd += [f"data.root={hydra_value(args.data_dir)}"]
    if args.launcher:
        cmd.append(f"hydra/launcher={args.launcher}")
    elif args.jobs > 1:
        cmd += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.jobs}"]
    return cmd + list(args.overrides)


def run_sweep(cmd: list[str]) -> tuple[int, int | None]:
    """Run one sweep to its end; (its exit code, the first signal this process was sent while it
    ran). That signal goes on to the sweep as SIGTERM, any later one as it is (a second Ctrl-C
    stops at once)."""
    sweep, received = subprocess.Popen(cmd), []

    def pass_on(signum, frame) -> None:
        sweep.send_signal(signum if received else signal.SIGTERM)
        received.append(signum)

    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        returncode = sweep.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return returncode, received[0] if received else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(EXPERIMENTS), default="paper")
    parser.add_argument("--data", choices=list(DATASETS), default="cifar10")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once on this machine (joblib launcher)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, a sweep axis")
    parser.add_argument("--data-dir", help="an existing dataset copy (data.root)")
    parser.add_argument("--launcher", help="a Hydra launcher of conf/hydra/launcher, e.g. slurm")
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--results", default="results")
    parser.add_argument("--ymax", help="upper limit of the figures' error axes, percent (default: fitted)")
    parser.add_argument("overrides", nargs="*", help="extra key=value overrides for every run")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: must be at least 1")
    if not re.fullmatch(r"\d+(,\d+)*", args.seeds):
        parser.error(f"--seeds {args.seeds!r}: give whole numbers separated by commas, e.g. 0,1,2")
    if args.launcher and not re.fullmatch(r"[\w-]+", args.launcher):
        parser.error(f"--launcher {args.launcher!r}: give the name of a file in conf/hydra/launcher, e.g. slurm")
    for flag, value in (("--data-dir", args.data_dir), ("--runs", args.runs)):
        try:
            hydra_value(value or "")
        except ValueError as err:
            parser.error(f"{flag} {err}")

    experiments, failed = EXPERIMENTS[args.scale], []
    for i, experiment in enumerate(experiments, 1):
        cmd = sweep_command(experiment, args)
        print(f"[reproduce] sweep {i}/{len(experiments)}: {experiment}\n  {' '.join(cmd[1:])}", flush=True)
        returncode, signum = run_sweep(cmd)
        if signum is not None:
            print(
                f"[reproduce] stopped by {signal.Signals(signum).name} during sweep {experiment}: the same command "
                f"goes on from there; no report written (python -m study.report {args.runs} --out {args.results} "
                "writes one from the runs so far)",
                flush=True,
            )
            return 128 + signum
        if returncode != 0:
            failed.append(experiment)
            print(f"[reproduce] sweep {experiment} failed; going on with the others", flush=True)
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "study.report",
            args.runs,
            "--out",
            args.results,
            *(["--ymax", args.ymax] if args.ymax else []),
        ]
    )
    if failed:
        print(f"[reproduce] sweeps that failed: {', '.join(failed)}")
    return 1 if failed or report.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
