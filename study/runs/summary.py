"""summary.json, a run's record: one schema that the writer (study.training.run) and every reader
(resume, skip, the report, evaluate) use.

    status                 completed | interrupted | diverged | failed
    arch, depth, shortcut  the net; dataset, seed, data (the copy: study.data.sources)
    params, steps          the net's parameters; the steps trained
    final_*_error          percent, on each split, in eval mode, at the end (None until then)
    wall_time_s            across resumes
    provenance             code (and code_history), libraries, device, threads, precision
    config                 the resolved config
    error                  why a run failed; diverged_at_step, last_finite_loss: where it diverged

A run folder may come from anyone: `problems` checks each field by type and value before a reader
uses it.
"""

import json
import math
from pathlib import Path

from omegaconf import OmegaConf

from study.data.sources import DATASETS
from study.fileio import bounded_yaml_text, inside, write_json
from study.nets import ARCHS, BLOCKS, SHORTCUTS, blocks_per_stage

__all__ = ["SUMMARY", "STATUSES", "USABLE", "FIELDS", "blank", "write", "read", "problems", "stored_config"]

SUMMARY = "summary.json"
STATUSES = ("completed", "interrupted", "diverged", "failed")
#: Runs with final numbers: a rerun leaves them alone, and tables use them (a diverged net is a result).
USABLE = ("completed", "diverged")


def _whole(low: int = 0):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _number(low: float = 0.0, high: float = math.inf):
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and low <= v <= high


def _depth(value) -> bool:
    """A depth some block builds (the block itself is in the run's config)."""
    for block in BLOCKS:
        try:
            if _whole(8)(value) and blocks_per_stage(value, block) > 0:
                return True
        except ValueError:
            continue
    return False


def _optional(check):
    return lambda v: v is None or check(v)


_mapping = _optional(lambda v: isinstance(v, dict))
_error = _optional(_number(0.0, 100.0))

#: Every field a reader relies on, in the order a summary lists them, with the test its value must pass.
FIELDS = {
    "status": lambda v: v in STATUSES,
    "arch": lambda v: v in ARCHS,
    "depth": _depth,
    "shortcut": lambda v: v in SHORTCUTS,
    "dataset": lambda v: v in DATASETS,
    "data": _mapping,
    "seed": _whole(),
    "params": _optional(_whole(1)),
    "steps": _optional(_whole()),
    "provenance": _mapping,
    "final_train_error": _error,
    "final_val_error": _error,
    "final_test_error": _error,
    "wall_time_s": _optional(_number()),
    "config": _mapping,
}


def blank(**values) -> dict:
    """A summary with every field of FIELDS, None where `values` gives none."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise KeyError(f"not summary fields: {', '.join(sorted(unknown))}")
    return {field: values.get(field) for field in FIELDS}


def write(run_dir: Path, summary: dict) -> None:
    write_json(Path(run_dir) / SUMMARY, summary)


def read(run_dir: Path) -> dict | None:
    """The run's summary, or None if it has none. A summary that does not parse raises ValueError."""
    path = inside(run_dir, SUMMARY)  # UnsafeFile, a ValueError, for a link out of the folder or a FIFO
    if path is None:
        return None
    try:
        summary = json.loads(path.read_text())
    except RecursionError:
        raise ValueError(f"{path} is nested too deeply to be a summary") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(summary, dict) or "status" not in summary:
        raise ValueError(f"{path} has no 'status' field")
    return summary


def problems(summary: dict) -> list[str]:
    """What makes a summary unusable by a report, field by field. Empty when every field is sound."""
    found = []
    config = summary.get("config") if isinstance(summary.get("config"), dict) else {}
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    user_net = isinstance(model.get("builder"), str)  # any depth its builder takes
    for key, check in {**FIELDS, **({"depth": _whole(1)} if user_net else {})}.items():
        if not check(summary.get(key)):
            value = repr(summary.get(key))
            found.append(f"{key} is {value[:60] + '...' if len(value) > 60 else value}")
    return found


def stored_config(run_dir: Path) -> dict | None:
    """The config a run folder was made with (summary.json's, else config.yaml), or None. Its
    interpolations are left as they are: a folder's files are data, never resolved."""
    try:
        summary = read(run_dir)
    except ValueError:
        summary = None
    if summary and isinstance(summary.get("config"), dict):
        return summary["config"]
    try:
        path = inside(run_dir, "config.yaml")
    except ValueError:
        return None
    if path:
        try:
            loaded = OmegaConf.to_container(OmegaConf.create(bounded_yaml_text(path)), resolve=False)
        except Exception:  # anything a foreign file can make a parser raise: no config
            return None
        return loaded if isinstance(loaded, dict) else None
    return None
