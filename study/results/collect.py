"""What a report reads: every run folder under the roots it is given, each file checked before use.

Reads only what runs left on disk (summary.json, metrics.csv, layer_responses.csv,
diagnostics.csv), so logs copied from a cluster regenerate everything. Runs still going or
damaged are listed as problems; the rest are read, and those that have not finished (interrupted,
failed) keep their status, for the figures to draw as far as they got and the tables to leave out. Runs are grouped
into studies (study.runs.identity.study_of): runs that differ in more than the seed, the net or
the data copy are never pooled.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from study.fileio import UnsafeFile, inside
from study.paper import PAPER_CHOICES
from study.runs import summary as summaries
from study.runs.identity import ADDED_KEYS, flat_items, study_of
from study.runs.layout import DIAGNOSTICS_COLUMNS
from study.runs.lock import describe_holder, lock_holder
from study.runs.provenance import describe_code_history

#: The summary fields (study.runs.summary.FIELDS) a report tables, one row a run, in runs.csv's order.
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
#: And what it adds from the run's data record, its provenance and its study.
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
CURVE_COLUMNS = ["run", "arch", "depth", "seed", "step", "split", "error"]


@dataclass
class Collection:
    """Everything a report uses, read from the run folders."""

    runs: pd.DataFrame  # one row a run (RUN_COLUMNS)
    curves: pd.DataFrame  # one row a (run, step, split) error (CURVE_COLUMNS)
    responses: dict = field(default_factory=dict)  # run name -> Figure 7's layer/std frame
    diagnostics: dict = field(default_factory=dict)  # run name -> diagnostics.csv frame, with its moments
    studies: dict = field(default_factory=dict)  # study id -> what its runs share (study_of)
    problems: list = field(default_factory=list)  # one line a run or file not used, and why
    published: dict = field(default_factory=dict)  # label -> a published net's layer/std frame (Figure 7)

    def of_study(self, study_id: str) -> "Collection":
        members = self.runs[self.runs.study == study_id]
        return Collection(
            members,
            self.curves[self.curves.run.isin(members.run_dir)],
            self.responses,
            self.diagnostics,
            {study_id: self.studies[study_id]},
            [],
            self.published,
        )


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


def read_history(path: Path, name: str, summary: dict) -> tuple[list[pd.DataFrame], list[str]]:
    """(the run's error curves from metrics.csv under the run's name, notes on what was left out).
    Every value is checked against what it can be: steps whole, non-negative, rising, at most the
    run's steps, never falling, one value per step and column; errors in [0, 100]; learning rates
    positive. A ValueError names the first bad row
    (its line in the file); NaN cells are left out with a note."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "step" not in table.columns:
        raise ValueError("no 'step' column")
    ranges = {"step": (0, summary.get("steps")), "lr": (0, None)} | {
        f"{split}_error": (0, 100) for split in ("train", "val", "test")
    }
    numbers, nan_cells = {}, 0
    for column in [c for c in ranges if c in table.columns]:
        cells = table[column]
        values = pd.to_numeric(cells.where(cells != ""), errors="coerce")
        bad_text = values.isna() & (cells != "") & ~cells.str.lower().isin(["nan", "-nan"])
        nan_cells += int((values.isna() & cells.str.lower().isin(["nan", "-nan"])).sum())
        low, high = ranges[column]
        out = bad_text | (values < low) | ~values.map(lambda v: math.isnan(v) or math.isfinite(v))
        if high is not None:
            out |= values > high
        if column == "lr":
            out |= values == 0
        if column == "step":
            out |= values.isna() | (values != values.round())
        if out.any():
            row = int(out.idxmax())
            raise ValueError(f"line {row + 2}: {column} is {cells[row]!r}, which it cannot be")
        numbers[column] = values
    steps = numbers["step"]
    if not steps.is_monotonic_increasing:
        row = int((steps.diff() < 0).idxmax())
        raise ValueError(f"line {row + 2}: step {int(steps[row])} comes after a later step")
    curves = []
    for split in ("train", "val", "test"):
        if f"{split}_error" in numbers:
            errors = numbers[f"{split}_error"]
            kept = errors.notna()
            twice = steps[kept].duplicated()
            if twice.any():  # a step's rows may split its columns, never give one twice
                row = int(twice.idxmax())
                raise ValueError(f"line {row + 2}: a second {split}_error for step {int(steps[row])}")
            curves.append(
                pd.DataFrame(
                    {
                        "run": name,
                        "arch": summary["arch"],
                        "depth": summary["depth"],
                        "seed": summary["seed"],
                        "step": steps[kept].astype(int),
                        "split": split,
                        "error": errors[kept],
                    }
                )
            )
    notes = [f"{name}: metrics.csv has {nan_cells} NaN cell(s), left out of its curves"] if nan_cells else []
    return curves, notes


def read_responses(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path)
    if not {"layer", "std"} <= set(table.columns):
        raise ValueError("it needs the columns layer and std")
    values = table[["layer", "std"]].astype(float)
    if not values.map(math.isfinite).all().all():
        raise ValueError("a layer or std that is not a finite number")
    return values


def read_diagnostics(path: Path, milestones, finished: bool) -> tuple[pd.DataFrame, list[str]]:
    """A run's diagnostics.csv, checked, with a `moment` column naming the rows drawn: start,
    before each lr drop the run went through (the last measurement at or before it), and end, or
    for a run that has not finished its last measurement; and notes on the steps left out, those
    where a std or gradient norm is infinite or NaN (signals that overflowed, or a net diverging).
    Raises ValueError."""
    table = pd.read_csv(path, dtype={"name": str})
    if list(table.columns) != DIAGNOSTICS_COLUMNS:
        raise ValueError(f"its columns must be {', '.join(DIAGNOSTICS_COLUMNS)}")
    numbers = table[["step", "layer", "response_std", "grad_norm"]].astype(float)
    if not numbers[["step", "layer"]].map(math.isfinite).all().all() or (numbers < 0).any().any():
        raise ValueError(
            "a step, layer, std or gradient norm that is negative, or a step or layer that is not a number"
        )
    if table.empty:
        raise ValueError("it has no rows")
    table[["step", "layer"]] = numbers[["step", "layer"]].astype(int)
    signals_finite = numbers[["response_std", "grad_norm"]].map(math.isfinite).all(axis=1)
    overflowed = sorted(set(table.step[~signals_finite]))
    table = table[~table.step.isin(overflowed)].copy()
    if table.empty:
        raise ValueError("no step has finite signals: every std or gradient norm measured is infinite or NaN")
    notes = (
        [f"a std or gradient norm is infinite or NaN at step(s) {', '.join(f'{s:,}' for s in overflowed)}: left out"]
        if overflowed
        else []
    )
    steps = sorted(table.step.unique())
    moments = {steps[0]: "start"}
    for i, m in enumerate(m for m in milestones if isinstance(m, int)):
        before = [s for s in steps if s <= m]
        # a run stopped short of a drop has measured nothing "before" it, only its latest state
        if before and before[-1] not in moments and steps[-1] > m:
            moments[before[-1]] = f"before lr drop {i + 1}"
    moments.setdefault(steps[-1], "end" if finished else "last measured, unfinished")
    table["moment"] = table.step.map(moments)
    table["steps_left_out"] = len(overflowed)
    return table, notes


def read_published(published: dict[str, Path]) -> tuple[dict, list[str]]:
    """({label: layer/std frame}, problems) for the layer responses of published nets that
    `study.evaluate --responses` measured (label -> its CSV)."""
    frames, problems = {}, []
    for label, path in published.items():
        path = Path(path)
        try:
            if inside(path.parent, path.name) is None:
                raise ValueError("no such file")
            frames[label] = read_responses(path)
        except (UnsafeFile, ValueError, TypeError, pd.errors.ParserError, UnicodeDecodeError) as err:
            problems.append(f"published responses {label} ({path}): {err}; left out of Figure 7")
    return frames, problems


def collect(roots: list[Path], published: dict[str, Path] | None = None) -> Collection:
    """The runs under `roots`, and the layer responses of published nets to draw beside theirs:
    damaged runs and files become problems. Nothing from a run folder is used before its type and
    value are checked (study.runs.summary.problems)."""
    rows, curves, responses, problems, studies, seen, diagnostics = [], [], {}, [], {}, {}, {}
    for run_dir, name in find_run_dirs(roots):
        holder = lock_holder(run_dir)
        if holder:
            problems.append(f"{name}: running on {describe_holder(holder)}; used once it has finished")
            continue
        try:
            summary = summaries.read(run_dir)
        except ValueError as err:
            problems.append(f"{name}: damaged summary ({err})")
            continue
        if summary is None:
            problems.append(f"{name}: no summary.json yet (running, or stopped before it wrote one)")
            continue
        damage = summaries.problems(summary)
        if damage:
            problems.append(f"{name}: not used, its summary.json is damaged ({'; '.join(damage)})")
            continue
        data = summary.get("data") or {}
        study_id, shared = study_of(summary, data)
        twin_key = (study_id, summary["arch"], summary["depth"], summary["seed"])
        if twin_key in seen:  # a copy of a run already read: counted once
            twin = seen[twin_key]
            numbers = [c for c in SUMMARY_COLUMNS if c.startswith("final_") or c in ("status", "steps")]
            if any(twin[c] != summary.get(c) for c in numbers):
                problems.append(
                    f"{name}: a copy of {twin['run_dir']} (the same run) with other numbers; only the first is used"
                )
            continue
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
        try:
            files = {f: inside(run_dir, f) for f in ("metrics.csv", "layer_responses.csv", "diagnostics.csv")}
            history = read_history(files["metrics.csv"], name, summary) if files["metrics.csv"] else ([], [])
        except UnsafeFile as err:
            problems.append(f"{name}: not used, {err}")
            continue
        except (ValueError, TypeError, pd.errors.ParserError, UnicodeDecodeError) as err:
            problems.append(f"{name}: not used, its metrics.csv is damaged ({err})")
            continue
        studies[study_id] = shared
        curves += history[0]
        problems += history[1]
        seen[twin_key] = row
        rows.append(row)
        if files["layer_responses.csv"]:
            try:
                responses[name] = read_responses(files["layer_responses.csv"])
            except (ValueError, TypeError, pd.errors.ParserError, UnicodeDecodeError) as err:
                problems.append(f"{name}: damaged layer_responses.csv ({err}); left out of Figure 7")
        if files["diagnostics.csv"]:
            optim = (summary.get("config") or {}).get("optim")
            milestones = optim.get("milestones") if isinstance(optim, dict) else None
            try:
                diagnostics[name], notes = read_diagnostics(
                    files["diagnostics.csv"],
                    milestones if isinstance(milestones, list) else [],
                    summary["status"] in summaries.USABLE,
                )
                problems += [f"{name}: diagnostics.csv: {note}" for note in notes]
            except (ValueError, TypeError, KeyError, pd.errors.ParserError, UnicodeDecodeError) as err:
                problems.append(f"{name}: damaged diagnostics.csv ({err}); left out of the signal figures")
    table = pd.DataFrame(rows, columns=RUN_COLUMNS)
    curve_table = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    frames, unusable = read_published(published or {})
    return Collection(table, curve_table, responses, diagnostics, studies, problems + unusable, frames)


def study_titles(studies: dict) -> dict[str, str]:
    """A title per study: dataset and length, then whatever sets it apart from the others."""
    # a key at its ADDED_KEYS default is left out of a run's identity: it still has that value
    flat = {sid: ADDED_KEYS | flat_items(shared["config"]) for sid, shared in studies.items()}
    keys = sorted({k for f in flat.values() for k in f})
    differing = [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flat.values()}) > 1]
    titles = {}
    for sid, shared in studies.items():
        parts = [shared["dataset"] or "unknown dataset"]
        steps = flat[sid].get("trainer.max_steps")
        if steps is not None:
            parts.append(f"{steps:,} steps" if isinstance(steps, int) else f"{steps} steps")
        always = [  # not the paper's nets
            k for k in ("model.builder", "model.unit", "model.block", "model.norm", "model.init") if k in flat[sid]
        ]
        shown = [k for k in differing if k not in ("trainer.max_steps", "data.name")]
        shown += [k for k in always if k not in shown and flat[sid][k] != PAPER_CHOICES.get(k.removeprefix("model."))]
        parts += [f"{k}={flat[sid].get(k)}" for k in shown]
        if len({s["data"]["content"] for s in studies.values()}) > 1:
            parts.append(f"data copy {shared['data']['content']}")
        titles[sid] = ", ".join(parts)
    return titles
