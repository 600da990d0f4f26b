"""Lightning, Hydra and wandb as their users expect them: Trainer options from the config, the
debug group, several loggers, wandb's files, and the default config against the paper."""

import json
import os
from pathlib import Path

import joblib
import pytest

from commands import REPO, run_cli, run_main
from study import paper
from study.runs import identity as runs
from tiny_runs import compose_config, tiny_run_args, train_in_process
from wandb_files import wandb_records


def test_a_trainer_option_reaches_the_trainer_and_names_a_new_run(cifar_root, tmp_path, monkeypatch):
    import study.training.run

    built = []
    real = study.training.run.build_trainer
    monkeypatch.setattr(study.training.run, "build_trainer", lambda *a, **k: built.append(real(*a, **k)) or built[-1])
    status, clipped = train_in_process(
        cifar_root, tmp_path, "model.depth=8", "trainer.gradient_clip_val=0.25", "+trainer.detect_anomaly=true"
    )
    assert status == "completed"
    assert built[0].gradient_clip_val == 0.25 and built[0]._detect_anomaly is True
    default = runs.run_id(compose_config(*tiny_run_args(cifar_root, tmp_path, "model.depth=8")))
    assert clipped != tmp_path / default  # it changes what is trained: another run


@pytest.mark.parametrize(
    "override",
    [
        "trainer.enable_progress_bar=true",
        "+trainer.log_every_n_steps=7",
        "trainer.gradient_clip_val=null",
        "trainer.accumulate_grad_batches=1",
        "trainer.benchmark=false",
        "logger=wandb",
        "+trainer.enable_model_summary=true",
    ],
)
def test_keys_that_change_nothing_trained_keep_the_run_folder(cifar_root, tmp_path, override):
    base = tiny_run_args(cifar_root, tmp_path, "model.depth=8")
    assert runs.run_id(compose_config(*base, override)) == runs.run_id(compose_config(*base))


def test_the_folder_names_of_runs_made_before_the_trainer_pass_through_stay_the_same(cifar_root, tmp_path):
    # The mini study's ResNet-56, as results/cifar10-mini recorded it (made before this change; in git history).
    cfg = compose_config(
        "experiment=mini",
        "model=resnet",
        "model.depth=56",
        "data.root=/elsewhere/cifar10",
        "trainer.enable_progress_bar=false",
    )
    assert runs.run_id(cfg) == "cifar10/resnet56/seed0-425da77b72"


@pytest.mark.parametrize(
    "override,expected",
    [
        ("+trainer.not_an_argument=1", "Trainer.__init__() got an unexpected keyword argument 'not_an_argument'"),
        ("+trainer.max_epochs=3", "trainer.max_epochs is set by the harness: a run's length is trainer.max_steps"),
        ("+trainer.callbacks=[]", "trainer.callbacks is set by the harness"),
        ("trainer.benchmark=sometimes", "trainer.benchmark='sometimes' must be true, false or null"),
        ("logger.wandb.mode=sometimes", "logger.wandb.mode='sometimes': choose one of online, offline, disabled"),
    ],
)
def test_a_trainer_or_logger_setting_that_cannot_work_is_refused_before_the_data(tmp_path, override, expected):
    from study.training.config import ConfigError, validate

    extra = ("logger=wandb",) if override.startswith("logger.") else ()
    with pytest.raises(ConfigError) as err:
        validate(compose_config(*tiny_run_args(tmp_path / "no-data", tmp_path / "runs", *extra, override)))
    assert expected in str(err.value)


def test_a_trainer_argument_lightning_lacks_stops_the_command_in_one_line(tmp_path):
    override = "+trainer.not_an_argument=1"
    result = run_main("study.train", *tiny_run_args(tmp_path / "no-data", tmp_path / "runs", override))
    assert result.returncode == 2 and "unexpected keyword argument 'not_an_argument'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()


def test_an_unknown_key_without_plus_is_refused_by_hydra(tmp_path):
    result = run_main("study.train", "trainer.not_an_argument=1", f"runs_root={tmp_path}")
    assert result.returncode != 0 and "not_an_argument" in result.stderr and "+trainer.not_an_argument" in result.stderr


def test_debug_smoke_runs_an_experiment_end_to_end_in_a_temporary_root(cifar_root, tmp_path):
    result = run_cli(
        "study.train",
        "experiment=mini",
        "debug=smoke",
        f"data.root={cifar_root}",
        "data.verify_checksums=false",
        "data.expected_counts=null",
        env={"TMPDIR": str(tmp_path)},
        check=True,
        timeout=300,
    )
    (summary_path,) = (tmp_path / "study-smoke").rglob("summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "completed" and summary["steps"] == 4 and summary["depth"] == 20
    assert summary["config"]["data"]["eval_subset"] == 200
    assert (summary_path.parent / "layer_responses.csv").is_file() and (summary_path.parent / "train.log").is_file()
    assert "completed:" in result.stdout


def test_messages_reach_the_run_folders_train_log(cifar_root, tmp_path):
    run_main("study.train", *tiny_run_args(cifar_root, tmp_path, "model.depth=8"), check=True)
    (log,) = tmp_path.rglob("train.log")
    text = log.read_text()
    assert "data: cifar10 from" in text and "step 6/6" in text and "completed:" in text


def wandb_run_file(run_dir: Path) -> Path:
    (path,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    return path


def item_key(item) -> str:
    return item.key or "/".join(item.nested_key)


def wandb_summary(records) -> dict:
    return {
        item_key(i): json.loads(i.value_json)
        for r in records
        if r.WhichOneof("record_type") == "summary"
        for i in r.summary.update
    }


def test_wandb_offline_files_carry_tags_config_study_group_and_final_errors(cifar_root, tmp_path):
    run_cli(
        "study.train",
        *tiny_run_args(
            cifar_root,
            tmp_path / "runs",
            "model.depth=8",
            "logger=[tensorboard,wandb]",
            "logger.wandb.tags=[degradation,ci]",
            "logger.wandb.notes=a check",
        ),
        check=True,
    )
    (run_dir,) = [p.parent for p in (tmp_path / "runs").rglob("summary.json")]
    summary = json.loads((run_dir / "summary.json").read_text())
    records = wandb_records(wandb_run_file(run_dir))
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    study_id, _ = runs.study_of(summary, summary["data"])
    assert list(run.tags) == ["degradation", "ci"] and run.notes == "a check"
    assert run.run_group == f"study-{study_id}"  # the report's study, not the sweep
    config = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert config["model"]["depth"] == 8 and config["optim"]["milestones"] == [4, 5]
    final = wandb_summary(records)
    assert final["status"] == "completed" and final["final_test_error"] == summary["final_test_error"]
    history = [{item_key(i) for i in r.history.item} for r in records if r.WhichOneof("record_type") == "history"]
    assert any("train_loss" in h and "train_error" in h for h in history)
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))  # both loggers at once

    report = run_cli("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "results"), "--wandb", check=True)
    (report_file,) = (tmp_path / "results" / "wandb").glob("offline-run-*/run-*.wandb")
    records = wandb_records(report_file)
    (report_run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert report_run.run_group == f"study-{study_id}" and "wandb:" in report.stdout
    logged = {item_key(i) for r in records if r.WhichOneof("record_type") == "history" for i in r.history.item}
    assert all(any(key.startswith(name) for key in logged) for name in ("figure/fig1", "figure/fig6", "table6/"))


def test_wandb_disabled_writes_no_wandb_files(cifar_root, tmp_path):
    status, run_dir = train_in_process(
        cifar_root, tmp_path, "model.depth=8", "logger=wandb", "logger.wandb.mode=disabled"
    )
    assert status == "completed" and not list(run_dir.rglob("*.wandb"))


def test_the_default_config_is_the_papers_recipe(default_config):
    cfg = default_config
    r = paper.RECIPE
    assert (cfg.data.batch_size, cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay, cfg.optim.gamma) == (
        r["batch_size"],
        r["lr"],
        r["momentum"],
        r["weight_decay"],
        r["lr_gamma"],
    )
    assert tuple(cfg.optim.milestones) == r["milestones"] and cfg.trainer.max_steps == r["max_steps"]
    assert (cfg.optim.warmup_lr, cfg.optim.warmup_until_train_error, cfg.data.pad) == (
        r["warmup_lr"],
        r["warmup_until_train_error"],
        r["pad"],
    )
    assert cfg.model.shortcut == "A" and cfg.data.val_split == 0


def test_the_full_length_experiment_is_the_recipe_the_report_compares_with_published_runs():
    from omegaconf import OmegaConf

    from study.results.reproductions import recipe_departures

    config = OmegaConf.to_container(compose_config("experiment=recipe_full", "data.root=x"), resolve=True)
    assert recipe_departures({"dataset": "cifar10", "config": config, "data": {"reencoded": False}}) == []
    mini = OmegaConf.to_container(compose_config("experiment=mini", "data.root=x"), resolve=True)
    changes = recipe_departures({"dataset": "cifar10", "config": mini, "data": {"reencoded": False}})
    assert [c.split("=")[0] for c in changes] == ["optim.lr", "optim.milestones", "trainer.max_steps"]


def test_the_manual_names_every_experiment():
    sweeps = (REPO / "docs" / "runs.md").read_text().split("## Sweeps")[1].split("\n## ")[0]
    experiments = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
    assert len(experiments) > 10 and [e for e in experiments if f"`{e}`" not in sweeps] == []


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs at least 2 CPU cores to split")
@pytest.mark.slow  # an explicit n_jobs's share stays in the default suite: the reproduce test (--jobs 2)
def test_the_joblib_launchers_default_n_jobs_splits_the_cores(cifar_root, tmp_path):
    every_core = {"OMP_NUM_THREADS": str(os.cpu_count())}
    run_cli("study.train", *tiny_run_args(cifar_root, tmp_path / "alone", "model.depth=8"), env=every_core, check=True)
    run_cli(
        "study.train",
        "-m",
        "hydra/launcher=joblib",
        *tiny_run_args(cifar_root, tmp_path / "joblib", "model.depth=8"),
        env=every_core,
        check=True,
    )
    threads = {
        root: json.loads(next((tmp_path / root).rglob("summary.json")).read_text())["provenance"]["threads"]
        for root in ("alone", "joblib")
    }
    assert threads == {"alone": os.cpu_count(), "joblib": max(1, os.cpu_count() // joblib.effective_n_jobs(-1))}


#: The runs of the results retired for naming the old machine's paths (in git before their removal):
#: experiment, then (dataset, arch, depth, shortcut, seed, folder name) of each run it made.
EARLIER_RUNS = {
    "mini": [
        ("cifar10", "plain", 20, "A", 0, "seed0-d721d6fd8e"),
        ("cifar10", "plain", 32, "A", 0, "seed0-75d22f923f"),
        ("cifar10", "plain", 56, "A", 0, "seed0-3d1479e7d8"),
        ("cifar10", "resnet", 20, "A", 0, "seed0-f3abd0fc05"),
        ("cifar10", "resnet", 32, "A", 0, "seed0-120d802491"),
        ("cifar10", "resnet", 56, "A", 0, "seed0-425da77b72"),
    ],
    # its original-unit runs are the mini study's: trained once for both
    "preact_mini": [
        ("cifar10", "plain", 56, "A", 0, "seed0-3d1479e7d8"),
        ("cifar10", "resnet", 20, "A", 0, "seed0-f3abd0fc05"),
    ],
    # the paper's nets through it are the mini study's runs, reported beside its nets without BN
    "fixes_mini": [
        ("cifar10", "plain", 56, "A", 0, "seed0-3d1479e7d8"),
        ("cifar10", "resnet", 20, "A", 0, "seed0-f3abd0fc05"),
    ],
    "recipe_check": [
        ("cifar10", "plain", 20, "A", 0, "seed0-1c1fa163b7"),
        ("cifar10", "resnet", 20, "A", 0, "seed0-a79cdbb70c"),
    ],
    "shortcuts_mini": [
        ("cifar10", "resnet", 20, "B", 0, "seed0-e14a848a3e"),
        ("cifar10", "resnet", 20, "C", 0, "seed0-3a122eeabe"),
    ],
}


@pytest.mark.parametrize("experiment,runs_made", EARLIER_RUNS.items())
def test_every_earlier_run_keeps_its_folder_name(experiment, runs_made):
    for dataset, arch, depth, shortcut, seed, folder in runs_made:
        cfg = compose_config(
            f"experiment={experiment}",
            f"data={dataset}",
            f"model={arch}",
            f"model.depth={depth}",
            f"model.shortcut={shortcut}",
            f"seed={seed}",
        )
        assert runs.run_id(cfg).split("/")[-1] == folder, (experiment, arch, depth)
