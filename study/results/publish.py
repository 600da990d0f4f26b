"""A report's output set, written whole or not at all: per study runs.csv, curves.csv, the figures,
Table 6, the comparison with published runs of the recipe (reproductions.csv) and report.md with a
verdict on each claim; an index where the runs make several studies; the shortcut and unit tables
where variants of the nets were compared; and, on request, the figures and Table 6 uploaded to
wandb beside the runs.

The set is written into a staging folder first and then replaces the previous report's files,
those its manifest (MANIFEST) lists, so a failure leaves the previous set as it was; nothing else
in the folder is touched, and a file of the new set where --out holds one of someone else's is
refused before anything changes.
"""

import contextlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from study import paper
from study.data.sources import describe_copy
from study.fileio import UnsafeFile, atomic_write_text, inside, is_plain
from study.paper import net_name
from study.results.claims import fix_claims, paper_claims, shortcut_claim, signal_claims, unit_claim
from study.results.collect import Collection, collect, study_titles
from study.results.figures import figure1, figure6, figure7, figure_signals, fitted_ylim, unfinished_runs
from study.results.reproductions import reproduction_section
from study.results.stats import METHOD
from study.results.tables import (
    LOGGED_ERROR_FORMAT,
    NetFamily,
    final_errors,
    final_errors_markdown,
    fix_families,
    fix_markdown,
    fix_table,
    md,
    shortcut_families,
    shortcut_markdown,
    shortcut_table,
    table6,
    table6_latex,
    table6_markdown,
    unit_families,
    unit_markdown,
    unit_table,
    write_csv,
)
from study.results.throughout import throughout_lines
from study.runs.identity import flat_items
from study.runs.summary import USABLE

__all__ = ["write_report", "REPORT_FILES"]

#: The heading over what a report could not use: damaged runs, and a damaged file or steps of a used run.
LEFT_OUT = "## Left out (runs, or parts of a run)"


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


def write_study(out: Path, title: str, study: Collection, roots: list[Path], ymax: float | None) -> None:
    """One study's files: runs.csv, curves.csv, the figures, Table 6 and report.md."""
    table, curves, responses, diagnostics, problems = (
        study.runs,
        study.curves,
        study.responses,
        study.diagnostics,
        study.problems,
    )
    (shared,) = study.studies.values()
    out.mkdir(parents=True, exist_ok=True)
    ylim = fitted_ylim(curves, ymax)
    max_steps = flat_items(shared["config"]).get("trainer.max_steps")
    max_steps = max_steps if isinstance(max_steps, int) and not isinstance(max_steps, bool) else None
    write_csv(table, out / "runs.csv")
    write_csv(curves, out / "curves.csv", LOGGED_ERROR_FORMAT)
    unfinished = unfinished_runs(table)
    figure1(curves, out, ylim, unfinished)
    figure6(curves, out, ylim, unfinished)
    family = NetFamily.of_study(shared)
    point = paper.response_point(family.unit, family.norm)
    figure7(table, responses, out, unfinished, study.published, point)
    drew_signals = figure_signals(table, diagnostics, out, point)
    finals = final_errors(table)
    write_csv(finals, out / "final_errors.csv")
    t6 = table6(table, family)
    write_csv(t6, out / "table6.csv")
    atomic_write_text(out / "table6.md", table6_markdown(t6))
    atomic_write_text(out / "table6.tex", table6_latex(t6))
    reproductions, reproduction_lines = reproduction_section(table, shared, family)
    if reproductions is not None:
        write_csv(reproductions, out / "reproductions.csv")

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
    for claim, verdict, details in paper_claims(
        table, response_means, None if family.is_papers else sorted(set(table.depth))
    ) + signal_claims(table, diagnostics):
        lines += [f"### {claim}: **{verdict}**", ""] + [f"- {d}" for d in details] + [""]
    lines += [
        "## Final errors (%, mean ± std over seeds (n); Figure 6's end points)",
        "",
        final_errors_markdown(finals),
        f"## Table 6 (test error, %; ours on {md(shared['dataset'])}; published: the paper's on CIFAR-10, "
        "or He et al. 2016's for its nets on their dataset; '-': none published for this net)",
        "",
        table6_markdown(t6),
        *reproduction_lines,
        "## Figures",
        "",
        "![Figure 1](fig1.png)",
        "",
    ]
    throughout = throughout_lines(curves, max_steps)
    if throughout:
        lines += [
            "Through training, not only at the end (the paper: a deeper plain net's training error is higher "
            "throughout, a deeper ResNet's lower), the mean curves compared at the steps every run of both "
            "logged (the training error over the batches since the last log, the test error at each "
            "evaluation); described, not judged:",
            "",
            *throughout,
            "",
        ]
    lines += [
        "![Figure 6](fig6.png)",
        "",
        "![Figure 7](fig7.png)",
        "",
    ]
    if study.published:
        lines += [
            "Figure 7 also draws published nets (dotted), their layer responses measured the same way on the same "
            "test images (`python -m study.evaluate --import NAME FILE --responses CSV`): "
            + ", ".join(md(label) for label in study.published)
            + ".",
            "",
        ]
    if table.status.eq("completed").any() and not responses:
        lines += [
            "Figure 7 and the signals need the nets' 3x3 layer responses; the nets of this study expose none "
            "(docs/nets.md, 'Any net of yours': a `response_layers()` method, or BatchNorm2d after each 3x3 conv).",
            "",
        ]
    if drew_signals:
        lines += [
            "Signals through training (section 4.1): gradient norm and response std per 3x3 layer (its "
            f"{point}) on one fixed training batch, at the start, before each lr drop and at the end "
            "(`diagnostics.csv`).",
            "",
            "![Signals through training](fig_signals.png)",
            "",
        ]
    not_done = table[~table.status.isin(USABLE)]
    if len(not_done):
        of = f" of {max_steps:,}" if max_steps else ""
        lines += [
            "## Unfinished runs (in the figures up to where they stopped; in no verdict or table)",
            "",
            "The command that started a run resumes it from its last checkpoint.",
            "",
        ]
        lines += [f"- {md(r.run_dir)}: {r.status} at step {r.steps:,}{of}" for r in not_done.itertuples()] + [""]
    if problems:
        lines += [LEFT_OUT, ""] + [f"- {md(p)}" for p in problems] + [""]
    missing = [
        net_name(arch, depth)
        for arch, depths in paper.GRID.items()
        for depth in depths
        if family.is_papers and not ((table.arch == arch) & (table.depth == depth)).any()
    ]
    if missing:
        lines += ["## Not run yet (of the paper's CIFAR-10 study)", "", ", ".join(missing), ""]
    diverged = table[table.status == "diverged"]
    if len(diverged):
        lines += ["## Diverged runs (used: a diverged net is a result)", ""]
        lines += [f"- {net_name(r.arch, r.depth)} seed {r.seed}: {md(r.run_dir)}" for r in diverged.itertuples()] + [""]
    atomic_write_text(out / "report.md", "\n".join(lines))


def write_index(out: Path, collection: Collection, titles: dict, roots: list[Path], ymax: float | None) -> None:
    table, studies = collection.runs, collection.studies
    index = [
        "# Degradation study: results",
        "",
        f"{len(table)} runs from {md(', '.join(map(str, roots)))} belong to {len(studies)} studies: runs that "
        "differ in more than the seed, the net or the data copy are never pooled. Each has its own report.",
        "",
    ]
    for sid in sorted(studies, key=titles.get):
        members = collection.of_study(sid)
        write_study(out / f"study-{sid}", titles[sid], members, roots, ymax)
        index.append(
            f"- [{md(titles[sid])}](study-{sid}/report.md): {len(members.runs)} runs, "
            f"{md(describe_copy(studies[sid]['data']))}"
        )
    if collection.problems:
        index += ["", LEFT_OUT, ""] + [f"- {md(p)}" for p in collection.problems]
    write_csv(table, out / "runs.csv")
    atomic_write_text(out / "report.md", "\n".join(index) + "\n")


#: The names of what a report writes into --out (at the top, or in a study's folder).
REPORT_FILES = [
    "runs.csv",
    "curves.csv",
    "final_errors.csv",
    "report.md",
    "table6.md",
    "table6.csv",
    "table6.tex",
    "reproductions.csv",
    "shortcuts.md",
    "shortcuts.csv",
    "units.md",
    "units.csv",
    "fixes.md",
    "fixes.csv",
] + [f"fig{n}.{ext}" for n in ("1", "6", "7", "_signals") for ext in ("png", "pdf")]


#: What a report leaves in --out beside its files: the list of them, so the next report replaces
#: exactly those and nothing else (never a file it cannot show it wrote).
MANIFEST = ".study-report.json"
STUDY_FOLDER = re.compile(r"study-[0-9a-f]{8}")


class PublishError(ValueError):
    """--out holds something the report would have to replace but did not write; nothing changed."""


def report_path(name) -> bool:
    """Whether `name` (relative, '/'-separated) is a path a report writes: one of REPORT_FILES,
    at the top or in one study's folder."""
    if not isinstance(name, str):
        return False
    *folder, leaf = name.split("/")
    return leaf in REPORT_FILES and (folder == [] or (len(folder) == 1 and bool(STUDY_FOLDER.fullmatch(folder[0]))))


def written_before(out: Path) -> set[str]:
    """The files an earlier report wrote into `out`, as its manifest lists them; none without one."""
    try:
        path = inside(out, MANIFEST)
        listed = json.loads(path.read_text()) if path else {"files": []}
    except (UnsafeFile, ValueError, UnicodeDecodeError, RecursionError) as err:
        raise PublishError(f"{out / MANIFEST} is not a report's list of its files ({err}); nothing changed") from None
    files = listed.get("files") if isinstance(listed, dict) else None
    if not isinstance(files, list) or not all(report_path(f) for f in files):
        raise PublishError(
            f"{out / MANIFEST} does not list only files a report writes; nothing was changed. "
            "Remove it if it is yours, or write the report elsewhere (--out)"
        )
    return set(files)


def publish(staging: Path, out: Path) -> None:
    """Replace the files an earlier report wrote into `out` (its manifest's) by the set in
    `staging`, and list the new set in the manifest. Everything is checked before anything
    changes: a file of the new set where `out` holds one the earlier report did not write, or a
    link or other odd entry in the way, is refused with nothing changed."""
    out.mkdir(parents=True, exist_ok=True)
    before = written_before(out)
    new = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
    problems = []
    for name in sorted(set(new) | before):
        target, folder = out / name, (out / name).parent
        if folder != out and os.path.lexists(folder) and not is_plain(folder, stat.S_ISDIR):
            problems.append(f"{folder.name} is not a plain folder (a link or a file)")
        elif name in before and os.path.lexists(target) and not is_plain(target, stat.S_ISREG):
            problems.append(f"{name} is no longer a plain file (a link, a folder or a device)")
        elif name not in before and os.path.lexists(target):
            problems.append(f"{name} was not written by an earlier report (it is not in {MANIFEST})")
    if problems:
        raise PublishError(
            f"the report would replace what is not its own in {out}: {'; '.join(sorted(set(problems)))}. "
            "Nothing was changed: move those away, or write the report elsewhere (--out)"
        )
    for name in sorted(before - set(new)):  # stale files of the earlier report
        if os.path.lexists(out / name):
            (out / name).unlink()
    for name in new:
        (out / name).parent.mkdir(exist_ok=True)
        (staging / name).replace(out / name)
    for folder in {(out / name).parent for name in before} - {out}:
        with contextlib.suppress(OSError):  # kept where it holds anything else
            folder.rmdir()
    atomic_write_text(out / MANIFEST, json.dumps({"written_by": "study.report", "files": new}, indent=1) + "\n")


def upload_to_wandb(out: Path, studies: dict, titles: dict, project: str, entity: str | None, mode: str) -> None:
    """Each study's figures and Table 6 into its wandb group (study-<id>, where its runs are)."""
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


@dataclass(frozen=True)
class Comparison:
    """Variants a report sets side by side where a family of studies differs in nothing else."""

    stem: str  # of its .md and .csv
    heading: str
    families: Callable  # (table, studies) -> lists of runs that differ only in what varies
    table: Callable  # runs -> its table
    markdown: Callable  # its table -> Markdown
    claims: Callable  # (runs, diagnostics) -> [(claim, verdict, details)]
    varies: str  # what differs between its variants, in words
    notes: tuple[str, ...] = ()  # paragraphs under the table


COMPARISONS = (
    Comparison(
        "shortcuts",
        "Shortcut options (in the manner of Table 3)",
        shortcut_families,
        shortcut_table,
        shortcut_markdown,
        lambda runs, diagnostics: [shortcut_claim(runs)],
        "shortcut",
    ),
    Comparison(
        "units",
        "Original against pre-activation units (He et al. 2016)",
        unit_families,
        unit_table,
        unit_markdown,
        lambda runs, diagnostics: [unit_claim(runs)],
        "unit",
    ),
    Comparison(
        "fixes",
        "Without BN, and branches that start at zero",
        fix_families,
        fix_table,
        fix_markdown,
        fix_claims,
        "normalisation or init",
        (
            "Published figures: only the paper's own ResNets have one for these nets (Table 6, at the full "
            "length of 64,000 steps). Where each other init was published, and on which nets (unverified: "
            "the papers were not at hand here, so none of their figures is quoted): "
            + "; ".join(f"{init}: {md(source)}" for init, source in paper.FIX_SOURCES.items())
            + ".",
            "Responses are measured at each 3x3 layer's BN output with BN and at its conv output without "
            "(diagnostics.csv names the layer); a spread of response std across layers is comparable between "
            "the two, the std itself is not.",
        ),
    ),
)


def write_comparisons(out: Path, table: pd.DataFrame, studies: dict, diagnostics: dict) -> None:
    """For each of COMPARISONS whose variants agree in everything else: <stem>.md/.csv and a section
    of report.md (the largest family; any others are named, not tabled)."""
    for comparison in COMPARISONS:
        families = comparison.families(table, studies)
        if not families:
            continue
        runs_of_family = max(families, key=len)
        t = comparison.table(runs_of_family)
        write_csv(t, out / f"{comparison.stem}.csv")
        atomic_write_text(out / f"{comparison.stem}.md", comparison.markdown(t))
        paragraphs = [comparison.markdown(t).rstrip("\n"), *comparison.notes]
        for claim, verdict, details in comparison.claims(runs_of_family, diagnostics):
            paragraphs.append("\n".join([f"### {claim}: **{verdict}**", ""] + [f"- {d}" for d in details]))
        if len(families) > 1:
            paragraphs.append(
                f"- {len(families) - 1} other famil{'y' if len(families) == 2 else 'ies'} of runs that differ in "
                f"the {comparison.varies} (another schedule or data copy) are not tabled here: report them on their own"
            )
        with open(out / "report.md", "a") as f:
            f.write("\n" + "\n\n".join([f"## {comparison.heading}", *paragraphs]) + "\n")


def write_report(
    roots: list[Path],
    out: Path,
    ymax: float | None = None,
    wandb: dict | None = None,
    published: dict[str, Path] | None = None,
) -> int:
    collection = collect(roots, published)
    table, studies, problems = collection.runs, collection.studies, collection.problems
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
            write_study(staging, titles[sid], collection, roots, ymax)
        else:  # one folder per study, never a pooled table; report.md links them
            write_index(staging, collection, titles, roots, ymax)
        write_comparisons(staging, table, studies, collection.diagnostics)
        publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(
        f"report: {len(table)} run{'s' if len(table) != 1 else ''} ({(table.status == 'completed').sum()} completed, "
        f"{(~table.status.isin(USABLE)).sum()} unfinished) in {len(studies)} "
        f"{'study' if len(studies) == 1 else 'studies'}, {len(problems)} left out (a run damaged or still running, "
        f"or part of one); written to {out}/report.md"
    )
    for p in problems:
        print(f"  left out: {p}")
    if wandb is not None:
        upload_to_wandb(out, studies, titles, **wandb)
    return 0


def upload_report(studies: dict[str, dict], project: str, entity: str | None, mode: str) -> list[str]:
    """One wandb run a study (job_type "report", group "study-<id>", the runs' group): its figures
    as images and its Table 6 as a wandb Table. `studies` maps the study id to {"title", "folder"
    (its figures), "wandb_dir", "table6" (a DataFrame)}. Returns the runs' folders (offline) or
    addresses."""
    import wandb

    places = []
    for sid, study in studies.items():
        run = wandb.init(
            project=project,
            entity=entity,
            group=f"study-{sid}",
            job_type="report",
            name=f"report {sid}",
            notes=study["title"],
            dir=str(study["wandb_dir"]),
            mode=mode,
            reinit="finish_previous",
        )
        images = {f"figure/{p.stem}": wandb.Image(str(p)) for p in sorted(Path(study["folder"]).glob("*.png"))}
        table = study["table6"]
        run.log({**images, "table6": wandb.Table(dataframe=table.astype(str))})
        places.append(run.url or run.dir)
        run.finish()
    return places
