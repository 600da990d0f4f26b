"""The cluster path through a real Slurm scheduler: a one-node cluster that scripts/slurm_local.sh
starts in a temp folder, and Hydra's submitit launcher (hydra/launcher=slurm) on the CIFAR fixture.
Skipped, with the reason, where Slurm's packages are not installed."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, cli_env, run_cli, tiny_run_args

pytestmark = pytest.mark.slurm
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"])


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    missing = [tool for tool in ("munged", "slurmctld", "slurmd", "sbatch") if not shutil.which(tool, path=SBIN)]
    if missing:
        pytest.skip(f"no Slurm here ({', '.join(missing)} missing): apt-get install slurmctld slurmd munge slurm-client")
    folder = tmp_path_factory.mktemp("slurm")
    up = subprocess.run([str(REPO / "scripts" / "slurm_local.sh"), "up", str(folder)], capture_output=True, text=True,
                        timeout=120)
    if up.returncode != 0:
        pytest.skip(f"the local Slurm cluster did not start here: {up.stderr.strip()[-300:]}")
    env = {"SLURM_CONF": str(folder / "slurm.conf"), "PATH": SBIN, "STUDY_SLURM_GPUS": "0", "STUDY_SLURM_CPUS": "1",
           "STUDY_SLURM_MEM_GB": "2", "STUDY_SLURM_TIME_MIN": "10"}
    yield env
    subprocess.run([str(REPO / "scripts" / "slurm_local.sh"), "down", str(folder)], capture_output=True, timeout=120)


def slurm_cmd(slurm: dict, *args: str) -> str:
    return subprocess.run(list(args), env={**os.environ, **slurm}, capture_output=True, text=True, check=True).stdout


def sweep_args(cifar_root, runs_root, *extra) -> list[str]:
    return ["-m", "hydra/launcher=slurm", *tiny_run_args(cifar_root, runs_root, "model.depth=8", *extra)]


def run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in Path(root).rglob("config.yaml") if ".hydra" not in p.parts)


def numbers(run_dir: Path) -> tuple[list[dict], dict]:
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    summary = json.loads((run_dir / "summary.json").read_text())
    return rows, {k: summary[k] for k in ("status", "steps", "final_train_error", "final_test_error", "params")}


def job_logs(runs_root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in (Path(runs_root) / ".submitit").rglob("*_log.*"))


def test_a_two_run_sweep_completes_each_folder_complete(slurm, cifar_root, tmp_path):
    run_cli("study.train", *sweep_args(cifar_root, tmp_path, "seed=0,1"), env=slurm, check=True)
    folders = run_dirs(tmp_path)
    assert len(folders) == 2
    for run_dir in folders:
        assert numbers(run_dir)[1]["status"] == "completed"
        assert (run_dir / "checkpoints" / "last.ckpt").is_file() and (run_dir / "layer_responses.csv").is_file()
    logs = job_logs(tmp_path)
    assert "step 6/6:" in logs and "\r" not in logs  # progress as lines, not bar redraws


LONG = ("trainer.max_steps=300", "eval_every=100", "checkpoint_every=100", "optim.milestones=[150,225]", "log_every=10")


def uninterrupted(cifar_root, tmp_path) -> tuple[list[dict], dict]:
    run_cli("study.train", *tiny_run_args(cifar_root, tmp_path / "straight", "model.depth=8", *LONG), check=True)
    (run_dir,) = run_dirs(tmp_path / "straight")
    return numbers(run_dir)


def test_a_run_at_its_time_limit_is_signalled_requeued_and_resumes_to_the_same_numbers(slurm, cifar_root, tmp_path):
    # One minute a job; SIGUSR2 40 s before the limit (Slurm checks limits every 30 s or so).
    limited = {**slurm, "STUDY_SLURM_TIME_MIN": "1"}
    run_cli("study.train", *sweep_args(cifar_root, tmp_path / "limited", *LONG, "hydra.launcher.signal_delay_s=40"),
            env=limited, check=True, timeout=900)
    (run_dir,) = run_dirs(tmp_path / "limited")
    log = (run_dir / "train.log").read_text()
    assert "stop requested" in log and "resume:" in log, log
    assert numbers(run_dir) == uninterrupted(cifar_root, tmp_path)


def start_sweep(slurm, cifar_root, runs_root) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "study.train", *sweep_args(cifar_root, runs_root, *LONG)], cwd=REPO,
                            env=cli_env(slurm), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_training(slurm, runs_root: Path, timeout: float = 180) -> str:
    """The job id of the sweep's one job once its run has logged some steps."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        jobs = slurm_cmd(slurm, "squeue", "-h", "-t", "R", "-o", "%i").split()
        metrics = list(Path(runs_root).rglob("metrics.csv"))
        if jobs and metrics and len(metrics[0].read_text().splitlines()) > 3:
            return jobs[0]
        time.sleep(1)
    raise AssertionError("the job did not start training in time")


def test_scontrol_requeue_of_a_running_job_resumes_to_the_same_numbers(slurm, cifar_root, tmp_path):
    sweep = start_sweep(slurm, cifar_root, tmp_path / "requeued")
    slurm_cmd(slurm, "scontrol", "requeue", wait_for_training(slurm, tmp_path / "requeued"))
    output, _ = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, output
    (run_dir,) = run_dirs(tmp_path / "requeued")
    assert "resume:" in (run_dir / "train.log").read_text()
    assert numbers(run_dir) == uninterrupted(cifar_root, tmp_path)


def test_scancel_leaves_the_run_interrupted_and_the_same_sweep_resumes_it(slurm, cifar_root, tmp_path):
    sweep = start_sweep(slurm, cifar_root, tmp_path / "cancelled")
    slurm_cmd(slurm, "scancel", wait_for_training(slurm, tmp_path / "cancelled"))
    (run_dir,) = run_dirs(tmp_path / "cancelled")
    deadline = time.time() + 120
    while not (run_dir / "summary.json").is_file() and time.time() < deadline:
        time.sleep(1)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and 0 < summary["steps"] < 300
    # Without Slurm's accounting (sacct) submitit cannot see that a cancelled job ended, so the
    # launcher waits on; its user stops it as they would, with Ctrl-C.
    sweep.send_signal(signal.SIGINT)
    sweep.communicate(timeout=120)
    run_cli("study.train", *sweep_args(cifar_root, tmp_path / "cancelled", *LONG), env=slurm, check=True, timeout=600)
    assert "resume:" in (run_dir / "train.log").read_text()
    assert numbers(run_dir) == uninterrupted(cifar_root, tmp_path)
