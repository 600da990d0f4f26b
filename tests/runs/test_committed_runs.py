"""The committed runs against today's config: the command that made each one composes to the same
folder, and training it again finds it done and leaves every byte of it as it was."""

import shutil
from pathlib import Path

import pytest
import yaml

from commands import REPO
from tiny_runs import compose_config

RUNS = sorted(p.parent for p in REPO.glob("results/*/runs/*/*/*/config.yaml"))
#: What a sweep varies within an experiment, beyond arch (the model group), depth and seed.
SWEPT = ("unit", "block", "shortcut")


def command_of(run_dir: Path) -> list[str]:
    """The overrides of the sweep job that trained the run: its experiment, net and seed."""
    stored = yaml.safe_load((run_dir / "config.yaml").read_text())
    model = stored["model"]
    return [
        f"experiment={stored['experiment_name']}",
        f"model={model['arch']}",
        f"model.depth={model['depth']}",
        f"seed={stored['seed']}",
        *(f"model.{key}={model[key]}" for key in SWEPT if key in model),
    ]


def test_there_are_committed_runs_to_check():
    assert len(RUNS) >= 30


@pytest.mark.parametrize("run_dir", RUNS, ids=lambda p: str(p.relative_to(REPO / "results")))
def test_a_committed_run_keeps_its_folder_name(run_dir):
    from study.runs.identity import identity_differences, run_id

    cfg = compose_config(*command_of(run_dir))
    assert run_id(cfg) == str(run_dir.relative_to(run_dir.parents[2]))
    assert identity_differences(run_dir, cfg) == []


@pytest.mark.parametrize(
    "run_dir",
    [p for p in RUNS if '"status": "completed"' in (p / "summary.json").read_text()],
    ids=lambda p: str(p.relative_to(REPO / "results")),
)
def test_training_a_committed_run_again_skips_it_and_changes_no_byte(run_dir, tmp_path):
    from study.training.run import train

    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert train(compose_config(*command_of(run_dir), f"runs_root={tmp_path}"), copy) == "skipped"
    assert {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before
