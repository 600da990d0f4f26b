"""The report's tables, and the escaping of everything from a run folder that goes into them.

    Table 6      CIFAR-10 test error per net beside the paper's (Markdown, LaTeX, CSV)
    shortcuts    test error per depth and shortcut option, in the manner of Table 3

Text from run folders (paths, messages, config values) is escaped wherever it is written: `md`
for Markdown, `tex` for LaTeX, `csv_safe` for a spreadsheet.
"""

import json
import re
from pathlib import Path

import pandas as pd

from study import paper
from study.fileio import atomic_output
from study.runs.identity import flat_items
from study.runs.summary import USABLE

# Text from run folders (paths, messages, config values) is escaped wherever it is written.
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!])")


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\^{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\~{}",
}


CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def md(text) -> str:
    """One line of Markdown that shows `text` as it is: no heading, list, link, emphasis or HTML."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def tex(text) -> str:
    return "".join(LATEX_SPECIAL.get(c, c) for c in " ".join(str(text).split()))


def csv_safe(value):
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return f"'{value}" if isinstance(value, str) and value.startswith(CSV_FORMULA_START) else value


def fmt(value, digits: int = 2) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def write_csv(table: pd.DataFrame, path: Path) -> None:
    with atomic_output(path) as tmp:
        table.map(csv_safe).to_csv(tmp, index=False)


def table6(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    done = table[table.status.isin(USABLE)]
    for arch in ("resnet", "plain"):
        depths = sorted(set(done[done.arch == arch].depth) | (set(paper.DEPTHS) if arch == "resnet" else set()))
        for depth in depths:
            errors = done[(done.arch == arch) & (done.depth == depth)].final_test_error.dropna()
            paper_error = paper.TABLE6_TEST_ERROR.get(depth) if arch == "resnet" else None
            best = errors.min() if len(errors) else None
            rows.append(
                {
                    "arch": arch,
                    "depth": depth,
                    "params": paper.PARAMS.get(depth),
                    "paper_test_error": (
                        f"{paper_error:.2f}"
                        + (
                            f" (mean {paper.TABLE6_RESNET110_MEAN_STD[0]:.2f} ± "
                            f"{paper.TABLE6_RESNET110_MEAN_STD[1]:.2f})"
                            if depth == 110
                            else ""
                        )
                    )
                    if paper_error is not None
                    else ("curves only" if arch == "plain" else "not in the paper"),
                    "best_test_error": round(best, 2) if best is not None else None,
                    "mean_test_error": round(errors.mean(), 2) if len(errors) else None,
                    "std_test_error": round(errors.std(), 2) if len(errors) > 1 else None,
                    "n": len(errors),
                    "best_minus_paper": round(best - paper_error, 2)
                    if best is not None and paper_error is not None
                    else None,
                }
            )
    return pd.DataFrame(rows)


def table6_markdown(t6: pd.DataFrame) -> str:
    lines = [
        "| net | params | paper test error (%) | ours best (%) | ours mean ± std (n) | best − paper |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in t6.itertuples():
        mean = f"{fmt(r.mean_test_error)} ± {fmt(r.std_test_error)} ({r.n})" if r.n else "no runs"
        params = f"{int(r.params):,}" if pd.notna(r.params) else "—"
        lines.append(
            f"| {r.arch}-{r.depth} | {params} | {r.paper_test_error} | {fmt(r.best_test_error)} | {mean} | "
            f"{fmt(r.best_minus_paper)} |"
        )
    return "\n".join(lines) + "\n"


def table6_latex(t6: pd.DataFrame) -> str:
    body = "\n".join(
        f"{tex(r.arch)}-{r.depth} & {tex(r.paper_test_error)} & {fmt(r.best_test_error)} & "
        f"{fmt(r.mean_test_error)} $\\pm$ {fmt(r.std_test_error)} ({r.n}) & {fmt(r.best_minus_paper)} \\\\"
        for r in t6.itertuples()
    )
    return (
        "\\begin{tabular}{lllll}\n\\hline\nnet & paper & best & mean $\\pm$ std (n) & best $-$ paper \\\\\n\\hline\n"
        f"{body}\n\\hline\n\\end{{tabular}}\n"
    )


def shortcut_families(table: pd.DataFrame, studies: dict) -> list[pd.DataFrame]:
    """The ResNet runs of studies that differ only in model.shortcut, one frame a family that has
    two options or more."""

    def key(sid):
        shared = studies[sid]
        config = flat_items(shared["config"])
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


def shortcut_markdown(t: pd.DataFrame) -> str:
    lines = ["| net | option | params | test error (%), mean ± std (n) |", "|---|---|---:|---:|"]
    for r in t.itertuples():
        spread = f" ± {r.test_error_std:.2f}" if pd.notna(r.test_error_std) else ""
        error = f"{r.test_error_mean:.2f}{spread} ({r.n})" if pd.notna(r.test_error_mean) else "—"
        params = f"{int(r.params):,}" if pd.notna(r.params) else "—"
        lines.append(f"| {r.net} | {r.option} | {params} | {error} |")
    return "\n".join(lines) + "\n"
