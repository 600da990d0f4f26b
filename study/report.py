"""`python -m study.report [RUN_ROOT ...] --out DIR`: the paper's figures and tables from run logs.

Reads only what runs left on disk (summary.json, config.yaml, metrics.csv, layer_responses.csv),
so logs copied from a cluster regenerate everything. Runs still going, interrupted, failed or
damaged are listed, and the rest are used.

    runs.csv, curves.csv          one row a run; one row a (run, step, split) error
    fig1, fig6, fig7 (.png, .pdf) Figures 1, 6 and 7 of the paper
    table6.md / .csv / .tex       test errors beside the paper's
    report.md                     all of it, with a seed-aware verdict on each claim of section 4.2
"""

import argparse
import json
import math
import re
import shutil
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from study import paper, runs, shortcuts, signals  # noqa: E402
from study.verdicts import METHOD, USABLE, claims  # noqa: E402

SUMMARY_COLUMNS = [
    "dataset",
    "arch",
    "depth",
    "shortcut",
    "seed",
    "status",
    "steps",
    "params",
    "final_train_error",
    "final_val_error",
    "final_test_error",
    "wall_time_s",
]
#: Columns from the run's data record and its study (see `runs.study_of`).
RUN_COLUMNS = SUMMARY_COLUMNS + [
    "data_layout",
    "data_copy",
    "data_reencoded",
    "code_version",
    "device",
    "precision",
    "threads",
    "study",
    "run_dir",
]
PAPER_GRID = {"plain": (20, 32, 44, 56, 110), "resnet": paper.DEPTHS}  # Figure 6 and Table 6


def find_run_dirs(roots: list[Path]) -> list[tuple[Path, str]]:
    """Each run folder under the roots once, however it was reached (symlinks, relative paths), in
    the order of the roots, with the name a report gives it: its path below the root the user gave
    (with that root in front where there are several), never a machine's absolute path."""
    found: dict[Path, str] = {}
    for root in roots:
        here = {}
        for marker in ("summary.json", "config.yaml"):
            for p in Path(root).rglob(marker):
                if ".hydra" not in p.parts:
                    name = p.parent.relative_to(root).as_posix()
                    here.setdefault(p.parent.resolve(), name if len(roots) == 1 else f"{root}/{name}")
        for path in sorted(here):
            found.setdefault(path, here[path])
    return list(found.items())


def read_curves(run_dir: Path, name: str, summary: dict) -> list[pd.DataFrame]:
    """The run's error curves from metrics.csv, under the run's name; a ValueError says what is
    wrong with the file."""
    table = pd.read_csv(run_dir / "metrics.csv")
    if "step" not in table.columns:
        raise ValueError("no 'step' column")
    curves = []
    for split in ("train", "val", "test"):
        if f"{split}_error" in table.columns:
            part = table[["step", f"{split}_error"]].dropna().astype(float)
            if not part.map(math.isfinite).all().all():
                raise ValueError(f"a {split}_error or step that is not a finite number")
            curves.append(
                pd.DataFrame(
                    {
                        "run": name,
                        "arch": summary["arch"],
                        "depth": summary["depth"],
                        "seed": summary["seed"],
                        "step": part["step"].astype(int),
                        "split": split,
                        "error": part[f"{split}_error"],
                    }
                )
            )
    return curves


def read_responses(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path)
    if not {"layer", "std"} <= set(table.columns):
        raise ValueError("it needs the columns layer and std")
    values = table[["layer", "std"]].astype(float)
    if not values.map(math.isfinite).all().all():
        raise ValueError("a layer or std that is not a finite number")
    return values


def load_runs(roots: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame, dict, list[str], dict, dict]:
    """(runs, curves, layer responses by run_dir, problems, studies, diagnostics by run_dir):
    damaged runs and files become problems;
    `studies` maps each study's id to what its runs share (see `runs.study_of`). Nothing from a run
    folder is used before its type and value are checked (study.runs.summary_problems)."""
    rows, curves, responses, problems, studies, seen, diagnostics = [], [], {}, [], {}, {}, {}
    for run_dir, name in find_run_dirs(roots):
        holder = runs.lock_holder(run_dir)
        if holder:
            problems.append(f"{name}: running on {runs.describe_holder(holder)}; used once it has finished")
            continue
        try:
            summary = runs.read_summary(run_dir)
        except ValueError as err:
            problems.append(f"{name}: damaged summary ({err})")
            continue
        if summary is None:
            problems.append(f"{name}: no summary.json yet (running, or stopped before it wrote one)")
            continue
        damage = runs.summary_problems(summary)
        if damage:
            problems.append(f"{name}: not used, its summary.json is damaged ({'; '.join(damage)})")
            continue
        data = summary.get("data") or {}
        study_id, shared = runs.study_of(summary, data)
        twin_key = (study_id, summary["arch"], summary["depth"], summary["seed"])
        if twin_key in seen:  # a copy of a run already read: counted once
            twin = seen[twin_key]
            numbers = [c for c in SUMMARY_COLUMNS if c.startswith("final_") or c in ("status", "steps")]
            if any(twin[c] != summary.get(c) for c in numbers):
                problems.append(
                    f"{name}: a copy of {twin['run_dir']} (the same run) with other numbers; only the first is used"
                )
            continue
        studies[study_id] = shared
        made_by = summary.get("provenance") or {}
        row = {
            **{c: summary.get(c) for c in SUMMARY_COLUMNS},
            "data_layout": data.get("layout"),
            "data_copy": data.get("content"),
            "data_reencoded": data.get("reencoded"),
            "code_version": describe_code_history(made_by),
            "device": made_by.get("device"),
            "precision": made_by.get("precision"),
            "threads": made_by.get("threads") if isinstance(made_by.get("threads"), int) else None,
            "study": study_id,
            "run_dir": name,
        }
        seen[twin_key] = row
        rows.append(row)
        if (run_dir / "metrics.csv").is_file():
            try:
                curves += read_curves(run_dir, name, summary)
            except (ValueError, TypeError, pd.errors.ParserError, UnicodeDecodeError) as err:
                problems.append(f"{name}: damaged metrics.csv ({err}); its curves are left out")
        if (run_dir / "layer_responses.csv").is_file():
            try:
                responses[name] = read_responses(run_dir / "layer_responses.csv")
            except (ValueError, TypeError, pd.errors.ParserError, UnicodeDecodeError) as err:
                problems.append(f"{name}: damaged layer_responses.csv ({err}); left out of Figure 7")
        if (run_dir / "diagnostics.csv").is_file():
            optim = (summary.get("config") or {}).get("optim")
            milestones = optim.get("milestones") if isinstance(optim, dict) else None
            try:
                diagnostics[name] = signals.read_diagnostics(
                    run_dir / "diagnostics.csv", milestones if isinstance(milestones, list) else []
                )
            except (ValueError, TypeError, KeyError, pd.errors.ParserError, UnicodeDecodeError) as err:
                problems.append(f"{name}: damaged diagnostics.csv ({err}); left out of the signal figures")
    table = pd.DataFrame(rows, columns=RUN_COLUMNS)
    curve_table = (
        pd.concat(curves, ignore_index=True)
        if curves
        else pd.DataFrame(columns=["run", "arch", "depth", "seed", "step", "split", "error"])
    )
    return table, curve_table, responses, problems, studies, diagnostics


def describe_copy(data: dict) -> str:
    if not data.get("content"):
        return "data copy not recorded"
    notes = [data.get("layout") or "?"]
    if data.get("image_format"):
        notes.append(str(data["image_format"]).upper())
    if data.get("reencoded"):
        notes.append(
            "re-encoded: its pixels differ slightly from the originals, so compare relative effects, "
            "not absolute errors, with the paper"
        )
    if data.get("checksums_verified") is False:
        notes.append("checksums not verified")
    return f"data copy {data['content']} ({', '.join(notes)})"


def describe_code(code) -> str | None:
    if not isinstance(code, dict):
        return None
    if code.get("commit"):
        return f"{str(code['commit'])[:10]}{' with changes' if code.get('changed') else ''}"
    return f"package {code.get('package')}"


def describe_code_history(made_by: dict) -> str | None:
    """The code a run was trained under: one version, or each with the step where it took over
    (a run resumed under newer code; study.callbacks.CodeVersions)."""
    history = made_by.get("code_history")
    if (
        isinstance(history, list)
        and len(history) > 1
        and all(
            isinstance(e, dict) and isinstance(e.get("from_step"), int) and not isinstance(e.get("from_step"), bool)
            for e in history
        )
    ):
        return ", then ".join(
            f"{describe_code(e.get('code')) or 'unknown code'} from step {e['from_step']:,}" for e in history
        )
    return describe_code(made_by.get("code"))


def provenance_lines(table: pd.DataFrame) -> list[str]:
    """What made the study's runs, and a warning, naming the runs, where they differ."""
    lines = []
    for column, what in (
        ("code_version", "code version"),
        ("device", "device"),
        ("precision", "precision"),
        ("threads", "CPU threads"),
    ):
        values = table[column].astype(object).where(table[column].notna(), "not recorded").astype(str)
        kinds = sorted(set(values))
        if len(kinds) == 1:
            lines.append(f"- {what}: {md(kinds[0])}")
        else:
            lines.append(
                f"- **warning: this study mixes {what}s**: "
                + "; ".join(
                    f"{md(kind)} ({', '.join(md(Path(d).name) for d in table.run_dir[values == kind])})"
                    for kind in kinds
                )
            )
    return lines


def study_titles(studies: dict) -> dict[str, str]:
    """A title per study: dataset and length, then whatever sets it apart from the others."""
    flat = {sid: runs.flat_items(shared["config"]) for sid, shared in studies.items()}
    keys = sorted({k for f in flat.values() for k in f})
    differing = [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flat.values()}) > 1]
    titles = {}
    for sid, shared in studies.items():
        parts = [shared["dataset"] or "unknown dataset"]
        steps = flat[sid].get("trainer.max_steps")
        if steps is not None:
            parts.append(f"{steps:,} steps" if isinstance(steps, int) else f"{steps} steps")
        parts += [f"{k}={flat[sid].get(k)}" for k in differing if k not in ("trainer.max_steps", "data.name")]
        if len({s["data"]["content"] for s in studies.values()}) > 1:
            parts.append(f"data copy {shared['data']['content']}")
        titles[sid] = ", ".join(parts)
    return titles


# ---------------------------------------------------------------------------------------------
# Table 6


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


# ---------------------------------------------------------------------------------------------
# Figures


def save_figure(fig, out: Path, name: str) -> None:
    for ext in ("png", "pdf"):
        with runs.atomic_output(out / f"{name}.{ext}") as tmp:
            fig.savefig(tmp, dpi=120, bbox_inches="tight", format=ext)
    plt.close(fig)


def write_csv(table: pd.DataFrame, path: Path) -> None:
    with runs.atomic_output(path) as tmp:
        table.map(csv_safe).to_csv(tmp, index=False)


def legend(ax) -> None:
    """The panel's legend beside it, outside the axes, so that it covers no curve."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def nothing_to_draw(ax, what: str) -> None:
    ax.axis("off")
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes)


def missing_caption(fig, missing: list[str]) -> None:
    if missing:
        fig.supxlabel(f"not run yet (no curve drawn): {', '.join(missing)}", fontsize=8)


def draw_curves(ax, curves: pd.DataFrame, arch: str, depths, split_styles, ylim) -> None:
    """Mean curve over seeds (with a min-max band when there are several) for each depth: the
    paper's conventions, training error thin and dashed, test error bold."""
    for i, depth in enumerate(depths):
        color = f"C{i}"
        for split, style in split_styles.items():
            part = curves[(curves.arch == arch) & (curves.depth == depth) & (curves.split == split)]
            if part.empty:
                continue
            by_step = part.groupby("step").error.agg(["mean", "min", "max", "count"])
            label = f"{arch}-{depth}" if split == "test" or "test" not in split_styles else None
            if by_step["mean"].min() > ylim[1]:
                label = f"{arch}-{depth} ({split} above {ylim[1]}%: min {by_step['mean'].min():.1f}%)"
            ax.plot(
                by_step.index, by_step["mean"], style, color=color, label=label, linewidth=2 if split == "test" else 1
            )
            if by_step["count"].max() > 1:
                ax.fill_between(by_step.index, by_step["min"], by_step["max"], color=color, alpha=0.15)
    if len(split_styles) > 1 and ax.lines:  # the line conventions, in the legend beside the curves
        ax.plot([], [], "--", color="0.3", linewidth=1, label="training error (thin, dashed)")
        ax.plot([], [], "-", color="0.3", linewidth=2, label="test error (bold)")
    ax.set_ylim(*ylim)
    ax.set_xlabel("iterations")
    ax.set_ylabel("error (%)")
    legend(ax)


def curve_figure(curves: pd.DataFrame, out: Path, name: str, title: str, panels, ylim) -> None:
    """One panel per (title, arch, depths, {split: line style}) that has curves; the caption names
    the nets of the empty ones, which are not drawn."""
    have = {(str(a), int(d)) for a, d in curves[["arch", "depth"]].drop_duplicates().itertuples(index=False)}
    drawn = [p for p in panels if any((p[1], d) in have for d in p[2])]
    missing = list(dict.fromkeys(f"{a}-{d}" for _, a, depths, _ in panels for d in depths if (a, d) not in have))
    fig, axes = plt.subplots(
        1, max(len(drawn), 1), figsize=(5.5 * max(len(drawn), 1), 4), squeeze=False, layout="constrained"
    )
    for ax, (panel_title, arch, depths, styles) in zip(axes[0], drawn):
        draw_curves(ax, curves, arch, depths, styles, ylim)
        ax.set_title(panel_title)
    if not drawn:
        nothing_to_draw(axes[0][0], "no runs yet")
    fig.suptitle(title)
    missing_caption(fig, missing)
    save_figure(fig, out, name)


def figure1(curves: pd.DataFrame, out: Path, ylim) -> None:
    curve_figure(
        curves,
        out,
        "fig1",
        "Figure 1: training and test error of 20- and 56-layer plain nets",
        [
            ("plain nets: training error", "plain", [20, 56], {"train": "-"}),
            ("plain nets: test error", "plain", [20, 56], {"test": "-"}),
        ],
        ylim,
    )


def figure6(curves: pd.DataFrame, out: Path, ylim) -> None:
    styles = {"train": "--", "test": "-"}
    curve_figure(
        curves,
        out,
        "fig6",
        "Figure 6: training on CIFAR-10",
        [
            ("plain nets", "plain", [20, 32, 44, 56, 110], styles),
            ("ResNets", "resnet", [20, 32, 44, 56, 110], styles),
            ("ResNet-110 vs ResNet-1202", "resnet", [110, 1202], styles),
        ],
        ylim,
    )


def integer_layers(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def figure7(table: pd.DataFrame, responses: dict, out: Path) -> None:
    fig, axes = plt.subplots(2, 1, figsize=(8, 6.5), layout="constrained")
    missing = []
    for arch, depth in (("plain", 20), ("plain", 56), ("resnet", 20), ("resnet", 56), ("resnet", 110)):
        dirs = table[(table.arch == arch) & (table.depth == depth) & (table.status == "completed")].run_dir
        frames = [responses[d] for d in dirs if d in responses]
        if not frames:
            missing.append(f"{arch}-{depth}")
            continue
        std = pd.concat(frames).groupby("layer")["std"].mean()
        style = "--" if arch == "plain" else "-"
        axes[0].plot(std.index, std.values, style, label=f"{arch}-{depth}")
        axes[1].plot(range(1, len(std) + 1), sorted(std.values, reverse=True), style, label=f"{arch}-{depth}")
    axes[0].set(title="layer responses in the original order", xlabel="layer index (original)", ylabel="std")
    axes[1].set(title="layer responses sorted by magnitude", xlabel="layer index (sorted by magnitude)", ylabel="std")
    for ax in axes:
        if len(missing) == 5:
            nothing_to_draw(ax, "no completed run has layer responses yet")
        integer_layers(ax)
        legend(ax)
    fig.suptitle("Figure 7: std of the 3x3 layers' responses on CIFAR-10 (dashed: plain, solid: ResNet)")
    missing_caption(fig, missing)
    save_figure(fig, out, "fig7")


def figure_signals(table: pd.DataFrame, diagnostics: dict, out: Path) -> bool:
    """fig_signals: per depth with diagnostics, the gradient norm per layer (log scale) and the
    response std per layer at each moment, plain (solid) against ResNet (dashed); the first seed
    of each. Returns whether there was anything to draw."""
    first = table[table.run_dir.isin(diagnostics)].sort_values("seed").drop_duplicates(["arch", "depth"])
    depths = sorted(first.depth.unique())
    if not depths:
        return False
    fig, axes = plt.subplots(2, len(depths), figsize=(4.5 * len(depths), 7), squeeze=False, layout="constrained")
    colours = {}
    for col, depth in enumerate(depths):
        for r in first[first.depth == depth].itertuples():
            d = diagnostics[r.run_dir].dropna(subset=["moment"])
            for moment, rows in d.groupby("moment", sort=False):
                colour = colours.setdefault(moment, f"C{len(colours)}")
                style = "-" if r.arch == "plain" else "--"
                label = f"{r.arch}, {moment} (step {rows.step.iloc[0]:,})"
                axes[0][col].semilogy(rows.layer, rows.grad_norm, style, color=colour, label=label)
                axes[1][col].plot(rows.layer, rows.response_std, style, color=colour, label=label)
        axes[0][col].set(title=f"{depth} layers: gradient norm", xlabel="layer", ylabel="‖∂loss/∂W‖ (log)")
        axes[1][col].set(title=f"{depth} layers: response std", xlabel="layer", ylabel="std")
        for ax in (axes[0][col], axes[1][col]):
            integer_layers(ax)
            legend(ax)
    fig.suptitle("Signals through training (solid: plain, dashed: ResNet)")
    save_figure(fig, out, "fig_signals")
    return True


# ---------------------------------------------------------------------------------------------


def fitted_ylim(curves: pd.DataFrame, ymax: float | None) -> tuple[float, float]:
    """(0, ymax), or, without one, the paper's 20% when every curve's mean ends below it, else the
    next 10% above the highest mean curve, so that no curve lies off the axes."""
    if ymax is not None:
        return 0.0, ymax
    if curves.empty:
        return 0.0, 20.0
    highest = curves.groupby(["arch", "depth", "split", "step"]).error.mean().max()
    return 0.0, 20.0 if highest <= 20 else float(min(100, 10 * math.ceil(highest / 10)))


def write_study(
    out: Path,
    title: str,
    shared: dict,
    table: pd.DataFrame,
    curves: pd.DataFrame,
    responses: dict,
    problems: list[str],
    roots: list[Path],
    ymax: float | None,
    diagnostics: dict,
) -> None:
    """One study's files: runs.csv, curves.csv, the figures, Table 6 and report.md."""
    out.mkdir(parents=True, exist_ok=True)
    ylim = fitted_ylim(curves, ymax)
    write_csv(table, out / "runs.csv")
    write_csv(curves, out / "curves.csv")
    figure1(curves, out, ylim)
    figure6(curves, out, ylim)
    figure7(table, responses, out)
    drew_signals = figure_signals(table, diagnostics, out)
    t6 = table6(table)
    write_csv(t6, out / "table6.csv")
    runs.atomic_write_text(out / "table6.md", table6_markdown(t6))
    runs.atomic_write_text(out / "table6.tex", table6_latex(t6))

    lines = [
        f"# Degradation study: {md(title)}",
        "",
        f"{len(table)} run{'s' if len(table) != 1 else ''} from {md(', '.join(map(str, roots)))}.",
        "",
        f"Data: {md(describe_copy(shared['data']))}.",
        "",
        "Made with:",
        "",
        *provenance_lines(table),
        "",
    ]
    response_means = pd.DataFrame(
        [{"run_dir": run_dir, "response_std": frame["std"].mean()} for run_dir, frame in responses.items()],
        columns=["run_dir", "response_std"],
    )
    lines += ["## Verdicts", "", METHOD + " To firm up a verdict, add seeds: `make reproduce-cifar SEEDS=0,1,2`.", ""]
    for claim, verdict, details in claims(table, response_means) + signals.claims(table, diagnostics):
        lines += [f"### {claim}: **{verdict}**", ""] + [f"- {d}" for d in details] + [""]
    lines += [
        f"## Table 6 (test error, %; ours on {md(shared['dataset'])}, the paper's on CIFAR-10)",
        "",
        table6_markdown(t6),
        "## Figures",
        "",
        "![Figure 1](fig1.png)",
        "",
        "![Figure 6](fig6.png)",
        "",
        "![Figure 7](fig7.png)",
        "",
    ]
    if drew_signals:
        lines += [
            "Signals through training (section 4.1): gradient norm and response std per 3x3 layer on one fixed "
            "training batch, at the start, before each lr drop and at the end (`diagnostics.csv`).",
            "",
            "![Signals through training](fig_signals.png)",
            "",
        ]
    not_done = table[~table.status.isin(USABLE)]
    if len(not_done) or problems:
        lines += ["## Runs not used", ""]
        lines += [f"- {md(r.run_dir)}: {r.status} at step {r.steps}" for r in not_done.itertuples()]
        lines += [f"- {md(p)}" for p in problems] + [""]
    missing = [
        f"{arch}-{depth}"
        for arch, depths in PAPER_GRID.items()
        for depth in depths
        if not ((table.arch == arch) & (table.depth == depth) & table.status.isin(USABLE)).any()
    ]
    if missing:
        lines += ["## Not run yet (of the paper's CIFAR-10 study)", "", ", ".join(missing), ""]
    diverged = table[table.status == "diverged"]
    if len(diverged):
        lines += ["## Diverged runs (used: a diverged net is a result)", ""]
        lines += [f"- {r.arch}-{r.depth} seed {r.seed}: {md(r.run_dir)}" for r in diverged.itertuples()] + [""]
    runs.atomic_write_text(out / "report.md", "\n".join(lines))


def write_index(out: Path, table, curves, responses, problems, studies, titles, roots, ymax, diagnostics) -> None:
    index = [
        "# Degradation study: results",
        "",
        f"{len(table)} runs from {md(', '.join(map(str, roots)))} belong to {len(studies)} studies: runs that "
        "differ in more than the seed, the net or the data copy are never pooled. Each has its own report.",
        "",
    ]
    for sid in sorted(studies, key=titles.get):
        members = table[table.study == sid]
        write_study(
            out / f"study-{sid}",
            titles[sid],
            studies[sid],
            members,
            curves[curves.run.isin(members.run_dir)],
            responses,
            [],
            roots,
            ymax,
            diagnostics,
        )
        index.append(
            f"- [{md(titles[sid])}](study-{sid}/report.md): {len(members)} runs, "
            f"{md(describe_copy(studies[sid]['data']))}"
        )
    if problems:
        index += ["", "## Runs not used", ""] + [f"- {md(p)}" for p in problems]
    write_csv(table, out / "runs.csv")
    runs.atomic_write_text(out / "report.md", "\n".join(index) + "\n")


#: What a report writes into --out; only these are replaced, anything else there is left alone.
REPORT_FILES = [
    "runs.csv",
    "curves.csv",
    "report.md",
    "table6.md",
    "table6.csv",
    "table6.tex",
    "shortcuts.md",
    "shortcuts.csv",
] + [f"fig{n}.{ext}" for n in ("1", "6", "7", "_signals") for ext in ("png", "pdf")]


def publish(staging: Path, out: Path) -> None:
    """Replace the report files in `out` by the set in `staging`: stale ones of an earlier report
    (a study folder that is gone, a file this one does not write) go, other files stay."""
    out.mkdir(parents=True, exist_ok=True)
    for old in [out / name for name in REPORT_FILES] + list(out.glob("study-*")):
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    for new in staging.iterdir():
        new.replace(out / new.name)


def upload_to_wandb(out: Path, studies: dict, titles: dict, project: str, entity: str | None, mode: str) -> None:
    """Each study's figures and Table 6 into its wandb group (study-<id>, where its runs are)."""
    from study.loggers import upload_report

    folders = {sid: out if len(studies) == 1 else out / f"study-{sid}" for sid in studies}
    uploads = {
        sid: {
            "title": titles[sid],
            "folder": folder,
            "wandb_dir": out,
            "table6": pd.read_csv(folder / "table6.csv", keep_default_na=False),
        }
        for sid, folder in folders.items()
    }
    for place in upload_report(uploads, project, entity, mode):
        print(f"wandb: {place}")


def write_shortcuts(out: Path, table: pd.DataFrame, studies: dict) -> None:
    """shortcuts.md/.csv and a section of report.md, where runs of several shortcut options agree
    in everything else (one family here; more would each need their own table)."""
    families = shortcuts.families(table, studies)
    if not families:
        return
    runs_of_family = max(families, key=len)
    t = shortcuts.shortcut_table(runs_of_family)
    write_csv(t, out / "shortcuts.csv")
    runs.atomic_write_text(out / "shortcuts.md", shortcuts.markdown(t))
    claim, verdict, details = shortcuts.claim(runs_of_family)
    section = [
        "",
        "## Shortcut options (in the manner of Table 3)",
        "",
        shortcuts.markdown(t),
        f"### {claim}: **{verdict}**",
        "",
    ] + [f"- {d}" for d in details]
    if len(families) > 1:
        section += [
            "",
            f"- {len(families) - 1} other famil{'y' if len(families) == 2 else 'ies'} of shortcut runs "
            "(another schedule or data copy) are in their studies' folders, not tabled here",
        ]
    with open(out / "report.md", "a") as f:
        f.write("\n".join(section) + "\n")


def write_report(roots: list[Path], out: Path, ymax: float | None = None, wandb: dict | None = None) -> int:
    table, curves, responses, problems, studies, diagnostics = load_runs(roots)
    if table.empty:
        print(
            f"error: no runs found under {', '.join(map(str, roots))} (a run folder holds summary.json); "
            "train some with python -m study.train or make reproduce-cifar",
            file=sys.stderr,
        )
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    titles = study_titles(studies)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:  # the whole set is written aside first: a failure leaves the previous set as it was
        if len(studies) == 1:
            (sid,) = studies
            write_study(
                staging, titles[sid], studies[sid], table, curves, responses, problems, roots, ymax, diagnostics
            )
        else:  # one folder per study, never a pooled table; report.md links them
            write_index(staging, table, curves, responses, problems, studies, titles, roots, ymax, diagnostics)
        write_shortcuts(staging, table, studies)
        publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(
        f"report: {len(table)} runs ({(table.status == 'completed').sum()} completed) in {len(studies)} "
        f"{'study' if len(studies) == 1 else 'studies'}, {len(problems)} damaged or unfinished; "
        f"written to {out}/report.md"
    )
    for p in problems:
        print(f"  skipped {p}")
    if wandb is not None:
        upload_to_wandb(out, studies, titles, **wandb)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Figures and tables of the degradation study from run logs.")
    parser.add_argument(
        "roots", nargs="*", type=Path, default=[Path("runs")], help="run folders to read (default runs/)"
    )
    parser.add_argument("--out", type=Path, default=Path("results"), help="where to write (default results/)")
    parser.add_argument(
        "--ymax",
        type=float,
        help="upper limit of the error axes, percent (default: the paper's "
        "20, or what fits the curves when they lie higher)",
    )
    parser.add_argument(
        "--wandb",
        action="store_true",
        help="also upload each study's figures and Table 6 to wandb, into the group of its runs",
    )
    parser.add_argument("--wandb-project", default="resnet-degradation")
    parser.add_argument("--wandb-entity")
    parser.add_argument(
        "--wandb-mode",
        choices=["online", "offline"],
        default="offline",
        help="offline (default) writes wandb's files under --out for `wandb sync`",
    )
    args = parser.parse_args(argv)
    upload = (
        {"project": args.wandb_project, "entity": args.wandb_entity, "mode": args.wandb_mode} if args.wandb else None
    )
    return write_report(args.roots, args.out, args.ymax, upload)


if __name__ == "__main__":
    sys.exit(main())
