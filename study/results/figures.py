"""The paper's figures from run logs, drawn as the paper draws them: training error thin and
dashed, test error bold, a title on every panel, legends beside the axes where they cover no
curve, integer layer numbers, and missing nets named in a caption rather than drawn empty.

    fig1         Figure 1: training and test error of 20- and 56-layer plain nets
    fig6         Figure 6: plain nets, ResNets, ResNet-110 against ResNet-1202
    fig7         Figure 7: std of the 3x3 layers' responses, in order and sorted
    fig_signals  section 4.1: gradient norm and response std per layer through training
"""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator, StrMethodFormatter  # noqa: E402

from study import paper  # noqa: E402
from study.fileio import atomic_output  # noqa: E402
from study.paper import net_name  # noqa: E402
from study.runs.summary import USABLE  # noqa: E402

#: No creation date in a PDF, so that the same logs redraw the same bytes (a PNG has none).
NO_DATE = {"png": None, "pdf": {"CreationDate": None}}


def save_figure(fig, out: Path, name: str) -> None:
    for ext, metadata in NO_DATE.items():
        with atomic_output(out / f"{name}.{ext}") as tmp:
            fig.savefig(tmp, dpi=120, bbox_inches="tight", format=ext, metadata=metadata)
    plt.close(fig)


def legend(ax) -> None:
    """The panel's legend beside it, outside the axes, so that it covers no curve."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def nothing_to_draw(ax, what: str) -> None:
    ax.axis("off")
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes)


def missing_caption(
    fig, missing: list[str], unfinished: list[str] = (), unfinished_note: str = "curve ends where it stopped"
) -> None:
    lines = [f"not run yet (no curve drawn): {', '.join(missing)}"] if missing else []
    if unfinished:
        lines.append(f"unfinished ({unfinished_note}): {', '.join(unfinished)}")
    if lines:
        fig.supxlabel("\n".join(lines), fontsize=8)


def unfinished_runs(table: pd.DataFrame) -> dict[tuple[str, int], list[str]]:
    """(arch, depth) -> "plain-20 seed 0, interrupted at step 3,974" for each run that has not finished."""
    out: dict[tuple[str, int], list[str]] = {}
    for r in table[~table.status.isin(USABLE)].sort_values(["arch", "depth", "seed"]).itertuples():
        out.setdefault((r.arch, int(r.depth)), []).append(
            f"{net_name(r.arch, r.depth)} seed {r.seed}, {r.status} at step {r.steps:,}"
        )
    return out


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
            label = net_name(arch, depth) if split == "test" or "test" not in split_styles else None
            if by_step["mean"].min() > ylim[1]:
                label = f"{net_name(arch, depth)} ({split} above {ylim[1]}%: min {by_step['mean'].min():.1f}%)"
            ax.plot(
                by_step.index, by_step["mean"], style, color=color, label=label, linewidth=2 if split == "test" else 1
            )
            if by_step["count"].max() > 1:
                ax.fill_between(by_step.index, by_step["min"], by_step["max"], color=color, alpha=0.15)
    if len(split_styles) > 1 and ax.lines:  # the line conventions, in the legend beside the curves
        ax.plot([], [], "--", color="0.3", linewidth=1, label="training error (thin, dashed)")
        ax.plot([], [], "-", color="0.3", linewidth=2, label="test error (bold)")
    ax.set_ylim(*ylim)
    ax.set_xlim(left=0)  # from the first step on every panel, where the test error's first point comes later
    ax.set_xlabel("iterations")
    # at most 5 ticks, with thousands separators: five-digit step numbers otherwise run together
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_ylabel("error (%)")
    legend(ax)


def curve_figure(curves: pd.DataFrame, out: Path, name: str, title: str, panels, ylim, unfinished: dict) -> None:
    """One panel per (title, arch, depths, {split: line style}) that has curves; the caption names
    the nets of the empty ones, which are not drawn, and the runs drawn that have not finished
    (`unfinished`: unfinished_runs)."""
    have = {(str(a), int(d)) for a, d in curves[["arch", "depth"]].drop_duplicates().itertuples(index=False)}
    drawn = [p for p in panels if any((p[1], d) in have for d in p[2])]
    missing = list(dict.fromkeys(net_name(a, d) for _, a, depths, _ in panels for d in depths if (a, d) not in have))
    fig, axes = plt.subplots(
        1, max(len(drawn), 1), figsize=(5.5 * max(len(drawn), 1), 4), squeeze=False, layout="constrained"
    )
    for ax, (panel_title, arch, depths, styles) in zip(axes[0], drawn):
        draw_curves(ax, curves, arch, depths, styles, ylim)
        ax.set_title(panel_title)
    if not drawn:
        nothing_to_draw(axes[0][0], "no runs yet")
    fig.suptitle(title)
    nets = dict.fromkeys((a, d) for _, a, depths, _ in panels for d in depths)
    missing_caption(fig, missing, [run for net in nets for run in unfinished.get(net, [])])
    save_figure(fig, out, name)


def figure1(curves: pd.DataFrame, out: Path, ylim, unfinished: dict) -> None:
    curve_figure(
        curves,
        out,
        "fig1",
        "Figure 1: training and test error of 20- and 56-layer plain nets",
        [
            ("plain nets: training error", "plain", paper.FIGURE1_DEPTHS, {"train": "-"}),
            ("plain nets: test error", "plain", paper.FIGURE1_DEPTHS, {"test": "-"}),
        ],
        ylim,
        unfinished,
    )


def figure6(curves: pd.DataFrame, out: Path, ylim, unfinished: dict) -> None:
    styles = {"train": "--", "test": "-"}
    curve_figure(
        curves,
        out,
        "fig6",
        "Figure 6: training on CIFAR-10",
        [
            ("plain nets", "plain", paper.DEPTHS_TO_110, styles),
            ("ResNets", "resnet", paper.DEPTHS_TO_110, styles),
            ("ResNet-110 vs ResNet-1202", "resnet", paper.DEPTHS[-2:], styles),
        ],
        ylim,
        unfinished,
    )


def integer_layers(ax) -> None:
    # at most 8 ticks: two-digit layer numbers on a narrow panel otherwise run together
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))


def figure7(
    table: pd.DataFrame,
    responses: dict,
    out: Path,
    unfinished: dict,
    published: dict | None = None,
    point: str = "BN output",
) -> None:
    """The title says where a response is measured (`point`: study.paper.response_point of
    the study's nets, "BN output" or "conv output"); the caption names the nets not drawn: not run
    yet, or with runs still unfinished (`unfinished`: unfinished_runs), whose layer responses are
    measured when they finish. `published` (label -> layer/std frame) adds published nets, dotted,
    measured the same way."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 6.5), layout="constrained")
    missing, waiting = [], []

    def draw(frames: list[pd.DataFrame], style: str, label: str) -> None:
        std = pd.concat(frames).groupby("layer")["std"].mean()
        axes[0].plot(std.index, std.values, style, label=label)
        axes[1].plot(range(1, len(std) + 1), sorted(std.values, reverse=True), style, label=label)

    for arch, depth in paper.FIGURE7_NETS:
        dirs = table[(table.arch == arch) & (table.depth == depth) & (table.status == "completed")].run_dir
        frames = [responses[d] for d in dirs if d in responses]
        if not frames:
            if (arch, depth) in unfinished:
                waiting += unfinished[(arch, depth)]
            else:
                missing.append(net_name(arch, depth))
            continue
        draw(frames, "--" if arch == "plain" else "-", net_name(arch, depth))
    for label, frame in (published or {}).items():
        draw([frame], ":", label.replace("$", r"\$"))  # a label is text, never mathtext
    axes[0].set(title="layer responses in the original order", xlabel="layer index (original)", ylabel="std")
    axes[1].set(title="layer responses sorted by magnitude", xlabel="layer index (sorted by magnitude)", ylabel="std")
    for ax in axes:
        if not axes[0].lines:
            nothing_to_draw(ax, "no completed run has layer responses yet")
        integer_layers(ax)
        legend(ax)
    fig.suptitle(
        f"Figure 7: std of the 3x3 layers' responses (each its {point}) on CIFAR-10\n(dashed: plain, solid: ResNet"
        + (", dotted: published nets)" if published else ")")
    )
    missing_caption(fig, missing, waiting, "no responses until it finishes")
    save_figure(fig, out, "fig7")


def figure_signals(table: pd.DataFrame, diagnostics: dict, out: Path, point: str = "BN output") -> bool:
    """fig_signals: per depth with diagnostics, the gradient norm per layer (log scale) and the
    response std per layer at each moment, plain (solid) against ResNet (dashed); the first seed
    of each. One legend below the panels (colour: moment, line: net), so that each panel keeps its
    width. Returns whether there was anything to draw."""
    first = table[table.run_dir.isin(diagnostics)].sort_values("seed").drop_duplicates(["arch", "depth"])
    depths = sorted(first.depth.unique())
    if not depths:
        return False
    fig, axes = plt.subplots(
        2, len(depths), figsize=(max(6.0, 4.0 * len(depths)), 7.5), squeeze=False, layout="constrained"
    )
    moments = {}  # moment -> (colour, the steps it was measured at)
    for col, depth in enumerate(depths):
        for r in first[first.depth == depth].itertuples():
            d = diagnostics[r.run_dir].dropna(subset=["moment"])
            for moment, rows in d.groupby("moment", sort=False):
                colour, steps = moments.setdefault(moment, (f"C{len(moments)}", set()))
                steps.add(int(rows.step.iloc[0]))
                style = "-" if r.arch == "plain" else "--"
                axes[0][col].semilogy(rows.layer, rows.grad_norm, style, color=colour)
                axes[1][col].plot(rows.layer, rows.response_std, style, color=colour)
        axes[0][col].set(title=f"{depth} layers: gradient norm", xlabel="layer", ylabel="‖∂loss/∂W‖ (log)")
        axes[1][col].set(title=f"{depth} layers: response std", xlabel="layer", ylabel=f"std of the {point}")
        for ax in (axes[0][col], axes[1][col]):
            integer_layers(ax)
    handles = [
        Line2D(
            [],
            [],
            color=c,
            label=f"{moment} (step{'s' if len(steps) > 1 else ''} {', '.join(f'{s:,}' for s in sorted(steps))})",
        )
        for moment, (c, steps) in moments.items()
    ]
    handles += [Line2D([], [], color="0.3", linestyle=s, label=a) for a, s in (("plain", "-"), ("ResNet", "--"))]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)
    fig.suptitle("Signals through training (solid: plain, dashed: ResNet)")
    save_figure(fig, out, "fig_signals")
    return True


def fitted_ylim(curves: pd.DataFrame, ymax: float | None) -> tuple[float, float]:
    """(0, ymax), or, without one, the paper's 20% when every mean curve ends below it (the first
    steps, far higher, leave the top of the axes as in the paper's Figure 6, rather than squeeze
    the ends into its bottom); else the next 10% above the highest mean curve, none off the axes."""
    if ymax is not None:
        return 0.0, ymax
    if curves.empty:
        return 0.0, 20.0
    means = curves.groupby(["arch", "depth", "split", "step"]).error.mean()
    if means.groupby(["arch", "depth", "split"]).last().max() <= 20:
        return 0.0, 20.0
    return 0.0, float(min(100, 10 * math.ceil(means.max() / 10)))
