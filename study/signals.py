"""Section 4.1's argument, checked on the runs' diagnostics.csv (study/diagnostics.py): the plain
nets' degradation is not caused by vanishing signals. Forward: with BN, every layer's response
keeps a non-zero variance. Backward: the layers' gradient norms stay within a bounded range of
each other. Judged with the words of study/verdicts.py; study/report.py draws them.
"""

import math
from pathlib import Path

import pandas as pd

from study.verdicts import MISSING, Stats, compare, weakest

#: Forward criterion: every 3x3 layer's response std stays above this (BN makes it 1 at the start).
RESPONSE_FLOOR = 0.01
#: Backward criterion: the largest layer gradient norm over the smallest stays below this.
GRADIENT_RANGE = 100.0

COLUMNS = ["step", "layer", "name", "response_std", "grad_norm"]


def read_diagnostics(path: Path, milestones) -> pd.DataFrame:
    """A run's diagnostics.csv, checked, with a `moment` column naming the rows drawn: start,
    before each lr drop (the last measurement at or before it), end. Raises ValueError."""
    table = pd.read_csv(path, dtype={"name": str})
    if list(table.columns) != COLUMNS:
        raise ValueError(f"its columns must be {', '.join(COLUMNS)}")
    numbers = table[["step", "layer", "response_std", "grad_norm"]].astype(float)
    if not numbers.map(math.isfinite).all().all() or (numbers < 0).any().any():
        raise ValueError("a step, layer, std or gradient norm that is not a finite, non-negative number")
    if table.empty:
        raise ValueError("it has no rows")
    table[["step", "layer"]] = numbers[["step", "layer"]].astype(int)
    steps = sorted(table.step.unique())
    moments = {steps[0]: "start"}
    for i, m in enumerate(m for m in milestones if isinstance(m, int)):
        before = [s for s in steps if s <= m]
        if before and before[-1] not in moments:
            moments[before[-1]] = f"before lr drop {i + 1}"
    moments.setdefault(steps[-1], "end")
    table["moment"] = table.step.map(moments)
    return table


def per_run(table: pd.DataFrame, diagnostics: dict) -> pd.DataFrame:
    """One row a run with diagnostics: its smallest response std and its largest gradient range
    (largest over smallest layer norm) over all measured steps."""
    rows = []
    for r in table.itertuples():
        d = diagnostics.get(r.run_dir)
        if d is None:
            continue
        norms = d[d.grad_norm > 0].groupby("step").grad_norm
        ratio = (norms.max() / norms.min()).max() if len(d[d.grad_norm > 0]) else math.inf
        rows.append(
            {
                "run_dir": r.run_dir,
                "arch": r.arch,
                "depth": int(r.depth),
                "seed": r.seed,
                "min_response_std": float(d.response_std.min()),
                "gradient_range": float(ratio),
            }
        )
    return pd.DataFrame(rows, columns=["run_dir", "arch", "depth", "seed", "min_response_std", "gradient_range"])


def _stats(values: pd.Series) -> Stats:
    return Stats(float(values.mean()), float(values.std()) if len(values) > 1 else 0.0, len(values))


def claims(table: pd.DataFrame, diagnostics: dict) -> list[tuple[str, str, list[str]]]:
    """(claim, verdict, details) for the forward and the backward signal claims."""
    runs = per_run(table, diagnostics)
    plain = runs[runs.arch == "plain"]
    out = []
    for claim, column, score, criterion in (
        (
            "Forward signals do not vanish in plain nets (section 4.1)",
            "min_response_std",
            lambda v: math.log10(max(v, 1e-30) / RESPONSE_FLOOR),
            f"every 3x3 layer's response std, at every measured step, stays above {RESPONSE_FLOOR}; the difference "
            f"is log10(smallest std / {RESPONSE_FLOOR}) in decades, above zero as the paper says",
        ),
        (
            "Backward signals do not vanish in plain nets (section 4.1)",
            "gradient_range",
            lambda v: math.log10(GRADIENT_RANGE / v),
            f"at every measured step the largest layer gradient norm is less than {GRADIENT_RANGE:g} times the smallest; "
            f"the difference is log10({GRADIENT_RANGE:g} / that ratio) in decades, above zero as the paper says",
        ),
    ):
        words, lines = [], [f"criterion: {criterion}"]
        for depth, group in plain.groupby("depth"):
            word, numbers = compare([(1.0, _stats(group[column].map(score)))], +1, unit=" decades")
            words.append(word)
            twin = runs[(runs.arch == "resnet") & (runs.depth == depth)][column]
            beside = f"; ResNet-{depth}: {twin.min():.3g} to {twin.max():.3g}" if len(twin) else ""
            lines.append(
                f"plain-{depth}: {column.replace('_', ' ')} {group[column].min():.3g} to "
                f"{group[column].max():.3g} over {len(group)} seed(s){beside}; {numbers}: {word}"
            )
        if not words:
            lines.append("no plain run has diagnostics.csv (diag_every=0, or runs made before diagnostics)")
        out.append((claim, weakest(words) if words else MISSING, lines))
    return out
