"""The report from known synthetic logs, and one real tiny sweep end to end."""

import json
import os
import shutil
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from commands import REPO, run_cli, run_main
from fake_runs import fake_run, study_runs
from study import report
from study.results import collect, figures, publish, tables
from tiny_runs import tiny_run_args


def verdict_of(out: Path, claim_number: int) -> str:
    for line in (out / "report.md").read_text().splitlines():
        if line.startswith(f"### {claim_number}. "):
            return line.split("**")[-2]
    raise AssertionError(f"no verdict for claim {claim_number}")


def test_runs_csv_equals_the_summaries(tmp_path):
    study_runs(tmp_path / "runs")
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert list(table.columns) == collect.RUN_COLUMNS and len(table) == 8
    for row in table.itertuples():
        summary = json.loads((tmp_path / "runs" / row.run_dir / "summary.json").read_text())
        for column in collect.SUMMARY_COLUMNS:
            value = getattr(row, column)
            assert (pd.isna(value) and summary[column] is None) or value == summary[column]
    curves = pd.read_csv(tmp_path / "out" / "curves.csv")
    assert set(curves.split) == {"train", "test"} and list(curves.columns) == [
        "run",
        "arch",
        "depth",
        "seed",
        "step",
        "split",
        "error",
    ]


def test_curves_csv_writes_a_logged_error_without_the_rounding_of_its_multiplication(tmp_path):
    run_dir = fake_run(tmp_path / "runs", "plain", 20)
    metrics = run_dir / "metrics.csv"
    metrics.write_text(metrics.read_text().replace("0.1,100,,30.00", f"0.1,100,,{100.0 * (1412 / 2560)!r}"))
    assert "55.15624999999999" in metrics.read_text()
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "curves.csv").read_text()
    assert ",100,train,55.15625\n" in text and "9999" not in text


@pytest.mark.parametrize(
    "plain_train,seeds,spread,expected",
    [
        ((3.0, 5.0, 7.0, 9.0), (0, 1, 2), 0.2, "reproduced"),
        ((9.0, 7.0, 5.0, 3.0), (0, 1, 2), 0.2, "contradicted"),
        ((3.0, 3.1, 3.2, 3.3), (0, 1, 2), 2.0, "inconclusive (within seed noise)"),
        ((3.0, 5.0, 7.0, 9.0), (0,), 0.0, "indicative (one seed)"),
    ],
)
def test_each_verdict_word_follows_the_seeds(tmp_path, plain_train, seeds, spread, expected):
    study_runs(tmp_path / "runs", plain_train=plain_train, seeds=seeds, spread=spread)
    report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    assert verdict_of(tmp_path / "out", 1) == expected
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Welch" in text and "SEEDS=0,1,2" in text  # the method, and how to firm a verdict up


def test_every_claim_of_section_4_2_gets_its_verdict(tmp_path):
    root = tmp_path / "runs"
    study_runs(root, seeds=(0, 1, 2), spread=0.05)
    for seed, error in enumerate((6.5, 6.6, 6.7, 6.6, 6.5)):
        fake_run(root, "resnet", 110, seed=seed, train=0.5, test=error)
    for seed, error in enumerate((7.9, 8.0, 8.1)):
        fake_run(root, "resnet", 1202, seed=seed, train=0.4, test=error)
    report.main([str(root), "--out", str(tmp_path / "out")])
    out = tmp_path / "out"
    assert [verdict_of(out, n) for n in (1, 2, 3, 4, 6)] == ["reproduced"] * 5
    text = (out / "report.md").read_text()
    assert "ours 6.58 ± 0.08 (5) against the paper's 6.61 ± 0.16 (5)" in text
    assert verdict_of(out, 5) in ("reproduced", "inconclusive (within seed noise)", "contradicted")

    worse = tmp_path / "worse"
    for seed, error in enumerate((8.0, 8.1, 8.2)):
        fake_run(worse, "resnet", 110, seed=seed, test=error)
    report.main([str(worse), "--out", str(tmp_path / "worse_out")])
    assert verdict_of(tmp_path / "worse_out", 6) == "contradicted"
    assert verdict_of(tmp_path / "worse_out", 1) == "not enough runs"
    assert verdict_of(tmp_path / "worse_out", 3) == "not enough runs"


def test_layer_response_verdict_compares_twins(tmp_path):
    root = tmp_path / "runs"
    study_runs(root, seeds=(0, 1))
    report.main([str(root), "--out", str(tmp_path / "out")])
    assert verdict_of(tmp_path / "out", 5) == "reproduced"  # the fixture's ResNet responses are half the plain ones


def test_table6_puts_our_numbers_beside_the_papers(tmp_path):
    fake_run(tmp_path / "runs", "resnet", 20, test=9.0)
    for seed, error in enumerate((6.5, 6.7, 6.9)):
        fake_run(tmp_path / "runs", "resnet", 110, seed=seed, test=error)
    fake_run(tmp_path / "runs", "plain", 20, test=10.0)
    report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    t6 = pd.read_csv(tmp_path / "out" / "table6.csv").set_index(["arch", "depth"])
    assert t6.loc[("resnet", 20), "best_minus_paper"] == pytest.approx(0.25)
    r110 = t6.loc[("resnet", 110)]
    assert (r110.best_test_error, r110.mean_test_error, r110.std_test_error, r110.n) == (6.5, 6.7, 0.2, 3)
    assert r110.best_minus_paper == pytest.approx(0.07)
    assert "6.61" in r110.paper_test_error  # the paper's mean ± std of five runs
    assert t6.loc[("plain", 20), "paper_test_error"] == "curves only"
    assert t6.loc[("resnet", 56), "n"] == 0  # a paper row with no runs stays, saying so
    markdown = (tmp_path / "out" / "table6.md").read_text()
    assert "| ResNet-110 | 1,727,962 | 6.43 (mean 6.61 ± 0.16) | 6.50 | 6.70 ± 0.20 (3) | 0.07 |" in markdown
    assert "\\begin{tabular}" in (tmp_path / "out" / "table6.tex").read_text()


def test_final_errors_give_each_depths_plain_and_resnet_mean_std_and_n(tmp_path):
    root = tmp_path / "runs"
    for seed, (train, test) in enumerate(((40.0, 41.0), (42.0, 43.5), (44.0, 45.5))):
        fake_run(root, "plain", 56, seed=seed, train=train, test=test)
    fake_run(root, "resnet", 56, train=30.0, test=31.25)
    fake_run(root, "resnet", 20, train=33.0, test=34.0)
    fake_run(root, "resnet", 20, seed=1, status="interrupted", train=90.0, test=90.0)  # not finished: left out
    report.main([str(root), "--out", str(tmp_path / "out")])
    finals = pd.read_csv(tmp_path / "out" / "final_errors.csv").set_index(["depth", "arch"])
    plain56 = finals.loc[(56, "plain")]
    assert (plain56.train_error_mean, plain56.train_error_std, plain56.train_error_n) == (42.0, 2.0, 3)
    assert (plain56.test_error_mean, plain56.test_error_std) == (43.33, 2.25)
    assert finals.loc[(20, "resnet"), "test_error_n"] == 1 and pd.isna(finals.loc[(20, "resnet"), "test_error_std"])
    text = (tmp_path / "out" / "report.md").read_text()
    assert "| 56 | 42.00 ± 2.00 (3) | 43.33 ± 2.25 (3) | 30.00 (1) | 31.25 (1) |" in text
    assert "| 20 | — | — | 33.00 (1) | 34.00 (1) |" in text  # no plain-20 run: a dash, not a zero


def test_figures_are_valid_images_and_pdfs_and_the_same_logs_redraw_the_same_bytes(tmp_path):
    study_runs(tmp_path / "runs")
    fake_run(tmp_path / "runs", "plain", 110, train=62.0, test=65.0)
    for out in ("out", "again"):
        report.main([str(tmp_path / "runs"), "--out", str(tmp_path / out)])
    for name in ("fig1", "fig6", "fig7"):
        image = matplotlib.image.imread(tmp_path / "out" / f"{name}.png")
        assert image.shape[0] > 100 and image.shape[1] > 100
        assert (tmp_path / "out" / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    # a committed report changes in git only where its runs changed (a PDF once carried its date)
    made = [p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*") if p.is_file()]
    for name in made:
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def test_a_curve_above_the_axis_is_named_in_the_legend(tmp_path):
    import matplotlib.pyplot as plt

    fake_run(tmp_path, "plain", 110, train=62.0, test=65.0)
    curves = collect.collect([tmp_path]).curves
    fig, ax = plt.subplots()
    figures.draw_curves(ax, curves, "plain", [110], {"train": "--", "test": "-"}, (0, 20))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(fig)
    assert any("plain-110" in label and "above 20" in label for label in labels)


def test_iteration_ticks_of_the_papers_64000_steps_do_not_run_together(tmp_path):
    import matplotlib.pyplot as plt

    fake_run(tmp_path, "resnet", 20, steps=64_000, max_steps=64_000)
    curves = collect.collect([tmp_path]).curves
    fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")  # a panel of Figure 6
    figures.draw_curves(ax, curves, "resnet", [20], {"train": "--", "test": "-"}, (0, 20))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.get_xticklabels() if t.get_text() and t.get_visible()]
    boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
    plt.close(fig)
    assert "60,000" in [t.get_text() for t in labels]
    assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:])), "tick labels overlap"


def test_partial_and_damaged_sweeps_still_report_and_list_the_gaps(tmp_path):
    study_runs(tmp_path / "runs")
    fake_run(tmp_path / "runs", "plain", 110, status="failed", steps=500)
    fake_run(tmp_path / "runs", "resnet", 110, status="interrupted", steps=300)
    running = tmp_path / "runs" / "cifar10" / "resnet1202" / "seed0-x"
    running.mkdir(parents=True)
    (running / "config.yaml").write_text("seed: 0\n")
    truncated = fake_run(tmp_path / "runs", "plain", 8)
    (truncated / "summary.json").write_text('{"status": "compl')
    garbage = fake_run(tmp_path / "runs", "resnet", 8)
    (garbage / "metrics.csv").write_bytes(b"\x00\x01garbage\n\x02")
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "failed at step 500 of 600" in text and "interrupted at step 300 of 600" in text
    name = lambda run_dir: run_dir.relative_to(tmp_path / "runs").as_posix()  # noqa: E731
    assert tables.md(f"{name(running)}: no summary.json yet") in text
    assert tables.md(f"{name(truncated)}: damaged summary") in text
    assert tables.md(f"{name(garbage)}: not used, its metrics.csv is damaged") in text
    assert verdict_of(tmp_path / "out", 1) == "indicative (one seed)"  # from the good runs


def test_a_study_still_training_shows_how_far_each_run_got_and_judges_nothing_from_it(tmp_path, monkeypatch):
    # the full-length pair part-way: what a user commits when a long run outlasts their sessions
    for arch, steps in (("plain", 3974), ("resnet", 3650)):
        fake_run(tmp_path / "runs", arch, 20, status="interrupted", steps=steps, max_steps=64000)
    captions = {}
    real_caption, real_nothing = figures.missing_caption, figures.nothing_to_draw
    monkeypatch.setattr(figures, "missing_caption", lambda fig, *a: (captions.update({fig: a}), real_caption(fig, *a)))
    empty = []  # panels drawn as a message, not as empty 0-1 axes
    monkeypatch.setattr(figures, "nothing_to_draw", lambda ax, what: (empty.append(what), real_nothing(ax, what)))
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    assert empty == ["no completed run has layer responses yet"] * 2  # Figure 7's two panels
    text = (tmp_path / "out" / "report.md").read_text()
    assert "interrupted at step 3,974 of 64,000" in text and "interrupted at step 3,650 of 64,000" in text
    assert "No run has finished yet." in text
    assert verdict_of(tmp_path / "out", 1) == "not enough runs"
    not_run = text.split("## Not run yet")[1]
    assert "plain-20" not in not_run and "ResNet-20" not in not_run and "plain-56" in not_run
    curves = pd.read_csv(tmp_path / "out" / "curves.csv")
    assert curves.groupby("arch").step.max().to_dict() == {"plain": 3900, "resnet": 3600}  # drawn as far as they got
    caption = {fig._suptitle.get_text()[:8]: a for fig, a in captions.items()}
    assert caption["Figure 6"][1] == [
        "plain-20 seed 0, interrupted at step 3,974",
        "ResNet-20 seed 0, interrupted at step 3,650",
    ]
    # Figure 7 has no curves to end early: the running nets are named as such, not "not run yet"
    assert caption["Figure 7"] == (
        ["plain-56", "ResNet-56", "ResNet-110"],
        ["plain-20 seed 0, interrupted at step 3,974", "ResNet-20 seed 0, interrupted at step 3,650"],
        "no responses until it finishes",
    )


def test_a_study_says_what_made_it_and_warns_of_mixed_code_and_devices(tmp_path):
    root = tmp_path / "runs"
    study_runs(root)
    text = (
        lambda: (report.main([str(root), "--out", str(tmp_path / "out")]), (tmp_path / "out" / "report.md").read_text())
    )()[1]
    assert "code version: 0123456789" in text and "warning" not in text
    odd = fake_run(root, "plain", 110, folder="elsewhere")
    edit_summary(
        odd,
        provenance={
            "code": {"commit": "f" * 40, "changed": True},
            "device": "NVIDIA H100 (GPU)",
            "precision": "32-true",
        },
    )
    report.main([str(root), "--out", str(tmp_path / "out")])
    text = (tmp_path / "out" / "report.md").read_text()
    assert "warning: this study mixes code versions" in text and "ffffffffff with changes (seed0" in text
    assert "warning: this study mixes devices" in text and "NVIDIA H100 (GPU)" in text


def test_a_report_names_runs_below_the_folder_given_and_never_a_machines_absolute_path(tmp_path, monkeypatch):
    study_runs(tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    assert report.main(["runs", "--out", "out"]) == 0
    table = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert set(table.run_dir) == {f"cifar10/{a}{d}/seed0-fake" for a in ("plain", "resnet") for d in (20, 32, 44, 56)}
    assert set(pd.read_csv(tmp_path / "out" / "curves.csv").run) == set(table.run_dir)
    outputs = [p for p in (tmp_path / "out").rglob("*") if p.suffix in (".md", ".csv", ".tex")]
    assert outputs and not [p for p in outputs if str(tmp_path) in p.read_text()]
    assert "8 runs from runs." in (tmp_path / "out" / "report.md").read_text()


def test_a_run_resumed_under_newer_code_names_each_version_and_its_first_step(tmp_path):
    root = tmp_path / "runs"
    study_runs(root)
    old, new = {"commit": "a" * 40, "changed": False}, {"commit": "b" * 40, "changed": True}
    for run_dir in root.glob("cifar10/*/*"):
        edit_summary(
            run_dir,
            provenance={
                "code": new,
                "device": "AMD EPYC, 2 cores (CPU)",
                "precision": "32-true",
                "threads": 1,
                "code_history": [{"code": old, "from_step": 0}, {"code": new, "from_step": 12000}],
            },
        )
    report.main([str(root), "--out", str(tmp_path / "out")])
    text = (tmp_path / "out" / "report.md").read_text()
    assert "code version: aaaaaaaaaa from step 0, then bbbbbbbbbb with changes from step 12,000" in text
    assert "CPU threads: 1" in text and "not recorded" not in text


def test_runs_that_differ_in_more_than_the_seed_are_never_pooled(tmp_path):
    """ResNet-20 with shortcut A and C, on Fashion-MNIST, on another copy of CIFAR-10 and in bf16:
    five studies, one row each, where one pooled row came out before."""
    root = tmp_path / "runs"
    fake_run(root, "resnet", 20, test=8.0, folder="a")
    fake_run(root, "resnet", 20, test=9.0, shortcut="C", folder="c")
    fake_run(root, "resnet", 20, test=30.0, dataset="fashion_mnist", folder="f")
    fake_run(root, "resnet", 20, test=12.0, copy="beef", folder="other-copy")
    edit_summary(
        fake_run(root, "resnet", 20, test=7.0, folder="bf16"),
        provenance={"code": {"commit": "0" * 40, "changed": False}, "device": "GPU", "precision": "bf16-mixed"},
    )
    fake_run(root, "resnet", 20, test=6.0, folder="longer", max_steps=64000, steps=64000)
    assert report.main([str(root), "--out", str(tmp_path / "out")]) == 0
    index = (tmp_path / "out" / "report.md").read_text()
    assert "belong to 6 studies" in index and "model.shortcut=C" in index and "data copy beef" in index
    assert "precision=bf16-mixed" in index and "64,000 steps" in index
    rows = []
    for study_report in sorted((tmp_path / "out").glob("study-*/table6.csv")):
        t6 = pd.read_csv(study_report).set_index(["arch", "depth"])
        rows.append((t6.loc[("resnet", 20), "mean_test_error"], t6.loc[("resnet", 20), "n"]))
    assert sorted(rows) == [(6.0, 1), (7.0, 1), (8.0, 1), (9.0, 1), (12.0, 1), (30.0, 1)]
    study_text = next((tmp_path / "out").glob("study-*/report.md")).read_text()
    assert "re-encoded" in study_text and "image folders" in study_text  # the copy is named


def test_one_study_keeps_the_usual_file_names_and_names_its_data_copy(tmp_path):
    study_runs(tmp_path / "runs")
    report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    text = (tmp_path / "out" / "report.md").read_text()
    assert "data copy c0ffee (image folders, JPEG, re-encoded" in text
    assert not list((tmp_path / "out").glob("study-*"))
    assert set(pd.read_csv(tmp_path / "out" / "runs.csv").data_copy) == {"c0ffee"}


def test_the_axes_are_the_papers_when_the_curves_end_below_20_percent_else_fit_them(tmp_path):
    study_runs(tmp_path / "runs")  # ends at 15% or lower, starts 30 points higher
    fake_run(tmp_path / "runs", "plain", 110, train=62.0, test=75.0)
    curves = collect.collect([tmp_path / "runs"]).curves
    assert figures.fitted_ylim(curves, None) == (0.0, 100.0)  # 75 + 30 at the first point: capped at 100
    paper_like = curves[curves.depth < 110]
    assert paper_like.error.max() > 30  # the first steps leave the top, as in the paper's Figure 6
    assert figures.fitted_ylim(paper_like, None) == (0.0, 20.0)
    assert figures.fitted_ylim(curves, 20.0) == (0.0, 20.0)


def test_a_folder_without_runs_is_an_error(tmp_path, capsys):
    assert report.main([str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    assert "no runs found" in capsys.readouterr().err


def run_notebook(folder, env: dict) -> str:
    """The notebook executed top to bottom from `folder`, as Jupyter started there runs it: its printed output."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "notebooks" / "degradation.ipynb", as_version=4)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    return "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs)


def test_notebook_runs_headless_on_fixture_results(tmp_path):
    study_runs(tmp_path / "runs", seeds=(0, 1, 2))
    report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    assert "reproduced" in run_notebook(REPO, {"STUDY_RESULTS": str(tmp_path / "out")})


def test_notebook_opens_on_a_committed_study_with_no_setting():
    """Started in notebooks/, as Jupyter is, with no STUDY_RESULTS: the committed mini study, whose
    degradation verdict is reproduced."""
    assert "reproduced" in run_notebook(REPO / "notebooks", {"STUDY_RESULTS": ""})


def test_a_tiny_real_sweep_then_the_report(cifar_root, tmp_path):
    runs_root = tmp_path / "runs"
    result = run_main(
        "study.train",
        "-m",
        "experiment=fig6_plain",
        "model.depth=8,14",
        *tiny_run_args(cifar_root, runs_root),
        check=True,
    )
    assert "[sweep fig6_plain] 2/2 runs finished (2 completed)" in result.stdout
    run_main("study.report", str(runs_root), "--out", str(tmp_path / "out"), check=True)
    table = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert sorted(table.depth) == [8, 14] and set(table.status) == {"completed"}
    assert verdict_of(tmp_path / "out", 1) in ("indicative (one seed)", "not enough runs")

    # The logs alone, as docs/results.md publishes them beside a report (no checkpoints, no Hydra
    # folder, no lock), regenerate the same tables, and copied back they make the sweep skip them.
    logs = tmp_path / "out" / "runs"
    shutil.copytree(runs_root, logs, ignore=shutil.ignore_patterns("checkpoints", ".hydra", "run.lock"))
    run_main("study.report", str(logs), "--out", str(tmp_path / "again"), check=True)
    for name in ("runs.csv", "curves.csv", "final_errors.csv", "table6.csv"):
        assert (tmp_path / "again" / name).read_text() == (tmp_path / "out" / name).read_text(), name
    restored = tmp_path / "restored"
    shutil.copytree(logs, restored)
    again = run_main(
        "study.train",
        "-m",
        "experiment=fig6_plain",
        "model.depth=8,14",
        *tiny_run_args(cifar_root, restored),
        check=True,
    )
    assert "2/2 runs finished (2 skipped)" in again.stdout


def test_a_shortcut_sweep_names_each_option_and_reports_them_side_by_side(cifar_root, tmp_path):
    runs_root = tmp_path / "runs"
    result = run_main(
        "study.train",
        "-m",
        "experiment=shortcuts_mini",
        "model.depth=8",
        "model.shortcut=A,B",
        *tiny_run_args(cifar_root, runs_root),
        check=True,
    )
    assert "resnet-8 seed 0: completed" in result.stdout and "resnet-8-B seed 0: completed" in result.stdout
    run_main("study.report", str(runs_root), "--out", str(tmp_path / "out"), check=True)
    table = pd.read_csv(tmp_path / "out" / "shortcuts.csv")
    assert list(table.option) == ["A", "B"] and table.params.iloc[1] > table.params.iloc[0]  # B's projections


def test_reproduce_runs_the_mini_study_in_parallel_then_the_report(cifar_root, tmp_path):
    tiny = [a for a in tiny_run_args(cifar_root, tmp_path) if not a.startswith(("data.root=", "runs_root="))]
    result = run_cli(
        "study.reproduce",
        "--scale",
        "mini",
        "--jobs",
        "2",
        "--data-dir",
        str(cifar_root),
        "--runs",
        str(tmp_path / "runs"),
        "--results",
        str(tmp_path / "out"),
        "--",
        "model.depth=8",
        "data.train_subset=400",
        *tiny,
        check=True,
    )
    assert "[reproduce] sweep 1/1: mini" in result.stdout and "n_jobs=2" in result.stdout
    assert "[sweep mini] 2/2 runs finished (2 completed)" in result.stdout
    table = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert sorted(table.arch) == ["plain", "resnet"] and set(table.depth) == {8}
    assert set(table.threads) == {max(1, os.cpu_count() // 2)}  # two runs at once share the cores
    assert (tmp_path / "out" / "report.md").is_file()


# ---------------------------------------------------------------------------------------------
# Run folders from someone else: validated before use, escaped where written


def edit_summary(run_dir: Path, **fields) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.update(fields)
    (run_dir / "summary.json").write_text(json.dumps(summary))


@pytest.mark.parametrize(
    "field,value",
    [
        ("status", "completed\n## Every claim: **reproduced**"),
        ("arch", "\\input{/etc/passwd}"),
        ("dataset", '=HYPERLINK("http://x")'),
        ("depth", "56"),
        ("final_test_error", "7.5"),
        ("final_test_error", float("inf")),
        ("final_train_error", float("nan")),
        ("seed", -3),
    ],
)
def test_a_malformed_summary_field_makes_the_run_damaged_not_used(tmp_path, field, value):
    study_runs(tmp_path / "runs")
    bad = fake_run(tmp_path / "runs", "plain", 110, folder="bad")
    edit_summary(bad, **{field: value})
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    table = pd.read_csv(out / "runs.csv")
    assert len(table) == 8 and bad.relative_to(tmp_path / "runs").as_posix() not in set(table.run_dir)
    text = (out / "report.md").read_text()
    assert tables.md(f"its summary.json is damaged ({field} is") in text
    assert not any(line.startswith("## Every claim") for line in text.splitlines())
    assert "\\input" not in (out / "table6.tex").read_text()
    assert "inf" not in (out / "table6.md").read_text()


def test_text_from_run_folders_is_escaped_in_every_output(tmp_path):
    root = tmp_path / "runs"
    study_runs(root)
    sneaky = fake_run(root, "resnet", 110, status="interrupted", folder="x [link](http://evil) **bold** <b>")
    summary = json.loads((sneaky / "summary.json").read_text())
    summary["data"]["layout"] = '=HYPERLINK("http://evil")'
    (sneaky / "summary.json").write_text(json.dumps(summary))
    report.main([str(root), "--out", str(tmp_path / "out")])
    text = "".join(p.read_text() for p in (tmp_path / "out").rglob("report.md"))
    assert "[link](http" not in text and "**bold**" not in text and "<b>" not in text
    assert "\\[link\\]" in text and "\\*\\*bold\\*\\*" in text
    runs_csv = "".join(p.read_text() for p in (tmp_path / "out").rglob("runs.csv"))
    assert ",=HYPERLINK" not in runs_csv and "'=HYPERLINK" in runs_csv


def test_a_damaged_curve_or_response_file_is_listed_not_a_crash(tmp_path):
    study_runs(tmp_path / "runs")
    no_std = fake_run(tmp_path / "runs", "resnet", 110, folder="nostd")
    (no_std / "layer_responses.csv").write_text("layer,name,spread\n1,a,0.5\n")
    words = fake_run(tmp_path / "runs", "plain", 110, folder="words")
    (words / "metrics.csv").write_text("step,train_error\n100,lots\n")
    exploded = fake_run(tmp_path / "runs", "plain", 32, folder="exploded", signal_spread=(10.0, 10.0))
    with open(exploded / "diagnostics.csv", "a") as f:
        f.write("600,1,l0,inf,1.0\n600,2,l1,1.0,1.0\n")
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "## Left out (runs, or parts of a run)" in text
    assert tables.md(f"{no_std.relative_to(tmp_path / 'runs').as_posix()}: damaged layer_responses.csv") in text
    exploded_name = exploded.relative_to(tmp_path / "runs").as_posix()
    assert (
        tables.md(f"{exploded_name}: diagnostics.csv: a std or gradient norm is infinite or NaN at step(s) 600") in text
    )
    # its step 0 is still judged, and the signal verdicts say what they could not see
    backward = text.split("### Backward signals")[1].split("###")[0]
    left_out = f"{exploded_name}: 1 measured step(s) with an infinite or NaN signal are not in these"
    assert tables.md(left_out) in backward
    assert "plain-32: gradient range 10 over 1 seed(s)" in backward
    words_name = words.relative_to(tmp_path / "runs").as_posix()
    assert tables.md(f"{words_name}: not used, its metrics.csv is damaged (line 2: train_error is 'lots'") in text
    assert words_name not in (tmp_path / "out" / "runs.csv").read_text()  # in no table or figure


def test_a_run_reached_twice_is_counted_once_and_a_disagreeing_copy_is_named(tmp_path):
    root = tmp_path / "runs"
    study_runs(root)
    (tmp_path / "link").symlink_to(root)
    report.main([str(root), str(tmp_path / "link"), "runs/../" + str(root), "--out", str(tmp_path / "out")])
    assert len(pd.read_csv(tmp_path / "out" / "runs.csv")) == 8
    copy = fake_run(tmp_path / "copy", "plain", 20, train=99.0, test=99.0)  # same run identity, other numbers
    report.main([str(root), str(tmp_path / "copy"), "--out", str(tmp_path / "out2")])
    table = pd.read_csv(tmp_path / "out2" / "runs.csv")
    assert len(table) == 8 and 99.0 not in set(table.final_train_error) | set(table.final_test_error)
    assert tables.md(f"{copy}: a copy of") in (tmp_path / "out2" / "report.md").read_text()


def test_a_report_that_fails_midway_leaves_the_previous_set_untouched(tmp_path, monkeypatch):
    study_runs(tmp_path / "runs")
    out = tmp_path / "out"
    report.main([str(tmp_path / "runs"), "--out", str(out)])
    (out / "my-notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    fake_run(tmp_path / "runs", "plain", 110, train=40.0, test=45.0)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(publish, "figure7", broken)
    with pytest.raises(RuntimeError):
        report.main([str(tmp_path / "runs"), "--out", str(out)])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no staging left behind


def test_make_plots_takes_paths_with_spaces(tmp_path):
    import subprocess

    study_runs(tmp_path / "my runs")
    result = subprocess.run(
        ["make", "-s", "plots", f"RUNS={tmp_path / 'my runs'}", f"RESULTS={tmp_path / 'my results'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "my results" / "report.md").is_file()


def test_a_summary_never_holds_a_bare_nan(tmp_path):
    from study.runs.summary import read as read_summary
    from study.runs.summary import write as write_summary

    write_summary(tmp_path, {"status": "diverged", "last_finite_loss": float("nan"), "final": [1.0, float("inf")]})
    text = (tmp_path / "summary.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert read_summary(tmp_path)["last_finite_loss"] is None


# ---------------------------------------------------------------------------------------------
# Each claim, each verdict word, from known per-seed numbers


def claim_table(errors: dict) -> pd.DataFrame:
    """{(arch, depth): [(train, test) per seed]} as the report's run table."""
    rows = [
        {
            "arch": arch,
            "depth": depth,
            "seed": seed,
            "status": "completed",
            "final_train_error": train,
            "final_test_error": test,
            "run_dir": f"/r/{arch}{depth}/{seed}",
        }
        for (arch, depth), seeds in errors.items()
        for seed, (train, test) in enumerate(seeds)
    ]
    return pd.DataFrame(rows)


def seeds(train: float, test: float, n: int = 3, spread: float = 0.1) -> list[tuple[float, float]]:
    return [(train + spread * (i - 1), test + spread * (i - 1)) for i in range(n)]


CLAIM_CASES = {  # claim: {word: the (arch, depth) errors that give it}
    1: {
        "reproduced": {("plain", 20): seeds(5, 9), ("plain", 56): seeds(9, 12)},
        "contradicted": {("plain", 20): seeds(9, 12), ("plain", 56): seeds(5, 9)},
        "inconclusive (within seed noise)": {
            ("plain", 20): seeds(5, 9, spread=2),
            ("plain", 56): seeds(5.2, 9, spread=2),
        },
        "indicative (one seed)": {("plain", 20): seeds(5, 9, n=1), ("plain", 56): seeds(9, 12)},
        "not enough runs": {("plain", 20): seeds(5, 9)},
    },
    2: {
        "reproduced": {("resnet", 20): seeds(5, 9), ("resnet", 56): seeds(3, 7)},
        "contradicted": {("resnet", 20): seeds(3, 7), ("resnet", 56): seeds(5, 9)},
        "inconclusive (within seed noise)": {
            ("resnet", 20): seeds(5, 9, spread=2),
            ("resnet", 56): seeds(4.9, 8.9, spread=2),
        },
        "indicative (one seed)": {("resnet", 20): seeds(5, 9, n=1), ("resnet", 56): seeds(3, 7)},
        "not enough runs": {("resnet", 56): seeds(3, 7)},
    },
    3: {
        "reproduced": {
            ("plain", 20): seeds(5, 10),
            ("resnet", 20): seeds(4, 9),
            ("plain", 56): seeds(9, 14),
            ("resnet", 56): seeds(3, 7),
        },
        "contradicted": {("plain", 20): seeds(5, 8), ("resnet", 20): seeds(4, 9)},
        "inconclusive (within seed noise)": {
            ("plain", 20): seeds(5, 9, spread=2),
            ("resnet", 20): seeds(5, 8.9, spread=2),
        },
        "indicative (one seed)": {("plain", 20): seeds(5, 10, n=1), ("resnet", 20): seeds(4, 9)},
        "not enough runs": {("resnet", 20): seeds(4, 9)},
    },
    4: {
        "reproduced": {("resnet", 110): seeds(1, 6.6), ("resnet", 1202): seeds(1, 7.9)},
        "contradicted": {("resnet", 110): seeds(1, 7.9), ("resnet", 1202): seeds(1, 6.6)},
        "inconclusive (within seed noise)": {
            ("resnet", 110): seeds(1, 7, spread=2),
            ("resnet", 1202): seeds(1, 7.1, spread=2),
        },
        "indicative (one seed)": {("resnet", 110): seeds(1, 6.6, n=1), ("resnet", 1202): seeds(1, 7.9)},
        "not enough runs": {("resnet", 110): seeds(1, 6.6)},
    },
    6: {
        "reproduced": {("resnet", 110): seeds(0.5, 6.6, n=5)},
        "contradicted": {("resnet", 110): seeds(0.5, 8.0, n=5)},
        "indicative (one seed)": {("resnet", 110): seeds(0.5, 6.6, n=1)},
        "not enough runs": {("resnet", 20): seeds(1, 9)},
    },
}


@pytest.mark.parametrize("claim,word", [(c, w) for c, cases in CLAIM_CASES.items() for w in cases])
def test_each_claim_yields_each_verdict_word(claim, word):
    from study.results.claims import paper_claims as claims

    verdicts = claims(claim_table(CLAIM_CASES[claim][word]))
    title, verdict, details = verdicts[claim - 1]
    assert title.startswith(f"{claim}. ") and verdict == word, details


@pytest.mark.parametrize(
    "plain,resnet,word",
    [
        ((1.2, 1.3, 1.25), (1.0, 1.05, 0.95), "reproduced"),
        ((1.0, 1.05, 0.95), (1.2, 1.3, 1.25), "contradicted"),
        ((1.0, 1.5, 0.5), (1.0, 1.4, 0.7), "inconclusive (within seed noise)"),
        ((1.2,), (1.0, 1.05, 0.95), "indicative (one seed)"),
    ],
)
def test_the_layer_response_claim_yields_each_word(plain, resnet, word):
    from study.results.claims import paper_claims as claims

    table = claim_table({("plain", 20): seeds(5, 9, n=len(plain)), ("resnet", 20): seeds(4, 8, n=len(resnet))})
    responses = pd.DataFrame(
        [
            {"run_dir": f"/r/{arch}20/{i}", "response_std": v}
            for arch, values in (("plain", plain), ("resnet", resnet))
            for i, v in enumerate(values)
        ]
    )
    assert claims(table, responses)[4][1] == word
    assert claims(table, None)[4][1] == "not enough runs"


def test_shortcut_options_are_tabled_as_table_3_with_a_verdict_on_the_papers_order(tmp_path):
    errors = {"A": 8.0, "B": 7.5, "C": 7.4}
    for option, error in errors.items():
        for depth in (20, 56):
            for seed in (0, 1, 2):
                fake_run(
                    tmp_path / "runs",
                    "resnet",
                    depth,
                    seed=seed,
                    test=error + 0.1 * seed * (1 + (option == "C")),
                    shortcut=option,
                    folder=f"fake{option}",
                )
    run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), check=True)
    table = pd.read_csv(tmp_path / "out" / "shortcuts.csv")
    assert list(zip(table.net, table.option)) == [(f"ResNet-{d}", o) for d in (20, 56) for o in "ABC"]
    row = table[(table.net == "ResNet-56") & (table.option == "C")].iloc[0]
    assert (row.test_error_mean, row.test_error_std, row.n) == (7.6, 0.2, 3)
    text = (tmp_path / "out" / "report.md").read_text()
    assert "| ResNet-20 | B | 269,722 | 7.60 ± 0.10 (3) |" in text
    verdict = next(line for line in text.splitlines() if line.startswith("### Shortcut options"))
    assert verdict.endswith("**inconclusive (within seed noise)**")  # B − C is 0.1 - 0.2 points: noise
    assert "ResNet-56: A − B: difference +0.50 points" in text and "as found on ImageNet" in text


def test_one_shortcut_option_or_unit_makes_no_comparison_table(tmp_path):
    study_runs(tmp_path / "runs")
    run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), check=True)
    assert not (tmp_path / "out" / "shortcuts.md").exists() and not (tmp_path / "out" / "units.md").exists()
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Shortcut options" not in text and "pre-activation units" not in text


def test_original_and_preact_units_are_set_side_by_side_with_a_verdict_per_depth(tmp_path):
    # experiment=preact_mini's design: both units at 20 and 56 layers, plain twins included
    for unit, resnet_test in (("original", {20: 10.0, 56: 9.0}), ("preact", {20: 9.0, 56: 8.9})):
        for depth in (20, 56):
            for seed in (0, 1, 2):
                jitter = 0.1 * seed
                moved = 0.5 if (unit, depth, seed) == ("preact", 56, 2) else 0.0  # as from another machine
                test = 20.0 + jitter + moved
                fake_run(tmp_path / "runs", "plain", depth, seed=seed, test=test, unit=unit, folder=unit)
                fake_run(
                    tmp_path / "runs",
                    "resnet",
                    depth,
                    seed=seed,
                    test=resnet_test[depth] + jitter,
                    unit=unit,
                    folder=unit,
                )
    fake_run(tmp_path / "runs", "resnet", 20, seed=3, unit="preact", folder="preact", status="interrupted")
    # as preact_mini is set beside the mini study: the original unit also at a depth preact_mini skips
    for arch in ("plain", "resnet"):
        for seed in (0, 1, 2):
            fake_run(tmp_path / "runs", arch, 32, seed=seed, test=30.0, unit="original", folder="original")
    run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), check=True)
    assert sorted(p.name for p in (tmp_path / "out").glob("study-*")) and (tmp_path / "out" / "units.md").is_file()
    table = pd.read_csv(tmp_path / "out" / "units.csv")
    assert list(zip(table.net, table.unit)) == [
        (f"{net}-{d}", u)
        for d in (20, 32, 56)
        for net in ("plain", "ResNet")
        for u in (("original", "preact") if d != 32 else ("original",))
    ]
    row = table[(table.net == "ResNet-20") & (table.unit == "preact")].iloc[0]
    assert (row.test_error_mean, row.test_error_std, row.test_error_n) == (9.1, 0.1, 3)  # the interrupted seed left out
    text = (tmp_path / "out" / "report.md").read_text()
    verdict = next(line for line in text.splitlines() if line.startswith("### Pre-activation units"))
    assert verdict.endswith("**inconclusive (within seed noise)**")  # at 56 layers 0.1 points: noise
    assert "ResNet-20: original − pre-activation: difference +1.00 points" in text
    # a depth with one unit's runs is named, and weakens no verdict
    assert "ResNet-32: original − pre-activation: only original has finished runs; not compared" in text
    assert "ResNet-1001 7.61 -> 4.92" in text
    twins = [line for line in text.splitlines() if "the same net in both orders" in line]
    assert len(twins) == 2 and "plain-20" in twins[0] and "plain-56" in twins[1]
    assert twins[0].endswith("at 3 of 3 seeds run in both") and twins[1].endswith("at 2 of 3 seeds run in both")
    assert "model.unit=original](study-" in text and "model.unit=preact](study-" in text  # each study's title


#: experiment=fixes_mini's design beside the mini study: (norm, init) -> arch -> final training error at
#: 20 and 56 layers, and the spread of its layers' response std there (diagnostics.csv).
FIXES = {
    ("batch", "he"): {"plain": ((30.0, 50.0), (1.05, 1.1)), "resnet": ((34.0, 35.0), (1.1, 1.2))},
    ("batch", "zero_gamma"): {"resnet": ((33.0, 33.5), (1.1, 1.2))},
    ("none", "he"): {"plain": ((35.0, 65.0), (20.0, 500.0)), "resnet": ((45.0, 60.0), (30.0, 900.0))},
    ("none", "fixup"): {"resnet": ((36.0, 34.0), (2.0, 3.0))},
    ("none", "skipinit"): {"resnet": ((37.0, 36.0), (2.0, 3.0))},
}


def fixes_runs(root, fixes=FIXES, seeds=(0, 1, 2)):
    for (norm, init), nets in fixes.items():
        for arch, (trains, spreads) in nets.items():
            for depth, train, spread in zip((20, 56), trains, spreads):
                for seed in seeds:
                    jitter = 0.2 * (seed - 1)
                    fake_run(
                        root,
                        arch,
                        depth,
                        seed=seed,
                        train=train + jitter,
                        test=train + 2 + jitter,
                        folder=f"{norm}-{init}",
                        # the mini study's runs predate model.norm and model.init: they record neither
                        norm_init=None if (norm, init) == ("batch", "he") else (norm, init),
                        signal_spread=(spread, 10.0),
                    )


def test_nets_without_bn_or_with_zero_branches_are_set_beside_the_papers_with_both_verdicts(tmp_path):
    fixes_runs(tmp_path / "runs")
    run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), check=True)
    table = pd.read_csv(tmp_path / "out" / "fixes.csv")
    order = [("batch", "he"), ("batch", "zero_gamma"), ("none", "he"), ("none", "fixup"), ("none", "skipinit")]
    assert list(zip(table.net, table.norm, table.init)) == [
        (f"{'plain' if arch == 'plain' else 'ResNet'}-{d}", *variant)
        for d in (20, 56)
        for arch in ("plain", "resnet")
        for variant in order
        if arch in FIXES[variant]
    ]
    fixup56 = table[(table.net == "ResNet-56") & (table.init == "fixup")].iloc[0]
    assert (fixup56.train_error_mean, fixup56.train_error_std, fixup56.train_error_n) == (34.0, 0.2, 3)
    assert fixup56.published_test_error == "none for this net" and fixup56.variant == "no norm, Fixup"
    assert (
        table[(table.net == "ResNet-56") & (table.init == "he") & (table.norm == "batch")].iloc[0][
            "published_test_error"
        ]
        == "6.97 (He et al. 2015)"
    )
    text = (tmp_path / "out" / "report.md").read_text()
    assert (
        "| ResNet-20 | no norm, SkipInit | 269,722 | 37.00 ± 0.20 (3) | 39.00 ± 0.20 (3) | none for this net |" in text
    )
    verdicts = [line for line in text.splitlines() if line.startswith("### ")]
    assert "### Without BN and without a shortcut, depth hurts far more than with BN: **reproduced**" in verdicts
    assert any(v.startswith("### With a shortcut, BN is not needed") and v.endswith("**reproduced**") for v in verdicts)
    # the rise from 20 to 56 layers: 30 points without BN, 20 with it
    assert "the rise without BN minus the rise with it: difference +10.00 points" in text
    assert "plain-56, largest over smallest layer response std: without BN (conv outputs) 500, with BN" in text
    assert "no norm, Fixup: ResNet-20 -> ResNet-56 training error 36.00 ± 0.20 (3) -> 34.00 ± 0.20 (3)" in text
    assert "no norm, He init: ResNet-20 -> ResNet-56" in text and "for comparison (not judged)" in text
    assert "skipinit: De & Smith, NeurIPS 2020" in text and "unverified" in text
    # each study's own report names where its responses are measured
    signals = {p.parent.name: p.read_text() for p in (tmp_path / "out").glob("study-*/report.md")}
    assert len(signals) == 5
    assert sum("per 3x3 layer (its BN output)" in r for r in signals.values()) == 2  # BN with He and zero γ
    assert sum("per 3x3 layer (its conv output)" in r for r in signals.values()) == 3


def test_a_fix_with_one_depth_or_a_deeper_net_that_trains_worse_is_said_so(tmp_path):
    fixes = {
        ("batch", "he"): {"plain": ((30.0, 50.0), (1.05, 1.1))},
        ("none", "he"): {"plain": ((35.0, 45.0), (20.0, 500.0))},  # rises less than with BN
        ("none", "fixup"): {"resnet": ((36.0, 34.0), (2.0, 3.0))},
        ("none", "skipinit"): {"resnet": ((37.0, 45.0), (2.0, 3.0))},
    }
    fixes_runs(tmp_path / "runs", fixes)
    for run_dir in (tmp_path / "runs" / "cifar10" / "resnet56").glob("seed*-none-fixup"):
        shutil.rmtree(run_dir)
    run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), check=True)
    text = (tmp_path / "out" / "report.md").read_text()
    assert "### Without BN and without a shortcut, depth hurts far more than with BN: **contradicted**" in text
    assert "no norm, Fixup: finished ResNet runs at 1 depth(s); two are needed" in text
    assert "no norm, SkipInit: ResNet-20 -> ResNet-56 training error" in text
    assert "difference +8.00 points, 95% interval [+7.55, +8.45]: contradicted" in text
    assert any(
        line.startswith("### With a shortcut") and line.endswith("**not enough runs**") for line in text.splitlines()
    )


def test_plain_runs_in_one_order_only_are_not_set_beside_a_missing_twin(tmp_path):
    for unit in ("original", "preact"):
        for seed in (0, 1):
            fake_run(tmp_path / "runs", "resnet", 20, seed=seed, test=10.0 + seed, unit=unit, folder=unit)
    fake_run(tmp_path / "runs", "plain", 20, seed=0, test=20.0, unit="preact", folder="preact")
    run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), check=True)
    text = (tmp_path / "out" / "report.md").read_text()
    assert "### Pre-activation units lower" in text and "the same net in both orders" not in text


def test_figures_title_every_panel_keep_legends_off_the_curves_and_name_missing_runs_instead_of_empty_panels(
    tmp_path, monkeypatch
):
    study_runs(tmp_path / "runs")  # plain and ResNet 20-56: no 110 or 1202
    drawn = {}

    def keep(fig, out, name):
        fig.canvas.draw()
        drawn[name] = fig

    monkeypatch.setattr(figures, "save_figure", keep)
    report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    fig6 = drawn["fig6"]
    assert [ax.get_title() for ax in fig6.axes] == ["plain nets", "ResNets"]  # no empty ResNet-110 vs 1202 panel
    assert "ResNet-1202" in fig6._supxlabel.get_text() and fig6._suptitle.get_text().startswith("Figure 6")
    for fig in drawn.values():
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            assert ax.get_title(), "every panel has a title"
            box = ax.get_legend().get_window_extent(renderer)
            assert box.x0 >= ax.get_window_extent(renderer).x1, "the legend lies beside the axes, not on the curves"
    labels = [t.get_text() for t in fig6.axes[0].get_legend().get_texts()]
    assert "training error (thin, dashed)" in labels and "test error (bold)" in labels
    for ax in drawn["fig7"].axes:
        ticks = ax.get_xticks()
        assert all(float(t).is_integer() for t in ticks), "layer numbers are whole"


def test_table6_shows_the_published_number_of_each_family_and_a_dash_where_none_exists():
    import pandas as pd

    from study.results.tables import NetFamily, table6

    assert NetFamily().published("resnet", 110) == "6.43 (mean 6.61 ± 0.16)"
    assert NetFamily().published("resnet", 20) == "8.75" and NetFamily().published("plain", 20) is None
    assert NetFamily(unit="preact").published("resnet", 110) == "6.37 (He et al. 2016)"
    assert NetFamily(unit="preact").published("resnet", 20) is None
    assert NetFamily("cifar10", "B", "original", "bottleneck").published("resnet", 164) == "5.93 (He et al. 2016)"
    assert NetFamily("cifar100", "B", "preact", "bottleneck").published("resnet", 1001) == "22.71 (He et al. 2016)"
    assert NetFamily("cifar100").published("resnet", 20) is None  # the paper's numbers are CIFAR-10's
    assert NetFamily(builder="mynets:build").published("resnet", 20) is None

    runs = pd.DataFrame(
        [
            {"arch": "resnet", "depth": 164, "status": "completed", "final_test_error": 6.0, "params": 1_703_258},
            {"arch": "plain", "depth": 164, "status": "completed", "final_test_error": 9.0, "params": 1_703_258},
        ]
    )
    t6 = table6(runs, NetFamily("cifar10", "B", "preact", "bottleneck")).set_index("net")
    assert t6.loc["ResNet-164-B-preact-bottleneck", "paper_test_error"] == "5.46 (He et al. 2016)"
    assert t6.loc["ResNet-164-B-preact-bottleneck", "best_minus_paper"] == 0.54
    assert t6.loc["ResNet-164-B-preact-bottleneck", "params"] == 1_703_258  # the runs' own count
    assert t6.loc["ResNet-1001-B-preact-bottleneck", "n"] == 0  # published, not run
    assert t6.loc["plain-164-preact-bottleneck", "paper_test_error"] == "-"


def two_studies(root: Path) -> Path:
    fake_run(root, "resnet", 20, test=8.0, folder="a")
    fake_run(root, "resnet", 20, test=9.0, shortcut="C", folder="c")
    return root


def test_a_report_replaces_only_what_an_earlier_report_wrote_and_keeps_the_users_files(tmp_path):
    out = tmp_path / "out"
    (out / "study-design").mkdir(parents=True)
    (out / "study-design" / "plan.md").write_text("mine")
    (out / "study-notes.md").write_text("mine too")
    assert report.main([str(two_studies(tmp_path / "runs")), "--out", str(out)]) == 0
    study = next(p for p in out.iterdir() if publish.STUDY_FOLDER.fullmatch(p.name))
    (study / "my-notes.md").write_text("written beside the report")
    shutil.rmtree(
        tmp_path / "runs" / "cifar10/resnet20/seed0-c"
    )  # the second report has one study: its files at the top
    assert report.main([str(tmp_path / "runs"), "--out", str(out)]) == 0
    assert (out / "study-notes.md").read_text() == "mine too" and (
        out / "study-design" / "plan.md"
    ).read_text() == "mine"
    assert (study / "my-notes.md").is_file() and not (study / "report.md").exists()  # its own files went
    listed = json.loads((out / publish.MANIFEST).read_text())["files"]
    assert "report.md" in listed and not any(name.startswith("study-") for name in listed)


@pytest.mark.parametrize("entry", ["report.md", "table6.csv"])
def test_a_report_refuses_to_replace_a_file_it_did_not_write_and_changes_nothing(tmp_path, capsys, entry):
    out = tmp_path / "out"
    out.mkdir()
    (out / entry).write_text("a file of the user's")
    study_runs(tmp_path / "runs")
    assert report.main([str(tmp_path / "runs"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{entry} was not written by an earlier report" in err and "Nothing was changed" in err
    assert sorted(p.name for p in out.iterdir()) == [entry] and (out / entry).read_text() == "a file of the user's"


def test_a_link_in_place_of_a_reports_file_or_folder_is_refused_before_anything_changes(tmp_path, capsys):
    out = tmp_path / "out"
    assert report.main([str(two_studies(tmp_path / "runs")), "--out", str(out)]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "report.md").write_text("someone's")
    study = next(p for p in out.iterdir() if publish.STUDY_FOLDER.fullmatch(p.name))
    shutil.rmtree(study)
    study.symlink_to(elsewhere, target_is_directory=True)
    assert report.main([str(tmp_path / "runs"), "--out", str(out)]) == 2
    assert f"{study.name} is not a plain folder" in capsys.readouterr().err
    assert (elsewhere / "report.md").read_text() == "someone's" and study.is_symlink()
    assert all(p.read_bytes() == data for p, data in before.items() if p.exists() and study not in p.parents)


@pytest.mark.parametrize(
    "manifest",
    [
        '{"files": ["../runs/a/summary.json"]}',
        '{"files": ["runs/a/summary.json"]}',
        '{"files": "report.md"}',
        "[" * 100_000,
    ],
)
def test_a_forged_manifest_deletes_nothing(tmp_path, capsys, manifest):
    root = two_studies(tmp_path / "runs")
    out = tmp_path / "out"
    out.mkdir()
    (out / publish.MANIFEST).write_text(manifest)
    assert report.main([str(root), "--out", str(out)]) == 2
    assert "nothing" in capsys.readouterr().err.lower()
    assert (
        sorted(p.name for p in out.iterdir()) == [publish.MANIFEST]
        and (root / "cifar10/resnet20/seed0-a/summary.json").is_file()
    )


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "0", "-5", "101"])
def test_an_impossible_ymax_is_refused_before_any_work(tmp_path, capsys, value):
    study_runs(tmp_path / "runs")
    with pytest.raises(SystemExit) as stop:
        report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--ymax", value])
    assert stop.value.code == 2 and "--ymax" in capsys.readouterr().err and not (tmp_path / "out").exists()
