"""The real CLI, end to end, on the CIFAR-10 fixture."""

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from commands import REPO, cli_env, run_cli, run_main
from tiny_runs import read_rows, tiny_run_args

SUMMARY_FIELDS = {
    "status",
    "arch",
    "depth",
    "shortcut",
    "dataset",
    "data",
    "provenance",
    "seed",
    "params",
    "steps",
    "final_train_error",
    "final_val_error",
    "final_test_error",
    "wall_time_s",
    "config",
}


def train(cifar_root, runs_root, *extra, check=True):
    return run_main("study.train", *tiny_run_args(cifar_root, runs_root, *extra), check=check)


def only_run_dir(runs_root: Path) -> Path:
    (summary,) = Path(runs_root).rglob("summary.json")
    return summary.parent


def test_a_run_writes_metrics_checkpoint_responses_and_a_complete_summary(cifar_root, tmp_path):
    train(cifar_root, tmp_path, "model=plain", "model.depth=8", "data.val_split=100")
    run_dir = only_run_dir(tmp_path)
    assert run_dir.relative_to(tmp_path).parts[:2] == ("cifar10", "plain8")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert SUMMARY_FIELDS <= summary.keys()
    assert summary["status"] == "completed" and summary["arch"] == "plain" and summary["steps"] == 6
    assert summary["params"] == 75_290 and summary["config"]["model"]["depth"] == 8
    data = summary["data"]  # which copy of the data made it
    assert data["layout"] == "cifar-10-batches-py" and data["checksums_verified"] is False
    assert len(data["content"]) == 16 and data["train_images"] == 500 and data["test_images"] == 200
    made_by = summary["provenance"]  # code, libraries, hardware, precision
    assert len(made_by["code"]["commit"]) == 40 and isinstance(made_by["code"]["changed"], bool)
    # the instruction set torch's kernels use is part of the device: it changes a run's numbers
    isa = torch.backends.cpu.get_cpu_capability()
    assert made_by["device"].endswith(f" cores, {isa} (CPU)") and made_by["precision"] == "32-true"
    assert made_by["torch"] and made_by["torchvision"] and made_by["lightning"]
    for split in ("train", "val", "test"):
        assert 0 <= summary[f"final_{split}_error"] <= 100
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    rows = read_rows(run_dir / "metrics.csv")
    train_rows = {int(r["step"]): r for r in rows if r["train_error"]}
    eval_rows = {int(r["step"]): r for r in rows if r["test_error"]}
    assert sorted(train_rows) == [2, 4, 6] and sorted(eval_rows) == [3, 6]
    assert all(r["val_error"] for r in eval_rows.values())
    assert all(0 <= float(r["train_error"]) <= 100 for r in train_rows.values())  # percent, never NaN
    # lr used by the last update of each interval: milestones at steps 4 and 5
    assert [float(train_rows[s]["lr"]) for s in (2, 4, 6)] == [0.1, 0.1, 0.001]
    responses = read_rows(run_dir / "layer_responses.csv")
    assert len(responses) == 7 and all(float(r["std"]) > 0 for r in responses)


def test_same_config_same_folder_and_a_rerun_skips_it(cifar_root, tmp_path):
    train(cifar_root, tmp_path, "model.depth=8")
    run_dir = only_run_dir(tmp_path)
    before = (run_dir / "summary.json").read_text()
    again = train(cifar_root, tmp_path, "model.depth=8")
    assert "skip:" in again.stdout and str(run_dir) in again.stdout
    assert (run_dir / "summary.json").read_text() == before
    train(cifar_root, tmp_path, "model.depth=8", "seed=1")
    train(cifar_root, tmp_path, "model.depth=8", "optim.lr=0.05")
    assert len(list(tmp_path.rglob("summary.json"))) == 3


def folder_state(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("status", ["completed", "interrupted"])
def test_a_reused_folder_of_another_config_is_refused_and_left_alone(cifar_root, tmp_path, status):
    train(cifar_root, tmp_path, "model=plain", "model.depth=8")
    run_dir = only_run_dir(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["status"] = status
    (run_dir / "summary.json").write_text(json.dumps(summary))
    before = folder_state(run_dir)
    result = train(
        cifar_root, tmp_path, "model=plain", "model.depth=14", "optim.lr=0.05", f"hydra.run.dir={run_dir}", check=False
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "holds another run" in result.stderr
    assert "model.depth: the folder has 8, this config 14" in result.stderr
    assert "optim.lr: the folder has 0.1, this config 0.05" in result.stderr
    assert folder_state(run_dir) == before


def test_same_seed_gives_the_same_numbers(cifar_root, tmp_path):
    for name in ("a", "b"):
        train(cifar_root, tmp_path / name, "model.depth=8")
    a, b = only_run_dir(tmp_path / "a"), only_run_dir(tmp_path / "b")
    assert (a / "metrics.csv").read_text() == (b / "metrics.csv").read_text()
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    for key in ("final_train_error", "final_test_error", "steps", "params"):
        assert sa[key] == sb[key]


def lr_by_step(run_dir: Path) -> dict[int, float]:
    return {int(r["step"]): float(r["lr"]) for r in read_rows(run_dir / "metrics.csv") if r["lr"]}


@pytest.mark.parametrize("threshold,expected_after", [(100.0, 0.1), (0.0, 0.01)])
def test_warmup_holds_lr_at_001_until_the_training_error_falls_below_the_threshold(
    cifar_root, tmp_path, threshold, expected_after
):
    train(
        cifar_root,
        tmp_path,
        "model.depth=8",
        "trainer.max_steps=60",
        "log_every=10",
        "eval_every=60",
        "optim.milestones=[1000]",
        "optim.warmup=true",
        f"optim.warmup_until_train_error={threshold}",
    )
    lrs = lr_by_step(only_run_dir(tmp_path))
    assert lrs[50] == 0.01  # steps 0-49: the first 50-step window decides
    assert lrs[60] == expected_after


@pytest.mark.parametrize(
    "override,expected",
    [
        ("model.depth=21", "6n+2"),
        ("model.shortcut=D", "A, B, C"),
        ("data.batch_size=0", "data.batch_size=0 must be a positive"),
        ("trainer.max_steps=-5", "trainer.max_steps=-5 must be a positive"),
        ("data.name=imagenet", "cifar10, cifar100, fashion_mnist"),
        ("optim.lr=0", "optim.lr=0.0 must be a positive number"),
        ("optim.lr=-0.1", "optim.lr=-0.1 must be a positive number"),
        ("optim.lr=nan", "optim.lr=nan must be a positive number"),
        ("optim.weight_decay=-1e-4", "optim.weight_decay=-0.0001 must be zero or positive"),
        ("optim.momentum=1.5", "optim.momentum=1.5 must be in [0, 1)"),
        ("optim.milestones=[48000,32000]", "must be rising step numbers"),
        ("seed=-1", "seed=-1 must be a whole number"),
        ("model.depth=20000", "model.depth=20000 is deeper than run.max_depth=1202"),
        ("model.num_classes=100", "model.num_classes=100 but cifar10 has 10"),
        ("log_every=0", "log_every=0 must be a positive whole number"),
        ("data.train_subset=16", "data.batch_size=32 is larger than the 16 training images"),
    ],
)
def test_bad_settings_are_refused_before_any_data_is_loaded(tmp_path, override, expected):
    from study.training.config import ConfigError, validate
    from tiny_runs import compose_config

    with pytest.raises(ConfigError) as err:
        validate(compose_config(*tiny_run_args(tmp_path / "no-data-here", tmp_path / "runs", override)))
    assert expected in str(err.value)


@pytest.mark.parametrize("override,expected", [("model.depth=21", "6n+2"), ("optim.lr=0", "optim.lr=0.0 must be")])
def test_a_bad_setting_stops_the_command_in_one_line_before_any_folder_or_data(tmp_path, override, expected):
    result = train(tmp_path / "no-data-here", tmp_path / "runs", override, check=False)
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert "not found" not in result.stderr  # refused before looking at the data
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "override,options", [("model=vgg", ("plain", "resnet")), ("data=imagenet", ("cifar10", "fashion_mnist"))]
)
def test_unknown_model_or_dataset_is_refused_by_hydra_with_the_options(tmp_path, override, options):
    result = run_cli("study.train", override, f"runs_root={tmp_path}")
    assert result.returncode != 0 and all(option in result.stderr for option in options)


@pytest.mark.parametrize(
    "override,key,value",
    [
        ("seed=x", "seed", "x"),
        ("data.batch_size=true", "data.batch_size", "True"),
        ("optim.lr=fast", "optim.lr", "fast"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_by_hydra_naming_key_and_value(tmp_path, override, key, value):
    result = run_cli("study.train", override, f"runs_root={tmp_path / 'runs'}")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"full_key: {key}" in result.stderr and f"Value '{value}'" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_key_the_schema_lacks_is_refused_by_hydra(tmp_path):
    result = run_cli("study.train", "model.widht=2", f"runs_root={tmp_path / 'runs'}")
    assert result.returncode != 0 and "Could not override 'model.widht'" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_missing_data_stops_before_training_with_a_short_message(tmp_path):
    result = train(tmp_path / "empty", tmp_path / "runs", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no CIFAR-10 in" in result.stderr and str(tmp_path / "empty") in result.stderr
    assert "data.download=true" in result.stderr
    assert not list((tmp_path / "runs").rglob("checkpoints"))


def test_unwritable_output_folder_is_said_before_training(cifar_root, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = train(cifar_root, blocker / "runs", check=False)
    assert result.returncode == 2 and "cannot write to the output folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_nan_loss_stops_the_run_as_diverged(cifar_root, tmp_path):
    train(cifar_root, tmp_path, "model.depth=8", "optim.lr=1e12", "trainer.max_steps=200")
    summary = json.loads((only_run_dir(tmp_path) / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert summary["steps"] <= summary["diverged_at_step"] + 12
    assert summary["last_finite_loss"] > 0
    rerun = train(cifar_root, tmp_path, "model.depth=8", "optim.lr=1e12", "trainer.max_steps=200")
    assert "skip:" in rerun.stdout  # a diverged run is a result, not retried


def start_run(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "study.train", *args],
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_step(runs_root: Path, step: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Until the run under `runs_root` has logged `step`; fails if it ends or times out first."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        for metrics in runs_root.rglob("metrics.csv"):
            if any(int(r["step"]) >= step for r in read_rows(metrics) if r.get("step")):
                return
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the run did not reach step {step}:\n{proc.communicate()[0][-3000:]}")


#: A run long enough to stop in the middle: past a periodic checkpoint, a warm-up and diagnostics.
RESUME_ARGS = (
    "model.depth=8",
    "trainer.max_steps=200",
    "log_every=10",
    "eval_every=50",
    "checkpoint_every=50",
    "optim.milestones=[100,150]",
    "optim.warmup=true",
    "optim.warmup_until_train_error=85",
    "diag_every=25",
)


@pytest.fixture(scope="module")
def uninterrupted(cifar_root, tmp_path_factory) -> Path:
    """The run folder of RESUME_ARGS trained straight through (once for every signal's test)."""
    root = tmp_path_factory.mktemp("straight")
    run_main("study.train", *tiny_run_args(cifar_root, root, *RESUME_ARGS), check=True)
    return only_run_dir(root)


# SIGINT takes the same path as SIGTERM (StopOnSignal): behind make test-slow, to keep CI short.
# The signals' tests share one worker, so that the uninterrupted run is trained once.
@pytest.mark.xdist_group("resume")
@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGKILL]
)
def test_a_stopped_run_resumes_to_the_same_numbers_as_an_uninterrupted_one(cifar_root, tmp_path, uninterrupted, signum):
    """SIGTERM/SIGINT checkpoint the current step; SIGKILL loses what followed the last periodic
    checkpoint. Either way the rerun ends with the uninterrupted run's numbers and metrics.csv."""
    args = lambda root: tiny_run_args(cifar_root, root, *RESUME_ARGS)  # noqa: E731

    proc = start_run(args(tmp_path / "stopped"))
    wait_for_step(tmp_path / "stopped", 60, proc)
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=120)
    (config,) = [p for p in (tmp_path / "stopped").rglob("config.yaml") if ".hydra" not in p.parts]
    run_dir = config.parent
    if signum == signal.SIGKILL:
        assert not (run_dir / "summary.json").exists()  # died without a word; the periodic checkpoint remains
    else:
        stopped = json.loads((run_dir / "summary.json").read_text())
        assert stopped["status"] == "interrupted" and 60 <= stopped["steps"] < 200, out
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()

    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    (time_before,) = [state["elapsed_s"] for state in checkpoint["callbacks"].values() if "elapsed_s" in state]

    resume_root = tmp_path / "stopped"
    if signum == signal.SIGTERM:
        # As a long run crosses machines (docs/studies.md, "The recipe at full length"): its folder committed
        # with only the newest checkpoint, no Hydra folder or lock, copied into another runs folder.
        resume_root = tmp_path / "next-machine"
        shutil.copytree(
            tmp_path / "stopped",
            resume_root,
            ignore=shutil.ignore_patterns(".hydra", "run.lock", "previous.ckpt", "sweeps"),
        )
        shutil.rmtree(tmp_path / "stopped")
        run_dir = resume_root / run_dir.relative_to(tmp_path / "stopped")
    resumed = run_main("study.train", *args(resume_root), check=True)
    assert "resume:" in resumed.stdout and "skip:" not in resumed.stdout
    if signum != signal.SIGKILL:
        assert f"at step {stopped['steps']}" in resumed.stdout
    straight_dir = uninterrupted
    a, b = (json.loads((d / "summary.json").read_text()) for d in (straight_dir, run_dir))
    assert b["status"] == "completed" and b["wall_time_s"] > time_before > 0  # the time before a kill counts
    assert (a["final_train_error"], a["final_test_error"]) == (b["final_train_error"], b["final_test_error"])
    assert (straight_dir / "metrics.csv").read_text() == (run_dir / "metrics.csv").read_text()
    assert (straight_dir / "diagnostics.csv").read_text() == (run_dir / "diagnostics.csv").read_text()


def test_truncated_checkpoint_is_ignored_for_the_one_before(cifar_root, tmp_path):
    from study.runs.checkpoints import newest_checkpoint

    train(cifar_root, tmp_path, "model.depth=8")
    ckpts = only_run_dir(tmp_path) / "checkpoints"
    last = ckpts / "last.ckpt"
    last.write_bytes(last.read_bytes()[:2000])
    found, refused = newest_checkpoint(ckpts.parent)
    assert found.path.name == "previous.ckpt" and found.step == found.checkpoint["global_step"] == 3
    assert len(refused) == 1 and refused[0].startswith("last.ckpt: ")


def test_a_checkpoint_that_would_run_code_is_refused_and_never_run(cifar_root, tmp_path):
    import pickle

    train(cifar_root, tmp_path, "model.depth=8", "trainer.max_steps=3", "checkpoint_every=3")
    run_dir = only_run_dir(tmp_path)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"global_step": Payload()}, run_dir / "checkpoints" / "last.ckpt", pickle_module=pickle)
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["status"] = "interrupted"  # so that the same command resumes it
    (run_dir / "summary.json").write_text(json.dumps(summary))
    rerun = train(cifar_root, tmp_path, "model.depth=8", "trainer.max_steps=3", "checkpoint_every=3")
    assert not marker.exists()
    assert "restart:" in rerun.stdout and "last.ckpt: it holds Python objects besides tensors" in rerun.stdout
    assert "weights_only=False" not in rerun.stdout + rerun.stderr  # torch's advice is never passed on
    (aside,) = run_dir.glob("set-aside-*-no-usable-checkpoint")
    assert (aside / "checkpoints" / "last.ckpt").is_file() and (aside / "metrics.csv").is_file()
    rows = read_rows(run_dir / "metrics.csv")  # one history, the restarted run's
    assert [int(r["step"]) for r in rows if r["train_error"]] == [2]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


def test_wandb_logger_works_offline_without_an_account(cifar_root, tmp_path):
    # A process of its own: wandb's service writes the run file as far as the process's exit.
    args = tiny_run_args(cifar_root, tmp_path, "model.depth=8", "logger=wandb", "experiment_name=demo")
    result = run_cli("study.train", *args, check=True)
    run_dir = only_run_dir(tmp_path)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed", result.stderr
    (record,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    raw = record.read_bytes()
    assert b"demo" in raw  # the sweep's group
    assert all(key in raw for key in (b"arch", b"depth", b"seed"))  # carried as config


def test_an_exception_leaves_a_failed_summary_and_a_rerun_retries_it(cifar_root, tmp_path):
    failed = train(cifar_root, tmp_path, "model.depth=8", "trainer.accelerator=gpu", check=False)
    assert failed.returncode != 0
    run_dir = only_run_dir(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and "GPU" in summary["error"].upper()
    retried = train(cifar_root, tmp_path, "model.depth=8", "trainer.accelerator=cpu")
    assert "skip:" not in retried.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and "error" not in summary


@pytest.mark.slow
def test_a_compiled_net_trains_and_checkpoints(cifar_root, tmp_path):
    train(cifar_root, tmp_path, "model.depth=8", "run.compile=true")
    run_dir = only_run_dir(tmp_path)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


def test_output_to_a_file_is_one_line_an_interval_without_chatter(cifar_root, tmp_path):
    result = train(cifar_root, tmp_path, "model.depth=8", "trainer.enable_progress_bar=true")
    named = "resnet-8 seed 0: "  # runs trained at once write into one output: each line names its run
    lines = [line.removeprefix(named) for line in result.stdout.splitlines() if line.startswith(named + "step ")]
    assert [line.split(":")[0] for line in lines] == ["step 2/6", "step 4/6", "step 6/6", "step 6/6"]
    assert "training error" in lines[-2] and "images/s" in lines[-2] and "left" in lines[-2]
    # the final measurement is announced, not a silence after "0 s left"; the last line gives its %
    assert re.search(
        r"training done; measuring the final errors on 700 images and the layer responses \(about", lines[-1]
    )
    assert re.search(r"^completed: .* after 6 steps, test error [\d.]+%$", result.stdout, flags=re.MULTILINE)
    output = result.stdout + result.stderr
    assert "\r" not in output and "Tip:" not in output and "LeafSpec" not in output and "srun" not in output


def test_the_dataloader_second_opinion_trains_and_reports(cifar_root, tmp_path):
    run_cli(
        "study.bench.dataloader_check",
        str(cifar_root),
        "--out",
        str(tmp_path / "check"),
        "--depth",
        "8",
        "--steps",
        "4",
        "--eval-every",
        "2",
        "--milestones",
        "2,3",
        check=True,
        timeout=300,
    )
    summary = json.loads((tmp_path / "check" / "summary.json").read_text())
    assert summary["steps"] == 4 and 0 <= summary["final_test_error"] <= 100
    assert summary["data"]["layout"] == "cifar-10-batches-py"
    rows = read_rows(tmp_path / "check" / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.1, 0.001])  # the lr of the last update of each interval


def test_evaluate_gives_the_runs_test_error_and_exports_the_net_with_its_preprocessing(cifar_root, tmp_path):
    from study.nets.export import load_export

    train(cifar_root, tmp_path / "runs", "model.depth=8")
    run_dir = only_run_dir(tmp_path / "runs")
    summary = json.loads((run_dir / "summary.json").read_text())
    result = run_main("study.evaluate", str(run_dir), "--export", str(tmp_path / "model.pt"), check=True)
    test_line = next(line for line in result.stdout.splitlines() if line.startswith("test error:"))
    assert float(test_line.split()[-1].rstrip("%")) == pytest.approx(summary["final_test_error"], abs=1e-4)
    assert "airplane" in result.stdout and "truck" in result.stdout  # per class
    net = load_export(tmp_path / "model.pt")  # no Lightning, no Hydra
    assert net.config.depth == 8 and net.source["step"] == summary["steps"]

    moved = run_cli("study.evaluate", str(run_dir / "checkpoints" / "last.ckpt"), f"data.root={tmp_path / 'gone'}")
    assert moved.returncode == 2 and "no CIFAR-10 in" in moved.stderr and "Traceback" not in moved.stderr


def test_a_run_resumed_under_other_code_records_each_version_with_the_step_it_took_over(
    cifar_root, tmp_path, monkeypatch
):
    import study.training.run
    from study.runs import provenance
    from study.training.callbacks import StopOnSignal
    from tiny_runs import stopped_at_step, train_in_process

    old, new = {"commit": "a" * 40, "changed": False}, {"commit": "b" * 40, "changed": True}
    monkeypatch.setattr(study.training.run, "StopOnSignal", stopped_at_step(4))
    monkeypatch.setattr(provenance, "code_version", lambda: old)
    with pytest.raises(SystemExit):
        train_in_process(cifar_root, tmp_path)
    run_dir = only_run_dir(tmp_path)
    stopped = json.loads((run_dir / "summary.json").read_text())
    assert stopped["status"] == "interrupted" and stopped["steps"] == 4
    assert stopped["provenance"]["code_history"] == [{"code": old, "from_step": 0}]

    monkeypatch.setattr(study.training.run, "StopOnSignal", StopOnSignal)
    monkeypatch.setattr(provenance, "code_version", lambda: new)
    assert train_in_process(cifar_root, tmp_path)[0] == "completed"
    done = json.loads((run_dir / "summary.json").read_text())["provenance"]
    assert done["code"] == new and done["code_history"] == [
        {"code": old, "from_step": 0},
        {"code": new, "from_step": 4},
    ]


def test_a_checkpoint_older_than_the_code_history_takes_the_first_version_from_the_old_summary():
    from types import SimpleNamespace

    from study.training.callbacks import CodeVersions

    old, new = {"commit": "a" * 40}, {"commit": "b" * 40}
    fresh = CodeVersions(new)
    fresh.on_train_start(SimpleNamespace(global_step=0), None)
    assert fresh.history == [{"code": new, "from_step": 0}]
    resumed = CodeVersions(new, before=old)
    resumed.load_state_dict({})  # what a checkpoint without this callback's state gives
    resumed.on_train_start(SimpleNamespace(global_step=2000), None)
    assert resumed.history == [{"code": old, "from_step": 0}, {"code": new, "from_step": 2000}]
    unknown = CodeVersions(new)
    unknown.on_train_start(SimpleNamespace(global_step=2000), None)
    assert unknown.history == [{"code": None, "from_step": 0}, {"code": new, "from_step": 2000}]
    again = CodeVersions(new)  # the same code resumed: one entry, and a later entry of an older checkpoint dropped
    again.load_state_dict({"history": [{"code": new, "from_step": 0}, {"code": old, "from_step": 6000}]})
    again.on_train_start(SimpleNamespace(global_step=4000), None)
    assert again.history == [{"code": new, "from_step": 0}]
    damaged = CodeVersions(new)
    damaged.load_state_dict({"history": [{"code": "rm -rf", "from_step": "x"}]})
    assert damaged.history == []


def test_a_pre_activation_bottleneck_run_trains_resumes_and_reports_in_its_own_folder(cifar_root, tmp_path):
    from tiny_runs import train_in_process

    extra = ("model.unit=preact", "model.block=bottleneck", "model.depth=11", "model.shortcut=B", "diag_every=2")
    status, run_dir = train_in_process(cifar_root, tmp_path / "runs", *extra)
    assert status == "completed" and run_dir.parent.name == "resnet11-B-preact-bottleneck"
    assert len(read_rows(run_dir / "diagnostics.csv")) and (run_dir / "layer_responses.csv").is_file()
    report = run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), check=True)
    assert "report: 1 run (1 completed, 0 unfinished) in 1 study" in report.stdout


def test_nets_without_bn_train_resume_sweep_and_report_beside_their_bn_twins(cifar_root, tmp_path, monkeypatch):
    import study.training.run
    from study.results.publish import write_report
    from study.training.callbacks import StopOnSignal
    from tiny_runs import stopped_at_step, train_in_process

    fixup = ("model.norm=none", "model.init=fixup", "model.depth=8", "diag_every=3")
    _, straight = train_in_process(cifar_root, tmp_path / "runs", *fixup)
    monkeypatch.setattr(study.training.run, "StopOnSignal", stopped_at_step(4))
    with pytest.raises(SystemExit):
        train_in_process(cifar_root, tmp_path / "stopped", *fixup)
    monkeypatch.setattr(study.training.run, "StopOnSignal", StopOnSignal)
    status, resumed = train_in_process(cifar_root, tmp_path / "stopped", *fixup)
    assert status == "completed" and resumed.parent.name == straight.parent.name == "resnet8-nonorm-fixup"
    a, b = (json.loads((d / "summary.json").read_text()) for d in (straight, resumed))
    assert (a["final_train_error"], a["final_test_error"]) == (b["final_train_error"], b["final_test_error"])
    assert a["config"]["model"]["norm"] == "none" and a["params"] == b["params"]
    names = {row["name"] for row in read_rows(straight / "diagnostics.csv")}  # measured at the convs: no BN
    assert names and all(".conv" in name or name == "conv1" for name in names)
    # the experiment's model nodes beside the paper's nets; the Fixup run above is found, not trained again
    models = "model=resnet,resnet_fixup,plain,plain_nonorm"
    run_cli(
        "study.train",
        "-m",
        *tiny_run_args(cifar_root, tmp_path / "runs", models, "model.depth=8", "diag_every=3"),
        check=True,
    )
    folders = sorted(p.parent.parent.name for p in (tmp_path / "runs").rglob("summary.json"))
    assert folders == ["plain8", "plain8-nonorm", "resnet8", "resnet8-nonorm-fixup"]
    assert json.loads((straight / "summary.json").read_text())["wall_time_s"] == a["wall_time_s"]
    assert write_report([tmp_path / "runs"], tmp_path / "out") == 0
    table = (tmp_path / "out" / "fixes.md").read_text()
    assert "| plain-8 | no norm, He init |" in table and "| ResNet-8 | no norm, Fixup |" in table
    text = (tmp_path / "out" / "report.md").read_text()
    assert "### Without BN and without a shortcut, depth hurts far more than with BN: **not enough runs**" in text


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model=plain_nonorm", "model.init=fixup"], "init='fixup' acts on residual branches"),
        (["model=resnet", "model.init=fixup"], "init='fixup' replaces normalisation"),
        # a sweep checks every job before Hydra makes any job's folder
        (
            ["-m", "model=resnet,resnet_nonorm", "model.init=zero_gamma", "model.depth=8,14"],
            "init='zero_gamma' sets BN",
        ),
    ],
)
def test_a_norm_and_init_without_meaning_is_refused_in_one_line_and_writes_nothing(tmp_path, overrides, message):
    result = run_cli("study.train", *overrides, f"runs_root={tmp_path / 'runs'}")
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_a_depth_the_block_cannot_build_is_refused_before_the_data(tmp_path):
    result = run_cli("study.train", "model.block=bottleneck", "model.depth=8", f"runs_root={tmp_path}")
    assert result.returncode == 2 and "9n+2" in result.stderr and "bottleneck blocks" in result.stderr
    assert not list(tmp_path.iterdir())
