"""Run folders, checkpoints and names from someone else: nothing run, nothing overwritten, nothing
followed out of its folder, nothing plotted that cannot be, no secret printed."""

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from commands import run_cli, run_main
from fake_runs import fake_run
from study.results.tables import md
from tiny_runs import tiny_run_args, train_in_process


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def train(cifar_root, runs_root, *extra):
    return run_main("study.train", *tiny_run_args(cifar_root, runs_root, "model.depth=8", *extra))


def test_a_folder_of_the_users_that_holds_no_run_is_refused_and_left_byte_identical(cifar_root, tmp_path):
    mine = tmp_path / "my folder"
    (mine / ".hydra").mkdir(parents=True)
    for name, text in {"hparams.yaml": "lr: 3", "layer_responses.csv": "mine", ".hydra/config.yaml": "mine: 1"}.items():
        (mine / name).write_text(text)
    before = snapshot(mine)
    result = train(cifar_root, tmp_path / "runs", f"hydra.run.dir={mine}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{mine} holds files that are not a run of this harness" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(mine) == before


def test_a_summary_without_a_status_is_refused_in_one_line(cifar_root, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"arch": "resnet"}))
    before = snapshot(folder)
    result = train(cifar_root, tmp_path / "runs", f"hydra.run.dir={folder}")
    assert result.returncode == 2 and "has no 'status' field" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(folder) == before


def test_a_history_linked_out_of_its_folder_is_refused_by_training_and_the_report(cifar_root, tmp_path):
    status, run_dir = train_in_process(cifar_root, tmp_path / "runs", "model.depth=8")
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("secret,header\n1,2\n")
    (run_dir / "metrics.csv").unlink()
    (run_dir / "metrics.csv").symlink_to(outside)
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    result = train(cifar_root, tmp_path / "runs")
    assert (
        result.returncode == 2 and "metrics.csv is a link to" in result.stderr and "outside the folder" in result.stderr
    )
    assert outside.read_text() == "secret,header\n1,2\n"
    (run_dir / "summary.json").write_text(json.dumps(summary))
    fake_run(tmp_path / "runs", "resnet", 20)
    run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), check=True)
    text = (tmp_path / "out" / "report.md").read_text()
    assert md(f"{run_dir.relative_to(tmp_path / 'runs').as_posix()}: not used, metrics.csv is a link to") in text


@pytest.mark.parametrize(
    "row,why",
    [
        ("0.1,-100,,20.0", "step is '-100'"),
        ("0.1,1e30,,20.0", "step is '1e30'"),
        ("0.1,5.7,,20.0", "step is '5.7'"),
        ("0.1,100,,5000", "train_error is '5000'"),
        ("0.1,100,,-40", "train_error is '-40'"),
        ("-0.1,100,,20.0", "lr is '-0.1'"),
        ("0.1,100,,twenty", "train_error is 'twenty'"),
    ],
)
def test_a_history_with_a_value_it_cannot_hold_makes_the_run_damaged_and_unused(tmp_path, row, why):
    good = fake_run(tmp_path / "runs", "resnet", 20)
    bad = fake_run(tmp_path / "runs", "plain", 20)
    lines = (bad / "metrics.csv").read_text().splitlines()
    (bad / "metrics.csv").write_text("\n".join([lines[0], row, *lines[1:]]) + "\n")
    assert run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out")).returncode == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert md(f"its metrics.csv is damaged (line 2: {why}, which it cannot be)") in text
    runs = (tmp_path / "out" / "runs.csv").read_text()
    assert "plain" not in runs.split("\n", 1)[1] and good.name in runs


def test_two_rows_for_one_step_with_different_errors_make_the_run_damaged(tmp_path):
    fake_run(tmp_path / "runs", "resnet", 20)
    bad = fake_run(tmp_path / "runs", "plain", 20)
    with open(bad / "metrics.csv", "a") as f:
        f.write("0.1,600,,1.0\n")
    run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), check=True)
    assert "a second train\\_error for step 600" in (tmp_path / "out" / "report.md").read_text()


def test_nan_cells_are_left_out_with_a_note(tmp_path):
    run = fake_run(tmp_path / "runs", "resnet", 20)
    with open(run / "metrics.csv", "a") as f:
        f.write(",600,nan,\n")
    run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), check=True)
    assert "metrics.csv has 1 NaN cell(s), left out of its curves" in (tmp_path / "out" / "report.md").read_text()


def test_evaluate_never_resolves_an_interpolation_from_a_run_folder(cifar_root, tmp_path):
    status, run_dir = train_in_process(cifar_root, tmp_path / "runs", "model.depth=8")
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["config"]["data"]["root"] = "${oc.env:SECRET_TOKEN}"
    (run_dir / "summary.json").write_text(json.dumps(summary))
    result = run_cli("study.evaluate", str(run_dir), env={"SECRET_TOKEN": "hunter2"})
    assert result.returncode == 2 and "interpolation" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr


def test_a_checkpoint_of_another_net_with_the_same_shapes_is_refused_by_evaluate_and_resume(cifar_root, tmp_path):
    _, resnet_dir = train_in_process(cifar_root, tmp_path / "runs", "model.depth=8")
    _, plain_dir = train_in_process(cifar_root, tmp_path / "runs", "model.depth=8", "model=plain")
    (plain_dir / "checkpoints" / "last.ckpt").write_bytes((resnet_dir / "checkpoints" / "last.ckpt").read_bytes())
    result = run_main("study.evaluate", str(plain_dir), f"data.root={cifar_root}", "data.verify_checksums=false")
    assert result.returncode == 2 and "holds a ResNet-8, but its run folder's config is a plain-8" in result.stderr
    summary = json.loads((plain_dir / "summary.json").read_text())
    (plain_dir / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    resumed = train(cifar_root, tmp_path / "runs", "model=plain")
    assert resumed.returncode == 2 and "it holds a ResNet-8, the run is a plain-8" in resumed.stderr


def test_a_checkpoint_evaluates_on_its_own(cifar_root, tmp_path):
    _, run_dir = train_in_process(cifar_root, tmp_path / "runs", "model.depth=8")
    alone = tmp_path / "alone.ckpt"
    alone.write_bytes((run_dir / "checkpoints" / "last.ckpt").read_bytes())
    result = run_main("study.evaluate", str(alone), f"data.root={cifar_root}", "data.verify_checksums=false")
    assert result.returncode == 0, result.stderr
    assert "ResNet-8 (checkpoint alone.ckpt, step 6)" in result.stdout and "test error:" in result.stdout


def test_a_full_disk_says_in_one_line_where_and_that_the_run_resumes(cifar_root, tmp_path, monkeypatch):
    from study.training import callbacks, run
    from study.training.run import RunError

    real = callbacks.RunCheckpoints.save

    def save(self, trainer):
        if trainer.global_step >= 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(self, trainer)

    monkeypatch.setattr(callbacks.RunCheckpoints, "save", save)
    monkeypatch.setattr(run.summary, "write", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(RunError, match=r"is out of space .* resumes from its last checkpoint \(step 3\)"):
        train_in_process(cifar_root, tmp_path / "runs", "model.depth=8", "checkpoint_every=3")


def test_a_name_too_long_for_the_file_system_is_one_line(cifar_root, tmp_path):
    long = tmp_path / ("x" * 300)
    result = train(cifar_root, long)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "File name too long" in result.stderr
    fake_run(tmp_path / "runs", "resnet", 20)
    report = run_main("study.report", str(tmp_path / "runs"), "--out", str(long))
    assert report.returncode == 2 and "Traceback" not in report.stderr and "File name too long" in report.stderr


def a_run_with_a_checkpoint(root: Path) -> Path:
    run_dir = fake_run(root, "resnet", 20, test=8.0)
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"the run's newest checkpoint")
    return run_dir


@pytest.mark.parametrize("target", ["checkpoints/last.ckpt", "summary.json", "my-export.pt"])
def test_evaluate_refuses_to_write_into_a_run_folder_before_evaluating(tmp_path, target):
    run_dir = a_run_with_a_checkpoint(tmp_path / "runs")
    before = snapshot(run_dir)
    for flag in ("--export", "--responses"):
        result = run_main("study.evaluate", str(run_dir), flag, str(run_dir / target))
        assert result.returncode == 2 and f"inside the run folder {run_dir}" in result.stderr
        assert "Traceback" not in result.stderr and snapshot(run_dir) == before


def test_evaluate_refuses_an_output_in_a_missing_folder_before_evaluating(tmp_path):
    result = run_main("study.evaluate", str(tmp_path / "no-such-net.pt"), "--export", str(tmp_path / "gone" / "n.pt"))
    assert result.returncode == 2 and "does not exist; make it first" in result.stderr


def test_the_dataloader_check_refuses_a_run_folder_bad_steps_and_a_folder_without_cifar(tmp_path):
    run_dir = a_run_with_a_checkpoint(tmp_path / "runs")
    before = snapshot(run_dir)
    refused = run_main("study.bench.dataloader_check", str(tmp_path), "--out", str(run_dir))
    assert refused.returncode == 2 and f"--out {run_dir} is the run folder" in refused.stderr
    assert snapshot(run_dir) == before
    steps = run_main("study.bench.dataloader_check", str(tmp_path), "--out", str(tmp_path / "c"), "--steps", "0")
    assert steps.returncode == 2 and "--steps 0: give a positive whole number" in steps.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = run_main("study.bench.dataloader_check", str(empty), "--out", str(tmp_path / "c"))
    assert missing.returncode == 2 and "no CIFAR-10 in" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.parametrize("folder", ["/data/cifar,v2", "r,x", "my data [v2]", "it's", "trail\\", "a=b"])
def test_reproduce_hands_each_path_to_hydra_as_one_value_and_seeds_as_a_sweep(folder):
    import argparse

    from hydra.core.override_parser.overrides_parser import OverridesParser

    from study.reproduce import sweep_command
    from tiny_runs import compose_config

    args = argparse.Namespace(
        data="cifar10", runs=folder, seeds="0,1", data_dir=folder, launcher=None, jobs=1, overrides=[]
    )
    overrides = sweep_command("mini", args)[4:]  # after `python -m study.train -m`
    parsed = {o.key_or_group: o for o in OverridesParser.create().parse_overrides(overrides)}
    assert parsed["seed"].is_sweep_override() and not parsed["data.root"].is_sweep_override()
    cfg = compose_config(*(o for o in overrides if not o.startswith("seed=")))
    assert cfg.data.root == folder and cfg.runs_root == folder


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--data-dir", "/data/${oc.env:HOME}"], "would expand as an interpolation"),
        (["--runs", "${x}"], "would expand as an interpolation"),
        (["--seeds", "0,x"], "--seeds '0,x': give whole numbers"),
        (["--launcher", "slurm,joblib"], "--launcher 'slurm,joblib'"),
    ],
)
def test_reproduce_refuses_what_hydra_would_read_as_more_than_one_value(flags, message):
    result = run_main("study.reproduce", *flags)
    assert result.returncode == 2 and message in result.stderr


@pytest.mark.parametrize("step", ["abc", "1e400", "nan"])
def test_a_resume_over_a_metrics_row_whose_step_is_no_number_stops_in_one_line(cifar_root, tmp_path, step):
    status, run_dir = train_in_process(cifar_root, tmp_path / "runs", "model.depth=8")
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    metrics = run_dir / "metrics.csv"
    header = metrics.read_text().splitlines()[0].split(",")
    with open(metrics, "a") as f:
        f.write(",".join(step if name == "step" else "" for name in header) + "\n")
    before = metrics.read_bytes()
    result = train(cifar_root, tmp_path / "runs")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"metrics.csv has a row with step {step!r}, not a step number" in result.stderr
    assert metrics.read_bytes() == before


def yaml_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text, why", [(yaml_bomb(), "anchors or aliases"), ("a: " + "[" * 200 + "]" * 200, "nested more than")]
)
def test_a_config_yaml_that_would_expand_without_bound_is_refused_at_once(cifar_root, tmp_path, text, why):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(text)
    (run_dir / "metrics.csv").write_text("step\n")
    result = train(cifar_root, tmp_path / "runs", f"hydra.run.dir={run_dir}")
    assert result.returncode == 2 and why in result.stderr and "Traceback" not in result.stderr
    assert (run_dir / "config.yaml").read_text() == text


def test_a_summary_nested_too_deeply_is_listed_not_fatal(tmp_path):
    run_dir = fake_run(tmp_path / "runs", "resnet", 20, test=8.0, folder="deep")
    fake_run(tmp_path / "runs", "resnet", 32, test=7.5)
    (run_dir / "summary.json").write_text('{"status": "completed", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert result.returncode == 0 and "nested too deeply" in result.stdout


def test_evaluate_refuses_data_settings_of_the_wrong_shape_in_one_line(cifar_root, tmp_path):
    status, run_dir = train_in_process(cifar_root, tmp_path / "runs", "model.depth=8")
    for override, message in (
        ("data=5", "data=5: give the data's settings one by one"),
        ("data.name=[a,b]", "is unknown"),
    ):
        result = run_main("study.evaluate", str(run_dir), override)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("entry", ["sweeps/single.progress.jsonl", "multirun.yaml"])
def test_a_sweep_never_writes_through_a_link_in_its_runs_folder(tmp_path, entry):
    runs = tmp_path / "copied runs"
    (runs / "sweeps").mkdir(parents=True)
    thesis = tmp_path / "thesis.tex"
    thesis.write_text("years of work")
    (runs / entry).symlink_to(thesis)
    result = run_cli("study.train", "-m", f"runs_root={runs}", f"data.root={tmp_path / 'no-data'}", "model.depth=8,14")
    assert result.returncode == 2 and "a sweep never writes through it" in result.stderr
    assert thesis.read_text() == "years of work" and (runs / entry).is_symlink()


@pytest.fixture(scope="module")
def trained(cifar_root, tmp_path_factory) -> tuple[Path, Path]:
    """(runs folder, run folder) of one tiny completed ResNet-8 run, trained once for this module."""
    runs = tmp_path_factory.mktemp("trained") / "runs"
    _, run_dir = train_in_process(cifar_root, runs, "model.depth=8")
    return runs, run_dir


@pytest.fixture
def resnet8(trained, tmp_path) -> Path:
    """A copy of the trained run in this test's tmp_path/runs, where its config would put it."""
    runs, run_dir = trained
    copy = tmp_path / "runs" / run_dir.relative_to(runs)
    shutil.copytree(run_dir, copy)
    return copy


def run_files(run_dir: Path) -> dict:
    """What a run wrote into its folder (Hydra's own .hydra/ and train.log left out)."""
    return {k: v for k, v in snapshot(run_dir).items() if not k.startswith(".hydra/") and k != "train.log"}


def interrupted(run_dir: Path) -> None:
    """Mark a completed tiny run interrupted, so that training its config again resumes it."""
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))


def test_a_resume_on_another_data_copy_is_refused_naming_both(cifar_root, tmp_path, resnet8):
    from fixture_data import make_fake_cifar10

    run_dir = resnet8
    interrupted(run_dir)
    before = run_files(run_dir)
    other = make_fake_cifar10(tmp_path / "other copy", seed=1)
    result = run_main("study.train", *tiny_run_args(other, tmp_path / "runs", "model.depth=8"))
    trained_on = json.loads((run_dir / "summary.json").read_text())["data"]["content"]
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"it trained on the data copy {trained_on} (in {cifar_root.resolve()}" in result.stderr
    assert f"(in {other.resolve()}" in result.stderr
    assert run_files(run_dir) == before


@pytest.mark.parametrize("source", ["checkpoint", "summary"])
def test_a_resume_on_another_kind_of_device_or_precision_is_refused(cifar_root, tmp_path, source, resnet8):
    """A run begun on a GPU at bf16 and resumed on a CPU at fp32 must not pass for one run: the
    checkpoint records what its steps trained with; one from before it did, the run's summary."""
    import torch

    run_dir = resnet8
    interrupted(run_dir)
    for name in ("last.ckpt", "previous.ckpt"):
        path = run_dir / "checkpoints" / name
        checkpoint = torch.load(path, weights_only=True)
        if source == "checkpoint":
            checkpoint["study"]["made"].update(device="cuda", precision="bf16-mixed")
        else:
            del checkpoint["study"]["made"]
        torch.save(checkpoint, path)
    if source == "summary":
        summary = json.loads((run_dir / "summary.json").read_text())
        summary["provenance"].update(device="NVIDIA H100 80GB HBM3 (GPU)", precision="bf16-mixed")
        del summary["provenance"]["device_type"]
        (run_dir / "summary.json").write_text(json.dumps(summary))
    before = run_files(run_dir)
    result = train(cifar_root, tmp_path / "runs")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "it trained on a device of kind 'cuda' and would resume on 'cpu'" in result.stderr
    assert "it trained on precision 'bf16-mixed' and would resume on '32-true'" in result.stderr
    assert run_files(run_dir) == before


def test_an_old_checkpoint_of_another_depth_is_refused_and_the_summary_kept(cifar_root, tmp_path, resnet8):
    import torch

    run_dir = resnet8
    _, deeper = train_in_process(cifar_root, tmp_path / "runs", "model.depth=14")
    interrupted(run_dir)
    old = torch.load(deeper / "checkpoints" / "last.ckpt", weights_only=True)
    del old["study"]  # as checkpoints were before they said which net they hold
    old["global_step"] = 5
    torch.save(old, run_dir / "checkpoints" / "last.ckpt")
    before = run_files(run_dir)
    result = train(cifar_root, tmp_path / "runs")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not this run's checkpoint: it holds" in result.stderr and "weights the run's net lacks" in result.stderr
    assert run_files(run_dir) == before  # the summary is not rewritten as failed


def zip_bomb(checkpoint: Path, out: Path, inflated_mb: int) -> None:
    """The checkpoint with its entries compressed and one more that inflates to `inflated_mb` MB."""
    import zipfile

    with zipfile.ZipFile(checkpoint) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for entry in source.infolist():
            bomb.writestr(entry.filename, source.read(entry))
        prefix = source.namelist()[0].split("/")[0]
        with bomb.open(f"{prefix}/data/bomb", "w") as f:
            for _ in range(inflated_mb):
                f.write(bytes(2**20))


def test_a_checkpoint_zip_bomb_is_refused_before_it_is_inflated_and_only_the_runs_names_are_read(resnet8):
    from study.runs.checkpoints import load_checkpoint, newest_checkpoint

    run_dir = resnet8
    ckpts = run_dir / "checkpoints"
    (ckpts / "last.ckpt").replace(ckpts / "previous.ckpt")
    zip_bomb(ckpts / "previous.ckpt", ckpts / "last.ckpt", inflated_mb=256)
    assert (ckpts / "last.ckpt").stat().st_size < 2 * (ckpts / "previous.ckpt").stat().st_size
    loaded, why = load_checkpoint(ckpts / "last.ckpt")
    assert loaded is None and "compressed entries, which torch.save never writes" in why
    (ckpts / "zz-step-999999.ckpt").write_bytes((ckpts / "previous.ckpt").read_bytes())  # dropped in: never read
    newest, refused = newest_checkpoint(run_dir)
    assert newest[0].name == "previous.ckpt" and [r.split(":")[0] for r in refused] == ["last.ckpt"]
    loaded, why = load_checkpoint(ckpts / "previous.ckpt", max_bytes=1000)
    assert loaded is None and "more than the 1,000 its net can fill" in why


@pytest.mark.timeout(120)  # a FIFO opened for reading would block until then
def test_evaluate_reads_around_a_fifo_checkpoint(cifar_root, tmp_path, resnet8):
    run_dir = resnet8
    ckpts = run_dir / "checkpoints"
    (ckpts / "last.ckpt").replace(ckpts / "previous.ckpt")
    os.mkfifo(ckpts / "last.ckpt")
    result = run_main("study.evaluate", str(run_dir), f"data.root={cifar_root}", "data.verify_checksums=false")
    assert result.returncode == 0, result.stderr
    assert "previous.ckpt" in result.stdout


@pytest.mark.timeout(120)
def test_a_stop_signal_ends_a_run_that_has_not_started_training(cifar_root, tmp_path, monkeypatch):
    """A data load that blocks (a slow network disk, a FIFO) must not keep SIGTERM from ending the run."""
    import signal
    import time

    from study.training import run

    def blocked_load(cfg):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(100)

    monkeypatch.setattr(run, "load_data", blocked_load)
    with pytest.raises(SystemExit) as stopped:
        train_in_process(cifar_root, tmp_path / "runs", "model.depth=8")
    assert stopped.value.code == 128 + signal.SIGTERM
    assert not list((tmp_path / "runs").rglob("summary.json")) and not list((tmp_path / "runs").rglob("run.lock"))


@pytest.mark.parametrize("entry", ["hparams.yaml", ".hydra/config.yaml", "train.log", "checkpoints/last.ckpt.tmp"])
def test_a_sweep_never_writes_through_a_link_in_a_run_folder(cifar_root, tmp_path, entry, resnet8):
    """Hydra writes .hydra/ and opens train.log before a job runs, Lightning writes hparams.yaml:
    a copied runs folder is checked for all of them before the sweep starts."""
    runs, run_dir = tmp_path / "runs", resnet8
    interrupted(run_dir)
    thesis = tmp_path / "thesis.tex"
    thesis.write_text("years of work")
    (run_dir / entry).parent.mkdir(exist_ok=True)
    (run_dir / entry).unlink(missing_ok=True)
    (run_dir / entry).symlink_to(thesis)
    result = run_cli("study.train", "-m", *tiny_run_args(cifar_root, runs, "model.depth=8,14"))
    assert result.returncode == 2 and "a sweep never writes through it" in result.stderr and entry in result.stderr
    assert thesis.read_text() == "years of work" and (run_dir / entry).is_symlink()
    single = train(cifar_root, runs)  # a single run is checked before Hydra writes anything too
    assert single.returncode == 2 and "which a run never writes" in single.stderr
    assert thesis.read_text() == "years of work"


@pytest.mark.timeout(120)
def test_a_sweep_refuses_a_fifo_progress_file(tmp_path):
    runs = tmp_path / "runs"
    (runs / "sweeps").mkdir(parents=True)
    os.mkfifo(runs / "sweeps" / "single.progress.jsonl")
    result = run_cli("study.train", "-m", f"runs_root={runs}", f"data.root={tmp_path / 'no-data'}", "model.depth=8,14")
    assert result.returncode == 2 and "not a plain file" in result.stderr
