"""The report's comparison with published runs of the recipe, from known synthetic runs."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from fake_runs import fake_run
from study import report
from study.results.stats import Stats, prediction_interval

#: A stored config of the paper's recipe, as a full-length run writes it (the keys a study shares).
RECIPE_CONFIG = {
    "optim": {
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 0.0001,
        "milestones": [32000, 48000],
        "gamma": 0.1,
        "warmup": None,
        "warmup_lr": 0.01,
        "warmup_until_train_error": 80.0,
    },
    "model": {"shortcut": "A", "channels_last": True},
    "data": {"name": "cifar10", "val_split": 0, "train_subset": None, "batch_size": 128, "pad": 4},
    "trainer": {"max_steps": 64000},
}
ORIGINAL_PIXELS = {"layout": "image folders", "image_format": "png", "content": "aaf525d2", "reencoded": False}


def recipe_run(
    root: Path, arch: str, depth: int, test: float, seed: int = 0, unit: str = "original", steps=64000, **changes
):
    """A finished run of the recipe on the original pixels; `changes` replace parts of its config
    (`data=...`) or its data record (`copy=...`)."""
    status = "completed" if steps == 64000 else "interrupted"
    run_dir = fake_run(root, arch, depth, seed=seed, test=test, status=status, steps=steps, max_steps=64000, unit=unit)
    summary = json.loads((run_dir / "summary.json").read_text())
    config = {key: dict(value) for key, value in RECIPE_CONFIG.items()}
    config["model"] |= {"arch": arch, "depth": depth, "unit": unit}
    for key, value in changes.items():
        if key != "copy":
            config[key] |= value
    summary["config"] = {**config, "seed": seed}
    summary["data"] = {**ORIGINAL_PIXELS, **changes.get("copy", {})}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def section(out: Path) -> str:
    text = (out / "report.md").read_text()
    return text.split("## Against published runs of the recipe")[1].split("\n## ")[0]


def test_one_run_a_net_is_set_against_where_a_sixth_reproduction_seed_would_fall(tmp_path):
    recipe_run(tmp_path / "runs", "resnet", 20, test=8.90)
    recipe_run(tmp_path / "runs", "plain", 20, test=10.50)
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    text = section(tmp_path / "out")
    # 8.90 - 8.51 = +0.39, half width t(4) x 0.22 x sqrt(1 + 1/5) = 0.67; plain: 0.72 against 0.40
    assert "| ResNet-20 | 8.90 (1) | 8.51 ± 0.22 | +0.39 [-0.28, +1.06]: within seed noise | 8.75 | 8.27 |" in text
    assert "| plain-20 | 10.50 (1) | 9.78 ± 0.13 | +0.72 [+0.32, +1.12]: differs | — | — |" in text
    table = pd.read_csv(tmp_path / "out" / "reproductions.csv").set_index("net")
    assert table.loc["ResNet-20", "ours_minus_reproduction"] == 0.39 and table.loc["plain-20", "verdict"] == "differs"


def test_several_seeds_are_set_against_the_reproduction_by_welchs_interval(tmp_path):
    for seed, error in enumerate((8.3, 8.5, 8.7)):
        recipe_run(tmp_path / "runs", "resnet", 20, test=error, seed=seed)
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    row = pd.read_csv(tmp_path / "out" / "reproductions.csv").set_index("net").loc["ResNet-20"]
    assert (row.ours_mean, row.ours_std, row.ours_n) == (8.5, 0.2, 3)
    assert row.interval_low < -0.01 < 0.01 < row.interval_high and row.verdict == "within seed noise"
    assert "| ResNet-20 | 8.50 ± 0.20 (3) |" in section(tmp_path / "out")


def test_a_study_that_changes_the_recipe_or_the_pixels_is_told_so_and_compared_with_nothing(tmp_path):
    changes = {
        "trainer": {"max_steps": 1200},
        "optim": {"milestones": [600, 900]},
        "data": {"train_subset": 5000},
        "copy": {"reencoded": True, "image_format": "jpeg"},
    }
    recipe_run(tmp_path / "runs", "resnet", 20, test=30.0, **changes)
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    text = section(tmp_path / "out")
    assert "Not compared" in text and "| ResNet-20 |" not in text
    for change in (
        "trainer.max\\_steps=1200 (the paper's 64000)",
        "optim.milestones=\\[600, 900\\] (the paper's \\[32000, 48000\\])",
        "data.train\\_subset=5000 (the published runs train on all 50,000 images)",
        "a re-encoded copy of the images",
    ):
        assert change in text
    assert not (tmp_path / "out" / "reproductions.csv").exists()


def test_nets_beyond_the_papers_get_no_such_section(tmp_path):
    recipe_run(tmp_path / "runs", "resnet", 20, test=8.9, unit="preact")
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    assert "Against published runs" not in (tmp_path / "out" / "report.md").read_text()


def test_an_unfinished_pair_shows_the_published_figures_and_no_difference(tmp_path):
    for arch in ("resnet", "plain"):
        recipe_run(tmp_path / "runs", arch, 20, test=9.0, steps=10241)
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    text = section(tmp_path / "out")
    assert "| ResNet-20 | no finished run | 8.51 ± 0.22 | no finished run | 8.75 | 8.27 |" in text
    table6 = (tmp_path / "out" / "table6.md").read_text()
    assert "| ResNet-20 | 269,722 | 8.75 | — | no finished run | — |" in table6  # an unfinished run is not "no runs"


def test_the_prediction_interval_is_students_for_one_more_draw():
    d, low, high = prediction_interval(10.0, Stats(9.0, 1.0, 5))
    assert d == 1.0 and high - d == pytest.approx(2.776 * math.sqrt(1.2))
    assert (low + high) / 2 == pytest.approx(d)


def test_a_config_value_from_a_run_folder_is_shown_escaped_never_as_markdown(tmp_path):
    recipe_run(tmp_path / "runs", "resnet", 20, test=8.9, optim={"lr": "0.1\n## 6. Every claim: **reproduced**"})
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    text = section(tmp_path / "out")
    assert "optim.lr=0.1 \\#\\# 6. Every claim: \\*\\*reproduced\\*\\*" in text
    assert not [line for line in text.splitlines() if line.startswith("## 6.")]
