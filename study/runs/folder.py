"""Whose a run folder is: the checks made before a run writes anything into one. A folder is
trained into only when it is empty or holds this harness's run of the same config, and nothing a
run reads or rewrites there may lead out of it or be anything but a plain file."""

from pathlib import Path

from omegaconf import DictConfig

from study.fileio import UnsafeFile, bounded_yaml_text, inside
from study.runs import summary
from study.runs.checkpoints import CHECKPOINTS
from study.runs.identity import identity_differences
from study.runs.layout import CONFIG, DIAGNOSTICS, METRICS, RESPONSES, TRAIN_LOG
from study.runs.lock import LOCK
from study.runs.summary import SUMMARY


class RunFolderError(ValueError):
    """A folder a run may not train into, or cannot write to; the message says why and what to do."""


#: The files of a run folder that a run reads or rewrites.
RUN_FILES = (CONFIG, SUMMARY, METRICS, DIAGNOSTICS, RESPONSES, TRAIN_LOG)
#: What Hydra and a run of this harness write into a run folder.
RUN_FOLDER_ENTRIES = {*RUN_FILES, ".hydra", CHECKPOINTS, LOCK, "tensorboard", "wandb", ".write-probe"}
RUN_FOLDER_PREFIXES = ("set-aside-", "run.lock.stale-", ".config.yaml.", ".summary.json.", ".metrics.csv.")


def check_ours(run_dir: Path) -> None:
    """Refuse a folder that is not empty and holds no run of this harness (someone's own files),
    before anything in it changes."""
    run_dir = Path(run_dir)
    if run_dir.is_symlink() or (run_dir.exists() and not run_dir.is_dir()):
        raise RunFolderError(
            f"{run_dir} is not a folder of its own (a file or a link): nothing was changed; "
            "choose another folder with hydra.run.dir=..., or leave it out and the run gets its own"
        )
    if not run_dir.is_dir():
        return
    try:  # nothing a run reads or rewrites may lead out of its folder, or be a device or FIFO
        for name in RUN_FILES:
            inside(run_dir, name)
        ckpts = run_dir / "checkpoints"
        if ckpts.is_symlink():
            raise UnsafeFile("checkpoints/ is a link")
        for ckpt in sorted(ckpts.glob("*.ckpt")) if ckpts.is_dir() else []:
            inside(run_dir, f"checkpoints/{ckpt.name}")
    except UnsafeFile as err:
        raise RunFolderError(
            f"{run_dir}: {err}, which a run never writes; nothing was changed there. Replace it with the run's own "
            "file, or train elsewhere (hydra.run.dir=...)"
        ) from None
    if (run_dir / "config.yaml").is_file() or (run_dir / "summary.json").is_file():
        return
    stray = sorted(
        p.name
        for p in run_dir.iterdir()
        if p.name not in RUN_FOLDER_ENTRIES and not p.name.startswith(RUN_FOLDER_PREFIXES)
    )
    if stray:
        shown = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        raise RunFolderError(
            f"{run_dir} holds files that are not a run of this harness ({shown}); nothing was changed there. "
            "Choose an empty folder with hydra.run.dir=..., or leave it out and the run gets its own"
        )


def check_same_run(run_dir: Path, cfg: DictConfig) -> None:
    """Refuse to train into a folder that is someone else's, or that holds a run of another config,
    or whose summary cannot be read."""
    try:
        check_ours(run_dir)
        if not (summary.read(run_dir) or {}).get("config") and (run_dir / CONFIG).is_file():
            bounded_yaml_text(run_dir / CONFIG)  # the run's config, from config.yaml alone: within bounds
    except OSError as err:  # a name too long for the file system, a folder we may not read
        raise RunFolderError(
            f"cannot write to the output folder {run_dir} ({err.strerror or err}): "
            "choose another with runs_root=DIR (or hydra.run.dir=DIR)"
        ) from None
    except ValueError as err:
        raise RunFolderError(
            f"{err}: the run in {run_dir} cannot be judged, so nothing was changed there. Move the folder aside "
            "(or the damaged file out of it) and run again"
        ) from None
    differences = identity_differences(run_dir, cfg)
    if differences:
        raise RunFolderError(
            f"{run_dir} holds another run ({'; '.join(differences)}); nothing was changed there. "
            "Choose another folder (hydra.run.dir=...), or leave it out and the run gets its own"
        )


def check_writable(folder: Path) -> None:
    """Create `folder` and write a probe file into it, so an unwritable place is said before training."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise RunFolderError(
            f"cannot write to the output folder {folder} ({err.strerror or err}): "
            "choose another with runs_root=DIR (or hydra.run.dir=DIR)"
        ) from None


def run_of(path: Path) -> Path | None:
    """The run folder `path` is, or lies in (where a link leads), if any: a folder with a run's
    summary.json, or its config.yaml beside its metrics, log or checkpoints."""
    path = Path(path).resolve()
    for folder in (path, *path.parents):
        if (folder / SUMMARY).is_file() or (
            (folder / CONFIG).is_file() and any((folder / n).exists() for n in (METRICS, TRAIN_LOG, CHECKPOINTS))
        ):
            return folder
    return None


def check_output(path: Path, flag: str) -> None:
    """Refuse an output (a file, or a folder to write into) that is a run's folder or lies in one:
    a command's output never replaces what a run wrote."""
    run = run_of(path)
    if run is not None:
        raise RunFolderError(
            f"{flag} {path} is {'the run folder' if run == Path(path).resolve() else 'inside the run folder'} {run}; "
            "a run's files are its own: write elsewhere"
        )
