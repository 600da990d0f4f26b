"""Whether a deeper net's error stays above its shallower twin's through training, not only at
the end: the paper finds the deeper plain net's training error higher "throughout the whole
training procedure" (Figure 4, ImageNet; Figure 1 draws it on CIFAR-10), and the reverse with
shortcuts. Counted on the mean curves the figures draw, and described, not judged: the verdicts
come from the final errors across seeds (study.results.claims)."""

import pandas as pd

from study import paper
from study.paper import net_name

SPLITS = {"train": "training error", "test": "test error"}


def mean_curve(curves: pd.DataFrame, arch: str, depth: int, split: str) -> tuple[pd.Series, int]:
    """The mean error over seeds at each step that every run of this net logged, and how many runs."""
    part = curves[(curves.arch == arch) & (curves.depth == depth) & (curves.split == split)]
    runs = part.run.nunique()
    by_step = part.groupby("step").error.agg(["mean", "count"])
    return by_step["mean"][by_step["count"] == runs], runs


def throughout_lines(curves: pd.DataFrame, max_steps: int | None) -> list[str]:
    """For the plain nets and the ResNets at Figure 1's depths, one line a split: at how many of
    the steps both logged the deeper net's mean error is above the shallower's, over all of them
    and over the second half of `max_steps`."""
    shallow, deep = paper.FIGURE1_DEPTHS
    lines = []
    for arch in ("plain", "resnet"):
        for split, what in SPLITS.items():
            shallower, shallow_runs = mean_curve(curves, arch, shallow, split)
            deeper, deep_runs = mean_curve(curves, arch, deep, split)
            difference = (deeper - shallower).dropna()  # at the steps both logged
            if difference.empty:
                continue
            text = (
                f"{net_name(arch, deep)} ({deep_runs} run{'s' if deep_runs > 1 else ''}) above "
                f"{net_name(arch, shallow)} ({shallow_runs} run{'s' if shallow_runs > 1 else ''}), {what}: "
                f"at {int((difference > 0).sum()):,} of {len(difference):,} steps "
                f"({difference.index.min():,} to {difference.index.max():,})"
            )
            if max_steps:
                half = max_steps // 2
                second = difference[difference.index > half]
                text += (
                    f"; after step {half:,}, at {int((second > 0).sum()):,} of {len(second):,}"
                    if len(second)
                    else f"; none after step {half:,} yet"
                )
            lines.append(f"- {text}")
    return lines
