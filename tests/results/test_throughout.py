import pandas as pd

from fake_runs import fake_run
from study import report
from study.results.throughout import throughout_lines


def curve_rows(run: str, arch: str, depth: int, split: str, errors: dict) -> list[dict]:
    seed = int(run[-1])
    return [
        {"run": run, "arch": arch, "depth": depth, "seed": seed, "step": step, "split": split, "error": error}
        for step, error in errors.items()
    ]


def test_the_deeper_nets_mean_curve_is_counted_above_the_shallower_at_the_steps_every_run_logged():
    rows = (
        curve_rows("p20s0", "plain", 20, "train", {100: 50, 200: 40, 300: 30, 400: 20})
        # two seeds of plain-56: means 60, 35, 40, 25; the second seed stopped before step 400
        + curve_rows("p56s0", "plain", 56, "train", {100: 70, 200: 30, 300: 45, 400: 99})
        + curve_rows("p56s1", "plain", 56, "train", {100: 50, 200: 40, 300: 35})
        + curve_rows("r20s0", "resnet", 20, "test", {1000: 30})  # no ResNet-56: no line
    )
    lines = throughout_lines(pd.DataFrame(rows), max_steps=400)
    assert lines == [
        "- plain-56 (2 runs) above plain-20 (1 run), training error: at 2 of 3 steps (100 to 300); "
        "after step 200, at 1 of 1"
    ]
    assert throughout_lines(pd.DataFrame(rows), max_steps=None)[0].endswith("at 2 of 3 steps (100 to 300)")
    assert throughout_lines(pd.DataFrame(rows), max_steps=64000)[0].endswith("; none after step 32,000 yet")


def test_a_report_says_how_the_curves_compare_through_training_and_judges_nothing_from_it(tmp_path):
    # fake_run's curves fall linearly to the final errors: plain-56 ends above plain-20 at every
    # step, ResNet-56 below ResNet-20
    for arch, depth, train in (("plain", 20, 5.0), ("plain", 56, 9.0), ("resnet", 20, 5.0), ("resnet", 56, 3.0)):
        fake_run(tmp_path / "runs", arch, depth, train=train, test=train + 3)
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "described, not judged" in text
    every_step = "at 6 of 6 steps (100 to 600); after step 300, at 3 of 3"
    assert f"- plain-56 (1 run) above plain-20 (1 run), training error: {every_step}" in text
    no_step = "at 0 of 6 steps (100 to 600); after step 300, at 0 of 3"
    assert f"- ResNet-56 (1 run) above ResNet-20 (1 run), test error: {no_step}" in text
