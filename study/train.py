"""`python -m study.train`: one run of the paper's CIFAR recipe, end to end.

    python -m study.train model=plain model.depth=56 data.root=DIR trainer.max_steps=N seed=S
    python -m study.train -m experiment=fig6_plain          # a sweep (conf/experiment/)

A run lives in a folder that is a pure function of its config (study/runs.py). Running the same
command again skips a completed or diverged run, resumes an interrupted or failed one from its
newest valid checkpoint, and keeps metrics.csv's history.
"""

import csv
import math
import os
import signal
import sys
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from study import runs
from study.callbacks import ProgressLines, quiet_library_chatter
from study.checks import ConfigError, check_same_run, check_writable, validate
from study.data import ImageDataModule
from study.datasets import DataError, describe_source
from study.models import build_cifar_net, count_parameters
from study.module import CifarClassifier

DONE = ("completed", "diverged")  # statuses a rerun leaves alone: both are results

runs.register_configs()
quiet_library_chatter()


def share_cpu_cores() -> None:
    """With N runs at once on this machine (joblib launcher), give each 1/N of the cores: torch
    would otherwise start a thread per core in every run, and oversubscribed CPUs crawl."""
    n_jobs = OmegaConf.select(HydraConfig.get(), "launcher.n_jobs") if HydraConfig.initialized() else None
    if isinstance(n_jobs, int) and n_jobs > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // n_jobs))


def warmup_enabled(cfg: DictConfig) -> bool:
    return cfg.model.depth >= 110 if cfg.optim.warmup is None else bool(cfg.optim.warmup)


def default_precision(cfg: DictConfig) -> str:
    if cfg.trainer.precision is not None:
        return str(cfg.trainer.precision)
    return "bf16-mixed" if torch.cuda.is_available() and cfg.trainer.accelerator in ("auto", "gpu", "cuda") else "32-true"


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


def build_loggers(cfg: DictConfig, run_dir: Path) -> list:
    loggers = [RunCSVLogger(run_dir)]
    if cfg.logger.name == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=str(run_dir), name="", version="tensorboard"))
    elif cfg.logger.name == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        ident = runs.run_id(cfg)
        loggers.append(WandbLogger(
            project=cfg.logger.project, group=cfg.experiment_name, name=ident, id=ident.replace("/", "-"),
            save_dir=str(run_dir), offline=cfg.logger.mode == "offline", resume="allow",
            config={"arch": cfg.model.arch, "depth": cfg.model.depth, "seed": cfg.seed, "shortcut": cfg.model.shortcut,
                    "dataset": cfg.data.name, "experiment": cfg.experiment_name},
        ))
    elif cfg.logger.name != "csv":
        raise ConfigError(f"logger={cfg.logger.name!r} is unknown: choose csv, tensorboard or wandb")
    return loggers


class RunGuard(L.Callback):
    """Checkpoints every `every` steps, at the end, and on SIGTERM, SIGINT or SIGUSR2 (SLURM's
    warning before a time limit), which stop the run after the current step. Checkpoints are
    written atomically; the one before is kept as previous.ckpt."""

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGUSR2") if hasattr(signal, name))

    def __init__(self, ckpt_dir: Path, every: int):
        self.ckpt_dir, self.every = ckpt_dir, every
        self.started, self.elapsed_before = time.time(), 0.0  # the latter: the run's time before this process
        self.stop_signal: int | None = None
        self._saved_step = -1
        self._handlers: dict = {}
        self._previous_handlers: dict = {}

    def install(self) -> None:
        """Catch the signals from now on (data loading included): the run then stops at the next
        step boundary with a checkpoint instead of dying mid-step."""
        try:
            self._previous_handlers = {s: signal.signal(s, self._request_stop) for s in self.SIGNALS}
        except ValueError:  # not the main thread: leave signals to the host
            self._previous_handlers = {}
        self._handlers = dict(self._previous_handlers)

    def elapsed_s(self) -> float:
        """The run's wall time: this process's, plus what its checkpoint says went before."""
        return self.elapsed_before + time.time() - self.started

    def state_dict(self) -> dict:
        return {"elapsed_s": self.elapsed_s()}

    def load_state_dict(self, state_dict: dict) -> None:
        elapsed = state_dict.get("elapsed_s")
        if isinstance(elapsed, (int, float)) and math.isfinite(elapsed) and elapsed >= 0:
            self.elapsed_before = float(elapsed)

    def on_train_start(self, trainer, pl_module) -> None:
        # Lightning wrapped our SIGTERM handler in one that raises out of fit() before the last
        # checkpoint can be taken; during training ours alone decides.
        for s in self._handlers:
            signal.signal(s, self._request_stop)

    def _request_stop(self, signum, frame) -> None:
        self.stop_signal = signum
        self.restore_handlers()  # a second signal acts as usual

    def restore_handlers(self) -> None:
        for s, handler in self._handlers.items():
            signal.signal(s, handler)
        self._handlers = {}

    def pass_on_signal(self) -> None:
        """After the run is saved, hand the signal to whoever handled it before us (submitit
        requeues the job on SIGUSR2)."""
        handler = self._previous_handlers.get(self.stop_signal)
        if callable(handler):
            handler(self.stop_signal, None)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        stop = self.stop_signal is not None
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            self.stop_signal = self.stop_signal or signal.SIGTERM
            trainer.should_stop = True  # on_train_end checkpoints this step
            print(f"\nstop requested: checkpointing at step {trainer.global_step}", file=sys.stderr)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # Saving here rather than at the end of the previous step catches the state after all of
        # that step's hooks (the module's logging ones run after the callbacks').
        if trainer.global_step and trainer.global_step % self.every == 0:
            self.save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        if pl_module.divergence is None:
            self.save(trainer)

    def save(self, trainer) -> None:
        if self._saved_step == trainer.global_step:
            return
        self._saved_step = trainer.global_step
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        last, tmp = self.ckpt_dir / "last.ckpt", self.ckpt_dir / "last.ckpt.tmp"
        trainer.save_checkpoint(tmp, weights_only=False)
        if trainer.is_global_zero:
            if last.exists():
                last.replace(self.ckpt_dir / "previous.ckpt")
            tmp.replace(last)


class FinalMeasurements(L.Callback):
    """At the end of a run that reached max_steps (or diverged): the errors on every split without
    augmentation, and Figure 7's layer responses on the test set. on_fit_end also runs when a run
    is resumed from its final checkpoint."""

    def __init__(self):
        self.errors: dict[str, float] = {}
        self.responses: list[dict] = []

    def on_fit_end(self, trainer, pl_module) -> None:
        if pl_module.divergence is None and trainer.global_step < trainer.max_steps:
            return
        self.errors = pl_module.evaluate(("train", "val", "test"))
        if trainer.is_global_zero and pl_module.divergence is None:
            self.responses = pl_module.layer_responses()


def rounded(error: float | None) -> float | None:
    return None if error is None or not math.isfinite(error) else round(error, 4)


def write_responses(run_dir: Path, responses: list[dict]) -> None:
    lines = ["layer,name,std"] + [f"{r['layer']},{r['name']},{r['std']:.6g}" for r in responses]
    runs.atomic_write_text(run_dir / "layer_responses.csv", "\n".join(lines) + "\n")


def train(cfg: DictConfig, run_dir: Path) -> str:
    validate(cfg)
    check_same_run(run_dir, cfg)
    previous = runs.read_summary(run_dir) if (run_dir / runs.SUMMARY).is_file() else None
    if previous and previous["status"] in DONE:
        print(f"skip: {run_dir} is already {previous['status']} (test error {previous.get('final_test_error')}%)")
        return "skipped"
    check_writable(run_dir)
    guard = RunGuard(run_dir / runs.CHECKPOINTS, cfg.checkpoint_every)
    guard.install()
    resolved = OmegaConf.to_container(cfg, resolve=True)
    first_process = rank_zero_only.rank == 0  # DDP's other processes rerun this command into the same folder

    share_cpu_cores()
    L.seed_everything(cfg.seed, workers=False, verbose=False)
    d = cfg.data
    datamodule = ImageDataModule(d.name, d.root, d.download, d.val_split, d.train_subset, d.batch_size,
                                 d.eval_batch_size, cfg.seed, d.pad, d.get("verify_checksums", True), d.expected_counts)
    datamodule.setup()  # loads the data now, so a missing dataset stops the run before training
    if first_process:  # from here on the folder holds a run, which the report lists
        print(describe_source(datamodule.splits.source))
        runs.atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(resolved))
    net = build_cifar_net(cfg.model.depth, cfg.model.arch == "resnet", cfg.model.shortcut,
                          num_classes=10, in_channels=datamodule.in_channels)
    if cfg.model.compile:
        net.compile()
    o = cfg.optim
    module = CifarClassifier(net, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay,
                             milestones=list(o.milestones), gamma=o.gamma, warmup=warmup_enabled(cfg),
                             warmup_lr=o.warmup_lr, warmup_until_train_error=o.warmup_until_train_error,
                             log_every=cfg.log_every, eval_every=cfg.eval_every, channels_last=cfg.model.channels_last)

    resume, refused = runs.newest_checkpoint(run_dir)
    if resume:
        path, step = resume
        if first_process:
            print(f"resume: {run_dir} from {path.name} at step {step}"
                  + (f" (refused: {'; '.join(refused)})" if refused else ""))
            runs.trim_metrics(run_dir, step)
    elif refused and first_process:
        aside = runs.set_aside(run_dir, "no-usable-checkpoint")
        print(f"restart: {run_dir} has no usable checkpoint ({'; '.join(refused)}); training restarts from step 0, "
              f"the old metrics.csv and checkpoints are kept in {aside.name}/")
    final = FinalMeasurements()

    def wall_time() -> float:
        return round(guard.elapsed_s(), 2)

    summary = {"status": None, "arch": cfg.model.arch, "depth": cfg.model.depth, "shortcut": cfg.model.shortcut,
               "dataset": d.name, "data": datamodule.splits.source, "seed": cfg.seed, "params": count_parameters(net),
               "steps": None, "provenance": None,
               "final_train_error": None, "final_val_error": None, "final_test_error": None}
    trainer = None
    bar = cfg.trainer.enable_progress_bar and sys.stdout.isatty()  # a file gets one line an interval instead
    try:
        trainer = L.Trainer(
            max_steps=cfg.trainer.max_steps, accelerator=cfg.trainer.accelerator, devices=cfg.trainer.devices,
            strategy=cfg.trainer.strategy, precision=default_precision(cfg), deterministic=cfg.trainer.deterministic,
            benchmark=torch.cuda.is_available(), logger=build_loggers(cfg, run_dir),
            callbacks=[guard, final] + ([] if bar else [ProgressLines(cfg.log_every)]),
            log_every_n_steps=cfg.log_every, enable_checkpointing=False, enable_model_summary=False,
            enable_progress_bar=bar, limit_val_batches=0, num_sanity_val_steps=0,
            use_distributed_sampler=False, default_root_dir=str(run_dir),
        )
        summary["provenance"] = runs.provenance(trainer.strategy.root_device, str(trainer.precision))
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume[0]) if resume else None, weights_only=True)
    except SIGTERMException:
        pass  # Lightning's own SIGTERM exit; the guard has checkpointed this step
    except Exception as err:
        if rank_zero_only.rank == 0:
            summary.update(status="failed", steps=trainer.global_step if trainer else (resume[1] if resume else 0),
                           error=f"{type(err).__name__}: {err}", wall_time_s=wall_time(), config=resolved)
            runs.write_summary(run_dir, summary)
        raise
    finally:
        guard.restore_handlers()
    if not trainer.is_global_zero:
        return "worker"
    if module.divergence:
        status = "diverged"
        summary.update(module.divergence)
    elif guard.stop_signal is not None or trainer.global_step < cfg.trainer.max_steps:
        status = "interrupted"
    else:
        status = "completed"
        write_responses(run_dir, final.responses)
    nonfinite = [split for split, error in final.errors.items() if not math.isfinite(error)]
    if nonfinite and status == "completed":
        status = "failed"  # a result no table can use; never written as NaN
        summary["error"] = f"the final {', '.join(nonfinite)} is not a finite number"
    summary.update(status=status, steps=trainer.global_step,
                   **{f"final_{split}_error": rounded(final.errors.get(f"{split}_error")) for split in ("train", "val", "test")},
                   wall_time_s=wall_time(), config=resolved)
    runs.write_summary(run_dir, summary)
    print(f"{status}: {run_dir} after {trainer.global_step} steps, test error {summary['final_test_error']}")
    if status == "interrupted":
        print(f"rerun the same command to resume from step {trainer.global_step}")
        if guard.stop_signal is not None:
            guard.pass_on_signal()
            raise SystemExit(128 + guard.stop_signal)  # as if killed by the signal: a sweep stops too
    return status


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> str:
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        return train(cfg, run_dir)
    except (ConfigError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        if multirun:
            return "refused"
        raise SystemExit(2)
    except Exception as err:
        if multirun:  # the run's summary says failed; the sweep goes on with the others
            print(f"failed: {run_dir}: {type(err).__name__}: {err}", file=sys.stderr)
            return "failed"
        raise


if __name__ == "__main__":
    main()
