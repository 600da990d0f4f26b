"""Whose a run folder is: the checks made before a run writes anything into one. A folder is
trained into only when it is empty or holds this harness's run of the same config, and nothing a
run reads or rewrites there may lead out of it or be anything but a plain file."""

import tempfile
from pathlib import Path

from omegaconf import DictConfig

from study.fileio import UnsafeFile, bounded_yaml_text, inside
from study.runs import summary
from study.runs.checkpoints import CHECKPOINTS, NAMES
from study.runs.identity import identity_differences
from study.runs.layout import CONFIG, DIAGNOSTICS, METRICS, RESPONSES, TRAIN_LOG
from study.runs.lock import LOCK
from study.runs.summary import SUMMARY


class RunFolderError(ValueError):
    """A folder a run may not train into, or cannot write to; the message says why and what to do."""


#: The files of a run folder that a run reads or rewrites.
RUN_FILES = (CONFIG, SUMMARY, METRICS, DIAGNOSTICS, RESPONSES, TRAIN_LOG)
#: The folders in a run folder that a run, Lightning or Hydra writes into.
WRITTEN_FOLDERS = (".hydra", CHECKPOINTS, "tensorboard", "wandb")
#: Every file written into a run folder: by the run, by Lightning (hparams.yaml) and by Hydra
#: (.hydra/, and train.log, which its logging opens before the run starts).
WRITTEN_FILES = (
    *RUN_FILES,
    "hparams.yaml",
    *(f".hydra/{name}" for name in ("config.yaml", "hydra.yaml", "overrides.yaml")),
    *(f"{CHECKPOINTS}/{name}" for name in (*NAMES, "last.ckpt.tmp")),
)
#: What a folder may hold besides a run's config.yaml or summary.json and still pass for one
#: (Hydra's .hydra/ comes first; Lightning's hparams.yaml only with the run's own files).
RUN_FOLDER_ENTRIES = {*RUN_FILES, *WRITTEN_FOLDERS, LOCK}
RUN_FOLDER_PREFIXES = (
    "set-aside-",
    "run.lock.stale-",
    ".config.yaml.",
    ".summary.json.",
    ".metrics.csv.",
    ".write-probe",  # check_writable's, left by a process killed in between
)


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
    try:
        check_no_links(run_dir)
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


def check_no_links(run_dir: Path) -> None:
    """UnsafeFile if anything a run, Lightning or Hydra writes into `run_dir` is a link out of it
    or not a plain file (or folder): writing would follow it to someone else's file, or hang on a FIFO."""
    for name in WRITTEN_FOLDERS:
        folder = run_dir / name
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise UnsafeFile(f"{name}/ is a link or not a folder")
    for name in WRITTEN_FILES:
        inside(run_dir, name)


#: How deep run folders lie under runs_root: dataset/net/seed-hash (study.runs.identity.run_id).
RUN_DEPTH = 3


def check_runs_root(runs_root: Path) -> None:
    """Refuse a runs folder in which a sweep would write through a link: a link in place of one of
    its folders, or in any run folder a file that check_no_links refuses. Checked before a sweep
    starts, since Hydra writes each job's .hydra/ and opens its train.log before the job runs."""
    level = [Path(runs_root)] if Path(runs_root).is_dir() else []
    for _ in range(RUN_DEPTH):
        below = []
        for folder in level:
            for entry in sorted(folder.iterdir()):
                if entry.is_symlink() and entry.is_dir():
                    raise RunFolderError(
                        f"{entry} is a link to a folder; a sweep never writes through one. Nothing was changed: "
                        "replace it with a folder of its own, or sweep elsewhere (runs_root=...)"
                    )
                if entry.is_dir() and not entry.name.startswith("."):
                    below.append(entry)
        level = below
    for run_dir in level:
        try:
            check_no_links(run_dir)
        except UnsafeFile as err:
            raise RunFolderError(
                f"{run_dir}: {err}; a sweep never writes through it. Nothing was changed: remove it, or sweep "
                "elsewhere (runs_root=...)"
            ) from None


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
    """Create `folder` and write a probe file into it, so an unwritable place is said before training.
    The probe's name is its own, so two processes probing one folder at once never remove each
    other's."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-") as probe:
            probe.write(b"ok")
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
