"""Forward and backward signals through training (diagnostics.csv) and their verdicts."""

import pytest

from commands import run_main
from study.training.diagnostics import COLUMNS
from tiny_runs import read_rows, train_in_process


def test_one_row_per_layer_per_interval_on_a_fixed_batch(cifar_root, tmp_path):
    # lr so small that the weights stay put: what differs between intervals would be the batch.
    status, run_dir = train_in_process(
        cifar_root,
        tmp_path,
        "model=plain",
        "model.depth=8",
        "diag_every=2",
        "optim.lr=1e-9",
        "optim.warmup_lr=1e-9",
        "optim.weight_decay=0",
    )
    assert status == "completed"
    rows = read_rows(run_dir / "diagnostics.csv")
    assert list(rows[0]) == COLUMNS
    steps = sorted({int(r["step"]) for r in rows})
    assert steps == [0, 2, 4, 6]
    for step in steps:  # 7 3x3 layers of an 8-layer net, in forward order
        assert [int(r["layer"]) for r in rows if int(r["step"]) == step] == list(range(1, 8))
    first = [float(r[k]) for r in rows if r["step"] == "0" for k in ("response_std", "grad_norm")]
    last = [float(r[k]) for r in rows if r["step"] == "6" for k in ("response_std", "grad_norm")]
    assert last == pytest.approx(first, rel=1e-4)
    assert all(value > 0 for value in first)


def test_measuring_changes_nothing_that_is_trained(cifar_root, tmp_path):
    _, with_diag = train_in_process(cifar_root, tmp_path / "a", "model.depth=8", "diag_every=2")
    _, without = train_in_process(cifar_root, tmp_path / "b", "model.depth=8", "diag_every=0")
    assert (with_diag / "metrics.csv").read_text() == (without / "metrics.csv").read_text()
    assert not (without / "diagnostics.csv").exists()


def synthetic(values: dict) -> tuple:
    """(runs table, diagnostics) of plain-20 runs, one per seed: {seed: (min response std, gradient
    range)}, plus a ResNet-20 twin; three layers, two measured steps."""
    import pandas as pd

    rows, diagnostics = [], {}
    for arch, runs in (("plain", values), ("resnet", {0: (0.8, 3.0)})):
        for seed, (low_std, grad_range) in runs.items():
            run_dir = f"/runs/{arch}20/seed{seed}"
            rows.append({"run_dir": run_dir, "arch": arch, "depth": 20, "seed": seed, "status": "completed"})
            diagnostics[run_dir] = pd.DataFrame(
                [
                    {
                        "step": step,
                        "layer": layer,
                        "name": f"l{layer}",
                        "moment": "start" if step == 0 else "end",
                        "response_std": low_std if layer == 2 else 1.0,
                        "grad_norm": {1: 1.0, 2: 2.0, 3: grad_range}[layer],
                    }
                    for step in (0, 100)
                    for layer in (1, 2, 3)
                ]
            )
    return pd.DataFrame(rows), diagnostics


@pytest.mark.parametrize(
    "values,forward,backward",
    [
        ({0: (0.5, 5.0), 1: (0.6, 6.0), 2: (0.55, 5.5)}, "reproduced", "reproduced"),
        ({0: (0.001, 1e4), 1: (0.0011, 1.1e4), 2: (0.0012, 1.2e4)}, "contradicted", "contradicted"),
        ({0: (0.5, 5.0), 1: (0.0001, 1e6)}, "inconclusive (within seed noise)", "inconclusive (within seed noise)"),
        ({0: (0.5, 5.0)}, "indicative (one seed)", "indicative (one seed)"),
        ({}, "not enough runs", "not enough runs"),
    ],
)
def test_each_signal_verdict_yields_each_word_with_its_numbers(values, forward, backward):
    from study.results import claims

    table, diagnostics = synthetic(values)
    (f_claim, f_word, f_lines), (b_claim, b_word, b_lines) = claims.signal_claims(table, diagnostics)
    assert "Forward" in f_claim and "Backward" in b_claim
    assert (f_word, b_word) == (forward, backward)
    assert f_lines[0].startswith("criterion:") and str(claims.RESPONSE_FLOOR) in f_lines[0]
    if values:
        assert "ResNet-20" in b_lines[1]  # compared with the ResNet's
        assert f"{min(v[0] for v in values.values()):.3g}" in f_lines[1]


def test_an_unfinished_run_is_in_no_signal_verdict():
    from study.results import claims

    table, diagnostics = synthetic({0: (0.5, 5.0)})
    table.loc[table.arch == "plain", "status"] = "interrupted"
    (_, f_word, f_lines), (_, b_word, _) = claims.signal_claims(table, diagnostics)
    assert (f_word, b_word) == ("not enough runs", "not enough runs")
    assert "no finished plain run" in f_lines[1]


@pytest.mark.parametrize(
    "finished,milestones,moments",
    [
        (True, [1500], {0: "start", 1000: "before lr drop 1", 3000: "end"}),
        # stopped at 3,000 of a schedule that drops at 32,000: no drop was reached, and it did not end
        (False, [32000, 48000], {0: "start", 3000: "last measured, unfinished"}),
        (False, [1500, 32000], {0: "start", 1000: "before lr drop 1", 3000: "last measured, unfinished"}),
    ],
)
def test_the_moments_drawn_are_the_ones_a_run_went_through(tmp_path, finished, milestones, moments):
    from study.results.collect import read_diagnostics

    path = tmp_path / "diagnostics.csv"
    path.write_text(
        ",".join(COLUMNS)
        + "\n"
        + "".join(f"{step},{layer},l{layer},1.0,0.5\n" for step in (0, 1000, 2000, 3000) for layer in (1, 2))
    )
    table, notes = read_diagnostics(path, milestones, finished)
    named = table.dropna(subset=["moment"]).drop_duplicates("step")
    assert dict(zip(named.step, named.moment)) == moments
    assert notes == []


def test_steps_whose_signals_overflowed_are_left_out_and_named_while_the_others_are_kept(tmp_path):
    # a norm-free net can overflow, or diverge between two measurements: its earlier steps still count
    from study.results.collect import read_diagnostics

    path = tmp_path / "diagnostics.csv"
    rows = {0: ("1.0", "0.5"), 1000: ("inf", "0.5"), 2000: ("2.0", "nan"), 3000: ("3.0", "0.7")}
    path.write_text(
        ",".join(COLUMNS)
        + "\n"
        + "".join(f"{step},{layer},l{layer},{std},{grad}\n" for step, (std, grad) in rows.items() for layer in (1, 2))
    )
    table, notes = read_diagnostics(path, [1500], finished=True)
    assert sorted(set(table.step)) == [0, 3000]
    assert dict(zip(table.step, table.moment)) == {0: "start", 3000: "end"}
    assert notes == ["a std or gradient norm is infinite or NaN at step(s) 1,000, 2,000: left out"]


@pytest.mark.parametrize(
    "rows,message",
    [
        ("0,1,l1,inf,0.5\n0,2,l2,1.0,nan\n", "no step has finite signals"),
        ("0,1,l1,-1.0,0.5\n", "negative"),
        ("zero,1,l1,1.0,0.5\n", "could not convert"),
    ],
)
def test_diagnostics_with_nothing_usable_or_impossible_values_are_refused_with_the_reason(tmp_path, rows, message):
    from study.results.collect import read_diagnostics

    path = tmp_path / "diagnostics.csv"
    path.write_text(",".join(COLUMNS) + "\n" + rows)
    with pytest.raises(ValueError, match=message):
        read_diagnostics(path, [], finished=True)


@pytest.mark.parametrize(
    "values,text",
    [
        ([0.99981, 1.00034], "0.9998 to 1"),  # three digits would print "1 to 1"
        ([0.5, 0.61], "0.5 to 0.61"),
        ([1.0, 1.0], "1"),  # one seed, or seeds that agree
    ],
)
def test_a_range_of_signal_values_prints_digits_that_tell_its_ends_apart(values, text):
    import pandas as pd

    from study.results.claims import value_range

    assert value_range(pd.Series(values)) == text


def test_the_report_draws_signals_and_judges_them_from_real_runs(cifar_root, tmp_path):

    for arch in ("plain", "resnet"):
        train_in_process(cifar_root, tmp_path / "runs", f"model={arch}", "model.depth=8", "diag_every=2")
    run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), check=True)
    text = (tmp_path / "out" / "report.md").read_text()
    assert (tmp_path / "out" / "fig_signals.png").is_file() and "fig_signals.png" in text
    assert "### Forward signals do not vanish in plain nets (section 4.1): **indicative (one seed)**" in text


def test_a_damaged_diagnostics_file_is_named_and_left_out(cifar_root, tmp_path):

    _, run_dir = train_in_process(cifar_root, tmp_path / "runs", "model=plain", "model.depth=8", "diag_every=2")
    (run_dir / "diagnostics.csv").write_text("step,layer,name,response_std,grad_norm\n0,1,bn1,nan,1\n")
    result = run_main("study.report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), check=True)
    assert "damaged diagnostics.csv" in result.stdout and "no step has finite signals" in result.stdout
