"""Where a run's numbers go: `metrics.csv` in the run folder always, plus the loggers chosen in
`conf/logger/` (`logger=tensorboard`, `logger=wandb`, `logger=[tensorboard,wandb]`), each built
from its `_target_` with the run's folder, name and study filled in here.

wandb runs are grouped by study (the report's notion: what its runs share besides seed, arch and
depth, and the data copy), so a run two sweeps share sits in one group, beside its figures.
"""

import csv
from pathlib import Path

from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from omegaconf import DictConfig, OmegaConf

WANDB_MODES = ("online", "offline", "disabled")


class _HistoryKeepingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        # Lightning deletes an existing metrics.csv in a reused folder; a resumed run appends to it.
        path = Path(self.metrics_file_path)
        if path.is_file():
            with open(path, newline="") as f:
                self.metrics_keys = list(csv.DictReader(f).fieldnames or [])


class RunCSVLogger(CSVLogger):
    """CSVLogger writing `metrics.csv` straight into the run folder and keeping its history."""

    def __init__(self, run_dir: Path):
        # Rows are written as they are logged (every log_every steps), so a crash loses none of them.
        super().__init__(save_dir=str(run_dir), name="", version="", flush_logs_every_n_steps=1)

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._experiment = _HistoryKeepingWriter(log_dir=self.log_dir)
        return self._experiment


def chosen(cfg: DictConfig) -> dict:
    """{name: spec} of the loggers besides metrics.csv that the config asks for."""
    return {name: spec for name, spec in (cfg.get("logger") or {}).items() if spec and "_target_" in spec}


def build_loggers(cfg: DictConfig, run_dir: Path, run_name: str, study: str, resolved: dict) -> list[Logger]:
    loggers: list[Logger] = [RunCSVLogger(run_dir)]
    for name, spec in chosen(cfg).items():
        args = {**OmegaConf.to_container(spec, resolve=True), "save_dir": str(run_dir)}
        if name == "wandb":
            args.update(name=run_name, id=run_name.replace("/", "-"), group=study, config=resolved)
        # not recursive: the run's config, passed whole, holds _target_ keys of its own
        loggers.append(instantiate(args, _recursive_=False, _convert_="all"))
    return loggers


def finish(loggers: list[Logger], status: str, final: dict) -> None:
    """The run's status and final errors into each wandb run's summary, and the run closed."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            run = logger.experiment
            run.summary.update({"status": status, **{k: v for k, v in final.items() if v is not None}})
            run.finish()


def check(cfg: DictConfig) -> list[str]:
    """What is wrong with the logger settings, before any data is read."""
    problems = []
    for name, spec in (cfg.get("logger") or {}).items():
        if name == "csv":
            continue
        if not spec or "_target_" not in spec:
            problems.append(
                f"logger.{name} has no _target_: choose loggers with logger=csv|tensorboard|wandb "
                "or logger=[tensorboard,wandb]"
            )
        elif name == "wandb" and OmegaConf.select(spec, "mode") not in WANDB_MODES:
            problems.append(
                f"logger.wandb.mode={OmegaConf.select(spec, 'mode')!r}: choose one of {', '.join(WANDB_MODES)}"
            )
    return problems
