"""A run's checkpoints: `checkpoints/last.ckpt` and the one before it, `previous.ckpt`.

Loaded with weights_only=True: a checkpoint from someone else that holds anything but tensors
and plain values is refused, never run. Each checkpoint records the net it holds (`net`: a
NetConfig as a dict) and the dataset, so it can be evaluated alone and is refused where it does
not match the run it is found in; checkpoints from before that record load as they did.
"""

import pickle
import time
from dataclasses import fields
from pathlib import Path

import torch

from study.fileio import trim_rows
from study.nets import NetConfig

__all__ = ["CHECKPOINTS", "load_checkpoint", "newest_checkpoint", "net_of", "net_mismatch", "set_aside", "trim_metrics"]

CHECKPOINTS = "checkpoints"
#: The key of a checkpoint that says what it holds: {"net": NetConfig fields, "dataset": name}.
RECORD = "study"


def load_checkpoint(path: Path) -> tuple[dict | None, str | None]:
    """(the checkpoint, None) or (None, why it cannot be used). Loaded with weights_only=True: a
    checkpoint from someone else that holds anything but tensors and plain values is refused,
    never run."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "global" not in str(err).lower():
            return None, "it cannot be read (not a checkpoint, or damaged)"
        # torch's message would advise weights_only=False, which runs whatever the file holds.
        return None, (
            "it holds Python objects besides tensors and plain values, which could run code when loaded, so it "
            "is not loaded; use only checkpoints written by this harness, or retrain"
        )
    except Exception as err:  # truncated or foreign files are reported, not trusted
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        return None, f"it cannot be read ({type(err).__name__}{': ' + reason if reason else ''})"
    step = checkpoint.get("global_step") if isinstance(checkpoint, dict) else None
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return None, f"it has no step count (global_step is {step!r}): it is not a checkpoint of a run"
    return checkpoint, None


def checkpoint_step(path: Path) -> tuple[int | None, str | None]:
    """(the global step stored in a checkpoint, None) or (None, why it cannot be used)."""
    checkpoint, why = load_checkpoint(path)
    return (None, why) if checkpoint is None else (int(checkpoint["global_step"]), None)


def newest_checkpoint(run_dir: Path) -> tuple[tuple[Path, int] | None, list[str]]:
    """(the valid checkpoint with the highest step, or None; why each other one was refused).
    A truncated last.ckpt falls back to previous.ckpt."""
    valid, refused = [], []
    for path in sorted((Path(run_dir) / CHECKPOINTS).glob("*.ckpt")):
        step, why = checkpoint_step(path)
        if step is None:
            refused.append(f"{path.name}: {why}")
        else:
            valid.append((path, step))
    return (max(valid, key=lambda ps: ps[1]) if valid else None), refused


def set_aside(run_dir: Path, reason: str) -> Path:
    """Move a run's history (metrics.csv, checkpoints) into a folder whose name says why, so a
    restarted run's files stay consistent and nothing of the old one is lost."""
    aside = Path(run_dir) / f"set-aside-{time.strftime('%Y%m%d-%H%M%S')}-{reason}"
    aside.mkdir(parents=True)
    for name in ("metrics.csv", "diagnostics.csv", CHECKPOINTS):
        if (Path(run_dir) / name).exists():
            (Path(run_dir) / name).replace(aside / name)
    return aside


def trim_metrics(run_dir: Path, up_to_step: int) -> None:
    """Drop metrics.csv rows logged after `up_to_step`: the resumed run logs them again. A
    ValueError names a row whose step is not a step number (the file was changed by hand)."""

    def keep(row: dict) -> bool:
        step = row.get("step")
        if not step:
            return False
        try:
            return int(float(step)) <= up_to_step
        except (ValueError, OverflowError):
            raise ValueError(f"metrics.csv has a row with step {step!r}, not a step number") from None

    trim_rows(Path(run_dir) / "metrics.csv", keep)


def net_of(checkpoint: dict) -> NetConfig | None:
    """The net a checkpoint says it holds; None for a checkpoint from before checkpoints said so.
    A ValueError names what in the record cannot build a net."""
    record = checkpoint.get(RECORD)
    if record is None:
        return None
    if not isinstance(record, dict):
        raise ValueError(f"its '{RECORD}' record is a {type(record).__name__}, not a mapping")
    return NetConfig.from_dict(record.get("net"))


def net_mismatch(checkpoint: dict, expected: NetConfig) -> str | None:
    """Why a checkpoint does not hold the net `expected` describes, naming both; None if it does
    (or cannot say: older checkpoints then fail, if at all, on their weights' names and shapes)."""
    try:
        held = net_of(checkpoint)
    except ValueError as err:
        return f"it does not say which net it holds ({err})"
    if held is None or held == expected:
        return None
    differ = [
        f"{k} {getattr(held, k)!r} (the run's: {getattr(expected, k)!r})"
        for k in (f.name for f in fields(NetConfig))
        if getattr(held, k) != getattr(expected, k)
    ]
    return f"it holds a {held.describe()}, the run is a {expected.describe()}: {', '.join(differ)}"
