"""A parallel sweep (two runs at once in joblib workers) stopped by a signal: every running run
checkpoints its current step, no other run starts, and the same command goes on from there."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from commands import REPO, cli_env
from tiny_runs import read_rows, tiny_run_args

# Runs that cannot end before the signal and never reach a periodic checkpoint: any checkpoint
# they have was taken at the stop.
ENDLESS = ("trainer.max_steps=100000", "checkpoint_every=100000", "eval_every=100000")


def logged_step(run_dir: Path) -> int:
    metrics = run_dir / "metrics.csv"
    rows = read_rows(metrics) if metrics.is_file() else []
    return max((int(row["step"]) for row in rows if (row.get("step") or "").isdigit()), default=-1)


# SIGTERM to reproduce alone (`kill PID`) is passed on twice, by reproduce and by the sweep's
# process; Ctrl-C reaches every process at once, and each ignores the copies passed on after it.
@pytest.mark.parametrize(
    "signum,to_group", [(signal.SIGTERM, False), pytest.param(signal.SIGINT, True, marks=pytest.mark.slow)]
)
def test_stopping_reproduce_checkpoints_both_running_runs_and_starts_no_other(cifar_root, tmp_path, signum, to_group):
    runs = tmp_path / "runs"
    tiny = [
        a
        for a in tiny_run_args(cifar_root, tmp_path)
        if not a.startswith(("data.root=", "runs_root=", "trainer.max_steps=", "checkpoint_every=", "eval_every="))
    ]
    # resnet-8 and plain-8, seeds 0 and 1: two run at once, two wait for a worker.
    cmd = ["study.reproduce", "--scale", "mini", "--jobs", "2", "--seeds", "0,1", "--data-dir", str(cifar_root)]
    cmd += ["--runs", str(runs), "--results", str(tmp_path / "out"), "--", "model.depth=8", *tiny, *ENDLESS]
    proc = subprocess.Popen(
        [sys.executable, "-m", *cmd],
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so that a failure can end the sweep's workers too
    )
    try:
        deadline = time.time() + 300
        while proc.poll() is None and time.time() < deadline:
            running = [d for d in runs.glob("cifar10/*/seed*") if logged_step(d) >= 2]
            if len(running) == 2:
                break
            time.sleep(0.5)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"two runs did not start training:\n{proc.communicate()[0][-3000:]}")
        if to_group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        out, _ = proc.communicate(timeout=300)
    finally:  # whatever happened, no sweep outlives the test
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    assert proc.returncode == 128 + signum, out
    assert "[sweep mini] 4/4 runs finished (2 interrupted, 2 not started)" in out, out
    assert f"[reproduce] stopped by {signal.Signals(signum).name} during sweep mini" in out
    assert not (tmp_path / "out").exists()  # no report of a half-done study
    summaries = {d: d / "summary.json" for d in runs.glob("cifar10/*/seed*")}
    stopped = {d: json.loads(s.read_text()) for d, s in summaries.items() if s.is_file()}
    assert set(running) == set(stopped)
    for run_dir, summary in stopped.items():
        checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
        assert summary["status"] == "interrupted" and checkpoint["global_step"] == summary["steps"] >= 2
    for run_dir in set(summaries) - set(stopped):
        assert not (run_dir / "checkpoints").exists() and not (run_dir / "metrics.csv").exists()
