"""A run's checkpoints: `checkpoints/last.ckpt` and the one before it, `previous.ckpt`.

Loaded with weights_only=True: a checkpoint from someone else that holds anything but tensors
and plain values is refused, never run. Each checkpoint records the net it holds (`net`: a
NetConfig as a dict) and the dataset, so it can be evaluated alone and is refused where it does
not match the run it is found in; checkpoints from before that record load as they did.
"""

import os
import pickle
import time
from dataclasses import fields
from pathlib import Path
from typing import NamedTuple

from study.fileio import UnsafeFile, load_tensors, trim_rows
from study.nets import NetConfig

__all__ = [
    "CHECKPOINTS",
    "NAMES",
    "size_limit",
    "load_checkpoint",
    "weights_mismatch",
    "setting_of",
    "setting_changes",
    "Found",
    "newest_checkpoint",
    "made_record",
    "net_of",
    "net_mismatch",
    "set_aside",
    "trim_metrics",
]

CHECKPOINTS = "checkpoints"
#: The checkpoints a run writes, newest first; nothing else in checkpoints/ is ever loaded.
NAMES = ("last.ckpt", "previous.ckpt")
#: The key of a checkpoint that says what it holds: {"net": NetConfig fields, "dataset": name}.
RECORD = "study"


def size_limit(params: int) -> int:
    """The most bytes a checkpoint of a net with `params` parameters can hold: its weights and SGD
    momentum in fp32, with room for buffers, and a few MB for the rest of the trainer's state."""
    return 3 * 4 * params + 8 * 2**20


def load_checkpoint(path: Path, max_bytes: int | None = None) -> tuple[dict | None, str | None]:
    """(the checkpoint, None) or (None, why it cannot be used). Loaded with weights_only=True: a
    checkpoint from someone else that holds anything but tensors and plain values is refused,
    never run; one that is no plain file, larger than `max_bytes` (study.runs.checkpoints.size_limit
    of the run's net) or compressed is refused before it is inflated."""
    try:
        checkpoint = load_tensors(path, max_bytes)
    except UnsafeFile as err:
        return None, str(err).removeprefix(f"{path} ")
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


class Found(NamedTuple):
    """A run's checkpoint as loaded: where, at which step, and what it holds."""

    path: Path
    step: int
    checkpoint: dict


def newest_checkpoint(run_dir: Path, max_bytes: int | None = None) -> tuple[Found | None, list[str]]:
    """(the valid checkpoint of the run with the highest step, or None; why each other one was
    refused). A truncated last.ckpt falls back to previous.ckpt; only those two names are read."""
    valid, refused = [], []
    for path in (Path(run_dir) / CHECKPOINTS / name for name in NAMES):
        if not os.path.lexists(path):
            continue
        checkpoint, why = load_checkpoint(path, max_bytes)
        if checkpoint is None:
            refused.append(f"{path.name}: {why}")
        else:
            valid.append(Found(path, int(checkpoint["global_step"]), checkpoint))
    return (max(valid, key=lambda found: found.step) if valid else None), refused


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


def weights_mismatch(checkpoint: dict, expected: dict) -> str | None:
    """Why a checkpoint's weights do not fit the run's net (`expected`: the module's state_dict),
    naming the first that differs; None if every weight of the net is there with its shape. For
    checkpoints from before they recorded their net, this is what tells another depth apart."""
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        return "it holds no weights (state_dict)"
    for key, tensor in expected.items():
        if not key.startswith("net."):
            continue
        held = state.get(key)
        if not hasattr(held, "shape"):
            return f"it has no weight {key}, which the run's net has"
        if tuple(held.shape) != tuple(tensor.shape):
            return f"its {key} is {tuple(held.shape)}, the run's net has {tuple(tensor.shape)}"
    extra = [str(key) for key in state if str(key).startswith("net.") and key not in expected]
    if extra:
        return f"it holds {len(extra)} weights the run's net lacks ({', '.join(extra[:3])})"
    return None


def made_record(source: dict, device_type: str, precision: str) -> dict:
    """What a run's steps are trained with and a resume must train with too: the data copy (its
    content fingerprint and folder, from the data's `source`), the kind of device and precision.
    Checkpoints keep it as `made`; `setting_of` reads it back."""
    return {
        "data": source.get("content"),
        "folder": source.get("folder"),
        "device": device_type,
        "precision": str(precision),
    }


def setting_of(checkpoint: dict, previous: dict | None) -> dict:
    """The data copy (content fingerprint and folder), kind of device and precision that a run's
    steps so far were trained with: from its checkpoint's record, or, for a checkpoint from before
    it said so, from the run's last summary (`previous`). A value nothing recorded is None."""
    record = checkpoint.get(RECORD)
    made = record.get("made") if isinstance(record, dict) else None
    if isinstance(made, dict):
        return {key: made.get(key) for key in ("data", "folder", "device", "precision")}
    previous = previous if isinstance(previous, dict) else {}
    data = previous.get("data") if isinstance(previous.get("data"), dict) else {}
    made_by = previous.get("provenance") if isinstance(previous.get("provenance"), dict) else {}
    device = made_by.get("device_type")
    if device is None and isinstance(made_by.get("device"), str):
        device = "cuda" if made_by["device"].endswith("(GPU)") else "cpu"
    return {
        "data": data.get("content"),
        "folder": data.get("folder"),
        "device": device,
        "precision": made_by.get("precision"),
    }


def setting_changes(before: dict, now: dict) -> list[str]:
    """What differs between the setting a run trained in so far and the one it would resume in:
    the steps of one run share one data copy, one kind of device and one precision."""
    changes = []
    if before.get("data") is not None and before["data"] != now["data"]:
        changes.append(
            f"it trained on the data copy {before['data']} (in {before.get('folder')}) and would resume on "
            f"{now['data']} (in {now['folder']})"
        )
    for key, what in (("device", "a device of kind"), ("precision", "precision")):
        if before.get(key) is not None and before[key] != now[key]:
            changes.append(f"it trained on {what} {before[key]!r} and would resume on {now[key]!r}")
    return changes
