"""SLURM (through submitit) and multi-GPU (DDP) paths, exercised on the CPU."""

import json
import os

import pytest

from commands import REPO, run_cli
from tiny_runs import tiny_run_args


def test_slurm_launcher_config_takes_site_settings_from_the_environment(monkeypatch):
    from hydra import compose, initialize_config_dir

    monkeypatch.setenv("STUDY_SLURM_PARTITION", "gpu-long")
    monkeypatch.setenv("STUDY_SLURM_ACCOUNT", "proj42")
    monkeypatch.setenv("STUDY_SLURM_GPUS", "2")
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", ["hydra/launcher=slurm", "experiment=fig6_plain"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.account, launcher.gpus_per_node, launcher.tasks_per_node) == (
        "gpu-long",
        "proj42",
        2,
        2,
    )
    assert launcher.max_num_timeout > 0 and launcher.timeout_min > 0 and launcher.mem_gb > 0


def test_a_cpu_only_partition_asks_for_one_task_and_no_gpu(monkeypatch):
    from hydra import compose, initialize_config_dir

    monkeypatch.setenv("STUDY_SLURM_GPUS", "0")
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        launcher = compose("train", ["hydra/launcher=slurm"], return_hydra_config=True).hydra.launcher
    assert launcher.gpus_per_node is None and launcher.tasks_per_node == 1


def test_every_experiment_composes_to_the_papers_runs():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        plain = compose("train", ["experiment=fig6_plain"], return_hydra_config=True)
        table6 = compose("train", ["experiment=table6", "table6_run=[110,3]"], return_hydra_config=True)
        mini = compose("train", ["experiment=mini"], return_hydra_config=True)
        check = compose("train", ["experiment=recipe_check"], return_hydra_config=True)
        shortcuts = compose("train", ["experiment=shortcuts"], return_hydra_config=True)
        shortcuts_mini = compose("train", ["experiment=shortcuts_mini"], return_hydra_config=True)
        preact = compose("train", ["experiment=preact", "model.unit=preact"], return_hydra_config=True)
        preact_mini = compose("train", ["experiment=preact_mini"], return_hydra_config=True)
        fixes_mini = compose("train", ["experiment=fixes_mini"], return_hydra_config=True)
        nodes = {
            node: compose("train", ["experiment=fixes_mini", f"model={node}"]).model
            for node in fixes_mini.hydra.sweeper.params.model.split(",")
        }
    assert plain.model.arch == "plain" and plain.hydra.sweeper.params["model.depth"] == "20,32,44,56,110"
    assert (table6.model.arch, table6.model.depth, table6.seed) == ("resnet", 110, 3)
    assert table6.hydra.sweeper.params.table6_run.count("[110,") == 5
    # the paper's lr drops at 50% and 75% of the length, at 1,200 steps and at 8,000 (1/8)
    assert mini.optim.milestones == [600, 900] and mini.trainer.max_steps == 1200
    assert mini.optim.lr == 0.02 and mini.optim.warmup is False  # the same for plain nets and ResNets
    assert mini.data.train_subset is None and mini.hydra.sweeper.params["model.depth"] == "20,56,32"
    assert check.optim.milestones == [4000, 6000] and check.trainer.max_steps == 8000
    assert check.hydra.sweeper.params.model == "resnet,plain" and check.optim.warmup is None
    assert shortcuts.model.arch == "resnet" and shortcuts.trainer.max_steps == 64000
    assert dict(shortcuts.hydra.sweeper.params) == {"model.depth": "20,56,110", "model.shortcut": "A,B,C"}
    assert (shortcuts_mini.trainer.max_steps, shortcuts_mini.optim.lr, shortcuts_mini.model.arch) == (
        1200,
        0.02,
        "resnet",
    )
    assert shortcuts_mini.hydra.sweeper.params["model.shortcut"] == "A,B,C"
    assert shortcuts_mini.hydra.sweeper.params["model.depth"] == "20,56"
    # He et al. 2016's nets: bottlenecks with projections where the shape changes, the paper's schedule
    assert (preact.model.block, preact.model.shortcut, preact.model.unit) == ("bottleneck", "B", "preact")
    assert preact.trainer.max_steps == 64000 and preact.hydra.sweeper.params["model.depth"] == "164,1001"
    assert (preact_mini.trainer.max_steps, preact_mini.optim.lr, preact_mini.optim.milestones) == (
        1200,
        0.02,
        [600, 900],
    )
    assert dict(preact_mini.hydra.sweeper.params) == {
        "model": "resnet,plain",
        "model.unit": "original,preact",
        "model.depth": "20,56",
    }
    # the nets without BN or with zero branches at the mini schedule; the paper's nets are the mini study's
    assert (fixes_mini.trainer.max_steps, fixes_mini.optim.lr, fixes_mini.optim.milestones) == (1200, 0.02, [600, 900])
    assert fixes_mini.hydra.sweeper.params["model.depth"] == "20,56"
    assert {node: (m.arch, m.norm, m.init) for node, m in nodes.items()} == {
        "resnet_zero_gamma": ("resnet", "batch", "zero_gamma"),
        "resnet_fixup": ("resnet", "none", "fixup"),
        "resnet_skipinit": ("resnet", "none", "skipinit"),
        "resnet_nonorm": ("resnet", "none", "he"),
        "plain_nonorm": ("plain", "none", "he"),
    }


@pytest.mark.slow  # submitit's path to a real scheduler stays in the default suite: tests/training/test_slurm.py
def test_submitit_local_launcher_runs_a_sweep(cifar_root, tmp_path):
    result = run_cli(
        "study.train",
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        "model.depth=8",
        "seed=0,1",
        *tiny_run_args(cifar_root, tmp_path),
        check=True,
    )
    summaries = [json.loads(p.read_text()) for p in tmp_path.rglob("summary.json")]
    assert sorted(s["seed"] for s in summaries) == [0, 1], result.stdout + result.stderr
    assert all(s["status"] == "completed" for s in summaries)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs a POSIX system")
def test_ddp_on_two_cpu_processes_keeps_the_global_batch_and_writes_once(cifar_root, tmp_path):
    result = run_cli(
        "study.train",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "model.depth=8",
        *tiny_run_args(cifar_root, tmp_path),
        check=True,
        timeout=300,
    )
    (summary_path,) = list(tmp_path.rglob("summary.json"))
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "completed" and summary["steps"] == 6
    assert summary["config"]["data"]["batch_size"] == 32  # global; each process took 16
    rows = (summary_path.parent / "metrics.csv").read_text().splitlines()
    steps = [line.split(",")[1] for line in rows[1:]]
    assert len(steps) == len(set(steps)) == 4  # one row per logging step: written once, not per process
    assert result.stdout.count("completed:") == 1
