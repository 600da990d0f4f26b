"""The shortcut-option study: ResNets with options A, B and C side by side, in the manner of the
paper's Table 3 (found on ImageNet: B slightly better than A, C marginally better than B), and a
verdict on that ordering here on CIFAR-10.

Runs of different options belong to different studies (the option is part of what is trained);
the options of one study family are those whose runs agree in everything else, data copy
included.
"""

import json

import pandas as pd

from study import runs
from study.verdicts import USABLE, compare, config_stats, weakest

OPTIONS = ("A", "B", "C")
PAPER = "on ImageNet (Table 3): B slightly better than A, C marginally better than B"


def families(table: pd.DataFrame, studies: dict) -> list[pd.DataFrame]:
    """The ResNet runs of studies that differ only in model.shortcut, one frame a family that has
    two options or more."""

    def key(sid):
        shared = studies[sid]
        config = runs.flat_items(shared["config"])
        config.pop("model.shortcut", None)
        return json.dumps([shared["dataset"], config, shared["data"]["content"]], sort_keys=True, default=str)

    resnets = table[(table.arch == "resnet") & table.status.isin(USABLE)]
    out = []
    for _, group in resnets.groupby(resnets.study.map(key)):
        if group.shortcut.nunique() > 1:
            out.append(group)
    return out


def shortcut_table(runs_of_family: pd.DataFrame) -> pd.DataFrame:
    """Per depth and option: params and test error mean ± std (n), as Table 3 lays them out."""
    rows = []
    for (depth, option), group in runs_of_family.groupby(["depth", "shortcut"]):
        errors = group.final_test_error.dropna()
        rows.append(
            {
                "net": f"ResNet-{depth}",
                "depth": int(depth),
                "option": option,
                "params": int(group.params.iloc[0]) if group.params.notna().any() else None,
                "test_error_mean": round(float(errors.mean()), 2) if len(errors) else None,
                "test_error_std": round(float(errors.std()), 2) if len(errors) > 1 else None,
                "n": len(errors),
            }
        )
    return pd.DataFrame(rows).sort_values(["depth", "option"], ignore_index=True)


def markdown(t: pd.DataFrame) -> str:
    lines = ["| net | option | params | test error (%), mean ± std (n) |", "|---|---|---:|---:|"]
    for r in t.itertuples():
        spread = f" ± {r.test_error_std:.2f}" if pd.notna(r.test_error_std) else ""
        error = f"{r.test_error_mean:.2f}{spread} ({r.n})" if pd.notna(r.test_error_mean) else "—"
        params = f"{int(r.params):,}" if pd.notna(r.params) else "—"
        lines.append(f"| {r.net} | {r.option} | {params} | {error} |")
    return "\n".join(lines) + "\n"


def claim(runs_of_family: pd.DataFrame) -> tuple[str, str, list[str]]:
    """The paper's ordering (error A > B > C) per depth, each step a Welch comparison across seeds."""
    # config_stats groups by (arch, depth); here the option takes the arch's place
    stats = config_stats(runs_of_family.assign(arch=runs_of_family.shortcut), "final_test_error")
    words, lines = [], [f"as found {PAPER}; here on CIFAR-10, test error per depth"]
    for depth in sorted(runs_of_family.depth.unique()):
        for worse, better in (("A", "B"), ("B", "C")):
            a, b = stats.get((worse, depth)), stats.get((better, depth))
            if a is None and b is None:
                continue
            word, numbers = compare([(1.0, a), (-1.0, b)], +1)
            words.append(word)
            lines.append(f"ResNet-{depth}: {worse} − {better}: {numbers} (the paper: positive): {word}")
    return "Shortcut options: B better than A, C better than B", weakest(words), lines
