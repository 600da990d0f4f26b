"""Hydra callbacks for `study.train`: refuse bad input before Hydra creates any folder, and show a
sweep's progress (runs done, skipped, failed, which one is running).

Each finished job appends one line to RUN_ROOT/sweeps/<experiment_name>.progress.jsonl, so the
count is right with parallel (joblib) and cluster (submitit) launchers alike.
"""

import json
import sys
from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from study.fileio import UnsafeFile, inside
from study.runs.folder import RunFolderError, check_runs_root, check_same_run, check_writable
from study.runs.identity import run_label
from study.training.config import ConfigError, validate
from study.training.pool import PoolStop, pool_size


def sweep_jobs(config: DictConfig) -> list[list[str]]:
    """Each job's overrides, as the basic sweeper makes them from the experiment's params and the
    command line."""
    params = {str(k): str(v) for k, v in (config.hydra.sweeper.get("params") or {}).items()}
    for override in config.hydra.overrides.task:
        key, _, value = override.partition("=")
        params[key] = value
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    (jobs,) = BasicSweeper.split_arguments(parsed, None)
    return jobs


def check_jobs(config: DictConfig, jobs: list[list[str]]) -> None:
    """Compose and validate every job of the sweep before Hydra makes any job's folder: a job that
    cannot run (a combination of choices with no meaning) stops the whole sweep, having written
    nothing."""
    loader = GlobalHydra.instance().hydra.config_loader
    for job in jobs:
        try:
            validate(loader.load_sweep_config(config, list(job)))
        except ConfigError as err:
            refuse(f"{err} (in the sweep's job {' '.join(job)}); nothing was run")


def progress_file(config: DictConfig) -> Path:
    return Path(config.runs_root) / "sweeps" / f"{config.experiment_name}.progress.jsonl"


def refuse(err: Exception) -> None:
    print(f"error: {err}", file=sys.stderr)
    raise SystemExit(2)


class SweepProgress(Callback):
    def __init__(self):
        self.pool_stop: PoolStop | None = None  # the sweep's process, while its workers train

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        try:
            validate(config)
            check_same_run(Path(str(config.hydra.run.dir)), config)
            check_writable(Path(str(config.hydra.run.dir)))
        except (ConfigError, RunFolderError) as err:
            refuse(err)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        jobs = sweep_jobs(config)
        check_jobs(config, jobs)
        try:
            check_writable(progress_file(config).parent)
            # what this sweep (and Hydra, before its jobs) writes into the runs folder: never through a link
            inside(progress_file(config).parent, progress_file(config).name)
            inside(Path(config.runs_root), "multirun.yaml")
            check_runs_root(Path(config.runs_root))
        except UnsafeFile as err:
            refuse(f"{err}; a sweep never writes through it. Nothing was changed: remove it, or sweep elsewhere")
        except RunFolderError as err:
            refuse(err)
        total = len(jobs)
        progress_file(config).write_text(json.dumps({"total": total}) + "\n")
        print(f"[sweep {config.experiment_name}] {total} runs")
        if pool_size(config.hydra) > 1:
            self.pool_stop = PoolStop(config.experiment_name)
            self.pool_stop.install()

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if self.pool_stop:
            self.pool_stop.exit_if_stopped()

    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        if HydraConfig.get().mode.name == "MULTIRUN":
            print(
                f"[sweep {config.experiment_name}] running {run_label(config)}: {HydraConfig.get().runtime.output_dir}"
            )

    def on_job_end(self, config: DictConfig, job_return, **kwargs) -> None:
        if HydraConfig.get().mode.name != "MULTIRUN":
            return
        status = job_return.return_value if job_return.status == JobStatus.COMPLETED else "failed"
        path = progress_file(config)
        with open(path, "a") as f:
            f.write(json.dumps({"run": run_label(config), "status": status}) + "\n")
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        total = next((line["total"] for line in lines if "total" in line), "?")
        done = [line["status"] for line in lines if "status" in line]
        tally = ", ".join(f"{done.count(s)} {s}" for s in sorted(set(done)))
        print(
            f"[sweep {config.experiment_name}] {len(done)}/{total} runs finished ({tally}); "
            f"{run_label(config)}: {status}"
        )
