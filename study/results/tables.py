"""The report's tables, and the escaping of everything from a run folder that goes into them.

    final errors training and test error per depth, plain beside ResNet, over seeds (Markdown, CSV)
    Table 6      test error per net beside the published one (the paper's, He et al. 2016's) (Markdown, LaTeX, CSV)
    shortcuts    test error per depth and shortcut option, in the manner of Table 3
    units        training and test error per depth, net and unit (original against pre-activation)
    fixes        training and test error per depth, net, normalisation and init (BN against none, Fixup, ...)

Text from run folders (paths, messages, config values) is escaped wherever it is written: `md`
for Markdown, `tex` for LaTeX, `csv_safe` for a spreadsheet.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from study import paper
from study.fileio import atomic_output
from study.paper import net_name
from study.runs.identity import flat_items, net_label
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


def fmt_spread(mean, std, n) -> str:
    """ "mean ± std (n)", the std left out for one run; "—" for none."""
    if not n or pd.isna(mean):
        return "—"
    return f"{mean:.2f}{f' ± {std:.2f}' if n > 1 and pd.notna(std) else ''} ({int(n)})"


#: spread's keys, in the order fmt_spread takes them.
SPREAD_KEYS = ("mean", "std", "n")


def spread(errors: pd.Series) -> dict:
    """mean, std (None for one run) and n of errors (SPREAD_KEYS), rounded as the tables print them."""
    errors = errors.dropna()
    return {
        "mean": round(float(errors.mean()), 2) if len(errors) else None,
        "std": round(float(errors.std()), 2) if len(errors) > 1 else None,
        "n": len(errors),
    }


def spread_columns(e: str) -> list[str]:
    """The columns error_spreads names for the `e` ("train" or "test") error's spread."""
    return [f"{e}_error_{k}" for k in SPREAD_KEYS]


def error_spreads(runs: pd.DataFrame) -> dict:
    """spread_columns("train") and spread_columns("test") of runs' final errors (spread)."""
    out = {}
    for e in ("train", "test"):
        of_e = spread(runs[f"final_{e}_error"])
        out.update(zip(spread_columns(e), (of_e[k] for k in SPREAD_KEYS)))
    return out


#: The columns of a training and a test error's spread (spread_cell), as markdown_table takes them.
ERROR_SPREAD_COLUMNS = [("training error (%), mean ± std (n)", ">"), ("test error (%), mean ± std (n)", ">")]


def spread_cell(row, e: str) -> str:
    """fmt_spread of a row's spread_columns(e)."""
    return fmt_spread(*(getattr(row, column) for column in spread_columns(e)))


def params_of(runs: pd.DataFrame) -> int | None:
    return int(runs.params.iloc[0]) if runs.params.notna().any() else None


def fmt_params(value) -> str:
    return f"{int(value):,}" if pd.notna(value) else "—"


#: A logged error is 100 x (images wrong / images seen): ten significant digits keep every
#: difference one image makes and drop the rounding of the multiplication (55.15624999999999 for
#: 55.15625).
LOGGED_ERROR_FORMAT = "%.10g"


def write_csv(table: pd.DataFrame, path: Path, float_format: str | None = None) -> None:
    with atomic_output(path) as tmp:
        table.map(csv_safe).to_csv(tmp, index=False, float_format=float_format)


@dataclass(frozen=True)
class NetFamily:
    """What a study's nets share besides arch and depth: which published numbers fit them."""

    dataset: str = "cifar10"
    shortcut: str = "A"
    unit: str = "original"
    block: str = "basic"
    builder: str | None = None
    norm: str = "batch"
    init: str = "he"

    @classmethod
    def of_study(cls, shared: dict) -> "NetFamily":
        model = (shared.get("config") or {}).get("model") or {}
        keys = ("shortcut", "unit", "block", "builder", "norm", "init")
        values = {k: model[k] for k in keys if isinstance(model.get(k), str)}
        return cls(dataset=str(shared.get("dataset")), **values)

    @property
    def is_papers(self) -> bool:
        """The 2015 paper's own nets (any shortcut option; Table 6 used A)."""
        departures = paper.departures("resnet", self.shortcut, self.unit, self.block, self.norm, self.init)
        return self.builder is None and departures.keys() <= {"shortcut"}

    def label(self, arch: str, depth: int) -> str:
        return net_label(
            arch,
            depth,
            self.shortcut,
            unit=self.unit,
            block=self.block,
            builder=self.builder,
            named=True,
            norm=self.norm,
            init=self.init,
        )

    def reference(self, arch: str, depth: int) -> tuple[float, str] | None:
        """(the published test error in %, how the table shows it, with its source where it is not
        Table 6) of this net, or None where nothing is published for it."""
        if arch != "resnet" or self.builder is not None:
            return None
        followup = paper.FOLLOWUP_TEST_ERROR.get((self.dataset, depth, self.unit))
        if followup is not None and self.block == ("basic" if depth in paper.DEPTHS else "bottleneck"):
            if not (self.is_papers and depth in paper.TABLE6_TEST_ERROR):
                return followup, f"{followup:.2f} (He et al. 2016)"
        error = paper.TABLE6_TEST_ERROR.get(depth)
        if error is None or not self.is_papers or self.dataset == "cifar100":
            return None
        if depth == 110:
            mean, std = paper.TABLE6_RESNET110_MEAN_STD
            return error, f"{error:.2f} (mean {mean:.2f} ± {std:.2f})"
        return error, f"{error:.2f}"

    def published(self, arch: str, depth: int) -> str | None:
        """How Table 6 shows the published test error of this net; None where none is published."""
        found = self.reference(arch, depth)
        return found[1] if found else None

    def published_depths(self) -> set[int]:
        if self.is_papers and self.dataset != "cifar100":
            return set(paper.DEPTHS)
        return {d for d in {*paper.DEPTHS, *paper.BOTTLENECK_DEPTHS} if self.published("resnet", d) is not None}


def final_errors(table: pd.DataFrame) -> pd.DataFrame:
    """Per depth and arch: the final training and test error over seeds (Figure 6's end points;
    the mini study's headline)."""
    done = table[table.status.isin(USABLE)]
    rows = []
    for (depth, arch), runs in done.groupby(["depth", "arch"]):
        rows.append({"depth": int(depth), "arch": arch} | error_spreads(runs))
    columns = ["depth", "arch", *spread_columns("train"), *spread_columns("test")]
    return pd.DataFrame(rows, columns=columns)


def markdown_table(columns: list[tuple[str, str]], rows: list[list[str]]) -> str:
    """A Markdown table: `columns` as (heading, "<" left- or ">" right-aligned), a list of cells a
    row (escaped by the caller where they come from run folders)."""
    lines = ["| " + " | ".join(heading for heading, _ in columns) + " |"]
    lines.append("|" + "".join("---:|" if align == ">" else "---|" for _, align in columns))
    lines += ["| " + " | ".join(str(cell) for cell in cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def final_errors_markdown(errors: pd.DataFrame) -> str:
    if errors.empty:
        return "No run has finished yet.\n"
    archs = [a for a in ("plain", "resnet") if (errors.arch == a).any()]
    header = [(f"{paper.ARCH_NAMES[a]} {what} error (%)", ">") for a in archs for what in ("training", "test")]
    by_net = errors.set_index(["depth", "arch"])
    rows = [
        [depth]
        + [
            spread_cell(by_net.loc[(depth, arch)], e) if (depth, arch) in by_net.index else "—"
            for arch in archs
            for e in ("train", "test")
        ]
        for depth in sorted(set(errors.depth))
    ]
    return markdown_table([("depth", ">"), *header], rows)


def table6(table: pd.DataFrame, family: NetFamily = NetFamily()) -> pd.DataFrame:
    """Test error per net beside the published one where one exists for it ('-' where none does,
    'curves only' for the paper's plain nets, which Table 6 leaves out)."""
    rows = []
    done = table[table.status.isin(USABLE)]
    for arch in ("resnet", "plain"):
        depths = sorted(set(done[done.arch == arch].depth) | (family.published_depths() if arch == "resnet" else set()))
        for depth in depths:
            runs = done[(done.arch == arch) & (done.depth == depth)]
            errors = runs.final_test_error.dropna()
            reference = family.reference(arch, depth)
            published = reference[1] if reference else None
            recorded = runs.params.dropna()
            params = (
                int(recorded.median()) if len(recorded) else (paper.PARAMS.get(depth) if family.is_papers else None)
            )
            best = errors.min() if len(errors) else None
            test = spread(errors)
            rows.append(
                {
                    "net": family.label(arch, depth),
                    "arch": arch,
                    "depth": depth,
                    "params": params,
                    "paper_test_error": published
                    if published is not None
                    else ("curves only" if arch == "plain" and family.is_papers else "-"),
                    "best_test_error": round(best, 2) if best is not None else None,
                    "mean_test_error": test["mean"],
                    "std_test_error": test["std"],
                    "n": test["n"],
                    "best_minus_paper": round(best - reference[0], 2) if best is not None and reference else None,
                }
            )
    return pd.DataFrame(rows)


def table6_markdown(t6: pd.DataFrame) -> str:
    columns = [
        ("net", "<"),
        ("params", ">"),
        ("published test error (%)", "<"),
        ("ours best (%)", ">"),
        ("ours mean ± std (n)", ">"),
        ("best − published", ">"),
    ]
    rows = [
        [
            md(r.net),
            fmt_params(r.params),
            r.paper_test_error,
            fmt(r.best_test_error),
            fmt_spread(r.mean_test_error, r.std_test_error, r.n) if r.n else "no finished run",
            fmt(r.best_minus_paper),
        ]
        for r in t6.itertuples()
    ]
    return markdown_table(columns, rows)


def table6_latex(t6: pd.DataFrame) -> str:
    body = "\n".join(
        f"{tex(r.net)} & {tex(r.paper_test_error)} & {fmt(r.best_test_error)} & "
        f"{fmt(r.mean_test_error)} $\\pm$ {fmt(r.std_test_error)} ({r.n}) & {fmt(r.best_minus_paper)} \\\\"
        for r in t6.itertuples()
    )
    return (
        "\\begin{tabular}{lllll}\n\\hline\nnet & paper & best & mean $\\pm$ std (n) & best $-$ paper \\\\\n\\hline\n"
        f"{body}\n\\hline\n\\end{{tabular}}\n"
    )


def variant_families(
    table: pd.DataFrame, studies: dict, varied: tuple[str, ...], archs: tuple[str, ...]
) -> list[pd.DataFrame]:
    """The finished runs of `archs` in studies that differ only in the model keys `varied`
    (NetFamily's shortcut, unit, norm, init), one frame a family that holds two variants or more,
    each run's value of each key in a column of that name."""

    def key(sid):
        shared = studies[sid]
        config = flat_items(shared["config"])
        for name in varied:
            config.pop(f"model.{name}", None)
        return json.dumps([shared["dataset"], config, shared["data"]["content"]], sort_keys=True, default=str)

    family = {sid: NetFamily.of_study(shared) for sid, shared in studies.items()}
    done = table[table.arch.isin(archs) & table.status.isin(USABLE)].assign(
        **{name: (lambda t, name=name: t.study.map(lambda sid: getattr(family[sid], name))) for name in varied}
    )
    groups = done.groupby(done.study.map(key))
    return [group for _, group in groups if len(group[list(varied)].drop_duplicates()) > 1]


def shortcut_families(table: pd.DataFrame, studies: dict) -> list[pd.DataFrame]:
    """The ResNet runs of studies that differ only in model.shortcut (variant_families)."""
    return variant_families(table, studies, ("shortcut",), ("resnet",))


def unit_families(table: pd.DataFrame, studies: dict) -> list[pd.DataFrame]:
    """Plain and ResNet runs of studies that differ only in model.unit (variant_families)."""
    return variant_families(table, studies, ("unit",), ("plain", "resnet"))


def fix_families(table: pd.DataFrame, studies: dict) -> list[pd.DataFrame]:
    """Plain and ResNet runs of studies that differ only in model.norm and model.init
    (variant_families)."""
    return variant_families(table, studies, ("norm", "init"), ("plain", "resnet"))


def shortcut_table(runs_of_family: pd.DataFrame) -> pd.DataFrame:
    """Per depth and option: params and test error mean ± std (n), as Table 3 lays them out."""
    rows = []
    for (depth, option), group in runs_of_family.groupby(["depth", "shortcut"]):
        test = spread(group.final_test_error)
        rows.append(
            {
                "net": net_name("resnet", depth),
                "depth": int(depth),
                "option": option,
                "params": params_of(group),
                "test_error_mean": test["mean"],
                "test_error_std": test["std"],
                "n": test["n"],
            }
        )
    return pd.DataFrame(rows).sort_values(["depth", "option"], ignore_index=True)


def unit_table(runs_of_family: pd.DataFrame) -> pd.DataFrame:
    """Per depth, net and unit: params, training and test error mean ± std (n)."""
    rows = []
    for (depth, arch, unit), group in runs_of_family.groupby(["depth", "arch", "unit"]):
        net = {"net": net_name(arch, depth), "depth": int(depth), "arch": arch, "unit": unit}
        rows.append(net | {"params": params_of(group)} | error_spreads(group))
    return pd.DataFrame(rows).sort_values(["depth", "arch", "unit"], ignore_index=True)


def unit_markdown(t: pd.DataFrame) -> str:
    columns = [("net", "<"), ("unit", "<"), ("params", ">"), *ERROR_SPREAD_COLUMNS]
    rows = [
        [r.net, md(r.unit), fmt_params(r.params), spread_cell(r, "train"), spread_cell(r, "test")]
        for r in t.itertuples()
    ]
    return markdown_table(columns, rows)


def fix_table(runs_of_family: pd.DataFrame) -> pd.DataFrame:
    """Per depth, net and (norm, init): params, training and test error mean ± std (n), and the
    published test error of that net where there is one (Table 6's, for the paper's ResNets; at the
    paper's full length, so beside these only as where the net ends up)."""
    rows = []
    for (depth, arch, norm, init), group in runs_of_family.groupby(["depth", "arch", "norm", "init"]):
        reference = NetFamily(norm=norm, init=init).reference(arch, int(depth))
        rows.append(
            {"net": net_name(arch, depth), "depth": int(depth), "arch": arch, "norm": norm, "init": init}
            | {"variant": paper.fix_name(norm, init), "params": params_of(group)}
            | error_spreads(group)
            | {"published_test_error": f"{reference[1]} (He et al. 2015)" if reference else "none for this net"}
        )
    order = {variant: i for i, variant in enumerate(paper.FIX_NAMES)}
    t = pd.DataFrame(rows)
    t["_order"] = [order.get((n, i), len(order)) for n, i in zip(t.norm, t.init)]
    return t.sort_values(["depth", "arch", "_order", "norm", "init"], ignore_index=True).drop(columns="_order")


def fix_markdown(t: pd.DataFrame) -> str:
    columns = [
        ("net", "<"),
        ("normalisation, init", "<"),
        ("params", ">"),
        *ERROR_SPREAD_COLUMNS,
        ("published test error (%), full length", "<"),
    ]
    rows = [
        [
            r.net,
            md(r.variant),
            fmt_params(r.params),
            spread_cell(r, "train"),
            spread_cell(r, "test"),
            md(r.published_test_error),
        ]
        for r in t.itertuples()
    ]
    return markdown_table(columns, rows)


def shortcut_markdown(t: pd.DataFrame) -> str:
    columns = [("net", "<"), ("option", "<"), ("params", ">"), ("test error (%), mean ± std (n)", ">")]
    rows = [
        [r.net, r.option, fmt_params(r.params), fmt_spread(r.test_error_mean, r.test_error_std, r.n)]
        for r in t.itertuples()
    ]
    return markdown_table(columns, rows)
