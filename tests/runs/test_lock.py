"""One process per run: a run folder's lock, its take-over rules, and two commands at once."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from commands import REPO, cli_env, run_main
from study.runs import lock as runs
from tiny_runs import read_rows, tiny_run_args


def write_lock(run_dir, age_s: float = 0.0, **holder) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / runs.LOCK
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "job": None, **holder}))
    os.utime(path, (time.time() - age_s, time.time() - age_s))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_live_holder_keeps_the_lock_and_is_named(tmp_path):
    write_lock(tmp_path, pid=os.getppid())  # alive on this host
    holder = runs.RunLock(tmp_path).acquire()
    assert holder["pid"] == os.getppid()
    assert runs.describe_holder({"host": "n1", "pid": 7, "job": "42"}) == "n1 pid 7 (job 42)"


def test_a_dead_holder_on_this_host_is_taken_over(tmp_path):
    write_lock(tmp_path, pid=dead_pid())
    lock = runs.RunLock(tmp_path)
    assert lock.acquire() is None
    assert json.loads((tmp_path / runs.LOCK).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / runs.LOCK).exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("age_s,taken", [(60, False), (runs.LOCK_STALE_AFTER_S + 60, True)])
def test_a_lock_held_on_another_host_is_taken_over_only_when_stale(tmp_path, age_s, taken):
    write_lock(tmp_path, age_s=age_s, host="elsewhere.example", pid=1234)
    assert (runs.RunLock(tmp_path).acquire() is None) == taken


def test_a_requeued_slurm_job_takes_over_the_lock_of_its_earlier_incarnation(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    write_lock(tmp_path, host="node-that-died", pid=99, job="4242")
    assert runs.RunLock(tmp_path).acquire() is None


def test_an_unreadable_lock_counts_by_its_age(tmp_path):
    (tmp_path / runs.LOCK).write_text("{not json")
    assert runs.RunLock(tmp_path).acquire() is not None  # fresh: someone may be writing it
    os.utime(tmp_path / runs.LOCK, (0, 0))
    assert runs.RunLock(tmp_path).acquire() is None


def test_two_identical_commands_at_once_train_the_run_once(cifar_root, tmp_path):
    args = tiny_run_args(
        cifar_root,
        tmp_path,
        "model.depth=8",
        "trainer.max_steps=40",
        "eval_every=20",
        "checkpoint_every=20",
        "optim.milestones=[30,35]",
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "study.train", *args],
            cwd=REPO,
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    stdout = [out for out, _ in outputs]
    trained = [s for s in stdout if "completed:" in s]
    left = [s for s in stdout if "running elsewhere:" in s or "skip:" in s]
    assert len(trained) == 1 and len(left) == 1, stdout
    (summary_path,) = tmp_path.rglob("summary.json")
    run_dir = summary_path.parent
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "completed" and summary["steps"] == 40
    steps = [int(row["step"]) for row in read_rows(run_dir / "metrics.csv")]
    assert steps == list(range(2, 41, 2))  # one history, written once
    assert not (run_dir / runs.LOCK).exists()


def test_a_running_run_is_listed_as_running_by_the_report(cifar_root, tmp_path):
    run_main("study.train", *tiny_run_args(cifar_root, tmp_path / "runs", "model.depth=8"), check=True)
    (summary_path,) = (tmp_path / "runs").rglob("summary.json")
    write_lock(summary_path.parent, pid=os.getppid(), job="77")
    result = run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert f"running on {socket.gethostname()} pid {os.getppid()} (job 77)" in result.stdout + result.stderr


def test_a_lock_naming_a_live_process_that_started_after_it_is_taken_over(tmp_path):
    write_lock(tmp_path, pid=os.getppid(), since=1000.0)  # the pid lives, but began decades after 1970
    assert runs.RunLock(tmp_path).acquire() is None
    write_lock(tmp_path, pid=os.getppid(), since=time.time())  # began before the lock: the holder
    assert runs.RunLock(tmp_path).acquire()["pid"] == os.getppid()


@pytest.mark.parametrize("record", ['{"host": "%s", "pid": 1180591620717411303424}', "[" * 100_000, '{"pid": true}'])
def test_a_lock_with_an_impossible_pid_or_nesting_counts_by_its_age(tmp_path, record):
    (tmp_path / runs.LOCK).write_text(record.replace("%s", socket.gethostname()))
    assert runs.RunLock(tmp_path).acquire() is not None
    os.utime(tmp_path / runs.LOCK, (0, 0))
    assert runs.RunLock(tmp_path).acquire() is None


def test_a_fifo_named_run_lock_is_never_opened(tmp_path):
    os.mkfifo(tmp_path / runs.LOCK)
    code = f"from study.runs.lock import RunLock, lock_holder; print(RunLock({str(tmp_path)!r}).acquire() == {{}})"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "True"  # a fresh entry nobody can read: someone may hold it
