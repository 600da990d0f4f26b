"""What a run leaves on disk, and how it is found again.

    RUN_ROOT/<dataset>/<arch><depth>[-<shortcut>]/seed<seed>-<hash>/
        config.yaml            the resolved config
        metrics.csv            step, train_error, lr, val_error, test_error (percent)
        layer_responses.csv    Figure 7's per-layer response std, written at the end
        checkpoints/last.ckpt  (and previous.ckpt, the one before it)
        summary.json           status: completed | interrupted | diverged | failed

The folder is a pure function of the config (`run_id`), so a rerun of the same command finds,
skips or resumes its run, and a run shared by two experiments is trained once. Files that a
later run trusts are written atomically (temporary file, then rename).
"""

import contextlib
import csv
import functools
import hashlib
import io
import json
import math
import os
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

SUMMARY = "summary.json"
CHECKPOINTS = "checkpoints"

#: Keys that say where data and logs live or how a run is watched, not what is trained: runs that
#: differ only in these share one folder.
NOT_IDENTITY = (
    "runs_root",
    "experiment_name",
    "table6_run",
    "data.root",
    "data.download",
    "data.eval_batch_size",
    "data.verify_checksums",
    "data.expected_counts",
    "logger",
    "checkpoint_every",
    "model.compile",
    "model.max_depth",
    "trainer.accelerator",
    "trainer.enable_progress_bar",
    "trainer._target_",
    "trainer.benchmark",
    "trainer.log_every_n_steps",
    "trainer.enable_model_summary",
    "trainer.profiler",
    "diag_every",
)

#: Keys that came after runs were made, with their defaults: at its default such a key is left out
#: of a run's identity, so the folders of runs made before it existed keep their names.
ADDED_KEYS = {"data.eval_subset": None}

#: Trainer keys the harness gives its own meaning (precision null: bf16 on a GPU, else 32-true;
#: benchmark null: on with a GPU unless deterministic). Every other `trainer.X` goes to
#: `lightning.Trainer` as given, and counts in a run's identity only where it differs from
#: Lightning's default: spelling out a default changes nothing that is trained.
TRAINER_HARNESS_KEYS = (
    "max_steps",
    "accelerator",
    "devices",
    "strategy",
    "precision",
    "deterministic",
    "enable_progress_bar",
    "benchmark",
)

#: Trainer arguments the harness sets itself; a config that sets them is refused (with the key
#: that does the job instead).
TRAINER_SET_BY_HARNESS = {
    "logger": "choose loggers with logger=csv|tensorboard|wandb or logger=[tensorboard,wandb]",
    "callbacks": "the run's callbacks are fixed (study/callbacks.py)",
    "enable_checkpointing": "checkpoints are taken every checkpoint_every steps",
    "default_root_dir": "the run folder is set by runs_root or hydra.run.dir",
    "max_epochs": "a run's length is trainer.max_steps",
    "min_epochs": "a run's length is trainer.max_steps",
    "min_steps": "a run's length is trainer.max_steps",
    "limit_val_batches": "validation and test errors are measured every eval_every steps",
    "val_check_interval": "validation and test errors are measured every eval_every steps",
    "check_val_every_n_epoch": "validation and test errors are measured every eval_every steps",
    "num_sanity_val_steps": "there is no sanity validation",
    "use_distributed_sampler": "the data stream shards itself",
}


@functools.cache
def trainer_defaults() -> dict:
    """lightning.Trainer's arguments and their defaults (read once: identity() asks for every run)."""
    import inspect

    import lightning

    return {
        name: p.default
        for name, p in inspect.signature(lightning.Trainer.__init__).parameters.items()
        if name != "self"
    }


#: Keys of a run's identity that vary inside one study (its figures and tables span them).
WITHIN_STUDY = ("seed", "model.arch", "model.depth")


def _drop(plain: dict, keys) -> dict:
    for key in keys:
        *parents, leaf = key.split(".")
        node = plain
        for p in parents:
            node = node.get(p, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return plain


def identity(cfg: DictConfig | dict) -> dict:
    """What a run trains: its resolved config without the keys of NOT_IDENTITY."""
    if isinstance(cfg, dict):
        plain = json.loads(json.dumps(cfg))
        plain.pop("hydra", None)
    else:  # Hydra's own section is not resolvable before a job runs, and names no training choice
        plain = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    for key, default in ADDED_KEYS.items():
        section, leaf = key.split(".")
        if isinstance(plain.get(section), dict) and plain[section].get(leaf, default) == default:
            plain[section].pop(leaf, None)
    trainer = plain.get("trainer")
    if isinstance(trainer, dict):
        defaults = trainer_defaults()
        for key in [k for k in trainer if k not in TRAINER_HARNESS_KEYS and k in defaults]:
            if trainer[key] == defaults[key]:
                del trainer[key]
    return _drop(plain, NOT_IDENTITY)


def study_identity(config: dict) -> dict:
    """What a run's study shares: its identity without seed, arch and depth. Runs pool into one row
    of a table only when this, their arch and depth, and their data copy are equal."""
    return _drop(identity(config), WITHIN_STUDY)


def study_of(summary: dict, data: dict) -> tuple[str, dict]:
    """(id, what is shared) of the study a run belongs to: its run identity without seed, arch and
    depth (study_identity, the same keys that name its folder), and the copy of the
    data it was trained on. Runs of different studies are never pooled."""
    config = summary.get("config") if isinstance(summary.get("config"), dict) else {}
    precision = (summary.get("provenance") or {}).get("precision")  # the effective one: null in a config means auto
    shared = {
        "dataset": summary.get("dataset"),
        "config": {**study_identity(config), "precision": precision},
        "data": {
            k: data.get(k) for k in ("layout", "image_format", "content", "reencoded", "checksums_verified", "folder")
        },
    }
    key = json.dumps([shared["dataset"], shared["config"], shared["data"]["content"]], sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:8], shared


def flat_items(tree, prefix: str = "") -> dict:
    if not isinstance(tree, dict):
        return {prefix.rstrip("."): tree}
    out = {}
    for key, value in tree.items():
        out.update(flat_items(value, f"{prefix}{key}."))
    return out


def stored_config(run_dir: Path) -> dict | None:
    """The config a run folder was made with (summary.json's, else config.yaml), or None."""
    try:
        summary = read_summary(run_dir)
    except ValueError:
        summary = None
    if summary and isinstance(summary.get("config"), dict):
        return summary["config"]
    path = Path(run_dir) / "config.yaml"
    if path.is_file():
        try:
            loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
            return loaded if isinstance(loaded, dict) else None
        except Exception:
            return None
    return None


def identity_differences(run_dir: Path, cfg: DictConfig | dict) -> list[str]:
    """'key: folder has X, this config Y' for each key of a run's identity on which the run stored
    in `run_dir` differs from `cfg` (none when the folder holds no run)."""
    stored = stored_config(run_dir)
    if stored is None:
        return []
    before, now = flat_items(identity(stored)), flat_items(identity(cfg))
    return [
        f"{key}: the folder has {before.get(key, '(unset)')!r}, this config {now.get(key, '(unset)')!r}"
        for key in sorted(set(before) | set(now))
        if before.get(key) != now.get(key)
    ]


def run_id(cfg: DictConfig) -> str:
    digest = hashlib.sha256(json.dumps(identity(cfg), sort_keys=True).encode()).hexdigest()[:10]
    m = cfg.model
    shortcut = f"-{m.shortcut}" if m.arch == "resnet" and m.shortcut != "A" else ""
    return f"{cfg.data.name}/{m.arch}{m.depth}{shortcut}/seed{cfg.seed}-{digest}"


def register_configs() -> None:
    """`${run_id:}` in conf/train.yaml: the run folder of the config it is resolved in; and, for
    conf/hydra/launcher/slurm.yaml, `${gpus_or_null:N}` (no GPU request on a CPU-only partition)
    and `${at_least_one:N}` (one task per GPU, one task without GPUs)."""
    resolvers = {
        "run_id": lambda *, _root_: run_id(_root_),
        "gpus_or_null": lambda n: int(n) or None,
        "at_least_one": lambda n: max(1, int(n)),
    }
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)


@contextlib.contextmanager
def atomic_output(path: Path):
    """Yields a temporary path beside `path`; renames it onto `path` once the block succeeds, so a
    crash never leaves a half-written file that a later run trusts."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the run's files are as readable as any
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def finite(value):
    """`value` with every non-finite float replaced by None: strict JSON has no NaN or Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_summary(run_dir: Path, summary: dict) -> None:
    atomic_write_text(Path(run_dir) / SUMMARY, json.dumps(finite(summary), indent=2, allow_nan=False) + "\n")


def read_summary(run_dir: Path) -> dict | None:
    """The run's summary, or None if it has none. A summary that does not parse raises ValueError."""
    path = Path(run_dir) / SUMMARY
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(summary, dict) or "status" not in summary:
        raise ValueError(f"{path} has no 'status' field")
    return summary


def code_version() -> dict:
    """The git commit of this checkout and whether its tracked files had changes; outside git, the
    installed package's version."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=repo,
                capture_output=True,
                text=True,
                timeout=10,
            )
            return {"commit": commit.stdout.strip(), "changed": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return {"package": version("study")}
    except PackageNotFoundError:
        return {"package": None}


def provenance(device: "torch.device", precision: str, code: dict | None = None) -> dict:
    """What made a run, beside its config and data: code, libraries, hardware, precision."""
    import platform

    import lightning
    import torchvision

    if device.type == "cuda":
        hardware = f"{torch.cuda.get_device_name(device)} (GPU)"
    else:
        model = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), None)
        hardware = f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores (CPU)"
    return {
        "code": code or code_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lightning": lightning.__version__,
        "python": platform.python_version(),
        "device": hardware,
        "threads": torch.get_num_threads(),
        "precision": precision,
    }


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


STATUSES = ("completed", "interrupted", "diverged", "failed")


def summary_problems(summary: dict) -> list[str]:
    """What makes a summary unusable by a report: each field checked by type and allowed values,
    since a run folder may come from anyone. Empty when every field is sound."""
    from study.checks import ARCHS
    from study.datasets import DATASETS
    from study.models import SHORTCUTS, blocks_per_stage

    def whole(value, low=0):
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    def number(value, low=0.0, high=math.inf):
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and low <= value <= high
        )

    problems = []
    checks = {
        "status": summary.get("status") in STATUSES,
        "arch": summary.get("arch") in ARCHS,
        "shortcut": summary.get("shortcut") in SHORTCUTS,
        "dataset": summary.get("dataset") in DATASETS,
        "seed": whole(summary.get("seed")),
        "steps": summary.get("steps") is None or whole(summary.get("steps")),
        "params": summary.get("params") is None or whole(summary.get("params"), 1),
        "wall_time_s": summary.get("wall_time_s") is None or number(summary.get("wall_time_s")),
    }
    try:
        checks["depth"] = whole(summary.get("depth"), 8) and blocks_per_stage(summary["depth"]) > 0
    except ValueError:
        checks["depth"] = False
    for split in ("train", "val", "test"):
        value = summary.get(f"final_{split}_error")
        checks[f"final_{split}_error"] = value is None or number(value, 0.0, 100.0)
    for key in ("config", "data", "provenance"):
        checks[key] = summary.get(key) is None or isinstance(summary.get(key), dict)
    for key, ok in checks.items():
        if not ok:
            value = repr(summary.get(key))
            problems.append(f"{key} is {value[:60] + '...' if len(value) > 60 else value}")
    return problems


def load_checkpoint(path: Path) -> tuple[dict | None, str | None]:
    """(the checkpoint, None) or (None, why it cannot be used). Loaded with weights_only=True: a
    checkpoint from someone else that holds anything but tensors and plain values is refused,
    never run."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        int(checkpoint["global_step"])
        return checkpoint, None
    except Exception as err:  # truncated, foreign or unsafe files are reported, not trusted
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        return None, f"{type(err).__name__}{': ' + reason if reason else ''}"


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
    """Drop metrics.csv rows logged after `up_to_step`: the resumed run logs them again."""
    trim_rows(Path(run_dir) / "metrics.csv", lambda r: bool(r.get("step")) and int(float(r["step"])) <= up_to_step)


def trim_rows(path: Path, keep) -> None:
    """Rewrite one of a run's CSV files with only the rows for which `keep(row)` is true."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames or [], [r for r in reader if keep(r)]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields)  # same line ends as Lightning writes
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, out.getvalue())


LOCK = "run.lock"
LOCK_REFRESH_S = 60  # how often the training process touches its lock
LOCK_STALE_AFTER_S = 900  # a lock untouched this long, held on another host, is taken over


def _this_process() -> dict:
    import socket

    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "job": os.environ.get("SLURM_JOB_ID"),
        "since": round(time.time(), 3),
    }


def _read_lock(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text())
        return holder if isinstance(holder, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError):
        return {}  # unreadable: judged by its age alone


def lock_is_live(path: Path, holder: dict) -> bool:
    """Whether the process named in a lock may still be training: on this host, its pid is alive;
    elsewhere (shared storage spans hosts), the lock was touched within LOCK_STALE_AFTER_S. A
    requeued SLURM job takes over the lock of its own earlier incarnation."""
    me = _this_process()
    if me["job"] and holder.get("job") == me["job"] and holder.get("pid") != me["pid"]:
        return False
    if holder.get("host") == me["host"] and isinstance(holder.get("pid"), int):
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        return time.time() - path.stat().st_mtime < LOCK_STALE_AFTER_S
    except FileNotFoundError:
        return False


def describe_holder(holder: dict) -> str:
    job = f" (job {holder['job']})" if holder.get("job") else ""
    return f"{holder.get('host', '?')} pid {holder.get('pid', '?')}{job}"


def lock_holder(run_dir: Path) -> dict | None:
    """The live holder of a run's lock (someone is training it now), or None."""
    path = Path(run_dir) / LOCK
    holder = _read_lock(path)
    return holder if holder is not None and lock_is_live(path, holder) else None


class RunLock:
    """An exclusive claim on a run folder while a process trains it: `run.lock`, created
    atomically (O_EXCL) with this host, pid and SLURM job id, touched every LOCK_REFRESH_S, removed
    on release, and taken over when its holder is gone (see lock_is_live)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self.mine = _this_process()
        self.touched = 0.0

    def acquire(self) -> dict | None:
        """None when the lock is now ours; else the live holder's record."""
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _read_lock(self.path)
                if holder is None:
                    continue  # released meanwhile
                if lock_is_live(self.path, holder):
                    return holder
                self._take_over(holder)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(self.mine, f)
            self.touched = time.time()
            return None
        holder = _read_lock(self.path)
        return holder or {"host": "?", "pid": "?"}

    def _take_over(self, stale: dict) -> None:
        # Move the stale lock aside under a name of our own: of two processes taking over at once
        # only one rename succeeds. If what we moved is not the lock we judged (another process
        # took over first and wrote its own), it goes back.
        aside = self.path.with_name(f"{LOCK}.stale-{self.mine['host']}-{self.mine['pid']}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        if _read_lock(aside) != stale and not self.path.exists():
            os.rename(aside, self.path)
        else:
            aside.unlink(missing_ok=True)

    def refresh(self) -> None:
        """Touch the lock (at most every LOCK_REFRESH_S), so other hosts see its holder alive."""
        if time.time() - self.touched >= LOCK_REFRESH_S:
            self.touched = time.time()
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self) -> None:
        if _read_lock(self.path) == self.mine:
            self.path.unlink(missing_ok=True)
