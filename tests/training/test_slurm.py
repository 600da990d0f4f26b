"""The cluster path through a real Slurm scheduler: a one-node cluster that scripts/slurm_local.sh
starts in a temp folder, and Hydra's submitit launcher (hydra/launcher=slurm) on the CIFAR fixture.
Skipped, with the reason, where Slurm's packages are not installed."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from commands import REPO, cli_env, run_main
from tiny_runs import read_rows, tiny_run_args

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"])


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    missing = [tool for tool in ("munged", "slurmctld", "slurmd", "sbatch") if not shutil.which(tool, path=SBIN)]
    if missing:
        pytest.skip(
            f"no Slurm here ({', '.join(missing)} missing): apt-get install slurmctld slurmd munge slurm-client"
        )
    folder = tmp_path_factory.mktemp("slurm")
    up = subprocess.run(
        [str(REPO / "scripts" / "slurm_local.sh"), "up", str(folder)], capture_output=True, text=True, timeout=120
    )
    if up.returncode != 0:
        pytest.skip(f"the local Slurm cluster did not start here: {up.stderr.strip()[-300:]}")
    env = {
        "SLURM_CONF": str(folder / "slurm.conf"),
        "PATH": SBIN,
        "STUDY_SLURM_GPUS": "0",
        "STUDY_SLURM_CPUS": "1",
        "STUDY_SLURM_MEM_GB": "2",
        "STUDY_SLURM_TIME_MIN": "10",
    }
    yield env
    subprocess.run([str(REPO / "scripts" / "slurm_local.sh"), "down", str(folder)], capture_output=True, timeout=120)


def slurm_cmd(slurm: dict, *args: str) -> str:
    return subprocess.run(list(args), env={**os.environ, **slurm}, capture_output=True, text=True, check=True).stdout


def sweep_args(cifar_root, runs_root, *extra) -> list[str]:
    return ["-m", "hydra/launcher=slurm", *tiny_run_args(cifar_root, runs_root, "model.depth=8", *extra)]


def run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in Path(root).rglob("config.yaml") if ".hydra" not in p.parts)


def numbers(run_dir: Path) -> tuple[list[dict], dict]:
    rows = read_rows(run_dir / "metrics.csv")
    summary = json.loads((run_dir / "summary.json").read_text())
    return rows, {k: summary[k] for k in ("status", "steps", "final_train_error", "final_test_error", "params")}


def job_logs(runs_root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in (Path(runs_root) / ".submitit").rglob("*_log.*"))


# States a job does not leave by itself; without accounting, submitit cannot see them and would
# wait on, so the tests look for them and fail at once, with the job's logs.
ENDED_BADLY = {"FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE"}


def sweep_jobs(runs_root: Path) -> list[str]:
    """The Slurm job ids of a sweep: submitit's folder has one subfolder per job."""
    folder = Path(runs_root) / ".submitit"
    return sorted(p.name for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []


def job_fields(slurm: dict, job: str) -> dict:
    """The job as scontrol shows it (it keeps ended jobs for MinJobAge, 10 minutes)."""
    shown = subprocess.run(
        ["scontrol", "-o", "show", "job", job], env={**os.environ, **slurm}, capture_output=True, text=True
    ).stdout
    return dict(f.split("=", 1) for f in shown.split() if "=" in f)


def job_state(slurm: dict, job: str) -> str:
    return job_fields(slurm, job).get("JobState", "UNKNOWN")


def release_requeued(slurm: dict, job: str) -> None:
    """Slurm holds a requeued batch job for about two minutes (its BeginTime); the tests start it
    at once, as a scheduler with free nodes would after that wait."""
    fields = job_fields(slurm, job)
    if fields.get("JobState") == "PENDING" and fields.get("Reason") == "BeginTime":
        subprocess.run(
            ["scontrol", "update", f"JobId={job}", "StartTime=now"], env={**os.environ, **slurm}, capture_output=True
        )


class Sweep:
    """A sweep through the cluster, started in the background and watched: `wait` fails as soon as
    one of its jobs ends badly, instead of waiting on a launcher that cannot see it."""

    def __init__(self, slurm: dict, cifar_root, runs_root: Path, *extra: str):
        self.slurm, self.runs_root = slurm, Path(runs_root)
        self.earlier = set(sweep_jobs(runs_root))  # jobs of an earlier sweep into the same folder
        self.process = subprocess.Popen(
            [sys.executable, "-m", "study.train", *sweep_args(cifar_root, runs_root, *extra)],
            cwd=REPO,
            env=cli_env(slurm),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def jobs(self) -> list[str]:
        return [job for job in sweep_jobs(self.runs_root) if job not in self.earlier]

    def failed_jobs(self) -> dict:
        states = {job: job_state(self.slurm, job) for job in self.jobs()}
        return {job: state for job, state in states.items() if state in ENDED_BADLY}

    def wait(self, timeout: float = 600) -> str:
        """The launcher's output once it has exited 0."""
        deadline = time.time() + timeout
        while self.process.poll() is None:
            for job in self.jobs():
                release_requeued(self.slurm, job)
            failed = self.failed_jobs()
            if failed or time.time() > deadline:
                self.process.kill()
                output = self.process.communicate()[0]
                why = f"jobs ended badly: {failed}" if failed else f"the sweep did not end within {timeout:.0f} s"
                raise AssertionError(f"{why}\n{output}\n{job_logs(self.runs_root)}")
            time.sleep(1)
        output = self.process.communicate()[0]
        assert self.process.returncode == 0, f"{output}\n{job_logs(self.runs_root)}"
        return output

    def running_job(self, timeout: float = 300) -> str:
        """The sweep's one job once its run has logged some steps of training."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            jobs = [job for job in self.jobs() if job_state(self.slurm, job) == "RUNNING"]
            metrics = list(self.runs_root.rglob("metrics.csv"))
            if jobs and metrics and len(metrics[0].read_text().splitlines()) > 3:
                return jobs[0]
            if self.process.poll() is not None or self.failed_jobs():
                break
            time.sleep(0.5)
        self.process.kill()
        raise AssertionError(
            f"the job did not start training:\n{self.process.communicate()[0]}\n{job_logs(self.runs_root)}"
        )


def test_a_two_run_sweep_completes_each_folder_complete(slurm, cifar_root, tmp_path):
    Sweep(slurm, cifar_root, tmp_path, "seed=0,1").wait()
    folders = run_dirs(tmp_path)
    assert len(folders) == 2
    for run_dir in folders:
        assert numbers(run_dir)[1]["status"] == "completed"
        assert (run_dir / "checkpoints" / "last.ckpt").is_file() and (run_dir / "layer_responses.csv").is_file()
    logs = job_logs(tmp_path)
    assert "step 6/6:" in logs and "\r" not in logs  # progress as lines, not bar redraws


LONG = ("trainer.max_steps=300", "eval_every=100", "checkpoint_every=100", "optim.milestones=[150,225]", "log_every=10")


def uninterrupted(cifar_root, tmp_path) -> tuple[list[dict], dict]:
    run_main("study.train", *tiny_run_args(cifar_root, tmp_path / "straight", "model.depth=8", *LONG), check=True)
    (run_dir,) = run_dirs(tmp_path / "straight")
    return numbers(run_dir)


def test_a_job_warned_of_its_time_limit_mid_training_is_requeued_and_resumes_to_the_same_numbers(
    slurm, cifar_root, tmp_path
):
    # The warning Slurm sends signal_delay_s before a time limit, sent by the test itself once the
    # run is training: Slurm may send its own up to a minute early, before any handler exists.
    sweep = Sweep(slurm, cifar_root, tmp_path / "warned", *LONG)
    slurm_cmd(slurm, "scancel", "--signal=USR2", sweep.running_job())
    sweep.wait()
    (run_dir,) = run_dirs(tmp_path / "warned")
    log = (run_dir / "train.log").read_text()
    assert "stop requested" in log and "resume:" in log, log
    assert numbers(run_dir) == uninterrupted(cifar_root, tmp_path)


@pytest.mark.slow  # the requeue path stays in the default suite through the time-limit warning
def test_scontrol_requeue_of_a_running_job_resumes_to_the_same_numbers(slurm, cifar_root, tmp_path):
    sweep = Sweep(slurm, cifar_root, tmp_path / "requeued", *LONG)
    slurm_cmd(slurm, "scontrol", "requeue", sweep.running_job())
    sweep.wait()
    (run_dir,) = run_dirs(tmp_path / "requeued")
    assert "resume:" in (run_dir / "train.log").read_text()
    assert numbers(run_dir) == uninterrupted(cifar_root, tmp_path)


@pytest.mark.slow
def test_scancel_leaves_the_run_interrupted_and_the_same_sweep_resumes_it(slurm, cifar_root, tmp_path):
    sweep = Sweep(slurm, cifar_root, tmp_path / "cancelled", *LONG)
    slurm_cmd(slurm, "scancel", sweep.running_job())
    (run_dir,) = run_dirs(tmp_path / "cancelled")
    deadline = time.time() + 120
    while not (run_dir / "summary.json").is_file() and time.time() < deadline:
        time.sleep(1)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and 0 < summary["steps"] < 300
    # Without Slurm's accounting (sacct) submitit cannot see that a cancelled job ended, so the
    # launcher waits on; its user stops it as they would, with Ctrl-C.
    sweep.process.send_signal(signal.SIGINT)
    sweep.process.communicate(timeout=120)
    Sweep(slurm, cifar_root, tmp_path / "cancelled", *LONG).wait()
    assert "resume:" in (run_dir / "train.log").read_text()
    assert numbers(run_dir) == uninterrupted(cifar_root, tmp_path)
